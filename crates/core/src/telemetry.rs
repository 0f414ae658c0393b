//! Telemetry per sample batch: SM and memory clock, temperature, power and throttle reasons,
//! read after every batch the measurement loop runs ([`crate::measure`]) and stored with the
//! samples in the results file as a [`TelemetryTrace`] (a struct of arrays, thinned evenly
//! beyond [`MAX_POINTS`] batches).
//!
//! Backends read it through [`crate::Device::telemetry`]: NVML on CUDA, AMD SMI (else
//! amdgpu's sysfs) on ROCm, sysfs (cpufreq, thermal zones, RAPL) on the CPU. Where the
//! readings come from is a [`TelemetrySource`], recorded in the run's config.

pub mod sysfs;

#[cfg(test)]
mod run_tests;

use serde::{Deserialize, Serialize};

use crate::backend::ClockSample;

/// Most points a [`TelemetryTrace`] keeps: beyond it every `stride`-th batch is kept.
pub const MAX_POINTS: usize = 4096;

/// Where a backend reads its telemetry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TelemetrySource {
    /// NVIDIA's management library (CUDA devices).
    Nvml,
    /// AMD SMI (`libamd_smi.so`), with the throttle status and power from amdgpu's sysfs.
    Amdsmi,
    /// Linux sysfs: amdgpu's files when AMD SMI is absent; cpufreq, thermal zones and RAPL
    /// powercap on the CPU.
    Sysfs,
    /// Nothing readable: no clock was read, no batch was discarded for a low clock.
    #[default]
    None,
}

impl TelemetrySource {
    /// Name as written in the results file.
    pub fn name(self) -> &'static str {
        match self {
            TelemetrySource::Nvml => "nvml",
            TelemetrySource::Amdsmi => "amdsmi",
            TelemetrySource::Sysfs => "sysfs",
            TelemetrySource::None => "none",
        }
    }
}

/// One telemetry reading; every value `None` where the source cannot read it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Telemetry {
    /// SM (shader, core) clock now, MHz; the mean over the CPUs used on a CPU.
    pub sm_mhz: Option<f64>,
    /// Highest SM clock, MHz. Only GPUs set it: the throttle rule discards a batch whose SM
    /// clock fell below a fraction of it, and a CPU's idle or all-core clock is no throttle.
    pub sm_max_mhz: Option<f64>,
    /// Memory clock now, MHz.
    pub mem_mhz: Option<f64>,
    /// Temperature, °C (GPU core or hotspot; the CPU package).
    pub temp_c: Option<f64>,
    /// Board (or CPU package) power, W.
    pub power_w: Option<f64>,
    /// Active throttle reasons (NVML's names), empty when none or unreadable.
    pub throttle_reasons: Vec<String>,
}

impl Telemetry {
    /// The reading a [`ClockSample`] gives: SM clock, its maximum and throttle reasons.
    pub fn from_clock(c: &ClockSample) -> Telemetry {
        Telemetry {
            sm_mhz: Some(c.sm_mhz),
            sm_max_mhz: Some(c.sm_max_mhz),
            throttle_reasons: c.throttle_reasons.clone(),
            ..Telemetry::default()
        }
    }

    /// The clock sample the throttle rule judges; `None` unless the SM clock and its maximum
    /// are both known.
    pub fn clock(&self) -> Option<ClockSample> {
        Some(ClockSample {
            sm_mhz: self.sm_mhz?,
            sm_max_mhz: self.sm_max_mhz?,
            throttle_reasons: self.throttle_reasons.clone(),
        })
    }

    /// Whether nothing at all was read.
    pub fn is_empty(&self) -> bool {
        self.sm_mhz.is_none()
            && self.mem_mhz.is_none()
            && self.temp_c.is_none()
            && self.power_w.is_none()
            && self.throttle_reasons.is_empty()
    }
}

/// The telemetry of one benchmark's sample batches, one point per batch (kept or discarded),
/// as a struct of arrays: `t_s[i]`, `sm_mhz[i]`, … belong to the same batch. A value column
/// is either empty (never readable) or as long as `t_s`, with `null` where one reading
/// failed. Beyond [`MAX_POINTS`] batches the trace is thinned evenly: it holds batches 0,
/// `stride`, 2·`stride`, … of the `batches` run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TelemetryTrace {
    /// Where the readings came from.
    pub source: TelemetrySource,
    /// Sample batches run (kept and discarded), before any thinning.
    pub batches: u64,
    /// 1 when every batch is here; else every `stride`-th batch is.
    pub stride: u64,
    /// Seconds from the start of sampling (after warm-up) to the reading after each batch.
    pub t_s: Vec<f64>,
    /// Positions in these arrays of batches discarded by the throttle rule (SM clock below
    /// the run's `throttle_fraction` of its maximum).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub discarded: Vec<u32>,
    /// Highest SM clock the source reported, MHz (GPUs only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sm_max_mhz: Option<f64>,
    /// SM clock after each batch, MHz.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sm_mhz: Vec<Option<f64>>,
    /// Memory clock after each batch, MHz.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mem_mhz: Vec<Option<f64>>,
    /// Temperature after each batch, °C.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub temp_c: Vec<Option<f64>>,
    /// Power after each batch, W.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub power_w: Vec<Option<f64>>,
    /// Active throttle reasons after each batch, comma-separated, `""` for none; empty when
    /// no batch had one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub throttle_reasons: Vec<String>,
}

impl TelemetryTrace {
    /// The points whose SM clock is known: (seconds, MHz).
    pub fn sm_points(&self) -> Vec<(f64, f64)> {
        column_points(&self.t_s, &self.sm_mhz)
    }

    /// The points whose memory clock is known: (seconds, MHz).
    pub fn mem_points(&self) -> Vec<(f64, f64)> {
        column_points(&self.t_s, &self.mem_mhz)
    }

    /// The points whose temperature is known: (seconds, °C).
    pub fn temp_points(&self) -> Vec<(f64, f64)> {
        column_points(&self.t_s, &self.temp_c)
    }

    /// The points whose power is known: (seconds, W).
    pub fn power_points(&self) -> Vec<(f64, f64)> {
        column_points(&self.t_s, &self.power_w)
    }

    /// Whether the batch at position `i` was discarded.
    pub fn is_discarded(&self, i: usize) -> bool {
        u32::try_from(i).is_ok_and(|i| self.discarded.contains(&i))
    }
}

/// (t, v) for every position where `column` has a finite value (a column shorter than `t`,
/// as a hand-edited file may hold, gives its own length).
fn column_points(t: &[f64], column: &[Option<f64>]) -> Vec<(f64, f64)> {
    t.iter()
        .zip(column)
        .filter_map(|(&t, v)| v.filter(|v| v.is_finite() && t.is_finite()).map(|v| (t, v)))
        .collect()
}

/// A value read again at most every `every`: readings that cost more than the SM clock
/// (power, temperature, memory clock) are refreshed on this schedule, and batches closer
/// together repeat the last value, so reading them does not slow the sampling of
/// microsecond kernels.
#[derive(Debug)]
pub struct Refresh<T> {
    every: std::time::Duration,
    last: std::sync::Mutex<Option<(std::time::Instant, T)>>,
}

impl<T: Clone> Refresh<T> {
    /// Nothing read yet; refreshed at most every `every`.
    pub fn new(every: std::time::Duration) -> Refresh<T> {
        Refresh {
            every,
            last: std::sync::Mutex::new(None),
        }
    }

    /// The value at `now`: the last one read when younger than `every`, else `read()`.
    pub fn get(&self, now: std::time::Instant, read: impl FnOnce() -> T) -> T {
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        match &*last {
            Some((at, v)) if now.saturating_duration_since(*at) < self.every => v.clone(),
            _ => {
                let v = read();
                *last = Some((now, v.clone()));
                v
            }
        }
    }
}

/// How often the costlier GPU readings (power, temperature, memory clock) are refreshed.
pub const GPU_REFRESH: std::time::Duration = std::time::Duration::from_millis(20);

/// Collects one point per batch during measurement; [`Recorder::finish`] thins and packs them.
#[derive(Debug, Default)]
pub struct Recorder {
    points: Vec<(f64, bool, Telemetry)>,
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Recorder {
        Recorder::default()
    }

    /// Records the reading after one batch, taken `t_s` seconds after sampling started
    /// (stored to the microsecond, which keeps the file short); `kept` is false when the
    /// throttle rule discarded the batch.
    pub fn push(&mut self, t_s: f64, kept: bool, reading: Option<Telemetry>) {
        let t_s = (t_s * 1e6).round() / 1e6;
        self.points.push((t_s, kept, reading.unwrap_or_default()));
    }

    /// The trace, read from `source`; `None` when no batch gave any reading.
    pub fn finish(self, source: TelemetrySource) -> Option<TelemetryTrace> {
        if self.points.iter().all(|(_, _, r)| r.is_empty()) {
            return None;
        }
        let batches = self.points.len();
        let stride = batches.div_ceil(MAX_POINTS).max(1);
        let kept: Vec<&(f64, bool, Telemetry)> = self.points.iter().step_by(stride).collect();
        let column = |get: &dyn Fn(&Telemetry) -> Option<f64>| -> Vec<Option<f64>> {
            if kept.iter().all(|p| get(&p.2).is_none()) {
                return vec![];
            }
            kept.iter().map(|p| get(&p.2)).collect()
        };
        let throttle: Vec<String> = kept
            .iter()
            .map(|p| p.2.throttle_reasons.join(","))
            .collect();
        let sm_max_mhz = self
            .points
            .iter()
            .filter_map(|p| p.2.sm_max_mhz)
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
        Some(TelemetryTrace {
            source,
            batches: batches as u64,
            stride: stride as u64,
            t_s: kept.iter().map(|p| p.0).collect(),
            discarded: kept
                .iter()
                .enumerate()
                .filter(|(_, p)| !p.1)
                .filter_map(|(i, _)| u32::try_from(i).ok())
                .collect(),
            sm_max_mhz,
            sm_mhz: column(&|r| r.sm_mhz),
            mem_mhz: column(&|r| r.mem_mhz),
            temp_c: column(&|r| r.temp_c),
            power_w: column(&|r| r.power_w),
            throttle_reasons: if throttle.iter().all(String::is_empty) {
                vec![]
            } else {
                throttle
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(sm: f64, temp: Option<f64>) -> Option<Telemetry> {
        Some(Telemetry {
            sm_mhz: Some(sm),
            sm_max_mhz: Some(1980.0),
            temp_c: temp,
            ..Telemetry::default()
        })
    }

    #[test]
    fn a_short_trace_keeps_every_batch_and_drops_unread_columns() {
        let mut r = Recorder::new();
        // 0.00099999999 s is stored to the microsecond: 0.001.
        r.push(0.000_999_999_99, true, reading(1980.0, Some(41.0)));
        r.push(0.002, false, reading(1200.0, None));
        r.push(0.003, true, None);
        let t = r.finish(TelemetrySource::Nvml).unwrap();
        assert_eq!((t.batches, t.stride), (3, 1));
        assert_eq!(t.t_s, vec![0.001, 0.002, 0.003]);
        assert_eq!(t.discarded, vec![1]);
        assert_eq!(t.sm_mhz, vec![Some(1980.0), Some(1200.0), None]);
        assert_eq!(t.temp_c, vec![Some(41.0), None, None]);
        assert!(t.mem_mhz.is_empty() && t.power_w.is_empty() && t.throttle_reasons.is_empty());
        assert_eq!(t.sm_max_mhz, Some(1980.0));
        assert_eq!(t.sm_points(), vec![(0.001, 1980.0), (0.002, 1200.0)]);
        assert!(t.is_discarded(1) && !t.is_discarded(0));
        // Only the written columns appear in the file, and it reads back the same.
        let json = serde_json::to_string(&t).unwrap();
        assert!(
            !json.contains("mem_mhz") && !json.contains("power_w"),
            "{json}"
        );
        assert!(json.contains("\"sm_mhz\":[1980.0,1200.0,null]"), "{json}");
        assert_eq!(serde_json::from_str::<TelemetryTrace>(&json).unwrap(), t);
    }

    #[test]
    fn a_long_trace_is_thinned_evenly() {
        // 10,000 batches over a 4096 cap: stride ⌈10000 / 4096⌉ = 3, keeping batches
        // 0, 3, …, 9999: ⌈10000 / 3⌉ = 3334 points. Batch 9 (position 3) is discarded.
        let mut r = Recorder::new();
        for i in 0..10_000 {
            r.push(i as f64 * 0.01, i != 9, reading(1000.0 + i as f64, None));
        }
        let t = r.finish(TelemetrySource::Amdsmi).unwrap();
        assert_eq!((t.batches, t.stride, t.t_s.len()), (10_000, 3, 3334));
        assert_eq!(t.sm_mhz[3], Some(1009.0));
        // Batch 9999 at 99.99 s (9999 × 0.01 = 99.99000000000001, stored to the µs).
        assert_eq!(t.t_s[3333], 99.99, "the last point is batch 9999");
        assert_eq!(t.discarded, vec![3]);
        assert!(t.temp_c.is_empty());
    }

    #[test]
    fn nothing_read_is_no_trace() {
        let mut r = Recorder::new();
        r.push(0.1, true, None);
        r.push(0.2, true, Some(Telemetry::default()));
        assert_eq!(r.finish(TelemetrySource::None), None);
        assert_eq!(Recorder::new().finish(TelemetrySource::Sysfs), None);
    }

    #[test]
    fn throttle_reasons_are_joined_per_batch() {
        let mut r = Recorder::new();
        let mut hot = reading(1500.0, None).unwrap();
        hot.throttle_reasons = vec!["sw_power_cap".into(), "hw_slowdown".into()];
        r.push(0.5, true, reading(1980.0, None));
        r.push(1.0, true, Some(hot));
        let t = r.finish(TelemetrySource::Nvml).unwrap();
        assert_eq!(t.throttle_reasons, vec!["", "sw_power_cap,hw_slowdown"]);
    }

    #[test]
    fn a_refreshed_value_is_read_again_only_after_its_interval() {
        let r = Refresh::new(std::time::Duration::from_millis(20));
        let t0 = std::time::Instant::now();
        let ms = |n| t0 + std::time::Duration::from_millis(n);
        let mut reads = 0;
        let mut read = |v: f64| {
            reads += 1;
            v
        };
        assert_eq!(r.get(t0, || read(1.0)), 1.0);
        assert_eq!(r.get(ms(19), || read(2.0)), 1.0, "19 ms: the last value");
        assert_eq!(r.get(ms(20), || read(3.0)), 3.0, "20 ms: read again");
        assert_eq!(r.get(ms(39), || read(4.0)), 3.0);
        assert_eq!(reads, 2);
    }

    #[test]
    fn the_clock_needs_both_the_sm_clock_and_its_maximum() {
        let c = ClockSample {
            sm_mhz: 1755.0,
            sm_max_mhz: 1980.0,
            throttle_reasons: vec!["sw_power_cap".into()],
        };
        let t = Telemetry::from_clock(&c);
        assert_eq!(t.clock(), Some(c));
        let cpu = Telemetry {
            sm_mhz: Some(2400.0),
            ..Telemetry::default()
        };
        assert_eq!(cpu.clock(), None);
        assert!(!cpu.is_empty() && Telemetry::default().is_empty());
    }
}
