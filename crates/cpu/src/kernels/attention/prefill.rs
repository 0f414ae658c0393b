//! Prefill attention blocked like FlashAttention: per (sequence, KV head, block of query
//! positions) the scores `S = Q·Kᵀ` and the update `O += P·V` are GEMMs (the `gemm` crate's
//! packed micro-kernels) over every query head of the GQA group at once, with an online
//! softmax across key blocks; causal blocks above the diagonal are never computed.

use gemm::Parallelism;
use rayon::prelude::*;

use hotpath_core::ops::PrefillShape;
use hotpath_core::{HostTensor, Inputs, OpSpec, Result};

use crate::kernels::output::output_buffer;
use crate::kernels::{tensor, HostElem, Kernel};
use crate::simd::{exp_sum, max, Elem};

/// Query positions per task (times the GQA group gives the GEMM's rows).
const BLOCK_Q: usize = 64;
/// Keys per step of the online softmax (the GEMM's columns, then its depth).
const BLOCK_K: usize = 256;

/// A read-only matrix: element (i, j) at `data[i·rs + j·cs]`.
#[derive(Clone, Copy)]
pub(super) struct Mat<'a> {
    /// The elements.
    pub data: &'a [f32],
    /// Row stride, in elements.
    pub rs: usize,
    /// Column stride, in elements.
    pub cs: usize,
}

/// Elements from the first to one past the last of a `rows × cols` matrix with strides.
fn span(rows: usize, cols: usize, rs: usize, cs: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * rs + (cols - 1) * cs + 1
    }
}

/// `C ← beta·A·B` (or `C + beta·A·B` when `accumulate`), `C` row-major `m × n` with row
/// stride `c_rs`, `A` `m × k`, `B` `k × n`, single-threaded (the caller's tasks are the
/// parallelism).
///
/// Panics if a matrix reaches past its slice.
#[allow(clippy::too_many_arguments)]
pub(super) fn matmul(
    c: &mut [f32],
    c_rs: usize,
    a: Mat,
    b: Mat,
    (m, n, k): (usize, usize, usize),
    accumulate: bool,
    beta: f32,
) {
    assert!(
        span(m, n, c_rs, 1) <= c.len()
            && span(m, k, a.rs, a.cs) <= a.data.len()
            && span(k, n, b.rs, b.cs) <= b.data.len(),
        "matmul {m}×{n}×{k} reaches past its operands"
    );
    // SAFETY: the assert keeps every element gemm reads or writes inside its slice, `c` is
    // borrowed mutably so it aliases neither operand, and the strides fit in isize because
    // the spans fit in the slices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            1,
            c_rs as isize,
            accumulate,
            a.data.as_ptr(),
            a.cs as isize,
            a.rs as isize,
            b.data.as_ptr(),
            b.cs as isize,
            b.rs as isize,
            1.0,
            beta,
            false,
            false,
            false,
            Parallelism::None,
        )
    }
}

/// One key block of the online softmax of one query row: the scores `s` become the weights
/// `e^(s − m')` under the new running maximum `m'`, the running sum `l` is rescaled and grows
/// by them, and the row's output `o` is rescaled. A row whose every key so far is masked
/// (−∞) adds nothing yet.
pub(super) fn online_row(s: &mut [f32], m: &mut f32, l: &mut f32, o: &mut [f32]) {
    let new = m.max(max(s));
    if new == f32::NEG_INFINITY {
        s.fill(0.0);
        return;
    }
    let rescale = (*m - new).exp();
    if rescale != 1.0 {
        o.iter_mut().for_each(|x| *x *= rescale);
    }
    *l = *l * rescale + exp_sum(s, new);
    *m = new;
}

/// Per-task buffers, allocated once per worker.
struct Scratch {
    /// Scores, then weights, of one key block: `[rows, BLOCK_K]` at most.
    s: Vec<f32>,
    /// Running maximum per row.
    m: Vec<f32>,
    /// Running sum of weights per row.
    l: Vec<f32>,
}

/// The geometry of one (sequence, KV head) problem.
#[derive(Clone, Copy)]
struct Head {
    seq: usize,
    group: usize,
    d: usize,
    causal: bool,
}

/// Attention of query positions `q0..q0 + rows / group` of one KV head's group: `q` holds
/// those positions' rows `[pos, group, d]`, `k` and `v` the head's `[seq, d]`, and `o`
/// (same shape as `q`) receives the normalised output.
fn block(h: Head, q0: usize, q: &[f32], k: &[f32], v: &[f32], sc: &mut Scratch, o: &mut [f32]) {
    let (d, group) = (h.d, h.group);
    let rows = q.len() / d;
    let q1 = q0 + rows / group;
    let scale = 1.0 / (d as f32).sqrt();
    let (m, l) = (&mut sc.m[..rows], &mut sc.l[..rows]);
    m.fill(f32::NEG_INFINITY);
    l.fill(0.0);
    o.fill(0.0);
    let k_end = if h.causal { q1 } else { h.seq };
    for k0 in (0..k_end).step_by(BLOCK_K) {
        let kn = BLOCK_K.min(k_end - k0);
        let s = &mut sc.s[..rows * kn];
        let qm = Mat {
            data: q,
            rs: d,
            cs: 1,
        };
        // Kᵀ: element (i, j) is key k0 + j's dimension i.
        let kt = Mat {
            data: &k[k0 * d..(k0 + kn) * d],
            rs: 1,
            cs: d,
        };
        matmul(s, kn, qm, kt, (rows, kn, d), false, scale);
        for (r, srow) in s.chunks_exact_mut(kn).enumerate() {
            if h.causal {
                // Position q0 + r/group sees keys up to itself.
                let visible = (q0 + r / group + 1).saturating_sub(k0).min(kn);
                srow[visible..].fill(f32::NEG_INFINITY);
            }
            online_row(srow, &mut m[r], &mut l[r], &mut o[r * d..(r + 1) * d]);
        }
        let p = Mat {
            data: s,
            rs: kn,
            cs: 1,
        };
        let vm = Mat {
            data: &v[k0 * d..(k0 + kn) * d],
            rs: d,
            cs: 1,
        };
        matmul(o, d, p, vm, (rows, d, kn), true, 1.0);
    }
    for (orow, &sum) in o.chunks_exact_mut(d).zip(l.iter()) {
        let inv = if sum > 0.0 { 1.0 / sum } else { 0.0 };
        orow.iter_mut().for_each(|x| *x *= inv);
    }
}

struct PrefillSet<E> {
    q: Vec<E>,
    k: Vec<E>,
    v: Vec<E>,
    o: Vec<E>,
}

/// Prefill attention `o[b,S,hq,d]` from `q[b,S,hq,d]`, `k,v[b,S,hkv,d]`.
pub struct Prefill<E> {
    batch: usize,
    seq: usize,
    hq: usize,
    hkv: usize,
    d: usize,
    causal: bool,
    sets: Vec<PrefillSet<E>>,
    /// Queries widened and regrouped as `[b,hkv,S,group,d]`: one block's rows are adjacent.
    q32: Vec<f32>,
    /// Keys widened as `[b,hkv,S,d]`.
    k32: Vec<f32>,
    /// Values widened as `[b,hkv,S,d]`.
    v32: Vec<f32>,
    /// Output in the order of `q32`, so each task owns one slice.
    o32: Vec<f32>,
}

/// Builds prefill attention with `sets` rotation sets.
pub fn build_prefill<E: HostElem>(
    spec: &OpSpec,
    inputs: &Inputs,
    sets: usize,
) -> Result<Box<dyn Kernel>> {
    let p = PrefillShape::of(spec)?;
    let (q, k, v) = (
        E::slice(inputs.get("q")?)?,
        E::slice(inputs.get("k")?)?,
        E::slice(inputs.get("v")?)?,
    );
    let out_len = q.len();
    let sets = (0..sets)
        .into_par_iter()
        .map(|_| PrefillSet {
            q: q.to_vec(),
            k: k.to_vec(),
            v: v.to_vec(),
            o: output_buffer(out_len),
        })
        .collect();
    Ok(Box::new(Prefill {
        batch: p.batch as usize,
        seq: p.seq as usize,
        hq: p.heads_q as usize,
        hkv: p.heads_kv as usize,
        d: p.head_dim as usize,
        causal: p.causal,
        sets,
        q32: vec![0.0; q.len()],
        k32: vec![0.0; k.len()],
        v32: vec![0.0; v.len()],
        o32: vec![0.0; out_len],
    }))
}

/// Widens `src[b,S,heads,w]` (`w` elements per (position, head)) into `dst[b,heads,S,w]`.
fn regroup<E: Elem>(src: &[E], dst: &mut [f32], seq: usize, heads: usize, w: usize) {
    dst.par_chunks_mut(seq * w)
        .enumerate()
        .for_each(|(bh, out)| {
            let (b, h) = (bh / heads, bh % heads);
            for (s, row) in out.chunks_exact_mut(w).enumerate() {
                E::widen(&src[((b * seq + s) * heads + h) * w..][..w], row);
            }
        });
}

impl<E: HostElem> Kernel for Prefill<E> {
    fn run(&mut self, set: usize) -> Result<()> {
        let s = &mut self.sets[set];
        let (seq, hq, hkv, d) = (self.seq, self.hq, self.hkv, self.d);
        let group = hq / hkv;
        // Each KV head's query heads are adjacent in q[b,S,hq,d]: group·d elements apart.
        regroup(&s.q, &mut self.q32, seq, hkv, group * d);
        regroup(&s.k, &mut self.k32, seq, hkv, d);
        regroup(&s.v, &mut self.v32, seq, hkv, d);
        let head = Head {
            seq,
            group,
            d,
            causal: self.causal,
        };
        let (q32, k32, v32) = (&self.q32, &self.k32, &self.v32);
        let rows = BLOCK_Q * group;
        self.o32
            .par_chunks_mut(seq * group * d)
            .enumerate()
            .flat_map(|(bg, o)| {
                o.par_chunks_mut(rows * d)
                    .enumerate()
                    .map(move |(qb, o)| (bg, qb, o))
            })
            .for_each_init(
                || Scratch {
                    s: vec![0.0; rows * BLOCK_K],
                    m: vec![0.0; rows],
                    l: vec![0.0; rows],
                },
                |sc, (bg, qb, o)| {
                    let q_at = (bg * seq + qb * BLOCK_Q) * group * d;
                    let kv = &k32[bg * seq * d..(bg + 1) * seq * d];
                    let vv = &v32[bg * seq * d..(bg + 1) * seq * d];
                    let q = &q32[q_at..q_at + o.len()];
                    block(head, qb * BLOCK_Q, q, kv, vv, sc, o);
                },
            );
        // [b,hkv,S,group,d] → [b,S,hq,d], rounded once: a (position, KV head) is group·d
        // adjacent elements in both.
        let o32 = &self.o32;
        s.o.par_chunks_mut(group * d)
            .enumerate()
            .for_each(|(i, dst)| {
                let (bs, g) = (i / hkv, i % hkv);
                let (b, pos) = (bs / seq, bs % seq);
                let src = &o32[((b * hkv + g) * seq + pos) * group * d..][..group * d];
                for (x, y) in dst.iter_mut().zip(src) {
                    *x = E::from_f32(*y);
                }
            });
        Ok(())
    }

    fn output(&self, set: usize) -> HostTensor {
        tensor(
            "o",
            vec![self.batch, self.seq, self.hq, self.d],
            self.sets[set].o.clone(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matmul_reads_strided_operands_and_accumulates() {
        // A = [[1, 2, 3], [4, 5, 6]]; B = Kᵀ of K = [[1, 0, 1], [2, 1, 0]] (rows are keys),
        // so A·B = [[1+3, 2+2], [4+6, 8+5]] = [[4, 4], [10, 13]].
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let k = [1.0, 0.0, 1.0, 2.0, 1.0, 0.0];
        let am = Mat {
            data: &a,
            rs: 3,
            cs: 1,
        };
        let kt = Mat {
            data: &k,
            rs: 1,
            cs: 3,
        };
        // C has row stride 3 (one padding column that must stay untouched).
        let mut c = [9.0f32; 6];
        matmul(&mut c, 3, am, kt, (2, 2, 3), false, 0.5);
        assert_eq!(c, [2.0, 2.0, 9.0, 5.0, 6.5, 9.0]);
        matmul(&mut c, 3, am, kt, (2, 2, 3), true, 1.0);
        assert_eq!(c, [6.0, 6.0, 9.0, 15.0, 19.5, 9.0]);
    }

    /// One position, one head, d = 1: the scores are q·k/1 = [0, ln 3·1] for keys 0 and
    /// ln 3, so the weights are 1/4 and 3/4 and o = ¼·8 + ¾·(−4) = −1; causal position 0
    /// sees only key 0 and gets its value 8.
    #[test]
    fn block_by_hand() {
        let ln3 = 3f32.ln();
        let (k, v) = ([0.0, ln3], [8.0, -4.0]);
        let mut sc = Scratch {
            s: vec![0.0; BLOCK_K],
            m: vec![0.0; 2],
            l: vec![0.0; 2],
        };
        let full = Head {
            seq: 2,
            group: 1,
            d: 1,
            causal: false,
        };
        let mut o = [0f32; 2];
        block(full, 0, &[1.0, 1.0], &k, &v, &mut sc, &mut o);
        assert!(o.iter().all(|x| (x + 1.0).abs() < 1e-5), "{o:?}");
        let causal = Head {
            causal: true,
            ..full
        };
        block(causal, 0, &[1.0, 1.0], &k, &v, &mut sc, &mut o);
        assert!(
            (o[0] - 8.0).abs() < 1e-6 && (o[1] + 1.0).abs() < 1e-5,
            "{o:?}"
        );
    }
}
