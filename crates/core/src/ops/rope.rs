//! `rope`: rotary position embedding of the query and key heads (vLLM's `rotary_embedding`,
//! FlashInfer's `apply_rope_with_cos_sin_cache`), memory-bound. Given positions[T] (i32),
//! qk[T, hq + hkv, d] (each token's query heads, then its key heads) and the cos/sin cache
//! cos_sin[max_position, r] (f32: the first r/2 columns cos(p·θ_i), the last r/2 sin(p·θ_i),
//! θ_i = [`ROPE_BASE`]^(−2i/r)), every head of token t is rotated by position positions[t]
//! over its first r = `rotary_dim` elements; the elements past r are copied. Pairs are
//! (x[i], x[i + r/2]) in the NeoX layout (`gptj=0`) and (x[2i], x[2i+1]) in the GPT-J one,
//! each rotated by θ_i: x' = x·cos − y·sin, y' = y·cos + x·sin in f32, rounded once.
//! Kernel: `kernels/rope.cu`, correct in place too (serving runs it so); timed out of place.

mod reference;

use rayon::prelude::*;

use super::Op;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::inputs::{Gen, Inputs};
use crate::kernels::KernelFile;
use crate::launch::{self, Geometry};
use crate::launch_plan::{
    float_only, i32_arg, kernel, out, out_bytes, simple, suffix, Arg, LaunchPlan,
};
use crate::op::{opt, req, switch, OpClass, OpKind, OpSpec, Sat, Shape, ShapeKey};
use crate::reference::OpReference;
use crate::suite::{DeviceClass, SuiteName};
use crate::target::Target;
use crate::tensor::HostTensor;
use reference::Rope as Reference;

/// The base of the rotation frequencies, θ_i = base^(−2i/rotary_dim) (Llama 2's; the cache
/// is an input, so the kernels never see it).
pub const ROPE_BASE: f64 = 10_000.0;

/// `kernels/rope.cu`, this op's kernels.
static FILE: KernelFile = KernelFile {
    file: "rope.cu",
    source: include_str!("../../../../kernels/rope.cu"),
};

/// Threads per block of `hp_rope_*` (`HP_ROPE_THREADS`).
pub const THREADS: u32 = 128;

/// The shape of `rope`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RopeShape {
    /// Tokens, each with its own position.
    pub tokens: u64,
    /// Query heads per token.
    pub heads_q: u64,
    /// Key heads per token.
    pub heads_kv: u64,
    /// Elements per head.
    pub head_dim: u64,
    /// Leading elements of each head that are rotated (even, at most `head_dim`).
    pub rotary_dim: u64,
    /// Rows of the cos/sin cache; every position lies below it.
    pub max_position: u64,
    /// GPT-J's interleaved pairs (x[2i], x[2i+1]) instead of NeoX's halves.
    pub gptj: bool,
}

impl RopeShape {
    /// The typed shape of `spec`; an error when a key is missing.
    pub fn of(spec: &OpSpec) -> Result<RopeShape> {
        Ok(RopeShape {
            tokens: spec.dim("tokens")?,
            heads_q: spec.dim("heads_q")?,
            heads_kv: spec.dim("heads_kv")?,
            head_dim: spec.dim("head_dim")?,
            rotary_dim: spec.dim("rotary_dim")?,
            max_position: spec.dim("max_position")?,
            gptj: spec.dim("gptj")? == 1,
        })
    }

    /// Heads per token, query and key together.
    pub fn heads(&self) -> u64 {
        self.heads_q.saturating_add(self.heads_kv)
    }
}

const KEYS: &[ShapeKey] = &[
    req("tokens", "tokens, each rotated by its own position"),
    opt("heads_q", "query heads", 32),
    opt("heads_kv", "key heads", 8),
    opt("head_dim", "elements per head", 128),
    opt(
        "rotary_dim",
        "leading elements of a head that are rotated (even, at most head_dim)",
        128,
    ),
    opt(
        "max_position",
        "rows of the cos/sin cache (positions lie below)",
        32768,
    ),
    switch("gptj", "1 = GPT-J interleaved pairs, 0 = NeoX halves"),
];

/// The cos/sin cache `[max_position, rotary_dim]`: row p holds cos(p·θ_i) for i < r/2, then
/// sin(p·θ_i), θ_i = [`ROPE_BASE`]^(−2i/r), each computed in f64 and rounded to f32.
pub fn cos_sin_cache(max_position: usize, rotary_dim: usize) -> Vec<f32> {
    let half = rotary_dim / 2;
    let theta: Vec<f64> = (0..half)
        .map(|i| ROPE_BASE.powf(-2.0 * i as f64 / rotary_dim as f64))
        .collect();
    let mut v = vec![0f32; max_position * rotary_dim];
    if rotary_dim == 0 {
        return v;
    }
    v.par_chunks_mut(rotary_dim)
        .enumerate()
        .for_each(|(p, row)| {
            let (cos, sin) = row.split_at_mut(half);
            for (i, t) in theta.iter().enumerate() {
                let (s, c) = (p as f64 * t).sin_cos();
                cos[i] = c as f32;
                sin[i] = s as f32;
            }
        });
    v
}

/// Elements one work unit of `hp_rope_*` moves, and the units of one head: on the vector
/// path (head_dim a multiple of V = 16/s elements, and r/2 (NeoX) or r (GPT-J) too) a unit
/// is one 16-byte vector of x (NeoX: and its partner vector r/2 further), else one pair (or
/// one element past r). Units of a head: NeoX r/(2V) + (d − r)/V, GPT-J d/V; element path
/// r/2 + (d − r).
pub fn units_per_head(p: &RopeShape, elem_bytes: u64) -> u64 {
    let v = 16 / elem_bytes.max(1);
    let (d, r) = (p.head_dim, p.rotary_dim);
    let rotated = if p.gptj { r } else { r / 2 };
    if d.is_multiple_of(v) && rotated.is_multiple_of(v) {
        rotated / v + (d - r) / v
    } else {
        r / 2 + (d - r)
    }
}

/// `hp_rope_*`: `tokens · ⌈heads·units/128⌉` blocks × [`THREADS`]; block `b` takes token
/// `b / ⌈heads·units/128⌉`, one unit ([`units_per_head`]) of one of its heads per thread.
pub fn geometry(p: &RopeShape, elem_bytes: u64) -> Geometry {
    let per_token = p.heads().saturating_mul(units_per_head(p, elem_bytes));
    let chunks = per_token.div_ceil(THREADS as u64);
    launch::grid((p.tokens.saturating_mul(chunks), 1, 1), THREADS)
}

/// Rotary position embedding.
pub struct Rope;

impl Op for Rope {
    fn kind(&self) -> OpKind {
        OpKind::Rope
    }
    fn name(&self) -> &'static str {
        "rope"
    }
    fn summary(&self) -> &'static str {
        "rotary position embedding of q and k from a cos/sin cache (NeoX or GPT-J pairs), memory-bound"
    }
    fn shape_keys(&self) -> &'static [ShapeKey] {
        KEYS
    }
    fn example_shape(&self) -> &'static str {
        "tokens=64,heads_q=32,heads_kv=8,head_dim=128,rotary_dim=128,max_position=32768,gptj=0"
    }
    fn small_shape(&self) -> &'static str {
        "tokens=64,max_position=4096"
    }
    fn class(&self) -> OpClass {
        OpClass::Model
    }
    fn check_shape(&self, shape: &Shape) -> Result<()> {
        let (d, r) = (shape.dim("head_dim")?, shape.dim("rotary_dim")?);
        if !r.is_multiple_of(2) {
            return Err(Error::bad_input(format!(
                "rotary_dim={r} is odd; rope rotates pairs of elements, so rotary_dim must be even"
            )));
        }
        if r > d {
            return Err(Error::bad_input(format!(
                "rotary_dim={r} exceeds head_dim={d}; rope rotates at most the whole head"
            )));
        }
        Ok(())
    }
    fn work(&self, spec: &OpSpec) -> Result<(Sat, Sat)> {
        // Two multiplies and an add per rotated element. Bytes: q and k read and written,
        // the positions, and each token's cos/sin row (counted once per token).
        let p = RopeShape::of(spec)?;
        let (t, h, d, r) = (
            Sat(p.tokens),
            Sat(p.heads()),
            Sat(p.head_dim),
            Sat(p.rotary_dim),
        );
        let s = Sat(spec.dtype.size_bytes());
        let bytes = Sat(2) * t * h * d * s + Sat(4) * t + Sat(4) * t * r;
        Ok((Sat(3) * t * h * r, bytes))
    }
    fn input_names(&self) -> &'static [&'static str] {
        &["positions", "qk", "cos_sin"]
    }
    fn input_bytes(&self, spec: &OpSpec) -> Result<Sat> {
        let p = RopeShape::of(spec)?;
        let s = Sat(spec.dtype.size_bytes());
        Ok(Sat(4) * Sat(p.tokens)
            + Sat(p.tokens) * Sat(p.heads()) * Sat(p.head_dim) * s
            + Sat(4) * Sat(p.max_position) * Sat(p.rotary_dim))
    }
    fn output_shape(&self, spec: &OpSpec) -> Result<Option<Vec<usize>>> {
        let p = RopeShape::of(spec)?;
        Ok(Some(vec![
            p.tokens as usize,
            p.heads() as usize,
            p.head_dim as usize,
        ]))
    }
    fn generate(&self, spec: &OpSpec, gen: &mut Gen) -> Result<Vec<HostTensor>> {
        let p = RopeShape::of(spec)?;
        let (t, h, d) = (p.tokens as usize, p.heads() as usize, p.head_dim as usize);
        let (m, r) = (p.max_position as usize, p.rotary_dim as usize);
        let limit = i32::try_from(p.max_position).map_err(|_| {
            Error::unsupported(format!(
                "rope positions are i32, so max_position is at most {}; got max_position={m}",
                i32::MAX
            ))
        })?;
        Ok(vec![
            gen.ints("positions", vec![t], 0, limit),
            gen.uniform("qk", vec![t, h, d], spec.dtype, -1.0, 1.0),
            HostTensor::from_f32("cos_sin", vec![m, r], DType::F32, &cos_sin_cache(m, r)),
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
        let p = RopeShape::of(spec)?;
        let int = |key: &str, v: u64| i32_arg(spec.op, key, v);
        // The kernel counts a token's units in an int.
        let units = p
            .heads()
            .saturating_mul(units_per_head(&p, spec.dtype.size_bytes()));
        let heads = int("heads_q + heads_kv", p.heads())?;
        int("heads · units per head", units)?;
        let args = vec![
            Arg::Input(0),
            Arg::Input(1),
            Arg::Input(2),
            Arg::Output(0),
            Arg::I32(int("tokens", p.tokens)?),
            Arg::I32(heads),
            Arg::I32(int("head_dim", p.head_dim)?),
            Arg::I32(int("rotary_dim", p.rotary_dim)?),
            Arg::I32(p.gptj as i32),
        ];
        Ok(simple(
            vec![kernel(
                format!("hp_rope_{}", suffix(spec.dtype)),
                geometry(&p, spec.dtype.size_bytes()),
                args,
            )],
            out(spec, 0, "out")?,
            vec![out_bytes(spec)?],
        ))
    }
    fn suite_entries(&self, suite: SuiteName, class: DeviceClass) -> Vec<(String, DType)> {
        // q and k of every layer at Llama-3.1-8B's heads (32 query, 8 key, 128 wide) and
        // decode batch sizes, NeoX pairs as Llama's checkpoints use them.
        let tokens: &[u64] = match (suite, class) {
            (SuiteName::Decode, DeviceClass::Cpu) => &[64],
            (SuiteName::Decode, DeviceClass::Gpu) => &[1, 16, 64, 256],
            (SuiteName::Quick | SuiteName::Prefill | SuiteName::Ceilings, _) => &[],
        };
        tokens
            .iter()
            .map(|t| {
                (
                    format!("tokens={t},heads_q=32,heads_kv=8,head_dim=128"),
                    DType::Bf16,
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
