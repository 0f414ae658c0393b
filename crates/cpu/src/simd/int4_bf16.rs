//! Packed int4 weights times bf16 activations with `vdpbf16ps` (AVX-512 BF16), the CPU form
//! of the GPU's magic-number dequantization: a code q OR-ed into the mantissa of bf16 128.0
//! (bits `0x4300 | q`) is the bf16 of 128 + q, exactly, with no table lookup. The products
//! (128 + q)·x are exact in f32 and summed there; each group's offset, `scale·(128 + z)` times
//! the sum of the group's activations, is taken off once per weight row and activation row.
//!
//! Layout of one 128-code chunk (16 words, 64 bytes): 16-bit lane t of the chunk holds codes
//! 4t..4t+3 in its four nibbles; nibble s of every lane (a shift and one `vpternlogd`) gives
//! 32 bf16, and f32 lane i of `vdpbf16ps` sums codes 8i + s and 8i + 4 + s. The activations
//! are stored per chunk as the four nibble planes ([`int4_bf16_order`]), laid out once per run.

use std::sync::OnceLock;

use super::{level, Level};

/// Codes per chunk: one 64-byte load.
const CHUNK: usize = 128;
/// bf16 128.0, whose low seven mantissa bits take the code.
const MAGIC_BF16: u16 = 0x4300;
/// The value that magic adds to every code.
const MAGIC: f32 = 128.0;

/// Whether [`int4_dots_bf16`] runs on this CPU (AVX-512 F, BW and BF16), for rows whose
/// length is a multiple of 128.
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
    has && k.is_multiple_of(CHUNK)
}

/// Where element `e` sits in [`int4_dots_bf16`]'s activation order: in its 128-element chunk,
/// nibble plane `e % 4`, lane `(e % 128) / 4`.
pub fn int4_bf16_order(e: usize) -> usize {
    let (chunk, i) = (e / CHUNK, e % CHUNK);
    chunk * CHUNK + (i % 4) * 32 + i / 4
}

/// The zero points of one weight row.
#[derive(Clone, Copy)]
pub enum Int4Zeros<'a> {
    /// z = 8 for every group.
    Symmetric,
    /// Group g's z is nibble g % 8 of word g / 8 (the `zeros` tensor's row).
    Packed(&'a [u32]),
}

/// `out[r] += Σ_e scale[g]·(q_e − z_g)·x[r][e]` (g = e / group) over one row of
/// `words.len()·8` codes for the `out.len()` bf16 activation rows of `xs` (`k` apart, in
/// [`int4_bf16_order`]); `group_sums[r·k/group + g]` is the sum of row r's activations in
/// group g (f32 of the bf16). Call only where [`int4_bf16_fast`] is true.
///
/// Panics if the sizes disagree or the CPU lacks the instructions (a kernel bug).
pub fn int4_dots_bf16(
    words: &[u32],
    group: usize,
    scales: &[f32],
    zeros: Int4Zeros,
    xs: &[u16],
    group_sums: &[f32],
    out: &mut [f32],
) {
    let k = words.len() * 8;
    let groups = k / group.max(1);
    assert!(int4_bf16_fast(k), "int4_dots_bf16: {k} codes");
    assert!(
        matches!(group, 32 | 64 | 128) && scales.len() >= groups,
        "int4_dots_bf16: groups"
    );
    if let Int4Zeros::Packed(z) = zeros {
        assert!(z.len() >= groups.div_ceil(8), "int4_dots_bf16: zeros");
    }
    assert!(
        out.len() <= 16 && xs.len() >= out.len() * k && group_sums.len() >= out.len() * groups,
        "int4_dots_bf16: rows"
    );
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the instructions were detected (int4_bf16_fast) and the sizes checked above.
    unsafe {
        int4_dots_bf16_avx512(words, group, scales, zeros, xs, group_sums, out)
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
    group_sums: &[f32],
    out: &mut [f32],
) {
    offsets(words.len() * 8 / group, scales, zeros, group_sums, out);
    if !out.is_empty() {
        by_rows!(out.len(), int4_bf16_rows(words, group, scales, xs, out));
    }
}

/// `out[r] −= Σ_g scale[g]·(128 + z_g)·sums[r][g]`, sixteen groups a step: the zero points
/// unpacked from their words in registers (a permute spreads word g/8 over its lanes, a
/// variable shift brings nibble g % 8 down).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn offsets(groups: usize, scales: &[f32], zeros: Int4Zeros, sums: &[f32], out: &mut [f32]) {
    use std::arch::x86_64::*;
    let lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    let word_of = _mm512_srli_epi32::<3>(lanes);
    let shift = _mm512_slli_epi32::<2>(_mm512_and_si512(lanes, _mm512_set1_epi32(7)));
    let (nibble, magic) = (_mm512_set1_epi32(15), _mm512_set1_ps(MAGIC));
    for (r, o) in out.iter_mut().enumerate() {
        let mut acc = _mm512_setzero_ps();
        for g0 in (0..groups).step_by(16) {
            let mask: __mmask16 = if groups - g0 >= 16 {
                0xffff
            } else {
                (1u16 << (groups - g0)) - 1
            };
            let z = match zeros {
                Int4Zeros::Symmetric => _mm512_set1_ps(8.0),
                Int4Zeros::Packed(w) => {
                    let n = (groups - g0).div_ceil(8).min(2);
                    let two = _mm512_maskz_loadu_epi32(
                        (1u16 << n) - 1,
                        w.as_ptr().add(g0 / 8) as *const i32,
                    );
                    let spread = _mm512_permutexvar_epi32(word_of, two);
                    _mm512_cvtepi32_ps(_mm512_and_si512(_mm512_srlv_epi32(spread, shift), nibble))
                }
            };
            let s = _mm512_maskz_loadu_ps(mask, scales.as_ptr().add(g0));
            let x = _mm512_maskz_loadu_ps(mask, sums.as_ptr().add(r * groups + g0));
            acc = _mm512_fmadd_ps(_mm512_mul_ps(s, _mm512_add_ps(z, magic)), x, acc);
        }
        *o -= _mm512_reduce_add_ps(acc);
    }
}

/// `out[r] += Σ_g scale[g]·Σ_{e∈g} (128 + q_e)·x[r][e]` for R rows with C chunks a step,
/// chunk `b` adding into chain `b % C` (registers, not memory, carry the sums).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
#[inline]
unsafe fn int4_bf16_rows<const R: usize, const C: usize>(
    words: &[u32],
    group: usize,
    scales: &[f32],
    xs: &[u16],
    out: &mut [f32],
) {
    use std::arch::x86_64::*;
    let k = words.len() * 8;
    let nibble = _mm512_set1_epi16(0x0f);
    let magic = _mm512_set1_epi16(MAGIC_BF16 as i16);
    // f32 lane i holds codes 8i..8i+7 of the chunk: group (8i)/group of the chunk's
    // 128/group, whose scales one masked load and one permute spread over the lanes.
    let per_chunk = CHUNK / group;
    let lane_group = _mm512_setr_epi32(
        0,
        8 / group as i32,
        16 / group as i32,
        24 / group as i32,
        32 / group as i32,
        40 / group as i32,
        48 / group as i32,
        56 / group as i32,
        64 / group as i32,
        72 / group as i32,
        80 / group as i32,
        88 / group as i32,
        96 / group as i32,
        104 / group as i32,
        112 / group as i32,
        120 / group as i32,
    );
    let scale_mask: __mmask16 = (1u32 << per_chunk) as u16 - 1;
    let (wp, xp, sp) = (
        words.as_ptr() as *const __m512i,
        xs.as_ptr(),
        scales.as_ptr(),
    );
    let chunk = |b: usize, c: usize, total: &mut [[__m512; C]; R]| {
        let w = _mm512_loadu_si512(wp.add(b));
        // (w >> 4s) & 0xf | 0x4300: nibble plane s as bf16 of 128 + q (0xEA = a & b | c).
        let plane = |v: __m512i| -> __m512bh {
            std::mem::transmute(_mm512_ternarylogic_epi32::<0xEA>(v, nibble, magic))
        };
        let q0 = plane(w);
        let q1 = plane(_mm512_srli_epi16::<4>(w));
        let q2 = plane(_mm512_srli_epi16::<8>(w));
        let q3: __m512bh = std::mem::transmute(_mm512_or_si512(_mm512_srli_epi16::<12>(w), magic));
        let scale = _mm512_permutexvar_ps(
            lane_group,
            _mm512_maskz_loadu_ps(scale_mask, sp.add(b * per_chunk)),
        );
        for (r, t) in total.iter_mut().enumerate() {
            let x = xp.add(r * k + CHUNK * b) as *const __m512i;
            let load = |p: usize| -> __m512bh { std::mem::transmute(_mm512_loadu_si512(x.add(p))) };
            let acc = _mm512_dpbf16_ps(_mm512_setzero_ps(), q0, load(0));
            let acc = _mm512_dpbf16_ps(acc, q1, load(1));
            let acc = _mm512_dpbf16_ps(acc, q2, load(2));
            let acc = _mm512_dpbf16_ps(acc, q3, load(3));
            t[c] = _mm512_fmadd_ps(acc, scale, t[c]);
        }
    };
    super::chained_rows::<R, C>(k / CHUNK, chunk, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_magic_bits_are_128_plus_the_code() {
        for q in 0..16u16 {
            let v = half::bf16::from_bits(MAGIC_BF16 | q).to_f32();
            assert_eq!(v, 128.0 + q as f32, "code {q}");
        }
        // Element 5 (nibble 1 of lane 1) of chunk 1 sits at 128 + 32 + 1.
        assert_eq!(int4_bf16_order(128 + 5), 161);
        assert_eq!(int4_bf16_order(127), 127);
    }

    #[test]
    fn every_group_size_and_row_count_matches_a_plain_sum() {
        // k = 256 (two chunks), three rows of bf16 activations, per-group zero points; 64
        // groups of 32 at k = 2048 (four steps of sixteen offsets) too.
        for k in [256, 2048] {
            every_group_size_and_row_count_at(k);
        }
    }

    fn every_group_size_and_row_count_at(k: usize) {
        if !int4_bf16_fast(k) {
            return; // nothing to compare on this CPU: the f32 path serves it
        }
        let words: Vec<u32> = (0..k as u32 / 8)
            .map(|i| 0x2545_f491u32.wrapping_mul(i + 3))
            .collect();
        let code = |e: usize| ((words[e / 8] >> (4 * (e % 8))) & 15) as f32;
        let rows = 3;
        let x: Vec<f32> = (0..rows * k)
            .map(|i| ((i * 5 % 17) as f32 - 8.0) / 4.0)
            .collect();
        let mut xs = vec![0u16; rows * k];
        for r in 0..rows {
            for e in 0..k {
                xs[r * k + int4_bf16_order(e)] = half::bf16::from_f32(x[r * k + e]).to_bits();
            }
        }
        for group in [32, 64, 128] {
            let groups = k / group;
            let scales: Vec<f32> = (0..groups).map(|g| 0.25 * (g + 1) as f32).collect();
            let packed: Vec<u32> = (0..groups.div_ceil(8))
                .map(|w| {
                    (0..8)
                        .map(|i| (((8 * w + i) * 5 % 16) as u32) << (4 * i))
                        .sum()
                })
                .collect();
            let forms = [
                (Int4Zeros::Symmetric, vec![8.0; groups]),
                (
                    Int4Zeros::Packed(&packed),
                    (0..groups).map(|g| (g * 5 % 16) as f32).collect(),
                ),
            ];
            for (zeros, zs) in forms {
                let mut sums = vec![0f32; rows * groups];
                for r in 0..rows {
                    for e in 0..k {
                        sums[r * groups + e / group] += x[r * k + e];
                    }
                }
                for n_rows in 1..=rows {
                    let mut out = vec![0.5f32; n_rows];
                    int4_dots_bf16(&words, group, &scales, zeros, &xs, &sums, &mut out);
                    for (r, got) in out.iter().enumerate() {
                        let term =
                            |e: usize, q: f32| (q * scales[e / group]) as f64 * x[r * k + e] as f64;
                        let want: f64 = 0.5
                            + (0..k)
                                .map(|e| term(e, code(e) - zs[e / group]))
                                .sum::<f64>();
                        // f32 sums of the biased products: a few ulps of their magnitude.
                        let bound: f64 = (0..k).map(|e| term(e, MAGIC + 15.0).abs()).sum();
                        assert!(
                            (*got as f64 - want).abs() <= 1e-6 * bound,
                            "group {group} rows {n_rows} row {r}: {got} {want}"
                        );
                    }
                }
            }
        }
    }
}
