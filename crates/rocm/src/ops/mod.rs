//! One launcher per op: which buffers a rotation set holds, which kernels run in one
//! iteration (in order, on the benchmark's stream), and where the output is. Argument lists
//! follow `kernels/README.md` exactly. The same layout as the CUDA backend's `ops`.

pub mod host;
pub mod planned;

use std::ffi::c_void;

use hotpath_core::inputs::output_shape;
use hotpath_core::{DType, HostTensor, Inputs, OpKind, OpSpec, Result, Work};

use crate::buffers::{alloc, upload, DevBuf};
use crate::hip::Hip;

/// Buffers of one rotation set: the op's inputs in layout order, then its outputs.
pub struct Set {
    /// Device buffers.
    pub bufs: Vec<DevBuf>,
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

/// A prepared op: kernels resolved, arguments laid out, scratch allocated.
pub trait Launcher {
    /// Enqueues one iteration on `stream` (a HIP stream) using rotation set `set`.
    fn launch(&mut self, stream: *mut c_void, set: &mut Set) -> Result<()>;
    /// The output location.
    fn output(&self) -> OutputSpec;
    /// Work counted by the kernel itself (`peak_mma`).
    fn counted_work(&self) -> Option<Work> {
        None
    }
    /// The output when it lives in host memory (`d2h`); `None` = read [`Launcher::output`].
    fn host_output(&self, _stream: *mut c_void) -> Option<Result<HostTensor>> {
        None
    }
}

/// Which launcher runs an op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// hipBLASLt's product ([`crate::blas::LtMatmul`]).
    Blas,
    /// A pinned host↔device copy ([`host::Transfer`]).
    Host,
    /// Our kernels, from the op's launch plan ([`planned::Planned`]).
    Planned,
}

/// Our kernels on AMD (no vendor library). Every op and dtype is named: a new one does not
/// compile until ROCm says what it offers for it.
pub fn impls(op: OpKind, dtype: DType) -> Vec<&'static str> {
    // The dtypes our kernels are written for; no fp8 MFMA kernel (CDNA3 only).
    let ours = match dtype {
        DType::F32 | DType::F16 | DType::Bf16 => true,
        DType::Fp8E4m3 => false,
    };
    let offered = match op {
        // MFMA paths only: no f32 gemm or prefill attention kernel on AMD.
        OpKind::Gemm | OpKind::AttnPrefill => match dtype {
            DType::F16 | DType::Bf16 => true,
            DType::F32 | DType::Fp8E4m3 => false,
        },
        // F32: the FMA chains; F16/Bf16: MFMA chains (v_mfma_f32_16x16x16*).
        OpKind::PeakMma => ours,
        // Copies move bytes, whatever their type.
        OpKind::Copy | OpKind::Write | OpKind::H2d | OpKind::D2h => true,
        // The empty kernel has no type: offered once, as f32.
        OpKind::Launch => dtype == DType::F32,
        // Quantized weights: the activations are f16 or bf16.
        OpKind::GemvW4a16 | OpKind::GemvFp8w => matches!(dtype, DType::F16 | DType::Bf16),
        // The MLA decode on the CUDA cores (no MFMA path yet), in f16/bf16: an f32 tile of
        // DeepSeek's widths (111,360 B) is over the 64 KiB of LDS a block has.
        OpKind::AttnMlaDecode => matches!(dtype, DType::F16 | DType::Bf16),
        OpKind::Gemv
        | OpKind::MoeGemm
        | OpKind::AttnDecode
        | OpKind::KvWrite
        | OpKind::KvRead
        | OpKind::AddRmsnorm
        | OpKind::Embedding
        | OpKind::Rope
        | OpKind::SiluMul
        | OpKind::Read
        | OpKind::Triad
        | OpKind::L2Read => ours,
    };
    if offered {
        vec!["hotpath"]
    } else {
        vec![]
    }
}

/// The launcher that runs `op` as implementation `imp` (`hotpath` or `hipblaslt`). Every op
/// is named, so a new one does not compile until ROCm says how it runs it, or refuses it
/// with [`hotpath_core::backend::not_implemented`] ("<op> is not implemented on rocm");
/// no op is run by another op's launcher. Whether `imp` is offered for the op at a dtype
/// is [`crate::device::impls_with`]'s to say.
pub fn route(op: OpKind, imp: &str) -> Result<Route> {
    match op {
        OpKind::Gemm | OpKind::Gemv if imp == "hipblaslt" => Ok(Route::Blas),
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
pub type FuncLookup<'a> = dyn FnMut(&str) -> Result<*mut c_void> + 'a;

/// Uploads one set of `inputs` (in layout order) and appends zeroed outputs of `out_bytes`,
/// all on `stream`.
pub fn upload_set(
    h: &'static Hip,
    stream: *mut c_void,
    inputs: &Inputs,
    out_bytes: &[usize],
) -> Result<Set> {
    let mut bufs = Vec::new();
    for t in &inputs.tensors {
        bufs.push(upload(h, t, stream)?);
    }
    for &b in out_bytes {
        bufs.push(alloc(h, b, stream)?);
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
