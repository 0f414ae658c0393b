//! GEMM / GEMV reference: `C[m,n] = A[m,k]·W[n,k]ᵀ`, one output element per block.

use super::{expect_len, OpReference};
use crate::error::Result;
use crate::tensor::HostTensor;

/// Reference of `gemm` and `gemv`.
pub struct Linear<'a> {
    a: &'a HostTensor,
    w: &'a HostTensor,
    m: usize,
    n: usize,
    k: usize,
}

impl<'a> Linear<'a> {
    /// Checks the input sizes against `m`, `n`, `k`.
    pub fn new(a: &'a HostTensor, w: &'a HostTensor, m: usize, n: usize, k: usize) -> Result<Self> {
        expect_len(a, m * k)?;
        expect_len(w, n * k)?;
        Ok(Linear { a, w, m, n, k })
    }
}

impl OpReference for Linear<'_> {
    fn blocks(&self) -> usize {
        self.m * self.n
    }

    fn block_len(&self) -> usize {
        1
    }

    fn block_cost(&self) -> f64 {
        self.k as f64
    }

    fn compute(&self, block: usize, out: &mut [f64]) {
        let (row, col) = (block / self.n, block % self.n);
        let mut acc = 0.0f64;
        for i in 0..self.k {
            acc += self.a.get_f64(row * self.k + i) * self.w.get_f64(col * self.k + i);
        }
        out[0] = acc;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;

    #[test]
    fn two_by_two_by_three_by_hand() {
        // A = [[1,2,3],[4,5,6]], W = [[1,0,-1],[2,1,0]]: C = A·Wᵀ = [[-2,4],[-2,13]].
        let a = HostTensor::from_f32("a", vec![2, 3], DType::F32, &[1., 2., 3., 4., 5., 6.]);
        let w = HostTensor::from_f32("w", vec![2, 3], DType::F32, &[1., 0., -1., 2., 1., 0.]);
        let r = Linear::new(&a, &w, 2, 2, 3).unwrap();
        assert_eq!(r.expected_output(), vec![-2.0, 4.0, -2.0, 13.0]);
    }

    #[test]
    fn wrong_input_size_is_an_error() {
        let a = HostTensor::from_f32("a", vec![5], DType::F32, &[0.; 5]);
        let w = HostTensor::from_f32("w", vec![6], DType::F32, &[0.; 6]);
        assert!(Linear::new(&a, &w, 2, 2, 3).is_err());
    }
}
