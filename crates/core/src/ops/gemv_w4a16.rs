//! `gemv_w4a16`: decode GEMV on weight-only int4 weights (the AWQ/GPTQ/Marlin family),
//! C[m,n] = A[m,k]·Ŵ[n,k]ᵀ with Ŵ[r,e] = (q[r,e] − z[r,g])·scale[r,g], g = e / group:
//! 4-bit codes q, one scale per `group` consecutive k of a row in the activation dtype, and
//! a zero point z per group (asymmetric, `zero_points=1`) or z = 8 (symmetric). Activations
//! and C in f16 or bf16, m ≤ 16. Bound by the packed weights: half a byte per element.
//!
//! Packing (docs/methodology.md, "Packed int4 weights"):
//! - `w[n, k/8]` u32: nibble e (bits 4e..4e+3) of word j of row r is q[r, 8j + e];
//! - `scales[n, k/group]` in the activation dtype;
//! - `zeros[n, ⌈(k/group)/8⌉]` u32: nibble e of word j of row r is z of group 8j + e
//!   (symmetric: one unread word, so every input exists).
//!
//! Kernel: `kernels/gemv_w4a16.cu`, one lane group of 32 per weight row, each lane taking
//! 16 bytes (32 codes, one group or part of one) at a time; split-K as `gemv`.

mod reference;

use super::gemv::{check_decode_m, split_k_plan};
use super::Op;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::inputs::{Gen, Inputs};
use crate::kernels::KernelFile;
use crate::launch;
use crate::launch_plan::{Arg, LaunchPlan};
use crate::op::{opt, req, switch, OpClass, OpKind, OpSpec, Sat, Shape, ShapeKey};
use crate::reference::OpReference;
use crate::suite::{DeviceClass, SuiteName, LLAMA_8B_PROJECTIONS};
use crate::target::Target;
use crate::tensor::HostTensor;
pub use reference::unpack_int4;
use reference::GemvW4a16 as Reference;

/// `kernels/gemv_w4a16.cu`, this op's kernels.
static FILE: KernelFile = KernelFile {
    file: "gemv_w4a16.cu",
    source: include_str!("../../../../kernels/gemv_w4a16.cu"),
};

/// The group sizes the op takes (AWQ and GPTQ checkpoints use 128; 32 and 64 exist).
pub const INT4_GROUPS: [u64; 3] = [32, 64, 128];

/// The zero point of symmetric int4 (codes 0..15 stand for −8..7).
pub const INT4_SYMMETRIC_ZERO: u32 = 8;

const KEYS: &[ShapeKey] = &[
    req("m", "rows of activations A[m,k] (tokens)"),
    req("n", "rows of weights W[n,k] (output features)"),
    req("k", "reduction length (input features)"),
    opt("group", "k elements per scale (32, 64 or 128)", 128),
    switch(
        "zero_points",
        "1 = asymmetric (a 4-bit zero point per group), 0 = symmetric",
    ),
];

/// The shape of `gemv_w4a16`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct W4Shape {
    /// Rows of activations (tokens).
    pub m: u64,
    /// Rows of weights (output features).
    pub n: u64,
    /// Reduction length (input features).
    pub k: u64,
    /// k elements per scale.
    pub group: u64,
    /// True when every group has its own zero point.
    pub zero_points: bool,
}

impl W4Shape {
    /// The typed shape of `spec`; an error when a key is missing.
    pub fn of(spec: &OpSpec) -> Result<W4Shape> {
        Ok(W4Shape {
            m: spec.dim("m")?,
            n: spec.dim("n")?,
            k: spec.dim("k")?,
            group: spec.dim("group")?,
            zero_points: spec.dim("zero_points")? == 1,
        })
    }

    /// Groups per weight row (k / group).
    pub fn groups(self) -> u64 {
        self.k / self.group
    }

    /// Words of zero points per weight row: ⌈groups/8⌉ when asymmetric, else none counted.
    pub fn zero_words(self) -> u64 {
        if self.zero_points {
            self.groups().div_ceil(8)
        } else {
            0
        }
    }
}

/// Decode GEMV on packed int4 weights.
pub struct GemvW4a16;

impl Op for GemvW4a16 {
    fn kind(&self) -> OpKind {
        OpKind::GemvW4a16
    }
    fn name(&self) -> &'static str {
        "gemv_w4a16"
    }
    fn summary(&self) -> &'static str {
        "decode GEMV (m <= 16) on int4 weights packed 8 per word, group scales (and zero points)"
    }
    fn shape_keys(&self) -> &'static [ShapeKey] {
        KEYS
    }
    fn example_shape(&self) -> &'static str {
        "m=1,n=14336,k=4096,group=128"
    }
    fn small_shape(&self) -> &'static str {
        "m=4,n=512,k=512,group=64,zero_points=1"
    }
    fn class(&self) -> OpClass {
        OpClass::Model
    }
    fn check_shape(&self, shape: &Shape) -> Result<()> {
        check_decode_m(OpKind::GemvW4a16, shape)?;
        let (k, group) = (shape.dim("k")?, shape.dim("group")?);
        if !INT4_GROUPS.contains(&group) {
            return Err(Error::bad_input(format!(
                "gemv_w4a16 takes group=32, 64 or 128; got group={group}"
            )));
        }
        if !k.is_multiple_of(group) {
            return Err(Error::bad_input(format!(
                "gemv_w4a16 needs k to be a multiple of group; got k={k}, group={group}"
            )));
        }
        Ok(())
    }
    fn work(&self, spec: &OpSpec) -> Result<(Sat, Sat)> {
        // 2·m·n·k multiply-adds (dequantisation is not counted); A, C, scales in the dtype,
        // the codes half a byte each, zero points four bytes per word.
        let p = W4Shape::of(spec)?;
        let (m, n, k, s) = (Sat(p.m), Sat(p.n), Sat(p.k), Sat(spec.dtype.size_bytes()));
        let packed = n * Sat(p.k / 2) + n * Sat(p.zero_words()) * Sat(4);
        Ok((
            Sat(2) * m * n * k,
            (m * k + m * n + n * Sat(p.groups())) * s + packed,
        ))
    }
    fn input_names(&self) -> &'static [&'static str] {
        &["a", "w", "scales", "zeros"]
    }
    fn input_bytes(&self, spec: &OpSpec) -> Result<Sat> {
        let p = W4Shape::of(spec)?;
        let (m, n, k, s) = (Sat(p.m), Sat(p.n), Sat(p.k), Sat(spec.dtype.size_bytes()));
        let zeros = (n * Sat(p.zero_words())).0.max(1);
        Ok((m * k + n * Sat(p.groups())) * s + n * Sat(p.k / 2) + Sat(4) * Sat(zeros))
    }
    fn output_shape(&self, spec: &OpSpec) -> Result<Option<Vec<usize>>> {
        let p = W4Shape::of(spec)?;
        Ok(Some(vec![p.m as usize, p.n as usize]))
    }
    fn generate(&self, spec: &OpSpec, gen: &mut Gen) -> Result<Vec<HostTensor>> {
        // Every nibble uniform in 0..15; scales that keep |Ŵ| ≤ about 2.
        let p = W4Shape::of(spec)?;
        let (m, n, k, g) = (
            p.m as usize,
            p.n as usize,
            p.k as usize,
            p.groups() as usize,
        );
        let zeros = if p.zero_points {
            let words = p.zero_words() as usize;
            gen.words("zeros", vec![n, words])
        } else {
            HostTensor::from_u32("zeros", vec![1], vec![0x8888_8888])
        };
        Ok(vec![
            gen.uniform("a", vec![m, k], spec.dtype, -1.0, 1.0),
            gen.words("w", vec![n, k / 8]),
            gen.uniform("scales", vec![n, g], spec.dtype, 0.05, 0.15),
            zeros,
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
        match spec.dtype {
            DType::F16 | DType::Bf16 => {}
            DType::F32 | DType::Fp8E4m3 => {
                return Err(Error::unsupported(format!(
                    "gemv_w4a16 takes f16 or bf16 activations; got --dtype {}",
                    spec.dtype
                )))
            }
        }
        let p = W4Shape::of(spec)?;
        let (m, n, k) = (p.m, p.n, p.k);
        if n * (k / 8) > i32::MAX as u64 {
            return Err(Error::unsupported(format!(
                "the hotpath gemv_w4a16 takes n·k/8 words up to {}; got n={n}, k={k}",
                i32::MAX
            )));
        }
        let splits = launch::gemv_splits(n, k, target.units);
        let args = vec![
            Arg::Input(0),
            Arg::Input(1),
            Arg::Input(2),
            Arg::Input(3),
            Arg::Output(0),
            Arg::Scratch(0),
            Arg::I32(m as i32),
            Arg::I32(n as i32),
            Arg::I32(k as i32),
            Arg::I32(p.group as i32),
            Arg::I32(p.zero_points as i32),
            Arg::I32(splits as i32),
        ];
        split_k_plan(spec, "hp_gemv_w4a16", args, (m, n), splits)
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
                v.push((format!("m={m},n={n},k={k},group=128"), DType::Bf16));
            }
        }
        if class == DeviceClass::Gpu && suite == SuiteName::Decode {
            // The asymmetric (AWQ-style) and the small-group forms of the widest projection.
            for extra in ["group=128,zero_points=1", "group=32"] {
                v.push((format!("m=1,n=28672,k=4096,{extra}"), DType::Bf16));
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
        OpSpec::parse(OpKind::GemvW4a16, shape, dtype).unwrap()
    }

    #[test]
    fn cost_by_hand() {
        // m=1, n=14336, k=4096, group 128, bf16, symmetric: FLOPs 2·14336·4096 = 117,440,512;
        // bytes (4096 + 14336 + 14336·32)·2 + 14336·2048 = 954,368 + 29,360,128.
        let w = spec("m=1,n=14336,k=4096", DType::Bf16).work().unwrap();
        assert_eq!((w.flops, w.bytes), (117_440_512, 30_314_496));
        // Asymmetric adds ⌈32/8⌉ = 4 words per row: 14336·16 = 229,376 bytes.
        let w = spec("m=1,n=14336,k=4096,zero_points=1", DType::Bf16)
            .work()
            .unwrap();
        assert_eq!(w.bytes, 30_314_496 + 229_376);
        // m=2, n=3, k=64, group 32, f16, asymmetric: 2 groups → 1 zero word per row.
        // (128 + 6 + 6)·2 + 3·32 + 3·4 = 280 + 96 + 12 = 388.
        let w = spec("m=2,n=3,k=64,group=32,zero_points=1", DType::F16)
            .work()
            .unwrap();
        assert_eq!((w.flops, w.bytes), (768, 388));
    }

    #[test]
    fn bad_shapes_and_dtypes_are_refused_with_a_sentence() {
        for (text, needle) in [
            ("m=17,n=8,k=128", "gemv_w4a16 takes m <= 16"),
            (
                "m=1,n=8,k=128,group=16",
                "group=32, 64 or 128; got group=16",
            ),
            ("m=1,n=8,k=96,group=64", "k=96, group=64"),
            ("m=1,n=8,k=128,zero_points=2", "zero_points=2"),
        ] {
            let e = OpSpec::parse(OpKind::GemvW4a16, text, DType::Bf16)
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{text}: {e}");
        }
        let e = build(&spec("m=1,n=8,k=128", DType::F32), &Target::h100())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("takes f16 or bf16 activations; got --dtype f32"),
            "{e}"
        );
    }

    #[test]
    fn plan_arguments_carry_group_and_zero_points() {
        let p = build(
            &spec("m=1,n=14336,k=4096,group=64,zero_points=1", DType::Bf16),
            &Target::h100(),
        )
        .unwrap();
        let LaunchStep::Kernel { function, args, .. } = &p.steps[0] else {
            panic!("{p:?}")
        };
        assert_eq!(function, "hp_gemv_w4a16_bf16");
        assert_eq!(
            &args[6..],
            &[
                Arg::I32(1),
                Arg::I32(14336),
                Arg::I32(4096),
                Arg::I32(64),
                Arg::I32(1),
                Arg::I32(1)
            ]
        );
    }

    #[test]
    fn symmetric_inputs_have_one_unread_zero_word() {
        let s = spec("m=1,n=4,k=64,group=32", DType::Bf16);
        let inputs = crate::inputs::generate(&s, 1).unwrap();
        assert_eq!(inputs.get("zeros").unwrap().len(), 1);
        assert_eq!(inputs.get("w").unwrap().shape, vec![4, 8]);
        assert_eq!(inputs.get("scales").unwrap().shape, vec![4, 2]);
        let s = spec("m=1,n=4,k=1152,group=32,zero_points=1", DType::Bf16);
        let inputs = crate::inputs::generate(&s, 1).unwrap();
        // 36 groups: 5 words of zero points per row.
        assert_eq!(inputs.get("zeros").unwrap().shape, vec![4, 5]);
    }
}
