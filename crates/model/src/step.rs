//! One decode step (one new token for each of B sequences with L cached tokens) or one
//! prefill (B prompts of L tokens) as a list of ops: the bytes that must cross the memory
//! bus, the FLOPs, and the benchmark that measures each op at the model's exact shape.
//!
//! Bytes per docs/floors.md: every linear layer and the LM head read in full once per step
//! (int4 weights: half a byte a weight plus a bf16 scale per group; fp8: a byte plus an f32
//! scale per row); the embedding table is not (only the rows of the step's tokens are); norms
//! count; the KV cache is read in full (decode) and the new tokens' K/V are written (fp8: a
//! byte an element). Activations are not counted: a floor assumes they stay on chip, so the
//! rotary embedding and the gated activation have a kernel and no bytes.
//!
//! Every row of a decode step is a kernel at the model's shape: the projections (`gemv`,
//! `gemv_w4a16` or `gemv_fp8w`), `rope`, `attn_decode` and `kv_write` (with `kv_fp8=1` for an
//! fp8 cache), the norms (`add_rmsnorm`), `silu_mul`, `embedding` and the LM head. FLOPs: 2 per weight per token for the
//! linear layers, plus attention (4·B·L·q_heads·head_dim per layer in decode, causal
//! 2·B·L²·q_heads·head_dim per layer in prefill). In prefill the LM head runs on the last
//! token of each prompt only, as serving engines do, so the floor stays a lower bound.

use serde::{Deserialize, Serialize};

use hotpath_core::dtype::DType;
use hotpath_core::error::{Error, Result};
pub use hotpath_core::model_config::{default_kv_dtype, ModelRun, Phase, Weights};
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
    /// `qkv`, `rope`, `o`, `router`, `gate_up`, `act`, `down`, `attention`, `kv_write`,
    /// `norms`, `final_norm`, `embed`, `lm_head`.
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
    // A weight matrix's bytes: int4 codes and a bf16 scale per group, fp8 codes and an f32
    // scale per row, or elements of the dtype.
    let matrix = |n: u64, k: u64| -> f64 {
        match (run.int4_group, w) {
            (Some(g), _) => f(n) * f(k) / 2.0 + f(n) * (f(k) / f(g)).ceil() * sh,
            (None, DType::Fp8E4m3) => f(n) * f(k) + 4.0 * f(n),
            (None, _) => f(n) * f(k) * sw,
        }
    };
    let dense = |n: u64, k: u64, bias: u64| -> (f64, f64) {
        (matrix(n, k) + f(bias) * sh, 2.0 * t * f(n) * f(k))
    };

    let qkv_n = (hq + 2 * hkv) * d;
    let (bytes, flops) = dense(qkv_n, h, if cfg.qkv_bias { qkv_n } else { 0 });
    push(
        "qkv",
        Category::Weights,
        weight_linear(run, tokens, qkv_n, h)?,
        1.0,
        true,
        w,
        bytes,
        flops,
    );
    // Rotary embedding of q and k at each token's position (NeoX layout, the whole head).
    let rope = kernel(
        OpKind::Rope,
        &[
            ("tokens", tokens),
            ("heads_q", hq),
            ("heads_kv", hkv),
            ("head_dim", d),
            ("rotary_dim", d),
            ("max_position", ctx.saturating_add(1).min(MAX_DIM)),
        ],
        hi,
    )?;
    push(
        "rope",
        Category::Weights,
        Some(rope),
        1.0,
        true,
        hi,
        0.0,
        0.0,
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
    let kv_new = kv_kernel(
        run,
        OpKind::KvWrite,
        &[
            ("tokens", tokens),
            ("heads_kv", hkv),
            ("head_dim", d),
            ("page_size", PAGE_SIZE),
        ],
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
        weight_linear(run, tokens, h, hq * d)?,
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
            let k = weight_linear(run, tokens, 2 * inter, h)?;
            push("gate_up", Category::Weights, k, 1.0, true, w, bytes, flops);
            let act = kernel(
                OpKind::SiluMul,
                &[("tokens", tokens), ("intermediate", inter)],
                hi,
            )?;
            push("act", Category::Weights, Some(act), 1.0, true, hi, 0.0, 0.0);
            let (bytes, flops) = dense(h, inter, down_bias);
            let k = weight_linear(run, tokens, h, inter)?;
            push("down", Category::Weights, k, 1.0, true, w, bytes, flops);
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
            let k = weight_linear(run, rows, 2 * inter, h)?;
            let flops = 2.0 * routed * f(2 * inter) * f(h);
            push(
                "gate_up",
                Category::Weights,
                k,
                distinct,
                true,
                w,
                distinct * bytes,
                flops,
            );
            // Every routed row's gated activation, before its down projection.
            let act = kernel(
                OpKind::SiluMul,
                &[
                    ("tokens", tokens * moe.num_experts_per_tok),
                    ("intermediate", inter),
                ],
                hi,
            )?;
            push("act", Category::Weights, Some(act), 1.0, true, hi, 0.0, 0.0);
            let (bytes, _) = dense(h, inter, down_bias);
            let k = weight_linear(run, rows, h, inter)?;
            let flops = 2.0 * routed * f(h) * f(inter);
            push(
                "down",
                Category::Weights,
                k,
                distinct,
                true,
                w,
                distinct * bytes,
                flops,
            );
        }
    }
    // The residual add + RMSNorm before attention and before the MLP.
    let norm = kernel(OpKind::AddRmsnorm, &[("tokens", tokens), ("hidden", h)], hi)?;
    push(
        "norms",
        Category::Weights,
        Some(norm.clone()),
        2.0,
        true,
        hi,
        f(2 * h) * sh,
        0.0,
    );

    push(
        "final_norm",
        Category::Weights,
        Some(norm),
        1.0,
        false,
        hi,
        f(h) * sh,
        0.0,
    );
    // The rows of the step's tokens (at most the whole table), split over the vocab shards.
    let looked_up = tokens.min(vocab);
    let embed = kernel(
        OpKind::Embedding,
        &[("tokens", looked_up), ("hidden", h), ("vocab", vocab)],
        hi,
    )?;
    let rows = tokens.min(cfg.vocab_size) as f64 / tp as f64;
    push(
        "embed",
        Category::Weights,
        Some(embed),
        1.0,
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
            let k = kv_kernel(
                run,
                OpKind::AttnDecode,
                &[
                    ("batch", run.batch),
                    ("context", l),
                    ("heads_q", hq),
                    ("heads_kv", hkv),
                    ("head_dim", run.model.head_dim),
                    ("page_size", PAGE_SIZE),
                ],
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
