//! The MLP rows of a step: a dense gated MLP (gate/up projection, SiLU·up, down
//! projection), or a mixture of experts — its router, the routed experts and the shared
//! experts every token passes through — after the mixture's leading dense layers.
//!
//! A routed expert's weights are read when at least one of the step's tokens is routed to
//! it: one GPU holding `held` of the E experts reads `held`·(1 − (1 − k/E)^T) of them on
//! average ([`Moe::expected_distinct_of`]), T tokens each routed to k. Under tensor
//! parallelism (`ep` = 1) each GPU holds a 1/tp slice of every expert; under expert
//! parallelism each holds E/ep experts whole and computes the T·k/ep routed rows that land
//! on them. The routed experts run as one `moe_gemm` (permute, grouped GEMM, weighted
//! unpermute) in f16/bf16/f32; under fp8 or int4 weights, which `moe_gemm` does not take,
//! as one quantized GEMV per touched expert at the average rows an expert sees.

use hotpath_core::dtype::DType;
use hotpath_core::error::Result;
use hotpath_core::op::{OpKind, OpSpec, MAX_DIM};
use hotpath_core::ops::MOE_MAX_PAIRS;

use super::{kernel, linear, weight_linear, Moe, Row, Rows};

/// Row names of a model's only MLP, of a mixture's dense layers, and of its shared experts.
const MLP: [&str; 3] = ["gate_up", "act", "down"];
const DENSE: [&str; 3] = ["dense_gate_up", "dense_act", "dense_down"];
const SHARED: [&str; 3] = ["shared_gate_up", "shared_act", "shared_down"];

/// The MLP rows of every layer.
pub(super) fn rows(rows: &mut Rows) -> Result<()> {
    let cfg = &rows.run.model;
    let (layers, tp) = (cfg.num_hidden_layers, rows.run.tp);
    let dense_width = cfg.intermediate_size / tp;
    match cfg.moe {
        None => gated(rows, layers, MLP, dense_width),
        Some(moe) => {
            gated(rows, moe.dense_layers, DENSE, dense_width)?;
            let routed_layers = layers - moe.dense_layers.min(layers);
            routed(rows, moe, routed_layers)?;
            match moe.shared_intermediate_size {
                0 => Ok(()),
                w => gated(rows, routed_layers, SHARED, w / tp),
            }
        }
    }
}

/// A gated MLP of `width` (this GPU's share) in `layers` layers, on every token.
fn gated(rows: &mut Rows, layers: u64, names: [&'static str; 3], width: u64) -> Result<()> {
    let cfg = &rows.run.model;
    let h = cfg.hidden_size;
    let (gate_bias, down_bias) = if cfg.mlp_bias { (2 * width, h) } else { (0, 0) };
    let gate_up = rows.dense(names[0], 2 * width, h, gate_bias)?;
    rows.per_layer(layers, gate_up);
    let act = activation(rows, names[1], rows.tokens, width)?;
    rows.per_layer(layers, act);
    let down = rows.dense(names[2], h, width, down_bias)?;
    rows.per_layer(layers, down);
    Ok(())
}

/// The gated activation of `tokens` rows of `width`: a kernel and no bytes.
fn activation(rows: &Rows, name: &'static str, tokens: u64, width: u64) -> Result<Row> {
    let hi = rows.run.high_dtype();
    let k = kernel(
        OpKind::SiluMul,
        &[("tokens", tokens), ("intermediate", width)],
        hi,
    )?;
    Ok(Row::weights(name, Some(k), hi))
}

/// The router and the routed experts of `layers` layers, on this GPU's experts.
fn routed(rows: &mut Rows, moe: Moe, layers: u64) -> Result<()> {
    let run = rows.run;
    let cfg = &run.model;
    let (h, t, hi) = (cfg.hidden_size, rows.tokens, run.high_dtype());
    let e = moe.num_local_experts;
    let router = linear(t, e, h, hi)?;
    rows.per_layer(
        layers,
        Row::weights("router", Some(router), hi).cost(
            (e * h) as f64 * hi.size_bytes() as f64,
            2.0 * t as f64 * e as f64 * h as f64,
        ),
    );
    let width = match run.ep {
        1 => moe.expert_width(cfg.intermediate_size) / run.tp,
        _ => moe.expert_width(cfg.intermediate_size),
    };
    let held = run.experts_held().unwrap_or(e);
    let distinct = moe.expected_distinct_of(held, t);
    // Routed (token, expert) rows landing on this GPU's experts.
    let routed = t as f64 * moe.num_experts_per_tok as f64 / run.ep as f64;
    let bias = |n: u64| {
        if cfg.mlp_bias {
            n as f64 * hi.size_bytes() as f64
        } else {
            0.0
        }
    };
    for (name, n, k) in [("gate_up", 2 * width, h), ("down", h, width)] {
        let (spec, calls) = experts_kernel(rows, moe, held, distinct, routed, n, k)?;
        let bytes = distinct * (rows.matrix(n, k) + bias(n));
        let flops = 2.0 * routed * n as f64 * k as f64;
        rows.per_layer(
            layers,
            Row::weights(name, spec, run.dtype)
                .calls(calls)
                .cost(bytes, flops),
        );
        if name == "gate_up" {
            let act_rows = (routed.ceil() as u64).clamp(1, MAX_DIM);
            let act = activation(rows, "act", act_rows, width)?;
            rows.per_layer(layers, act);
        }
    }
    Ok(())
}

/// The benchmark of one expert projection n×k over this GPU's `held` experts, and its runs
/// per layer: one `moe_gemm` of the step's routing, or one quantized GEMV per touched expert
/// (`routed` rows over `distinct` experts).
fn experts_kernel(
    rows: &Rows,
    moe: Moe,
    held: u64,
    distinct: f64,
    routed: f64,
    n: u64,
    k: u64,
) -> Result<(Option<OpSpec>, f64)> {
    let run = rows.run;
    let t = rows.tokens;
    let top_k = moe.num_experts_per_tok;
    match (run.int4_group, run.dtype) {
        (None, DType::F16 | DType::Bf16 | DType::F32) => {
            // Each token's k picks spread over ep GPUs: k/ep of this GPU's experts per
            // token when ep divides k, else the T·k/ep routed rows as single picks.
            let (tokens, per_token) = if top_k.is_multiple_of(run.ep) {
                (t, top_k / run.ep)
            } else {
                let pairs = (t as f64 * top_k as f64 / run.ep as f64).ceil() as u64;
                (pairs.clamp(1, MAX_DIM), 1)
            };
            // A prefill of more routed pairs than moe_gemm takes has no benchmark.
            if tokens.saturating_mul(per_token) > MOE_MAX_PAIRS {
                return Ok((None, 1.0));
            }
            let spec = kernel(
                OpKind::MoeGemm,
                &[
                    ("tokens", tokens),
                    ("experts", held),
                    ("top_k", per_token),
                    ("n", n),
                    ("k", k),
                ],
                run.dtype,
            )?;
            Ok((Some(spec), 1.0))
        }
        _ => {
            let per_expert = (routed / distinct.max(1e-300)).ceil().max(1.0) as u64;
            Ok((weight_linear(run, per_expert, n, k)?, distinct))
        }
    }
}
