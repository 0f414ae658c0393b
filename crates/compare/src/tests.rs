//! Planted changes: sample sets drawn from a seeded generator with a known shift and noise,
//! and the exact verdict each must get.

use super::*;
use hotpath_core::backend::{CacheMode, TimingMethod};
use hotpath_core::fixture::{bench, file, samples};
use hotpath_core::op::OpKind;

const GEMV: &str = "m=1,n=4096,k=4096";
const COPY: &str = "elements=1M";

/// base and new files with one gemv benchmark each: `n` samples around 1 ms (base) and
/// 1 ms × `shift` (new), both with uniform relative noise ±`noise`.
fn planted(shift: f64, noise: f64, n: usize) -> (ResultsFile, ResultsFile) {
    let mut base = file();
    let mut new = file();
    base.benchmarks.push(bench(
        OpKind::Gemv,
        GEMV,
        "hotpath",
        samples(1, n, 1e-3, noise),
    ));
    new.benchmarks.push(bench(
        OpKind::Gemv,
        GEMV,
        "hotpath",
        samples(2, n, 1e-3 * shift, noise),
    ));
    (base, new)
}

fn verdict_of(shift: f64, noise: f64, n: usize) -> (Verdict, CompareRow) {
    let (base, new) = planted(shift, noise, n);
    let c = compare(&base, &new, 5.0, "base.json", "new.json").unwrap();
    assert_eq!(c.rows.len(), 1);
    (c.rows[0].verdict, c.rows[0].clone())
}

#[test]
fn ten_percent_slowdown_with_low_noise_is_a_regression() {
    // ±1 % noise, 100 samples a side, new 10 % slower.
    let (v, r) = verdict_of(1.10, 0.01, 100);
    assert_eq!(v, Verdict::Regression, "{r:?}");
    assert!((r.ratio - 1.10).abs() < 0.01, "{r:?}");
    assert!(
        r.ci_low.unwrap() > 1.08 && r.ci_high.unwrap() < 1.12,
        "{r:?}"
    );
    assert_eq!(r.interval, Some("normal"));
    let (base, new) = planted(1.10, 0.01, 100);
    let c = compare(&base, &new, 5.0, "b", "n").unwrap();
    assert!(c.has_regression());
    assert_eq!(c.regressions, vec!["gemv/m=1,n=4096,k=4096/f32/hotpath"]);
    // The same with the exact distribution (20 samples a side).
    assert_eq!(verdict_of(1.10, 0.01, 20).0, Verdict::Regression);
}

#[test]
fn identical_files_are_unchanged() {
    let (base, _) = planted(1.0, 0.05, 100);
    let c = compare(&base, &base, 5.0, "b", "b").unwrap();
    assert_eq!(c.rows[0].verdict, Verdict::Unchanged);
    assert_eq!(c.rows[0].ratio, 1.0);
    assert_eq!(c.rows[0].hl_ratio, Some(1.0));
    assert!(c.regressions.is_empty() && c.improvements.is_empty() && c.noisy.is_empty());
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn two_percent_change_inside_five_percent_noise_is_unchanged() {
    // ±5 % uniform noise, new 2 % slower. With 50 samples a side or more the whole
    // interval lies inside ±5 %: unchanged. With fewer the interval still reaches past
    // +5 % (n = 20: estimate 1.030, interval 1.008 … 1.058): noisy. Never a
    // regression.
    for (n, expect) in [
        (10, Verdict::Noisy),
        (20, Verdict::Noisy),
        (50, Verdict::Unchanged),
        (100, Verdict::Unchanged),
        (300, Verdict::Unchanged),
        (1000, Verdict::Unchanged),
    ] {
        let (v, r) = verdict_of(1.02, 0.05, n);
        assert_eq!(v, expect, "n={n}: {r:?}");
        if expect == Verdict::Unchanged {
            assert!(
                r.ci_high.unwrap() <= 1.05 && r.ci_low.unwrap() >= 0.95,
                "{r:?}"
            );
        }
    }
    // No change at all in ±5 % noise is unchanged from 10 samples a side.
    for n in [10, 20, 100, 1000] {
        assert_eq!(verdict_of(1.0, 0.05, n).0, Verdict::Unchanged, "n={n}");
    }
}

#[test]
fn ten_percent_change_with_huge_noise_is_noisy_not_a_regression() {
    // ±50 % uniform noise, 15 samples a side: the interval is far wider than the change.
    let (v, r) = verdict_of(1.10, 0.50, 15);
    assert_eq!(v, Verdict::Noisy, "{r:?}");
    assert!(
        r.ci_low.unwrap() < 1.0 && r.ci_high.unwrap() > 1.10,
        "{r:?}"
    );
    let (base, new) = planted(1.10, 0.50, 15);
    let c = compare(&base, &new, 5.0, "b", "n").unwrap();
    assert!(!c.has_regression());
    assert_eq!(c.noisy.len(), 1);
}

#[test]
fn ten_percent_speedup_with_low_noise_is_an_improvement() {
    let (v, r) = verdict_of(0.90, 0.01, 100);
    assert_eq!(v, Verdict::Improvement, "{r:?}");
}

#[test]
fn threshold_decides_what_counts() {
    // The 10 % regression is unchanged under a 25 % threshold (interval within ±25 %).
    let (base, new) = planted(1.10, 0.01, 100);
    let c = compare(&base, &new, 25.0, "b", "n").unwrap();
    assert_eq!(c.rows[0].verdict, Verdict::Unchanged);
    for bad in [0.0, -5.0, 1000.5, f64::NAN, f64::INFINITY] {
        let err = compare(&base, &new, bad, "b", "n").unwrap_err().to_string();
        assert!(
            err.contains(&format!("--threshold {bad}")) && err.contains("at most 1000"),
            "{err}"
        );
    }
}

#[test]
fn a_threshold_of_150_percent_flags_only_slowdowns_beyond_2_5x() {
    // 150 %: regression above a time ratio of 2.5, improvement below 1 − 1.5 < 0 (never).
    // 2× slower with a ±1 % spread: inside [−0.5, 2.5], unchanged; 3× slower: regression;
    // 10× faster (ratio 0.1): unchanged, no speed-up can pass −150 %.
    for (factor, want) in [
        (2.0, Verdict::Unchanged),
        (3.0, Verdict::Regression),
        (0.1, Verdict::Unchanged),
    ] {
        let (base, new) = planted(factor, 0.01, 100);
        let c = compare(&base, &new, 150.0, "b", "n").unwrap();
        assert_eq!(c.rows[0].verdict, want, "factor {factor}: {:?}", c.rows[0]);
    }
}

#[test]
fn ratio_is_the_ratio_of_sample_medians() {
    // Hand example: base medians of {1,2,3,4,5} ms = 3 ms; new {2,4,6,8,10} ms = 6 ms.
    let mut base = file();
    let mut new = file();
    let ms = |v: &[f64]| v.iter().map(|x| x * 1e-3).collect::<Vec<_>>();
    base.benchmarks.push(bench(
        OpKind::Copy,
        COPY,
        "hotpath",
        ms(&[1.0, 2.0, 3.0, 4.0, 5.0]),
    ));
    new.benchmarks.push(bench(
        OpKind::Copy,
        COPY,
        "hotpath",
        ms(&[2.0, 4.0, 6.0, 8.0, 10.0]),
    ));
    let c = compare(&base, &new, 5.0, "b", "n").unwrap();
    let r = &c.rows[0];
    assert!((r.base_median_s - 3e-3).abs() < 1e-15);
    assert!((r.new_median_s - 6e-3).abs() < 1e-15);
    assert!((r.ratio - 2.0).abs() < 1e-12);
    // ln new − ln base over all 25 pairs: the samples are exactly base × 2, so the
    // Hodges-Lehmann estimate is 2; the interval (ranks 3 and 23 of 25, exact) is wide.
    assert!((r.hl_ratio.unwrap() - 2.0).abs() < 1e-12);
    assert_eq!(r.interval, Some("exact"));
    // The 25 differences are ln 2 + ln(b_j/b_i), b in {1..5}; the quotients sorted begin
    // 1/5, 1/4, 1/3 and end 3, 4, 5, so ranks 3 and 23 give 2·(1/3) and 2·3.
    assert!((r.ci_low.unwrap() - 2.0 / 3.0).abs() < 1e-12, "{r:?}");
    assert!((r.ci_high.unwrap() - 6.0).abs() < 1e-12, "{r:?}");
    assert_eq!(r.verdict, Verdict::Noisy);
}

#[test]
fn too_few_samples_give_no_interval_and_noisy() {
    let mut base = file();
    let mut new = file();
    base.benchmarks
        .push(bench(OpKind::Copy, COPY, "hotpath", vec![1e-3, 1e-3, 1e-3]));
    new.benchmarks
        .push(bench(OpKind::Copy, COPY, "hotpath", vec![2e-3, 2e-3, 2e-3]));
    let c = compare(&base, &new, 5.0, "b", "n").unwrap();
    assert_eq!(c.rows[0].verdict, Verdict::Noisy);
    assert_eq!(c.rows[0].ci_low, None);
    assert!(c.rows[0]
        .note
        .as_deref()
        .unwrap()
        .contains("too few samples"));
}

#[test]
fn unmatched_failed_and_mismatched_setups_are_listed() {
    let (mut base, mut new) = planted(1.0, 0.01, 30);
    base.benchmarks.push(bench(
        OpKind::Copy,
        COPY,
        "hotpath",
        samples(3, 30, 1e-3, 0.01),
    ));
    new.benchmarks.push(bench(
        OpKind::Read,
        COPY,
        "hotpath",
        samples(4, 30, 1e-3, 0.01),
    ));
    let mut failed = bench(OpKind::Write, COPY, "hotpath", samples(5, 30, 1e-3, 0.01));
    base.benchmarks.push(failed.clone());
    failed.status = Status::Failed;
    new.benchmarks.push(failed);
    new.device.compute_units = 1;
    new.device
        .extra
        .insert("threads".into(), serde_json::Value::from(1));
    new.config.cache = CacheMode::Hot;
    new.device.driver = Some("CUDA 13.0".into());
    let c = compare(&base, &new, 5.0, "b", "n").unwrap();
    assert_eq!(c.rows.len(), 1);
    assert_eq!(c.only_in_base, vec!["copy/elements=1048576/f32/hotpath"]);
    assert_eq!(c.only_in_new, vec!["read/elements=1048576/f32/hotpath"]);
    assert_eq!(c.not_compared.len(), 1);
    assert!(c.not_compared[0]
        .reason
        .contains("failed its correctness check in new"));
    let w = c.warnings.join("\n");
    for needle in [
        "different compute units",
        "different threads",
        "different cache modes: base cold, new hot",
        "different drivers: base none, new CUDA 13.0",
    ] {
        assert!(w.contains(needle), "'{needle}' not in {w}");
    }
    assert!(!w.contains("different devices"), "{w}");
}

#[test]
fn duplicate_ids_and_bad_samples_are_bad_input() {
    let (mut base, new) = planted(1.0, 0.01, 10);
    let dup = base.benchmarks[0].clone();
    base.benchmarks.push(dup);
    let err = compare(&base, &new, 5.0, "base.json", "n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("base.json holds benchmark gemv"), "{err}");
    let (base, mut new) = planted(1.0, 0.01, 10);
    new.benchmarks[0].samples_s[3] = -1.0;
    let err = compare(&base, &new, 5.0, "b", "n").unwrap_err().to_string();
    assert!(err.contains("not a positive number"), "{err}");
}

#[test]
fn extreme_but_valid_times_give_verdicts_not_panics() {
    // 1e-300 s against 1e300 s: the ratio overflows to infinity; still a regression, and
    // the JSON writes the infinite ratio as null rather than failing.
    let mut base = file();
    let mut new = file();
    base.benchmarks
        .push(bench(OpKind::Copy, COPY, "hotpath", vec![1e-300; 10]));
    new.benchmarks
        .push(bench(OpKind::Copy, COPY, "hotpath", vec![1e300; 10]));
    let c = compare(&base, &new, 5.0, "b", "n").unwrap();
    assert_eq!(c.rows[0].verdict, Verdict::Regression);
    assert!(c.rows[0].ratio.is_infinite());
    let json = serde_json::to_string(&c).unwrap();
    assert!(json.contains("\"ratio\":null"), "{json}");
    let c = compare(&new, &base, 5.0, "n", "b").unwrap();
    assert_eq!(c.rows[0].verdict, Verdict::Improvement);
}

/// An H100 file as the CUDA backend describes one (NVML facts in `device.extra`), with one
/// gemv whose kept batches saw SM clocks of 1965-1980 MHz.
fn h100() -> ResultsFile {
    let mut f = file();
    f.device.backend = "cuda".into();
    f.device.name = "NVIDIA H100 80GB HBM3".into();
    f.device.arch = "sm_90".into();
    f.device.driver = Some("CUDA 12.4, driver 550.54.15".into());
    f.device.compute_units = 132;
    f.hardware.id = "h100-sxm".into();
    f.config.timing = TimingMethod::DeviceEvents;
    for (key, value) in [
        ("sm_clock_max_mhz", serde_json::json!(1980)),
        ("mem_clock_max_mhz", serde_json::json!(2619)),
        ("power_limit_w", serde_json::json!(700.0)),
        ("pcie_link", serde_json::json!("gen5 x16")),
        ("uuid", serde_json::json!("GPU-0000")),
    ] {
        f.device.extra.insert(key.into(), value);
    }
    let mut b = bench(OpKind::Gemv, GEMV, "hotpath", samples(7, 20, 40e-6, 0.01));
    b.measurement = Some(clocked(1965.0, 1980.0));
    f.benchmarks.push(b);
    f
}

/// Measurement facts with SM clocks of `lo`..`hi` MHz around the kept batches.
fn clocked(lo: f64, hi: f64) -> hotpath_core::results::MeasurementInfo {
    hotpath_core::results::MeasurementInfo {
        iters_per_sample: 1,
        warmup_iters: 10,
        stop_reason: hotpath_core::stopping::StopReason::Converged,
        rel_stderr: 0.001,
        cv: 0.01,
        wall_s: 0.5,
        sm_clock_mhz: Some((lo, hi)),
        cache: hotpath_core::cache::CacheRotation::new(
            CacheMode::Cold,
            117_477_376,
            50_000_000,
            1 << 34,
        ),
        estimator: Default::default(),
        remeasured: None,
        clock: None,
    }
}

fn set_clock(f: &mut ResultsFile, lo: f64, hi: f64) {
    f.benchmarks[0].measurement = Some(clocked(lo, hi));
}

type Change = fn(&mut ResultsFile);

#[test]
fn every_setup_difference_gets_exactly_its_own_warning() {
    let cases: [(Change, &str); 14] = [
        (
            |f| {
                f.device.backend = "rocm".into();
                f.device.name = "AMD Instinct MI300X".into();
                f.device.arch = "gfx942".into();
            },
            "different devices: base ran on cuda NVIDIA H100 80GB HBM3 (sm_90), new on rocm AMD Instinct MI300X (gfx942)",
        ),
        // The same backend and architecture but another board is another device.
        (
            |f| f.device.name = "NVIDIA H100 PCIe".into(),
            "different devices: base ran on cuda NVIDIA H100 80GB HBM3 (sm_90), new on cuda NVIDIA H100 PCIe (sm_90)",
        ),
        (
            |f| f.hardware.id = "h100-pcie".into(),
            "different hardware entries: base h100-sxm, new h100-pcie",
        ),
        (
            |f| f.device.driver = Some("CUDA 12.8, driver 570.86.10".into()),
            "different drivers: base CUDA 12.4, driver 550.54.15, new CUDA 12.8, driver 570.86.10",
        ),
        (
            |f| f.device.compute_units = 114,
            "different compute units (SMs, CUs or CPU threads): base 132, new 114",
        ),
        (
            |f| {
                f.device
                    .extra
                    .insert("sm_clock_max_mhz".into(), serde_json::json!(1755));
            },
            "different sm_clock_max_mhz: base 1980, new 1755",
        ),
        (
            |f| {
                f.device
                    .extra
                    .insert("mem_clock_max_mhz".into(), serde_json::json!(1593));
            },
            "different mem_clock_max_mhz: base 2619, new 1593",
        ),
        (
            |f| {
                f.device
                    .extra
                    .insert("power_limit_w".into(), serde_json::json!(500.0));
            },
            "different power_limit_w: base 700.0, new 500.0",
        ),
        // A fact the new file could not read (NVML missing) is a difference too.
        (
            |f| {
                f.device.extra.remove("power_limit_w");
            },
            "different power_limit_w: base 700.0, new none",
        ),
        (
            |f| {
                f.device
                    .extra
                    .insert("pcie_link".into(), serde_json::json!("gen4 x8"));
            },
            "different pcie_link: base gen5 x16, new gen4 x8",
        ),
        // 1980 against 1410 MHz: 28.8 % apart, far past the 2 % tolerance.
        (
            |f| set_clock(f, 1395.0, 1410.0),
            "different clocks: the highest SM clock around kept samples was 1980 MHz in base, 1410 MHz in new",
        ),
        (
            |f| f.config.cache = CacheMode::Hot,
            "different cache modes: base cold, new hot",
        ),
        (
            |f| f.config.timing = TimingMethod::WallClock,
            "different timing methods: base device events, new wall clock",
        ),
        (
            |f| f.benchmarks[0].fp8_encoding = Some(hotpath_core::fp8::Fp8Encoding::E4m3Fnuz),
            "different fp8 encodings in 1 benchmark(s): gemv/m=1,n=4096,k=4096/f32/hotpath ran no fp8 in base, e4m3fnuz in new",
        ),
    ];
    let base = h100();
    assert_eq!(setup::differences(&base, &base), Vec::<String>::new());
    for (change, warning) in cases {
        let mut new = h100();
        change(&mut new);
        // One change, one warning: none of the other checks fires.
        assert_eq!(setup::differences(&base, &new), vec![warning.to_string()]);
        // And the comparison carries it.
        let c = compare(&base, &new, 5.0, "b", "n").unwrap();
        assert_eq!(c.warnings, vec![warning.to_string()]);
    }
}

#[test]
fn what_does_not_change_speed_gives_no_warning() {
    let base = h100();
    let cases: [Change; 5] = [
        // Another physical GPU of the same kind (the fleet case): its own UUID and bus id.
        |f| {
            f.device
                .extra
                .insert("uuid".into(), serde_json::json!("GPU-1111"));
            f.device
                .extra
                .insert("pci_bus_id".into(), serde_json::json!("00000000:19:00.0"));
        },
        // 700 W written as an integer by another tool is the same limit.
        |f| {
            f.device
                .extra
                .insert("power_limit_w".into(), serde_json::json!(700));
        },
        // 1980 against 1950 MHz: 1.5 % apart, inside the 2 % tolerance.
        |f| set_clock(f, 1900.0, 1950.0),
        // A lower minimum clock with the same highest clock is the same clock setting.
        |f| set_clock(f, 1500.0, 1980.0),
        // Clocks read in one file only cannot be compared: no clock warning either way.
        |f| f.benchmarks[0].measurement = None,
    ];
    for change in cases {
        let mut new = h100();
        change(&mut new);
        assert_eq!(setup::differences(&base, &new), Vec::<String>::new());
        assert_eq!(setup::differences(&new, &base), Vec::<String>::new());
    }
    // Just past the tolerance: 1980 against 1930 MHz is 2.5 % apart.
    let mut new = h100();
    set_clock(&mut new, 1900.0, 1930.0);
    assert_eq!(
        setup::differences(&base, &new),
        vec!["different clocks: the highest SM clock around kept samples was 1980 MHz in base, 1930 MHz in new".to_string()]
    );
}

/// Bimodal times, as a GPU that sometimes runs a kernel in a slower state gives: `fast`
/// samples of 1 ms and `slow` of 2 ms.
fn bimodal(fast: usize, slow: usize) -> Vec<f64> {
    let mut v = vec![1e-3; fast];
    v.extend(vec![2e-3; slow]);
    v
}

#[test]
fn ratio_of_medians_and_hodges_lehmann_differ_and_hl_decides() {
    // Base: 21 fast, 20 slow → median (21st of 41) 1 ms. New: 20 fast, 21 slow → median
    // 2 ms. One sample of 41 changed mode, and the ratio of medians says +100 %.
    let mut base = file();
    let mut new = file();
    base.benchmarks
        .push(bench(OpKind::Copy, COPY, "hotpath", bimodal(21, 20)));
    new.benchmarks
        .push(bench(OpKind::Copy, COPY, "hotpath", bimodal(20, 21)));
    let c = compare(&base, &new, 5.0, "b", "n").unwrap();
    let r = &c.rows[0];
    assert_eq!((r.base_median_s, r.new_median_s), (1e-3, 2e-3));
    assert_eq!(r.ratio, 2.0);
    // Hodges-Lehmann by hand over the 41 · 41 = 1681 pairs new_j / base_i:
    //   new fast / base fast 20·21 = 420 pairs → 1;  new fast / base slow 20·20 = 400 → 0.5;
    //   new slow / base fast 21·21 = 441 → 2;        new slow / base slow 21·20 = 420 → 1.
    // Sorted: 400 × 0.5 (ranks 1-400), 840 × 1 (401-1240), 441 × 2 (1241-1681); the median
    // is rank 841: a ratio of 1. The interval's ranks (exact, 41 a side) are about
    // 840.5 ∓ 1.96 · √(1681 · 83 / 12) ≈ 629 and 1053, both inside 401-1240: [1, 1].
    let hl = r.hl_ratio.unwrap();
    assert!((hl - 1.0).abs() < 1e-12, "{r:?}");
    assert!((r.ci_low.unwrap() - 1.0).abs() < 1e-12, "{r:?}");
    assert!((r.ci_high.unwrap() - 1.0).abs() < 1e-12, "{r:?}");
    assert_eq!(r.interval, Some("exact"));
    // The same estimate by brute force: the median of all 1681 pairwise log-ratios.
    let mut logs: Vec<f64> = new.benchmarks[0]
        .samples_s
        .iter()
        .flat_map(|y| {
            base.benchmarks[0]
                .samples_s
                .iter()
                .map(move |x| (y / x).ln())
        })
        .collect();
    logs.sort_by(f64::total_cmp);
    assert_eq!(logs.len(), 1681);
    assert!((logs[840].exp() - hl).abs() < 1e-12);
    // The verdict follows the estimate and its interval: unchanged, not a regression, and
    // the comparison names the fields it decided on.
    assert_eq!(r.verdict, Verdict::Unchanged);
    assert!(!c.has_regression());
    assert_eq!(c.verdict_uses, ["hl_ratio", "ci_low", "ci_high"]);

    // Every output shows both statistics and says which decides.
    let text = render::compare_text(&c);
    let md = render::compare_markdown(&c);
    for out in [&text, &md] {
        for needle in [
            "median change",
            "HL change",
            "HL 95 % interval",
            "verdict (on HL)",
            "+100.0 %",
            "+0.0 % … +0.0 %",
            "reported only",
            "which decide the verdict",
        ] {
            assert!(out.contains(needle), "'{needle}' not in:\n{out}");
        }
    }
    assert!(
        md.contains("| copy/elements=1048576/f32/hotpath | 1.00 ms | 2.00 ms | +100.0 % | +0.0 % | +0.0 % … +0.0 % | unchanged |"),
        "{md}"
    );
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(
        json["verdict_uses"],
        serde_json::json!(["hl_ratio", "ci_low", "ci_high"])
    );
    assert_eq!(json["rows"][0]["ratio"], 2.0);
    assert_eq!(json["rows"][0]["verdict"], "unchanged");
}
