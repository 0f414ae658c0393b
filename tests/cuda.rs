//! End-to-end tests of the CUDA backend's "not found" paths, which must hold on a GPU node
//! too: `HOTPATH_CUDA_LIBRARY` (crates/cuda/src/loader.rs) replaces the driver's names, so a
//! driver that is installed can be hidden.

use std::process::{Command, Output};

fn devices(cuda_library: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hotpath"))
        .arg("devices")
        .env("HOTPATH_CUDA_LIBRARY", cuda_library)
        .output()
        .expect("the hotpath binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The `cuda:` line of `hotpath devices`.
fn cuda_line(o: &Output) -> String {
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let out = text(&o.stdout);
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("cuda:")).collect();
    assert_eq!(lines.len(), 1, "{out}");
    // The other backends are still listed.
    assert!(out.contains("cpu: 1 device"), "{out}");
    lines[0].to_string()
}

#[test]
fn devices_with_the_driver_hidden_says_what_it_looked_for() {
    let line = cuda_line(&devices("/nonexistent/libcuda.so"));
    assert_eq!(
        line,
        "cuda: unavailable: CUDA driver not found (looked for /nonexistent/libcuda.so, from HOTPATH_CUDA_LIBRARY)"
    );
}

#[test]
fn a_named_file_that_is_no_library_gets_the_loaders_reason() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("libcuda.so.1");
    std::fs::write(&fake, "not a shared object\n").unwrap();
    let path = fake.display().to_string();
    let line = cuda_line(&devices(&path));
    let head = format!(
        "cuda: unavailable: CUDA driver not found (looked for {path}, from HOTPATH_CUDA_LIBRARY); {path}: "
    );
    assert!(line.starts_with(&head), "{line}");
    // The loader's own words follow: glibc says why the file is no ELF object.
    let reason = &line[head.len()..];
    assert!(
        reason.contains("invalid ELF header") || reason.contains("file too short"),
        "{line}"
    );
}

#[test]
fn an_empty_variable_means_the_defaults() {
    let line = cuda_line(&devices(""));
    assert!(
        !line.contains("HOTPATH_CUDA_LIBRARY"),
        "an empty variable names nothing: {line}"
    );
}
