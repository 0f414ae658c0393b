//! The STREAM-style ceilings: copy, write, triad (grid-stride) and read (partials + reduce).

use std::sync::Arc;

use cudarc::driver::{CudaFunction, CudaSlice, CudaStream, PushKernelArg};
use hotpath_core::inputs::{TRIAD_SCALAR, WRITE_VALUE};
use hotpath_core::{DType, Error, OpKind, OpSpec, Result};

use super::{go, out_spec, suffix, FuncLookup, Launcher, OutputSpec, Set, Uint4};
use crate::buffers::{vector_pattern, zeros};
use crate::launch::{self, Geometry};

/// STREAM copy / write / triad / read.
pub struct Stream {
    op: OpKind,
    dtype: DType,
    n: i64,
    sms: u32,
    main: CudaFunction,
    reduce: Option<CudaFunction>,
    partials: Option<CudaSlice<u8>>,
    out: OutputSpec,
}

impl Stream {
    /// Resolves the kernels; `func` maps a kernel name to its function.
    pub fn new(
        spec: &OpSpec,
        sms: u32,
        stream: &Arc<CudaStream>,
        func: &mut FuncLookup,
    ) -> Result<Stream> {
        let n = spec.dim("elements") as i64;
        let dt = suffix(spec.dtype);
        let (main, reduce, partials) = match spec.op {
            OpKind::Copy => (func("hp_copy")?, None, None),
            OpKind::Write => (func("hp_write")?, None, None),
            OpKind::Triad => (func(&format!("hp_triad_{dt}"))?, None, None),
            _ => {
                let blocks = launch::read(n as u64, spec.dtype.size_bytes(), sms).blocks() as usize;
                (
                    func(&format!("hp_read_{dt}"))?,
                    Some(func("hp_reduce_partials")?),
                    Some(zeros(stream, blocks * 4)?),
                )
            }
        };
        let out = match spec.op {
            OpKind::Copy => out_spec(spec, 1, "b"),
            OpKind::Write => out_spec(spec, 0, "a"),
            OpKind::Triad => out_spec(spec, 2, "a"),
            _ => OutputSpec {
                buf: 1,
                name: "sum",
                dtype: DType::F32,
                shape: vec![1],
            },
        };
        Ok(Stream {
            op: spec.op,
            dtype: spec.dtype,
            n,
            sms,
            main,
            reduce,
            partials,
            out,
        })
    }

    /// Output bytes each set needs beyond its inputs.
    pub fn out_bytes(spec: &OpSpec) -> Vec<usize> {
        let n = spec.dim("elements") as usize * spec.dtype.size_bytes() as usize;
        match spec.op {
            OpKind::Copy | OpKind::Write | OpKind::Triad => vec![n],
            _ => vec![4],
        }
    }
}

impl Launcher for Stream {
    fn launch(&mut self, stream: &Arc<CudaStream>, set: &mut Set) -> Result<()> {
        let bytes = self.n as u64 * self.dtype.size_bytes();
        let n_vec = launch::vectors16(bytes) as i64;
        match self.op {
            OpKind::Copy => {
                let (a, b) = set.bufs.split_at_mut(1);
                go!(
                    stream,
                    &self.main,
                    launch::stream(n_vec as u64, self.sms),
                    &a[0],
                    &mut b[0],
                    &n_vec
                )
            }
            OpKind::Write => {
                let pattern = Uint4(vector_pattern(self.dtype, WRITE_VALUE));
                go!(
                    stream,
                    &self.main,
                    launch::stream(n_vec as u64, self.sms),
                    &mut set.bufs[0],
                    &n_vec,
                    &pattern
                )
            }
            OpKind::Triad => {
                let (bc, a) = set.bufs.split_at_mut(2);
                let q = TRIAD_SCALAR;
                go!(
                    stream,
                    &self.main,
                    launch::stream(self.n as u64, self.sms),
                    &mut a[0],
                    &bc[0],
                    &bc[1],
                    &self.n,
                    &q
                )
            }
            _ => {
                let g = launch::read(self.n as u64, self.dtype.size_bytes(), self.sms);
                let (Some(reduce), Some(partials)) = (&self.reduce, &self.partials) else {
                    return Err(Error::backend("read kernel prepared without its reduction"));
                };
                let count = g.blocks() as i32;
                let (a, out) = set.bufs.split_at_mut(1);
                go!(stream, &self.main, g, &a[0], &self.n, partials)?;
                go!(
                    stream,
                    reduce,
                    Geometry {
                        grid: (1, 1, 1),
                        block: (256, 1, 1)
                    },
                    partials,
                    &count,
                    &mut out[0]
                )
            }
        }
    }

    fn output(&self) -> OutputSpec {
        self.out.clone()
    }
}
