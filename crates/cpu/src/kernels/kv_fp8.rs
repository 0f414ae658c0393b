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
use crate::kernels::output::output_buffer;
use crate::simd::{
    fp8_decode, fp8_decode_bf16, fp8_encode, fp8_encode_bf16_streaming, prefetch, store_fence,
};

/// Rows (cache slots or tokens) per parallel task.
const ROWS_PER_TASK: usize = 32;
/// How many rows ahead the scattered source rows are prefetched.
const AHEAD: usize = 2;

/// The scales of one cache, per KV head: `k_scale`, `v_scale` (f32); the fp8 KV ops and
/// decode attention over an fp8 cache read them alike.
pub(crate) fn scales(inputs: &Inputs, heads_kv: usize) -> Result<[Vec<f32>; 2]> {
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

/// One cache line of bytes: the cache is allocated in them, so its rows start on lines.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

impl Default for Line {
    fn default() -> Line {
        Line([0; 64])
    }
}

/// `len` bytes starting on a cache line.
struct LineBytes {
    lines: Vec<Line>,
    len: usize,
}

impl LineBytes {
    fn zeroed(len: usize) -> LineBytes {
        LineBytes {
            lines: output_buffer(len.div_ceil(64)),
            len,
        }
    }
    fn bytes(&self) -> &[u8] {
        // SAFETY: the lines hold at least `len` bytes, and a Line is 64 bytes and nothing else
        // (repr C, no padding).
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr() as *const u8, self.len) }
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above.
        unsafe { std::slice::from_raw_parts_mut(self.lines.as_mut_ptr() as *mut u8, self.len) }
    }
}

/// The rows of one cache half, written from parallel tasks each to rows no other task writes.
struct ScatteredRows {
    base: *mut u8,
    len: usize,
}

// SAFETY: tasks write disjoint rows (ScatteredRows::row's contract).
unsafe impl Sync for ScatteredRows {}

impl ScatteredRows {
    /// Row `slot` of `row` bytes.
    ///
    /// # Safety
    /// No other live reference may cover the row: each slot is written by one task only
    /// (`build_write` refuses a mapping that sends two tokens to one slot).
    #[allow(clippy::mut_from_ref)]
    unsafe fn row(&self, slot: usize, row: usize) -> &mut [u8] {
        assert!((slot + 1) * row <= self.len, "slot {slot} past the cache");
        std::slice::from_raw_parts_mut(self.base.add(slot * row), row)
    }
}

struct WriteSet<E> {
    k: Vec<E>,
    v: Vec<E>,
    cache: LineBytes,
}

/// `kv_write` into an fp8 cache: tokens in order (their rows read as they lie), each row's
/// codes streamed to its scattered slot.
pub struct KvWriteFp8<E> {
    row: usize,
    head_dim: usize,
    slots: usize,
    slot_of_token: Vec<usize>,
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
    let slot_of_token = indices(inputs.get("slot_mapping")?, slots)?;
    let mut taken = vec![false; slots];
    for &slot in &slot_of_token {
        if std::mem::replace(&mut taken[slot], true) {
            return Err(Error::backend(format!(
                "slot_mapping sends two tokens to slot {slot}"
            )));
        }
    }
    let inverse = scales(inputs, p.heads_kv as usize)?.map(|s| s.iter().map(|x| 1.0 / x).collect());
    let (k, v) = (E::slice(inputs.get("k")?)?, E::slice(inputs.get("v")?)?);
    let sets = (0..sets)
        .into_par_iter()
        .map(|_| WriteSet {
            k: k.to_vec(),
            v: v.to_vec(),
            cache: LineBytes::zeroed(2 * slots * row),
        })
        .collect();
    Ok(Box::new(KvWriteFp8 {
        row,
        head_dim: p.head_dim as usize,
        slots,
        slot_of_token,
        inverse,
        sets,
    }))
}

impl<E: HostElem> Kernel for KvWriteFp8<E> {
    fn run(&mut self, set: usize) -> Result<()> {
        let (row, d) = (self.row, self.head_dim);
        let s = &mut self.sets[set];
        let (kc, vc) = s.cache.bytes_mut().split_at_mut(self.slots * row);
        for ((cache, src), inverse) in [(kc, &s.k), (vc, &s.v)].into_iter().zip(&self.inverse) {
            let rows = ScatteredRows {
                base: cache.as_mut_ptr(),
                len: cache.len(),
            };
            let slot_of_token = &self.slot_of_token;
            src.par_chunks(ROWS_PER_TASK * row)
                .enumerate()
                .for_each_init(
                    || vec![0f32; row],
                    |wide, (task, xs)| {
                        for (i, x) in xs.chunks(row).enumerate() {
                            let slot = slot_of_token[task * ROWS_PER_TASK + i];
                            // SAFETY: every token has a slot of its own (checked in build).
                            let dst = unsafe { rows.row(slot, row) };
                            let heads = dst.chunks_mut(d).zip(inverse);
                            if let Some(bits) = E::bf16_bits(x) {
                                for ((codes, inv), x) in heads.zip(bits.chunks(d)) {
                                    fp8_encode_bf16_streaming(x, *inv, codes);
                                }
                            } else {
                                E::widen(x, wide);
                                for ((codes, inv), x) in heads.zip(wide.chunks(d)) {
                                    fp8_encode(x, *inv, codes);
                                }
                            }
                        }
                        store_fence();
                    },
                );
        }
        Ok(())
    }

    fn output(&self, set: usize) -> HostTensor {
        HostTensor {
            name: "kv_cache",
            shape: vec![2, self.slots, self.row],
            data: HostData::Fp8E4m3(self.sets[set].cache.bytes().to_vec()),
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
        .into_par_iter()
        .map(|_| ReadSet {
            k: k.to_vec(),
            v: v.to_vec(),
            kv: output_buffer::<E>(2 * tokens * row),
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
            let slot_of_token = &self.slot_of_token;
            dst_all
                .par_chunks_mut(ROWS_PER_TASK * row)
                .enumerate()
                .for_each_init(
                    || vec![0f32; row],
                    |wide, (task, dsts)| {
                        for (i, dst) in dsts.chunks_mut(row).enumerate() {
                            let t = task * ROWS_PER_TASK + i;
                            // Pages are scattered: the rows ahead start on their way.
                            if let Some(&ahead) = slot_of_token.get(t + AHEAD) {
                                prefetch(&src[ahead * row..(ahead + 1) * row]);
                            }
                            let slot = slot_of_token[t];
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
