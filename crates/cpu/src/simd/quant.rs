//! Dot products over quantized weight rows, decoded in registers (no trip through memory),
//! each weight decoded once for every activation row it multiplies.
//!
//! - [`int4_dots`]: packed int4 codes (eight to a u32, nibble e of word j is element 8j + e)
//!   through a per-group table of the 16 dequantized values, `(q − z)·scale`. With AVX-512,
//!   two words are broadcast into 16 lanes, shifted by per-lane amounts and looked up with
//!   one `vpermps` (which reads only the low four bits of each index), so 16 weights cost a
//!   shift and a permute; the activations are stored in that lane order ([`int4_lane_order`]).
//! - [`fp8_dots`]: OCP e4m3 bytes, each turned into the f16 with the same bits below the sign
//!   (sign-extend, shift by 7, clear bit 14: exactly the e4m3 value · 2⁻⁸, subnormals
//!   included) and widened by `vcvtph2ps`; the caller multiplies by 256 ([`FP8_F16_SCALE`]).
//!
//! Elsewhere both fall back to plain loops with the same results.

use super::{level, Level};

/// What [`fp8_dots`] sums must be multiplied by: its f16 view of an e4m3 code is 2⁻⁸ of it.
pub const FP8_F16_SCALE: f32 = 256.0;

/// Where element `e` of a 16-element block sits in [`int4_dots`]'s activation order: elements
/// 0..8 of the block (first word) at even lanes, 8..16 (second word) at odd ones.
pub fn int4_lane_order(e: usize) -> usize {
    let (block, i) = (e / 16, e % 16);
    block * 16 + if i < 8 { 2 * i } else { 2 * (i - 8) + 1 }
}

/// `out[r] += Σ_e table[g(e)][q_e]·x[r][e]` over one weight row of `words.len()·8` codes,
/// `g(e) = e / group`, for the `out.len()` activation rows of `xs` (`k` apart, each in
/// [`int4_lane_order`]). `tables` holds 16 values per group; `group` is a power of two, at least 16.
///
/// Panics if the sizes disagree (a kernel bug, never an input error).
pub fn int4_dots(
    words: &[u32],
    group: usize,
    tables: &[f32],
    xs: &[f32],
    k: usize,
    out: &mut [f32],
) {
    let n = words.len() * 8;
    assert!(
        group.is_power_of_two() && group >= 16 && n.is_multiple_of(group),
        "int4_dots: group {group}, {n} codes"
    );
    assert!(
        tables.len() >= 16 * (n / group),
        "int4_dots: tables for {n}/{group} groups"
    );
    assert!(
        out.len() <= 16 && xs.len() >= (out.len().max(1) - 1) * k + n,
        "int4_dots: rows"
    );
    #[cfg(target_arch = "x86_64")]
    if level() == Level::Avx512 {
        // SAFETY: AVX-512 F was detected on this CPU; the sizes were checked above.
        unsafe { int4_dots_avx512(words, group, tables, xs, k, out) };
        return;
    }
    int4_dots_plain(words, group, tables, xs, k, out);
}

/// The dequantization tables of one weight row: `tables[16g + q] = (q − zeros[g])·scales[g]`
/// for every group `g` (f32 scale and zero point per group).
///
/// Panics if `tables` is shorter than 16 per group (a kernel bug, never an input error).
pub fn int4_tables(scales: &[f32], zeros: &[f32], tables: &mut [f32]) {
    assert!(
        tables.len() >= 16 * scales.len() && zeros.len() >= scales.len(),
        "int4_tables"
    );
    #[cfg(target_arch = "x86_64")]
    if level() == Level::Avx512 {
        // SAFETY: AVX-512 F was detected on this CPU; the sizes were checked above.
        unsafe { int4_tables_avx512(scales, zeros, tables) };
        return;
    }
    for ((s, z), t) in scales.iter().zip(zeros).zip(tables.chunks_exact_mut(16)) {
        for (q, v) in t.iter_mut().enumerate() {
            *v = (q as f32 - z) * s;
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn int4_tables_avx512(scales: &[f32], zeros: &[f32], tables: &mut [f32]) {
    use std::arch::x86_64::*;
    let iota = _mm512_setr_ps(
        0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 13.0, 14.0, 15.0,
    );
    for (g, (s, z)) in scales.iter().zip(zeros).enumerate() {
        let t = _mm512_mul_ps(_mm512_sub_ps(iota, _mm512_set1_ps(*z)), _mm512_set1_ps(*s));
        _mm512_storeu_ps(tables.as_mut_ptr().add(16 * g), t);
    }
}

fn int4_dots_plain(
    words: &[u32],
    group: usize,
    tables: &[f32],
    xs: &[f32],
    k: usize,
    out: &mut [f32],
) {
    for (r, o) in out.iter_mut().enumerate() {
        let x = &xs[r * k..];
        let mut s = 0f32;
        for (j, w) in words.iter().enumerate() {
            for e in 0..8 {
                let at = 8 * j + e;
                let table = &tables[16 * (at / group)..];
                s += table[((w >> (4 * e)) & 15) as usize] * x[int4_lane_order(at)];
            }
        }
        *o += s;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn int4_dots_avx512(
    words: &[u32],
    group: usize,
    tables: &[f32],
    xs: &[f32],
    k: usize,
    out: &mut [f32],
) {
    if !out.is_empty() {
        by_rows!(out.len(), int4_rows(words, group, tables, xs, k, out))
    }
}

/// [`int4_dots`] for R rows with C chains each: C pairs of words (16·C codes) per step.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
#[inline]
unsafe fn int4_rows<const R: usize, const C: usize>(
    words: &[u32],
    group: usize,
    tables: &[f32],
    xs: &[f32],
    k: usize,
    out: &mut [f32],
) {
    use std::arch::x86_64::*;
    let shifts = _mm512_setr_epi32(0, 0, 4, 4, 8, 8, 12, 12, 16, 16, 20, 20, 24, 24, 28, 28);
    let (wp, tp, xp) = (words.as_ptr(), tables.as_ptr(), xs.as_ptr());
    // group is a power of two (32, 64, 128): the table of code `at` is at / group.
    let shift = group.trailing_zeros();
    let pair = |p: usize, c: usize, acc: &mut [[__m512; C]; R]| {
        let at = 16 * p;
        let both = (wp.add(2 * p) as *const u64).read_unaligned();
        let idx = _mm512_srlv_epi32(_mm512_set1_epi64(both as i64), shifts);
        let w = _mm512_permutexvar_ps(idx, _mm512_loadu_ps(tp.add(16 * (at >> shift))));
        for (r, a) in acc.iter_mut().enumerate() {
            a[c] = _mm512_fmadd_ps(w, _mm512_loadu_ps(xp.add(r * k + at)), a[c]);
        }
    };
    super::chained_rows::<R, C>(words.len() / 2, pair, out);
}

/// `out[r] += Σ_e f16view(w_e)·x[r][e]` over one row of e4m3 bytes, for the `out.len()`
/// activation rows of `xs` (`k = w.len()` apart, natural order); multiply the sums by
/// [`FP8_F16_SCALE`] for the e4m3 values. NaN codes are not decoded (no input holds them).
///
/// Panics if the sizes disagree (a kernel bug, never an input error).
pub fn fp8_dots(w: &[u8], xs: &[f32], out: &mut [f32]) {
    let k = w.len();
    assert!(
        out.len() <= 16 && xs.len() >= out.len() * k,
        "fp8_dots: rows"
    );
    #[cfg(target_arch = "x86_64")]
    if level() == Level::Avx512 {
        // SAFETY: AVX-512 F (and with it AVX2 and F16C) was detected; sizes checked above.
        unsafe { fp8_dots_avx512(w, xs, out) };
        return;
    }
    fp8_dots_plain(w, xs, 0, out);
}

/// The f16 view of an e4m3 code: the code's bits below the sign moved up by 7, the sign on
/// top; its value is the code's · 2⁻⁸.
fn fp8_f16_view(b: u8) -> f32 {
    half::f16::from_bits((((b as i8) as i16 as u16) << 7) & 0xbfff).to_f32()
}

fn fp8_dots_plain(w: &[u8], xs: &[f32], from: usize, out: &mut [f32]) {
    let k = w.len();
    for (r, o) in out.iter_mut().enumerate() {
        let x = &xs[r * k..];
        *o += (from..k).map(|e| fp8_f16_view(w[e]) * x[e]).sum::<f32>();
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,f16c")]
unsafe fn fp8_dots_avx512(w: &[u8], xs: &[f32], out: &mut [f32]) {
    if !out.is_empty() {
        by_rows!(out.len(), fp8_rows(w, xs, out));
    }
    fp8_dots_plain(w, xs, w.len() / 16 * 16, out);
}

/// [`fp8_dots`]'s 16-code blocks for R rows with C chains each (16·C codes per step).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,f16c")]
#[inline]
unsafe fn fp8_rows<const R: usize, const C: usize>(w: &[u8], xs: &[f32], out: &mut [f32]) {
    use std::arch::x86_64::*;
    let k = w.len();
    let mask = _mm256_set1_epi16(0xbfffu16 as i16);
    let (wp, xp) = (w.as_ptr(), xs.as_ptr());
    let block = |b: usize, c: usize, acc: &mut [[__m512; C]; R]| {
        let bytes = _mm_loadu_si128(wp.add(16 * b) as *const __m128i);
        let f = _mm512_cvtph_ps(_mm256_and_si256(
            _mm256_slli_epi16(_mm256_cvtepi8_epi16(bytes), 7),
            mask,
        ));
        for (r, a) in acc.iter_mut().enumerate() {
            a[c] = _mm512_fmadd_ps(f, _mm512_loadu_ps(xp.add(r * k + 16 * b)), a[c]);
        }
    };
    super::chained_rows::<R, C>(k / 16, block, out);
}

/// One f32 as an OCP e4m3 code, rounded to nearest even and saturated at ±448, NaN to 0x7f:
/// core's `fp8_e4m3_from_f32` written without branches (both the subnormal and the normal
/// code are computed and one kept), so a loop of it vectorizes.
#[inline(always)]
fn e4m3_code(x: f32) -> u8 {
    let sign = (x.to_bits() >> 24) & 0x80;
    let a = x.abs().min(448.0);
    let subnormal = (a * 512.0).round_ties_even() as u32;
    let b = a.to_bits();
    let (m3, rest) = ((b >> 20) & 7, b & 0xf_ffff);
    let up = (rest > 0x8_0000 || (rest == 0x8_0000 && m3 & 1 == 1)) as u32;
    let normal = ((b >> 23).wrapping_sub(120) << 3)
        .wrapping_add(m3)
        .wrapping_add(up);
    let code = if a < 0.015_625 { subnormal } else { normal };
    if x.is_nan() {
        0x7f
    } else {
        (code | sign) as u8
    }
}

/// `out[i] = e4m3(x[i]·scale)` over the shorter length (the quantizing half of an fp8 KV
/// cache write: `scale` is 1/the head's scale).
pub fn fp8_encode(x: &[f32], scale: f32, out: &mut [u8]) {
    let n = x.len().min(out.len());
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if level() == Level::Avx512 {
        // SAFETY: AVX-512 F was detected on this CPU; n bounds both slices.
        done = unsafe { fp8_encode_avx512(&x[..n], scale, &mut out[..n]) };
    }
    for (o, v) in out[done..n].iter_mut().zip(&x[done..n]) {
        *o = e4m3_code(v * scale);
    }
}

/// [`e4m3_code`] sixteen lanes at a time over whole vectors; returns how many were done.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fp8_encode_avx512(x: &[f32], scale: f32, out: &mut [u8]) -> usize {
    use std::arch::x86_64::*;
    let s = _mm512_set1_ps(scale);
    let whole = x.len() / 16 * 16;
    for i in (0..whole).step_by(16) {
        let v = _mm512_mul_ps(_mm512_loadu_ps(x.as_ptr().add(i)), s);
        _mm_storeu_si128(out.as_mut_ptr().add(i) as *mut __m128i, e4m3_codes(v));
    }
    whole
}

/// The e4m3 codes of sixteen floats ([`e4m3_code`] of each), in the low bytes' order.
///
/// The rounding is one float addition: with e the biased exponent of |x| held at 121 (2⁻⁶, the
/// smallest normal e4m3) or above, |x| + 2^(e − 127 + 20) rounds |x| to nearest even at
/// 2^(e − 127 − 3), three mantissa bits (multiples of 2⁻⁹ below 2⁻⁶), and its bits less the
/// addend's count those steps: 8 + m for a normal, the multiple itself for a subnormal, 16
/// where the rounding carried into the next binade. The code is then `(e − 121)·8 + steps`.
///
/// # Safety
/// The CPU must have AVX-512 F (callers are `#[target_feature(enable = "avx512f")]`).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(super) unsafe fn e4m3_codes(v: std::arch::x86_64::__m512) -> std::arch::x86_64::__m128i {
    use std::arch::x86_64::*;
    let (abs, top) = (_mm512_set1_epi32(0x7fff_ffff), _mm512_set1_ps(448.0));
    let (smallest_normal, sign_bit) = (_mm512_set1_epi32(121), _mm512_set1_epi32(0x80));
    let bits = _mm512_castps_si512(v);
    let nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    let a = _mm512_min_ps(_mm512_castsi512_ps(_mm512_and_si512(bits, abs)), top);
    let e = _mm512_max_epu32(
        _mm512_srli_epi32::<23>(_mm512_castps_si512(a)),
        smallest_normal,
    );
    let addend = _mm512_slli_epi32::<23>(_mm512_add_epi32(e, _mm512_set1_epi32(20)));
    let rounded = _mm512_castps_si512(_mm512_add_ps(a, _mm512_castsi512_ps(addend)));
    let steps = _mm512_sub_epi32(rounded, addend);
    let code = _mm512_add_epi32(
        _mm512_slli_epi32::<3>(_mm512_sub_epi32(e, smallest_normal)),
        steps,
    );
    // code | (bits >> 24 & 0x80): the sign on top (0xF8 = a | b & c).
    let code = _mm512_ternarylogic_epi32::<0xF8>(code, _mm512_srli_epi32::<24>(bits), sign_bit);
    _mm512_cvtepi32_epi8(_mm512_mask_blend_epi32(nan, code, _mm512_set1_epi32(0x7f)))
}

/// `out[i] = e4m3(codes[i])·scale` over the shorter length (the dequantizing half of an fp8
/// KV cache read), through the f16 view of each code (exact; NaN codes are not decoded).
pub fn fp8_decode(codes: &[u8], scale: f32, out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if level() == Level::Avx512 {
        // SAFETY: AVX-512 F (and with it AVX2 and F16C) was detected on this CPU.
        unsafe { fp8_decode_avx512(codes, scale, out) };
        return;
    }
    for (o, c) in out.iter_mut().zip(codes) {
        *o = fp8_f16_view(*c) * FP8_F16_SCALE * scale;
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,f16c")]
unsafe fn fp8_decode_avx512(codes: &[u8], scale: f32, out: &mut [f32]) {
    use std::arch::x86_64::*;
    let n = codes.len().min(out.len());
    let factor = _mm512_set1_ps(scale * FP8_F16_SCALE);
    let mut i = 0;
    while i + 16 <= n {
        let bytes = _mm_loadu_si128(codes.as_ptr().add(i) as *const __m128i);
        _mm512_storeu_ps(out.as_mut_ptr().add(i), e4m3_values(bytes, factor));
        i += 16;
    }
    for j in i..n {
        out[j] = fp8_f16_view(codes[j]) * FP8_F16_SCALE * scale;
    }
}

/// Sixteen e4m3 codes' values times `factor`/[`FP8_F16_SCALE`], through the f16 view of each
/// code (exact; NaN codes are not decoded).
///
/// # Safety
/// The CPU must have AVX-512 F, AVX2 and F16C (callers enable them).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(super) unsafe fn e4m3_values(
    bytes: std::arch::x86_64::__m128i,
    factor: std::arch::x86_64::__m512,
) -> std::arch::x86_64::__m512 {
    use std::arch::x86_64::*;
    let mask = _mm256_set1_epi16(0xbfffu16 as i16);
    let h = _mm256_and_si256(_mm256_slli_epi16(_mm256_cvtepi8_epi16(bytes), 7), mask);
    _mm512_mul_ps(_mm512_cvtph_ps(h), factor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotpath_core::tensor::fp8_e4m3_to_f32;

    #[test]
    fn the_vector_encoder_is_cores_encoder() {
        use hotpath_core::tensor::fp8_e4m3_from_f32;
        // Every code's value, the midpoints between neighbours (ties), values past 448 and
        // below the smallest subnormal, NaN, and a sweep of ±600.
        let mut x = vec![0.0f32, -0.0, 448.0, 460.0, 1e9, 1e-12, f32::NAN, 0.015_625];
        for c in 0u8..0x7e {
            let (lo, hi) = (fp8_e4m3_to_f32(c), fp8_e4m3_to_f32(c + 1));
            x.extend([
                lo,
                -lo,
                (lo + hi) / 2.0,
                -(lo + hi) / 2.0,
                lo + (hi - lo) / 3.0,
            ]);
        }
        x.extend((0..50_000).map(|i| (i as f32 - 25_000.0) * 0.024_001));
        for scale in [1.0f32, 0.37, 3.0] {
            let mut out = vec![0u8; x.len()];
            fp8_encode(&x, scale, &mut out);
            for (v, o) in x.iter().zip(&out) {
                assert_eq!(*o, fp8_e4m3_from_f32(v * scale), "{v:e}·{scale}");
            }
        }
    }

    #[test]
    fn decoding_is_the_code_times_the_scale() {
        // Every finite code, 254 of them (a vector body and a tail), at two scales.
        let codes: Vec<u8> = (0..=255u8).filter(|c| c & 0x7f != 0x7f).collect();
        for scale in [1.0f32, 0.375] {
            let mut out = vec![0f32; codes.len()];
            fp8_decode(&codes, scale, &mut out);
            for (c, o) in codes.iter().zip(&out) {
                assert_eq!(*o, fp8_e4m3_to_f32(*c) * scale, "{c:#04x}");
            }
        }
    }

    #[test]
    fn the_f16_view_is_the_code_over_256() {
        for b in 0..=255u8 {
            if b & 0x7f == 0x7f {
                continue; // NaN codes
            }
            assert_eq!(
                fp8_f16_view(b) * FP8_F16_SCALE,
                fp8_e4m3_to_f32(b),
                "{b:#04x}"
            );
        }
    }

    #[test]
    fn fp8_vector_and_plain_loops_agree_with_decoded_sums() {
        // 37 codes (two blocks and a tail of 5), two rows: sums against f64 of the decoded codes.
        let w: Vec<u8> = (0..37u32).map(|i| (i * 37 % 254) as u8).collect();
        let xs: Vec<f32> = (0..74).map(|i| (i as f32 * 0.37).sin()).collect();
        let mut out = [0.5f32, -1.0];
        fp8_dots(&w, &xs, &mut out);
        let mut plain = [0.5f32, -1.0];
        fp8_dots_plain(&w, &xs, 0, &mut plain);
        for r in 0..2 {
            let want: f64 = [0.5, -1.0][r]
                + (0..37)
                    .map(|e| fp8_e4m3_to_f32(w[e]) as f64 / 256.0 * xs[r * 37 + e] as f64)
                    .sum::<f64>();
            for got in [out[r], plain[r]] {
                assert!(
                    (got as f64 - want).abs() < 1e-5 * want.abs().max(1.0),
                    "{got} {want}"
                );
            }
        }
    }

    #[test]
    fn int4_vector_and_plain_loops_agree_with_a_by_hand_unpack() {
        // k = 64, group 32: two tables; codes from a word sequence; one and three rows.
        let words: Vec<u32> = (0..8u32)
            .map(|i| 0x9e37_79b9u32.wrapping_mul(i + 1))
            .collect();
        let tables: Vec<f32> = (0..32)
            .map(|i| (i % 16) as f32 * 0.25 - (i / 16) as f32)
            .collect();
        let x: Vec<f32> = (0..192).map(|i| ((i * 7 % 13) as f32) - 6.0).collect();
        let mut xs = vec![0f32; 192];
        for r in 0..3 {
            for e in 0..64 {
                xs[r * 64 + int4_lane_order(e)] = x[r * 64 + e];
            }
        }
        for rows in [1, 3] {
            let (mut fast, mut plain) = (vec![0f32; rows], vec![0f32; rows]);
            int4_dots(&words, 32, &tables, &xs, 64, &mut fast);
            int4_dots_plain(&words, 32, &tables, &xs, 64, &mut plain);
            for r in 0..rows {
                // By hand: the hexadecimal digits of each word, lowest first.
                let mut want = 0f64;
                for e in 0..64 {
                    let digit = format!("{:08x}", words[e / 8])
                        .chars()
                        .rev()
                        .nth(e % 8)
                        .and_then(|c| c.to_digit(16))
                        .unwrap_or(99) as usize;
                    want += tables[16 * (e / 32) + digit] as f64 * x[r * 64 + e] as f64;
                }
                assert_eq!(fast[r] as f64, want, "rows {rows}, row {r}");
                assert_eq!(plain[r] as f64, want, "rows {rows}, row {r}");
            }
        }
    }
}
