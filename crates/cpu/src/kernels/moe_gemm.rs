//! Mixture-of-experts grouped GEMM (`moe_gemm`): permute, per-expert products, weighted
//! unpermute, all on buffers allocated in `prepare`.
//!
//! 1. **Permute** (serial, O(pairs + E)): count the (token, slot) pairs per expert, prefix-sum
//!    the counts into offsets, and list the pairs grouped by expert (`sorted`, and each pair's
//!    position in it).
//! 2. **Products** (rayon): a work item is one chunk of [`ROWS`] output features across every
//!    touched expert, so every item reads the same weight bytes (`D·ROWS·k` elements) and each
//!    touched expert's weights are read once per run; idle experts are never visited. Inside
//!    an item, each expert's chunk of weight rows meets each of its gathered activation rows
//!    ([`dots_bf16`] / [`dots`] over the rows in place; f16 widened once per chunk), the first
//!    pass streaming it from memory and the others (prefill's many rows) from cache.
//! 3. **Unpermute** (rayon over tokens): y[t] = Σ_j topk_weights[t,j]·row(t,j), in f32, rounded
//!    once into the dtype.

use rayon::prelude::*;

use hotpath_core::ops::MoeShape;
use hotpath_core::{HostTensor, Inputs, OpSpec, Result};

use super::{indices, tensor, HostElem, Kernel};
use crate::simd::{axpy, dots, dots_bf16, prefetch_l2};

/// Output features (weight rows of one expert) per work item.
pub const ROWS: usize = 16;

struct Set<E> {
    x: Vec<E>,
    w: Vec<E>,
    ids: Vec<u32>,
    gates: Vec<f32>,
    y: Vec<E>,
}

/// The grouping of one run's pairs by expert.
struct Groups {
    /// Pairs per expert during counting, then each expert's next free position.
    cursor: Vec<usize>,
    /// `offsets[e]..offsets[e+1]`: expert e's positions in `sorted`.
    offsets: Vec<usize>,
    /// Pair indices (t·top_k + j) grouped by expert.
    sorted: Vec<u32>,
    /// Position of each pair in `sorted`.
    pos_of: Vec<usize>,
    /// Experts with at least one pair, ascending.
    touched: Vec<usize>,
}

impl Groups {
    fn new(experts: usize, pairs: usize) -> Groups {
        Groups {
            cursor: vec![0; experts],
            offsets: vec![0; experts + 1],
            sorted: vec![0; pairs],
            pos_of: vec![0; pairs],
            touched: Vec::with_capacity(experts),
        }
    }

    /// Groups the pairs of `ids` (each below the expert count) by expert; allocates nothing.
    fn build(&mut self, ids: &[u32]) {
        self.cursor.fill(0);
        for &e in ids {
            self.cursor[e as usize] += 1;
        }
        self.touched.clear();
        let mut run = 0;
        for (e, c) in self.cursor.iter_mut().enumerate() {
            self.offsets[e] = run;
            if *c > 0 {
                self.touched.push(e);
            }
            run += *c;
            *c = self.offsets[e];
        }
        self.offsets[self.cursor.len()] = run;
        for (p, &e) in ids.iter().enumerate() {
            let pos = self.cursor[e as usize];
            self.cursor[e as usize] += 1;
            self.sorted[pos] = p as u32;
            self.pos_of[p] = pos;
        }
    }
}

/// The grouped-GEMM kernel.
pub struct MoeGemm<E> {
    tokens: usize,
    top_k: usize,
    n: usize,
    k: usize,
    sets: Vec<Set<E>>,
    groups: Groups,
    /// Activations widened to f32, `[tokens, k]`.
    x32: Vec<f32>,
    /// Each pair's result, `[n chunks][pairs][ROWS]` by sorted position, so a work item
    /// owns one contiguous chunk.
    ys: Vec<f32>,
    /// f16 weight chunks widened to f32, `[n chunks][ROWS·k]`; empty for bf16 and f32, which
    /// are read in place.
    wide: Vec<f32>,
    /// The output rows in f32, `[tokens, n]`.
    y32: Vec<f32>,
}

/// Builds the kernel with `sets` rotation sets.
pub fn build<E: HostElem>(spec: &OpSpec, inputs: &Inputs, sets: usize) -> Result<Box<dyn Kernel>> {
    let p = MoeShape::of(spec)?;
    let (tokens, experts, top_k) = (p.tokens as usize, p.experts as usize, p.top_k as usize);
    let (n, k) = (p.n as usize, p.k as usize);
    let pairs = tokens * top_k;
    let x = E::slice(inputs.get("x")?)?;
    let w = E::slice(inputs.get("w")?)?;
    let ids: Vec<u32> = indices(inputs.get("topk_ids")?, experts)?
        .into_iter()
        .map(|e| e as u32)
        .collect();
    let gates = <f32 as HostElem>::slice(inputs.get("topk_weights")?)?;
    let sets = (0..sets)
        .map(|_| Set {
            x: x.to_vec(),
            w: w.to_vec(),
            ids: ids.clone(),
            gates: gates.to_vec(),
            y: vec![E::default(); tokens * n],
        })
        .collect();
    let chunks = n.div_ceil(ROWS);
    let in_place = E::bf16_bits(&[]).is_some() || E::f32s(&[]).is_some();
    Ok(Box::new(MoeGemm {
        tokens,
        top_k,
        n,
        k,
        sets,
        groups: Groups::new(experts, pairs),
        x32: vec![0.0; tokens * k],
        ys: vec![0.0; chunks * pairs * ROWS],
        wide: if in_place {
            vec![]
        } else {
            vec![0.0; chunks * ROWS * k]
        },
        y32: vec![0.0; tokens * n],
    }))
}

/// Shapes and groups one work item reads.
struct Item<'a, E> {
    x32: &'a [f32],
    w: &'a [E],
    groups: &'a Groups,
    top_k: usize,
    n: usize,
    k: usize,
}

impl<E: HostElem> Item<'_, E> {
    /// Chunk `c` of every touched expert against its rows, into `ys` (`[pairs][ROWS]`);
    /// `wide` holds a widened chunk when the type is not read in place.
    fn run(&self, c: usize, ys: &mut [f32], wide: &mut [f32]) {
        let (n, k) = (self.n, self.k);
        let rows = ROWS.min(n - c * ROWS);
        let touched = &self.groups.touched;
        let chunk_of = |e: usize| &self.w[(e * n + c * ROWS) * k..][..rows * k];
        for (i, &e) in touched.iter().enumerate() {
            let chunk = chunk_of(e);
            // The next expert's chunk is elsewhere in memory: ask for it while this one runs,
            // so the stream does not stall where the hardware prefetcher starts over.
            if let Some(&next) = touched.get(i + 1) {
                prefetch_l2(chunk_of(next));
            }
            let weights = match (E::bf16_bits(chunk), E::f32s(chunk)) {
                (Some(bits), _) => Weights::Bf16(bits),
                (None, Some(f)) => Weights::F32(f),
                (None, None) => {
                    E::widen(chunk, &mut wide[..rows * k]);
                    Weights::F32(&wide[..rows * k])
                }
            };
            let (lo, hi) = (self.groups.offsets[e], self.groups.offsets[e + 1]);
            for pos in lo..hi {
                let t = self.groups.sorted[pos] as usize / self.top_k;
                let x = &self.x32[t * k..][..k];
                let out = &mut ys[pos * ROWS..][..rows];
                match weights {
                    Weights::Bf16(bits) => dots_bf16(x, bits, k, out),
                    Weights::F32(f) => dots(x, f, k, out),
                }
            }
        }
    }
}

/// A chunk of weight rows as the dot products read it.
#[derive(Clone, Copy)]
enum Weights<'a> {
    /// bf16 bit patterns, widened in registers.
    Bf16(&'a [u16]),
    /// f32 (f32 weights in place, f16 widened once per chunk).
    F32(&'a [f32]),
}

impl<E: HostElem> Kernel for MoeGemm<E> {
    fn run(&mut self, set: usize) -> Result<()> {
        let (n, k, top_k) = (self.n, self.k, self.top_k);
        let pairs = self.tokens * top_k;
        let s = &mut self.sets[set];
        E::widen(&s.x, &mut self.x32);
        self.groups.build(&s.ids);
        let item = Item {
            x32: &self.x32,
            w: &s.w,
            groups: &self.groups,
            top_k,
            n,
            k,
        };
        let per_chunk = pairs * ROWS;
        if self.wide.is_empty() {
            self.ys
                .par_chunks_mut(per_chunk)
                .enumerate()
                .for_each(|(c, ys)| item.run(c, ys, &mut []));
        } else {
            self.ys
                .par_chunks_mut(per_chunk)
                .zip(self.wide.par_chunks_mut(ROWS * k))
                .enumerate()
                .for_each(|(c, (ys, wide))| item.run(c, ys, wide));
        }
        let (ys, pos_of, gates) = (&self.ys, &self.groups.pos_of, &s.gates);
        self.y32
            .par_chunks_mut(n)
            .zip(s.y.par_chunks_mut(n))
            .enumerate()
            .for_each(|(t, (acc, y))| {
                acc.fill(0.0);
                for p in t * top_k..(t + 1) * top_k {
                    let (pos, gate) = (pos_of[p], gates[p]);
                    for (c, a) in acc.chunks_mut(ROWS).enumerate() {
                        axpy(a, gate, &ys[c * per_chunk + pos * ROWS..][..a.len()]);
                    }
                }
                E::narrow(acc, y);
            });
        Ok(())
    }

    fn output(&self, set: usize) -> HostTensor {
        tensor("y", vec![self.tokens, self.n], self.sets[set].y.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_by_expert_with_offsets_and_positions() {
        // Pairs → experts [2, 0, 2, 3, 0, 2] over 5 experts: counts [2, 0, 3, 1, 0], offsets
        // [0, 2, 2, 5, 6, 6]; expert 0 holds pairs 1, 4; expert 2 pairs 0, 2, 5; expert 3 pair 3.
        let mut g = Groups::new(5, 6);
        g.build(&[2, 0, 2, 3, 0, 2]);
        assert_eq!(g.offsets, vec![0, 2, 2, 5, 6, 6]);
        assert_eq!(g.sorted, vec![1, 4, 0, 2, 5, 3]);
        assert_eq!(g.pos_of, vec![2, 0, 3, 5, 1, 4]);
        assert_eq!(g.touched, vec![0, 2, 3]);
        // Rebuilt for another routing without stale counts.
        g.build(&[4, 4, 1, 1, 1, 4]);
        assert_eq!(g.offsets, vec![0, 0, 3, 3, 3, 6]);
        assert_eq!(g.touched, vec![1, 4]);
    }
}
