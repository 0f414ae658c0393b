//! Backend-independent launch plans: for an op, the kernels one iteration runs (in order),
//! each with its geometry (dynamic shared memory included) and argument list, the output
//! buffers a rotation set holds, and the scratch buffers shared by all sets. A GPU backend
//! only has to allocate buffers and execute calls; the argument order is
//! `kernels/README.md`'s, written down once here. Plans depend on the device only through a
//! [`Target`]; one over the device's grid or shared-memory limits is refused before launch.

pub mod decode;
mod text;

pub use text::to_lines;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::inputs::{output_shape, pages_for, TRIAD_SCALAR, WRITE_VALUE};
use crate::launch::{self, Geometry};
use crate::op::{OpKind, OpSpec, Work};
use crate::target::Target;
use crate::tensor::HostTensor;

/// One kernel argument.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    /// Device pointer to input tensor `i` of the rotation set (layout order).
    Input(usize),
    /// Device pointer to output buffer `i` of the rotation set.
    Output(usize),
    /// Device pointer to scratch buffer `i` (shared by all sets).
    Scratch(usize),
    /// A 32-bit integer.
    I32(i32),
    /// A 64-bit integer.
    I64(i64),
    /// A 32-bit float.
    F32(f32),
    /// Sixteen bytes passed by value (`uint4`).
    U32x4([u32; 4]),
}

/// One step of an iteration.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Launch `function` with `geometry` and `args`.
    Kernel {
        /// `extern "C"` name.
        function: String,
        /// Grid and block.
        geometry: Geometry,
        /// Arguments in order.
        args: Vec<Arg>,
    },
    /// Zero scratch buffer `i` (stream-ordered memset).
    ZeroScratch(usize),
}

/// Where the output of an iteration is.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputDesc {
    /// Output buffer index.
    pub index: usize,
    /// Tensor name.
    pub name: &'static str,
    /// Element type as stored.
    pub dtype: DType,
    /// Shape.
    pub shape: Vec<usize>,
}

/// Everything a GPU backend needs to run one op with our kernels.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    /// The steps of one iteration.
    pub steps: Vec<Step>,
    /// Bytes of each output buffer of a rotation set.
    pub output_bytes: Vec<usize>,
    /// Bytes of each scratch buffer.
    pub scratch_bytes: Vec<usize>,
    /// The output to check.
    pub output: OutputDesc,
    /// Work counted by the kernel (`peak_mma`), else the cost model applies.
    pub counted_work: Option<Work>,
}

impl Plan {
    /// Refuses the plan when a kernel's shared memory per block, the static bytes the
    /// compiled kernel declares (`static_of`; `None` when the runtime cannot say) plus its
    /// dynamic bytes, exceeds `limit_bytes` on `device` ([`launch::check_shared_memory`]).
    pub fn check_shared_memory(
        &self,
        static_of: &mut dyn FnMut(&str) -> Result<Option<u64>>,
        limit_bytes: u64,
        device: &str,
    ) -> Result<()> {
        for step in &self.steps {
            if let Step::Kernel {
                function, geometry, ..
            } = step
            {
                let static_bytes = static_of(function)?.unwrap_or(0);
                launch::check_shared_memory(function, static_bytes, geometry, limit_bytes, device)?;
            }
        }
        Ok(())
    }
}

/// Kernel-name suffix of a dtype.
pub fn suffix(dtype: DType) -> &'static str {
    match dtype {
        DType::F32 => "f32",
        DType::F16 => "f16",
        DType::Bf16 => "bf16",
        DType::Fp8E4m3 => "fp8",
    }
}

/// `value` in `dtype`, repeated to fill 16 bytes, as four u32 (the `hp_write` pattern).
pub fn vector_pattern(dtype: DType, value: f32) -> [u32; 4] {
    let t = HostTensor::from_f32("pattern", vec![16], dtype, &[value; 16]);
    let mut bytes = Vec::with_capacity(16);
    for i in 0..(16 / dtype.size_bytes() as usize) {
        bytes.extend_from_slice(&element_bytes(&t, i));
    }
    let mut out = [0u32; 4];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u32::from_le_bytes([
            bytes[4 * i],
            bytes[4 * i + 1],
            bytes[4 * i + 2],
            bytes[4 * i + 3],
        ]);
    }
    out
}

fn element_bytes(t: &HostTensor, i: usize) -> Vec<u8> {
    use crate::tensor::HostData;
    match &t.data {
        HostData::F32(v) => v[i].to_le_bytes().to_vec(),
        HostData::F16(v) => v[i].to_bits().to_le_bytes().to_vec(),
        HostData::Bf16(v) => v[i].to_bits().to_le_bytes().to_vec(),
        HostData::Fp8E4m3(v) => vec![v[i]],
        HostData::I32(v) => v[i].to_le_bytes().to_vec(),
    }
}

pub(crate) fn kernel(function: String, geometry: Geometry, args: Vec<Arg>) -> Step {
    Step::Kernel {
        function,
        geometry,
        args,
    }
}

pub(crate) fn out(spec: &OpSpec, index: usize, name: &'static str) -> OutputDesc {
    OutputDesc {
        index,
        name,
        dtype: spec.dtype,
        shape: output_shape(spec).unwrap_or_default(),
    }
}

/// The one-f32 output of `read` and `l2_read`.
fn sum_output() -> OutputDesc {
    OutputDesc {
        index: 0,
        name: "sum",
        dtype: DType::F32,
        shape: vec![1],
    }
}

pub(crate) fn out_bytes(spec: &OpSpec) -> usize {
    output_shape(spec)
        .unwrap_or_default()
        .iter()
        .product::<usize>()
        * spec.dtype.size_bytes() as usize
}

fn head_dim(spec: &OpSpec) -> Result<u64> {
    match spec.dim("head_dim") {
        d @ (64 | 128) => Ok(d),
        d => Err(Error::unsupported(format!(
            "the hotpath {} kernels take head_dim 64 or 128; got head_dim={d}",
            spec.op
        ))),
    }
}

/// The plan of our kernels for `spec` on `target`, refused when a kernel's grid or shared
/// memory exceeds the target's limits. Ops that are not kernels (`h2d`, `d2h`) and vendor
/// libraries are not planned here.
pub fn plan(spec: &OpSpec, target: &Target) -> Result<Plan> {
    let p = plan_unchecked(spec, target)?;
    for step in &p.steps {
        if let Step::Kernel {
            function, geometry, ..
        } = step
        {
            let g = geometry.grid;
            target.check_grid(function, (g.0 as u64, g.1 as u64, g.2 as u64))?;
            launch::check_shared_memory(
                function,
                0,
                geometry,
                target.smem_per_block,
                &target.arch,
            )?;
        }
    }
    Ok(p)
}

fn plan_unchecked(spec: &OpSpec, target: &Target) -> Result<Plan> {
    let units = target.units;
    let d = |k: &str| spec.dim(k);
    let dt = suffix(spec.dtype);
    let s = spec.dtype.size_bytes();
    let simple = |steps: Vec<Step>, output: OutputDesc, output_bytes: Vec<usize>| Plan {
        steps,
        output_bytes,
        scratch_bytes: vec![],
        output,
        counted_work: None,
    };
    Ok(match spec.op {
        OpKind::Copy => {
            let n_vec = launch::vectors16(d("elements") * s) as i64;
            let g = launch::stream(n_vec as u64, units);
            simple(
                vec![kernel(
                    "hp_copy".into(),
                    g,
                    vec![Arg::Input(0), Arg::Output(0), Arg::I64(n_vec)],
                )],
                out(spec, 0, "b"),
                vec![out_bytes(spec)],
            )
        }
        OpKind::Write => {
            let n_vec = launch::vectors16(d("elements") * s) as i64;
            let g = launch::stream(n_vec as u64, units);
            let pattern = vector_pattern(spec.dtype, WRITE_VALUE);
            simple(
                vec![kernel(
                    "hp_write".into(),
                    g,
                    vec![Arg::Output(0), Arg::I64(n_vec), Arg::U32x4(pattern)],
                )],
                out(spec, 0, "a"),
                vec![out_bytes(spec)],
            )
        }
        OpKind::Triad => {
            let n = d("elements") as i64;
            let g = launch::stream(n as u64, units);
            let args = vec![
                Arg::Output(0),
                Arg::Input(0),
                Arg::Input(1),
                Arg::I64(n),
                Arg::F32(TRIAD_SCALAR),
            ];
            simple(
                vec![kernel(format!("hp_triad_{dt}"), g, args)],
                out(spec, 0, "a"),
                vec![out_bytes(spec)],
            )
        }
        OpKind::L2Read => {
            let n = d("elements") as i64;
            let g = launch::l2_read(n as u64, s, units);
            let count = g.blocks() as usize;
            let passes = d("passes").min(i32::MAX as u64) as i32;
            Plan {
                steps: vec![kernel(
                    format!("hp_l2_read_{dt}"),
                    g,
                    vec![
                        Arg::Input(0),
                        Arg::I64(n),
                        Arg::I32(passes),
                        Arg::Scratch(0),
                        Arg::Scratch(1),
                        Arg::Output(0),
                    ],
                )],
                output_bytes: vec![4],
                // Partials, then the arrival counter (zero at allocation; the last block
                // resets it for the next launch).
                scratch_bytes: vec![count * 4, 4],
                output: sum_output(),
                counted_work: None,
            }
        }
        OpKind::Read => {
            let n = d("elements") as i64;
            let g = launch::read(n as u64, s, units);
            let count = g.blocks() as i32;
            Plan {
                steps: vec![
                    kernel(
                        format!("hp_read_{dt}"),
                        g,
                        vec![Arg::Input(0), Arg::I64(n), Arg::Scratch(0)],
                    ),
                    kernel(
                        "hp_reduce_partials".into(),
                        Geometry {
                            grid: (1, 1, 1),
                            block: (256, 1, 1),
                            shared_bytes: 0,
                        },
                        vec![Arg::Scratch(0), Arg::I32(count), Arg::Output(0)],
                    ),
                ],
                output_bytes: vec![4],
                scratch_bytes: vec![count as usize * 4],
                output: sum_output(),
                counted_work: None,
            }
        }
        OpKind::Gemv => {
            let (m, n, k) = (d("m"), d("n"), d("k"));
            if k % 8 != 0 {
                return Err(Error::unsupported(format!(
                    "the hotpath gemv needs k to be a multiple of 8 (16-byte rows); got k={k}"
                )));
            }
            let splits = launch::gemv_splits(n, k, units);
            let dims = vec![
                Arg::I32(m as i32),
                Arg::I32(n as i32),
                Arg::I32(k as i32),
                Arg::I32(splits as i32),
            ];
            let mut args = vec![
                Arg::Input(0),
                Arg::Input(1),
                Arg::Output(0),
                Arg::Scratch(0),
            ];
            args.extend(dims);
            let mut steps = vec![];
            if splits > 1 {
                steps.push(Step::ZeroScratch(0));
            }
            steps.push(kernel(
                format!("hp_gemv_{dt}"),
                launch::gemv(n, splits),
                args,
            ));
            if splits > 1 {
                let count = (m * n) as i64;
                steps.push(kernel(
                    format!("hp_gemv_finish_{dt}"),
                    launch::elementwise(count as u64),
                    vec![Arg::Scratch(0), Arg::Output(0), Arg::I64(count)],
                ));
            }
            Plan {
                steps,
                output_bytes: vec![out_bytes(spec)],
                scratch_bytes: vec![(m * n * 4) as usize],
                output: out(spec, 0, "c"),
                counted_work: None,
            }
        }
        OpKind::Gemm => {
            let (m, n, k) = (d("m"), d("n"), d("k"));
            if k % 8 != 0 {
                return Err(Error::unsupported(format!(
                    "the hotpath gemm needs k to be a multiple of 8 (16-byte rows); got k={k}"
                )));
            }
            let args = vec![
                Arg::Input(0),
                Arg::Input(1),
                Arg::Output(0),
                Arg::I32(m as i32),
                Arg::I32(n as i32),
                Arg::I32(k as i32),
            ];
            simple(
                vec![kernel(format!("hp_gemm_{dt}"), launch::gemm(m, n), args)],
                out(spec, 0, "c"),
                vec![out_bytes(spec)],
            )
        }
        OpKind::AttnPrefill => {
            let hd = head_dim(spec)?;
            let g = launch::attn_prefill(d("batch"), d("seq"), d("heads_q"));
            let args = vec![
                Arg::Input(0),
                Arg::Input(1),
                Arg::Input(2),
                Arg::Output(0),
                Arg::I32(d("batch") as i32),
                Arg::I32(d("seq") as i32),
                Arg::I32(d("heads_q") as i32),
                Arg::I32(d("heads_kv") as i32),
                Arg::I32(d("causal") as i32),
                Arg::F32(1.0 / (hd as f32).sqrt()),
            ];
            simple(
                vec![kernel(format!("hp_attn_prefill_{dt}_d{hd}"), g, args)],
                out(spec, 0, "o"),
                vec![out_bytes(spec)],
            )
        }
        OpKind::AttnDecode => decode::plan(spec, target)?,
        OpKind::KvWrite | OpKind::KvRead => {
            let (t, ps) = (d("tokens"), d("page_size"));
            let row = (d("heads_kv") * d("head_dim")) as i32;
            let last = if spec.op == OpKind::KvWrite {
                Arg::I64((pages_for(t, ps) * ps) as i64)
            } else {
                Arg::I32(ps as i32)
            };
            let name = if spec.op == OpKind::KvWrite {
                "hp_kv_write"
            } else {
                "hp_kv_read"
            };
            let args = vec![
                Arg::Input(0),
                Arg::Input(1),
                Arg::Input(2),
                Arg::Output(0),
                Arg::I32(t as i32),
                Arg::I32(row),
                last,
            ];
            let out_name = if spec.op == OpKind::KvWrite {
                "kv_cache"
            } else {
                "kv"
            };
            simple(
                vec![kernel(format!("{name}_{dt}"), launch::kv(t), args)],
                out(spec, 0, out_name),
                vec![out_bytes(spec)],
            )
        }
        OpKind::PeakMma => peak(spec, target)?,
        OpKind::Launch => {
            let g = launch::grid((d("blocks"), 1, 1), 32);
            Plan {
                steps: vec![kernel("hp_empty".into(), g, vec![])],
                output_bytes: vec![0],
                scratch_bytes: vec![],
                output: OutputDesc {
                    index: 0,
                    name: "none",
                    dtype: DType::F32,
                    shape: vec![0],
                },
                counted_work: None,
            }
        }
        OpKind::H2d | OpKind::D2h => {
            return Err(Error::unsupported(format!(
                "{} is a copy, not a kernel: the backend runs it itself",
                spec.op
            )))
        }
    })
}

/// The compute-roof plan: FMA chains for f32; for f16/bf16/fp8, wgmma on Hopper (`sm_90a`),
/// `mma.sync` elsewhere on NVIDIA (fp8 only on sm_89, where it is native), MFMA on AMD.
fn peak(spec: &OpSpec, target: &Target) -> Result<Plan> {
    let iters = spec.dim("iters");
    let dt = suffix(spec.dtype);
    let k = if spec.dtype == DType::Fp8E4m3 { 32 } else { 16 };
    let (function, g, lanes, flops, args) = match spec.dtype {
        DType::F32 => {
            let g = launch::peak(target.units);
            (
                "hp_peak_fma_f32".to_string(),
                g,
                launch::peak_fma_lanes(&g),
                launch::peak_fma_flops(&g, iters),
                vec![Arg::Output(0), Arg::I32(iters as i32)],
            )
        }
        _ if target.has_wgmma() => {
            let g = launch::peak_wgmma(target.units);
            (
                format!("hp_peak_wgmma_{dt}"),
                g,
                launch::peak_wgmma_lanes(&g),
                launch::peak_wgmma_flops(&g, k, iters),
                vec![Arg::Output(0), Arg::I32(iters as i32)],
            )
        }
        DType::Fp8E4m3 if !target.has_fp8_mma_sync() => {
            return Err(Error::unsupported(format!(
                "the hotpath fp8 peak runs on sm_89 (mma.sync) and sm_90a (wgmma); {} has neither on its tensor cores",
                target.arch
            )))
        }
        _ => {
            let g = launch::peak(target.units);
            (
                format!("hp_peak_mma_{dt}"),
                g,
                launch::peak_mma_lanes(&g),
                launch::peak_mma_flops(&g, k, iters),
                // The last argument is 0 at run time; the kernel folds it into an operand
                // so the compiler cannot hoist the product out of the timed loop.
                vec![Arg::Output(0), Arg::I32(iters as i32), Arg::I32(0)],
            )
        }
    };
    Ok(Plan {
        steps: vec![kernel(function, g, args)],
        output_bytes: vec![lanes as usize * 4],
        scratch_bytes: vec![],
        output: OutputDesc {
            index: 0,
            name: "lanes",
            dtype: DType::F32,
            shape: vec![lanes as usize],
        },
        counted_work: Some(Work { flops, bytes: 0 }),
    })
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod wave64_tests;
