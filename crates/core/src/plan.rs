//! Backend-independent launch plans: for an op, the kernels one iteration runs (in order),
//! each with its geometry and argument list, the output buffers a rotation set holds, and
//! the scratch buffers shared by all sets. A GPU backend only has to allocate buffers and
//! execute calls; the argument order is `kernels/README.md`'s, written down once here.

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::inputs::{output_shape, pages_for, TRIAD_SCALAR, WRITE_VALUE};
use crate::launch::{self, Geometry};
use crate::op::{OpKind, OpSpec, Work};
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

fn kernel(function: String, geometry: Geometry, args: Vec<Arg>) -> Step {
    Step::Kernel {
        function,
        geometry,
        args,
    }
}

fn out(spec: &OpSpec, index: usize, name: &'static str) -> OutputDesc {
    OutputDesc {
        index,
        name,
        dtype: spec.dtype,
        shape: output_shape(spec).unwrap_or_default(),
    }
}

fn out_bytes(spec: &OpSpec) -> usize {
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

/// The plan of our kernels for `spec` on a device with `units` SMs/CUs. Ops that are not
/// kernels (`h2d`, `d2h`) and vendor libraries are not planned here.
pub fn plan(spec: &OpSpec, units: u32) -> Result<Plan> {
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
        OpKind::Read | OpKind::L2Read => {
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
                output: OutputDesc {
                    index: 0,
                    name: "sum",
                    dtype: DType::F32,
                    shape: vec![1],
                },
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
        OpKind::AttnDecode => {
            let hd = head_dim(spec)?;
            let (b, l, hq, hkv, ps) = (
                d("batch"),
                d("context"),
                d("heads_q"),
                d("heads_kv"),
                d("page_size"),
            );
            if hq / hkv > 16 {
                return Err(Error::unsupported(format!(
                    "the hotpath attn_decode kernel serves at most 16 query heads per KV head; got {}",
                    hq / hkv
                )));
            }
            let splits = launch::decode_splits(b, hkv, l, units);
            let rows = (b * hq * splits as u64) as usize;
            let i = |v: u64| Arg::I32(v as i32);
            let main = vec![
                Arg::Input(0),
                Arg::Input(1),
                Arg::Input(2),
                Arg::Input(3),
                Arg::Scratch(0),
                Arg::Scratch(1),
                i(b),
                i(l),
                i(hq),
                i(hkv),
                i(ps),
                i(pages_for(l, ps)),
                Arg::I32(splits as i32),
            ];
            let combine = vec![
                Arg::Scratch(0),
                Arg::Scratch(1),
                Arg::Output(0),
                i(b),
                i(hq),
                Arg::I32(splits as i32),
                i(hd),
            ];
            Plan {
                steps: vec![
                    kernel(
                        format!("hp_attn_decode_{dt}_d{hd}"),
                        launch::attn_decode(b, hkv, splits),
                        main,
                    ),
                    kernel(
                        format!("hp_attn_decode_combine_{dt}"),
                        launch::attn_decode_combine(b, hq, hd as u32),
                        combine,
                    ),
                ],
                output_bytes: vec![out_bytes(spec)],
                scratch_bytes: vec![rows * hd as usize * 4, rows * 2 * 4],
                output: out(spec, 0, "o"),
                counted_work: None,
            }
        }
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
        OpKind::PeakMma => {
            let iters = d("iters");
            let g = launch::peak(units);
            let (function, lanes, flops) = match spec.dtype {
                DType::F32 => (
                    "hp_peak_fma_f32".to_string(),
                    launch::peak_fma_lanes(&g),
                    launch::peak_fma_flops(&g, iters),
                ),
                other => {
                    let k = if other == DType::Fp8E4m3 { 32 } else { 16 };
                    (
                        format!("hp_peak_mma_{dt}"),
                        launch::peak_mma_lanes(&g),
                        launch::peak_mma_flops(&g, k, iters),
                    )
                }
            };
            Plan {
                steps: vec![kernel(
                    function,
                    g,
                    vec![Arg::Output(0), Arg::I32(iters as i32)],
                )],
                output_bytes: vec![lanes as usize * 4],
                scratch_bytes: vec![],
                output: OutputDesc {
                    index: 0,
                    name: "lanes",
                    dtype: DType::F32,
                    shape: vec![lanes as usize],
                },
                counted_work: Some(Work { flops, bytes: 0 }),
            }
        }
        OpKind::Launch => {
            let g = Geometry {
                grid: (d("blocks").min(u32::MAX as u64) as u32, 1, 1),
                block: (32, 1, 1),
                shared_bytes: 0,
            };
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

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(op: OpKind, shape: &str, dtype: DType) -> OpSpec {
        OpSpec::parse(op, shape, dtype).unwrap()
    }

    #[test]
    fn write_patterns_replicate_the_value() {
        // 1.25 = 0x3FA00000 in f32, 0x3FA0 in bf16, 0x3D00 in f16.
        assert_eq!(vector_pattern(DType::F32, 1.25), [0x3FA0_0000; 4]);
        assert_eq!(vector_pattern(DType::Bf16, 1.25), [0x3FA0_3FA0; 4]);
        assert_eq!(vector_pattern(DType::F16, 1.25), [0x3D00_3D00; 4]);
    }

    #[test]
    fn gemv_splits_only_when_rows_are_few() {
        // 14336 rows on 132 SMs: one pass, no scratch zeroing.
        let p = plan(&spec(OpKind::Gemv, "m=1,n=14336,k=4096", DType::Bf16), 132).unwrap();
        assert_eq!(p.steps.len(), 1);
        // 1024 rows on 304 CUs (MI300X): ⌈1216/128⌉ = 10 splits → zero, gemv, finish.
        let p = plan(&spec(OpKind::Gemv, "m=2,n=1024,k=8192", DType::Bf16), 304).unwrap();
        assert_eq!(p.steps.len(), 3);
        assert_eq!(p.steps[0], Step::ZeroScratch(0));
        match &p.steps[1] {
            Step::Kernel {
                function,
                geometry,
                args,
            } => {
                assert_eq!(function, "hp_gemv_bf16");
                assert_eq!(geometry.grid, (128, 10, 1));
                assert_eq!(args[7], Arg::I32(10));
            }
            s => panic!("{s:?}"),
        }
        assert_eq!(p.scratch_bytes, vec![2 * 1024 * 4]);
    }

    #[test]
    fn decode_plan_sizes_its_partials() {
        // batch 1, 8 KV heads, 4096 tokens on 132 SMs: 16 splits; partials for 32 heads.
        let p = plan(
            &spec(OpKind::AttnDecode, "batch=1,context=4096", DType::Bf16),
            132,
        )
        .unwrap();
        assert_eq!(p.scratch_bytes, vec![32 * 16 * 128 * 4, 32 * 16 * 2 * 4]);
        let Step::Kernel {
            function, geometry, ..
        } = &p.steps[0]
        else {
            panic!()
        };
        assert_eq!(
            (function.as_str(), geometry.grid),
            ("hp_attn_decode_bf16_d128", (16, 8, 1))
        );
        assert!(plan(
            &spec(OpKind::AttnDecode, "context=64,head_dim=96", DType::Bf16),
            132
        )
        .is_err());
    }

    #[test]
    fn a_kernel_over_the_devices_shared_memory_is_refused_before_launch() {
        let p = plan(
            &spec(
                OpKind::AttnPrefill,
                "batch=1,seq=4096,head_dim=128",
                DType::Bf16,
            ),
            304,
        )
        .unwrap();
        // K + V tiles of 64 × 128 bf16: 32,768 B, within CDNA's 64 KiB of LDS.
        let mut fits = |_: &str| Ok(Some(32_768));
        assert!(p
            .check_shared_memory(&mut fits, launch::AMD_LDS_BYTES, "gfx942")
            .is_ok());
        let mut too_big = |_: &str| Ok(Some(73_728));
        let err = p
            .check_shared_memory(&mut too_big, launch::AMD_LDS_BYTES, "gfx942")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("hp_attn_prefill_bf16_d128 needs 73728 B of shared memory per block"),
            "{err}"
        );
        // A runtime that cannot say counts only the (zero) dynamic bytes.
        let mut unknown = |_: &str| Ok(None);
        assert!(p.check_shared_memory(&mut unknown, 0, "gfx942").is_ok());
    }

    #[test]
    fn peak_counts_per_vendor_width() {
        let p = plan(&spec(OpKind::PeakMma, "iters=100", DType::F32), 104).unwrap();
        // 416 blocks × 256 threads × 8 chains, 2 FLOPs per step.
        assert_eq!(p.counted_work.unwrap().flops, 416 * 256 * 8 * 2 * 100);
        assert_eq!(p.output_bytes, vec![416 * 256 * 8 * 4]);
    }
}

#[cfg(test)]
#[path = "plan_wave64_tests.rs"]
mod wave64_tests;
