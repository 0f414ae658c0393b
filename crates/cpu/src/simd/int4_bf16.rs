//! Packed int4 weights times bf16 activations with `vdpbf16ps` (AVX-512 BF16): every code
//! becomes the bf16 of `q − 8` (symmetric) or `q` (asymmetric) by one `vpermw` lookup, and
//! pairs of exact bf16 products are summed in f32, 32 codes an instruction. The group scale
//! (and, asymmetric, `−scale·z` times the sum of the activations it applies to) is applied in
//! f32 once per 64 codes.
//!
//! Layout of one 64-code block (eight words, 32 bytes): byte t holds codes 2t (low nibble)
//! and 2t + 1 (high nibble); widened to 32 words, the low nibbles are looked up as they are
//! (`vpermw` reads five index bits: the table holds its 16 values twice) and the high ones
//! after a shift. f32 lane i then sums codes 4i..4i+3, so the activations are stored per
//! block as its even elements then its odd ones ([`int4_bf16_order`]) and the lane sums of
//! four consecutive activations (`x4`) serve the zero points.

use std::sync::OnceLock;

use super::{level, Level};

/// Whether [`int4_dots_bf16`] runs on this CPU (AVX-512 F, BW and BF16), for rows whose
/// length is a multiple of 64.
pub fn int4_bf16_fast(k: usize) -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    let has = *HAS.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            level() == Level::Avx512 && std::arch::is_x86_feature_detected!("avx512bf16")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    });
    has && k.is_multiple_of(64)
}

/// Where element `e` sits in [`int4_dots_bf16`]'s activation order: in its 64-element block,
/// the even elements first, then the odd ones.
pub fn int4_bf16_order(e: usize) -> usize {
    let (block, i) = (e / 64, e % 64);
    block * 64 + if i % 2 == 0 { i / 2 } else { 32 + i / 2 }
}

/// The zero-point form of one weight row: symmetric (z = 8 folded into the codes) or a
/// `scale·z` per group with the sums of four consecutive activations of every row.
#[derive(Clone, Copy)]
pub enum Int4Zeros<'a> {
    /// z = 8 for every group.
    Symmetric,
    /// `scaled[g] = scale[g]·z[g]`; `x4[r·k/4 + j]` = Σ of activations 4j..4j+3 of row r.
    Asymmetric {
        /// scale·z per group.
        scaled: &'a [f32],
        /// Sums of four consecutive activations, per row.
        x4: &'a [f32],
    },
}

/// `out[r] += Σ_e scale[g]·(q_e − z_g)·x[r][e]` (g = e / group) over one row of
/// `words.len()·8` codes for the `out.len()` bf16 activation rows of `xs` (`k` apart, in
/// [`int4_bf16_order`]). Call only where [`int4_bf16_fast`] is true.
///
/// Panics if the sizes disagree or the CPU lacks the instructions (a kernel bug).
pub fn int4_dots_bf16(
    words: &[u32],
    group: usize,
    scales: &[f32],
    zeros: Int4Zeros,
    xs: &[u16],
    k: usize,
    out: &mut [f32],
) {
    let n = words.len() * 8;
    assert!(
        int4_bf16_fast(n) && n == k,
        "int4_dots_bf16: {n} codes, k {k}"
    );
    assert!(
        matches!(group, 32 | 64 | 128) && scales.len() >= n / group,
        "int4_dots_bf16: groups"
    );
    assert!(
        out.len() <= 16 && xs.len() >= out.len() * k,
        "int4_dots_bf16: rows"
    );
    if let Int4Zeros::Asymmetric { scaled, x4 } = zeros {
        assert!(
            scaled.len() >= n / group && x4.len() >= out.len() * k / 4,
            "int4_dots_bf16: zeros"
        );
    }
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the instructions were detected (int4_bf16_fast) and the sizes checked above.
    unsafe {
        int4_dots_bf16_avx512(words, group, scales, zeros, xs, k, out)
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
unsafe fn int4_dots_bf16_avx512(
    words: &[u32],
    group: usize,
    scales: &[f32],
    zeros: Int4Zeros,
    xs: &[u16],
    k: usize,
    out: &mut [f32],
) {
    if !out.is_empty() {
        by_rows!(
            out.len(),
            int4_bf16_rows(words, group, scales, zeros, xs, k, out)
        );
    }
}

/// [`int4_dots_bf16`] for R rows with C accumulator chains each: C blocks of 64 codes a
/// step, block `b` adding into chain `b % C` (registers, not memory, carry the sums).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
#[inline]
unsafe fn int4_bf16_rows<const R: usize, const C: usize>(
    words: &[u32],
    group: usize,
    scales: &[f32],
    zeros: Int4Zeros,
    xs: &[u16],
    k: usize,
    out: &mut [f32],
) {
    use std::arch::x86_64::*;
    // bf16 of q − 8 (symmetric) or q, twice over (five index bits).
    let bias = match zeros {
        Int4Zeros::Symmetric => 8.0,
        Int4Zeros::Asymmetric { .. } => 0.0,
    };
    let mut table = [0u16; 32];
    for (j, t) in table.iter_mut().enumerate() {
        *t = half::bf16::from_f32((j % 16) as f32 - bias).to_bits();
    }
    let table = _mm512_loadu_si512(table.as_ptr() as *const __m512i);
    let low_bits = _mm512_set1_epi16(0x0f);
    let mut total = [[_mm512_setzero_ps(); C]; R];
    let (wp, xp) = (words.as_ptr() as *const u8, xs.as_ptr());
    // group is 32, 64 or 128: code e's group is e >> shift (no division in the loop).
    let shift = group.trailing_zeros();
    let block = |b: usize, c: usize, total: &mut [[__m512; C]; R]| {
        let bytes = _mm256_loadu_si256(wp.add(32 * b) as *const __m256i);
        let wide = _mm512_cvtepu8_epi16(bytes);
        let lo: __m512bh = std::mem::transmute(_mm512_permutexvar_epi16(wide, table));
        let hi: __m512bh = std::mem::transmute(_mm512_permutexvar_epi16(
            _mm512_and_si512(_mm512_srli_epi16(wide, 4), low_bits),
            table,
        ));
        // Lanes 0..7 cover codes 0..31 of the block, lanes 8..15 codes 32..63.
        let (g0, g1) = ((64 * b) >> shift, (64 * b + 32) >> shift);
        let scale = _mm512_mask_blend_ps(
            0xff00,
            _mm512_set1_ps(*scales.get_unchecked(g0)),
            _mm512_set1_ps(*scales.get_unchecked(g1)),
        );
        for (r, t) in total.iter_mut().enumerate() {
            let x = xp.add(r * k + 64 * b);
            let xlo: __m512bh = std::mem::transmute(_mm512_loadu_si512(x as *const __m512i));
            let xhi: __m512bh =
                std::mem::transmute(_mm512_loadu_si512(x.add(32) as *const __m512i));
            let acc = _mm512_dpbf16_ps(_mm512_dpbf16_ps(_mm512_setzero_ps(), lo, xlo), hi, xhi);
            t[c] = _mm512_fmadd_ps(acc, scale, t[c]);
            if let Int4Zeros::Asymmetric { scaled, x4 } = zeros {
                let sz = _mm512_mask_blend_ps(
                    0xff00,
                    _mm512_set1_ps(*scaled.get_unchecked(g0)),
                    _mm512_set1_ps(*scaled.get_unchecked(g1)),
                );
                let sums = _mm512_loadu_ps(x4.as_ptr().add(r * k / 4 + 16 * b));
                t[c] = _mm512_fnmadd_ps(sz, sums, t[c]);
            }
        }
    };
    let blocks = k / 64;
    let mut b = 0;
    while b + C <= blocks {
        for c in 0..C {
            block(b + c, c, &mut total);
        }
        b += C;
    }
    while b < blocks {
        block(b, 0, &mut total);
        b += 1;
    }
    for (o, t) in out.iter_mut().zip(total) {
        let mut v = t[0];
        for chain in &t[1..] {
            v = _mm512_add_ps(v, *chain);
        }
        *o += _mm512_reduce_add_ps(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_and_asymmetric_rows_match_a_plain_sum() {
        // k = 128, groups of 32 (four scales), two rows of bf16 activations.
        let k = 128;
        if !int4_bf16_fast(k) {
            return; // nothing to compare on this CPU: the f32 path serves it
        }
        let words: Vec<u32> = (0..16u32)
            .map(|i| 0x2545_f491u32.wrapping_mul(i + 3))
            .collect();
        let scales = [0.5f32, 0.25, 1.0, 2.0];
        let zs = [3.0f32, 8.0, 0.0, 15.0];
        let x: Vec<f32> = (0..2 * k)
            .map(|i| ((i * 5 % 17) as f32 - 8.0) / 4.0)
            .collect();
        let code = |e: usize| ((words[e / 8] >> (4 * (e % 8))) & 15) as f32;
        let mut xs = vec![0u16; 2 * k];
        let mut x4 = vec![0f32; 2 * k / 4];
        for r in 0..2 {
            for e in 0..k {
                xs[r * k + int4_bf16_order(e)] = half::bf16::from_f32(x[r * k + e]).to_bits();
                x4[r * k / 4 + e / 4] += x[r * k + e];
            }
        }
        let scaled: Vec<f32> = scales.iter().zip(zs).map(|(s, z)| s * z).collect();
        for asymmetric in [false, true] {
            let mut out = [0f32; 2];
            let zeros = if asymmetric {
                Int4Zeros::Asymmetric {
                    scaled: &scaled,
                    x4: &x4,
                }
            } else {
                Int4Zeros::Symmetric
            };
            int4_dots_bf16(&words, 32, &scales, zeros, &xs, k, &mut out);
            for (r, got) in out.iter().enumerate() {
                let want: f64 = (0..k)
                    .map(|e| {
                        let z = if asymmetric { zs[e / 32] } else { 8.0 };
                        ((code(e) - z) * scales[e / 32]) as f64 * x[r * k + e] as f64
                    })
                    .sum();
                assert!(
                    (*got as f64 - want).abs() < 1e-4,
                    "asym {asymmetric} row {r}: {got} {want}"
                );
            }
        }
    }
}
