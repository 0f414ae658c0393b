//! cuBLASLt as the vendor implementation of gemm and gemv (impl `cublaslt`). Descriptors,
//! layouts and the algorithm are chosen once in `prepare`; an iteration is one
//! `cublasLtMatmul` call, as a serving engine issues it.
//!
//! Row-major `C[m,n] = A[m,k]·W[n,k]ᵀ` is the column-major product `Cᶜ[n,m] = (Wᶜ)ᵀ·Aᶜ`
//! where `Wᶜ` is `W` read as a column-major `k×n` matrix: TRANSA = T, TRANSB = N, the "TN"
//! layout fp8 requires. fp8 multiplies e4m3 inputs into a bf16 output.

use std::ffi::c_void;
use std::sync::Arc;

use cudarc::cublaslt::{result, sys};
use cudarc::driver::{CudaSlice, CudaStream, DevicePtr, DevicePtrMut};
use hotpath_core::ops::LinearShape;
use hotpath_core::{DType, Error, OpSpec, Result};

use crate::buffers::zeros;
use crate::ops::{Launcher, OutputSpec, Set};

/// Workspace handed to cuBLASLt (the size NVIDIA recommends for Hopper).
pub const WORKSPACE_BYTES: usize = 32 << 20;

fn blas_err(what: &str, e: impl std::fmt::Debug) -> Error {
    Error::backend(format!("cuBLASLt {what} failed: {e:?}"))
}

/// True when libcublasLt can be loaded.
pub fn available() -> bool {
    // SAFETY: probing for the library by name; nothing is called.
    unsafe { sys::is_culib_present() }
}

/// Data types of (inputs, output) for a hotpath dtype.
pub fn types(dtype: DType) -> (sys::cudaDataType, sys::cudaDataType) {
    use sys::cudaDataType::*;
    match dtype {
        DType::F32 => (CUDA_R_32F, CUDA_R_32F),
        DType::F16 => (CUDA_R_16F, CUDA_R_16F),
        DType::Bf16 => (CUDA_R_16BF, CUDA_R_16BF),
        DType::Fp8E4m3 => (CUDA_R_8F_E4M3, CUDA_R_16BF),
    }
}

/// The output dtype of a cuBLASLt product at `dtype` (fp8 writes bf16).
pub fn output_dtype(dtype: DType) -> DType {
    if dtype == DType::Fp8E4m3 {
        DType::Bf16
    } else {
        dtype
    }
}

/// A planned `C = A·Wᵀ`.
pub struct LtMatmul {
    handle: sys::cublasLtHandle_t,
    desc: sys::cublasLtMatmulDesc_t,
    layouts: [sys::cublasLtMatrixLayout_t; 3],
    algo: sys::cublasLtMatmulAlgo_t,
    workspace: CudaSlice<u8>,
    out: OutputSpec,
}

impl LtMatmul {
    /// Plans the product for `spec` (gemm or gemv shapes).
    pub fn new(spec: &OpSpec, stream: &Arc<CudaStream>) -> Result<LtMatmul> {
        if !available() {
            return Err(Error::unsupported(
                "cuBLASLt (libcublasLt.so) was not found on the loader path",
            ));
        }
        let LinearShape { m, n, k } = LinearShape::of(spec)?;
        if spec.dtype == DType::Fp8E4m3 && (m % 16 != 0 || n % 16 != 0 || k % 16 != 0) {
            return Err(Error::unsupported(format!(
                "cuBLASLt fp8 needs m, n and k to be multiples of 16; got m={m}, n={n}, k={k}"
            )));
        }
        let (in_t, out_t) = types(spec.dtype);
        let handle = result::create_handle().map_err(|e| blas_err("create", e))?;
        let desc = result::create_matmul_desc(
            sys::cublasComputeType_t::CUBLAS_COMPUTE_32F,
            sys::cudaDataType::CUDA_R_32F,
        )
        .map_err(|e| blas_err("matmul descriptor", e))?;
        // cublasOperation_t: 0 = N, 1 = T.
        let trans: i32 = 1;
        // SAFETY: `desc` is live; the attribute is a cublasOperation_t passed by pointer with its size.
        unsafe {
            result::set_matmul_desc_attribute(
                desc,
                sys::cublasLtMatmulDescAttributes_t::CUBLASLT_MATMUL_DESC_TRANSA,
                &trans as *const _ as *const c_void,
                std::mem::size_of_val(&trans),
            )
        }
        .map_err(|e| blas_err("TRANSA", e))?;
        let a = result::create_matrix_layout(in_t, k, n, k as i64)
            .map_err(|e| blas_err("layout W", e))?;
        let b = result::create_matrix_layout(in_t, k, m, k as i64)
            .map_err(|e| blas_err("layout A", e))?;
        let c = result::create_matrix_layout(out_t, n, m, n as i64)
            .map_err(|e| blas_err("layout C", e))?;
        let pref = result::create_matmul_pref().map_err(|e| blas_err("preference", e))?;
        let ws = WORKSPACE_BYTES;
        // SAFETY: `pref` is live; the attribute is a usize passed by pointer with its size.
        let heuristic = unsafe {
            result::set_matmul_pref_attribute(
                pref,
                sys::cublasLtMatmulPreferenceAttributes_t::CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                &ws as *const _ as *const c_void,
                std::mem::size_of_val(&ws),
            )
            .and_then(|_| result::get_matmul_algo_heuristic(handle, desc, a, b, c, c, pref))
        };
        // SAFETY: destroying the preference we created; not used afterwards.
        let _ = unsafe { result::destroy_matmul_pref(pref) };
        let heuristic = heuristic.map_err(|e| {
            blas_err(
                &format!("finding an algorithm for {} m={m} n={n} k={k}", spec.dtype),
                e,
            )
        })?;
        let out = OutputSpec {
            buf: 2,
            name: "c",
            dtype: output_dtype(spec.dtype),
            shape: vec![m as usize, n as usize],
        };
        Ok(LtMatmul {
            handle,
            desc,
            layouts: [a, b, c],
            algo: heuristic.algo,
            workspace: zeros(stream, ws)?,
            out,
        })
    }

    /// Output bytes of one set.
    pub fn out_bytes(spec: &OpSpec) -> Result<Vec<usize>> {
        let bytes = output_dtype(spec.dtype).size_bytes();
        let s = LinearShape::of(spec)?;
        Ok(vec![(s.m * s.n * bytes) as usize])
    }
}

impl Launcher for LtMatmul {
    fn launch(&mut self, stream: &Arc<CudaStream>, set: &mut Set) -> Result<()> {
        let (alpha, beta) = (1.0f32, 0.0f32);
        let (ab, c) = set.bufs.split_at_mut(2);
        let (a_ptr, _ra) = ab[0].device_ptr(stream);
        let (w_ptr, _rw) = ab[1].device_ptr(stream);
        let (c_ptr, _rc) = c[0].device_ptr_mut(stream);
        let (ws_ptr, _rws) = self.workspace.device_ptr_mut(stream);
        let [la, lb, lc] = self.layouts;
        // SAFETY: pointers come from live buffers sized for these layouts; the handle,
        // descriptor, layouts and algorithm were created together in `new`.
        unsafe {
            result::matmul(
                self.handle,
                self.desc,
                &alpha as *const f32 as *const c_void,
                &beta as *const f32 as *const c_void,
                w_ptr as *const c_void,
                la,
                a_ptr as *const c_void,
                lb,
                c_ptr as *const c_void,
                lc,
                c_ptr as *mut c_void,
                lc,
                &self.algo,
                ws_ptr as *mut c_void,
                WORKSPACE_BYTES,
                stream.cu_stream() as *mut _,
            )
        }
        .map_err(|e| blas_err("matmul", e))
    }

    fn output(&self) -> OutputSpec {
        self.out.clone()
    }
}

impl Drop for LtMatmul {
    fn drop(&mut self) {
        // SAFETY: each object was created in `new` and is destroyed exactly once here.
        unsafe {
            for l in self.layouts {
                let _ = result::destroy_matrix_layout(l);
            }
            let _ = result::destroy_matmul_desc(self.desc);
            let _ = result::destroy_handle(self.handle);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fp8_writes_bf16_and_others_keep_their_type() {
        assert_eq!(output_dtype(DType::Fp8E4m3), DType::Bf16);
        assert_eq!(output_dtype(DType::Bf16), DType::Bf16);
        let (i, o) = types(DType::Fp8E4m3);
        assert_eq!(
            (i, o),
            (
                sys::cudaDataType::CUDA_R_8F_E4M3,
                sys::cudaDataType::CUDA_R_16BF
            )
        );
    }
}
