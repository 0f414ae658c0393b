//! End-to-end tests of `hotpath validate` and `hotpath fleet` on the CPU backend: the
//! report's contract, exit codes, injected faults (wrong results, a crash, a slow kernel),
//! a threshold from a site's own hardware file, and the fleet's outlier verdicts.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

mod common;
use common::as_node;

/// Runs hotpath with `args`, its device lock in `dir` (so parallel tests do not see each
/// other as a concurrent run) and `fault` as HOTPATH_FAULT.
fn hotpath_in(dir: &Path, args: &[&str], fault: Option<&str>) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hotpath"));
    c.args(args).env("HOTPATH_LOCK_DIR", dir.join("locks"));
    match fault {
        Some(f) => c.env("HOTPATH_FAULT", f),
        None => c.env_remove("HOTPATH_FAULT"),
    };
    c.output().expect("the hotpath binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `validate --backend cpu --format json --out DIR/NAME`, returning the output and the
/// report read back from the file.
fn validate(dir: &Path, name: &str, extra: &[&str], fault: Option<&str>) -> (Output, Value) {
    let out = dir.join(name);
    let out_s = out.to_string_lossy().into_owned();
    let mut args = vec!["validate", "--backend", "cpu", "--format", "json", "--out"];
    args.push(&out_s);
    args.extend_from_slice(extra);
    let o = hotpath_in(dir, &args, fault);
    let file = std::fs::read_to_string(&out)
        .unwrap_or_else(|e| panic!("no report ({e}); stderr: {}", text(&o.stderr)));
    (o, serde_json::from_str(&file).expect("the report is JSON"))
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name} in {report}"))
}

fn checks_starting<'a>(report: &'a Value, prefix: &str) -> Vec<&'a Value> {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["name"].as_str().unwrap().starts_with(prefix))
        .collect()
}

#[test]
fn quick_on_the_cpu_reports_every_contract_field_and_judges_copy_by_its_own_ceilings() {
    let dir = tempfile::tempdir().unwrap();
    let (o, r) = validate(dir.path(), "v.json", &[], None);
    let err = text(&o.stderr);
    // Exit 0 on PASS or WARN, 1 on FAIL. (perf/copy is judged against this run's own
    // ceilings, recomputed below; other tests load the CPU meanwhile, so it may WARN or FAIL.)
    let want = if r["status"] == "FAIL" { 1 } else { 0 };
    assert_eq!(o.status.code(), Some(want), "{err}");
    // stdout is the same report as the file.
    let stdout: Value = serde_json::from_slice(&o.stdout).expect("stdout is the JSON report");
    assert_eq!(stdout["checks"], r["checks"]);
    assert_eq!(r["schema"], "hotpath.validate/1");
    assert_eq!(r["level"], "quick");
    assert_eq!(r["config"]["cache"], "cold");
    // Only perf/copy depends on how loaded the machine is; nothing else may FAIL.
    for c in r["checks"].as_array().unwrap() {
        if c["name"] != "perf/copy" {
            assert_ne!(c["status"], "FAIL", "{c}");
        }
    }
    let wall = r["wall_s"].as_f64().unwrap();
    assert!(wall > 0.0 && wall < 120.0, "{wall}");
    for c in r["checks"].as_array().unwrap() {
        for field in ["name", "status", "value", "threshold", "unit", "detail"] {
            assert!(c.get(field).is_some(), "{field} missing in {c}");
        }
        assert!(!c["detail"].as_str().unwrap().is_empty(), "{c}");
    }
    assert_eq!(check(&r, "device/exclusive")["status"], "PASS");
    // The verdict is the worst check, SKIPs aside.
    let rank = |s: &str| {
        ["SKIP", "PASS", "WARN", "FAIL"]
            .iter()
            .position(|x| *x == s)
    };
    let worst = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| rank(c["status"].as_str().unwrap()))
        .fold(1, usize::max);
    assert_eq!(rank(r["status"].as_str().unwrap()), Some(worst), "{r}");
    assert_eq!(r["devices"][0]["status"], r["status"]);
    // Every kernel's correctness: at least gemm, gemv, both attentions, kv write/read and
    // the streaming kernels, all passing.
    let correctness = checks_starting(&r, "correctness/");
    for op in [
        "gemm",
        "gemv",
        "attn_prefill",
        "attn_decode",
        "kv_write",
        "kv_read",
        "copy",
        "triad",
    ] {
        assert!(
            correctness.iter().any(|c| c["name"]
                .as_str()
                .unwrap()
                .starts_with(&format!("correctness/{op}/"))),
            "{op}"
        );
    }
    assert!(correctness.iter().all(|c| c["status"] == "PASS"), "{r}");
    // GPU-only health does not apply on a CPU.
    assert_eq!(check(&r, "health/pcie_width")["status"], "SKIP");
    assert_eq!(
        check(&r, "health/ecc_uncorrected_volatile")["status"],
        "SKIP"
    );
    // perf/copy against the best of read/write/triad of this run, recomputed here from the
    // recorded benchmarks: rate = bytes / the fastest sample's time (ceilings report their
    // best sample, `measurement.estimator` "best"); FAIL line 0.60, WARN line 0.80 of it
    // (hardware/cpu-generic.toml).
    let benches = r["devices"][0]["benchmarks"].as_array().unwrap();
    let rate = |op: &str| {
        let b = benches.iter().find(|b| b["op"] == op).unwrap();
        assert_eq!(b["measurement"]["estimator"], "best", "{b}");
        b["bytes"].as_f64().unwrap() / b["time"]["min_s"].as_f64().unwrap()
    };
    let reference = ["read", "write", "triad"]
        .into_iter()
        .map(rate)
        .fold(0.0, f64::max);
    let copy = check(&r, "perf/copy");
    assert_eq!(copy["unit"], "B/s");
    let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs();
    assert!(close(copy["threshold"].as_f64().unwrap(), 0.60 * reference));
    assert!(close(
        copy["warn_threshold"].as_f64().unwrap(),
        0.80 * reference
    ));
    assert!(close(copy["value"].as_f64().unwrap(), rate("copy")));
    let expected = if rate("copy") < 0.6 * reference {
        "FAIL"
    } else if rate("copy") < 0.8 * reference {
        "WARN"
    } else {
        "PASS"
    };
    assert_eq!(copy["status"], expected);
    // The table format says the same, ending with the verdict.
    let t = hotpath_in(
        dir.path(),
        &["validate", "--backend", "cpu", "--device", "0"],
        None,
    );
    let table = text(&t.stdout);
    assert_ne!(t.status.code(), Some(2), "{}", text(&t.stderr));
    assert!(table.contains("perf/copy"), "{table}");
    assert!(
        table.lines().last().unwrap().starts_with("verdict: "),
        "{table}"
    );
}

#[test]
fn wrong_results_and_a_crash_fail_their_checks_and_the_rest_still_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (o, r) = validate(
        dir.path(),
        "v.json",
        &[],
        Some("wrong:gemv/m=4,crash:attn_decode/batch=2"),
    );
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert_eq!(r["status"], "FAIL");
    let gemv = check(&r, "correctness/gemv/m=4,n=512,k=512/bf16/hotpath");
    assert_eq!(gemv["status"], "FAIL");
    assert!(gemv["detail"]
        .as_str()
        .unwrap()
        .starts_with("WRONG RESULTS"));
    let attn = check(
        &r,
        "correctness/attn_decode/batch=2,context=512,heads_q=32,heads_kv=8,head_dim=128,page_size=16/bf16/hotpath",
    );
    assert_eq!(attn["status"], "FAIL");
    assert!(
        attn["detail"].as_str().unwrap().contains("crashed"),
        "{attn}"
    );
    // Kernels after the crash ran in a fresh worker and passed.
    assert_eq!(
        check(
            &r,
            "correctness/kv_read/tokens=256,heads_kv=8,head_dim=128,page_size=16/bf16/hotpath"
        )["status"],
        "PASS"
    );
    assert_eq!(
        r["config"]["injected_faults"],
        "wrong:gemv/m=4,crash:attn_decode/batch=2"
    );
    // Stderr explained each FAIL as it happened.
    assert!(err.contains("FAIL correctness/gemv/"), "{err}");
}

/// A site's own hardware file for this CPU whose copy reference (1 PB/s) no CPU reaches.
fn impossible_copy_hardware(dir: &Path) -> PathBuf {
    let path = dir.join("strict-cpu.toml");
    std::fs::write(
        &path,
        r#"id = "strict-cpu"
name = "A CPU held to an impossible copy bandwidth"
vendor = "cpu"
kind = "cpu"
match = []

[validate.copy]
reference = 1e15
warn_below = 0.80
fail_below = 0.70
source = "test: 1 PB/s, far above any CPU"
"#,
    )
    .unwrap();
    path
}

#[test]
fn bandwidth_under_a_site_threshold_fails_with_the_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let hw = impossible_copy_hardware(dir.path());
    let hw_s = hw.to_string_lossy().into_owned();
    let (o, r) = validate(dir.path(), "v.json", &["--hardware", &hw_s], None);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o.stderr));
    assert_eq!(r["devices"][0]["hardware"], "strict-cpu");
    let copy = check(&r, "perf/copy");
    assert_eq!(copy["status"], "FAIL");
    // FAIL line: 0.70 × 1e15 B/s.
    assert_eq!(copy["threshold"].as_f64().unwrap(), 7e14);
    assert_eq!(copy["warn_threshold"].as_f64().unwrap(), 8e14);
    let detail = copy["detail"].as_str().unwrap();
    assert!(
        detail.contains("of 1000 TB/s (below the FAIL line 70 %)"),
        "{detail}"
    );
    assert!(detail.contains("test: 1 PB/s"), "{detail}");
}

#[test]
fn bad_input_is_one_sentence_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_string_lossy().into_owned();
    let missing = format!("{d}/none.toml");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--sustain", "0"], "--sustain 0"),
        (vec!["--sustain", "nan"], "--sustain NaN"),
        (vec!["--device", "7"], "--device 7"),
        (vec!["--hardware", "h999"], "unknown hardware id 'h999'"),
        (vec!["--hardware", &missing], "cannot be read"),
        (vec!["--out", &d], "is a directory"),
        (vec!["--level", "forever"], "forever"),
        (vec!["--watchdog", "-1"], "--watchdog -1"),
        (vec!["--settle", "-1"], "--settle -1"),
    ];
    for (extra, needle) in cases {
        let mut args = vec!["validate", "--backend", "cpu"];
        args.extend(extra.iter());
        let o = hotpath_in(dir.path(), &args, None);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: '{needle}' not in {err}");
        assert!(o.stdout.is_empty(), "{args:?}");
    }
    let o = hotpath_in(
        dir.path(),
        &["validate", "--backend", "cpu"],
        Some("explode:copy"),
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("'explode'"));
}

#[test]
fn fleet_flags_the_slow_node_and_reads_directories() {
    let dir = tempfile::tempdir().unwrap();
    let (o, r) = validate(dir.path(), "seed.json", &["--device", "0"], None);
    assert_ne!(o.status.code(), Some(2), "{}", text(&o.stderr));
    let nodes = dir.path().join("nodes");
    std::fs::create_dir(&nodes).unwrap();
    // Five nodes within ±1 %: nothing flagged. Then a sixth at 80 %: slow.
    for (host, f) in [
        ("n1", 1.0),
        ("n2", 1.01),
        ("n3", 0.99),
        ("n4", 1.005),
        ("n5", 0.995),
    ] {
        as_node(&r, host, f, &nodes);
    }
    let nodes_s = nodes.to_string_lossy().into_owned();
    let ok = hotpath_in(dir.path(), &["fleet", &nodes_s, "--format", "json"], None);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    let v: Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert_eq!(v["schema"], "hotpath.fleet/1");
    assert_eq!(v["slow_nodes"].as_array().unwrap().len(), 0, "{v}");
    as_node(&r, "n6", 0.80, &nodes);
    let out = dir.path().join("fleet.json");
    let out_s = out.to_string_lossy().into_owned();
    let bad = hotpath_in(dir.path(), &["fleet", &nodes_s, "--out", &out_s], None);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad.stderr));
    let table = text(&bad.stdout);
    assert!(table.contains("slow nodes: n6 cpu:0"), "{table}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(v["slow_nodes"], serde_json::json!(["n6 cpu:0"]));
    let outlier = &v["groups"][0]["outliers"][0];
    assert_eq!(outlier["metric"], "perf/copy");
    // By hand over the six scale factors 0.80 0.99 0.995 1.0 1.005 1.01: median 0.9975;
    // |deviations| sorted 0.0025 0.0025 0.0075 0.0075 0.0125 0.1975 → MAD 0.0075; spread
    // max(1.4826 × 0.0075, 1 % × 0.9975) = 0.0111195; delta (0.80 − 0.9975) / 0.9975 =
    // −19.799 %; z = −0.1975 / 0.0111195 = −17.762.
    let delta = 100.0 * (0.80 - 0.9975) / 0.9975;
    let z = -0.1975 / (1.4826 * 0.0075);
    assert!(
        (outlier["delta_pct"].as_f64().unwrap() - delta).abs() < 1e-6,
        "{outlier}"
    );
    assert!(
        (outlier["z"].as_f64().unwrap() - z).abs() < 1e-6,
        "{outlier}"
    );
    // The report written into the directory it reads is left out on the next run (with a
    // note), and so is any other fleet report there: the same six nodes, the same verdict.
    let inside = nodes.join("fleet.json");
    let inside_s = inside.to_string_lossy().into_owned();
    for _ in 0..2 {
        let again = hotpath_in(dir.path(), &["fleet", &nodes_s, "--out", &inside_s], None);
        assert_eq!(again.status.code(), Some(1), "{}", text(&again.stderr));
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&inside).unwrap()).unwrap();
        assert_eq!(v["groups"][0]["members"].as_array().unwrap().len(), 6);
    }
    std::fs::copy(&inside, nodes.join("older-fleet.json")).unwrap();
    let again = hotpath_in(dir.path(), &["fleet", &nodes_s], None);
    assert!(text(&again.stderr).contains("older-fleet.json is a fleet report, not a node"));
    assert!(
        text(&again.stdout).contains("6 node(s)"),
        "{}",
        text(&again.stdout)
    );
    // --out naming one of the inputs is refused, and that input is not touched.
    let n1 = nodes.join("n1.json");
    let before = std::fs::read(&n1).unwrap();
    let n1_s = n1.to_string_lossy().into_owned();
    let n2_s = nodes.join("n2.json").to_string_lossy().into_owned();
    let n3_s = nodes.join("n3.json").to_string_lossy().into_owned();
    // Spelled another way, so only the canonical paths match.
    let n1_other = format!("{}/../nodes/./n1.json", nodes_s);
    let same = hotpath_in(
        dir.path(),
        &["fleet", &n1_s, &n2_s, &n3_s, "--out", &n1_other],
        None,
    );
    let err = text(&same.stderr);
    assert_eq!(same.status.code(), Some(2), "{err}");
    assert!(
        err.contains("is also an input of this fleet report"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert_eq!(std::fs::read(&n1).unwrap(), before);
    // Bad input: a file that is not a hotpath output, a missing path, an empty directory.
    let junk = dir.path().join("junk.json");
    std::fs::write(&junk, "{\"hello\": 1}").unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    for (arg, needle) in [
        (
            junk.to_string_lossy().into_owned(),
            "neither a validate report",
        ),
        (format!("{}/absent.json", nodes_s), "does not exist"),
        (empty.to_string_lossy().into_owned(), "holds no *.json"),
    ] {
        let o = hotpath_in(dir.path(), &["fleet", &arg], None);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{arg}: {err}");
        assert!(err.contains(needle), "{arg}: {err}");
    }
}

#[test]
fn long_runs_sustained_load_and_checks_the_kernel_again_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let (o, r) = validate(
        dir.path(),
        "v.json",
        &["--level", "long", "--sustain", "1.5", "--device", "0"],
        None,
    );
    assert_ne!(o.status.code(), Some(2), "{}", text(&o.stderr));
    assert_eq!(r["level"], "long");
    assert_eq!(r["config"]["sustain_s"], 1.5);
    for key in ["peak_bf16", "gemm_bf16", "copy"] {
        let first = if key == "peak_bf16" {
            "sustained_over_burst"
        } else {
            "stability"
        };
        for what in [first, "clocks", "throttle", "temperature", "ecc"] {
            check(&r, &format!("sustained/{key}/{what}"));
        }
        assert_eq!(
            check(&r, &format!("sustained/{key}/correctness_after"))["status"],
            "PASS"
        );
    }
    // The sustained copy ran for its 1.5 s as back-to-back batches of at least 0.2 s.
    let copy = r["devices"][0]["benchmarks"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|b| b["op"] == "copy")
        .unwrap();
    let wall = copy["measurement"]["wall_s"].as_f64().unwrap();
    assert!(wall >= 1.5, "{wall}");
    // The bf16 peak (f32 on a CPU) is held first; 1.5 s is too short to tell burst from
    // sustained, which the check says (WARN) rather than judging.
    let peak = check(&r, "sustained/peak_bf16/sustained_over_burst");
    assert_eq!(peak["status"], "WARN", "{peak}");
    assert!(
        peak["detail"].as_str().unwrap().contains("too short"),
        "{peak}"
    );
    assert!(
        r["devices"][0]["sustained_traces"]
            .as_array()
            .unwrap()
            .len()
            == 3
    );
}
