//! `l2_read`: the sum of a cache-resident array read many times in one launch, the
//! last-level-cache bandwidth ceiling (always hot).

use super::Op;
use crate::dtype::DType;
use crate::error::Result;
use crate::inputs::{Gen, Inputs};
use crate::kernels::{self, KernelFile};
use crate::launch;
use crate::launch_plan::{kernel, suffix, sum_output, Arg, LaunchPlan};
use crate::op::{opt, req, OpClass, OpKind, OpSpec, Sat, ShapeKey};
use crate::reference::{stream::Stream, OpReference};
use crate::suite::{DeviceClass, SuiteName};
use crate::target::Target;
use crate::tensor::HostTensor;

/// The shape of `l2_read`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct L2Shape {
    /// Elements of the cache-resident array.
    pub elements: u64,
    /// Reads of the whole array in one launch.
    pub passes: u64,
}

impl L2Shape {
    /// The typed shape of `spec`; an error when a key is missing.
    pub fn of(spec: &OpSpec) -> Result<L2Shape> {
        Ok(L2Shape {
            elements: spec.dim("elements")?,
            passes: spec.dim("passes")?,
        })
    }
}

const KEYS: &[ShapeKey] = &[
    req("elements", "elements of the cache-resident array"),
    opt(
        "passes",
        "reads of the whole array in one launch (launch overhead under 2 % of the time)",
        512,
    ),
];

/// Last-level-cache bandwidth.
pub struct L2Read;

impl Op for L2Read {
    fn kind(&self) -> OpKind {
        OpKind::L2Read
    }
    fn name(&self) -> &'static str {
        "l2_read"
    }
    fn summary(&self) -> &'static str {
        "read-only sum of a cache-resident array, many passes in one launch (LLC bandwidth, always hot)"
    }
    fn shape_keys(&self) -> &'static [ShapeKey] {
        KEYS
    }
    fn example_shape(&self) -> &'static str {
        "elements=2M"
    }
    fn small_shape(&self) -> &'static str {
        "elements=256K"
    }
    fn class(&self) -> OpClass {
        OpClass::OffRoofline
    }
    fn work(&self, spec: &OpSpec) -> Result<(Sat, Sat)> {
        let s = L2Shape::of(spec)?;
        Ok((
            Sat(0),
            Sat(s.elements) * Sat(s.passes) * Sat(spec.dtype.size_bytes()),
        ))
    }
    fn input_names(&self) -> &'static [&'static str] {
        &["a"]
    }
    fn input_bytes(&self, spec: &OpSpec) -> Result<Sat> {
        Ok(Sat(L2Shape::of(spec)?.elements) * Sat(spec.dtype.size_bytes()))
    }
    fn output_shape(&self, _spec: &OpSpec) -> Result<Option<Vec<usize>>> {
        Ok(Some(vec![1]))
    }
    fn output_dtype(&self, _spec: &OpSpec) -> DType {
        DType::F32
    }
    fn generate(&self, spec: &OpSpec, gen: &mut Gen) -> Result<Vec<HostTensor>> {
        let n = L2Shape::of(spec)?.elements as usize;
        Ok(vec![gen.uniform("a", vec![n], spec.dtype, 0.0, 1.0)])
    }
    fn reference<'a>(
        &self,
        spec: &OpSpec,
        inputs: &'a Inputs,
        _output_len: usize,
    ) -> Result<Box<dyn OpReference + 'a>> {
        let s = L2Shape::of(spec)?;
        Ok(Box::new(Stream::sum(
            inputs,
            s.elements as usize,
            s.passes,
        )?))
    }
    fn kernel_file(&self) -> Option<&'static KernelFile> {
        Some(&kernels::STREAM)
    }
    fn launch_plan(&self, spec: &OpSpec, target: &Target) -> Result<LaunchPlan> {
        let s = L2Shape::of(spec)?;
        let n = s.elements as i64;
        let g = launch::l2_read(n as u64, spec.dtype.size_bytes(), target.units);
        let count = g.blocks() as usize;
        let passes = s.passes.min(i32::MAX as u64) as i32;
        Ok(LaunchPlan {
            steps: vec![kernel(
                format!("hp_l2_read_{}", suffix(spec.dtype)),
                g,
                vec![
                    Arg::Input(0),
                    Arg::I64(n),
                    Arg::I32(passes),
                    Arg::Scratch(0),
                    Arg::Scratch(1),
                    Arg::Output(0),
                ],
            )],
            output_bytes: vec![4],
            // Partials, then the arrival counter (zero at allocation; the last block resets
            // it for the next launch).
            scratch_bytes: vec![count * 4, 4],
            output: sum_output(),
            counted_work: None,
        })
    }
    fn suite_entries(&self, suite: SuiteName, class: DeviceClass) -> Vec<(String, DType)> {
        // 2 Mi f32 = 8 MB: inside every supported GPU's L2 (MI250X's is 8 MB per GCD).
        match (suite, class) {
            (SuiteName::Ceilings, DeviceClass::Gpu) => {
                vec![("elements=2M".to_string(), DType::F32)]
            }
            _ => vec![],
        }
    }
}
