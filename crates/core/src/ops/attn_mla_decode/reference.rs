//! Reference of `attn_mla_decode`, in f64: one block per (sequence, query head), the `kv_lora`
//! outputs of `softmax(scale·q·Kᵀ)·V` over the sequence's own `seq_lens[b]` tokens, K the whole
//! cached row of `kv_lora + rope_dim` elements and V its first `kv_lora`. An fp8 cache is
//! decoded exactly by core's e4m3 decoder (in the inputs' encoding) and scaled by `kv_scale`.

use super::MlaShape;
use crate::error::Result;
use crate::inputs::Inputs;
use crate::op::OpSpec;
use crate::reference::attention::{attend, seq_lens};
use crate::reference::{expect_len, indices, load, OpReference};
use crate::tensor::HostTensor;

/// Reference of `attn_mla_decode` (`q[b,hq,w]`, `kv_cache[P,ps,w]`, `block_table[b,⌈L/ps⌉]`,
/// `seq_lens[b]`, `kv_scale[1]` → `o[b,hq,kv_lora]`, w = kv_lora + rope_dim).
pub struct MlaDecode<'a> {
    q: &'a HostTensor,
    cache: &'a HostTensor,
    /// What a cache element is multiplied by: `kv_scale` for fp8 codes, else 1.
    kv_scale: f64,
    table: Vec<usize>,
    per_seq: usize,
    lens: Vec<usize>,
    page_size: usize,
    hq: usize,
    kv_lora: usize,
    width: usize,
}

impl<'a> MlaDecode<'a> {
    /// Binds the inputs and checks sizes, lengths and page indices.
    pub fn new(spec: &OpSpec, inputs: &'a Inputs) -> Result<Self> {
        let p = MlaShape::of(spec)?;
        let (batch, hq, w, ps) = (
            p.batch as usize,
            p.heads_q as usize,
            p.width() as usize,
            p.page_size as usize,
        );
        let per_seq = p.pages_per_seq() as usize;
        let pages = batch * per_seq;
        let table_t = inputs.get("block_table")?;
        expect_len(table_t, pages)?;
        let scale_t = inputs.get("kv_scale")?;
        expect_len(scale_t, 1)?;
        let r = MlaDecode {
            q: inputs.get("q")?,
            cache: inputs.get("kv_cache")?,
            kv_scale: if p.fp8 { scale_t.get_f64(0) } else { 1.0 },
            table: indices(table_t, pages)?,
            per_seq,
            lens: seq_lens(inputs, batch, p.context as usize)?,
            page_size: ps,
            hq,
            kv_lora: p.kv_lora as usize,
            width: w,
        };
        expect_len(r.q, batch * hq * w)?;
        expect_len(r.cache, pages * ps * w)?;
        Ok(r)
    }
}

impl OpReference for MlaDecode<'_> {
    fn blocks(&self) -> usize {
        self.lens.len() * self.hq
    }

    fn block_len(&self) -> usize {
        self.kv_lora
    }

    fn block_cost(&self) -> f64 {
        let longest = self.lens.iter().max().copied().unwrap_or(0);
        (longest * (self.width + self.kv_lora)) as f64
    }

    fn compute(&self, block: usize, out: &mut [f64]) {
        let b = block / self.hq;
        let mut q = vec![0.0; self.width];
        load(self.q, block * self.width, &mut q);
        let at = |t: usize| {
            let page = self.table[b * self.per_seq + t / self.page_size];
            (page * self.page_size + t % self.page_size) * self.width
        };
        // Codes are decoded exactly (get_f64) and scaled in f64: the products are exact. The
        // value is the first `out.len()` = kv_lora elements of the same row.
        let row = |t: usize, buf: &mut [f64]| {
            load(self.cache, at(t), buf);
            buf.iter_mut().for_each(|x| *x *= self.kv_scale);
        };
        let scale = 1.0 / (self.width as f64).sqrt();
        attend(&q, self.lens[b], scale, row, row, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::op::OpKind;
    use crate::tensor::HostData;

    /// kv_lora 1, rope_dim 3 (width 4, scale 1/2), one head, page size 2, three tokens on
    /// pages [1, 0]: token 0 = page 1 slot 0, token 1 = page 1 slot 1, token 2 = page 0 slot
    /// 0; page 0 slot 1 is past the context and holds a huge latent that must not count.
    /// q = [0, 2 ln 3, 0, 0]: only the first RoPE column scores, so with K rows
    /// [10, 0, ·, ·], [20, 1, ·, ·], [30, 0, ·, ·] the scores are 0, ln 3, 0 → weights 1 : 3 : 1
    /// and o = (10 + 3·20 + 30)/5 = 20: V is the latent column, K's RoPE column never a value.
    /// (The reference is built directly: shapes take kv_lora in multiples of 16.)
    #[test]
    fn by_hand_the_value_is_the_latent_and_the_rope_key_only_scores() {
        let ln3 = 3f64.ln();
        let q = HostTensor::from_f32(
            "q",
            vec![1, 1, 4],
            DType::F32,
            &[0.0, 2.0 * ln3 as f32, 0.0, 0.0],
        );
        let cache = HostTensor::from_f32(
            "kv_cache",
            vec![2, 2, 4],
            DType::F32,
            &[
                30.0, 0.0, 5.0, 5.0, // page 0 slot 0: token 2
                1e6, 50.0, 0.0, 0.0, // page 0 slot 1: past the context
                10.0, 0.0, -7.0, 7.0, // page 1 slot 0: token 0
                20.0, 1.0, 3.0, 3.0, // page 1 slot 1: token 1
            ],
        );
        let r = MlaDecode {
            q: &q,
            cache: &cache,
            kv_scale: 1.0,
            table: vec![1, 0],
            per_seq: 2,
            lens: vec![3],
            page_size: 2,
            hq: 1,
            kv_lora: 1,
            width: 4,
        };
        // scale = 1/√4 = 1/2: scores = 2 ln 3 · k1 / 2 = ln 3 · k1.
        let o = r.expected_block(0);
        assert!((o[0] - 20.0).abs() < 1e-9, "{o:?}");
    }

    /// One fp8 token, kv_lora 16 + rope 8: a single key gets weight 1, so o = V = the latent's
    /// codes decoded times kv_scale: code 0x38 = 1.0 and 0xc0 = −2.0 at scale 0.25 give 0.25
    /// and −0.5. A scale tensor of the wrong length is refused.
    #[test]
    fn an_fp8_cache_is_decoded_and_scaled_once() {
        let spec = OpSpec::parse(
            OpKind::AttnMlaDecode,
            "context=1,heads_q=1,kv_lora=16,rope_dim=8,page_size=1,kv_fp8=1",
            DType::F32,
        )
        .unwrap();
        let mut codes = vec![0x38u8; 24];
        codes[1] = 0xc0;
        let inputs = Inputs {
            fp8: Default::default(),
            tensors: vec![
                HostTensor::from_f32("q", vec![1, 1, 24], DType::F32, &[0.5; 24]),
                HostTensor {
                    name: "kv_cache",
                    shape: vec![1, 1, 24],
                    data: HostData::Fp8E4m3(codes),
                },
                HostTensor::from_i32("block_table", vec![1, 1], vec![0]),
                HostTensor::from_i32("seq_lens", vec![1], vec![1]),
                HostTensor::from_f32("kv_scale", vec![1], DType::F32, &[0.25]),
            ],
        };
        let r = MlaDecode::new(&spec, &inputs).unwrap();
        let o = r.expected_block(0);
        assert_eq!(o.len(), 16);
        assert_eq!((o[0], o[1], o[2]), (0.25, -0.5, 0.25));
        let mut bad = inputs.clone();
        bad.tensors[4] = HostTensor::from_f32("kv_scale", vec![2], DType::F32, &[0.25; 2]);
        assert!(MlaDecode::new(&spec, &bad).is_err());
        // A length over the context is refused, an empty sequence gives zeros.
        bad = inputs.clone();
        bad.tensors[3] = HostTensor::from_i32("seq_lens", vec![1], vec![2]);
        assert!(MlaDecode::new(&spec, &bad).is_err());
        bad.tensors[3] = HostTensor::from_i32("seq_lens", vec![1], vec![0]);
        assert!(MlaDecode::new(&spec, &bad)
            .unwrap()
            .expected_block(0)
            .iter()
            .all(|&x| x == 0.0));
    }
}
