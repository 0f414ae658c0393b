//! Reference of `moe_gemm`: y[t,c] = Σ_j topk_weights[t,j]·Σ_e x[t,e]·w[topk_ids[t,j],c,e],
//! summed in f64 straight from the routing (no permutation). A block is a segment of one
//! output row ([`segment`] columns), so a check of a wide row samples parts of it.

use super::MoeShape;
use crate::error::Result;
use crate::inputs::Inputs;
use crate::op::OpSpec;
use crate::reference::{expect_len, indices, OpReference};
use crate::tensor::HostTensor;

/// Columns per reference block: the largest divisor of `n` up to 128.
pub fn segment(n: usize) -> usize {
    (1..=n.min(128))
        .rev()
        .find(|d| n.is_multiple_of(*d))
        .unwrap_or(1)
}

/// Reference of `moe_gemm`.
pub struct MoeGemm<'a> {
    x: &'a HostTensor,
    w: &'a HostTensor,
    weights: &'a HostTensor,
    ids: Vec<usize>,
    top_k: usize,
    n: usize,
    k: usize,
    seg: usize,
}

impl<'a> MoeGemm<'a> {
    /// Binds the inputs and checks their sizes and that every id names an expert.
    pub fn new(spec: &OpSpec, inputs: &'a Inputs) -> Result<Self> {
        let (t, e, top_k, n, k) = MoeShape::of(spec)?.sizes();
        let (x, w) = (inputs.get("x")?, inputs.get("w")?);
        let (ids, weights) = (inputs.get("topk_ids")?, inputs.get("topk_weights")?);
        expect_len(x, t * k)?;
        expect_len(w, e * n * k)?;
        expect_len(ids, t * top_k)?;
        expect_len(weights, t * top_k)?;
        Ok(MoeGemm {
            x,
            w,
            weights,
            ids: indices(ids, e)?,
            top_k,
            n,
            k,
            seg: segment(n),
        })
    }
}

impl OpReference for MoeGemm<'_> {
    fn blocks(&self) -> usize {
        self.ids.len() / self.top_k * (self.n / self.seg)
    }

    fn block_len(&self) -> usize {
        self.seg
    }

    fn block_cost(&self) -> f64 {
        (self.seg * self.top_k * self.k) as f64
    }

    fn compute(&self, block: usize, out: &mut [f64]) {
        let per_row = self.n / self.seg;
        let (t, c0) = (block / per_row, block % per_row * self.seg);
        let k = self.k;
        out.fill(0.0);
        for j in 0..self.top_k {
            let slot = t * self.top_k + j;
            let (expert, gate) = (self.ids[slot], self.weights.get_f64(slot));
            for (i, o) in out.iter_mut().enumerate() {
                let row = (expert * self.n + c0 + i) * k;
                let dot: f64 = (0..k)
                    .map(|e| self.x.get_f64(t * k + e) * self.w.get_f64(row + e))
                    .sum();
                *o += gate * dot;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::op::OpKind;

    #[test]
    fn segments_divide_the_row() {
        assert_eq!(segment(7168), 128);
        assert_eq!(segment(192), 96);
        assert_eq!(segment(131), 1);
        assert_eq!(segment(5), 5);
    }

    #[test]
    fn two_tokens_by_hand() {
        // 3 experts of n=2 rows, k=2: expert e row c = [e + c, 1]. x₀ = [1, 2], x₁ = [3, −1].
        // Token 0 → experts (2, 0) weights (0.75, 0.25): rows of 2: [2,1]·x₀ = 4, [3,1]·x₀ = 5;
        // of 0: [0,1]·x₀ = 2, [1,1]·x₀ = 3 → y₀ = [0.75·4 + 0.25·2, 0.75·5 + 0.25·3] = [3.5, 4.5].
        // Token 1 → experts (1, 2) weights (0.5, 0.5): of 1: [1,1]·x₁ = 2, [2,1]·x₁ = 5; of 2:
        // [2,1]·x₁ = 5, [3,1]·x₁ = 8 → y₁ = [3.5, 6.5].
        let spec = OpSpec::parse(
            OpKind::MoeGemm,
            "tokens=2,experts=3,top_k=2,n=2,k=2",
            DType::F32,
        )
        .unwrap();
        let mut w = vec![];
        for e in 0..3 {
            for c in 0..2 {
                w.extend([(e + c) as f32, 1.0]);
            }
        }
        let inputs = Inputs {
            fp8: Default::default(),
            tensors: vec![
                HostTensor::from_f32("x", vec![2, 2], DType::F32, &[1.0, 2.0, 3.0, -1.0]),
                HostTensor::from_f32("w", vec![3, 2, 2], DType::F32, &w),
                HostTensor::from_i32("topk_ids", vec![2, 2], vec![2, 0, 1, 2]),
                HostTensor::from_f32(
                    "topk_weights",
                    vec![2, 2],
                    DType::F32,
                    &[0.75, 0.25, 0.5, 0.5],
                ),
            ],
        };
        let r = MoeGemm::new(&spec, &inputs).unwrap();
        assert_eq!((r.blocks(), r.block_len()), (2, 2));
        assert_eq!(r.expected_output(), vec![3.5, 4.5, 3.5, 6.5]);
    }
}
