//! Rotary position embedding (`rope`), parallel over tokens. A token's heads are widened to
//! f32 in groups of whole heads (up to [`GROUP`] elements, in L1), rotated by the cache row
//! of the token's position with [`crate::simd::rotate_heads`] and rounded once back: three
//! vector calls per group, not per head. The elements past `rotary_dim` make the round trip
//! unchanged (widening and rounding back is exact). A head longer than a group goes through
//! the scalar path (correct, not fast: no model has one).

use rayon::prelude::*;

use hotpath_core::ops::RopeShape;
use hotpath_core::{Error, HostTensor, Inputs, OpSpec, Result};

use super::{indices, tensor, HostElem, Kernel};
use crate::simd::rotate_heads;

/// Elements of a token widened at once (16 KiB of f32: stays in L1).
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
        .map(|_| Set {
            qk: qk.to_vec(),
            cos_sin: cos_sin.to_vec(),
            out: vec![E::default(); t * h * d],
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

/// One token: `src` its heads, `dst` where they go rotated, `cs` its cache row.
fn token<E: HostElem>(src: &[E], dst: &mut [E], cs: &[f32], d: usize, r: usize, gptj: bool) {
    if d > GROUP {
        return scalar_token(src, dst, cs, d, r, gptj);
    }
    let mut buf = [0f32; GROUP];
    let group = GROUP / d * d;
    for (s, o) in src.chunks(group).zip(dst.chunks_mut(group)) {
        let b = &mut buf[..s.len()];
        E::widen(s, b);
        rotate_heads(b, d, r, cs, gptj);
        E::narrow(b, o);
    }
}

/// One token, a pair at a time (heads longer than [`GROUP`]).
fn scalar_token<E: HostElem>(src: &[E], dst: &mut [E], cs: &[f32], d: usize, r: usize, gptj: bool) {
    let half = r / 2;
    for (s, o) in src.chunks(d).zip(dst.chunks_mut(d)) {
        o.copy_from_slice(s);
        for i in 0..half {
            let (a, b) = if gptj {
                (2 * i, 2 * i + 1)
            } else {
                (i, i + half)
            };
            let (x, y, c, sn) = (s[a].to_f32(), s[b].to_f32(), cs[i], cs[half + i]);
            o[a] = E::from_f32(x * c - y * sn);
            o[b] = E::from_f32(y * c + x * sn);
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
        out.par_chunks_mut(row)
            .zip(qk.par_chunks(row))
            .zip(self.positions.par_iter())
            .with_min_len(MIN_TASK_ELEMENTS.div_ceil(row))
            .for_each(|((dst, src), &p)| token(src, dst, &cos_sin[p * r..p * r + r], d, r, gptj));
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
