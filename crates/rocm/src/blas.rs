//! hipBLASLt, the vendor GEMM on AMD (impl `hipblaslt`), loaded at run time. Descriptors,
//! layouts and the algorithm are chosen once in `prepare`; an iteration is one
//! `hipblasLtMatmul`. The row-major product `C[m,n] = A[m,k]·W[n,k]ᵀ` is the column-major
//! `Cᶜ[n,m] = (Wᶜ)ᵀ·Aᶜ` (TRANSA = T), exactly as on cuBLASLt.
//!
//! Not run on AMD hardware yet. Enum values are hipBLASLt's public ones: `HIP_R_32F = 0`,
//! `HIP_R_16F = 2`, `HIP_R_16BF = 14`, `HIPBLAS_OP_T = 112`, `HIPBLASLT_MATMUL_DESC_TRANSA = 0`,
//! `HIPBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES = 1`; `HIPBLAS_COMPUTE_32F` is 2 before ROCm 7
//! and 68 from ROCm 7 (hipBLAS 3 took cuBLAS's numbering), chosen from the runtime version.
//! The heuristic result is treated as an opaque blob whose first member is the algorithm, so
//! its exact layout (which differs between releases) never matters. fp8 is not offered: MI300
//! computes e4m3 *fnuz*, a different format from the OCP e4m3 our inputs use.

use std::ffi::{c_int, c_void};

use hotpath_core::ops::LinearShape;
use hotpath_core::{DType, Error, OpSpec, Result};
use libloading::Library;

use crate::hip::Hip;
use crate::loader::{Candidates, HIPBLASLT_ENV, HIPBLASLT_NAMES};
use crate::ops::{out_spec, Launcher, OutputSpec, Set};

/// Workspace handed to hipBLASLt.
pub const WORKSPACE_BYTES: usize = 32 << 20;

/// hipBLASLt's library: the first of [`HIPBLASLT_NAMES`] (or of what
/// `HOTPATH_HIPBLASLT_LIBRARY` names) that loads.
fn open() -> std::result::Result<(Library, String), String> {
    Candidates::from_env(HIPBLASLT_ENV, &HIPBLASLT_NAMES).open_first("hipBLASLt")
}

/// Where hipBLASLt was found, or a sentence naming what was looked for.
pub fn available() -> std::result::Result<String, String> {
    open().map(|(_, path)| path)
}

/// `hipDataType` of a hotpath dtype (fp8: none, see the module doc).
pub fn data_type(dtype: DType) -> Option<c_int> {
    match dtype {
        DType::F32 => Some(0),
        DType::F16 => Some(2),
        DType::Bf16 => Some(14),
        DType::Fp8E4m3 => None,
    }
}

/// `HIPBLAS_COMPUTE_32F` for a HIP runtime version (`major·10⁷ + minor·10⁵ + patch`).
pub fn compute_32f(runtime_version: c_int) -> c_int {
    if runtime_version >= 70_000_000 {
        68
    } else {
        2
    }
}

type Create = unsafe extern "C" fn(*mut *mut c_void) -> c_int;
type DescCreate = unsafe extern "C" fn(*mut *mut c_void, c_int, c_int) -> c_int;
type SetAttr = unsafe extern "C" fn(*mut c_void, c_int, *const c_void, usize) -> c_int;
type LayoutCreate = unsafe extern "C" fn(*mut *mut c_void, c_int, u64, u64, i64) -> c_int;
type Heuristic = unsafe extern "C" fn(
    *mut c_void,
    *mut c_void,
    *mut c_void,
    *mut c_void,
    *mut c_void,
    *mut c_void,
    *mut c_void,
    c_int,
    *mut c_void,
    *mut c_int,
) -> c_int;
type Matmul = unsafe extern "C" fn(
    *mut c_void,
    *mut c_void,
    *const c_void,
    *const c_void,
    *mut c_void,
    *const c_void,
    *mut c_void,
    *const c_void,
    *const c_void,
    *mut c_void,
    *mut c_void,
    *mut c_void,
    *const c_void,
    *mut c_void,
    usize,
    *mut c_void,
) -> c_int;
type Destroy = unsafe extern "C" fn(*mut c_void) -> c_int;

/// A planned `C = A·Wᵀ` on hipBLASLt.
pub struct LtMatmul {
    _lib: Library,
    matmul: Matmul,
    destroy: [Destroy; 3],
    handle: *mut c_void,
    desc: *mut c_void,
    layouts: [*mut c_void; 3],
    /// Opaque heuristic result; the algorithm is its first member.
    heuristic: Box<[u64; 256]>,
    workspace: *mut c_void,
    hip: &'static Hip,
    out: OutputSpec,
}

fn status(what: &str, code: c_int) -> Result<()> {
    if code == 0 {
        Ok(())
    } else {
        Err(Error::backend(format!(
            "hipBLASLt {what} failed (hipblasStatus {code})"
        )))
    }
}

impl LtMatmul {
    /// Plans the product for `spec` (gemm or gemv shapes).
    pub fn new(spec: &OpSpec, hip: &'static Hip) -> Result<LtMatmul> {
        let (lib, _) = open().map_err(Error::unsupported)?;
        let t = data_type(spec.dtype).ok_or_else(|| {
            Error::unsupported(
                "hipBLASLt fp8 on MI300 is e4m3fnuz, not the OCP e4m3 hotpath's inputs use",
            )
        })?;
        let mut version = 0;
        // SAFETY: `version` is valid for writes.
        let _ = unsafe { (hip.hipRuntimeGetVersion)(&mut version) };
        let LinearShape { m, n, k } = LinearShape::of(spec)?;
        // SAFETY: symbols looked up by their exported names with hipblaslt.h's signatures; every
        // call gets valid out-pointers; the library outlives the objects (kept in `_lib`).
        unsafe {
            let get = |name: &[u8]| {
                lib.get::<*const c_void>(name)
                    .map(|s| *s)
                    .map_err(|e| Error::unsupported(format!("hipBLASLt lacks a symbol: {e}")))
            };
            let create: Create = std::mem::transmute(get(b"hipblasLtCreate\0")?);
            let desc_create: DescCreate = std::mem::transmute(get(b"hipblasLtMatmulDescCreate\0")?);
            let desc_set: SetAttr = std::mem::transmute(get(b"hipblasLtMatmulDescSetAttribute\0")?);
            let layout_create: LayoutCreate =
                std::mem::transmute(get(b"hipblasLtMatrixLayoutCreate\0")?);
            let pref_create: Create =
                std::mem::transmute(get(b"hipblasLtMatmulPreferenceCreate\0")?);
            let pref_set: SetAttr =
                std::mem::transmute(get(b"hipblasLtMatmulPreferenceSetAttribute\0")?);
            let pref_destroy: Destroy =
                std::mem::transmute(get(b"hipblasLtMatmulPreferenceDestroy\0")?);
            let heuristic_fn: Heuristic =
                std::mem::transmute(get(b"hipblasLtMatmulAlgoGetHeuristic\0")?);
            let matmul: Matmul = std::mem::transmute(get(b"hipblasLtMatmul\0")?);
            let destroy = [
                std::mem::transmute::<*const c_void, Destroy>(get(
                    b"hipblasLtMatrixLayoutDestroy\0",
                )?),
                std::mem::transmute::<*const c_void, Destroy>(get(
                    b"hipblasLtMatmulDescDestroy\0",
                )?),
                std::mem::transmute::<*const c_void, Destroy>(get(b"hipblasLtDestroy\0")?),
            ];
            let mut handle = std::ptr::null_mut();
            status("create", create(&mut handle))?;
            let mut desc = std::ptr::null_mut();
            status(
                "matmul descriptor",
                desc_create(&mut desc, compute_32f(version), 0),
            )?;
            let trans: c_int = 112;
            status(
                "TRANSA",
                desc_set(
                    desc,
                    0,
                    &trans as *const c_int as *const c_void,
                    std::mem::size_of::<c_int>(),
                ),
            )?;
            let mut layouts = [std::ptr::null_mut(); 3];
            status(
                "layout W",
                layout_create(&mut layouts[0], t, k, n, k as i64),
            )?;
            status(
                "layout A",
                layout_create(&mut layouts[1], t, k, m, k as i64),
            )?;
            status(
                "layout C",
                layout_create(&mut layouts[2], t, n, m, n as i64),
            )?;
            let mut pref = std::ptr::null_mut();
            status("preference", pref_create(&mut pref))?;
            let ws = WORKSPACE_BYTES as u64;
            status(
                "workspace preference",
                pref_set(pref, 1, &ws as *const u64 as *const c_void, 8),
            )?;
            let mut heuristic = Box::new([0u64; 256]);
            let mut found = 0;
            let r = heuristic_fn(
                handle,
                desc,
                layouts[0],
                layouts[1],
                layouts[2],
                layouts[2],
                pref,
                1,
                heuristic.as_mut_ptr() as *mut c_void,
                &mut found,
            );
            let _ = pref_destroy(pref);
            status("finding an algorithm", r)?;
            if found < 1 {
                return Err(Error::unsupported(format!(
                    "hipBLASLt has no algorithm for {} m={m} n={n} k={k}",
                    spec.dtype
                )));
            }
            let mut workspace = std::ptr::null_mut();
            hip.check(
                "hipMalloc (hipBLASLt workspace)",
                (hip.hipMalloc)(&mut workspace, WORKSPACE_BYTES),
            )
            .map_err(Error::backend)?;
            Ok(LtMatmul {
                _lib: lib,
                matmul,
                destroy,
                handle,
                desc,
                layouts,
                heuristic,
                workspace,
                hip,
                out: out_spec(spec, 2, "c")?,
            })
        }
    }

    /// Output bytes of one set.
    pub fn out_bytes(spec: &OpSpec) -> Result<Vec<usize>> {
        let s = LinearShape::of(spec)?;
        Ok(vec![(s.m * s.n * spec.dtype.size_bytes()) as usize])
    }

    /// Enqueues `C = A·Wᵀ` on `stream`.
    fn enqueue(
        &self,
        a: *const c_void,
        w: *const c_void,
        c: *mut c_void,
        stream: *mut c_void,
    ) -> Result<()> {
        let (alpha, beta) = (1.0f32, 0.0f32);
        let [lw, la, lc] = self.layouts;
        // SAFETY: pointers come from live buffers sized for these layouts; the handle,
        // descriptor, layouts and algorithm were created together in `new`.
        let r = unsafe {
            (self.matmul)(
                self.handle,
                self.desc,
                &alpha as *const f32 as *const c_void,
                w,
                lw,
                a,
                la,
                &beta as *const f32 as *const c_void,
                c,
                lc,
                c,
                lc,
                self.heuristic.as_ptr() as *const c_void,
                self.workspace,
                WORKSPACE_BYTES,
                stream,
            )
        };
        status("matmul", r)
    }
}

impl Launcher for LtMatmul {
    fn launch(&mut self, stream: *mut c_void, set: &mut Set) -> Result<()> {
        let [a, w, c] = [0, 1, 2].map(|i| set.bufs.get(i).map(|b| b.ptr));
        let (Some(a), Some(w), Some(c)) = (a, w, c) else {
            return Err(Error::backend(
                "a hipBLASLt set holds a, w and c; this one has fewer buffers",
            ));
        };
        self.enqueue(a, w, c, stream)
    }

    fn output(&self) -> OutputSpec {
        self.out.clone()
    }
}

impl Drop for LtMatmul {
    fn drop(&mut self) {
        // SAFETY: each object was created in `new` and is released exactly once here.
        unsafe {
            for l in self.layouts {
                let _ = (self.destroy[0])(l);
            }
            let _ = (self.destroy[1])(self.desc);
            let _ = (self.destroy[2])(self.handle);
            let _ = (self.hip.hipFree)(self.workspace);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absence_is_a_sentence() {
        // Debian has no hipBLASLt; on a ROCm node this finds it.
        match available() {
            Ok(path) => assert!(path.contains("hipblaslt")),
            Err(e) => assert!(
                e.starts_with("hipBLASLt not found (looked for libhipblaslt.so"),
                "{e}"
            ),
        }
    }

    #[test]
    fn enum_values_by_dtype_and_release() {
        assert_eq!(data_type(DType::Bf16), Some(14));
        assert_eq!(data_type(DType::F16), Some(2));
        assert_eq!(data_type(DType::Fp8E4m3), None);
        assert_eq!(compute_32f(60_443_000), 2, "ROCm 6.4");
        assert_eq!(compute_32f(70_100_000), 68, "ROCm 7.1");
    }
}
