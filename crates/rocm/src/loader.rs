//! Where ROCm's libraries are looked for at run time. Each library has a list of names tried
//! in order (the loader's search path first, then ROCm's usual directories) and an
//! environment variable that replaces the list: a `:`-separated list of file names or paths,
//! for installs outside the usual places, and for tests that must see a library missing.
//!
//! | library | variable | default names |
//! |---|---|---|
//! | HIP runtime | `HOTPATH_HIP_LIBRARY` | [`HIP_NAMES`] |
//! | hipRTC | `HOTPATH_HIPRTC_LIBRARY` | [`HIPRTC_NAMES`] |
//! | hipBLASLt | `HOTPATH_HIPBLASLT_LIBRARY` | [`HIPBLASLT_NAMES`] |
//! | AMD SMI | `HOTPATH_AMD_SMI_LIBRARY` | [`crate::amdsmi::candidates`] |
//!
//! An unset or empty variable means the defaults. The list and its "not found" sentence are
//! [`hotpath_core::libs`]'s, shared with the CUDA backend.

pub use hotpath_core::libs::{open, Candidates};

/// Names tried for the HIP runtime, in order.
pub const HIP_NAMES: [&str; 5] = [
    "libamdhip64.so",
    "libamdhip64.so.6",
    "libamdhip64.so.5",
    "/opt/rocm/lib/libamdhip64.so",
    "/opt/rocm/lib/libamdhip64.so.6",
];

/// Names tried for hipRTC, in order: its own library from ROCm 6 on, else inside
/// `libamdhip64.so.5` (ROCm 5).
pub const HIPRTC_NAMES: [&str; 6] = [
    "libhiprtc.so",
    "libhiprtc.so.6",
    "/opt/rocm/lib/libhiprtc.so",
    "libamdhip64.so",
    "libamdhip64.so.6",
    "libamdhip64.so.5",
];

/// Names tried for hipBLASLt, in order.
pub const HIPBLASLT_NAMES: [&str; 4] = [
    "libhipblaslt.so",
    "libhipblaslt.so.1",
    "libhipblaslt.so.0",
    "/opt/rocm/lib/libhipblaslt.so",
];

/// The variable naming the HIP runtime's library file(s).
pub const HIP_ENV: &str = "HOTPATH_HIP_LIBRARY";
/// The variable naming hipRTC's library file(s).
pub const HIPRTC_ENV: &str = "HOTPATH_HIPRTC_LIBRARY";
/// The variable naming hipBLASLt's library file(s).
pub const HIPBLASLT_ENV: &str = "HOTPATH_HIPBLASLT_LIBRARY";
/// The variable naming AMD SMI's library file(s).
pub const AMD_SMI_ENV: &str = "HOTPATH_AMD_SMI_LIBRARY";
