//! `gemv`: decode GEMV, the product of [`super::gemm`] with m ≤ 16, bound by the weights.

use super::gemm::{Gemm, LinearShape, LINEAR_KEYS};
use super::Op;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::inputs::{Gen, Inputs};
use crate::kernels::{self, KernelFile};
use crate::launch;
use crate::launch_plan::{kernel, out, out_bytes, suffix, Arg, LaunchPlan, LaunchStep};
use crate::op::{OpClass, OpKind, OpSpec, Sat, Shape, ShapeKey};
use crate::reference::OpReference;
use crate::suite::{DeviceClass, SuiteName, LLAMA_8B_PROJECTIONS};
use crate::target::Target;
use crate::tensor::HostTensor;

/// Refuses `m > 16` for a decode GEMV `op` (gemv and its quantized forms).
pub(super) fn check_decode_m(op: OpKind, shape: &Shape) -> Result<()> {
    let m = shape.dim("m")?;
    if m > 16 {
        return Err(Error::bad_input(format!(
            "{op} takes m <= 16 (decode), got m={m}; use --op gemm for larger m"
        )));
    }
    Ok(())
}

/// The plan of a split-K decode GEMV kernel `{function}_{dt}` with `args` over `(⌈n/8⌉,
/// splits)`: the f32 workspace zeroed first and `{function}_finish_{dt}` rounding it into C
/// after, when `splits > 1` (gemv and its quantized forms).
pub(super) fn split_k_plan(
    spec: &OpSpec,
    function: &str,
    args: Vec<Arg>,
    (m, n): (u64, u64),
    splits: u32,
) -> Result<LaunchPlan> {
    let dt = suffix(spec.dtype);
    let mut steps = vec![];
    if splits > 1 {
        steps.push(LaunchStep::ZeroScratch(0));
    }
    steps.push(kernel(
        format!("{function}_{dt}"),
        launch::gemv(n, splits),
        args,
    ));
    if splits > 1 {
        let count = m * n;
        steps.push(kernel(
            format!("{function}_finish_{dt}"),
            launch::elementwise(count),
            vec![Arg::Scratch(0), Arg::Output(0), Arg::I64(count as i64)],
        ));
    }
    Ok(LaunchPlan {
        steps,
        output_bytes: vec![out_bytes(spec)?],
        scratch_bytes: vec![(m * n * 4) as usize],
        output: out(spec, 0, "c")?,
        counted_work: None,
    })
}

/// Decode GEMV.
pub struct Gemv;

impl Op for Gemv {
    fn kind(&self) -> OpKind {
        OpKind::Gemv
    }
    fn name(&self) -> &'static str {
        "gemv"
    }
    fn summary(&self) -> &'static str {
        "decode GEMV (m <= 16), memory-bound on the weights"
    }
    fn shape_keys(&self) -> &'static [ShapeKey] {
        LINEAR_KEYS
    }
    fn example_shape(&self) -> &'static str {
        "m=1,n=14336,k=4096"
    }
    fn small_shape(&self) -> &'static str {
        "m=4,n=512,k=512"
    }
    fn class(&self) -> OpClass {
        OpClass::Model
    }
    fn check_shape(&self, shape: &Shape) -> Result<()> {
        check_decode_m(OpKind::Gemv, shape)
    }
    // The product, its inputs and its reference are gemm's; only the shapes it takes,
    // its kernel and its suites differ.
    fn work(&self, spec: &OpSpec) -> Result<(Sat, Sat)> {
        Gemm.work(spec)
    }
    fn input_names(&self) -> &'static [&'static str] {
        Gemm.input_names()
    }
    fn input_bytes(&self, spec: &OpSpec) -> Result<Sat> {
        Gemm.input_bytes(spec)
    }
    fn output_shape(&self, spec: &OpSpec) -> Result<Option<Vec<usize>>> {
        Gemm.output_shape(spec)
    }
    fn generate(&self, spec: &OpSpec, gen: &mut Gen) -> Result<Vec<HostTensor>> {
        Gemm.generate(spec, gen)
    }
    fn reference<'a>(
        &self,
        spec: &OpSpec,
        inputs: &'a Inputs,
        output_len: usize,
    ) -> Result<Box<dyn OpReference + 'a>> {
        Gemm.reference(spec, inputs, output_len)
    }
    fn kernel_file(&self) -> Option<&'static KernelFile> {
        Some(&kernels::GEMV)
    }
    fn launch_plan(&self, spec: &OpSpec, target: &Target) -> Result<LaunchPlan> {
        let s = LinearShape::of(spec)?;
        s.check_k(OpKind::Gemv)?;
        let (m, n, k) = (s.m, s.n, s.k);
        let splits = launch::gemv_splits(n, k, target.units);
        let args = vec![
            Arg::Input(0),
            Arg::Input(1),
            Arg::Output(0),
            Arg::Scratch(0),
            Arg::I32(m as i32),
            Arg::I32(n as i32),
            Arg::I32(k as i32),
            Arg::I32(splits as i32),
        ];
        split_k_plan(spec, "hp_gemv", args, (m, n), splits)
    }
    fn suite_entries(&self, suite: SuiteName, class: DeviceClass) -> Vec<(String, DType)> {
        let bf = DType::Bf16;
        match suite {
            SuiteName::Quick => vec![
                ("m=1,n=14336,k=4096".to_string(), bf),
                ("m=8,n=4096,k=4096".to_string(), bf),
            ],
            SuiteName::Decode => {
                let ms: &[u64] = match class {
                    DeviceClass::Cpu => &[1, 4, 16],
                    DeviceClass::Gpu => &[1, 2, 4, 8, 16],
                };
                let mut v = Vec::new();
                for &m in ms {
                    for (_, n, k) in LLAMA_8B_PROJECTIONS {
                        v.push((format!("m={m},n={n},k={k}"), bf));
                    }
                }
                v
            }
            SuiteName::Prefill | SuiteName::Ceilings => vec![],
        }
    }
}
