//! Attention on the CPU, math in f32: prefill blocked like FlashAttention on GEMM
//! micro-kernels, paged decode split over the context with a log-sum-exp merge, and MLA
//! decode (every head on one latent KV head) split the same way on GEMM micro-kernels.

mod decode;
mod decode_fp8;
mod mla_decode;
mod prefill;

pub use decode::build_decode;
pub use decode_fp8::build_decode_fp8;
pub use mla_decode::build_mla_decode;
pub use prefill::{build_prefill, Prefill};
