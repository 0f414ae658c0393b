//! hotpath-cuda: the CUDA backend. The driver, NVRTC, cuBLASLt and NVML are all loaded at
//! run time (cudarc's dynamic loading, nvml-wrapper), so the crate builds on any machine and a
//! missing driver is a reason string, not a link error. `HOTPATH_CUDA_LIBRARY`,
//! `HOTPATH_NVRTC_LIBRARY` and `HOTPATH_NVML_LIBRARY` choose (or hide) them ([`loader`]).

#![deny(
    clippy::wildcard_enum_match_arm,
    clippy::match_wildcard_for_single_variants
)]

pub mod blas;
pub mod buffers;
pub mod busy;
pub mod device;
pub mod graph;
pub mod health_source;
pub use hotpath_core::launch;
pub mod loader;
pub mod nvml;
pub mod nvrtc;
pub mod ops;
pub mod target;
pub mod timer;
pub mod toolkit;

pub use device::{CudaBackend, CudaDevice};
