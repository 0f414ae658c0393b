//! Finding NVRTC and the CUDA headers (`cuda_bf16.h`, `cuda_fp16.h`) without a toolkit
//! install: `CUDA_HOME`, then `/usr/local/cuda`, then the `nvidia-cuda-nvrtc` /
//! `nvidia-cuda-runtime` Python wheels (`site-packages/nvidia/cu13`).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use hotpath_core::{Error, Result};

/// Where the CUDA headers and NVRTC were found.
#[derive(Clone, Debug, PartialEq)]
pub struct Toolkit {
    /// Directory holding `cuda_bf16.h` and `cuda_fp16.h`, passed to NVRTC with `-I`.
    pub include_dir: PathBuf,
    /// NVRTC shared library found beside the headers, if any (else the loader's search path).
    pub nvrtc_lib: Option<PathBuf>,
}

const HEADERS: [&str; 2] = ["cuda_bf16.h", "cuda_fp16.h"];
const NVRTC_NAMES: [&str; 3] = ["libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so"];

/// Toolkit roots to try, in order: `CUDA_HOME`, `CUDA_PATH`, `/usr/local/cuda`, then every
/// `site-packages/nvidia/{cu13,cu12}` and `nvidia/cuda_runtime` under the usual Python prefixes.
pub fn candidate_roots() -> Vec<PathBuf> {
    let mut roots = Vec::new();
    for var in ["CUDA_HOME", "CUDA_PATH"] {
        if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            roots.push(PathBuf::from(v));
        }
    }
    roots.push(PathBuf::from("/usr/local/cuda"));
    let mut prefixes: Vec<PathBuf> = Vec::new();
    if let Some(v) = std::env::var_os("VIRTUAL_ENV") {
        prefixes.push(PathBuf::from(v).join("lib"));
    }
    if let Some(home) = std::env::var_os("HOME").map(PathBuf::from) {
        prefixes.push(home.join(".local/lib"));
        if let Ok(entries) = std::fs::read_dir(home.join(".pyenv/versions")) {
            prefixes.extend(entries.flatten().map(|e| e.path().join("lib")));
        }
    }
    prefixes.extend(
        [
            "/usr/local/lib",
            "/usr/lib",
            "/opt/conda/lib",
            "/opt/nvwheels",
        ]
        .iter()
        .map(PathBuf::from),
    );
    for prefix in prefixes {
        let mut site_dirs = vec![prefix.clone()];
        if let Ok(entries) = std::fs::read_dir(&prefix) {
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.starts_with("python3") {
                    site_dirs.push(e.path().join("site-packages"));
                    site_dirs.push(e.path().join("dist-packages"));
                }
            }
        }
        site_dirs.push(prefix.join("python3/dist-packages"));
        for site in site_dirs {
            for sub in [
                "nvidia/cu13",
                "nvidia/cu12",
                "nvidia/cuda_runtime",
                "nvidia/cuda_nvrtc",
            ] {
                roots.push(site.join(sub));
            }
        }
    }
    roots
}

/// Checks one root: headers in `include/`, NVRTC in `lib/` or `lib64/`.
pub fn probe(root: &Path) -> Option<Toolkit> {
    let include_dir = root.join("include");
    if !HEADERS.iter().all(|h| include_dir.join(h).is_file()) {
        return None;
    }
    let nvrtc_lib = ["lib", "lib64"]
        .iter()
        .flat_map(|d| NVRTC_NAMES.iter().map(move |n| root.join(d).join(n)))
        .find(|p| p.is_file())
        .or_else(|| {
            // The runtime wheel holds the headers, the nvrtc wheel the library, side by side.
            let sibling = root.parent()?.join("cuda_nvrtc/lib");
            NVRTC_NAMES
                .iter()
                .map(|n| sibling.join(n))
                .find(|p| p.is_file())
        });
    Some(Toolkit {
        include_dir,
        nvrtc_lib,
    })
}

/// The first usable toolkit, or an error that says where it looked and how to get one.
pub fn find() -> Result<Toolkit> {
    let roots = candidate_roots();
    if let Some(t) = roots.iter().find_map(|r| probe(r)) {
        return Ok(t);
    }
    Err(Error::NotAvailable(format!(
        "no CUDA headers (cuda_bf16.h, cuda_fp16.h) found in CUDA_HOME, /usr/local/cuda or a \
         Python site-packages/nvidia/cu13; install them with `pip install nvidia-cuda-runtime \
         nvidia-cuda-nvrtc` or point CUDA_HOME at a toolkit ({} places searched)",
        roots.len()
    )))
}

static NVRTC: OnceLock<std::result::Result<Option<libloading::Library>, String>> = OnceLock::new();

/// Makes NVRTC loadable: the library `HOTPATH_NVRTC_LIBRARY` names when it is set (see
/// [`crate::loader`]), else the one found beside the headers, loaded by its full path so the
/// later `dlopen("libnvrtc.so.13")` inside cudarc resolves to it by soname; otherwise checks
/// that the loader finds one. Idempotent.
pub fn load_nvrtc(toolkit: &Toolkit) -> Result<()> {
    let state = NVRTC.get_or_init(|| {
        if let Some(named) = crate::loader::nvrtc() {
            return named.map(Some);
        }
        if let Some(path) = &toolkit.nvrtc_lib {
            // SAFETY: loading NVRTC runs its initialisers, which have no preconditions.
            return unsafe { libloading::Library::new(path) }
                .map(Some)
                .map_err(|e| format!("cannot load {}: {e}", path.display()));
        }
        // SAFETY: probing for the library by name; nothing is called.
        if unsafe { cudarc::nvrtc::sys::is_culib_present() } {
            Ok(None)
        } else {
            Err(
                "NVRTC (libnvrtc.so.13) was not found beside the CUDA headers nor on the \
                 loader's path; `pip install nvidia-cuda-nvrtc` or set CUDA_HOME"
                    .to_string(),
            )
        }
    });
    state
        .as_ref()
        .map(|_| ())
        .map_err(|e| Error::NotAvailable(e.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wheel_layout_is_recognised() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("nvidia/cu13");
        std::fs::create_dir_all(root.join("include")).unwrap();
        std::fs::create_dir_all(root.join("lib")).unwrap();
        assert_eq!(probe(&root), None, "no headers yet");
        for h in HEADERS {
            std::fs::write(root.join("include").join(h), "").unwrap();
        }
        let t = probe(&root).unwrap();
        assert_eq!(t.include_dir, root.join("include"));
        assert_eq!(t.nvrtc_lib, None);
        std::fs::write(root.join("lib/libnvrtc.so.13"), "").unwrap();
        assert_eq!(
            probe(&root).unwrap().nvrtc_lib,
            Some(root.join("lib/libnvrtc.so.13"))
        );
    }

    #[test]
    fn split_wheels_find_nvrtc_beside_the_runtime() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = dir.path().join("nvidia/cuda_runtime");
        std::fs::create_dir_all(runtime.join("include")).unwrap();
        for h in HEADERS {
            std::fs::write(runtime.join("include").join(h), "").unwrap();
        }
        let lib = dir.path().join("nvidia/cuda_nvrtc/lib");
        std::fs::create_dir_all(&lib).unwrap();
        std::fs::write(lib.join("libnvrtc.so.12"), "").unwrap();
        assert_eq!(
            probe(&runtime).unwrap().nvrtc_lib,
            Some(lib.join("libnvrtc.so.12"))
        );
    }

    #[test]
    fn cuda_home_comes_first() {
        // Only this test sets CUDA_HOME in this process; the caller's value is put back.
        let before = std::env::var_os("CUDA_HOME");
        std::env::set_var("CUDA_HOME", "/nonexistent/cuda-home");
        let roots = candidate_roots();
        match before {
            Some(v) => std::env::set_var("CUDA_HOME", v),
            None => std::env::remove_var("CUDA_HOME"),
        }
        assert_eq!(roots[0], PathBuf::from("/nonexistent/cuda-home"));
        assert!(roots.contains(&PathBuf::from("/usr/local/cuda")));
    }
}
