//! Rotary position embedding (`rope`), parallel over tokens. All the heads of a token are
//! rotated by the cache row of its position in one call of [`crate::simd::rotate_heads`]
//! (f32) or [`crate::simd::rotate_heads_bf16`] (bf16, converted in registers); f16 heads are
//! widened to f32 in groups of whole heads (up to [`GROUP`] elements, in L1) and rounded back,
//! and an f16 head longer than a group goes through a scalar path (correct, not fast: no
//! model has one). The elements past `rotary_dim` are copied.

use rayon::prelude::*;

use hotpath_core::ops::RopeShape;
use hotpath_core::{Error, HostTensor, Inputs, OpSpec, Result};

use super::{indices, tensor, HostElem, Kernel};
use crate::kernels::output::output_buffer;
use crate::simd::{prefetch, rotate_heads, rotate_heads_bf16, Rotation};

/// Elements of an f16 token widened at once (16 KiB of f32 per buffer: both stay in L1).
const GROUP: usize = 4096;
/// Elements per parallel task at least, so short tokens are batched (rayon's overhead).
const MIN_TASK_ELEMENTS: usize = 1 << 14;

struct Set<E> {
    qk: Vec<E>,
    cos_sin: Vec<f32>,
    out: Vec<E>,
}

/// The rotary embedding kernel.
pub struct Rope<E> {
    positions: Vec<usize>,
    heads: usize,
    head_dim: usize,
    rotary_dim: usize,
    gptj: bool,
    sets: Vec<Set<E>>,
}

/// Builds the kernel with `sets` rotation sets; every position must have a cache row.
pub fn build<E: HostElem>(spec: &OpSpec, inputs: &Inputs, sets: usize) -> Result<Box<dyn Kernel>> {
    let p = RopeShape::of(spec)?;
    let (t, h, d) = (p.tokens as usize, p.heads() as usize, p.head_dim as usize);
    let (m, r) = (p.max_position as usize, p.rotary_dim as usize);
    let positions = indices(inputs.get("positions")?, m)?;
    let qk = E::slice(inputs.get("qk")?)?;
    let cos_sin = f32::slice(inputs.get("cos_sin")?)?;
    for (name, len, want) in [
        ("positions", positions.len(), t),
        ("qk", qk.len(), t * h * d),
        ("cos_sin", cos_sin.len(), m * r),
    ] {
        if len != want {
            return Err(Error::backend(format!(
                "input tensor '{name}' has {len} elements; rope at {spec} needs {want}"
            )));
        }
    }
    let sets = (0..sets)
        .into_par_iter()
        .map(|_| Set {
            qk: qk.to_vec(),
            cos_sin: cos_sin.to_vec(),
            out: output_buffer(t * h * d),
        })
        .collect();
    Ok(Box::new(Rope {
        positions,
        heads: h,
        head_dim: d,
        rotary_dim: r,
        gptj: p.gptj,
        sets,
    }))
}

/// One token: `src` its heads, `dst` where they go rotated: f32 and bf16 in one call for all
/// the heads (bf16 converted in registers), f16 through f32 buffers a group of whole heads at
/// a time (one head at a time, scalar, when a head is longer than a group).
fn token<E: HostElem>(src: &[E], dst: &mut [E], rot: Rotation) {
    if let (Some(s), Some(o)) = (E::f32s(src), E::f32s_mut(dst)) {
        return rotate_heads(s, o, rot);
    }
    if let Some(s) = E::bf16_bits(src) {
        if let Some(o) = E::bf16_bits_mut(dst) {
            return rotate_heads_bf16(s, o, rot);
        }
    }
    let d = rot.head_dim;
    if d > GROUP {
        return scalar_token(src, dst, rot);
    }
    let mut buf = [[0f32; GROUP]; 2];
    let [a, b] = &mut buf;
    let group = GROUP / d * d;
    for (s, o) in src.chunks(group).zip(dst.chunks_mut(group)) {
        let n = s.len();
        E::widen(s, &mut a[..n]);
        rotate_heads(&a[..n], &mut b[..n], rot);
        E::narrow(&b[..n], o);
    }
}

/// One token, a pair at a time (f16 heads longer than [`GROUP`]).
fn scalar_token<E: HostElem>(src: &[E], dst: &mut [E], rot: Rotation) {
    let half = rot.rotary_dim / 2;
    let (cos, sin) = rot.cs.split_at(half);
    for (s, o) in src.chunks(rot.head_dim).zip(dst.chunks_mut(rot.head_dim)) {
        o.copy_from_slice(s);
        for i in 0..half {
            let (a, b) = if rot.gptj {
                (2 * i, 2 * i + 1)
            } else {
                (i, i + half)
            };
            let (x, y) = (s[a].to_f32(), s[b].to_f32());
            o[a] = E::from_f32(x * cos[i] - y * sin[i]);
            o[b] = E::from_f32(y * cos[i] + x * sin[i]);
        }
    }
}

impl<E: HostElem> Kernel for Rope<E> {
    fn run(&mut self, set: usize) -> Result<()> {
        let (d, r, gptj) = (self.head_dim, self.rotary_dim, self.gptj);
        let row = self.heads * d;
        if row == 0 {
            return Ok(());
        }
        let Set { qk, cos_sin, out } = &mut self.sets[set];
        let positions = &self.positions;
        out.par_chunks_mut(row)
            .zip(qk.par_chunks(row))
            .enumerate()
            .with_min_len(MIN_TASK_ELEMENTS.div_ceil(row))
            .for_each(|(t, (dst, src))| {
                // The next token's cache row is a random one: start loading it now.
                if let Some(&next) = positions.get(t + 1) {
                    prefetch(&cos_sin[next * r..next * r + r]);
                }
                let p = positions[t];
                let rot = Rotation {
                    head_dim: d,
                    rotary_dim: r,
                    cs: &cos_sin[p * r..p * r + r],
                    gptj,
                };
                token(src, dst, rot)
            });
        Ok(())
    }

    fn output(&self, set: usize) -> HostTensor {
        let t = self.positions.len();
        tensor(
            "out",
            vec![t, self.heads, self.head_dim],
            self.sets[set].out.clone(),
        )
    }
}
