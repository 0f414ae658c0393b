//! One launcher per op: which buffers a rotation set holds, which kernels run in one
//! iteration (in order, on the benchmark's stream), and where the output is. Argument lists
//! follow `kernels/README.md` exactly.

pub mod host;
pub mod planned;

use std::sync::Arc;

use cudarc::driver::{CudaFunction, CudaSlice, CudaStream, DeviceRepr, LaunchConfig};
use hotpath_core::inputs::output_shape;
use hotpath_core::{DType, Error, HostTensor, Inputs, OpKind, OpSpec, Result, Work};

use crate::buffers::{upload, zeros};
use crate::launch::Geometry;

/// A 16-byte value passed by value (`uint4` in the kernels).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Uint4(pub [u32; 4]);
// SAFETY: four u32, laid out as CUDA's uint4.
unsafe impl DeviceRepr for Uint4 {}

/// Buffers of one rotation set, in the order the op's launcher documents.
pub struct Set {
    /// Device buffers.
    pub bufs: Vec<CudaSlice<u8>>,
}

/// Where an op's output lives and what it is.
#[derive(Clone, Debug)]
pub struct OutputSpec {
    /// Index into [`Set::bufs`].
    pub buf: usize,
    /// Tensor name.
    pub name: &'static str,
    /// Element type as stored.
    pub dtype: DType,
    /// Shape.
    pub shape: Vec<usize>,
}

/// A prepared op: kernels resolved, geometry fixed, scratch allocated.
pub trait Launcher {
    /// Enqueues one iteration on `stream` using rotation set `set`.
    fn launch(&mut self, stream: &Arc<CudaStream>, set: &mut Set) -> Result<()>;
    /// The output location.
    fn output(&self) -> OutputSpec;
    /// Work counted by the kernel itself (`peak_mma`).
    fn counted_work(&self) -> Option<Work> {
        None
    }
    /// The output when it lives in host memory (`d2h`); `None` = read [`Launcher::output`].
    fn host_output(&self, _stream: &Arc<CudaStream>) -> Option<Result<HostTensor>> {
        None
    }
}

/// Which launcher runs an op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// cuBLASLt's product ([`crate::blas::LtMatmul`]).
    Blas,
    /// A pinned host↔device copy ([`host::Transfer`]).
    Host,
    /// Our kernels, from the op's launch plan ([`planned::Planned`]).
    Planned,
}

/// Implementations offered at compute capability `cc`. Every op and dtype is named: a new
/// one does not compile until CUDA says what it offers for it.
pub fn impls(op: OpKind, dtype: DType, cc: (i32, i32)) -> Vec<&'static str> {
    let tensor_cores = cc >= (8, 0);
    // The dtypes our element-wise, GEMV, attention and KV kernels are written for.
    let ours = match dtype {
        DType::F32 | DType::F16 | DType::Bf16 => true,
        DType::Fp8E4m3 => false,
    };
    let hotpath = |offered: bool| if offered { vec!["hotpath"] } else { vec![] };
    match op {
        OpKind::Gemm => match dtype {
            DType::F16 | DType::Bf16 if tensor_cores => vec!["hotpath", "cublaslt"],
            DType::F32 => vec!["cublaslt"],
            // cuBLASLt's e4m3 GEMM needs Ada (sm_89) or later.
            DType::Fp8E4m3 if cc >= (8, 9) => vec!["cublaslt"],
            DType::F16 | DType::Bf16 | DType::Fp8E4m3 => vec![],
        },
        OpKind::Gemv if ours => vec!["hotpath", "cublaslt"],
        OpKind::Gemv => vec![],
        // Quantized weights: the activations are f16 or bf16.
        OpKind::GemvW4a16 | OpKind::GemvFp8w => hotpath(matches!(dtype, DType::F16 | DType::Bf16)),
        OpKind::AttnPrefill => match dtype {
            DType::F16 | DType::Bf16 => hotpath(tensor_cores),
            DType::F32 | DType::Fp8E4m3 => vec![],
        },
        // f16/bf16 on the tensor cores (mma.sync), f32 on the CUDA cores where its tile of
        // DeepSeek's widths fits (111,360 B of shared memory a block: sm_80's 163 KiB and
        // Hopper's 227 KiB, not the 99 KiB of sm_86/sm_89).
        OpKind::AttnMlaDecode => match dtype {
            DType::F16 | DType::Bf16 => hotpath(tensor_cores),
            DType::F32 => hotpath(cc == (8, 0) || cc >= (9, 0)),
            DType::Fp8E4m3 => vec![],
        },
        OpKind::MoeGemm
        | OpKind::AttnDecode
        | OpKind::KvWrite
        | OpKind::KvRead
        | OpKind::AddRmsnorm
        | OpKind::Embedding
        | OpKind::Rope
        | OpKind::SiluMul
        | OpKind::Read
        | OpKind::Triad
        | OpKind::L2Read => hotpath(ours),
        // Copies move bytes, whatever their type.
        OpKind::Copy | OpKind::Write | OpKind::H2d | OpKind::D2h => hotpath(true),
        // The empty kernel has no type: offered once, as f32.
        OpKind::Launch => hotpath(dtype == DType::F32),
        OpKind::PeakMma => match dtype {
            DType::F32 => hotpath(true),
            DType::F16 | DType::Bf16 => hotpath(tensor_cores),
            // The fp8 roof runs on the tensor cores only where it was written for them:
            // mma.sync e4m3 on Ada (sm_89), wgmma on Hopper (sm_90a). Hopper emulates
            // mma.sync e4m3, and Blackwell's own fp8 path (tcgen05) has no peak kernel yet.
            DType::Fp8E4m3 => hotpath(cc == (8, 9) || cc == (9, 0)),
        },
    }
}

/// The launcher that runs `op` as implementation `imp` (`hotpath` or `cublaslt`). Every op
/// is named, so a new one does not compile until CUDA says how it runs it, or refuses it
/// with [`hotpath_core::backend::not_implemented`] ("<op> is not implemented on cuda");
/// no op is run by another op's launcher. Whether `imp` is offered for the op at a dtype
/// on a device is [`crate::device::impls`]'s to say.
pub fn route(op: OpKind, imp: &str) -> Result<Route> {
    match op {
        OpKind::Gemm | OpKind::Gemv if imp == "cublaslt" => Ok(Route::Blas),
        OpKind::Gemm
        | OpKind::Gemv
        | OpKind::GemvW4a16
        | OpKind::GemvFp8w
        | OpKind::MoeGemm
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
        | OpKind::Triad
        | OpKind::PeakMma
        | OpKind::L2Read
        | OpKind::Launch => Ok(Route::Planned),
        OpKind::H2d | OpKind::D2h => Ok(Route::Host),
    }
}

/// Resolves a kernel function by name (compiling its file on first use).
pub type FuncLookup<'a> = dyn FnMut(&str) -> Result<CudaFunction> + 'a;

pub(crate) fn cfg(g: Geometry) -> LaunchConfig {
    LaunchConfig {
        grid_dim: g.grid,
        block_dim: g.block,
        shared_mem_bytes: g.shared_bytes,
    }
}

pub(crate) fn launch_err(name: &str, e: impl std::fmt::Display) -> Error {
    Error::backend(format!("launching {name} failed: {e}"))
}

/// Uploads one set of `inputs` (in layout order) and appends zeroed outputs of `out_bytes`.
pub fn upload_set(stream: &Arc<CudaStream>, inputs: &Inputs, out_bytes: &[usize]) -> Result<Set> {
    let mut bufs = Vec::new();
    for t in &inputs.tensors {
        bufs.push(upload(stream, t)?);
    }
    for &b in out_bytes {
        bufs.push(zeros(stream, b)?);
    }
    Ok(Set { bufs })
}

/// The op's output in its own dtype at buffer `buf`.
pub fn out_spec(spec: &OpSpec, buf: usize, name: &'static str) -> Result<OutputSpec> {
    Ok(OutputSpec {
        buf,
        name,
        dtype: spec.dtype,
        shape: output_shape(spec)?.unwrap_or_default(),
    })
}
