//! The CPU kernels: one type per op, each owning its rotation sets (inputs and outputs
//! allocated in `prepare`, so the timed path allocates nothing).

pub mod add_rmsnorm;
pub mod attention;
pub mod kv;
pub mod linear;
pub mod peak;
pub mod stream;

use half::{bf16, f16};
use hotpath_core::{DType, Error, HostData, HostTensor, Result};

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
            HostData::F16(_) | HostData::Bf16(_) | HostData::Fp8E4m3(_) | HostData::I32(_) => {
                Err(mismatch(t, DType::F32))
            }
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
            HostData::F32(_) | HostData::Bf16(_) | HostData::Fp8E4m3(_) | HostData::I32(_) => {
                Err(mismatch(t, DType::F16))
            }
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
            HostData::F32(_) | HostData::F16(_) | HostData::Fp8E4m3(_) | HostData::I32(_) => {
                Err(mismatch(t, DType::Bf16))
            }
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
