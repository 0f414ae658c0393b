//! Decode GEMV on fp8 weights (`gemv_fp8w`): each e4m3 weight row is decoded once, in
//! registers, multiplied with every activation row, and the sums scaled by the row's f32
//! scale. bf16 activations on a CPU with AVX-512 VBMI and BF16 meet the codes decoded to bf16
//! in `vdpbf16ps` ([`crate::simd::fp8_dots_bf16`], activations reordered once per run); else
//! the codes go through their f16 view against the activations widened to f32
//! ([`crate::simd::fp8_dots`]).

use rayon::prelude::*;

use hotpath_core::ops::LinearShape;
use hotpath_core::{HostTensor, Inputs, OpSpec, Result};

use super::{tensor, HostElem, Kernel};
use crate::kernels::output::output_buffer;
use crate::simd::{fp8_bf16_fast, fp8_bf16_order, fp8_dots, fp8_dots_bf16, FP8_F16_SCALE};

/// Weight rows per parallel task.
const ROWS_PER_TASK: usize = 16;

struct Set<E> {
    a: Vec<E>,
    w: Vec<u8>,
    w_scale: Vec<f32>,
    c: Vec<E>,
}

/// The activations as a decoder reads them, laid out once per run.
enum Activations {
    /// bf16 bits in [`fp8_bf16_order`], `[m,k]`.
    Bf16(Vec<u16>),
    /// Widened to f32, `[m,k]`.
    F32(Vec<f32>),
}

/// The fp8-weight GEMV kernel.
pub struct GemvFp8w<E> {
    m: usize,
    n: usize,
    k: usize,
    sets: Vec<Set<E>>,
    activations: Activations,
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
        .into_par_iter()
        .map(|_| Set {
            a: a.to_vec(),
            w: w.to_vec(),
            w_scale: w_scale.to_vec(),
            c: output_buffer(m * n),
        })
        .collect();
    Ok(Box::new(GemvFp8w {
        m,
        n,
        k,
        sets,
        activations: if E::bf16_bits(a).is_some() && fp8_bf16_fast(k) {
            Activations::Bf16(vec![0; m * k])
        } else {
            Activations::F32(vec![0.0; m * k])
        },
        ct: vec![0.0; n * m],
    }))
}

impl<E: HostElem> Kernel for GemvFp8w<E> {
    fn run(&mut self, set: usize) -> Result<()> {
        let (m, n, k) = (self.m, self.n, self.k);
        let s = &mut self.sets[set];
        match &mut self.activations {
            Activations::Bf16(xs) => {
                let bits = E::bf16_bits(&s.a).unwrap_or(&[]);
                for (src, dst) in bits.chunks(k).zip(xs.chunks_mut(k)) {
                    for (e, b) in src.iter().enumerate() {
                        dst[fp8_bf16_order(e)] = *b;
                    }
                }
            }
            Activations::F32(a32) => E::widen(&s.a, a32),
        }
        let (activations, w, w_scale) = (&self.activations, &s.w, &s.w_scale);
        self.ct
            .par_chunks_mut(ROWS_PER_TASK * m)
            .enumerate()
            .for_each(|(task, ct)| {
                ct.fill(0.0);
                for (i, out) in ct.chunks_mut(m).enumerate() {
                    let r = task * ROWS_PER_TASK + i;
                    let row = &w[r * k..(r + 1) * k];
                    let scale = match activations {
                        Activations::Bf16(xs) => {
                            fp8_dots_bf16(row, xs, out);
                            w_scale[r]
                        }
                        Activations::F32(a32) => {
                            fp8_dots(row, a32, out);
                            w_scale[r] * FP8_F16_SCALE
                        }
                    };
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
