//! `kv_read`: gather cache pages into contiguous K/V; an fp8 cache (`kv_fp8=1`) is
//! dequantized on the way, code·scale of its KV head, into the dtype.

use super::kv_write::{kv_cache_dtype, kv_cache_tensor, kv_scales, KvShape, KV_KEYS};
use super::Op;
use crate::dtype::DType;
use crate::error::Result;
use crate::inputs::{Gen, Inputs};
use crate::kernels::{self, KernelFile};
use crate::launch_plan::{Arg, LaunchPlan};
use crate::op::{OpClass, OpKind, OpSpec, Sat, ShapeKey};
use crate::reference::{kv, OpReference};
use crate::suite::{DeviceClass, SuiteName};
use crate::target::Target;
use crate::tensor::HostTensor;

/// The KV-cache gather.
pub struct KvRead;

impl Op for KvRead {
    fn kind(&self) -> OpKind {
        OpKind::KvRead
    }
    fn name(&self) -> &'static str {
        "kv_read"
    }
    fn summary(&self) -> &'static str {
        "gather cache pages into contiguous K/V"
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
        &["k_cache", "v_cache", "block_table", "k_scale", "v_scale"]
    }
    fn input_bytes(&self, spec: &OpSpec) -> Result<Sat> {
        let p = KvShape::of(spec)?;
        let pages = Sat(p.pages());
        let cache = Sat(kv_cache_dtype(spec)?.size_bytes());
        Ok(Sat(2) * pages * Sat(p.page_size) * Sat(p.row()) * cache
            + pages * Sat(4)
            + Sat(8) * Sat(p.heads_kv))
    }
    fn output_shape(&self, spec: &OpSpec) -> Result<Option<Vec<usize>>> {
        let p = KvShape::of(spec)?;
        Ok(Some(vec![
            2,
            p.tokens as usize,
            p.heads_kv as usize,
            p.head_dim as usize,
        ]))
    }
    fn generate(&self, spec: &OpSpec, gen: &mut Gen) -> Result<Vec<HostTensor>> {
        let p = KvShape::of(spec)?;
        let (hkv, hd, ps) = (
            p.heads_kv as usize,
            p.head_dim as usize,
            p.page_size as usize,
        );
        let pages = p.pages() as usize;
        let k_cache = kv_cache_tensor(spec, gen, "k_cache", vec![pages, ps, hkv, hd])?;
        let v_cache = kv_cache_tensor(spec, gen, "v_cache", vec![pages, ps, hkv, hd])?;
        let table = gen.permutation("block_table", vec![pages], pages);
        let [k_scale, v_scale] = kv_scales(gen, hkv);
        Ok(vec![k_cache, v_cache, table, k_scale, v_scale])
    }
    fn reference<'a>(
        &self,
        spec: &OpSpec,
        inputs: &'a Inputs,
        _output_len: usize,
    ) -> Result<Box<dyn OpReference + 'a>> {
        Ok(Box::new(kv::Read::new(spec, inputs)?))
    }
    fn kernel_file(&self) -> Option<&'static KernelFile> {
        Some(&kernels::KV)
    }
    fn launch_plan(&self, spec: &OpSpec, _target: &Target) -> Result<LaunchPlan> {
        let p = KvShape::of(spec)?;
        p.plan(spec, "hp_kv_read", Arg::I32(p.page_size as i32), "kv")
    }
    fn suite_entries(&self, suite: SuiteName, _class: DeviceClass) -> Vec<(String, DType)> {
        match suite {
            SuiteName::Quick | SuiteName::Decode => vec![("tokens=4096".to_string(), DType::Bf16)],
            SuiteName::Prefill | SuiteName::Ceilings => vec![],
        }
    }
}
