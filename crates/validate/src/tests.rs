//! Validate end to end on a fake GPU: a fake NVML-like [`HealthSource`] with injected
//! readings and a fake [`Bench`] with injected results, through the real plan (h100-sxm's
//! thresholds), engine and rules. Each FAIL/WARN path of the issue has its test.

use std::collections::BTreeMap;

use hotpath_core::backend::{CacheMode, ClockSample, Device, DeviceInfo, Prepared, TimingMethod};
use hotpath_core::cache::CacheRotation;
use hotpath_core::check::Correctness;
use hotpath_core::dtype::DType;
use hotpath_core::error::{Error, Result};
use hotpath_core::hardware;
use hotpath_core::measure::MeasureConfig;
use hotpath_core::op::{OpKind, OpSpec};
use hotpath_core::results::{
    BenchmarkResult, MeasurementInfo, Rates, Status as RunStatus, TimeStats,
};
use hotpath_core::stopping::StopReason;

use super::checklist::{self, DeviceChecklist};
use super::engine::{run_device, Bench};
use super::health::{HealthReadings, HealthSource, SourceKind};
use super::*;

/// A device that only answers what planning asks: its facts and which kernels it offers.
pub(super) struct FakeDevice {
    pub(super) info: DeviceInfo,
    fp8: bool,
}

impl FakeDevice {
    pub(super) fn gpu() -> FakeDevice {
        FakeDevice {
            info: DeviceInfo {
                backend: "cuda".into(),
                name: "NVIDIA H100 80GB HBM3".into(),
                ..DeviceInfo::default()
            },
            fp8: true,
        }
    }
    pub(super) fn cpu() -> FakeDevice {
        FakeDevice {
            info: DeviceInfo {
                backend: "cpu".into(),
                name: "Test CPU".into(),
                ..DeviceInfo::default()
            },
            fp8: false,
        }
    }
}

impl Device for FakeDevice {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }
    fn impls(&self, op: OpKind, dtype: DType) -> Vec<&'static str> {
        match (op, dtype) {
            (_, DType::Fp8E4m3) if !self.fp8 => vec![],
            (OpKind::Gemm, _) if self.info.backend == "cuda" => vec!["hotpath", "cublaslt"],
            _ => vec!["hotpath"],
        }
    }
    fn prepare(&mut self, _: &hotpath_core::backend::Workload) -> Result<Box<dyn Prepared>> {
        Err(Error::backend("the fake device runs nothing"))
    }
    fn clock(&self) -> Result<Option<ClockSample>> {
        Ok(None)
    }
    fn timing_method(&self) -> TimingMethod {
        TimingMethod::DeviceEvents
    }
    fn peak_dtype(&self, dtype: DType) -> DType {
        // As the CPU backend: bf16 and f16 are computed in f32.
        match (self.info.backend.as_str(), dtype) {
            ("cpu", DType::Bf16 | DType::F16) => DType::F32,
            _ => dtype,
        }
    }
}

/// A healthy H100 as NVML would read it under load.
pub(super) fn healthy() -> HealthReadings {
    HealthReadings {
        ecc_enabled: Some(true),
        ecc_uncorrected_volatile: Some(0),
        ecc_uncorrected_aggregate: Some(0),
        ecc_corrected_volatile: Some(0),
        retirement_pending: Some(false),
        remapped_rows_uncorrectable: Some(0),
        remapped_rows_correctable: Some(0),
        row_remap_pending: Some(false),
        row_remap_failure: Some(false),
        pcie_gen: Some(5),
        pcie_gen_max: Some(5),
        pcie_width: Some(16),
        pcie_width_max: Some(16),
        sm_clock_mhz: Some(1980.0),
        sm_clock_max_mhz: Some(1980.0),
        mem_clock_mhz: Some(2619.0),
        mem_clock_max_mhz: Some(2619.0),
        throttle_reasons: Some(vec!["sw_power_cap".into()]),
        power_limit_w: Some(700.0),
        power_limit_default_w: Some(700.0),
        temperature_c: Some(62.0),
        temperature_slowdown_c: Some(90.0),
        persistence_mode: Some(true),
        bus_id: Some("00000000:18:00.0".into()),
        ..HealthReadings::default()
    }
}

/// Readings scripted per call: `before`, then `after` for every later read.
pub(super) struct FakeNvml {
    before: HealthReadings,
    after: HealthReadings,
    reads: usize,
}

impl FakeNvml {
    pub(super) fn new(before: HealthReadings, after: HealthReadings) -> FakeNvml {
        FakeNvml {
            before,
            after,
            reads: 0,
        }
    }
}

impl HealthSource for FakeNvml {
    fn describe(&self) -> String {
        "fake NVML".into()
    }
    fn kind(&self) -> SourceKind {
        SourceKind::Gpu
    }
    fn read(&mut self) -> HealthReadings {
        self.reads += 1;
        if self.reads == 1 {
            self.before.clone()
        } else {
            self.after.clone()
        }
    }
}

/// Time that passes only when the wait sleeps: tests never sleep.
#[derive(Default)]
pub(super) struct FakeClock {
    pub(super) t: f64,
    pub(super) sleeps: usize,
}

impl super::settle::Clock for FakeClock {
    fn now_s(&mut self) -> f64 {
        self.t
    }
    fn sleep(&mut self, seconds: f64) {
        self.t += seconds;
        self.sleeps += 1;
    }
}

/// Results at a chosen fraction of spec: bandwidth kernels at `bw_fraction` of `spec_bw`
/// (H100's 3.35 TB/s unless set), GEMMs at `flops_fraction` of their dtype's spec peak;
/// `wrong` ops return wrong output; `discarded` batches per benchmark ran below 75 % clock.
pub(super) struct FakeBench {
    pub(super) spec_bw: f64,
    pub(super) bw_fraction: BTreeMap<OpKind, f64>,
    pub(super) flops_fraction: f64,
    wrong: Vec<OpKind>,
    discarded: u64,
    /// Per-iteration times of a sustained run, scripted (else constant).
    pub(super) sustained_samples: Option<Vec<f64>>,
    runs: Vec<String>,
}

impl FakeBench {
    pub(super) fn healthy() -> FakeBench {
        FakeBench {
            spec_bw: H100_BW,
            bw_fraction: BTreeMap::new(),
            flops_fraction: 0.70,
            wrong: vec![],
            discarded: 0,
            sustained_samples: None,
            runs: vec![],
        }
    }
}

const H100_BW: f64 = 3.35e12;

/// FLOP per iteration of a fake peak_mma run.
pub(super) const PEAK_FLOPS: u64 = 1 << 40;

pub(super) fn result_at(
    spec: &OpSpec,
    imp: &str,
    per_iter_s: f64,
    samples: Vec<f64>,
    discarded: u64,
) -> BenchmarkResult {
    let mut r = hotpath_core::runner::error_result(spec, imp, String::new());
    r.error = None;
    r.status = RunStatus::Ok;
    r.correctness = Some(Correctness {
        reference: "cpu-f64".into(),
        nmse: 1e-7,
        max_abs_err: 1e-4,
        pass: true,
        tolerance_nmse: 1e-3,
        checked_elements: 1000,
        total_elements: 1000,
        non_finite: 0,
        note: None,
    });
    r.time = Some(TimeStats {
        median_s: per_iter_s,
        min_s: per_iter_s,
        mean_s: per_iter_s,
        stdev_s: 0.0,
        p10_s: per_iter_s,
        p90_s: per_iter_s,
        mad_s: 0.0,
    });
    r.rates = Some(Rates {
        flops_per_s: r.flops as f64 / per_iter_s,
        bytes_per_s: r.bytes as f64 / per_iter_s,
    });
    r.discarded_samples = discarded;
    r.measurement = Some(MeasurementInfo {
        iters_per_sample: 1,
        warmup_iters: 2,
        stop_reason: StopReason::Converged,
        rel_stderr: 0.001,
        cv: 0.01,
        wall_s: 0.1 * samples.len() as f64,
        sm_clock_mhz: Some((if discarded > 0 { 1500.0 } else { 1980.0 }, 1980.0)),
        cache: CacheRotation::new(CacheMode::Cold, 1, 1, 1),
        estimator: Default::default(),
        remeasured: None,
        clock: None,
    });
    r.samples_s = samples;
    r
}

impl Bench for FakeBench {
    fn run(
        &mut self,
        spec: &OpSpec,
        imp: &str,
        cfg: &MeasureConfig,
        on_progress: &mut dyn FnMut(f64),
    ) -> Option<BenchmarkResult> {
        self.runs.push(spec.id(imp));
        if self.wrong.contains(&spec.op) {
            let mut r = result_at(spec, imp, 1.0, vec![], 0);
            r.status = RunStatus::Failed;
            r.time = None;
            r.rates = None;
            r.error = Some("output does not match the reference; not timed".into());
            if let Some(c) = r.correctness.as_mut() {
                c.pass = false;
                c.nmse = 0.25;
            }
            return Some(r);
        }
        let mut work = spec.work().unwrap();
        if spec.op == OpKind::PeakMma {
            // The device sizes peak_mma's work at run time; 2^40 FLOP stands in for a GPU's.
            work.flops = PEAK_FLOPS;
        }
        let per_iter = if work.flops > 0 && matches!(spec.op, OpKind::Gemm | OpKind::PeakMma) {
            let peak = match spec.dtype {
                DType::Fp8E4m3 => 1978.9e12,
                _ => 989.4e12,
            };
            work.flops as f64 / (self.flops_fraction * peak)
        } else {
            let f = self.bw_fraction.get(&spec.op).copied().unwrap_or(0.90);
            work.bytes.max(1) as f64 / (f * self.spec_bw)
        };
        let sustained = cfg.time_limit_s >= 10.0;
        let samples = match (&self.sustained_samples, sustained) {
            (Some(s), true) => {
                for i in 0..s.len() {
                    on_progress(i as f64 / s.len() as f64);
                }
                s.iter().map(|x| x * per_iter).collect()
            }
            _ => vec![per_iter; 20],
        };
        let mut r = result_at(spec, imp, per_iter, samples, self.discarded);
        if spec.op == OpKind::PeakMma {
            r.flops = PEAK_FLOPS;
            r.rates = Some(Rates {
                flops_per_s: PEAK_FLOPS as f64 / per_iter,
                bytes_per_s: 0.0,
            });
        }
        if let (true, Some(m)) = (sustained, r.measurement.as_mut()) {
            // Batches of about 0.25 s, as the loop makes them (at least min_sample_s).
            m.iters_per_sample = (0.25 / per_iter).round().max(1.0) as u32;
        }
        Some(r)
    }
}

pub(super) fn h100() -> hardware::HardwareSpec {
    hardware::by_id("h100-sxm").unwrap()
}

pub(super) fn gpu_plan(level: Level) -> DeviceChecklist {
    checklist::build(level, &FakeDevice::gpu(), Some(&h100()), 30.0).unwrap()
}

fn run(bench: &mut FakeBench, before: HealthReadings, after: HealthReadings) -> Vec<Check> {
    let p = gpu_plan(Level::Quick);
    let mut src = FakeNvml::new(before, after);
    run_device(&p, bench, &mut src, &mut FakeClock::default(), &mut |_| {}).checks
}

pub(super) fn get<'a>(checks: &'a [Check], name: &str) -> &'a Check {
    checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name}"))
}

#[test]
fn a_healthy_gpu_passes_every_check() {
    let checks = run(&mut FakeBench::healthy(), healthy(), healthy());
    let bad: Vec<&Check> = checks.iter().filter(|c| c.status != Status::Pass).collect();
    // Only retired_pages is unreadable on an H100 (it remaps rows instead): SKIP.
    assert_eq!(bad.len(), 1, "{bad:#?}");
    assert_eq!(bad[0].name, "health/retired_pages");
    assert_eq!(verdict(checks.iter().map(|c| c.status)), Status::Pass);
    for name in [
        "perf/copy",
        "perf/gemm_bf16",
        "perf/gemv_decode",
        "perf/attn_decode",
        "perf/kv_write",
        "perf/clocks_under_load",
        "health/ecc_uncorrected_volatile",
        "health/pcie_width",
        "health/throttle",
        "health/persistence_mode",
    ] {
        get(&checks, name);
    }
    // Groups in report order.
    let groups: Vec<Group> = checks.iter().map(|c| c.group).collect();
    let mut sorted = groups.clone();
    sorted.sort();
    assert_eq!(groups, sorted);
    // Every op family's kernel was checked for correctness at quick (bf16 / f32).
    for op in [
        "gemm/",
        "gemv/",
        "attn_prefill/",
        "attn_decode/",
        "kv_write/",
        "kv_read/",
        "copy/",
        "peak_mma/",
        "launch/",
        "h2d/",
    ] {
        assert!(
            checks
                .iter()
                .any(|c| c.name.starts_with(&format!("correctness/{op}"))),
            "{op}"
        );
    }
    // fp8 GEMM is a standard-level check.
    assert!(checks.iter().all(|c| c.name != "perf/gemm_fp8"));
}

#[test]
fn ecc_errors_fail() {
    let mut after = healthy();
    after.ecc_uncorrected_volatile = Some(2);
    let checks = run(&mut FakeBench::healthy(), healthy(), after);
    let c = get(&checks, "health/ecc_uncorrected_volatile");
    assert_eq!(c.status, Status::Fail);
    assert_eq!(c.value, serde_json::json!(2));
    assert_eq!(c.threshold, serde_json::json!(0));
    assert!(
        c.detail.contains("2 of them during this validation"),
        "{}",
        c.detail
    );
    let mut life = healthy();
    life.ecc_uncorrected_aggregate = Some(5);
    let checks = run(&mut FakeBench::healthy(), healthy(), life);
    assert_eq!(
        get(&checks, "health/ecc_uncorrected_aggregate").status,
        Status::Warn
    );
}

#[test]
fn unreadable_ecc_on_a_gpu_warns_with_the_reason() {
    let mut r = healthy();
    r.ecc_uncorrected_volatile = None;
    r.note("ecc_uncorrected_volatile", "NotSupported");
    let c = super::health::checks(&r, &r, SourceKind::Gpu);
    let e = get(&c, "health/ecc_uncorrected_volatile");
    assert_eq!(e.status, Status::Warn);
    assert!(
        e.detail.contains("not readable (NotSupported)"),
        "{}",
        e.detail
    );
}

#[test]
fn pcie_downgraded_to_x8_fails() {
    let mut after = healthy();
    after.pcie_width = Some(8);
    let checks = run(&mut FakeBench::healthy(), healthy(), after);
    let c = get(&checks, "health/pcie_width");
    assert_eq!(c.status, Status::Fail);
    assert_eq!(
        (c.value.clone(), c.threshold.clone()),
        (serde_json::json!(8), serde_json::json!(16))
    );
    assert!(
        c.detail.contains("x8 of x16") && c.detail.contains("50 %"),
        "{}",
        c.detail
    );
    // A lower generation right after load is only a warning (links idle down).
    let mut slow = healthy();
    slow.pcie_gen = Some(3);
    let c = super::health::checks(&slow, &slow, SourceKind::Gpu);
    assert_eq!(get(&c, "health/pcie_gen").status, Status::Warn);
}

#[test]
fn throttled_clocks_fail_and_warn() {
    let mut after = healthy();
    after.sm_clock_mhz = Some(1100.0);
    after.throttle_reasons = Some(vec!["hw_thermal_slowdown".into()]);
    let mut bench = FakeBench::healthy();
    bench.discarded = 5;
    let checks = run(&mut bench, healthy(), after);
    let t = get(&checks, "health/throttle");
    assert_eq!(t.status, Status::Fail);
    assert!(t.detail.contains("hw_thermal_slowdown"), "{}", t.detail);
    // 1100 of 1980 MHz = 56 % < 75 %, not idle.
    let s = get(&checks, "health/sm_clock");
    assert_eq!(s.status, Status::Warn);
    assert_eq!(s.threshold, serde_json::json!(0.75 * 1980.0));
    // 5 discarded of 25 batches per benchmark: a warning, not half.
    let l = get(&checks, "perf/clocks_under_load");
    assert_eq!(l.status, Status::Warn, "{}", l.detail);
    assert_eq!(l.value, serde_json::json!(1500.0));
    // Software thermal slowdown alone warns; the power cap alone passes.
    assert_eq!(
        super::health::throttle_status(&["sw_thermal_slowdown".into()]),
        Status::Warn
    );
    assert_eq!(
        super::health::throttle_status(&["sw_power_cap".into()]),
        Status::Pass
    );
    // An idle GPU's low clock is not a warning.
    let mut idle = healthy();
    idle.sm_clock_mhz = Some(345.0);
    idle.throttle_reasons = Some(vec!["gpu_idle".into()]);
    let c = super::health::checks(&idle, &idle, SourceKind::Gpu);
    assert_eq!(get(&c, "health/sm_clock").status, Status::Pass);
}

#[test]
fn a_kernel_returning_wrong_results_fails() {
    let mut bench = FakeBench::healthy();
    bench.wrong = vec![OpKind::Gemv];
    let checks = run(&mut bench, healthy(), healthy());
    let wrong: Vec<&Check> = checks
        .iter()
        .filter(|c| c.name.starts_with("correctness/gemv/"))
        .collect();
    assert!(!wrong.is_empty());
    for c in &wrong {
        assert_eq!(c.status, Status::Fail);
        assert!(
            c.detail.starts_with("WRONG RESULTS: nmse 2.500e-1"),
            "{}",
            c.detail
        );
    }
    let p = get(&checks, "perf/gemv_decode");
    assert_eq!(p.status, Status::Fail);
    assert!(
        p.detail.contains("not timed: its output was wrong"),
        "{}",
        p.detail
    );
    // Health is perfect, the other kernels pass: the verdict is still FAIL.
    assert_eq!(verdict(checks.iter().map(|c| c.status)), Status::Fail);
    assert_eq!(
        get(&checks, "health/ecc_uncorrected_volatile").status,
        Status::Pass
    );
}

#[test]
fn bandwidth_under_threshold_fails_and_near_it_warns() {
    // h100-sxm copy: WARN below 0.80 × 3.35 TB/s = 2.68 TB/s, FAIL below 0.70 × = 2.345 TB/s.
    for (fraction, want) in [
        (0.65, Status::Fail),
        (0.75, Status::Warn),
        (0.90, Status::Pass),
    ] {
        let mut bench = FakeBench::healthy();
        bench.bw_fraction.insert(OpKind::Copy, fraction);
        let checks = run(&mut bench, healthy(), healthy());
        let c = get(&checks, "perf/copy");
        assert_eq!(c.status, want, "{fraction}: {}", c.detail);
        let v = c.value.as_f64().unwrap();
        assert!((v - fraction * 3.35e12).abs() < 1e3, "{v}");
        assert!((c.threshold.as_f64().unwrap() - 2.345e12).abs() < 1e3);
        assert!((c.warn_threshold.unwrap() - 2.68e12).abs() < 1e3);
        assert_eq!(c.unit, "B/s");
        assert!(
            c.detail
                .contains(&format!("{:.1} % of 3.35 TB/s", 100.0 * fraction)),
            "{}",
            c.detail
        );
        assert!(
            c.detail.contains("no known-good measurement yet"),
            "{}",
            c.detail
        );
    }
    // GEMM at 45 % of 989.4 TFLOP/s is below the 50 % FAIL line.
    let mut bench = FakeBench::healthy();
    bench.flops_fraction = 0.45;
    let checks = run(&mut bench, healthy(), healthy());
    assert_eq!(get(&checks, "perf/gemm_bf16").status, Status::Fail);
}

#[test]
fn pending_retirement_remap_failure_heat_power_and_persistence() {
    let mut r = healthy();
    r.retirement_pending = Some(true);
    r.row_remap_failure = Some(true);
    r.row_remap_pending = Some(true);
    r.remapped_rows_uncorrectable = Some(3);
    r.temperature_c = Some(88.0);
    r.power_limit_w = Some(500.0);
    r.persistence_mode = Some(false);
    r.ecc_enabled = Some(false);
    let c = super::health::checks(&r, &r, SourceKind::Gpu);
    for (name, want) in [
        ("health/retirement_pending", Status::Fail),
        ("health/row_remap_failure", Status::Fail),
        ("health/row_remap_pending", Status::Fail),
        ("health/remapped_rows", Status::Warn),
        // 88 C is within 5 C of the 90 C slowdown limit.
        ("health/temperature", Status::Warn),
        // 500 W of 700 W default.
        ("health/power_limit", Status::Warn),
        ("health/persistence_mode", Status::Warn),
        ("health/ecc_mode", Status::Warn),
    ] {
        assert_eq!(
            get(&c, name).status,
            want,
            "{name}: {}",
            get(&c, name).detail
        );
    }
    assert_eq!(
        super::health::temperature_status(90.0, Some(90.0)).0,
        Status::Fail
    );
    assert_eq!(
        super::health::temperature_status(96.0, None).0,
        Status::Fail
    );
    assert_eq!(
        super::health::temperature_status(86.0, None).0,
        Status::Warn
    );
    assert_eq!(
        super::health::temperature_status(84.0, Some(90.0)).0,
        Status::Pass
    );
}

#[test]
fn cpu_copy_is_judged_against_the_same_runs_streaming_ceilings() {
    let cpu = hardware::by_id("cpu-generic").unwrap();
    let p = checklist::build(Level::Quick, &FakeDevice::cpu(), Some(&cpu), 30.0).unwrap();
    let refs: Vec<OpKind> = p.references.iter().map(|r| r.0.op).collect();
    assert_eq!(refs, vec![OpKind::Read, OpKind::Write, OpKind::Triad]);
    assert_eq!(p.perf.len(), 1, "cpu-generic thresholds only copy");
    // Triad at 90 % of 3.35 TB/s is the best reference; copy at 50 % of it... i.e. 0.45 of
    // 3.35 TB/s = 0.5 × the reference: below the 0.60 FAIL line.
    let mut bench = FakeBench::healthy();
    bench.bw_fraction.insert(OpKind::Copy, 0.45);
    bench.bw_fraction.insert(OpKind::Read, 0.80);
    bench.bw_fraction.insert(OpKind::Write, 0.70);
    let mut src = super::health::NoHealth {
        kind: SourceKind::Cpu,
        why: "test".into(),
    };
    let checks = run_device(
        &p,
        &mut bench,
        &mut src,
        &mut FakeClock::default(),
        &mut |_| {},
    )
    .checks;
    let c = get(&checks, "perf/copy");
    assert_eq!(c.status, Status::Fail, "{}", c.detail);
    assert!((c.threshold.as_f64().unwrap() - 0.6 * 0.9 * 3.35e12).abs() < 1e3);
    assert!(
        c.detail.contains("50.0 % of") && c.detail.contains("(triad)"),
        "{}",
        c.detail
    );
    // Health on a CPU: not applicable, never a failure.
    assert!(checks
        .iter()
        .filter(|c| c.group == Group::Health)
        .all(|c| c.status == Status::Skip));
}

#[test]
fn a_gpu_without_thresholds_warns_that_performance_is_not_judged() {
    let p = checklist::build(Level::Quick, &FakeDevice::gpu(), None, 30.0).unwrap();
    assert!(p.perf.is_empty());
    assert_eq!(p.notes.len(), 1);
    assert_eq!(p.notes[0].status, Status::Warn);
    assert!(p.notes[0].detail.contains("NVIDIA H100 80GB HBM3"));
}

#[test]
fn standard_adds_fp8_and_every_dtype() {
    let q = gpu_plan(Level::Quick);
    let s = gpu_plan(Level::Standard);
    assert!(s
        .perf
        .iter()
        .any(|p| p.kind == super::perf::PerfKind::GemmFp8));
    assert!(s.correctness.len() > q.correctness.len());
    assert!(s
        .correctness
        .iter()
        .any(|(spec, _)| spec.dtype == DType::F16));
    assert!(s.perf_cfg.time_limit_s > q.perf_cfg.time_limit_s);
    let gemm = s
        .perf
        .iter()
        .find(|p| p.kind == super::perf::PerfKind::GemmBf16)
        .unwrap();
    assert_eq!(gemm.imp, "cublaslt", "GEMM is judged on the vendor library");
    assert!(s.sustained.is_empty() && !gpu_plan(Level::Long).sustained.is_empty());
}

#[test]
fn sustained_load_catches_slowdown_thermal_throttle_and_new_errors() {
    let p = gpu_plan(Level::Long);
    let mut bench = FakeBench::healthy();
    // 50 batches: the last fifth takes 1.3× the first fifth's time (rate ratio 0.77).
    let mut samples = vec![1.0; 40];
    samples.extend(vec![1.3; 10]);
    bench.sustained_samples = Some(samples);
    let mut hot = healthy();
    hot.throttle_reasons = Some(vec!["hw_thermal_slowdown".into()]);
    hot.temperature_c = Some(91.0);
    hot.ecc_uncorrected_volatile = Some(1);
    // First read healthy (before), every later read hot: the sustained start is hot too,
    // so no ECC *increase* shows there; the health check sees the error.
    let mut src = FakeNvml::new(healthy(), hot);
    let out = run_device(
        &p,
        &mut bench,
        &mut src,
        &mut FakeClock::default(),
        &mut |_| {},
    );
    let c = &out.checks;
    let stab = get(c, "sustained/gemm_bf16/stability");
    assert_eq!(stab.status, Status::Fail, "{}", stab.detail);
    assert!((stab.value.as_f64().unwrap() - 1.0 / 1.3).abs() < 1e-9);
    assert_eq!(get(c, "sustained/gemm_bf16/throttle").status, Status::Fail);
    assert_eq!(
        get(c, "sustained/gemm_bf16/temperature").status,
        Status::Fail
    );
    assert_eq!(
        get(c, "sustained/copy/correctness_after").status,
        Status::Pass
    );
    assert_eq!(get(c, "sustained/copy/ecc").status, Status::Pass);
    assert_eq!(
        get(c, "health/ecc_uncorrected_volatile").status,
        Status::Fail
    );
    assert!(!out.traces.is_empty());
    // An ECC error appearing during the load.
    let mut e = healthy();
    e.ecc_uncorrected_volatile = Some(3);
    let sc = super::sustained::checks(
        "copy",
        &result_at(&p.sustained[1].1, "hotpath", 1.0, vec![1.0; 20], 0),
        &healthy(),
        &[],
        &e,
        SourceKind::Gpu,
    );
    assert_eq!(get(&sc, "sustained/copy/ecc").status, Status::Fail);
    assert_eq!(get(&sc, "sustained/copy/stability").status, Status::Pass);
}

#[test]
fn an_interrupted_run_keeps_what_ran() {
    struct Stop(usize);
    impl Bench for Stop {
        fn run(
            &mut self,
            s: &OpSpec,
            i: &str,
            _: &MeasureConfig,
            _: &mut dyn FnMut(f64),
        ) -> Option<BenchmarkResult> {
            if self.0 == 0 {
                return None;
            }
            self.0 -= 1;
            Some(result_at(s, i, 1e-3, vec![1e-3; 10], 0))
        }
    }
    let p = gpu_plan(Level::Quick);
    let mut src = FakeNvml::new(healthy(), healthy());
    let out = run_device(
        &p,
        &mut Stop(2),
        &mut src,
        &mut FakeClock::default(),
        &mut |_| {},
    );
    assert!(out.interrupted);
    // Two benchmarks ran: copy (correctness + perf) and gemm (correctness + perf).
    assert_eq!(out.checks.len(), 4, "{:#?}", out.checks);
}

#[test]
fn report_json_has_the_contract_fields_and_reads_back() {
    let checks = run(&mut FakeBench::healthy(), healthy(), healthy());
    let mut report = ValidateReport {
        schema: SCHEMA.into(),
        tool: hotpath_core::results::ToolInfo {
            version: "0.1.0".into(),
            git: None,
        },
        created: "2026-11-24T00:00:00Z".into(),
        host: hotpath_core::results::HostInfo {
            hostname: "n1".into(),
            os: "linux".into(),
            cpu: "x".into(),
        },
        level: Level::Quick,
        status: Status::Pass,
        wall_s: 1.0,
        config: ValidateConfig {
            cache: CacheMode::Cold,
            perf: checklist::perf_config(Level::Quick),
            correctness: checklist::correctness_config(),
            sustain_s: 0.0,
            settle_max_s: None,
            injected_faults: None,
        },
        interrupted: false,
        devices: vec![DeviceSummary {
            backend: "cuda".into(),
            index: 0,
            name: "NVIDIA H100 80GB HBM3".into(),
            hardware: "h100-sxm".into(),
            bus_id: None,
            health_source: "fake".into(),
            status: Status::Pass,
            wall_s: 1.0,
            counts: StatusCounts::default(),
            benchmarks: Vec::new(),
            sustained_traces: Vec::new(),
            verdict_note: None,
        }],
        checks,
    };
    report.checks[0].status = Status::Fail;
    report.settle();
    assert_eq!(report.status, Status::Fail);
    assert_eq!(report.devices[0].counts.fail, 1);
    let text = serde_json::to_string(&report).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["schema"], "hotpath.validate/1");
    assert_eq!(v["status"], "FAIL");
    for field in ["name", "status", "value", "threshold", "unit", "detail"] {
        assert!(v["checks"][0].get(field).is_some(), "{field}");
    }
    let back = ValidateReport::parse(&text, "x").unwrap();
    assert_eq!(back.checks.len(), report.checks.len());
    assert_eq!(back.devices, report.devices);
    assert_eq!(back.checks[1].name, report.checks[1].name);
    let table = render::table(&report);
    assert!(table.contains("verdict: FAIL (device 0 failed)"), "{table}");
    assert!(
        ValidateReport::parse("{\"schema\":\"hotpath.results/1\"}", "r.json")
            .unwrap_err()
            .to_string()
            .contains("r.json")
    );
}

#[test]
fn every_gpu_judges_copy_and_gemm_against_spec_and_says_where_each_line_comes_from() {
    for hw in hardware::builtin().unwrap() {
        if hw.kind != "gpu" {
            assert_eq!(
                hw.validate["copy"].reference,
                super::thresholds::Reference::Named("measured".into())
            );
            continue;
        }
        for key in [
            "copy",
            "gemm_bf16",
            "gemv_decode",
            "attn_decode",
            "kv_write",
        ] {
            let t = &hw.validate[key];
            let spec = if key == "gemm_bf16" {
                hw.peak_flops["bf16"]
            } else {
                hw.mem_bytes_per_s.unwrap()
            };
            match t.reference.figure() {
                // Copy and GEMM must be judged against the file's own spec figure: a card with
                // slow memory or slow tensor cores is what they are there to catch.
                Some(figure) => {
                    assert_eq!(figure, spec, "{}: {key}", hw.id);
                    assert!(t.source.starts_with("fraction of spec"), "{}: {key}", hw.id);
                }
                None => {
                    assert!(
                        !matches!(key, "copy" | "gemm_bf16"),
                        "{}: {key} must be judged against spec",
                        hw.id
                    );
                    assert!(
                        t.source
                            .starts_with("fraction of this run's best streaming ceiling"),
                        "{}: {key}",
                        hw.id
                    );
                }
            }
            assert!(t.fail_below < t.warn_below && t.warn_below < 1.0);
        }
        assert_eq!(
            hw.validate.contains_key("gemm_fp8"),
            hw.peak_flops.contains_key("fp8_e4m3"),
            "{}",
            hw.id
        );
    }
}

#[test]
fn bad_validate_tables_are_rejected_with_their_field() {
    let head = "id = \"x\"\nname = \"x\"\nvendor = \"nvidia\"\nkind = \"gpu\"\n";
    let table = |body: &str| format!("{head}[validate.copy]\n{body}");
    let ok = "reference = 1e12\nwarn_below = 0.8\nfail_below = 0.7\nsource = \"mine\"\n";
    assert!(hardware::parse_text(&table(ok), "t.toml").is_ok());
    for (body, needle) in [
        (
            "reference = 1e12\nwarn_below = 0.7\nfail_below = 0.8\nsource = \"s\"\n",
            "must warn before it fails",
        ),
        (
            "reference = \"spec\"\nwarn_below = 0.8\nfail_below = 0.7\nsource = \"s\"\n",
            "\"spec\"",
        ),
        (
            "reference = -1.0\nwarn_below = 0.8\nfail_below = 0.7\nsource = \"s\"\n",
            "positive",
        ),
        (
            "reference = 1e12\nwarn_below = 0.8\nfail_below = 0.7\nsource = \" \"\n",
            "source is empty",
        ),
        (
            "reference = 1e12\nwarn_below = 0.8\nfail_below = 0.0\nsource = \"s\"\n",
            "fractions above 0",
        ),
        (
            "reference = 1e12\nwarn_below = 0.8\nfail_below = 0.7\n",
            "source",
        ),
    ] {
        let err = hardware::parse_text(&table(body), "t.toml")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(needle) && err.contains("t.toml"),
            "{body}: {err}"
        );
    }
    let err = hardware::parse_text(&format!("{head}[validate.hbm]\n{ok}"), "t.toml")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("[validate.hbm]") && err.contains("gemm_bf16"),
        "{err}"
    );
}

#[test]
fn levels_parse_and_verdicts_order() {
    assert_eq!(Level::parse("long").unwrap(), Level::Long);
    assert!(Level::parse("fast")
        .unwrap_err()
        .to_string()
        .contains("quick, standard, long"));
    // Nothing checked is not PASS: no status, or only SKIPs, is WARN.
    assert_eq!(verdict([]), Status::Warn);
    assert_eq!(verdict([Status::Skip, Status::Skip]), Status::Warn);
    assert_eq!(verdict([Status::Pass, Status::Skip]), Status::Pass);
    assert_eq!(
        verdict([Status::Pass, Status::Warn, Status::Skip]),
        Status::Warn
    );
    assert_eq!(verdict([Status::Fail, Status::Warn]), Status::Fail);
}

#[test]
fn hardware_files_may_name_exactly_the_perf_checks() {
    // The engine checks `[validate.<check>]` names against its list when it reads a
    // hardware file; that list must be these checks, in report order.
    let keys: Vec<&str> = super::perf::PerfKind::ALL.iter().map(|k| k.key()).collect();
    assert_eq!(keys, super::thresholds::CHECK_NAMES);
}
