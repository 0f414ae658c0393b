//! The CPU compute roof: independent f32 FMA chains `x ← x·α + β` on every core, wide enough
//! to fill both FMA pipes (12 vector accumulators per thread).

use rayon::prelude::*;

use hotpath_core::inputs::{PEAK_ALPHA, PEAK_BETA};
use hotpath_core::ops::PeakShape;
use hotpath_core::{HostTensor, OpSpec, Result, Work};

use super::{tensor, Kernel};
use crate::simd::{level, Level};

/// Independent chains per thread: 12 vectors of 16 lanes (AVX-512 width).
pub const CHAINS_PER_THREAD: usize = 12 * 16;

/// The FMA-chain kernel.
pub struct Peak {
    iters: u64,
    threads: usize,
    out: Vec<f32>,
}

/// Builds the peak kernel for the rayon pool's threads.
pub fn build(spec: &OpSpec) -> Result<Box<dyn Kernel>> {
    let threads = rayon::current_num_threads().max(1);
    Ok(Box::new(Peak {
        iters: PeakShape::of(spec)?.iters,
        threads,
        out: vec![0.0; threads * CHAINS_PER_THREAD],
    }))
}

#[inline(always)]
fn chains<const FUSED: bool>(x: &mut [f32; CHAINS_PER_THREAD], iters: u64) {
    for _ in 0..iters {
        for v in x.iter_mut() {
            *v = if FUSED {
                v.mul_add(PEAK_ALPHA, PEAK_BETA)
            } else {
                *v * PEAK_ALPHA + PEAK_BETA
            };
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn chains_avx512(x: &mut [f32; CHAINS_PER_THREAD], iters: u64) {
    use std::arch::x86_64::*;
    let (a, b) = (_mm512_set1_ps(PEAK_ALPHA), _mm512_set1_ps(PEAK_BETA));
    // Twelve accumulators in registers: FMA latency 4 × 2 pipes needs at least 8 in flight.
    let mut v = [_mm512_setzero_ps(); 12];
    for _ in 0..iters {
        for r in v.iter_mut() {
            *r = _mm512_fmadd_ps(*r, a, b);
        }
    }
    for (i, r) in v.iter().enumerate() {
        // SAFETY: x holds 12 × 16 floats; each store writes the i-th 16.
        _mm512_storeu_ps(x.as_mut_ptr().add(i * 16), *r);
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn chains_avx2(x: &mut [f32; CHAINS_PER_THREAD], iters: u64) {
    use std::arch::x86_64::*;
    let (a, b) = (_mm256_set1_ps(PEAK_ALPHA), _mm256_set1_ps(PEAK_BETA));
    // Twelve 8-lane accumulators (the other half of the chains runs after, same work).
    for half in 0..2 {
        let mut v = [_mm256_setzero_ps(); 12];
        for _ in 0..iters {
            for r in v.iter_mut() {
                *r = _mm256_fmadd_ps(*r, a, b);
            }
        }
        for (i, r) in v.iter().enumerate() {
            // SAFETY: x holds 24 × 8 floats; this writes the (half·12 + i)-th 8.
            _mm256_storeu_ps(x.as_mut_ptr().add((half * 12 + i) * 8), *r);
        }
    }
}

fn run_chains(x: &mut [f32; CHAINS_PER_THREAD], iters: u64) {
    match level() {
        // SAFETY: the level was detected on this CPU.
        #[cfg(target_arch = "x86_64")]
        Level::Avx512 => unsafe { chains_avx512(x, iters) },
        // SAFETY: as above.
        #[cfg(target_arch = "x86_64")]
        Level::Avx2 => unsafe { chains_avx2(x, iters) },
        _ => chains::<false>(x, iters),
    }
}

impl Kernel for Peak {
    fn run(&mut self, _set: usize) -> Result<()> {
        let iters = self.iters;
        self.out.par_chunks_mut(CHAINS_PER_THREAD).for_each(|out| {
            let mut x = [0f32; CHAINS_PER_THREAD];
            run_chains(&mut x, iters);
            out.copy_from_slice(&x);
        });
        Ok(())
    }

    fn output(&self, _set: usize) -> HostTensor {
        tensor("lanes", vec![self.out.len()], self.out.clone())
    }

    fn counted_work(&self) -> Option<Work> {
        Some(Work {
            flops: 2 * (self.threads * CHAINS_PER_THREAD) as u64 * self.iters,
            bytes: 0,
        })
    }
}
