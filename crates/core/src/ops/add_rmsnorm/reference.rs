//! Reference of `add_rmsnorm` (vLLM's `fused_add_rms_norm`): one row of `hidden` values of
//! `out[2,T,h]` per block, the normalized rows `y` first, then the updated residual rows `r`.
//! As in vLLM, `r = x + residual` is rounded to the dtype before anything reads it, and the
//! norm is taken over that rounded `r` (here in f64).

use half::{bf16, f16};

use super::{NormShape, ADD_RMSNORM_EPS};
use crate::dtype::DType;
use crate::error::Result;
use crate::inputs::Inputs;
use crate::op::OpSpec;
use crate::reference::{expect_len, OpReference};
use crate::tensor::{fp8_e4m3_from_f32, fp8_e4m3_to_f32, HostTensor};

/// Reference of `add_rmsnorm`: block `t < T` is `y[t]`, block `T + t` is `r[t]`.
pub struct AddRmsnorm<'a> {
    x: &'a HostTensor,
    residual: &'a HostTensor,
    weight: &'a HostTensor,
    dtype: DType,
    tokens: usize,
    hidden: usize,
}

impl<'a> AddRmsnorm<'a> {
    /// Binds the inputs and checks their sizes.
    pub fn new(spec: &OpSpec, inputs: &'a Inputs) -> Result<Self> {
        let p = NormShape::of(spec)?;
        let (tokens, hidden) = (p.tokens as usize, p.hidden as usize);
        let (x, residual, weight) = (
            inputs.get("x")?,
            inputs.get("residual")?,
            inputs.get("weight")?,
        );
        expect_len(x, tokens * hidden)?;
        expect_len(residual, tokens * hidden)?;
        expect_len(weight, hidden)?;
        Ok(AddRmsnorm {
            x,
            residual,
            weight,
            dtype: spec.dtype,
            tokens,
            hidden,
        })
    }
}

/// `v` rounded to the nearest value of `dtype` (ties to even), as an f64.
fn round_to(dtype: DType, v: f64) -> f64 {
    match dtype {
        DType::F32 => v as f32 as f64,
        DType::F16 => f16::from_f64(v).to_f64(),
        DType::Bf16 => bf16::from_f64(v).to_f64(),
        DType::Fp8E4m3 => fp8_e4m3_to_f32(fp8_e4m3_from_f32(v as f32)) as f64,
    }
}

impl OpReference for AddRmsnorm<'_> {
    fn blocks(&self) -> usize {
        2 * self.tokens
    }

    fn block_len(&self) -> usize {
        self.hidden
    }

    fn block_cost(&self) -> f64 {
        3.0 * self.hidden as f64
    }

    fn compute(&self, block: usize, out: &mut [f64]) {
        let start = (block % self.tokens) * self.hidden;
        for (i, o) in out.iter_mut().enumerate() {
            let sum = self.x.get_f64(start + i) + self.residual.get_f64(start + i);
            *o = round_to(self.dtype, sum);
        }
        if block >= self.tokens {
            return;
        }
        let mean_square = out.iter().map(|r| r * r).sum::<f64>() / self.hidden as f64;
        let scale = 1.0 / (mean_square + ADD_RMSNORM_EPS as f64).sqrt();
        for (i, o) in out.iter_mut().enumerate() {
            *o *= scale * self.weight.get_f64(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::OpKind;

    fn rows(dtype: DType, shape: &str, x: &[f32], residual: &[f32], weight: &[f32]) -> Vec<f64> {
        let spec = OpSpec::parse(OpKind::AddRmsnorm, shape, dtype).unwrap();
        let p = NormShape::of(&spec).unwrap();
        let (t, h) = (p.tokens as usize, p.hidden as usize);
        let inputs = Inputs {
            fp8: Default::default(),
            tensors: vec![
                HostTensor::from_f32("x", vec![t, h], dtype, x),
                HostTensor::from_f32("residual", vec![t, h], dtype, residual),
                HostTensor::from_f32("weight", vec![h], dtype, weight),
            ],
        };
        let r = AddRmsnorm::new(&spec, &inputs).unwrap();
        r.expected_output()
    }

    #[test]
    fn a_row_by_hand() {
        // r = [1+2, 2+2] = [3, 4]; mean r² = (9 + 16)/2 = 12.5; 1/√12.5 = 0.28284271;
        // y = [3·0.28284271·1, 4·0.28284271·0.5] = [0.84852814, 0.56568542] (ε moves the
        // eighth digit).
        let v = rows(
            DType::F32,
            "tokens=1,hidden=2",
            &[1.0, 2.0],
            &[2.0, 2.0],
            &[1.0, 0.5],
        );
        assert_eq!(v.len(), 4);
        assert!((v[0] - 0.848_528_14).abs() < 1e-7, "{v:?}");
        assert!((v[1] - 0.565_685_42).abs() < 1e-7, "{v:?}");
        assert_eq!(&v[2..], &[3.0, 4.0], "out[1] is the updated residual");
    }

    #[test]
    fn rows_are_independent_and_y_comes_before_r() {
        // Row 0: r = [1, 7], mean r² = 25, y = [1, 7]/5·[1, 2] = [0.2, 2.8].
        // Row 1: r = [-7, 1], mean r² = 25, y = [-7, 1]/5·[1, 2] = [-1.4, 0.4].
        let v = rows(
            DType::F32,
            "tokens=2,hidden=2",
            &[0.5, 3.0, -3.0, 1.0],
            &[0.5, 4.0, -4.0, 0.0],
            &[1.0, 2.0],
        );
        let want = [0.2, 2.8, -1.4, 0.4, 1.0, 7.0, -7.0, 1.0];
        for (got, want) in v.iter().zip(want) {
            assert!((got - want).abs() < 1e-6, "{v:?}");
        }
    }

    #[test]
    fn the_residual_is_rounded_to_the_dtype_before_the_norm() {
        // bf16 has 8 significant bits: 1 + 2⁻⁹ rounds to 1, so r = [1, 1] and
        // y = 1/√(1 + ε) ≈ 0.9999995 in both places. Unrounded, r₀ = 1.001953125 would give
        // y ≈ [1.000975, 0.999024].
        let v = rows(
            DType::Bf16,
            "tokens=1,hidden=2",
            &[1.0, 1.0],
            &[1.0 / 512.0, 0.0],
            &[1.0, 1.0],
        );
        assert_eq!(&v[2..], &[1.0, 1.0]);
        for y in &v[..2] {
            assert!((y - 0.999_999_5).abs() < 1e-7, "{v:?}");
        }
    }
}
