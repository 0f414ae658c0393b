//! Run-time compilation of `kernels/*.cu` with NVRTC for one exact architecture, cached on
//! disk by a hash of the expanded source, the target, the options and the NVRTC version.

use std::ffi::{c_char, CString};
use std::path::Path;

use cudarc::nvrtc::{result, sys};
use hotpath_core::kernels::{self, KernelFile};
use hotpath_core::{Error, Result};

use crate::toolkit::Toolkit;

/// Targets `hotpath kernels compile --target all` builds for (Ampere, Ada, Hopper, Blackwell).
pub const ALL_TARGETS: [&str; 4] = ["sm_80", "sm_89", "sm_90a", "sm_100a"];

/// The NVRTC target for a compute capability: the arch-specific `a` variant on Hopper and
/// Blackwell datacenter parts (so wgmma/tcgen05-class instructions are allowed there).
pub fn target_for(major: i32, minor: i32) -> String {
    let suffix = if matches!(major, 9 | 10) { "a" } else { "" };
    format!("sm_{major}{minor}{suffix}")
}

/// Checks a `--target` name.
pub fn parse_target(text: &str) -> Result<Vec<String>> {
    let t = text.trim().to_ascii_lowercase();
    if t == "all" {
        return Ok(ALL_TARGETS.iter().map(|s| s.to_string()).collect());
    }
    let ok = t.strip_prefix("sm_").is_some_and(|rest| {
        let digits = rest.trim_end_matches('a');
        digits.len() >= 2 && digits.chars().all(|c| c.is_ascii_digit())
    });
    if ok {
        Ok(vec![t])
    } else {
        Err(Error::bad_input(format!(
            "unknown target '{text}'; accepted: sm_80, sm_89, sm_90a, sm_100a (any sm_XY[a]) or all"
        )))
    }
}

/// Register and spill figures ptxas reported for one kernel.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KernelStats {
    /// `extern "C"` name.
    pub function: String,
    /// Registers per thread.
    pub registers: Option<u32>,
    /// Bytes spilled to local memory (stores).
    pub spill_store_bytes: Option<u32>,
    /// Static shared memory in bytes.
    pub smem_bytes: Option<u32>,
}

/// A compiled kernel file.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// Target (`sm_90a`).
    pub target: String,
    /// The CUBIN image.
    pub cubin: Vec<u8>,
    /// NVRTC's log (ptxas verbose output included).
    pub log: String,
    /// Per-kernel register/spill figures parsed from the log.
    pub stats: Vec<KernelStats>,
    /// True when the CUBIN came from the disk cache.
    pub cached: bool,
}

/// NVRTC options used for every compile (besides the target and include path).
const OPTIONS: [&str; 4] = ["--std=c++17", "--use_fast_math", "-Xptxas=-v", "-lineinfo"];

/// NVRTC's version as (major, minor).
pub fn version() -> Result<(i32, i32)> {
    let (mut major, mut minor) = (0, 0);
    // SAFETY: both pointers are valid for writes.
    let r = unsafe { sys::nvrtcVersion(&mut major, &mut minor) };
    if r != sys::nvrtcResult::NVRTC_SUCCESS {
        return Err(Error::NotAvailable(format!("nvrtcVersion failed: {r:?}")));
    }
    Ok((major, minor))
}

/// Cache key of one compile: everything that changes the CUBIN.
pub fn cache_key(expanded_source: &str, target: &str, nvrtc: (i32, i32), include: &Path) -> u64 {
    let version = format!("nvrtc {}.{}", nvrtc.0, nvrtc.1);
    let include = include.display().to_string();
    kernels::cache_key(&[
        expanded_source,
        target,
        &version,
        &OPTIONS.join(" "),
        &include,
    ])
}

/// Parses ptxas `-v` output into per-kernel figures.
pub fn parse_ptxas_log(log: &str) -> Vec<KernelStats> {
    let mut out: Vec<KernelStats> = Vec::new();
    let number_before = |line: &str, unit: &str| -> Option<u32> {
        let end = line.find(unit)?;
        line[..end].split_whitespace().last()?.parse().ok()
    };
    for line in log.lines() {
        if let Some(pos) = line.find("Compiling entry function '") {
            let rest = &line[pos + "Compiling entry function '".len()..];
            if let Some(end) = rest.find('\'') {
                out.push(KernelStats {
                    function: rest[..end].to_string(),
                    ..KernelStats::default()
                });
            }
            continue;
        }
        let Some(cur) = out.last_mut() else { continue };
        if line.contains("Used") && line.contains("registers") {
            cur.registers = number_before(line, "registers");
            if let Some(smem) = line.find("bytes smem") {
                cur.smem_bytes = number_before(&line[..smem + 10], "bytes smem");
            }
        }
        if line.contains("spill stores") {
            cur.spill_store_bytes = number_before(line, "bytes spill stores");
        }
    }
    out
}

/// Compiles `file` for `target`, from the cache when it holds this exact build.
pub fn compile(file: &KernelFile, target: &str, toolkit: &Toolkit) -> Result<Compiled> {
    crate::toolkit::load_nvrtc(toolkit)?;
    let source = kernels::expand(file.source);
    let key = cache_key(&source, target, version()?, &toolkit.include_dir);
    let stem = file.file.trim_end_matches(".cu");
    let cached = kernels::cache_dir().map(|d| d.join(format!("{stem}-{target}-{key:016x}")));
    if let Some(base) = &cached {
        if let Some((cubin, log)) = kernels::cache_load(base) {
            return Ok(Compiled {
                target: target.to_string(),
                stats: parse_ptxas_log(&log),
                cubin,
                log,
                cached: true,
            });
        }
    }
    let (cubin, log) = compile_uncached(file.file, &source, target, toolkit)?;
    if let Some(base) = &cached {
        // A cache that cannot be written only costs the next run a compile.
        let _ = kernels::cache_store(base, &cubin, &log);
    }
    Ok(Compiled {
        target: target.to_string(),
        stats: parse_ptxas_log(&log),
        cubin,
        log,
        cached: false,
    })
}

fn text(chars: Vec<c_char>) -> String {
    let bytes: Vec<u8> = chars
        .into_iter()
        .map(|c| c as u8)
        .take_while(|&b| b != 0)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn compile_uncached(
    name: &str,
    source: &str,
    target: &str,
    toolkit: &Toolkit,
) -> Result<(Vec<u8>, String)> {
    let fail = |what: &str, e: &dyn std::fmt::Debug| {
        Error::backend(format!("NVRTC {what} failed for {name} ({target}): {e:?}"))
    };
    let src = CString::new(source).map_err(|e| fail("reading the source", &e))?;
    let cname = CString::new(name).map_err(|e| fail("naming the program", &e))?;
    let prog = result::create_program(&src, Some(&cname)).map_err(|e| fail("create", &e))?;
    let mut options: Vec<String> = vec![
        format!("--gpu-architecture={target}"),
        format!("-I{}", toolkit.include_dir.display()),
    ];
    options.extend(OPTIONS.iter().map(|s| s.to_string()));
    // SAFETY: `prog` is a live program; the options are NUL-free strings.
    let compiled = unsafe { result::compile_program(prog, &options) };
    // SAFETY: `prog` is live until destroyed below.
    let log = unsafe { result::get_program_log(prog) }
        .map(text)
        .unwrap_or_default();
    let out = match compiled {
        Err(e) => Err(Error::backend(format!(
            "NVRTC could not compile {name} for {target} ({e:?}):\n{log}"
        ))),
        Ok(()) => {
            let mut size = 0usize;
            // SAFETY: `prog` compiled successfully; `size` is valid for writes.
            let r = unsafe { sys::nvrtcGetCUBINSize(prog, &mut size) };
            let mut cubin = vec![0u8; size];
            // SAFETY: `cubin` holds exactly the size NVRTC reported.
            let r2 = unsafe { sys::nvrtcGetCUBIN(prog, cubin.as_mut_ptr() as *mut c_char) };
            if r != sys::nvrtcResult::NVRTC_SUCCESS
                || r2 != sys::nvrtcResult::NVRTC_SUCCESS
                || size == 0
            {
                Err(fail("getting the CUBIN", &(r, r2)))
            } else {
                Ok((cubin, log))
            }
        }
    };
    // SAFETY: destroying the program we created; it is not used afterwards.
    let _ = unsafe { result::destroy_program(prog) };
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_for_compute_capabilities() {
        assert_eq!(target_for(9, 0), "sm_90a");
        assert_eq!(target_for(10, 0), "sm_100a");
        assert_eq!(target_for(8, 0), "sm_80");
        assert_eq!(target_for(8, 9), "sm_89");
        assert_eq!(parse_target("all").unwrap().len(), 4);
        assert_eq!(parse_target("SM_90A").unwrap(), vec!["sm_90a"]);
        let err = parse_target("hopper").unwrap_err().to_string();
        assert!(err.contains("'hopper'") && err.contains("sm_90a"), "{err}");
    }

    #[test]
    fn ptxas_log_is_parsed_per_kernel() {
        let log = "ptxas info    : 0 bytes gmem\n\
            ptxas info    : Compiling entry function 'hp_gemv_bf16' for 'sm_90a'\n\
            ptxas info    : Function properties for hp_gemv_bf16\n\
            ptxas         .     0 bytes stack frame, 8 bytes spill stores, 8 bytes spill loads\n\
            ptxas info    : Used 40 registers, used 1 barriers, 1024 bytes smem\n\
            ptxas info    : Compiling entry function 'hp_copy' for 'sm_90a'\n\
            ptxas info    : Used 6 registers, used 0 barriers\n";
        let s = parse_ptxas_log(log);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].function, "hp_gemv_bf16");
        assert_eq!(
            (s[0].registers, s[0].spill_store_bytes, s[0].smem_bytes),
            (Some(40), Some(8), Some(1024))
        );
        assert_eq!((s[1].registers, s[1].spill_store_bytes), (Some(6), None));
    }

    #[test]
    fn the_cache_key_changes_with_source_target_and_version() {
        let inc = Path::new("/x/include");
        let k = cache_key("src", "sm_90a", (13, 0), inc);
        assert_eq!(k, cache_key("src", "sm_90a", (13, 0), inc));
        assert_ne!(k, cache_key("src2", "sm_90a", (13, 0), inc));
        assert_ne!(k, cache_key("src", "sm_80", (13, 0), inc));
        assert_ne!(k, cache_key("src", "sm_90a", (13, 1), inc));
    }
}
