//! Reference of `silu_mul` (vLLM's `silu_and_mul`): one output row of `intermediate` values
//! per block, out[t, i] = g/(1 + e^(−g))·u with g = x[t, i] and u = x[t, I + i] as stored,
//! in f64.

use super::ActShape;
use crate::error::Result;
use crate::inputs::Inputs;
use crate::op::OpSpec;
use crate::reference::{expect_len, OpReference};
use crate::tensor::HostTensor;

/// Reference of `silu_mul`: block `t` is output row `t`.
pub struct SiluMul<'a> {
    x: &'a HostTensor,
    tokens: usize,
    intermediate: usize,
}

impl<'a> SiluMul<'a> {
    /// Binds the input and checks its size.
    pub fn new(spec: &OpSpec, inputs: &'a Inputs) -> Result<Self> {
        let p = ActShape::of(spec)?;
        let (tokens, intermediate) = (p.tokens as usize, p.intermediate as usize);
        let x = inputs.get("x")?;
        expect_len(x, 2 * tokens * intermediate)?;
        Ok(SiluMul {
            x,
            tokens,
            intermediate,
        })
    }
}

/// silu(g) = g/(1 + e^(−g)), in f64.
pub(crate) fn silu(g: f64) -> f64 {
    g / (1.0 + (-g).exp())
}

impl OpReference for SiluMul<'_> {
    fn blocks(&self) -> usize {
        self.tokens
    }

    fn block_len(&self) -> usize {
        self.intermediate
    }

    fn block_cost(&self) -> f64 {
        2.0 * self.intermediate as f64
    }

    fn compute(&self, block: usize, out: &mut [f64]) {
        let row = block * 2 * self.intermediate;
        for (i, o) in out.iter_mut().enumerate() {
            let g = self.x.get_f64(row + i);
            let u = self.x.get_f64(row + self.intermediate + i);
            *o = silu(g) * u;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::op::OpKind;

    fn rows(shape: &str, x: &[f32]) -> Vec<f64> {
        let spec = OpSpec::parse(OpKind::SiluMul, shape, DType::F32).unwrap();
        let p = ActShape::of(&spec).unwrap();
        let (t, i) = (p.tokens as usize, p.intermediate as usize);
        let inputs = Inputs {
            fp8: Default::default(),
            tensors: vec![HostTensor::from_f32("x", vec![t, 2 * i], DType::F32, x)],
        };
        let r = SiluMul::new(&spec, &inputs).unwrap();
        r.expected_output()
    }

    #[test]
    fn rows_by_hand() {
        // Row 0: gates [0, 2], ups [5, 3]: silu(0) = 0; silu(2) = 2/(1 + e^−2) = 2/1.1353353
        // = 1.7615942, times 3 = 5.2847825.
        // Row 1: gates [−2, 1], ups [1, −2]: silu(−2) = −2/(1 + e²) = −2/8.3890561 =
        // −0.2384058; silu(1) = 1/(1 + e^−1) = 0.7310586, times −2 = −1.4621172.
        let v = rows(
            "tokens=2,intermediate=2",
            &[0.0, 2.0, 5.0, 3.0, -2.0, 1.0, 1.0, -2.0],
        );
        let want = [0.0, 5.284_782_5, -0.238_405_8, -1.462_117_2];
        for (got, want) in v.iter().zip(want) {
            assert!((got - want).abs() < 1e-7, "{v:?}");
        }
    }

    #[test]
    fn a_short_input_is_an_error_not_a_panic() {
        let spec = OpSpec::parse(OpKind::SiluMul, "tokens=2,intermediate=2", DType::F32).unwrap();
        let inputs = Inputs {
            fp8: Default::default(),
            tensors: vec![HostTensor::from_f32("x", vec![4], DType::F32, &[0.0; 4])],
        };
        let err = SiluMul::new(&spec, &inputs).err().unwrap().to_string();
        assert!(err.contains("has 4 elements; the layout needs 8"), "{err}");
    }
}
