//! Launch geometry of every kernel, exactly as `kernels/README.md` states it, shared by the CUDA
//! and ROCm backends (the kernels use 32-lane groups on both, so the geometry is the same).
//! Pure functions of the shape and the SM/CU count, tested without a GPU.

/// Grid and block dimensions of one launch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Blocks in x, y, z.
    pub grid: (u32, u32, u32),
    /// Threads per block in x, y, z.
    pub block: (u32, u32, u32),
}

impl Geometry {
    fn new(grid: (u64, u64, u64), threads: u32) -> Geometry {
        let clamp = |v: u64| v.clamp(1, u32::MAX as u64) as u32;
        Geometry {
            grid: (clamp(grid.0), clamp(grid.1), clamp(grid.2)),
            block: (threads, 1, 1),
        }
    }

    /// Total blocks.
    pub fn blocks(&self) -> u64 {
        self.grid.0 as u64 * self.grid.1 as u64 * self.grid.2 as u64
    }
}

/// Threads per block of the streaming kernels.
pub const STREAM_THREADS: u32 = 256;

/// `hp_copy`, `hp_write`, `hp_triad`: grid-stride over `units` (16-byte vectors or elements),
/// `min(units/(256·4)+1, 8·SMs)` blocks.
pub fn stream(units: u64, sms: u32) -> Geometry {
    let blocks = (units / (STREAM_THREADS as u64 * 4) + 1).min(8 * sms as u64);
    Geometry::new((blocks, 1, 1), STREAM_THREADS)
}

/// `hp_read_*`: `min(⌈n/(256·16/size)⌉, 8·SMs)` blocks, one partial sum each.
pub fn read(n: u64, elem_bytes: u64, sms: u32) -> Geometry {
    let per_block = STREAM_THREADS as u64 * 16 / elem_bytes.max(1);
    let blocks = n.div_ceil(per_block).min(8 * sms as u64);
    Geometry::new((blocks, 1, 1), STREAM_THREADS)
}

/// 16-byte vectors covering `bytes` (the kernels may touch the padding the launcher allocates).
pub fn vectors16(bytes: u64) -> u64 {
    bytes.div_ceil(16)
}

/// Split-K factor of the GEMV: enough blocks for 4 per SM, each split at least 512 of `k`.
pub fn gemv_splits(n: u64, k: u64, sms: u32) -> u32 {
    let row_blocks = n.div_ceil(8);
    let wanted = (4 * sms as u64).div_ceil(row_blocks.max(1));
    let most = (k / 512).max(1);
    wanted.clamp(1, most.min(64)) as u32
}

/// `hp_gemv_*`: `(⌈n/8⌉, splits)` × 256.
pub fn gemv(n: u64, splits: u32) -> Geometry {
    Geometry::new((n.div_ceil(8), splits as u64, 1), 256)
}

/// `hp_gemv_finish_*` and other elementwise epilogues: `⌈count/256⌉` × 256.
pub fn elementwise(count: u64) -> Geometry {
    Geometry::new((count.div_ceil(256), 1, 1), 256)
}

/// `hp_gemm_*`: `(⌈n/128⌉, ⌈m/128⌉)` × 256.
pub fn gemm(m: u64, n: u64) -> Geometry {
    Geometry::new((n.div_ceil(128), m.div_ceil(128), 1), 256)
}

/// `hp_attn_prefill_*`: `(⌈seq/64⌉, hq, batch)` × 128.
pub fn attn_prefill(batch: u64, seq: u64, hq: u64) -> Geometry {
    Geometry::new((seq.div_ceil(64), hq, batch), 128)
}

/// Flash-decoding split count: enough (split, KV head, sequence) blocks for 2 per SM, each
/// split at least 256 tokens, at most 64 splits.
pub fn decode_splits(batch: u64, hkv: u64, context: u64, sms: u32) -> u32 {
    let groups = (batch * hkv).max(1);
    let wanted = (2 * sms as u64).div_ceil(groups);
    let most = context.div_ceil(256).clamp(1, 64);
    wanted.clamp(1, most) as u32
}

/// Tokens per split, `⌈⌈L/splits⌉/page_size⌉·page_size` (splits start on page boundaries).
pub fn decode_chunk(context: u64, splits: u32, page_size: u64) -> u64 {
    context.div_ceil(splits as u64).div_ceil(page_size) * page_size
}

/// `hp_attn_decode_*`: `(splits, hkv, batch)` × 128.
pub fn attn_decode(batch: u64, hkv: u64, splits: u32) -> Geometry {
    Geometry::new((splits as u64, hkv, batch), 128)
}

/// `hp_attn_decode_combine_*`: `(hq, batch)` × `d`.
pub fn attn_decode_combine(batch: u64, hq: u64, head_dim: u32) -> Geometry {
    Geometry {
        grid: Geometry::new((hq, batch, 1), 1).grid,
        block: (head_dim, 1, 1),
    }
}

/// `hp_kv_write_*`, `hp_kv_read_*`: one block of 128 per token.
pub fn kv(tokens: u64) -> Geometry {
    Geometry::new((tokens, 1, 1), 128)
}

/// `hp_peak_*`: `4·SMs` × 256.
pub fn peak(sms: u32) -> Geometry {
    Geometry::new((4 * sms as u64, 1, 1), 256)
}

/// Output lanes of `hp_peak_fma_f32`: 8 chains per thread.
pub fn peak_fma_lanes(g: &Geometry) -> u64 {
    g.blocks() * g.block.0 as u64 * 8
}

/// Output lanes of `hp_peak_mma_*`: 4 chains × 128 accumulators per warp.
pub fn peak_mma_lanes(g: &Geometry) -> u64 {
    g.blocks() * (g.block.0 as u64 / 32) * 512
}

/// FLOPs of one `hp_peak_mma_*` launch: `2·16·8·K` per mma, 4 chains per warp, `iters` steps.
pub fn peak_mma_flops(g: &Geometry, mma_k: u64, iters: u64) -> u64 {
    2 * 16 * 8 * mma_k * g.blocks() * (g.block.0 as u64 / 32) * 4 * iters
}

/// FLOPs of one `hp_peak_fma_f32` launch: one FMA (2 FLOPs) per chain step.
pub fn peak_fma_flops(g: &Geometry, iters: u64) -> u64 {
    2 * peak_fma_lanes(g) * iters
}

#[cfg(test)]
mod tests {
    use super::*;

    const H100_SMS: u32 = 132;

    #[test]
    fn streaming_grids_cap_at_eight_blocks_per_sm() {
        // 2 GiB copy = 134,217,728 vectors → far above the cap of 8·132 = 1056.
        assert_eq!(stream(vectors16(1 << 31), H100_SMS).grid.0, 1056);
        // 1000 vectors → 1000/1024 + 1 = 1 block.
        assert_eq!(stream(1000, H100_SMS).grid.0, 1);
        // bf16 read of 1M elements: 256 threads × 8 elements per block → 512 blocks.
        assert_eq!(read(1 << 20, 2, H100_SMS).grid.0, 512);
        assert_eq!(vectors16(17), 2);
    }

    #[test]
    fn gemv_splits_fill_the_gpu_only_when_rows_are_few() {
        // Llama MLP up: 14336 rows → 1792 row blocks ≥ 528 wanted: no split.
        assert_eq!(gemv_splits(14336, 4096, H100_SMS), 1);
        // 1024 rows → 128 blocks; 528/128 = 4.1 → 5 splits (k = 4096 allows 8).
        assert_eq!(gemv_splits(1024, 4096, H100_SMS), 5);
        // k = 1024 allows at most 2.
        assert_eq!(gemv_splits(64, 1024, H100_SMS), 2);
        assert_eq!(gemv(14336, 1).grid, (1792, 1, 1));
    }

    #[test]
    fn decode_splits_and_chunks() {
        // batch 1, 8 KV heads, 4096 tokens: 264/8 = 33 wanted, 16 allowed (4096/256).
        let s = decode_splits(1, 8, 4096, H100_SMS);
        assert_eq!(s, 16);
        assert_eq!(decode_chunk(4096, s, 16), 256);
        // Ragged: 1000 tokens in 3 splits → ⌈334/16⌉·16 = 336 per split (last gets 328).
        assert_eq!(decode_chunk(1000, 3, 16), 336);
        // Large batch fills the GPU alone.
        assert_eq!(decode_splits(64, 8, 4096, H100_SMS), 1);
        assert_eq!(attn_decode(4, 8, 2).grid, (2, 8, 4));
    }

    #[test]
    fn tiles_and_peak_work() {
        assert_eq!(gemm(1000, 4096).grid, (32, 8, 1));
        assert_eq!(attn_prefill(2, 4097, 32).grid, (65, 32, 2));
        let g = peak(H100_SMS);
        assert_eq!(g.grid.0, 528);
        // 528 blocks × 8 warps × 512 lanes.
        assert_eq!(peak_mma_lanes(&g), 528 * 8 * 512);
        // One m16n8k16 = 4096 FLOPs; × 4224 warps × 4 chains × 10 steps.
        assert_eq!(peak_mma_flops(&g, 16, 10), 4096 * 4224 * 4 * 10);
        assert_eq!(peak_fma_flops(&g, 1), 2 * 528 * 256 * 8);
    }
}
