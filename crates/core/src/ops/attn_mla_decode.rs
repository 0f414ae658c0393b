//! `attn_mla_decode`: DeepSeek's multi-head latent attention at decode, in the absorbed form
//! serving engines run (FlashMLA, FlashInfer's MLA decode): every query head attends to one
//! paged latent KV head. A cached token is one row of `kv_lora + rope_dim` elements, its
//! compressed latent then its decoupled RoPE key; the key is the whole row and the value its
//! first `kv_lora` elements, the same bytes, so the latent is read once for both and for all
//! heads. The query is the absorbed one (`q_latent ‖ q_rope`, `W_UK` folded into it) and the
//! output stays in the latent space (`W_UV` is the next GEMM's).
//!
//! `o[b,h] = softmax(scale · q[b,h]·Kᵀ)·V` with `scale = 1/√(kv_lora + rope_dim)`: a model's
//! own softmax scale (DeepSeek's 1/√(128 + 64) with its YaRN factor) changes no cost. Under
//! `kv_fp8=1` the cache holds fp8 e4m3 codes with one f32 scale for the whole cache (vLLM's
//! fp8 MLA cache): K, V = code·kv_scale. The launch plan is `crate::launch_plan::mla`'s.

mod reference;

use super::kv_write::{kv_cache_dtype, kv_cache_tensor, kv_scale, KV_FP8_KEY};
use super::Op;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::inputs::{pages_for, Gen, Inputs};
use crate::kernels::{self, KernelFile};
use crate::launch_plan::{mla, LaunchPlan};
use crate::op::{opt, req, OpClass, OpKind, OpSpec, Sat, Shape, ShapeKey};
use crate::reference::OpReference;
use crate::suite::{DeviceClass, SuiteName};
use crate::target::Target;
use crate::tensor::HostTensor;

/// The shape of `attn_mla_decode`: q[b,hq,kv_lora+rope_dim] against `context` cached latent
/// rows per sequence in pages of `page_size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MlaShape {
    /// Sequences decoded together.
    pub batch: u64,
    /// Cached tokens per sequence.
    pub context: u64,
    /// Query heads (all share the one latent KV head).
    pub heads_q: u64,
    /// Elements of the compressed latent: the value width, and the first part of the key.
    pub kv_lora: u64,
    /// Elements of the decoupled RoPE key, after the latent in each row.
    pub rope_dim: u64,
    /// Tokens per KV page.
    pub page_size: u64,
    /// True when the cache holds fp8 e4m3 codes with one f32 scale (`kv_fp8=1`).
    pub fp8: bool,
}

impl MlaShape {
    /// The typed shape of `spec`; an error when a key is missing.
    pub fn of(spec: &OpSpec) -> Result<MlaShape> {
        Ok(MlaShape {
            batch: spec.dim("batch")?,
            context: spec.dim("context")?,
            heads_q: spec.dim("heads_q")?,
            kv_lora: spec.dim("kv_lora")?,
            rope_dim: spec.dim("rope_dim")?,
            page_size: spec.dim("page_size")?,
            fp8: spec.dim("kv_fp8")? == 1,
        })
    }

    /// Elements of one cached row and of one query head: `kv_lora + rope_dim`.
    pub fn width(&self) -> u64 {
        self.kv_lora + self.rope_dim
    }

    /// Pages of one sequence.
    pub fn pages_per_seq(&self) -> u64 {
        pages_for(self.context, self.page_size)
    }
}

const KEYS: &[ShapeKey] = &[
    opt("batch", "sequences decoded together", 1),
    req("context", "cached tokens per sequence"),
    opt("heads_q", "query heads, all on one latent KV head", 128),
    opt(
        "kv_lora",
        "latent width: the value width and the first part of each key",
        512,
    ),
    opt("rope_dim", "decoupled RoPE key width, after the latent", 64),
    opt("page_size", "tokens per KV page", 64),
    KV_FP8_KEY,
];

/// Multi-head latent attention decode over a paged latent cache.
pub struct AttnMlaDecode;

impl Op for AttnMlaDecode {
    fn kind(&self) -> OpKind {
        OpKind::AttnMlaDecode
    }
    fn name(&self) -> &'static str {
        "attn_mla_decode"
    }
    fn summary(&self) -> &'static str {
        "multi-head latent attention decode (DeepSeek MLA, absorbed): many query heads against one paged latent KV head"
    }
    fn shape_keys(&self) -> &'static [ShapeKey] {
        KEYS
    }
    fn example_shape(&self) -> &'static str {
        "batch=64,context=4096,heads_q=128,kv_lora=512,rope_dim=64,page_size=64"
    }
    fn small_shape(&self) -> &'static str {
        "batch=2,context=300,heads_q=16,kv_lora=64,rope_dim=32,page_size=64"
    }
    fn class(&self) -> OpClass {
        OpClass::Model
    }
    /// `kv_lora` a multiple of 16 and `rope_dim` of 8: the widths of every MLA model, and
    /// whole 16-byte vectors of a 2-byte cache row.
    fn check_shape(&self, shape: &Shape) -> Result<()> {
        let (kl, r) = (shape.dim("kv_lora")?, shape.dim("rope_dim")?);
        if kl % 16 != 0 || r % 8 != 0 {
            return Err(Error::bad_input(format!(
                "attn_mla_decode needs kv_lora a multiple of 16 and rope_dim a multiple of 8; got kv_lora={kl}, rope_dim={r}"
            )));
        }
        Ok(())
    }
    /// FLOPs 2·b·hq·L·(kv_lora+rope_dim) (scores) + 2·b·hq·L·kv_lora (P·V); bytes
    /// b·L·(kv_lora+rope_dim)·c (each latent row read once for all heads, c the cache's bytes
    /// an element: the dtype's, 1 for fp8) + b·hq·(kv_lora+rope_dim)·s (q) + b·hq·kv_lora·s
    /// (o), + 4 for an fp8 cache's scale.
    fn work(&self, spec: &OpSpec) -> Result<(Sat, Sat)> {
        let p = MlaShape::of(spec)?;
        let (b, l, hq, kl, w) = (
            Sat(p.batch),
            Sat(p.context),
            Sat(p.heads_q),
            Sat(p.kv_lora),
            Sat(p.width()),
        );
        let s = Sat(spec.dtype.size_bytes());
        let c = Sat(kv_cache_dtype(spec)?.size_bytes());
        let scale = if p.fp8 { Sat(4) } else { Sat(0) };
        Ok((
            Sat(2) * b * hq * l * w + Sat(2) * b * hq * l * kl,
            b * l * w * c + b * hq * w * s + b * hq * kl * s + scale,
        ))
    }
    fn input_names(&self) -> &'static [&'static str] {
        &["q", "kv_cache", "block_table", "seq_lens", "kv_scale"]
    }
    fn input_bytes(&self, spec: &OpSpec) -> Result<Sat> {
        let p = MlaShape::of(spec)?;
        let (b, w) = (Sat(p.batch), Sat(p.width()));
        let s = Sat(spec.dtype.size_bytes());
        let c = Sat(kv_cache_dtype(spec)?.size_bytes());
        let pages = b * Sat(p.pages_per_seq());
        Ok(b * Sat(p.heads_q) * w * s
            + pages * Sat(p.page_size) * w * c
            + pages * Sat(4)
            + b * Sat(4)
            + Sat(4))
    }
    fn output_shape(&self, spec: &OpSpec) -> Result<Option<Vec<usize>>> {
        let p = MlaShape::of(spec)?;
        Ok(Some(
            [p.batch, p.heads_q, p.kv_lora].map(|x| x as usize).to_vec(),
        ))
    }
    fn generate(&self, spec: &OpSpec, gen: &mut Gen) -> Result<Vec<HostTensor>> {
        let p = MlaShape::of(spec)?;
        let (b, hq, w, ps) = (
            p.batch as usize,
            p.heads_q as usize,
            p.width() as usize,
            p.page_size as usize,
        );
        let per_seq = p.pages_per_seq() as usize;
        let pages = b * per_seq;
        let q = gen.uniform("q", vec![b, hq, w], spec.dtype, -1.0, 1.0);
        let cache = kv_cache_tensor(spec, gen, "kv_cache", vec![pages, ps, w])?;
        let table = gen.permutation("block_table", vec![b, per_seq], pages);
        let lens = HostTensor::from_i32(
            "seq_lens",
            vec![b],
            vec![p.context.min(i32::MAX as u64) as i32; b],
        );
        Ok(vec![q, cache, table, lens, kv_scale(gen, "kv_scale", 1)])
    }
    fn reference<'a>(
        &self,
        spec: &OpSpec,
        inputs: &'a Inputs,
        _output_len: usize,
    ) -> Result<Box<dyn OpReference + 'a>> {
        Ok(Box::new(reference::MlaDecode::new(spec, inputs)?))
    }
    fn kernel_file(&self) -> Option<&'static KernelFile> {
        Some(&kernels::ATTN_MLA_DECODE)
    }
    fn launch_plan(&self, spec: &OpSpec, target: &Target) -> Result<LaunchPlan> {
        mla::build(spec, target)
    }
    fn suite_entries(&self, suite: SuiteName, class: DeviceClass) -> Vec<(String, DType)> {
        // DeepSeek-V2/V3/R1 dims: 128 heads, a 512 + 64 latent row, pages of 64; 16 heads is
        // 128 over tensor parallelism 8.
        let shapes: &[&str] = match (suite, class) {
            (SuiteName::Decode, DeviceClass::Cpu) => &[
                "batch=1,context=4096",
                "batch=4,context=4096,heads_q=16",
                "batch=4,context=4096,heads_q=16,kv_fp8=1",
            ],
            (SuiteName::Decode, DeviceClass::Gpu) => &[
                "batch=1,context=4096",
                "batch=16,context=4096",
                "batch=64,context=4096",
                "batch=128,context=4096",
                "batch=64,context=4096,kv_fp8=1",
                "batch=8,context=32768",
            ],
            // The quick suite stays about a minute: 128-head MLA is compute-bound on a CPU.
            (SuiteName::Quick | SuiteName::Prefill | SuiteName::Ceilings, _) => &[],
        };
        shapes
            .iter()
            .map(|s| (s.to_string(), DType::Bf16))
            .collect()
    }
}

#[cfg(test)]
mod tests;
