//! The fp8 KV cache's codecs fused with the bf16 rows on either side, so a row is read and
//! written once, in registers: [`fp8_encode_bf16`] widens bf16 to f32 and quantizes
//! (`kv_write`), [`fp8_decode_bf16`] dequantizes and rounds to bf16 (`kv_read`). The same
//! values as [`super::fp8_encode`] after a widening and [`super::fp8_decode`] before a
//! narrowing.

use super::quant::{fp8_decode, fp8_encode};
use super::{level, narrow_bf16, widen_bf16, Level};

/// Elements a stack buffer of the portable path holds.
const SPAN: usize = 256;

/// `out[i] = e4m3(x[i]·scale)` over the shorter length, `x` bf16 bits.
pub fn fp8_encode_bf16(x: &[u16], scale: f32, out: &mut [u8]) {
    let n = x.len().min(out.len());
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if level() == Level::Avx512 {
        // SAFETY: AVX-512 F and BW were detected on this CPU; n bounds both slices.
        done = unsafe { encode_avx512(&x[..n], scale, &mut out[..n]) };
    }
    let mut wide = [0f32; SPAN];
    for (x, out) in x[done..n].chunks(SPAN).zip(out[done..n].chunks_mut(SPAN)) {
        widen_bf16(x, &mut wide[..x.len()]);
        fp8_encode(&wide[..x.len()], scale, out);
    }
}

/// [`fp8_encode_bf16`] with the whole 64-byte lines of `out` written by non-temporal stores
/// when `out` starts on a line (no read for ownership of a line the row overwrites whole, and
/// no cache space taken); plain stores otherwise. Call [`store_fence`] before another thread
/// reads `out`.
pub fn fp8_encode_bf16_streaming(x: &[u16], scale: f32, out: &mut [u8]) {
    let n = x.len().min(out.len());
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if level() == Level::Avx512 && (out.as_ptr() as usize).is_multiple_of(64) {
        // SAFETY: AVX-512 F and BW were detected; n bounds both slices; `out` is line-aligned.
        done = unsafe { stream_avx512(&x[..n], scale, &mut out[..n]) };
    }
    fp8_encode_bf16(&x[done..n], scale, &mut out[done..n]);
}

/// Orders the non-temporal stores of [`fp8_encode_bf16_streaming`] before what follows (a
/// task's end, after which other threads read its rows).
pub fn store_fence() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: SSE is part of x86_64; a fence has no operands.
    unsafe {
        std::arch::x86_64::_mm_sfence()
    };
}

/// `out[i]` = the bf16 bits of e4m3(codes[i])·scale (to nearest even) over the shorter length.
pub fn fp8_decode_bf16(codes: &[u8], scale: f32, out: &mut [u16]) {
    let n = codes.len().min(out.len());
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if level() == Level::Avx512 {
        // SAFETY: AVX-512 F and BW (with AVX2 and F16C) were detected; n bounds both slices.
        done = unsafe { decode_avx512(&codes[..n], scale, &mut out[..n]) };
    }
    let mut wide = [0f32; SPAN];
    for (c, out) in codes[done..n]
        .chunks(SPAN)
        .zip(out[done..n].chunks_mut(SPAN))
    {
        fp8_decode(c, scale, &mut wide[..c.len()]);
        narrow_bf16(&wide[..c.len()], out);
    }
}

/// [`fp8_encode_bf16`] over whole vectors of 16; returns how many were done.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn encode_avx512(x: &[u16], scale: f32, out: &mut [u8]) -> usize {
    use std::arch::x86_64::*;
    let s = _mm512_set1_ps(scale);
    let whole = x.len() / 16 * 16;
    for i in (0..whole).step_by(16) {
        let bits = _mm256_loadu_si256(x.as_ptr().add(i) as *const __m256i);
        let v = _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(bits)));
        let codes = super::quant::e4m3_codes(_mm512_mul_ps(v, s));
        _mm_storeu_si128(out.as_mut_ptr().add(i) as *mut __m128i, codes);
    }
    whole
}

/// [`fp8_encode_bf16_streaming`] over whole lines of 64 codes (`out` line-aligned); returns
/// how many were done.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn stream_avx512(x: &[u16], scale: f32, out: &mut [u8]) -> usize {
    use std::arch::x86_64::*;
    let s = _mm512_set1_ps(scale);
    let codes = |i: usize| {
        let bits = _mm256_loadu_si256(x.as_ptr().add(i) as *const __m256i);
        let v = _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(bits)));
        super::quant::e4m3_codes(_mm512_mul_ps(v, s))
    };
    let whole = x.len() / 64 * 64;
    for i in (0..whole).step_by(64) {
        let line = _mm512_inserti32x4::<1>(_mm512_castsi128_si512(codes(i)), codes(i + 16));
        let line =
            _mm512_inserti32x4::<3>(_mm512_inserti32x4::<2>(line, codes(i + 32)), codes(i + 48));
        _mm512_stream_si512(out.as_mut_ptr().add(i) as *mut __m512i, line);
    }
    whole
}

/// [`fp8_decode_bf16`] over whole vectors of 16; returns how many were done. The rounding
/// to bf16 is the integer one of [`super::narrow_bf16`] (no NaN comes out of a decode).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx2,f16c")]
unsafe fn decode_avx512(codes: &[u8], scale: f32, out: &mut [u16]) -> usize {
    use std::arch::x86_64::*;
    let factor = _mm512_set1_ps(scale * super::FP8_F16_SCALE);
    let (half, one) = (_mm512_set1_epi32(0x7fff), _mm512_set1_epi32(1));
    let whole = codes.len() / 16 * 16;
    for i in (0..whole).step_by(16) {
        let bytes = _mm_loadu_si128(codes.as_ptr().add(i) as *const __m128i);
        let u = _mm512_castps_si512(super::quant::e4m3_values(bytes, factor));
        let odd = _mm512_and_si512(_mm512_srli_epi32::<16>(u), one);
        let rounded = _mm512_srli_epi32::<16>(_mm512_add_epi32(u, _mm512_add_epi32(half, odd)));
        _mm256_storeu_si256(
            out.as_mut_ptr().add(i) as *mut __m256i,
            _mm512_cvtepi32_epi16(rounded),
        );
    }
    whole
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fused_codecs_equal_the_two_step_ones() {
        // bf16 values over ±600 (past saturation) with ties of the encoder, every code, and a
        // ragged tail of 13; three scales.
        let xs: Vec<u16> = (0..1037u32)
            .map(|i| half::bf16::from_f32((i as f32 - 518.0) * 1.171_875).to_bits())
            .collect();
        let codes: Vec<u8> = (0..1037u32)
            .map(|i| (i * 167 % 256) as u8)
            .map(|c| if c & 0x7f == 0x7f { 0x38 } else { c })
            .collect();
        for scale in [1.0f32, 0.37, 1.0 / 240.0] {
            let mut wide = vec![0f32; xs.len()];
            widen_bf16(&xs, &mut wide);
            let (mut want, mut got) = (vec![0u8; xs.len()], vec![0u8; xs.len()]);
            fp8_encode(&wide, scale, &mut want);
            fp8_encode_bf16(&xs, scale, &mut got);
            assert_eq!(got, want, "encode, scale {scale}");
            // Streaming into a line-aligned buffer and into one a byte off a line.
            let mut lines = vec![[0u8; 64]; xs.len() / 64 + 2];
            let at = lines.as_mut_ptr() as usize % 64;
            let bytes = lines.as_flattened_mut();
            let aligned = (64 - at) % 64;
            for off in [aligned, aligned + 1] {
                let out = &mut bytes[off..off + xs.len()];
                fp8_encode_bf16_streaming(&xs, scale, out);
                store_fence();
                assert!(out == want.as_slice(), "streaming at {off}, scale {scale}");
            }

            let mut values = vec![0f32; codes.len()];
            fp8_decode(&codes, scale, &mut values);
            let (mut want, mut got) = (vec![0u16; codes.len()], vec![0u16; codes.len()]);
            narrow_bf16(&values, &mut want);
            fp8_decode_bf16(&codes, scale, &mut got);
            assert_eq!(got, want, "decode, scale {scale}");
        }
        // By hand: code 0x38 is 1.0, times 3 is bf16 0x4040; 0xc0 is −2, times 0.5 is −1 (0xbf80).
        let mut out = [0u16; 2];
        fp8_decode_bf16(&[0x38, 0xc0], 3.0, &mut out[..1]);
        fp8_decode_bf16(&[0xc0], 0.5, &mut out[1..]);
        assert_eq!(out, [0x4040, 0xbf80]);
    }
}
