//! Host-side ceilings: pinned host↔device copies (PCIe or Infinity Fabric bandwidth).

use std::ffi::c_void;

use hotpath_core::ops::StreamShape;
use hotpath_core::{Error, HostTensor, OpKind, OpSpec, Result};

use super::{out_spec, Launcher, OutputSpec, Set};
use crate::buffers::Pinned;
use crate::device::err;
use crate::hip::{Hip, MEMCPY_D2H, MEMCPY_H2D};

/// `h2d` (pinned host `a` → device `b`, set = `[a on device (unused), b]`) or `d2h`
/// (device `a` → pinned host `b`).
pub struct Transfer {
    h: &'static Hip,
    op: OpKind,
    bytes: usize,
    host: Pinned,
    out: OutputSpec,
}

impl Transfer {
    /// Allocates page-locked host memory (`hipHostMalloc`, ordinary: the host can read it
    /// back) holding the input for `h2d`.
    pub fn new(spec: &OpSpec, h: &'static Hip, input: &HostTensor) -> Result<Transfer> {
        let src = input.to_le_bytes();
        let mut ptr = std::ptr::null_mut();
        // SAFETY: out-pointer valid; flags 0 = ordinary pinned memory.
        h.check("hipHostMalloc", unsafe {
            (h.hipHostMalloc)(&mut ptr, src.len().max(1), 0)
        })
        .map_err(err)?;
        let host = Pinned { h, ptr };
        // SAFETY: the pinned buffer holds at least `src.len()` bytes and does not overlap `src`.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), ptr as *mut u8, src.len()) };
        Ok(Transfer {
            h,
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

fn buffer(set: &Set, i: usize) -> Result<*mut c_void> {
    set.bufs
        .get(i)
        .map(|b| b.ptr)
        .ok_or_else(|| Error::backend(format!("a copy's set has no buffer {i}")))
}

impl Launcher for Transfer {
    fn launch(&mut self, stream: *mut c_void, set: &mut Set) -> Result<()> {
        let h = self.h;
        let r = if self.op == OpKind::H2d {
            let dst = buffer(set, 1)?;
            // SAFETY: the pinned buffer and the device buffer both hold `bytes`.
            unsafe { (h.hipMemcpyAsync)(dst, self.host.ptr, self.bytes, MEMCPY_H2D, stream) }
        } else {
            let src = buffer(set, 0)?;
            // SAFETY: as above.
            unsafe { (h.hipMemcpyAsync)(self.host.ptr, src, self.bytes, MEMCPY_D2H, stream) }
        };
        h.check("hipMemcpyAsync", r).map_err(err)
    }

    fn output(&self) -> OutputSpec {
        self.out.clone()
    }

    fn host_output(&self, stream: *mut c_void) -> Option<Result<HostTensor>> {
        if self.op == OpKind::H2d {
            return None;
        }
        let read = || -> Result<HostTensor> {
            let h = self.h;
            // SAFETY: the stream is the benchmark's, live while it is.
            h.check("hipStreamSynchronize", unsafe {
                (h.hipStreamSynchronize)(stream)
            })
            .map_err(err)?;
            // SAFETY: the pinned buffer holds `bytes` (the copy's size); the stream is idle.
            let bytes =
                unsafe { std::slice::from_raw_parts(self.host.ptr as *const u8, self.bytes) };
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
