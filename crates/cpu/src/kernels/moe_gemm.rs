//! Mixture-of-experts grouped GEMM (`moe_gemm`): permute, per-expert products, weighted
//! unpermute, all on buffers allocated in `prepare`.
//!
//! 1. **Permute** (serial, O(pairs + E)): count the (token, slot) pairs per expert, prefix-sum
//!    the counts into offsets, and list the pairs grouped by expert (`sorted`, and each pair's
//!    position in it).
//! 2. **Products** (rayon): a work item is one touched expert's chunk of [`ROWS`] weight rows
//!    against every row the expert gathered, so every item reads the same weight bytes
//!    (`ROWS·k` elements) and each touched expert's weights are read once per run; idle experts
//!    are never visited. Items are ordered expert by expert and split in halves with
//!    `rayon::join`, so a thread walks an expert's weights front to back, and each item writes
//!    its own contiguous piece of the result buffer (no locks, no allocation). Inside an item the
//!    chunk meets each gathered activation row ([`dots_bf16`] / [`dots`] over the rows in place;
//!    f16 widened piece by piece on the stack), the first row streaming it from memory and the
//!    others (prefill's many rows) reading it from cache.
//! 3. **Unpermute** (rayon over tokens): y[t] = Σ_j topk_weights[t,j]·row(t,j), in f32, rounded
//!    once into the dtype.

use rayon::prelude::*;

use hotpath_core::ops::MoeShape;
use hotpath_core::{HostTensor, Inputs, OpSpec, Result};

use super::{indices, tensor, HostElem, Kernel};
use crate::kernels::output::output_buffer;
use crate::simd::{axpy, dot, dots, dots_bf16};

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
    /// Each pair's result: expert e's pairs own `offsets[e]·⌈n/ROWS⌉·ROWS` onwards, laid out
    /// `[n chunk][pair of e][ROWS]`, so an (expert, chunk) item owns one contiguous piece.
    ys: Vec<f32>,
    /// The output rows in f32, `[tokens, n]`.
    y32: Vec<f32>,
}

/// Builds the kernel with `sets` rotation sets.
pub fn build<E: HostElem>(spec: &OpSpec, inputs: &Inputs, sets: usize) -> Result<Box<dyn Kernel>> {
    let (tokens, experts, top_k, n, k) = MoeShape::of(spec)?.sizes();
    let pairs = tokens * top_k;
    let x = E::slice(inputs.get("x")?)?;
    let w = E::slice(inputs.get("w")?)?;
    let ids: Vec<u32> = indices(inputs.get("topk_ids")?, experts)?
        .into_iter()
        .map(|e| e as u32)
        .collect();
    let gates = <f32 as HostElem>::slice(inputs.get("topk_weights")?)?;
    let sets = (0..sets)
        .into_par_iter()
        .map(|_| Set {
            x: x.to_vec(),
            w: w.to_vec(),
            ids: ids.clone(),
            gates: gates.to_vec(),
            y: output_buffer(tokens * n),
        })
        .collect();
    let chunks = n.div_ceil(ROWS);
    Ok(Box::new(MoeGemm {
        tokens,
        top_k,
        n,
        k,
        sets,
        groups: Groups::new(experts, pairs),
        x32: vec![0.0; tokens * k],
        ys: vec![0.0; chunks * pairs * ROWS],
        y32: vec![0.0; tokens * n],
    }))
}

/// Weight bytes below which a run of items stays on one thread (a split costs about as much
/// as streaming a few KiB).
const LEAF_BYTES: usize = 64 << 10;

/// Elements of an f16 row widened at a time on the stack (4 KiB of f32).
const PIECE: usize = 1024;

/// What the products read, and where item `i` (expert `touched[i / chunks]`, chunk
/// `i % chunks`) writes.
struct Products<'a, E> {
    x32: &'a [f32],
    w: &'a [E],
    groups: &'a Groups,
    top_k: usize,
    n: usize,
    k: usize,
    chunks: usize,
}

impl<E: HostElem> Products<'_, E> {
    /// Offset in the result buffer where item `i` starts (`items` for the end).
    fn start(&self, i: usize) -> usize {
        let touched = &self.groups.touched;
        let Some(&e) = touched.get(i / self.chunks) else {
            return self.groups.offsets[self.groups.offsets.len() - 1] * self.chunks * ROWS;
        };
        let (lo, hi) = (self.groups.offsets[e], self.groups.offsets[e + 1]);
        (lo * self.chunks + (i % self.chunks) * (hi - lo)) * ROWS
    }

    /// Items `lo..hi` into `ys` (which starts at item `lo`), halved across threads.
    fn run(&self, lo: usize, hi: usize, ys: &mut [f32]) {
        let item_bytes = ROWS * self.k * std::mem::size_of::<E>();
        if hi - lo == 1 || (hi - lo) * item_bytes <= LEAF_BYTES {
            for i in lo..hi {
                let (a, b) = (
                    self.start(i) - self.start(lo),
                    self.start(i + 1) - self.start(lo),
                );
                self.item(i, &mut ys[a..b]);
            }
            return;
        }
        let mid = lo + (hi - lo) / 2;
        let (left, right) = ys.split_at_mut(self.start(mid) - self.start(lo));
        rayon::join(|| self.run(lo, mid, left), || self.run(mid, hi, right));
    }

    /// Item `i`: one chunk of one expert's weight rows against each of its gathered rows,
    /// into `ys` (`[pair of e][ROWS]`).
    fn item(&self, i: usize, ys: &mut [f32]) {
        let (n, k) = (self.n, self.k);
        let (e, c) = (self.groups.touched[i / self.chunks], i % self.chunks);
        let rows = ROWS.min(n - c * ROWS);
        let chunk = &self.w[(e * n + c * ROWS) * k..][..rows * k];
        let (lo, hi) = (self.groups.offsets[e], self.groups.offsets[e + 1]);
        for (pos, out) in (lo..hi).zip(ys.chunks_mut(ROWS)) {
            let t = self.groups.sorted[pos] as usize / self.top_k;
            let x = &self.x32[t * k..][..k];
            let out = &mut out[..rows];
            match (E::bf16_bits(chunk), E::f32s(chunk)) {
                (Some(bits), _) => dots_bf16(x, bits, k, out),
                (None, Some(f)) => dots(x, f, k, out),
                (None, None) => {
                    let mut piece = [0f32; PIECE];
                    for (o, row) in out.iter_mut().zip(chunk.chunks(k)) {
                        *o = 0.0;
                        for (p0, part) in row.chunks(PIECE).enumerate() {
                            let wide = &mut piece[..part.len()];
                            E::widen(part, wide);
                            *o += dot(wide, &x[p0 * PIECE..][..part.len()]);
                        }
                    }
                }
            }
        }
    }
}

impl<E: HostElem> Kernel for MoeGemm<E> {
    fn run(&mut self, set: usize) -> Result<()> {
        let (n, k, top_k) = (self.n, self.k, self.top_k);
        let s = &mut self.sets[set];
        E::widen(&s.x, &mut self.x32);
        self.groups.build(&s.ids);
        let chunks = n.div_ceil(ROWS);
        let products = Products {
            x32: &self.x32,
            w: &s.w,
            groups: &self.groups,
            top_k,
            n,
            k,
            chunks,
        };
        let items = self.groups.touched.len() * chunks;
        if items > 0 {
            products.run(0, items, &mut self.ys);
        }
        let (ys, groups, gates, ids) = (&self.ys, &self.groups, &s.gates, &s.ids);
        self.y32
            .par_chunks_mut(n)
            .zip(s.y.par_chunks_mut(n))
            .enumerate()
            .for_each(|(t, (acc, y))| {
                acc.fill(0.0);
                for p in t * top_k..(t + 1) * top_k {
                    let e = ids[p] as usize;
                    let (lo, hi) = (groups.offsets[e], groups.offsets[e + 1]);
                    let row = (lo * chunks + groups.pos_of[p] - lo) * ROWS;
                    for (c, a) in acc.chunks_mut(ROWS).enumerate() {
                        axpy(a, gates[p], &ys[row + c * (hi - lo) * ROWS..][..a.len()]);
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
