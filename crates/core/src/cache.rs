//! Cold-cache sizing: how many input/output sets to rotate so no sample hits warm data.

use serde::{Deserialize, Serialize};

use crate::backend::CacheMode;

/// The rotating working set must exceed the last-level cache by this factor
/// (METHODOLOGY.md: rotate ≥ 3× L2 / Infinity Cache).
pub const LLC_FACTOR: u64 = 3;

/// Most sets allocated for rotation; tiny kernels beyond this rotate less and say so.
pub const MAX_SETS: u64 = 4096;

/// How cache state is controlled for one benchmark, recorded with its result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CachePlan {
    /// `cold` or `hot`.
    pub mode: CacheMode,
    /// How: `rotate` (distinct buffer sets per iteration) or `reuse` (hot).
    pub method: String,
    /// Number of input/output sets rotated through.
    pub sets: usize,
    /// Bytes of one set.
    pub set_bytes: u64,
    /// Last-level cache size the plan was made for.
    pub llc_bytes: u64,
    /// Rotated bytes ÷ LLC: ≥ 3 means the cold guarantee holds.
    pub llc_multiple: f64,
}

impl CachePlan {
    /// Plans rotation for a benchmark whose one set of inputs and outputs takes `set_bytes`,
    /// on a device with `llc_bytes` of last-level cache, spending at most `budget_bytes`.
    pub fn new(mode: CacheMode, set_bytes: u64, llc_bytes: u64, budget_bytes: u64) -> CachePlan {
        let set_bytes = set_bytes.max(1);
        let sets = match mode {
            CacheMode::Hot => 1,
            CacheMode::Cold => {
                let wanted = (LLC_FACTOR * llc_bytes).div_ceil(set_bytes).max(1);
                // Consecutive iterations must not share a set when a single set fits in cache.
                let wanted = if set_bytes < LLC_FACTOR * llc_bytes {
                    wanted.max(2)
                } else {
                    wanted
                };
                let affordable = (budget_bytes / set_bytes).max(1);
                wanted.min(affordable).min(MAX_SETS)
            }
        };
        CachePlan {
            mode,
            method: if mode == CacheMode::Hot {
                "reuse"
            } else {
                "rotate"
            }
            .to_string(),
            sets: sets as usize,
            set_bytes,
            llc_bytes,
            llc_multiple: if llc_bytes == 0 {
                f64::INFINITY
            } else {
                (sets * set_bytes) as f64 / llc_bytes as f64
            },
        }
    }

    /// True when a cold plan rotates at least 3× the LLC.
    pub fn is_fully_cold(&self) -> bool {
        self.mode == CacheMode::Cold && self.llc_multiple >= LLC_FACTOR as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1_000_000;

    #[test]
    fn rotation_sizing_by_hand() {
        // H100: 50 MB L2, a 117.48 MB gemv set is below 3·50 = 150 MB: ⌈150/117.48⌉ = 2 sets.
        let p = CachePlan::new(CacheMode::Cold, 117_477_376, 50 * MB, 10_000 * MB);
        assert_eq!(p.sets, 2);
        assert!(p.is_fully_cold());
        // A 2 GB copy: one set is 13× the L2, no rotation needed.
        let p = CachePlan::new(CacheMode::Cold, 2_000 * MB, 50 * MB, 10_000 * MB);
        assert_eq!(p.sets, 1);
        // CPU: 32 MiB L3, 786,432-byte GEMM set: ⌈3·33,554,432 / 786,432⌉ = 128.
        let p = CachePlan::new(CacheMode::Cold, 786_432, 33_554_432, 10_000 * MB);
        assert_eq!(p.sets, 128);
        assert!((p.llc_multiple - 3.0).abs() < 1e-12);
        // Hot: always one set.
        assert_eq!(CachePlan::new(CacheMode::Hot, 10, 50 * MB, 1).sets, 1);
    }

    #[test]
    fn budget_and_cap_limit_rotation() {
        // 1 kB sets on a 256 MB Infinity Cache want 768,000 sets: capped at 4096.
        let p = CachePlan::new(CacheMode::Cold, 1_000, 256 * MB, u64::MAX);
        assert_eq!(p.sets as u64, MAX_SETS);
        assert!(!p.is_fully_cold());
        // Budget of 100 MB for 40 MB sets: 2 sets although 4 are wanted.
        let p = CachePlan::new(CacheMode::Cold, 40 * MB, 50 * MB, 100 * MB);
        assert_eq!(p.sets, 2);
    }
}
