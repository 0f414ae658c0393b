//! The run-to-run band (`--history`) and the bandwidth normalization (`--normalize
//! bandwidth`) on hand-made history and results files.

use std::f64::consts::{FRAC_PI_2, SQRT_2};
use std::path::Path;

use super::band::{band_of, History, T_999};
use super::normalize::{ComparedAs, Normalize};
use super::*;
use hotpath_core::fixture::{bench, file, samples};
use hotpath_core::op::OpKind;
use hotpath_core::results::Roofline;
use hotpath_core::roofline::Bound;

const GEMV: &str = "m=1,n=4096,k=4096";
const GEMV_ID: &str = "gemv/m=1,n=4096,k=4096/f32/hotpath";

/// A file with one gemv whose samples are all `median_s`.
fn run_of(median_s: f64, created: &str) -> ResultsFile {
    let mut f = file();
    f.created = created.to_string();
    f.benchmarks
        .push(bench(OpKind::Gemv, GEMV, "hotpath", vec![median_s; 9]));
    f
}

/// Writes `runs` (name, file) into `dir`.
fn write_all(dir: &Path, runs: &[(String, ResultsFile)]) {
    for (name, f) in runs {
        f.write_atomic(&dir.join(name)).unwrap();
    }
}

/// Student's t at 0.999 for 2 and 19 degrees of freedom (3 and 20 runs), from a t table.
const T2: f64 = 22.327125;
const T19: f64 = 3.5794001;

/// Three runs of gemv at 1 ms × e^−d, 1 ms, 1 ms × e^+d: the log medians are −d, 0, +d,
/// their median 0 and their absolute deviations d, 0, d, so MAD = d, 1.4826 · MAD =
/// 1.4826 d, more than their standard deviation √((d² + 0 + d²) / 2) = d, and the band is
/// exp(T2 · √2 · 1.4826 · d) − 1. With d = ln(1 + b) / (T2 · √2 · 1.4826) it is b exactly.
fn three_runs_with_band(b: f64, day0: u32) -> Vec<(String, ResultsFile)> {
    let d = (1.0 + b).ln() / (T2 * SQRT_2 * 1.4826);
    [-d, 0.0, d]
        .iter()
        .enumerate()
        .map(|(i, x)| {
            let day = day0 + i as u32;
            (
                format!("run{day:02}.json"),
                run_of(1e-3 * x.exp(), &format!("2026-11-{day:02}T02:00:00Z")),
            )
        })
        .collect()
}

/// Base at 1 ms and new 12 % slower, 30 samples a side with ±1 % noise: by the threshold
/// rule alone a regression (Hodges-Lehmann ≈ 1.12, interval well above 1.05).
fn twelve_percent_slower() -> (ResultsFile, ResultsFile) {
    let mut base = file();
    base.created = "2026-11-20T02:00:00Z".into();
    base.benchmarks.push(bench(
        OpKind::Gemv,
        GEMV,
        "hotpath",
        samples(1, 30, 1e-3, 0.01),
    ));
    let mut new = file();
    new.created = "2026-11-21T02:00:00Z".into();
    new.benchmarks.push(bench(
        OpKind::Gemv,
        GEMV,
        "hotpath",
        samples(2, 30, 1.12e-3, 0.01),
    ));
    (base, new)
}

fn with_history(base: &ResultsFile, new: &ResultsFile, h: &History) -> Comparison {
    let opts = Options {
        threshold_pct: 5.0,
        normalize: Normalize::None,
        history: Some(h),
    };
    compare_with(base, new, "base.json", "new.json", &opts).unwrap()
}

#[test]
fn band_is_a_t_prediction_bound_on_the_ratio_of_two_runs() {
    // Log medians 0, 0.1, −0.1, 0.02, 0.3: median 0.02; absolute deviations 0.02, 0.08,
    // 0.12, 0, 0.28 → MAD 0.08, 1.4826 · MAD = 0.118608. Mean 0.064, squared deviations
    // 0.004096, 0.001296, 0.026896, 0.001936, 0.055696, sum 0.08992, / 4 = 0.02248, so the
    // standard deviation is 0.1499333, the larger spread. Five runs: t(4) = 7.1731822, and
    // the band is exp(7.1731822 · √2 · 0.1499333) − 1 = 3.5767324; the range,
    // exp(0.3 − (−0.1)) − 1 = 0.4918247, is smaller.
    let v: Vec<f64> = [0.0f64, 0.1, -0.1, 0.02, 0.3]
        .iter()
        .map(|x| 2e-3 * x.exp())
        .collect();
    let b = band_of(&v).unwrap();
    assert!((b - 3.576_732_4).abs() < 1e-6, "{b}");
    // Log medians −d, 0, +d: 1.4826 · MAD = 1.4826 d beats the standard deviation d.
    let d = 0.001f64;
    let three = [(-d).exp(), 1.0, d.exp()];
    let robust = (T2 * SQRT_2 * 1.4826 * d).exp() - 1.0;
    assert!((band_of(&three).unwrap() - robust).abs() < 1e-12);
    // Twenty runs, 18 at 1 ms and two at e^∓0.05 ms: MAD 0; standard deviation
    // √(2 · 0.05² / 19) = 0.0162221, so exp(T19 · √2 · 0.0162221) − 1 = 0.0855829, less than
    // the range exp(0.1) − 1 = 0.1051709, which is the band.
    let mut twenty = vec![1e-3; 18];
    twenty.insert(3, 1e-3 * (-0.05f64).exp());
    twenty.push(1e-3 * 0.05f64.exp());
    assert!((band_of(&twenty).unwrap() - 0.105_170_918).abs() < 1e-8);
    // Only the last 20 count: five wild runs in front change nothing.
    let mut longer = vec![1e-3, 9e-3, 27e-3, 3e-3, 5e-3];
    longer.extend_from_slice(&twenty);
    assert_eq!(band_of(&longer), band_of(&twenty));
    // The unit does not matter: the same medians in seconds or as rates give one band.
    let scaled: Vec<f64> = v.iter().map(|x| x * 3.5e10).collect();
    assert!((band_of(&scaled).unwrap() - b).abs() < 1e-9);
    // Identical medians: no spread, a band of 0.
    assert_eq!(band_of(&[1e-3; 4]), Some(0.0));
    // Fewer than 3 runs: no band.
    assert_eq!(band_of(&[1e-3, 2e-3]), None);
    assert_eq!(band_of(&[]), None);
}

/// The upper-tail probability of Student's t with `nu` degrees of freedom beyond `q`, by a
/// second method: with x = √ν · tan θ the density is proportional to cos^(ν−1) θ on
/// (−π/2, π/2), so the tail is ∫_{atan(q/√ν)}^{π/2} cos^(ν−1) / ∫_{−π/2}^{π/2} cos^(ν−1),
/// both by Simpson's rule.
fn t_upper_tail(q: f64, nu: f64) -> f64 {
    let simpson = |a: f64, b: f64| {
        let n = 20_000;
        let h = (b - a) / n as f64;
        let f = |x: f64| x.cos().max(0.0).powf(nu - 1.0);
        let inner: f64 = (1..n)
            .map(|i| f(a + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 })
            .sum();
        (f(a) + f(b) + inner) * h / 3.0
    };
    simpson((q / nu.sqrt()).atan(), FRAC_PI_2) / simpson(-FRAC_PI_2, FRAC_PI_2)
}

#[test]
fn the_t_quantiles_leave_one_in_a_thousand_above_them() {
    for (i, q) in T_999.iter().enumerate() {
        let nu = (i + 2) as f64;
        let tail = t_upper_tail(*q, nu);
        assert!((tail - 1e-3).abs() < 1e-7, "t({nu}) = {q}: tail {tail}");
    }
    // And a quantile 1 % off leaves a visibly different tail.
    assert!((t_upper_tail(T_999[5] * 1.01, 7.0) - 1e-3).abs() > 2e-5);
}

#[test]
fn a_twelve_percent_slowdown_is_noisy_in_a_20_percent_band_and_a_regression_in_3() {
    let (base, new) = twelve_percent_slower();
    let plain = compare(&base, &new, 5.0, "base.json", "new.json").unwrap();
    assert_eq!(plain.rows[0].verdict, Verdict::Regression);
    assert_eq!((plain.rows[0].band, plain.rows[0].band_runs), (None, None));

    let dir = tempfile::tempdir().unwrap();
    write_all(dir.path(), &three_runs_with_band(0.20, 1));
    let h = History::load(dir.path(), &base, &new).unwrap();
    assert_eq!((h.runs, h.other_hardware, h.new_excluded), (3, 0, false));
    let c = with_history(&base, &new, &h);
    let r = &c.rows[0];
    assert!((r.band.unwrap() - 0.20).abs() < 1e-12, "{r:?}");
    assert_eq!(r.band_runs, Some(3));
    // 1.12 passes the 5 % threshold and its interval, but not 1 + 0.20.
    assert!(
        r.hl_ratio.unwrap() > 1.10 && r.ci_low.unwrap() > 1.05,
        "{r:?}"
    );
    assert_eq!(r.verdict, Verdict::Noisy);
    assert_eq!(
        r.note.as_deref(),
        Some("within the run-to-run band (±20.0 % over 3 runs)")
    );
    assert!(!c.has_regression());
    assert_eq!(c.noisy, vec![GEMV_ID]);
    assert_eq!(c.verdict_uses, ["hl_ratio", "ci_low", "ci_high", "band"]);
    assert!(c.method.contains("exp(t(n − 1) · √2 · s) − 1"));
    assert!(c.verdicts.contains("r > 1+b"));

    let dir = tempfile::tempdir().unwrap();
    write_all(dir.path(), &three_runs_with_band(0.03, 1));
    let h = History::load(dir.path(), &base, &new).unwrap();
    let c = with_history(&base, &new, &h);
    let r = &c.rows[0];
    assert!((r.band.unwrap() - 0.03).abs() < 1e-12, "{r:?}");
    assert_eq!(r.verdict, Verdict::Regression);
    assert_eq!(r.note, None);
    assert_eq!(c.regressions, vec![GEMV_ID]);
}

#[test]
fn fewer_than_three_runs_give_no_band_and_the_row_says_so() {
    let (base, new) = twelve_percent_slower();
    let dir = tempfile::tempdir().unwrap();
    let mut runs = three_runs_with_band(0.20, 1);
    runs.truncate(2);
    write_all(dir.path(), &runs);
    let h = History::load(dir.path(), &base, &new).unwrap();
    let c = with_history(&base, &new, &h);
    let r = &c.rows[0];
    assert_eq!((r.band, r.band_runs), (None, Some(2)));
    // No band: the threshold rule alone, a regression.
    assert_eq!(r.verdict, Verdict::Regression);
    assert_eq!(
        r.note.as_deref(),
        Some("no run-to-run band: 2 runs of it in the history, at least 3 needed")
    );
    let text = render::compare_text(&c);
    assert!(text.contains("none (2 runs)"), "{text}");
}

#[test]
fn files_of_other_hardware_and_the_new_file_itself_are_left_out() {
    let (base, new) = twelve_percent_slower();
    let dir = tempfile::tempdir().unwrap();
    // Three runs of this hardware with a 3 % band...
    let mut runs = three_runs_with_band(0.03, 1);
    // ...and runs 3× and 10× slower on another hardware entry and on another device name:
    // counted, they would widen the band far past 12 %.
    for (i, factor) in [3.0, 10.0, 0.2, 7.0].iter().enumerate() {
        let mut f = run_of(1e-3 * factor, &format!("2026-11-1{i}T02:00:00Z"));
        if i % 2 == 0 {
            f.hardware.id = "h100-sxm".into();
        } else {
            f.device.name = "Other CPU".into();
        }
        runs.push((format!("other{i}.json"), f));
    }
    // The new file itself, as nightly.sh keeps it in the history before comparing.
    runs.push(("new.json".into(), new.clone()));
    write_all(dir.path(), &runs);
    let h = History::load(dir.path(), &base, &new).unwrap();
    assert_eq!((h.runs, h.other_hardware, h.new_excluded), (3, 4, true));
    assert_eq!(h.hardware, "cpu-generic");
    assert_eq!(h.device, "cpu Test CPU");
    let c = with_history(&base, &new, &h);
    assert!((c.rows[0].band.unwrap() - 0.03).abs() < 1e-12);
    assert_eq!(c.rows[0].band_runs, Some(3));
    assert_eq!(c.rows[0].verdict, Verdict::Regression);
    let text = render::compare_text(&c);
    assert!(
        text.contains("3 runs of cpu Test CPU [cpu-generic]")
            && text.contains("4 files of other hardware ignored")
            && text.contains("the new file itself left out"),
        "{text}"
    );
}

#[test]
fn symbolic_links_in_the_history_are_not_followed() {
    let (base, new) = twelve_percent_slower();
    let outside = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    write_all(dir.path(), &three_runs_with_band(0.03, 1));
    // A results file outside whose 5× slower gemv would widen the band if it were read,
    // and a file that is no results file at all (reading it would be an error).
    let planted = outside.path().join("planted.json");
    run_of(5e-3, "2026-11-05T02:00:00Z")
        .write_atomic(&planted)
        .unwrap();
    let secret = outside.path().join("secret");
    std::fs::write(&secret, "not json").unwrap();
    std::os::unix::fs::symlink(&planted, dir.path().join("link.json")).unwrap();
    std::os::unix::fs::symlink(&secret, dir.path().join("secret.json")).unwrap();
    std::os::unix::fs::symlink(outside.path(), dir.path().join("sub.json")).unwrap();
    let h = History::load(dir.path(), &base, &new).unwrap();
    assert_eq!(h.runs, 3);
    let c = with_history(&base, &new, &h);
    assert!((c.rows[0].band.unwrap() - 0.03).abs() < 1e-12);
    assert_eq!(c.rows[0].verdict, Verdict::Regression);
}

#[test]
fn the_band_uses_the_last_twenty_runs_that_measured_the_benchmark() {
    let (base, new) = twelve_percent_slower();
    let dir = tempfile::tempdir().unwrap();
    // 25 runs, oldest first: 5 wild ones (1, 3, 9, 27, 81 ms), then 20 at 1 ms × e^x with
    // x cycling −d, 0, +d (7 × −d, 7 × 0, 6 × +d). The last 20 log medians have median 0
    // and absolute deviations 13 × d and 7 × 0, so MAD = d; their mean is −d/20 and their
    // standard deviation √((13 d² − 20 (d/20)²) / 19) = 0.8256 d, less than 1.4826 d. With
    // t(19) the band is exp(T19 · √2 · 1.4826 · d) − 1, 3 % if the wild five are left out.
    // Then a newest run without gemv, which does not count.
    let d = 1.03f64.ln() / (T19 * SQRT_2 * 1.4826);
    let mut runs = Vec::new();
    for i in 0..25u32 {
        let m = if i < 5 {
            1e-3 * 3f64.powi(i as i32)
        } else {
            1e-3 * [-d, 0.0, d][(i as usize - 5) % 3].exp()
        };
        let created = format!("2026-10-{:02}T02:00:00Z", i + 1);
        runs.push((format!("r{i:02}.json"), run_of(m, &created)));
    }
    let mut empty = file();
    empty.created = "2026-10-30T02:00:00Z".into();
    empty
        .benchmarks
        .push(bench(OpKind::Copy, "elements=1M", "hotpath", vec![1e-3; 9]));
    runs.push(("r99.json".into(), empty));
    write_all(dir.path(), &runs);
    let h = History::load(dir.path(), &base, &new).unwrap();
    assert_eq!(h.runs, 26);
    let b = h.band(GEMV_ID, false);
    assert_eq!(b.runs, 20);
    assert!((b.band.unwrap() - 0.03).abs() < 1e-12, "{b:?}");
}

#[test]
fn bad_history_directories_are_bad_input() {
    let (base, new) = twelve_percent_slower();
    let dir = tempfile::tempdir().unwrap();
    let err = History::load(&dir.path().join("missing"), &base, &new)
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot be read"), "{err}");
    let err = History::load(dir.path(), &base, &new)
        .unwrap_err()
        .to_string();
    assert!(err.contains("holds no results files"), "{err}");
}

/// Marks `b` as placed under the roofline with bound `bound`.
fn bound(mut b: BenchmarkResult, bound: Bound) -> BenchmarkResult {
    b.roofline = Some(Roofline {
        intensity: None,
        bound,
        efficiency_spec: None,
        efficiency_measured: None,
        floor_measured_s: None,
        timing: Default::default(),
        sets_roof: vec![],
    });
    b
}

/// Base and new runs of copy (the ceiling), a memory-bound gemv and a compute-bound gemm.
/// In new the memory system is 15 % slower: the measured roof is 1/1.15 of the base's and
/// copy and gemv take 1.15× as long (every sample exactly); gemm takes `gemm_shift`×.
fn memory_drift(gemm_shift: f64) -> (ResultsFile, ResultsFile) {
    let gemm = "m=256,n=256,k=256";
    let mut base = file();
    base.measured.mem_bytes_per_s = Some(3.45e10);
    let copy = samples(1, 30, 4e-3, 0.01);
    let gemv = samples(2, 30, 1e-3, 0.01);
    let mm = samples(3, 30, 2e-3, 0.01);
    let scaled = |v: &[f64], f: f64| v.iter().map(|x| x * f).collect::<Vec<f64>>();
    base.benchmarks = vec![
        bound(
            bench(OpKind::Copy, "elements=1M", "hotpath", copy.clone()),
            Bound::Memory,
        ),
        bound(
            bench(OpKind::Gemv, GEMV, "hotpath", gemv.clone()),
            Bound::Memory,
        ),
        bound(
            bench(OpKind::Gemm, gemm, "hotpath", mm.clone()),
            Bound::Compute,
        ),
    ];
    let mut new = file();
    new.measured.mem_bytes_per_s = Some(3.45e10 / 1.15);
    new.benchmarks = vec![
        bound(
            bench(OpKind::Copy, "elements=1M", "hotpath", scaled(&copy, 1.15)),
            Bound::Memory,
        ),
        bound(
            bench(OpKind::Gemv, GEMV, "hotpath", scaled(&gemv, 1.15)),
            Bound::Memory,
        ),
        bound(
            bench(OpKind::Gemm, gemm, "hotpath", scaled(&mm, gemm_shift)),
            Bound::Compute,
        ),
    ];
    (base, new)
}

fn normalized(base: &ResultsFile, new: &ResultsFile) -> Comparison {
    let opts = Options {
        threshold_pct: 5.0,
        normalize: Normalize::Bandwidth,
        history: None,
    };
    compare_with(base, new, "base.json", "new.json", &opts).unwrap()
}

#[test]
fn a_drift_of_the_memory_roof_cancels_for_memory_bound_kernels() {
    let (base, new) = memory_drift(1.0);
    // On time: copy and gemv are 15 % slower, with every sample scaled exactly: regressions.
    let c = compare(&base, &new, 5.0, "base.json", "new.json").unwrap();
    let verdicts: Vec<(ComparedAs, Verdict)> =
        c.rows.iter().map(|r| (r.compared_as, r.verdict)).collect();
    assert_eq!(
        verdicts,
        vec![
            (ComparedAs::Time, Verdict::Regression),
            (ComparedAs::Time, Verdict::Regression),
            (ComparedAs::Time, Verdict::Unchanged),
        ]
    );
    assert!((c.rows[1].hl_ratio.unwrap() - 1.15).abs() < 1e-9);

    // As efficiency: gemv's time ratio 1.15 × the roof ratio (3.45e10/1.15)/3.45e10 = 1/1.15
    // gives 1; copy is the ceiling itself and stays on time; gemm is compute-bound.
    let c = normalized(&base, &new);
    let gemv = &c.rows[1];
    assert_eq!(gemv.compared_as, ComparedAs::Efficiency);
    assert!((gemv.roof_ratio.unwrap() - 1.0 / 1.15).abs() < 1e-12);
    assert!((gemv.ratio - 1.0).abs() < 1e-9, "{gemv:?}");
    assert!((gemv.hl_ratio.unwrap() - 1.0).abs() < 1e-9, "{gemv:?}");
    assert!(
        gemv.ci_low.unwrap() >= 0.95 && gemv.ci_high.unwrap() <= 1.05,
        "{gemv:?}"
    );
    assert_eq!(gemv.verdict, Verdict::Unchanged);
    // The times themselves are still reported as times.
    assert!((gemv.new_median_s / gemv.base_median_s - 1.15).abs() < 1e-9);
    assert_eq!(
        (c.rows[0].compared_as, c.rows[0].verdict),
        (ComparedAs::Time, Verdict::Regression)
    );
    assert_eq!(c.rows[0].roof_ratio, None);
    assert_eq!(
        (c.rows[2].compared_as, c.rows[2].verdict),
        (ComparedAs::Time, Verdict::Unchanged)
    );
    assert_eq!(c.regressions, vec!["copy/elements=1048576/f32/hotpath"]);
    assert_eq!(c.normalize, Normalize::Bandwidth);
    assert!(c.method.contains("--normalize bandwidth"));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["normalize"], "bandwidth");
    assert_eq!(json["rows"][1]["compared_as"], "efficiency");
    assert_eq!(json["rows"][2]["compared_as"], "time");
    let md = render::compare_markdown(&c);
    assert!(md.contains("| compared as |"), "{md}");
}

#[test]
fn a_compute_bound_kernel_is_judged_on_time_with_or_without_the_flag() {
    // gemm 10 % slower, ±1 % noise: a regression both ways, with the same ratio.
    let (base, new) = memory_drift(1.10);
    let plain = compare(&base, &new, 5.0, "b", "n").unwrap();
    let norm = normalized(&base, &new);
    assert_eq!(plain.rows[2], norm.rows[2]);
    assert_eq!(norm.rows[2].compared_as, ComparedAs::Time);
    assert_eq!(norm.rows[2].verdict, Verdict::Regression);
    assert!((norm.rows[2].hl_ratio.unwrap() - 1.10).abs() < 1e-9);
}

#[test]
fn a_file_without_a_measured_roof_falls_back_to_time_with_a_note() {
    let (base, mut new) = memory_drift(1.0);
    new.measured.mem_bytes_per_s = None;
    let c = normalized(&base, &new);
    let gemv = &c.rows[1];
    assert_eq!(
        (gemv.compared_as, gemv.verdict),
        (ComparedAs::Time, Verdict::Regression)
    );
    assert_eq!(
        gemv.note.as_deref(),
        Some("memory-bound but compared on time: new.json has no measured bandwidth roof")
    );
    assert_eq!(c.warnings.len(), 1);
    assert!(
        c.warnings[0]
            .starts_with("--normalize bandwidth: new file new.json has no measured bandwidth roof"),
        "{:?}",
        c.warnings
    );
}

#[test]
fn the_band_of_an_efficiency_row_is_of_time_times_the_roof() {
    // Three history runs whose gemv times drift 1, 1.2, 1.44 ms with roofs that drift the
    // other way by the same factors: time × roof is constant, so the efficiency band is 0
    // while the time band is exp(T2 · √2 · 1.4826 · ln 1.2) − 1 (log medians 0, ln 1.2,
    // 2 ln 1.2: median ln 1.2, deviations ln 1.2, 0, ln 1.2 → MAD ln 1.2, more than the
    // standard deviation ln 1.2).
    let (base, new) = memory_drift(1.0);
    let dir = tempfile::tempdir().unwrap();
    let mut runs = Vec::new();
    for (i, f) in [1.0, 1.2, 1.44].iter().enumerate() {
        let mut r = base.clone();
        r.created = format!("2026-11-0{}T02:00:00Z", i + 1);
        r.measured.mem_bytes_per_s = Some(3.45e10 / f);
        r.benchmarks[1] = bound(
            bench(OpKind::Gemv, GEMV, "hotpath", vec![1e-3 * f; 9]),
            Bound::Memory,
        );
        runs.push((format!("h{i}.json"), r));
    }
    write_all(dir.path(), &runs);
    let h = History::load(dir.path(), &base, &new).unwrap();
    let time_band = (T2 * SQRT_2 * 1.4826 * 1.2f64.ln()).exp() - 1.0;
    assert!((h.band(GEMV_ID, false).band.unwrap() / time_band - 1.0).abs() < 1e-9);
    assert!(h.band(GEMV_ID, true).band.unwrap().abs() < 1e-9);
    let opts = Options {
        threshold_pct: 5.0,
        normalize: Normalize::Bandwidth,
        history: Some(&h),
    };
    let c = compare_with(&base, &new, "b", "n", &opts).unwrap();
    assert!(c.rows[1].band.unwrap().abs() < 1e-9);
    assert_eq!(c.rows[1].band_runs, Some(3));
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["history"]["runs"], 3);
    assert_eq!(json["rows"][1]["band_runs"], 3);
    let text = render::compare_text(&c);
    for needle in [
        "compared as",
        "run-to-run band",
        "±0.0 % (3 runs)",
        "efficiency",
    ] {
        assert!(text.contains(needle), "'{needle}' not in:\n{text}");
    }
}
