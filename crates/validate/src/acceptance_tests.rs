//! What makes an acceptance verdict mean something: nothing checked is not PASS, health that
//! cannot be read is said so, a check measured on an unsettled device says so, and the bf16
//! peak is held long enough to tell burst from sustained.

use hotpath_core::dtype::DType;
use hotpath_core::hardware;
use hotpath_core::op::{OpKind, OpSpec};
use hotpath_core::results::{BenchmarkResult, HostInfo, ToolInfo};

use super::checklist;
use super::engine::run_device;
use super::health::{self, HealthReadings, NoHealth, SourceKind};
use super::sustained::{self, TracePoint};
use super::tests::{
    get, gpu_plan, healthy, result_at, FakeBench, FakeClock, FakeDevice, FakeNvml, PEAK_FLOPS,
};
use super::*;

/// A report of level quick on host n1 with no device and no check.
pub(super) fn empty_report() -> ValidateReport {
    ValidateReport::new(
        ToolInfo {
            version: "test".into(),
            git: None,
        },
        "2026-12-05T00:00:00Z".into(),
        HostInfo {
            hostname: "n1".into(),
            os: "linux".into(),
            cpu: "x".into(),
        },
        Level::Quick,
        ValidateConfig {
            cache: hotpath_core::backend::CacheMode::Cold,
            perf: checklist::perf_config(Level::Quick),
            correctness: checklist::correctness_config(),
            sustain_s: 0.0,
            settle_max_s: Some(10.0),
            injected_faults: None,
        },
    )
}

/// A passing H100 summary of device `index`.
pub(super) fn device(index: usize) -> DeviceSummary {
    DeviceSummary {
        backend: "cuda".into(),
        index,
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
    }
}

#[test]
fn nothing_checked_is_warn_and_the_report_says_health_unverified() {
    assert_eq!(
        unverified_note([]).as_deref(),
        Some("health unverified: no check was made")
    );
    assert_eq!(unverified_note([Status::Skip, Status::Pass]), None);

    // No device at all: WARN, and the table says nothing was validated.
    let mut r = empty_report();
    r.settle();
    assert_eq!(r.status, Status::Warn);
    assert!(
        render::table(&r).contains("verdict: WARN | 0 device(s)")
            && render::table(&r).contains("nothing was validated"),
        "{}",
        render::table(&r)
    );

    // Device 0 has two SKIPs only; device 1 one PASS. Device 0 is WARN with the note, and
    // the node is WARN (the worst device).
    r.devices = vec![device(0), device(1)];
    for (i, name, status) in [
        (0, "health/a", Status::Skip),
        (0, "health/b", Status::Skip),
        (1, "health/c", Status::Pass),
    ] {
        let mut c = Check::new(Group::Health, name, status).detail("x");
        c.device = i;
        r.checks.push(c);
    }
    r.settle();
    assert_eq!(r.devices[0].status, Status::Warn);
    assert_eq!(
        r.devices[0].verdict_note.as_deref(),
        Some("health unverified: all 2 checks were SKIP, so nothing was checked")
    );
    assert_eq!(
        (r.devices[1].status, r.devices[1].verdict_note.clone()),
        (Status::Pass, None)
    );
    assert_eq!(r.status, Status::Warn);
    let table = render::table(&r);
    assert!(
        table.contains(
            "device 0 verdict: WARN (0 PASS, 0 WARN, 0 FAIL, 2 SKIP): health unverified: all 2 checks were SKIP"
        ),
        "{table}"
    );

    // The new fields are optional: a report written before them still reads.
    let mut v = serde_json::to_value(&r).unwrap();
    v["config"].as_object_mut().unwrap().remove("settle_max_s");
    v["devices"][0]
        .as_object_mut()
        .unwrap()
        .remove("verdict_note");
    let back = ValidateReport::parse(&v.to_string(), "old.json").unwrap();
    assert_eq!(back.config.settle_max_s, None);
    assert_eq!(back.devices[0].verdict_note, None);
}

#[test]
fn a_gpu_whose_health_reads_nothing_warns_and_fails_at_long() {
    // NoHealth reads every field as None: all 16 health checks (the table in health.rs:
    // ecc_mode, ecc_uncorrected_volatile, ecc_uncorrected_aggregate, retired_pages,
    // retirement_pending, remapped_rows, row_remap_pending, row_remap_failure, pcie_width,
    // pcie_gen, sm_clock, mem_clock, throttle, power_limit, temperature, persistence_mode)
    // have no value.
    let none = HealthReadings::default();
    let checks = health::checks(&none, &none, SourceKind::Gpu);
    assert_eq!(checks.len(), 16);
    let quick = health::unverified(&checks, SourceKind::Gpu, Level::Quick).unwrap();
    assert_eq!(quick.name, "health/unverified");
    assert_eq!(quick.status, Status::Warn);
    assert_eq!(quick.value, serde_json::json!(0));
    assert!(
        quick
            .detail
            .starts_with("health unverified: none of the 16 health checks could be read"),
        "{}",
        quick.detail
    );
    assert_eq!(
        health::unverified(&checks, SourceKind::Gpu, Level::Standard)
            .unwrap()
            .status,
        Status::Warn
    );
    assert_eq!(
        health::unverified(&checks, SourceKind::Gpu, Level::Long)
            .unwrap()
            .status,
        Status::Fail
    );
    // A CPU that reads nothing: SKIP, its verdict stands on correctness and performance.
    let cpu = health::checks(&none, &none, SourceKind::Cpu);
    let c = health::unverified(&cpu, SourceKind::Cpu, Level::Long).unwrap();
    assert_eq!(c.status, Status::Skip);
    // One field read (the temperature) is enough to have verified something.
    let mut one = none.clone();
    one.temperature_c = Some(40.0);
    let checks = health::checks(&one, &one, SourceKind::Gpu);
    assert_eq!(
        health::unverified(&checks, SourceKind::Gpu, Level::Long),
        None
    );
    // A healthy GPU: nothing to say.
    let h = healthy();
    let checks = health::checks(&h, &h, SourceKind::Gpu);
    assert_eq!(
        health::unverified(&checks, SourceKind::Gpu, Level::Long),
        None
    );

    // Through the engine: a GPU backend without a health source, at quick and at long.
    for (level, want) in [(Level::Quick, Status::Warn), (Level::Long, Status::Fail)] {
        let p = gpu_plan(level);
        let mut src = NoHealth {
            kind: SourceKind::Gpu,
            why: "test".into(),
        };
        let out = run_device(
            &p,
            &mut FakeBench::healthy(),
            &mut src,
            &mut FakeClock::default(),
            &mut |_| {},
        );
        assert_eq!(
            get(&out.checks, "health/unverified").status,
            want,
            "{level:?}"
        );
    }
}

#[test]
fn a_perf_check_measured_unsettled_keeps_its_status_and_says_so() {
    // Every read after the first shows sw_power_cap: no wait ever settles, each runs out
    // its 10 s bound on the scripted clock.
    let p = gpu_plan(Level::Quick);
    assert_eq!(p.settle.max_wait_s, 10.0, "a GPU waits 10 s by default");
    let mut src = FakeNvml::new(healthy(), healthy());
    let mut clock = FakeClock::default();
    let out = run_device(
        &p,
        &mut FakeBench::healthy(),
        &mut src,
        &mut clock,
        &mut |_| {},
    );
    let copy = get(&out.checks, "perf/copy");
    assert_eq!(copy.status, Status::Pass, "the note is not a warning");
    let s = copy.settle.as_ref().unwrap();
    // Reads at 0, 0.25, ..., 10.0 s: 41.
    assert_eq!((s.settled, s.waited_s, s.readings), (Some(false), 10.0, 41));
    assert!(
        copy.detail.ends_with(
            "; measured unsettled: not settled after 10.0 s: throttle reason active: sw_power_cap"
        ),
        "{}",
        copy.detail
    );
    // h100-sxm judges all five quick checks against spec figures: no reference ceilings, so
    // five waits of 10 s.
    assert!(p.references.is_empty());
    assert_eq!(p.perf.len(), 5);
    assert_eq!(clock.t, 50.0);

    // Back at idle clocks between checks: settled on the first reading, no time spent.
    let mut idle = healthy();
    idle.throttle_reasons = Some(vec!["gpu_idle".into()]);
    let mut src = FakeNvml::new(healthy(), idle);
    let mut clock = FakeClock::default();
    let out = run_device(
        &p,
        &mut FakeBench::healthy(),
        &mut src,
        &mut clock,
        &mut |_| {},
    );
    let copy = get(&out.checks, "perf/copy");
    let s = copy.settle.as_ref().unwrap();
    assert_eq!((s.settled, s.waited_s, s.readings), (Some(true), 0.0, 1));
    assert!(!copy.detail.contains("unsettled"), "{}", copy.detail);
    assert_eq!(clock.t, 0.0);
    // Correctness runs are not timed against a threshold: no wait, no record.
    assert!(out
        .checks
        .iter()
        .filter(|c| c.group == Group::Correctness)
        .all(|c| c.settle.is_none()));
}

fn peak_spec(dtype: DType) -> OpSpec {
    OpSpec::parse(OpKind::PeakMma, "", dtype).unwrap()
}

/// A peak_mma result whose batches ran `iters` iterations at these seconds per iteration.
fn held(samples: Vec<f64>, iters: u32) -> BenchmarkResult {
    let mut r = result_at(&peak_spec(DType::Bf16), "hotpath", samples[0], samples, 0);
    if let Some(m) = r.measurement.as_mut() {
        m.iters_per_sample = iters;
    }
    r.flops = PEAK_FLOPS;
    r
}

/// 80 batches of 4 × 0.0625 s = 0.25 s (20 s), then 160 batches of `slow` × 0.25 s.
fn hold_series(slow: f64) -> Vec<f64> {
    let mut s = vec![0.0625; 80];
    s.extend(vec![0.0625 * slow; 160]);
    s
}

#[test]
fn burst_and_sustained_by_hand() {
    // Slow batches of 4 × 0.078125 = 0.3125 s: the hold is 20 + 160 × 0.3125 = 70 s.
    // Burst: batches starting before 5 s are 0..19 (batch 20 starts at exactly 5.0): 20.
    // Last third: from 70 × 2/3 = 46.67 s; slow batch j starts at 20 + (j - 80) × 0.3125,
    // at or after 46.67 s from j = 166: 240 - 166 = 74 batches.
    // Ratio: 0.0625 / 0.078125 = 0.8 exactly.
    let bs = sustained::burst_sustained(&hold_series(1.25), 4).unwrap();
    assert_eq!(bs.hold_s, 70.0);
    assert_eq!((bs.burst_batches, bs.tail_batches), (20, 74));
    assert_eq!((bs.burst_s, bs.sustained_s), (0.0625, 0.078125));
    assert_eq!(bs.ratio(), 0.8);
    // 10 batches of 0.25 s = 2.5 s: shorter than the 15 s needed.
    assert_eq!(sustained::burst_sustained(&[0.0625; 10], 4), None);
    // A time that is not positive is not a hold.
    assert_eq!(sustained::burst_sustained(&[0.0; 300], 4), None);
}

#[test]
fn the_held_bf16_peak_is_judged_sustained_over_burst_with_the_throttle_reasons_seen() {
    let trace = |reasons: &[&str]| TracePoint {
        t_s: 30.0,
        readings: HealthReadings {
            throttle_reasons: Some(reasons.iter().map(|s| s.to_string()).collect()),
            ..healthy()
        },
    };
    let judge = |samples: Vec<f64>| {
        sustained::checks(
            sustained::PEAK_KEY,
            &held(samples, 4),
            &healthy(),
            &[trace(&["sw_power_cap", "sw_thermal_slowdown"])],
            &healthy(),
            SourceKind::Gpu,
        )
    };
    // Exactly 0.8: not below the FAIL line 0.80, below the WARN line 0.90.
    let c = judge(hold_series(1.25));
    assert!(c.iter().all(|c| c.name != "sustained/peak_bf16/stability"));
    let sob = get(&c, "sustained/peak_bf16/sustained_over_burst");
    assert_eq!(sob.status, Status::Warn, "{}", sob.detail);
    assert_eq!(sob.value, serde_json::json!(0.8));
    assert_eq!(sob.threshold, serde_json::json!(0.8));
    assert_eq!(sob.warn_threshold, Some(0.9));
    // Readings: start (sw_power_cap), the trace point (both), end (sw_power_cap).
    // 2^40 FLOP per iteration: burst 2^40 / 0.0625 s = 17.6 TFLOP/s, sustained
    // 2^40 / 0.078125 s = 14.1 TFLOP/s.
    assert!(
        sob.detail.contains("sustained 14.1 TFLOP/s (median of 74 batches in the last third of a 70 s hold)")
            && !sob.detail.contains("shows little of the heat")
            && sob.detail.contains("is 80.0 % of burst 17.6 TFLOP/s")
            && sob.detail.ends_with(
                "throttle reasons during the hold: sw_power_cap in 3 of 3 readings, sw_thermal_slowdown in 1 of 3 readings"
            ),
        "{}",
        sob.detail
    );
    // Steady: 1.0, PASS. Slower by 1.3: 1 / 1.3 = 0.769, FAIL.
    let steady = judge(hold_series(1.0));
    assert_eq!(
        get(&steady, "sustained/peak_bf16/sustained_over_burst").status,
        Status::Pass
    );
    let slow = judge(hold_series(1.3));
    let sob = get(&slow, "sustained/peak_bf16/sustained_over_burst");
    assert_eq!(sob.status, Status::Fail);
    assert!((sob.value.as_f64().unwrap() - 1.0 / 1.3).abs() < 1e-12);
    // 2.5 s of batches: WARN, too short to judge.
    let short = judge(vec![0.0625; 10]);
    let sob = get(&short, "sustained/peak_bf16/sustained_over_burst");
    assert_eq!(sob.status, Status::Warn);
    assert!(sob.value.is_null());
    assert!(sob.detail.contains("too short"), "{}", sob.detail);
}

#[test]
fn level_long_holds_the_peak_of_the_bf16_peak_dtype_first() {
    // A GPU holds peak_mma bf16; a CPU, which computes bf16 in f32, holds peak_mma f32.
    let g = gpu_plan(Level::Long);
    let (key, spec, imp) = &g.sustained[0];
    assert_eq!(
        (*key, spec.op, spec.dtype, *imp),
        ("peak_bf16", OpKind::PeakMma, DType::Bf16, "hotpath")
    );
    let keys: Vec<&str> = g.sustained.iter().map(|s| s.0).collect();
    assert_eq!(keys, ["peak_bf16", "gemm_bf16", "copy"]);
    let cpu = hardware::by_id("cpu-generic").unwrap();
    let c = checklist::build(Level::Long, &FakeDevice::cpu(), Some(&cpu), 60.0).unwrap();
    assert_eq!(c.sustained[0].1.dtype, DType::F32);
    assert_eq!(c.settle.max_wait_s, 0.0, "a CPU does not wait by default");
    assert!(gpu_plan(Level::Standard).sustained.is_empty());

    // Through the engine: 80 batches at 1×, then 160 at 1.2× the time per iteration: the
    // peak's sustained over burst is 1 / 1.2 = 0.833, WARN; the wait before it is recorded.
    let mut bench = FakeBench::healthy();
    let mut samples = vec![1.0; 80];
    samples.extend(vec![1.2; 160]);
    bench.sustained_samples = Some(samples);
    let mut src = FakeNvml::new(healthy(), healthy());
    let out = run_device(
        &g,
        &mut bench,
        &mut src,
        &mut FakeClock::default(),
        &mut |_| {},
    );
    let sob = get(&out.checks, "sustained/peak_bf16/sustained_over_burst");
    assert_eq!(sob.status, Status::Warn, "{}", sob.detail);
    assert!(
        (sob.value.as_f64().unwrap_or(0.0) - 1.0 / 1.2).abs() < 1e-9,
        "{}",
        sob.detail
    );
    assert!(sob.detail.contains("sw_power_cap in"), "{}", sob.detail);
    assert_eq!(sob.settle.as_ref().unwrap().settled, Some(false));
    assert_eq!(
        get(&out.checks, "sustained/peak_bf16/correctness_after").status,
        Status::Pass
    );
    assert_eq!(out.traces[0].check, "peak_bf16");
}
