//! Choosing CUDA's libraries with environment variables, as the ROCm backend does
//! (`hotpath_core::libs`): each is a `:`-separated list of library files (names or paths);
//! when set and not empty only those are tried, and the "not found" sentence names it.
//!
//! | library | variable | defaults |
//! |---|---|---|
//! | driver (libcuda) | `HOTPATH_CUDA_LIBRARY` | cudarc's names (`libcuda.so`, `libcuda.so.1`, …) on the loader's path |
//! | NVRTC | `HOTPATH_NVRTC_LIBRARY` | beside the CUDA headers, else cudarc's names |
//! | NVML | `HOTPATH_NVML_LIBRARY` | `libnvidia-ml.so.1` on the loader's path |
//!
//! cudarc looks its libraries up by name and cannot be given a path. So a named driver or
//! NVRTC is loaded here first, by the name given, and kept loaded: the dynamic loader then
//! hands cudarc that same object when it asks by soname. If it hands cudarc another file
//! (one of cudarc's names found first on the loader's path), the backend is refused rather
//! than run on a library nobody named. When none of the named files loads, cudarc is never
//! touched: that is how tests hide a driver that is installed.

use std::ffi::c_void;
use std::sync::OnceLock;

use hotpath_core::libs::Candidates;
use libloading::Library;
use nvml_wrapper::error::NvmlError;
use nvml_wrapper::Nvml;

/// The variable naming the CUDA driver's library file(s).
pub const CUDA_ENV: &str = "HOTPATH_CUDA_LIBRARY";
/// The variable naming NVRTC's library file(s).
pub const NVRTC_ENV: &str = "HOTPATH_NVRTC_LIBRARY";
/// The variable naming NVML's library file(s).
pub const NVML_ENV: &str = "HOTPATH_NVML_LIBRARY";

/// The reason when cudarc's own search finds no driver.
const NO_DRIVER: &str =
    "no NVIDIA driver: libcuda.so was not found (install the NVIDIA driver or run on a GPU node)";

/// The candidates a variable names, or `None` when it is unset or empty (the defaults).
pub fn named(env: &'static str) -> Option<Candidates> {
    let c = Candidates::from_env(env, &[]);
    c.from_env.is_some().then_some(c)
}

/// Loads the first of `c` that loads and checks that cudarc, asking by name, gets that same
/// library: `present` and `cudarc_lib` are cudarc's probe and loader for it, `symbol` one of
/// its functions whose address tells the two apart. The library is returned to be kept.
pub fn pin(
    c: &Candidates,
    what: &str,
    symbol: &str,
    present: unsafe fn() -> bool,
    cudarc_lib: unsafe fn() -> &'static Library,
) -> Result<Library, String> {
    let (lib, name) = c.open_first(what)?;
    let env = c.from_env.unwrap_or("the defaults");
    // SAFETY: the symbol is only read as an address, never called.
    let ours = unsafe { lib.get::<*const c_void>(symbol.as_bytes()) }
        .map(|s| *s)
        .map_err(|e| {
            format!(
                "{name} (from {env}) loads but has no {symbol}, so it is not the {what} ({})",
                hotpath_core::libs::reason(&e)
            )
        })?;
    // SAFETY: cudarc's probe only loads libraries by name; nothing is called.
    if !unsafe { present() } {
        return Err(format!(
            "{name} (from {env}) loads, but cudarc looks the {what} up by its usual names and \
             none of them reaches it; name a file whose soname is one of those, or put its \
             directory on LD_LIBRARY_PATH"
        ));
    }
    // SAFETY: the probe above found a library by cudarc's names, so cudarc's loader does not
    // panic; the symbol is only read as an address.
    let theirs = unsafe { cudarc_lib().get::<*const c_void>(symbol.as_bytes()) }.map(|s| *s);
    if theirs.ok() == Some(ours) {
        Ok(lib)
    } else {
        Err(format!(
            "{name} (from {env}) loads, but cudarc looks the {what} up by name and the loader \
             gave it another file first; put {name}'s directory first on LD_LIBRARY_PATH"
        ))
    }
}

/// The driver library as chosen: `Ok` when cudarc can load it (and, with
/// `HOTPATH_CUDA_LIBRARY`, it is the file named), else the reason CUDA is unavailable.
/// Decided once per process.
pub fn driver() -> Result<(), String> {
    static DRIVER: OnceLock<Result<Option<Library>, String>> = OnceLock::new();
    DRIVER
        .get_or_init(|| match named(CUDA_ENV) {
            Some(c) => driver_from(&c).map(Some),
            // SAFETY: probing for libcuda by name; nothing is called.
            None if unsafe { cudarc::driver::sys::is_culib_present() } => Ok(None),
            None => Err(NO_DRIVER.to_string()),
        })
        .as_ref()
        .map(|_| ())
        .map_err(Clone::clone)
}

/// The driver from the files `c` names (see [`pin`]).
pub fn driver_from(c: &Candidates) -> Result<Library, String> {
    pin(
        c,
        "CUDA driver",
        "cuInit",
        cudarc::driver::sys::is_culib_present,
        cudarc::driver::sys::culib,
    )
}

/// NVRTC from `HOTPATH_NVRTC_LIBRARY`: `None` when the variable is unset or empty (the
/// toolkit's search applies), else the library named, kept loaded, or why none is usable.
pub fn nvrtc() -> Option<Result<Library, String>> {
    named(NVRTC_ENV).map(|c| {
        pin(
            &c,
            "NVRTC",
            "nvrtcVersion",
            cudarc::nvrtc::sys::is_culib_present,
            cudarc::nvrtc::sys::culib,
        )
    })
}

/// NVML, initialised from the files `HOTPATH_NVML_LIBRARY` names, or from its default
/// library; the error is the reason, `NVML is not available: …`.
pub fn nvml() -> Result<Nvml, String> {
    match named(NVML_ENV) {
        None => Nvml::init().map_err(|e| format!("NVML is not available: {e}")),
        Some(c) => nvml_from(&c).map_err(|e| format!("NVML is not available: {e}")),
    }
}

/// The first of `c`'s files NVML initialises from; the error is [`Candidates::not_found`]
/// with the reason of each file that exists but failed.
pub fn nvml_from(c: &Candidates) -> Result<Nvml, String> {
    let mut errors = Vec::new();
    for name in &c.names {
        match Nvml::builder().lib_path(name.as_ref()).init() {
            Ok(nvml) => return Ok(nvml),
            Err(NvmlError::LibloadingError(e)) => {
                if name.contains('/') && std::path::Path::new(name).exists() {
                    errors.push(format!("{name}: {}", hotpath_core::libs::reason(&e)));
                }
            }
            Err(e) => errors.push(format!("{name}: {e}")),
        }
    }
    Err(c.not_found("NVML", &errors))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(env: &'static str, value: &str) -> Candidates {
        Candidates::from_value(env, Some(value), vec![])
    }

    #[test]
    fn a_missing_driver_names_the_variable_and_cudarc_is_not_asked() {
        let c = from(CUDA_ENV, "/nonexistent/libcuda.so:/nope/libcuda.so.1");
        assert_eq!(
            driver_from(&c).err().unwrap(),
            "CUDA driver not found (looked for /nonexistent/libcuda.so, /nope/libcuda.so.1, \
             from HOTPATH_CUDA_LIBRARY)"
        );
    }

    #[test]
    fn a_named_file_that_is_no_library_gets_the_loaders_reason() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("libcuda.so.1");
        std::fs::write(&fake, "not a shared object").unwrap();
        let path = fake.display().to_string();
        let err = driver_from(&from(CUDA_ENV, &path)).err().unwrap();
        assert!(
            err.starts_with(&format!(
                "CUDA driver not found (looked for {path}, from HOTPATH_CUDA_LIBRARY); {path}: "
            )) && err.len() > path.len() * 2 + 60,
            "{err}"
        );
        let err = nvml_from(&from(NVML_ENV, &path)).err().unwrap();
        assert!(
            err.starts_with(&format!(
                "NVML not found (looked for {path}, from HOTPATH_NVML_LIBRARY); {path}: "
            )),
            "{err}"
        );
    }

    #[test]
    fn a_library_without_the_drivers_entry_point_is_refused() {
        // libc loads everywhere and has no cuInit.
        let err = driver_from(&from(CUDA_ENV, "libc.so.6")).err().unwrap();
        assert!(
            err.starts_with(
                "libc.so.6 (from HOTPATH_CUDA_LIBRARY) loads but has no cuInit, so it is not \
                 the CUDA driver ("
            ) && err.contains("undefined symbol: cuInit"),
            "{err}"
        );
    }

    #[test]
    fn a_missing_nvml_names_the_variable() {
        assert_eq!(
            nvml_from(&from(NVML_ENV, "/nonexistent/libnvidia-ml.so.1"))
                .err()
                .unwrap(),
            "NVML not found (looked for /nonexistent/libnvidia-ml.so.1, from HOTPATH_NVML_LIBRARY)"
        );
    }
}
