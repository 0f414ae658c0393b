//! Decode GEMV on packed int4 weights (`gemv_w4a16`): each weight row is decoded once, in
//! registers, through a table per group of its 16 dequantized values `(q − z)·scale`
//! ([`crate::simd::int4_dots`]), and multiplied with every activation row. The activations
//! are widened to f32 once per run, in the lane order the decoder produces.

use rayon::prelude::*;

use hotpath_core::ops::{W4Shape, INT4_SYMMETRIC_ZERO};
use hotpath_core::{HostTensor, Inputs, OpSpec, Result};

use super::{tensor, HostElem, Kernel};
use crate::simd::{int4_dots, int4_lane_order, int4_tables, prefetch_l2};

/// Weight rows per parallel task.
const ROWS_PER_TASK: usize = 32;
/// How many rows ahead of the one being decoded the weights are prefetched.
const PREFETCH_ROWS: usize = 16;

struct Set<E> {
    a: Vec<E>,
    w: Vec<u32>,
    scales: Vec<E>,
    zeros: Vec<u32>,
    c: Vec<E>,
}

/// The int4 GEMV kernel.
pub struct GemvW4a16<E> {
    shape: W4Shape,
    sets: Vec<Set<E>>,
    /// Activations widened to f32, `[m,k]`, each row in [`int4_lane_order`].
    xs: Vec<f32>,
    /// Results transposed, `[n,m]`, so tasks own disjoint rows.
    ct: Vec<f32>,
}

/// Builds the kernel with `sets` rotation sets.
pub fn build<E: HostElem>(spec: &OpSpec, inputs: &Inputs, sets: usize) -> Result<Box<dyn Kernel>> {
    let p = W4Shape::of(spec)?;
    let (m, n, k) = (p.m as usize, p.n as usize, p.k as usize);
    let a = E::slice(inputs.get("a")?)?;
    let w = inputs.get("w")?.as_u32()?;
    let scales = E::slice(inputs.get("scales")?)?;
    let zeros = inputs.get("zeros")?.as_u32()?;
    let sets = (0..sets)
        .map(|_| Set {
            a: a.to_vec(),
            w: w.to_vec(),
            scales: scales.to_vec(),
            zeros: zeros.to_vec(),
            c: vec![E::default(); m * n],
        })
        .collect();
    Ok(Box::new(GemvW4a16 {
        shape: p,
        sets,
        xs: vec![0.0; m * k],
        ct: vec![0.0; n * m],
    }))
}

impl<E: HostElem> Kernel for GemvW4a16<E> {
    fn run(&mut self, set: usize) -> Result<()> {
        let p = self.shape;
        let (m, n, k, group) = (p.m as usize, p.n as usize, p.k as usize, p.group as usize);
        let (groups, zero_words) = (p.groups() as usize, p.zero_words() as usize);
        let s = &mut self.sets[set];
        let mut row32 = vec![0f32; k];
        for (i, x) in self.xs.chunks_mut(k).enumerate() {
            E::widen(&s.a[i * k..(i + 1) * k], &mut row32);
            for (e, v) in row32.iter().enumerate() {
                x[int4_lane_order(e)] = *v;
            }
        }
        let (xs, w, scales, zeros) = (&self.xs, &s.w, &s.scales, &s.zeros);
        self.ct
            .par_chunks_mut(ROWS_PER_TASK * m)
            .enumerate()
            .for_each_init(
                || {
                    (
                        vec![0f32; 16 * groups],
                        vec![0f32; groups],
                        vec![0f32; groups],
                    )
                },
                |(tables, scale32, zero32), (task, ct)| {
                    ct.fill(0.0);
                    for (i, out) in ct.chunks_mut(m).enumerate() {
                        let r = task * ROWS_PER_TASK + i;
                        E::widen(&scales[r * groups..(r + 1) * groups], scale32);
                        if p.zero_points {
                            for (g, z) in zero32.iter_mut().enumerate() {
                                *z = ((zeros[r * zero_words + g / 8] >> (4 * (g % 8))) & 15) as f32;
                            }
                        } else {
                            zero32.fill(INT4_SYMMETRIC_ZERO as f32);
                        }
                        int4_tables(scale32, zero32, tables);
                        // The row PREFETCH_ROWS ahead starts on its way to L2: one stream of
                        // 2-KiB rows leaves the DRAM pipe half empty.
                        if let Some(ahead) = w.get((r + PREFETCH_ROWS) * k / 8..) {
                            prefetch_l2(&ahead[..(k / 8).min(ahead.len())]);
                        }
                        int4_dots(&w[r * k / 8..(r + 1) * k / 8], group, tables, xs, k, out);
                    }
                },
            );
        for (j, col) in self.ct.chunks(m).enumerate() {
            for (i, v) in col.iter().enumerate() {
                s.c[i * n + j] = E::from_f32(*v);
            }
        }
        Ok(())
    }

    fn output(&self, set: usize) -> HostTensor {
        let p = self.shape;
        tensor(
            "c",
            vec![p.m as usize, p.n as usize],
            self.sets[set].c.clone(),
        )
    }
}
