//! The paged KV cache in fp8 e4m3 (`kv_fp8=1`): `kv_write` quantizes each row into its cache
//! slot, code = e4m3(x·(1/scale)) with the scale of the element's KV head (the f32 operations
//! of the GPU kernels, then round to nearest even, vectorized by `crate::simd::fp8_encode`);
//! `kv_read` gathers cache rows into the dtype, code·scale (`crate::simd::fp8_decode`). A bf16
//! row is widened or rounded in registers on its way (`crate::simd::fp8_encode_bf16`,
//! `fp8_decode_bf16`), other dtypes through an f32 row. Parallel over cache slots or tokens, as
//! `kv.rs`.

use rayon::prelude::*;

use hotpath_core::ops::KvShape;
use hotpath_core::{Error, HostData, HostTensor, Inputs, OpSpec, Result};

use super::{indices, tensor, HostElem, Kernel};
use crate::simd::{fp8_decode, fp8_decode_bf16, fp8_encode, fp8_encode_bf16};

/// The scales of one cache, per KV head: `k_scale`, `v_scale` (f32).
fn scales(inputs: &Inputs, heads_kv: usize) -> Result<[Vec<f32>; 2]> {
    let get = |name| -> Result<Vec<f32>> {
        let s = <f32 as HostElem>::slice(inputs.get(name)?)?;
        if s.len() != heads_kv {
            return Err(Error::backend(format!(
                "'{name}' holds {} scales; the cache has {heads_kv} KV heads",
                s.len()
            )));
        }
        Ok(s.to_vec())
    };
    Ok([get("k_scale")?, get("v_scale")?])
}

struct WriteSet<E> {
    k: Vec<E>,
    v: Vec<E>,
    cache: Vec<u8>,
}

/// `kv_write` into an fp8 cache.
pub struct KvWriteFp8<E> {
    row: usize,
    head_dim: usize,
    slots: usize,
    token_of_slot: Vec<Option<usize>>,
    /// 1/scale per KV head, K then V.
    inverse: [Vec<f32>; 2],
    sets: Vec<WriteSet<E>>,
}

/// Builds `kv_write` into an fp8 cache with `sets` rotation sets.
pub fn build_write<E: HostElem>(
    spec: &OpSpec,
    inputs: &Inputs,
    sets: usize,
) -> Result<Box<dyn Kernel>> {
    let p = KvShape::of(spec)?;
    let (row, slots) = (p.row() as usize, p.slots() as usize);
    let mut token_of_slot = vec![None; slots];
    for (t, slot) in indices(inputs.get("slot_mapping")?, slots)?
        .into_iter()
        .enumerate()
    {
        if token_of_slot[slot].replace(t).is_some() {
            return Err(Error::backend(format!(
                "slot_mapping sends two tokens to slot {slot}"
            )));
        }
    }
    let inverse = scales(inputs, p.heads_kv as usize)?.map(|s| s.iter().map(|x| 1.0 / x).collect());
    let (k, v) = (E::slice(inputs.get("k")?)?, E::slice(inputs.get("v")?)?);
    let sets = (0..sets)
        .map(|_| WriteSet {
            k: k.to_vec(),
            v: v.to_vec(),
            cache: vec![0; 2 * slots * row],
        })
        .collect();
    Ok(Box::new(KvWriteFp8 {
        row,
        head_dim: p.head_dim as usize,
        slots,
        token_of_slot,
        inverse,
        sets,
    }))
}

impl<E: HostElem> Kernel for KvWriteFp8<E> {
    fn run(&mut self, set: usize) -> Result<()> {
        let (row, d) = (self.row, self.head_dim);
        let s = &mut self.sets[set];
        let (kc, vc) = s.cache.split_at_mut(self.slots * row);
        for ((cache, src), inverse) in [(kc, &s.k), (vc, &s.v)].into_iter().zip(&self.inverse) {
            cache
                .par_chunks_mut(row)
                .zip(self.token_of_slot.par_iter())
                .for_each_init(
                    || vec![0f32; row],
                    |wide, (dst, t)| {
                        let Some(t) = t else { return };
                        let x = &src[t * row..(t + 1) * row];
                        let heads = dst.chunks_mut(d).zip(inverse);
                        if let Some(bits) = E::bf16_bits(x) {
                            for ((codes, inv), x) in heads.zip(bits.chunks(d)) {
                                fp8_encode_bf16(x, *inv, codes);
                            }
                        } else {
                            E::widen(x, wide);
                            for ((codes, inv), x) in heads.zip(wide.chunks(d)) {
                                fp8_encode(x, *inv, codes);
                            }
                        }
                    },
                );
        }
        Ok(())
    }

    fn output(&self, set: usize) -> HostTensor {
        HostTensor {
            name: "kv_cache",
            shape: vec![2, self.slots, self.row],
            data: HostData::Fp8E4m3(self.sets[set].cache.clone()),
        }
    }
}

struct ReadSet<E> {
    k: Vec<u8>,
    v: Vec<u8>,
    kv: Vec<E>,
}

/// `kv_read` from an fp8 cache.
pub struct KvReadFp8<E> {
    row: usize,
    head_dim: usize,
    tokens: usize,
    slot_of_token: Vec<usize>,
    scales: [Vec<f32>; 2],
    sets: Vec<ReadSet<E>>,
}

/// Builds `kv_read` from an fp8 cache with `sets` rotation sets.
pub fn build_read<E: HostElem>(
    spec: &OpSpec,
    inputs: &Inputs,
    sets: usize,
) -> Result<Box<dyn Kernel>> {
    let p = KvShape::of(spec)?;
    let (row, ps, tokens) = (p.row() as usize, p.page_size as usize, p.tokens as usize);
    let table = indices(inputs.get("block_table")?, p.pages() as usize)?;
    let slot_of_token = (0..tokens).map(|t| table[t / ps] * ps + t % ps).collect();
    let (k, v) = (
        inputs.get("k_cache")?.as_fp8()?,
        inputs.get("v_cache")?.as_fp8()?,
    );
    let sets = (0..sets)
        .map(|_| ReadSet {
            k: k.to_vec(),
            v: v.to_vec(),
            kv: vec![E::default(); 2 * tokens * row],
        })
        .collect();
    Ok(Box::new(KvReadFp8 {
        row,
        head_dim: p.head_dim as usize,
        tokens,
        slot_of_token,
        scales: scales(inputs, p.heads_kv as usize)?,
        sets,
    }))
}

impl<E: HostElem> Kernel for KvReadFp8<E> {
    fn run(&mut self, set: usize) -> Result<()> {
        let (row, d) = (self.row, self.head_dim);
        let s = &mut self.sets[set];
        let (ko, vo) = s.kv.split_at_mut(self.tokens * row);
        for ((dst_all, src), scale) in [(ko, &s.k), (vo, &s.v)].into_iter().zip(&self.scales) {
            dst_all
                .par_chunks_mut(row)
                .zip(self.slot_of_token.par_iter())
                .for_each_init(
                    || vec![0f32; row],
                    |wide, (dst, &slot)| {
                        let codes = &src[slot * row..(slot + 1) * row];
                        let heads = codes.chunks(d).zip(scale);
                        if let Some(bits) = E::bf16_bits_mut(dst) {
                            for ((c, s), out) in heads.zip(bits.chunks_mut(d)) {
                                fp8_decode_bf16(c, *s, out);
                            }
                        } else {
                            for ((c, s), w) in heads.zip(wide.chunks_mut(d)) {
                                fp8_decode(c, *s, w);
                            }
                            E::narrow(wide, dst);
                        }
                    },
                );
        }
        Ok(())
    }

    fn output(&self, set: usize) -> HostTensor {
        tensor(
            "kv",
            vec![2, self.tokens, self.row],
            self.sets[set].kv.clone(),
        )
    }
}
