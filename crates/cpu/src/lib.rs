//! hotpath-cpu: the CPU backend. Real multithreaded kernels (rayon, runtime-dispatched
//! AVX-512/AVX2 loops, candle-core's GEMM) timed with the wall clock, and the STREAM-style
//! ceilings that give a CPU its measured roofs.

#![deny(
    clippy::wildcard_enum_match_arm,
    clippy::match_wildcard_for_single_variants
)]

pub mod blas;
pub mod device;
pub mod health_source;
pub mod kernels;
pub mod priority;
pub mod simd;
pub mod telemetry;
pub mod timer;

use hotpath_core::{Backend, Device, DeviceInfo, Error, Result};

pub use device::CpuDevice;

/// The CPU backend: one device, the host.
#[derive(Default)]
pub struct CpuBackend;

impl CpuBackend {
    /// The backend (always available).
    pub fn new() -> CpuBackend {
        CpuBackend
    }
}

impl Backend for CpuBackend {
    fn name(&self) -> &'static str {
        "cpu"
    }

    fn devices(&self) -> Result<Vec<DeviceInfo>> {
        Ok(vec![CpuDevice::detect().info().clone()])
    }

    fn open(&self, index: usize) -> Result<Box<dyn Device>> {
        if index != 0 {
            return Err(Error::bad_input(format!(
                "cpu device {index} does not exist; accepted: 0"
            )));
        }
        Ok(Box::new(CpuDevice::detect()))
    }
}
