//! Backend-independent launch plans: for an op, the kernels one iteration runs (in order),
//! each with its geometry (dynamic shared memory included) and argument list, the output
//! buffers a rotation set holds, and the scratch buffers shared by all sets. A GPU backend
//! only has to allocate buffers and execute calls; the argument order is
//! `kernels/README.md`'s, written down once here. Plans depend on the device only through a
//! [`Target`]; one over the device's grid or shared-memory limits is refused before launch.

pub mod decode;
pub mod mla;
mod text;

pub use text::to_lines;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::inputs::output_shape;
use crate::launch::{self, Geometry};
use crate::op::{OpKind, OpSpec, Work};
use crate::target::Target;
use crate::tensor::HostTensor;

/// One kernel argument.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    /// Device pointer to input tensor `i` of the rotation set (layout order).
    Input(usize),
    /// Device pointer to output buffer `i` of the rotation set.
    Output(usize),
    /// Device pointer to scratch buffer `i` (shared by all sets).
    Scratch(usize),
    /// A 32-bit integer.
    I32(i32),
    /// A 64-bit integer.
    I64(i64),
    /// A 32-bit float.
    F32(f32),
    /// Sixteen bytes passed by value (`uint4`).
    U32x4([u32; 4]),
}

/// One step of an iteration.
#[derive(Clone, Debug, PartialEq)]
pub enum LaunchStep {
    /// Launch `function` with `geometry` and `args`.
    Kernel {
        /// `extern "C"` name.
        function: String,
        /// Grid and block.
        geometry: Geometry,
        /// Arguments in order.
        args: Vec<Arg>,
    },
    /// Zero scratch buffer `i` (stream-ordered memset).
    ZeroScratch(usize),
}

/// Where the output of an iteration is.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputDesc {
    /// Output buffer index.
    pub index: usize,
    /// Tensor name.
    pub name: &'static str,
    /// Element type as stored.
    pub dtype: DType,
    /// Shape.
    pub shape: Vec<usize>,
}

/// Everything a GPU backend needs to run one op with our kernels.
#[derive(Clone, Debug, PartialEq)]
pub struct LaunchPlan {
    /// The steps of one iteration.
    pub steps: Vec<LaunchStep>,
    /// Bytes of each output buffer of a rotation set.
    pub output_bytes: Vec<usize>,
    /// Bytes of each scratch buffer.
    pub scratch_bytes: Vec<usize>,
    /// The output to check.
    pub output: OutputDesc,
    /// Work counted by the kernel (`peak_mma`), else the cost model applies.
    pub counted_work: Option<Work>,
}

impl LaunchPlan {
    /// Refuses the plan when a kernel's shared memory per block, the static bytes the
    /// compiled kernel declares (`static_of`; `None` when the runtime cannot say) plus its
    /// dynamic bytes, exceeds `limit_bytes` on `device` ([`launch::check_shared_memory`]).
    pub fn check_shared_memory(
        &self,
        static_of: &mut dyn FnMut(&str) -> Result<Option<u64>>,
        limit_bytes: u64,
        device: &str,
    ) -> Result<()> {
        for step in &self.steps {
            if let LaunchStep::Kernel {
                function, geometry, ..
            } = step
            {
                let static_bytes = static_of(function)?.unwrap_or(0);
                launch::check_shared_memory(function, static_bytes, geometry, limit_bytes, device)?;
            }
        }
        Ok(())
    }
}

/// Kernel-name suffix of a dtype.
pub fn suffix(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "f32",
        DType::F16 => "f16",
        DType::Bf16 => "bf16",
        DType::Fp8E4m3 => "fp8",
    }
}

/// `value` in `dtype`, repeated to fill 16 bytes, as four u32 (the `hp_write` pattern).
pub fn vector_pattern(dtype: DType, value: f32) -> [u32; 4] {
    let t = HostTensor::from_f32("pattern", vec![16], dtype, &[value; 16]);
    let mut bytes = Vec::with_capacity(16);
    for i in 0..(16 / dtype.size_bytes() as usize) {
        bytes.extend_from_slice(&element_bytes(&t, i));
    }
    let mut out = [0u32; 4];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u32::from_le_bytes([
            bytes[4 * i],
            bytes[4 * i + 1],
            bytes[4 * i + 2],
            bytes[4 * i + 3],
        ]);
    }
    out
}

fn element_bytes(t: &HostTensor, i: usize) -> Vec<u8> {
    use crate::tensor::HostData;
    match &t.data {
        HostData::F32(v) => v[i].to_le_bytes().to_vec(),
        HostData::F16(v) => v[i].to_bits().to_le_bytes().to_vec(),
        HostData::Bf16(v) => v[i].to_bits().to_le_bytes().to_vec(),
        HostData::Fp8E4m3(v) | HostData::Fp8E4m3Fnuz(v) => vec![v[i]],
        HostData::I32(v) => v[i].to_le_bytes().to_vec(),
        HostData::U32(v) => v[i].to_le_bytes().to_vec(),
    }
}

/// Refuses fp8 for `op`'s kernel, which runs only f32, f16 and bf16.
pub(crate) fn float_only(op: OpKind, dtype: DType) -> Result<()> {
    match dtype {
        DType::F32 | DType::F16 | DType::Bf16 => Ok(()),
        DType::Fp8E4m3 => Err(Error::unsupported(format!(
            "the hotpath {op} kernel runs f32, f16 and bf16; got {dtype}"
        ))),
    }
}

/// `value` of shape key `key` as `op`'s kernel's `int` argument, refused with a sentence past
/// `i32::MAX`.
pub(crate) fn i32_arg(op: OpKind, key: &str, value: u64) -> Result<i32> {
    i32::try_from(value).map_err(|_| {
        Error::unsupported(format!(
            "the hotpath {op} kernel takes {key} up to {}; got {key}={value}",
            i32::MAX
        ))
    })
}

/// A kernel step.
pub(crate) fn kernel(function: String, geometry: Geometry, args: Vec<Arg>) -> LaunchStep {
    LaunchStep::Kernel {
        function,
        geometry,
        args,
    }
}

pub(crate) fn out(spec: &OpSpec, index: usize, name: &'static str) -> Result<OutputDesc> {
    Ok(OutputDesc {
        index,
        name,
        dtype: crate::ops::def(spec.op).output_dtype(spec),
        shape: output_shape(spec)?.unwrap_or_default(),
    })
}

/// The one-f32 output of `read` and `l2_read`.
pub(crate) fn sum_output() -> OutputDesc {
    OutputDesc {
        index: 0,
        name: "sum",
        dtype: DType::F32,
        shape: vec![1],
    }
}

/// Bytes of the output of `spec` in its output dtype.
pub(crate) fn out_bytes(spec: &OpSpec) -> Result<usize> {
    Ok(output_shape(spec)?
        .unwrap_or_default()
        .iter()
        .product::<usize>()
        * crate::ops::def(spec.op).output_dtype(spec).size_bytes() as usize)
}

/// A plan of `steps` with one output buffer set and no scratch.
pub(crate) fn simple(
    steps: Vec<LaunchStep>,
    output: OutputDesc,
    output_bytes: Vec<usize>,
) -> LaunchPlan {
    LaunchPlan {
        steps,
        output_bytes,
        scratch_bytes: vec![],
        output,
        counted_work: None,
    }
}

/// The plan of our kernels for `spec` on `target`, refused when a kernel's grid or shared
/// memory exceeds the target's limits. Ops that are not kernels (`h2d`, `d2h`) and vendor
/// libraries are not planned here.
pub fn build(spec: &OpSpec, target: &Target) -> Result<LaunchPlan> {
    let p = crate::ops::def(spec.op).launch_plan(spec, target)?;
    for step in &p.steps {
        if let LaunchStep::Kernel {
            function, geometry, ..
        } = step
        {
            let g = geometry.grid;
            target.check_grid(function, (g.0 as u64, g.1 as u64, g.2 as u64))?;
            launch::check_shared_memory(
                function,
                0,
                geometry,
                target.smem_per_block,
                &target.arch,
            )?;
        }
    }
    Ok(p)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod wave64_tests;
