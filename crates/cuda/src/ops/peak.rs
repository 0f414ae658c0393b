//! The compute roof: FMA chains (f32) and tensor-core mma chains (f16, bf16, fp8).

use std::sync::Arc;

use cudarc::driver::{CudaFunction, CudaStream, PushKernelArg};
use hotpath_core::{DType, OpSpec, Result, Work};

use super::{go, suffix, FuncLookup, Launcher, OutputSpec, Set};
use crate::launch::{self, Geometry};

/// `hp_peak_fma_f32` or `hp_peak_mma_*`: one output buffer of per-lane results.
pub struct Peak {
    iters: i32,
    geometry: Geometry,
    lanes: u64,
    flops: u64,
    main: CudaFunction,
}

impl Peak {
    /// Resolves the kernel for `spec.dtype` on a GPU with `sms` SMs.
    pub fn new(spec: &OpSpec, sms: u32, func: &mut FuncLookup) -> Result<Peak> {
        let iters = spec.dim("iters");
        let g = launch::peak(sms);
        let (name, lanes, flops) = match spec.dtype {
            DType::F32 => (
                "hp_peak_fma_f32".to_string(),
                launch::peak_fma_lanes(&g),
                launch::peak_fma_flops(&g, iters),
            ),
            d => {
                let k = if d == DType::Fp8E4m3 { 32 } else { 16 };
                (
                    format!("hp_peak_mma_{}", suffix(d)),
                    launch::peak_mma_lanes(&g),
                    launch::peak_mma_flops(&g, k, iters),
                )
            }
        };
        Ok(Peak {
            iters: iters as i32,
            geometry: g,
            lanes,
            flops,
            main: func(&name)?,
        })
    }

    /// Output bytes: one f32 per lane.
    pub fn out_bytes(sms: u32, dtype: DType) -> Vec<usize> {
        let g = launch::peak(sms);
        let lanes = if dtype == DType::F32 {
            launch::peak_fma_lanes(&g)
        } else {
            launch::peak_mma_lanes(&g)
        };
        vec![lanes as usize * 4]
    }
}

impl Launcher for Peak {
    fn launch(&mut self, stream: &Arc<CudaStream>, set: &mut Set) -> Result<()> {
        go!(
            stream,
            &self.main,
            self.geometry,
            &mut set.bufs[0],
            &self.iters
        )
    }

    fn output(&self) -> OutputSpec {
        OutputSpec {
            buf: 0,
            name: "lanes",
            dtype: DType::F32,
            shape: vec![self.lanes as usize],
        }
    }

    fn counted_work(&self) -> Option<Work> {
        Some(Work {
            flops: self.flops,
            bytes: 0,
        })
    }
}
