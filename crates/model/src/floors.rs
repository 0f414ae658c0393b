//! Latency floors (docs/floors.md): memory floor = bytes / bandwidth, compute floor =
//! Σ FLOPs / peak of each op's dtype, floor = the larger (TPOT or TTFT ≥ floor); the
//! kernel-composed step time sums the measured kernels at the step's exact shapes, and
//! MBU = memory floor / composed time, MFU = compute floor / composed time (against the
//! spec roofs, Databricks' definition).

use serde::Serialize;

use super::step::{self, Category, ModelRun, Phase, Step, StepOp};
use hotpath_core::dtype::DType;
use hotpath_core::error::Result;
use hotpath_core::results::{BenchmarkResult, ResultsFile, Status};
use hotpath_core::roofline::{Bound, Roofs};

/// A floor under one set of roofs. A part whose roof is unknown is `None`; `floor_s` is
/// then the known part (still a lower bound) and `bound` is `unknown`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Floor {
    /// Bytes ÷ bandwidth, seconds.
    pub memory_floor_s: Option<f64>,
    /// Σ FLOPs ÷ peak FLOP/s of each op's dtype, seconds.
    pub compute_floor_s: Option<f64>,
    /// The larger of the two, seconds.
    pub floor_s: Option<f64>,
    /// Which one binds.
    pub bound: Bound,
}

/// The floor of `ops` under `roofs`.
pub fn floor(ops: &[&StepOp], roofs: &Roofs) -> Floor {
    let bytes: f64 = ops.iter().map(|o| o.bytes()).sum();
    let memory = roofs.mem_bytes_per_s.map(|bw| bytes / bw);
    let compute = ops
        .iter()
        .filter(|o| o.flops_each > 0.0)
        .map(|o| roofs.peak_flops.get(o.dtype.name()).map(|p| o.flops() / p))
        .sum::<Option<f64>>();
    let (floor_s, bound) = match (memory, compute) {
        (Some(m), Some(c)) if c > m => (Some(c), Bound::Compute),
        (Some(m), Some(_)) => (Some(m), Bound::Memory),
        (m, c) => (m.or(c), Bound::Unknown),
    };
    Floor {
        memory_floor_s: memory,
        compute_floor_s: compute,
        floor_s,
        bound,
    }
}

/// Where the roofs come from, and the measured kernels when a results file is given.
pub struct Roofing<'a> {
    /// Hardware id (`h100-sxm`, `cpu-generic`).
    pub hardware_id: String,
    /// Spec roofs (on a CPU: the measured ceilings stand in).
    pub spec: Roofs,
    /// Measured ceilings of a results file.
    pub measured: Option<Roofs>,
    /// Measured kernels of a results file.
    pub benchmarks: Option<&'a [BenchmarkResult]>,
}

impl<'a> Roofing<'a> {
    /// Spec roofs of a hardware entry, nothing measured.
    pub fn spec(hw: &hotpath_core::hardware::HardwareSpec) -> Roofing<'static> {
        Roofing {
            hardware_id: hw.id.clone(),
            spec: Roofs {
                mem_bytes_per_s: hw.mem_bytes_per_s,
                peak_flops: hw.peak_flops.clone(),
                set_by: Default::default(),
            },
            measured: None,
            benchmarks: None,
        }
    }

    /// A results file's spec roofs, measured ceilings and kernels.
    pub fn results(file: &'a ResultsFile) -> Roofing<'a> {
        Roofing {
            hardware_id: file.hardware.id.clone(),
            spec: file.hardware.roofs(),
            measured: Some(file.measured.clone()),
            benchmarks: Some(&file.benchmarks),
        }
    }
}

/// The measured kernel that stands for one op: the fastest passing implementation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct KernelTime {
    /// Benchmark id (`op/shape/dtype/impl`).
    pub id: String,
    /// Implementation.
    pub imp: String,
    /// Median seconds per run.
    pub median_s: f64,
    /// median × runs per instance × instances, seconds.
    pub step_s: f64,
}

/// The step time composed from measured kernels.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Composed {
    /// Σ over benchmarked ops of kernel median × runs; `None` when a kernel is missing.
    pub step_s: Option<f64>,
    /// Memory floor (spec) ÷ composed time.
    pub mbu: Option<f64>,
    /// Compute floor (spec) ÷ composed time.
    pub mfu: Option<f64>,
    /// Kernels of the step that the results file does not hold (ids without impl).
    pub missing: Vec<String>,
}

/// One op in the report: its accounting, its floor alone, and its measured kernel.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OpReport {
    /// `decode` or `prefill`.
    pub phase: Phase,
    /// Op name (`qkv`, `attention`, ...).
    pub name: &'static str,
    /// `weights`, `kv_read` or `kv_write`.
    pub category: Category,
    /// Benchmark at the exact shape (`op/shape/dtype`), when one measures it.
    pub kernel: Option<String>,
    /// dtype whose peak governs its FLOPs.
    pub dtype: DType,
    /// `per_layer` or `per_step`.
    pub scope: &'static str,
    /// Instances per step (layers, or 1).
    pub count: u64,
    /// Kernel runs per instance (distinct experts for a routed MLP).
    pub calls: f64,
    /// Bytes of one instance (one layer's, for per-layer ops).
    pub bytes_each: f64,
    /// FLOPs of one instance.
    pub flops_each: f64,
    /// Bytes of all instances.
    pub bytes: f64,
    /// FLOPs of all instances.
    pub flops: f64,
    /// Floor of all instances at the spec roofs, seconds.
    pub floor_s: Option<f64>,
    /// Floor of all instances at the measured ceilings, seconds.
    pub measured_floor_s: Option<f64>,
    /// The measured kernel, when a results file holds it.
    pub measured: Option<KernelTime>,
}

/// One phase's floors.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PhaseReport {
    /// Tokens processed (B in decode, B·L in prefill).
    pub tokens: u64,
    /// Weight bytes read per step.
    pub weight_bytes: f64,
    /// KV-cache bytes read per step.
    pub kv_bytes: f64,
    /// KV-cache bytes written per step (the new tokens' K and V).
    pub kv_write_bytes: f64,
    /// Every compulsory byte.
    pub bytes: f64,
    /// Every FLOP.
    pub flops: f64,
    /// Floors at the spec roofs.
    #[serde(flatten)]
    pub spec: Floor,
    /// Decode: tokens per second per sequence at the floor (1 / floor).
    pub tokens_per_s_per_seq: Option<f64>,
    /// Floors at the measured ceilings (with a results file).
    pub measured: Option<Floor>,
    /// Composed from measured kernels (with a results file).
    pub composed: Option<Composed>,
}

/// The floors of a model run on one device.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FloorsReport {
    /// Model id.
    pub model: String,
    /// Where its config comes from.
    pub source: String,
    /// Sequences.
    pub batch: u64,
    /// Context (decode) or prompt length (prefill), tokens.
    pub context: u64,
    /// Weight dtype (the activations' under int4 weights).
    pub dtype: DType,
    /// Weight-only int4's group size, when the linear weights are int4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub int4_group: Option<u64>,
    /// KV-cache dtype.
    pub kv_dtype: DType,
    /// Tensor-parallel degree (shapes, bytes and FLOPs are one GPU's).
    pub tp: u64,
    /// Expert-parallel degree (a mixture's experts split whole over this many GPUs).
    #[serde(skip_serializing_if = "is_one")]
    pub ep: u64,
    /// Hardware id of the spec roofs.
    pub hardware: String,
    /// Spec roofs used.
    pub spec_roofs: Roofs,
    /// Measured ceilings used, with a results file.
    pub measured_roofs: Option<Roofs>,
    /// What the numbers assume.
    pub notes: Vec<String>,
    /// One decode step (TPOT floor).
    pub decode: Option<PhaseReport>,
    /// One prefill of L tokens per sequence (TTFT floor).
    pub prefill: Option<PhaseReport>,
    /// Every op of every phase reported.
    pub per_op: Vec<OpReport>,
}

fn is_one(v: &u64) -> bool {
    *v == 1
}

/// Floors of `run` in `phases` under `roofing`.
pub fn analyze(run: &ModelRun, phases: &[Phase], roofing: &Roofing) -> Result<FloorsReport> {
    let mut report = FloorsReport {
        model: run.model.id.clone(),
        source: run.model.source.clone(),
        batch: run.batch,
        context: run.context,
        dtype: run.dtype,
        int4_group: run.int4_group,
        kv_dtype: run.kv_dtype,
        tp: run.tp,
        ep: run.ep,
        hardware: roofing.hardware_id.clone(),
        spec_roofs: roofing.spec.clone(),
        measured_roofs: roofing.measured.clone(),
        notes: notes(run, phases, roofing.benchmarks.is_some()),
        decode: None,
        prefill: None,
        per_op: Vec::new(),
    };
    for &phase in phases {
        let step = step::step(run, phase)?;
        let (phase_report, ops) = phase_report(&step, roofing);
        report.per_op.extend(ops);
        match phase {
            Phase::Decode => report.decode = Some(phase_report),
            Phase::Prefill => report.prefill = Some(phase_report),
        }
    }
    Ok(report)
}

fn phase_report(step: &Step, roofing: &Roofing) -> (PhaseReport, Vec<OpReport>) {
    let all: Vec<&StepOp> = step.ops.iter().collect();
    let spec = floor(&all, &roofing.spec);
    let measured = roofing.measured.as_ref().map(|r| floor(&all, r));
    let mut ops = Vec::new();
    let mut missing = Vec::new();
    let mut composed_s = 0.0;
    for op in &step.ops {
        let kernel_time = match (&op.kernel, roofing.benchmarks) {
            (Some(k), Some(benchmarks)) => {
                let best = fastest(benchmarks, k);
                if best.is_none() {
                    missing.push(k.to_string());
                }
                best.map(|(id, imp, median_s)| {
                    let step_s = median_s * op.calls * op.count as f64;
                    composed_s += step_s;
                    KernelTime {
                        id,
                        imp,
                        median_s,
                        step_s,
                    }
                })
            }
            (None, Some(_)) if op.flops_each > 0.0 => {
                missing.push(format!("{} (no benchmark models it)", op.name));
                None
            }
            _ => None,
        };
        ops.push(OpReport {
            phase: step.phase,
            name: op.name,
            category: op.category,
            kernel: op.kernel.as_ref().map(|k| k.to_string()),
            dtype: op.dtype,
            scope: if op.per_layer {
                "per_layer"
            } else {
                "per_step"
            },
            count: op.count,
            calls: op.calls,
            bytes_each: op.bytes_each,
            flops_each: op.flops_each,
            bytes: op.bytes(),
            flops: op.flops(),
            floor_s: floor(&[op], &roofing.spec).floor_s,
            measured_floor_s: roofing
                .measured
                .as_ref()
                .and_then(|r| floor(&[op], r).floor_s),
            measured: kernel_time,
        });
    }
    let composed = roofing.benchmarks.map(|_| {
        let step_s = missing.is_empty().then_some(composed_s);
        Composed {
            step_s,
            mbu: step_s.and_then(|t| spec.memory_floor_s.map(|m| m / t)),
            mfu: step_s.and_then(|t| spec.compute_floor_s.map(|c| c / t)),
            missing,
        }
    });
    let report = PhaseReport {
        tokens: step.tokens,
        weight_bytes: step.bytes_of(Category::Weights),
        kv_bytes: step.bytes_of(Category::KvRead),
        kv_write_bytes: step.bytes_of(Category::KvWrite),
        bytes: step.bytes(),
        flops: step.flops(),
        spec,
        tokens_per_s_per_seq: match step.phase {
            Phase::Decode => spec.floor_s.map(|f| 1.0 / f),
            Phase::Prefill => None,
        },
        measured,
        composed,
    };
    (report, ops)
}

/// The fastest passing benchmark of `kernel` (same op, shape and dtype): id, impl, median.
fn fastest(
    benchmarks: &[BenchmarkResult],
    kernel: &hotpath_core::op::OpSpec,
) -> Option<(String, String, f64)> {
    benchmarks
        .iter()
        .filter(|b| {
            b.status == Status::Ok
                && b.op == kernel.op
                && b.dtype == kernel.dtype
                && b.shape.same_as(&kernel.shape)
        })
        .filter_map(|b| b.time.map(|t| (b.id.clone(), b.imp.clone(), t.median_s)))
        .min_by(|a, b| a.2.total_cmp(&b.2))
}

/// What the numbers of `run` assume, one sentence each.
fn notes(run: &ModelRun, phases: &[Phase], roofing_has_kernels: bool) -> Vec<String> {
    let m = &run.model;
    let mut notes = vec![
        "bytes: linear layers and LM head read in full, embedding rows of the step's tokens only, norms counted, KV cache read, new K/V written; activations assumed on chip".to_string(),
    ];
    if run.tp > 1 {
        let what = match m.mla {
            Some(_) => "query heads, projections and vocab split",
            None => "weights, heads and KV split",
        };
        notes.push(format!(
            "tensor parallel {}: one GPU's shard ({what} {} ways; norms replicated); all-reduce communication is not modelled",
            run.tp, run.tp
        ));
    }
    if let Some(mla) = m.mla {
        notes.push(format!(
            "latent attention: the cache holds {} + {} elements per token per layer, read once for all query heads; decode runs the absorbed form (W_UK and W_UV per head, in the high dtype); the latent cache and the latent down-projections (q_a, kv_a) are whole on every GPU",
            mla.kv_lora_rank, mla.qk_rope_head_dim
        ));
    }
    if let Some(moe) = m.moe {
        let held = run.experts_held().unwrap_or(moe.num_local_experts);
        if run.ep > 1 {
            notes.push(format!(
                "expert parallel {}: each GPU holds {held} of the {} experts whole and computes the routed rows that land on them; all-to-all dispatch is not modelled",
                run.ep, moe.num_local_experts
            ));
        }
        for &phase in phases {
            let tokens = match phase {
                Phase::Decode => run.batch,
                Phase::Prefill => run.batch.saturating_mul(run.context),
            };
            notes.push(format!(
                "{}: {} tokens routed to {} of {} experts touch E·(1 − (1 − k/E)^T) = {:.3} distinct experts per layer on average (uniform routing); this GPU's {held} touch {:.3}",
                phase.name(),
                tokens,
                moe.num_experts_per_tok,
                moe.num_local_experts,
                moe.expected_distinct(tokens),
                moe.expected_distinct_of(held, tokens),
            ));
        }
        if moe.dense_layers > 0 {
            notes.push(format!(
                "the first {} layers have a dense MLP of {} (dense_* rows); the other {} are routed",
                moe.dense_layers,
                m.intermediate_size,
                m.num_hidden_layers - moe.dense_layers.min(m.num_hidden_layers)
            ));
        }
    }
    if let Some(w) = m.sliding_window {
        notes.push(format!(
            "sliding window {w}: decode attention reads at most {w} cached tokens; prefill attention beyond {w} tokens is counted windowed and has no benchmark"
        ));
    }
    if run.dtype == DType::Fp8E4m3 {
        notes.push("fp8: linear weights in fp8_e4m3; LM head, router, norms and embedding stay bf16, as FP8 checkpoints keep them".into());
    }
    if roofing_has_kernels {
        notes.push("kernel-composed time: each row's fastest measured kernel at its exact shape × its runs; a row without a benchmark (prefill attention under a window or of latent attention) leaves the composed time unknown and is named".into());
    }
    if phases.contains(&Phase::Prefill) {
        notes.push(
            "prefill: the LM head runs on the last prompt token of each sequence only".into(),
        );
    }
    notes
}
