//! Host-side ceilings: pinned host↔device copies (PCIe or C2C bandwidth).

use std::sync::Arc;

use cudarc::driver::{CudaContext, CudaStream, PinnedHostSlice};
use hotpath_core::ops::StreamShape;
use hotpath_core::{HostTensor, OpKind, OpSpec, Result};

use super::{out_spec, Launcher, OutputSpec, Set};
use crate::buffers::host_bytes;

fn driver(what: &str, e: impl std::fmt::Display) -> hotpath_core::Error {
    hotpath_core::Error::backend(format!("CUDA {what} failed: {e}"))
}

/// `h2d` (pinned host `a` → device `b`, set = `[a on device (unused), b]`) or `d2h`
/// (device `a` → pinned host `b`).
pub struct Transfer {
    op: OpKind,
    bytes: usize,
    host: PinnedHostSlice<u8>,
    out: OutputSpec,
}

impl Transfer {
    /// Allocates page-locked host memory (not write-combined, so the host can read it back)
    /// holding the input for `h2d`.
    pub fn new(spec: &OpSpec, ctx: &Arc<CudaContext>, input: &HostTensor) -> Result<Transfer> {
        let src = host_bytes(input);
        // SAFETY: flags 0 = ordinary page-locked memory; every byte is written just below.
        let mut host = unsafe { ctx.alloc_pinned_with_flags::<u8>(src.len().max(1), 0) }
            .map_err(|e| driver("allocating pinned host memory", e))?;
        host.as_mut_slice()
            .map_err(|e| driver("mapping pinned memory", e))?[..src.len()]
            .copy_from_slice(&src);
        Ok(Transfer {
            op: spec.op,
            bytes: src.len(),
            host,
            out: out_spec(spec, 1, "b")?,
        })
    }

    /// Output bytes of one set (the device side of the copy).
    pub fn out_bytes(spec: &OpSpec) -> Result<Vec<usize>> {
        Ok(vec![
            (StreamShape::of(spec)?.elements * spec.dtype.size_bytes()) as usize,
        ])
    }
}

impl Launcher for Transfer {
    fn launch(&mut self, stream: &Arc<CudaStream>, set: &mut Set) -> Result<()> {
        if self.op == OpKind::H2d {
            let mut dst = set.bufs[1].slice_mut(0..self.bytes);
            stream
                .memcpy_htod(&self.host, &mut dst)
                .map_err(|e| driver("host-to-device copy", e))
        } else {
            let src = set.bufs[0].slice(0..self.bytes);
            stream
                .memcpy_dtoh(&src, &mut self.host)
                .map_err(|e| driver("device-to-host copy", e))
        }
    }

    fn output(&self) -> OutputSpec {
        self.out.clone()
    }

    fn host_output(&self, stream: &Arc<CudaStream>) -> Option<Result<HostTensor>> {
        if self.op == OpKind::H2d {
            return None;
        }
        let read = || -> Result<HostTensor> {
            stream
                .synchronize()
                .map_err(|e| driver("synchronising", e))?;
            let bytes = self
                .host
                .as_slice()
                .map_err(|e| driver("mapping pinned memory", e))?;
            Ok(HostTensor::from_le_bytes(
                self.out.name,
                self.out.shape.clone(),
                self.out.dtype,
                bytes,
            ))
        };
        Some(read())
    }
}
