//! Device and pinned host buffers of the HIP runtime, each freed when dropped.

use std::ffi::c_void;

use hotpath_core::{DType, HostTensor, Result};

use crate::device::err;
use crate::hip::{Hip, MEMCPY_D2H, MEMCPY_H2D};

/// A device allocation, freed when dropped.
pub(crate) struct DevBuf {
    pub(crate) h: &'static Hip,
    /// Device pointer.
    pub(crate) ptr: *mut c_void,
}

impl Drop for DevBuf {
    fn drop(&mut self) {
        // SAFETY: allocated by hipMalloc in `alloc`, freed once.
        let _ = unsafe { (self.h.hipFree)(self.ptr) };
    }
}

/// `bytes` of zeroed device memory (rounded up to 256 B, as the kernels may touch the padding),
/// zeroed on `stream`.
pub(crate) fn alloc(h: &'static Hip, bytes: usize, stream: *mut c_void) -> Result<DevBuf> {
    let padded = bytes.div_ceil(256).max(1) * 256;
    let mut ptr = std::ptr::null_mut();
    // SAFETY: out-pointer valid; the memset covers exactly the allocation.
    unsafe {
        h.check(
            &format!("hipMalloc of {padded} bytes"),
            (h.hipMalloc)(&mut ptr, padded),
        )
        .map_err(err)?;
        let buf = DevBuf { h, ptr };
        h.check("hipMemsetAsync", (h.hipMemsetAsync)(ptr, 0, padded, stream))
            .map_err(err)?;
        Ok(buf)
    }
}

/// A device copy of `t` (its little-endian bytes), allocated and zeroed on `stream` first.
pub(crate) fn upload(h: &'static Hip, t: &HostTensor, stream: *mut c_void) -> Result<DevBuf> {
    let bytes = t.to_le_bytes();
    let buf = alloc(h, bytes.len(), stream)?;
    // SAFETY: the memset above is stream-ordered; synchronise before the blocking copy.
    unsafe {
        h.check("hipStreamSynchronize", (h.hipStreamSynchronize)(stream))
            .map_err(err)?;
        h.check(
            &format!("uploading '{}'", t.name),
            (h.hipMemcpy)(
                buf.ptr,
                bytes.as_ptr() as *const c_void,
                bytes.len(),
                MEMCPY_H2D,
            ),
        )
        .map_err(err)?;
    }
    Ok(buf)
}

/// Reads `shape` elements of `dtype` back from `buf` with a blocking copy (call it once the
/// stream that wrote `buf` is idle).
pub(crate) fn download(
    h: &'static Hip,
    buf: &DevBuf,
    name: &'static str,
    dtype: DType,
    shape: Vec<usize>,
) -> Result<HostTensor> {
    let len: usize = shape.iter().product();
    let bytes = len * dtype.size_bytes() as usize;
    let mut host = vec![0u8; bytes];
    // SAFETY: the output buffer holds at least `bytes`; `host` is exactly `bytes`.
    let r = unsafe { (h.hipMemcpy)(host.as_mut_ptr() as *mut c_void, buf.ptr, bytes, MEMCPY_D2H) };
    h.check("reading the output back", r).map_err(err)?;
    Ok(HostTensor::from_le_bytes(name, shape, dtype, &host))
}

/// Pinned host memory (`hipHostMalloc`), freed when dropped.
pub(crate) struct Pinned {
    pub(crate) h: &'static Hip,
    /// Host pointer.
    pub(crate) ptr: *mut c_void,
}

impl Drop for Pinned {
    fn drop(&mut self) {
        // SAFETY: allocated by hipHostMalloc (`ops::host::Transfer::new`), freed once.
        let _ = unsafe { (self.h.hipHostFree)(self.ptr) };
    }
}
