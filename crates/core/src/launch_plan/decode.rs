//! The decode-attention plan: which instantiation of `hp_attn_decode` runs, how deep its
//! shared-memory ring is, and how many splits fill the device's waves. The layout numbers
//! here are the kernel's `DecCfg` (`kernels/attn_decode.cu`), computed the same way. An fp8
//! cache (`kv_fp8=1`) runs the `_fp8kv` instantiations, whose ring holds the cache's 1-byte
//! codes (half the shared memory per token) and which take `k_scale`, `v_scale` last.

use super::{kernel, out, out_bytes, Arg, LaunchPlan, LaunchStep};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::inputs::pages_for;
use crate::launch::{self, Geometry};
use crate::op::{OpKind, OpSpec};
use crate::ops::{kv_cache_dtype, kv_suffix, DecodeShape};
use crate::target::Target;

/// Threads per block of `hp_attn_decode_*` (4 warps).
pub const THREADS: u32 = 128;
/// Warps per block.
const WARPS: u64 = 4;
/// Most splits the combine kernel takes (`HP_DEC_MAX_SPLITS`).
pub const MAX_SPLITS: u32 = 256;
/// Shared memory the ring aims at per block: deep enough that every SM has several tiles
/// in flight, small enough that two or three blocks share an SM.
const RING_TARGET_BYTES: u64 = 64 * 1024;
/// The fixed cost of a split (prologue latency, merge, partial write), in tokens.
const SPLIT_OVERHEAD_TOKENS: u64 = 64;

/// The compile-time layout of one `hp_attn_decode_<dt>[_fp8kv]_d<D>_g<G>` instantiation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Head dimension D.
    pub head_dim: u64,
    /// G: the group padded to a power of two (1, 2, 4, 8, 16).
    pub group_tile: u64,
    /// Tokens per pipeline stage: 64, or 32 for an f32 cache.
    pub tile: u64,
    /// Bytes of one stage: the K and the V rows of a tile, in the cache's element type.
    pub stage_bytes: u64,
    /// Bytes of the warps' merge area (reuses the ring).
    pub merge_bytes: u64,
    /// Bytes of the staged query tile (tensor-core path only).
    pub q_bytes: u64,
    /// True when the tile runs on tensor cores (NVIDIA, f16/bf16, G ≥ 4).
    pub mma: bool,
}

impl Layout {
    /// The layout for `dtype` (q and o), a cache of `cache` elements (`dtype`, or fp8 e4m3),
    /// head dimension `head_dim` and GQA group `group` on `target`; refuses what no
    /// instantiation serves.
    pub fn new(
        dtype: DType,
        cache: DType,
        head_dim: u64,
        group: u64,
        target: &Target,
    ) -> Result<Layout> {
        if !matches!(head_dim, 64 | 128 | 256) {
            return Err(Error::unsupported(format!(
                "the hotpath attn_decode kernel takes head_dim 64, 128 or 256; got head_dim={head_dim}"
            )));
        }
        super::float_only(OpKind::AttnDecode, dtype)?;
        let group_tile = match group {
            1 => 1,
            2 => 2,
            3..=4 => 4,
            5..=8 => 8,
            9..=16 => 16,
            _ => {
                return Err(Error::unsupported(format!(
                    "the hotpath attn_decode kernel serves 1 to 16 query heads per KV head; got {group}"
                )))
            }
        };
        if cache != dtype && cache != DType::Fp8E4m3 {
            return Err(Error::unsupported(format!(
                "the hotpath attn_decode kernel reads a cache in the dtype or in fp8; got {cache} under {dtype}"
            )));
        }
        let (s, c) = (dtype.size_bytes(), cache.size_bytes());
        let tile = if c == 4 { 32 } else { 64 };
        let mma = !target.is_amd() && s == 2 && group_tile >= 4;
        Ok(Layout {
            head_dim,
            group_tile,
            tile,
            stage_bytes: 2 * tile * head_dim * c,
            merge_bytes: WARPS * group_tile * head_dim * 4 + WARPS * group_tile * 2 * 4,
            q_bytes: if mma { 16 * head_dim * s } else { 0 },
            mma,
        })
    }

    /// Dynamic shared memory of a block with a ring of `stages`: the ring (or the merge area
    /// when larger), then the query tile.
    pub fn shared_bytes(&self, stages: u32) -> u64 {
        (stages as u64 * self.stage_bytes).max(self.merge_bytes) + self.q_bytes
    }

    /// The ring depth: about [`RING_TARGET_BYTES`] of stages (2 to 4), fewer when the block
    /// would exceed the device's shared memory, refused when not even one stage fits.
    pub fn stages(&self, function: &str, target: &Target) -> Result<u32> {
        let mut stages = (RING_TARGET_BYTES / self.stage_bytes).clamp(2, 4) as u32;
        while stages > 1 && self.shared_bytes(stages) > target.smem_per_block {
            stages -= 1;
        }
        let need = self.shared_bytes(stages);
        if need > target.smem_per_block {
            return Err(Error::unsupported(format!(
                "{function} needs {need} B of shared memory per block but {} allows {} B, so it is not launched",
                target.arch, target.smem_per_block
            )));
        }
        Ok(stages)
    }
}

/// Tokens per split, `⌈⌈L/splits⌉/page_size⌉·page_size` (splits start on page boundaries).
pub fn chunk(context: u64, splits: u32, page_size: u64) -> u64 {
    context
        .div_ceil(splits.max(1) as u64)
        .div_ceil(page_size.max(1))
        * page_size.max(1)
}

/// The split count that fills whole waves: with `groups` (sequence, KV head) pairs and
/// `slots` blocks resident on the device at once, the estimated time of `s` splits is
/// `⌈groups·s/slots⌉` waves of `chunk(s) + overhead` tokens each; the cheapest `s` wins (the
/// smallest on a tie). Splits hold at least two tiles (and a page), none is empty, and
/// there are at most [`MAX_SPLITS`].
pub fn splits(groups: u64, context: u64, page_size: u64, tile: u64, slots: u64) -> u32 {
    let min_chunk = (2 * tile).max(page_size);
    let most = context.div_ceil(min_chunk).clamp(1, MAX_SPLITS as u64) as u32;
    let mut best = (u64::MAX, 1);
    for s in 1..=most {
        let c = chunk(context, s, page_size);
        if s > 1 && context.div_ceil(c) != s as u64 {
            continue; // a split would be empty
        }
        let waves = (groups.max(1) * s as u64).div_ceil(slots.max(1));
        let cost = waves * (c + SPLIT_OVERHEAD_TOKENS);
        if cost < best.0 {
            best = (cost, s);
        }
    }
    best.1
}

/// The plan of `hp_attn_decode` (and its combine when there is more than one split).
pub fn build(spec: &OpSpec, target: &Target) -> Result<LaunchPlan> {
    let p = DecodeShape::of(spec)?;
    let (b, l, hq, hkv, hd, ps) = (
        p.batch,
        p.context,
        p.heads_q,
        p.heads_kv,
        p.head_dim,
        p.page_size,
    );
    if hkv == 0 || hq % hkv != 0 {
        return Err(Error::bad_input(format!(
            "heads_q={hq} is not a multiple of heads_kv={hkv}"
        )));
    }
    let layout = Layout::new(spec.dtype, kv_cache_dtype(spec)?, hd, hq / hkv, target)?;
    let dt = super::suffix(spec.dtype);
    let function = format!(
        "hp_attn_decode_{}_d{hd}_g{}",
        kv_suffix(spec)?,
        layout.group_tile
    );
    let stages = layout.stages(&function, target)?;
    let smem = layout.shared_bytes(stages);
    let resident = target
        .decode_resident
        .unwrap_or_else(|| target.resident_blocks(THREADS, smem));
    let slots = target.units as u64 * resident as u64;
    let splits = match target.decode_splits {
        Some(forced) => forced.clamp(1, MAX_SPLITS),
        None => splits(b * hkv, l, ps, layout.tile, slots),
    };
    let chunk = chunk(l, splits, ps);
    let geometry = Geometry {
        shared_bytes: smem as u32,
        ..launch::grid((splits as u64, hkv, b), THREADS)
    };
    let i = |v: u64| Arg::I32(v.min(i32::MAX as u64) as i32);
    let mut main = vec![
        Arg::Input(0),
        Arg::Input(1),
        Arg::Input(2),
        Arg::Input(3),
        Arg::Input(4),
        Arg::Scratch(0),
        Arg::Scratch(1),
        Arg::Output(0),
        i(b),
        i(hq),
        i(hkv),
        i(ps),
        i(pages_for(l, ps)),
        i(splits as u64),
        i(chunk),
        i(stages as u64),
    ];
    if p.fp8 {
        main.extend([Arg::Input(5), Arg::Input(6)]); // k_scale, v_scale
    }
    split_plan(
        spec,
        kernel(function, geometry, main),
        format!("hp_attn_decode_combine_{dt}"),
        hd as u32,
        (b, hq, splits, hd),
    )
}

/// A split-K plan: `main`, then, with more than one split, the combine kernel `combine` on
/// (hq, b) blocks of `threads`, which merges the `b·hq·splits` partial rows of `d` f32
/// (scratch 0) and their (max, sum) pairs (scratch 1) into the output.
pub(super) fn split_plan(
    spec: &OpSpec,
    main: LaunchStep,
    combine: String,
    threads: u32,
    (b, hq, splits, d): (u64, u64, u32, u64),
) -> Result<LaunchPlan> {
    let i = |v: u64| Arg::I32(v.min(i32::MAX as u64) as i32);
    let mut steps = vec![main];
    if splits > 1 {
        steps.push(kernel(
            combine,
            launch::grid((hq, b, 1), threads),
            vec![
                Arg::Scratch(0),
                Arg::Scratch(1),
                Arg::Output(0),
                i(b),
                i(hq),
                i(splits as u64),
                i(d),
            ],
        ));
    }
    let rows = (b * hq * splits as u64) as usize;
    Ok(LaunchPlan {
        steps,
        output_bytes: vec![out_bytes(spec)?],
        scratch_bytes: vec![rows * d as usize * 4, rows * 2 * 4],
        output: out(spec, 0, "o")?,
        counted_work: None,
    })
}

/// The split count and ring depth a plan chose (for listings and tests): the main kernel's
/// `splits` and `stages` arguments.
pub fn chosen(plan: &LaunchPlan) -> Option<(u32, u32)> {
    chosen_args(plan, (13, 15))
}

/// The integer arguments at `(splits, stages)` of a plan's first kernel.
pub(super) fn chosen_args(
    plan: &LaunchPlan,
    (splits, stages): (usize, usize),
) -> Option<(u32, u32)> {
    match plan.steps.first()? {
        LaunchStep::Kernel { args, .. } => match (args.get(splits)?, args.get(stages)?) {
            (Arg::I32(s), Arg::I32(st)) => Some((*s as u32, *st as u32)),
            _ => None,
        },
        LaunchStep::ZeroScratch(_) => None,
    }
}
