//! Attention references: softmax(q·kᵀ/√d)·v per query row, in f64, one row of `head_dim`
//! outputs per block. GQA: query head `h` reads KV head `h / (heads_q / heads_kv)`.

use super::{expect_len, indices, load, OpReference};
use crate::error::{Error, Result};
use crate::inputs::Inputs;
use crate::op::OpSpec;
use crate::ops::{DecodeShape, PrefillShape};
use crate::tensor::HostTensor;

/// Softmax-weighted sum of `values(j)` over keys `0..keys`, scores `q·key(j)·scale`; the
/// key rows are `q.len()` long, the value rows `out.len()` (attention of MLA: a value is the
/// first `kv_lora` elements of its key).
pub(crate) fn attend(
    q: &[f64],
    keys: usize,
    scale: f64,
    mut key_at: impl FnMut(usize, &mut [f64]),
    mut value_at: impl FnMut(usize, &mut [f64]),
    out: &mut [f64],
) {
    let mut buf = vec![0.0; q.len()];
    let mut scores = Vec::with_capacity(keys);
    for j in 0..keys {
        key_at(j, &mut buf);
        scores.push(q.iter().zip(&buf).map(|(a, b)| a * b).sum::<f64>() * scale);
    }
    buf.truncate(out.len());
    let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let mut denom = 0.0;
    out.fill(0.0);
    for (j, s) in scores.iter().enumerate() {
        let p = (s - max).exp();
        denom += p;
        value_at(j, &mut buf);
        for (o, v) in out.iter_mut().zip(&buf) {
            *o += p * v;
        }
    }
    // No keys (an empty sequence): the kernels write zeros.
    if keys > 0 {
        for o in out.iter_mut() {
            *o /= denom;
        }
    }
}

fn group_size(hq: usize, hkv: usize) -> Result<usize> {
    if hkv == 0 || !hq.is_multiple_of(hkv) {
        return Err(Error::bad_input(format!(
            "heads_q={hq} is not a multiple of heads_kv={hkv}"
        )));
    }
    Ok(hq / hkv)
}

/// Reference of `attn_prefill` (`q[b,S,hq,d]`, `k,v[b,S,hkv,d]` → `o[b,S,hq,d]`).
pub struct Prefill<'a> {
    q: &'a HostTensor,
    k: &'a HostTensor,
    v: &'a HostTensor,
    seq: usize,
    hq: usize,
    hkv: usize,
    d: usize,
    batch: usize,
    causal: bool,
}

impl<'a> Prefill<'a> {
    /// Binds the inputs and checks their sizes.
    pub fn new(spec: &OpSpec, inputs: &'a Inputs) -> Result<Self> {
        let p = PrefillShape::of(spec)?;
        let r = Prefill {
            q: inputs.get("q")?,
            k: inputs.get("k")?,
            v: inputs.get("v")?,
            seq: p.seq as usize,
            hq: p.heads_q as usize,
            hkv: p.heads_kv as usize,
            d: p.head_dim as usize,
            batch: p.batch as usize,
            causal: p.causal,
        };
        group_size(r.hq, r.hkv)?;
        expect_len(r.q, r.batch * r.seq * r.hq * r.d)?;
        expect_len(r.k, r.batch * r.seq * r.hkv * r.d)?;
        expect_len(r.v, r.batch * r.seq * r.hkv * r.d)?;
        Ok(r)
    }
}

impl OpReference for Prefill<'_> {
    fn blocks(&self) -> usize {
        self.batch * self.seq * self.hq
    }

    fn block_len(&self) -> usize {
        self.d
    }

    fn block_cost(&self) -> f64 {
        (2 * self.seq * self.d) as f64
    }

    fn compute(&self, block: usize, out: &mut [f64]) {
        let h = block % self.hq;
        let s = (block / self.hq) % self.seq;
        let b = block / (self.hq * self.seq);
        let g = h / (self.hq / self.hkv);
        let mut q = vec![0.0; self.d];
        load(self.q, block * self.d, &mut q);
        let keys = if self.causal { s + 1 } else { self.seq };
        let kv_at = |j: usize| ((b * self.seq + j) * self.hkv + g) * self.d;
        let scale = 1.0 / (self.d as f64).sqrt();
        attend(
            &q,
            keys,
            scale,
            |j, buf| load(self.k, kv_at(j), buf),
            |j, buf| load(self.v, kv_at(j), buf),
            out,
        );
    }
}

/// The `seq_lens` input of a paged decode: `batch` lengths, each between 0 and `context`.
pub(crate) fn seq_lens(inputs: &Inputs, batch: usize, context: usize) -> Result<Vec<usize>> {
    let lens_t = inputs.get("seq_lens")?;
    expect_len(lens_t, batch)?;
    lens_t
        .as_i32()?
        .iter()
        .map(|&l| match usize::try_from(l) {
            Ok(l) if l <= context => Ok(l),
            _ => Err(Error::bad_input(format!(
                "seq_lens holds {l}; each sequence length must be between 0 and the context {context}"
            ))),
        })
        .collect()
}

/// Reference of `attn_decode` over a paged cache (`q[b,hq,d]`, `k_cache,v_cache[P,ps,hkv,d]`,
/// `block_table[b,⌈L/ps⌉]`, `seq_lens[b]` → `o[b,hq,d]`): sequence `b` attends to its own
/// first `seq_lens[b]` tokens (at most the shape's `context`). An fp8 cache (`kv_fp8=1`) is
/// dequantized exactly: K = e4m3(code)·k_scale[g], V = e4m3(code)·v_scale[g] for KV head g.
pub struct Decode<'a> {
    q: &'a HostTensor,
    k: &'a HostTensor,
    v: &'a HostTensor,
    /// Per-KV-head scales of K and V: 1 for a cache in the dtype.
    scales: [Vec<f64>; 2],
    table: Vec<usize>,
    per_seq: usize,
    lens: Vec<usize>,
    page_size: usize,
    hq: usize,
    hkv: usize,
    d: usize,
    batch: usize,
}

impl<'a> Decode<'a> {
    /// Binds the inputs and checks sizes and page indices.
    pub fn new(spec: &OpSpec, inputs: &'a Inputs) -> Result<Self> {
        let p = DecodeShape::of(spec)?;
        let (batch, ps, hkv, d) = (
            p.batch as usize,
            p.page_size as usize,
            p.heads_kv as usize,
            p.head_dim as usize,
        );
        let per_seq = p.pages_per_seq() as usize;
        let pages = batch * per_seq;
        let table_t = inputs.get("block_table")?;
        expect_len(table_t, batch * per_seq)?;
        let lens = seq_lens(inputs, batch, p.context as usize)?;
        let scales = if p.fp8 {
            let scale = |name| -> Result<Vec<f64>> {
                let t = inputs.get(name)?;
                expect_len(t, hkv)?;
                Ok((0..hkv).map(|g| t.get_f64(g)).collect())
            };
            [scale("k_scale")?, scale("v_scale")?]
        } else {
            [vec![1.0; hkv], vec![1.0; hkv]]
        };
        let r = Decode {
            q: inputs.get("q")?,
            k: inputs.get("k_cache")?,
            v: inputs.get("v_cache")?,
            scales,
            table: indices(table_t, pages)?,
            per_seq,
            lens,
            page_size: ps,
            hq: p.heads_q as usize,
            hkv,
            d,
            batch,
        };
        group_size(r.hq, r.hkv)?;
        expect_len(r.q, batch * r.hq * d)?;
        expect_len(r.k, pages * ps * hkv * d)?;
        expect_len(r.v, pages * ps * hkv * d)?;
        Ok(r)
    }
}

impl OpReference for Decode<'_> {
    fn blocks(&self) -> usize {
        self.batch * self.hq
    }

    fn block_len(&self) -> usize {
        self.d
    }

    fn block_cost(&self) -> f64 {
        (2 * self.lens.iter().max().copied().unwrap_or(0) * self.d) as f64
    }

    fn compute(&self, block: usize, out: &mut [f64]) {
        let (b, h) = (block / self.hq, block % self.hq);
        let g = h / (self.hq / self.hkv);
        let mut q = vec![0.0; self.d];
        load(self.q, block * self.d, &mut q);
        let at = |t: usize| {
            let page = self.table[b * self.per_seq + t / self.page_size];
            ((page * self.page_size + t % self.page_size) * self.hkv + g) * self.d
        };
        let scale = 1.0 / (self.d as f64).sqrt();
        let (ks, vs) = (self.scales[0][g], self.scales[1][g]);
        // Codes are decoded exactly (get_f64) and scaled in f64: both products are exact.
        let dequantized = |t: &HostTensor, at: usize, s: f64, buf: &mut [f64]| {
            load(t, at, buf);
            buf.iter_mut().for_each(|x| *x *= s);
        };
        attend(
            &q,
            self.lens[b],
            scale,
            |t, buf| dequantized(self.k, at(t), ks, buf),
            |t, buf| dequantized(self.v, at(t), vs, buf),
            out,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::op::OpKind;

    #[test]
    fn prefill_by_hand_with_two_tokens() {
        // d = 1, one head: q = [1, 2], k = [0, ln 3 · 1] (scale 1/√1), v = [10, 20].
        // Token 0 (causal) sees only itself: o = 10.
        // Token 1: scores 2·0 = 0 and 2·ln3 → weights 1 : 9 → o = (10 + 9·20)/10 = 19.
        let spec = OpSpec::parse(
            OpKind::AttnPrefill,
            "seq=2,heads_q=1,heads_kv=1,head_dim=1",
            DType::F32,
        )
        .unwrap();
        let ln3 = 3f32.ln();
        let inputs = Inputs {
            fp8: Default::default(),
            tensors: vec![
                HostTensor::from_f32("q", vec![1, 2, 1, 1], DType::F32, &[1.0, 2.0]),
                HostTensor::from_f32("k", vec![1, 2, 1, 1], DType::F32, &[0.0, ln3]),
                HostTensor::from_f32("v", vec![1, 2, 1, 1], DType::F32, &[10.0, 20.0]),
            ],
        };
        let r = Prefill::new(&spec, &inputs).unwrap();
        assert!((r.expected_block(0)[0] - 10.0).abs() < 1e-12);
        assert!((r.expected_block(1)[0] - 19.0).abs() < 1e-5);
    }

    #[test]
    fn decode_follows_the_block_table_and_ignores_tokens_past_the_context() {
        // page_size 2, context 3: pages [1, 0] → tokens live at page1[0], page1[1], page0[0];
        // page0[1] is past the context and holds a huge value that must not count.
        // All keys zero → uniform weights over 3 tokens: o = (1 + 2 + 3) / 3 = 2.
        let spec = OpSpec::parse(
            OpKind::AttnDecode,
            "context=3,heads_q=1,heads_kv=1,head_dim=1,page_size=2",
            DType::F32,
        )
        .unwrap();
        let inputs = Inputs {
            fp8: Default::default(),
            tensors: vec![
                HostTensor::from_f32("q", vec![1, 1, 1], DType::F32, &[0.7]),
                HostTensor::from_f32("k_cache", vec![2, 2, 1, 1], DType::F32, &[0.0; 4]),
                HostTensor::from_f32(
                    "v_cache",
                    vec![2, 2, 1, 1],
                    DType::F32,
                    &[3.0, 1e6, 1.0, 2.0],
                ),
                HostTensor::from_i32("block_table", vec![1, 2], vec![1, 0]),
                HostTensor::from_i32("seq_lens", vec![1], vec![3]),
            ],
        };
        let r = Decode::new(&spec, &inputs).unwrap();
        assert!((r.expected_block(0)[0] - 2.0).abs() < 1e-12);
    }

    #[test]
    fn decode_reads_each_sequences_own_length() {
        // Two sequences of one page (page_size 4), lengths 3 and 1, all keys zero so the
        // weights are uniform over each sequence's own tokens: (1+2+3)/3 = 2 and 10; the
        // tokens past each length hold 1e6 and must not count. A length of 0 gives zeros.
        let spec = OpSpec::parse(
            OpKind::AttnDecode,
            "batch=2,context=4,heads_q=1,heads_kv=1,head_dim=1,page_size=4",
            DType::F32,
        )
        .unwrap();
        let mut tensors = vec![
            HostTensor::from_f32("q", vec![2, 1, 1], DType::F32, &[0.3, -0.2]),
            HostTensor::from_f32("k_cache", vec![2, 4, 1, 1], DType::F32, &[0.0; 8]),
            HostTensor::from_f32(
                "v_cache",
                vec![2, 4, 1, 1],
                DType::F32,
                &[10.0, 1e6, 1e6, 1e6, 1.0, 2.0, 3.0, 1e6],
            ),
            HostTensor::from_i32("block_table", vec![2, 1], vec![1, 0]),
            HostTensor::from_i32("seq_lens", vec![2], vec![3, 1]),
        ];
        let inputs = Inputs {
            fp8: Default::default(),
            tensors: tensors.clone(),
        };
        let r = Decode::new(&spec, &inputs).unwrap();
        assert!((r.expected_block(0)[0] - 2.0).abs() < 1e-12);
        assert!((r.expected_block(1)[0] - 10.0).abs() < 1e-12);
        tensors[4] = HostTensor::from_i32("seq_lens", vec![2], vec![0, 1]);
        let inputs = Inputs {
            fp8: Default::default(),
            tensors,
        };
        assert_eq!(
            Decode::new(&spec, &inputs).unwrap().expected_block(0)[0],
            0.0
        );
        // A length over the context is refused.
        let mut bad = inputs.clone();
        bad.tensors[4] = HostTensor::from_i32("seq_lens", vec![2], vec![5, 1]);
        assert!(Decode::new(&spec, &bad).is_err());
    }

    #[test]
    fn decode_dequantizes_an_fp8_cache_by_its_heads_scales() {
        // Two KV heads of d = 1, one query head each, two tokens on one page of 2.
        // Head 0: K codes 0x38 = 1 and 0x40 = 2, k_scale 0.5 → K = [0.5, 1]; q = ln 3 / 0.5 =
        // 2 ln 3 → scores ln 3 · [1, 2] → weights 3 : 9 = 1 : 3. V codes 0x48 = 4 and 0xc0 = −2,
        // v_scale 0.25 → V = [1, −0.5]: o = (1·1 + 3·(−0.5))/4 = −0.125.
        // Head 1: K codes 0 and 0x01 = 2⁻⁹ with k_scale 0: both keys are zero → equal weights;
        // V codes 0x30 = 0.5, 0x3c = 1.5 with v_scale 2: V = [1, 3] → o = 2.
        let spec = OpSpec::parse(
            OpKind::AttnDecode,
            "context=2,heads_q=2,heads_kv=2,head_dim=1,page_size=2,kv_fp8=1",
            DType::F32,
        )
        .unwrap();
        let codes = |name, v: Vec<u8>| HostTensor {
            name,
            shape: vec![1, 2, 2, 1],
            data: crate::tensor::HostData::Fp8E4m3(v),
        };
        let f32s = |name, v: &[f32]| HostTensor::from_f32(name, vec![v.len()], DType::F32, v);
        let two_ln3 = 2.0 * 3f32.ln();
        let inputs = Inputs {
            fp8: Default::default(),
            tensors: vec![
                HostTensor::from_f32("q", vec![1, 2, 1], DType::F32, &[two_ln3, 5.0]),
                // [page, token, head, d]: token 0 heads 0, 1; token 1 heads 0, 1.
                codes("k_cache", vec![0x38, 0x00, 0x40, 0x01]),
                codes("v_cache", vec![0x48, 0x30, 0xc0, 0x3c]),
                HostTensor::from_i32("block_table", vec![1, 1], vec![0]),
                HostTensor::from_i32("seq_lens", vec![1], vec![2]),
                f32s("k_scale", &[0.5, 0.0]),
                f32s("v_scale", &[0.25, 2.0]),
            ],
        };
        let r = Decode::new(&spec, &inputs).unwrap();
        let (o0, o1) = (r.expected_block(0), r.expected_block(1));
        assert!((o0[0] + 0.125).abs() < 1e-6, "{o0:?}");
        assert!((o1[0] - 2.0).abs() < 1e-12, "{o1:?}");
        // A scale tensor of the wrong length is refused.
        let mut bad = inputs.clone();
        bad.tensors[5] = f32s("k_scale", &[0.5]);
        assert!(Decode::new(&spec, &bad).is_err());
    }

    #[test]
    fn gqa_maps_query_heads_to_their_kv_group() {
        // 4 query heads over 2 KV heads, one token: o = v of the group (softmax of one key = 1).
        let spec = OpSpec::parse(
            OpKind::AttnPrefill,
            "seq=1,heads_q=4,heads_kv=2,head_dim=1",
            DType::F32,
        )
        .unwrap();
        let inputs = Inputs {
            fp8: Default::default(),
            tensors: vec![
                HostTensor::from_f32("q", vec![1, 1, 4, 1], DType::F32, &[1.0; 4]),
                HostTensor::from_f32("k", vec![1, 1, 2, 1], DType::F32, &[1.0; 2]),
                HostTensor::from_f32("v", vec![1, 1, 2, 1], DType::F32, &[5.0, 7.0]),
            ],
        };
        let r = Prefill::new(&spec, &inputs).unwrap();
        let got: Vec<f64> = (0..4).map(|h| r.expected_block(h)[0]).collect();
        assert_eq!(got, vec![5.0, 5.0, 7.0, 7.0]);
    }

    #[test]
    fn out_of_range_page_is_an_error() {
        let spec = OpSpec::parse(
            OpKind::AttnDecode,
            "context=2,heads_q=1,heads_kv=1,head_dim=1,page_size=2",
            DType::F32,
        )
        .unwrap();
        let inputs = Inputs {
            fp8: Default::default(),
            tensors: vec![
                HostTensor::from_f32("q", vec![1, 1, 1], DType::F32, &[0.0]),
                HostTensor::from_f32("k_cache", vec![1, 2, 1, 1], DType::F32, &[0.0; 2]),
                HostTensor::from_f32("v_cache", vec![1, 2, 1, 1], DType::F32, &[0.0; 2]),
                HostTensor::from_i32("block_table", vec![1, 1], vec![5]),
                HostTensor::from_i32("seq_lens", vec![1], vec![2]),
            ],
        };
        assert!(Decode::new(&spec, &inputs).is_err());
    }
}
