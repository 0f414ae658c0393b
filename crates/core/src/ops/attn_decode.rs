//! `attn_decode`: decode attention over a paged KV cache (GQA). Its launch plan's split and
//! ring choices are `crate::launch_plan::decode`'s. Under `kv_fp8=1` the cache holds fp8 e4m3
//! codes with one f32 scale per KV head (`k_scale`, `v_scale`, as `kv_write` writes them):
//! scores use K = code·k_scale, the output V = code·v_scale; q and o stay in the dtype.

use super::attn_prefill::check_gqa;
use super::kv_write::{kv_cache_dtype, kv_cache_tensor, kv_scales, KV_FP8_KEY};
use super::Op;
use crate::dtype::DType;
use crate::error::Result;
use crate::inputs::{pages_for, Gen, Inputs};
use crate::kernels::{self, KernelFile};
use crate::launch_plan::{decode, LaunchPlan};
use crate::op::{opt, req, OpClass, OpKind, OpSpec, Sat, Shape, ShapeKey};
use crate::reference::{attention::Decode, OpReference};
use crate::suite::{DeviceClass, SuiteName};
use crate::target::Target;
use crate::tensor::HostTensor;

/// The shape of `attn_decode`: q[b,hq,d] against `context` cached tokens per sequence in
/// pages of `page_size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeShape {
    /// Sequences decoded together.
    pub batch: u64,
    /// Cached tokens per sequence.
    pub context: u64,
    /// Query heads.
    pub heads_q: u64,
    /// Key/value heads.
    pub heads_kv: u64,
    /// Elements per head.
    pub head_dim: u64,
    /// Tokens per KV page.
    pub page_size: u64,
    /// True when the cache holds fp8 e4m3 codes with per-KV-head scales (`kv_fp8=1`).
    pub fp8: bool,
}

impl DecodeShape {
    /// The typed shape of `spec`; an error when a key is missing.
    pub fn of(spec: &OpSpec) -> Result<DecodeShape> {
        Ok(DecodeShape {
            batch: spec.dim("batch")?,
            context: spec.dim("context")?,
            heads_q: spec.dim("heads_q")?,
            heads_kv: spec.dim("heads_kv")?,
            head_dim: spec.dim("head_dim")?,
            page_size: spec.dim("page_size")?,
            fp8: spec.dim("kv_fp8")? == 1,
        })
    }

    /// Pages of one sequence.
    pub fn pages_per_seq(&self) -> u64 {
        pages_for(self.context, self.page_size)
    }
}

const KEYS: &[ShapeKey] = &[
    opt("batch", "sequences decoded together", 1),
    req("context", "cached tokens per sequence"),
    opt("heads_q", "query heads", 32),
    opt("heads_kv", "key/value heads (GQA groups)", 8),
    opt("head_dim", "elements per head", 128),
    opt("page_size", "tokens per KV page", 16),
    KV_FP8_KEY,
];

/// Paged decode attention.
pub struct AttnDecode;

impl Op for AttnDecode {
    fn kind(&self) -> OpKind {
        OpKind::AttnDecode
    }
    fn name(&self) -> &'static str {
        "attn_decode"
    }
    fn summary(&self) -> &'static str {
        "decode attention over a paged KV cache, GQA"
    }
    fn shape_keys(&self) -> &'static [ShapeKey] {
        KEYS
    }
    fn example_shape(&self) -> &'static str {
        "batch=1,context=4096,heads_q=32,heads_kv=8,head_dim=128,page_size=16"
    }
    fn small_shape(&self) -> &'static str {
        "batch=2,context=512"
    }
    fn class(&self) -> OpClass {
        OpClass::Model
    }
    fn check_shape(&self, shape: &Shape) -> Result<()> {
        check_gqa(shape)
    }
    /// FLOPs 4·b·hq·L·d; bytes b·L·hkv·d·2·c (K and V once per GQA group, c bytes an element
    /// of the cache: the dtype's, 1 for fp8) + b·hq·d·2·s (q in, o out), + 8·hkv for the
    /// scales of an fp8 cache.
    fn work(&self, spec: &OpSpec) -> Result<(Sat, Sat)> {
        let p = DecodeShape::of(spec)?;
        let (b, l, hq, hkv, hd) = (
            Sat(p.batch),
            Sat(p.context),
            Sat(p.heads_q),
            Sat(p.heads_kv),
            Sat(p.head_dim),
        );
        let s = Sat(spec.dtype.size_bytes());
        let c = Sat(kv_cache_dtype(spec)?.size_bytes());
        let scales = if p.fp8 { Sat(8) * hkv } else { Sat(0) };
        Ok((
            Sat(4) * b * hq * l * hd,
            b * l * hkv * hd * Sat(2) * c + b * hq * hd * Sat(2) * s + scales,
        ))
    }
    fn input_names(&self) -> &'static [&'static str] {
        &[
            "q",
            "k_cache",
            "v_cache",
            "block_table",
            "seq_lens",
            "k_scale",
            "v_scale",
        ]
    }
    fn input_bytes(&self, spec: &OpSpec) -> Result<Sat> {
        let p = DecodeShape::of(spec)?;
        let (b, ps, hkv, hd) = (
            Sat(p.batch),
            Sat(p.page_size),
            Sat(p.heads_kv),
            Sat(p.head_dim),
        );
        let s = Sat(spec.dtype.size_bytes());
        let c = Sat(kv_cache_dtype(spec)?.size_bytes());
        let pages = b * Sat(p.pages_per_seq());
        Ok(b * Sat(p.heads_q) * hd * s
            + Sat(2) * pages * ps * hkv * hd * c
            + pages * Sat(4)
            + b * Sat(4)
            + Sat(8) * hkv)
    }
    fn output_shape(&self, spec: &OpSpec) -> Result<Option<Vec<usize>>> {
        let p = DecodeShape::of(spec)?;
        Ok(Some(
            [p.batch, p.heads_q, p.head_dim]
                .map(|x| x as usize)
                .to_vec(),
        ))
    }
    fn generate(&self, spec: &OpSpec, gen: &mut Gen) -> Result<Vec<HostTensor>> {
        let p = DecodeShape::of(spec)?;
        let (b, hq, hkv, hd, ps) = (
            p.batch as usize,
            p.heads_q as usize,
            p.heads_kv as usize,
            p.head_dim as usize,
            p.page_size as usize,
        );
        let dt = spec.dtype;
        let per_seq = p.pages_per_seq() as usize;
        let pages = b * per_seq;
        let q = gen.uniform("q", vec![b, hq, hd], dt, -1.0, 1.0);
        let k_cache = kv_cache_tensor(spec, gen, "k_cache", vec![pages, ps, hkv, hd])?;
        let v_cache = kv_cache_tensor(spec, gen, "v_cache", vec![pages, ps, hkv, hd])?;
        let table = gen.permutation("block_table", vec![b, per_seq], pages);
        let lens = HostTensor::from_i32(
            "seq_lens",
            vec![b],
            vec![p.context.min(i32::MAX as u64) as i32; b],
        );
        let [k_scale, v_scale] = kv_scales(gen, hkv);
        Ok(vec![q, k_cache, v_cache, table, lens, k_scale, v_scale])
    }
    fn reference<'a>(
        &self,
        spec: &OpSpec,
        inputs: &'a Inputs,
        _output_len: usize,
    ) -> Result<Box<dyn OpReference + 'a>> {
        Ok(Box::new(Decode::new(spec, inputs)?))
    }
    fn kernel_file(&self) -> Option<&'static KernelFile> {
        Some(&kernels::ATTN_DECODE)
    }
    fn launch_plan(&self, spec: &OpSpec, target: &Target) -> Result<LaunchPlan> {
        decode::build(spec, target)
    }
    fn suite_entries(&self, suite: SuiteName, class: DeviceClass) -> Vec<(String, DType)> {
        let shapes: &[&str] = match (suite, class) {
            (SuiteName::Quick, _) => &["batch=1,context=4096"],
            (SuiteName::Decode, DeviceClass::Cpu) => &[
                "batch=1,context=4096",
                "batch=4,context=4096",
                "batch=1,context=16384",
            ],
            (SuiteName::Decode, DeviceClass::Gpu) => &[
                "batch=1,context=4096",
                "batch=16,context=4096",
                "batch=64,context=4096",
                "batch=8,context=32768",
            ],
            (SuiteName::Prefill | SuiteName::Ceilings, _) => &[],
        };
        shapes
            .iter()
            .map(|s| (s.to_string(), DType::Bf16))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::inputs::{footprint_bytes, generate, output_bytes};
    use crate::launch_plan::{build, decode, Arg, LaunchStep};

    fn spec(shape: &str, dtype: DType) -> OpSpec {
        OpSpec::parse(OpKind::AttnDecode, shape, dtype).unwrap()
    }

    /// The main kernel's name, dynamic shared memory and arguments.
    fn main_kernel(p: &LaunchPlan) -> (&str, u32, &[Arg]) {
        match &p.steps[0] {
            LaunchStep::Kernel {
                function,
                geometry,
                args,
            } => (function.as_str(), geometry.shared_bytes, args.as_slice()),
            LaunchStep::ZeroScratch(_) => panic!("{p:?}"),
        }
    }

    #[test]
    fn fp8_cache_cost_by_hand() {
        // batch 1, L 4096, hq 32, hkv 8, d 128, bf16 q/o, fp8 cache: K+V 4096·8·128·2·1 =
        // 8,388,608 + q, o 32·128·2·2 = 16,384 + scales 8·8 = 64 → 8,405,056; FLOPs as bf16.
        let w = spec("batch=1,context=4096,kv_fp8=1", DType::Bf16)
            .work()
            .unwrap();
        assert_eq!((w.flops, w.bytes), (67_108_864, 8_405_056));
        // batch 2, L 100, hq 4, hkv 2, d 64, f32 q/o: 2·100·2·64·2 = 51,200 + 2·4·64·2·4 =
        // 4,096 + 16 = 55,312; the same in the dtype: 204,800 + 4,096 = 208,896.
        let shape = "batch=2,context=100,heads_q=4,heads_kv=2,head_dim=64";
        let fp8 = spec(&format!("{shape},kv_fp8=1"), DType::F32)
            .work()
            .unwrap();
        assert_eq!(fp8.bytes, 55_312);
        assert_eq!(spec(shape, DType::F32).work().unwrap().bytes, 208_896);
    }

    #[test]
    fn fp8_inputs_are_codes_and_scales_and_fill_the_footprint() {
        let s = spec(
            "batch=2,context=17,heads_q=4,heads_kv=2,head_dim=8,page_size=4,kv_fp8=1",
            DType::Bf16,
        );
        let inputs = generate(&s, 3).unwrap();
        let k = inputs.get("k_cache").unwrap();
        assert_eq!(k.dtype(), Some(DType::Fp8E4m3));
        assert_eq!(k.shape, vec![10, 4, 2, 8]);
        assert_eq!(inputs.get("q").unwrap().dtype(), Some(DType::Bf16));
        assert_eq!(inputs.get("v_scale").unwrap().shape, vec![2]);
        assert_eq!(
            footprint_bytes(&s).unwrap(),
            inputs.size_bytes() + output_bytes(&s).unwrap()
        );
        // The same shape in the dtype: the cache is bf16 and the first tensors are unchanged.
        let plain = generate(
            &spec(
                "batch=2,context=17,heads_q=4,heads_kv=2,head_dim=8,page_size=4",
                DType::Bf16,
            ),
            3,
        )
        .unwrap();
        assert_eq!(plain.get("q").unwrap(), inputs.get("q").unwrap());
        assert_eq!(plain.get("k_cache").unwrap().dtype(), Some(DType::Bf16));
    }

    #[test]
    fn fp8_plan_names_ring_and_scale_arguments() {
        // bf16, d 128, group 4 on an H100: stage = K + V of 64 tokens × 128 B = 16,384 B,
        // ring of 4 (64 KiB target) = 65,536 + Q tile 16 × 256 B = 69,632 B; 3 blocks per SM,
        // 32 splits of 128 tokens as with a bf16 cache; k_scale and v_scale last.
        let p = build(
            &spec("batch=1,context=4096,kv_fp8=1", DType::Bf16),
            &Target::h100(),
        )
        .unwrap();
        let (f, smem, args) = main_kernel(&p);
        assert_eq!((f, smem), ("hp_attn_decode_bf16_fp8kv_d128_g4", 69_632));
        assert_eq!(&args[..5], &[0, 1, 2, 3, 4].map(Arg::Input));
        assert_eq!(&args[8..16], &[1, 32, 8, 16, 256, 32, 128, 4].map(Arg::I32));
        assert_eq!(&args[16..], &[Arg::Input(5), Arg::Input(6)]);
        assert_eq!(decode::chosen(&p), Some((32, 4)));
        // The combine is the dtype's: the partials are f32 whatever the cache.
        let LaunchStep::Kernel { function, .. } = &p.steps[1] else {
            panic!("{p:?}")
        };
        assert_eq!(function, "hp_attn_decode_combine_bf16");
        // d 64, group 1: stage 8,192 B → 4 stages = 32,768 B (half the bf16 cache's ring),
        // no Q tile. f32 q with an fp8 cache: tiles of 64 tokens (the cache's), stage
        // 16,384 B → 4 stages; group 16 (merge area 33,280 B) on the CUDA cores.
        for (shape, dtype, function, smem) in [
            (
                "heads_q=8,heads_kv=8,head_dim=64",
                DType::Bf16,
                "hp_attn_decode_bf16_fp8kv_d64_g1",
                32_768,
            ),
            (
                "heads_q=128,heads_kv=8",
                DType::F32,
                "hp_attn_decode_f32_fp8kv_d128_g16",
                65_536,
            ),
            (
                "heads_q=24,heads_kv=8,head_dim=256",
                DType::F16,
                "hp_attn_decode_f16_fp8kv_d256_g4",
                // stage 32 KiB → 2 stages + Q 8 KiB.
                73_728,
            ),
        ] {
            let s = spec(&format!("context=300,kv_fp8=1,{shape}"), dtype);
            let p = build(&s, &Target::h100()).unwrap();
            let (f, got, _) = main_kernel(&p);
            assert_eq!((f, got), (function, smem), "{shape}");
        }
        // A cache in the dtype keeps its names and takes no scales.
        let p = build(&spec("context=300", DType::Bf16), &Target::h100()).unwrap();
        let (f, _, args) = main_kernel(&p);
        assert_eq!((f, args.len()), ("hp_attn_decode_bf16_d128_g4", 16));
    }

    #[test]
    fn fp8_bad_shapes_are_refused() {
        // kv_fp8 is a 0/1 flag.
        assert!(OpSpec::parse(OpKind::AttnDecode, "context=64,kv_fp8=2", DType::Bf16).is_err());
        let h100 = Target::h100();
        for bad in [
            "head_dim=96",
            "heads_q=32,heads_kv=1",
            "heads_q=12,heads_kv=8",
        ] {
            let r = OpSpec::parse(
                OpKind::AttnDecode,
                &format!("context=64,kv_fp8=1,{bad}"),
                DType::Bf16,
            )
            .map_err(|e| e.to_string())
            .and_then(|s| build(&s, &h100).map_err(|e| e.to_string()));
            assert!(r.is_err(), "{bad}");
        }
        // Activations in fp8 are not a decode the kernels serve.
        let s = spec("context=64,kv_fp8=1", DType::Fp8E4m3);
        assert!(matches!(build(&s, &h100), Err(Error::Unsupported(_))));
    }
}
