//! Element-wise primitives of the activation and position ops: the gated SiLU of `silu_mul`
//! (e^(−g) by a branch-free 2^x polynomial) and the pair rotations of `rope`, both layouts.
//! Each reads and writes f32, or bf16 bits converted in registers (no trip through a
//! buffer), in plain loops that LLVM vectorizes under the enabled target features,
//! dispatched once per call like the rest of [`super`]; where the CPU has AVX512-BF16, its
//! conversion instruction rounds the bf16 results.

use std::sync::OnceLock;

use super::{bf16_bits, fma, level, Level, ROW};

/// A stored element converted in registers: f32 itself, or bf16 bits (rounded to nearest
/// even on the way out, as `half::bf16::from_f32`).
trait Val: Copy {
    fn get(self) -> f32;
    fn put(v: f32) -> Self;
}

impl Val for f32 {
    #[inline(always)]
    fn get(self) -> f32 {
        self
    }
    #[inline(always)]
    fn put(v: f32) -> Self {
        v
    }
}

impl Val for u16 {
    #[inline(always)]
    fn get(self) -> f32 {
        f32::from_bits((self as u32) << 16)
    }
    #[inline(always)]
    fn put(v: f32) -> Self {
        bf16_bits(v)
    }
}

/// Coefficients c₁..c₅ of 2^f ≈ 1 + c₁f + … + c₅f⁵ on [−½, ½], fitted for least maximum
/// relative error (Lawson's weighted least squares): 9.2·10⁻⁸ in exact arithmetic, 1.6·10⁻⁷
/// evaluated in f32.
// c₁ is the fit's, 2·10⁻⁷ below ln 2 (a different f32), not an approximation of it.
#[allow(clippy::approx_constant)]
const EXP2_POLY: [f32; 5] = [
    0.693_147,
    0.240_222_42,
    0.055_507_34,
    0.009_671_52,
    0.001_326_474_6,
];

/// e^(−g) as 2^x, x = −g·log₂e clamped to [−126, 126]: x = n + f with n the nearest integer,
/// 2^f by [`EXP2_POLY`], 2^n put in the exponent bits. Relative error below 3·10⁻⁷ for
/// |g| ≤ 10 (the rounding of x adds up to 6·10⁻⁸·|x|). Fewer operations than
/// [`super::exp_sum`]'s e^x (one multiply instead of a two-part reduction, degree 5 instead
/// of 7): silu spends a third less time here.
#[inline(always)]
fn exp_neg_lane<const FUSED: bool>(g: f32) -> f32 {
    // 1.5·2^23: adding and subtracting it rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    let x = (g * -std::f32::consts::LOG2_E).clamp(-126.0, 126.0);
    let shifted = x + ROUND;
    let f = x - (shifted - ROUND);
    let mut p = EXP2_POLY[4];
    for c in EXP2_POLY[..4].iter().rev() {
        p = fma::<FUSED>(p, f, *c);
    }
    p = fma::<FUSED>(p, f, 1.0);
    // ROUND + n has ROUND's exponent, so its bits are ROUND's plus n.
    let n_bits = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    p * f32::from_bits(n_bits.wrapping_add(127) << 23)
}

#[inline(always)]
fn silu_lane<const FUSED: bool>(g: f32, u: f32) -> f32 {
    g * u / (1.0 + exp_neg_lane::<FUSED>(g))
}

#[inline(always)]
fn silu_mul_gen<V: Val, const FUSED: bool>(gate: &[V], up: &[V], out: &mut [V]) {
    let n = out.len().min(gate.len()).min(up.len());
    let (gate, up, out) = (&gate[..n], &up[..n], &mut out[..n]);
    let mut os = out.chunks_exact_mut(ROW);
    let mut gs = gate.chunks_exact(ROW);
    let mut us = up.chunks_exact(ROW);
    for ((o, g), u) in (&mut os).zip(&mut gs).zip(&mut us) {
        let mut y = [0f32; ROW];
        for j in 0..ROW {
            y[j] = silu_lane::<FUSED>(g[j].get(), u[j].get());
        }
        for j in 0..ROW {
            o[j] = V::put(y[j]);
        }
    }
    let rest = os.into_remainder().iter_mut();
    for ((o, g), u) in rest.zip(gs.remainder()).zip(us.remainder()) {
        *o = V::put(silu_lane::<FUSED>(g.get(), u.get()));
    }
}

#[inline(always)]
fn silu_mul_body<const FUSED: bool>(gate: &[f32], up: &[f32], out: &mut [f32]) {
    silu_mul_gen::<f32, FUSED>(gate, up, out)
}
dispatch!(silu_mul_body, silu_mul_avx512, silu_mul_avx2, (gate: &[f32], up: &[f32], out: &mut [f32]));

#[inline(always)]
fn silu_mul_bf16_body<const FUSED: bool>(gate: &[u16], up: &[u16], out: &mut [u16]) {
    silu_mul_gen::<u16, FUSED>(gate, up, out)
}
dispatch!(silu_mul_bf16_body, silu_mul_bf16_avx512, silu_mul_bf16_avx2,
    (gate: &[u16], up: &[u16], out: &mut [u16]));

/// `out[i] = silu(gate[i])·up[i]` over the shortest length, silu(g) = g/(1 + e^(−g)), in
/// f32 (e^(−g) within 3·10⁻⁷ relative for |g| ≤ 10). Past ±87 the exponent is clamped: a
/// gate above 87 gives g·up exactly, one below −87 gives g·up/(1 + 2¹²⁶), tiny like the true
/// value.
pub fn silu_mul(gate: &[f32], up: &[f32], out: &mut [f32]) {
    match level() {
        // SAFETY: the level was detected on this CPU.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { silu_mul_avx512(gate, up, out) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { silu_mul_avx2(gate, up, out) },
        _ => silu_mul_body::<false>(gate, up, out),
    }
}

/// Whether this CPU rounds f32 to bf16 in one instruction (AVX512-BF16 `vcvtne2ps2bf16`:
/// 32 values per instruction; [`silu_mul_bf16`] takes a third less time than with the
/// integer rounding of `half`'s rule). Detected once.
fn bf16_convert() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            level() == Level::Avx512 && std::arch::is_x86_feature_detected!("avx512bf16")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// `y` rounded to bf16 by `vcvtne2ps2bf16` into `o` (at least [`ROW`] long).
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16")]
fn store_bf16(y: &[f32; ROW], o: &mut [u16]) {
    use std::arch::x86_64::_mm512_storeu_si512;
    use std::arch::x86_64::{__m512bh, __m512i, _mm512_cvtne2ps_pbh, _mm512_loadu_ps};
    const _: () = assert!(ROW == 32, "one vcvtne2ps2bf16 rounds 32 values");
    let o = &mut o[..ROW];
    // SAFETY: `y` holds 32 f32 (two loads of 16) and `o` 32 u16 (one 64-byte store).
    unsafe {
        let (lo, hi) = (
            _mm512_loadu_ps(y.as_ptr()),
            _mm512_loadu_ps(y.as_ptr().add(16)),
        );
        let v = std::mem::transmute::<__m512bh, __m512i>(_mm512_cvtne2ps_pbh(hi, lo));
        _mm512_storeu_si512(o.as_mut_ptr().cast(), v);
    }
}

/// [`silu_mul_bf16`] rounding with `vcvtne2ps2bf16`, 32 values ([`ROW`]) at a time.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16,avx2,fma")]
unsafe fn silu_mul_bf16_cvt(gate: &[u16], up: &[u16], out: &mut [u16]) {
    let n = out.len().min(gate.len()).min(up.len());
    let (gate, up, out) = (&gate[..n], &up[..n], &mut out[..n]);
    let mut os = out.chunks_exact_mut(ROW);
    let mut gs = gate.chunks_exact(ROW);
    let mut us = up.chunks_exact(ROW);
    for ((o, g), u) in (&mut os).zip(&mut gs).zip(&mut us) {
        let mut y = [0f32; ROW];
        for j in 0..ROW {
            y[j] = silu_lane::<true>(g[j].get(), u[j].get());
        }
        store_bf16(&y, o);
    }
    let rest = os.into_remainder();
    silu_mul_gen::<u16, true>(gs.remainder(), us.remainder(), rest);
}

/// [`silu_mul`] over bf16 bit patterns, widened and rounded to nearest even in registers.
/// Where the CPU has AVX512-BF16 its conversion instruction rounds, which gives the same bits
/// except that results under 2⁻¹²⁶ in size (f32 subnormals) become ±0.
pub fn silu_mul_bf16(gate: &[u16], up: &[u16], out: &mut [u16]) {
    match level() {
        // SAFETY: AVX512-BF16 was detected on this CPU.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 if bf16_convert() => unsafe { silu_mul_bf16_cvt(gate, up, out) },
        // SAFETY: the level was detected on this CPU.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { silu_mul_bf16_avx512(gate, up, out) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { silu_mul_bf16_avx2(gate, up, out) },
        _ => silu_mul_bf16_body::<false>(gate, up, out),
    }
}

/// The shape of one [`rotate_heads`] call: heads of `head_dim`, the first `rotary_dim`
/// (even) of each rotated by the cache row `cs`.
#[derive(Clone, Copy, Debug)]
pub struct Rotation<'a> {
    /// Elements per head.
    pub head_dim: usize,
    /// Leading elements of a head that are rotated (even, at most `head_dim`).
    pub rotary_dim: usize,
    /// The cache row: cos θ_i for i < rotary_dim/2, then sin θ_i.
    pub cs: &'a [f32],
    /// GPT-J pairs (x[2i], x[2i+1]) instead of NeoX's (x[i], x[i + r/2]).
    pub gptj: bool,
}

#[inline(always)]
fn rotate_gen<V: Val>(src: &[V], dst: &mut [V], rot: Rotation) {
    let (d, r) = (rot.head_dim, rot.rotary_dim);
    let half = r / 2;
    let (cos, sin) = rot.cs[..r].split_at(half);
    for (s, o) in src.chunks_exact(d).zip(dst.chunks_exact_mut(d)) {
        let (s, s_rest) = s.split_at(r);
        let (o, o_rest) = o.split_at_mut(r);
        o_rest.copy_from_slice(s_rest);
        if rot.gptj {
            let pairs = s.chunks_exact(2).zip(o.chunks_exact_mut(2));
            for ((p, q), (c, sn)) in pairs.zip(cos.iter().zip(sin)) {
                let (a, b) = (p[0].get(), p[1].get());
                q[0] = V::put(a * c - b * sn);
                q[1] = V::put(b * c + a * sn);
            }
        } else {
            let (sa, sb) = s.split_at(half);
            let (oa, ob) = o.split_at_mut(half);
            let halves = sa.iter().zip(sb).zip(oa.iter_mut().zip(ob));
            for (((x, y), (ox, oy)), (c, sn)) in halves.zip(cos.iter().zip(sin)) {
                let (a, b) = (x.get(), y.get());
                *ox = V::put(a * c - b * sn);
                *oy = V::put(b * c + a * sn);
            }
        }
    }
}

#[inline(always)]
fn rotate_body<const FUSED: bool>(src: &[f32], dst: &mut [f32], rot: Rotation) {
    rotate_gen(src, dst, rot)
}
dispatch!(rotate_body, rotate_avx512, rotate_avx2, (src: &[f32], dst: &mut [f32], rot: Rotation));

#[inline(always)]
fn rotate_bf16_body<const FUSED: bool>(src: &[u16], dst: &mut [u16], rot: Rotation) {
    rotate_gen(src, dst, rot)
}
dispatch!(rotate_bf16_body, rotate_bf16_avx512, rotate_bf16_avx2,
    (src: &[u16], dst: &mut [u16], rot: Rotation));

/// [`rotate_heads_bf16`] in the NeoX layout with `rotary_dim/2` a multiple of 32, rounding
/// with `vcvtne2ps2bf16`: 32 pairs at a time, each half of them one conversion.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512bf16,avx2,fma")]
unsafe fn rotate_neox_bf16_cvt(src: &[u16], dst: &mut [u16], rot: Rotation) {
    let (d, r) = (rot.head_dim, rot.rotary_dim);
    let half = r / 2;
    let (cos, sin) = rot.cs[..r].split_at(half);
    for (s, o) in src.chunks_exact(d).zip(dst.chunks_exact_mut(d)) {
        let (s, s_rest) = s.split_at(r);
        let (o, o_rest) = o.split_at_mut(r);
        o_rest.copy_from_slice(s_rest);
        let (sa, sb) = s.split_at(half);
        let (oa, ob) = o.split_at_mut(half);
        let ins = sa.chunks_exact(ROW).zip(sb.chunks_exact(ROW));
        let outs = oa.chunks_exact_mut(ROW).zip(ob.chunks_exact_mut(ROW));
        let angles = cos.chunks_exact(ROW).zip(sin.chunks_exact(ROW));
        for (((xa, xb), (ya, yb)), (c, sn)) in ins.zip(outs).zip(angles) {
            let (mut a, mut b) = ([0f32; ROW], [0f32; ROW]);
            for j in 0..ROW {
                let (x, y) = (xa[j].get(), xb[j].get());
                a[j] = x * c[j] - y * sn[j];
                b[j] = y * c[j] + x * sn[j];
            }
            store_bf16(&a, ya);
            store_bf16(&b, yb);
        }
    }
}

/// Panics unless `rot` is a rotation of whole heads: `rotary_dim` even and at most
/// `head_dim`, `cs` at least `rotary_dim` long, `head_dim` at least 1.
fn check_rotation(rot: &Rotation) {
    assert!(
        rot.head_dim > 0
            && rot.rotary_dim <= rot.head_dim
            && rot.rotary_dim.is_multiple_of(2)
            && rot.cs.len() >= rot.rotary_dim,
        "rotate_heads: {rot:?}"
    );
}

/// `dst` = the heads of `src` (whole heads over the shorter length; a remainder is left
/// alone), each rotated over its first `rotary_dim` elements by the cache row: pair i by
/// (cos θ_i, sin θ_i), x' = x·cos − y·sin, y' = y·cos + x·sin; the elements past
/// `rotary_dim` are copied.
///
/// Panics unless `rot` is a rotation of whole heads ([`Rotation`]'s fields).
pub fn rotate_heads(src: &[f32], dst: &mut [f32], rot: Rotation) {
    check_rotation(&rot);
    match level() {
        // SAFETY: the level was detected on this CPU.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { rotate_avx512(src, dst, rot) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { rotate_avx2(src, dst, rot) },
        _ => rotate_body::<false>(src, dst, rot),
    }
}

/// [`rotate_heads`] over bf16 bit patterns, widened and rounded to nearest even in
/// registers (with AVX512-BF16, NeoX halves of a multiple of 32 are rounded by its
/// conversion instruction: the same bits, except results under 2⁻¹²⁶ in size become ±0).
pub fn rotate_heads_bf16(src: &[u16], dst: &mut [u16], rot: Rotation) {
    check_rotation(&rot);
    let neox32 = !rot.gptj && (rot.rotary_dim / 2).is_multiple_of(ROW);
    match level() {
        // SAFETY: AVX512-BF16 was detected on this CPU.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 if neox32 && bf16_convert() => unsafe { rotate_neox_bf16_cvt(src, dst, rot) },
        // SAFETY: the level was detected on this CPU.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { rotate_bf16_avx512(src, dst, rot) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { rotate_bf16_avx2(src, dst, rot) },
        _ => rotate_bf16_body::<false>(src, dst, rot),
    }
}

#[cfg(test)]
mod tests;
