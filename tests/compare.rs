//! `hotpath compare` end to end: planted changes in sample sets written into real results
//! files, the exit codes (1 on a regression, 0 otherwise, 2 on bad input) and the verdicts,
//! from the library and from the binary.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hotpath_compare::{compare, Verdict};
use hotpath_core::results::{ResultsFile, TimeStats};
use hotpath_core::stats::Summary;
use hotpath_core::{DType, OpKind};

const ID: &str = "gemv/m=1,n=14336,k=4096/bf16/hotpath";

fn hotpath(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hotpath"))
        .args(args)
        .output()
        .expect("the hotpath binary runs")
}

/// SplitMix64: a tiny seeded generator, so the planted samples are the same every run.
struct SplitMix(u64);

impl SplitMix {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// `n` samples of `center_s` × (1 + u), u uniform in ±`noise`.
fn samples(seed: u64, n: usize, center_s: f64, noise: f64) -> Vec<f64> {
    let mut g = SplitMix(seed);
    (0..n)
        .map(|_| center_s * (1.0 + noise * (2.0 * g.uniform() - 1.0)))
        .collect()
}

/// The committed CPU results file with only the gemv benchmark, its samples replaced.
fn planted_file(samples_s: Vec<f64>) -> ResultsFile {
    let mut f = ResultsFile::read(Path::new("results/cpu-epyc-2core-quick.json")).unwrap();
    f.benchmarks.retain(|b| b.id == ID);
    let s = Summary::of(&samples_s).unwrap();
    let b = &mut f.benchmarks[0];
    b.time = Some(TimeStats {
        median_s: s.median,
        min_s: s.min,
        mean_s: s.mean,
        stdev_s: s.stdev,
        p10_s: s.p10,
        p90_s: s.p90,
        mad_s: s.mad,
    });
    b.samples_s = samples_s;
    f
}

/// Writes base and new files (3.58 ms gemv, `n` samples a side, new × `shift`) and
/// returns their paths.
fn write_pair(dir: &Path, shift: f64, noise: f64, n: usize) -> (PathBuf, PathBuf) {
    let base = planted_file(samples(11, n, 3.58e-3, noise));
    let new = planted_file(samples(12, n, 3.58e-3 * shift, noise));
    let (pb, pn) = (dir.join("base.json"), dir.join("new.json"));
    base.write_atomic(&pb).unwrap();
    new.write_atomic(&pn).unwrap();
    (pb, pn)
}

/// Library verdict and CLI (exit code, JSON) for the pair.
fn judge(shift: f64, noise: f64, n: usize) -> (Verdict, i32, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let (pb, pn) = write_pair(dir.path(), shift, noise, n);
    let lib = compare(
        &ResultsFile::read(&pb).unwrap(),
        &ResultsFile::read(&pn).unwrap(),
        5.0,
        "b",
        "n",
    )
    .unwrap();
    let o = hotpath(&[
        "compare",
        pb.to_str().unwrap(),
        pn.to_str().unwrap(),
        "--format",
        "json",
    ]);
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).expect("compare prints JSON");
    assert_eq!(
        json["rows"][0]["verdict"],
        lib.rows[0].verdict.name(),
        "library and CLI agree"
    );
    (lib.rows[0].verdict, o.status.code().unwrap(), json)
}

#[test]
fn ten_percent_slowdown_with_low_noise_exits_1() {
    let (v, code, json) = judge(1.10, 0.01, 200);
    assert_eq!(v, Verdict::Regression);
    assert_eq!(code, 1);
    assert_eq!(json["regressions"], serde_json::json!([ID]));
    assert_eq!(json["improvements"], serde_json::json!([]));
    let row = &json["rows"][0];
    assert_eq!(row["id"], ID);
    let ratio = row["ratio"].as_f64().unwrap();
    assert!((ratio - 1.10).abs() < 0.01, "{row}");
    assert!(
        (row["new_median_s"].as_f64().unwrap() / row["base_median_s"].as_f64().unwrap() - ratio)
            .abs()
            < 1e-12
    );
    assert!(json["method"].as_str().unwrap().contains("Hodges-Lehmann"));
}

#[test]
fn identical_files_exit_0_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let (pb, _) = write_pair(dir.path(), 1.0, 0.05, 200);
    let o = hotpath(&[
        "compare",
        pb.to_str().unwrap(),
        pb.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["rows"][0]["verdict"], "unchanged");
    assert_eq!(json["rows"][0]["ratio"], 1.0);
    assert_eq!(json["warnings"], serde_json::json!([]));
}

#[test]
fn two_percent_change_inside_five_percent_noise_exits_0_unchanged() {
    let (v, code, json) = judge(1.02, 0.05, 200);
    assert_eq!((v, code), (Verdict::Unchanged, 0), "{json}");
    assert_eq!(json["regressions"], serde_json::json!([]));
}

#[test]
fn ten_percent_change_with_huge_noise_exits_0_noisy() {
    let (v, code, json) = judge(1.10, 0.50, 15);
    assert_eq!((v, code), (Verdict::Noisy, 0), "{json}");
    assert_eq!(json["regressions"], serde_json::json!([]));
    assert_eq!(json["noisy"], serde_json::json!([ID]));
}

#[test]
fn table_and_markdown_name_the_method_and_the_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let (pb, pn) = write_pair(dir.path(), 1.10, 0.01, 50);
    for (format, needle) in [("table", "REGRESSION"), ("md", "| REGRESSION |")] {
        let o = hotpath(&[
            "compare",
            pb.to_str().unwrap(),
            pn.to_str().unwrap(),
            "--format",
            format,
        ]);
        assert_eq!(o.status.code(), Some(1));
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.contains(needle), "{out}");
        assert!(
            out.contains("Mann-Whitney") && out.contains("noisy"),
            "{out}"
        );
        assert!(out.contains("1 regressions, 0 improvements"), "{out}");
    }
    // A 25 % threshold lets the same 10 % change pass.
    let o = hotpath(&[
        "compare",
        pb.to_str().unwrap(),
        pn.to_str().unwrap(),
        "--threshold",
        "25",
    ]);
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn different_devices_warn_and_unmatched_benchmarks_are_listed() {
    let o = hotpath(&[
        "compare",
        "results/cpu-epyc-2core-quick.json",
        "results/cpu-epyc-1thread-quick.json",
        "--format",
        "json",
    ]);
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let warnings = json["warnings"].to_string();
    assert!(
        warnings.contains("different threads: base 2, new 1"),
        "{warnings}"
    );
    // One thread instead of two: gemv, which streams 117 MB, takes 6.60 ms instead of 3.58.
    assert_eq!(o.status.code(), Some(1));
    assert!(json["regressions"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!(ID)));
    let dir = tempfile::tempdir().unwrap();
    let mut only = planted_file(samples(1, 20, 1e-3, 0.01));
    only.benchmarks[0].id = "gemv/m=1,n=14336,k=4096/bf16/other".into();
    let p = dir.path().join("only.json");
    only.write_atomic(&p).unwrap();
    let o = hotpath(&[
        "compare",
        "results/cpu-epyc-2core-quick.json",
        p.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["rows"], serde_json::json!([]));
    assert_eq!(json["only_in_base"].as_array().unwrap().len(), 15);
    assert_eq!(
        json["only_in_new"],
        serde_json::json!(["gemv/m=1,n=14336,k=4096/bf16/other"])
    );
}

/// Exit code 2 and one `error:` line containing `needle`.
fn bad(args: &[&str], needle: &str) {
    let o = hotpath(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].starts_with("error: ") && err.contains(needle),
        "{err}"
    );
    assert!(o.stdout.is_empty(), "nothing on stdout for bad input");
}

#[test]
fn bad_input_exits_2_with_one_sentence() {
    let good = "results/cpu-epyc-2core-quick.json";
    bad(
        &["compare", good, "/nonexistent/new.json"],
        "/nonexistent/new.json",
    );
    bad(
        &["compare", good, "Cargo.toml"],
        "Cargo.toml is not a hotpath results file",
    );
    bad(
        &["compare", good, good, "--threshold", "-3"],
        "--threshold -3",
    );
    bad(&["compare", good, good, "--threshold", "abc"], "abc");
    bad(&["compare", good, good, "--format", "csv"], "csv");
    bad(&["compare", good], "NEW");
    let dir = tempfile::tempdir().unwrap();
    let mut f = planted_file(samples(1, 20, 1e-3, 0.01));
    f.benchmarks[0].samples_s[0] = 0.0;
    let p = dir.path().join("zero.json");
    f.write_atomic(&p).unwrap();
    bad(
        &["compare", good, p.to_str().unwrap()],
        "not a positive number",
    );
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn both_statistics_are_printed_and_the_hodges_lehmann_one_decides() {
    // A GPU kernel that runs in a fast (40 µs) or a slow (80 µs) state: base 21 fast and 20
    // slow samples (median 40 µs), new 20 fast and 21 slow (median 80 µs). The ratio of
    // medians is 2 (+100 %); the Hodges-Lehmann ratio, the median of the 41 · 41 pairwise
    // ratios (400 of 0.5, 840 of 1, 441 of 2, derived in crates/compare/src/tests.rs),
    // is 1 with the interval [1, 1]: unchanged, exit 0.
    let state = |fast: usize, slow: usize| {
        let mut v = vec![40e-6; fast];
        v.extend(vec![80e-6; slow]);
        v
    };
    let shape = "m=1,n=14336,k=4096";
    let dir = tempfile::tempdir().unwrap();
    let mut base = support::file("cuda", "NVIDIA H100 80GB HBM3", "sm_90", "h100-sxm");
    let mut new = base.clone();
    base.benchmarks = vec![support::bench(
        OpKind::Gemv,
        shape,
        DType::Bf16,
        "hotpath",
        state(21, 20),
        None,
    )];
    new.benchmarks = vec![support::bench(
        OpKind::Gemv,
        shape,
        DType::Bf16,
        "hotpath",
        state(20, 21),
        None,
    )];
    let pb = support::write(&base, dir.path(), "base.json");
    let pn = support::write(&new, dir.path(), "new.json");

    let o = hotpath(&["compare", &pb, &pn, "--format", "json"]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let row = &json["rows"][0];
    assert_eq!(row["ratio"], 2.0);
    for field in ["hl_ratio", "ci_low", "ci_high"] {
        assert!((row[field].as_f64().unwrap() - 1.0).abs() < 1e-12, "{row}");
    }
    assert_eq!(row["verdict"], "unchanged");
    assert_eq!(
        json["verdict_uses"],
        serde_json::json!(["hl_ratio", "ci_low", "ci_high"])
    );
    assert!(
        json["verdicts"]
            .as_str()
            .unwrap()
            .contains("r = Hodges-Lehmann ratio"),
        "{json}"
    );

    for format in ["table", "md"] {
        let o = hotpath(&["compare", &pb, &pn, "--format", format]);
        assert_eq!(o.status.code(), Some(0));
        let out = stdout(&o);
        for needle in [
            "median change",
            "HL change",
            "HL 95 % interval",
            "verdict (on HL)",
            "+100.0 %",
            "+0.0 % … +0.0 %",
            "unchanged",
            "reported only",
            "which decide the verdict",
        ] {
            assert!(out.contains(needle), "{format}: '{needle}' not in:\n{out}");
        }
    }
}

#[test]
fn setup_differences_are_warned_in_every_format() {
    // Two runs of one H100 SXM, the second under a 500 W power cap that held the SM clock at
    // 1410 MHz instead of 1980.
    let mut base = planted_file(samples(21, 20, 3.58e-3, 0.01));
    base.device.backend = "cuda".into();
    base.device.name = "NVIDIA H100 80GB HBM3".into();
    base.device.arch = "sm_90".into();
    base.device
        .extra
        .insert("power_limit_w".into(), serde_json::json!(700.0));
    let mut new = base.clone();
    new.benchmarks[0].samples_s = samples(22, 20, 3.58e-3, 0.01);
    new.device
        .extra
        .insert("power_limit_w".into(), serde_json::json!(500.0));
    let clock = |f: &mut ResultsFile, hi: f64| {
        if let Some(m) = f.benchmarks[0].measurement.as_mut() {
            m.sm_clock_mhz = Some((hi - 15.0, hi));
        }
    };
    assert!(base.benchmarks[0].measurement.is_some());
    clock(&mut base, 1980.0);
    clock(&mut new, 1410.0);
    let dir = tempfile::tempdir().unwrap();
    let pb = support::write(&base, dir.path(), "base.json");
    let pn = support::write(&new, dir.path(), "new.json");
    let warnings = [
        "different power_limit_w: base 700.0, new 500.0",
        "different clocks: the highest SM clock around kept samples was 1980 MHz in base, 1410 MHz in new",
    ];
    let o = hotpath(&["compare", &pb, &pn, "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["warnings"], serde_json::json!(warnings));
    for format in ["table", "md"] {
        let out = stdout(&hotpath(&["compare", &pb, &pn, "--format", format]));
        for w in warnings {
            assert!(out.contains(&format!("warning: {w}")), "{format}: {out}");
        }
    }
    // The same file against itself warns of nothing.
    let o = hotpath(&["compare", &pb, &pb, "--format", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["warnings"], serde_json::json!([]));
}

/// `planted_file` made at `created`, so that each counts as its own run in a history.
fn run_at(samples_s: Vec<f64>, created: &str) -> ResultsFile {
    let mut f = planted_file(samples_s);
    f.created = created.to_string();
    f
}

/// A history of three runs of the gemv at 3.58 ms × e^−d, 3.58 ms, 3.58 ms × e^+d with
/// d = ln(1 + band) / (22.327125 · √2 · 1.4826): log medians −d, 0, +d, MAD d (1.4826 d,
/// more than their standard deviation d), so the run-to-run band of three runs,
/// exp(t(2) · √2 · 1.4826 · d) − 1 with Student's t(2) at 0.999 = 22.327125, is `band`
/// exactly.
fn write_history(dir: &Path, band: f64) {
    let d = (1.0 + band).ln() / (22.327125 * std::f64::consts::SQRT_2 * 1.4826);
    for (i, x) in [-d, 0.0, d].iter().enumerate() {
        run_at(
            vec![3.58e-3 * x.exp(); 9],
            &format!("2026-11-0{}T02:30:00Z", i + 1),
        )
        .write_atomic(&dir.join(format!("run{i}.json")))
        .unwrap();
    }
}

#[test]
fn history_band_holds_back_a_drift_and_lets_a_larger_change_through() {
    let dir = tempfile::tempdir().unwrap();
    // New 12 % slower than base, ±1 % noise, 30 samples a side: a regression on its own.
    let base = run_at(samples(11, 30, 3.58e-3, 0.01), "2026-11-10T02:30:00Z");
    let new = run_at(
        samples(12, 30, 3.58e-3 * 1.12, 0.01),
        "2026-11-11T02:30:00Z",
    );
    let (pb, pn) = (dir.path().join("base.json"), dir.path().join("new.json"));
    base.write_atomic(&pb).unwrap();
    let (pb, pn_s) = (pb.to_str().unwrap(), pn.to_str().unwrap());
    let wide = dir.path().join("wide");
    let narrow = dir.path().join("narrow");
    std::fs::create_dir(&wide).unwrap();
    std::fs::create_dir(&narrow).unwrap();
    write_history(&wide, 0.20);
    write_history(&narrow, 0.03);
    // The new file sits in the history as nightly.sh keeps it: it is left out.
    new.write_atomic(&wide.join("new.json")).unwrap();
    std::fs::copy(wide.join("new.json"), &pn).unwrap();
    // A link to a 10× slower run outside would widen the band if it were followed.
    let outside = dir.path().join("outside.json");
    run_at(vec![35.8e-3; 9], "2026-11-05T02:30:00Z")
        .write_atomic(&outside)
        .unwrap();
    std::os::unix::fs::symlink(&outside, narrow.join("link.json")).unwrap();

    let o = hotpath(&["compare", pb, pn_s]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));

    let o = hotpath(&[
        "compare",
        pb,
        pn_s,
        "--history",
        wide.to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let row = &json["rows"][0];
    assert_eq!(row["verdict"], "noisy");
    assert!(
        (row["band"].as_f64().unwrap() - 0.20).abs() < 1e-12,
        "{row}"
    );
    assert_eq!(row["band_runs"], 3);
    assert_eq!(
        row["note"],
        "within the run-to-run band (±20.0 % over 3 runs)"
    );
    assert_eq!(json["history"]["runs"], 3);
    assert_eq!(json["history"]["new_excluded"], true);
    assert_eq!(
        json["verdict_uses"],
        serde_json::json!(["hl_ratio", "ci_low", "ci_high", "band"])
    );

    let o = hotpath(&["compare", pb, pn_s, "--history", narrow.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let text = stdout(&o);
    assert!(
        text.contains("run-to-run band") && text.contains("±3.0 % (3 runs)"),
        "{text}"
    );
    assert!(text.contains("REGRESSION"), "{text}");
}

#[test]
fn normalize_bandwidth_cancels_a_drift_of_the_memory_roof() {
    // The committed gemv is memory-bound (roofline bound "memory") and the file's measured
    // roof is 35.27 GB/s. New: every sample 15 % slower and the roof 15 % lower, as when the
    // memory system of the machine slows down. The efficiency ratio is 1.15 × (1/1.15) = 1.
    let dir = tempfile::tempdir().unwrap();
    let base_s = samples(21, 30, 3.58e-3, 0.01);
    let base = planted_file(base_s.clone());
    let mut new = planted_file(base_s.iter().map(|t| t * 1.15).collect());
    let roof = base.measured.mem_bytes_per_s.unwrap();
    new.measured.mem_bytes_per_s = Some(roof / 1.15);
    let (pb, pn) = (dir.path().join("base.json"), dir.path().join("new.json"));
    base.write_atomic(&pb).unwrap();
    new.write_atomic(&pn).unwrap();
    let (pb, pn) = (pb.to_str().unwrap(), pn.to_str().unwrap());
    let o = hotpath(&["compare", pb, pn, "--format", "json"]);
    assert_eq!(o.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(json["rows"][0]["compared_as"], "time");
    assert_eq!(json["normalize"], "none");
    let o = hotpath(&[
        "compare",
        pb,
        pn,
        "--normalize",
        "bandwidth",
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    let json: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let row = &json["rows"][0];
    assert_eq!(row["compared_as"], "efficiency");
    assert_eq!(row["verdict"], "unchanged");
    assert!(
        (row["hl_ratio"].as_f64().unwrap() - 1.0).abs() < 1e-9,
        "{row}"
    );
    assert!(
        (row["roof_ratio"].as_f64().unwrap() - 1.0 / 1.15).abs() < 1e-12,
        "{row}"
    );
    assert_eq!(json["normalize"], "bandwidth");
}

#[test]
fn bad_history_and_normalize_arguments_exit_2() {
    let good = "results/cpu-epyc-2core-quick.json";
    bad(
        &["compare", good, good, "--normalize", "dram"],
        "invalid value 'dram' for '--normalize <HOW>'",
    );
    bad(
        &["compare", good, good, "--history", "/nonexistent/history"],
        "--history /nonexistent/history cannot be read",
    );
    let dir = tempfile::tempdir().unwrap();
    bad(
        &[
            "compare",
            good,
            good,
            "--history",
            dir.path().to_str().unwrap(),
        ],
        "holds no results files",
    );
}
