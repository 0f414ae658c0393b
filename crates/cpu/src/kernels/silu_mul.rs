//! Gated-MLP activation (`silu_mul`): out[t] = silu(gate[t])·up[t], gate and up the two
//! halves of row t of x. Parallel over pieces of rows (a single long row still spreads over
//! every core); f32 and bf16 pieces go straight through [`crate::simd::silu_mul`] and
//! [`crate::simd::silu_mul_bf16`] (bf16 widened and rounded once in registers), f16 ones
//! through f32 buffers in L1.

use rayon::prelude::*;

use hotpath_core::ops::ActShape;
use hotpath_core::{Error, HostTensor, Inputs, OpSpec, Result};

use super::{tensor, HostElem, Kernel};
use crate::kernels::output::output_buffer;
use crate::simd::{silu_mul, silu_mul_bf16};

/// Elements widened to f32 per step (f16 only: 8 KiB per buffer, all three stay in L1).
const PIECE: usize = 2048;
/// Output elements per parallel task (rayon's overhead is small against 48 KiB of bf16).
const TASK: usize = 8 * PIECE;

struct Set<E> {
    x: Vec<E>,
    out: Vec<E>,
}

/// The gated SiLU kernel.
pub struct SiluMul<E> {
    tokens: usize,
    intermediate: usize,
    sets: Vec<Set<E>>,
}

/// Builds the kernel with `sets` rotation sets.
pub fn build<E: HostElem>(spec: &OpSpec, inputs: &Inputs, sets: usize) -> Result<Box<dyn Kernel>> {
    let p = ActShape::of(spec)?;
    let (tokens, intermediate) = (p.tokens as usize, p.intermediate as usize);
    let x = E::slice(inputs.get("x")?)?;
    if x.len() != 2 * tokens * intermediate {
        return Err(Error::backend(format!(
            "input tensor 'x' has {} elements; silu_mul at {spec} needs {}",
            x.len(),
            2 * tokens * intermediate
        )));
    }
    let sets = (0..sets)
        .into_par_iter()
        .map(|_| Set {
            x: x.to_vec(),
            out: output_buffer(tokens * intermediate),
        })
        .collect();
    Ok(Box::new(SiluMul {
        tokens,
        intermediate,
        sets,
    }))
}

/// `out = silu(gate)·up` for one piece of a row: f32 and bf16 directly (bf16 converted in
/// registers), f16 through f32 buffers.
fn piece<E: HostElem>(gate: &[E], up: &[E], out: &mut [E]) {
    if let (Some(g), Some(u)) = (E::f32s(gate), E::f32s(up)) {
        if let Some(o) = E::f32s_mut(out) {
            return silu_mul(g, u, o);
        }
    }
    if let (Some(g), Some(u)) = (E::bf16_bits(gate), E::bf16_bits(up)) {
        if let Some(o) = E::bf16_bits_mut(out) {
            return silu_mul_bf16(g, u, o);
        }
    }
    let mut buf = [[0f32; PIECE]; 3];
    let [a, b, y] = &mut buf;
    for ((g, u), o) in gate
        .chunks(PIECE)
        .zip(up.chunks(PIECE))
        .zip(out.chunks_mut(PIECE))
    {
        let n = g.len();
        E::widen(g, &mut a[..n]);
        E::widen(u, &mut b[..n]);
        silu_mul(&a[..n], &b[..n], &mut y[..n]);
        E::narrow(&y[..n], o);
    }
}

impl<E: HostElem> Kernel for SiluMul<E> {
    fn run(&mut self, set: usize) -> Result<()> {
        let i = self.intermediate;
        let s = &mut self.sets[set];
        s.out
            .par_chunks_mut(i)
            .zip(s.x.par_chunks(2 * i))
            .for_each(|(out, row)| {
                let (gate, up) = row.split_at(i);
                out.par_chunks_mut(TASK)
                    .zip(gate.par_chunks(TASK).zip(up.par_chunks(TASK)))
                    .for_each(|(o, (g, u))| piece(g, u, o));
            });
        Ok(())
    }

    fn output(&self, set: usize) -> HostTensor {
        tensor(
            "out",
            vec![self.tokens, self.intermediate],
            self.sets[set].out.clone(),
        )
    }
}
