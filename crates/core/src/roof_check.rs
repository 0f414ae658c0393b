//! No silent point above a roof. At the end of a run, every benchmark measured with a cold
//! cache whose rate lies above its measured roof makes the run measure the ceiling that set
//! that roof again ([`ceilings_to_remeasure`]); the ceiling keeps the faster of its two
//! measurements ([`keep_better`]). A point still above afterwards is what the hardware did
//! sustain: the roof is raised to its rate and named after it ([`mark_roof_setters`], then
//! [`crate::runner::measured_roofs`] honours the mark).
//!
//! Hot-cache points are left alone: a point measured from the cache may beat the DRAM roof on
//! purpose, so it says nothing about the ceiling.

use serde::{Deserialize, Serialize};

use crate::dtype::DType;
use crate::estimator;
use crate::op::{OpKind, Work};
use crate::results::{BenchmarkResult, ResultsFile, Status};
use crate::roofline::{self, Bound};

/// The key of the bandwidth roof (as in `hardware.sources` and `measured.set_by`).
pub const MEM_KEY: &str = "mem_bytes_per_s";

/// A rate within this fraction of its roof counts as on it (floating-point rounding of
/// floor ÷ time, not measurement noise).
const ON_ROOF: f64 = 1e-9;

/// The key of `dtype`'s peak roof: `peak_flops.<dtype>`.
pub fn peak_key(dtype: &str) -> String {
    format!("peak_flops.{dtype}")
}

/// The record of a ceiling measured a second time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Remeasured {
    /// The benchmarks measured cold above the roof this ceiling set, which made the run
    /// measure it again.
    pub triggered_by: Vec<String>,
    /// The first measurement's time per iteration at its estimator, seconds.
    pub first_s: f64,
    /// The second measurement's time per iteration at its estimator, seconds (None when the
    /// second measurement failed; the first is then kept).
    pub second_s: Option<f64>,
}

/// A benchmark above one of its measured roofs.
#[derive(Clone, Debug, PartialEq)]
pub struct Above {
    /// Its index in the file's benchmarks.
    pub index: usize,
    /// Its id.
    pub id: String,
    /// The roof's key: [`MEM_KEY`] or `peak_flops.<dtype>` ([`peak_key`]).
    pub roof: String,
    /// Its rate against that roof: bytes/s or FLOP/s at its estimator's time.
    pub rate: f64,
}

/// A ceiling to measure again, and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Remeasure {
    /// The ceiling's id.
    pub ceiling: String,
    /// The ids of the cold benchmarks above the roof it set.
    pub triggered_by: Vec<String>,
}

/// Whether `b` was measured past the last-level cache: its rotation plan is fully cold, or
/// defeats at least three times the cache (the rule of [`crate::runner::measured_roofs`]).
pub fn is_cold(b: &BenchmarkResult) -> bool {
    b.measurement
        .as_ref()
        .is_some_and(|m| m.cache.is_fully_cold() || m.cache.llc_multiple >= 3.0)
}

fn measured_ok(b: &BenchmarkResult) -> bool {
    b.status == Status::Ok && b.rates.is_some() && estimator::time_s(b).is_some()
}

/// Every benchmark measured cold that lies above one of the file's measured roofs (its
/// floor time at those roofs exceeds its time at its estimator), with the roof it is above.
/// A point above both roofs (a raised peak leaving it above the bandwidth roof) is listed
/// once for the roof that bounds it.
pub fn above_measured(file: &ResultsFile) -> Vec<Above> {
    let mut out = Vec::new();
    for (index, b) in file.benchmarks.iter().enumerate() {
        if !measured_ok(b) || !is_cold(b) {
            continue;
        }
        let Some(t) = estimator::time_s(b).filter(|t| t.is_finite() && *t > 0.0) else {
            continue;
        };
        let work = Work {
            flops: b.flops,
            bytes: b.bytes,
        };
        let Some((floor, bound)) = roofline::floor_s(b.op, b.dtype, work, &file.measured) else {
            continue;
        };
        if floor <= t * (1.0 + ON_ROOF) {
            continue;
        }
        let (roof, rate) = match bound {
            Bound::Memory => (MEM_KEY.to_string(), b.bytes as f64 / t),
            Bound::Compute => (peak_key(b.dtype.name()), b.flops as f64 / t),
            Bound::Unknown => continue,
        };
        out.push(Above {
            index,
            id: b.id.clone(),
            roof,
            rate,
        });
    }
    out
}

/// The ceiling benchmark that set the measured roof `roof` (a key as in [`Above::roof`]):
/// for bandwidth the fastest cold streaming ceiling (else the largest copy); for the peak of
/// `dtype`, the fastest `peak_mma` of that dtype, else of `compute_dtype(dtype)` (the dtype
/// whose peak governs it on this device). None when a roof was not set by a ceiling.
pub fn governing_ceiling<'a>(
    file: &'a ResultsFile,
    roof: &str,
    compute_dtype: &dyn Fn(DType) -> DType,
) -> Option<&'a BenchmarkResult> {
    let ok = || file.benchmarks.iter().filter(|b| measured_ok(b));
    let fastest = |it: Vec<&'a BenchmarkResult>, rate: fn(&BenchmarkResult) -> f64| {
        it.into_iter().max_by(|a, b| rate(a).total_cmp(&rate(b)))
    };
    let bytes_rate = |b: &BenchmarkResult| b.rates.map_or(0.0, |r| r.bytes_per_s);
    let flops_rate = |b: &BenchmarkResult| b.rates.map_or(0.0, |r| r.flops_per_s);
    if roof == MEM_KEY {
        let streams: Vec<_> = ok()
            .filter(|b| b.op.is_streaming_ceiling() && is_cold(b))
            .collect();
        if !streams.is_empty() {
            return fastest(streams, bytes_rate);
        }
        return ok()
            .filter(|b| b.op == OpKind::Copy)
            .max_by_key(|b| b.bytes);
    }
    let dtype = DType::parse(roof.strip_prefix("peak_flops.")?).ok()?;
    for d in [dtype, compute_dtype(dtype)] {
        let peaks: Vec<_> = ok()
            .filter(|b| b.op == OpKind::PeakMma && b.dtype == d)
            .collect();
        if !peaks.is_empty() {
            return fastest(peaks, flops_rate);
        }
    }
    None
}

/// The ceilings to measure again at the end of a run: for every cold benchmark above a
/// measured roof, the ceiling that set that roof ([`governing_ceiling`]), once each, in the
/// order first needed. Ceilings already measured twice are not listed again.
pub fn ceilings_to_remeasure(
    file: &ResultsFile,
    compute_dtype: &dyn Fn(DType) -> DType,
) -> Vec<Remeasure> {
    let mut out: Vec<Remeasure> = Vec::new();
    for a in above_measured(file) {
        let Some(c) = governing_ceiling(file, &a.roof, compute_dtype) else {
            continue;
        };
        if c.measurement
            .as_ref()
            .is_some_and(|m| m.remeasured.is_some())
        {
            continue;
        }
        match out.iter_mut().find(|r| r.ceiling == c.id) {
            Some(r) => r.triggered_by.push(a.id),
            None => out.push(Remeasure {
                ceiling: c.id.clone(),
                triggered_by: vec![a.id],
            }),
        }
    }
    out
}

/// The better of two measurements of one ceiling: the second when it is ok and faster at its
/// estimator, else the first; either way recording both times and `triggered_by`.
pub fn keep_better(
    first: &BenchmarkResult,
    second: BenchmarkResult,
    triggered_by: Vec<String>,
) -> BenchmarkResult {
    let first_s = estimator::time_s(first).unwrap_or(f64::INFINITY);
    let second_s = if measured_ok(&second) {
        estimator::time_s(&second)
    } else {
        None
    };
    let mut kept = match second_s {
        Some(s) if s < first_s => second,
        _ => first.clone(),
    };
    if let Some(m) = kept.measurement.as_mut() {
        m.remeasured = Some(Remeasured {
            triggered_by,
            first_s,
            second_s,
        });
    }
    kept
}

/// Marks, for every measured roof some cold benchmark is still above, the fastest such
/// benchmark as setting it (`roofline.sets_roof`); returns what it marked. The caller then
/// recomputes the roofs ([`crate::runner::update_roofs`]), which raises each marked roof to
/// its setter's rate and names it in `measured.set_by`; a raise can leave a point above its
/// other roof, so call again until nothing is marked ([`raise_to_points_above`]).
pub fn mark_roof_setters(file: &mut ResultsFile) -> Vec<Above> {
    let mut best: Vec<Above> = Vec::new();
    for a in above_measured(file) {
        match best.iter_mut().find(|b| b.roof == a.roof) {
            Some(b) if a.rate > b.rate => *b = a,
            Some(_) => {}
            None => best.push(a),
        }
    }
    for a in &best {
        if let Some(r) = file.benchmarks[a.index].roofline.as_mut() {
            if !r.sets_roof.contains(&a.roof) {
                r.sets_roof.push(a.roof.clone());
            }
        }
    }
    best
}

/// Raises the measured roofs until no cold benchmark lies above them: marks the setters,
/// recomputes the roofs against `spec` and places every benchmark again, at most once per
/// roof kind and a few rounds. Returns every roof raised, with its setter.
pub fn raise_to_points_above(
    file: &mut ResultsFile,
    spec: &crate::results::HardwareRoofs,
    compute_dtype: &dyn Fn(DType) -> DType,
) -> Vec<Above> {
    let mut raised = Vec::new();
    // Each round settles one roof per bound; bandwidth then peak, or the other way, is two.
    for _ in 0..4 {
        let marked = mark_roof_setters(file);
        if marked.is_empty() {
            break;
        }
        crate::runner::update_roofs(file, spec, compute_dtype);
        raised.extend(marked);
    }
    raised
}

#[cfg(test)]
#[path = "roof_check_tests.rs"]
mod tests;
