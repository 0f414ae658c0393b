//! Device buffers: host tensors uploaded as bytes (sizes rounded up to 256 B so kernels may
//! move whole 16-byte vectors past the last element) and outputs read back into host tensors.

use std::sync::Arc;

use cudarc::driver::{CudaSlice, CudaStream};
use hotpath_core::{DType, Error, HostTensor, Result};

/// Allocation granule: every buffer's byte size is rounded up to this.
pub const GRANULE: usize = 256;

/// `bytes` rounded up to [`GRANULE`] (at least one granule).
pub fn padded(bytes: usize) -> usize {
    bytes.div_ceil(GRANULE).max(1) * GRANULE
}

/// The bytes of a host tensor, as stored (little-endian on every supported host).
pub fn host_bytes(t: &HostTensor) -> Vec<u8> {
    t.to_le_bytes()
}

fn driver(what: &str, e: impl std::fmt::Display) -> Error {
    Error::backend(format!("CUDA {what} failed: {e}"))
}

/// A zeroed device buffer of at least `bytes` bytes.
pub fn zeros(stream: &Arc<CudaStream>, bytes: usize) -> Result<CudaSlice<u8>> {
    stream
        .alloc_zeros::<u8>(padded(bytes))
        .map_err(|e| driver(&format!("allocating {bytes} bytes"), e))
}

/// Uploads `t` into a fresh padded buffer.
pub fn upload(stream: &Arc<CudaStream>, t: &HostTensor) -> Result<CudaSlice<u8>> {
    let bytes = host_bytes(t);
    let mut buf = zeros(stream, bytes.len())?;
    let mut view = buf.slice_mut(0..bytes.len());
    stream
        .memcpy_htod(&bytes, &mut view)
        .map_err(|e| driver(&format!("uploading '{}'", t.name), e))?;
    Ok(buf)
}

/// Reads `len` elements of `dtype` back from `buf` (waits for the stream).
pub fn download(
    stream: &Arc<CudaStream>,
    buf: &CudaSlice<u8>,
    name: &'static str,
    dtype: DType,
    shape: Vec<usize>,
) -> Result<HostTensor> {
    let len: usize = shape.iter().product();
    let bytes = len * dtype.size_bytes() as usize;
    let mut host = vec![0u8; bytes];
    stream
        .memcpy_dtoh(&buf.slice(0..bytes), &mut host)
        .map_err(|e| driver("reading the output back", e))?;
    stream
        .synchronize()
        .map_err(|e| driver("synchronising", e))?;
    let _ = len;
    Ok(HostTensor::from_le_bytes(name, shape, dtype, &host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_and_round_trips() {
        assert_eq!(padded(0), 256);
        assert_eq!(padded(1), 256);
        assert_eq!(padded(257), 512);
        let t = HostTensor::from_f32("x", vec![3], DType::Bf16, &[1.0, -2.5, 0.375]);
        let b = host_bytes(&t);
        assert_eq!(b.len(), 6);
        // bf16 1.0 = 0x3F80, little-endian.
        assert_eq!(&b[..2], &[0x80, 0x3f]);
        assert_eq!(
            HostTensor::from_le_bytes("x", vec![3], DType::Bf16, &b).data,
            t.data
        );
        let f = HostTensor::from_f32("y", vec![2], DType::F32, &[1.5, -7.0]);
        assert_eq!(
            HostTensor::from_le_bytes("y", vec![2], DType::F32, &host_bytes(&f)).data,
            f.data
        );
    }
}
