//! `read`: the read-only sum of an array, the read-bandwidth ceiling.

use super::copy::{stream_suite_entries, StreamShape, STREAM_KEYS};
use super::Op;
use crate::dtype::DType;
use crate::error::Result;
use crate::inputs::{Gen, Inputs};
use crate::kernels::{self, KernelFile};
use crate::launch::{self, Geometry};
use crate::launch_plan::{kernel, suffix, sum_output, Arg, LaunchPlan};
use crate::op::{OpClass, OpKind, OpSpec, Sat, ShapeKey};
use crate::reference::{stream::Stream, OpReference};
use crate::suite::{DeviceClass, SuiteName};
use crate::target::Target;
use crate::tensor::HostTensor;

/// Read-only bandwidth.
pub struct Read;

impl Op for Read {
    fn kind(&self) -> OpKind {
        OpKind::Read
    }
    fn name(&self) -> &'static str {
        "read"
    }
    fn summary(&self) -> &'static str {
        "read-only sum of a (read bandwidth ceiling)"
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
        &["a"]
    }
    fn input_bytes(&self, spec: &OpSpec) -> Result<Sat> {
        Ok(StreamShape::of(spec)?.array_bytes(spec.dtype))
    }
    fn output_shape(&self, _spec: &OpSpec) -> Result<Option<Vec<usize>>> {
        Ok(Some(vec![1]))
    }
    fn output_dtype(&self, _spec: &OpSpec) -> DType {
        DType::F32
    }
    fn generate(&self, spec: &OpSpec, gen: &mut Gen) -> Result<Vec<HostTensor>> {
        Ok(vec![
            StreamShape::of(spec)?.array("a", spec.dtype, gen, 0.0, 1.0)
        ])
    }
    fn reference<'a>(
        &self,
        spec: &OpSpec,
        inputs: &'a Inputs,
        _output_len: usize,
    ) -> Result<Box<dyn OpReference + 'a>> {
        let n = StreamShape::of(spec)?.elements as usize;
        Ok(Box::new(Stream::sum(inputs, n, 1)?))
    }
    fn kernel_file(&self) -> Option<&'static KernelFile> {
        Some(&kernels::STREAM)
    }
    fn launch_plan(&self, spec: &OpSpec, target: &Target) -> Result<LaunchPlan> {
        let n = StreamShape::of(spec)?.elements as i64;
        let g = launch::read(n as u64, spec.dtype.size_bytes(), target.units);
        let count = g.blocks() as i32;
        Ok(LaunchPlan {
            steps: vec![
                kernel(
                    format!("hp_read_{}", suffix(spec.dtype)),
                    g,
                    vec![Arg::Input(0), Arg::I64(n), Arg::Scratch(0)],
                ),
                kernel(
                    "hp_reduce_partials".into(),
                    Geometry {
                        grid: (1, 1, 1),
                        block: (256, 1, 1),
                        shared_bytes: 0,
                    },
                    vec![Arg::Scratch(0), Arg::I32(count), Arg::Output(0)],
                ),
            ],
            output_bytes: vec![4],
            scratch_bytes: vec![count as usize * 4],
            output: sum_output(),
            counted_work: None,
        })
    }
    fn suite_entries(&self, suite: SuiteName, class: DeviceClass) -> Vec<(String, DType)> {
        stream_suite_entries(suite, class)
    }
}
