//! One file per op: everything the engine knows about an op, behind the [`Op`] trait — its
//! shape keys and typed shape, cost model, input layout and generation, f64 reference, kernel
//! file, launch plan and suite membership. This file is the registry: the [`OpKind`] enum,
//! [`OpKind::ALL`] and [`def`], the one table from an op to its definition; everything else
//! asks the op (docs/ARCHITECTURE.md, "Adding an op").

mod add_rmsnorm;
mod attn_decode;
mod attn_mla_decode;
mod attn_prefill;
mod copy;
mod d2h;
mod embedding;
mod gemm;
mod gemv;
mod gemv_fp8w;
mod gemv_w4a16;
mod h2d;
mod kv_read;
mod kv_write;
mod l2_read;
mod launch;
mod moe_gemm;
mod peak_mma;
mod read;
mod rope;
mod silu_mul;
mod triad;
mod write;

pub use add_rmsnorm::{NormShape, ADD_RMSNORM_EPS};
pub use attn_decode::DecodeShape;
pub use attn_mla_decode::MlaShape;
pub use attn_prefill::PrefillShape;
pub use copy::StreamShape;
pub use embedding::EmbeddingShape;
pub use gemm::LinearShape;
pub use gemv_w4a16::{unpack_int4, W4Shape, INT4_GROUPS, INT4_SYMMETRIC_ZERO};
pub(crate) use kv_write::kv_suffix;
pub use kv_write::{kv_cache_dtype, KvShape, KV_FP8_MAX};
pub use l2_read::L2Shape;
pub use launch::LaunchShape;
pub use moe_gemm::route::{
    expert_counts as moe_expert_counts, popularity as moe_popularity, route as moe_route,
    touched_experts as moe_touched_experts,
};
pub use moe_gemm::{MoeShape, MOE_MAX_EXPERTS, MOE_MAX_PAIRS};
pub use peak_mma::PeakShape;
pub use rope::{cos_sin_cache, units_per_head, RopeShape, ROPE_BASE};
pub use silu_mul::ActShape;

use serde::{Deserialize, Serialize};

use crate::dtype::DType;
use crate::error::Result;
use crate::inputs::{Gen, Inputs};
use crate::kernels::KernelFile;
use crate::launch_plan::LaunchPlan;
use crate::op::{OpClass, OpSpec, Sat, Shape, ShapeKey};
use crate::reference::OpReference;
use crate::suite::{DeviceClass, SuiteName};
use crate::target::Target;
use crate::tensor::HostTensor;

/// An operation hotpath benchmarks (the rows of the cost-model table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    /// Prefill GEMM: C[m,n] = A[m,k]·W[n,k]ᵀ.
    Gemm,
    /// Decode GEMV: the same product with m ≤ 16.
    Gemv,
    /// Decode GEMV on packed int4 weights with group scales (and zero points).
    GemvW4a16,
    /// Decode GEMV on fp8 e4m3 weights with per-channel scales.
    GemvFp8w,
    /// Mixture-of-experts grouped GEMM: tokens routed top-k to experts, per-expert GEMM,
    /// router-weighted sum per token.
    MoeGemm,
    /// Prefill attention (flash style, optional causal mask, GQA).
    AttnPrefill,
    /// Decode attention over a paged KV cache.
    AttnDecode,
    /// Multi-head latent attention decode (DeepSeek MLA, absorbed): every query head against
    /// one paged latent KV head.
    AttnMlaDecode,
    /// Scatter new K/V rows into cache pages by slot mapping.
    KvWrite,
    /// Gather cache pages into contiguous K/V.
    KvRead,
    /// Fused residual add + RMSNorm: r = x + residual, y = r·rsqrt(mean(r²) + eps)·weight.
    AddRmsnorm,
    /// Token-embedding gather: out[t] = table[ids[t]].
    Embedding,
    /// Rotary position embedding of q and k heads from a cos/sin cache (NeoX or GPT-J pairs).
    Rope,
    /// Gated-MLP activation: out = silu(gate)·up, gate and up the two halves of a row.
    SiluMul,
    /// b = a (STREAM copy).
    Copy,
    /// Sum of a (read-only bandwidth).
    Read,
    /// a = constant (write-only bandwidth).
    Write,
    /// a = b + q·c (STREAM triad).
    Triad,
    /// Peak multiply-add throughput (the compute roof).
    PeakMma,
    /// Sum of an array that fits in the last-level cache, always hot (LLC bandwidth).
    L2Read,
    /// An empty kernel (launch overhead; time only).
    Launch,
    /// Host-to-device copy from pinned memory (PCIe / C2C bandwidth).
    H2d,
    /// Device-to-host copy into pinned memory.
    D2h,
}

impl OpKind {
    /// Every op, in the order a suite runs them (after its ceilings: see
    /// [`crate::suite::suite`]).
    pub const ALL: [OpKind; 23] = [
        OpKind::Gemv,
        OpKind::GemvW4a16,
        OpKind::GemvFp8w,
        OpKind::MoeGemm,
        OpKind::Gemm,
        OpKind::AttnPrefill,
        OpKind::AttnDecode,
        OpKind::AttnMlaDecode,
        OpKind::KvWrite,
        OpKind::KvRead,
        OpKind::AddRmsnorm,
        OpKind::Embedding,
        OpKind::Rope,
        OpKind::SiluMul,
        OpKind::Copy,
        OpKind::Read,
        OpKind::Write,
        OpKind::Triad,
        OpKind::PeakMma,
        OpKind::L2Read,
        OpKind::Launch,
        OpKind::H2d,
        OpKind::D2h,
    ];
}

/// One benchmarked operation, defined once.
pub trait Op: Sync {
    /// Which op this is.
    fn kind(&self) -> OpKind;
    /// Name on the command line and in results files.
    fn name(&self) -> &'static str;
    /// One line on what the op measures, for `hotpath list`.
    fn summary(&self) -> &'static str;
    /// Shape keys, in canonical order.
    fn shape_keys(&self) -> &'static [ShapeKey];
    /// An example `--shape` value, for error messages and `hotpath list`.
    fn example_shape(&self) -> &'static str;
    /// The small shape correctness runs use (`hotpath validate`, the input tests): tiling
    /// multiples, more than one block of threads, a reference of milliseconds.
    fn small_shape(&self) -> &'static str;
    /// What kind of measurement the op is.
    fn class(&self) -> OpClass;
    /// Constraints between keys beyond each key's own range (refused with a sentence).
    fn check_shape(&self, _shape: &Shape) -> Result<()> {
        Ok(())
    }
    /// FLOPs and compulsory bytes of one execution (docs/methodology.md, "Cost model"), in
    /// saturating arithmetic.
    fn work(&self, spec: &OpSpec) -> Result<(Sat, Sat)>;
    /// Bytes one iteration reads and writes of a rotation set when that is fewer than the set
    /// holds (`moe_gemm` reads only the touched experts of all it allocates): the cold rotation
    /// then cycles enough sets that these bytes, not the allocation, exceed the cache
    /// ([`crate::runner::cache_rotation`]). `None`: the whole set.
    fn touched_bytes(&self, _spec: &OpSpec) -> Result<Option<u64>> {
        Ok(None)
    }
    /// Names of the input tensors, in layout order (plan arguments `Input(i)` name the i-th).
    fn input_names(&self) -> &'static [&'static str];
    /// Bytes of one set of inputs, without allocating.
    fn input_bytes(&self, spec: &OpSpec) -> Result<Sat>;
    /// Shape of the output tensor, or `None` when the backend chooses it (`peak_mma`).
    fn output_shape(&self, spec: &OpSpec) -> Result<Option<Vec<usize>>>;
    /// The dtype the output is stored in: the op's dtype unless the op says otherwise (`read`
    /// sums into f32; `kv_write` into an fp8 cache under `kv_fp8=1`).
    fn output_dtype(&self, spec: &OpSpec) -> DType {
        spec.dtype
    }
    /// The input tensors, deterministic in `gen`'s seed, named as [`Op::input_names`].
    fn generate(&self, spec: &OpSpec, gen: &mut Gen) -> Result<Vec<HostTensor>>;
    /// The f64 reference of the output on `inputs`; `output_len` is the output's length as
    /// the backend produced it (only `peak_mma` consults it).
    fn reference<'a>(
        &self,
        spec: &OpSpec,
        inputs: &'a Inputs,
        output_len: usize,
    ) -> Result<Box<dyn OpReference + 'a>>;
    /// The kernel source file of its kernels (`kernels/*.cu`), `None` for an op with no
    /// kernel (host copies).
    fn kernel_file(&self) -> Option<&'static KernelFile>;
    /// The launch plan of our kernels for `spec` on `target` (GPU backends and the emulator).
    fn launch_plan(&self, spec: &OpSpec, target: &Target) -> Result<LaunchPlan>;
    /// The benchmarks this op adds to suite `suite` on a device of `class`, as
    /// (shape, dtype), in run order.
    fn suite_entries(&self, suite: SuiteName, class: DeviceClass) -> Vec<(String, DType)>;
}

/// The definition of `op`: the registry, one row per op.
pub fn def(op: OpKind) -> &'static dyn Op {
    match op {
        OpKind::Gemm => &gemm::Gemm,
        OpKind::Gemv => &gemv::Gemv,
        OpKind::GemvW4a16 => &gemv_w4a16::GemvW4a16,
        OpKind::GemvFp8w => &gemv_fp8w::GemvFp8w,
        OpKind::MoeGemm => &moe_gemm::MoeGemm,
        OpKind::AttnPrefill => &attn_prefill::AttnPrefill,
        OpKind::AttnDecode => &attn_decode::AttnDecode,
        OpKind::AttnMlaDecode => &attn_mla_decode::AttnMlaDecode,
        OpKind::KvWrite => &kv_write::KvWrite,
        OpKind::KvRead => &kv_read::KvRead,
        OpKind::AddRmsnorm => &add_rmsnorm::AddRmsnorm,
        OpKind::Embedding => &embedding::Embedding,
        OpKind::Rope => &rope::Rope,
        OpKind::SiluMul => &silu_mul::SiluMul,
        OpKind::Copy => &copy::Copy,
        OpKind::Read => &read::Read,
        OpKind::Write => &write::Write,
        OpKind::Triad => &triad::Triad,
        OpKind::PeakMma => &peak_mma::PeakMma,
        OpKind::L2Read => &l2_read::L2Read,
        OpKind::Launch => &launch::Launch,
        OpKind::H2d => &h2d::H2D,
        OpKind::D2h => &d2h::D2H,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_definition_is_of_its_own_op() {
        for op in OpKind::ALL {
            assert_eq!(def(op).kind(), op);
            let spec = OpSpec::parse(op, def(op).small_shape(), DType::F32).unwrap();
            assert_eq!(spec.op, op);
            OpSpec::parse(op, def(op).example_shape(), DType::F32).unwrap();
        }
    }
}
