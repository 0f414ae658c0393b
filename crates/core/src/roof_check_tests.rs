//! Tests of the roof check on hand-made CPU results files (f32 only; the device computes
//! every dtype in its own, so `compute_dtype` is the identity).

use super::*;
use crate::backend::CacheMode;
use crate::cache::CacheRotation;
use crate::estimator::Estimator;
use crate::fixture;
use crate::results::{HardwareRoofs, MeasurementInfo, Rates};
use crate::stopping::StopReason;

const COPY: &str = "copy/elements=16777216/f32/hotpath";
const PEAK: &str = "peak_mma/iters=65536/f32/hotpath";
const GEMM: &str = "gemm/m=512,n=512,k=512/f32/candle";
const GEMV: &str = "gemv/m=1,n=4096,k=4096/f32/hotpath";

/// `b` measured with a cold (or hot) cache at its op's estimator, with `flops` per iteration
/// when given (`peak_mma` counts its own), its rates at the estimator's time.
fn measured(mut b: BenchmarkResult, cold: bool, flops: Option<u64>) -> BenchmarkResult {
    let estimator = Estimator::for_op(b.op);
    let mode = if cold {
        CacheMode::Cold
    } else {
        CacheMode::Hot
    };
    b.measurement = Some(MeasurementInfo {
        iters_per_sample: 1,
        warmup_iters: 2,
        stop_reason: StopReason::Converged,
        rel_stderr: 0.001,
        cv: 0.01,
        wall_s: 0.5,
        sm_clock_mhz: None,
        // A 64 MiB set against a 32 MiB cache: cold rotates 2 sets, hot keeps 1.
        cache: CacheRotation::new(mode, 67_108_864, 33_554_432, 1 << 34),
        estimator,
        remeasured: None,
        clock: None,
    });
    if let Some(f) = flops {
        b.flops = f;
    }
    let t = crate::estimator::time_s(&b).unwrap();
    b.rates = Some(Rates {
        flops_per_s: b.flops as f64 / t,
        bytes_per_s: b.bytes as f64 / t,
    });
    b
}

/// No spec figures (a CPU): the measured roofs stand in.
fn cpu_spec() -> HardwareRoofs {
    HardwareRoofs {
        id: "cpu-generic".into(),
        mem_bytes_per_s: None,
        peak_flops: Default::default(),
        sources: Default::default(),
    }
}

fn same(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs()
}

/// The loaded run of the issue: copy at 10 GB/s, peak_mma halved to 110 GFLOP/s, and a 512³
/// gemm at 1.45 ms.
fn loaded_run() -> ResultsFile {
    let mut f = fixture::file();
    // copy of 16 Mi f32: 2 · 16,777,216 · 4 = 134,217,728 B; best sample 13.4217728 ms →
    // 10 GB/s (its median, 15 ms, would give 8.95 GB/s).
    f.benchmarks.push(measured(
        fixture::bench(
            OpKind::Copy,
            "elements=16M",
            "hotpath",
            vec![13.421_772_8e-3, 15e-3, 16e-3],
        ),
        true,
        None,
    ));
    // peak_mma counting 1.1e9 FLOP an iteration; best sample 10 ms → 110 GFLOP/s.
    f.benchmarks.push(measured(
        fixture::bench(OpKind::PeakMma, "", "hotpath", vec![10e-3, 11e-3, 12e-3]),
        true,
        Some(1_100_000_000),
    ));
    // gemm 512³: 2 · 512³ = 268,435,456 FLOP in 1.45 ms (median) = 185.128 GFLOP/s, 168.3 %
    // of 110. Its 3 · 512² · 4 = 3,145,728 B at 10 GB/s take 0.315 ms < the 2.440 ms compute
    // floor (268,435,456 / 1.1e11): compute-bound.
    f.benchmarks.push(measured(
        fixture::bench(
            OpKind::Gemm,
            "m=512,n=512,k=512",
            "candle",
            vec![1.4e-3, 1.45e-3, 1.5e-3],
        ),
        true,
        None,
    ));
    crate::runner::update_roofs(&mut f, &cpu_spec(), &|d| d);
    f
}

#[test]
fn a_gemm_above_a_halved_peak_makes_the_peak_measured_again() {
    let f = loaded_run();
    assert!(same(f.measured.mem_bytes_per_s.unwrap(), 1e10));
    assert!(same(f.measured.peak_flops["f32"], 1.1e11));
    // The ceilings sit on their own roofs at their best samples: exactly 100 %.
    for i in [0, 1] {
        let e = f.benchmarks[i]
            .roofline
            .as_ref()
            .unwrap()
            .efficiency_measured;
        assert!(same(e.unwrap(), 1.0), "{e:?}");
    }
    let gemm = f.benchmarks[2].roofline.as_ref().unwrap();
    // 2.440 ms floor / 1.45 ms = 268,435,456 / 1.1e11 / 1.45e-3 = 1.68298.
    assert!((gemm.efficiency_measured.unwrap() - 1.682_98).abs() < 1e-5);
    let above = above_measured(&f);
    assert_eq!(above.len(), 1);
    assert_eq!(
        (above[0].id.as_str(), above[0].roof.as_str()),
        (GEMM, "peak_flops.f32")
    );
    assert!(same(above[0].rate, 268_435_456.0 / 1.45e-3));
    assert_eq!(
        ceilings_to_remeasure(&f, &|d| d),
        vec![Remeasure {
            ceiling: PEAK.into(),
            triggered_by: vec![GEMM.into()],
        }]
    );
}

#[test]
fn a_point_still_above_after_the_second_measurement_sets_the_roof() {
    let mut f = loaded_run();
    // The second peak_mma: best sample 6.25 ms → 1.1e9 / 6.25e-3 = 176 GFLOP/s.
    let second = measured(
        fixture::bench(OpKind::PeakMma, "", "hotpath", vec![6.25e-3, 7e-3, 8e-3]),
        true,
        Some(1_100_000_000),
    );
    let kept = keep_better(&f.benchmarks[1], second, vec![GEMM.into()]);
    assert_eq!(kept.time.unwrap().min_s, 6.25e-3);
    assert_eq!(
        kept.measurement.as_ref().unwrap().remeasured,
        Some(Remeasured {
            triggered_by: vec![GEMM.into()],
            first_s: 10e-3,
            second_s: Some(6.25e-3),
        })
    );
    f.benchmarks[1] = kept;
    crate::runner::update_roofs(&mut f, &cpu_spec(), &|d| d);
    assert!(same(f.measured.peak_flops["f32"], 1.76e11));
    // The gemm's 185.128 GFLOP/s is still 185.128 / 176 = 1.0519, 5.2 % above.
    let e = f.benchmarks[2]
        .roofline
        .as_ref()
        .unwrap()
        .efficiency_measured;
    assert!((e.unwrap() - 1.051_86).abs() < 1e-5, "{e:?}");
    // A ceiling measured twice is not measured a third time.
    assert!(ceilings_to_remeasure(&f, &|d| d).is_empty());

    let raised = raise_to_points_above(&mut f, &cpu_spec(), &|d| d);
    assert_eq!(raised.len(), 1);
    let rate = 268_435_456.0 / 1.45e-3;
    assert!(same(f.measured.peak_flops["f32"], rate));
    assert_eq!(f.measured.set_by["peak_flops.f32"], GEMM);
    // The CPU's spec roof is the measured one standing in, and says who set it.
    assert!(same(f.hardware.peak_flops["f32"], rate));
    assert!(
        f.hardware.sources["peak_flops.f32"].starts_with(&format!("measured: roof set by {GEMM}"))
    );
    let g = f.benchmarks[2].roofline.as_ref().unwrap();
    assert_eq!(g.sets_roof, vec!["peak_flops.f32".to_string()]);
    assert!(same(g.efficiency_measured.unwrap(), 1.0));
    // The peak_mma is now at 176e9 · 1.45e-3 / 268,435,456 = 0.950 69 of the raised roof.
    let p = f.benchmarks[1]
        .roofline
        .as_ref()
        .unwrap()
        .efficiency_measured;
    assert!((p.unwrap() - 0.950_69).abs() < 1e-5, "{p:?}");
    assert!(above_measured(&f).is_empty());
    // Recomputing the roofs (as every later step does) keeps the raise.
    crate::runner::update_roofs(&mut f, &cpu_spec(), &|d| d);
    assert!(same(f.measured.peak_flops["f32"], rate));
    assert_eq!(f.measured.set_by["peak_flops.f32"], GEMM);
    // The raise survives a round trip through the file, and a file without it reads back
    // with no setter.
    let text = serde_json::to_string(&f).unwrap();
    assert!(text.contains("\"set_by\":{\"peak_flops.f32\""), "{text}");
    let back: ResultsFile = serde_json::from_str(&text).unwrap();
    assert_eq!(back.measured.set_by, f.measured.set_by);
}

#[test]
fn the_slower_second_measurement_is_dropped_and_a_failed_one_recorded_as_none() {
    let f = loaded_run();
    // A second peak_mma at 12 ms best (91.7 GFLOP/s) is slower than the first's 10 ms.
    let slower = measured(
        fixture::bench(OpKind::PeakMma, "", "hotpath", vec![12e-3, 13e-3]),
        true,
        Some(1_100_000_000),
    );
    let kept = keep_better(&f.benchmarks[1], slower, vec![GEMM.into()]);
    assert_eq!(kept.time.unwrap().min_s, 10e-3);
    let r = kept.measurement.unwrap().remeasured.unwrap();
    assert_eq!((r.first_s, r.second_s), (10e-3, Some(12e-3)));
    let mut failed = f.benchmarks[1].clone();
    failed.status = Status::Error;
    let kept = keep_better(&f.benchmarks[1], failed, vec![GEMM.into()]);
    assert_eq!(kept.measurement.unwrap().remeasured.unwrap().second_s, None);
}

#[test]
fn a_hot_cache_point_above_the_dram_roof_is_left_alone() {
    let mut f = loaded_run();
    f.benchmarks.truncate(2);
    // gemv 1×4096×4096 f32: (4096 + 4096² + 4096) · 4 = 67,141,632 B in 2.2380544 ms =
    // 30 GB/s, three times the 10 GB/s copy; measured hot, from the cache.
    let t = 67_141_632.0 / 3e10;
    let gemv = fixture::bench(OpKind::Gemv, "m=1,n=4096,k=4096", "hotpath", vec![t]);
    f.benchmarks.push(measured(gemv.clone(), false, None));
    crate::runner::update_roofs(&mut f, &cpu_spec(), &|d| d);
    let e = f.benchmarks[2]
        .roofline
        .as_ref()
        .unwrap()
        .efficiency_measured;
    assert!(same(e.unwrap(), 3.0), "{e:?}");
    assert!(above_measured(&f).is_empty());
    assert!(ceilings_to_remeasure(&f, &|d| d).is_empty());
    assert!(raise_to_points_above(&mut f, &cpu_spec(), &|d| d).is_empty());
    assert!(same(f.measured.mem_bytes_per_s.unwrap(), 1e10));
    // The same gemv measured cold is above the bandwidth roof: the copy is measured again.
    f.benchmarks[2] = measured(gemv, true, None);
    crate::runner::update_roofs(&mut f, &cpu_spec(), &|d| d);
    assert_eq!(
        ceilings_to_remeasure(&f, &|d| d),
        vec![Remeasure {
            ceiling: COPY.into(),
            triggered_by: vec![GEMV.into()],
        }]
    );
}
