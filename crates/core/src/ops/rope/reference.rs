//! Reference of `rope`: one head of `head_dim` values per block (block `t·H + h` is head `h`
//! of token `t`, H = heads_q + heads_kv), rotated in f64 by the stored cos/sin row of the
//! token's position, with the elements past `rotary_dim` copied.

use super::RopeShape;
use crate::error::Result;
use crate::inputs::Inputs;
use crate::op::OpSpec;
use crate::reference::{expect_len, indices, OpReference};
use crate::tensor::HostTensor;

/// Reference of `rope`.
pub struct Rope<'a> {
    qk: &'a HostTensor,
    cos_sin: &'a HostTensor,
    positions: Vec<usize>,
    heads: usize,
    head_dim: usize,
    rotary_dim: usize,
    gptj: bool,
}

impl<'a> Rope<'a> {
    /// Binds the inputs and checks their sizes, and that every position has a cache row.
    pub fn new(spec: &OpSpec, inputs: &'a Inputs) -> Result<Self> {
        let p = RopeShape::of(spec)?;
        let (t, h, d) = (p.tokens as usize, p.heads() as usize, p.head_dim as usize);
        let (m, r) = (p.max_position as usize, p.rotary_dim as usize);
        let (positions, qk, cos_sin) = (
            inputs.get("positions")?,
            inputs.get("qk")?,
            inputs.get("cos_sin")?,
        );
        expect_len(positions, t)?;
        expect_len(qk, t * h * d)?;
        expect_len(cos_sin, m * r)?;
        Ok(Rope {
            qk,
            cos_sin,
            positions: indices(positions, m)?,
            heads: h,
            head_dim: d,
            rotary_dim: r,
            gptj: p.gptj,
        })
    }
}

impl OpReference for Rope<'_> {
    fn blocks(&self) -> usize {
        self.positions.len() * self.heads
    }

    fn block_len(&self) -> usize {
        self.head_dim
    }

    fn block_cost(&self) -> f64 {
        2.0 * self.head_dim as f64
    }

    fn compute(&self, block: usize, out: &mut [f64]) {
        let start = block * self.head_dim;
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.qk.get_f64(start + i);
        }
        let half = self.rotary_dim / 2;
        let row = self.positions[block / self.heads] * self.rotary_dim;
        for i in 0..half {
            let (c, s) = (
                self.cos_sin.get_f64(row + i),
                self.cos_sin.get_f64(row + half + i),
            );
            let (a, b) = if self.gptj {
                (2 * i, 2 * i + 1)
            } else {
                (i, i + half)
            };
            let (x, y) = (out[a], out[b]);
            out[a] = x * c - y * s;
            out[b] = y * c + x * s;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::cos_sin_cache;
    use super::*;
    use crate::dtype::DType;
    use crate::op::OpKind;

    /// The reference's output for `qk` (every token's heads) at `positions`, with the cache
    /// `cos_sin` made by hand (rows of rotary_dim: cos, then sin).
    fn rotate(shape: &str, positions: &[i32], qk: &[f32], cos_sin: &[f32]) -> Vec<f64> {
        let spec = OpSpec::parse(OpKind::Rope, shape, DType::F32).unwrap();
        let p = RopeShape::of(&spec).unwrap();
        let (t, h, d) = (p.tokens as usize, p.heads() as usize, p.head_dim as usize);
        let (m, r) = (p.max_position as usize, p.rotary_dim as usize);
        let inputs = Inputs {
            fp8: Default::default(),
            tensors: vec![
                HostTensor::from_i32("positions", vec![t], positions.to_vec()),
                HostTensor::from_f32("qk", vec![t, h, d], DType::F32, qk),
                HostTensor::from_f32("cos_sin", vec![m, r], DType::F32, cos_sin),
            ],
        };
        let r = Rope::new(&spec, &inputs).unwrap();
        r.expected_output()
    }

    // rotary_dim 4: row 0 the identity (cos 1, 1; sin 0, 0); row 1 a quarter turn for pair 0
    // (cos 0, sin 1) and a half turn for pair 1 (cos −1, sin 0).
    const TURNS: [f32; 8] = [1.0, 1.0, 0.0, 0.0, 0.0, -1.0, 1.0, 0.0];

    #[test]
    fn a_quarter_and_a_half_turn_in_both_layouts() {
        // Token 0 at position 1, token 1 at position 0; one q and one k head of x = [1, 2, 3, 4]
        // and [5, 6, 7, 8]. A quarter turn maps (x, y) to (−y, x), a half turn to (−x, −y).
        // NeoX pairs (x0, x2) (quarter) and (x1, x3) (half): [1, 2, 3, 4] → [−3, −2, 1, −4].
        // GPT-J pairs (x0, x1) (quarter) and (x2, x3) (half): [1, 2, 3, 4] → [−2, 1, −3, −4].
        let qk: Vec<f32> = (1..=16).map(|v| v as f32).collect();
        let shape = "tokens=2,heads_q=1,heads_kv=1,head_dim=4,rotary_dim=4,max_position=2";
        let neox = rotate(shape, &[1, 0], &qk, &TURNS);
        let want: Vec<f64> = [-3, -2, 1, -4, -7, -6, 5, -8, 9, 10, 11, 12, 13, 14, 15, 16]
            .map(f64::from)
            .to_vec();
        assert_eq!(neox, want);
        let gptj = rotate(&format!("{shape},gptj=1"), &[1, 0], &qk, &TURNS);
        let want: Vec<f64> = [-2, 1, -3, -4, -6, 5, -7, -8, 9, 10, 11, 12, 13, 14, 15, 16]
            .map(f64::from)
            .to_vec();
        assert_eq!(gptj, want);
    }

    #[test]
    fn a_partial_rotary_dim_copies_the_rest() {
        // head_dim 6, rotary_dim 2: one pair, (x0, x1) in both layouts, a quarter turn at
        // position 1; x2..x5 are copied. [1, 2, 3, 4, 5, 6] → [−2, 1, 3, 4, 5, 6].
        let cache = [1.0, 0.0, 0.0, 1.0];
        for gptj in [0, 1] {
            let shape = format!(
                "tokens=1,heads_q=2,heads_kv=1,head_dim=6,rotary_dim=2,max_position=2,gptj={gptj}"
            );
            let qk: Vec<f32> = (1..=18).map(|v| v as f32).collect();
            let v = rotate(&shape, &[1], &qk, &cache);
            let want: Vec<f64> = [
                -2, 1, 3, 4, 5, 6, -8, 7, 9, 10, 11, 12, -14, 13, 15, 16, 17, 18,
            ]
            .map(f64::from)
            .to_vec();
            assert_eq!(v, want, "gptj={gptj}");
        }
    }

    #[test]
    fn a_general_angle_by_hand() {
        // cos 0.6, sin 0.8 (a 3-4-5 triangle): (1, 2) → (0.6 − 1.6, 1.2 + 0.8) = (−1, 2).
        let shape = "tokens=1,heads_q=1,heads_kv=1,head_dim=2,rotary_dim=2,max_position=1";
        let v = rotate(shape, &[0], &[1.0, 2.0, 3.0, -4.0], &[0.6, 0.8]);
        // (3, −4) → (1.8 + 3.2, −2.4 + 2.4) = (5, 0).
        for (g, w) in v.iter().zip([-1.0, 2.0, 5.0, 0.0]) {
            assert!((g - w).abs() < 1e-6, "{v:?}");
        }
    }

    #[test]
    fn the_cache_holds_cos_then_sin_of_position_times_theta() {
        // r = 4: θ = [1, 10000^(−1/2) = 0.01]. Row 3: cos 3, cos 0.03, sin 3, sin 0.03.
        let c = cos_sin_cache(4, 4);
        let want = [3f64.cos(), 0.03f64.cos(), 3f64.sin(), 0.03f64.sin()];
        for (g, w) in c[12..16].iter().zip(want) {
            assert!((*g as f64 - w).abs() < 1e-7, "{g} {w}");
        }
        assert_eq!(&c[..4], &[1.0, 1.0, 0.0, 0.0], "position 0 is the identity");
    }

    #[test]
    fn a_position_past_the_cache_is_an_error_not_a_panic() {
        let shape = "tokens=1,heads_q=1,heads_kv=1,head_dim=2,rotary_dim=2,max_position=2";
        let spec = OpSpec::parse(OpKind::Rope, shape, DType::F32).unwrap();
        let inputs = Inputs {
            fp8: Default::default(),
            tensors: vec![
                HostTensor::from_i32("positions", vec![1], vec![2]),
                HostTensor::from_f32("qk", vec![1, 2, 2], DType::F32, &[0.0; 4]),
                HostTensor::from_f32("cos_sin", vec![2, 2], DType::F32, &cos_sin_cache(2, 2)),
            ],
        };
        let err = Rope::new(&spec, &inputs).err().unwrap().to_string();
        assert!(err.contains("holds 2, outside 0..2"), "{err}");
    }
}
