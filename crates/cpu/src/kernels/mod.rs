//! The CPU kernels: one type per op, each owning its rotation sets (inputs and outputs
//! allocated in `prepare`, so the timed path allocates nothing), and the CPU's op table:
//! what it offers for each op ([`impls`]) and what builds it ([`builder`]).

pub mod add_rmsnorm;
pub mod attention;
pub mod embedding;
pub mod gemv_fp8w;
pub mod gemv_w4a16;
pub mod kv;
pub mod kv_fp8;
pub mod linear;
pub mod moe_gemm;
pub mod output;
pub mod peak;
pub mod rope;
pub mod silu_mul;
pub mod stream;

use half::{bf16, f16};
use hotpath_core::ops::{DecodeShape, KvShape};
use hotpath_core::{DType, Error, HostData, HostTensor, Inputs, OpKind, OpSpec, Result};

use crate::{blas, by_dtype};
use stream::StreamOp;

use crate::simd::Elem;

/// One prepared CPU kernel.
pub trait Kernel: Send {
    /// Runs once on rotation set `set`.
    fn run(&mut self, set: usize) -> Result<()>;
    /// The output of set `set` (after at least one `run` on it).
    fn output(&self, set: usize) -> HostTensor;
    /// FLOPs and bytes the kernel counts itself (`peak_mma`).
    fn counted_work(&self) -> Option<hotpath_core::Work> {
        None
    }
}

/// Implementations the CPU offers for `op` at `dtype`. Every op and dtype is named: a new
/// one does not compile until the CPU says what it offers for it.
pub fn impls(op: OpKind, dtype: DType) -> Vec<&'static str> {
    // Our kernels and candle's GEMM compute in f32, f16 and bf16; fp8 is not run at all.
    match dtype {
        DType::F32 | DType::F16 | DType::Bf16 => {}
        DType::Fp8E4m3 => return vec![],
    }
    match op {
        OpKind::Gemm => vec!["candle"],
        OpKind::Gemv => vec!["hotpath", "candle"],
        // Quantized weights under f16 or bf16 activations.
        OpKind::GemvW4a16 | OpKind::GemvFp8w => match dtype {
            DType::F16 | DType::Bf16 => vec!["hotpath"],
            DType::F32 | DType::Fp8E4m3 => vec![],
        },
        // f16/bf16 are widened and computed in f32, so their roof is the f32 one.
        OpKind::PeakMma => match dtype {
            DType::F32 => vec!["hotpath"],
            DType::F16 | DType::Bf16 | DType::Fp8E4m3 => vec![],
        },
        OpKind::MoeGemm
        | OpKind::AttnPrefill
        | OpKind::AttnDecode
        | OpKind::AttnMlaDecode
        | OpKind::KvWrite
        | OpKind::KvRead
        | OpKind::AddRmsnorm
        | OpKind::Embedding
        | OpKind::Rope
        | OpKind::SiluMul
        | OpKind::Copy
        | OpKind::Read
        | OpKind::Write
        | OpKind::Triad => vec!["hotpath"],
        // GPU-only ceilings: a CPU has no separate cache-only path, launches or PCIe copies.
        OpKind::L2Read | OpKind::Launch | OpKind::H2d | OpKind::D2h => vec![],
    }
}

type Built = Result<Box<dyn Kernel>>;

/// Builds a CPU kernel from its spec, its inputs and the number of rotation sets.
pub type Build = fn(&OpSpec, &Inputs, usize) -> Built;

/// The builder of `op` as implementation `imp` (`hotpath` or `candle`). Every op is named,
/// so a new one does not compile until the CPU builds it, or refuses it with
/// [`hotpath_core::backend::not_implemented`] ("<op> is not implemented on cpu"); no op is
/// built by another op's builder. Whether `imp` is offered for the op at a dtype is
/// [`impls`]'s to say (gemm is offered as `candle` alone).
pub fn builder(op: OpKind, imp: &str) -> Result<Build> {
    Ok(match op {
        OpKind::Gemm => blas::build,
        OpKind::Gemv if imp == "candle" => blas::build,
        OpKind::Gemv => gemv,
        OpKind::GemvW4a16 => gemv_w4a16,
        OpKind::GemvFp8w => gemv_fp8w,
        OpKind::MoeGemm => moe_gemm,
        OpKind::AttnPrefill => attn_prefill,
        OpKind::AttnDecode => attn_decode,
        OpKind::AttnMlaDecode => attn_mla_decode,
        OpKind::KvWrite => kv_write,
        OpKind::KvRead => kv_read,
        OpKind::AddRmsnorm => add_rmsnorm,
        OpKind::Embedding => embedding,
        OpKind::Rope => rope,
        OpKind::SiluMul => silu_mul,
        OpKind::PeakMma => peak_mma,
        OpKind::Copy => |s, i, n| by_dtype!(s.dtype, stream::build(StreamOp::Copy, s, i, n)),
        OpKind::Read => |s, i, n| by_dtype!(s.dtype, stream::build(StreamOp::Read, s, i, n)),
        OpKind::Write => |s, i, n| by_dtype!(s.dtype, stream::build(StreamOp::Write, s, i, n)),
        OpKind::Triad => |s, i, n| by_dtype!(s.dtype, stream::build(StreamOp::Triad, s, i, n)),
        OpKind::L2Read | OpKind::Launch | OpKind::H2d | OpKind::D2h => {
            return Err(hotpath_core::backend::not_implemented(op, "cpu"))
        }
    })
}

fn gemv(s: &OpSpec, i: &Inputs, n: usize) -> Built {
    by_dtype!(s.dtype, linear::build(s, i, n))
}
fn gemv_w4a16(s: &OpSpec, i: &Inputs, n: usize) -> Built {
    by_dtype!(s.dtype, gemv_w4a16::build(s, i, n))
}
fn gemv_fp8w(s: &OpSpec, i: &Inputs, n: usize) -> Built {
    by_dtype!(s.dtype, gemv_fp8w::build(s, i, n))
}
fn moe_gemm(s: &OpSpec, i: &Inputs, n: usize) -> Built {
    by_dtype!(s.dtype, moe_gemm::build(s, i, n))
}
fn attn_prefill(s: &OpSpec, i: &Inputs, n: usize) -> Built {
    by_dtype!(s.dtype, attention::build_prefill(s, i, n))
}
fn attn_decode(s: &OpSpec, i: &Inputs, n: usize) -> Built {
    if DecodeShape::of(s)?.fp8 {
        return by_dtype!(s.dtype, attention::build_decode_fp8(s, i, n));
    }
    by_dtype!(s.dtype, attention::build_decode(s, i, n))
}
fn attn_mla_decode(s: &OpSpec, i: &Inputs, n: usize) -> Built {
    by_dtype!(s.dtype, attention::build_mla_decode(s, i, n))
}
fn kv_write(s: &OpSpec, i: &Inputs, n: usize) -> Built {
    if KvShape::of(s)?.fp8 {
        return by_dtype!(s.dtype, kv_fp8::build_write(s, i, n));
    }
    by_dtype!(s.dtype, kv::build_write(s, i, n))
}
fn kv_read(s: &OpSpec, i: &Inputs, n: usize) -> Built {
    if KvShape::of(s)?.fp8 {
        return by_dtype!(s.dtype, kv_fp8::build_read(s, i, n));
    }
    by_dtype!(s.dtype, kv::build_read(s, i, n))
}
fn add_rmsnorm(s: &OpSpec, i: &Inputs, n: usize) -> Built {
    by_dtype!(s.dtype, add_rmsnorm::build(s, i, n))
}
fn embedding(s: &OpSpec, i: &Inputs, n: usize) -> Built {
    by_dtype!(s.dtype, embedding::build(s, i, n))
}
fn rope(s: &OpSpec, i: &Inputs, n: usize) -> Built {
    by_dtype!(s.dtype, rope::build(s, i, n))
}
fn silu_mul(s: &OpSpec, i: &Inputs, n: usize) -> Built {
    by_dtype!(s.dtype, silu_mul::build(s, i, n))
}
fn peak_mma(s: &OpSpec, _: &Inputs, _: usize) -> Built {
    peak::build(s)
}

/// Element types a host tensor can be viewed as.
pub trait HostElem: Elem {
    /// The dtype tag.
    const DTYPE: DType;
    /// The tensor's data as this type, or an error naming the mismatch.
    fn slice(t: &HostTensor) -> Result<&[Self]>;
    /// Wraps a vector as host data.
    fn wrap(v: Vec<Self>) -> HostData;
}

fn mismatch(t: &HostTensor, want: DType) -> Error {
    Error::backend(format!(
        "tensor '{}' holds {:?}, the kernel expects {want}",
        t.name,
        t.dtype()
    ))
}

impl HostElem for f32 {
    const DTYPE: DType = DType::F32;
    fn slice(t: &HostTensor) -> Result<&[Self]> {
        match &t.data {
            HostData::F32(v) => Ok(v),
            HostData::F16(_)
            | HostData::Bf16(_)
            | HostData::Fp8E4m3(_)
            | HostData::Fp8E4m3Fnuz(_)
            | HostData::I32(_)
            | HostData::U32(_) => Err(mismatch(t, DType::F32)),
        }
    }
    fn wrap(v: Vec<Self>) -> HostData {
        HostData::F32(v)
    }
}

impl HostElem for f16 {
    const DTYPE: DType = DType::F16;
    fn slice(t: &HostTensor) -> Result<&[Self]> {
        match &t.data {
            HostData::F16(v) => Ok(v),
            HostData::F32(_)
            | HostData::Bf16(_)
            | HostData::Fp8E4m3(_)
            | HostData::Fp8E4m3Fnuz(_)
            | HostData::I32(_)
            | HostData::U32(_) => Err(mismatch(t, DType::F16)),
        }
    }
    fn wrap(v: Vec<Self>) -> HostData {
        HostData::F16(v)
    }
}

impl HostElem for bf16 {
    const DTYPE: DType = DType::Bf16;
    fn slice(t: &HostTensor) -> Result<&[Self]> {
        match &t.data {
            HostData::Bf16(v) => Ok(v),
            HostData::F32(_)
            | HostData::F16(_)
            | HostData::Fp8E4m3(_)
            | HostData::Fp8E4m3Fnuz(_)
            | HostData::I32(_)
            | HostData::U32(_) => Err(mismatch(t, DType::Bf16)),
        }
    }
    fn wrap(v: Vec<Self>) -> HostData {
        HostData::Bf16(v)
    }
}

/// A host tensor of `E` named `name` with `shape`.
pub fn tensor<E: HostElem>(name: &'static str, shape: Vec<usize>, data: Vec<E>) -> HostTensor {
    HostTensor {
        name,
        shape,
        data: E::wrap(data),
    }
}

/// Indices of an i32 tensor as usize, each checked against `limit`.
pub fn indices(t: &HostTensor, limit: usize) -> Result<Vec<usize>> {
    t.indices(limit)
}

/// Picks the kernel instantiation for `dtype` (f32, f16, bf16), or says the dtype is not run.
/// `$build` is a generic function's name or path, called as `$build::<E>(args)`.
#[macro_export]
macro_rules! by_dtype {
    ($dtype:expr, $($build:ident)::+ ( $($arg:expr),* )) => {
        match $dtype {
            hotpath_core::DType::F32 => $($build)::+::<f32>($($arg),*),
            hotpath_core::DType::F16 => $($build)::+::<half::f16>($($arg),*),
            hotpath_core::DType::Bf16 => $($build)::+::<half::bf16>($($arg),*),
            hotpath_core::DType::Fp8E4m3 => Err(hotpath_core::Error::unsupported(format!(
                "the cpu backend does not run {}",
                hotpath_core::DType::Fp8E4m3
            ))),
        }
    };
}
