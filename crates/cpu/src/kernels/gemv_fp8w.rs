//! Decode GEMV on fp8 weights (`gemv_fp8w`): each e4m3 weight row is decoded once, in
//! registers ([`crate::simd::fp8_dots`]), multiplied with every activation row (widened to
//! f32 once per run), and the sums scaled by the row's f32 scale.

use rayon::prelude::*;

use hotpath_core::ops::LinearShape;
use hotpath_core::{HostTensor, Inputs, OpSpec, Result};

use super::{tensor, HostElem, Kernel};
use crate::simd::{fp8_dots, FP8_F16_SCALE};

/// Weight rows per parallel task.
const ROWS_PER_TASK: usize = 16;

struct Set<E> {
    a: Vec<E>,
    w: Vec<u8>,
    w_scale: Vec<f32>,
    c: Vec<E>,
}

/// The fp8-weight GEMV kernel.
pub struct GemvFp8w<E> {
    m: usize,
    n: usize,
    k: usize,
    sets: Vec<Set<E>>,
    /// Activations widened to f32, `[m,k]`.
    a32: Vec<f32>,
    /// Results transposed, `[n,m]`, so tasks own disjoint rows.
    ct: Vec<f32>,
}

/// Builds the kernel with `sets` rotation sets.
pub fn build<E: HostElem>(spec: &OpSpec, inputs: &Inputs, sets: usize) -> Result<Box<dyn Kernel>> {
    let s = LinearShape::of(spec)?;
    let (m, n, k) = (s.m as usize, s.n as usize, s.k as usize);
    let a = E::slice(inputs.get("a")?)?;
    let w = inputs.get("w")?.as_fp8()?;
    let w_scale = <f32 as HostElem>::slice(inputs.get("w_scale")?)?;
    let sets = (0..sets)
        .map(|_| Set {
            a: a.to_vec(),
            w: w.to_vec(),
            w_scale: w_scale.to_vec(),
            c: vec![E::default(); m * n],
        })
        .collect();
    Ok(Box::new(GemvFp8w {
        m,
        n,
        k,
        sets,
        a32: vec![0.0; m * k],
        ct: vec![0.0; n * m],
    }))
}

impl<E: HostElem> Kernel for GemvFp8w<E> {
    fn run(&mut self, set: usize) -> Result<()> {
        let (m, n, k) = (self.m, self.n, self.k);
        let s = &mut self.sets[set];
        E::widen(&s.a, &mut self.a32);
        let (a32, w, w_scale) = (&self.a32, &s.w, &s.w_scale);
        self.ct
            .par_chunks_mut(ROWS_PER_TASK * m)
            .enumerate()
            .for_each(|(task, ct)| {
                ct.fill(0.0);
                for (i, out) in ct.chunks_mut(m).enumerate() {
                    let r = task * ROWS_PER_TASK + i;
                    fp8_dots(&w[r * k..(r + 1) * k], a32, out);
                    let scale = w_scale[r] * FP8_F16_SCALE;
                    out.iter_mut().for_each(|o| *o *= scale);
                }
            });
        for (j, col) in self.ct.chunks(m).enumerate() {
            for (i, v) in col.iter().enumerate() {
                s.c[i * n + j] = E::from_f32(*v);
            }
        }
        Ok(())
    }

    fn output(&self, set: usize) -> HostTensor {
        tensor("c", vec![self.m, self.n], self.sets[set].c.clone())
    }
}
