//! fp8 e4m3 weights times bf16 activations with `vdpbf16ps`: every code becomes its exact
//! bf16 in registers (two `vpermi2b` lookups of the low and high byte, one `vpternlogd` for
//! the sign, as [`super::fp8_rows_to_bf16`] does) and meets the activations as they are
//! stored, 32 codes an instruction. The two byte interleaves leave the codes in a lane order
//! of their own, which the activations take once per run ([`fp8_bf16_order`]) instead of the
//! codes being put back in order every time.

use std::sync::OnceLock;

use super::fp8_rows::vbmi;

/// Codes per block: one 64-byte load.
const BLOCK: usize = 64;

/// Whether [`fp8_dots_bf16`] runs on this CPU (AVX-512 F, BW, VBMI and BF16), for rows whose
/// length is a multiple of 64.
pub fn fp8_bf16_fast(k: usize) -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    let has = *HAS.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            vbmi() && std::arch::is_x86_feature_detected!("avx512bf16")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    });
    has && k.is_multiple_of(BLOCK)
}

/// Where element `e` sits in [`fp8_dots_bf16`]'s activation order. In a 64-code block the
/// byte interleaves give, per 128-bit lane L, codes 16L..16L+7 in the first register and
/// 16L+8..16L+15 in the second.
pub fn fp8_bf16_order(e: usize) -> usize {
    let (block, i) = (e / BLOCK, e % BLOCK);
    let (lane, r) = (i / 16, i % 16);
    block * BLOCK + (r / 8) * 32 + lane * 8 + r % 8
}

/// `out[r] += Σ_e e4m3(w_e)·x[r][e]` over one row of e4m3 codes for the `out.len()` bf16
/// activation rows of `xs` (`w.len()` apart, in [`fp8_bf16_order`]). NaN codes are not decoded
/// (no input holds them). Call only where [`fp8_bf16_fast`] is true.
///
/// Panics if the sizes disagree or the CPU lacks the instructions (a kernel bug).
pub fn fp8_dots_bf16(w: &[u8], xs: &[u16], out: &mut [f32]) {
    let k = w.len();
    assert!(fp8_bf16_fast(k), "fp8_dots_bf16: {k} codes");
    assert!(
        out.len() <= 16 && xs.len() >= out.len() * k,
        "fp8_dots_bf16: rows"
    );
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the instructions were detected (fp8_bf16_fast) and the sizes checked above.
    unsafe {
        if !out.is_empty() {
            by_rows!(out.len(), fp8_bf16_rows(w, xs, out));
        }
    }
}

/// [`fp8_dots_bf16`] for R rows with C blocks a step, block `b` adding into chain `b % C`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vbmi,avx512bf16")]
#[inline]
unsafe fn fp8_bf16_rows<const R: usize, const C: usize>(w: &[u8], xs: &[u16], out: &mut [f32]) {
    use super::fp8_rows::{HIGH_BYTES, LOW_BYTES};
    use std::arch::x86_64::*;
    let k = w.len();
    let load =
        |t: &[u8; 128], half: usize| _mm512_loadu_si512(t.as_ptr().add(64 * half) as *const _);
    let (lo0, lo1) = (load(&LOW_BYTES, 0), load(&LOW_BYTES, 1));
    let (hi0, hi1) = (load(&HIGH_BYTES, 0), load(&HIGH_BYTES, 1));
    let sign = _mm512_set1_epi8(0x80u8 as i8);
    let (wp, xp) = (w.as_ptr(), xs.as_ptr());
    let block = |b: usize, c: usize, total: &mut [[__m512; C]; R]| {
        let codes = _mm512_loadu_si512(wp.add(BLOCK * b) as *const _);
        // vpermi2b reads the low 7 bits of each index: the magnitude.
        let l = _mm512_permutex2var_epi8(lo0, codes, lo1);
        let h = _mm512_permutex2var_epi8(hi0, codes, hi1);
        // h | (codes & 0x80): the sign bit on top of the high byte.
        let h = _mm512_ternarylogic_epi32::<0xF8>(h, codes, sign);
        let first: __m512bh = std::mem::transmute(_mm512_unpacklo_epi8(l, h));
        let second: __m512bh = std::mem::transmute(_mm512_unpackhi_epi8(l, h));
        for (r, t) in total.iter_mut().enumerate() {
            let x = xp.add(r * k + BLOCK * b) as *const __m512i;
            let xa: __m512bh = std::mem::transmute(_mm512_loadu_si512(x));
            let xb: __m512bh = std::mem::transmute(_mm512_loadu_si512(x.add(1)));
            t[c] = _mm512_dpbf16_ps(_mm512_dpbf16_ps(t[c], first, xa), second, xb);
        }
    };
    super::chained_rows::<R, C>(k / BLOCK, block, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotpath_core::tensor::fp8_e4m3_to_f32;

    #[test]
    fn the_order_is_a_permutation_of_each_block() {
        let mut seen = [false; 128];
        for e in 0..128 {
            let at = fp8_bf16_order(e);
            assert_eq!(at / 64, e / 64, "{e} left its block");
            assert!(!seen[at], "{e} lands on a taken slot {at}");
            seen[at] = true;
        }
        // By hand: code 9 (lane 0, second register) sits at 32 + 1; code 20 (lane 1, first
        // register) at 8 + 4.
        assert_eq!(fp8_bf16_order(9), 33);
        assert_eq!(fp8_bf16_order(20), 12);
    }

    #[test]
    fn every_code_and_row_count_matches_a_plain_sum() {
        // k = 384: all 256 codes but the NaNs, scrambled, over six blocks; three rows.
        let k = 384;
        if !fp8_bf16_fast(k) {
            return; // nothing to compare on this CPU: the f32 path serves it
        }
        let w: Vec<u8> = (0..k as u32)
            .map(|i| (i * 167 % 256) as u8)
            .map(|b| if b & 0x7f == 0x7f { 0x38 } else { b })
            .collect();
        let x: Vec<f32> = (0..3 * k)
            .map(|i| ((i * 7 % 19) as f32 - 9.0) / 8.0)
            .collect();
        let mut xs = vec![0u16; 3 * k];
        for r in 0..3 {
            for e in 0..k {
                xs[r * k + fp8_bf16_order(e)] = half::bf16::from_f32(x[r * k + e]).to_bits();
            }
        }
        for rows in 1..=3 {
            let mut out = vec![1.0f32; rows];
            fp8_dots_bf16(&w, &xs, &mut out);
            for (r, got) in out.iter().enumerate() {
                let terms = (0..k).map(|e| fp8_e4m3_to_f32(w[e]) as f64 * x[r * k + e] as f64);
                let want = 1.0 + terms.clone().sum::<f64>();
                let bound: f64 = terms.map(f64::abs).sum();
                assert!(
                    (*got as f64 - want).abs() <= 1e-6 * bound,
                    "rows {rows} row {r}: {got} {want}"
                );
            }
        }
    }
}
