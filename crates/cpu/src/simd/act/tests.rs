use super::*;
use half::bf16;

fn bits(v: &[f32]) -> Vec<u16> {
    v.iter().map(|&x| bf16::from_f32(x).to_bits()).collect()
}

#[test]
fn silu_mul_matches_f64_and_bf16_rounds_the_f32_result() {
    // Gates from −100 (e^100 past f32: silu under 10⁻³⁵) to 100 (silu → the gate).
    let g: Vec<f32> = (0..203).map(|i| (i as f32 - 101.0) * 0.99).collect();
    let u: Vec<f32> = (0..203).map(|i| 1.0 + (i % 7) as f32 * 0.25).collect();
    let mut y = vec![0f32; 203];
    silu_mul(&g, &u, &mut y);
    for ((y, x), u) in y.iter().zip(&g).zip(&u) {
        let (x, u) = (*x as f64, *u as f64);
        let want = x / (1.0 + (-x).exp()) * u;
        // 3·10⁻⁷ from the polynomial and the rounding, 6·10⁻⁸·|x| (x = g·log₂e) from x.
        let err = (*y as f64 - want).abs();
        let rel = 4e-7 + 1.2e-7 * x.abs();
        assert!(
            err <= rel * want.abs() + 1e-30,
            "silu({x})·{u} = {y}, want {want}"
        );
    }
    // bf16 in and out: the same f32 arithmetic, rounded once (inputs exact in bf16).
    let (gb, ub) = (bits(&g), bits(&u));
    let g16: Vec<f32> = gb
        .iter()
        .map(|&b| f32::from_bits((b as u32) << 16))
        .collect();
    let u16s: Vec<f32> = ub
        .iter()
        .map(|&b| f32::from_bits((b as u32) << 16))
        .collect();
    silu_mul(&g16, &u16s, &mut y);
    let mut yb = vec![0u16; 203];
    silu_mul_bf16(&gb, &ub, &mut yb);
    assert_eq!(yb, bits(&y));
    // silu(0) = 0; silu(ln 3)·1 = ln 3 · 3/4 (e^−ln 3 = 1/3). Only the shortest length is
    // written.
    let mut y = [7.0f32; 3];
    silu_mul(&[0.0, 3f32.ln(), 1.0], &[5.0, 1.0], &mut y);
    assert_eq!(y[0], 0.0);
    assert!((y[1] - 0.75 * 3f32.ln()).abs() < 1e-6);
    assert_eq!(y[2], 7.0);
}

fn rot(head_dim: usize, rotary_dim: usize, cs: &[f32], gptj: bool) -> Rotation<'_> {
    Rotation {
        head_dim,
        rotary_dim,
        cs,
        gptj,
    }
}

#[test]
fn rotations_by_hand_in_both_layouts() {
    // Two heads of 6, rotary_dim 4; cache row: pair 0 a quarter turn (cos 0, sin 1), pair 1
    // a half turn (cos −1, sin 0). Elements 4 and 5 are copied.
    let cs = [0.0, -1.0, 1.0, 0.0];
    let x: Vec<f32> = (1..=12).map(|v| v as f32).collect();
    let mut y = vec![0f32; 12];
    rotate_heads(&x, &mut y, rot(6, 4, &cs, false));
    // NeoX: (x0, x2) = (1, 3) → (−3, 1); (x1, x3) = (2, 4) → (−2, −4).
    let neox = [
        -3.0, -2.0, 1.0, -4.0, 5.0, 6.0, -9.0, -8.0, 7.0, -10.0, 11.0, 12.0,
    ];
    assert_eq!(y, neox);
    rotate_heads(&x, &mut y, rot(6, 4, &cs, true));
    // GPT-J: (x0, x1) = (1, 2) → (−2, 1); (x2, x3) = (3, 4) → (−3, −4).
    let gptj = [
        -2.0, 1.0, -3.0, -4.0, 5.0, 6.0, -8.0, 7.0, -9.0, -10.0, 11.0, 12.0,
    ];
    assert_eq!(y, gptj);
    // The same in bf16 (small integers are exact).
    let mut yb = vec![0u16; 12];
    rotate_heads_bf16(&bits(&x), &mut yb, rot(6, 4, &cs, false));
    assert_eq!(yb, bits(&neox));
    rotate_heads_bf16(&bits(&x), &mut yb, rot(6, 4, &cs, true));
    assert_eq!(yb, bits(&gptj));
}

#[test]
fn long_heads_agree_with_a_plain_loop() {
    // 3 heads of 128 (several vectors a half), 96 or all 128 rotated (NeoX halves of 64 take
    // the BF16 instruction's path where the CPU has one), a general angle per pair.
    let d = 128;
    for r in [96, 128] {
        let cs: Vec<f32> = (0..r / 2)
            .map(|i| (i as f32 * 0.1).cos())
            .chain((0..r / 2).map(|i| (i as f32 * 0.1).sin()))
            .collect();
        let x: Vec<f32> = (0..3 * d)
            .map(|i| ((i * 37) % 101) as f32 / 50.0 - 1.0)
            .collect();
        for gptj in [false, true] {
            let mut y = vec![0f32; 3 * d];
            rotate_heads(&x, &mut y, rot(d, r, &cs, gptj));
            let mut want = x.clone();
            for h in 0..3 {
                for i in 0..r / 2 {
                    let (a, b) = if gptj {
                        (2 * i, 2 * i + 1)
                    } else {
                        (i, i + r / 2)
                    };
                    let (p, q) = (x[h * d + a], x[h * d + b]);
                    let (c, s) = (cs[i], cs[r / 2 + i]);
                    want[h * d + a] = p * c - q * s;
                    want[h * d + b] = q * c + p * s;
                }
            }
            assert_eq!(y, want, "r {r} gptj {gptj}");
            // bf16: the f32 result on the bf16-rounded input, rounded once.
            let xb = bits(&x);
            let x16: Vec<f32> = xb
                .iter()
                .map(|&b| f32::from_bits((b as u32) << 16))
                .collect();
            rotate_heads(&x16, &mut y, rot(d, r, &cs, gptj));
            let mut yb = vec![0u16; 3 * d];
            rotate_heads_bf16(&xb, &mut yb, rot(d, r, &cs, gptj));
            assert_eq!(yb, bits(&y), "r {r} gptj {gptj}");
            let mut portable = vec![0u16; 3 * d];
            rotate_bf16_body::<false>(&xb, &mut portable, rot(d, r, &cs, gptj));
            assert_eq!(portable, yb, "r {r} gptj {gptj}");
        }
    }
}

#[test]
#[should_panic(expected = "rotate_heads")]
fn an_odd_rotary_dim_is_refused() {
    rotate_heads(&[0.0; 4], &mut [0.0; 4], rot(4, 3, &[0.0; 4], false));
}

#[test]
fn every_bf16_silu_path_rounds_as_half_does() {
    // 1000 gates over [−12, 12) and ups over [−2, 2), exact in bf16; 1000 is no multiple of
    // 32, so every path has a remainder too.
    let g: Vec<f32> = (0..1000)
        .map(|i| ((i * 7919) % 1000) as f32 * 0.024 - 12.0)
        .collect();
    let u: Vec<f32> = (0..1000)
        .map(|i| ((i * 104_729) % 1000) as f32 * 0.004 - 2.0)
        .collect();
    let (gb, ub) = (bits(&g), bits(&u));
    let (g, u): (Vec<f32>, Vec<f32>) = (
        gb.iter()
            .map(|&b| f32::from_bits((b as u32) << 16))
            .collect(),
        ub.iter()
            .map(|&b| f32::from_bits((b as u32) << 16))
            .collect(),
    );
    // The portable path: the f32 result, rounded by half.
    let mut y = vec![0f32; 1000];
    silu_mul_body::<false>(&g, &u, &mut y);
    let mut yb = vec![0u16; 1000];
    silu_mul_bf16_body::<false>(&gb, &ub, &mut yb);
    assert_eq!(yb, bits(&y));
    // The vector paths (fused multiply-adds): integer rounding and the BF16 instruction give
    // the same bits, and both are half's rounding of the f32 result.
    #[cfg(target_arch = "x86_64")]
    if level() == Level::Avx512 {
        // SAFETY: AVX-512 was detected.
        unsafe { silu_mul_avx512(&g, &u, &mut y) };
        let mut int = vec![0u16; 1000];
        // SAFETY: as above.
        unsafe { silu_mul_bf16_avx512(&gb, &ub, &mut int) };
        assert_eq!(int, bits(&y));
        if bf16_convert() {
            let mut cvt = vec![0u16; 1000];
            // SAFETY: AVX512-BF16 was detected.
            unsafe { silu_mul_bf16_cvt(&gb, &ub, &mut cvt) };
            assert_eq!(cvt, int);
        }
    }
}
