//! Paged decode attention, split over (sequence, context split) like the GPU kernel's
//! split-K: each task walks its split's pages once, serving every query head from each K/V
//! row it widens, keeps an unnormalised partial (max, sum, weighted values) per head, and a
//! log-sum-exp merge of the splits gives the output. The cache is the dtype's or, under
//! `kv_fp8=1`, fp8 e4m3 codes ([`super::decode_fp8`]), decoded a page run at a time.

use rayon::prelude::*;

use hotpath_core::ops::DecodeShape;
use hotpath_core::{HostTensor, Inputs, OpSpec, Result};

use crate::kernels::output::output_buffer;
use crate::kernels::{indices, tensor, HostElem, Kernel};
use crate::simd::{
    dots, dots_bf16, e4m3_to_f32, exp_sum, fp8_rows_to_bf16, group_bf16_fast, group_dots_bf16,
    group_mix_bf16, max, mix, mix_bf16, prefetch, prefetch_l2, unpair,
};

/// Tokens per split (rounded up to whole pages): 16 splits of a 4096-token context, enough
/// tasks to keep every core streaming, few enough that the merge costs nothing.
pub(super) const SPLIT_TOKENS: usize = 256;

/// One task: tokens `t0..t1` of sequence `b`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Split {
    /// The sequence.
    pub b: usize,
    /// Its first token.
    pub t0: usize,
    /// One past its last token.
    pub t1: usize,
}

/// The splits of every sequence, in sequence order, `chunk` tokens each (the last shorter);
/// an empty sequence has none.
pub(super) fn plan_splits(lens: &[usize], chunk: usize) -> Vec<Split> {
    let mut out = Vec::new();
    for (b, &len) in lens.iter().enumerate() {
        for t0 in (0..len).step_by(chunk.max(1)) {
            out.push(Split {
                b,
                t0,
                t1: (t0 + chunk).min(len),
            });
        }
    }
    out
}

/// One sequence's view of the paged cache: `k,v[P,ps,hkv,d]` and its page list.
pub(super) struct Cache<'a, E> {
    k: &'a [E],
    v: &'a [E],
    pages: &'a [usize],
    ps: usize,
    hkv: usize,
    d: usize,
}

/// Per-task buffers, allocated once per worker.
pub(super) struct Scratch {
    /// One page's K or V rows for every KV head, widened (unless bf16): `[ps, hkv, d]`.
    rows: Vec<f32>,
    /// One KV head's rows of a page decoded to bf16 bits (an fp8 cache under the grouped
    /// kernels): `[ps, d]`.
    bits: Vec<u16>,
    /// Scores, then weights, of the split: `[hq, tokens]`.
    scores: Vec<f32>,
}

impl Scratch {
    fn new(ps: usize, hkv: usize, d: usize, hq: usize, tokens: usize) -> Scratch {
        Scratch {
            rows: vec![0.0; ps * hkv * d],
            bits: vec![0; ps * d],
            scores: vec![0.0; hq * tokens],
        }
    }
}

/// Floats of one split's partial: `acc[hq,d]`, then `max[hq]`, then `sum[hq]`.
pub(super) fn part_len(hq: usize, d: usize) -> usize {
    hq * (d + 2)
}

/// One page's rows of K or V for every KV head, `[n, hkv, d]`: the cache's own bf16 bits
/// (widened in registers by the kernels), fp8 codes decoded to bf16 bits, or a widened copy.
#[derive(Clone, Copy)]
pub(super) enum Rows<'a> {
    F32(&'a [f32]),
    Bf16(&'a [u16]),
    /// fp8 e4m3 codes, decoded a KV head at a time for the grouped kernels.
    Fp8(&'a [u8]),
}

impl<'a> Rows<'a> {
    /// `out[t] = q · row t` over rows `stride` apart, starting at element `at`.
    fn dots(self, q: &[f32], at: usize, stride: usize, out: &mut [f32]) {
        match self {
            Rows::F32(r) => dots(q, &r[at..], stride, out),
            Rows::Bf16(r) => dots_bf16(q, &r[at..], stride, out),
            Rows::Fp8(r) => {
                for (t, o) in out.iter_mut().enumerate() {
                    let row = &r[at + t * stride..][..q.len()];
                    *o = q.iter().zip(row).map(|(x, c)| x * e4m3_to_f32(*c)).sum();
                }
            }
        }
    }

    /// `acc += Σ_t p[t]·row t` over rows `stride` apart, starting at element `at`.
    fn mix(self, acc: &mut [f32], p: &[f32], at: usize, stride: usize) {
        match self {
            Rows::F32(r) => mix(acc, p, &r[at..], stride),
            Rows::Bf16(r) => mix_bf16(acc, p, &r[at..], stride),
            Rows::Fp8(r) => {
                for (t, w) in p.iter().enumerate() {
                    let row = &r[at + t * stride..][..acc.len()];
                    for (a, c) in acc.iter_mut().zip(row) {
                        *a += w * e4m3_to_f32(*c);
                    }
                }
            }
        }
    }

    /// KV head `g`'s `n` rows of `d` as bf16 bits and their stride: in place (rows `row`
    /// apart), or fp8 codes decoded into `buf` (`d` apart); `None` for f32 rows.
    fn head_bf16(
        self,
        g: usize,
        d: usize,
        row: usize,
        n: usize,
        buf: &'a mut [u16],
    ) -> Option<(&'a [u16], usize)> {
        match self {
            Rows::Bf16(bits) => Some((&bits[g * d..], row)),
            Rows::Fp8(codes) => {
                fp8_rows_to_bf16(&codes[g * d..], d, row, n, buf);
                Some((&buf[..n * d], d))
            }
            Rows::F32(_) => None,
        }
    }
}

/// An element of the KV cache: the dtype's ([`Elem`]: bf16 read in place, others widened)
/// or an fp8 code (`u8`, decoded exactly).
pub(super) trait CacheElem: Copy + Send + Sync + 'static {
    /// The elements of a cache tensor, or an error naming a tensor of another type.
    fn slice(t: &HostTensor) -> Result<&[Self]>;
    /// `src` as the kernels read it: in place (fp8 codes when `bf16`, for the grouped
    /// kernels to decode a KV head at a time), or widened into `f32s` (as long as `src`).
    fn rows<'s>(src: &'s [Self], bf16: bool, f32s: &'s mut [f32]) -> Rows<'s>;
}

impl<E: HostElem> CacheElem for E {
    fn slice(t: &HostTensor) -> Result<&[E]> {
        <E as HostElem>::slice(t)
    }
    fn rows<'s>(src: &'s [E], _: bool, f32s: &'s mut [f32]) -> Rows<'s> {
        match E::bf16_bits(src) {
            Some(bits) => Rows::Bf16(bits),
            None => {
                let out = &mut f32s[..src.len()];
                E::widen(src, out);
                Rows::F32(out)
            }
        }
    }
}

/// Pages loaded ahead of the one being computed: the cache's pages are scattered, so the
/// hardware prefetcher cannot follow from one to the next.
const AHEAD: usize = 2;

impl<E: CacheElem> Cache<'_, E> {
    /// The run of tokens from `t` (before `t1`) that lies in one page: its length and rows.
    fn run<'s>(&self, src: &'s [E], t: usize, t1: usize) -> (usize, &'s [E]) {
        let row = self.hkv * self.d;
        let (page, off) = (self.pages[t / self.ps], t % self.ps);
        let n = (self.ps - off).min(t1 - t);
        let at = (page * self.ps + off) * row;
        (n, &src[at..at + n * row])
    }

    /// Calls `f(t, n, rows, ahead)` for each run of tokens `t..t+n` of `t0..t1` that lies in
    /// one page, with those tokens' rows of `src` (`[n, hkv, d]`) as [`CacheElem::rows`]
    /// gives them (decoded to bf16 when `bf16`), and `ahead`, the rows [`AHEAD`] runs later, for `f` to
    /// prefetch while it computes. Past `t1` the runs ahead continue into `then` (the rows
    /// the next pass reads from `t0`), if any, else are empty. Unless `primed` (a previous
    /// pass's `then` covered them), the first runs are prefetched here.
    #[allow(clippy::too_many_arguments)]
    fn pages(
        &self,
        src: &[E],
        t0: usize,
        t1: usize,
        primed: bool,
        then: Option<&[E]>,
        bf16: bool,
        scratch: &mut Scratch,
        mut f: impl FnMut(usize, usize, Rows, &[E]),
    ) {
        // Position of the next run to prefetch: in `src` up to `t1`, then in `then`.
        let mut later = t0;
        let mut next = || -> &[E] {
            let (buf, t) = if later < t1 {
                (src, later)
            } else {
                match then {
                    Some(buf) if later - t1 < t1 - t0 => (buf, t0 + (later - t1)),
                    _ => return &[],
                }
            };
            let end = if t < t1 { t1 } else { return &[] };
            let (m, rows) = self.run(buf, t, end);
            later += m;
            rows
        };
        for _ in 0..AHEAD {
            let rows = next();
            if !primed {
                prefetch(rows);
            }
        }
        let mut t = t0;
        while t < t1 {
            let (n, rows) = self.run(src, t, t1);
            let ahead = next();
            f(t, n, E::rows(rows, bf16, &mut scratch.rows), ahead);
            t += n;
        }
    }
}

/// Prefetches the `i`-th of `parts` near-equal pieces of `data`, so a loop of `parts` steps
/// spreads one page's prefetches over its work instead of stalling on a burst of them.
fn prefetch_part<T>(data: &[T], i: usize, parts: usize) {
    let (a, b) = (data.len() * i / parts, data.len() * (i + 1) / parts);
    prefetch_l2(&data[a..b]);
}

/// The partial of tokens `t0..t1` for every query head: `q` is `[hq,d]` already scaled by
/// 1/√d (and by its KV head's `k_scale`); `part` receives `acc[h] = Σ_t e^(s_ht − m_h)·v_t`, `m_h = max_t s_ht` and
/// `l_h = Σ_t e^(s_ht − m_h)`. K and V rows are each read once for the whole GQA group.
///
/// `q_bf16`, the unscaled query's bf16 bits when the cache is bf16, selects the grouped
/// kernels (where this CPU runs them for `d`): scores straight from bf16 pairs, and value
/// rows widened once for every head of their group; `k_scale[g]` multiplies the scores of
/// KV head `g` there (ones for a cache in the dtype). The values are not scaled.
#[allow(clippy::too_many_arguments)]
pub(super) fn attend<E: CacheElem>(
    cache: &Cache<E>,
    q: &[f32],
    q_bf16: Option<&[u16]>,
    k_scale: &[f32],
    t0: usize,
    t1: usize,
    scratch: &mut Scratch,
    part: &mut [f32],
) {
    let (hkv, d) = (cache.hkv, cache.d);
    let hq = q.len() / d;
    let group = hq / hkv;
    let n = t1 - t0;
    let row = hkv * d;
    let grouped = q_bf16.filter(|_| group_bf16_fast(d));
    let scale = 1.0 / (d as f32).sqrt();
    // The scores and the decode buffer live apart from the row buffers while the pages are
    // walked.
    let mut owned = std::mem::take(&mut scratch.scores);
    let scores = &mut owned[..hq * n];
    let mut buf = std::mem::take(&mut scratch.bits);
    cache.pages(
        cache.k,
        t0,
        t1,
        false,
        Some(cache.v),
        grouped.is_some(),
        scratch,
        |t, c, rows, ahead| {
            if let (Some(qb), Rows::Bf16(_) | Rows::Fp8(_)) = (grouped, rows) {
                for (g, ks) in k_scale.iter().enumerate().take(hkv) {
                    prefetch_part(ahead, g, hkv);
                    let Some((bits, stride)) = rows.head_bf16(g, d, row, c, &mut buf) else {
                        break;
                    };
                    let heads = g * group * d..(g + 1) * group * d;
                    let at = g * group * n + (t - t0);
                    let out = &mut scores[at..];
                    let s = scale * ks;
                    group_dots_bf16(&qb[heads], d, bits, stride, c, s, out, n);
                }
                return;
            }
            prefetch(ahead);
            for h in 0..hq {
                let g = h / group;
                let at = h * n + (t - t0);
                rows.dots(&q[h * d..][..d], g * d, row, &mut scores[at..at + c]);
            }
        },
    );
    let (acc, stats) = part.split_at_mut(hq * d);
    let (m, l) = stats.split_at_mut(hq);
    for h in 0..hq {
        let s = &mut scores[h * n..(h + 1) * n];
        m[h] = max(s);
        l[h] = exp_sum(s, m[h]);
    }
    acc.fill(0.0);
    let mut paired = false;
    cache.pages(
        cache.v,
        t0,
        t1,
        true,
        None,
        grouped.is_some(),
        scratch,
        |t, c, rows, ahead| {
            if let (Some(_), Rows::Bf16(_) | Rows::Fp8(_)) = (grouped, rows) {
                paired = true;
                for g in 0..hkv {
                    prefetch_part(ahead, g, hkv);
                    let Some((bits, stride)) = rows.head_bf16(g, d, row, c, &mut buf) else {
                        break;
                    };
                    let heads = &mut acc[g * group * d..(g + 1) * group * d];
                    let p = &scores[g * group * n + (t - t0)..];
                    group_mix_bf16(heads, d, p, n, bits, stride, c);
                }
                return;
            }
            prefetch(ahead);
            for h in 0..hq {
                let g = h / group;
                let at = h * n + (t - t0);
                rows.mix(
                    &mut acc[h * d..(h + 1) * d],
                    &scores[at..at + c],
                    g * d,
                    row,
                );
            }
        },
    );
    if paired {
        for h in acc.chunks_exact_mut(d) {
            let tmp = &mut scratch.rows[..d];
            tmp.copy_from_slice(h);
            unpair(tmp, h);
        }
    }
    scratch.scores = owned;
    scratch.bits = buf;
}

/// Merges the partials of one sequence's splits into `out[hq,d]`:
/// `o_h = Σ_s e^(m_sh − M_h)·acc_sh / Σ_s e^(m_sh − M_h)·l_sh` with `M_h = max_s m_sh`.
/// No splits (an empty sequence) gives zeros.
pub(super) fn merge(parts: &[f32], hq: usize, d: usize, out: &mut [f32]) {
    let len = part_len(hq, d);
    out.fill(0.0);
    for h in 0..hq {
        let stat = |p: &[f32], i: usize| p[hq * d + i * hq + h];
        let top = parts
            .chunks_exact(len)
            .fold(f32::NEG_INFINITY, |a, p| a.max(stat(p, 0)));
        let o = &mut out[h * d..(h + 1) * d];
        let mut total = 0f32;
        for p in parts.chunks_exact(len) {
            let w = (stat(p, 0) - top).exp();
            total += w * stat(p, 1);
            for (x, a) in o.iter_mut().zip(&p[h * d..(h + 1) * d]) {
                *x += w * a;
            }
        }
        if total > 0.0 {
            o.iter_mut().for_each(|x| *x /= total);
        }
    }
}

struct DecodeSet<E, C> {
    q: Vec<E>,
    k: Vec<C>,
    v: Vec<C>,
    o: Vec<E>,
}

/// Paged decode attention `o[b,hq,d]` over `k_cache,v_cache[P,ps,hkv,d]`, `block_table` and
/// `seq_lens` (sequence `b` attends to its first `seq_lens[b]` tokens), the cache in `C`:
/// the dtype `E`, or fp8 codes (`u8`) with per-KV-head scales.
pub(super) struct Decode<E, C = E> {
    batch: usize,
    hq: usize,
    hkv: usize,
    d: usize,
    page_size: usize,
    per_seq: usize,
    table: Vec<usize>,
    splits: Vec<Split>,
    /// Splits `first[b]..first[b + 1]` belong to sequence `b`.
    first: Vec<usize>,
    /// Tokens of the longest split.
    split_tokens: usize,
    sets: Vec<DecodeSet<E, C>>,
    /// `k_scale`, `v_scale` per KV head (ones for a cache in the dtype).
    scales: [Vec<f32>; 2],
    q32: Vec<f32>,
    parts: Vec<f32>,
    o32: Vec<f32>,
}

/// Builds paged decode attention with `sets` rotation sets.
pub fn build_decode<E: HostElem>(
    spec: &OpSpec,
    inputs: &Inputs,
    sets: usize,
) -> Result<Box<dyn Kernel>> {
    let ps = DecodeShape::of(spec)?.page_size as usize;
    let chunk = SPLIT_TOKENS.div_ceil(ps) * ps;
    Ok(Box::new(Decode::<E>::new(spec, inputs, sets, chunk, None)?))
}

impl<E: HostElem, C: CacheElem> Decode<E, C> {
    /// The kernel with splits of `chunk` tokens; `scales` are an fp8 cache's `k_scale`,
    /// `v_scale` (one per KV head), `None` for a cache in the dtype.
    pub(super) fn new(
        spec: &OpSpec,
        inputs: &Inputs,
        sets: usize,
        chunk: usize,
        scales: Option<[Vec<f32>; 2]>,
    ) -> Result<Decode<E, C>> {
        let p = DecodeShape::of(spec)?;
        let (batch, hq, d) = (p.batch as usize, p.heads_q as usize, p.head_dim as usize);
        let per_seq = p.pages_per_seq() as usize;
        let table = indices(inputs.get("block_table")?, batch * per_seq)?;
        let lens = indices(inputs.get("seq_lens")?, p.context as usize + 1)?;
        let (q, k, v) = (
            E::slice(inputs.get("q")?)?,
            C::slice(inputs.get("k_cache")?)?,
            C::slice(inputs.get("v_cache")?)?,
        );
        let hkv = p.heads_kv as usize;
        let scales = scales.unwrap_or_else(|| [vec![1.0; hkv], vec![1.0; hkv]]);
        if scales.iter().any(|s| s.len() != hkv) {
            return Err(hotpath_core::Error::backend(format!(
                "k_scale and v_scale need one scale per KV head ({hkv})"
            )));
        }
        let splits = plan_splits(&lens, chunk);
        let first = (0..=batch)
            .map(|b| splits.partition_point(|s| s.b < b))
            .collect();
        let sets = (0..sets)
            .into_par_iter()
            .map(|_| DecodeSet {
                q: q.to_vec(),
                k: k.to_vec(),
                v: v.to_vec(),
                o: output_buffer(q.len()),
            })
            .collect();
        Ok(Decode {
            batch,
            hq,
            hkv,
            d,
            page_size: p.page_size as usize,
            per_seq,
            table,
            split_tokens: splits.iter().map(|s| s.t1 - s.t0).max().unwrap_or(0),
            parts: vec![0.0; splits.len() * part_len(hq, d)],
            splits,
            first,
            sets,
            scales,
            q32: vec![0.0; q.len()],
            o32: vec![0.0; q.len()],
        })
    }
}

impl<E: HostElem, C: CacheElem> Kernel for Decode<E, C> {
    fn run(&mut self, set: usize) -> Result<()> {
        let s = &mut self.sets[set];
        let (hq, hkv, d, ps) = (self.hq, self.hkv, self.d, self.page_size);
        let [k_scale, v_scale] = &self.scales;
        E::widen(&s.q, &mut self.q32);
        let scale = 1.0 / (d as f32).sqrt();
        // Query head h of every sequence reads KV head h / group: its scores carry k_scale.
        let group = hq / hkv;
        for (i, x) in self.q32.iter_mut().enumerate() {
            *x *= scale * k_scale[i / d % hq / group];
        }
        let (q32, table, per_seq, tokens) =
            (&self.q32, &self.table, self.per_seq, self.split_tokens);
        let (k, v) = (&s.k[..], &s.v[..]);
        let q_bf16 = E::bf16_bits(&s.q);
        self.parts
            .par_chunks_mut(part_len(hq, d))
            .zip(&self.splits)
            .for_each_init(
                || Scratch::new(ps, hkv, d, hq, tokens),
                |scratch, (part, split)| {
                    let cache = Cache {
                        k,
                        v,
                        pages: &table[split.b * per_seq..(split.b + 1) * per_seq],
                        ps,
                        hkv,
                        d,
                    };
                    let heads = split.b * hq * d..(split.b + 1) * hq * d;
                    let q_bf16 = q_bf16.map(|q| &q[heads.clone()]);
                    attend(
                        &cache,
                        &q32[heads],
                        q_bf16,
                        k_scale,
                        split.t0,
                        split.t1,
                        scratch,
                        part,
                    );
                    // V = code·v_scale: the weighted sums of the codes, scaled once.
                    for (h, acc) in part[..hq * d].chunks_exact_mut(d).enumerate() {
                        let vs = v_scale[h / group];
                        if vs != 1.0 {
                            acc.iter_mut().for_each(|x| *x *= vs);
                        }
                    }
                },
            );
        let (parts, first) = (&self.parts, &self.first);
        self.o32
            .par_chunks_mut(hq * d)
            .enumerate()
            .for_each(|(b, out)| {
                let p = &parts[first[b] * part_len(hq, d)..first[b + 1] * part_len(hq, d)];
                merge(p, hq, d, out);
            });
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

#[cfg(test)]
mod tests {
    use super::*;
    use hotpath_core::check::check;
    use hotpath_core::inputs::{generate, seed_for};
    use hotpath_core::{DType, OpKind};

    #[test]
    fn splits_cover_each_sequence_in_chunks() {
        let s = plan_splits(&[45, 0, 17], 16);
        let want = [
            (0, 0, 16),
            (0, 16, 32),
            (0, 32, 45),
            (2, 0, 16),
            (2, 16, 17),
        ];
        assert_eq!(s.len(), want.len());
        for (got, (b, t0, t1)) in s.iter().zip(want) {
            assert_eq!(*got, Split { b, t0, t1 });
        }
    }

    /// Two keys, d = 2, one head, one token per page (pages in reverse order). The query
    /// (already scaled) is [1, 0], so the scores are the keys' first elements: 0 and ln 3,
    /// giving weights 1/4 and 3/4 and o = ¼·[4, 8] + ¾·[8, −4] = [7, −1].
    #[test]
    fn two_keys_by_hand_whole_and_split() {
        let ln3 = 3f32.ln();
        let (k, v) = ([ln3, 7.0, 0.0, 5.0], [8.0, -4.0, 4.0, 8.0]);
        let cache = Cache {
            k: &k[..],
            v: &v[..],
            pages: &[1, 0],
            ps: 1,
            hkv: 1,
            d: 2,
        };
        let q = [1.0, 0.0];
        let mut scratch = Scratch::new(1, 1, 2, 1, 2);
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5);

        let mut whole = [0f32; 4];
        attend(&cache, &q, None, &[1.0], 0, 2, &mut scratch, &mut whole);
        // Unnormalised: max ln 3, weights e^(0 − ln 3) = 1/3 and 1, sum 4/3,
        // acc = ⅓·[4, 8] + [8, −4] = [28/3, −4/3].
        assert!(
            close(&whole, &[28.0 / 3.0, -4.0 / 3.0, ln3, 4.0 / 3.0]),
            "{whole:?}"
        );
        let mut o = [0f32; 2];
        merge(&whole, 1, 2, &mut o);
        assert!(close(&o, &[7.0, -1.0]), "{o:?}");

        // Each key alone: its own max, weight 1.
        let mut parts = [0f32; 8];
        attend(
            &cache,
            &q,
            None,
            &[1.0],
            0,
            1,
            &mut scratch,
            &mut parts[..4],
        );
        attend(
            &cache,
            &q,
            None,
            &[1.0],
            1,
            2,
            &mut scratch,
            &mut parts[4..],
        );
        assert_eq!(parts, [4.0, 8.0, 0.0, 1.0, 8.0, -4.0, ln3, 1.0]);
        merge(&parts, 1, 2, &mut o);
        assert!(close(&o, &[7.0, -1.0]), "{o:?}");

        // No partials: an empty sequence's output is zero.
        let mut o = [5f32; 2];
        merge(&[], 1, 2, &mut o);
        assert_eq!(o, [0.0, 0.0]);
    }

    fn decode_with(dtype: DType, chunk: usize) -> (Vec<f32>, hotpath_core::check::Correctness) {
        decode_shape(
            dtype,
            chunk,
            "batch=3,context=70,heads_q=8,heads_kv=2,head_dim=24,page_size=8",
        )
    }

    /// Runs a decode of `shape` with sequence lengths `[context, 0, 21]` (a full context, an
    /// empty sequence, one ending mid-page) in splits of `chunk` tokens, and checks it
    /// against the reference.
    fn decode_shape(
        dtype: DType,
        chunk: usize,
        shape: &str,
    ) -> (Vec<f32>, hotpath_core::check::Correctness) {
        let spec = OpSpec::parse(OpKind::AttnDecode, shape, dtype).expect("valid shape");
        let context = spec.dim("context").unwrap() as i32;
        let mut inputs = generate(&spec, seed_for(&spec)).unwrap();
        // Ragged lengths: a full context, an empty sequence, one ending mid-page.
        let lens = HostTensor::from_i32("seq_lens", vec![3], vec![context, 0, 21]);
        for t in inputs.tensors.iter_mut().filter(|t| t.name == "seq_lens") {
            *t = lens.clone();
        }
        let mut k = match dtype {
            DType::F32 => {
                Box::new(Decode::<f32>::new(&spec, &inputs, 1, chunk, None).expect("build"))
                    as Box<dyn Kernel>
            }
            DType::Bf16 => {
                Box::new(Decode::<half::bf16>::new(&spec, &inputs, 1, chunk, None).expect("build"))
            }
            DType::F16 | DType::Fp8E4m3 => panic!("the split test runs f32 and bf16, not {dtype}"),
        };
        k.run(0).expect("run");
        let out = k.output(0);
        let c = check(&spec, &inputs, &out).expect("check");
        let o = match &out.data {
            hotpath_core::HostData::F32(v) => v.clone(),
            hotpath_core::HostData::Bf16(v) => v.iter().map(|x| x.to_f32()).collect(),
            hotpath_core::HostData::F16(_)
            | hotpath_core::HostData::Fp8E4m3(_)
            | hotpath_core::HostData::Fp8E4m3Fnuz(_)
            | hotpath_core::HostData::I32(_)
            | hotpath_core::HostData::U32(_) => Vec::new(),
        };
        (o, c)
    }

    #[test]
    fn merged_splits_equal_the_unsplit_context() {
        for dtype in [DType::F32, DType::Bf16] {
            // One page per split (9 splits of the full sequence) against one split each.
            let (split, c1) = decode_with(dtype, 8);
            let (whole, c2) = decode_with(dtype, 70);
            assert!(c1.pass && c2.pass, "{c1:?} {c2:?}");
            assert_eq!(split.len(), 3 * 8 * 24);
            // bf16 outputs may differ by one rounding step (2⁻⁸ relative); f32 by a few ulps.
            let tol = if dtype == DType::F32 { 1e-5 } else { 1e-2 };
            for (i, (a, b)) in split.iter().zip(&whole).enumerate() {
                assert!(
                    (a - b).abs() <= tol * b.abs().max(0.1),
                    "{dtype} {i}: {a} vs {b}"
                );
            }
            // The empty sequence (b = 1) is zero either way.
            assert!(split[8 * 24..16 * 24].iter().all(|&x| x == 0.0));
        }
    }

    /// Head dims the grouped bf16 kernels take (64, 128), every GQA group size, pages of 16
    /// and of 8 (a split ending mid-block of 16 keys): the output matches the reference, and
    /// one-page splits merge to the unsplit result.
    #[test]
    fn grouped_bf16_kernels_match_the_reference() {
        for (d, ps) in [(128, 16), (64, 8)] {
            for group in 1..=8 {
                let shape = format!(
                    "batch=3,context=300,heads_q={},heads_kv=2,head_dim={d},page_size={ps}",
                    2 * group
                );
                let (split, c1) = decode_shape(DType::Bf16, ps, &shape);
                let (whole, c2) = decode_shape(DType::Bf16, 256, &shape);
                assert!(c1.pass && c2.pass, "{shape}: {c1:?} {c2:?}");
                for (i, (a, b)) in split.iter().zip(&whole).enumerate() {
                    assert!(
                        (a - b).abs() <= 1e-2 * b.abs().max(0.1),
                        "{shape} {i}: {a} vs {b}"
                    );
                }
                let hq = 2 * group;
                assert!(split[hq * d..2 * hq * d].iter().all(|&x| x == 0.0));
            }
        }
    }
}
