//! The attention rows of a step: grouped-query attention (q/k/v heads of `head_dim`), or
//! multi-head latent attention (DeepSeek), absorbed in decode as vLLM and SGLang run it:
//! W_UK folded into q (`q_absorb`: q_nope·W_UK per head, into the latent space), attention
//! of every query head against the one cached latent + RoPE key (`attn_mla_decode`), then
//! W_UV (`v_absorb`) out of the latent space. Prefill expands the latent instead (`kv_b`)
//! and attends with K and V heads of their own widths, which no benchmark models (the
//! prefill attention benchmark has one head width), so that row has FLOPs and no kernel.
//!
//! Under tensor parallelism the query heads are split; a latent cache is not (every GPU
//! reads the whole latent for its heads), and the latent's down-projections (`q_a`, `kv_a`)
//! are replicated, as vLLM shards DeepSeek.

use hotpath_core::error::Result;
use hotpath_core::model_config::Mla;
use hotpath_core::op::{OpKind, OpSpec, MAX_DIM};

use super::{kernel, kv_kernel, linear, Category, Phase, Row, Rows, MLA_PAGE_SIZE, PAGE_SIZE};

/// q/k/v projection, rotary embedding, attention over the KV heads, the cache write and
/// the output projection.
pub(super) fn grouped(rows: &mut Rows) -> Result<()> {
    let (run, t) = (rows.run, rows.tokens);
    let cfg = &run.model;
    let (h, d, hq) = (cfg.hidden_size, cfg.head_dim, rows.heads_q);
    let hkv = cfg.num_key_value_heads / run.tp;
    let (hi, kv) = (run.high_dtype(), run.kv_dtype);
    let qkv_n = (hq + 2 * hkv) * d;
    let qkv = rows.dense("qkv", qkv_n, h, if cfg.qkv_bias { qkv_n } else { 0 })?;
    rows.every_layer(qkv);
    // Rotary embedding of q and k at each token's position (NeoX layout, the whole head).
    let rope = kernel(
        OpKind::Rope,
        &[
            ("tokens", t),
            ("heads_q", hq),
            ("heads_kv", hkv),
            ("head_dim", d),
            ("rotary_dim", d),
            ("max_position", max_position(rows)),
        ],
        hi,
    )?;
    rows.every_layer(Row::weights("rope", Some(rope), hi));
    let skv = kv.size_bytes() as f64;
    let (b, hq_f, hkv_f, d_f) = (run.batch as f64, hq as f64, hkv as f64, d as f64);
    let attention = match rows.phase {
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
                    ("head_dim", d),
                    ("page_size", PAGE_SIZE),
                ],
            )?;
            let l = l as f64;
            Row::weights("attention", Some(k), kv)
                .cost(b * l * 2.0 * hkv_f * d_f * skv, 4.0 * b * hq_f * l * d_f)
        }
        Phase::Prefill => {
            let (pairs, windowed) = causal_pairs(rows);
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
                        ("head_dim", d),
                        ("causal", 1),
                    ],
                    kv,
                )?)
            };
            // Each attended key costs 4·d FLOPs per head.
            Row::weights("attention", k, kv).cost(0.0, 4.0 * b * hq_f * pairs * d_f)
        }
    };
    rows.every_layer(attention.category(Category::KvRead));
    let kv_new = kv_kernel(
        run,
        OpKind::KvWrite,
        &[
            ("tokens", t),
            ("heads_kv", hkv),
            ("head_dim", d),
            ("page_size", PAGE_SIZE),
        ],
    )?;
    rows.every_layer(
        Row::weights("kv_write", Some(kv_new), kv)
            .category(Category::KvWrite)
            .cost(2.0 * t as f64 * hkv_f * d_f * skv, 0.0),
    );
    let o = rows.dense("o", h, hq * d, if cfg.o_bias { h } else { 0 })?;
    rows.every_layer(o);
    Ok(())
}

/// Multi-head latent attention: the q and latent projections, the absorbed decode (or the
/// expanded prefill), the cache write and the output projection.
pub(super) fn latent(rows: &mut Rows, mla: Mla) -> Result<()> {
    let run = rows.run;
    let (t, tf) = (rows.tokens, rows.tokens as f64);
    let (h, hq) = (run.model.hidden_size, rows.heads_q);
    let (hi, kv) = (run.high_dtype(), run.kv_dtype);
    let (dl, dr, dn, dv) = (
        mla.kv_lora_rank,
        mla.qk_rope_head_dim,
        mla.qk_nope_head_dim,
        mla.v_head_dim,
    );
    let q_width = hq * (dn + dr);
    match mla.q_lora_rank {
        Some(r) => {
            // q_a and kv_a are whole on every GPU: their widths are not divided by tp.
            let q_a = rows.dense("q_a", r, h, 0)?;
            rows.every_layer(q_a);
            let norm = rows.norm("q_a_norm", r)?;
            rows.every_layer(norm);
            let q_b = rows.dense("q_b", q_width, r, 0)?;
            rows.every_layer(q_b);
        }
        None => {
            let q = rows.dense("q", q_width, h, 0)?;
            rows.every_layer(q);
        }
    }
    let kv_a = rows.dense("kv_a", mla.cached_width(), h, 0)?;
    rows.every_layer(kv_a);
    let norm = rows.norm("kv_a_norm", dl)?;
    rows.every_layer(norm);
    // RoPE on each head's rope part of q and on the one shared key: interleaved pairs, as
    // DeepSeek's checkpoints rotate them.
    let rope = kernel(
        OpKind::Rope,
        &[
            ("tokens", t),
            ("heads_q", hq),
            ("heads_kv", 1),
            ("head_dim", dr),
            ("rotary_dim", dr),
            ("max_position", max_position(rows)),
            ("gptj", 1),
        ],
        hi,
    )?;
    rows.every_layer(Row::weights("rope", Some(rope), hi));
    let (b, hq_f) = (run.batch as f64, hq as f64);
    let skv = kv.size_bytes() as f64;
    let width = mla.cached_width();
    match rows.phase {
        Phase::Decode => {
            // Per head, q_nope (dn) into the latent (dl): W_UK, kept in the high dtype as
            // vLLM keeps the absorbed matrices.
            rows.every_layer(absorbed(t, hq, "q_absorb", dl, dn, hi)?);
            let l = run.attended();
            let k = kv_kernel(
                run,
                OpKind::AttnMlaDecode,
                &[
                    ("batch", run.batch),
                    ("context", l),
                    ("heads_q", hq),
                    ("kv_lora", dl),
                    ("rope_dim", dr),
                    ("page_size", MLA_PAGE_SIZE),
                ],
            )?;
            let l = l as f64;
            // Scores over the whole cached row, values over its latent part.
            let flops = 2.0 * b * hq_f * l * (width + dl) as f64;
            rows.every_layer(
                Row::weights("attention", Some(k), kv)
                    .category(Category::KvRead)
                    .cost(b * l * width as f64 * skv, flops),
            );
            rows.every_layer(absorbed(t, hq, "v_absorb", dv, dl, hi)?);
        }
        Phase::Prefill => {
            let kv_b = rows.dense("kv_b", hq * (dn + dv), dl, 0)?;
            rows.every_layer(kv_b);
            let (pairs, _) = causal_pairs(rows);
            let flops = 2.0 * b * hq_f * pairs * (dn + dr + dv) as f64;
            rows.every_layer(
                Row::weights("attention", None, kv)
                    .category(Category::KvRead)
                    .cost(0.0, flops),
            );
        }
    }
    // The latent and its RoPE key, one row of `width` per token: measured as kv_write of
    // one head of width/2 in each of K and V, the same bytes (vLLM's concat_and_cache_mla
    // writes the two parts into one row).
    let kernel = width
        .is_multiple_of(2)
        .then(|| {
            kv_kernel(
                run,
                OpKind::KvWrite,
                &[
                    ("tokens", t),
                    ("heads_kv", 1),
                    ("head_dim", width / 2),
                    ("page_size", MLA_PAGE_SIZE),
                ],
            )
        })
        .transpose()?;
    rows.every_layer(
        Row::weights("kv_write", kernel, kv)
            .category(Category::KvWrite)
            .cost(tf * width as f64 * skv, 0.0),
    );
    let o = rows.dense("o", h, hq * dv, 0)?;
    rows.every_layer(o);
    Ok(())
}

/// The absorbed projection of `heads` heads (k → n per head, on every token), in the high
/// dtype: one benchmark per head, so the row runs `heads` times; bytes and FLOPs of all.
fn absorbed(
    tokens: u64,
    heads: u64,
    name: &'static str,
    n: u64,
    k: u64,
    dtype: hotpath_core::dtype::DType,
) -> Result<Row> {
    let spec: OpSpec = linear(tokens, n, k, dtype)?;
    let weights = (heads * n * k) as f64;
    Ok(Row::weights(name, Some(spec), dtype)
        .calls(heads as f64)
        .cost(
            weights * dtype.size_bytes() as f64,
            2.0 * tokens as f64 * weights,
        ))
}

/// Rows of the cos/sin cache a step's positions need.
fn max_position(rows: &Rows) -> u64 {
    rows.run.context.saturating_add(1).min(MAX_DIM)
}

/// Query-key pairs one prompt's causal attention computes per head, and whether a sliding
/// window cut them: query i attends to i keys, Σ ≈ P²/2 (the cost model's halving); with a
/// window w < P, w²/2 + (P − w)·w.
fn causal_pairs(rows: &Rows) -> (f64, bool) {
    let run = rows.run;
    let p = run.context as f64;
    match run.model.sliding_window {
        Some(w) if w < run.context => {
            let w = w as f64;
            (w * w / 2.0 + (p - w) * w, true)
        }
        _ => (p * p / 2.0, false),
    }
}
