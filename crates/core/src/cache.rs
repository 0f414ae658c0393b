//! Cold-cache sizing: how many input/output sets to rotate so no sample hits warm data.
//!
//! The cache to defeat is the device's last-level cache. A runtime does not always report
//! it: HIP's `hipDeviceAttributeL2CacheSize` is the L2 of one XCD (4 MB on an MI300X),
//! not its 256 MB Infinity Cache, and some runtimes report 0. So the size used is the
//! larger of the runtime's figure and the matched `hardware/*.toml` file's `llc_bytes`
//! ([`rotation_llc`]), and when neither knows, [`UNKNOWN_LLC_BYTES`].

use serde::{Deserialize, Serialize};

use crate::backend::CacheMode;
use crate::units::bytes_decimal;

/// The rotating working set must exceed the last-level cache by this factor
/// (docs/methodology.md: rotate ≥ 3× L2 / Infinity Cache): the cold guarantee, and the multiple
/// a plan aims for unless the device's hardware file asks for more (`cold_llc_multiple`).
pub const LLC_FACTOR: u64 = 3;

/// The most a cold plan rotates to reach a `cold_llc_multiple` above [`LLC_FACTOR`]: the
/// larger of 3× the LLC (the cold guarantee, never cut) and this many bytes. The extra
/// multiple is an empirical margin measured on a 32 MiB L3 (hardware/cpu-generic.toml); on a
/// CPU reporting a 480 MiB L3, 16× asked 8 GB per benchmark, capped only by a quarter of
/// the free memory at 6 GB, and filling it took 3-15 s of each cold benchmark on 2 cores
/// (more while the page cache had to give the memory back), for a cache that measured no
/// faster than memory at half its reported size. 2 GB keeps the 16× of any L3 up to 125 MB
/// whole, and at least 4× of the 480 MiB one.
pub const MARGIN_MAX_BYTES: u64 = 2_000_000_000;

/// Most sets allocated for rotation; tiny kernels beyond this rotate less and say so.
pub const MAX_SETS: u64 = 4096;

/// The last-level cache assumed when neither the runtime nor a hardware file gives one:
/// the largest of any GPU in `hardware/` (the 256 MB Infinity Cache of MI300X and MI325X;
/// a test checks that no built-in file exceeds it), so an unknown device rotates too much
/// rather than too little.
pub const UNKNOWN_LLC_BYTES: u64 = 256_000_000;

/// The last-level cache size a cold plan is made for, and where the figure comes from.
#[derive(Clone, Debug, PartialEq)]
pub struct LlcSize {
    /// Bytes.
    pub bytes: u64,
    /// Where the figure comes from, in words (recorded with every cold result).
    pub source: String,
    /// How many times `bytes` a cold rotation spans: [`LLC_FACTOR`], or more where the
    /// hardware file says its cache keeps part of a larger stream (`cold_llc_multiple`).
    pub multiple: u64,
}

/// The cache a cold plan must defeat: the larger of `runtime_bytes` (what the runtime
/// reports; 0 = unknown) and `hardware` (a hardware file's path, e.g.
/// `hardware/mi300x.toml`, and its `llc_bytes`); with neither, [`UNKNOWN_LLC_BYTES`].
pub fn rotation_llc(runtime_bytes: u64, hardware: Option<(&str, u64)>) -> LlcSize {
    let hardware = hardware.filter(|(_, b)| *b > 0);
    let runtime = (runtime_bytes > 0).then_some(runtime_bytes);
    let rt = |b: u64| {
        format!(
            "the runtime's last-level cache ({})",
            bytes_decimal(b as f64)
        )
    };
    let hw = |file: &str, b: u64| format!("{file} llc_bytes ({})", bytes_decimal(b as f64));
    let (bytes, source) = match (runtime, hardware) {
        (Some(r), Some((id, h))) if h > r => (h, format!("{}, larger than {}", hw(id, h), rt(r))),
        (Some(r), Some((id, h))) => (r, format!("{}, at least {}", rt(r), hw(id, h))),
        (Some(r), None) => (r, rt(r)),
        (None, Some((id, h))) => (h, format!("{} (the runtime reports none)", hw(id, h))),
        (None, None) => (
            UNKNOWN_LLC_BYTES,
            format!(
                "unknown: neither the runtime nor a hardware file gives a last-level cache, so {} is assumed (the largest of any built-in GPU)",
                bytes_decimal(UNKNOWN_LLC_BYTES as f64)
            ),
        ),
    };
    LlcSize {
        bytes,
        source,
        multiple: LLC_FACTOR,
    }
}

/// The hardware file a run was told to use (`--hardware`), for cold-cache sizing: its path
/// and `llc_bytes` (None when the file gives none). Given, it replaces the file matched by
/// the device's name, so a site file's larger cache is rotated past, in workers too.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LlcHint {
    /// The file, as [`crate::hardware::HardwareSpec::file_label`] names it.
    pub hardware: String,
    /// Its `llc_bytes`.
    pub bytes: Option<u64>,
    /// Its `cold_llc_multiple` (None: [`LLC_FACTOR`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiple: Option<u64>,
}

/// How cache state is controlled for one benchmark, recorded with its result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CacheRotation {
    /// `cold` or `hot`.
    pub mode: CacheMode,
    /// How: `rotate` (distinct buffer sets per iteration) or `reuse` (hot).
    pub method: String,
    /// Number of input/output sets rotated through.
    pub sets: usize,
    /// Bytes of one set.
    pub set_bytes: u64,
    /// Last-level cache size the plan was made for; 0 = unknown.
    pub llc_bytes: u64,
    /// Where `llc_bytes` comes from (runtime, hardware file, or assumed); empty in files
    /// written before it was recorded.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub llc_source: String,
    /// Rotated bytes ÷ LLC: ≥ 3 means the cold guarantee holds; 0 when the LLC is unknown.
    pub llc_multiple: f64,
    /// The multiple of the LLC the rotation aimed for ([`LlcSize::multiple`]); files
    /// written before it was recorded read as [`LLC_FACTOR`].
    #[serde(default = "llc_factor")]
    pub llc_target_multiple: u64,
}

fn llc_factor() -> u64 {
    LLC_FACTOR
}

impl CacheRotation {
    /// [`CacheRotation::for_llc`] for an LLC of `llc_bytes` whose source is not recorded.
    pub fn new(
        mode: CacheMode,
        set_bytes: u64,
        llc_bytes: u64,
        budget_bytes: u64,
    ) -> CacheRotation {
        let llc = LlcSize {
            bytes: llc_bytes,
            source: String::new(),
            multiple: LLC_FACTOR,
        };
        CacheRotation::for_llc(mode, set_bytes, llc, budget_bytes)
    }

    /// Plans rotation for a benchmark whose one set of inputs and outputs takes `set_bytes`,
    /// on a device whose last-level cache is `llc` (rotated `llc.multiple` times over, or
    /// [`MARGIN_MAX_BYTES`] where that is more than 3× and more than those bytes),
    /// spending at most `budget_bytes`. An LLC
    /// of 0 bytes is unknown: a cold plan then rotates at least two sets and never claims
    /// the cold guarantee (`llc_multiple` 0).
    pub fn for_llc(
        mode: CacheMode,
        set_bytes: u64,
        llc: LlcSize,
        budget_bytes: u64,
    ) -> CacheRotation {
        CacheRotation::for_touched(mode, set_bytes, set_bytes, llc, budget_bytes)
    }

    /// [`CacheRotation::for_llc`] for a benchmark whose iteration touches only
    /// `touched_bytes` of the `set_bytes` one set holds, the same bytes every time (the
    /// touched experts of `moe_gemm`): the sets wanted are counted on the touched bytes, the
    /// sets affordable on the whole set, and the rotated multiple of the LLC on the touched.
    pub fn for_touched(
        mode: CacheMode,
        set_bytes: u64,
        touched_bytes: u64,
        llc: LlcSize,
        budget_bytes: u64,
    ) -> CacheRotation {
        let set_bytes = set_bytes.max(1);
        let touched = touched_bytes.clamp(1, set_bytes);
        let llc_bytes = llc.bytes;
        let target_multiple = llc.multiple.max(LLC_FACTOR);
        let guarantee = LLC_FACTOR.saturating_mul(llc_bytes);
        let target = target_multiple
            .saturating_mul(llc_bytes)
            .min(guarantee.max(MARGIN_MAX_BYTES));
        let sets = match mode {
            CacheMode::Hot => 1,
            CacheMode::Cold => {
                let wanted = target.div_ceil(touched).max(1);
                // Consecutive iterations must not share a set when a single set fits in
                // cache, or when nobody knows how large the cache is.
                let wanted = if llc_bytes == 0 || touched < target {
                    wanted.max(2)
                } else {
                    wanted
                };
                let affordable = (budget_bytes / set_bytes).max(1);
                wanted.min(affordable).min(MAX_SETS)
            }
        };
        CacheRotation {
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
            llc_source: llc.source,
            llc_multiple: if llc_bytes == 0 {
                0.0
            } else {
                (sets * touched) as f64 / llc_bytes as f64
            },
            llc_target_multiple: target_multiple,
        }
    }

    /// True when a cold plan rotates at least 3× a known LLC.
    pub fn is_fully_cold(&self) -> bool {
        self.mode == CacheMode::Cold && self.llc_bytes > 0 && self.llc_multiple >= LLC_FACTOR as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1_000_000;

    fn llc(bytes: u64) -> LlcSize {
        LlcSize {
            bytes,
            source: "test".into(),
            multiple: LLC_FACTOR,
        }
    }

    #[test]
    fn a_partly_touched_set_is_rotated_on_its_touched_bytes() {
        // 805 MB allocated, 50 MB touched (moe_gemm's 8 experts of 128), a 32 MB LLC rotated
        // 16×: 512 MB wanted = ⌈512/50⌉ = 11 sets, but 5.7 GB affords ⌊5700/805⌋ = 7; the
        // multiple is 7·50/32 = 10.9375.
        let llc = LlcSize {
            bytes: 32 * MB,
            source: "test".into(),
            multiple: 16,
        };
        let p = CacheRotation::for_touched(CacheMode::Cold, 805 * MB, 50 * MB, llc, 5_700 * MB);
        assert_eq!((p.sets, p.set_bytes), (7, 805 * MB));
        assert_eq!(p.llc_multiple, 10.9375);
        // Touched bytes above the set are the set.
        let whole =
            CacheRotation::for_touched(CacheMode::Cold, 10 * MB, 99 * MB, llc_of(), 1 << 40);
        assert_eq!(
            whole,
            CacheRotation::for_llc(CacheMode::Cold, 10 * MB, llc_of(), 1 << 40)
        );
    }

    #[test]
    fn a_margin_above_three_times_stops_at_two_gigabytes() {
        let llc16 = |bytes| LlcSize {
            bytes,
            source: "test".into(),
            multiple: 16,
        };
        // A 503,316,480-byte L3 asked 16×: 8.05 GB, capped at 2 GB: ⌈2,000,000,000 /
        // 134,217,728⌉ = ⌈14.9⌉ = 15 sets of a 16 Mi f32 copy, 15·128 Mi / 480 Mi = 4×.
        let p = CacheRotation::for_llc(CacheMode::Cold, 128 << 20, llc16(503_316_480), 1 << 40);
        assert_eq!(p.sets, 15);
        assert_eq!(p.llc_multiple, 4.0);
        assert_eq!(p.llc_target_multiple, 16);
        assert!(p.is_fully_cold());
        // A 32 MiB L3 asked 16×: 512 MiB, under the cap: ⌈536,870,912 / 134,217,728⌉ = 4.
        let p = CacheRotation::for_llc(CacheMode::Cold, 128 << 20, llc16(32 << 20), 1 << 40);
        assert_eq!((p.sets, p.llc_multiple), (4, 16.0));
        // Never below 3×: a 1 GB cache asked 16× still rotates 3 GB = ⌈3e9 / 1e8⌉ = 30 sets.
        let p = CacheRotation::for_llc(CacheMode::Cold, 100 * MB, llc16(1_000 * MB), 1 << 40);
        assert_eq!((p.sets, p.llc_multiple), (30, 3.0));
    }

    fn llc_of() -> LlcSize {
        llc(50 * MB)
    }

    #[test]
    fn rotation_sizing_by_hand() {
        // H100: 50 MB L2, a 117.48 MB gemv set is below 3·50 = 150 MB: ⌈150/117.48⌉ = 2 sets.
        let p = CacheRotation::for_llc(CacheMode::Cold, 117_477_376, llc(50 * MB), 10_000 * MB);
        assert_eq!(p.sets, 2);
        assert!(p.is_fully_cold());
        // A 2 GB copy: one set is 13× the L2, no rotation needed.
        let p = CacheRotation::for_llc(CacheMode::Cold, 2_000 * MB, llc(50 * MB), 10_000 * MB);
        assert_eq!(p.sets, 1);
        // CPU: 32 MiB L3, 786,432-byte GEMM set: ⌈3·33,554,432 / 786,432⌉ = 128.
        let p = CacheRotation::for_llc(CacheMode::Cold, 786_432, llc(33_554_432), 10_000 * MB);
        assert_eq!(p.sets, 128);
        assert!((p.llc_multiple - 3.0).abs() < 1e-12);
        // Hot: always one set.
        assert_eq!(
            CacheRotation::for_llc(CacheMode::Hot, 10, llc(50 * MB), 1).sets,
            1
        );
    }

    #[test]
    fn budget_and_cap_limit_rotation() {
        // 1 kB sets on a 256 MB Infinity Cache want 768,000 sets: capped at 4096.
        let p = CacheRotation::for_llc(CacheMode::Cold, 1_000, llc(256 * MB), u64::MAX);
        assert_eq!(p.sets as u64, MAX_SETS);
        assert!(!p.is_fully_cold());
        // Budget of 100 MB for 40 MB sets: 2 sets although 4 are wanted.
        let p = CacheRotation::for_llc(CacheMode::Cold, 40 * MB, llc(50 * MB), 100 * MB);
        assert_eq!(p.sets, 2);
    }

    #[test]
    fn mi300x_rotates_past_its_infinity_cache_not_its_l2() {
        // HIP reports one XCD's L2, 4 MiB = 4,194,304 B; hardware/mi300x.toml says 256 MB.
        let l = rotation_llc(4_194_304, Some(("hardware/mi300x.toml", 256 * MB)));
        assert_eq!(l.bytes, 256_000_000);
        assert_eq!(
            l.source,
            "hardware/mi300x.toml llc_bytes (256 MB), larger than the runtime's last-level cache (4.19 MB)"
        );
        // The Llama-3-8B MLP decode GEMV (m=1, n=14336, k=4096, bf16): one set is
        // (4096 + 14336·4096 + 14336)·2 = 117,477,376 B. 3 × 256 MB = 768 MB →
        // ⌈768,000,000 / 117,477,376⌉ = ⌈6.537⌉ = 7 sets, 822,341,632 B = 3.212 × 256 MB.
        let p = CacheRotation::for_llc(CacheMode::Cold, 117_477_376, l, 190_000 * MB);
        assert_eq!(p.sets, 7);
        assert!((p.llc_multiple - 822_341_632.0 / 256e6).abs() < 1e-12);
        assert!(p.is_fully_cold());
        assert!(p.llc_source.starts_with("hardware/mi300x.toml"));
        // Sized from the L2 alone (the old behaviour), the same set is 28× the 4 MiB L2:
        // one set, which the Infinity Cache holds from one iteration to the next.
        let from_l2 =
            CacheRotation::for_llc(CacheMode::Cold, 117_477_376, llc(4_194_304), 190_000 * MB);
        assert_eq!(from_l2.sets, 1);
        // A 2 GB copy set is 7.8 × 256 MB on its own: no rotation needed.
        let p = CacheRotation::for_llc(
            CacheMode::Cold,
            2_000 * MB,
            rotation_llc(4_194_304, Some(("hardware/mi300x.toml", 256 * MB))),
            190_000 * MB,
        );
        assert_eq!((p.sets, p.llc_multiple), (1, 7.8125));
    }

    #[test]
    fn the_larger_figure_wins_and_unknown_is_never_cold() {
        // H100: CUDA reports 50 MiB = 52,428,800 B, the datasheet 50 MB: the runtime's wins.
        let l = rotation_llc(52_428_800, Some(("hardware/h100-sxm.toml", 50 * MB)));
        assert_eq!(l.bytes, 52_428_800);
        assert_eq!(
            l.source,
            "the runtime's last-level cache (52.4 MB), at least hardware/h100-sxm.toml llc_bytes (50.0 MB)"
        );
        // The runtime says 0 (unknown): the hardware file's figure.
        let l = rotation_llc(0, Some(("hardware/mi250x-gcd.toml", 8 * MB)));
        assert_eq!(l.bytes, 8 * MB);
        assert!(
            l.source.contains("the runtime reports none"),
            "{}",
            l.source
        );
        // Neither: the conservative default, said so.
        let l = rotation_llc(0, None);
        assert_eq!(l.bytes, UNKNOWN_LLC_BYTES);
        assert!(l.source.starts_with("unknown"), "{}", l.source);
        // A plan told the LLC is 0 bytes rotates two sets even for a 2 GB set and never
        // calls itself cold (the old code divided by zero into an infinite multiple).
        let p = CacheRotation::for_llc(CacheMode::Cold, 2_000 * MB, llc(0), 10_000 * MB);
        assert_eq!(p.sets, 2);
        assert_eq!(p.llc_multiple, 0.0);
        assert!(!p.is_fully_cold());
        // Without memory for a second set it stays at one, still not cold.
        let p = CacheRotation::for_llc(CacheMode::Cold, 2_000 * MB, llc(0), 2_000 * MB);
        assert_eq!(p.sets, 1);
        assert!(!p.is_fully_cold());
    }

    #[test]
    fn the_unknown_default_covers_every_builtin_last_level_cache() {
        let all = crate::hardware::builtin().unwrap();
        let largest = all.iter().filter_map(|s| s.llc_bytes).max().unwrap();
        assert_eq!(largest, UNKNOWN_LLC_BYTES, "MI300X/MI325X: 256 MB");
    }
}
