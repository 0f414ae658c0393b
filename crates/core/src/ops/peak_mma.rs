//! `peak_mma`: dependent multiply-add chains, the compute ceiling. Its kernel counts the
//! FLOPs it does (`LaunchPlan::counted_work`); the cost model counts none.

use super::Op;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::inputs::{Gen, Inputs};
use crate::kernels::{self, KernelFile};
use crate::launch;
use crate::launch_plan::{kernel, suffix, Arg, LaunchPlan, OutputDesc};
use crate::op::{opt, OpClass, OpKind, OpSpec, Sat, ShapeKey, Work};
use crate::reference::{stream::PeakChain, OpReference};
use crate::suite::{DeviceClass, SuiteName};
use crate::target::Target;
use crate::tensor::HostTensor;

/// The shape of `peak_mma`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeakShape {
    /// Dependent multiply-add steps per lane in the timed loop.
    pub iters: u64,
}

impl PeakShape {
    /// The typed shape of `spec`; an error when the key is missing.
    pub fn of(spec: &OpSpec) -> Result<PeakShape> {
        Ok(PeakShape {
            iters: spec.dim("iters")?,
        })
    }
}

const KEYS: &[ShapeKey] = &[opt(
    "iters",
    "dependent multiply-add steps per lane in the timed loop",
    65536,
)];

/// Peak multiply-add throughput.
pub struct PeakMma;

impl Op for PeakMma {
    fn kind(&self) -> OpKind {
        OpKind::PeakMma
    }
    fn name(&self) -> &'static str {
        "peak_mma"
    }
    fn summary(&self) -> &'static str {
        "dependent multiply-add chains (compute ceiling)"
    }
    fn shape_keys(&self) -> &'static [ShapeKey] {
        KEYS
    }
    fn example_shape(&self) -> &'static str {
        "iters=65536"
    }
    fn small_shape(&self) -> &'static str {
        ""
    }
    fn class(&self) -> OpClass {
        OpClass::ComputeCeiling
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
        Ok(None)
    }
    fn output_dtype(&self, _spec: &OpSpec) -> DType {
        DType::F32
    }
    fn generate(&self, _spec: &OpSpec, _gen: &mut Gen) -> Result<Vec<HostTensor>> {
        Ok(vec![])
    }
    fn reference<'a>(
        &self,
        spec: &OpSpec,
        _inputs: &'a Inputs,
        output_len: usize,
    ) -> Result<Box<dyn OpReference + 'a>> {
        Ok(Box::new(PeakChain::new(
            spec.dtype,
            PeakShape::of(spec)?.iters,
            output_len,
        )))
    }
    fn kernel_file(&self) -> Option<&'static KernelFile> {
        Some(&kernels::PEAK)
    }
    fn launch_plan(&self, spec: &OpSpec, target: &Target) -> Result<LaunchPlan> {
        peak_plan(spec, target)
    }
    fn suite_entries(&self, suite: SuiteName, class: DeviceClass) -> Vec<(String, DType)> {
        let dtypes: &[DType] = match (suite, class) {
            (SuiteName::Ceilings, DeviceClass::Gpu) => {
                &[DType::Bf16, DType::F16, DType::Fp8E4m3, DType::F32]
            }
            (SuiteName::Ceilings | SuiteName::Quick, DeviceClass::Cpu) => &[DType::F32],
            (SuiteName::Quick, DeviceClass::Gpu) => &[DType::Bf16],
            (SuiteName::Decode | SuiteName::Prefill, _) => &[],
        };
        dtypes.iter().map(|&d| (String::new(), d)).collect()
    }
}

/// The compute-roof plan: FMA chains for f32; for f16/bf16/fp8, wgmma on Hopper (`sm_90a`),
/// `mma.sync` elsewhere on NVIDIA (fp8 only on sm_89, where it is native), MFMA on AMD.
fn peak_plan(spec: &OpSpec, target: &Target) -> Result<LaunchPlan> {
    let iters = PeakShape::of(spec)?.iters;
    let dt = suffix(spec.dtype);
    let k = if spec.dtype == DType::Fp8E4m3 { 32 } else { 16 };
    let (function, g, lanes, flops, args) = match spec.dtype {
        DType::F32 => {
            let g = launch::peak(target.units);
            (
                "hp_peak_fma_f32".to_string(),
                g,
                launch::peak_fma_lanes(&g),
                launch::peak_fma_flops(&g, iters),
                vec![Arg::Output(0), Arg::I32(iters as i32)],
            )
        }
        _ if target.has_wgmma() => {
            let g = launch::peak_wgmma(target.units);
            (
                format!("hp_peak_wgmma_{dt}"),
                g,
                launch::peak_wgmma_lanes(&g),
                launch::peak_wgmma_flops(&g, k, iters),
                vec![Arg::Output(0), Arg::I32(iters as i32)],
            )
        }
        DType::Fp8E4m3 if !target.has_fp8_mma_sync() => {
            return Err(Error::unsupported(format!(
                "the hotpath fp8 peak runs on sm_89 (mma.sync) and sm_90a (wgmma); {} has neither on its tensor cores",
                target.arch
            )))
        }
        _ => {
            let g = launch::peak(target.units);
            (
                format!("hp_peak_mma_{dt}"),
                g,
                launch::peak_mma_lanes(&g),
                launch::peak_mma_flops(&g, k, iters),
                // The last argument is 0 at run time; the kernel folds it into an operand
                // so the compiler cannot hoist the product out of the timed loop.
                vec![Arg::Output(0), Arg::I32(iters as i32), Arg::I32(0)],
            )
        }
    };
    Ok(LaunchPlan {
        steps: vec![kernel(function, g, args)],
        output_bytes: vec![lanes as usize * 4],
        scratch_bytes: vec![],
        output: OutputDesc {
            index: 0,
            name: "lanes",
            dtype: DType::F32,
            shape: vec![lanes as usize],
        },
        counted_work: Some(Work { flops, bytes: 0 }),
    })
}
