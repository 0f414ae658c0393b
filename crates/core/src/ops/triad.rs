//! `triad`: the STREAM triad a = b + q·c.

use super::copy::{stream_suite_entries, StreamShape, STREAM_KEYS};
use super::Op;
use crate::dtype::DType;
use crate::error::Result;
use crate::inputs::{Gen, Inputs, TRIAD_SCALAR};
use crate::kernels::{self, KernelFile};
use crate::launch;
use crate::launch_plan::{kernel, out, out_bytes, simple, suffix, Arg, LaunchPlan};
use crate::op::{OpClass, OpKind, OpSpec, Sat, ShapeKey};
use crate::reference::{stream::Stream, OpReference};
use crate::suite::{DeviceClass, SuiteName};
use crate::target::Target;
use crate::tensor::HostTensor;

/// STREAM triad.
pub struct Triad;

impl Op for Triad {
    fn kind(&self) -> OpKind {
        OpKind::Triad
    }
    fn name(&self) -> &'static str {
        "triad"
    }
    fn summary(&self) -> &'static str {
        "STREAM triad a = b + q*c"
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
        let s = StreamShape::of(spec)?;
        Ok((Sat(2) * Sat(s.elements), Sat(3) * s.array_bytes(spec.dtype)))
    }
    fn input_names(&self) -> &'static [&'static str] {
        &["b", "c"]
    }
    fn input_bytes(&self, spec: &OpSpec) -> Result<Sat> {
        Ok(Sat(2) * StreamShape::of(spec)?.array_bytes(spec.dtype))
    }
    fn output_shape(&self, spec: &OpSpec) -> Result<Option<Vec<usize>>> {
        Ok(Some(vec![StreamShape::of(spec)?.elements as usize]))
    }
    fn generate(&self, spec: &OpSpec, gen: &mut Gen) -> Result<Vec<HostTensor>> {
        let s = StreamShape::of(spec)?;
        Ok(vec![
            s.array("b", spec.dtype, gen, -1.0, 1.0),
            s.array("c", spec.dtype, gen, -1.0, 1.0),
        ])
    }
    fn reference<'a>(
        &self,
        spec: &OpSpec,
        inputs: &'a Inputs,
        _output_len: usize,
    ) -> Result<Box<dyn OpReference + 'a>> {
        let n = StreamShape::of(spec)?.elements as usize;
        Ok(Box::new(Stream::triad(inputs, n)?))
    }
    fn kernel_file(&self) -> Option<&'static KernelFile> {
        Some(&kernels::STREAM)
    }
    fn launch_plan(&self, spec: &OpSpec, target: &Target) -> Result<LaunchPlan> {
        let n = StreamShape::of(spec)?.elements as i64;
        let g = launch::stream(n as u64, target.units);
        let args = vec![
            Arg::Output(0),
            Arg::Input(0),
            Arg::Input(1),
            Arg::I64(n),
            Arg::F32(TRIAD_SCALAR),
        ];
        Ok(simple(
            vec![kernel(format!("hp_triad_{}", suffix(spec.dtype)), g, args)],
            out(spec, 0, "a")?,
            vec![out_bytes(spec)?],
        ))
    }
    fn suite_entries(&self, suite: SuiteName, class: DeviceClass) -> Vec<(String, DType)> {
        stream_suite_entries(suite, class)
    }
}
