//! Reliability end to end on the CPU backend: injected crashes, hangs and wrong results
//! fail only their own benchmark; a device error that poisons the device retires its worker
//! (a refusal does not); a killed run leaves valid JSON with everything finished before the
//! kill; SIGTERM stops cleanly with exit 130. Faults come from `HOTPATH_FAULT`
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
    // The watchdog covers a benchmark's whole stay in its worker: filling and first touching
    // its cold-cache sets (about 3 s for a 16M-element stream on the 2-core VM, over 8 s with
    // the other tests of this file beside it) and measuring.
    let o = ceilings_run(&out, &["--watchdog", "20"])
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
    assert!(why.starts_with("hung:") && why.contains("20 s"), "{why}");
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
    // Run A holds the device; its last benchmark hangs until a 20 s watchdog, so it is
    // certainly still measuring when run B starts after A's first result. B is told at
    // once (it cannot take the lock), A after its next benchmark (B left a note).
    let dir = tempfile::tempdir().unwrap();
    let (a_out, b_out) = (dir.path().join("a.json"), dir.path().join("b.json"));
    let a = ceilings_run(&a_out, &["--watchdog", "20"])
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

/// Worker processes (`hotpath __worker`) of the runs marked `marker`, watched every 5 ms
/// from a thread while a run goes on.
struct WorkerWatch {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    scans: std::thread::JoinHandle<Vec<Vec<(u32, char)>>>,
}

/// The `/proc` state letter of `pid` (`R`, `S`, `Z` for a zombie), if it exists.
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

/// Starts watching: each scan lists the marked workers found, and also every worker found
/// by an earlier scan that still has a `/proc` entry (a zombie's environment is unreadable,
/// so only its pid finds it), each with its state.
fn watch_workers(marker: &str) -> WorkerWatch {
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (flag, marker) = (std::sync::Arc::clone(&stop), marker.to_string());
    let scans = std::thread::spawn(move || {
        let mut known: Vec<u32> = Vec::new();
        let mut scans = Vec::new();
        while !flag.load(std::sync::atomic::Ordering::SeqCst) {
            for pid in processes_with(&marker) {
                let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let pid: u32 = pid.parse().unwrap();
                if cmd.split(|&b| b == 0).any(|a| a == b"__worker") && !known.contains(&pid) {
                    known.push(pid);
                }
            }
            let scan: Vec<(u32, char)> = known
                .iter()
                .filter_map(|&p| proc_state(p).map(|s| (p, s)))
                .collect();
            scans.push(scan);
            std::thread::sleep(Duration::from_millis(5));
        }
        scans
    });
    WorkerWatch { stop, scans }
}

impl WorkerWatch {
    /// Stops watching; returns the distinct worker pids in the order they appeared, after
    /// checking that no worker outlived the start of the next: once a scan has seen a
    /// worker, no later scan may see the one before it, running or as a zombie.
    fn finish(self) -> Vec<u32> {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let scans = self.scans.join().unwrap();
        let mut order: Vec<u32> = Vec::new();
        for (i, scan) in scans.iter().enumerate() {
            for &(pid, _) in scan {
                if !order.contains(&pid) {
                    order.push(pid);
                    // Every earlier worker must be gone from every later scan.
                    for later in &scans[i + 1..] {
                        for &(p, state) in later {
                            assert!(
                                !order[..order.len() - 1].contains(&p),
                                "worker {p} still present (state {state}) after worker {pid} started: not reaped"
                            );
                        }
                    }
                }
            }
        }
        for &pid in &order {
            assert_eq!(proc_state(pid), None, "worker {pid} outlived its run");
        }
        order
    }
}

/// A ceilings run with `HOTPATH_FAULT=fault`, its worker processes watched: the exit code,
/// stderr, the results file and the workers seen (`tag` names this test's processes).
fn faulted_run(fault: &str, tag: &str) -> (Option<i32>, String, serde_json::Value, Vec<u32>) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let marker = format!("{tag}-{}", std::process::id());
    let watch = watch_workers(&marker);
    let o = ceilings_run(&out, &[])
        .env("HOTPATH_FAULT", fault)
        .env("HOTPATH_TEST_MARKER", &marker)
        .output()
        .unwrap();
    let workers = watch.finish();
    assert!(processes_with(&marker).is_empty());
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    (o.status.code(), err, results(&out), workers)
}

#[test]
fn a_device_error_retires_the_worker_and_the_next_benchmarks_run_in_a_fresh_one() {
    // write (the 3rd of copy, read, write, triad, peak_mma) fails with an injected device
    // error that poisons the device: every later call on it fails. Triad and peak_mma
    // therefore pass only if a fresh worker (a freshly opened device) runs them.
    let (code, err, f, workers) = faulted_run("poison:write/", "poison");
    // A benchmark that could not run: exit 2 (README, "Exit codes").
    assert_eq!(code, Some(2), "{err}");
    let all = f["benchmarks"].as_array().unwrap();
    let ops: Vec<&str> = all.iter().map(|b| b["op"].as_str().unwrap()).collect();
    assert_eq!(ops, ["copy", "read", "write", "triad", "peak_mma"]);
    let write = by_op(&f, "write");
    assert_eq!(write["status"], "error");
    let why = write["error"].as_str().unwrap();
    assert!(
        why.starts_with("HOTPATH_FAULT: injected device error in write/elements=16777216/f32/hotpath: an illegal memory access")
            && why.ends_with("the worker was replaced, since a device error can leave a GPU context unusable for the rest of its process (CUDA errors such as an illegal address are sticky), and a fresh worker runs the next benchmark"),
        "{why}"
    );
    assert!(err.contains(why), "the error is on stderr too: {err}");
    for op in ["copy", "read", "triad", "peak_mma"] {
        let b = by_op(&f, op);
        assert_eq!(b["status"], "ok", "{op}: {b}");
        assert_eq!(b["correctness"]["pass"], true);
        assert!(b["time"]["median_s"].as_f64().unwrap() > 0.0);
    }
    // One worker for copy, read and write; a second for triad and peak_mma.
    assert_eq!(workers.len(), 2, "{workers:?}");
}

#[test]
fn an_unsupported_refusal_keeps_the_worker() {
    // read is refused in prepare (Unsupported, as a launch plan refuses a shape): its
    // benchmark fails, and the same worker runs everything, before and after it.
    let (code, err, f, workers) = faulted_run("refuse:read/", "refuse");
    assert_eq!(code, Some(2), "{err}");
    let read = by_op(&f, "read");
    assert_eq!(read["status"], "error");
    assert_eq!(
        read["error"],
        "HOTPATH_FAULT: read/elements=16777216/f32/hotpath refused on purpose, as a launch plan refuses a shape the device cannot run"
    );
    for op in ["copy", "write", "triad", "peak_mma"] {
        let b = by_op(&f, op);
        assert_eq!(b["status"], "ok", "{op}: {b}");
        assert_eq!(b["correctness"]["pass"], true);
    }
    assert_eq!(
        workers.len(),
        1,
        "one worker for the whole run: {workers:?}"
    );
}

#[test]
fn in_process_a_device_error_ends_the_devices_run_and_says_so() {
    // No worker to replace: the poisoned device would fail every later benchmark with its
    // sticky error, so they are recorded as not run, naming the benchmark that failed.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let o = ceilings_run(&out, &["--isolation", "none"])
        .env("HOTPATH_FAULT", "poison:read/")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let f = results(&out);
    assert_eq!(f["benchmarks"].as_array().unwrap().len(), 5, "{f}");
    assert_eq!(by_op(&f, "copy")["status"], "ok");
    let why = by_op(&f, "read")["error"].as_str().unwrap();
    assert!(
        why.starts_with("HOTPATH_FAULT: injected device error in read/")
            && why.ends_with("; the rest of this device's benchmarks are not run, since a device error can leave a GPU context unusable until the process ends (--isolation process replaces the worker instead)"),
        "{why}"
    );
    for op in ["write", "triad", "peak_mma"] {
        let b = by_op(&f, op);
        assert_eq!(b["status"], "error", "{op}: {b}");
        let why = b["error"].as_str().unwrap();
        assert!(
            why.starts_with("not run: read/elements=16777216/f32/hotpath failed with a device error earlier in this process"),
            "{op}: {why}"
        );
        assert!(b["time"].is_null());
    }
}
