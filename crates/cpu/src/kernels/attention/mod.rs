//! Attention on the CPU, math in f32: prefill blocked like FlashAttention on GEMM
//! micro-kernels, and paged decode split over the context with a log-sum-exp merge.

mod decode;
mod decode_fp8;
mod prefill;

pub use decode::build_decode;
pub use decode_fp8::build_decode_fp8;
pub use prefill::{build_prefill, Prefill};
