//! Where every roof a report draws comes from (a datasheet, the device's own report, a
//! ceiling measured in the same run, or another dtype's measured peak standing in), and the
//! check that every benchmark lies at or below its roofs, recomputed from the estimator's time and
//! the cost model rather than read back from the stored efficiencies.

use std::fmt;

use hotpath_core::op::{OpKind, OpSpec};
use hotpath_core::results::{BenchmarkResult, ResultsFile, Status};
use hotpath_core::roofline::Roofs;
use hotpath_core::units::sig3;

/// Which of a file's two roof sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Set {
    /// `hardware`: hardware/*.toml, the device's report, or a measured stand-in.
    Spec,
    /// `measured`: the ceilings of the same run.
    Measured,
}

impl Set {
    /// `spec` or `measured`.
    pub fn name(self) -> &'static str {
        match self {
            Set::Spec => "spec",
            Set::Measured => "measured",
        }
    }

    /// The roofs of this set in `file`.
    pub fn roofs(self, file: &ResultsFile) -> Roofs {
        match self {
            Set::Spec => file.hardware.roofs(),
            Set::Measured => file.measured.clone(),
        }
    }
}

/// Where one roof value comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A datasheet figure from the hardware file (or the user's `--hardware` file).
    Datasheet,
    /// Reported by the device itself (memory clock × bus width).
    Reported,
    /// Measured by a ceiling benchmark of the same run; names the benchmark when known.
    Measured(Option<String>),
    /// Another dtype's measured peak standing in (a CPU computes bf16 and f16 in f32); names
    /// that dtype.
    StandIn(String),
}

impl Origin {
    /// Whether the value comes from this run's own measurements (measured or a stand-in),
    /// so a point may graze it within the run's noise.
    pub fn is_from_run(&self) -> bool {
        matches!(self, Origin::Measured(_) | Origin::StandIn(_))
    }

    /// Short words for a legend or a table: `datasheet`, `measured: copy/...`,
    /// `stand-in: the f32 peak_mma`.
    pub fn words(&self) -> String {
        match self {
            Origin::Datasheet => "datasheet".into(),
            Origin::Reported => "reported by the device".into(),
            Origin::Measured(Some(by)) => format!("measured: {by}"),
            Origin::Measured(None) => "measured".into(),
            Origin::StandIn(from) => format!("stand-in: the {from} peak_mma"),
        }
    }
}

/// The ok `peak_mma` benchmarks of `file` by dtype name, best rate each.
fn peak_mma_rates(file: &ResultsFile) -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = Vec::new();
    for b in ok(file).filter(|b| b.op == OpKind::PeakMma) {
        let Some(r) = b.rates else { continue };
        let name = b.dtype.name().to_string();
        match out.iter_mut().find(|(d, _)| *d == name) {
            Some(e) => e.1 = e.1.max(r.flops_per_s),
            None => out.push((name, r.flops_per_s)),
        }
    }
    out
}

fn ok(file: &ResultsFile) -> impl Iterator<Item = &BenchmarkResult> {
    file.benchmarks
        .iter()
        .filter(|b| b.status == Status::Ok && b.time.is_some())
}

fn same(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

/// The streaming ceiling whose rate is `bw` (the benchmark a measured bandwidth roof is).
pub fn defining_stream(file: &ResultsFile, bw: f64) -> Option<&BenchmarkResult> {
    ok(file)
        .filter(|b| b.op.is_streaming_ceiling())
        .find(|b| b.rates.is_some_and(|r| same(r.bytes_per_s, bw)))
}

/// Where a measured peak of `dtype` worth `value` FLOP/s comes from: that dtype's own
/// `peak_mma`, or another dtype's standing in.
fn measured_peak_origin(file: &ResultsFile, dtype: &str, value: f64) -> Origin {
    let peaks = peak_mma_rates(file);
    if peaks.iter().any(|(d, _)| d == dtype) {
        return Origin::Measured(Some(format!("{dtype} peak_mma")));
    }
    match peaks.iter().find(|(_, v)| same(*v, value)) {
        Some((from, _)) => Origin::StandIn(from.clone()),
        None => Origin::Measured(None),
    }
}

/// The origin a `sources` entry states: measured, reported or (otherwise) datasheet.
fn stated(source: Option<&String>) -> Option<Origin> {
    let s = source?.trim_start().to_lowercase();
    Some(if s.starts_with("measured") || s.starts_with("stand-in") {
        Origin::Measured(None)
    } else if s.starts_with("reported") {
        Origin::Reported
    } else {
        Origin::Datasheet
    })
}

/// Where the bandwidth roof of `set` comes from, when the set has one.
pub fn bandwidth_origin(file: &ResultsFile, set: Set) -> Option<Origin> {
    let bw = set.roofs(file).mem_bytes_per_s?;
    let stream = || defining_stream(file, bw).map(|b| b.id.clone());
    Some(match set {
        Set::Measured => Origin::Measured(stream()),
        Set::Spec => match stated(file.hardware.sources.get("mem_bytes_per_s")) {
            Some(Origin::Measured(_)) => Origin::Measured(stream()),
            Some(o) => o,
            None => Origin::Datasheet,
        },
    })
}

/// Where the peak of `dtype` in `set` comes from, when the set has one.
pub fn peak_origin(file: &ResultsFile, set: Set, dtype: &str) -> Option<Origin> {
    let peak = *set.roofs(file).peak_flops.get(dtype)?;
    Some(match set {
        Set::Measured => measured_peak_origin(file, dtype, peak),
        Set::Spec => {
            let src = file
                .hardware
                .sources
                .get(&format!("peak_flops.{dtype}"))
                .or_else(|| file.hardware.sources.get("peak_flops"));
            match stated(src) {
                Some(Origin::Measured(_)) => measured_peak_origin(file, dtype, peak),
                Some(o) => o,
                None => Origin::Datasheet,
            }
        }
    })
}

/// Whether the spec roofs of `file` are no spec at all: every spec value present is a
/// measurement of this run standing in (a CPU, whose hardware file has no figures).
pub fn spec_is_stand_in(file: &ResultsFile) -> bool {
    let bw = bandwidth_origin(file, Set::Spec);
    let peaks: Vec<Option<Origin>> = file
        .hardware
        .peak_flops
        .keys()
        .map(|d| peak_origin(file, Set::Spec, d))
        .collect();
    let any = bw.is_some() || !peaks.is_empty();
    any && bw
        .iter()
        .chain(peaks.iter().flatten())
        .all(Origin::is_from_run)
}

/// One roof a benchmark's achieved rate was checked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Limit {
    /// The memory bandwidth roof (bytes per second).
    Bandwidth,
    /// The compute roof of the benchmark's dtype (FLOP per second).
    Peak,
}

/// A benchmark whose achieved rate lies above one of its roofs: a measurement or cost-model
/// bug (or an under-measured roof), never a fast kernel.
#[derive(Clone, Debug, PartialEq)]
pub struct AboveRoof {
    /// Result id.
    pub id: String,
    /// Which roof set it is above.
    pub set: Set,
    /// Which roof.
    pub limit: Limit,
    /// Achieved rate, B/s or FLOP/s, recomputed from the estimator's time and the cost model.
    pub achieved: f64,
    /// The roof, same unit.
    pub roof: f64,
}

impl fmt::Display for AboveRoof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, scale, unit) = match self.limit {
            Limit::Bandwidth => ("bandwidth", 1e9, "GB/s"),
            Limit::Peak => ("compute", 1e12, "TFLOP/s"),
        };
        write!(
            f,
            "{} at {:.1} % of the {} {what} roof ({} > {} {unit})",
            self.id,
            self.achieved / self.roof * 100.0,
            self.set.name(),
            sig3(self.achieved / scale),
            sig3(self.roof / scale),
        )
    }
}

/// FLOPs and bytes of one benchmark by the cost model (its shape and dtype), independent of
/// the stored counts; `peak_mma`'s FLOPs are counted by its kernel, so they are the stored
/// ones. `None` when the shape does not parse.
pub fn cost_model_work(b: &BenchmarkResult) -> Option<(u64, u64)> {
    if b.op == OpKind::PeakMma {
        return Some((b.flops, 0));
    }
    let spec = OpSpec::parse(b.op, &b.shape.to_string(), b.dtype).ok()?;
    let w = spec.work().ok()?;
    Some((w.flops, w.bytes))
}

/// Every benchmark of `file` whose achieved rate (cost-model work ÷ the time its efficiency
/// uses: the graph's median per launch where there is one, else its estimator's stream time,
/// the median or a ceiling's fastest sample) lies above a
/// roof drawn for it: bytes/s above a bandwidth roof, or FLOP/s above its dtype's peak (so
/// FLOP/s above min(bandwidth × intensity, peak)). Roofs measured in this run (or standing
/// in from it) allow `tolerance` (0.02 = 2 %) for the run's noise; datasheet and reported
/// roofs allow none. A spec roof that is only the measured one standing in (a CPU) is not
/// checked twice. Cache, launch and PCIe ceilings are not under these roofs.
pub fn above_roof(file: &ResultsFile, tolerance: f64) -> Vec<AboveRoof> {
    let mut out = Vec::new();
    for b in ok(file) {
        if b.op.is_off_roofline() {
            continue;
        }
        // The median the efficiency divides by: the graph's per launch where there is one.
        let timed = hotpath_core::graph_timing::efficiency_time(b).map(|(m, _)| m);
        let (Some(t), Some((flops, bytes))) = (timed, cost_model_work(b)) else {
            continue;
        };
        if !(t.is_finite() && t > 0.0) {
            continue;
        }
        let rates = [
            (Limit::Bandwidth, bytes as f64 / t, bytes > 0),
            (Limit::Peak, flops as f64 / t, flops > 0),
        ];
        for set in [Set::Spec, Set::Measured] {
            let roofs = set.roofs(file);
            for (limit, achieved, moves) in rates {
                let (roof, origin) = match limit {
                    Limit::Bandwidth => (roofs.mem_bytes_per_s, bandwidth_origin(file, set)),
                    Limit::Peak => (
                        roofs.peak_flops.get(b.dtype.name()).copied(),
                        peak_origin(file, set, b.dtype.name()),
                    ),
                };
                let (Some(roof), Some(origin)) = (roof, origin) else {
                    continue;
                };
                // A spec roof that is the measured one standing in is that same roof: one
                // finding, not two.
                let measured = match limit {
                    Limit::Bandwidth => file.measured.mem_bytes_per_s,
                    Limit::Peak => file.measured.peak_flops.get(b.dtype.name()).copied(),
                };
                if set == Set::Spec && origin.is_from_run() && measured == Some(roof) {
                    continue;
                }
                let slack = if origin.is_from_run() {
                    tolerance
                } else {
                    1e-12
                };
                if moves && roof > 0.0 && achieved > roof * (1.0 + slack) {
                    out.push(AboveRoof {
                        id: b.id.clone(),
                        set,
                        limit,
                        achieved,
                        roof,
                    });
                }
            }
        }
    }
    out
}

/// The ids of [`above_roof`]'s benchmarks, each once.
pub fn above_roof_ids(found: &[AboveRoof]) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for a in found {
        if !ids.contains(&a.id) {
            ids.push(a.id.clone());
        }
    }
    ids
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::{self, Rate};
    use hotpath_core::dtype::DType;

    fn gemv_at(bytes_per_s: f64) -> BenchmarkResult {
        testdata::bench(
            OpKind::Gemv,
            "m=1,n=16384,k=8192",
            DType::Bf16,
            "hotpath",
            Rate::Bytes(bytes_per_s),
            None,
        )
    }

    #[test]
    fn points_at_or_below_their_roofs_pass() {
        let f = testdata::h100_file();
        assert_eq!(above_roof(&f, 0.02), vec![]);
        // The copy is its own measured roof: exactly on it is not above it.
        assert_eq!(f.benchmarks[0].rates.unwrap().bytes_per_s, 3.0e12);
    }

    #[test]
    fn a_rate_above_a_roof_is_flagged_from_time_and_work_not_stored_efficiency() {
        let mut f = testdata::h100_file();
        // 3.05 TB/s is 1.7 % above the measured 3.0 TB/s: within the run's 2 % noise.
        f.benchmarks[2] = gemv_at(3.05e12);
        assert_eq!(above_roof(&f, 0.02), vec![]);
        // 3.1 TB/s is 3.3 % above it; the stored efficiency claims half the roof and is
        // ignored: the rate is recomputed from 268,484,608 B ÷ the median.
        f.benchmarks[2] = gemv_at(3.1e12);
        let mut r = hotpath_core::results::Roofline {
            intensity: None,
            bound: hotpath_core::roofline::Bound::Memory,
            efficiency_spec: Some(0.5),
            efficiency_measured: Some(0.5),
            floor_measured_s: None,
            timing: Default::default(),
            sets_roof: vec![],
        };
        f.benchmarks[2].roofline = Some(r.clone());
        let found = above_roof(&f, 0.02);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(
            (found[0].set, found[0].limit),
            (Set::Measured, Limit::Bandwidth)
        );
        assert!((found[0].achieved - 3.1e12).abs() < 1e3);
        assert_eq!(
            found[0].to_string(),
            "gemv/m=1,n=16384,k=8192/bf16/hotpath at 103.3 % of the measured bandwidth roof (3100 > 3000 GB/s)"
        );
        // 3.36 TB/s is above the 3.35 TB/s datasheet roof too, which allows no slack.
        f.benchmarks[2] = gemv_at(3.36e12);
        let sets: Vec<Set> = above_roof(&f, 0.02).iter().map(|a| a.set).collect();
        assert_eq!(sets, [Set::Spec, Set::Measured]);
        // A stored efficiency of 10x on a point below its roofs flags nothing.
        f.benchmarks[2] = gemv_at(2.0e12);
        r.efficiency_measured = Some(10.0);
        f.benchmarks[2].roofline = Some(r);
        assert_eq!(above_roof(&f, 0.02), vec![]);
    }

    #[test]
    fn compute_above_the_peak_is_flagged() {
        let mut f = testdata::h100_file();
        // gemm 8192³ at 990 TFLOP/s: above the 989.4 spec and the 800 measured peaks.
        f.benchmarks[3] = testdata::bench(
            OpKind::Gemm,
            "m=8192,n=8192,k=8192",
            DType::Bf16,
            "cublaslt",
            Rate::Flops(9.9e14),
            None,
        );
        let found = above_roof(&f, 0.02);
        let got: Vec<(Set, Limit)> = found.iter().map(|a| (a.set, a.limit)).collect();
        assert_eq!(
            got,
            [(Set::Spec, Limit::Peak), (Set::Measured, Limit::Peak)]
        );
        assert_eq!(
            above_roof_ids(&found),
            ["gemm/m=8192,n=8192,k=8192/bf16/cublaslt"]
        );
    }

    #[test]
    fn origins_of_a_cpu_and_a_gpu() {
        let cpu = testdata::cpu_file();
        assert!(spec_is_stand_in(&cpu));
        // The run records the stand-in as such (runner::update_roofs).
        assert_eq!(
            cpu.hardware.sources["peak_flops.bf16"],
            "stand-in: the f32 peak_mma of this run (this backend computes bf16 in f32; the hardware file has no spec peak)"
        );
        assert!(cpu.hardware.sources["peak_flops.f32"].starts_with("measured: peak_mma"));
        assert_eq!(
            bandwidth_origin(&cpu, Set::Spec),
            Some(Origin::Measured(Some(
                "copy/elements=16777216/f32/hotpath".into()
            )))
        );
        assert_eq!(
            peak_origin(&cpu, Set::Measured, "bf16"),
            Some(Origin::StandIn("f32".into()))
        );
        assert_eq!(
            peak_origin(&cpu, Set::Spec, "f32"),
            Some(Origin::Measured(Some("f32 peak_mma".into())))
        );
        let gpu = testdata::h100_file();
        assert!(!spec_is_stand_in(&gpu));
        assert_eq!(bandwidth_origin(&gpu, Set::Spec), Some(Origin::Datasheet));
        assert_eq!(
            peak_origin(&gpu, Set::Spec, "bf16"),
            Some(Origin::Datasheet)
        );
        assert_eq!(peak_origin(&gpu, Set::Spec, "f32"), None);
        let mut reported = gpu.clone();
        reported.hardware.sources.insert(
            "mem_bytes_per_s".into(),
            "reported by the device: memory clock x bus width".into(),
        );
        assert_eq!(
            bandwidth_origin(&reported, Set::Spec),
            Some(Origin::Reported)
        );
    }
}
