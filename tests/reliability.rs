//! Reliability end to end on the CPU backend: injected crashes, hangs and wrong results
//! fail only their own benchmark; a killed run leaves valid JSON with everything finished
//! before the kill; SIGTERM stops cleanly with exit 130. Faults come from `HOTPATH_FAULT`
//! (crates/core/src/fault.rs).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const FAST: [&str; 8] = [
    "--min-time",
    "0.02",
    "--time-limit",
    "1",
    "--warmup",
    "0",
    "--min-samples",
    "3",
];

fn ceilings_run(out: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hotpath"));
    c.args(["run", "--backend", "cpu", "--suite", "ceilings", "--out"])
        .arg(out)
        .args(FAST)
        .args(extra)
        // A lock directory of this test's own, so parallel tests do not warn of each other.
        .env("HOTPATH_LOCK_DIR", out.parent().unwrap());
    c
}

fn results(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn by_op<'a>(file: &'a serde_json::Value, op: &str) -> &'a serde_json::Value {
    file["benchmarks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["op"] == op)
        .unwrap_or_else(|| panic!("no {op} result"))
}

#[test]
fn crash_hang_and_wrong_result_fail_only_their_benchmark() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let o = ceilings_run(&out, &["--watchdog", "3"])
        .env("HOTPATH_FAULT", "crash:read/,hang:triad/,wrong:write/")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    // Errors (a crash, a hang) make the exit code 2; the run still completes.
    assert_eq!(o.status.code(), Some(2), "{err}");
    let f = results(&out);
    assert_eq!(f["benchmarks"].as_array().unwrap().len(), 5, "{f}");
    let read = by_op(&f, "read");
    assert_eq!(read["status"], "error");
    let why = read["error"].as_str().unwrap();
    assert!(
        why.starts_with("crashed:") && why.contains("SIGABRT"),
        "{why}"
    );
    let triad = by_op(&f, "triad");
    assert_eq!(triad["status"], "error");
    let why = triad["error"].as_str().unwrap();
    assert!(why.starts_with("hung:") && why.contains("3 s"), "{why}");
    let write = by_op(&f, "write");
    assert_eq!(write["status"], "failed");
    assert_eq!(write["correctness"]["pass"], false);
    // The others ran in fresh workers and are intact, checked and timed.
    for op in ["copy", "peak_mma"] {
        let b = by_op(&f, op);
        assert_eq!(b["status"], "ok", "{op}: {b}");
        assert_eq!(b["correctness"]["pass"], true);
        assert!(b["time"]["median_s"].as_f64().unwrap() > 0.0);
    }
}

/// Starts a run and waits until its results file holds at least `n` benchmarks.
// The child is handed to the caller, which waits for it (clippy cannot see through the return).
#[allow(clippy::zombie_processes)]
fn start_and_wait(out: &Path, n: usize, marker: &str) -> Child {
    let child = ceilings_run(out, &[])
        .env("HOTPATH_TEST_MARKER", marker)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let done = std::fs::read_to_string(out)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .map_or(0, |v| v["benchmarks"].as_array().map_or(0, Vec::len));
        if done >= n {
            return child;
        }
        assert!(Instant::now() < deadline, "the run never wrote {n} results");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Processes whose environment holds `marker` (this test's runs and their workers).
fn processes_with(marker: &str) -> Vec<String> {
    let needle = format!("HOTPATH_TEST_MARKER={marker}");
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .filter(|e| {
            std::fs::read(e.path().join("environ"))
                .map(|env| env.split(|&b| b == 0).any(|kv| kv == needle.as_bytes()))
                .unwrap_or(false)
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn killed_run_keeps_valid_json_and_leaves_no_worker() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let marker = format!("kill-{}", std::process::id());
    let mut child = start_and_wait(&out, 2, &marker);
    child.kill().unwrap(); // SIGKILL: no handler runs
    child.wait().unwrap();
    let f = results(&out);
    let done = f["benchmarks"].as_array().unwrap();
    assert!(done.len() >= 2, "{f}");
    assert!(done.iter().all(|b| b["status"] == "ok"), "{f}");
    // The worker dies with its run (PR_SET_PDEATHSIG): give the kernel a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !processes_with(&marker).is_empty() {
        assert!(
            Instant::now() < deadline,
            "orphaned worker(s) still running: {:?}",
            processes_with(&marker)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigterm_stops_cleanly_with_exit_130() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let marker = format!("term-{}", std::process::id());
    let child = start_and_wait(&out, 1, &marker);
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let o = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(130), "{err}");
    assert!(
        err.contains("interrupted:") && err.contains("benchmarks measured"),
        "{err}"
    );
    let f = results(&out);
    let n = f["benchmarks"].as_array().unwrap().len();
    assert!((1..=5).contains(&n), "{f}");
    assert!(processes_with(&marker).is_empty());
}

fn warnings(file: &serde_json::Value) -> Vec<String> {
    file["device"]["extra"]["warnings"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|w| w.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn two_runs_on_one_device_both_say_their_numbers_are_meaningless() {
    // Run A holds the device; its last benchmark hangs until a 4 s watchdog, so it is
    // certainly still measuring when run B starts after A's first result. B is told at
    // once (it cannot take the lock), A after its next benchmark (B left a note).
    let dir = tempfile::tempdir().unwrap();
    let (a_out, b_out) = (dir.path().join("a.json"), dir.path().join("b.json"));
    let a = ceilings_run(&a_out, &["--watchdog", "4"])
        .env("HOTPATH_FAULT", "hang:peak_mma")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while !a_out.exists() {
        assert!(Instant::now() < deadline, "run A never wrote a result");
        std::thread::sleep(Duration::from_millis(20));
    }
    let b = ceilings_run(&b_out, &[])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let b_pid = format!("pid {}", b.id());
    let b = b.wait_with_output().unwrap();
    let b_err = String::from_utf8_lossy(&b.stderr);
    assert_eq!(b.status.code(), Some(0), "{b_err}");
    let a_pid = format!("pid {}", a.id());
    let a = a.wait_with_output().unwrap();
    let a_err = String::from_utf8_lossy(&a.stderr);
    assert_eq!(a.status.code(), Some(2), "A's hang is an error: {a_err}");
    // B: on stderr and in its results, naming A's pid; A: once, naming B's, though A
    // started first.
    let told = |out: &Path, stderr: &str, other: &str, what: &str| {
        let w = warnings(&results(out));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].contains(&format!("another hotpath run ({other}")) && w[0].contains(what),
            "{w:?}"
        );
        assert!(stderr.contains(&w[0]), "{stderr}");
    };
    told(
        &b_out,
        &b_err,
        &a_pid,
        "is measuring cpu device 0 right now",
    );
    told(
        &a_out,
        &a_err,
        &b_pid,
        "started on cpu device 0 while this run measured",
    );
}

#[test]
fn bad_fault_spec_is_rejected_as_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let o = ceilings_run(&out, &["--isolation", "none"])
        .env("HOTPATH_FAULT", "explode:copy")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("'explode'")
            && err.contains("accepted: crash, hang, poison, refuse, wrong, slow, slowN"),
        "{err}"
    );
    assert!(!out.exists(), "nothing ran, so no results file");
}
