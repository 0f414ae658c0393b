//! OCP fp8 e4m3 codes decoded exactly into bf16 bit patterns, a row at a time, for the grouped
//! bf16 kernels: every e4m3 value, subnormals included, is a normal bf16 (3 mantissa bits
//! into 7, exponents −9..8 into bf16's range). Into f32 is [`super::fp8_decode`]'s.
//!
//! With AVX-512 VBMI [`fp8_to_bf16`] takes 64 codes at a time: two `vpermi2b` look the low
//! and the high byte of each magnitude's bf16 up in 128-entry tables, one `vpternlogd` puts
//! the sign on, and two byte interleaves (plus a lane reorder) give 64 bf16 in code order.
//! Elsewhere a 256-entry table gives the same results. The NaN codes (0x7f, 0xff) decode to
//! ±480 (as the kernels' bit arithmetic does); no input holds them.

use super::{level, Level};
use std::sync::OnceLock;

/// The bf16 bits of e4m3 code `b` (NaN codes as ±480), by integer arithmetic: exponent
/// field e > 0 is (1 + m/8)·2^(e−7), re-biased to bf16's 127; e = 0 is m·2⁻⁹, normalised.
pub const fn e4m3_to_bf16_bits(b: u8) -> u16 {
    let sign = ((b & 0x80) as u16) << 8;
    let (e, m) = (((b >> 3) & 15) as u16, (b & 7) as u16);
    if e > 0 {
        return sign | ((e + 120) << 7) | (m << 4);
    }
    if m == 0 {
        return sign;
    }
    // m·2⁻⁹ with m in 1..8: shift m up to [4, 8), i.e. (1 + f/4)·2^(exp − 127).
    let (mut mm, mut exp) = (m, 127 - 9 + 2);
    while mm < 4 {
        mm <<= 1;
        exp -= 1;
    }
    sign | (exp << 7) | ((mm & 3) << 5)
}

/// bf16 bits of every code.
const BF16_OF: [u16; 256] = {
    let mut t = [0u16; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = e4m3_to_bf16_bits(b as u8);
        b += 1;
    }
    t
};

/// The low (`HIGH = false`) or high byte of the bf16 of every magnitude 0..127: `vpermi2b`'s
/// tables.
const fn byte_table<const HIGH: bool>() -> [u8; 128] {
    let mut t = [0u8; 128];
    let mut m = 0;
    while m < 128 {
        t[m] = if HIGH { BF16_OF[m] >> 8 } else { BF16_OF[m] } as u8;
        m += 1;
    }
    t
}
pub(super) static LOW_BYTES: [u8; 128] = byte_table::<false>();
pub(super) static HIGH_BYTES: [u8; 128] = byte_table::<true>();

/// The value of e4m3 code `b` as an f32 (exact; NaN codes as ±480).
#[inline]
pub fn e4m3_to_f32(b: u8) -> f32 {
    f32::from_bits((BF16_OF[b as usize] as u32) << 16)
}

/// Whether [`fp8_to_bf16`] runs its VBMI loop on this CPU.
pub(super) fn vbmi() -> bool {
    static VBMI: OnceLock<bool> = OnceLock::new();
    *VBMI.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            level() == Level::Avx512 && std::arch::is_x86_feature_detected!("avx512vbmi")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// `dst[i]` = the bf16 bits of code `src[i]`, over the shorter length.
pub fn fp8_to_bf16(src: &[u8], dst: &mut [u16]) {
    let n = src.len().min(dst.len());
    fp8_rows_to_bf16(&src[..n], n, n, 1, dst);
}

/// The `n` rows of `d` codes at `src[t·stride..]` as bf16 bits, packed into `dst[t·d..]`.
///
/// Panics if `src` or `dst` is too short (a kernel bug, never an input error).
pub fn fp8_rows_to_bf16(src: &[u8], d: usize, stride: usize, n: usize, dst: &mut [u16]) {
    if n == 0 {
        return;
    }
    assert!(
        src.len() >= (n - 1) * stride + d && dst.len() >= n * d,
        "fp8_rows_to_bf16: {n} rows of {d}, {stride} apart"
    );
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if vbmi() {
        // SAFETY: AVX-512 F, BW and VBMI were detected; the lengths were checked above.
        done = unsafe { avx512::to_bf16(src, d, stride, n, dst) };
    }
    for t in 0..n {
        let (s, o) = (&src[t * stride..][..d], &mut dst[t * d..][..d]);
        for (o, c) in o[done..].iter_mut().zip(&s[done..]) {
            *o = BF16_OF[*c as usize];
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{HIGH_BYTES, LOW_BYTES};
    use std::arch::x86_64::*;

    /// [`super::fp8_rows_to_bf16`] over the whole blocks of 64 codes of every row; returns
    /// how many codes of each row it decoded. The caller has checked the lengths.
    #[target_feature(enable = "avx512f,avx512bw,avx512vbmi")]
    pub(super) unsafe fn to_bf16(
        src: &[u8],
        d: usize,
        stride: usize,
        rows: usize,
        dst: &mut [u16],
    ) -> usize {
        let n = d / 64 * 64;
        // Low and high bytes of the bf16 of magnitudes 0..127, as two 64-byte halves each.
        let load =
            |t: &[u8; 128], half: usize| _mm512_loadu_si512(t.as_ptr().add(64 * half) as *const _);
        let (lo0, lo1) = (load(&LOW_BYTES, 0), load(&LOW_BYTES, 1));
        let (hi0, hi1) = (load(&HIGH_BYTES, 0), load(&HIGH_BYTES, 1));
        let sign = _mm512_set1_epi8(0x80u8 as i8);
        // 128-bit lanes (A0 B0 A1 B1) and (A2 B2 A3 B3) of the two interleaves A, B.
        let first = _mm512_setr_epi64(0, 1, 8, 9, 2, 3, 10, 11);
        let second = _mm512_setr_epi64(4, 5, 12, 13, 6, 7, 14, 15);
        for t in 0..rows {
            let mut i = 0;
            while i < n {
                let c = _mm512_loadu_si512(src.as_ptr().add(t * stride + i) as *const _);
                // vpermi2b reads the low 7 bits of each index: the magnitude.
                let l = _mm512_permutex2var_epi8(lo0, c, lo1);
                let h = _mm512_permutex2var_epi8(hi0, c, hi1);
                // h | (c & 0x80): the sign bit on top of the high byte.
                let h = _mm512_ternarylogic_epi32::<0xF8>(h, c, sign);
                let a = _mm512_unpacklo_epi8(l, h); // codes 0-7, 16-23, 32-39, 48-55
                let b = _mm512_unpackhi_epi8(l, h); // codes 8-15, 24-31, 40-47, 56-63
                let out = dst.as_mut_ptr().add(t * d + i);
                _mm512_storeu_si512(out as *mut _, _mm512_permutex2var_epi64(a, first, b));
                let upper = _mm512_permutex2var_epi64(a, second, b);
                _mm512_storeu_si512(out.add(32) as *mut _, upper);
                i += 64;
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotpath_core::tensor::fp8_e4m3_to_f32;

    #[test]
    fn every_code_decodes_to_its_value() {
        for b in 0..=255u8 {
            if b & 0x7f == 0x7f {
                continue; // NaN codes
            }
            assert_eq!(e4m3_to_f32(b), fp8_e4m3_to_f32(b), "{b:#04x}");
        }
        // By hand: 0x01 = 2⁻⁹, 0x07 = 7·2⁻⁹, 0x38 = 1, 0xc0 = −2, 0x7e = 448.
        assert_eq!(e4m3_to_bf16_bits(0x01), 0x3b00);
        assert_eq!(e4m3_to_f32(0x07), 7.0 / 512.0);
        assert_eq!(e4m3_to_bf16_bits(0x38), 0x3f80);
        assert_eq!(e4m3_to_f32(0xc0), -2.0);
        assert_eq!(e4m3_to_f32(0x7e), 448.0);
    }

    #[test]
    fn vector_and_table_loops_agree_on_every_code_and_tail() {
        // All 256 codes twice, in a scrambled order, then a ragged tail of 37.
        let src: Vec<u8> = (0..549u32).map(|i| (i * 167 % 256) as u8).collect();
        let mut bits = vec![0u16; src.len()];
        fp8_to_bf16(&src, &mut bits);
        for (i, &c) in src.iter().enumerate() {
            assert_eq!(bits[i], BF16_OF[c as usize], "{i}: {c:#04x}");
        }
        // Rows of 136 (two blocks and a tail), 150 apart.
        let mut rows = vec![0u16; 3 * 136];
        fp8_rows_to_bf16(&src, 136, 150, 3, &mut rows);
        for t in 0..3 {
            for i in 0..136 {
                let c = src[t * 150 + i];
                assert_eq!(
                    rows[t * 136 + i],
                    BF16_OF[c as usize],
                    "row {t} {i}: {c:#04x}"
                );
            }
        }
    }
}
