//! Grouped-query attention primitives over bf16 rows: one K or V row serves every query head
//! of its GQA group, and no dot product ends in its own horizontal reduction.
//!
//! - [`group_dots_bf16`] multiplies bf16 query and key bits pairwise into f32 sums with
//!   `vdpbf16ps` (exact products, f32 accumulation) and reduces 16 keys' partial vectors
//!   together with one shuffle tree, so a score costs `d/32` fused instructions and a
//!   sixteenth of a reduction.
//! - [`group_mix_bf16`] widens each 32-element slice of a value row once (even and odd
//!   elements apart: one shift, one mask) and adds it into the accumulators of up to four
//!   heads at once. The accumulators are kept in that paired order; [`unpair`] restores it.
//!
//! Both run with AVX-512 F + BW + BF16 and `d` a multiple of 32 (up to 256); elsewhere they
//! fall back to plain loops with the same results.

use super::{check_rows, level, Level};
use std::sync::OnceLock;

/// Elements per paired block: one 512-bit register of bf16.
const PAIR: usize = 32;

/// Whether the vector versions run for rows of `d` elements on this CPU (the plain loops
/// serve the rest).
pub fn group_bf16_fast(d: usize) -> bool {
    static BF16: OnceLock<bool> = OnceLock::new();
    let has = *BF16.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            level() == Level::Avx512 && std::arch::is_x86_feature_detected!("avx512bf16")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    });
    has && matches!(d, 64 | 128 | 256)
}

#[inline(always)]
fn bf(x: u16) -> f32 {
    f32::from_bits((x as u32) << 16)
}

/// `out[h·ldo + t] = scale · Σ_i q[h·d + i]·row_t[i]` for each head `h < q.len()/d` and key
/// `t < n`, where row `t` is the `d` bf16 bit patterns at `rows[t·stride..]` and `q` holds
/// bf16 bit patterns too.
///
/// Panics if `q.len()` is not a multiple of `d`, or `rows` or `out` is too short.
#[allow(clippy::too_many_arguments)]
pub fn group_dots_bf16(
    q: &[u16],
    d: usize,
    rows: &[u16],
    stride: usize,
    n: usize,
    scale: f32,
    out: &mut [f32],
    ldo: usize,
) {
    assert!(
        d > 0 && q.len().is_multiple_of(d),
        "group_dots_bf16: q is not whole rows"
    );
    let heads = q.len() / d;
    check_rows("group_dots_bf16", n, d, stride, rows.len());
    check_rows("group_dots_bf16 out", heads, n, ldo, out.len());
    if n == 0 {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if group_bf16_fast(d) {
        // SAFETY: the features were detected on this CPU and the lengths checked above.
        unsafe {
            match d / PAIR {
                2 => avx512::dots::<2>(q, heads, rows, stride, n, scale, out, ldo),
                4 => avx512::dots::<4>(q, heads, rows, stride, n, scale, out, ldo),
                _ => avx512::dots::<8>(q, heads, rows, stride, n, scale, out, ldo),
            }
        }
        return;
    }
    dots_plain(q, d, rows, stride, n, scale, out, ldo);
}

/// [`group_dots_bf16`] as plain loops.
#[allow(clippy::too_many_arguments)]
fn dots_plain(
    q: &[u16],
    d: usize,
    rows: &[u16],
    stride: usize,
    n: usize,
    scale: f32,
    out: &mut [f32],
    ldo: usize,
) {
    for h in 0..q.len() / d {
        let qh = &q[h * d..(h + 1) * d];
        for t in 0..n {
            let r = &rows[t * stride..t * stride + d];
            let s: f32 = qh.iter().zip(r).map(|(&a, &b)| bf(a) * bf(b)).sum();
            out[h * ldo + t] = scale * s;
        }
    }
}

/// `acc[h·d + i] += Σ_t p[h·ldp + t]·row_t[i]` for each head `h < acc.len()/d` and key
/// `t < n`, with `acc` in paired order (see [`unpair`]) and row `t` the `d` bf16 bit patterns
/// at `rows[t·stride..]`.
///
/// Panics unless `d` is a multiple of 32 dividing `acc.len()`, or if `rows` or `p` is too
/// short.
pub fn group_mix_bf16(
    acc: &mut [f32],
    d: usize,
    p: &[f32],
    ldp: usize,
    rows: &[u16],
    stride: usize,
    n: usize,
) {
    assert!(
        d > 0 && d.is_multiple_of(PAIR) && acc.len().is_multiple_of(d),
        "group_mix_bf16: rows must be whole pairs"
    );
    let heads = acc.len() / d;
    check_rows("group_mix_bf16", n, d, stride, rows.len());
    check_rows("group_mix_bf16 p", heads, n, ldp, p.len());
    if n == 0 {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if group_bf16_fast(d) {
        let mut h = 0;
        while h < heads {
            let a = &mut acc[h * d..];
            let w = &p[h * ldp..];
            // SAFETY: the features were detected on this CPU and the lengths checked above.
            unsafe {
                h += match heads - h {
                    1 => avx512::mix::<1>(a, d, w, ldp, rows, stride, n),
                    2 | 3 => avx512::mix::<2>(a, d, w, ldp, rows, stride, n),
                    _ => avx512::mix::<4>(a, d, w, ldp, rows, stride, n),
                };
            }
        }
        return;
    }
    mix_plain(acc, d, p, ldp, rows, stride, n);
}

/// [`group_mix_bf16`] as plain loops.
fn mix_plain(
    acc: &mut [f32],
    d: usize,
    p: &[f32],
    ldp: usize,
    rows: &[u16],
    stride: usize,
    n: usize,
) {
    for h in 0..acc.len() / d {
        for c in (0..d).step_by(PAIR) {
            for t in 0..n {
                let w = p[h * ldp + t];
                let r = &rows[t * stride + c..t * stride + c + PAIR];
                let a = &mut acc[h * d + c..h * d + c + PAIR];
                for j in 0..PAIR / 2 {
                    a[j] += w * bf(r[2 * j]);
                    a[PAIR / 2 + j] += w * bf(r[2 * j + 1]);
                }
            }
        }
    }
}

/// Restores natural order from the paired order of [`group_mix_bf16`]: in each block of 32,
/// the even elements come first, then the odd ones.
///
/// Panics unless both lengths are equal multiples of 32.
pub fn unpair(paired: &[f32], out: &mut [f32]) {
    assert!(
        paired.len() == out.len() && out.len().is_multiple_of(PAIR),
        "unpair: lengths"
    );
    for (src, dst) in paired.chunks_exact(PAIR).zip(out.chunks_exact_mut(PAIR)) {
        for j in 0..PAIR / 2 {
            dst[2 * j] = src[j];
            dst[2 * j + 1] = src[PAIR / 2 + j];
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use std::arch::x86_64::*;

    /// One vector of 16 sums, lane `t` the sum of `v[(t % 4)·4 + t / 4]`'s lanes: four
    /// levels of shuffles, each halving the vectors and the lanes per key.
    #[inline(always)]
    unsafe fn reduce16(v: &[__m512; 16]) -> __m512 {
        let mut a = [_mm512_setzero_ps(); 8];
        for k in 0..8 {
            let (x, y) = (v[2 * k], v[2 * k + 1]);
            a[k] = _mm512_add_ps(
                _mm512_shuffle_f32x4::<0b01_00_01_00>(x, y),
                _mm512_shuffle_f32x4::<0b11_10_11_10>(x, y),
            );
        }
        let mut b = [_mm512_setzero_ps(); 4];
        for k in 0..4 {
            let (x, y) = (a[2 * k], a[2 * k + 1]);
            b[k] = _mm512_add_ps(
                _mm512_shuffle_f32x4::<0b10_00_10_00>(x, y),
                _mm512_shuffle_f32x4::<0b11_01_11_01>(x, y),
            );
        }
        let mut c = [_mm512_setzero_ps(); 2];
        for k in 0..2 {
            let (x, y) = (b[2 * k], b[2 * k + 1]);
            c[k] = _mm512_add_ps(
                _mm512_shuffle_ps::<0b01_00_01_00>(x, y),
                _mm512_shuffle_ps::<0b11_10_11_10>(x, y),
            );
        }
        _mm512_add_ps(
            _mm512_shuffle_ps::<0b10_00_10_00>(c[0], c[1]),
            _mm512_shuffle_ps::<0b11_01_11_01>(c[0], c[1]),
        )
    }

    /// [`super::group_dots_bf16`] for `d = 32·C`; the caller has checked every length.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
    pub(super) unsafe fn dots<const C: usize>(
        q: &[u16],
        heads: usize,
        rows: &[u16],
        stride: usize,
        n: usize,
        scale: f32,
        out: &mut [f32],
        ldo: usize,
    ) {
        let d = C * 32;
        let sc = _mm512_set1_ps(scale);
        for h in 0..heads {
            let mut qv = [_mm512_setzero_si512(); C];
            for (c, v) in qv.iter_mut().enumerate() {
                *v = _mm512_loadu_si512(q.as_ptr().add(h * d + c * 32) as *const _);
            }
            let mut t0 = 0;
            while t0 < n {
                let m = (n - t0).min(16);
                let mut part = [_mm512_setzero_ps(); 16];
                for t in 0..m {
                    let r = rows.as_ptr().add((t0 + t) * stride);
                    let mut acc = _mm512_setzero_ps();
                    for (c, v) in qv.iter().enumerate() {
                        let x = _mm512_loadu_si512(r.add(c * 32) as *const _);
                        acc = _mm512_dpbf16_ps(
                            acc,
                            std::mem::transmute::<__m512i, __m512bh>(*v),
                            std::mem::transmute::<__m512i, __m512bh>(x),
                        );
                    }
                    part[(t % 4) * 4 + t / 4] = acc;
                }
                let s = _mm512_mul_ps(reduce16(&part), sc);
                let mask = if m == 16 { 0xFFFF } else { (1u16 << m) - 1 };
                _mm512_mask_storeu_ps(out.as_mut_ptr().add(h * ldo + t0), mask, s);
                t0 += 16;
            }
        }
    }

    /// [`super::group_mix_bf16`] for the first `H` heads of `acc` (rows of `d`, a multiple
    /// of 32); the caller has checked every length. Returns `H`.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn mix<const H: usize>(
        acc: &mut [f32],
        d: usize,
        p: &[f32],
        ldp: usize,
        rows: &[u16],
        stride: usize,
        n: usize,
    ) -> usize {
        let high = _mm512_set1_epi32(0xFFFF_0000u32 as i32);
        let a = acc.as_mut_ptr();
        for c in (0..d).step_by(32) {
            let mut sums = [[_mm512_setzero_ps(); 2]; H];
            for (h, s) in sums.iter_mut().enumerate() {
                s[0] = _mm512_loadu_ps(a.add(h * d + c));
                s[1] = _mm512_loadu_ps(a.add(h * d + c + 16));
            }
            for t in 0..n {
                let x = _mm512_loadu_si512(rows.as_ptr().add(t * stride + c) as *const _);
                let even = _mm512_castsi512_ps(_mm512_slli_epi32::<16>(x));
                let odd = _mm512_castsi512_ps(_mm512_and_si512(x, high));
                for (h, s) in sums.iter_mut().enumerate() {
                    let w = _mm512_set1_ps(*p.get_unchecked(h * ldp + t));
                    s[0] = _mm512_fmadd_ps(w, even, s[0]);
                    s[1] = _mm512_fmadd_ps(w, odd, s[1]);
                }
            }
            for (h, s) in sums.iter().enumerate() {
                _mm512_storeu_ps(a.add(h * d + c), s[0]);
                _mm512_storeu_ps(a.add(h * d + c + 16), s[1]);
            }
        }
        H
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// bf16 bits of small multiples of 1/8 (exact in bf16), so every product and partial sum
    /// is exact in f32 and any summation order gives the same value.
    fn bits(n: usize, k: usize) -> Vec<u16> {
        (0..n)
            .map(|i| {
                let x = ((i * k + 3) % 13) as f32 * 0.125 - 0.75;
                (x.to_bits() >> 16) as u16
            })
            .collect()
    }

    #[test]
    fn dots_match_plain_sums_for_whole_and_ragged_blocks() {
        for d in [64, 128, 96] {
            for n in [1, 5, 16, 23, 40] {
                let (heads, stride) = (3, d + 32);
                let q = bits(heads * d, 5);
                let rows = bits(n * stride, 7);
                let ldo = n + 2;
                let mut out = vec![-9.0; heads * ldo];
                group_dots_bf16(&q, d, &rows, stride, n, 0.5, &mut out, ldo);
                let mut plain = vec![-9.0; heads * ldo];
                dots_plain(&q, d, &rows, stride, n, 0.5, &mut plain, ldo);
                assert_eq!(out, plain, "d {d} n {n}");
                for h in 0..heads {
                    for t in 0..ldo {
                        let want = if t < n {
                            let mut s = 0f64;
                            for i in 0..d {
                                s += bf(q[h * d + i]) as f64 * bf(rows[t * stride + i]) as f64;
                            }
                            (s * 0.5) as f32
                        } else {
                            -9.0 // past the keys: untouched
                        };
                        assert_eq!(out[h * ldo + t], want, "d {d} n {n} h {h} t {t}");
                    }
                }
            }
        }
    }

    #[test]
    fn mix_adds_weighted_rows_in_paired_order() {
        for heads in 1..=7 {
            let (d, n, stride, ldp) = (128, 19, 160, 21);
            let rows = bits(n * stride, 3);
            let p: Vec<f32> = (0..heads * ldp).map(|i| (i % 9) as f32 * 0.25).collect();
            let start: Vec<f32> = (0..heads * d).map(|i| (i % 4) as f32).collect();
            let mut paired = vec![0f32; heads * d];
            // Start from `start` in paired order: pairing is the inverse of `unpair`.
            for (src, dst) in start.chunks_exact(32).zip(paired.chunks_exact_mut(32)) {
                for j in 0..16 {
                    dst[j] = src[2 * j];
                    dst[16 + j] = src[2 * j + 1];
                }
            }
            let mut plain = paired.clone();
            group_mix_bf16(&mut paired, d, &p, ldp, &rows, stride, n);
            mix_plain(&mut plain, d, &p, ldp, &rows, stride, n);
            assert_eq!(paired, plain, "heads {heads}");
            let mut got = vec![0f32; heads * d];
            unpair(&paired, &mut got);
            for h in 0..heads {
                for i in 0..d {
                    let mut want = start[h * d + i] as f64;
                    for t in 0..n {
                        want += p[h * ldp + t] as f64 * bf(rows[t * stride + i]) as f64;
                    }
                    assert_eq!(got[h * d + i], want as f32, "heads {heads} h {h} i {i}");
                }
            }
        }
    }
}
