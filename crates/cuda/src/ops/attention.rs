//! Prefill (flash) and paged decode (flash-decoding) attention.

use std::sync::Arc;

use cudarc::driver::{CudaFunction, CudaSlice, CudaStream, PushKernelArg};
use hotpath_core::inputs::pages_for;
use hotpath_core::{Error, OpSpec, Result};

use super::{go, out_spec, suffix, FuncLookup, Launcher, OutputSpec, Set};
use crate::buffers::zeros;
use crate::launch;

fn head_dim(spec: &OpSpec) -> Result<u64> {
    match spec.dim("head_dim") {
        d @ (64 | 128) => Ok(d),
        d => Err(Error::unsupported(format!(
            "the hotpath {} kernels take head_dim 64 or 128; got head_dim={d}",
            spec.op
        ))),
    }
}

/// Prefill attention: `q,k,v,o` in the set.
pub struct Prefill {
    dims: [i32; 5],
    causal: i32,
    scale: f32,
    main: CudaFunction,
    out: OutputSpec,
}

impl Prefill {
    /// Checks restrictions (head_dim 64/128, f16/bf16) and resolves the kernel.
    pub fn new(spec: &OpSpec, func: &mut FuncLookup) -> Result<Prefill> {
        let d = head_dim(spec)?;
        let dim = |k: &str| spec.dim(k) as i32;
        Ok(Prefill {
            dims: [
                dim("batch"),
                dim("seq"),
                dim("heads_q"),
                dim("heads_kv"),
                d as i32,
            ],
            causal: dim("causal"),
            scale: 1.0 / (d as f32).sqrt(),
            main: func(&format!("hp_attn_prefill_{}_d{d}", suffix(spec.dtype)))?,
            out: out_spec(spec, 3, "o"),
        })
    }

    /// Output bytes of one set.
    pub fn out_bytes(spec: &OpSpec) -> Vec<usize> {
        let d = |k: &str| spec.dim(k);
        vec![
            (d("batch") * d("seq") * d("heads_q") * d("head_dim") * spec.dtype.size_bytes())
                as usize,
        ]
    }
}

impl Launcher for Prefill {
    fn launch(&mut self, stream: &Arc<CudaStream>, set: &mut Set) -> Result<()> {
        let [b, s, hq, hkv, _] = self.dims;
        let (qkv, o) = set.bufs.split_at_mut(3);
        let g = launch::attn_prefill(b as u64, s as u64, hq as u64);
        go!(
            stream,
            &self.main,
            g,
            &qkv[0],
            &qkv[1],
            &qkv[2],
            &mut o[0],
            &b,
            &s,
            &hq,
            &hkv,
            &self.causal,
            &self.scale
        )
    }

    fn output(&self) -> OutputSpec {
        self.out.clone()
    }
}

/// Paged decode attention: `q, k_cache, v_cache, block_table, o` in the set.
pub struct Decode {
    batch: i32,
    context: i32,
    hq: i32,
    hkv: i32,
    d: i32,
    page_size: i32,
    per_seq: i32,
    splits: i32,
    main: CudaFunction,
    combine: CudaFunction,
    part_o: CudaSlice<u8>,
    part_ml: CudaSlice<u8>,
    out: OutputSpec,
}

impl Decode {
    /// Checks restrictions and resolves the kernels; scratch for the split partials.
    pub fn new(
        spec: &OpSpec,
        sms: u32,
        stream: &Arc<CudaStream>,
        func: &mut FuncLookup,
    ) -> Result<Decode> {
        let d = head_dim(spec)?;
        let (b, l, hq, hkv, ps) = (
            spec.dim("batch"),
            spec.dim("context"),
            spec.dim("heads_q"),
            spec.dim("heads_kv"),
            spec.dim("page_size"),
        );
        if hq / hkv > 16 {
            return Err(Error::unsupported(format!(
                "the hotpath attn_decode kernel serves at most 16 query heads per KV head; got {}",
                hq / hkv
            )));
        }
        if !(ps % 16 == 0 || matches!(ps, 1 | 2 | 4 | 8)) {
            return Err(Error::unsupported(format!(
                "the hotpath attn_decode kernel takes page_size 1, 2, 4, 8 or a multiple of 16; got {ps}"
            )));
        }
        let splits = launch::decode_splits(b, hkv, l, sms);
        let rows = (b * hq * splits as u64) as usize;
        let dt = suffix(spec.dtype);
        Ok(Decode {
            batch: b as i32,
            context: l as i32,
            hq: hq as i32,
            hkv: hkv as i32,
            d: d as i32,
            page_size: ps as i32,
            per_seq: pages_for(l, ps) as i32,
            splits: splits as i32,
            main: func(&format!("hp_attn_decode_{dt}_d{d}"))?,
            combine: func(&format!("hp_attn_decode_combine_{dt}"))?,
            part_o: zeros(stream, rows * d as usize * 4)?,
            part_ml: zeros(stream, rows * 2 * 4)?,
            out: out_spec(spec, 4, "o"),
        })
    }

    /// Output bytes of one set.
    pub fn out_bytes(spec: &OpSpec) -> Vec<usize> {
        vec![
            (spec.dim("batch")
                * spec.dim("heads_q")
                * spec.dim("head_dim")
                * spec.dtype.size_bytes()) as usize,
        ]
    }
}

impl Launcher for Decode {
    fn launch(&mut self, stream: &Arc<CudaStream>, set: &mut Set) -> Result<()> {
        let (ins, o) = set.bufs.split_at_mut(4);
        let g = launch::attn_decode(self.batch as u64, self.hkv as u64, self.splits as u32);
        go!(
            stream,
            &self.main,
            g,
            &ins[0],
            &ins[1],
            &ins[2],
            &ins[3],
            &mut self.part_o,
            &mut self.part_ml,
            &self.batch,
            &self.context,
            &self.hq,
            &self.hkv,
            &self.page_size,
            &self.per_seq,
            &self.splits
        )?;
        let g = launch::attn_decode_combine(self.batch as u64, self.hq as u64, self.d as u32);
        go!(
            stream,
            &self.combine,
            g,
            &self.part_o,
            &self.part_ml,
            &mut o[0],
            &self.batch,
            &self.hq,
            &self.splits,
            &self.d
        )
    }

    fn output(&self) -> OutputSpec {
        self.out.clone()
    }
}
