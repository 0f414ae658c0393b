//! `h2d`: host-to-device copy from pinned memory (PCIe bandwidth), and [`HostCopy`], the
//! definition it shares with `d2h`. The backend runs both itself; they have no kernel.

use super::copy::{Copy, StreamShape, STREAM_KEYS};
use super::Op;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::inputs::{Gen, Inputs};
use crate::kernels::KernelFile;
use crate::launch_plan::LaunchPlan;
use crate::op::{OpClass, OpKind, OpSpec, Sat, ShapeKey};
use crate::reference::OpReference;
use crate::suite::{DeviceClass, SuiteName};
use crate::target::Target;
use crate::tensor::HostTensor;

/// A copy between host and device memory, in one direction.
pub struct HostCopy {
    kind: OpKind,
    name: &'static str,
    summary: &'static str,
}

/// The host-to-device copy.
pub const H2D: HostCopy = HostCopy::new(
    OpKind::H2d,
    "h2d",
    "host-to-device copy from pinned memory (PCIe bandwidth)",
);

impl HostCopy {
    /// The copy `kind`, called `name`, described by `summary`.
    pub(super) const fn new(kind: OpKind, name: &'static str, summary: &'static str) -> Self {
        HostCopy {
            kind,
            name,
            summary,
        }
    }
}

impl Op for HostCopy {
    fn kind(&self) -> OpKind {
        self.kind
    }
    fn name(&self) -> &'static str {
        self.name
    }
    fn summary(&self) -> &'static str {
        self.summary
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
        OpClass::OffRoofline
    }
    fn work(&self, spec: &OpSpec) -> Result<(Sat, Sat)> {
        Ok((Sat(0), StreamShape::of(spec)?.array_bytes(spec.dtype)))
    }
    // The data, its sizes and its reference are copy's; only the path differs.
    fn input_names(&self) -> &'static [&'static str] {
        Copy.input_names()
    }
    fn input_bytes(&self, spec: &OpSpec) -> Result<Sat> {
        Copy.input_bytes(spec)
    }
    fn output_shape(&self, spec: &OpSpec) -> Result<Option<Vec<usize>>> {
        Copy.output_shape(spec)
    }
    fn generate(&self, spec: &OpSpec, gen: &mut Gen) -> Result<Vec<HostTensor>> {
        Copy.generate(spec, gen)
    }
    fn reference<'a>(
        &self,
        spec: &OpSpec,
        inputs: &'a Inputs,
        output_len: usize,
    ) -> Result<Box<dyn OpReference + 'a>> {
        Copy.reference(spec, inputs, output_len)
    }
    fn kernel_file(&self) -> Option<&'static KernelFile> {
        None
    }
    fn launch_plan(&self, _spec: &OpSpec, _target: &Target) -> Result<LaunchPlan> {
        Err(Error::unsupported(format!(
            "{} is a copy, not a kernel: the backend runs it itself",
            self.name
        )))
    }
    fn suite_entries(&self, suite: SuiteName, class: DeviceClass) -> Vec<(String, DType)> {
        // 256 Mi f32 = 1 GiB each way over PCIe / C2C.
        match (suite, class) {
            (SuiteName::Ceilings, DeviceClass::Gpu) => {
                vec![("elements=256M".to_string(), DType::F32)]
            }
            _ => vec![],
        }
    }
}
