//! Paged KV-cache scatter and gather.

use std::sync::Arc;

use cudarc::driver::{CudaFunction, CudaStream, PushKernelArg};
use hotpath_core::inputs::pages_for;
use hotpath_core::{OpKind, OpSpec, Result};

use super::{go, out_spec, suffix, FuncLookup, Launcher, OutputSpec, Set};
use crate::launch;

/// `kv_write` (`k, v, slot_mapping, kv_cache`) or `kv_read` (`k_cache, v_cache, block_table, kv`).
pub struct Kv {
    op: OpKind,
    tokens: i32,
    row: i32,
    page_size: i32,
    slots: i64,
    main: CudaFunction,
    out: OutputSpec,
}

impl Kv {
    /// Resolves the kernel.
    pub fn new(spec: &OpSpec, func: &mut FuncLookup) -> Result<Kv> {
        let name = if spec.op == OpKind::KvWrite {
            "hp_kv_write"
        } else {
            "hp_kv_read"
        };
        let ps = spec.dim("page_size");
        Ok(Kv {
            op: spec.op,
            tokens: spec.dim("tokens") as i32,
            row: (spec.dim("heads_kv") * spec.dim("head_dim")) as i32,
            page_size: ps as i32,
            slots: (pages_for(spec.dim("tokens"), ps) * ps) as i64,
            main: func(&format!("{name}_{}", suffix(spec.dtype)))?,
            out: out_spec(
                spec,
                3,
                if spec.op == OpKind::KvWrite {
                    "kv_cache"
                } else {
                    "kv"
                },
            ),
        })
    }

    /// Output bytes of one set.
    pub fn out_bytes(spec: &OpSpec) -> Vec<usize> {
        let shape = hotpath_core::inputs::output_shape(spec).unwrap_or_default();
        vec![shape.iter().product::<usize>() * spec.dtype.size_bytes() as usize]
    }
}

impl Launcher for Kv {
    fn launch(&mut self, stream: &Arc<CudaStream>, set: &mut Set) -> Result<()> {
        let (ins, out) = set.bufs.split_at_mut(3);
        let g = launch::kv(self.tokens as u64);
        if self.op == OpKind::KvWrite {
            go!(
                stream,
                &self.main,
                g,
                &ins[0],
                &ins[1],
                &ins[2],
                &mut out[0],
                &self.tokens,
                &self.row,
                &self.slots
            )
        } else {
            go!(
                stream,
                &self.main,
                g,
                &ins[0],
                &ins[1],
                &ins[2],
                &mut out[0],
                &self.tokens,
                &self.row,
                &self.page_size
            )
        }
    }

    fn output(&self) -> OutputSpec {
        self.out.clone()
    }
}
