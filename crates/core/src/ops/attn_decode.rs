//! `attn_decode`: decode attention over a paged KV cache (GQA). Its launch plan's split and
//! ring choices are `crate::launch_plan::decode`'s.

use super::attn_prefill::check_gqa;
use super::Op;
use crate::dtype::DType;
use crate::error::Result;
use crate::inputs::{pages_for, Gen, Inputs};
use crate::kernels::{self, KernelFile};
use crate::launch_plan::{decode, LaunchPlan};
use crate::op::{opt, req, OpClass, OpKind, OpSpec, Sat, Shape, ShapeKey};
use crate::reference::{attention::Decode, OpReference};
use crate::suite::{DeviceClass, SuiteName};
use crate::target::Target;
use crate::tensor::HostTensor;

/// The shape of `attn_decode`: q[b,hq,d] against `context` cached tokens per sequence in
/// pages of `page_size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeShape {
    /// Sequences decoded together.
    pub batch: u64,
    /// Cached tokens per sequence.
    pub context: u64,
    /// Query heads.
    pub heads_q: u64,
    /// Key/value heads.
    pub heads_kv: u64,
    /// Elements per head.
    pub head_dim: u64,
    /// Tokens per KV page.
    pub page_size: u64,
}

impl DecodeShape {
    /// The typed shape of `spec`; an error when a key is missing.
    pub fn of(spec: &OpSpec) -> Result<DecodeShape> {
        Ok(DecodeShape {
            batch: spec.dim("batch")?,
            context: spec.dim("context")?,
            heads_q: spec.dim("heads_q")?,
            heads_kv: spec.dim("heads_kv")?,
            head_dim: spec.dim("head_dim")?,
            page_size: spec.dim("page_size")?,
        })
    }

    /// Pages of one sequence.
    pub fn pages_per_seq(&self) -> u64 {
        pages_for(self.context, self.page_size)
    }
}

const KEYS: &[ShapeKey] = &[
    opt("batch", "sequences decoded together", 1),
    req("context", "cached tokens per sequence"),
    opt("heads_q", "query heads", 32),
    opt("heads_kv", "key/value heads (GQA groups)", 8),
    opt("head_dim", "elements per head", 128),
    opt("page_size", "tokens per KV page", 16),
];

/// Paged decode attention.
pub struct AttnDecode;

impl Op for AttnDecode {
    fn kind(&self) -> OpKind {
        OpKind::AttnDecode
    }
    fn name(&self) -> &'static str {
        "attn_decode"
    }
    fn summary(&self) -> &'static str {
        "decode attention over a paged KV cache, GQA"
    }
    fn shape_keys(&self) -> &'static [ShapeKey] {
        KEYS
    }
    fn example_shape(&self) -> &'static str {
        "batch=1,context=4096,heads_q=32,heads_kv=8,head_dim=128,page_size=16"
    }
    fn small_shape(&self) -> &'static str {
        "batch=2,context=512"
    }
    fn class(&self) -> OpClass {
        OpClass::Model
    }
    fn check_shape(&self, shape: &Shape) -> Result<()> {
        check_gqa(shape)
    }
    fn work(&self, spec: &OpSpec) -> Result<(Sat, Sat)> {
        let p = DecodeShape::of(spec)?;
        let (b, l, hq, hkv, hd) = (
            Sat(p.batch),
            Sat(p.context),
            Sat(p.heads_q),
            Sat(p.heads_kv),
            Sat(p.head_dim),
        );
        let s = Sat(spec.dtype.size_bytes());
        Ok((
            Sat(4) * b * hq * l * hd,
            b * l * hkv * hd * Sat(2) * s + b * hq * hd * Sat(2) * s,
        ))
    }
    fn input_names(&self) -> &'static [&'static str] {
        &["q", "k_cache", "v_cache", "block_table", "seq_lens"]
    }
    fn input_bytes(&self, spec: &OpSpec) -> Result<Sat> {
        let p = DecodeShape::of(spec)?;
        let (b, ps, hkv, hd) = (
            Sat(p.batch),
            Sat(p.page_size),
            Sat(p.heads_kv),
            Sat(p.head_dim),
        );
        let s = Sat(spec.dtype.size_bytes());
        let pages = b * Sat(p.pages_per_seq());
        Ok(b * Sat(p.heads_q) * hd * s
            + Sat(2) * pages * ps * hkv * hd * s
            + pages * Sat(4)
            + b * Sat(4))
    }
    fn output_shape(&self, spec: &OpSpec) -> Result<Option<Vec<usize>>> {
        let p = DecodeShape::of(spec)?;
        Ok(Some(
            [p.batch, p.heads_q, p.head_dim]
                .map(|x| x as usize)
                .to_vec(),
        ))
    }
    fn generate(&self, spec: &OpSpec, gen: &mut Gen) -> Result<Vec<HostTensor>> {
        let p = DecodeShape::of(spec)?;
        let (b, hq, hkv, hd, ps) = (
            p.batch as usize,
            p.heads_q as usize,
            p.heads_kv as usize,
            p.head_dim as usize,
            p.page_size as usize,
        );
        let dt = spec.dtype;
        let per_seq = p.pages_per_seq() as usize;
        let pages = b * per_seq;
        Ok(vec![
            gen.uniform("q", vec![b, hq, hd], dt, -1.0, 1.0),
            gen.uniform("k_cache", vec![pages, ps, hkv, hd], dt, -1.0, 1.0),
            gen.uniform("v_cache", vec![pages, ps, hkv, hd], dt, -1.0, 1.0),
            gen.permutation("block_table", vec![b, per_seq], pages),
            HostTensor::from_i32(
                "seq_lens",
                vec![b],
                vec![p.context.min(i32::MAX as u64) as i32; b],
            ),
        ])
    }
    fn reference<'a>(
        &self,
        spec: &OpSpec,
        inputs: &'a Inputs,
        _output_len: usize,
    ) -> Result<Box<dyn OpReference + 'a>> {
        Ok(Box::new(Decode::new(spec, inputs)?))
    }
    fn kernel_file(&self) -> Option<&'static KernelFile> {
        Some(&kernels::ATTN_DECODE)
    }
    fn launch_plan(&self, spec: &OpSpec, target: &Target) -> Result<LaunchPlan> {
        decode::build(spec, target)
    }
    fn suite_entries(&self, suite: SuiteName, class: DeviceClass) -> Vec<(String, DType)> {
        let shapes: &[&str] = match (suite, class) {
            (SuiteName::Quick, _) => &["batch=1,context=4096"],
            (SuiteName::Decode, DeviceClass::Cpu) => &[
                "batch=1,context=4096",
                "batch=4,context=4096",
                "batch=1,context=16384",
            ],
            (SuiteName::Decode, DeviceClass::Gpu) => &[
                "batch=1,context=4096",
                "batch=16,context=4096",
                "batch=64,context=4096",
                "batch=8,context=32768",
            ],
            (SuiteName::Prefill | SuiteName::Ceilings, _) => &[],
        };
        shapes
            .iter()
            .map(|s| (s.to_string(), DType::Bf16))
            .collect()
    }
}
