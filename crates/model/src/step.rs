//! One decode step (one new token for each of B sequences with L cached tokens) or one
//! prefill (B prompts of L tokens) as a list of ops: the bytes that must cross the memory
//! bus, the FLOPs, and the benchmark that measures each op at the model's exact shape.
//!
//! Bytes per docs/floors.md: every linear layer and the LM head read in full once per step;
//! the embedding table is not (only the rows of the step's tokens are); norms count; the
//! KV cache is read in full (decode) and the new tokens' K/V are written. Activations are
//! not counted: a floor assumes they stay on chip. FLOPs: 2 per weight per token for the
//! linear layers, plus attention (4·B·L·q_heads·head_dim per layer in decode, causal
//! 2·B·L²·q_heads·head_dim per layer in prefill). In prefill the LM head runs on the last
//! token of each prompt only, as serving engines do, so the floor stays a lower bound.

use serde::{Deserialize, Serialize};

use hotpath_core::dtype::DType;
use hotpath_core::error::{Error, Result};
pub use hotpath_core::model_config::{default_kv_dtype, ModelRun, Phase};
use hotpath_core::op::{OpKind, OpSpec, Shape, MAX_DIM};

/// Tokens per KV-cache page in the attention and KV-write benchmarks of a model step.
pub const PAGE_SIZE: u64 = 16;

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
    /// `qkv`, `o`, `router`, `gate_up`, `down`, `attention`, `kv_write`, `norms`,
    /// `final_norm`, `embed`, `lm_head`.
    pub name: &'static str,
    /// What its bytes are.
    pub category: Category,
    /// The benchmark at this op's exact shape (`None`: nothing to benchmark, e.g. norms).
    pub kernel: Option<OpSpec>,
    /// Kernel runs per instance (the expected distinct experts for a routed MLP, else 1).
    pub calls: f64,
    /// Instances per step: the layers for per-layer ops, 1 for per-step ops.
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

/// C[m,n] = A[m,k]·W[n,k]ᵀ: a GEMV when m ≤ 16 (decode), else a GEMM.
fn linear(m: u64, n: u64, k: u64, dtype: DType) -> Result<OpSpec> {
    let op = if m <= 16 { OpKind::Gemv } else { OpKind::Gemm };
    kernel(op, &[("m", m), ("n", n), ("k", k)], dtype)
}

/// The ops of `run`'s step in `phase`, at one GPU's shard when `run.tp` > 1.
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
    let (h, d, layers) = (cfg.hidden_size, cfg.head_dim, cfg.num_hidden_layers);
    let (hq, hkv) = (cfg.num_attention_heads / tp, cfg.num_key_value_heads / tp);
    let inter = cfg.intermediate_size / tp;
    let vocab = cfg.vocab_size.div_ceil(tp);
    let (w, hi, kv) = (run.dtype, run.high_dtype(), run.kv_dtype);
    let (sw, sh, skv) = (
        w.size_bytes() as f64,
        hi.size_bytes() as f64,
        kv.size_bytes() as f64,
    );
    let t = tokens as f64;
    let f = |v: u64| v as f64;
    let mut ops = Vec::new();
    let mut push =
        |name, category, kernel, calls, per_layer: bool, dtype, bytes_each, flops_each| {
            ops.push(StepOp {
                name,
                category,
                kernel,
                calls,
                count: if per_layer { layers } else { 1 },
                per_layer,
                dtype,
                bytes_each,
                flops_each,
            })
        };
    let dense = |n: u64, k: u64, bias: u64| -> (f64, f64) {
        (f(n) * f(k) * sw + f(bias) * sh, 2.0 * t * f(n) * f(k))
    };

    let qkv_n = (hq + 2 * hkv) * d;
    let (bytes, flops) = dense(qkv_n, h, if cfg.qkv_bias { qkv_n } else { 0 });
    push(
        "qkv",
        Category::Weights,
        Some(linear(tokens, qkv_n, h, w)?),
        1.0,
        true,
        w,
        bytes,
        flops,
    );

    let (attn_kernel, attn_bytes, attn_flops) = attention(run, phase, hq, hkv, skv)?;
    push(
        "attention",
        Category::KvRead,
        attn_kernel,
        1.0,
        true,
        kv,
        attn_bytes,
        attn_flops,
    );
    let kv_new = kernel(
        OpKind::KvWrite,
        &[
            ("tokens", tokens),
            ("heads_kv", hkv),
            ("head_dim", d),
            ("page_size", PAGE_SIZE),
        ],
        kv,
    )?;
    push(
        "kv_write",
        Category::KvWrite,
        Some(kv_new),
        1.0,
        true,
        kv,
        2.0 * t * f(hkv) * f(d) * skv,
        0.0,
    );

    let (bytes, flops) = dense(h, hq * d, if cfg.o_bias { h } else { 0 });
    push(
        "o",
        Category::Weights,
        Some(linear(tokens, h, hq * d, w)?),
        1.0,
        true,
        w,
        bytes,
        flops,
    );

    let gate_bias = if cfg.mlp_bias { 2 * inter } else { 0 };
    let down_bias = if cfg.mlp_bias { h } else { 0 };
    match cfg.moe {
        None => {
            let (bytes, flops) = dense(2 * inter, h, gate_bias);
            let k = linear(tokens, 2 * inter, h, w)?;
            push(
                "gate_up",
                Category::Weights,
                Some(k),
                1.0,
                true,
                w,
                bytes,
                flops,
            );
            let (bytes, flops) = dense(h, inter, down_bias);
            let k = linear(tokens, h, inter, w)?;
            push(
                "down",
                Category::Weights,
                Some(k),
                1.0,
                true,
                w,
                bytes,
                flops,
            );
        }
        Some(moe) => {
            let e = moe.num_local_experts;
            let router = linear(tokens, e, h, hi)?;
            push(
                "router",
                Category::Weights,
                Some(router),
                1.0,
                true,
                hi,
                f(e) * f(h) * sh,
                2.0 * t * f(e) * f(h),
            );
            // D distinct experts each read once; every token computes its k experts, so
            // each touched expert sees on average T·k/D rows (rounded up for its kernel).
            let distinct = moe.expected_distinct(tokens);
            let routed = t * f(moe.num_experts_per_tok);
            let rows = (routed / distinct).ceil().max(1.0) as u64;
            let (bytes, _) = dense(2 * inter, h, gate_bias);
            let k = linear(rows, 2 * inter, h, w)?;
            let flops = 2.0 * routed * f(2 * inter) * f(h);
            push(
                "gate_up",
                Category::Weights,
                Some(k),
                distinct,
                true,
                w,
                distinct * bytes,
                flops,
            );
            let (bytes, _) = dense(h, inter, down_bias);
            let k = linear(rows, h, inter, w)?;
            let flops = 2.0 * routed * f(h) * f(inter);
            push(
                "down",
                Category::Weights,
                Some(k),
                distinct,
                true,
                w,
                distinct * bytes,
                flops,
            );
        }
    }
    push(
        "norms",
        Category::Weights,
        None,
        0.0,
        true,
        hi,
        f(2 * h) * sh,
        0.0,
    );

    push(
        "final_norm",
        Category::Weights,
        None,
        0.0,
        false,
        hi,
        f(h) * sh,
        0.0,
    );
    // The rows of the step's tokens (at most the whole table), split over the vocab shards.
    let rows = tokens.min(cfg.vocab_size) as f64 / tp as f64;
    push(
        "embed",
        Category::Weights,
        None,
        0.0,
        false,
        hi,
        rows * f(h) * sh,
        0.0,
    );
    let logits_rows = b; // decode: one per sequence; prefill: the last prompt token of each
    let head = linear(logits_rows, vocab, h, hi)?;
    push(
        "lm_head",
        Category::Weights,
        Some(head),
        1.0,
        false,
        hi,
        f(vocab) * f(h) * sh,
        2.0 * f(logits_rows) * f(vocab) * f(h),
    );
    Ok(Step { phase, tokens, ops })
}

/// Attention's kernel, KV bytes read and FLOPs per layer.
fn attention(
    run: &ModelRun,
    phase: Phase,
    hq: u64,
    hkv: u64,
    skv: f64,
) -> Result<(Option<OpSpec>, f64, f64)> {
    let (b, d) = (run.batch as f64, run.model.head_dim as f64);
    let (hq_f, hkv_f) = (hq as f64, hkv as f64);
    match phase {
        Phase::Decode => {
            let l = run.attended();
            let k = kernel(
                OpKind::AttnDecode,
                &[
                    ("batch", run.batch),
                    ("context", l),
                    ("heads_q", hq),
                    ("heads_kv", hkv),
                    ("head_dim", run.model.head_dim),
                    ("page_size", PAGE_SIZE),
                ],
                run.kv_dtype,
            )?;
            let l = l as f64;
            Ok((
                Some(k),
                b * l * 2.0 * hkv_f * d * skv,
                4.0 * b * hq_f * l * d,
            ))
        }
        Phase::Prefill => {
            let p = run.context as f64;
            // Causal: query i attends to i keys, Σ ≈ P²/2 (the cost model's halving); with
            // a window w < P, w²/2 + (P − w)·w. Each attended key costs 4·d FLOPs per head.
            let (pairs, windowed) = match run.model.sliding_window {
                Some(w) if w < run.context => {
                    let w = w as f64;
                    (w * w / 2.0 + (p - w) * w, true)
                }
                _ => (p * p / 2.0, false),
            };
            let k = if windowed {
                None // the attn_prefill benchmark has no window; it would overstate the work
            } else {
                Some(kernel(
                    OpKind::AttnPrefill,
                    &[
                        ("batch", run.batch),
                        ("seq", run.context),
                        ("heads_q", hq),
                        ("heads_kv", hkv),
                        ("head_dim", run.model.head_dim),
                        ("causal", 1),
                    ],
                    run.kv_dtype,
                )?)
            };
            Ok((k, 0.0, 4.0 * b * hq_f * pairs * d))
        }
    }
}
