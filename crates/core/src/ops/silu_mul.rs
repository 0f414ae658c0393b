//! `silu_mul`: the gated-MLP activation of every decoder layer (vLLM's `silu_and_mul`),
//! memory-bound. Given x[T, 2·I], each row the gate (its first I values) and then the up
//! projection (its last I): out[t, i] = silu(gate)·up with silu(g) = g/(1 + e^(−g)), in f32,
//! rounded once to the dtype. Kernel: `kernels/silu_mul.cu`, blocks of [`THREADS`] over
//! 16-byte vectors of a row.

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
use reference::SiluMul as Reference;

/// `kernels/silu_mul.cu`, this op's kernels.
static FILE: KernelFile = KernelFile {
    file: "silu_mul.cu",
    source: include_str!("../../../../kernels/silu_mul.cu"),
};

/// Threads per block of `hp_silu_mul_*` (`HP_SM_THREADS`).
pub const THREADS: u32 = 256;

/// The shape of `silu_mul`: `tokens` rows of `2·intermediate` in, `intermediate` out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActShape {
    /// Token rows.
    pub tokens: u64,
    /// Output elements per row (the MLP's intermediate width); input rows are twice as long.
    pub intermediate: u64,
}

impl ActShape {
    /// The typed shape of `spec`; an error when a key is missing.
    pub fn of(spec: &OpSpec) -> Result<ActShape> {
        Ok(ActShape {
            tokens: spec.dim("tokens")?,
            intermediate: spec.dim("intermediate")?,
        })
    }
}

const KEYS: &[ShapeKey] = &[
    req("tokens", "token rows"),
    req(
        "intermediate",
        "output elements per row (MLP width); the input row holds gate then up, twice as long",
    ),
];

/// `hp_silu_mul_*`: `tokens · ⌈units/256⌉` blocks × [`THREADS`], where a row's `units` are
/// its 16-byte vectors of output (`intermediate / (16/s)`) when `intermediate` is a multiple
/// of `16/s` elements, else its elements; block `b` takes row `b / ⌈units/256⌉`.
pub fn geometry(tokens: u64, intermediate: u64, elem_bytes: u64) -> Geometry {
    let per_vector = 16 / elem_bytes.max(1);
    let units = if intermediate.is_multiple_of(per_vector) {
        intermediate / per_vector
    } else {
        intermediate
    };
    let chunks = units.div_ceil(THREADS as u64);
    launch::grid((tokens.saturating_mul(chunks), 1, 1), THREADS)
}

/// SiLU of the gate times up.
pub struct SiluMul;

impl Op for SiluMul {
    fn kind(&self) -> OpKind {
        OpKind::SiluMul
    }
    fn name(&self) -> &'static str {
        "silu_mul"
    }
    fn summary(&self) -> &'static str {
        "gated-MLP activation silu(gate)·up (vLLM's silu_and_mul), memory-bound"
    }
    fn shape_keys(&self) -> &'static [ShapeKey] {
        KEYS
    }
    fn example_shape(&self) -> &'static str {
        "tokens=64,intermediate=14336"
    }
    fn small_shape(&self) -> &'static str {
        "tokens=32,intermediate=2048"
    }
    fn class(&self) -> OpClass {
        OpClass::Model
    }
    fn work(&self, spec: &OpSpec) -> Result<(Sat, Sat)> {
        // Per output: e^(−g) 1 (the negation folded in), 1 + · 1, g ÷ · 1, · up 1. Bytes:
        // read gate and up, write out.
        let p = ActShape::of(spec)?;
        let (t, i, s) = (
            Sat(p.tokens),
            Sat(p.intermediate),
            Sat(spec.dtype.size_bytes()),
        );
        Ok((Sat(4) * t * i, Sat(3) * t * i * s))
    }
    fn input_names(&self) -> &'static [&'static str] {
        &["x"]
    }
    fn input_bytes(&self, spec: &OpSpec) -> Result<Sat> {
        let p = ActShape::of(spec)?;
        Ok(Sat(2) * Sat(p.tokens) * Sat(p.intermediate) * Sat(spec.dtype.size_bytes()))
    }
    fn output_shape(&self, spec: &OpSpec) -> Result<Option<Vec<usize>>> {
        let p = ActShape::of(spec)?;
        Ok(Some(vec![p.tokens as usize, p.intermediate as usize]))
    }
    fn generate(&self, spec: &OpSpec, gen: &mut Gen) -> Result<Vec<HostTensor>> {
        let p = ActShape::of(spec)?;
        let (t, i) = (p.tokens as usize, p.intermediate as usize);
        // Gates over [−4, 4) cross silu's bend; up values in the same range.
        Ok(vec![gen.uniform(
            "x",
            vec![t, 2 * i],
            spec.dtype,
            -4.0,
            4.0,
        )])
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
        let p = ActShape::of(spec)?;
        let int = |key: &str, v: u64| i32_arg(spec.op, key, v);
        let args = vec![
            Arg::Input(0),
            Arg::Output(0),
            Arg::I32(int("tokens", p.tokens)?),
            Arg::I32(int("intermediate", p.intermediate)?),
        ];
        Ok(simple(
            vec![kernel(
                format!("hp_silu_mul_{}", suffix(spec.dtype)),
                geometry(p.tokens, p.intermediate, spec.dtype.size_bytes()),
                args,
            )],
            out(spec, 0, "out")?,
            vec![out_bytes(spec)?],
        ))
    }
    fn suite_entries(&self, suite: SuiteName, class: DeviceClass) -> Vec<(String, DType)> {
        // The MLP activation at Llama-3.1-8B's intermediate width and decode batch sizes.
        let tokens: &[u64] = match (suite, class) {
            (SuiteName::Decode, DeviceClass::Cpu) => &[64],
            (SuiteName::Decode, DeviceClass::Gpu) => &[1, 16, 64, 256],
            (SuiteName::Quick | SuiteName::Prefill | SuiteName::Ceilings, _) => &[],
        };
        tokens
            .iter()
            .map(|t| (format!("tokens={t},intermediate=14336"), DType::Bf16))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launch_plan::{build, LaunchStep};

    fn spec(shape: &str, dtype: DType) -> OpSpec {
        OpSpec::parse(OpKind::SiluMul, shape, dtype).unwrap()
    }

    #[test]
    fn cost_by_hand() {
        // flops 4·64·14336 = 3,670,016; bytes 3·64·14336·2 = 5,505,024.
        let w = spec("tokens=64,intermediate=14336", DType::Bf16)
            .work()
            .unwrap();
        assert_eq!((w.flops, w.bytes), (3_670_016, 5_505_024));
        // 3 rows of 5 in f32: 4·15 = 60 FLOPs; 15 gate + 15 up + 15 out = 45 elements = 180 B.
        let w = spec("tokens=3,intermediate=5", DType::F32).work().unwrap();
        assert_eq!((w.flops, w.bytes), (60, 180));
    }

    #[test]
    fn bad_shapes_are_refused_with_a_sentence() {
        for (text, needle) in [
            ("tokens=4", "needs shape key 'intermediate'"),
            ("intermediate=4096", "needs shape key 'tokens'"),
            ("tokens=4,intermediate=0", "intermediate=0"),
            ("tokens=0,intermediate=8", "tokens=0"),
            ("tokens=4,intermediate=8,hidden=1", "'hidden'"),
        ] {
            let err = OpSpec::parse(OpKind::SiluMul, text, DType::Bf16)
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn blocks_of_vectors_per_row_and_the_readme_arguments() {
        let p = build(
            &spec("tokens=64,intermediate=14336", DType::Bf16),
            &Target::h100(),
        )
        .unwrap();
        let LaunchStep::Kernel {
            function,
            geometry,
            args,
        } = &p.steps[0]
        else {
            panic!("{p:?}")
        };
        assert_eq!(function, "hp_silu_mul_bf16");
        // 14336 / 8 = 1792 vectors a row = 7 blocks of 256; 64 rows.
        assert_eq!((geometry.grid, geometry.block), ((448, 1, 1), (256, 1, 1)));
        assert_eq!(geometry.shared_bytes, 0);
        assert_eq!(
            args,
            &[Arg::Input(0), Arg::Output(0), Arg::I32(64), Arg::I32(14336)]
        );
        assert_eq!(p.output_bytes, vec![64 * 14336 * 2]);
        assert_eq!(
            (p.output.name, p.output.shape.clone()),
            ("out", vec![64, 14336])
        );
        assert!(p.scratch_bytes.is_empty());
        // f32 rows of 1000 are 250 vectors: one block each. Rows of 1001 go element by
        // element: 1001 elements, 4 blocks each.
        assert_eq!(
            geometry_of("tokens=3,intermediate=1000", DType::F32),
            (3, 1, 1)
        );
        assert_eq!(
            geometry_of("tokens=3,intermediate=1001", DType::F32),
            (12, 1, 1)
        );
        assert_eq!(
            geometry_of("tokens=2,intermediate=12", DType::F16),
            (2, 1, 1)
        );
    }

    fn geometry_of(shape: &str, dtype: DType) -> (u32, u32, u32) {
        match &build(&spec(shape, dtype), &Target::h100()).unwrap().steps[0] {
            LaunchStep::Kernel { geometry, .. } => geometry.grid,
            LaunchStep::ZeroScratch(_) => panic!("a kernel step"),
        }
    }

    #[test]
    fn fp8_and_oversized_rows_are_refused_with_a_sentence() {
        let h100 = Target::h100();
        let e = build(&spec("tokens=1,intermediate=8", DType::Fp8E4m3), &h100)
            .unwrap_err()
            .to_string();
        assert!(e.contains("runs f32, f16 and bf16; got fp8_e4m3"), "{e}");
        let e = build(&spec("tokens=1,intermediate=4G", DType::F32), &h100)
            .unwrap_err()
            .to_string();
        assert!(e.contains("intermediate=4294967296"), "{e}");
        let e = build(&spec("tokens=2G,intermediate=8", DType::F32), &h100)
            .unwrap_err()
            .to_string();
        assert!(e.contains("tokens=2147483648"), "{e}");
        // 2³¹ − 1 rows of 5 blocks (1025 f32 elements): over the grid's x limit.
        let e = build(
            &spec("tokens=2147483647,intermediate=1025", DType::F32),
            &h100,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("needs a grid of"), "{e}");
    }
}
