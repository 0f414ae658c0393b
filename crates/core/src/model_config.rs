//! The shape facts of a decoder-only transformer ([`ModelConfig`]) and a model-shaped
//! run's settings ([`ModelRun`]): part of the results schema (a model-shaped run records
//! them). Parsing configs, built-in models, step composition and floors are hotpath-model's.

mod run;

pub use run::{default_kv_dtype, ModelRun, Phase, Weights, INT4_MODEL_GROUP};

use serde::{Deserialize, Serialize};

use crate::op::{Sat, MAX_DIM};

/// The shape facts of a decoder-only transformer that set its bytes and FLOPs per token.
/// Field names follow Hugging Face `config.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Lowercase id (`llama-3.1-8b`), or the config file's path for the path form.
    pub id: String,
    /// Where the numbers come from (the Hugging Face repository, or the file).
    pub source: String,
    /// Width of the residual stream.
    pub hidden_size: u64,
    /// Decoder layers.
    pub num_hidden_layers: u64,
    /// Query heads.
    pub num_attention_heads: u64,
    /// Key/value heads (GQA groups; equal to the query heads for MHA).
    pub num_key_value_heads: u64,
    /// Elements per head.
    pub head_dim: u64,
    /// Width of the MLP (of each expert, for a mixture of experts).
    pub intermediate_size: u64,
    /// Vocabulary size (rows of the embedding table and of the LM head).
    pub vocab_size: u64,
    /// Whether the LM head is the embedding table (then it is stored once).
    pub tie_word_embeddings: bool,
    /// Bias vectors on the q, k and v projections (Qwen2; Llama with `attention_bias`).
    #[serde(default)]
    pub qkv_bias: bool,
    /// Bias vector on the output projection (Llama with `attention_bias`).
    #[serde(default)]
    pub o_bias: bool,
    /// Bias vectors on the MLP projections (`mlp_bias`).
    #[serde(default)]
    pub mlp_bias: bool,
    /// Attention looks back at most this many tokens (Mistral-7B-v0.1); `None` = full.
    #[serde(default)]
    pub sliding_window: Option<u64>,
    /// Mixture of experts, when the MLP is routed.
    #[serde(default)]
    pub moe: Option<Moe>,
}

/// A routed mixture-of-experts MLP (Mixtral style: every layer's MLP is `num_local_experts`
/// gated MLPs of `intermediate_size`, `num_experts_per_tok` of them used per token).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Moe {
    /// Experts per layer (E).
    pub num_local_experts: u64,
    /// Experts each token is routed to (k).
    pub num_experts_per_tok: u64,
}

impl Moe {
    /// Expected number of distinct experts a layer touches when `tokens` tokens are each
    /// routed to k of E experts, uniformly and independently: E·(1 − (1 − k/E)^tokens).
    /// One token touches exactly k; many tokens approach E.
    pub fn expected_distinct(&self, tokens: u64) -> f64 {
        let e = self.num_local_experts as f64;
        let k = self.num_experts_per_tok as f64;
        let exponent = i32::try_from(tokens).unwrap_or(i32::MAX);
        e * (1.0 - (1.0 - k / e).powi(exponent))
    }
}

impl ModelConfig {
    /// Parameters in total (embedding and LM head counted once each, or once when tied;
    /// every expert counted), as model cards quote them. Saturates rather than overflows.
    pub fn total_params(&self) -> u64 {
        let c = Sat;
        let h = c(self.hidden_size);
        let q = c(self.num_attention_heads) * c(self.head_dim);
        let kv = c(self.num_key_value_heads) * c(self.head_dim);
        let mut attn = h * (q + c(2) * kv) + q * h;
        if self.qkv_bias {
            attn = attn + q + c(2) * kv;
        }
        if self.o_bias {
            attn = attn + h;
        }
        let inter = c(self.intermediate_size);
        let mut mlp = c(3) * h * inter;
        if self.mlp_bias {
            mlp = mlp + c(2) * inter + h;
        }
        let (experts, router) = match self.moe {
            Some(m) => (c(m.num_local_experts), c(m.num_local_experts) * h),
            None => (c(1), c(0)),
        };
        let per_layer = attn + experts * mlp + router + c(2) * h;
        let embed = c(self.vocab_size) * h;
        let head = if self.tie_word_embeddings {
            c(0)
        } else {
            embed
        };
        (c(self.num_hidden_layers) * per_layer + h + embed + head).0
    }

    /// Bytes of KV cache one token adds, at `kv_bytes_per_element`:
    /// layers · 2 · kv_heads · head_dim · s (saturating).
    pub fn kv_bytes_per_token(&self, kv_bytes_per_element: u64) -> u64 {
        let c = Sat;
        (c(self.num_hidden_layers)
            * c(2)
            * c(self.num_key_value_heads)
            * c(self.head_dim)
            * c(kv_bytes_per_element))
        .0
    }

    /// Checks what every step computation relies on: sizes from 1 to [`MAX_DIM`], query
    /// heads a multiple of KV heads, the projection widths within [`MAX_DIM`], 1 ≤ k ≤ E.
    /// Parsed configs pass by construction; this guards configs read back from results files.
    pub fn check(&self) -> std::result::Result<(), String> {
        let sizes = [
            ("hidden_size", Some(self.hidden_size)),
            ("num_hidden_layers", Some(self.num_hidden_layers)),
            ("num_attention_heads", Some(self.num_attention_heads)),
            ("num_key_value_heads", Some(self.num_key_value_heads)),
            ("head_dim", Some(self.head_dim)),
            ("intermediate_size", Some(self.intermediate_size)),
            ("vocab_size", Some(self.vocab_size)),
            ("sliding_window", self.sliding_window),
            ("num_local_experts", self.moe.map(|m| m.num_local_experts)),
            (
                "num_experts_per_tok",
                self.moe.map(|m| m.num_experts_per_tok),
            ),
        ];
        for (field, v) in sizes {
            match v {
                Some(0) => return Err(format!("field '{field}' is 0; it must be at least 1")),
                Some(v) if v > MAX_DIM => {
                    return Err(format!(
                        "field '{field}' is {v}, which is absurd; at most {MAX_DIM} is accepted"
                    ))
                }
                _ => {}
            }
        }
        if !self
            .num_attention_heads
            .is_multiple_of(self.num_key_value_heads)
        {
            return Err(format!(
                "num_key_value_heads {} does not divide num_attention_heads {}; grouped-query attention needs heads = g · kv_heads",
                self.num_key_value_heads, self.num_attention_heads
            ));
        }
        let qkv = (Sat(self.num_attention_heads) + Sat(2) * Sat(self.num_key_value_heads))
            * Sat(self.head_dim);
        if qkv.0 > MAX_DIM || Sat(2) * Sat(self.intermediate_size) > Sat(MAX_DIM) {
            return Err(format!(
                "the q/k/v or gate/up projection is wider than {MAX_DIM}; the config is absurd"
            ));
        }
        if let Some(m) = self.moe {
            if m.num_experts_per_tok > m.num_local_experts {
                return Err(format!(
                    "num_experts_per_tok {} is more than num_local_experts {}",
                    m.num_experts_per_tok, m.num_local_experts
                ));
            }
        }
        Ok(())
    }
}
