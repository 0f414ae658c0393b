//! The device facts a launch plan depends on: the kernel target, the SM/CU count, how much
//! shared memory a block may take (after the opt-in) and an SM holds, and the largest grid.
//! A backend reads them from its driver; tests, `hotpath kernels plan` and the kernel
//! emulator name them. Plans are pure functions of an op and a [`Target`].

use crate::error::{Error, Result};
use crate::fp8::Fp8Encoding;
pub use crate::launch::{AMD_LDS_BYTES, NVIDIA_STATIC_SMEM_BYTES};

/// What a launch plan needs to know about the device it runs on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The compiler target the kernels are built for: `sm_90a`, `sm_89`, `gfx942`, ...
    pub arch: String,
    /// Streaming multiprocessors (NVIDIA) or compute units (AMD).
    pub units: u32,
    /// Most shared memory (LDS) one block may use, dynamic opt-in included, bytes.
    pub smem_per_block: u64,
    /// Shared memory (LDS) of one SM/CU, bytes: how many blocks can be resident at once.
    pub smem_per_unit: u64,
    /// Most threads resident on one SM/CU.
    pub threads_per_unit: u32,
    /// The largest grid, blocks in x, y and z.
    pub grid_max: (u32, u32, u32),
    /// Blocks of the decode-attention kernel resident per SM/CU as the runtime reports it
    /// (its occupancy query, which counts registers too); `None`: estimated from shared
    /// memory and threads.
    pub decode_resident: Option<u32>,
    /// A split count forced on `attn_decode` (`hotpath kernels plan --splits`, the kernel
    /// emulator); `None`: chosen to fill whole waves.
    pub decode_splits: Option<u32>,
}

impl Target {
    /// True for an AMD (HIP) target.
    pub fn is_amd(&self) -> bool {
        self.arch.starts_with("gfx")
    }

    /// The fp8 encoding the kernels built for this target take: e4m3fnuz on gfx940/941/942
    /// (`HP_FP8_FNUZ` in `kernels/hotpath_common.cuh`), OCP e4m3 elsewhere.
    pub fn fp8_encoding(&self) -> Fp8Encoding {
        Fp8Encoding::for_arch(&self.arch)
    }

    /// True when the hotpath kernels take their wgmma path here (Hopper `sm_90a`).
    pub fn has_wgmma(&self) -> bool {
        self.arch == "sm_90a"
    }

    /// True when `mma.sync` e4m3 runs on the tensor cores: sm_89 (Ada) only. Hopper runs fp8
    /// through wgmma (`sm_90a`) and emulates `mma.sync` e4m3 with other instructions.
    pub fn has_fp8_mma_sync(&self) -> bool {
        self.arch == "sm_89"
    }

    /// An NVIDIA H100/H200 SXM as the CUDA driver reports it (132 SMs, 227 KiB of shared
    /// memory per block after the opt-in, 228 KiB per SM, 2048 threads per SM, grid limits
    /// 2³¹−1 × 65535 × 65535): the default of `hotpath kernels plan` and of the emulator.
    pub fn h100() -> Target {
        Target {
            arch: "sm_90a".into(),
            units: 132,
            smem_per_block: 232_448,
            smem_per_unit: 233_472,
            threads_per_unit: 2048,
            grid_max: (i32::MAX as u32, 65_535, 65_535),
            decode_resident: None,
            decode_splits: None,
        }
    }

    /// An NVIDIA device of `units` SMs with the static 48 KiB shared-memory limit only.
    pub fn nvidia(arch: &str, units: u32) -> Target {
        Target {
            arch: arch.into(),
            units,
            smem_per_block: NVIDIA_STATIC_SMEM_BYTES,
            smem_per_unit: 2 * NVIDIA_STATIC_SMEM_BYTES,
            ..Target::h100()
        }
    }

    /// An AMD CDNA device (gfx908/gfx90a/gfx942) of `units` compute units: 64 KiB of LDS
    /// per workgroup and per CU, 2560 threads per CU (40 wavefronts of 64), grid limits
    /// 2³¹−1 in every dimension.
    pub fn amd(arch: &str, units: u32) -> Target {
        Target {
            arch: arch.into(),
            units,
            smem_per_block: AMD_LDS_BYTES,
            smem_per_unit: AMD_LDS_BYTES,
            threads_per_unit: 2560,
            grid_max: (i32::MAX as u32, i32::MAX as u32, i32::MAX as u32),
            decode_resident: None,
            decode_splits: None,
        }
    }

    /// Blocks of `threads` threads using `smem` bytes of shared memory each that fit on one
    /// SM/CU by shared memory and threads alone (registers are the runtime's to count: see
    /// [`Target::decode_resident`]); at least 1.
    pub fn resident_blocks(&self, threads: u32, smem: u64) -> u32 {
        // The CUDA driver reserves 1 KiB of shared memory per resident block.
        let reserved = if self.is_amd() { 0 } else { 1024 };
        let by_smem = self.smem_per_unit / (smem + reserved).max(1);
        let by_threads = (self.threads_per_unit / threads.max(1)) as u64;
        by_smem.min(by_threads).clamp(1, 32) as u32
    }

    /// Refuses a grid over [`Target::grid_max`] with one sentence naming `function`.
    pub fn check_grid(&self, function: &str, grid: (u64, u64, u64)) -> Result<()> {
        let (mx, my, mz) = self.grid_max;
        for (axis, want, most) in [
            ("x", grid.0, mx as u64),
            ("y", grid.1, my as u64),
            ("z", grid.2, mz as u64),
        ] {
            if want > most {
                return Err(Error::unsupported(format!(
                    "{function} needs a grid of {} × {} × {} blocks but {} allows at most {most} in {axis}, so it is not launched",
                    grid.0, grid.1, grid.2, self.arch
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resident_blocks_follow_shared_memory_and_threads() {
        let h = Target::h100();
        // 68 KiB + 1 KiB reserved = 70,656 B: 233,472 / 70,656 = 3.3 → 3 blocks.
        assert_eq!(h.resident_blocks(128, 69_632), 3);
        // No shared memory: 2048 / 128 = 16 blocks by threads.
        assert_eq!(h.resident_blocks(128, 0), 16);
        // More than an SM holds still counts one (the launch check refuses it separately).
        assert_eq!(h.resident_blocks(128, 300_000), 1);
        // MI300X: 64 KiB LDS per CU, no reservation: two 32 KiB blocks.
        assert_eq!(Target::amd("gfx942", 304).resident_blocks(256, 32_768), 2);
    }

    #[test]
    fn grids_over_the_limit_are_refused_with_a_sentence() {
        let h = Target::h100();
        assert!(h.check_grid("hp_x", (1 << 20, 65_535, 1)).is_ok());
        let err = h
            .check_grid("hp_attn_decode_bf16_d128_g4", (4, 8, 70_000))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "hp_attn_decode_bf16_d128_g4 needs a grid of 4 × 8 × 70000 blocks but sm_90a allows at most 65535 in z, so it is not launched"
        );
        assert!(matches!(err, Error::Unsupported(_)));
        assert!(Target::amd("gfx942", 304)
            .check_grid("hp_x", (1, 1, 70_000))
            .is_ok());
    }
}
