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
        | OpKind::AttnPrefill
        | OpKind::AttnDecode
        | OpKind::KvWrite
        | OpKind::KvRead
        | OpKind::AddRmsnorm
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
