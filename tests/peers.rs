//! scripts/peers/torch_peers.py writes files the CLI reads like ours: a peers file made from
//! given samples (no torch, no GPU) against a committed CPU run loads in `hotpath report`
//! beside that run, `hotpath compare` of two peers files flags a planted slowdown, and the
//! ours-against-peer table's ratios are the medians' quotients. Bad input is one sentence
//! and exit 2.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{hotpath, stderr};

const OURS: &str = "results/cpu-epyc-2core-quick.json";
const GEMV: &str = "gemv/m=1,n=14336,k=4096/bf16";
const DECODE: &str =
    "attn_decode/batch=1,context=4096,heads_q=32,heads_kv=8,head_dim=128,page_size=16/bf16";

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn peers(args: &[&str]) -> Output {
    Command::new("python3")
        .arg(repo("scripts/peers/torch_peers.py"))
        .args(args)
        .output()
        .expect("python3 runs")
}

/// torch_peers.py writing `out` from the samples in `given` against the results file `ours`,
/// with `extra` arguments after.
fn peers_from(ours: &Path, given: &Path, out: &Path, extra: &[&str]) -> Output {
    let (ours, given, out) = (s(ours), s(given), s(out));
    let mut args = vec!["--ours", &ours, "--samples", &given, "--out", &out];
    args.extend_from_slice(extra);
    peers(&args)
}

/// Ten samples around `median_s` (the middle two equal to it, so the median is exact).
fn samples(median_s: f64) -> Vec<f64> {
    [0.97, 0.98, 0.99, 0.995, 1.0, 1.0, 1.005, 1.01, 1.02, 1.03]
        .iter()
        .map(|f| f * median_s)
        .collect()
}

/// Writes a peers file at `scale` × the given medians; returns its path.
fn write_peers(dir: &Path, name: &str, scale: f64) -> PathBuf {
    let given = serde_json::json!({
        format!("{GEMV}/torch"): samples(0.0072 * scale),
        format!("{DECODE}/torch-sdpa"): samples(0.0146 * scale),
        "copy/elements=16777216/f32/torch": samples(0.0038 * scale),
    });
    let sample_file = dir.join(format!("{name}-samples.json"));
    std::fs::write(&sample_file, given.to_string()).unwrap();
    let out = dir.join(format!("{name}.json"));
    let table = s(&dir.join(format!("{name}-table.md")));
    let o = peers_from(&repo(OURS), &sample_file, &out, &["--table", &table]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    out
}

fn ours_median(id: &str) -> f64 {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo(OURS)).unwrap()).unwrap();
    v["benchmarks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == id)
        .unwrap()["time"]["median_s"]
        .as_f64()
        .unwrap()
}

#[test]
fn a_peers_file_loads_in_report_beside_our_run() {
    let dir = tempfile::tempdir().unwrap();
    let p = write_peers(dir.path(), "peers", 1.0);
    let out = dir.path().join("report");
    let o = hotpath(&["report", &s(&repo(OURS)), &s(&p), "--out", &s(&out)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    for impl_cell in ["| torch |", "| torch-sdpa |", "| hotpath |"] {
        assert!(md.contains(impl_cell), "{impl_cell} not in the report");
    }
}

#[test]
fn the_table_divides_the_peer_median_by_ours() {
    let dir = tempfile::tempdir().unwrap();
    write_peers(dir.path(), "peers", 1.0);
    let table = std::fs::read_to_string(dir.path().join("peers-table.md")).unwrap();
    for (key, peer_s) in [(GEMV, 0.0072), (DECODE, 0.0146)] {
        let ratio = peer_s / ours_median(&format!("{key}/hotpath"));
        let row = table
            .lines()
            .find(|l| l.starts_with(&format!("| {key} |")))
            .unwrap_or_else(|| panic!("no row for {key} in {table}"));
        assert!(
            row.contains(&format!("| {ratio:.2} |")),
            "{row}: ratio {ratio:.2}"
        );
    }
}

#[test]
fn compare_flags_a_slower_peer() {
    let dir = tempfile::tempdir().unwrap();
    let base = write_peers(dir.path(), "base", 1.0);
    let slow = write_peers(dir.path(), "slow", 1.3);
    let same = hotpath(&["compare", &s(&base), &s(&base)]);
    assert_eq!(same.status.code(), Some(0), "{}", stderr(&same));
    let o = hotpath(&["compare", &s(&base), &s(&slow)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains(&format!("{GEMV}/torch")), "{text}");
}

/// The stderr of a refused run, checked to be one line with exit code 2.
fn one_sentence_exit_2(o: &Output) -> String {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    err
}

#[test]
fn bad_input_is_one_sentence_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let given = dir.path().join("s.json");
    std::fs::write(&given, r#"{"gemv/m=3,n=3,k=3/bf16/torch": [0.001]}"#).unwrap();
    let out = dir.path().join("p.json");
    let o = peers_from(&repo(OURS), &given, &out, &[]);
    let err = one_sentence_exit_2(&o);
    assert!(err.contains("gemv/m=3,n=3,k=3/bf16/torch"), "{err}");
    assert!(!out.exists());
    // Not a results file as --ours.
    let o = peers_from(&given, &given, &out, &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("not a hotpath results file"));
    // Argument errors too: a value that is not a number, a missing argument.
    let o = peers_from(&repo(OURS), &given, &out, &["--min-samples", "many"]);
    let err = one_sentence_exit_2(&o);
    assert!(
        err.contains("--min-samples") && err.contains("'many'"),
        "{err}"
    );
    let o = peers(&["--ours", &s(&repo(OURS))]);
    let err = one_sentence_exit_2(&o);
    assert!(err.contains("--out"), "{err}");
    assert!(!out.exists());
}
