//! `kv_write`: scatter new K/V rows into cache pages by slot mapping.

use super::Op;
use crate::dtype::DType;
use crate::error::Result;
use crate::inputs::{pages_for, Gen, Inputs};
use crate::kernels::{self, KernelFile};
use crate::launch;
use crate::launch_plan::{kernel, out, out_bytes, simple, suffix, Arg, LaunchPlan};
use crate::op::{opt, req, OpClass, OpKind, OpSpec, Sat, ShapeKey};
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
}

impl KvShape {
    /// The typed shape of `spec`; an error when a key is missing.
    pub fn of(spec: &OpSpec) -> Result<KvShape> {
        Ok(KvShape {
            tokens: spec.dim("tokens")?,
            heads_kv: spec.dim("heads_kv")?,
            head_dim: spec.dim("head_dim")?,
            page_size: spec.dim("page_size")?,
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

    /// Both directions move K and V once each way: 4·T·hkv·d elements.
    pub(super) fn work(self, dtype: DType) -> (Sat, Sat) {
        let bytes = Sat(4) * Sat(self.tokens) * Sat(self.row()) * Sat(dtype.size_bytes());
        (Sat(0), bytes)
    }

    /// `kv_write` and `kv_read`: one kernel over the tokens, `last` its final argument.
    pub(super) fn plan(
        self,
        spec: &OpSpec,
        function: &str,
        last: Arg,
        output: &'static str,
    ) -> Result<LaunchPlan> {
        let args = vec![
            Arg::Input(0),
            Arg::Input(1),
            Arg::Input(2),
            Arg::Output(0),
            Arg::I32(self.tokens as i32),
            Arg::I32(self.row() as i32),
            last,
        ];
        Ok(simple(
            vec![kernel(
                format!("{function}_{}", suffix(spec.dtype)),
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
        &["k", "v", "slot_mapping"]
    }
    fn input_bytes(&self, spec: &OpSpec) -> Result<Sat> {
        let p = KvShape::of(spec)?;
        Ok(
            Sat(2) * Sat(p.tokens) * Sat(p.row()) * Sat(spec.dtype.size_bytes())
                + Sat(p.tokens) * Sat(4),
        )
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
        Ok(vec![
            gen.uniform("k", vec![t, hkv, hd], dt, -1.0, 1.0),
            gen.uniform("v", vec![t, hkv, hd], dt, -1.0, 1.0),
            mapping,
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
