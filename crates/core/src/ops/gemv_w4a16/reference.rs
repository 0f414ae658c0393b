//! Reference of `gemv_w4a16`: every code unpacked ([`unpack_int4`]), dequantized in f64 as
//! (q − z)·scale and multiplied with the activations; one output element per block.

use super::{W4Shape, INT4_SYMMETRIC_ZERO};
use crate::error::Result;
use crate::inputs::Inputs;
use crate::op::OpSpec;
use crate::reference::{expect_len, OpReference};
use crate::tensor::HostTensor;

/// Value `e` (0..8) of a packed word: bits 4e..4e+3.
pub fn unpack_int4(word: u32, e: usize) -> u32 {
    (word >> (4 * e)) & 0xf
}

/// Reference of `gemv_w4a16`.
pub struct GemvW4a16<'a> {
    a: &'a HostTensor,
    w: &'a [u32],
    scales: &'a HostTensor,
    zeros: Option<&'a [u32]>,
    shape: W4Shape,
}

impl<'a> GemvW4a16<'a> {
    /// Binds the inputs and checks their sizes.
    pub fn new(spec: &OpSpec, inputs: &'a Inputs) -> Result<Self> {
        let p = W4Shape::of(spec)?;
        let (m, n, k) = (p.m as usize, p.n as usize, p.k as usize);
        let (a, w, scales) = (inputs.get("a")?, inputs.get("w")?, inputs.get("scales")?);
        expect_len(a, m * k)?;
        expect_len(w, n * k / 8)?;
        expect_len(scales, n * p.groups() as usize)?;
        let zeros = if p.zero_points {
            let z = inputs.get("zeros")?;
            expect_len(z, n * p.zero_words() as usize)?;
            Some(z.as_u32()?)
        } else {
            None
        };
        Ok(GemvW4a16 {
            a,
            w: w.as_u32()?,
            scales,
            zeros,
            shape: p,
        })
    }

    /// Ŵ[r, e]: the dequantized weight at row `r`, column `e`.
    fn weight(&self, r: usize, e: usize) -> f64 {
        let (k, group) = (self.shape.k as usize, self.shape.group as usize);
        let g = e / group;
        let q = unpack_int4(self.w[r * k / 8 + e / 8], e % 8);
        let z = match self.zeros {
            Some(z) => unpack_int4(z[r * self.shape.zero_words() as usize + g / 8], g % 8),
            None => INT4_SYMMETRIC_ZERO,
        };
        let scale = self.scales.get_f64(r * self.shape.groups() as usize + g);
        (q as f64 - z as f64) * scale
    }
}

impl OpReference for GemvW4a16<'_> {
    fn blocks(&self) -> usize {
        (self.shape.m * self.shape.n) as usize
    }

    fn block_len(&self) -> usize {
        1
    }

    fn block_cost(&self) -> f64 {
        self.shape.k as f64
    }

    fn compute(&self, block: usize, out: &mut [f64]) {
        let (n, k) = (self.shape.n as usize, self.shape.k as usize);
        let (i, r) = (block / n, block % n);
        out[0] = (0..k)
            .map(|e| self.a.get_f64(i * k + e) * self.weight(r, e))
            .sum();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::op::OpKind;

    /// The codes of a word read as its eight hexadecimal digits, last digit first: an unpack
    /// that shares nothing with the shifts above.
    fn hex_digits(word: u32) -> Vec<u32> {
        format!("{word:08x}")
            .chars()
            .rev()
            .map(|c| c.to_digit(16).unwrap_or(99))
            .collect()
    }

    #[test]
    fn unpacking_is_the_hex_digits_lowest_first() {
        assert_eq!(
            (0..8)
                .map(|e| unpack_int4(0x7654_3210, e))
                .collect::<Vec<_>>(),
            vec![0, 1, 2, 3, 4, 5, 6, 7]
        );
        let mut word = 0x9e37_79b9u32;
        for _ in 0..1000 {
            let ours: Vec<u32> = (0..8).map(|e| unpack_int4(word, e)).collect();
            assert_eq!(ours, hex_digits(word), "{word:#010x}");
            word = word.wrapping_mul(0x0100_0193).wrapping_add(0x2545_f491);
        }
    }

    fn product(shape: &str, w: Vec<u32>, scales: &[f32], zeros: Vec<u32>, a: &[f32]) -> Vec<f64> {
        let spec = OpSpec::parse(OpKind::GemvW4a16, shape, DType::F16).unwrap();
        let p = W4Shape::of(&spec).unwrap();
        let (m, n, k) = (p.m as usize, p.n as usize, p.k as usize);
        let inputs = Inputs {
            fp8: Default::default(),
            tensors: vec![
                HostTensor::from_f32("a", vec![m, k], DType::F16, a),
                HostTensor::from_u32("w", vec![n, k / 8], w),
                HostTensor::from_f32("scales", vec![n, p.groups() as usize], DType::F16, scales),
                HostTensor::from_u32("zeros", vec![zeros.len()], zeros),
            ],
        };
        let r = GemvW4a16::new(&spec, &inputs).unwrap();
        r.expected_output()
    }

    #[test]
    fn symmetric_groups_by_hand() {
        // One row, k = 64, group 32: words 0..3 are group 0, words 4..7 group 1. Group 0 holds
        // code 9 everywhere (q − 8 = 1), group 1 code 6 (q − 8 = −2); scales 0.5 and 0.25.
        // a = 1 everywhere: c = 32·1·0.5 + 32·(−2)·0.25 = 16 − 16 = 0. With a = 1 on group 0
        // and 2 on group 1: c = 16 − 32 = −16.
        let mut w = vec![0x9999_9999u32; 4];
        w.extend([0x6666_6666u32; 4]);
        let mut a = vec![1.0f32; 32];
        a.extend([2.0f32; 32]);
        let c = product("m=1,n=1,k=64,group=32", w, &[0.5, 0.25], vec![0], &a);
        assert_eq!(c, vec![-16.0]);
    }

    #[test]
    fn zero_points_and_nibble_order_by_hand() {
        // k = 64, group 32, two groups; zero word 0x0000_00f3: z₀ = 3, z₁ = 15.
        // Row: word 0 = 0x0000_0005 (q[0] = 5, q[1..8] = 0), all other words 0.
        // a = e_0 + e_1 (ones at k = 0, 1) and a = e_40: c = (5−3)·s₀ + (0−3)·s₀ with
        // s₀ = 2 → −2; and (0−15)·s₁ with s₁ = 0.5 → −7.5.
        let mut w = vec![0u32; 8];
        w[0] = 0x0000_0005;
        let mut a = vec![0.0f32; 128];
        a[0] = 1.0;
        a[1] = 1.0;
        a[64 + 40] = 1.0;
        let c = product(
            "m=2,n=1,k=64,group=32,zero_points=1",
            w,
            &[2.0, 0.5],
            vec![0x0000_00f3],
            &a,
        );
        assert_eq!(c, vec![-2.0, -7.5]);
    }
}
