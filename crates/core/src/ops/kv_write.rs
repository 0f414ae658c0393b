//! `kv_write`: scatter new K/V rows into cache pages by slot mapping; under `kv_fp8=1` the
//! rows are quantized into an fp8 e4m3 cache, code = e4m3(x·(1/scale)) with one f32 scale
//! per KV head, as vLLM's `reshape_and_cache_flash` does for `kv_cache_dtype="fp8"`. This file
//! also holds what every op on the KV cache shares: [`KvShape`] and the fp8 cache's key,
//! scales and code range.

use super::Op;
use crate::dtype::DType;
use crate::error::Result;
use crate::inputs::{pages_for, Gen, Inputs};
use crate::kernels::{self, KernelFile};
use crate::launch;
use crate::launch_plan::{kernel, out, out_bytes, simple, suffix, Arg, LaunchPlan};
use crate::op::{opt, req, switch, OpClass, OpKind, OpSpec, Sat, ShapeKey};
use crate::reference::{kv, OpReference};
use crate::suite::{DeviceClass, SuiteName};
use crate::target::Target;
use crate::tensor::{HostData, HostTensor};

/// The shape of `kv_write` and `kv_read`: `tokens` rows of `heads_kv·head_dim` in pages of
/// `page_size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvShape {
    /// Tokens written or read.
    pub tokens: u64,
    /// Key/value heads.
    pub heads_kv: u64,
    /// Elements per head.
    pub head_dim: u64,
    /// Tokens per KV page.
    pub page_size: u64,
    /// True when the cache holds fp8 e4m3 codes with per-head scales (`kv_fp8=1`).
    pub fp8: bool,
}

/// The `kv_fp8` key of the ops on the KV cache (`kv_write`, `kv_read`, `attn_decode`).
pub(super) const KV_FP8_KEY: ShapeKey = switch(
    "kv_fp8",
    "1 = KV cache in fp8 e4m3 with one f32 scale per KV head, 0 = in the dtype",
);

/// The largest code magnitude an fp8 KV cache is generated or written with: 240 is the top
/// of e4m3fnuz (AMD gfx94x) as well as inside OCP e4m3 (448), so the same cache re-encodes
/// exactly for either.
pub const KV_FP8_MAX: f32 = 240.0;

/// How `spec`'s KV cache is stored: fp8 e4m3 under `kv_fp8=1`, else in the op's dtype.
pub fn kv_cache_dtype(spec: &OpSpec) -> Result<DType> {
    Ok(if spec.dim("kv_fp8")? == 1 {
        DType::Fp8E4m3
    } else {
        spec.dtype
    })
}

/// The per-KV-head scales `k_scale`, `v_scale` (f32, uniform in [1, 2]/[`KV_FP8_MAX`]): inputs
/// in (−1, 1) quantize to codes of at most 240, codes of at most 240 dequantize to at most 2.
/// Generated for a cache in the dtype too, unread there, so every op has the same inputs.
pub(super) fn kv_scales(gen: &mut Gen, heads_kv: usize) -> [HostTensor; 2] {
    [
        kv_scale(gen, "k_scale", heads_kv),
        kv_scale(gen, "v_scale", heads_kv),
    ]
}

/// `count` fp8 cache scales named `name` (f32, uniform in [1, 2]/[`KV_FP8_MAX`], as
/// [`kv_scales`]).
pub(super) fn kv_scale(gen: &mut Gen, name: &'static str, count: usize) -> HostTensor {
    gen.uniform(
        name,
        vec![count],
        DType::F32,
        1.0 / KV_FP8_MAX,
        2.0 / KV_FP8_MAX,
    )
}

/// A KV-cache tensor of `spec`: values uniform in (−1, 1) in the dtype, or fp8 codes uniform
/// in ±[`KV_FP8_MAX`].
pub(super) fn kv_cache_tensor(
    spec: &OpSpec,
    gen: &mut Gen,
    name: &'static str,
    shape: Vec<usize>,
) -> Result<HostTensor> {
    Ok(match kv_cache_dtype(spec)? {
        DType::Fp8E4m3 => gen.uniform(name, shape, DType::Fp8E4m3, -KV_FP8_MAX, KV_FP8_MAX),
        dt => gen.uniform(name, shape, dt, -1.0, 1.0),
    })
}

/// The suffix of a kernel over a cache of `spec`: `bf16`, or `bf16_fp8kv` for an fp8 cache
/// under bf16 activations.
pub(crate) fn kv_suffix(spec: &OpSpec) -> Result<String> {
    let dt = suffix(spec.dtype);
    Ok(match kv_cache_dtype(spec)? {
        DType::Fp8E4m3 => format!("{dt}_fp8kv"),
        _ => dt.to_string(),
    })
}

impl KvShape {
    /// The typed shape of `spec`; an error when a key is missing.
    pub fn of(spec: &OpSpec) -> Result<KvShape> {
        Ok(KvShape {
            tokens: spec.dim("tokens")?,
            heads_kv: spec.dim("heads_kv")?,
            head_dim: spec.dim("head_dim")?,
            page_size: spec.dim("page_size")?,
            fp8: spec.dim("kv_fp8")? == 1,
        })
    }

    /// Pages that hold `tokens`.
    pub fn pages(&self) -> u64 {
        pages_for(self.tokens, self.page_size)
    }

    /// Elements of one token's K (or V): `heads_kv·head_dim` (saturating, as every count of
    /// a shape too large to run).
    pub fn row(&self) -> u64 {
        self.heads_kv.saturating_mul(self.head_dim)
    }

    /// Cache slots the pages hold: `pages·page_size` (saturating).
    pub fn slots(&self) -> u64 {
        self.pages().saturating_mul(self.page_size)
    }

    /// Both directions move K and V once each way: 2·T·hkv·d elements in the dtype and as
    /// many in the cache's type; an fp8 cache adds its 2·hkv f32 scales.
    pub(super) fn work(self, dtype: DType) -> (Sat, Sat) {
        let (elements, s) = (
            Sat(2) * Sat(self.tokens) * Sat(self.row()),
            dtype.size_bytes(),
        );
        if self.fp8 {
            (Sat(0), elements * Sat(s + 1) + Sat(8) * Sat(self.heads_kv))
        } else {
            (Sat(0), elements * Sat(2 * s))
        }
    }

    /// `kv_write` and `kv_read`: one kernel over the tokens, `last` its final argument.
    pub(super) fn plan(
        self,
        spec: &OpSpec,
        function: &str,
        last: Arg,
        output: &'static str,
    ) -> Result<LaunchPlan> {
        let mut args = vec![Arg::Input(0), Arg::Input(1), Arg::Input(2)];
        if self.fp8 {
            // k_scale, v_scale and the head width the scales are indexed by.
            args.extend([Arg::Input(3), Arg::Input(4)]);
        }
        args.extend([
            Arg::Output(0),
            Arg::I32(self.tokens as i32),
            Arg::I32(self.row() as i32),
        ]);
        if self.fp8 {
            args.push(Arg::I32(self.head_dim as i32));
        }
        args.push(last);
        Ok(simple(
            vec![kernel(
                format!("{function}_{}", kv_suffix(spec)?),
                launch::kv(self.tokens),
                args,
            )],
            out(spec, 0, output)?,
            vec![out_bytes(spec)?],
        ))
    }
}

/// Keys of `kv_write` and `kv_read`.
pub(super) const KV_KEYS: &[ShapeKey] = &[
    req("tokens", "tokens written or read"),
    opt("heads_kv", "key/value heads", 8),
    opt("head_dim", "elements per head", 128),
    opt("page_size", "tokens per KV page", 16),
    KV_FP8_KEY,
];

/// The KV-cache scatter.
pub struct KvWrite;

impl Op for KvWrite {
    fn kind(&self) -> OpKind {
        OpKind::KvWrite
    }
    fn name(&self) -> &'static str {
        "kv_write"
    }
    fn summary(&self) -> &'static str {
        "scatter new K/V rows into cache pages"
    }
    fn shape_keys(&self) -> &'static [ShapeKey] {
        KV_KEYS
    }
    fn example_shape(&self) -> &'static str {
        "tokens=4096,heads_kv=8,head_dim=128,page_size=16"
    }
    fn small_shape(&self) -> &'static str {
        "tokens=256"
    }
    fn class(&self) -> OpClass {
        OpClass::Model
    }
    fn work(&self, spec: &OpSpec) -> Result<(Sat, Sat)> {
        Ok(KvShape::of(spec)?.work(spec.dtype))
    }
    fn input_names(&self) -> &'static [&'static str] {
        &["k", "v", "slot_mapping", "k_scale", "v_scale"]
    }
    fn input_bytes(&self, spec: &OpSpec) -> Result<Sat> {
        let p = KvShape::of(spec)?;
        Ok(
            Sat(2) * Sat(p.tokens) * Sat(p.row()) * Sat(spec.dtype.size_bytes())
                + Sat(p.tokens) * Sat(4)
                + Sat(8) * Sat(p.heads_kv),
        )
    }
    fn output_dtype(&self, spec: &OpSpec) -> DType {
        kv_cache_dtype(spec).unwrap_or(spec.dtype)
    }
    fn output_shape(&self, spec: &OpSpec) -> Result<Option<Vec<usize>>> {
        let p = KvShape::of(spec)?;
        let slots = p.slots();
        Ok(Some(vec![
            2,
            slots as usize,
            p.heads_kv as usize,
            p.head_dim as usize,
        ]))
    }
    fn generate(&self, spec: &OpSpec, gen: &mut Gen) -> Result<Vec<HostTensor>> {
        let p = KvShape::of(spec)?;
        let (t, hkv, hd) = (p.tokens as usize, p.heads_kv as usize, p.head_dim as usize);
        let slots = p.slots() as usize;
        let mut mapping = gen.permutation("slot_mapping", vec![slots], slots);
        if let HostData::I32(v) = &mut mapping.data {
            v.truncate(t);
        }
        mapping.shape = vec![t];
        let dt = spec.dtype;
        let [k_scale, v_scale] = kv_scales(gen, hkv);
        Ok(vec![
            gen.uniform("k", vec![t, hkv, hd], dt, -1.0, 1.0),
            gen.uniform("v", vec![t, hkv, hd], dt, -1.0, 1.0),
            mapping,
            k_scale,
            v_scale,
        ])
    }
    fn reference<'a>(
        &self,
        spec: &OpSpec,
        inputs: &'a Inputs,
        _output_len: usize,
    ) -> Result<Box<dyn OpReference + 'a>> {
        Ok(Box::new(kv::Write::new(spec, inputs)?))
    }
    fn kernel_file(&self) -> Option<&'static KernelFile> {
        Some(&kernels::KV)
    }
    fn launch_plan(&self, spec: &OpSpec, _target: &Target) -> Result<LaunchPlan> {
        let p = KvShape::of(spec)?;
        let slots = Arg::I64(p.slots() as i64);
        p.plan(spec, "hp_kv_write", slots, "kv_cache")
    }
    fn suite_entries(&self, suite: SuiteName, _class: DeviceClass) -> Vec<(String, DType)> {
        match suite {
            SuiteName::Quick | SuiteName::Decode => vec![("tokens=4096".to_string(), DType::Bf16)],
            SuiteName::Prefill | SuiteName::Ceilings => vec![],
        }
    }
}
