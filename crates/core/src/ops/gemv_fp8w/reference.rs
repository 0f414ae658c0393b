//! Reference of `gemv_fp8w`: c[i,j] = w_scale[j]·Σₖ a[i,k]·w[j,k], every fp8 weight decoded
//! exactly in its tensor's encoding (OCP e4m3 or e4m3fnuz, [`HostTensor::get_f64`]) and
//! summed in f64; one output element per block.

use super::LinearShape;
use crate::error::Result;
use crate::inputs::Inputs;
use crate::op::OpSpec;
use crate::reference::{expect_len, OpReference};
use crate::tensor::HostTensor;

/// Reference of `gemv_fp8w`.
pub struct GemvFp8w<'a> {
    a: &'a HostTensor,
    w: &'a HostTensor,
    w_scale: &'a HostTensor,
    n: usize,
    k: usize,
    m: usize,
}

impl<'a> GemvFp8w<'a> {
    /// Binds the inputs and checks their sizes.
    pub fn new(spec: &OpSpec, inputs: &'a Inputs) -> Result<Self> {
        let p = LinearShape::of(spec)?;
        let (m, n, k) = (p.m as usize, p.n as usize, p.k as usize);
        let (a, w, w_scale) = (inputs.get("a")?, inputs.get("w")?, inputs.get("w_scale")?);
        expect_len(a, m * k)?;
        expect_len(w, n * k)?;
        expect_len(w_scale, n)?;
        Ok(GemvFp8w {
            a,
            w,
            w_scale,
            n,
            k,
            m,
        })
    }
}

impl OpReference for GemvFp8w<'_> {
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
        let (i, j) = (block / self.n, block % self.n);
        let dot: f64 = (0..self.k)
            .map(|e| self.a.get_f64(i * self.k + e) * self.w.get_f64(j * self.k + e))
            .sum();
        out[0] = dot * self.w_scale.get_f64(j);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::op::OpKind;
    use crate::tensor::HostData;

    #[test]
    fn two_rows_by_hand() {
        // w codes: 0x38 = 1, 0x40 = 2, 0xb8 = −1, 0x01 = 2⁻⁹ (subnormal); row scales 0.5, 4.
        // a = [1, 2]: c₀ = 0.5·(1·1 + 2·2) = 2.5, c₁ = 4·(1·(−1) + 2·2⁻⁹) = −4 + 2⁻⁶.
        let spec = OpSpec::parse(OpKind::GemvFp8w, "m=1,n=2,k=2", DType::Bf16).unwrap();
        let inputs = Inputs {
            fp8: Default::default(),
            tensors: vec![
                HostTensor::from_f32("a", vec![1, 2], DType::Bf16, &[1.0, 2.0]),
                HostTensor {
                    name: "w",
                    shape: vec![2, 2],
                    data: HostData::Fp8E4m3(vec![0x38, 0x40, 0xb8, 0x01]),
                },
                HostTensor::from_f32("w_scale", vec![2], DType::F32, &[0.5, 4.0]),
            ],
        };
        let r = GemvFp8w::new(&spec, &inputs).unwrap();
        assert_eq!(r.expected_output(), [2.5, -4.0 + 1.0 / 64.0]);
    }
}
