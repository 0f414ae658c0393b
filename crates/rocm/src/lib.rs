//! hotpath-rocm: the ROCm backend. The HIP runtime, hipRTC, hipBLASLt and AMD SMI are all
//! loaded at run time with libloading, so the crate builds and its tests pass on a machine
//! with no ROCm. (`hip-rs` is not used: it needs ROCm at build time.) Our kernels come from
//! the same `kernels/*.cu` as on CUDA, compiled by hipRTC, launched from the
//! backend-independent plans of `hotpath_core::launch_plan`.

#![deny(
    clippy::wildcard_enum_match_arm,
    clippy::match_wildcard_for_single_variants
)]

pub mod amdsmi;
pub mod blas;
mod buffers;
pub mod device;
mod graph;
pub mod health_source;
pub mod hip;
pub mod hiprtc;
pub mod loader;
pub mod metrics;
mod ops;
pub mod sysfs;
pub mod telemetry;
mod timer;
pub mod topology;

pub use device::{RocmBackend, RocmDevice};
