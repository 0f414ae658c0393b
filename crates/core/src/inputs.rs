//! Deterministic inputs for every op, and the layout contract backends and references share.
//!
//! Layouts (row-major, outermost first; `P` = pages, `ps` = page_size):
//!
//! | op | inputs | output |
//! |---|---|---|
//! | gemm, gemv | `a[m,k]`, `w[n,k]` | `c[m,n]` |
//! | attn_prefill | `q[b,S,hq,d]`, `k[b,S,hkv,d]`, `v[b,S,hkv,d]` | `o[b,S,hq,d]` |
//! | attn_decode | `q[b,hq,d]`, `k_cache[P,ps,hkv,d]`, `v_cache`, `block_table[b,⌈L/ps⌉]` (i32), `seq_lens[b]` (i32, every entry `L`; a kernel reads each sequence's own length), `k_scale[hkv]`, `v_scale[hkv]` (f32; read only under `kv_fp8=1`, where the caches hold fp8 e4m3 codes) | `o[b,hq,d]` |
//! | kv_write | `k[T,hkv,d]`, `v[T,hkv,d]`, `slot_mapping[T]` (i32, slot = page·ps + offset) | `kv_cache[2,P·ps,hkv,d]`, zero before the write |
//! | kv_read | `k_cache[P,ps,hkv,d]`, `v_cache`, `block_table[P]` (i32) | `kv[2,T,hkv,d]` |
//! | add_rmsnorm | `x[T,h]`, `residual[T,h]`, `weight[h]` | `out[2,T,h]`: y, then r = x + residual |
//! | silu_mul | `x[T,2I]` (gate, then up, per row) | `out[T,I]` = silu(gate)·up |
//! | rope | `positions[T]` (i32, in 0..max_position), `qk[T,hq+hkv,d]`, `cos_sin[max_position,r]` (f32 whatever the dtype: cos, then sin, of p·θ_i) | `out[T,hq+hkv,d]`, the first r of every head rotated |
//! | copy | `a[N]` | `b[N]` |
//! | read, l2_read | `a[N]`, values in [0,1) | `sum[1]` (f32) |
//! | h2d, d2h | `a[N]` (host / device) | `b[N]` (device / host) |
//! | launch | none | none (time only) |
//! | write | none | `a[N]`, every element [`WRITE_VALUE`] |
//! | triad | `b[N]`, `c[N]` | `a[N] = b + TRIAD_SCALAR·c` |
//! | peak_mma | none | one f32 per lane. f32: each lane runs `x ← x·PEAK_ALPHA + PEAK_BETA` `iters` times from 0 (FMA units). f16/bf16/fp8: matrix units run `C ← A·B + C` `iters` times from 0 with every A entry [`PEAK_MMA_STEP`] and B an identity, so every lane ends at `iters·PEAK_MMA_STEP` |
//!
//! Attention uses scale 1/√d. Pages are assigned by a random permutation so a paged kernel
//! cannot get away with reading contiguous memory; tokens past the context in the last page
//! hold random values that must be ignored.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::fp8::Fp8Encoding;
use crate::op::{OpKind, OpSpec, Sat};
use crate::ops;
use crate::tensor::HostTensor;

/// Value every element of the `write` ceiling's output holds (exact in every dtype).
pub const WRITE_VALUE: f32 = 1.25;
/// Scalar `q` of the triad `a = b + q·c` (exact in every dtype).
pub const TRIAD_SCALAR: f32 = 0.5;
/// Multiplier of the `peak_mma` chain, 1 - 2⁻¹⁰ (exact in f32).
pub const PEAK_ALPHA: f32 = 1.0 - 1.0 / 1024.0;
/// Addend of the `peak_mma` chain, 2⁻¹⁰, so the chain converges to 1.
pub const PEAK_BETA: f32 = 1.0 / 1024.0;
/// What one matrix-unit `peak_mma` step adds to every accumulator lane, 2⁻⁶ (exact in every
/// dtype; `iters·2⁻⁶` stays exact in f32 up to 2²⁴ steps).
pub const PEAK_MMA_STEP: f32 = 1.0 / 64.0;

const CHUNK: usize = 1 << 16;

/// The inputs of one benchmark, in the order of the layout table.
#[derive(Clone, Debug)]
pub struct Inputs {
    /// The encoding of the fp8 codes among the tensors and of those the op writes (the
    /// device's: [`Fp8Encoding::for_arch`]); the references decode and encode in it.
    pub fp8: Fp8Encoding,
    /// The tensors, each named as in the layout table.
    pub tensors: Vec<HostTensor>,
}

impl Inputs {
    /// The tensor called `name`.
    pub fn get(&self, name: &str) -> Result<&HostTensor> {
        self.tensors
            .iter()
            .find(|t| t.name == name)
            .ok_or_else(|| Error::backend(format!("input tensor '{name}' is missing")))
    }

    /// Bytes held by all input tensors.
    pub fn size_bytes(&self) -> u64 {
        self.tensors.iter().map(HostTensor::size_bytes).sum()
    }
}

/// Number of pages needed for `tokens` tokens at `page_size` tokens per page.
pub fn pages_for(tokens: u64, page_size: u64) -> u64 {
    tokens.div_ceil(page_size)
}

/// Shape of the output tensor, or `None` for `peak_mma` (one value per lane, backend-defined).
pub fn output_shape(spec: &OpSpec) -> Result<Option<Vec<usize>>> {
    ops::def(spec.op).output_shape(spec)
}

/// Bytes of one output set in the op's output dtype (`read` returns one f32); saturates at
/// u64::MAX for shapes too large to count.
pub fn output_bytes(spec: &OpSpec) -> Result<u64> {
    let size = ops::def(spec.op).output_dtype(spec).size_bytes();
    Ok(match output_shape(spec)? {
        Some(shape) => {
            shape
                .iter()
                .fold(Sat(size), |acc, &x| acc * Sat(x as u64))
                .0
        }
        None => 0,
    })
}

/// Bytes one rotation set of inputs and outputs occupies, computed without allocating.
/// Saturates at u64::MAX for shapes too large to count, which no device has room for.
pub fn footprint_bytes(spec: &OpSpec) -> Result<u64> {
    Ok((ops::def(spec.op).input_bytes(spec)? + Sat(output_bytes(spec)?)).0)
}

/// The names of `op`'s input tensors in layout order (what [`generate`] returns, without
/// generating anything): plan arguments `Input(i)` name `input_names(op)[i]`.
pub fn input_names(op: OpKind) -> &'static [&'static str] {
    ops::def(op).input_names()
}

/// Generates the inputs of `spec` from `seed`, fp8 codes in OCP e4m3. The same seed always
/// gives the same values, so a backend and the reference see identical inputs.
pub fn generate(spec: &OpSpec, seed: u64) -> Result<Inputs> {
    generate_in(spec, seed, Fp8Encoding::E4m3)
}

/// Generates the inputs of `spec` from `seed` with fp8 codes in `fp8`, the encoding of the
/// device that runs them ([`crate::Device::fp8_encoding`]).
pub fn generate_in(spec: &OpSpec, seed: u64, fp8: Fp8Encoding) -> Result<Inputs> {
    let mut gen = Gen { seed, next: 0, fp8 };
    Ok(Inputs {
        fp8,
        tensors: ops::def(spec.op).generate(spec, &mut gen)?,
    })
}

/// A seed derived from the spec, so every run of the same benchmark uses the same inputs.
pub fn seed_for(spec: &OpSpec) -> u64 {
    // FNV-1a over the spec text: stable across runs and platforms.
    spec.to_string()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
        })
}

/// Deterministic tensors from one seed: each tensor draws from its own stream.
pub struct Gen {
    seed: u64,
    next: u64,
    fp8: Fp8Encoding,
}

impl Gen {
    /// The encoding fp8 tensors are generated in.
    pub(crate) fn fp8(&self) -> Fp8Encoding {
        self.fp8
    }

    fn stream(&mut self) -> u64 {
        self.next += 1;
        self.seed ^ self.next.wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }

    /// A tensor of values uniform in [lo, hi), stored in `dtype` (fp8 in [`Gen::fp8`]'s
    /// encoding, saturated at its largest finite value).
    pub(crate) fn uniform(
        &mut self,
        name: &'static str,
        shape: Vec<usize>,
        dtype: DType,
        lo: f32,
        hi: f32,
    ) -> HostTensor {
        let n: usize = shape.iter().product();
        let stream = self.stream();
        let mut values = vec![0f32; n];
        values
            .par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(i, chunk)| {
                let mut rng = ChaCha8Rng::seed_from_u64(
                    stream ^ (i as u64).wrapping_mul(0xd1b5_4a32_d192_ed03),
                );
                for v in chunk {
                    *v = rng.random_range(lo..hi);
                }
            });
        HostTensor::from_f32_in(name, shape, dtype, self.fp8, &values)
    }

    /// A tensor of uniformly random 32-bit words (packed int4 codes: every nibble uniform
    /// in 0..15).
    pub(crate) fn words(&mut self, name: &'static str, shape: Vec<usize>) -> HostTensor {
        let n: usize = shape.iter().product();
        let stream = self.stream();
        let mut words = vec![0u32; n];
        words
            .par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(i, chunk)| {
                let mut rng = ChaCha8Rng::seed_from_u64(
                    stream ^ (i as u64).wrapping_mul(0xd1b5_4a32_d192_ed03),
                );
                for w in chunk {
                    *w = rng.random();
                }
            });
        HostTensor::from_u32(name, shape, words)
    }

    /// A tensor of i32 values uniform in [lo, hi) (`lo` alone when the range is empty).
    pub(crate) fn ints(
        &mut self,
        name: &'static str,
        shape: Vec<usize>,
        lo: i32,
        hi: i32,
    ) -> HostTensor {
        let mut rng = ChaCha8Rng::seed_from_u64(self.stream());
        let n: usize = shape.iter().product();
        let v = (0..n)
            .map(|_| {
                if hi > lo {
                    rng.random_range(lo..hi)
                } else {
                    lo
                }
            })
            .collect();
        HostTensor::from_i32(name, shape, v)
    }

    /// The first `shape`-many entries of a random permutation of 0..n (i32).
    pub(crate) fn permutation(
        &mut self,
        name: &'static str,
        shape: Vec<usize>,
        n: usize,
    ) -> HostTensor {
        let mut rng = ChaCha8Rng::seed_from_u64(self.stream());
        let mut v: Vec<i32> = (0..n as i32).collect();
        for i in (1..n).rev() {
            let j = rng.random_range(0..=i);
            v.swap(i, j);
        }
        let keep: usize = shape.iter().product();
        v.truncate(keep);
        HostTensor::from_i32(name, shape, v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_shaped() {
        let spec = OpSpec::parse(
            OpKind::AttnDecode,
            "batch=2,context=33,page_size=16",
            DType::Bf16,
        )
        .unwrap();
        let a = generate(&spec, 7).unwrap();
        let b = generate(&spec, 7).unwrap();
        assert_eq!(a.tensors, b.tensors);
        let bt = a.get("block_table").unwrap();
        assert_eq!(bt.shape, vec![2, 3]);
        let mut pages: Vec<i32> = bt.as_i32().unwrap().to_vec();
        pages.sort();
        assert_eq!(pages, (0..6).collect::<Vec<_>>(), "every page used once");
        assert_eq!(a.get("k_cache").unwrap().shape, vec![6, 16, 8, 128]);
        assert_ne!(generate(&spec, 8).unwrap().tensors, a.tensors);
    }

    #[test]
    fn input_names_are_what_generate_returns() {
        for op in OpKind::ALL {
            let shape = op.small_shape();
            let spec = OpSpec::parse(op, shape, DType::F32).unwrap();
            let names: Vec<&str> = generate(&spec, 1)
                .unwrap()
                .tensors
                .iter()
                .map(|t| t.name)
                .collect();
            assert_eq!(names, input_names(op), "{op}");
        }
    }

    #[test]
    fn ints_are_deterministic_in_range_and_spread() {
        let draw = |seed| {
            let mut gen = Gen {
                seed,
                next: 0,
                fp8: Fp8Encoding::E4m3,
            };
            gen.ints("p", vec![1000], 5, 105).as_i32().unwrap().to_vec()
        };
        let v = draw(3);
        assert_eq!(v, draw(3));
        assert_ne!(v, draw(4));
        assert!(v.iter().all(|&p| (5..105).contains(&p)));
        // 1000 draws from 100 values: both ends and most values in between appear.
        let mut seen = v.clone();
        seen.sort();
        seen.dedup();
        assert!(seen.len() > 90, "{}", seen.len());
        let mut gen = Gen {
            seed: 1,
            next: 0,
            fp8: Fp8Encoding::E4m3,
        };
        assert_eq!(gen.ints("p", vec![2], 7, 7).as_i32().unwrap(), &[7, 7]);
    }

    #[test]
    fn slot_mapping_is_distinct_and_in_range() {
        let spec = OpSpec::parse(
            OpKind::KvWrite,
            "tokens=37,heads_kv=2,head_dim=4,page_size=16",
            DType::F32,
        )
        .unwrap();
        let inputs = generate(&spec, 1).unwrap();
        let slots = inputs
            .get("slot_mapping")
            .unwrap()
            .as_i32()
            .unwrap()
            .to_vec();
        assert_eq!(slots.len(), 37);
        let mut sorted = slots.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 37);
        assert!(sorted.iter().all(|&s| (0..48).contains(&s)));
        assert_eq!(output_shape(&spec).unwrap(), Some(vec![2, 48, 2, 4]));
    }

    #[test]
    fn footprint_matches_generated_bytes() {
        for (op, shape) in [
            (OpKind::Gemv, "m=3,n=5,k=7"),
            (
                OpKind::AttnPrefill,
                "batch=2,seq=5,heads_q=4,heads_kv=2,head_dim=8",
            ),
            (
                OpKind::AttnDecode,
                "batch=2,context=17,heads_q=4,heads_kv=2,head_dim=8,page_size=4",
            ),
            (
                OpKind::KvWrite,
                "tokens=9,heads_kv=2,head_dim=4,page_size=4",
            ),
            (OpKind::KvRead, "tokens=9,heads_kv=2,head_dim=4,page_size=4"),
            (OpKind::Triad, "elements=100"),
            (OpKind::SiluMul, "tokens=3,intermediate=7"),
            (
                OpKind::Rope,
                "tokens=5,heads_q=2,heads_kv=1,head_dim=8,rotary_dim=4,max_position=9",
            ),
        ] {
            let spec = OpSpec::parse(op, shape, DType::Bf16).unwrap();
            let inputs = generate(&spec, 3).unwrap();
            assert_eq!(
                footprint_bytes(&spec).unwrap(),
                inputs.size_bytes() + output_bytes(&spec).unwrap(),
                "{op}"
            );
        }
    }
}
