//! The vendor-library implementation on a CPU: candle-core's matmul (the `gemm` crate,
//! multithreaded), reported as impl `candle` for gemm and gemv.

use rayon::prelude::*;

use candle_core::{DType as CDType, Device, Tensor};

use hotpath_core::ops::LinearShape;
use hotpath_core::{DType, Error, HostData, HostTensor, Inputs, OpSpec, Result};

use crate::kernels::Kernel;

fn candle_err(e: candle_core::Error) -> Error {
    Error::backend(format!("candle: {e}"))
}

fn to_tensor(t: &HostTensor, rows: usize, cols: usize) -> Result<Tensor> {
    let dev = Device::Cpu;
    let r = match &t.data {
        HostData::F32(v) => Tensor::from_slice(v, (rows, cols), &dev),
        HostData::F16(v) => Tensor::from_slice(v, (rows, cols), &dev),
        HostData::Bf16(v) => Tensor::from_slice(v, (rows, cols), &dev),
        HostData::Fp8E4m3(_) | HostData::Fp8E4m3Fnuz(_) | HostData::I32(_) | HostData::U32(_) => {
            return Err(Error::unsupported(format!(
                "candle does not multiply tensor '{}' of this dtype",
                t.name
            )))
        }
    };
    r.map_err(candle_err)
}

struct Set {
    a: Tensor,
    /// Wᵀ as a strided view of W[n,k] (no copy): candle's gemm reads it transposed.
    wt: Tensor,
    c: Option<Tensor>,
}

/// `C = A·Wᵀ` through candle.
pub struct CandleMatmul {
    dtype: DType,
    m: usize,
    n: usize,
    sets: Vec<Set>,
}

/// Builds the candle matmul with `sets` rotation sets.
pub fn build(spec: &OpSpec, inputs: &Inputs, sets: usize) -> Result<Box<dyn Kernel>> {
    let s = LinearShape::of(spec)?;
    let (m, n, k) = (s.m as usize, s.n as usize, s.k as usize);
    // Filled in parallel, as every CPU kernel's sets (crate::kernels::output).
    let out = (0..sets)
        .into_par_iter()
        .map(|_| -> Result<Set> {
            let a = to_tensor(inputs.get("a")?, m, k)?;
            let wt = to_tensor(inputs.get("w")?, n, k)?.t().map_err(candle_err)?;
            Ok(Set { a, wt, c: None })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Box::new(CandleMatmul {
        dtype: spec.dtype,
        m,
        n,
        sets: out,
    }))
}

impl Kernel for CandleMatmul {
    fn run(&mut self, set: usize) -> Result<()> {
        let s = &mut self.sets[set];
        s.c = Some(s.a.matmul(&s.wt).map_err(candle_err)?);
        Ok(())
    }

    fn output(&self, set: usize) -> HostTensor {
        let shape = vec![self.m, self.n];
        let c = self.sets[set].c.as_ref().and_then(|c| c.flatten_all().ok());
        let data = match (self.dtype, c) {
            (DType::F32, Some(c)) => c
                .to_dtype(CDType::F32)
                .and_then(|c| c.to_vec1())
                .map(HostData::F32),
            (DType::F16, Some(c)) => c.to_vec1().map(HostData::F16),
            (DType::Bf16, Some(c)) => c.to_vec1().map(HostData::Bf16),
            _ => Ok(HostData::F32(vec![])),
        };
        HostTensor {
            name: "c",
            shape,
            data: data.unwrap_or(HostData::F32(vec![])),
        }
    }
}
