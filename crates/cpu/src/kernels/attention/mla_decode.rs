//! Multi-head latent attention decode (`attn_mla_decode`), split over (sequence, context
//! split) like [`super::decode`], with the same log-sum-exp merge. What MLA changes is the
//! arithmetic: every query head reads the same latent rows, so a task widens a tile of
//! [`TILE`] rows to f32 once (an fp8 tile decoded and scaled by `kv_scale` once) and serves
//! all heads from it with two GEMMs on the `gemm` crate's register-blocked micro-kernels:
//! `S = Q·Kᵀ` (heads × tile, depth kv_lora + rope_dim) and `O += P·V` (heads × kv_lora, depth
//! tile), V being the first kv_lora columns of the same f32 rows. Between them, prefill's
//! online softmax per head. At 128 heads that is ~240 FLOPs per cached byte: compute-bound.

use rayon::prelude::*;

use hotpath_core::ops::MlaShape;
use hotpath_core::{HostTensor, Inputs, OpSpec, Result};

use super::decode::{merge, part_len, plan_splits, Split};
use super::prefill::{matmul, online_row, Mat};
use crate::kernels::output::output_buffer;
use crate::kernels::{indices, tensor, HostElem, Kernel};
use crate::simd::fp8_decode;

/// Rows widened per step: the GEMMs' tile of tokens (288 KiB of f32 rows at 512 + 64; 64
/// rows measured 5 % slower at 128 heads, docs/cpu-attention.md).
const TILE: usize = 128;
/// Tokens per split (rounded up to whole pages): 8 tasks for a 4096-token sequence.
const SPLIT_TOKENS: usize = 512;

/// An element of the latent cache: the dtype's, or an fp8 e4m3 code.
trait Latent: Copy + Send + Sync + 'static {
    /// The elements of the cache tensor, or an error naming a tensor of another type.
    fn slice(t: &HostTensor) -> Result<&[Self]>;
    /// `dst = src·scale` in f32 (`scale` is 1 for a cache in the dtype).
    fn widen(src: &[Self], scale: f32, dst: &mut [f32]);
}

impl<E: HostElem> Latent for E {
    fn slice(t: &HostTensor) -> Result<&[E]> {
        <E as HostElem>::slice(t)
    }
    fn widen(src: &[E], _scale: f32, dst: &mut [f32]) {
        <E as crate::simd::Elem>::widen(src, dst);
    }
}

impl Latent for u8 {
    fn slice(t: &HostTensor) -> Result<&[u8]> {
        t.as_fp8()
    }
    fn widen(src: &[u8], scale: f32, dst: &mut [f32]) {
        fp8_decode(src, scale, dst);
    }
}

/// The problem's sizes.
#[derive(Clone, Copy)]
struct Dims {
    hq: usize,
    kv_lora: usize,
    /// kv_lora + rope_dim.
    width: usize,
    page_size: usize,
}

/// The partial of tokens `split.t0..split.t1` of one sequence for every head: `q` is the
/// sequence's `[hq, width]` queries already scaled by 1/√width, `pages` its block table;
/// `part` receives `acc[hq, kv_lora]` (unnormalised), then the running max and sum per head.
/// `rows` holds one tile of widened rows, `s` one tile's scores for every head.
#[allow(clippy::too_many_arguments)]
fn attend<C: Latent>(
    n: Dims,
    cache: &[C],
    kv_scale: f32,
    pages: &[usize],
    q: &[f32],
    split: Split,
    (rows, s): (&mut [f32], &mut [f32]),
    part: &mut [f32],
) {
    let (hq, kl, w, ps) = (n.hq, n.kv_lora, n.width, n.page_size);
    let (acc, stats) = part.split_at_mut(hq * kl);
    let (m, l) = stats.split_at_mut(hq);
    acc.fill(0.0);
    m.fill(f32::NEG_INFINITY);
    l.fill(0.0);
    let mut t0 = split.t0;
    while t0 < split.t1 {
        let tn = TILE.min(split.t1 - t0);
        // Gather the tile's rows, one page run at a time, widened once for every head.
        let mut t = t0;
        while t < t0 + tn {
            let run = (ps - t % ps).min(t0 + tn - t);
            let at = (pages[t / ps] * ps + t % ps) * w;
            let dst = &mut rows[(t - t0) * w..(t - t0 + run) * w];
            C::widen(&cache[at..at + run * w], kv_scale, dst);
            t += run;
        }
        let s = &mut s[..hq * tn];
        let qm = Mat {
            data: q,
            rs: w,
            cs: 1,
        };
        // Kᵀ: element (i, j) is token j's element i.
        let kt = Mat {
            data: &rows[..tn * w],
            rs: 1,
            cs: w,
        };
        matmul(s, tn, qm, kt, (hq, tn, w), false, 1.0);
        for (h, srow) in s.chunks_exact_mut(tn).enumerate() {
            online_row(srow, &mut m[h], &mut l[h], &mut acc[h * kl..(h + 1) * kl]);
        }
        let p = Mat {
            data: s,
            rs: tn,
            cs: 1,
        };
        // V: the first kv_lora columns of the same rows.
        let v = Mat {
            data: &rows[..tn * w],
            rs: w,
            cs: 1,
        };
        matmul(acc, kl, p, v, (hq, kl, tn), true, 1.0);
        t0 += tn;
    }
}

struct MlaSet<E, C> {
    q: Vec<E>,
    cache: Vec<C>,
    o: Vec<E>,
}

/// MLA decode `o[b,hq,kv_lora]` over `kv_cache[P,ps,kv_lora+rope_dim]` (in `C`: the dtype `E`,
/// or fp8 codes), `block_table` and `seq_lens`.
struct MlaDecode<E, C> {
    n: Dims,
    batch: usize,
    per_seq: usize,
    table: Vec<usize>,
    splits: Vec<Split>,
    /// Splits `first[b]..first[b + 1]` belong to sequence `b`.
    first: Vec<usize>,
    /// K, V = element·kv_scale (1 for a cache in the dtype).
    kv_scale: f32,
    sets: Vec<MlaSet<E, C>>,
    q32: Vec<f32>,
    parts: Vec<f32>,
    o32: Vec<f32>,
}

/// Builds MLA decode (a cache in the dtype or, under `kv_fp8=1`, in fp8) with `sets`
/// rotation sets.
pub fn build_mla_decode<E: HostElem>(
    spec: &OpSpec,
    inputs: &Inputs,
    sets: usize,
) -> Result<Box<dyn Kernel>> {
    let p = MlaShape::of(spec)?;
    let chunk = SPLIT_TOKENS.div_ceil(p.page_size as usize) * p.page_size as usize;
    Ok(if p.fp8 {
        Box::new(MlaDecode::<E, u8>::new(spec, inputs, sets, chunk)?)
    } else {
        Box::new(MlaDecode::<E, E>::new(spec, inputs, sets, chunk)?)
    })
}

impl<E: HostElem, C: Latent> MlaDecode<E, C> {
    /// The kernel with splits of `chunk` tokens.
    fn new(spec: &OpSpec, inputs: &Inputs, sets: usize, chunk: usize) -> Result<Self> {
        let p = MlaShape::of(spec)?;
        let n = Dims {
            hq: p.heads_q as usize,
            kv_lora: p.kv_lora as usize,
            width: p.width() as usize,
            page_size: p.page_size as usize,
        };
        let batch = p.batch as usize;
        let per_seq = p.pages_per_seq() as usize;
        let table = indices(inputs.get("block_table")?, batch * per_seq)?;
        let lens = indices(inputs.get("seq_lens")?, p.context as usize + 1)?;
        let (q, cache) = (
            E::slice(inputs.get("q")?)?,
            C::slice(inputs.get("kv_cache")?)?,
        );
        let scale_t = inputs.get("kv_scale")?;
        if scale_t.len() != 1 {
            return Err(hotpath_core::Error::backend(format!(
                "kv_scale holds {} values; an MLA cache has one scale",
                scale_t.len()
            )));
        }
        let kv_scale = if p.fp8 {
            scale_t.get_f64(0) as f32
        } else {
            1.0
        };
        let splits = plan_splits(&lens, chunk);
        let first = (0..=batch)
            .map(|b| splits.partition_point(|s| s.b < b))
            .collect();
        let out_len = batch * n.hq * n.kv_lora;
        Ok(MlaDecode {
            n,
            batch,
            per_seq,
            table,
            parts: vec![0.0; splits.len() * part_len(n.hq, n.kv_lora)],
            splits,
            first,
            kv_scale,
            sets: (0..sets)
                .into_par_iter()
                .map(|_| MlaSet {
                    q: q.to_vec(),
                    cache: cache.to_vec(),
                    o: output_buffer(out_len),
                })
                .collect(),
            q32: vec![0.0; q.len()],
            o32: vec![0.0; out_len],
        })
    }
}

impl<E: HostElem, C: Latent> Kernel for MlaDecode<E, C> {
    fn run(&mut self, set: usize) -> Result<()> {
        let s = &mut self.sets[set];
        let n = self.n;
        E::widen(&s.q, &mut self.q32);
        let scale = 1.0 / (n.width as f32).sqrt();
        self.q32.iter_mut().for_each(|x| *x *= scale);
        let (q32, table, per_seq, cache, kv_scale) = (
            &self.q32,
            &self.table,
            self.per_seq,
            &s.cache[..],
            self.kv_scale,
        );
        let longest = self.splits.iter().map(|s| s.t1 - s.t0).max().unwrap_or(0);
        let tile = TILE.min(longest).max(1);
        self.parts
            .par_chunks_mut(part_len(n.hq, n.kv_lora))
            .zip(&self.splits)
            .for_each_init(
                || (vec![0.0f32; tile * n.width], vec![0.0f32; n.hq * tile]),
                |(rows, scores), (part, split)| {
                    let heads = split.b * n.hq * n.width..(split.b + 1) * n.hq * n.width;
                    attend(
                        n,
                        cache,
                        kv_scale,
                        &table[split.b * per_seq..(split.b + 1) * per_seq],
                        &q32[heads],
                        *split,
                        (rows, scores),
                        part,
                    );
                },
            );
        let (parts, first, len) = (&self.parts, &self.first, part_len(n.hq, n.kv_lora));
        self.o32
            .par_chunks_mut(n.hq * n.kv_lora)
            .enumerate()
            .for_each(|(b, out)| {
                merge(
                    &parts[first[b] * len..first[b + 1] * len],
                    n.hq,
                    n.kv_lora,
                    out,
                );
            });
        E::narrow(&self.o32, &mut s.o);
        Ok(())
    }

    fn output(&self, set: usize) -> HostTensor {
        tensor(
            "o",
            vec![self.batch, self.n.hq, self.n.kv_lora],
            self.sets[set].o.clone(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotpath_core::check::check;
    use hotpath_core::inputs::{generate, seed_for};
    use hotpath_core::OpKind;

    /// Runs `shape` in splits of `chunk` tokens (sequence lengths as generated, or `lens`)
    /// and checks it against the reference.
    fn run<E: HostElem>(shape: &str, chunk: usize, lens: Option<Vec<i32>>) {
        let spec = OpSpec::parse(OpKind::AttnMlaDecode, shape, E::DTYPE).expect("valid shape");
        let mut inputs = generate(&spec, seed_for(&spec)).unwrap();
        if let Some(lens) = lens {
            let t = HostTensor::from_i32("seq_lens", vec![lens.len()], lens);
            for x in inputs.tensors.iter_mut().filter(|x| x.name == "seq_lens") {
                *x = t.clone();
            }
        }
        let mut k: Box<dyn Kernel> = if spec.dim("kv_fp8").unwrap() == 1 {
            Box::new(MlaDecode::<E, u8>::new(&spec, &inputs, 1, chunk).expect("build"))
        } else {
            Box::new(MlaDecode::<E, E>::new(&spec, &inputs, 1, chunk).expect("build"))
        };
        k.run(0).expect("run");
        let c = check(&spec, &inputs, &k.output(0)).expect("check");
        assert!(c.pass, "{} {shape} chunk {chunk}: {c:?}", E::DTYPE);
    }

    /// Splits of one page, of several tiles and the whole sequence, ragged and empty
    /// sequences, partial pages (context 300 in pages of 64, 70 in pages of 16), both caches.
    #[test]
    fn split_and_merged_matches_the_reference() {
        for fp8 in ["", ",kv_fp8=1"] {
            let shape =
                format!("batch=3,context=300,heads_q=16,kv_lora=64,rope_dim=32,page_size=64{fp8}");
            run::<half::bf16>(&shape, 64, Some(vec![300, 0, 131]));
            run::<f32>(&shape, 192, None);
            run::<half::f16>(&shape, 512, Some(vec![1, 300, 65]));
            let odd =
                format!("batch=2,context=70,heads_q=3,kv_lora=32,rope_dim=8,page_size=16{fp8}");
            run::<f32>(&odd, 16, None);
        }
    }

    /// Two tokens, kv_lora 16, rope 16 (scale 1/√32), one head: q·k₀ = 0 and q·k₁ = √32·ln 3
    /// (q's first RoPE element √32·ln 3, k₁'s 1), so the weights are 1/4 and 3/4; V is the
    /// latent: o = ¼·2 + ¾·6 = 5 in every column.
    #[test]
    fn two_tokens_by_hand() {
        let w = 32;
        let mut q = vec![0.0f32; w];
        q[16] = (32f32).sqrt() * 3f32.ln();
        let mut cache = vec![0.0f32; 2 * w];
        cache[..16].fill(2.0);
        cache[w..w + 16].fill(6.0);
        cache[w + 16] = 1.0;
        let n = Dims {
            hq: 1,
            kv_lora: 16,
            width: w,
            page_size: 1,
        };
        let scale = 1.0 / (w as f32).sqrt();
        let q: Vec<f32> = q.iter().map(|x| x * scale).collect();
        let mut part = vec![0.0; part_len(1, 16)];
        let (mut rows, mut s) = (vec![0.0; TILE * w], vec![0.0; TILE]);
        let split = Split { b: 0, t0: 0, t1: 2 };
        // Pages in reverse order: token 0 is row 1 of the cache.
        let swapped: Vec<f32> = cache[w..].iter().chain(&cache[..w]).copied().collect();
        attend(
            n,
            &swapped,
            1.0,
            &[1, 0],
            &q,
            split,
            (&mut rows, &mut s),
            &mut part,
        );
        let mut o = vec![0.0; 16];
        merge(&part, 1, 16, &mut o);
        assert!(o.iter().all(|x| (x - 5.0).abs() < 1e-5), "{o:?}");
    }
}
