//! `hotpath report --history DIR`: the trend page of a directory of runs.

use std::process::{Command, Output};

fn hotpath(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hotpath"))
        .args(args)
        .output()
        .expect("the hotpath binary runs")
}

#[test]
fn history_directory_becomes_a_trend_page() {
    let dir = tempfile::tempdir().unwrap();
    let hist = dir.path().join("history");
    std::fs::create_dir(&hist).unwrap();
    // Two runs on the same VM: two threads (21:11 UTC), then one thread (22:08 UTC).
    for (src, dst) in [
        ("results/cpu-epyc-1thread-quick.json", "b.json"),
        ("results/cpu-epyc-2core-quick.json", "a.json"),
    ] {
        std::fs::copy(src, hist.join(dst)).unwrap();
    }
    let out = dir.path().join("trend");
    let o = hotpath(&[
        "report",
        "--history",
        hist.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let md = std::fs::read_to_string(out.join("history.md")).unwrap();
    assert!(md.contains("2 runs."), "{md}");
    assert!(md.contains("## vm — cpu 0 AMD EPYC"), "{md}");
    // gemv m=1 hotpath: 3.58 ms first (two threads), 6.60 ms latest: +84.2 %, a regression.
    assert!(
        md.contains("| gemv/m=1,n=14336,k=4096/bf16/hotpath | 2 | 3.58 ms (2026-11-24 21:11) | 6.60 ms (2026-11-24 22:08) |"),
        "{md}"
    );
    assert!(md.contains("+84.2 % (regression) | +84.2 % |"), "{md}");
    let html = std::fs::read_to_string(out.join("history.html")).unwrap();
    // One chart per benchmark of the quick suite, no scripts.
    assert_eq!(html.matches("<svg").count(), 15);
    assert!(!html.contains("<script"));
    // No report.md without results files.
    assert!(!out.join("report.md").exists());
}

#[test]
fn report_needs_results_or_history() {
    let o = hotpath(&["report"]);
    assert_eq!(o.status.code(), Some(2));
    let dir = tempfile::tempdir().unwrap();
    let o = hotpath(&["report", "--history", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("holds no results files"), "{err}");
}
