//! `embedding`: the token-embedding gather at the start of every step, out[t] = table[ids[t]]
//! (vLLM's `VocabParallelEmbedding`): memory-bound on the rows it reads. An id outside
//! 0..vocab gives a row of zeros, as a vocabulary-parallel shard masks the ids another shard
//! owns. Kernel: `kernels/embedding.cu`, one block of 128 per token.

mod reference;

use super::Op;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::inputs::{Gen, Inputs};
use crate::kernels::KernelFile;
use crate::launch;
use crate::launch_plan::{
    float_only, i32_arg, kernel, out, out_bytes, simple, suffix, Arg, LaunchPlan,
};
use crate::op::{opt, req, OpClass, OpKind, OpSpec, Sat, Shape, ShapeKey};
use crate::reference::OpReference;
use crate::suite::{DeviceClass, SuiteName};
use crate::target::Target;
use crate::tensor::HostTensor;
use reference::Embedding as Reference;

/// `kernels/embedding.cu`, this op's kernel.
static FILE: KernelFile = KernelFile {
    file: "embedding.cu",
    source: include_str!("../../../../kernels/embedding.cu"),
};

/// The shape of `embedding`: `tokens` rows of `hidden` gathered from a `vocab`-row table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EmbeddingShape {
    /// Tokens looked up.
    pub tokens: u64,
    /// Elements per row (the model width).
    pub hidden: u64,
    /// Rows of the table.
    pub vocab: u64,
}

impl EmbeddingShape {
    /// The typed shape of `spec`; an error when a key is missing.
    pub fn of(spec: &OpSpec) -> Result<EmbeddingShape> {
        Ok(EmbeddingShape {
            tokens: spec.dim("tokens")?,
            hidden: spec.dim("hidden")?,
            vocab: spec.dim("vocab")?,
        })
    }
}

const KEYS: &[ShapeKey] = &[
    req("tokens", "tokens looked up"),
    opt("hidden", "elements per row (model width)", 4096),
    opt("vocab", "rows of the embedding table", 128_256),
];

/// The embedding gather.
pub struct Embedding;

impl Op for Embedding {
    fn kind(&self) -> OpKind {
        OpKind::Embedding
    }
    fn name(&self) -> &'static str {
        "embedding"
    }
    fn summary(&self) -> &'static str {
        "token-embedding gather out[t] = table[ids[t]], memory-bound on the rows read"
    }
    fn shape_keys(&self) -> &'static [ShapeKey] {
        KEYS
    }
    fn example_shape(&self) -> &'static str {
        "tokens=64,hidden=4096,vocab=128256"
    }
    fn small_shape(&self) -> &'static str {
        "tokens=256,hidden=512,vocab=1000"
    }
    fn class(&self) -> OpClass {
        OpClass::Model
    }
    fn check_shape(&self, shape: &Shape) -> Result<()> {
        // The inputs' ids are distinct table rows (a permutation's first entries).
        let (tokens, vocab) = (shape.dim("tokens")?, shape.dim("vocab")?);
        if tokens > vocab {
            return Err(Error::bad_input(format!(
                "embedding looks up distinct rows: tokens={tokens} must be at most vocab={vocab}"
            )));
        }
        Ok(())
    }
    fn work(&self, spec: &OpSpec) -> Result<(Sat, Sat)> {
        // Read T rows and T ids, write T rows.
        let p = EmbeddingShape::of(spec)?;
        let (t, h, s) = (Sat(p.tokens), Sat(p.hidden), Sat(spec.dtype.size_bytes()));
        Ok((Sat(0), Sat(2) * t * h * s + Sat(4) * t))
    }
    fn input_names(&self) -> &'static [&'static str] {
        &["ids", "table"]
    }
    fn input_bytes(&self, spec: &OpSpec) -> Result<Sat> {
        let p = EmbeddingShape::of(spec)?;
        let s = Sat(spec.dtype.size_bytes());
        Ok(Sat(4) * Sat(p.tokens) + Sat(p.vocab) * Sat(p.hidden) * s)
    }
    fn output_shape(&self, spec: &OpSpec) -> Result<Option<Vec<usize>>> {
        let p = EmbeddingShape::of(spec)?;
        Ok(Some(vec![p.tokens as usize, p.hidden as usize]))
    }
    fn generate(&self, spec: &OpSpec, gen: &mut Gen) -> Result<Vec<HostTensor>> {
        let p = EmbeddingShape::of(spec)?;
        let (t, h, v) = (p.tokens as usize, p.hidden as usize, p.vocab as usize);
        Ok(vec![
            gen.permutation("ids", vec![t], v),
            gen.uniform("table", vec![v, h], spec.dtype, -1.0, 1.0),
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
        let p = EmbeddingShape::of(spec)?;
        let int = |key: &str, v: u64| i32_arg(spec.op, key, v);
        let args = vec![
            Arg::Input(0),
            Arg::Input(1),
            Arg::Output(0),
            Arg::I32(int("tokens", p.tokens)?),
            Arg::I32(int("hidden", p.hidden)?),
            Arg::I32(int("vocab", p.vocab)?),
        ];
        Ok(simple(
            vec![kernel(
                format!("hp_embedding_{}", suffix(spec.dtype)),
                launch::kv(p.tokens),
                args,
            )],
            out(spec, 0, "out")?,
            vec![out_bytes(spec)?],
        ))
    }
    fn suite_entries(&self, suite: SuiteName, class: DeviceClass) -> Vec<(String, DType)> {
        // Llama-3.1-8B's table; the CPU's decode suite keeps the table at a quarter of it.
        let shapes: &[&str] = match (suite, class) {
            (SuiteName::Decode, DeviceClass::Gpu) => &["tokens=64,hidden=4096,vocab=128256"],
            (SuiteName::Decode, DeviceClass::Cpu) => &["tokens=64,hidden=4096,vocab=32064"],
            (SuiteName::Quick | SuiteName::Prefill | SuiteName::Ceilings, _) => &[],
        };
        shapes
            .iter()
            .map(|s| (s.to_string(), DType::Bf16))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launch_plan::{build, LaunchStep};

    fn spec(shape: &str, dtype: DType) -> OpSpec {
        OpSpec::parse(OpKind::Embedding, shape, dtype).unwrap()
    }

    #[test]
    fn cost_by_hand() {
        // 64 rows of 4096 bf16 read and written: 2·64·4096·2 = 1,048,576 bytes + 256 of ids.
        let w = spec("tokens=64", DType::Bf16).work().unwrap();
        assert_eq!((w.flops, w.bytes), (0, 1_048_832));
    }

    #[test]
    fn bad_shapes_are_refused_with_a_sentence() {
        let e = OpSpec::parse(OpKind::Embedding, "tokens=11,vocab=10", DType::Bf16)
            .unwrap_err()
            .to_string();
        assert!(e.contains("tokens=11 must be at most vocab=10"), "{e}");
        let e = build(&spec("tokens=2,vocab=10", DType::Fp8E4m3), &Target::h100())
            .unwrap_err()
            .to_string();
        assert!(e.contains("got fp8_e4m3"), "{e}");
    }

    #[test]
    fn one_block_per_token_and_the_readme_arguments() {
        let p = build(
            &spec("tokens=64,hidden=4096,vocab=128256", DType::Bf16),
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
        assert_eq!(function, "hp_embedding_bf16");
        assert_eq!((geometry.grid, geometry.block), ((64, 1, 1), (128, 1, 1)));
        assert_eq!(
            args,
            &[
                Arg::Input(0),
                Arg::Input(1),
                Arg::Output(0),
                Arg::I32(64),
                Arg::I32(4096),
                Arg::I32(128256)
            ]
        );
    }
}
