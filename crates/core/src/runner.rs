//! One benchmark end to end: fit check, inputs, prepare, correctness, measurement, result.
//! Also derives the measured roofs from ceilings and places every result under the roofline.

use std::collections::BTreeMap;

use crate::backend::{CacheMode, Device, DeviceInfo, Workload};
use crate::cache::{CacheRotation, LlcHint, LlcSize};
use crate::check;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::estimator::{self, Estimator};
use crate::hardware;
use crate::inputs;
use crate::measure::{measure_with_telemetry, MeasureConfig};
use crate::op::{OpKind, OpSpec};
use crate::results::{
    BenchmarkResult, HardwareRoofs, MeasurementInfo, Rates, ResultsFile, Roofline, Status,
    TimeStats,
};
use crate::roofline::{self, Bound, Roofs};
use crate::stats::Summary;
use crate::units::bytes_decimal;
use serde::{Deserialize, Serialize};

/// Checks that one set of `spec`'s buffers, plus the host copy of its inputs, fits in the
/// device's available memory. Fails with a sentence naming the sizes.
pub fn check_fits(spec: &OpSpec, info: &DeviceInfo) -> Result<()> {
    let set = inputs::footprint_bytes(spec)?;
    if set == u64::MAX {
        return Err(Error::bad_input(format!(
            "{spec} needs more than 18.4 EB (its byte count does not fit in 64 bits); use a smaller shape"
        )));
    }
    let need = set.saturating_mul(2);
    if info.memory_available_bytes > 0 && need > info.memory_available_bytes {
        return Err(Error::bad_input(format!(
            "{spec} needs {} (inputs, outputs and a host copy) but {} device {} has {} available; use a smaller shape",
            bytes_decimal(need as f64),
            info.backend,
            info.index,
            bytes_decimal(info.memory_available_bytes as f64)
        )));
    }
    Ok(())
}

/// The last-level cache a cold plan on `info` must defeat: the larger of what the runtime
/// reports (`info.llc_bytes`) and the `llc_bytes` of the hardware file, which is `hint`
/// (the run's `--hardware`) when given, else the one that applies to the device
/// ([`hardware::identify`]; [`crate::cache::rotation_llc`]). The same rule for every
/// backend: on an MI300X, HIP reports one XCD's 4 MB L2 while the hardware file has the
/// 256 MB Infinity Cache; on an H100 both say 50 MB. The same file's `cold_llc_multiple`
/// sets how many times over it is rotated (16 for CPUs: hardware/cpu-generic.toml).
pub fn rotation_llc(info: &DeviceInfo, hint: Option<&LlcHint>) -> LlcSize {
    let matched = match hint {
        Some(_) => None,
        None => hardware::identify(info)
            .ok()
            .and_then(|i| i.spec)
            .map(|s| s.llc_hint()),
    };
    let file = hint.or(matched.as_ref());
    let from_file = file.and_then(|h| h.bytes.map(|b| (h.hardware.as_str(), b)));
    let mut llc = crate::cache::rotation_llc(info.llc_bytes, from_file);
    if let Some((m, h)) = file.and_then(|h| Some((h.multiple?, h))) {
        llc.multiple = m.max(llc.multiple);
        llc.source = format!(
            "{}; rotated {m}× ({} cold_llc_multiple)",
            llc.source, h.hardware
        );
    }
    llc
}

/// Plans cache rotation for `spec` on `info`, spending at most a quarter of the free memory,
/// over the bytes an iteration touches ([`crate::ops::Op::touched_bytes`]); `hint` as in
/// [`rotation_llc`].
pub fn cache_rotation(
    spec: &OpSpec,
    info: &DeviceInfo,
    mode: CacheMode,
    hint: Option<&LlcHint>,
) -> Result<CacheRotation> {
    let set = inputs::footprint_bytes(spec)?;
    let budget = (info.memory_available_bytes / 4).max(set);
    // The cache ceiling is hot by definition; launch and host copies do not touch the LLC's
    // cold/hot question (their data crosses PCIe or does not exist).
    let mode = if spec.op.is_off_roofline() {
        CacheMode::Hot
    } else {
        mode
    };
    let touched = crate::ops::def(spec.op)
        .touched_bytes(spec)?
        .map_or(set, |b| b.clamp(1, set));
    Ok(CacheRotation::for_touched(
        mode,
        set,
        touched,
        rotation_llc(info, hint),
        budget,
    ))
}

/// One finished benchmark, and whether the device may be unusable after it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Ran {
    /// The benchmark's result (its error, if any, as text).
    pub result: BenchmarkResult,
    /// A call into the device (prepare, the correctness run, a timed batch, a clock read)
    /// failed with an error that may have poisoned it ([`Error::may_poison_device`]): the
    /// device object must not run another benchmark. False for refusals and for failures
    /// of host-side steps (fit check, reference, the throttled-samples verdict).
    pub device_error: bool,
}

/// Runs one benchmark and returns its result; failures become results with a status, never
/// panics. `hint` sizes a cold cache from the run's `--hardware` file ([`rotation_llc`]).
/// `on_progress` receives the fraction of the time limit used.
pub fn run_one(
    device: &mut dyn Device,
    spec: &OpSpec,
    imp: &str,
    cache: CacheMode,
    hint: Option<&LlcHint>,
    cfg: &MeasureConfig,
    on_progress: &mut dyn FnMut(f64),
) -> Ran {
    let mut result = error_result(spec, imp, String::new());
    result.error = None;
    result.fp8_encoding = crate::fp8::uses_fp8(spec).then(|| device.fp8_encoding());
    let mut device_error = false;
    let measured = cache_rotation(spec, device.info(), cache, hint)
        .map_err(Failure::from)
        .and_then(|rotation| {
            measure_into(device, spec, imp, rotation, cfg, on_progress, &mut result)
        });
    if let Err(f) = measured {
        result.status = Status::Error;
        result.error = Some(f.error.to_string());
        device_error = f.from_device && f.error.may_poison_device();
    }
    device_error |= result.graph.as_ref().is_some_and(|g| g.device_error);
    Ran {
        result,
        device_error,
    }
}

/// Why a benchmark stopped: the error, and whether a call into the device returned it.
struct Failure {
    error: Error,
    from_device: bool,
}

impl From<Error> for Failure {
    /// A host-side step failed (the `?` default).
    fn from(error: Error) -> Failure {
        Failure {
            error,
            from_device: false,
        }
    }
}

/// A call into the device failed.
fn on_device(error: Error) -> Failure {
    Failure {
        error,
        from_device: true,
    }
}

/// The result of a benchmark that could not run: status `error`, the cost model's work,
/// nothing measured, and `message` as the reason.
pub fn error_result(spec: &OpSpec, imp: &str, message: String) -> BenchmarkResult {
    // A spec whose work cannot be counted records none: the result is an error already.
    let (flops, bytes) = spec.work().map_or((0, 0), |w| (w.flops, w.bytes));
    BenchmarkResult {
        id: spec.id(imp),
        op: spec.op,
        shape: spec.shape.clone(),
        dtype: spec.dtype,
        imp: imp.to_string(),
        status: Status::Error,
        error: Some(message),
        flops,
        bytes,
        time: None,
        samples_s: vec![],
        rates: None,
        roofline: None,
        correctness: None,
        discarded_samples: 0,
        measurement: None,
        graph: None,
        telemetry: None,
        fp8_encoding: None,
    }
}

fn measure_into(
    device: &mut dyn Device,
    spec: &OpSpec,
    imp: &str,
    rotation: CacheRotation,
    cfg: &MeasureConfig,
    on_progress: &mut dyn FnMut(f64),
    result: &mut BenchmarkResult,
) -> std::result::Result<(), Failure> {
    check_fits(spec, device.info())?;
    let fault = crate::fault::for_benchmark(&result.id)?;
    if let Some(f) = fault {
        crate::fault::strike(f);
    }
    let host_inputs = inputs::generate_in(spec, inputs::seed_for(spec), device.fp8_encoding())?;
    let mut prepared = device
        .prepare(&Workload {
            spec,
            imp,
            inputs: &host_inputs,
            rotation_sets: rotation.sets,
        })
        .map_err(on_device)?;
    if let Some(w) = prepared.counted_work() {
        result.flops = w.flops;
        result.bytes = w.bytes;
    }
    // A device's fp8 output holds codes of its own encoding, as its inputs do.
    let mut output = prepared
        .output()
        .map_err(on_device)?
        .with_fp8_encoding(host_inputs.fp8);
    if fault == Some(crate::fault::Fault::Wrong) {
        crate::fault::corrupt(&mut output);
    }
    let correctness = check::check(spec, &host_inputs, &output)?;
    drop(output);
    drop(host_inputs);
    let pass = correctness.pass;
    result.correctness = Some(correctness);
    if !pass {
        result.status = Status::Failed;
        result.error = Some("output does not match the reference; not timed".to_string());
        return Ok(());
    }
    match fault {
        Some(crate::fault::Fault::Slow(times)) => {
            prepared = Box::new(crate::fault::Repeated { prepared, times });
        }
        Some(crate::fault::Fault::Slower(percent)) => {
            prepared = Box::new(crate::fault::Stretched { prepared, percent });
        }
        _ => {}
    }
    let sets = rotation.sets;
    // A ceiling's batches last at least 10 ms, and its rates are those of its fastest sample.
    let estimator = Estimator::for_op(spec.op);
    // Graph timing keeps the run's own settings.
    let sample_cfg = estimator::sample_config(spec.op, cfg);
    let source = device.telemetry_source();
    let m = measure_with_telemetry(
        prepared.as_mut(),
        &mut || device.telemetry(),
        source,
        &sample_cfg,
        on_progress,
    )
    .map_err(on_device)?;
    result.discarded_samples = m.discarded_samples;
    result.telemetry = m.telemetry.clone();
    let Some(s) = Summary::of(&m.samples_s) else {
        return Err(Failure::from(Error::backend(format!(
            "all {} sample batches were discarded because the SM clock fell below {:.0} % of its maximum",
            m.discarded_samples,
            cfg.throttle_fraction * 100.0
        ))));
    };
    result.time = Some(TimeStats::of(&s));
    let t = result
        .time
        .as_ref()
        .map_or(s.median, |t| estimator.time_s(t));
    result.rates = Some(Rates {
        flops_per_s: result.flops as f64 / t,
        bytes_per_s: result.bytes as f64 / t,
    });
    result.measurement = Some(MeasurementInfo {
        iters_per_sample: m.iters_per_sample,
        warmup_iters: m.warmup_iters,
        stop_reason: m.stop_reason,
        rel_stderr: s.rel_stderr,
        cv: s.cv(),
        wall_s: m.wall_s,
        sm_clock_mhz: m.sm_clock_mhz,
        cache: rotation,
        estimator,
        remeasured: None,
        clock: prepared.clock().map(str::to_string),
    });
    result.samples_s = m.samples_s;
    result.status = Status::Ok;
    let backend = device.info().backend.clone();
    result.graph = crate::graph_timing::time_graph(
        prepared.as_mut(),
        &backend,
        spec.op,
        s.median,
        sets,
        &mut || device.clock(),
        cfg,
        on_progress,
    );
    Ok(())
}

/// Roofs measured by the ceilings in `benchmarks`: bandwidth is the best rate of the
/// streaming ceilings (copy, read, write, triad; each at its estimator, the fastest sample)
/// measured with a cold cache (past the last-level cache), so every streaming point sits at
/// or below it and the best one on it; without cold ones, the largest `copy`. Peak FLOP/s per
/// dtype from the best `peak_mma`. `compute_dtype` maps a dtype to the dtype whose peak
/// governs it (a CPU computes f16/bf16 in f32). A roof a benchmark sets
/// (`roofline.sets_roof`, see [`crate::roof_check`]) is raised to that benchmark's rate when
/// higher, and `set_by` names it.
pub fn measured_roofs(
    benchmarks: &[BenchmarkResult],
    compute_dtype: &dyn Fn(DType) -> DType,
) -> Roofs {
    let ok = |b: &&BenchmarkResult| b.status == Status::Ok && b.rates.is_some();
    let streaming = |b: &&BenchmarkResult| b.op.is_streaming_ceiling();
    let cold = |b: &&BenchmarkResult| crate::roof_check::is_cold(b);
    let best_cold = benchmarks
        .iter()
        .filter(ok)
        .filter(streaming)
        .filter(cold)
        .filter_map(|b| b.rates.map(|r| r.bytes_per_s))
        .fold(None, |best: Option<f64>, v| {
            Some(best.map_or(v, |b| b.max(v)))
        });
    let mem = best_cold.or_else(|| {
        benchmarks
            .iter()
            .filter(ok)
            .filter(|b| b.op == OpKind::Copy)
            .max_by_key(|b| b.bytes)
            .and_then(|b| b.rates.map(|r| r.bytes_per_s))
    });
    let mut peaks: BTreeMap<String, f64> = BTreeMap::new();
    for b in benchmarks
        .iter()
        .filter(ok)
        .filter(|b| b.op == OpKind::PeakMma)
    {
        if let Some(r) = b.rates {
            let e = peaks.entry(b.dtype.name().to_string()).or_insert(0.0);
            *e = e.max(r.flops_per_s);
        }
    }
    for d in DType::ALL {
        let governing = compute_dtype(d);
        if governing != d {
            if let Some(&p) = peaks.get(governing.name()) {
                peaks.entry(d.name().to_string()).or_insert(p);
            }
        }
    }
    let mut roofs = Roofs {
        mem_bytes_per_s: mem,
        peak_flops: peaks,
        set_by: BTreeMap::new(),
    };
    raise_to_setters(&mut roofs, benchmarks);
    roofs
}

/// Raises each roof a benchmark sets (`roofline.sets_roof`) to its rate when that is higher,
/// naming it in `set_by`.
fn raise_to_setters(roofs: &mut Roofs, benchmarks: &[BenchmarkResult]) {
    for b in benchmarks.iter().filter(|b| b.status == Status::Ok) {
        let (Some(r), Some(rl)) = (b.rates, b.roofline.as_ref()) else {
            continue;
        };
        for key in &rl.sets_roof {
            let (roof, rate) = if key == crate::roof_check::MEM_KEY {
                (roofs.mem_bytes_per_s, r.bytes_per_s)
            } else if let Some(d) = key.strip_prefix("peak_flops.") {
                (roofs.peak_flops.get(d).copied(), r.flops_per_s)
            } else {
                continue;
            };
            if roof.is_some_and(|v| v >= rate) {
                continue;
            }
            match key.strip_prefix("peak_flops.") {
                Some(d) => {
                    roofs.peak_flops.insert(d.to_string(), rate);
                }
                None => roofs.mem_bytes_per_s = Some(rate),
            }
            roofs.set_by.insert(key.clone(), b.id.clone());
        }
    }
}

/// Recomputes the measured roofs from the file's ceilings and places every benchmark under
/// the roofs. Where the hardware entry has no spec value (a CPU), the measured ceiling stands
/// in as the spec roof and the file's sources say so.
pub fn update_roofs(
    file: &mut ResultsFile,
    spec: &HardwareRoofs,
    compute_dtype: &dyn Fn(DType) -> DType,
) {
    file.measured = measured_roofs(&file.benchmarks, compute_dtype);
    file.hardware = spec.clone();
    if file.hardware.mem_bytes_per_s.is_none() {
        if let Some(bw) = file.measured.mem_bytes_per_s {
            file.hardware.mem_bytes_per_s = Some(bw);
            let what = match file.measured.set_by.get(crate::roof_check::MEM_KEY) {
                Some(id) => format!("roof set by {id}"),
                None => "best cold streaming ceiling".into(),
            };
            file.hardware.sources.insert(
                "mem_bytes_per_s".into(),
                format!("measured: {what} in this run (the hardware file has no spec bandwidth)"),
            );
        }
    }
    for (dtype, peak) in &file.measured.peak_flops {
        if !file.hardware.peak_flops.contains_key(dtype) {
            file.hardware.peak_flops.insert(dtype.clone(), *peak);
            let own = file
                .benchmarks
                .iter()
                .any(|b| b.op == OpKind::PeakMma && b.dtype.name() == dtype);
            let set_by = file
                .measured
                .set_by
                .get(&crate::roof_check::peak_key(dtype));
            let source = match DType::parse(dtype).map(compute_dtype) {
                _ if set_by.is_some() => format!(
                    "measured: roof set by {} in this run (the hardware file has no spec peak)",
                    set_by.map_or("", String::as_str)
                ),
                Ok(governing) if !own && governing.name() != dtype => format!(
                    "stand-in: the {governing} peak_mma of this run (this backend computes {dtype} in {governing}; the hardware file has no spec peak)"
                ),
                _ => "measured: peak_mma in this run (the hardware file has no spec peak)".into(),
            };
            file.hardware
                .sources
                .insert(format!("peak_flops.{dtype}"), source);
        }
    }
    place_on_roofline(file);
}

/// Fills `roofline` for every measured benchmark from the file's spec and measured roofs, at
/// each benchmark's estimator time (the median, or a ceiling's fastest sample); the roofs a
/// benchmark sets (`roofline.sets_roof`) are kept.
pub fn place_on_roofline(file: &mut ResultsFile) {
    let spec = file.hardware.roofs();
    let measured = file.measured.clone();
    for b in &mut file.benchmarks {
        // The graph's per-launch median when there is one, else the estimator's stream time
        // (the median, or a ceiling's fastest sample).
        let Some((t, timing)) = crate::graph_timing::efficiency_time(b) else {
            continue;
        };
        let sets_roof = b
            .roofline
            .as_mut()
            .map(|r| std::mem::take(&mut r.sets_roof))
            .unwrap_or_default();
        let work = crate::op::Work {
            flops: b.flops,
            bytes: b.bytes,
        };
        let on_spec = roofline::efficiency(b.op, b.dtype, work, &spec, t);
        let floor_measured = roofline::floor_s(b.op, b.dtype, work, &measured);
        b.roofline = Some(Roofline {
            intensity: work.intensity(),
            bound: on_spec
                .map(|(_, bd)| bd)
                .or(floor_measured.map(|(_, bd)| bd))
                .unwrap_or(Bound::Unknown),
            efficiency_spec: on_spec.map(|(e, _)| e),
            efficiency_measured: floor_measured.map(|(f, _)| f / t),
            floor_measured_s: floor_measured.map(|(f, _)| f),
            timing,
            sets_roof,
        });
    }
}

#[cfg(test)]
#[path = "runner_device_error_tests.rs"]
mod device_error_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn gpu(backend: &str, name: &str, llc_bytes: u64) -> DeviceInfo {
        DeviceInfo {
            backend: backend.into(),
            name: name.into(),
            llc_bytes,
            memory_available_bytes: 190_000_000_000,
            ..DeviceInfo::default()
        }
    }

    /// A `--hardware` file's cache facts.
    fn hint(hardware: &str, bytes: Option<u64>, multiple: Option<u64>) -> LlcHint {
        LlcHint {
            hardware: hardware.into(),
            bytes,
            multiple,
        }
    }

    fn gemv() -> OpSpec {
        OpSpec::parse(OpKind::Gemv, "m=1,n=14336,k=4096", DType::Bf16).unwrap()
    }

    #[test]
    fn cold_plans_use_the_matched_hardware_files_llc_when_it_is_larger() {
        // MI300X: HIP's 4 MiB L2 against the file's 256 MB Infinity Cache: 7 sets of
        // 117,477,376 B (⌈768 MB / 117.48 MB⌉), as worked in cache.rs.
        let info = gpu("rocm", "AMD Instinct MI300X", 4_194_304);
        let p = cache_rotation(&gemv(), &info, CacheMode::Cold, None).unwrap();
        assert_eq!((p.sets, p.llc_bytes), (7, 256_000_000));
        assert!(p.is_fully_cold());
        // H100: CUDA's 50 MiB L2 is larger than the file's 50 MB: ⌈157.3 MB / 117.5 MB⌉ = 2.
        let info = gpu("cuda", "NVIDIA H100 80GB HBM3", 52_428_800);
        let p = cache_rotation(&gemv(), &info, CacheMode::Cold, None).unwrap();
        assert_eq!((p.sets, p.llc_bytes), (2, 52_428_800));
        // An AMD GPU no file matches, whose runtime reports no L2: the 256 MB default.
        let info = gpu("rocm", "AMD Radeon Something", 0);
        let p = cache_rotation(&gemv(), &info, CacheMode::Cold, None).unwrap();
        assert_eq!((p.sets, p.llc_bytes), (7, 256_000_000));
        assert!(p.llc_source.starts_with("unknown"), "{}", p.llc_source);
        // Hot stays one set whatever the cache.
        let info = gpu("rocm", "AMD Instinct MI300X", 4_194_304);
        assert_eq!(
            cache_rotation(&gemv(), &info, CacheMode::Hot, None)
                .unwrap()
                .sets,
            1
        );
    }

    #[test]
    fn a_cpu_rotates_sixteen_times_its_l3() {
        // A CPU matches cpu-generic (cold_llc_multiple = 16) and reports a 32 MiB L3: a copy
        // of 16 Mi f32 moves 128 MiB a set, and 16 × 32 MiB = 512 MiB takes ⌈512 / 128⌉ =
        // 4 sets (3× would be 1 set: 128 MiB ≥ 96 MiB).
        let info = DeviceInfo {
            backend: "cpu".into(),
            name: "AMD EPYC".into(),
            llc_bytes: 32 << 20,
            memory_available_bytes: 20_000_000_000,
            ..DeviceInfo::default()
        };
        let copy = OpSpec::parse(OpKind::Copy, "elements=16777216", DType::F32).unwrap();
        let p = cache_rotation(&copy, &info, CacheMode::Cold, None).unwrap();
        assert_eq!((p.sets, p.set_bytes), (4, 128 << 20));
        assert_eq!(p.llc_target_multiple, 16);
        assert!((p.llc_multiple - 16.0).abs() < 1e-12);
        assert!(
            p.llc_source
                .ends_with("; rotated 16× (hardware/cpu-generic.toml cold_llc_multiple)"),
            "{}",
            p.llc_source
        );
        // A GPU file without the key keeps 3×.
        let info = gpu("cuda", "NVIDIA H100 80GB HBM3", 52_428_800);
        assert_eq!(
            cache_rotation(&gemv(), &info, CacheMode::Cold, None)
                .unwrap()
                .llc_target_multiple,
            3
        );
        // A site file may ask for more than the matched one.
        let site = hint("site.toml", None, Some(8));
        let p = cache_rotation(&gemv(), &info, CacheMode::Cold, Some(&site)).unwrap();
        // ⌈8 × 52.43 MB / 117.48 MB⌉ = ⌈3.570⌉ = 4 sets.
        assert_eq!((p.sets, p.llc_target_multiple), (4, 8));
    }

    #[test]
    fn a_hardware_override_replaces_the_matched_file_for_cold_sizing() {
        // An H100 told to use a site file claiming a 200 MB cache: ⌈3 × 200 MB / 117.48 MB⌉
        // = ⌈5.107⌉ = 6 sets, against 2 with the matched h100-sxm file (above).
        let info = gpu("cuda", "NVIDIA H100 80GB HBM3", 52_428_800);
        let site = hint("/etc/hotpath/site-h100.toml", Some(200_000_000), None);
        let p = cache_rotation(&gemv(), &info, CacheMode::Cold, Some(&site)).unwrap();
        assert_eq!((p.sets, p.llc_bytes), (6, 200_000_000));
        assert!(
            p.llc_source
                .starts_with("/etc/hotpath/site-h100.toml llc_bytes (200 MB), larger than"),
            "{}",
            p.llc_source
        );
        // An override without llc_bytes leaves the runtime's figure, not the matched file's:
        // an MI300X's 4 MiB L2 then gives ⌈12.58 MB / 117.48 MB⌉ = 1 set, not the 7 above.
        let info = gpu("rocm", "AMD Instinct MI300X", 4_194_304);
        let bare = hint("site-mi300x.toml", None, None);
        let p = cache_rotation(&gemv(), &info, CacheMode::Cold, Some(&bare)).unwrap();
        assert_eq!((p.sets, p.llc_bytes), (1, 4_194_304));
    }
}
