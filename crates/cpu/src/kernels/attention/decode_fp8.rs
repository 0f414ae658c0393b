//! Paged decode attention over an fp8 e4m3 cache (`kv_fp8=1`): [`super::decode`]'s splits,
//! merge and grouped kernels, each page run of codes decoded exactly once where it is read —
//! to bf16 bits for the grouped bf16 kernels, else to f32 — and the scales applied outside
//! the inner loops: `k_scale[g]` multiplies the scores of KV head `g` (folded into the query
//! or the kernels' score scale), `v_scale[g]` the weighted sum of its value codes.

use hotpath_core::ops::DecodeShape;
use hotpath_core::{HostTensor, Inputs, OpSpec, Result};

use super::decode::{CacheElem, Decode, Rows, SPLIT_TOKENS};
use crate::kernels::kv_fp8::scales;
use crate::kernels::{HostElem, Kernel};
use crate::simd::fp8_decode;

impl CacheElem for u8 {
    fn slice(t: &HostTensor) -> Result<&[u8]> {
        t.as_fp8()
    }

    fn rows<'s>(src: &'s [u8], bf16: bool, f32s: &'s mut [f32]) -> Rows<'s> {
        if bf16 {
            Rows::Fp8(src)
        } else {
            let out = &mut f32s[..src.len()];
            fp8_decode(src, 1.0, out);
            Rows::F32(out)
        }
    }
}

/// Builds paged decode attention over an fp8 cache with `sets` rotation sets.
pub fn build_decode_fp8<E: HostElem>(
    spec: &OpSpec,
    inputs: &Inputs,
    sets: usize,
) -> Result<Box<dyn Kernel>> {
    let p = DecodeShape::of(spec)?;
    let ps = p.page_size as usize;
    let chunk = SPLIT_TOKENS.div_ceil(ps) * ps;
    let scales = scales(inputs, p.heads_kv as usize)?;
    Ok(Box::new(Decode::<E, u8>::new(
        spec,
        inputs,
        sets,
        chunk,
        Some(scales),
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotpath_core::check::check;
    use hotpath_core::inputs::{generate, seed_for};
    use hotpath_core::{DType, OpKind};

    /// Runs an fp8-cache decode of `shape` in splits of `chunk` tokens (sequence lengths as
    /// generated, then `lens` if given) and checks it against the reference.
    fn run(dtype: DType, shape: &str, chunk: usize, lens: Option<Vec<i32>>) {
        let spec = OpSpec::parse(OpKind::AttnDecode, shape, dtype).expect("valid shape");
        let mut inputs = generate(&spec, seed_for(&spec)).unwrap();
        if let Some(lens) = lens {
            let t = HostTensor::from_i32("seq_lens", vec![lens.len()], lens);
            for x in inputs.tensors.iter_mut().filter(|x| x.name == "seq_lens") {
                *x = t.clone();
            }
        }
        let scales = scales(&inputs, spec.dim("heads_kv").unwrap() as usize).unwrap();
        let mut k: Box<dyn Kernel> = match dtype {
            DType::F32 => Box::new(
                Decode::<f32, u8>::new(&spec, &inputs, 1, chunk, Some(scales)).expect("build"),
            ),
            DType::F16 => Box::new(
                Decode::<half::f16, u8>::new(&spec, &inputs, 1, chunk, Some(scales))
                    .expect("build"),
            ),
            DType::Bf16 => Box::new(
                Decode::<half::bf16, u8>::new(&spec, &inputs, 1, chunk, Some(scales))
                    .expect("build"),
            ),
            DType::Fp8E4m3 => panic!("fp8 activations"),
        };
        k.run(0).expect("run");
        let c = check(&spec, &inputs, &k.output(0)).expect("check");
        assert!(c.pass, "{dtype} {shape} chunk {chunk}: {c:?}");
    }

    /// Every dtype, head dims the grouped bf16 kernels take and one they do not (24), groups
    /// 1 to 8, pages of 16 and 5, one-page and whole-sequence splits, ragged lengths.
    #[test]
    fn fp8_cache_matches_the_reference() {
        for dtype in [DType::F32, DType::F16, DType::Bf16] {
            for (d, group, ps) in [(128, 4, 16), (64, 1, 16), (256, 8, 16), (24, 2, 5)] {
                let shape = format!(
                    "batch=3,context=90,heads_q={},heads_kv=2,head_dim={d},page_size={ps},kv_fp8=1",
                    2 * group
                );
                run(dtype, &shape, ps, Some(vec![90, 0, 21]));
                run(dtype, &shape, 256, None);
            }
        }
    }

    #[test]
    fn a_cache_in_the_dtype_is_refused_as_codes() {
        let spec = OpSpec::parse(OpKind::AttnDecode, "context=20", DType::Bf16).unwrap();
        let inputs = generate(&spec, 1).unwrap();
        let e = build_decode_fp8::<half::bf16>(&spec, &inputs, 1)
            .err()
            .expect("refused")
            .to_string();
        assert!(e.contains("is not an fp8_e4m3 tensor"), "{e}");
    }
}
