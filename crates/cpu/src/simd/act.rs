//! Element-wise primitives of the activation and position ops: the gated SiLU of `silu_mul`
//! (e^x by the same branch-free polynomial as the softmax's [`super::exp_sum`]) and the pair
//! rotations of `rope`, both layouts. Plain loops that LLVM vectorizes under the enabled
//! target features, dispatched once per call like the rest of [`super`].

use super::{exp_lane, level, Level};

#[inline(always)]
fn silu_mul_body<const FUSED: bool>(gate: &mut [f32], up: &[f32]) {
    for (g, u) in gate.iter_mut().zip(up) {
        *g = *g / (1.0 + exp_lane::<FUSED>(-*g)) * *u;
    }
}
dispatch!(silu_mul_body, silu_mul_avx512, silu_mul_avx2, (gate: &mut [f32], up: &[f32]));

/// `gate[i] ← silu(gate[i])·up[i]` over the shorter length, silu(g) = g/(1 + e^(−g)), in f32
/// (e^x within 2·10⁻⁷ relative, its argument clamped at 88: a gate below −88 gives a value
/// under 10⁻³⁶ in size, where f64 would give under 10⁻³⁶ too; above 87.3, the gate itself).
pub fn silu_mul(gate: &mut [f32], up: &[f32]) {
    match level() {
        // SAFETY: the level was detected on this CPU.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { silu_mul_avx512(gate, up) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { silu_mul_avx2(gate, up) },
        _ => silu_mul_body::<false>(gate, up),
    }
}

#[inline(always)]
fn rotate_heads_body<const FUSED: bool>(
    x: &mut [f32],
    head_dim: usize,
    rotary_dim: usize,
    cs: &[f32],
    gptj: bool,
) {
    let half = rotary_dim / 2;
    let (cos, sin) = cs[..rotary_dim].split_at(half);
    for head in x.chunks_exact_mut(head_dim) {
        let rot = &mut head[..rotary_dim];
        if gptj {
            for ((p, c), s) in rot.chunks_exact_mut(2).zip(cos).zip(sin) {
                let (a, b) = (p[0], p[1]);
                p[0] = a * c - b * s;
                p[1] = b * c + a * s;
            }
        } else {
            let (xs, ys) = rot.split_at_mut(half);
            for (((x, y), c), s) in xs.iter_mut().zip(ys.iter_mut()).zip(cos).zip(sin) {
                let (a, b) = (*x, *y);
                *x = a * c - b * s;
                *y = b * c + a * s;
            }
        }
    }
}
dispatch!(rotate_heads_body, rotate_heads_avx512, rotate_heads_avx2,
    (x: &mut [f32], head_dim: usize, rotary_dim: usize, cs: &[f32], gptj: bool));

/// Rotates every head of `head_dim` elements in `x` (whole heads; a remainder is left alone)
/// over its first `rotary_dim` (even, ≤ `head_dim`) by the cache row `cs` (`rotary_dim`
/// values: cos θ_i for i < rotary_dim/2, then sin θ_i): pair i is (x[i], x[i + r/2]) (NeoX)
/// or (x[2i], x[2i+1]) (`gptj`), x' = x·cos − y·sin, y' = y·cos + x·sin. Elements past
/// `rotary_dim` are untouched.
///
/// Panics if `cs` is shorter than `rotary_dim` or `rotary_dim` exceeds `head_dim`.
pub fn rotate_heads(x: &mut [f32], head_dim: usize, rotary_dim: usize, cs: &[f32], gptj: bool) {
    assert!(
        rotary_dim <= head_dim && cs.len() >= rotary_dim,
        "rotate_heads: rotary_dim {rotary_dim}, head_dim {head_dim}, cache row of {}",
        cs.len()
    );
    if head_dim == 0 {
        return;
    }
    match level() {
        // SAFETY: the level was detected on this CPU.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { rotate_heads_avx512(x, head_dim, rotary_dim, cs, gptj) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { rotate_heads_avx2(x, head_dim, rotary_dim, cs, gptj) },
        _ => rotate_heads_body::<false>(x, head_dim, rotary_dim, cs, gptj),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silu_mul_matches_f64() {
        // Gates from −100 (e^100 past f32: silu → −0) to 100 (silu → the gate).
        let mut g: Vec<f32> = (0..203).map(|i| (i as f32 - 101.0) * 0.99).collect();
        let u: Vec<f32> = (0..203).map(|i| 1.0 + (i % 7) as f32 * 0.25).collect();
        let orig = g.clone();
        silu_mul(&mut g, &u);
        for ((y, x), u) in g.iter().zip(&orig).zip(&u) {
            let (x, u) = (*x as f64, *u as f64);
            let want = x / (1.0 + (-x).exp()) * u;
            let err = (*y as f64 - want).abs();
            assert!(
                err <= 1e-6 * want.abs() + 1e-30,
                "silu({x})·{u} = {y}, want {want}"
            );
        }
        // silu(0) = 0, silu(ln 3)·1 = ln 3 · 3/4 (e^−ln 3 = 1/3).
        let mut g = [0.0f32, 3f32.ln()];
        silu_mul(&mut g, &[5.0, 1.0]);
        assert_eq!(g[0], 0.0);
        assert!((g[1] - 0.75 * 3f32.ln()).abs() < 1e-6);
    }

    #[test]
    fn rotations_by_hand_in_both_layouts() {
        // Two heads of 6, rotary_dim 4; cache row: pair 0 a quarter turn (cos 0, sin 1),
        // pair 1 a half turn (cos −1, sin 0). Elements 4 and 5 are untouched.
        let cs = [0.0, -1.0, 1.0, 0.0];
        let mut x: Vec<f32> = (1..=12).map(|v| v as f32).collect();
        rotate_heads(&mut x, 6, 4, &cs, false);
        // NeoX: (x0, x2) = (1, 3) → (−3, 1); (x1, x3) = (2, 4) → (−2, −4).
        assert_eq!(
            x,
            [-3.0, -2.0, 1.0, -4.0, 5.0, 6.0, -9.0, -8.0, 7.0, -10.0, 11.0, 12.0]
        );
        let mut x: Vec<f32> = (1..=12).map(|v| v as f32).collect();
        rotate_heads(&mut x, 6, 4, &cs, true);
        // GPT-J: (x0, x1) = (1, 2) → (−2, 1); (x2, x3) = (3, 4) → (−3, −4).
        assert_eq!(
            x,
            [-2.0, 1.0, -3.0, -4.0, 5.0, 6.0, -8.0, 7.0, -9.0, -10.0, 11.0, 12.0]
        );
    }

    #[test]
    fn long_heads_agree_with_a_plain_loop() {
        // 3 heads of 128 (several vectors a half), a general angle per pair.
        let (d, r) = (128, 96);
        let cs: Vec<f32> = (0..r / 2)
            .map(|i| (i as f32 * 0.1).cos())
            .chain((0..r / 2).map(|i| (i as f32 * 0.1).sin()))
            .collect();
        for gptj in [false, true] {
            let orig: Vec<f32> = (0..3 * d)
                .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
                .collect();
            let mut x = orig.clone();
            rotate_heads(&mut x, d, r, &cs, gptj);
            for h in 0..3 {
                for i in 0..r / 2 {
                    let (a, b) = if gptj {
                        (2 * i, 2 * i + 1)
                    } else {
                        (i, i + r / 2)
                    };
                    let (p, q) = (orig[h * d + a], orig[h * d + b]);
                    let (c, s) = (cs[i], cs[r / 2 + i]);
                    assert_eq!(x[h * d + a], p * c - q * s, "head {h} pair {i} gptj {gptj}");
                    assert_eq!(x[h * d + b], q * c + p * s, "head {h} pair {i} gptj {gptj}");
                }
                assert_eq!(x[h * d + r..h * d + d], orig[h * d + r..h * d + d]);
            }
        }
    }
}
