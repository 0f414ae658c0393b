//! One decode step (one new token for each of B sequences with L cached tokens) or one
//! prefill (B prompts of L tokens) as a list of ops: the bytes that must cross the memory
//! bus, the FLOPs, and the benchmark that measures each op at the model's exact shape.
//!
//! Bytes per docs/floors.md: every linear layer and the LM head read in full once per step
//! (int4 weights: half a byte a weight plus a bf16 scale per group; fp8: a byte plus an f32
//! scale per row); of a mixture of experts only the experts the step's tokens are routed to
//! (their expected number, [`Moe::expected_distinct_of`]); the embedding table is not (only
//! the rows of the step's tokens are); norms count; the KV cache is read in full (decode)
//! and the new tokens' K/V are written (fp8: a byte an element). Activations are not
//! counted: a floor assumes they stay on chip, so the rotary embedding and the gated
//! activation have a kernel and no bytes.
//!
//! Every row of a decode step is a kernel at the model's shape: the projections (`gemv`,
//! `gemv_w4a16` or `gemv_fp8w`), `rope`, `attn_decode` or `attn_mla_decode` and `kv_write`
//! (with `kv_fp8=1` for an fp8 cache), the routed experts (`moe_gemm`), the norms
//! (`add_rmsnorm`), `silu_mul`, `embedding` and the LM head. FLOPs: 2 per weight per token
//! for the linear layers (per routed token for experts), plus attention. In prefill the LM
//! head runs on the last token of each prompt only, as serving engines do, so the floor
//! stays a lower bound. The attention rows are [`attention`]'s, the MLP rows [`mlp`]'s.

mod attention;
mod mlp;

use serde::{Deserialize, Serialize};

use hotpath_core::dtype::DType;
use hotpath_core::error::{Error, Result};
pub use hotpath_core::model_config::{default_kv_dtype, ModelRun, Moe, Phase, Weights};
use hotpath_core::op::{OpKind, OpSpec, Shape, MAX_DIM};

/// Tokens per KV-cache page in the attention and KV-write benchmarks of a model step.
pub const PAGE_SIZE: u64 = 16;

/// Tokens per page of a latent (MLA) cache: FlashMLA's and vLLM's 64.
pub const MLA_PAGE_SIZE: u64 = 64;

/// What an op's bytes are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Weights (linear layers, LM head, norms, embedding rows, biases).
    Weights,
    /// The KV cache read by attention.
    KvRead,
    /// The new tokens' K and V written into the cache.
    KvWrite,
}

/// One op of a step: `count` instances (one per layer, or one per step), each moving
/// `bytes_each` and computing `flops_each`, measured by `calls` runs of `kernel`.
#[derive(Clone, Debug, PartialEq)]
pub struct StepOp {
    /// `qkv`, `rope`, `attention`, `kv_write`, `o`, the MLP's rows (`gate_up`, `act`,
    /// `down`; `router` and `shared_*` of a mixture, `dense_*` of its dense layers), the
    /// latent attention's (`q_a`, `q_b`, `kv_a`, `q_absorb`, `v_absorb`, `kv_b`, `q_a_norm`,
    /// `kv_a_norm`), `norms`, `final_norm`, `embed`, `lm_head`.
    pub name: &'static str,
    /// What its bytes are.
    pub category: Category,
    /// The benchmark at this op's exact shape (`None`: nothing to benchmark, e.g. norms).
    pub kernel: Option<OpSpec>,
    /// Kernel runs per instance: 1, the expected distinct experts for experts run one
    /// GEMV each (quantized weights), the heads for the absorbed latent projections.
    pub calls: f64,
    /// Instances per step: the layers it is in for per-layer ops (a mixture's dense
    /// layers, or its routed ones), 1 for per-step ops.
    pub count: u64,
    /// Whether an instance is one layer's.
    pub per_layer: bool,
    /// The dtype whose peak FLOP/s governs its FLOPs.
    pub dtype: DType,
    /// Compulsory bytes of one instance.
    pub bytes_each: f64,
    /// FLOPs of one instance.
    pub flops_each: f64,
}

impl StepOp {
    /// Bytes of every instance together.
    pub fn bytes(&self) -> f64 {
        self.bytes_each * self.count as f64
    }

    /// FLOPs of every instance together.
    pub fn flops(&self) -> f64 {
        self.flops_each * self.count as f64
    }
}

/// One step of a model run, op by op.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    /// Decode or prefill.
    pub phase: Phase,
    /// Tokens the step processes (B in decode, B·L in prefill).
    pub tokens: u64,
    /// Its ops, per layer first, in execution order.
    pub ops: Vec<StepOp>,
}

impl Step {
    /// Sum of the bytes of `category`.
    pub fn bytes_of(&self, category: Category) -> f64 {
        self.ops
            .iter()
            .filter(|o| o.category == category)
            .map(StepOp::bytes)
            .sum()
    }

    /// Every compulsory byte of the step.
    pub fn bytes(&self) -> f64 {
        self.ops.iter().map(StepOp::bytes).sum()
    }

    /// Every FLOP of the step.
    pub fn flops(&self) -> f64 {
        self.ops.iter().map(StepOp::flops).sum()
    }
}

fn kernel(op: OpKind, dims: &[(&str, u64)], dtype: DType) -> Result<OpSpec> {
    let pairs: Vec<(String, u64)> = dims.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    Ok(OpSpec {
        op,
        shape: Shape::for_op(op, &pairs)?,
        dtype,
    })
}

/// C[m,n] = A[m,k]·W[n,k]ᵀ in `dtype`: a GEMV when m ≤ 16 (decode), else a GEMM.
fn linear(m: u64, n: u64, k: u64, dtype: DType) -> Result<OpSpec> {
    let op = if m <= 16 { OpKind::Gemv } else { OpKind::Gemm };
    kernel(op, &[("m", m), ("n", n), ("k", k)], dtype)
}

/// A linear layer of the run's own weights: int4 and fp8 GEMVs take bf16 activations
/// (`high`); no int4 GEMM is benchmarked (`None` at m > 16), fp8 ones are `gemm` in fp8.
fn weight_linear(run: &ModelRun, m: u64, n: u64, k: u64) -> Result<Option<OpSpec>> {
    let high = run.high_dtype();
    Ok(match (run.int4_group, run.dtype) {
        (Some(group), _) if m <= 16 && k.is_multiple_of(group) => Some(kernel(
            OpKind::GemvW4a16,
            &[("m", m), ("n", n), ("k", k), ("group", group)],
            high,
        )?),
        (Some(_), _) => None,
        (None, DType::Fp8E4m3) if m <= 16 => Some(kernel(
            OpKind::GemvFp8w,
            &[("m", m), ("n", n), ("k", k)],
            high,
        )?),
        (None, dtype) => Some(linear(m, n, k, dtype)?),
    })
}

/// A kernel on the KV cache in the run's KV dtype: an fp8 cache is `kv_fp8=1` under bf16
/// activations.
fn kv_kernel(run: &ModelRun, op: OpKind, dims: &[(&str, u64)]) -> Result<OpSpec> {
    match run.kv_dtype {
        DType::Fp8E4m3 => {
            let mut dims = dims.to_vec();
            dims.push(("kv_fp8", 1));
            kernel(op, &dims, run.high_dtype())
        }
        kv => kernel(op, dims, kv),
    }
}

/// One row before it is placed in the step: what [`StepOp`] holds but its instances.
struct Row {
    name: &'static str,
    category: Category,
    kernel: Option<OpSpec>,
    calls: f64,
    dtype: DType,
    bytes_each: f64,
    flops_each: f64,
}

impl Row {
    /// A row whose bytes are weights, measured by one run of `kernel`.
    fn weights(name: &'static str, kernel: Option<OpSpec>, dtype: DType) -> Row {
        Row {
            name,
            category: Category::Weights,
            kernel,
            calls: 1.0,
            dtype,
            bytes_each: 0.0,
            flops_each: 0.0,
        }
    }

    /// The same row with `bytes` and `flops` per instance.
    fn cost(self, bytes: f64, flops: f64) -> Row {
        Row {
            bytes_each: bytes,
            flops_each: flops,
            ..self
        }
    }

    /// The same row measured by `calls` kernel runs per instance.
    fn calls(self, calls: f64) -> Row {
        Row { calls, ..self }
    }

    /// The same row with its bytes in `category`.
    fn category(self, category: Category) -> Row {
        Row { category, ..self }
    }
}

/// The step as it is built: one GPU's shard of `run`, the shapes every row shares.
struct Rows<'a> {
    run: &'a ModelRun,
    phase: Phase,
    /// Tokens of the step (B in decode, B·L in prefill).
    tokens: u64,
    /// Query heads of this GPU.
    heads_q: u64,
    ops: Vec<StepOp>,
}

impl Rows<'_> {
    /// Places `row` in `count` layers (a row in no layer is left out).
    fn per_layer(&mut self, count: u64, row: Row) {
        if count > 0 {
            self.push(count, true, row);
        }
    }

    /// Places `row` in every layer.
    fn every_layer(&mut self, row: Row) {
        self.push(self.run.model.num_hidden_layers, true, row);
    }

    /// Places `row` once per step.
    fn per_step(&mut self, row: Row) {
        self.push(1, false, row);
    }

    fn push(&mut self, count: u64, per_layer: bool, row: Row) {
        self.ops.push(StepOp {
            name: row.name,
            category: row.category,
            kernel: row.kernel,
            calls: row.calls,
            count,
            per_layer,
            dtype: row.dtype,
            bytes_each: row.bytes_each,
            flops_each: row.flops_each,
        });
    }

    /// Bytes of an n×k weight matrix: int4 codes and a bf16 scale per group, fp8 codes and
    /// an f32 scale per row, or elements of the weight dtype.
    fn matrix(&self, n: u64, k: u64) -> f64 {
        let (n, k) = (n as f64, k as f64);
        let high = self.run.high_dtype().size_bytes() as f64;
        match (self.run.int4_group, self.run.dtype) {
            (Some(g), _) => n * k / 2.0 + n * (k / g as f64).ceil() * high,
            (None, DType::Fp8E4m3) => n * k + 4.0 * n,
            (None, w) => n * k * w.size_bytes() as f64,
        }
    }

    /// A linear layer n×k of the run's weights with `bias` bias elements (in the high
    /// dtype), on every token of the step: its kernel, bytes and FLOPs.
    fn dense(&self, name: &'static str, n: u64, k: u64, bias: u64) -> Result<Row> {
        let high = self.run.high_dtype().size_bytes() as f64;
        let kernel = weight_linear(self.run, self.tokens, n, k)?;
        Ok(Row::weights(name, kernel, self.run.dtype).cost(
            self.matrix(n, k) + bias as f64 * high,
            2.0 * self.tokens as f64 * n as f64 * k as f64,
        ))
    }

    /// The residual add + RMSNorm over `hidden` elements: its kernel and the weight's bytes.
    fn norm(&self, name: &'static str, hidden: u64) -> Result<Row> {
        let high = self.run.high_dtype();
        let k = kernel(
            OpKind::AddRmsnorm,
            &[("tokens", self.tokens), ("hidden", hidden)],
            high,
        )?;
        Ok(Row::weights(name, Some(k), high).cost(hidden as f64 * high.size_bytes() as f64, 0.0))
    }
}

/// The ops of `run`'s step in `phase`, at one GPU's shard when `run.tp` > 1 (and of its
/// experts when `run.ep` > 1).
pub fn step(run: &ModelRun, phase: Phase) -> Result<Step> {
    run.check()?;
    let cfg = &run.model;
    let tp = run.tp;
    let (b, ctx) = (run.batch, run.context);
    let tokens = match phase {
        Phase::Decode => b,
        Phase::Prefill => b.checked_mul(ctx).filter(|t| *t <= MAX_DIM).ok_or_else(|| {
            Error::bad_input(format!(
                "--batch {b} × --context {ctx} prompt tokens is absurd; at most {MAX_DIM} are accepted"
            ))
        })?,
    };
    let mut rows = Rows {
        run,
        phase,
        tokens,
        heads_q: cfg.num_attention_heads / tp,
        ops: Vec::new(),
    };
    match cfg.mla {
        Some(mla) => attention::latent(&mut rows, mla)?,
        None => attention::grouped(&mut rows)?,
    }
    mlp::rows(&mut rows)?;
    let (h, hi) = (cfg.hidden_size, run.high_dtype());
    let sh = hi.size_bytes() as f64;
    // The residual add + RMSNorm before attention and before the MLP.
    let norms = rows.norm("norms", h)?;
    rows.every_layer(Row {
        calls: 2.0,
        bytes_each: 2.0 * norms.bytes_each,
        ..norms
    });
    let final_norm = rows.norm("final_norm", h)?;
    rows.per_step(final_norm);
    // The rows of the step's tokens (at most the whole table), split over the vocab shards.
    let vocab = cfg.vocab_size.div_ceil(tp);
    let looked_up = tokens.min(vocab);
    let embed = kernel(
        OpKind::Embedding,
        &[("tokens", looked_up), ("hidden", h), ("vocab", vocab)],
        hi,
    )?;
    let embedded = tokens.min(cfg.vocab_size) as f64 / tp as f64;
    rows.per_step(Row::weights("embed", Some(embed), hi).cost(embedded * h as f64 * sh, 0.0));
    let logits_rows = b; // decode: one per sequence; prefill: the last prompt token of each
    let head = linear(logits_rows, vocab, h, hi)?;
    rows.per_step(Row::weights("lm_head", Some(head), hi).cost(
        vocab as f64 * h as f64 * sh,
        2.0 * logits_rows as f64 * vocab as f64 * h as f64,
    ));
    Ok(Step {
        phase,
        tokens,
        ops: rows.ops,
    })
}
