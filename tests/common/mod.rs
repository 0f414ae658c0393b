//! What every CLI test file needs: run the built binary, read its stderr, and assert the
//! bad-input contract (exit 2, one `error:` sentence naming the value, never a panic).

// Each test crate that includes this module uses a part of it.
#![allow(dead_code)]

use std::process::{Command, Output};

/// The library overrides that hide every GPU backend (crates/cuda/src/loader.rs,
/// crates/rocm/src/loader.rs): what the tests expect of a machine without a GPU holds on a
/// GPU node too.
pub const NO_GPU: [(&str, &str); 2] = [
    ("HOTPATH_CUDA_LIBRARY", "/nonexistent/libcuda.so"),
    ("HOTPATH_HIP_LIBRARY", "/nonexistent/libamdhip64.so"),
];

/// Runs the `hotpath` binary built for the tests with `args`, every GPU hidden ([`NO_GPU`])
/// and its device lock in a directory of its own (tests run in parallel must not warn of
/// each other, nor leave locks in the machine's `/run/hotpath`).
pub fn hotpath(args: &[&str]) -> Output {
    let locks = tempfile::tempdir().expect("a temporary lock directory");
    Command::new(env!("CARGO_BIN_EXE_hotpath"))
        .args(args)
        .envs(NO_GPU)
        .env("HOTPATH_LOCK_DIR", locks.path())
        .output()
        .expect("the hotpath binary runs")
}

/// The output's stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts exit code 2 and a single `error:` line on stderr that contains `needle`.
pub fn assert_bad_input(args: &[&str], needle: &str) {
    let o = hotpath(args);
    let err = stderr(&o);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{args:?} exit code; stderr: {err}"
    );
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{args:?}: one line expected, got: {err}");
    assert!(lines[0].starts_with("error: "), "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: '{needle}' not in: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
}

/// Writes the validate report `report` again as node `host` with its copy rate (the
/// `perf/copy` value) scaled by `f`, as `dir/<host>.json`, for fleet tests. The node passed
/// validate (its report's and every device's status PASS) whatever the seed run concluded:
/// a fleet test is about the values, and a CI machine busy with another job can fail the
/// seed's own copy check against its other streaming ceilings.
pub fn as_node(
    report: &serde_json::Value,
    host: &str,
    f: f64,
    dir: &std::path::Path,
) -> std::path::PathBuf {
    let mut r = report.clone();
    r["host"]["hostname"] = serde_json::Value::from(host);
    r["status"] = serde_json::Value::from("PASS");
    for d in r["devices"]
        .as_array_mut()
        .expect("a validate report has devices")
    {
        d["status"] = serde_json::Value::from("PASS");
    }
    for c in r["checks"]
        .as_array_mut()
        .expect("a validate report has checks")
    {
        if c["name"] == "perf/copy" {
            let v = c["value"].as_f64().expect("perf/copy has a value");
            c["value"] = serde_json::Value::from(v * f);
        }
    }
    let path = dir.join(format!("{host}.json"));
    std::fs::write(&path, r.to_string()).expect("the node's report is written");
    path
}
