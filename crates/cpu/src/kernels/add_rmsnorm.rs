//! Fused residual add + RMSNorm (`add_rmsnorm`), parallel over token rows. Each row is
//! walked twice in pieces widened to f32 in L1: the first pass writes `r = x + residual`
//! rounded to the element type and sums the squares of the rounded values in f32; the second
//! reads `r` back (just written, cache-resident) and writes `y = r·rsqrt(mean + ε)·weight`.
//! Widening, rounding and the sum of squares are the vector primitives of `crate::simd`.

use rayon::prelude::*;

use hotpath_core::ops::{NormShape, ADD_RMSNORM_EPS};
use hotpath_core::{HostTensor, Inputs, OpSpec, Result};

use super::{tensor, HostElem, Kernel};
use crate::kernels::output::output_buffer;
use crate::simd::dot;

/// Elements of a row widened to f32 per step (4 KiB per buffer: both stay in L1).
const PIECE: usize = 1024;
/// Elements per parallel task at least, so short rows are batched (rayon's overhead).
const MIN_TASK_ELEMENTS: usize = 1 << 14;

struct Set<E> {
    x: Vec<E>,
    residual: Vec<E>,
    weight: Vec<E>,
    /// `out[2,T,h]`: y rows, then r rows.
    out: Vec<E>,
}

/// The fused add + RMSNorm kernel.
pub struct AddRmsnorm<E> {
    tokens: usize,
    hidden: usize,
    sets: Vec<Set<E>>,
}

/// Builds the kernel with `sets` rotation sets.
pub fn build<E: HostElem>(spec: &OpSpec, inputs: &Inputs, sets: usize) -> Result<Box<dyn Kernel>> {
    let p = NormShape::of(spec)?;
    let (tokens, hidden) = (p.tokens as usize, p.hidden as usize);
    let x = E::slice(inputs.get("x")?)?;
    let residual = E::slice(inputs.get("residual")?)?;
    let weight = E::slice(inputs.get("weight")?)?;
    let sets = (0..sets)
        .into_par_iter()
        .map(|_| Set {
            x: x.to_vec(),
            residual: residual.to_vec(),
            weight: weight.to_vec(),
            out: output_buffer(2 * tokens * hidden),
        })
        .collect();
    Ok(Box::new(AddRmsnorm {
        tokens,
        hidden,
        sets,
    }))
}

/// One row: `r = x + res` rounded to `E`, then `y = r·rsqrt(mean(r²) + ε)·w`, a piece at a
/// time through two f32 buffers.
fn row<E: HostElem>(x: &[E], res: &[E], w: &[E], y: &mut [E], r: &mut [E]) {
    let hidden = x.len();
    let (mut a, mut b) = ([0f32; PIECE], [0f32; PIECE]);
    let mut sum_sq = 0f32;
    for ((x, res), r) in x
        .chunks(PIECE)
        .zip(res.chunks(PIECE))
        .zip(r.chunks_mut(PIECE))
    {
        let (a, b) = (&mut a[..x.len()], &mut b[..x.len()]);
        E::widen(x, a);
        E::widen(res, b);
        for (ai, bi) in a.iter_mut().zip(b.iter()) {
            *ai += *bi;
        }
        E::narrow(a, r);
        // The norm is taken over r as stored, rounded to E.
        E::widen(r, a);
        sum_sq += dot(a, a);
    }
    let inv = 1.0 / (sum_sq / hidden as f32 + ADD_RMSNORM_EPS).sqrt();
    for ((r, w), y) in r
        .chunks(PIECE)
        .zip(w.chunks(PIECE))
        .zip(y.chunks_mut(PIECE))
    {
        let (a, b) = (&mut a[..r.len()], &mut b[..r.len()]);
        E::widen(r, a);
        E::widen(w, b);
        for (ai, bi) in a.iter_mut().zip(b.iter()) {
            *ai *= inv * *bi;
        }
        E::narrow(a, y);
    }
}

impl<E: HostElem> Kernel for AddRmsnorm<E> {
    fn run(&mut self, set: usize) -> Result<()> {
        let h = self.hidden;
        let s = &mut self.sets[set];
        let (ys, rs) = s.out.split_at_mut(self.tokens * h);
        let w = &s.weight;
        ys.par_chunks_mut(h)
            .zip(rs.par_chunks_mut(h))
            .zip(s.x.par_chunks(h).zip(s.residual.par_chunks(h)))
            .with_min_len(MIN_TASK_ELEMENTS.div_ceil(h))
            .for_each(|((y, r), (x, res))| row(x, res, w, y, r));
        Ok(())
    }

    fn output(&self, set: usize) -> HostTensor {
        tensor(
            "out",
            vec![2, self.tokens, self.hidden],
            self.sets[set].out.clone(),
        )
    }
}
