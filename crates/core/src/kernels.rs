//! hotpath's own kernel sources (`kernels/*.cu`), embedded in the binary so one `hotpath`
//! compiles them at run time for whatever GPU it finds. The CUDA and ROCm backends share
//! them; the contract (names, arguments, launch geometry) is `kernels/README.md`.

/// File name of the portability header every kernel includes.
pub const COMMON_HEADER_NAME: &str = "hotpath_common.cuh";
/// The portability header.
pub const COMMON_HEADER: &str = include_str!("../../../kernels/hotpath_common.cuh");

/// One kernel source file.
#[derive(Clone, Copy, Debug)]
pub struct KernelFile {
    /// File name under `kernels/`.
    pub file: &'static str,
    /// Its text, as written (the header not yet inlined).
    pub source: &'static str,
}

/// Every kernel file, in the order `hotpath kernels compile` prints them.
pub const FILES: &[KernelFile] = &[
    KernelFile {
        file: "stream.cu",
        source: include_str!("../../../kernels/stream.cu"),
    },
    KernelFile {
        file: "gemv.cu",
        source: include_str!("../../../kernels/gemv.cu"),
    },
    KernelFile {
        file: "gemm.cu",
        source: include_str!("../../../kernels/gemm.cu"),
    },
    KernelFile {
        file: "attn_prefill.cu",
        source: include_str!("../../../kernels/attn_prefill.cu"),
    },
    KernelFile {
        file: "attn_decode.cu",
        source: include_str!("../../../kernels/attn_decode.cu"),
    },
    KernelFile {
        file: "kv.cu",
        source: include_str!("../../../kernels/kv.cu"),
    },
    KernelFile {
        file: "peak.cu",
        source: include_str!("../../../kernels/peak.cu"),
    },
];

/// The kernel file called `name`.
pub fn file(name: &str) -> Option<&'static KernelFile> {
    FILES.iter().find(|f| f.file == name)
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
/// one-line-per-kernel listings.
pub fn op_of_function(function: &str) -> &'static str {
    const PREFIXES: &[(&str, &str)] = &[
        ("hp_copy", "copy"),
        ("hp_write", "write"),
        ("hp_read", "read"),
        ("hp_reduce_partials", "read"),
        ("hp_triad", "triad"),
        ("hp_empty", "launch"),
        ("hp_gemv", "gemv"),
        ("hp_gemm", "gemm"),
        ("hp_attn_prefill", "attn_prefill"),
        ("hp_attn_decode", "attn_decode"),
        ("hp_kv_write", "kv_write"),
        ("hp_kv_read", "kv_read"),
        ("hp_peak", "peak_mma"),
    ];
    PREFIXES
        .iter()
        .find(|(p, _)| function.starts_with(p))
        .map(|(_, op)| *op)
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_inlined_once_per_include() {
        let text =
            expand("#include \"hotpath_common.cuh\"\nextern \"C\" __global__ void hp_x() {}\n");
        assert!(text.contains("hp_warp_sum"));
        assert!(!text.contains("#include \"hotpath_common.cuh\""));
        assert_eq!(text.matches("---- end hotpath_common.cuh").count(), 1);
    }

    #[test]
    fn every_file_includes_the_header() {
        for f in FILES {
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
    }
}
