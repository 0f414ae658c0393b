//! `write`: a = constant, the write-only bandwidth ceiling.

use super::copy::{stream_suite_entries, StreamShape, STREAM_KEYS};
use super::Op;
use crate::dtype::DType;
use crate::error::Result;
use crate::inputs::{Gen, Inputs, WRITE_VALUE};
use crate::kernels::{self, KernelFile};
use crate::launch;
use crate::launch_plan::{kernel, out, out_bytes, simple, vector_pattern, Arg, LaunchPlan};
use crate::op::{OpClass, OpKind, OpSpec, Sat, ShapeKey};
use crate::reference::{stream::Stream, OpReference};
use crate::suite::{DeviceClass, SuiteName};
use crate::target::Target;
use crate::tensor::HostTensor;

/// Write-only bandwidth.
pub struct Write;

impl Op for Write {
    fn kind(&self) -> OpKind {
        OpKind::Write
    }
    fn name(&self) -> &'static str {
        "write"
    }
    fn summary(&self) -> &'static str {
        "write-only fill of a (write bandwidth ceiling)"
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
        Ok((Sat(0), StreamShape::of(spec)?.array_bytes(spec.dtype)))
    }
    fn input_names(&self) -> &'static [&'static str] {
        &[]
    }
    fn input_bytes(&self, _spec: &OpSpec) -> Result<Sat> {
        Ok(Sat(0))
    }
    fn output_shape(&self, spec: &OpSpec) -> Result<Option<Vec<usize>>> {
        Ok(Some(vec![StreamShape::of(spec)?.elements as usize]))
    }
    fn generate(&self, _spec: &OpSpec, _gen: &mut Gen) -> Result<Vec<HostTensor>> {
        Ok(vec![])
    }
    fn reference<'a>(
        &self,
        spec: &OpSpec,
        _inputs: &'a Inputs,
        _output_len: usize,
    ) -> Result<Box<dyn OpReference + 'a>> {
        Ok(Box::new(Stream::fill(
            StreamShape::of(spec)?.elements as usize,
        )))
    }
    fn kernel_file(&self) -> Option<&'static KernelFile> {
        Some(&kernels::STREAM)
    }
    fn launch_plan(&self, spec: &OpSpec, target: &Target) -> Result<LaunchPlan> {
        let s = StreamShape::of(spec)?;
        let n_vec = launch::vectors16(s.elements * spec.dtype.size_bytes()) as i64;
        let g = launch::stream(n_vec as u64, target.units);
        let pattern = vector_pattern(spec.dtype, WRITE_VALUE);
        Ok(simple(
            vec![kernel(
                "hp_write".into(),
                g,
                vec![Arg::Output(0), Arg::I64(n_vec), Arg::U32x4(pattern)],
            )],
            out(spec, 0, "a")?,
            vec![out_bytes(spec)?],
        ))
    }
    fn suite_entries(&self, suite: SuiteName, class: DeviceClass) -> Vec<(String, DType)> {
        stream_suite_entries(suite, class)
    }
}
