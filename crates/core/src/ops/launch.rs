//! `launch`: an empty kernel, the launch overhead (time only).

use super::Op;
use crate::dtype::DType;
use crate::error::Result;
use crate::inputs::{Gen, Inputs};
use crate::kernels::{self, KernelFile};
use crate::launch_plan::{kernel, LaunchPlan, OutputDesc};
use crate::op::{opt, OpClass, OpKind, OpSpec, Sat, ShapeKey};
use crate::reference::{stream::Nothing, OpReference};
use crate::suite::{DeviceClass, SuiteName};
use crate::target::Target;
use crate::tensor::HostTensor;

/// The shape of `launch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LaunchShape {
    /// Blocks of the empty kernel.
    pub blocks: u64,
}

impl LaunchShape {
    /// The typed shape of `spec`; an error when the key is missing.
    pub fn of(spec: &OpSpec) -> Result<LaunchShape> {
        Ok(LaunchShape {
            blocks: spec.dim("blocks")?,
        })
    }
}

const KEYS: &[ShapeKey] = &[opt("blocks", "blocks of the empty kernel", 1)];

/// The empty kernel.
pub struct Launch;

impl Op for Launch {
    fn kind(&self) -> OpKind {
        OpKind::Launch
    }
    fn name(&self) -> &'static str {
        "launch"
    }
    fn summary(&self) -> &'static str {
        "empty kernel (launch overhead)"
    }
    fn shape_keys(&self) -> &'static [ShapeKey] {
        KEYS
    }
    fn example_shape(&self) -> &'static str {
        "blocks=1"
    }
    fn small_shape(&self) -> &'static str {
        "blocks=1"
    }
    fn class(&self) -> OpClass {
        OpClass::OffRoofline
    }
    fn work(&self, _spec: &OpSpec) -> Result<(Sat, Sat)> {
        Ok((Sat(0), Sat(0)))
    }
    fn input_names(&self) -> &'static [&'static str] {
        &[]
    }
    fn input_bytes(&self, _spec: &OpSpec) -> Result<Sat> {
        Ok(Sat(0))
    }
    fn output_shape(&self, _spec: &OpSpec) -> Result<Option<Vec<usize>>> {
        Ok(Some(vec![0]))
    }
    fn generate(&self, _spec: &OpSpec, _gen: &mut Gen) -> Result<Vec<HostTensor>> {
        Ok(vec![])
    }
    fn reference<'a>(
        &self,
        _spec: &OpSpec,
        _inputs: &'a Inputs,
        _output_len: usize,
    ) -> Result<Box<dyn OpReference + 'a>> {
        Ok(Box::new(Nothing))
    }
    fn kernel_file(&self) -> Option<&'static KernelFile> {
        Some(&kernels::STREAM)
    }
    fn launch_plan(&self, spec: &OpSpec, _target: &Target) -> Result<LaunchPlan> {
        let g = crate::launch::grid((LaunchShape::of(spec)?.blocks, 1, 1), 32);
        Ok(LaunchPlan {
            steps: vec![kernel("hp_empty".into(), g, vec![])],
            output_bytes: vec![0],
            scratch_bytes: vec![],
            output: OutputDesc {
                index: 0,
                name: "none",
                dtype: DType::F32,
                shape: vec![0],
            },
            counted_work: None,
        })
    }
    fn suite_entries(&self, suite: SuiteName, class: DeviceClass) -> Vec<(String, DType)> {
        match (suite, class) {
            (SuiteName::Ceilings, DeviceClass::Gpu) => vec![("blocks=1".to_string(), DType::F32)],
            _ => vec![],
        }
    }
}
