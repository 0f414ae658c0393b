//! Paged KV-cache scatter (`kv_write`) and gather (`kv_read`): row copies, parallel over
//! cache slots or tokens.

use rayon::prelude::*;

use hotpath_core::ops::KvShape;
use hotpath_core::{Error, HostTensor, Inputs, OpSpec, Result};

use super::{indices, tensor, HostElem, Kernel};
use crate::kernels::output::output_buffer;

struct WriteSet<E> {
    k: Vec<E>,
    v: Vec<E>,
    cache: Vec<E>,
}

/// `kv_write`: `k,v[T,row]` into `kv_cache[2,slots,row]` at `slot_mapping`.
pub struct KvWrite<E> {
    row: usize,
    slots: usize,
    /// Inverse of the slot mapping, so parallel tasks own disjoint cache slots.
    token_of_slot: Vec<Option<usize>>,
    sets: Vec<WriteSet<E>>,
}

/// Builds `kv_write` with `sets` rotation sets.
pub fn build_write<E: HostElem>(
    spec: &OpSpec,
    inputs: &Inputs,
    sets: usize,
) -> Result<Box<dyn Kernel>> {
    let p = KvShape::of(spec)?;
    let row = p.row() as usize;
    let slots = p.slots() as usize;
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
    let (k, v) = (E::slice(inputs.get("k")?)?, E::slice(inputs.get("v")?)?);
    let sets = (0..sets)
        .into_par_iter()
        .map(|_| WriteSet {
            k: k.to_vec(),
            v: v.to_vec(),
            cache: output_buffer(2 * slots * row),
        })
        .collect();
    Ok(Box::new(KvWrite {
        row,
        slots,
        token_of_slot,
        sets,
    }))
}

impl<E: HostElem> Kernel for KvWrite<E> {
    fn run(&mut self, set: usize) -> Result<()> {
        let row = self.row;
        let s = &mut self.sets[set];
        let (kc, vc) = s.cache.split_at_mut(self.slots * row);
        for (cache, src) in [(kc, &s.k), (vc, &s.v)] {
            cache
                .par_chunks_mut(row)
                .zip(self.token_of_slot.par_iter())
                .for_each(|(dst, t)| {
                    if let Some(t) = t {
                        dst.copy_from_slice(&src[t * row..(t + 1) * row]);
                    }
                });
        }
        Ok(())
    }

    fn output(&self, set: usize) -> HostTensor {
        tensor(
            "kv_cache",
            vec![2, self.slots, self.row],
            self.sets[set].cache.clone(),
        )
    }
}

struct ReadSet<E> {
    k: Vec<E>,
    v: Vec<E>,
    kv: Vec<E>,
}

/// `kv_read`: pages of `k_cache,v_cache` in `block_table` order into `kv[2,T,row]`.
pub struct KvRead<E> {
    row: usize,
    tokens: usize,
    /// Cache slot of every token.
    slot_of_token: Vec<usize>,
    sets: Vec<ReadSet<E>>,
}

/// Builds `kv_read` with `sets` rotation sets.
pub fn build_read<E: HostElem>(
    spec: &OpSpec,
    inputs: &Inputs,
    sets: usize,
) -> Result<Box<dyn Kernel>> {
    let p = KvShape::of(spec)?;
    let row = p.row() as usize;
    let ps = p.page_size as usize;
    let tokens = p.tokens as usize;
    let pages = p.pages() as usize;
    let table = indices(inputs.get("block_table")?, pages)?;
    let slot_of_token = (0..tokens).map(|t| table[t / ps] * ps + t % ps).collect();
    let (k, v) = (
        E::slice(inputs.get("k_cache")?)?,
        E::slice(inputs.get("v_cache")?)?,
    );
    let sets = (0..sets)
        .into_par_iter()
        .map(|_| ReadSet {
            k: k.to_vec(),
            v: v.to_vec(),
            kv: output_buffer(2 * tokens * row),
        })
        .collect();
    Ok(Box::new(KvRead {
        row,
        tokens,
        slot_of_token,
        sets,
    }))
}

impl<E: HostElem> Kernel for KvRead<E> {
    fn run(&mut self, set: usize) -> Result<()> {
        let row = self.row;
        let s = &mut self.sets[set];
        let (ko, vo) = s.kv.split_at_mut(self.tokens * row);
        for (dst_all, src) in [(ko, &s.k), (vo, &s.v)] {
            dst_all
                .par_chunks_mut(row)
                .zip(self.slot_of_token.par_iter())
                .for_each(|(dst, &slot)| {
                    dst.copy_from_slice(&src[slot * row..(slot + 1) * row]);
                });
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
