//! Decode GEMV on packed int4 weights (`gemv_w4a16`): each weight row is decoded once, in
//! registers, and multiplied with every activation row. With bf16 activations on a CPU with
//! AVX-512 BF16 the codes become bf16 by the magic-number trick and meet the activations as
//! they are stored in `vdpbf16ps` ([`crate::simd::int4_dots_bf16`]); otherwise through a table per group of the
//! 16 dequantized f32 values `(q − z)·scale` ([`crate::simd::int4_dots`]) against the
//! activations widened to f32. Either way the activations are laid out once per run in the
//! lane order the decoder produces.

use rayon::prelude::*;

use hotpath_core::ops::{W4Shape, INT4_SYMMETRIC_ZERO};
use hotpath_core::{HostTensor, Inputs, OpSpec, Result};

use super::{tensor, HostElem, Kernel};
use crate::kernels::output::output_buffer;
use crate::simd::{
    int4_bf16_fast, int4_bf16_order, int4_dots, int4_dots_bf16, int4_lane_order, int4_tables,
    prefetch_l2, Int4Zeros,
};

/// Weight rows per parallel task.
const ROWS_PER_TASK: usize = 32;
/// How many rows ahead of the one being decoded the weights are prefetched.
const PREFETCH_ROWS: usize = 4;

struct Set<E> {
    a: Vec<E>,
    w: Vec<u32>,
    scales: Vec<E>,
    zeros: Vec<u32>,
    c: Vec<E>,
}

/// The activations as a decoder reads them, laid out once per run.
enum Activations {
    /// bf16 bits in [`int4_bf16_order`], `[m,k]`, and each group's sum, `[m,k/group]`.
    Bf16 { xs: Vec<u16>, sums: Vec<f32> },
    /// f32 in [`int4_lane_order`], `[m,k]`.
    F32 { xs: Vec<f32> },
}

/// The int4 GEMV kernel.
pub struct GemvW4a16<E> {
    shape: W4Shape,
    sets: Vec<Set<E>>,
    activations: Activations,
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
        .into_par_iter()
        .map(|_| Set {
            a: a.to_vec(),
            w: w.to_vec(),
            scales: scales.to_vec(),
            zeros: zeros.to_vec(),
            c: output_buffer(m * n),
        })
        .collect();
    let activations = if E::bf16_bits(a).is_some() && int4_bf16_fast(k) {
        Activations::Bf16 {
            xs: vec![0; m * k],
            sums: vec![0.0; m * p.groups() as usize],
        }
    } else {
        Activations::F32 {
            xs: vec![0.0; m * k],
        }
    };
    Ok(Box::new(GemvW4a16 {
        shape: p,
        sets,
        activations,
        ct: vec![0.0; n * m],
    }))
}

/// Lays the activations `a` (`[m,k]`) out for the decoder, in groups of `group`.
fn lay_out<E: HostElem>(a: &[E], k: usize, group: usize, activations: &mut Activations) {
    match activations {
        Activations::Bf16 { xs, sums } => {
            let bits = E::bf16_bits(a).unwrap_or(&[]);
            for ((src, dst), sums) in bits
                .chunks(k)
                .zip(xs.chunks_mut(k))
                .zip(sums.chunks_mut(k / group))
            {
                for (e, b) in src.iter().enumerate() {
                    dst[int4_bf16_order(e)] = *b;
                }
                for (sum, g) in sums.iter_mut().zip(src.chunks_exact(group)) {
                    *sum = g.iter().map(|b| f32::from_bits((*b as u32) << 16)).sum();
                }
            }
        }
        Activations::F32 { xs } => {
            let mut row32 = vec![0f32; k];
            for (src, dst) in a.chunks(k).zip(xs.chunks_mut(k)) {
                E::widen(src, &mut row32);
                for (e, v) in row32.iter().enumerate() {
                    dst[int4_lane_order(e)] = *v;
                }
            }
        }
    }
}

/// One task's rows: scales widened, zero points unpacked, then the decoder.
struct RowScratch {
    scale32: Vec<f32>,
    zero32: Vec<f32>,
    tables: Vec<f32>,
}

impl<E: HostElem> Kernel for GemvW4a16<E> {
    fn run(&mut self, set: usize) -> Result<()> {
        let p = self.shape;
        let (m, n, k, group) = (p.m as usize, p.n as usize, p.k as usize, p.group as usize);
        let (groups, zero_words) = (p.groups() as usize, p.zero_words() as usize);
        let s = &mut self.sets[set];
        lay_out(&s.a, k, group, &mut self.activations);
        let (activations, w, scales, zeros) = (&self.activations, &s.w, &s.scales, &s.zeros);
        self.ct
            .par_chunks_mut(ROWS_PER_TASK * m)
            .enumerate()
            .for_each_init(
                || RowScratch {
                    scale32: vec![0.0; groups],
                    zero32: vec![0.0; groups],
                    tables: vec![0.0; 16 * groups],
                },
                |t, (task, ct)| {
                    ct.fill(0.0);
                    for (i, out) in ct.chunks_mut(m).enumerate() {
                        let r = task * ROWS_PER_TASK + i;
                        // The row PREFETCH_ROWS ahead starts on its way to L2: one stream of
                        // 2-KiB rows leaves the DRAM pipe half empty.
                        if let Some(ahead) = w.get((r + PREFETCH_ROWS) * k / 8..) {
                            prefetch_l2(&ahead[..(k / 8).min(ahead.len())]);
                        }
                        E::widen(&scales[r * groups..(r + 1) * groups], &mut t.scale32);
                        let zero_row = &zeros[r * zero_words..(r + 1) * zero_words];
                        let row = &w[r * k / 8..(r + 1) * k / 8];
                        match activations {
                            Activations::Bf16 { xs, sums } => {
                                let form = if p.zero_points {
                                    Int4Zeros::Packed(zero_row)
                                } else {
                                    Int4Zeros::Symmetric
                                };
                                int4_dots_bf16(row, group, &t.scale32, form, xs, sums, out);
                            }
                            Activations::F32 { xs } => {
                                if p.zero_points {
                                    for (g, z) in t.zero32.iter_mut().enumerate() {
                                        *z = ((zero_row[g / 8] >> (4 * (g % 8))) & 15) as f32;
                                    }
                                } else {
                                    t.zero32.fill(INT4_SYMMETRIC_ZERO as f32);
                                }
                                int4_tables(&t.scale32, &t.zero32, &mut t.tables);
                                int4_dots(row, group, &t.tables, xs, k, out);
                            }
                        }
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
