//! FLOPs and compulsory bytes per op (docs/methodology.md, "Cost model").

use serde::{Deserialize, Serialize};

use super::OpSpec;
use crate::error::Result;

/// The work of one execution: floating-point operations and compulsory DRAM bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Work {
    /// Floating-point operations (a multiply-add counts 2).
    pub flops: u64,
    /// Bytes that must cross the memory bus at least once.
    pub bytes: u64,
}

impl Work {
    /// Arithmetic intensity in FLOP per byte; `None` when no bytes move.
    pub fn intensity(&self) -> Option<f64> {
        (self.bytes > 0).then(|| self.flops as f64 / self.bytes as f64)
    }
}

/// Saturating u64 arithmetic for the cost formulas: a shape too large to count (a product
/// past u64::MAX) gives u64::MAX instead of wrapping to a small, plausible-looking number,
/// and [`crate::runner::check_fits`] then rejects it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Sat(pub u64);

impl std::ops::Mul for Sat {
    type Output = Sat;
    fn mul(self, rhs: Sat) -> Sat {
        Sat(self.0.saturating_mul(rhs.0))
    }
}

impl std::ops::Add for Sat {
    type Output = Sat;
    fn add(self, rhs: Sat) -> Sat {
        Sat(self.0.saturating_add(rhs.0))
    }
}

impl std::ops::Div for Sat {
    type Output = Sat;
    fn div(self, rhs: Sat) -> Sat {
        Sat(self.0 / rhs.0)
    }
}

pub(super) fn work(spec: &OpSpec) -> Result<Work> {
    let (flops, bytes) = crate::ops::def(spec.op).work(spec)?;
    Ok(Work {
        flops: flops.0,
        bytes: bytes.0,
    })
}

#[cfg(test)]
mod tests {
    use crate::dtype::DType;
    use crate::op::{OpKind, OpSpec, Work};

    fn work(op: OpKind, shape: &str, dtype: DType) -> Work {
        OpSpec::parse(op, shape, dtype).unwrap().work().unwrap()
    }

    #[test]
    fn gemv_llama_mlp_up_by_hand() {
        // 2·1·14336·4096 = 117,440,512; (4096 + 58,720,256 + 14,336)·2 = 117,477,376.
        let w = work(OpKind::Gemv, "m=1,n=14336,k=4096", DType::Bf16);
        assert_eq!(w.flops, 117_440_512);
        assert_eq!(w.bytes, 117_477_376);
    }

    #[test]
    fn gemm_256_cubed_f32_by_hand() {
        // 2·256³ = 33,554,432; 3·65,536·4 = 786,432.
        let w = work(OpKind::Gemm, "m=256,n=256,k=256", DType::F32);
        assert_eq!(w.flops, 33_554_432);
        assert_eq!(w.bytes, 786_432);
        assert!((w.intensity().unwrap() - 42.666_666).abs() < 1e-4);
    }

    #[test]
    fn attention_prefill_by_hand() {
        // 4·1·32·4096²·128 = 274,877,906,944; causal halves it to 137,438,953,472.
        // bytes: 1·4096·128·(64 + 16)·2 = 83,886,080.
        let causal = work(OpKind::AttnPrefill, "seq=4096", DType::Bf16);
        assert_eq!(causal.flops, 137_438_953_472);
        assert_eq!(causal.bytes, 83_886_080);
        let full = work(OpKind::AttnPrefill, "seq=4096,causal=0", DType::Bf16);
        assert_eq!(full.flops, 274_877_906_944);
    }

    #[test]
    fn attention_decode_by_hand() {
        // flops 4·1·32·4096·128 = 67,108,864.
        // bytes: 4096·8·128·2·2 = 16,777,216 (K+V) + 32·128·2·2 = 16,384 (q in, o out).
        let w = work(OpKind::AttnDecode, "batch=1,context=4096", DType::Bf16);
        assert_eq!(w.flops, 67_108_864);
        assert_eq!(w.bytes, 16_793_600);
        let b16 = work(OpKind::AttnDecode, "batch=16,context=4096", DType::Bf16);
        assert_eq!(b16.bytes, 16 * 16_793_600);
    }

    #[test]
    fn kv_and_stream_by_hand() {
        // 4·4096·8·128·2 = 33,554,432 for both directions.
        for op in [OpKind::KvWrite, OpKind::KvRead] {
            let w = work(op, "tokens=4096", DType::Bf16);
            assert_eq!((w.flops, w.bytes), (0, 33_554_432));
        }
        let n = "elements=1000";
        assert_eq!(work(OpKind::Copy, n, DType::F32).bytes, 8000);
        assert_eq!(work(OpKind::Read, n, DType::F32).bytes, 4000);
        assert_eq!(work(OpKind::Write, n, DType::Bf16).bytes, 2000);
        let triad = work(OpKind::Triad, n, DType::F32);
        assert_eq!((triad.flops, triad.bytes), (2000, 12000));
        assert_eq!(work(OpKind::PeakMma, "", DType::F32).intensity(), None);
    }
}
