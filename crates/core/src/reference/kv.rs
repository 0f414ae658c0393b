//! KV-cache references: the paged scatter (`kv_write`) and gather (`kv_read`), one cache slot
//! or token row (`heads_kv·head_dim` values) of K or V per block. With an fp8 cache
//! (`kv_fp8=1`) the scatter's expected cache holds e4m3(x·(1/scale)) — the same f32
//! operations a kernel does, then the encoder of the inputs' fp8 encoding
//! ([`Fp8Encoding::encode`]: OCP e4m3, or e4m3fnuz on gfx94x) — and the gather's expected
//! rows are code·scale, per KV head, the codes decoded in their tensor's encoding.

use super::{expect_len, indices, load, OpReference};
use crate::error::{Error, Result};
use crate::fp8::Fp8Encoding;
use crate::inputs::Inputs;
use crate::op::OpSpec;
use crate::ops::KvShape;
use crate::tensor::HostTensor;

/// Reference of `kv_write`: `k,v[T,hkv,d]` scattered by `slot_mapping[T]` into
/// `kv_cache[2,P·ps,hkv,d]`, which is zero everywhere nothing was written.
pub struct Write<'a> {
    k: &'a HostTensor,
    v: &'a HostTensor,
    token_of_slot: Vec<Option<usize>>,
    row: usize,
    fp8: Option<Fp8Scales<'a>>,
}

/// The per-head scales of an fp8 cache and the head width they are indexed by.
struct Fp8Scales<'a> {
    k: &'a HostTensor,
    v: &'a HostTensor,
    head_dim: usize,
    encoding: Fp8Encoding,
}

impl<'a> Fp8Scales<'a> {
    /// The scales of `inputs` when `p` is an fp8 cache.
    fn of(p: &KvShape, inputs: &'a Inputs) -> Result<Option<Self>> {
        if !p.fp8 {
            return Ok(None);
        }
        let (k, v) = (inputs.get("k_scale")?, inputs.get("v_scale")?);
        expect_len(k, p.heads_kv as usize)?;
        expect_len(v, p.heads_kv as usize)?;
        Ok(Some(Fp8Scales {
            k,
            v,
            head_dim: p.head_dim as usize,
            encoding: inputs.fp8,
        }))
    }

    /// The scale of element `i` of a row of K (`key`) or V.
    fn at(&self, key: bool, i: usize) -> f32 {
        let t = if key { self.k } else { self.v };
        t.get_f64(i / self.head_dim) as f32
    }
}

impl<'a> Write<'a> {
    /// Binds the inputs and inverts the slot mapping (two tokens may not share a slot).
    pub fn new(spec: &OpSpec, inputs: &'a Inputs) -> Result<Self> {
        let p = KvShape::of(spec)?;
        let t = p.tokens as usize;
        let row = p.row() as usize;
        let slots = p.slots() as usize;
        let (k, v) = (inputs.get("k")?, inputs.get("v")?);
        expect_len(k, t * row)?;
        expect_len(v, t * row)?;
        let mapping_t = inputs.get("slot_mapping")?;
        expect_len(mapping_t, t)?;
        let mut token_of_slot = vec![None; slots];
        for (token, slot) in indices(mapping_t, slots)?.into_iter().enumerate() {
            if token_of_slot[slot].replace(token).is_some() {
                return Err(Error::backend(format!(
                    "slot_mapping sends two tokens to slot {slot}"
                )));
            }
        }
        Ok(Write {
            k,
            v,
            token_of_slot,
            row,
            fp8: Fp8Scales::of(&p, inputs)?,
        })
    }
}

impl OpReference for Write<'_> {
    fn blocks(&self) -> usize {
        2 * self.token_of_slot.len()
    }

    fn block_len(&self) -> usize {
        self.row
    }

    fn block_cost(&self) -> f64 {
        self.row as f64
    }

    fn compute(&self, block: usize, out: &mut [f64]) {
        let slots = self.token_of_slot.len();
        let key = block < slots;
        let source = if key { self.k } else { self.v };
        match self.token_of_slot[block % slots] {
            Some(token) => load(source, token * self.row, out),
            None => out.fill(0.0),
        }
        if let Some(scales) = &self.fp8 {
            for (i, o) in out.iter_mut().enumerate() {
                let code = scales
                    .encoding
                    .encode(*o as f32 * (1.0 / scales.at(key, i)));
                *o = scales.encoding.decode(code) as f64;
            }
        }
    }
}

/// Reference of `kv_read`: token `t` of `kv[2,T,hkv,d]` comes from page `block_table[t/ps]`,
/// offset `t % ps`, of `k_cache` / `v_cache`.
pub struct Read<'a> {
    k: &'a HostTensor,
    v: &'a HostTensor,
    table: Vec<usize>,
    tokens: usize,
    page_size: usize,
    row: usize,
    fp8: Option<Fp8Scales<'a>>,
}

impl<'a> Read<'a> {
    /// Binds the inputs and checks sizes and page indices.
    pub fn new(spec: &OpSpec, inputs: &'a Inputs) -> Result<Self> {
        let p = KvShape::of(spec)?;
        let ps = p.page_size as usize;
        let row = p.row() as usize;
        let pages = p.pages() as usize;
        let (k, v) = (inputs.get("k_cache")?, inputs.get("v_cache")?);
        expect_len(k, pages * ps * row)?;
        expect_len(v, pages * ps * row)?;
        let table_t = inputs.get("block_table")?;
        expect_len(table_t, pages)?;
        Ok(Read {
            k,
            v,
            table: indices(table_t, pages)?,
            tokens: p.tokens as usize,
            page_size: ps,
            row,
            fp8: Fp8Scales::of(&p, inputs)?,
        })
    }
}

impl OpReference for Read<'_> {
    fn blocks(&self) -> usize {
        2 * self.tokens
    }

    fn block_len(&self) -> usize {
        self.row
    }

    fn block_cost(&self) -> f64 {
        self.row as f64
    }

    fn compute(&self, block: usize, out: &mut [f64]) {
        let source = if block < self.tokens { self.k } else { self.v };
        let t = block % self.tokens;
        let slot = self.table[t / self.page_size] * self.page_size + t % self.page_size;
        load(source, slot * self.row, out);
        if let Some(scales) = &self.fp8 {
            for (i, o) in out.iter_mut().enumerate() {
                *o *= scales.at(block < self.tokens, i) as f64;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::op::OpKind;

    #[test]
    fn write_scatters_by_slot_and_zeroes_the_rest() {
        // 3 tokens, page_size 2 → 2 pages, 4 slots; row = 1. Mapping [3, 0, 2]:
        // K slots = [k1, 0, k2, k0], V slots likewise.
        let spec = OpSpec::parse(
            OpKind::KvWrite,
            "tokens=3,heads_kv=1,head_dim=1,page_size=2",
            DType::F32,
        )
        .unwrap();
        let inputs = Inputs {
            fp8: Default::default(),
            tensors: vec![
                HostTensor::from_f32("k", vec![3, 1, 1], DType::F32, &[1.0, 2.0, 3.0]),
                HostTensor::from_f32("v", vec![3, 1, 1], DType::F32, &[4.0, 5.0, 6.0]),
                HostTensor::from_i32("slot_mapping", vec![3], vec![3, 0, 2]),
            ],
        };
        let r = Write::new(&spec, &inputs).unwrap();
        assert_eq!(
            r.expected_output(),
            vec![2.0, 0.0, 3.0, 1.0, 5.0, 0.0, 6.0, 4.0]
        );
    }

    #[test]
    fn write_rejects_two_tokens_in_one_slot() {
        let spec = OpSpec::parse(
            OpKind::KvWrite,
            "tokens=2,heads_kv=1,head_dim=1,page_size=2",
            DType::F32,
        )
        .unwrap();
        let inputs = Inputs {
            fp8: Default::default(),
            tensors: vec![
                HostTensor::from_f32("k", vec![2, 1, 1], DType::F32, &[1.0, 2.0]),
                HostTensor::from_f32("v", vec![2, 1, 1], DType::F32, &[1.0, 2.0]),
                HostTensor::from_i32("slot_mapping", vec![2], vec![1, 1]),
            ],
        };
        assert!(Write::new(&spec, &inputs).is_err());
    }

    #[test]
    fn an_fp8_write_quantizes_by_the_head_scale() {
        // 1 token, 2 heads of 1, page_size 1, slot 0. K = [0.5, −0.3]; k_scale = [1/64, 1/8]:
        // codes e4m3(32) = 32 and e4m3(−2.4) = −2.5 (grid step 0.25 in [2, 4); 2.4 rounds up);
        // V = [1, 1]; v_scale = [1/240, 1]: e4m3(240) = 240, e4m3(1) = 1.
        let spec = OpSpec::parse(
            OpKind::KvWrite,
            "tokens=1,heads_kv=2,head_dim=1,page_size=1,kv_fp8=1",
            DType::F32,
        )
        .unwrap();
        let f32s = |name, v: &[f32]| HostTensor::from_f32(name, vec![v.len()], DType::F32, v);
        let inputs = Inputs {
            fp8: Default::default(),
            tensors: vec![
                f32s("k", &[0.5, -0.3]),
                f32s("v", &[1.0, 1.0]),
                HostTensor::from_i32("slot_mapping", vec![1], vec![0]),
                f32s("k_scale", &[1.0 / 64.0, 0.125]),
                f32s("v_scale", &[1.0 / 240.0, 1.0]),
            ],
        };
        let r = Write::new(&spec, &inputs).unwrap();
        assert_eq!(r.expected_output(), vec![32.0, -2.5, 240.0, 1.0]);
    }

    #[test]
    fn an_fp8_read_dequantizes_by_the_head_scale_in_either_encoding() {
        // 1 token, 2 heads of 1, one page of 1: K codes [0x38, 0xc0], V [0x40, 0x01]; scales k
        // [0.5, 3], v [0.25, 512]. OCP: K codes 1, −2 and V codes 2, 2⁻⁹ give K = [0.5, −6],
        // V = [0.5, 1]; e4m3fnuz codes are worth half (0.5, −1, 1, 2⁻¹⁰): K = [0.25, −3],
        // V = [0.25, 0.5].
        let spec = OpSpec::parse(
            OpKind::KvRead,
            "tokens=1,heads_kv=2,head_dim=1,page_size=1,kv_fp8=1",
            DType::Bf16,
        )
        .unwrap();
        let f32s = |name, v: &[f32]| HostTensor::from_f32(name, vec![v.len()], DType::F32, v);
        for (fp8, want) in [
            (Fp8Encoding::E4m3, vec![0.5, -6.0, 0.5, 1.0]),
            (Fp8Encoding::E4m3Fnuz, vec![0.25, -3.0, 0.25, 0.5]),
        ] {
            let codes = |name, v: Vec<u8>| HostTensor {
                name,
                shape: vec![1, 1, 2, 1],
                data: match fp8 {
                    Fp8Encoding::E4m3 => crate::tensor::HostData::Fp8E4m3(v),
                    Fp8Encoding::E4m3Fnuz => crate::tensor::HostData::Fp8E4m3Fnuz(v),
                },
            };
            let inputs = Inputs {
                fp8,
                tensors: vec![
                    codes("k_cache", vec![0x38, 0xc0]),
                    codes("v_cache", vec![0x40, 0x01]),
                    HostTensor::from_i32("block_table", vec![1], vec![0]),
                    f32s("k_scale", &[0.5, 3.0]),
                    f32s("v_scale", &[0.25, 512.0]),
                ],
            };
            let r = Read::new(&spec, &inputs).unwrap();
            assert_eq!(r.expected_output(), want, "{fp8}");
        }
    }

    #[test]
    fn an_fp8_write_encodes_in_the_inputs_encoding() {
        // K = [0.5, 2⁻¹⁰], k_scale = [1/64, 1]; V = [1, 1], v_scale = [1/300, 1]. e4m3fnuz:
        // 32, 2⁻¹⁰ (its smallest subnormal), 240 (saturated), 1. OCP e4m3 from the same
        // inputs: 32, 0 (2⁻¹⁰ is half its smallest subnormal, a tie to even), 288, 1.
        let spec = OpSpec::parse(
            OpKind::KvWrite,
            "tokens=1,heads_kv=2,head_dim=1,page_size=1,kv_fp8=1",
            DType::F32,
        )
        .unwrap();
        let f32s = |name, v: &[f32]| HostTensor::from_f32(name, vec![v.len()], DType::F32, v);
        let tiny = 2f32.powi(-10);
        let inputs = |fp8| Inputs {
            fp8,
            tensors: vec![
                f32s("k", &[0.5, tiny]),
                f32s("v", &[1.0, 1.0]),
                HostTensor::from_i32("slot_mapping", vec![1], vec![0]),
                f32s("k_scale", &[1.0 / 64.0, 1.0]),
                f32s("v_scale", &[1.0 / 300.0, 1.0]),
            ],
        };
        let fnuz = inputs(Fp8Encoding::E4m3Fnuz);
        let r = Write::new(&spec, &fnuz).unwrap();
        assert_eq!(r.expected_output(), vec![32.0, tiny as f64, 240.0, 1.0]);
        let ocp = inputs(Fp8Encoding::E4m3);
        let r = Write::new(&spec, &ocp).unwrap();
        assert_eq!(r.expected_output(), vec![32.0, 0.0, 288.0, 1.0]);
    }

    #[test]
    fn read_gathers_pages_in_table_order() {
        // 3 tokens, page_size 2, table [1, 0]: tokens come from slots 2, 3, 0.
        let spec = OpSpec::parse(
            OpKind::KvRead,
            "tokens=3,heads_kv=1,head_dim=1,page_size=2",
            DType::F32,
        )
        .unwrap();
        let inputs = Inputs {
            fp8: Default::default(),
            tensors: vec![
                HostTensor::from_f32(
                    "k_cache",
                    vec![2, 2, 1, 1],
                    DType::F32,
                    &[10.0, 11.0, 12.0, 13.0],
                ),
                HostTensor::from_f32(
                    "v_cache",
                    vec![2, 2, 1, 1],
                    DType::F32,
                    &[20.0, 21.0, 22.0, 23.0],
                ),
                HostTensor::from_i32("block_table", vec![2], vec![1, 0]),
            ],
        };
        let r = Read::new(&spec, &inputs).unwrap();
        assert_eq!(
            r.expected_output(),
            vec![12.0, 13.0, 10.0, 22.0, 23.0, 20.0]
        );
    }
}
