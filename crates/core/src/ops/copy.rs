//! `copy`: the STREAM copy b = a, a bandwidth ceiling.

use super::Op;
use crate::dtype::DType;
use crate::error::Result;
use crate::inputs::{Gen, Inputs};
use crate::kernels::{self, KernelFile};
use crate::launch;
use crate::launch_plan::{kernel, out, out_bytes, simple, Arg, LaunchPlan};
use crate::op::{req, OpClass, OpKind, OpSpec, Sat, ShapeKey};
use crate::reference::{stream::Stream, OpReference};
use crate::suite::{DeviceClass, SuiteName};
use crate::target::Target;
use crate::tensor::HostTensor;

/// The shape of the streaming ops and host copies: `elements` per array.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamShape {
    /// Elements per array.
    pub elements: u64,
}

impl StreamShape {
    /// The typed shape of `spec`; an error when the key is missing.
    pub fn of(spec: &OpSpec) -> Result<StreamShape> {
        Ok(StreamShape {
            elements: spec.dim("elements")?,
        })
    }

    /// Bytes of one array of `spec`'s dtype.
    pub fn array_bytes(self, dtype: DType) -> Sat {
        Sat(self.elements) * Sat(dtype.size_bytes())
    }

    /// One array of `elements` values uniform in [lo, hi), named `name`.
    pub(super) fn array(
        self,
        name: &'static str,
        dtype: DType,
        gen: &mut Gen,
        lo: f32,
        hi: f32,
    ) -> HostTensor {
        gen.uniform(name, vec![self.elements as usize], dtype, lo, hi)
    }
}

/// Keys of the streaming ops and host copies.
pub(super) const STREAM_KEYS: &[ShapeKey] = &[req("elements", "elements per array")];

/// The streaming ceilings' shapes in `ceilings` and `quick`: 16 Mi f32 = 64 MiB per array on
/// a CPU (copy moves 128 MiB, more than 3× a 32 MiB L3), 512 Mi f32 = 2 GiB on a GPU.
pub(super) fn stream_suite_entries(suite: SuiteName, class: DeviceClass) -> Vec<(String, DType)> {
    let elements = match class {
        DeviceClass::Cpu => "elements=16M",
        DeviceClass::Gpu => "elements=512M",
    };
    match suite {
        SuiteName::Ceilings | SuiteName::Quick => vec![(elements.to_string(), DType::F32)],
        SuiteName::Decode | SuiteName::Prefill => vec![],
    }
}

/// STREAM copy.
pub struct Copy;

impl Op for Copy {
    fn kind(&self) -> OpKind {
        OpKind::Copy
    }
    fn name(&self) -> &'static str {
        "copy"
    }
    fn summary(&self) -> &'static str {
        "STREAM copy b = a (bandwidth ceiling)"
    }
    fn shape_keys(&self) -> &'static [ShapeKey] {
        STREAM_KEYS
    }
    fn example_shape(&self) -> &'static str {
        "elements=256M"
    }
    fn small_shape(&self) -> &'static str {
        "elements=1M"
    }
    fn class(&self) -> OpClass {
        OpClass::StreamingCeiling
    }
    fn work(&self, spec: &OpSpec) -> Result<(Sat, Sat)> {
        Ok((
            Sat(0),
            Sat(2) * StreamShape::of(spec)?.array_bytes(spec.dtype),
        ))
    }
    fn input_names(&self) -> &'static [&'static str] {
        &["a"]
    }
    fn input_bytes(&self, spec: &OpSpec) -> Result<Sat> {
        Ok(StreamShape::of(spec)?.array_bytes(spec.dtype))
    }
    fn output_shape(&self, spec: &OpSpec) -> Result<Option<Vec<usize>>> {
        Ok(Some(vec![StreamShape::of(spec)?.elements as usize]))
    }
    fn generate(&self, spec: &OpSpec, gen: &mut Gen) -> Result<Vec<HostTensor>> {
        Ok(vec![
            StreamShape::of(spec)?.array("a", spec.dtype, gen, -1.0, 1.0)
        ])
    }
    fn reference<'a>(
        &self,
        spec: &OpSpec,
        inputs: &'a Inputs,
        _output_len: usize,
    ) -> Result<Box<dyn OpReference + 'a>> {
        let n = StreamShape::of(spec)?.elements as usize;
        Ok(Box::new(Stream::copy(inputs, n)?))
    }
    fn kernel_file(&self) -> Option<&'static KernelFile> {
        Some(&kernels::STREAM)
    }
    fn launch_plan(&self, spec: &OpSpec, target: &Target) -> Result<LaunchPlan> {
        let s = StreamShape::of(spec)?;
        let n_vec = launch::vectors16(s.elements * spec.dtype.size_bytes()) as i64;
        let g = launch::stream(n_vec as u64, target.units);
        Ok(simple(
            vec![kernel(
                "hp_copy".into(),
                g,
                vec![Arg::Input(0), Arg::Output(0), Arg::I64(n_vec)],
            )],
            out(spec, 0, "b")?,
            vec![out_bytes(spec)?],
        ))
    }
    fn suite_entries(&self, suite: SuiteName, class: DeviceClass) -> Vec<(String, DType)> {
        stream_suite_entries(suite, class)
    }
}
