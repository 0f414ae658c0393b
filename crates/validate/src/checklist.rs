//! What `hotpath validate` runs on one device at each level, decided before anything runs.
//!
//! | level | health | performance checks | correctness of every kernel | sustained load |
//! |---|---|---|---|---|
//! | quick | before and after load | copy, bf16 GEMM, decode GEMV, decode attention, KV write: ≥ 10 samples, ≥ 0.1 s, ≤ 1 s each | serving dtype (bf16; f32 for the streaming kernels), every implementation, small shapes | — |
//! | standard | same | + fp8 GEMM; ≥ 0.5 s, ≤ 3 s each | every dtype | — |
//! | long | same | as standard | every dtype | the bf16 peak (`peak_mma`), GEMM and copy, `sustain_s` each (default 120 s) |
//!
//! Only the checks the hardware file's `[validate]` table names are timed; the benchmarks a
//! `"measured"` reference needs (read, write, triad; or `peak_mma`) run first. Before each
//! timed benchmark the engine waits for the device to settle ([`super::settle`]): at most
//! [`super::settle::DEFAULT_MAX_WAIT_S`] on a GPU by default; not at all on a CPU by
//! default, whose package temperature swings with other processes and which has no
//! idle-clock signal, so the wait would mostly run out its bound.

use hotpath_core::backend::Device;
use hotpath_core::dtype::DType;
use hotpath_core::error::Result;
use hotpath_core::hardware::HardwareSpec;
use hotpath_core::measure::MeasureConfig;
use hotpath_core::op::{OpClass, OpKind, OpSpec};
use hotpath_core::stopping::StdRelCriterion;
use hotpath_core::suite::DeviceClass;

use super::perf::{Metric, PerfKind};
use super::settle::{SettleRule, DEFAULT_MAX_WAIT_S};
use super::sustained::PEAK_KEY;
use super::thresholds::{Reference, Threshold};
use super::{Check, Group, Level, Status};

/// Default seconds of sustained load per kernel at level `long`.
pub const DEFAULT_SUSTAIN_S: f64 = 120.0;

/// One performance check to time.
#[derive(Clone, Debug)]
pub struct PerfCheck {
    /// Which check.
    pub kind: PerfKind,
    /// Its benchmark.
    pub spec: OpSpec,
    /// The implementation timed.
    pub imp: &'static str,
    /// Its threshold, from the hardware file.
    pub threshold: Threshold,
    /// The dtype of the `peak_mma` that is a FLOP/s check's `"measured"` reference.
    pub peak_dtype: DType,
}

/// Everything one device runs, in order.
#[derive(Clone, Debug)]
pub struct DeviceChecklist {
    /// The level.
    pub level: Level,
    /// Ceilings a `"measured"` reference needs, timed like the performance checks.
    pub references: Vec<(OpSpec, &'static str)>,
    /// Performance checks.
    pub perf: Vec<PerfCheck>,
    /// Kernels run once at a small shape for their correctness.
    pub correctness: Vec<(OpSpec, &'static str)>,
    /// Sustained-load kernels (level `long`): (check key, spec, implementation); the bf16
    /// peak (`peak_bf16`, `peak_mma` of the device's bf16 peak dtype) first, then GEMM and
    /// copy.
    pub sustained: Vec<(&'static str, OpSpec, &'static str)>,
    /// The wait for the device to settle before each timed benchmark.
    pub settle: SettleRule,
    /// Checks decided while planning (no thresholds, a check the device cannot run).
    pub notes: Vec<Check>,
    /// Sampling of the performance checks and their references.
    pub perf_cfg: MeasureConfig,
    /// Sampling of the correctness runs (as short as the loop allows: the check is the point).
    pub correctness_cfg: MeasureConfig,
    /// Sampling of each sustained-load kernel.
    pub sustained_cfg: MeasureConfig,
}

/// The dtypes whose kernels a level checks for `op`: at `quick` the serving dtype (bf16 for
/// the model kernels, f32 for the streaming and launch kernels, bf16 and f32 for `peak_mma`),
/// otherwise every dtype.
pub fn correctness_dtypes(op: OpKind, level: Level) -> Vec<DType> {
    if level != Level::Quick {
        return DType::ALL.to_vec();
    }
    match op.class() {
        OpClass::Model => vec![DType::Bf16],
        OpClass::ComputeCeiling => vec![DType::Bf16, DType::F32],
        OpClass::StreamingCeiling | OpClass::OffRoofline => vec![DType::F32],
    }
}

/// Sampling of the performance checks at `level`.
pub fn perf_config(level: Level) -> MeasureConfig {
    let (min_time_s, max_rel_stderr, warmup_s, time_limit_s) = match level {
        Level::Quick => (0.1, 0.01, 0.05, 1.0),
        Level::Standard | Level::Long => (0.5, 0.005, 0.1, 3.0),
    };
    MeasureConfig {
        criterion: StdRelCriterion {
            min_samples: 10,
            min_time_s,
            max_rel_stderr,
        },
        warmup_s,
        time_limit_s,
        ..MeasureConfig::default()
    }
}

/// Sampling of a correctness run: one batch after two warm-up iterations, at most 50 ms.
pub fn correctness_config() -> MeasureConfig {
    MeasureConfig {
        criterion: StdRelCriterion {
            min_samples: 1,
            min_time_s: 0.0,
            max_rel_stderr: 1.0,
        },
        warmup_s: 0.0,
        time_limit_s: 0.05,
        ..MeasureConfig::default()
    }
}

/// Sampling of a sustained-load kernel: `seconds` of back-to-back batches of ≥ 0.2 s each
/// (so the samples form a time series), never stopping early.
pub fn sustained_config(seconds: f64) -> MeasureConfig {
    MeasureConfig {
        criterion: StdRelCriterion {
            min_samples: 1,
            min_time_s: seconds,
            max_rel_stderr: 0.0,
        },
        warmup_s: 0.5_f64.min(seconds),
        time_limit_s: seconds,
        max_samples: 1_000_000,
        min_sample_s: 0.2,
        ..MeasureConfig::default()
    }
}

fn note(name: &str, status: Status, detail: String) -> Check {
    Check::new(Group::Perf, name, status).detail(detail)
}

/// The plan for `device` at `level` with the thresholds of `hardware` (None when no
/// hardware file matched). `sustain_s` is the sustained load per kernel at level `long`.
pub fn build(
    level: Level,
    device: &dyn Device,
    hardware: Option<&HardwareSpec>,
    sustain_s: f64,
) -> Result<DeviceChecklist> {
    let class = DeviceClass::of_backend(&device.info().backend);
    let mut notes = Vec::new();
    let mut perf = Vec::new();
    let mut references: Vec<(OpSpec, &'static str)> = Vec::new();
    match hardware {
        None => notes.push(note(
            "perf/thresholds",
            Status::Warn,
            match hotpath_core::hardware::identify(device.info()).ok().and_then(|i| i.note) {
                Some(why) => format!("{why}: performance is not judged"),
                None => format!(
                    "no hardware entry matches '{}': performance is not judged (pass --hardware ID; see hotpath list)",
                    device.info().name
                ),
            },
        )),
        Some(hw) if hw.validate.is_empty() => notes.push(note(
            "perf/thresholds",
            Status::Warn,
            format!(
                "{} has no [validate] thresholds: performance is not judged",
                hw.file_label()
            ),
        )),
        Some(_) => {}
    }
    for kind in PerfKind::ALL {
        let Some(threshold) = hardware.and_then(|hw| hw.validate.get(kind.key())) else {
            continue;
        };
        if kind.min_level() > level {
            continue;
        }
        let spec = kind.spec(class)?;
        let offered = device.impls(spec.op, spec.dtype);
        let Some(imp) = kind.pick_impl(&offered) else {
            notes.push(note(
                &format!("perf/{}", kind.key()),
                Status::Skip,
                format!(
                    "the {} backend has no implementation of {} on this device",
                    device.info().backend,
                    spec
                ),
            ));
            continue;
        };
        if threshold.reference == Reference::Named("measured".into()) {
            references.extend(reference_specs(kind, &spec, class, device)?);
        }
        let peak_dtype = device.peak_dtype(spec.dtype);
        perf.push(PerfCheck {
            kind,
            spec,
            imp,
            threshold: threshold.clone(),
            peak_dtype,
        });
    }
    references.dedup_by(|a, b| a.0 == b.0 && a.1 == b.1);
    let mut correctness = Vec::new();
    for op in OpKind::ALL {
        for dtype in correctness_dtypes(op, level) {
            let impls = device.impls(op, dtype);
            if impls.is_empty() {
                continue;
            }
            let spec = OpSpec::parse(op, op.small_shape(), dtype)?;
            for imp in impls {
                correctness.push((spec.clone(), imp));
            }
        }
    }
    let mut sustained = Vec::new();
    if level == Level::Long {
        let d = device.peak_dtype(DType::Bf16);
        if let Some(imp) = device.impls(OpKind::PeakMma, d).first() {
            sustained.push((PEAK_KEY, OpSpec::parse(OpKind::PeakMma, "", d)?, *imp));
        }
        for kind in [PerfKind::GemmBf16, PerfKind::Copy] {
            let spec = kind.spec(class)?;
            if let Some(imp) = kind.pick_impl(&device.impls(spec.op, spec.dtype)) {
                sustained.push((kind.key(), spec, imp));
            }
        }
    }
    Ok(DeviceChecklist {
        level,
        references,
        perf,
        correctness,
        sustained,
        notes,
        perf_cfg: perf_config(level),
        correctness_cfg: correctness_config(),
        sustained_cfg: sustained_config(sustain_s),
        settle: SettleRule::bounded(default_settle_s(class)),
    })
}

/// The default bound on each wait for the device to settle, seconds: 10 on a GPU, 0 (no
/// wait) on a CPU.
pub fn default_settle_s(class: DeviceClass) -> f64 {
    match class {
        DeviceClass::Gpu => DEFAULT_MAX_WAIT_S,
        DeviceClass::Cpu => 0.0,
    }
}

/// The ceilings whose best rate is the `"measured"` reference of `kind`.
fn reference_specs(
    kind: PerfKind,
    spec: &OpSpec,
    class: DeviceClass,
    device: &dyn Device,
) -> Result<Vec<(OpSpec, &'static str)>> {
    let mut out = Vec::new();
    match kind.metric() {
        Metric::BytesPerS => {
            let elements = match class {
                DeviceClass::Gpu => "elements=128M",
                DeviceClass::Cpu => "elements=16M",
            };
            for op in [OpKind::Read, OpKind::Write, OpKind::Triad] {
                let s = OpSpec::parse(op, elements, DType::F32)?;
                if let Some(imp) = device.impls(op, DType::F32).first() {
                    out.push((s, *imp));
                }
            }
        }
        Metric::FlopsPerS => {
            let d = device.peak_dtype(spec.dtype);
            if let Some(imp) = device.impls(OpKind::PeakMma, d).first() {
                out.push((OpSpec::parse(OpKind::PeakMma, "", d)?, *imp));
            }
        }
    }
    Ok(out)
}
