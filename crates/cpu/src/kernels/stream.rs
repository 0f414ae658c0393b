//! STREAM-style ceilings: copy, read, write, triad, split over every core.

use rayon::prelude::*;

use hotpath_core::inputs::{TRIAD_SCALAR, WRITE_VALUE};
use hotpath_core::ops::StreamShape;
use hotpath_core::{HostTensor, Inputs, OpSpec, Result};

use super::{tensor, HostElem, Kernel};
use crate::kernels::output::output_buffer;
use crate::simd::Elem;

/// Elements per parallel task: 64 Ki keeps tasks well above rayon's overhead.
const CHUNK: usize = 1 << 16;

/// The four STREAM kernels: the only ops this file builds (the CPU's op table in
/// [`super`] picks one per op).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamOp {
    /// b = a.
    Copy,
    /// The sum of a.
    Read,
    /// a = constant.
    Write,
    /// a = b + q·c.
    Triad,
}

struct Set<E> {
    a: Vec<E>,
    b: Vec<E>,
    c: Vec<E>,
    sum: f32,
}

/// One of the four STREAM kernels over `elements` values of `E`.
pub struct Stream<E> {
    op: StreamOp,
    sets: Vec<Set<E>>,
}

/// Builds the kernel with `sets` rotation sets.
pub fn build<E: HostElem>(
    op: StreamOp,
    spec: &OpSpec,
    inputs: &Inputs,
    sets: usize,
) -> Result<Box<dyn Kernel>> {
    let n = StreamShape::of(spec)?.elements as usize;
    let input = |name: &str| -> Result<Vec<E>> { Ok(E::slice(inputs.get(name)?)?.to_vec()) };
    let out = (0..sets)
        .into_par_iter()
        .map(|_| -> Result<Set<E>> {
            Ok(match op {
                StreamOp::Copy => Set {
                    a: input("a")?,
                    b: output_buffer(n),
                    c: vec![],
                    sum: 0.0,
                },
                StreamOp::Read => Set {
                    a: input("a")?,
                    b: vec![],
                    c: vec![],
                    sum: 0.0,
                },
                StreamOp::Write => Set {
                    a: output_buffer(n),
                    b: vec![],
                    c: vec![],
                    sum: 0.0,
                },
                StreamOp::Triad => Set {
                    a: output_buffer(n),
                    b: input("b")?,
                    c: input("c")?,
                    sum: 0.0,
                },
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Box::new(Stream { op, sets: out }))
}

fn sum_of<E: Elem>(x: &[E]) -> f32 {
    if let Some(x) = as_f32(x) {
        return crate::simd::sum(x);
    }
    let mut buf = [0f32; 1024];
    x.chunks(1024)
        .map(|c| {
            E::widen(c, &mut buf[..c.len()]);
            crate::simd::sum(&buf[..c.len()])
        })
        .sum()
}

impl<E: HostElem> Kernel for Stream<E> {
    fn run(&mut self, set: usize) -> Result<()> {
        let s = &mut self.sets[set];
        match self.op {
            StreamOp::Copy => {
                s.b.par_chunks_mut(CHUNK)
                    .zip(s.a.par_chunks(CHUNK))
                    .for_each(|(b, a)| b.copy_from_slice(a))
            }
            StreamOp::Read => {
                s.sum = s.a.par_chunks(CHUNK).map(sum_of).sum();
            }
            StreamOp::Write => {
                let v = E::from_f32(WRITE_VALUE);
                s.a.par_chunks_mut(CHUNK).for_each(|a| a.fill(v));
            }
            StreamOp::Triad => {
                s.a.par_chunks_mut(CHUNK)
                    .zip(s.b.par_chunks(CHUNK).zip(s.c.par_chunks(CHUNK)))
                    .for_each(|(a, (b, c))| triad(a, b, c))
            }
        }
        Ok(())
    }

    fn output(&self, set: usize) -> HostTensor {
        let s = &self.sets[set];
        match self.op {
            StreamOp::Copy => tensor("b", vec![s.b.len()], s.b.clone()),
            StreamOp::Read => tensor("sum", vec![1], vec![s.sum]),
            StreamOp::Write | StreamOp::Triad => tensor("a", vec![s.a.len()], s.a.clone()),
        }
    }
}

fn triad<E: Elem>(a: &mut [E], b: &[E], c: &[E]) {
    if let (Some(a), Some(b), Some(c)) = (as_f32_mut(a), as_f32(b), as_f32(c)) {
        for ((a, b), c) in a.iter_mut().zip(b).zip(c) {
            *a = b + TRIAD_SCALAR * c;
        }
        return;
    }
    let (mut fb, mut fc) = ([0f32; 1024], [0f32; 1024]);
    for ((a, b), c) in a.chunks_mut(1024).zip(b.chunks(1024)).zip(c.chunks(1024)) {
        let n = a.len();
        E::widen(b, &mut fb[..n]);
        E::widen(c, &mut fc[..n]);
        for i in 0..n {
            a[i] = E::from_f32(fb[i] + TRIAD_SCALAR * fc[i]);
        }
    }
}

fn as_f32<E: Elem>(x: &[E]) -> Option<&[f32]> {
    (std::any::TypeId::of::<E>() == std::any::TypeId::of::<f32>())
        // SAFETY: E is f32 (checked by TypeId just above).
        .then(|| unsafe { std::slice::from_raw_parts(x.as_ptr() as *const f32, x.len()) })
}

fn as_f32_mut<E: Elem>(x: &mut [E]) -> Option<&mut [f32]> {
    (std::any::TypeId::of::<E>() == std::any::TypeId::of::<f32>())
        // SAFETY: E is f32 (checked by TypeId just above).
        .then(|| unsafe { std::slice::from_raw_parts_mut(x.as_mut_ptr() as *mut f32, x.len()) })
}
