//! `attn_prefill`: prefill attention (flash style, online softmax, optional causal mask, GQA).

use super::Op;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::inputs::{Gen, Inputs};
use crate::kernels::{self, KernelFile};
use crate::launch;
use crate::launch_plan::{kernel, out, out_bytes, simple, suffix, Arg, LaunchPlan};
use crate::op::{flag, opt, req, OpClass, OpKind, OpSpec, Sat, Shape, ShapeKey};
use crate::reference::{attention::Prefill, OpReference};
use crate::suite::{DeviceClass, SuiteName};
use crate::target::Target;
use crate::tensor::HostTensor;

/// The shape of `attn_prefill`: q[b,S,hq,d], k and v [b,S,hkv,d].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrefillShape {
    /// Sequences.
    pub batch: u64,
    /// Tokens per sequence.
    pub seq: u64,
    /// Query heads.
    pub heads_q: u64,
    /// Key/value heads.
    pub heads_kv: u64,
    /// Elements per head.
    pub head_dim: u64,
    /// Causal mask.
    pub causal: bool,
}

impl PrefillShape {
    /// The typed shape of `spec`; an error when a key is missing.
    pub fn of(spec: &OpSpec) -> Result<PrefillShape> {
        Ok(PrefillShape {
            batch: spec.dim("batch")?,
            seq: spec.dim("seq")?,
            heads_q: spec.dim("heads_q")?,
            heads_kv: spec.dim("heads_kv")?,
            head_dim: spec.dim("head_dim")?,
            causal: spec.dim("causal")? == 1,
        })
    }
}

const KEYS: &[ShapeKey] = &[
    opt("batch", "sequences", 1),
    req("seq", "tokens per sequence"),
    opt("heads_q", "query heads", 32),
    opt("heads_kv", "key/value heads (GQA groups)", 8),
    opt("head_dim", "elements per head", 128),
    flag("causal", "1 = causal mask, 0 = full", true),
];

/// Refuses `heads_q` that is not a multiple of `heads_kv` (GQA groups).
pub(super) fn check_gqa(shape: &Shape) -> Result<()> {
    let (hq, hkv) = (shape.dim("heads_q")?, shape.dim("heads_kv")?);
    if hq % hkv != 0 {
        return Err(Error::bad_input(format!(
            "heads_q={hq} is not a multiple of heads_kv={hkv}; GQA needs heads_q = g * heads_kv"
        )));
    }
    Ok(())
}

/// The head sizes our attention kernels are built for.
pub(super) fn kernel_head_dim(op: OpKind, head_dim: u64) -> Result<u64> {
    match head_dim {
        d @ (64 | 128) => Ok(d),
        d => Err(Error::unsupported(format!(
            "the hotpath {op} kernels take head_dim 64 or 128; got head_dim={d}"
        ))),
    }
}

/// Prefill attention.
pub struct AttnPrefill;

impl Op for AttnPrefill {
    fn kind(&self) -> OpKind {
        OpKind::AttnPrefill
    }
    fn name(&self) -> &'static str {
        "attn_prefill"
    }
    fn summary(&self) -> &'static str {
        "prefill attention, online softmax, GQA"
    }
    fn shape_keys(&self) -> &'static [ShapeKey] {
        KEYS
    }
    fn example_shape(&self) -> &'static str {
        "batch=1,seq=4096,heads_q=32,heads_kv=8,head_dim=128,causal=1"
    }
    fn small_shape(&self) -> &'static str {
        "seq=128"
    }
    fn class(&self) -> OpClass {
        OpClass::Model
    }
    fn check_shape(&self, shape: &Shape) -> Result<()> {
        check_gqa(shape)
    }
    fn work(&self, spec: &OpSpec) -> Result<(Sat, Sat)> {
        let p = PrefillShape::of(spec)?;
        let (b, seq, hq, hkv, hd) = (
            Sat(p.batch),
            Sat(p.seq),
            Sat(p.heads_q),
            Sat(p.heads_kv),
            Sat(p.head_dim),
        );
        let full = Sat(4) * b * hq * seq * seq * hd;
        let flops = if p.causal { full / Sat(2) } else { full };
        let s = Sat(spec.dtype.size_bytes());
        Ok((flops, b * seq * hd * (Sat(2) * hq + Sat(2) * hkv) * s))
    }
    fn input_names(&self) -> &'static [&'static str] {
        &["q", "k", "v"]
    }
    fn input_bytes(&self, spec: &OpSpec) -> Result<Sat> {
        let p = PrefillShape::of(spec)?;
        Ok(Sat(p.batch)
            * Sat(p.seq)
            * Sat(p.head_dim)
            * (Sat(p.heads_q) + Sat(2) * Sat(p.heads_kv))
            * Sat(spec.dtype.size_bytes()))
    }
    fn output_shape(&self, spec: &OpSpec) -> Result<Option<Vec<usize>>> {
        let p = PrefillShape::of(spec)?;
        Ok(Some(
            [p.batch, p.seq, p.heads_q, p.head_dim]
                .map(|x| x as usize)
                .to_vec(),
        ))
    }
    fn generate(&self, spec: &OpSpec, gen: &mut Gen) -> Result<Vec<HostTensor>> {
        let p = PrefillShape::of(spec)?;
        let (b, s, hq, hkv, hd) = (
            p.batch as usize,
            p.seq as usize,
            p.heads_q as usize,
            p.heads_kv as usize,
            p.head_dim as usize,
        );
        let dt = spec.dtype;
        Ok(vec![
            gen.uniform("q", vec![b, s, hq, hd], dt, -1.0, 1.0),
            gen.uniform("k", vec![b, s, hkv, hd], dt, -1.0, 1.0),
            gen.uniform("v", vec![b, s, hkv, hd], dt, -1.0, 1.0),
        ])
    }
    fn reference<'a>(
        &self,
        spec: &OpSpec,
        inputs: &'a Inputs,
        _output_len: usize,
    ) -> Result<Box<dyn OpReference + 'a>> {
        Ok(Box::new(Prefill::new(spec, inputs)?))
    }
    fn kernel_file(&self) -> Option<&'static KernelFile> {
        Some(&kernels::ATTN_PREFILL)
    }
    fn launch_plan(&self, spec: &OpSpec, _target: &Target) -> Result<LaunchPlan> {
        let p = PrefillShape::of(spec)?;
        let hd = kernel_head_dim(OpKind::AttnPrefill, p.head_dim)?;
        let g = launch::attn_prefill(p.batch, p.seq, p.heads_q);
        let args = vec![
            Arg::Input(0),
            Arg::Input(1),
            Arg::Input(2),
            Arg::Output(0),
            Arg::I32(p.batch as i32),
            Arg::I32(p.seq as i32),
            Arg::I32(p.heads_q as i32),
            Arg::I32(p.heads_kv as i32),
            Arg::I32(i32::from(p.causal)),
            Arg::F32(1.0 / (hd as f32).sqrt()),
        ];
        Ok(simple(
            vec![kernel(
                format!("hp_attn_prefill_{}_d{hd}", suffix(spec.dtype)),
                g,
                args,
            )],
            out(spec, 0, "o")?,
            vec![out_bytes(spec)?],
        ))
    }
    fn suite_entries(&self, suite: SuiteName, class: DeviceClass) -> Vec<(String, DType)> {
        let shapes: &[&str] = match (suite, class) {
            (SuiteName::Quick, DeviceClass::Cpu) => &["seq=512"],
            (SuiteName::Quick, DeviceClass::Gpu) => &["seq=4096"],
            (SuiteName::Prefill, DeviceClass::Cpu) => &["seq=512", "seq=1024"],
            (SuiteName::Prefill, DeviceClass::Gpu) => &["seq=1024", "seq=4096", "seq=8192"],
            (SuiteName::Decode | SuiteName::Ceilings, _) => &[],
        };
        shapes
            .iter()
            .map(|s| (s.to_string(), DType::Bf16))
            .collect()
    }
}
