//! The few vector primitives every CPU kernel is built from, each compiled three times
//! (AVX-512, AVX2+FMA, portable) and picked once at run time from the CPU's features.
//!
//! The bodies are plain loops over fixed-width lane arrays, which LLVM turns into vector
//! code when the enclosing function enables the target features.

use half::{bf16, f16};
use std::sync::OnceLock;

/// Instruction-set level the kernels run at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// AVX-512 F + BW.
    Avx512,
    /// AVX2 with FMA.
    Avx2,
    /// Whatever the target baseline offers.
    Portable,
}

impl Level {
    /// Name for the device's arch string.
    pub fn name(self) -> &'static str {
        match self {
            Level::Avx512 => "avx512f",
            Level::Avx2 => "avx2+fma",
            Level::Portable => "portable",
        }
    }
}

/// The best level this CPU supports (detected once).
pub fn level() -> Level {
    static LEVEL: OnceLock<Level> = OnceLock::new();
    *LEVEL.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
            {
                return Level::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Level::Avx2;
            }
        }
        Level::Portable
    })
}

/// An element type the CPU kernels store: f32, f16 or bf16 (math is always f32).
pub trait Elem: Copy + Default + Send + Sync + 'static {
    /// Widens one element.
    fn to_f32(self) -> f32;
    /// Rounds an f32 to this type (round to nearest even).
    fn from_f32(v: f32) -> Self;
    /// Widens a slice into `dst` (same length).
    fn widen(src: &[Self], dst: &mut [f32]);
    /// Σ w[i]·x[i]; `scratch` (at least `w.len()` long) is used when the type must be
    /// widened through memory.
    fn dot_f32(w: &[Self], x: &[f32], scratch: &mut [f32]) -> f32 {
        let s = &mut scratch[..w.len()];
        Self::widen(w, s);
        dot(s, x)
    }
}

impl Elem for f32 {
    fn to_f32(self) -> f32 {
        self
    }
    fn from_f32(v: f32) -> Self {
        v
    }
    fn widen(src: &[Self], dst: &mut [f32]) {
        dst.copy_from_slice(src);
    }
    fn dot_f32(w: &[Self], x: &[f32], _: &mut [f32]) -> f32 {
        dot(w, x)
    }
}

impl Elem for f16 {
    fn to_f32(self) -> f32 {
        f16::to_f32(self)
    }
    fn from_f32(v: f32) -> Self {
        f16::from_f32(v)
    }
    fn widen(src: &[Self], dst: &mut [f32]) {
        use half::slice::HalfFloatSliceExt;
        src.convert_to_f32_slice(dst);
    }
}

impl Elem for bf16 {
    fn to_f32(self) -> f32 {
        bf16::to_f32(self)
    }
    fn from_f32(v: f32) -> Self {
        bf16::from_f32(v)
    }
    fn widen(src: &[Self], dst: &mut [f32]) {
        // SAFETY: bf16 is a transparent u16.
        let bits: &[u16] =
            unsafe { std::slice::from_raw_parts(src.as_ptr() as *const u16, src.len()) };
        widen_bf16(bits, dst);
    }
    fn dot_f32(w: &[Self], x: &[f32], _: &mut [f32]) -> f32 {
        // SAFETY: bf16 is a transparent u16.
        let bits: &[u16] = unsafe { std::slice::from_raw_parts(w.as_ptr() as *const u16, w.len()) };
        dot_bf16(bits, x)
    }
}

/// Partial sums per reduction: four 16-lane vectors in flight hide the FMA latency.
const LANES: usize = 64;

/// Tree reduction of the partial sums (a serial sum of 64 lanes would cost ~250 cycles).
#[inline(always)]
fn reduce(mut acc: [f32; LANES]) -> f32 {
    let mut width = LANES / 2;
    while width > 0 {
        for j in 0..width {
            acc[j] += acc[j + width];
        }
        width /= 2;
    }
    acc[0]
}

macro_rules! dispatch {
    ($generic:ident, $avx512:ident, $avx2:ident, ($($arg:ident : $ty:ty),*) -> $ret:ty) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
        unsafe fn $avx512($($arg: $ty),*) -> $ret {
            $generic::<true>($($arg),*)
        }
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn $avx2($($arg: $ty),*) -> $ret {
            $generic::<true>($($arg),*)
        }
    };
}

#[inline(always)]
fn fma<const FUSED: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FUSED {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

#[inline(always)]
fn dot_body<const FUSED: bool>(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let mut acc = [0f32; LANES];
    let chunks = n / LANES;
    for c in 0..chunks {
        let (x, y) = (
            &a[c * LANES..c * LANES + LANES],
            &b[c * LANES..c * LANES + LANES],
        );
        for j in 0..LANES {
            acc[j] = fma::<FUSED>(x[j], y[j], acc[j]);
        }
    }
    let mut s = 0f32;
    for i in chunks * LANES..n {
        s = fma::<FUSED>(a[i], b[i], s);
    }
    reduce(acc) + s
}
dispatch!(dot_body, dot_avx512, dot_avx2, (a: &[f32], b: &[f32]) -> f32);

/// Σ a[i]·b[i] over the shorter length.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    match level() {
        // SAFETY: the level was detected on this CPU.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { dot_avx512(a, b) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { dot_avx2(a, b) },
        _ => dot_body::<false>(a, b),
    }
}

#[inline(always)]
fn dot_bf16_body<const FUSED: bool>(w: &[u16], x: &[f32]) -> f32 {
    let n = w.len().min(x.len());
    let mut acc = [0f32; LANES];
    let chunks = n / LANES;
    for c in 0..chunks {
        let (a, b) = (
            &w[c * LANES..c * LANES + LANES],
            &x[c * LANES..c * LANES + LANES],
        );
        for j in 0..LANES {
            acc[j] = fma::<FUSED>(f32::from_bits((a[j] as u32) << 16), b[j], acc[j]);
        }
    }
    let mut s = 0f32;
    for i in chunks * LANES..n {
        s = fma::<FUSED>(f32::from_bits((w[i] as u32) << 16), x[i], s);
    }
    reduce(acc) + s
}
dispatch!(dot_bf16_body, dot_bf16_avx512, dot_bf16_avx2, (w: &[u16], x: &[f32]) -> f32);

/// Σ w[i]·x[i] with `w` bf16 bit patterns widened in registers (no trip through memory).
pub fn dot_bf16(w: &[u16], x: &[f32]) -> f32 {
    match level() {
        // SAFETY: the level was detected on this CPU.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { dot_bf16_avx512(w, x) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { dot_bf16_avx2(w, x) },
        _ => dot_bf16_body::<false>(w, x),
    }
}

#[inline(always)]
fn axpy_body<const FUSED: bool>(y: &mut [f32], alpha: f32, x: &[f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi = fma::<FUSED>(alpha, *xi, *yi);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
unsafe fn axpy_avx512(y: &mut [f32], alpha: f32, x: &[f32]) {
    axpy_body::<true>(y, alpha, x)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn axpy_avx2(y: &mut [f32], alpha: f32, x: &[f32]) {
    axpy_body::<true>(y, alpha, x)
}

/// y ← y + alpha·x.
pub fn axpy(y: &mut [f32], alpha: f32, x: &[f32]) {
    match level() {
        // SAFETY: the level was detected on this CPU.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { axpy_avx512(y, alpha, x) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { axpy_avx2(y, alpha, x) },
        _ => axpy_body::<false>(y, alpha, x),
    }
}

#[inline(always)]
fn widen_bf16_body(src: &[u16], dst: &mut [f32]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = f32::from_bits((*s as u32) << 16);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx2")]
unsafe fn widen_bf16_avx512(src: &[u16], dst: &mut [f32]) {
    widen_bf16_body(src, dst)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn widen_bf16_avx2(src: &[u16], dst: &mut [f32]) {
    widen_bf16_body(src, dst)
}

/// bf16 bit patterns widened to f32 (exact: bf16 is the top half of an f32).
pub fn widen_bf16(src: &[u16], dst: &mut [f32]) {
    match level() {
        // SAFETY: the level was detected on this CPU.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { widen_bf16_avx512(src, dst) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { widen_bf16_avx2(src, dst) },
        _ => widen_bf16_body(src, dst),
    }
}

#[inline(always)]
fn sum_body(x: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = x.len() / LANES;
    for c in 0..chunks {
        for j in 0..LANES {
            acc[j] += x[c * LANES + j];
        }
    }
    reduce(acc) + x[chunks * LANES..].iter().sum::<f32>()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx2")]
unsafe fn sum_avx512(x: &[f32]) -> f32 {
    sum_body(x)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn sum_avx2(x: &[f32]) -> f32 {
    sum_body(x)
}

/// Σ x[i] with 32 partial sums.
pub fn sum(x: &[f32]) -> f32 {
    match level() {
        // SAFETY: the level was detected on this CPU.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { sum_avx512(x) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { sum_avx2(x) },
        _ => sum_body(x),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primitives_agree_with_plain_loops() {
        // Values chosen so every partial sum is exact in f32: multiples of 1/8 below 2^10.
        let a: Vec<f32> = (0..103).map(|i| (i % 7) as f32 * 0.125).collect();
        let b: Vec<f32> = (0..103).map(|i| (i % 5) as f32 - 2.0).collect();
        let want: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert_eq!(dot(&a, &b), want);
        assert_eq!(dot_body::<false>(&a, &b), want);
        let mut y = b.clone();
        axpy(&mut y, 2.0, &a);
        assert!(y
            .iter()
            .zip(&a)
            .zip(&b)
            .all(|((y, a), b)| *y == b + 2.0 * a));
        assert_eq!(sum(&a), a.iter().sum::<f32>());
        let h: Vec<bf16> = a.iter().map(|&x| bf16::from_f32(x)).collect();
        let mut w = vec![0f32; h.len()];
        bf16::widen(&h, &mut w);
        assert_eq!(w, a);
    }
}
