//! Decode GEMV `C[m,n] = A[m,k]·W[n,k]ᵀ` (m ≤ 16): streams each weight row once, widens it
//! into L1-resident f32 pieces and takes their dot products with every activation row.
//! Four weight rows are walked side by side: four concurrent streams per core keep enough
//! cache misses in flight for DRAM bandwidth, where one stream per core gets about half.

use rayon::prelude::*;

use hotpath_core::ops::LinearShape;
use hotpath_core::{HostTensor, Inputs, OpSpec, Result};

use super::{tensor, HostElem, Kernel};
use crate::kernels::output::output_buffer;
use crate::simd::dot;

/// Weight rows per parallel task.
const ROWS_PER_TASK: usize = 16;
/// Weight rows walked side by side.
const STREAMS: usize = 4;
/// Elements of each row widened per step (4 KiB of f32: four rows stay in L1).
const PIECE: usize = 1024;

struct Set<E> {
    a: Vec<E>,
    w: Vec<E>,
    c: Vec<E>,
}

/// The GEMV kernel.
pub struct Gemv<E> {
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
    let w = E::slice(inputs.get("w")?)?;
    let sets = (0..sets)
        .into_par_iter()
        .map(|_| Set {
            a: a.to_vec(),
            w: w.to_vec(),
            c: output_buffer(m * n),
        })
        .collect();
    Ok(Box::new(Gemv {
        m,
        n,
        k,
        sets,
        a32: vec![0.0; m * k],
        ct: vec![0.0; n * m],
    }))
}

impl<E: HostElem> Kernel for Gemv<E> {
    fn run(&mut self, set: usize) -> Result<()> {
        let (m, k) = (self.m, self.k);
        let s = &mut self.sets[set];
        E::widen(&s.a, &mut self.a32);
        let a32 = &self.a32;
        let w = &s.w;
        self.ct
            .par_chunks_mut(ROWS_PER_TASK * m)
            .enumerate()
            .for_each_init(
                || vec![0f32; (STREAMS * PIECE).max(k)],
                |buf, (task, ct)| {
                    let first = task * ROWS_PER_TASK;
                    let rows = ct.len() / m;
                    if m <= 2 {
                        // Few activation rows: widen in registers, no trip through L1.
                        for (r, out) in ct.chunks_mut(m).enumerate() {
                            let row = &w[(first + r) * k..][..k];
                            for (i, o) in out.iter_mut().enumerate() {
                                *o = E::dot_f32(row, &a32[i * k..(i + 1) * k], buf);
                            }
                        }
                        return;
                    }
                    ct.fill(0.0);
                    for r0 in (0..rows).step_by(STREAMS) {
                        let r1 = (r0 + STREAMS).min(rows);
                        for p0 in (0..k).step_by(PIECE) {
                            let len = PIECE.min(k - p0);
                            for r in r0..r1 {
                                let row = first + r;
                                let piece = &mut buf[(r - r0) * PIECE..][..len];
                                E::widen(&w[row * k + p0..][..len], piece);
                            }
                            for r in r0..r1 {
                                let piece = &buf[(r - r0) * PIECE..][..len];
                                for i in 0..m {
                                    ct[r * m + i] += dot(piece, &a32[i * k + p0..][..len]);
                                }
                            }
                        }
                    }
                },
            );
        for (j, col) in self.ct.chunks(m).enumerate() {
            for (i, v) in col.iter().enumerate() {
                s.c[i * self.n + j] = E::from_f32(*v);
            }
        }
        Ok(())
    }

    fn output(&self, set: usize) -> HostTensor {
        tensor("c", vec![self.m, self.n], self.sets[set].c.clone())
    }
}
