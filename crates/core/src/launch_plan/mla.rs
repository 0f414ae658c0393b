//! The MLA decode plan: which `hp_attn_mla_decode` instantiation runs (its head tile), how
//! deep its shared-memory ring of latent rows is, and how many context splits fill the
//! device (the split rule is attn_decode's, [`super::decode::splits`]). The layout numbers are
//! the kernel's `MlaCfg` (`kernels/attn_mla_decode.cu`), computed the same way.
//!
//! A block takes `heads` query heads (its head tile: 64, 32 or 16, the largest dividing
//! `heads_q` whose block keeps a ring of two stages in the device's shared memory) and one
//! context split, and holds in dynamic shared memory: a ring of [`TILE`]-token stages of
//! latent rows (in the cache's element type), a decoded tile (an fp8 cache's codes as the
//! dtype), the score exchange of the tensor-core path and the head tile's queries.

use super::decode::{chosen_args, chunk, split_plan, splits, MAX_SPLITS};
use super::{kernel, Arg, LaunchPlan};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::inputs::pages_for;
use crate::launch::{self, Geometry};
use crate::op::OpSpec;
use crate::ops::{kv_cache_dtype, kv_suffix, MlaShape};
use crate::target::Target;

/// Tokens per ring stage.
pub const TILE: u64 = 32;
/// Bytes added to every row in shared memory: a row stride of an odd number of 16-byte
/// chunks puts the 8 rows of an `ldmatrix` in 8 distinct bank groups.
pub const ROW_PAD: u64 = 16;
/// The (kv_lora, rope_dim) pairs the kernel is instantiated for: DeepSeek-V2/V3/R1's (and
/// Kimi K2's) 512 + 64, and 64 + 32 for small checks.
pub const WIDTHS: [(u64, u64); 2] = [(512, 64), (64, 32)];
/// Head tiles, the preferred (largest) first.
pub const HEAD_TILES: [u64; 3] = [64, 32, 16];
/// Most ring stages.
const MAX_STAGES: u32 = 4;
/// Threads of the combine kernel.
pub const COMBINE_THREADS: u32 = 256;

/// The compile-time layout of one `hp_attn_mla_decode_<dt>[_fp8kv]_l<L>_r<R>_h<H>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Query heads of a block (H).
    pub heads: u64,
    /// Bytes of the head tile's queries: `heads` rows of `(kv_lora + rope_dim)·s + 16`.
    pub q_bytes: u64,
    /// Bytes of one ring stage: [`TILE`] rows of `(kv_lora + rope_dim)·c + 16`.
    pub stage_bytes: u64,
    /// Bytes of the decoded tile (fp8 cache only): [`TILE`] rows as the query's.
    pub decoded_bytes: u64,
    /// Bytes of the score exchange (tensor-core path only): per warp, 32 lanes × 16 f32.
    pub exchange_bytes: u64,
    /// True when the tile runs on tensor cores (NVIDIA, f16/bf16).
    pub mma: bool,
}

impl Layout {
    /// The layout of a head tile of `heads` for q in `dtype`, a cache of `cache` elements
    /// and rows of `width` elements on `target`.
    pub fn new(dtype: DType, cache: DType, width: u64, heads: u64, target: &Target) -> Layout {
        let (s, c) = (dtype.size_bytes(), cache.size_bytes());
        let mma = !target.is_amd() && s == 2;
        let warps = threads(heads) as u64 / 32;
        Layout {
            heads,
            q_bytes: heads * (width * s + ROW_PAD),
            stage_bytes: TILE * (width * c + ROW_PAD),
            decoded_bytes: if c == 1 {
                TILE * (width * s + ROW_PAD)
            } else {
                0
            },
            exchange_bytes: if mma { warps * 32 * 16 * 4 } else { 0 },
            mma,
        }
    }

    /// Dynamic shared memory of a block with a ring of `stages`.
    pub fn shared_bytes(&self, stages: u32) -> u64 {
        self.q_bytes + stages as u64 * self.stage_bytes + self.decoded_bytes + self.exchange_bytes
    }

    /// The deepest ring (up to 4 stages) the device's shared memory per block holds; `None`
    /// when not even one stage fits.
    pub fn stages(&self, target: &Target) -> Option<u32> {
        (1..=MAX_STAGES)
            .rev()
            .find(|&s| self.shared_bytes(s) <= target.smem_per_block)
    }
}

/// Threads of a block with a head tile of `heads`: two warps per 16 heads (tensor cores: one
/// warp per 16 heads and half of the value columns; CUDA cores: four threads per head).
pub fn threads(heads: u64) -> u32 {
    (4 * heads) as u32
}

/// The head tile and ring depth for `spec` on `target`: the largest tile dividing `heads_q`
/// that keeps two stages, else the largest that keeps one; refused with a sentence when
/// `heads_q` is not a multiple of 16 or no tile fits.
pub fn choose(spec: &OpSpec, target: &Target) -> Result<(Layout, u32)> {
    let p = MlaShape::of(spec)?;
    if !matches!(spec.dtype, DType::F32 | DType::F16 | DType::Bf16) {
        return Err(Error::unsupported(format!(
            "the hotpath attn_mla_decode kernel runs f32, f16 and bf16 queries; got {}",
            spec.dtype
        )));
    }
    if !WIDTHS.contains(&(p.kv_lora, p.rope_dim)) {
        return Err(Error::unsupported(format!(
            "the hotpath attn_mla_decode kernel is built for kv_lora=512,rope_dim=64 (DeepSeek) and kv_lora=64,rope_dim=32; got kv_lora={},rope_dim={}",
            p.kv_lora, p.rope_dim
        )));
    }
    if p.heads_q % 16 != 0 {
        return Err(Error::unsupported(format!(
            "the hotpath attn_mla_decode kernel takes query heads in tiles of 16; got heads_q={}",
            p.heads_q
        )));
    }
    let cache = kv_cache_dtype(spec)?;
    let tiles: Vec<Layout> = HEAD_TILES
        .iter()
        .filter(|&&h| p.heads_q % h == 0)
        .map(|&h| Layout::new(spec.dtype, cache, p.width(), h, target))
        .collect();
    for min_stages in [2, 1] {
        if let Some(l) = tiles
            .iter()
            .find(|l| l.stages(target).is_some_and(|s| s >= min_stages))
        {
            return Ok((*l, l.stages(target).unwrap_or(1)));
        }
    }
    let need = tiles.last().map_or(0, |l| l.shared_bytes(1));
    Err(Error::unsupported(format!(
        "attn_mla_decode needs {need} B of shared memory per block for 16 heads and one stage of {TILE} rows but {} allows {} B, so it is not launched",
        target.arch, target.smem_per_block
    )))
}

/// The plan of `hp_attn_mla_decode` (and its combine when there is more than one split).
pub fn build(spec: &OpSpec, target: &Target) -> Result<LaunchPlan> {
    let p = MlaShape::of(spec)?;
    let (layout, stages) = choose(spec, target)?;
    let (b, l, hq, kl, ps) = (p.batch, p.context, p.heads_q, p.kv_lora, p.page_size);
    let function = format!(
        "hp_attn_mla_decode_{}_l{kl}_r{}_h{}",
        kv_suffix(spec)?,
        p.rope_dim,
        layout.heads
    );
    let smem = layout.shared_bytes(stages);
    let threads = threads(layout.heads);
    let resident = target
        .decode_resident
        .unwrap_or_else(|| target.resident_blocks(threads, smem));
    let slots = target.units as u64 * resident as u64;
    let tiles = hq / layout.heads;
    let splits = match target.decode_splits {
        Some(forced) => forced.clamp(1, MAX_SPLITS),
        None => splits(b * tiles, l, ps, TILE, slots),
    };
    let chunk = chunk(l, splits, ps);
    let geometry = Geometry {
        shared_bytes: smem as u32,
        ..launch::grid((splits as u64, tiles, b), threads)
    };
    let i = |v: u64| Arg::I32(v.min(i32::MAX as u64) as i32);
    let main = vec![
        Arg::Input(0),
        Arg::Input(1),
        Arg::Input(2),
        Arg::Input(3),
        Arg::Scratch(0),
        Arg::Scratch(1),
        Arg::Output(0),
        i(b),
        i(hq),
        i(ps),
        i(pages_for(l, ps)),
        i(splits as u64),
        i(chunk),
        i(stages as u64),
        Arg::Input(4),
    ];
    split_plan(
        spec,
        kernel(function, geometry, main),
        format!("hp_attn_mla_decode_combine_{}", super::suffix(spec.dtype)),
        COMBINE_THREADS,
        (b, hq, splits, kl),
    )
}

/// The split count and ring depth a plan chose: the main kernel's `splits` and `stages`.
pub fn chosen(plan: &LaunchPlan) -> Option<(u32, u32)> {
    chosen_args(plan, (11, 13))
}
