//! Roofs and where a benchmark sits under them.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::dtype::DType;
use crate::op::{OpKind, Work};

/// A pair of roofs: memory bandwidth and peak FLOP/s per dtype (either may be unknown).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Roofs {
    /// DRAM bandwidth in bytes per second.
    pub mem_bytes_per_s: Option<f64>,
    /// Peak FLOP/s keyed by dtype name.
    #[serde(default)]
    pub peak_flops: BTreeMap<String, f64>,
    /// Roofs raised to a benchmark's rate, keyed `mem_bytes_per_s` or `peak_flops.<dtype>`,
    /// valued by that benchmark's id: it stayed above the roof its ceiling measured after the
    /// ceiling was measured again ("roof set by <id>"). Empty for most runs.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub set_by: BTreeMap<String, String>,
}

/// Which roof limits a benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// Limited by memory bandwidth.
    Memory,
    /// Limited by compute throughput.
    Compute,
    /// A roof it needs is not known.
    Unknown,
}

/// The lowest time `work` can take under `roofs` and which roof sets it, or `None` when a
/// roof it needs is unknown. Stream ceilings (copy/read/write/triad) only need bandwidth:
/// triad's two FLOPs per element are never the limit.
pub fn floor_s(op: OpKind, dtype: DType, work: Work, roofs: &Roofs) -> Option<(f64, Bound)> {
    // Cache, launch and PCIe ceilings are not under the DRAM/compute roofs: they are roofs.
    if op.is_off_roofline() {
        return None;
    }
    let mem = if work.bytes > 0 {
        Some(work.bytes as f64 / roofs.mem_bytes_per_s?)
    } else {
        None
    };
    let stream = op.is_streaming_ceiling();
    let compute = if work.flops > 0 && !stream {
        Some(work.flops as f64 / *roofs.peak_flops.get(dtype.name())?)
    } else {
        None
    };
    match (mem, compute) {
        (Some(m), Some(c)) if c > m => Some((c, Bound::Compute)),
        (Some(m), _) => Some((m, Bound::Memory)),
        (None, Some(c)) => Some((c, Bound::Compute)),
        (None, None) => None,
    }
}

/// Efficiency (floor ÷ measured time, 1.0 = on the roof) and bound, when the roofs are known.
pub fn efficiency(
    op: OpKind,
    dtype: DType,
    work: Work,
    roofs: &Roofs,
    time_s: f64,
) -> Option<(f64, Bound)> {
    floor_s(op, dtype, work, roofs).map(|(floor, bound)| (floor / time_s, bound))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h100() -> Roofs {
        Roofs {
            mem_bytes_per_s: Some(3.35e12),
            peak_flops: BTreeMap::from([("bf16".to_string(), 9.894e14)]),
            set_by: BTreeMap::new(),
        }
    }

    #[test]
    fn gemv_is_memory_bound_on_h100() {
        // 117,477,376 B / 3.35e12 B/s = 35.067 µs; 117,440,512 FLOP / 9.894e14 = 0.1187 µs.
        let w = Work {
            flops: 117_440_512,
            bytes: 117_477_376,
        };
        let (floor, bound) = floor_s(OpKind::Gemv, DType::Bf16, w, &h100()).unwrap();
        assert_eq!(bound, Bound::Memory);
        assert!((floor - 35.067_873e-6).abs() < 1e-11, "{floor}");
        // Measured 40 µs → 87.67 % of the spec roof.
        let (eff, _) = efficiency(OpKind::Gemv, DType::Bf16, w, &h100(), 40e-6).unwrap();
        assert!((eff - 0.876_697).abs() < 1e-6, "{eff}");
    }

    #[test]
    fn big_gemm_is_compute_bound_and_unknown_peaks_give_none() {
        // 4096³: 2·4096³ = 137,438,953,472 FLOP / 9.894e14 = 138.9 µs; bytes 100,663,296 / 3.35e12 = 30 µs.
        let w = Work {
            flops: 137_438_953_472,
            bytes: 100_663_296,
        };
        let (floor, bound) = floor_s(OpKind::Gemm, DType::Bf16, w, &h100()).unwrap();
        assert_eq!(bound, Bound::Compute);
        assert!((floor - 138.911e-6).abs() < 1e-9, "{floor}");
        assert_eq!(floor_s(OpKind::Gemm, DType::F32, w, &h100()), None);
        // Triad needs bandwidth only: 3 GB at 3.35 TB/s.
        let t = Work {
            flops: 2_000_000_000,
            bytes: 3_000_000_000,
        };
        let (floor, bound) = floor_s(OpKind::Triad, DType::F32, t, &h100()).unwrap();
        assert_eq!(bound, Bound::Memory);
        assert!((floor - 3e9 / 3.35e12).abs() < 1e-15);
    }
}
