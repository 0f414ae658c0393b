//! The measurement loop (nvbench's measure_cold, small and apart from the statistics):
//! warm-up, batch sizing, sampling with clock checks around each batch, adaptive stop.

use serde::{Deserialize, Serialize};
use std::time::Instant;

use crate::backend::{ClockSample, Prepared};
use crate::error::Result;
use crate::stopping::{StdRelCriterion, StopReason};
use crate::telemetry::{Recorder, Telemetry, TelemetrySource, TelemetryTrace};

/// Knobs of the measurement loop (all configurable from the command line).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeasureConfig {
    /// When to stop sampling.
    pub criterion: StdRelCriterion,
    /// Least wall time spent warming up before sampling, seconds.
    pub warmup_s: f64,
    /// Wall-time limit per benchmark (warm-up included), seconds; hitting it is recorded.
    pub time_limit_s: f64,
    /// Most samples kept.
    pub max_samples: usize,
    /// A sample batches enough iterations to last at least this long, seconds (timer resolution).
    pub min_sample_s: f64,
    /// Samples whose SM clock fell below this fraction of its maximum are discarded.
    pub throttle_fraction: f64,
}

impl Default for MeasureConfig {
    fn default() -> Self {
        MeasureConfig {
            criterion: StdRelCriterion::default(),
            warmup_s: 0.1,
            time_limit_s: 15.0,
            max_samples: 100_000,
            min_sample_s: 50e-6,
            throttle_fraction: 0.75,
        }
    }
}

/// What the loop collected for one benchmark.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// Kept samples: seconds per iteration, each the mean over one batch.
    pub samples_s: Vec<f64>,
    /// Iterations per sample batch.
    pub iters_per_sample: u32,
    /// Iterations run during warm-up.
    pub warmup_iters: u64,
    /// Batches dropped because the clock read below the throttle threshold around them.
    pub discarded_samples: u64,
    /// Why sampling stopped.
    pub stop_reason: StopReason,
    /// Wall time spent in warm-up and sampling, seconds.
    pub wall_s: f64,
    /// Lowest and highest SM clock read around kept batches, MHz (None when unreadable).
    pub sm_clock_mhz: Option<(f64, f64)>,
    /// The telemetry read after every batch, kept and discarded ([`measure_with_telemetry`]);
    /// `None` when nothing was readable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telemetry: Option<TelemetryTrace>,
}

/// True when either clock reading around a batch shows the SM clock below `fraction` of its max.
pub fn is_throttled(
    before: Option<&ClockSample>,
    after: Option<&ClockSample>,
    fraction: f64,
) -> bool {
    [before, after]
        .into_iter()
        .flatten()
        .any(|c| c.sm_max_mhz > 0.0 && c.sm_mhz < fraction * c.sm_max_mhz)
}

/// Runs warm-up and adaptive sampling on a prepared benchmark.
///
/// `clock` reads the device clock (called before and after every batch); `on_sample` is told
/// the fraction of the time limit used so far (for a progress bar). Keeps no telemetry trace;
/// [`measure_with_telemetry`] does.
pub fn measure(
    prepared: &mut dyn Prepared,
    clock: &mut dyn FnMut() -> Result<Option<ClockSample>>,
    cfg: &MeasureConfig,
    on_sample: &mut dyn FnMut(f64),
) -> Result<Measurement> {
    let mut read = || Ok(clock()?.map(|c| Telemetry::from_clock(&c)));
    let mut m = measure_with_telemetry(prepared, &mut read, TelemetrySource::None, cfg, on_sample)?;
    m.telemetry = None;
    Ok(m)
}

/// [`measure`] reading full telemetry around every batch: `telemetry` is called before and
/// after each batch (the throttle rule judges both readings' SM clock), and the reading after
/// it is kept in [`Measurement::telemetry`] with its time since sampling began; `source`
/// says where the readings come from.
pub fn measure_with_telemetry(
    prepared: &mut dyn Prepared,
    telemetry: &mut dyn FnMut() -> Result<Option<Telemetry>>,
    source: TelemetrySource,
    cfg: &MeasureConfig,
    on_sample: &mut dyn FnMut(f64),
) -> Result<Measurement> {
    let start = Instant::now();
    let mut warmup_iters = 0u64;
    let mut fastest = prepared.run(1)?.0;
    warmup_iters += 1;
    while warmup_iters < 2 || start.elapsed().as_secs_f64() < cfg.warmup_s {
        fastest = fastest.min(prepared.run(1)?.0);
        warmup_iters += 1;
        if start.elapsed().as_secs_f64() > cfg.time_limit_s {
            break;
        }
    }
    let mut iters = batch_size(fastest, cfg.min_sample_s);
    // Every warm-up iteration can be slow (the first touch of each rotation set's pages, a
    // descheduled thread): batches sized from them would be shorter than `min_sample_s`
    // once the kernel runs at speed. Sizing batches, not kept, are grown until one lasts it.
    for _ in 0..MAX_SIZING_BATCHES {
        if start.elapsed().as_secs_f64() > cfg.time_limit_s {
            break;
        }
        let t = prepared.run(iters)?.0;
        warmup_iters += u64::from(iters);
        if t >= cfg.min_sample_s || iters >= MAX_BATCH {
            break;
        }
        iters = batch_size(t / f64::from(iters), cfg.min_sample_s).max(iters + 1);
    }

    let mut samples = Vec::new();
    let mut sampled_time = 0.0;
    let mut discarded = 0u64;
    let mut clock_range: Option<(f64, f64)> = None;
    let mut trace = Recorder::new();
    let sampling = Instant::now();
    let stop_reason = loop {
        let read_before = telemetry()?;
        let t = prepared.run(iters)?.0;
        let read_after = telemetry()?;
        let at = sampling.elapsed().as_secs_f64();
        let before = read_before.as_ref().and_then(Telemetry::clock);
        let after = read_after.as_ref().and_then(Telemetry::clock);
        let throttled = is_throttled(before.as_ref(), after.as_ref(), cfg.throttle_fraction);
        trace.push(at, !throttled, read_after);
        if throttled {
            discarded += 1;
        } else {
            samples.push(t / iters as f64);
            sampled_time += t;
            for c in [before, after].iter().flatten() {
                let (lo, hi) = clock_range.unwrap_or((c.sm_mhz, c.sm_mhz));
                clock_range = Some((lo.min(c.sm_mhz), hi.max(c.sm_mhz)));
            }
        }
        let elapsed = start.elapsed().as_secs_f64();
        on_sample((elapsed / cfg.time_limit_s).min(1.0));
        if cfg.criterion.is_done(&samples, sampled_time) {
            break StopReason::Converged;
        }
        if samples.len() >= cfg.max_samples {
            break StopReason::SampleCap;
        }
        if elapsed >= cfg.time_limit_s {
            break StopReason::TimeLimit;
        }
    };
    Ok(Measurement {
        samples_s: samples,
        iters_per_sample: iters,
        warmup_iters,
        discarded_samples: discarded,
        stop_reason,
        wall_s: start.elapsed().as_secs_f64(),
        sm_clock_mhz: clock_range,
        telemetry: trace.finish(source),
    })
}

/// Most iterations in one batch.
pub const MAX_BATCH: u32 = 65_536;

/// Most sizing batches after the warm-up ([`measure_with_telemetry`]).
pub const MAX_SIZING_BATCHES: usize = 4;

/// Iterations per batch so one batch lasts at least `min_sample_s`, given one iteration took
/// `iteration_s`. At least 1, at most [`MAX_BATCH`].
pub fn batch_size(iteration_s: f64, min_sample_s: f64) -> u32 {
    if iteration_s.is_nan() || iteration_s <= 0.0 || iteration_s >= min_sample_s {
        return 1;
    }
    (min_sample_s / iteration_s)
        .ceil()
        .min(f64::from(MAX_BATCH)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::HostTensor;
    use crate::units::Seconds;

    /// A fake kernel whose iterations take a scripted time.
    struct Scripted {
        per_iter: Vec<f64>,
        calls: usize,
    }

    impl Prepared for Scripted {
        fn run(&mut self, iters: u32) -> Result<Seconds> {
            let t = self.per_iter[self.calls % self.per_iter.len()];
            self.calls += 1;
            Ok(Seconds(t * iters as f64))
        }
        fn output(&mut self) -> Result<HostTensor> {
            Ok(HostTensor::from_i32("none", vec![0], vec![]))
        }
    }

    fn clock(mhz: f64) -> Option<ClockSample> {
        Some(ClockSample {
            sm_mhz: mhz,
            sm_max_mhz: 1980.0,
            throttle_reasons: vec![],
        })
    }

    #[test]
    fn throttle_rule() {
        // 75 % of 1980 MHz = 1485 MHz.
        assert!(!is_throttled(
            clock(1980.0).as_ref(),
            clock(1500.0).as_ref(),
            0.75
        ));
        assert!(is_throttled(
            clock(1980.0).as_ref(),
            clock(1400.0).as_ref(),
            0.75
        ));
        assert!(!is_throttled(None, None, 0.75));
    }

    #[test]
    fn batch_sizing() {
        assert_eq!(batch_size(1e-3, 50e-6), 1);
        assert_eq!(batch_size(3e-6, 50e-6), 17); // 16.7 rounds up
        assert_eq!(batch_size(1e-12, 50e-6), 65_536);
        assert_eq!(batch_size(0.0, 50e-6), 1);
    }

    #[test]
    fn converges_on_steady_kernel_and_counts_discards() {
        // 1/64 s per iteration (exact in binary); the clock reads throttled on every third batch.
        let mut k = Scripted {
            per_iter: vec![0.015_625],
            calls: 0,
        };
        let mut n = 0;
        let mut probe = || {
            n += 1;
            // Reads come in pairs (before, after); mark the "after" of every third batch.
            Ok(if n % 6 == 0 {
                clock(1000.0)
            } else {
                clock(1980.0)
            })
        };
        let cfg = MeasureConfig {
            warmup_s: 0.0,
            ..MeasureConfig::default()
        };
        let m = measure(&mut k, &mut probe, &cfg, &mut |_| {}).unwrap();
        assert_eq!(m.stop_reason, StopReason::Converged);
        // 0.5 s of sampled time at 1/64 s per kept sample → 32 kept. Batches 3, 6, …, 45 are
        // dropped: 47 batches run, 15 discarded, 32 kept.
        assert_eq!(m.samples_s.len(), 32);
        assert_eq!(m.discarded_samples, 15);
        assert!(m.samples_s.iter().all(|&s| s == 0.015_625));
        assert_eq!(m.sm_clock_mhz, Some((1980.0, 1980.0)));
        assert_eq!(m.iters_per_sample, 1);
    }

    #[test]
    fn telemetry_is_kept_for_every_batch_with_the_discarded_ones_marked() {
        // The scenario above, with telemetry: reading n (1-based) has temperature n °C, so the
        // reading after batch k (the 2k-th) reads 2k °C. 47 batches run; batches 3, 6, …, 45
        // (positions 2, 5, …, 44) are discarded.
        let mut k = Scripted {
            per_iter: vec![0.015_625],
            calls: 0,
        };
        let mut n = 0;
        let mut read = || {
            n += 1;
            let mhz = if n % 6 == 0 { 1000.0 } else { 1980.0 };
            Ok(Some(Telemetry {
                temp_c: Some(n as f64),
                mem_mhz: Some(2619.0),
                ..Telemetry::from_clock(&clock(mhz).unwrap())
            }))
        };
        let cfg = MeasureConfig {
            warmup_s: 0.0,
            ..MeasureConfig::default()
        };
        let m = measure_with_telemetry(&mut k, &mut read, TelemetrySource::Nvml, &cfg, &mut |_| {})
            .unwrap();
        let t = m.telemetry.unwrap();
        assert_eq!(t.source, TelemetrySource::Nvml);
        assert_eq!((t.batches, t.stride, t.t_s.len()), (47, 1, 47));
        let discarded: Vec<u32> = (1..=15).map(|j| 3 * j - 1).collect();
        assert_eq!(t.discarded, discarded);
        assert_eq!(t.temp_c[0], Some(2.0));
        assert_eq!(t.temp_c[46], Some(94.0));
        assert_eq!(
            t.sm_mhz[2],
            Some(1000.0),
            "the discarded batch's own reading"
        );
        assert_eq!(t.sm_mhz[3], Some(1980.0));
        assert!(t.mem_mhz.iter().all(|&v| v == Some(2619.0)));
        assert!(t.t_s.windows(2).all(|w| w[0] <= w[1]), "time only grows");
        assert_eq!(m.samples_s.len(), 32);
    }

    #[test]
    fn batches_are_grown_until_one_lasts_the_minimum_sample() {
        // Warm-up iterations of 20 ms (each the first touch of a rotation set), then 1.25 ms
        // ones: the warm-up says one iteration a batch, the first sizing batch of 1 lasts
        // 1.25 ms < 10 ms and gives ⌈10 / 1.25⌉ = 8, which lasts exactly 10 ms.
        struct FirstTouch {
            calls: usize,
        }
        impl Prepared for FirstTouch {
            fn run(&mut self, iters: u32) -> Result<Seconds> {
                self.calls += 1;
                let per = if self.calls <= 8 { 20e-3 } else { 1.25e-3 };
                Ok(Seconds(per * iters as f64))
            }
            fn output(&mut self) -> Result<HostTensor> {
                Ok(HostTensor::from_i32("none", vec![0], vec![]))
            }
        }
        let cfg = MeasureConfig {
            warmup_s: 0.0,
            min_sample_s: 10e-3,
            ..MeasureConfig::default()
        };
        // Calls 1-6 are taken as done: the two warm-up iterations (calls 7, 8) are the last
        // slow ones.
        let mut k = FirstTouch { calls: 6 };
        let m = measure(&mut k, &mut || Ok(None), &cfg, &mut |_| {}).unwrap();
        // Calls 7, 8: warm-up (20 ms). Call 9: sizing batch of 1 at 1.25 ms → 8. Call 10:
        // sizing batch of 8 = 10 ms, accepted.
        assert_eq!(m.iters_per_sample, 8);
        assert_eq!(m.warmup_iters, 2 + 1 + 8);
        assert!(m.samples_s.iter().all(|&s| s == 1.25e-3));
        // A steady 1 ms kernel: the warm-up sizes batches of 10, and one sizing batch of
        // 10 ms confirms it (2 warm-up iterations + 10).
        let mut k = Scripted {
            per_iter: vec![1e-3],
            calls: 0,
        };
        let m = measure(&mut k, &mut || Ok(None), &cfg, &mut |_| {}).unwrap();
        assert_eq!((m.iters_per_sample, m.warmup_iters), (10, 12));
    }

    #[test]
    fn time_limit_is_reported_when_noise_never_settles() {
        // Samples alternate 1 µs / 3 µs (CV 50 %): with a tiny time limit it cannot converge.
        let mut k = Scripted {
            per_iter: vec![1e-6, 3e-6],
            calls: 0,
        };
        let cfg = MeasureConfig {
            warmup_s: 0.0,
            time_limit_s: 0.02,
            min_sample_s: 0.0,
            ..MeasureConfig::default()
        };
        let m = measure(&mut k, &mut || Ok(None), &cfg, &mut |_| {}).unwrap();
        assert!(matches!(
            m.stop_reason,
            StopReason::TimeLimit | StopReason::SampleCap
        ));
        assert!(m.samples_s.len() >= 2);
        assert_eq!(m.sm_clock_mhz, None);
    }
}
