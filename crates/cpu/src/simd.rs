//! The few vector primitives every CPU kernel is built from, each compiled three times
//! (AVX-512, AVX2+FMA, portable) and picked once at run time from the CPU's features.
//!
//! The bodies are plain loops over fixed-width lane arrays, which LLVM turns into vector
//! code when the enclosing function enables the target features. The attention primitives
//! (`dots`, `mix`, `exp_sum`, `max`) work on rows `stride` elements apart so a kernel can
//! walk one head of a `[token, head, dim]` block in place.

use half::{bf16, f16};
use std::sync::OnceLock;

/// Calls `$f::<R, C>(args)` for `$rows` = R activation rows: C = 4 independent
/// accumulator chains per row up to 4 rows (the FMA latency needs at least four chains in
/// flight), one per row beyond (the rows are the chains; 16 accumulators at most).
#[cfg(target_arch = "x86_64")]
macro_rules! by_rows {
    ($rows:expr, $f:ident ( $($arg:expr),* )) => {
        match $rows {
            1 => $f::<1, 4>($($arg),*),
            2 => $f::<2, 4>($($arg),*),
            3 => $f::<3, 4>($($arg),*),
            4 => $f::<4, 4>($($arg),*),
            5 => $f::<5, 1>($($arg),*),
            6 => $f::<6, 1>($($arg),*),
            7 => $f::<7, 1>($($arg),*),
            8 => $f::<8, 1>($($arg),*),
            9 => $f::<9, 1>($($arg),*),
            10 => $f::<10, 1>($($arg),*),
            11 => $f::<11, 1>($($arg),*),
            12 => $f::<12, 1>($($arg),*),
            13 => $f::<13, 1>($($arg),*),
            14 => $f::<14, 1>($($arg),*),
            15 => $f::<15, 1>($($arg),*),
            _ => $f::<16, 1>($($arg),*),
        }
    };
}

/// The block loop of the row kernels: `step(b, c, acc)` for blocks `0..blocks`, C a step with
/// block `b` adding into chain `c = b % C` (the blocks left over into chain 0), then each
/// row's chains summed into `out[r]`. Registers, not memory, carry the R·C sums.
///
/// # Safety
/// The CPU must have AVX-512 F (callers are `#[target_feature]` functions that enable it).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
unsafe fn chained_rows<const R: usize, const C: usize>(
    blocks: usize,
    mut step: impl FnMut(usize, usize, &mut [[std::arch::x86_64::__m512; C]; R]),
    out: &mut [f32],
) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm512_setzero_ps(); C]; R];
    let mut b = 0;
    while b + C <= blocks {
        for c in 0..C {
            step(b + c, c, &mut acc);
        }
        b += C;
    }
    while b < blocks {
        step(b, 0, &mut acc);
        b += 1;
    }
    for (o, a) in out.iter_mut().zip(acc) {
        let mut v = a[0];
        for chain in &a[1..] {
            v = _mm512_add_ps(v, *chain);
        }
        *o += _mm512_reduce_add_ps(v);
    }
}

mod fp8_dots_bf16;
mod fp8_kv;
mod fp8_rows;
mod group;
mod int4_bf16;
pub use fp8_dots_bf16::{fp8_bf16_fast, fp8_bf16_order, fp8_dots_bf16};
pub use fp8_kv::{fp8_decode_bf16, fp8_encode_bf16, fp8_encode_bf16_streaming, store_fence};
pub use fp8_rows::{e4m3_to_bf16_bits, e4m3_to_f32, fp8_rows_to_bf16, fp8_to_bf16};
pub use group::{group_bf16_fast, group_dots_bf16, group_mix_bf16, unpair};
pub use int4_bf16::{int4_bf16_fast, int4_bf16_order, int4_dots_bf16, Int4Zeros};
pub use quant::{
    fp8_decode, fp8_dots, fp8_encode, int4_dots, int4_lane_order, int4_tables, FP8_F16_SCALE,
};

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
    /// Rounds a slice of f32 into `dst` (same length), as [`Elem::from_f32`] does each value.
    fn narrow(src: &[f32], dst: &mut [Self]) {
        for (d, s) in dst.iter_mut().zip(src) {
            *d = Self::from_f32(*s);
        }
    }
    /// Σ w[i]·x[i]; `scratch` (at least `w.len()` long) is used when the type must be
    /// widened through memory.
    fn dot_f32(w: &[Self], x: &[f32], scratch: &mut [f32]) -> f32 {
        let s = &mut scratch[..w.len()];
        Self::widen(w, s);
        dot(s, x)
    }
    /// The slice as bf16 bit patterns when the type is bf16 (kernels then widen in
    /// registers), `None` otherwise.
    fn bf16_bits(_src: &[Self]) -> Option<&[u16]> {
        None
    }
    /// [`Elem::bf16_bits`] of a slice to write.
    fn bf16_bits_mut(_dst: &mut [Self]) -> Option<&mut [u16]> {
        None
    }
    /// The slice as f32 when the type is f32 (kernels then skip widening), `None` otherwise.
    fn f32s(_src: &[Self]) -> Option<&[f32]> {
        None
    }
    /// [`Elem::f32s`] of a slice to write.
    fn f32s_mut(_dst: &mut [Self]) -> Option<&mut [f32]> {
        None
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
    fn narrow(src: &[f32], dst: &mut [Self]) {
        dst.copy_from_slice(src);
    }
    fn dot_f32(w: &[Self], x: &[f32], _: &mut [f32]) -> f32 {
        dot(w, x)
    }
    fn f32s(src: &[Self]) -> Option<&[f32]> {
        Some(src)
    }
    fn f32s_mut(dst: &mut [Self]) -> Option<&mut [f32]> {
        Some(dst)
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
    fn narrow(src: &[f32], dst: &mut [Self]) {
        use half::slice::HalfFloatSliceExt;
        dst.convert_from_f32_slice(src);
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
    fn narrow(src: &[f32], dst: &mut [Self]) {
        // SAFETY: bf16 is a transparent u16.
        let bits: &mut [u16] =
            unsafe { std::slice::from_raw_parts_mut(dst.as_mut_ptr() as *mut u16, dst.len()) };
        narrow_bf16(src, bits);
    }
    fn bf16_bits(src: &[Self]) -> Option<&[u16]> {
        // SAFETY: bf16 is a transparent u16.
        Some(unsafe { std::slice::from_raw_parts(src.as_ptr() as *const u16, src.len()) })
    }
    fn bf16_bits_mut(dst: &mut [Self]) -> Option<&mut [u16]> {
        // SAFETY: bf16 is a transparent u16.
        Some(unsafe { std::slice::from_raw_parts_mut(dst.as_mut_ptr() as *mut u16, dst.len()) })
    }
    fn dot_f32(w: &[Self], x: &[f32], _: &mut [f32]) -> f32 {
        // SAFETY: bf16 is a transparent u16.
        let bits: &[u16] = unsafe { std::slice::from_raw_parts(w.as_ptr() as *const u16, w.len()) };
        dot_bf16(bits, x)
    }
}

/// Partial sums per reduction: four 16-lane vectors in flight hide the FMA latency.
const LANES: usize = 64;

/// Tree reduction of `N` partial sums (`N` a power of two; a serial sum of 64 lanes would
/// cost ~250 cycles).
#[inline(always)]
fn tree<const N: usize>(mut acc: [f32; N]) -> f32 {
    let mut width = N / 2;
    while width > 0 {
        for j in 0..width {
            acc[j] += acc[j + width];
        }
        width /= 2;
    }
    acc[0]
}

macro_rules! dispatch {
    ($generic:ident, $avx512:ident, $avx2:ident, ($($arg:ident : $ty:ty),*)) => {
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx512f,avx512bw,avx2,fma")]
        unsafe fn $avx512($($arg: $ty),*) {
            $generic::<true>($($arg),*)
        }
        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,fma")]
        unsafe fn $avx2($($arg: $ty),*) {
            $generic::<true>($($arg),*)
        }
    };
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

// After `dispatch!`, which it uses.
mod quant;

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
    tree(acc) + s
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
    tree(acc) + s
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

/// One f32 rounded to bf16 bits, to nearest even (NaN stays a quiet NaN), without branches
/// so the loop below vectorizes; the same bits as `half::bf16::from_f32`.
#[inline(always)]
fn bf16_bits(v: f32) -> u16 {
    let u = v.to_bits();
    let rounded = u.wrapping_add(0x7fff + ((u >> 16) & 1)) >> 16;
    let nan = ((u >> 16) | 0x40) & 0xffff;
    (if u & 0x7fff_ffff > 0x7f80_0000 {
        nan
    } else {
        rounded
    }) as u16
}

#[inline(always)]
fn narrow_bf16_body(src: &[f32], dst: &mut [u16]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = bf16_bits(*s);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx2")]
unsafe fn narrow_bf16_avx512(src: &[f32], dst: &mut [u16]) {
    narrow_bf16_body(src, dst)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn narrow_bf16_avx2(src: &[f32], dst: &mut [u16]) {
    narrow_bf16_body(src, dst)
}

/// f32 values rounded to bf16 bit patterns (nearest even), over the shorter length.
pub fn narrow_bf16(src: &[f32], dst: &mut [u16]) {
    match level() {
        // SAFETY: the level was detected on this CPU.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { narrow_bf16_avx512(src, dst) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { narrow_bf16_avx2(src, dst) },
        _ => narrow_bf16_body(src, dst),
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
    tree(acc) + x[chunks * LANES..].iter().sum::<f32>()
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

/// Lanes of the row kernels: two 16-lane vectors (AVX-512) or four 8-lane ones (AVX2).
const ROW: usize = 32;

/// A stored row element the row kernels widen in registers: f32 itself, or bf16 bits.
trait Lane: Copy {
    fn f(self) -> f32;
}

impl Lane for f32 {
    #[inline(always)]
    fn f(self) -> f32 {
        self
    }
}

impl Lane for u16 {
    #[inline(always)]
    fn f(self) -> f32 {
        f32::from_bits((self as u32) << 16)
    }
}

#[inline(always)]
fn dots_body<const FUSED: bool>(q: &[f32], rows: &[f32], stride: usize, out: &mut [f32]) {
    let d = q.len();
    for (t, o) in out.iter_mut().enumerate() {
        *o = dot_body::<FUSED>(q, &rows[t * stride..t * stride + d]);
    }
}
dispatch!(dots_body, dots_avx512, dots_avx2, (q: &[f32], rows: &[f32], stride: usize, out: &mut [f32]));

#[inline(always)]
fn dots_bf16_body<const FUSED: bool>(q: &[f32], rows: &[u16], stride: usize, out: &mut [f32]) {
    let d = q.len();
    for (t, o) in out.iter_mut().enumerate() {
        *o = dot_bf16_body::<FUSED>(&rows[t * stride..t * stride + d], q);
    }
}
dispatch!(dots_bf16_body, dots_bf16_avx512, dots_bf16_avx2, (q: &[f32], rows: &[u16], stride: usize, out: &mut [f32]));

/// Panics unless `len` elements hold `n` rows of `width`, `stride` apart.
fn check_rows(what: &str, n: usize, width: usize, stride: usize, len: usize) {
    if let Some(last) = n.checked_sub(1) {
        assert!(
            len >= last * stride + width,
            "{what}: {n} rows of {width} elements, {stride} apart, need more than {len} elements"
        );
    }
}

/// `out[t] = Σ_i q[i]·rows[t·stride + i]` for every `t < out.len()`: one query row against
/// `out.len()` key rows of `q.len()` elements, `stride` elements apart.
///
/// Panics if `rows` is shorter than `(out.len() − 1)·stride + q.len()`.
pub fn dots(q: &[f32], rows: &[f32], stride: usize, out: &mut [f32]) {
    check_rows("dots", out.len(), q.len(), stride, rows.len());
    match level() {
        // SAFETY: the level was detected on this CPU.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { dots_avx512(q, rows, stride, out) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { dots_avx2(q, rows, stride, out) },
        _ => dots_body::<false>(q, rows, stride, out),
    }
}

/// [`dots`] over rows of bf16 bit patterns, widened in registers (no trip through memory).
pub fn dots_bf16(q: &[f32], rows: &[u16], stride: usize, out: &mut [f32]) {
    check_rows("dots_bf16", out.len(), q.len(), stride, rows.len());
    match level() {
        // SAFETY: the level was detected on this CPU.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { dots_bf16_avx512(q, rows, stride, out) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { dots_bf16_avx2(q, rows, stride, out) },
        _ => dots_bf16_body::<false>(q, rows, stride, out),
    }
}

#[inline(always)]
fn mix_gen<R: Lane, const FUSED: bool>(acc: &mut [f32], p: &[f32], rows: &[R], stride: usize) {
    let d = acc.len();
    let full = d / ROW * ROW;
    for c in (0..full).step_by(ROW) {
        let mut a = [0f32; ROW];
        a.copy_from_slice(&acc[c..c + ROW]);
        for (t, &w) in p.iter().enumerate() {
            let r = &rows[t * stride + c..t * stride + c + ROW];
            let mut v = [0f32; ROW];
            for j in 0..ROW {
                v[j] = r[j].f();
            }
            for j in 0..ROW {
                a[j] = fma::<FUSED>(w, v[j], a[j]);
            }
        }
        acc[c..c + ROW].copy_from_slice(&a);
    }
    for (i, y) in acc.iter_mut().enumerate().skip(full) {
        for (t, &w) in p.iter().enumerate() {
            *y = fma::<FUSED>(w, rows[t * stride + i].f(), *y);
        }
    }
}

#[inline(always)]
fn mix_body<const FUSED: bool>(acc: &mut [f32], p: &[f32], rows: &[f32], stride: usize) {
    mix_gen::<f32, FUSED>(acc, p, rows, stride)
}
dispatch!(mix_body, mix_avx512, mix_avx2, (acc: &mut [f32], p: &[f32], rows: &[f32], stride: usize));

#[inline(always)]
fn mix_bf16_body<const FUSED: bool>(acc: &mut [f32], p: &[f32], rows: &[u16], stride: usize) {
    mix_gen::<u16, FUSED>(acc, p, rows, stride)
}
dispatch!(mix_bf16_body, mix_bf16_avx512, mix_bf16_avx2, (acc: &mut [f32], p: &[f32], rows: &[u16], stride: usize));

/// `acc[i] += Σ_t p[t]·rows[t·stride + i]`: the weighted sum of `p.len()` value rows of
/// `acc.len()` elements, `stride` elements apart, added to `acc` (accumulated in registers
/// across the rows).
///
/// Panics if `rows` is shorter than `(p.len() − 1)·stride + acc.len()`.
pub fn mix(acc: &mut [f32], p: &[f32], rows: &[f32], stride: usize) {
    check_rows("mix", p.len(), acc.len(), stride, rows.len());
    match level() {
        // SAFETY: the level was detected on this CPU.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { mix_avx512(acc, p, rows, stride) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { mix_avx2(acc, p, rows, stride) },
        _ => mix_body::<false>(acc, p, rows, stride),
    }
}

/// [`mix`] over rows of bf16 bit patterns, widened in registers.
pub fn mix_bf16(acc: &mut [f32], p: &[f32], rows: &[u16], stride: usize) {
    check_rows("mix_bf16", p.len(), acc.len(), stride, rows.len());
    match level() {
        // SAFETY: the level was detected on this CPU.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { mix_bf16_avx512(acc, p, rows, stride) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { mix_bf16_avx2(acc, p, rows, stride) },
        _ => mix_bf16_body::<false>(acc, p, rows, stride),
    }
}

/// [`prefetch`] into the second-level cache only: the hint does not hold one of the few
/// first-level miss buffers until the line arrives, so many more lines can be in flight (on
/// this project's AMD hosts, a scattered stream reads ~30 % faster so); a no-op off x86-64.
pub fn prefetch_l2<T>(data: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T2};
        let bytes = std::mem::size_of_val(data);
        let base = data.as_ptr() as *const i8;
        for off in (0..bytes).step_by(64) {
            // SAFETY: `off` is inside `data`, and a prefetch never faults or writes.
            unsafe { _mm_prefetch::<_MM_HINT_T2>(base.add(off)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}

/// Asks the CPU to start loading `data` into the cache (one hint per 64-byte line) so a later
/// pass over it does not stall on memory; a no-op off x86-64.
pub fn prefetch<T>(data: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let bytes = std::mem::size_of_val(data);
        let base = data.as_ptr() as *const i8;
        for off in (0..bytes).step_by(64) {
            // SAFETY: `off` is inside `data`, and a prefetch never faults or writes.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(base.add(off)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}

/// Below this `exp` is zero in f32 (e^−87.34 is the smallest normal).
const EXP_MIN: f32 = -87.3;

/// e^x for x ≤ 88 by Cephes' `expf`: x = n·ln2 + r with |r| ≤ ln2/2, e^r by a degree-6
/// polynomial (relative error below 2·10⁻⁷), 2^n put in the exponent bits. Branch-free, so
/// a loop of it vectorises; x below −87.3 (−∞ included) gives exactly 0.
#[inline(always)]
fn exp_lane<const FUSED: bool>(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 split in two so n·LN2_HI is exact for |n| < 2^9.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5·2^23: adding and subtracting it rounds to the nearest integer.
    const ROUND: f32 = 12_582_912.0;
    let xc = x.clamp(EXP_MIN, 88.0);
    let shifted = fma::<FUSED>(xc, LOG2E, ROUND);
    let n = shifted - ROUND;
    let r = fma::<FUSED>(-n, LN2_LO, fma::<FUSED>(-n, LN2_HI, xc));
    let mut p = 1.987_569_1e-4;
    p = fma::<FUSED>(p, r, 1.398_199_9e-3);
    p = fma::<FUSED>(p, r, 8.333_452e-3);
    p = fma::<FUSED>(p, r, 4.166_579_6e-2);
    p = fma::<FUSED>(p, r, 1.666_666_5e-1);
    p = fma::<FUSED>(p, r, 0.5);
    let y = fma::<FUSED>(p * r, r, r) + 1.0;
    // 2^n from the bits of `shifted`: ROUND + n has ROUND's exponent, so its bits are
    // ROUND's plus n. Integer lanes only (`n as i32` would be a saturating conversion, which
    // LLVM does not vectorize).
    let pow2 = f32::from_bits(
        shifted
            .to_bits()
            .wrapping_sub(ROUND.to_bits())
            .wrapping_add(127)
            << 23,
    );
    if x < EXP_MIN {
        0.0
    } else {
        y * pow2
    }
}

#[inline(always)]
fn exp_sum_body<const FUSED: bool>(x: &mut [f32], shift: f32) -> f32 {
    let mut acc = [0f32; ROW];
    let mut chunks = x.chunks_exact_mut(ROW);
    for c in &mut chunks {
        for j in 0..ROW {
            c[j] = exp_lane::<FUSED>(c[j] - shift);
            acc[j] += c[j];
        }
    }
    let mut s = 0f32;
    for v in chunks.into_remainder() {
        *v = exp_lane::<FUSED>(*v - shift);
        s += *v;
    }
    tree(acc) + s
}
dispatch!(exp_sum_body, exp_sum_avx512, exp_sum_avx2, (x: &mut [f32], shift: f32) -> f32);

/// `x[i] ← e^(x[i] − shift)` for every element, returning Σ of the results: the softmax
/// numerators of a row whose maximum is `shift`. An element of −∞ becomes exactly 0.
pub fn exp_sum(x: &mut [f32], shift: f32) -> f32 {
    match level() {
        // SAFETY: the level was detected on this CPU.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { exp_sum_avx512(x, shift) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { exp_sum_avx2(x, shift) },
        _ => exp_sum_body::<false>(x, shift),
    }
}

#[inline(always)]
fn max_body(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; ROW];
    let mut chunks = x.chunks_exact(ROW);
    for c in &mut chunks {
        for j in 0..ROW {
            acc[j] = acc[j].max(c[j]);
        }
    }
    let mut width = ROW / 2;
    while width > 0 {
        for j in 0..width {
            acc[j] = acc[j].max(acc[j + width]);
        }
        width /= 2;
    }
    chunks.remainder().iter().fold(acc[0], |m, &v| m.max(v))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx2")]
unsafe fn max_avx512(x: &[f32]) -> f32 {
    max_body(x)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn max_avx2(x: &[f32]) -> f32 {
    max_body(x)
}

/// The largest element (−∞ for an empty slice; NaNs are skipped).
pub fn max(x: &[f32]) -> f32 {
    match level() {
        // SAFETY: the level was detected on this CPU.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { max_avx512(x) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { max_avx2(x) },
        _ => max_body(x),
    }
}

// After `dispatch!`, which it uses.
mod act;
pub use act::{rotate_heads, rotate_heads_bf16, silu_mul, silu_mul_bf16, Rotation};

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

    #[test]
    fn narrowing_rounds_like_the_scalar_conversions() {
        // Ties (1 + 2⁻⁸ between two bf16), just past them, negatives, tiny, huge, infinities,
        // NaN, and a spread of ordinary values.
        let mut v = vec![
            1.0 + 1.0 / 256.0,
            1.0 + 3.0 / 256.0,
            1.0 + 1.0 / 256.0 + 1e-6,
            -1.0 - 1.0 / 256.0,
            1e-40,
            -1e-40,
            3.4e38,
            f32::MAX,
            f32::INFINITY,
            f32::NEG_INFINITY,
            0.0,
            -0.0,
        ];
        v.extend((0..1000).map(|i| (i as f32 - 500.0) * 0.012_345_67));
        let mut b = vec![bf16::ZERO; v.len()];
        bf16::narrow(&v, &mut b);
        let mut h = vec![f16::ZERO; v.len()];
        f16::narrow(&v, &mut h);
        for (i, x) in v.iter().enumerate() {
            assert_eq!(b[i].to_bits(), bf16::from_f32(*x).to_bits(), "bf16 of {x}");
            assert_eq!(h[i].to_bits(), f16::from_f32(*x).to_bits(), "f16 of {x}");
        }
        let mut nan = [bf16::ZERO];
        bf16::narrow(&[f32::NAN], &mut nan);
        assert!(nan[0].is_nan());
    }

    /// Multiples of 1/8 below 2^6: every product and partial sum below is exact in f32,
    /// so any summation order gives the plain loop's value.
    fn eighths(n: usize, k: usize) -> Vec<f32> {
        (0..n)
            .map(|i| ((i * k) % 13) as f32 * 0.125 - 0.75)
            .collect()
    }

    #[test]
    fn dots_and_mix_walk_strided_rows() {
        for d in [4, 35, 128] {
            let (rows_n, stride) = (5, d + 3);
            let q = eighths(d, 3);
            let rows = eighths(rows_n * stride, 7);
            let mut got = vec![0f32; rows_n];
            dots(&q, &rows, stride, &mut got);
            for (t, g) in got.iter().enumerate() {
                let want: f32 = (0..d).map(|i| q[i] * rows[t * stride + i]).sum();
                assert_eq!(*g, want, "d={d} t={t}");
            }
            let p = [0.5f32, -1.0, 2.0, 0.25, 1.5];
            let mut acc = eighths(d, 5);
            let start = acc.clone();
            mix(&mut acc, &p, &rows, stride);
            for (i, a) in acc.iter().enumerate() {
                let want = start[i]
                    + (0..rows_n)
                        .map(|t| p[t] * rows[t * stride + i])
                        .sum::<f32>();
                assert_eq!(*a, want, "d={d} i={i}");
            }
            // The same rows as bf16 (eighths below 1 are exact in bf16) give the same values.
            let bits: Vec<u16> = rows.iter().map(|&x| bf16::from_f32(x).to_bits()).collect();
            let mut got16 = vec![0f32; rows_n];
            dots_bf16(&q, &bits, stride, &mut got16);
            assert_eq!(got16, got, "d={d}");
            let mut acc16 = start.clone();
            mix_bf16(&mut acc16, &p, &bits, stride);
            assert_eq!(acc16, acc, "d={d}");
        }
        // No rows: nothing read, nothing written.
        let mut acc = [1f32; 3];
        mix(&mut acc, &[], &[], 3);
        assert_eq!(acc, [1.0; 3]);
        dots(&[1.0], &[], 1, &mut []);
    }

    #[test]
    fn exp_sum_matches_f64_and_masks_minus_infinity() {
        // 70 values from −20 to ~+14 (then shifted by 2), a −∞ and one below the f32 range.
        let mut x: Vec<f32> = (0..70).map(|i| i as f32 * 0.49 - 20.0).collect();
        x.push(f32::NEG_INFINITY);
        x.push(-200.0);
        let orig = x.clone();
        let total = exp_sum(&mut x, 2.0);
        let mut want_total = 0f64;
        for (y, v) in x.iter().zip(&orig) {
            // The shift is applied in f32 (as the kernel does) before the f64 exponential.
            let want = ((*v - 2.0) as f64).exp();
            want_total += want;
            if want < 1e-38 {
                assert_eq!(*y, 0.0, "e^({v}−2)");
            } else {
                assert!(
                    ((*y as f64 - want) / want).abs() < 3e-7,
                    "e^({v}−2) = {y}, want {want}"
                );
            }
        }
        assert!(((total as f64 - want_total) / want_total).abs() < 1e-6);
        // Exact points: e^0 = 1 and e^(ln 2) = 2 within an ulp.
        let mut y = [3.0f32, 3.0 + std::f32::consts::LN_2];
        exp_sum(&mut y, 3.0);
        assert_eq!(y[0], 1.0);
        assert!((y[1] - 2.0).abs() <= 2.0 * f32::EPSILON);
    }

    #[test]
    fn max_of_rows() {
        let mut x: Vec<f32> = (0..67).map(|i| ((i * 29) % 67) as f32 - 30.0).collect();
        // (i·29) mod 67 takes every value 0..66 once, so the maximum is 66 − 30 = 36.
        assert_eq!(max(&x), 36.0);
        x.truncate(5);
        // 0, 29, 58, 20, 49 → 58 − 30.
        assert_eq!(max(&x), 28.0);
        assert_eq!(max(&[]), f32::NEG_INFINITY);
    }
}
