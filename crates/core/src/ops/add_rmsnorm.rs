//! `add_rmsnorm`: the fused residual add + RMSNorm of every decoder layer (vLLM's
//! `fused_add_rms_norm`), memory-bound. Given x[T,h], residual[T,h] and weight[h]:
//! r = x + residual, rounded to the dtype before anything reads it, and
//! y = r·rsqrt(mean(r²) + [`ADD_RMSNORM_EPS`])·weight, the norm over the rounded r in f32.
//! The one checked output is out[2,T,h]: out[0] = y, out[1] = r, so the check covers the
//! updated residual too. Kernel: `kernels/add_rmsnorm.cu`, one block of [`THREADS`] per row.

mod reference;

use super::Op;
use crate::dtype::DType;
use crate::error::Result;
use crate::inputs::{Gen, Inputs};
use crate::kernels::KernelFile;
use crate::launch::{self, Geometry};
use crate::launch_plan::{
    float_only, i32_arg, kernel, out, out_bytes, simple, suffix, Arg, LaunchPlan,
};
use crate::op::{req, OpClass, OpKind, OpSpec, Sat, ShapeKey};
use crate::reference::OpReference;
use crate::suite::{DeviceClass, SuiteName};
use crate::target::Target;
use crate::tensor::HostTensor;
use reference::AddRmsnorm as Reference;

/// The ε added to the mean square under the square root (vLLM's and Llama's
/// `rms_norm_eps`); kernels take it as an f32 argument, the reference widens this same f32.
pub const ADD_RMSNORM_EPS: f32 = 1e-6;

/// `kernels/add_rmsnorm.cu`, this op's kernels.
static FILE: KernelFile = KernelFile {
    file: "add_rmsnorm.cu",
    source: include_str!("../../../../kernels/add_rmsnorm.cu"),
};

/// Threads per block of `hp_add_rmsnorm_*` (`HP_RN_THREADS`).
pub const THREADS: u32 = 256;

/// The shape of `add_rmsnorm`: `tokens` rows of `hidden`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NormShape {
    /// Token rows normalized.
    pub tokens: u64,
    /// Elements per row (the model width).
    pub hidden: u64,
}

impl NormShape {
    /// The typed shape of `spec`; an error when a key is missing.
    pub fn of(spec: &OpSpec) -> Result<NormShape> {
        Ok(NormShape {
            tokens: spec.dim("tokens")?,
            hidden: spec.dim("hidden")?,
        })
    }
}

const KEYS: &[ShapeKey] = &[
    req("tokens", "token rows normalized"),
    req("hidden", "elements per row (model width)"),
];

/// `hp_add_rmsnorm_*`: `tokens` blocks × [`THREADS`], block `t` normalizing row `t`.
pub fn geometry(tokens: u64) -> Geometry {
    launch::grid((tokens, 1, 1), THREADS)
}

/// Fused residual add + RMSNorm.
pub struct AddRmsnorm;

impl Op for AddRmsnorm {
    fn kind(&self) -> OpKind {
        OpKind::AddRmsnorm
    }
    fn name(&self) -> &'static str {
        "add_rmsnorm"
    }
    fn summary(&self) -> &'static str {
        "fused residual add + RMSNorm (r = x + residual, y = r/rms(r)·weight), memory-bound"
    }
    fn shape_keys(&self) -> &'static [ShapeKey] {
        KEYS
    }
    fn example_shape(&self) -> &'static str {
        "tokens=64,hidden=4096"
    }
    fn small_shape(&self) -> &'static str {
        "tokens=256,hidden=4096"
    }
    fn class(&self) -> OpClass {
        OpClass::Model
    }
    fn work(&self, spec: &OpSpec) -> Result<(Sat, Sat)> {
        // Read x, residual, weight; write y, r. Add 1, square-accumulate 2, scale 2.
        let p = NormShape::of(spec)?;
        let (t, h, s) = (Sat(p.tokens), Sat(p.hidden), Sat(spec.dtype.size_bytes()));
        Ok((Sat(5) * t * h, (Sat(4) * t * h + h) * s))
    }
    fn input_names(&self) -> &'static [&'static str] {
        &["x", "residual", "weight"]
    }
    fn input_bytes(&self, spec: &OpSpec) -> Result<Sat> {
        let p = NormShape::of(spec)?;
        let (t, h, s) = (Sat(p.tokens), Sat(p.hidden), Sat(spec.dtype.size_bytes()));
        Ok((Sat(2) * t * h + h) * s)
    }
    fn output_shape(&self, spec: &OpSpec) -> Result<Option<Vec<usize>>> {
        let p = NormShape::of(spec)?;
        Ok(Some(vec![2, p.tokens as usize, p.hidden as usize]))
    }
    fn generate(&self, spec: &OpSpec, gen: &mut Gen) -> Result<Vec<HostTensor>> {
        let p = NormShape::of(spec)?;
        let (t, h, dt) = (p.tokens as usize, p.hidden as usize, spec.dtype);
        Ok(vec![
            gen.uniform("x", vec![t, h], dt, -1.0, 1.0),
            gen.uniform("residual", vec![t, h], dt, -1.0, 1.0),
            gen.uniform("weight", vec![h], dt, 0.5, 1.5),
        ])
    }
    fn reference<'a>(
        &self,
        spec: &OpSpec,
        inputs: &'a Inputs,
        _output_len: usize,
    ) -> Result<Box<dyn OpReference + 'a>> {
        Ok(Box::new(Reference::new(spec, inputs)?))
    }
    fn kernel_file(&self) -> Option<&'static KernelFile> {
        Some(&FILE)
    }
    fn launch_plan(&self, spec: &OpSpec, _target: &Target) -> Result<LaunchPlan> {
        float_only(spec.op, spec.dtype)?;
        let p = NormShape::of(spec)?;
        let int = |key: &str, v: u64| i32_arg(spec.op, key, v);
        let args = vec![
            Arg::Input(0),
            Arg::Input(1),
            Arg::Input(2),
            Arg::Output(0),
            Arg::I32(int("tokens", p.tokens)?),
            Arg::I32(int("hidden", p.hidden)?),
            Arg::F32(ADD_RMSNORM_EPS),
        ];
        Ok(simple(
            vec![kernel(
                format!("hp_add_rmsnorm_{}", suffix(spec.dtype)),
                geometry(p.tokens),
                args,
            )],
            out(spec, 0, "out")?,
            vec![out_bytes(spec)?],
        ))
    }
    fn suite_entries(&self, suite: SuiteName, class: DeviceClass) -> Vec<(String, DType)> {
        // The residual add + norm before attention and before the MLP, at Llama-3.1-8B's
        // width and decode batch sizes.
        let tokens: &[u64] = match (suite, class) {
            (SuiteName::Decode, DeviceClass::Cpu) => &[64],
            (SuiteName::Decode, DeviceClass::Gpu) => &[1, 16, 64, 256],
            (SuiteName::Quick | SuiteName::Prefill | SuiteName::Ceilings, _) => &[],
        };
        tokens
            .iter()
            .map(|t| (format!("tokens={t},hidden=4096"), DType::Bf16))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launch_plan::{build, LaunchStep};

    fn spec(shape: &str, dtype: DType) -> OpSpec {
        OpSpec::parse(OpKind::AddRmsnorm, shape, dtype).unwrap()
    }

    #[test]
    fn cost_by_hand() {
        // flops 5·64·4096 = 1,310,720; bytes (4·64·4096 + 4096)·2 = (1,048,576 + 4,096)·2.
        let w = spec("tokens=64,hidden=4096", DType::Bf16).work().unwrap();
        assert_eq!((w.flops, w.bytes), (1_310_720, 2_105_344));
        // 3 rows of 5 in f32: 75 FLOPs; x, residual, y, r = 60 elements + 5 of weight = 260 B.
        let w = spec("tokens=3,hidden=5", DType::F32).work().unwrap();
        assert_eq!((w.flops, w.bytes), (75, 260));
    }

    #[test]
    fn bad_shapes_are_refused_with_a_sentence() {
        for (text, needle) in [
            ("tokens=4", "needs shape key 'hidden'"),
            ("hidden=4096", "needs shape key 'tokens'"),
            ("tokens=4,hidden=0", "hidden=0"),
            ("tokens=4,hidden=8,m=1", "'m'"),
        ] {
            let err = OpSpec::parse(OpKind::AddRmsnorm, text, DType::Bf16)
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn one_block_per_row_and_the_readme_arguments() {
        let p = build(&spec("tokens=64,hidden=4096", DType::Bf16), &Target::h100()).unwrap();
        let LaunchStep::Kernel {
            function,
            geometry,
            args,
        } = &p.steps[0]
        else {
            panic!("{p:?}")
        };
        assert_eq!(function, "hp_add_rmsnorm_bf16");
        assert_eq!((geometry.grid, geometry.block), ((64, 1, 1), (256, 1, 1)));
        assert_eq!(geometry.shared_bytes, 0);
        assert_eq!(
            args,
            &[
                Arg::Input(0),
                Arg::Input(1),
                Arg::Input(2),
                Arg::Output(0),
                Arg::I32(64),
                Arg::I32(4096),
                Arg::F32(1e-6),
            ]
        );
        // y and r, 64·4096 bf16 each.
        assert_eq!(p.output_bytes, vec![2 * 64 * 4096 * 2]);
        assert_eq!(
            (p.output.name, p.output.shape.clone()),
            ("out", vec![2, 64, 4096])
        );
        assert!(p.scratch_bytes.is_empty());
    }

    #[test]
    fn fp8_and_oversized_rows_are_refused_with_a_sentence() {
        let h100 = Target::h100();
        let e = build(&spec("tokens=1,hidden=8", DType::Fp8E4m3), &h100)
            .unwrap_err()
            .to_string();
        assert!(e.contains("runs f32, f16 and bf16; got fp8_e4m3"), "{e}");
        let e = build(&spec("tokens=1,hidden=4G", DType::F32), &h100)
            .unwrap_err()
            .to_string();
        assert!(e.contains("hidden=4294967296"), "{e}");
    }
}
