//! End-to-end tests of the ROCm backend's "not found" paths. CI installs Debian's ROCm 5.2
//! (libamdhip64, hipRTC), so without a way to hide them these paths never run: the
//! `HOTPATH_*_LIBRARY` variables (crates/rocm/src/loader.rs) replace the library lists.

use std::process::{Command, Output};

fn hotpath(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hotpath"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("the hotpath binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const NO_HIP: (&str, &str) = ("HOTPATH_HIP_LIBRARY", "/nonexistent/libamdhip64.so");

#[test]
fn devices_without_a_hip_runtime_says_what_it_looked_for() {
    let o = hotpath(&["devices"], &[NO_HIP]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    let rocm: Vec<&str> = out.lines().filter(|l| l.starts_with("rocm:")).collect();
    assert_eq!(
        rocm,
        vec![
            "rocm: unavailable: HIP runtime not found (looked for /nonexistent/libamdhip64.so, from HOTPATH_HIP_LIBRARY)"
        ],
        "{out}"
    );
    // The other backends are still listed.
    assert!(out.contains("cpu: 1 device"), "{out}");

    let o = hotpath(&["devices", "--format", "json"], &[NO_HIP]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let rocm = v
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["backend"] == "rocm")
        .unwrap();
    assert_eq!(rocm["available"], false);
    assert_eq!(
        rocm["reason"],
        "HIP runtime not found (looked for /nonexistent/libamdhip64.so, from HOTPATH_HIP_LIBRARY)"
    );
}

#[test]
fn running_on_rocm_without_a_runtime_is_one_sentence_and_exit_2() {
    let o = hotpath(
        &[
            "run",
            "--backend",
            "rocm",
            "--op",
            "copy",
            "--shape",
            "elements=1K",
        ],
        &[NO_HIP],
    );
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines,
        vec![
            "error: backend rocm is unavailable: HIP runtime not found (looked for /nonexistent/libamdhip64.so, from HOTPATH_HIP_LIBRARY); run `hotpath devices` to see what is"
        ]
    );
}

#[test]
fn a_named_file_that_is_no_library_gets_the_loaders_reason() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("libamdhip64.so");
    std::fs::write(&fake, "not a shared object").unwrap();
    let path = fake.display().to_string();
    let o = hotpath(&["devices"], &[("HOTPATH_HIP_LIBRARY", &path)]);
    let out = text(&o.stdout);
    let line = out.lines().find(|l| l.starts_with("rocm:")).unwrap();
    assert!(
        line.starts_with(&format!(
            "rocm: unavailable: HIP runtime not found (looked for {path}, from HOTPATH_HIP_LIBRARY); {path}: "
        )),
        "{line}"
    );
}

#[test]
fn compiling_for_amd_without_hiprtc_says_what_it_looked_for() {
    let o = hotpath(
        &["kernels", "compile", "--target", "gfx90a"],
        &[("HOTPATH_HIPRTC_LIBRARY", "/nonexistent/libhiprtc.so")],
    );
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(
        lines,
        vec![
            "error: hipRTC not found (looked for /nonexistent/libhiprtc.so, from HOTPATH_HIPRTC_LIBRARY)"
        ]
    );
}
