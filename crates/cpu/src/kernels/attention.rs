//! Attention on the CPU: blocked causal prefill with online softmax, and paged decode that
//! reads every K/V row once per GQA group. Math in f32.

use rayon::prelude::*;

use hotpath_core::inputs::pages_for;
use hotpath_core::{HostTensor, Inputs, OpSpec, Result};

use super::{indices, tensor, HostElem, Kernel};
use crate::simd::{axpy, dot};

/// Query rows and key rows per block of the prefill kernel.
const BLOCK: usize = 64;

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
    q32: Vec<f32>,
    k32: Vec<f32>,
    v32: Vec<f32>,
    /// Output in `[b,hq,S,d]` order so each (sequence, head) task owns one slice.
    o32: Vec<f32>,
}

/// Builds prefill attention with `sets` rotation sets.
pub fn build_prefill<E: HostElem>(
    spec: &OpSpec,
    inputs: &Inputs,
    sets: usize,
) -> Result<Box<dyn Kernel>> {
    let dim = |k: &str| spec.dim(k) as usize;
    let (q, k, v) = (
        E::slice(inputs.get("q")?)?,
        E::slice(inputs.get("k")?)?,
        E::slice(inputs.get("v")?)?,
    );
    let out_len = q.len();
    let sets = (0..sets)
        .map(|_| PrefillSet {
            q: q.to_vec(),
            k: k.to_vec(),
            v: v.to_vec(),
            o: vec![E::default(); out_len],
        })
        .collect();
    Ok(Box::new(Prefill {
        batch: dim("batch"),
        seq: dim("seq"),
        hq: dim("heads_q"),
        hkv: dim("heads_kv"),
        d: dim("head_dim"),
        causal: spec.dim("causal") == 1,
        sets,
        q32: vec![0.0; q.len()],
        k32: vec![0.0; k.len()],
        v32: vec![0.0; v.len()],
        o32: vec![0.0; out_len],
    }))
}

impl<E: HostElem> Kernel for Prefill<E> {
    fn run(&mut self, set: usize) -> Result<()> {
        let s = &mut self.sets[set];
        E::widen(&s.q, &mut self.q32);
        E::widen(&s.k, &mut self.k32);
        E::widen(&s.v, &mut self.v32);
        let (seq, hq, hkv, d, causal) = (self.seq, self.hq, self.hkv, self.d, self.causal);
        let (q32, k32, v32) = (&self.q32, &self.k32, &self.v32);
        let scale = 1.0 / (d as f32).sqrt();
        self.o32.par_chunks_mut(seq * d).enumerate().for_each_init(
            || (vec![0f32; BLOCK], vec![0f32; BLOCK], vec![0f32; BLOCK]),
            |(scores, row_max, row_sum), (task, out)| {
                let (b, h) = (task / hq, task % hq);
                let g = h / (hq / hkv);
                let q_at = |i: usize| &q32[((b * seq + i) * hq + h) * d..][..d];
                let k_row = |j: usize| &k32[((b * seq + j) * hkv + g) * d..][..d];
                let v_row = |j: usize| &v32[((b * seq + j) * hkv + g) * d..][..d];
                for q0 in (0..seq).step_by(BLOCK) {
                    let q1 = (q0 + BLOCK).min(seq);
                    out[q0 * d..q1 * d].fill(0.0);
                    row_max.fill(f32::NEG_INFINITY);
                    row_sum.fill(0.0);
                    let k_end = if causal { q1 } else { seq };
                    for k0 in (0..k_end).step_by(BLOCK) {
                        let k1 = (k0 + BLOCK).min(k_end);
                        for i in q0..q1 {
                            let last = if causal { k1.min(i + 1) } else { k1 };
                            if last <= k0 {
                                continue;
                            }
                            let r = i - q0;
                            let qi = q_at(i);
                            let mut block_max = f32::NEG_INFINITY;
                            for j in k0..last {
                                let sc = dot(qi, k_row(j)) * scale;
                                scores[j - k0] = sc;
                                block_max = block_max.max(sc);
                            }
                            let new_max = row_max[r].max(block_max);
                            let acc = &mut out[i * d..(i + 1) * d];
                            let rescale = (row_max[r] - new_max).exp();
                            if rescale != 1.0 {
                                acc.iter_mut().for_each(|x| *x *= rescale);
                            }
                            row_sum[r] *= rescale;
                            for j in k0..last {
                                let p = (scores[j - k0] - new_max).exp();
                                row_sum[r] += p;
                                axpy(acc, p, v_row(j));
                            }
                            row_max[r] = new_max;
                        }
                    }
                    for i in q0..q1 {
                        let inv = 1.0 / row_sum[i - q0];
                        out[i * d..(i + 1) * d].iter_mut().for_each(|x| *x *= inv);
                    }
                }
            },
        );
        // [b,hq,S,d] → [b,S,hq,d], rounded once.
        let o = &mut s.o;
        for b in 0..self.batch {
            for h in 0..hq {
                for i in 0..seq {
                    let src = &self.o32[((b * hq + h) * seq + i) * d..][..d];
                    let dst = &mut o[((b * seq + i) * hq + h) * d..][..d];
                    for (x, y) in dst.iter_mut().zip(src) {
                        *x = E::from_f32(*y);
                    }
                }
            }
        }
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

struct DecodeSet<E> {
    q: Vec<E>,
    k: Vec<E>,
    v: Vec<E>,
    o: Vec<E>,
}

/// Paged decode attention `o[b,hq,d]` over `k_cache,v_cache[P,ps,hkv,d]`, `block_table` and
/// `seq_lens` (sequence `b` attends to its first `seq_lens[b]` tokens).
pub struct Decode<E> {
    batch: usize,
    context: usize,
    lens: Vec<usize>,
    hq: usize,
    hkv: usize,
    d: usize,
    page_size: usize,
    per_seq: usize,
    table: Vec<usize>,
    sets: Vec<DecodeSet<E>>,
    o32: Vec<f32>,
}

/// Builds paged decode attention with `sets` rotation sets.
pub fn build_decode<E: HostElem>(
    spec: &OpSpec,
    inputs: &Inputs,
    sets: usize,
) -> Result<Box<dyn Kernel>> {
    let dim = |k: &str| spec.dim(k) as usize;
    let per_seq = pages_for(spec.dim("context"), spec.dim("page_size")) as usize;
    let table = indices(inputs.get("block_table")?, dim("batch") * per_seq)?;
    let lens = indices(inputs.get("seq_lens")?, dim("context") + 1)?;
    let (q, k, v) = (
        E::slice(inputs.get("q")?)?,
        E::slice(inputs.get("k_cache")?)?,
        E::slice(inputs.get("v_cache")?)?,
    );
    let sets = (0..sets)
        .map(|_| DecodeSet {
            q: q.to_vec(),
            k: k.to_vec(),
            v: v.to_vec(),
            o: vec![E::default(); q.len()],
        })
        .collect();
    Ok(Box::new(Decode {
        batch: dim("batch"),
        context: dim("context"),
        lens,
        hq: dim("heads_q"),
        hkv: dim("heads_kv"),
        d: dim("head_dim"),
        page_size: dim("page_size"),
        per_seq,
        table,
        sets,
        o32: vec![0.0; q.len()],
    }))
}

impl<E: HostElem> Kernel for Decode<E> {
    fn run(&mut self, set: usize) -> Result<()> {
        let s = &mut self.sets[set];
        let (hq, hkv, d, ps, context) = (self.hq, self.hkv, self.d, self.page_size, self.context);
        let group = hq / hkv;
        let (q, k, v, table, per_seq) = (&s.q, &s.k, &s.v, &self.table, self.per_seq);
        let lens = &self.lens;
        let scale = 1.0 / (d as f32).sqrt();
        // Heads of one KV group are adjacent in o[b,hq,d]: one task per (sequence, group).
        self.o32
            .par_chunks_mut(group * d)
            .enumerate()
            .for_each_init(
                || {
                    (
                        vec![0f32; group * d],
                        vec![0f32; d],
                        vec![0f32; group * context],
                    )
                },
                |(q32, row, scores), (task, out)| {
                    let (b, g) = (task / hkv, task % hkv);
                    let len = lens[b];
                    E::widen(&q[(b * hq + g * group) * d..][..group * d], q32);
                    let slot = |t: usize| table[b * per_seq + t / ps] * ps + t % ps;
                    let at = |t: usize| (slot(t) * hkv + g) * d;
                    for t in 0..len {
                        E::widen(&k[at(t)..][..d], row);
                        for h in 0..group {
                            scores[h * len + t] = dot(&q32[h * d..(h + 1) * d], row) * scale;
                        }
                    }
                    let mut sums = vec![0f32; group];
                    for (h, sc) in scores.chunks_mut(len.max(1)).take(group).enumerate() {
                        let sc = &mut sc[..len];
                        let max = sc.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                        for x in sc.iter_mut() {
                            *x = (*x - max).exp();
                            sums[h] += *x;
                        }
                    }
                    out.fill(0.0);
                    for t in 0..len {
                        E::widen(&v[at(t)..][..d], row);
                        for h in 0..group {
                            axpy(&mut out[h * d..(h + 1) * d], scores[h * len + t], row);
                        }
                    }
                    for (h, o) in out.chunks_mut(d).enumerate() {
                        // An empty sequence has no weights: its output is zero.
                        let inv = if sums[h] > 0.0 { 1.0 / sums[h] } else { 0.0 };
                        o.iter_mut().for_each(|x| *x *= inv);
                    }
                },
            );
        for (o, x) in s.o.iter_mut().zip(&self.o32) {
            *o = E::from_f32(*x);
        }
        Ok(())
    }

    fn output(&self, set: usize) -> HostTensor {
        tensor(
            "o",
            vec![self.batch, self.hq, self.d],
            self.sets[set].o.clone(),
        )
    }
}
