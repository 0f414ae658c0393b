//! `gemv_fp8w`: decode GEMV on fp8 weights, C[m,n] = (A[m,k]·W[n,k]ᵀ)·w_scale[n], with W in
//! fp8 e4m3 (the device's encoding: OCP, or e4m3fnuz on gfx94x) and one f32 scale per output channel (vLLM's per-channel fp8 checkpoints),
//! activations and C in f16 or bf16, m ≤ 16. Bound by the weights: one byte per element.
//! Kernel: `kernels/gemv_fp8w.cu`, one lane group of 32 per weight row, split-K as `gemv`.

mod reference;

use super::gemm::{LinearShape, LINEAR_KEYS};
use super::gemv::{check_decode_m, split_k_plan};
use super::Op;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::inputs::{Gen, Inputs};
use crate::kernels::KernelFile;
use crate::launch;
use crate::launch_plan::{Arg, LaunchPlan};
use crate::op::{OpClass, OpKind, OpSpec, Sat, Shape, ShapeKey};
use crate::reference::OpReference;
use crate::suite::{DeviceClass, SuiteName, LLAMA_8B_PROJECTIONS};
use crate::target::Target;
use crate::tensor::HostTensor;
use reference::GemvFp8w as Reference;

/// `kernels/gemv_fp8w.cu`, this op's kernels.
static FILE: KernelFile = KernelFile {
    file: "gemv_fp8w.cu",
    source: include_str!("../../../../kernels/gemv_fp8w.cu"),
};

/// The activation dtypes the op takes (the weights are always fp8 e4m3).
fn check_dtype(dtype: DType) -> Result<()> {
    match dtype {
        DType::F16 | DType::Bf16 => Ok(()),
        DType::F32 | DType::Fp8E4m3 => Err(Error::unsupported(format!(
            "gemv_fp8w takes f16 or bf16 activations (its weights are fp8_e4m3); got --dtype {dtype}"
        ))),
    }
}

/// Decode GEMV on per-channel-scaled fp8 weights.
pub struct GemvFp8w;

impl Op for GemvFp8w {
    fn kind(&self) -> OpKind {
        OpKind::GemvFp8w
    }
    fn name(&self) -> &'static str {
        "gemv_fp8w"
    }
    fn summary(&self) -> &'static str {
        "decode GEMV (m <= 16) on fp8 e4m3 weights with per-channel f32 scales, bf16/f16 activations"
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
        check_decode_m(OpKind::GemvFp8w, shape)
    }
    fn work(&self, spec: &OpSpec) -> Result<(Sat, Sat)> {
        // 2·m·n·k multiply-adds and m·n scale multiplies; A and C in the dtype, W one byte
        // per element, four bytes of scale per row.
        let p = LinearShape::of(spec)?;
        let (m, n, k, s) = (Sat(p.m), Sat(p.n), Sat(p.k), Sat(spec.dtype.size_bytes()));
        Ok((
            Sat(2) * m * n * k + m * n,
            (m * k + m * n) * s + n * k + Sat(4) * n,
        ))
    }
    fn input_names(&self) -> &'static [&'static str] {
        &["a", "w", "w_scale"]
    }
    fn input_bytes(&self, spec: &OpSpec) -> Result<Sat> {
        let p = LinearShape::of(spec)?;
        let (m, n, k, s) = (Sat(p.m), Sat(p.n), Sat(p.k), Sat(spec.dtype.size_bytes()));
        Ok(m * k * s + n * k + Sat(4) * n)
    }
    fn output_shape(&self, spec: &OpSpec) -> Result<Option<Vec<usize>>> {
        let p = LinearShape::of(spec)?;
        Ok(Some(vec![p.m as usize, p.n as usize]))
    }
    fn generate(&self, spec: &OpSpec, gen: &mut Gen) -> Result<Vec<HostTensor>> {
        // Weights over the whole range of the device's encoding (±448 OCP, ±240 e4m3fnuz)
        // and scales that bring them to about ±2, as a per-channel quantizer leaves them
        // (|w|·scale ≤ max|row|).
        let p = LinearShape::of(spec)?;
        let (m, n, k) = (p.m as usize, p.n as usize, p.k as usize);
        let top = gen.fp8().max_finite();
        Ok(vec![
            gen.uniform("a", vec![m, k], spec.dtype, -1.0, 1.0),
            gen.uniform("w", vec![n, k], DType::Fp8E4m3, -top, top),
            gen.uniform("w_scale", vec![n], DType::F32, 1.0 / top, 4.0 / top),
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
    fn launch_plan(&self, spec: &OpSpec, target: &Target) -> Result<LaunchPlan> {
        check_dtype(spec.dtype)?;
        let p = LinearShape::of(spec)?;
        if !p.k.is_multiple_of(16) {
            return Err(Error::unsupported(format!(
                "the hotpath gemv_fp8w needs k to be a multiple of 16 (16-byte rows of fp8); got k={}",
                p.k
            )));
        }
        let (m, n, k) = (p.m, p.n, p.k);
        if n * k > i32::MAX as u64 {
            return Err(Error::unsupported(format!(
                "the hotpath gemv_fp8w takes n·k up to {}; got n={n}, k={k}",
                i32::MAX
            )));
        }
        let splits = launch::gemv_splits(n, k, target.units);
        let args = vec![
            Arg::Input(0),
            Arg::Input(1),
            Arg::Input(2),
            Arg::Output(0),
            Arg::Scratch(0),
            Arg::I32(m as i32),
            Arg::I32(n as i32),
            Arg::I32(k as i32),
            Arg::I32(splits as i32),
        ];
        split_k_plan(spec, "hp_gemv_fp8w", args, (m, n), splits)
    }
    fn suite_entries(&self, suite: SuiteName, class: DeviceClass) -> Vec<(String, DType)> {
        let ms: &[u64] = match (suite, class) {
            (SuiteName::Decode, DeviceClass::Cpu) => &[1],
            (SuiteName::Decode, DeviceClass::Gpu) => &[1, 4, 16],
            (SuiteName::Quick | SuiteName::Prefill | SuiteName::Ceilings, _) => &[],
        };
        let mut v = Vec::new();
        for &m in ms {
            for (_, n, k) in LLAMA_8B_PROJECTIONS {
                v.push((format!("m={m},n={n},k={k}"), DType::Bf16));
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launch_plan::{build, LaunchStep};

    fn spec(shape: &str, dtype: DType) -> OpSpec {
        OpSpec::parse(OpKind::GemvFp8w, shape, dtype).unwrap()
    }

    #[test]
    fn cost_by_hand() {
        // m=1, n=14336, k=4096, bf16: FLOPs 2·14336·4096 + 14336 = 117,454,848;
        // bytes (4096 + 14336)·2 + 14336·4096 + 4·14336 = 36,864 + 58,720,256 + 57,344.
        let w = spec("m=1,n=14336,k=4096", DType::Bf16).work().unwrap();
        assert_eq!((w.flops, w.bytes), (117_454_848, 58_814_464));
        // m=2, n=3, k=16, f16: FLOPs 192 + 6 = 198; bytes (32 + 6)·2 + 48 + 12 = 136.
        let w = spec("m=2,n=3,k=16", DType::F16).work().unwrap();
        assert_eq!((w.flops, w.bytes), (198, 136));
    }

    #[test]
    fn decode_sizes_and_dtypes_only() {
        let e = OpSpec::parse(OpKind::GemvFp8w, "m=17,n=8,k=16", DType::Bf16)
            .unwrap_err()
            .to_string();
        assert!(e.contains("gemv_fp8w takes m <= 16"), "{e}");
        let h100 = Target::h100();
        for dt in [DType::F32, DType::Fp8E4m3] {
            let e = build(&spec("m=1,n=8,k=16", dt), &h100)
                .unwrap_err()
                .to_string();
            assert!(e.contains("takes f16 or bf16 activations"), "{e}");
        }
        let e = build(&spec("m=1,n=8,k=24", DType::Bf16), &h100)
            .unwrap_err()
            .to_string();
        assert!(e.contains("multiple of 16") && e.contains("k=24"), "{e}");
    }

    #[test]
    fn plan_arguments_and_split_k() {
        // 14336 rows fill 132 SMs: one split, no finish. 8 rows on 132 SMs: split-K.
        let p = build(&spec("m=1,n=14336,k=4096", DType::Bf16), &Target::h100()).unwrap();
        assert_eq!(p.steps.len(), 1);
        let LaunchStep::Kernel { function, args, .. } = &p.steps[0] else {
            panic!("{p:?}")
        };
        assert_eq!(function, "hp_gemv_fp8w_bf16");
        assert_eq!(
            &args[..5],
            &[
                Arg::Input(0),
                Arg::Input(1),
                Arg::Input(2),
                Arg::Output(0),
                Arg::Scratch(0)
            ]
        );
        let p = build(&spec("m=2,n=8,k=4096", DType::F16), &Target::h100()).unwrap();
        assert_eq!(p.steps.len(), 3, "{p:?}");
        assert!(matches!(p.steps[0], LaunchStep::ZeroScratch(0)));
        let LaunchStep::Kernel { function, .. } = &p.steps[2] else {
            panic!("{p:?}")
        };
        assert_eq!(function, "hp_gemv_fp8w_finish_f16");
    }
}
