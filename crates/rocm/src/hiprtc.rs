//! Run-time compilation of `kernels/*.cu` with hipRTC for one gfx target, cached on disk like
//! the CUDA backend's CUBINs. hipRTC is its own library from ROCm 6 on (`libhiprtc.so`) and
//! lives inside `libamdhip64.so.5` in ROCm 5.

use std::ffi::{c_char, c_int, c_void, CString};
use std::sync::OnceLock;

use hotpath_core::kernels::{self, KernelFile};
use hotpath_core::{Error, Result};
use libloading::Library;

use crate::loader::{self, Candidates, HIPRTC_ENV, HIPRTC_NAMES};

/// Targets `hotpath kernels compile --target all-amd` builds for. CI proves gfx90a (and
/// gfx908) with Debian 12's ROCm 5.2, and gfx942 with Debian 13's ROCm 5.7.1
/// (`scripts/compile-gfx942.sh`); 5.2 does not know gfx942.
pub const AMD_TARGETS: [&str; 2] = ["gfx90a", "gfx942"];

/// Options passed to every compile (besides the target).
pub const OPTIONS: [&str; 2] = ["-O3", "-std=c++17"];

type Create = unsafe extern "C" fn(
    *mut *mut c_void,
    *const c_char,
    *const c_char,
    c_int,
    *const *const c_char,
    *const *const c_char,
) -> c_int;
type Compile = unsafe extern "C" fn(*mut c_void, c_int, *const *const c_char) -> c_int;
type Size = unsafe extern "C" fn(*mut c_void, *mut usize) -> c_int;
type Fill = unsafe extern "C" fn(*mut c_void, *mut c_char) -> c_int;
type Destroy = unsafe extern "C" fn(*mut *mut c_void) -> c_int;
type Version = unsafe extern "C" fn(*mut c_int, *mut c_int) -> c_int;

/// hipRTC's entry points.
pub struct Rtc {
    _lib: Library,
    /// Which library file was loaded.
    pub path: String,
    create: Create,
    compile: Compile,
    log_size: Size,
    log: Fill,
    code_size: Size,
    code: Fill,
    destroy: Destroy,
    version: Version,
}

static RTC: OnceLock<std::result::Result<Rtc, String>> = OnceLock::new();

/// hipRTC, loaded once: the first of [`HIPRTC_NAMES`] (or of what `HOTPATH_HIPRTC_LIBRARY`
/// names) that loads and exports hipRTC's functions; the error says what was looked for.
pub fn rtc() -> Result<&'static Rtc> {
    RTC.get_or_init(|| load(&Candidates::from_env(HIPRTC_ENV, &HIPRTC_NAMES)))
        .as_ref()
        .map_err(|e| Error::NotAvailable(e.clone()))
}

/// The first of `candidates` that loads and has every hipRTC entry point.
pub fn load(candidates: &Candidates) -> std::result::Result<Rtc, String> {
    let mut errors = Vec::new();
    for name in &candidates.names {
        let lib = match loader::open(name) {
            Ok(lib) => lib,
            Err(e) => {
                errors.extend(e);
                continue;
            }
        };
        // SAFETY: symbols looked up by their exported names with hiprtc.h's signatures;
        // the library stays loaded inside `Rtc`.
        let loaded = unsafe {
            (|| -> std::result::Result<Rtc, libloading::Error> {
                Ok(Rtc {
                    create: *lib.get::<Create>(b"hiprtcCreateProgram\0")?,
                    compile: *lib.get::<Compile>(b"hiprtcCompileProgram\0")?,
                    log_size: *lib.get::<Size>(b"hiprtcGetProgramLogSize\0")?,
                    log: *lib.get::<Fill>(b"hiprtcGetProgramLog\0")?,
                    code_size: *lib.get::<Size>(b"hiprtcGetCodeSize\0")?,
                    code: *lib.get::<Fill>(b"hiprtcGetCode\0")?,
                    destroy: *lib.get::<Destroy>(b"hiprtcDestroyProgram\0")?,
                    version: *lib.get::<Version>(b"hiprtcVersion\0")?,
                    path: name.clone(),
                    _lib: lib,
                })
            })()
        };
        match loaded {
            Ok(rtc) => return Ok(rtc),
            Err(e) => errors.push(format!("{name} has no hipRTC: {e}")),
        }
    }
    Err(candidates.not_found("hipRTC", &errors))
}

/// Checks a `--target` name for AMD (`gfx` followed by a hex id).
pub fn is_amd_target(text: &str) -> bool {
    text.strip_prefix("gfx")
        .is_some_and(|id| (3..=4).contains(&id.len()) && id.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The gfx target from KFD's `gfx_target_version` (major·10000 + minor·100 + stepping, minor
/// and stepping printed in hex): 90010 → gfx90a, 90402 → gfx942, 110000 → gfx1100.
pub fn target_from_version(v: u32) -> String {
    format!("gfx{}{:x}{:x}", v / 10000, (v / 100) % 100, v % 100)
}

/// A compiled kernel file.
pub struct Compiled {
    /// Code object.
    pub code: Vec<u8>,
    /// hipRTC's log.
    pub log: String,
    /// True when it came from the disk cache.
    pub cached: bool,
}

impl Rtc {
    /// hipRTC's version.
    pub fn version(&self) -> (i32, i32) {
        let (mut a, mut b) = (0, 0);
        // SAFETY: both pointers are valid for writes.
        let _ = unsafe { (self.version)(&mut a, &mut b) };
        (a, b)
    }

    /// Compiles `file` for `target` (from the cache when it holds this exact build).
    pub fn compile(&self, file: &KernelFile, target: &str) -> Result<Compiled> {
        let source = kernels::expand(file.source);
        let version = format!("hiprtc {:?} {}", self.version(), self.path);
        let key = kernels::cache_key(&[&source, target, &version, &OPTIONS.join(" ")]);
        let stem = file.file.trim_end_matches(".cu");
        let base = kernels::cache_dir().map(|d| d.join(format!("{stem}-{target}-{key:016x}")));
        if let Some((code, log)) = base.as_deref().and_then(kernels::cache_load) {
            return Ok(Compiled {
                code,
                log,
                cached: true,
            });
        }
        let (code, log) = self.compile_uncached(file.file, &source, target)?;
        if let Some(base) = &base {
            let _ = kernels::cache_store(base, &code, &log);
        }
        Ok(Compiled {
            code,
            log,
            cached: false,
        })
    }

    fn compile_uncached(
        &self,
        name: &str,
        source: &str,
        target: &str,
    ) -> Result<(Vec<u8>, String)> {
        let bad =
            |what: &str| Error::backend(format!("hipRTC {what} failed for {name} ({target})"));
        let src = CString::new(source).map_err(|_| bad("reading the source"))?;
        let cname = CString::new(name).map_err(|_| bad("naming the program"))?;
        let mut opts: Vec<CString> =
            vec![CString::new(format!("--offload-arch={target}")).map_err(|_| bad("options"))?];
        for o in OPTIONS {
            opts.push(CString::new(o).map_err(|_| bad("options"))?);
        }
        let ptrs: Vec<*const c_char> = opts.iter().map(|o| o.as_ptr()).collect();
        let mut prog: *mut c_void = std::ptr::null_mut();
        // SAFETY: valid NUL-terminated strings; no headers (the common header is inlined).
        let r = unsafe {
            (self.create)(
                &mut prog,
                src.as_ptr(),
                cname.as_ptr(),
                0,
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        if r != 0 {
            return Err(bad(&format!("create ({r})")));
        }
        // SAFETY: `prog` was created above; `ptrs` outlives the call.
        let compiled = unsafe { (self.compile)(prog, ptrs.len() as c_int, ptrs.as_ptr()) };
        let mut size = 0usize;
        // SAFETY: `prog` is live; the buffers are sized from the reported sizes.
        let log = unsafe {
            (self.log_size)(prog, &mut size);
            let mut buf = vec![0u8; size + 1];
            (self.log)(prog, buf.as_mut_ptr() as *mut c_char);
            String::from_utf8_lossy(&buf[..buf.iter().position(|&b| b == 0).unwrap_or(buf.len())])
                .into_owned()
        };
        let out = if compiled != 0 {
            Err(Error::backend(format!(
                "hipRTC could not compile {name} for {target} ({compiled}):\n{log}"
            )))
        } else {
            let mut size = 0usize;
            // SAFETY: as above.
            unsafe { (self.code_size)(prog, &mut size) };
            let mut code = vec![0u8; size];
            // SAFETY: `code` holds exactly the reported size.
            let r = unsafe { (self.code)(prog, code.as_mut_ptr() as *mut c_char) };
            if r != 0 || size == 0 {
                Err(bad("getting the code object"))
            } else {
                Ok((code, log))
            }
        };
        // SAFETY: destroying the program created above; not used afterwards.
        unsafe { (self.destroy)(&mut prog) };
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_hiprtc_names_what_was_looked_for() {
        let c = Candidates::from_value(HIPRTC_ENV, Some("/nonexistent/libhiprtc.so"), vec![]);
        assert_eq!(
            load(&c).err().unwrap(),
            "hipRTC not found (looked for /nonexistent/libhiprtc.so, from HOTPATH_HIPRTC_LIBRARY)"
        );
    }

    #[test]
    fn gfx_targets_from_kfd_versions() {
        assert_eq!(target_from_version(90010), "gfx90a");
        assert_eq!(target_from_version(90008), "gfx908");
        assert_eq!(target_from_version(90402), "gfx942");
        assert_eq!(target_from_version(110000), "gfx1100");
        assert!(is_amd_target("gfx90a") && is_amd_target("gfx1100"));
        assert!(!is_amd_target("sm_90a") && !is_amd_target("gfx") && !is_amd_target("gfxzz"));
    }
}
