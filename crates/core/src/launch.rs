//! Launch geometry of every kernel, exactly as `kernels/README.md` states it, shared by the CUDA
//! and ROCm backends (the kernels use 32-lane groups on both, so the geometry is the same:
//! an AMD wavefront of 64 holds two groups). Pure functions of the shape and the SM/CU
//! count, tested without a GPU; and the shared-memory check every launch passes.

use crate::error::{Error, Result};

/// Grid and block dimensions of one launch, and its dynamic shared memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Blocks in x, y, z.
    pub grid: (u32, u32, u32),
    /// Threads per block in x, y, z.
    pub block: (u32, u32, u32),
    /// Dynamic shared memory per block, bytes: what the kernel's `extern __shared__` array
    /// gets (attn_decode's ring); 0 for kernels whose shared memory is all static.
    pub shared_bytes: u32,
}

/// Shared memory (LDS) one workgroup may use on AMD CDNA (gfx908, gfx90a, gfx942): 64 KiB,
/// `HP_SMEM_LIMIT` of `kernels/hotpath_common.cuh` on HIP. The limit assumed when the
/// runtime does not report its own.
pub const AMD_LDS_BYTES: u64 = 65_536;

/// Static shared memory one block may declare on NVIDIA without an opt-in: 48 KiB,
/// `HP_SMEM_LIMIT` of the header on CUDA. The limit assumed when the driver does not say.
pub const NVIDIA_STATIC_SMEM_BYTES: u64 = 49_152;

/// A grid of `grid` blocks (each at least 1, saturating at `u32::MAX`, which every device's
/// limit refuses: [`crate::target::Target::check_grid`]) of `threads` threads, no dynamic
/// shared memory.
pub fn grid(grid: (u64, u64, u64), threads: u32) -> Geometry {
    let clamp = |v: u64| v.clamp(1, u32::MAX as u64) as u32;
    Geometry {
        grid: (clamp(grid.0), clamp(grid.1), clamp(grid.2)),
        block: (threads, 1, 1),
        shared_bytes: 0,
    }
}

impl Geometry {
    /// Threads per block.
    pub fn threads(&self) -> u64 {
        self.block.0 as u64 * self.block.1 as u64 * self.block.2 as u64
    }

    /// Hardware thread groups per block for a group of `width` lanes (32 on NVIDIA, the
    /// wavefront size on AMD: 64 on CDNA), a partial group counting as one.
    pub fn groups(&self, width: u32) -> u64 {
        self.threads().div_ceil(width.max(1) as u64)
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
    grid((blocks, 1, 1), STREAM_THREADS)
}

/// `hp_read_*`: `min(⌈n/(256·16/size)⌉, 8·SMs)` blocks, one partial sum each.
pub fn read(n: u64, elem_bytes: u64, sms: u32) -> Geometry {
    let per_block = STREAM_THREADS as u64 * 16 / elem_bytes.max(1);
    let blocks = n.div_ceil(per_block).min(8 * sms as u64);
    grid((blocks, 1, 1), STREAM_THREADS)
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
    grid((n.div_ceil(8), splits as u64, 1), 256)
}

/// `hp_gemv_finish_*` and other elementwise epilogues: `⌈count/256⌉` × 256.
pub fn elementwise(count: u64) -> Geometry {
    grid((count.div_ceil(256), 1, 1), 256)
}

/// `hp_gemm_*`: `(⌈n/128⌉, ⌈m/128⌉)` × 256.
pub fn gemm(m: u64, n: u64) -> Geometry {
    grid((n.div_ceil(128), m.div_ceil(128), 1), 256)
}

/// `hp_attn_prefill_*`: `(⌈seq/64⌉, hq, batch)` × 128.
pub fn attn_prefill(batch: u64, seq: u64, hq: u64) -> Geometry {
    grid((seq.div_ceil(64), hq, batch), 128)
}

/// `hp_l2_read_*`: `min(⌈n/(256·16/size)⌉, 8·SMs)` blocks of 256 (as `hp_read_*`), every
/// block reading its share `passes` times; the last block to finish sums the partials.
pub fn l2_read(n: u64, elem_bytes: u64, sms: u32) -> Geometry {
    read(n, elem_bytes, sms)
}

/// `hp_kv_write_*`, `hp_kv_read_*`: one block of 128 per token.
pub fn kv(tokens: u64) -> Geometry {
    grid((tokens, 1, 1), 128)
}

/// `hp_peak_fma_f32`, `hp_peak_mma_*`: `4·SMs` × 256.
pub fn peak(sms: u32) -> Geometry {
    grid((4 * sms as u64, 1, 1), 256)
}

/// `hp_peak_wgmma_*` (sm_90a): `2·SMs` blocks of one warpgroup (128 threads), two per SM
/// (128 accumulator registers per thread leave room for two).
pub fn peak_wgmma(sms: u32) -> Geometry {
    grid((2 * sms as u64, 1, 1), 128)
}

/// Output lanes of `hp_peak_wgmma_*`: two m64n128 accumulator sets of 64 floats per thread.
pub fn peak_wgmma_lanes(g: &Geometry) -> u64 {
    g.blocks() * g.block.0 as u64 * 128
}

/// FLOPs of one `hp_peak_wgmma_*` launch: two `wgmma m64n128kK` (2·64·128·K FLOPs each) per
/// warpgroup and step (K = 16 for f16/bf16, 32 for fp8).
pub fn peak_wgmma_flops(g: &Geometry, mma_k: u64, iters: u64) -> u64 {
    2 * (2 * 64 * 128 * mma_k) * g.blocks() * (g.block.0 as u64 / 128) * iters
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

/// Refuses a launch of `function` whose shared memory per block, `static_bytes` (what the
/// compiled kernel declares, as the runtime reports it) plus the geometry's dynamic
/// `shared_bytes`, exceeds `limit_bytes`, the most one block gets on `device`.
pub fn check_shared_memory(
    function: &str,
    static_bytes: u64,
    geometry: &Geometry,
    limit_bytes: u64,
    device: &str,
) -> Result<()> {
    let dynamic = geometry.shared_bytes as u64;
    let need = static_bytes.saturating_add(dynamic);
    if need <= limit_bytes {
        return Ok(());
    }
    Err(Error::unsupported(format!(
        "{function} needs {need} B of shared memory per block ({static_bytes} B static + {dynamic} B dynamic) but {device} allows {limit_bytes} B per block, so it is not launched"
    )))
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
        // wgmma: 264 warpgroups × 2 × m64n128k16 (262,144 FLOPs) per step.
        let w = peak_wgmma(H100_SMS);
        assert_eq!((w.grid.0, w.block.0), (264, 128));
        assert_eq!(peak_wgmma_flops(&w, 16, 10), 264 * 2 * 262_144 * 10);
        assert_eq!(peak_wgmma_flops(&w, 32, 1), 264 * 2 * 524_288);
        assert_eq!(peak_wgmma_lanes(&w), 264 * 128 * 128);
    }

    #[test]
    fn launches_over_the_shared_memory_limit_are_refused() {
        // The NVIDIA gemm declares 3 stages × (128×32 + 128×32) × 2 B = 49,152 B: exactly the
        // 48 KiB static limit. On CDNA's 64 KiB LDS it would fit; 73,728 B would not.
        let g = gemm(4096, 4096);
        assert!(
            check_shared_memory("hp_gemm_bf16", 49_152, &g, NVIDIA_STATIC_SMEM_BYTES, "H100")
                .is_ok()
        );
        assert!(check_shared_memory("hp_gemm_bf16", 49_152, &g, AMD_LDS_BYTES, "MI300X").is_ok());
        let err = check_shared_memory(
            "hp_gemm_bf16",
            73_728,
            &g,
            AMD_LDS_BYTES,
            "AMD Instinct MI300X (gfx942)",
        )
        .unwrap_err();
        assert!(matches!(err, Error::Unsupported(_)));
        assert_eq!(
            err.to_string(),
            "hp_gemm_bf16 needs 73728 B of shared memory per block (73728 B static + 0 B dynamic) but AMD Instinct MI300X (gfx942) allows 65536 B per block, so it is not launched"
        );
        // Dynamic shared memory counts too: the AMD gemm's 18,432 B of LDS plus 48 KiB.
        let with_dynamic = Geometry {
            shared_bytes: 49_152,
            ..g
        };
        assert!(check_shared_memory(
            "hp_gemm_bf16",
            18_432,
            &with_dynamic,
            AMD_LDS_BYTES,
            "gfx90a"
        )
        .is_err());
        assert!(check_shared_memory(
            "hp_gemm_bf16",
            16_384,
            &with_dynamic,
            AMD_LDS_BYTES,
            "gfx90a"
        )
        .is_ok());
    }

    #[test]
    fn the_host_limits_are_the_headers() {
        let header = crate::kernels::COMMON_HEADER;
        assert!(header.contains(&format!("#define HP_SMEM_LIMIT {AMD_LDS_BYTES}")));
        assert!(header.contains(&format!("#define HP_SMEM_LIMIT {NVIDIA_STATIC_SMEM_BYTES}")));
    }
}
