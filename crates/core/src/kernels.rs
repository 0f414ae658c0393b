//! hotpath's own kernel sources (`kernels/*.cu`), embedded in the binary so one `hotpath`
//! compiles them at run time for whatever GPU it finds. The CUDA and ROCm backends share
//! them; the contract (names, arguments, launch geometry) is `kernels/README.md`.

/// File name of the portability header every kernel includes.
pub const COMMON_HEADER_NAME: &str = "hotpath_common.cuh";
/// The portability header.
pub const COMMON_HEADER: &str = include_str!("../../../kernels/hotpath_common.cuh");

use crate::op::OpKind;

/// One kernel source file.
#[derive(Clone, Copy, Debug)]
pub struct KernelFile {
    /// File name under `kernels/`.
    pub file: &'static str,
    /// Its text, as written (the header not yet inlined).
    pub source: &'static str,
}

/// `stream.cu`: the bandwidth ceilings, the cache ceiling and the empty kernel.
pub static STREAM: KernelFile = KernelFile {
    file: "stream.cu",
    source: include_str!("../../../kernels/stream.cu"),
};
/// `gemv.cu`: the decode GEMV.
pub static GEMV: KernelFile = KernelFile {
    file: "gemv.cu",
    source: include_str!("../../../kernels/gemv.cu"),
};
/// `gemm.cu`: the prefill GEMM.
pub static GEMM: KernelFile = KernelFile {
    file: "gemm.cu",
    source: include_str!("../../../kernels/gemm.cu"),
};
/// `attn_prefill.cu`: prefill attention.
pub static ATTN_PREFILL: KernelFile = KernelFile {
    file: "attn_prefill.cu",
    source: include_str!("../../../kernels/attn_prefill.cu"),
};
/// `attn_decode.cu`: paged decode attention and its combine.
pub static ATTN_DECODE: KernelFile = KernelFile {
    file: "attn_decode.cu",
    source: include_str!("../../../kernels/attn_decode.cu"),
};
/// `attn_mla_decode.cu`: multi-head latent attention decode and its combine.
pub static ATTN_MLA_DECODE: KernelFile = KernelFile {
    file: "attn_mla_decode.cu",
    source: include_str!("../../../kernels/attn_mla_decode.cu"),
};
/// `kv.cu`: the KV-cache scatter and gather.
pub static KV: KernelFile = KernelFile {
    file: "kv.cu",
    source: include_str!("../../../kernels/kv.cu"),
};
/// `peak.cu`: the compute ceilings.
pub static PEAK: KernelFile = KernelFile {
    file: "peak.cu",
    source: include_str!("../../../kernels/peak.cu"),
};

/// Every kernel file, each once, in the order of the ops that use them
/// ([`crate::ops::Op::kernel_file`]): what `hotpath kernels compile` compiles.
pub fn files() -> Vec<&'static KernelFile> {
    let mut v: Vec<&'static KernelFile> = Vec::new();
    for op in OpKind::ALL {
        if let Some(f) = crate::ops::def(op).kernel_file() {
            if !v.iter().any(|g| g.file == f.file) {
                v.push(f);
            }
        }
    }
    v
}

/// The kernel file called `name`.
pub fn file(name: &str) -> Option<&'static KernelFile> {
    files().into_iter().find(|f| f.file == name)
}

/// The source with `#include "hotpath_common.cuh"` replaced by the header itself, so the
/// runtime compilers (NVRTC, hipRTC) need no header callbacks.
pub fn expand(source: &str) -> String {
    let include = format!("#include \"{COMMON_HEADER_NAME}\"");
    let mut out = String::with_capacity(source.len() + COMMON_HEADER.len());
    for line in source.lines() {
        if line.trim() == include {
            out.push_str(&format!("// ---- {COMMON_HEADER_NAME} ----\n"));
            out.push_str(COMMON_HEADER);
            out.push_str(&format!("\n// ---- end {COMMON_HEADER_NAME} ----\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The op a kernel function serves, from its name (`hp_gemv_finish_bf16` → `gemv`), for
/// one-line-per-kernel listings: `hp_<op>…`, the longest op name first, and the three
/// kernels named otherwise (`hp_reduce_partials` finishes `read`, `hp_empty` is `launch`,
/// `hp_peak_…` are `peak_mma`); `other` for a name of no op.
pub fn op_of_function(function: &str) -> &'static str {
    const OTHERS: &[(&str, &str)] = &[
        ("hp_reduce_partials", "read"),
        ("hp_empty", "launch"),
        ("hp_peak", "peak_mma"),
    ];
    let mut names: Vec<&'static str> = OpKind::ALL.iter().map(|op| op.name()).collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    names
        .into_iter()
        .find(|n| {
            function
                .strip_prefix("hp_")
                .is_some_and(|rest| rest.starts_with(n))
        })
        .or_else(|| {
            OTHERS
                .iter()
                .find(|(p, _)| function.starts_with(p))
                .map(|(_, op)| *op)
        })
        .unwrap_or("other")
}

/// The kernel file that defines `function` (its op's [`crate::ops::Op::kernel_file`];
/// `stream.cu` for a name of no op).
pub fn file_of_function(function: &str) -> &'static str {
    OpKind::parse(op_of_function(function))
        .ok()
        .and_then(|op| crate::ops::def(op).kernel_file())
        .map_or(STREAM.file, |f| f.file)
}

/// The compiled-kernel cache directory: `HOTPATH_CACHE_DIR`, `XDG_CACHE_HOME/hotpath/kernels`,
/// or `~/.cache/hotpath/kernels`; `None` when none can be named.
pub fn cache_dir() -> Option<std::path::PathBuf> {
    use std::path::PathBuf;
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("HOTPATH_CACHE_DIR")
        .or_else(|| env("XDG_CACHE_HOME").map(|p| p.join("hotpath/kernels")))
        .or_else(|| env("HOME").map(|p| p.join(".cache/hotpath/kernels")))
}

/// FNV-1a over every part (NUL-separated): the cache key of one compiled kernel file.
pub fn cache_key(parts: &[&str]) -> u64 {
    parts
        .join("\0")
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
        })
}

/// The cached binary and compiler log stored under `base` (`.bin` and `.log`), if both exist.
pub fn cache_load(base: &std::path::Path) -> Option<(Vec<u8>, String)> {
    let bin = std::fs::read(base.with_extension("bin")).ok()?;
    let log = std::fs::read_to_string(base.with_extension("log")).ok()?;
    Some((bin, log))
}

/// Stores a binary and its log under `base`, each written to a temporary file and renamed.
/// The temporary file is always a new one (`O_CREAT | O_EXCL | O_NOFOLLOW`): something
/// already at its name, a link planted there above all, is removed (the link itself, never
/// its target) and the file made afresh, or the store fails; nothing is written through it.
pub fn cache_store(base: &std::path::Path, bin: &[u8], log: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = base.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let pid = std::process::id();
    let create = |tmp: &std::path::Path| {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(tmp)
    };
    for (ext, bytes) in [("log", log.as_bytes()), ("bin", bin)] {
        let tmp = base.with_extension(format!("{ext}.tmp{pid}"));
        let mut file = match create(&tmp) {
            // A leftover of a killed run with this pid, or something planted: once only.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                std::fs::remove_file(&tmp)?;
                create(&tmp)?
            }
            other => other?,
        };
        file.write_all(bytes)?;
        drop(file);
        std::fs::rename(&tmp, base.with_extension(ext))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_round_trip_and_keys() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("sub/gemv-sm_90a-00ff");
        assert!(cache_load(&base).is_none());
        cache_store(&base, &[1, 2, 3], "log text").unwrap();
        assert_eq!(
            cache_load(&base),
            Some((vec![1, 2, 3], "log text".to_string()))
        );
        // A link planted at the temporary name is replaced, not written through.
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "unchanged").unwrap();
        let tmp = base.with_extension(format!("bin.tmp{}", std::process::id()));
        std::os::unix::fs::symlink(&victim, &tmp).unwrap();
        cache_store(&base, &[4, 5], "second").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "unchanged");
        assert_eq!(cache_load(&base), Some((vec![4, 5], "second".to_string())));
        assert!(
            std::fs::symlink_metadata(&tmp).is_err(),
            "renamed into place"
        );
        let k = cache_key(&["src", "sm_90a", "13.0"]);
        assert_eq!(k, cache_key(&["src", "sm_90a", "13.0"]));
        assert_ne!(k, cache_key(&["src", "sm_80", "13.0"]));
        assert_ne!(
            cache_key(&["ab", "c"]),
            cache_key(&["a", "bc"]),
            "parts are separated"
        );
    }

    #[test]
    fn the_header_is_inlined_once_per_include() {
        let text =
            expand("#include \"hotpath_common.cuh\"\nextern \"C\" __global__ void hp_x() {}\n");
        assert!(text.contains("hp_warp_sum"));
        assert!(!text.contains("#include \"hotpath_common.cuh\""));
        assert_eq!(text.matches("---- end hotpath_common.cuh").count(), 1);
    }

    #[test]
    fn every_kernel_file_is_embedded_once_and_every_cu_file_is_an_ops() {
        // A second way to the list: the .cu files on disk.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../kernels");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".cu"))
            .collect();
        on_disk.sort();
        let mut embedded: Vec<String> = files().iter().map(|f| f.file.to_string()).collect();
        embedded.sort();
        assert_eq!(embedded, on_disk);
    }

    #[test]
    fn every_file_includes_the_header() {
        for f in files() {
            assert!(
                f.source.contains("#include \"hotpath_common.cuh\""),
                "{}",
                f.file
            );
        }
    }

    #[test]
    fn kernel_names_map_to_ops() {
        assert_eq!(op_of_function("hp_gemv_finish_bf16"), "gemv");
        assert_eq!(op_of_function("hp_attn_decode_combine_f16"), "attn_decode");
        assert_eq!(op_of_function("hp_reduce_partials"), "read");
        assert_eq!(op_of_function("hp_peak_mma_fp8"), "peak_mma");
        assert_eq!(op_of_function("gemv_kernel"), "other");
        assert_eq!(op_of_function("hp_add_rmsnorm_bf16"), "add_rmsnorm");
        assert_eq!(op_of_function("hp_silu_mul_f16"), "silu_mul");
        assert_eq!(op_of_function("hp_rope_bf16"), "rope");
    }

    #[test]
    fn kernel_names_map_to_files() {
        for (function, file) in [
            ("hp_gemv_finish_bf16", "gemv.cu"),
            ("hp_gemm_f16", "gemm.cu"),
            ("hp_attn_prefill_bf16_d128", "attn_prefill.cu"),
            ("hp_attn_decode_combine_f32", "attn_decode.cu"),
            ("hp_kv_read_f16", "kv.cu"),
            ("hp_kv_write_f32", "kv.cu"),
            ("hp_add_rmsnorm_f32", "add_rmsnorm.cu"),
            ("hp_silu_mul_bf16", "silu_mul.cu"),
            ("hp_rope_f16", "rope.cu"),
            ("hp_peak_wgmma_fp8", "peak.cu"),
            ("hp_l2_read_bf16", "stream.cu"),
            ("hp_triad_f32", "stream.cu"),
            ("hp_empty", "stream.cu"),
        ] {
            assert_eq!(file_of_function(function), file, "{function}");
        }
    }
}
