//! Decode GEMV and prefill GEMM, our kernels.

use std::sync::Arc;

use cudarc::driver::{CudaFunction, CudaSlice, CudaStream, PushKernelArg};
use hotpath_core::{Error, OpSpec, Result};

use super::{go, launch_err, out_spec, suffix, FuncLookup, Launcher, OutputSpec, Set};
use crate::buffers::zeros;
use crate::launch;

/// Decode GEMV (our kernel, split-K when rows are few).
pub struct Gemv {
    m: i32,
    n: i32,
    k: i32,
    splits: i32,
    main: CudaFunction,
    finish: CudaFunction,
    ws: CudaSlice<u8>,
    out: OutputSpec,
}

impl Gemv {
    /// Checks the kernel's restrictions and resolves it.
    pub fn new(
        spec: &OpSpec,
        sms: u32,
        stream: &Arc<CudaStream>,
        func: &mut FuncLookup,
    ) -> Result<Gemv> {
        let (m, n, k) = (spec.dim("m"), spec.dim("n"), spec.dim("k"));
        if k % 8 != 0 {
            return Err(Error::unsupported(format!(
                "the hotpath gemv needs k to be a multiple of 8 (16-byte rows); got k={k}"
            )));
        }
        let dt = suffix(spec.dtype);
        let splits = launch::gemv_splits(n, k, sms);
        Ok(Gemv {
            m: m as i32,
            n: n as i32,
            k: k as i32,
            splits: splits as i32,
            main: func(&format!("hp_gemv_{dt}"))?,
            finish: func(&format!("hp_gemv_finish_{dt}"))?,
            ws: zeros(stream, (m * n * 4) as usize)?,
            out: out_spec(spec, 2, "c"),
        })
    }
}

impl Launcher for Gemv {
    fn launch(&mut self, stream: &Arc<CudaStream>, set: &mut Set) -> Result<()> {
        let (ab, c) = set.bufs.split_at_mut(2);
        let g = launch::gemv(self.n as u64, self.splits as u32);
        if self.splits > 1 {
            stream
                .memset_zeros(&mut self.ws)
                .map_err(|e| launch_err("memset", e))?;
            go!(
                stream,
                &self.main,
                g,
                &ab[0],
                &ab[1],
                &mut c[0],
                &self.ws,
                &self.m,
                &self.n,
                &self.k,
                &self.splits
            )?;
            let count = self.m as i64 * self.n as i64;
            go!(
                stream,
                &self.finish,
                launch::elementwise(count as u64),
                &self.ws,
                &mut c[0],
                &count
            )
        } else {
            go!(
                stream,
                &self.main,
                g,
                &ab[0],
                &ab[1],
                &mut c[0],
                &self.ws,
                &self.m,
                &self.n,
                &self.k,
                &self.splits
            )
        }
    }

    fn output(&self) -> OutputSpec {
        self.out.clone()
    }
}

/// Prefill GEMM, our tensor-core kernel (f16/bf16).
pub struct Gemm {
    m: i32,
    n: i32,
    k: i32,
    main: CudaFunction,
    out: OutputSpec,
}

impl Gemm {
    /// Checks the kernel's restrictions and resolves it.
    pub fn new(spec: &OpSpec, func: &mut FuncLookup) -> Result<Gemm> {
        let (m, n, k) = (spec.dim("m"), spec.dim("n"), spec.dim("k"));
        if k % 8 != 0 {
            return Err(Error::unsupported(format!(
                "the hotpath gemm needs k to be a multiple of 8 (16-byte rows); got k={k}"
            )));
        }
        Ok(Gemm {
            m: m as i32,
            n: n as i32,
            k: k as i32,
            main: func(&format!("hp_gemm_{}", suffix(spec.dtype)))?,
            out: out_spec(spec, 2, "c"),
        })
    }
}

impl Launcher for Gemm {
    fn launch(&mut self, stream: &Arc<CudaStream>, set: &mut Set) -> Result<()> {
        let (ab, c) = set.bufs.split_at_mut(2);
        let g = launch::gemm(self.m as u64, self.n as u64);
        go!(stream, &self.main, g, &ab[0], &ab[1], &mut c[0], &self.m, &self.n, &self.k)
    }

    fn output(&self) -> OutputSpec {
        self.out.clone()
    }
}

/// Output bytes of a gemm/gemv set: `c[m,n]`.
pub fn out_bytes(spec: &OpSpec) -> Vec<usize> {
    vec![(spec.dim("m") * spec.dim("n") * spec.dtype.size_bytes()) as usize]
}
