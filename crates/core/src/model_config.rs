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
    /// Multi-head latent attention (DeepSeek-V2/V3), when the KV cache holds one latent
    /// vector per token instead of K and V heads; `num_key_value_heads` and `head_dim` then
    /// do not describe the attention.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mla: Option<Mla>,
}

/// A routed mixture-of-experts MLP: every MoE layer's MLP is `num_local_experts` gated
/// MLPs of the expert width, `num_experts_per_tok` of them used per token, plus the shared
/// experts every token goes through (DeepSeek, Qwen2-MoE); the first `dense_layers` layers
/// keep a dense MLP of `intermediate_size` (DeepSeek's `first_k_dense_replace`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Moe {
    /// Experts per layer (E).
    pub num_local_experts: u64,
    /// Experts each token is routed to (k).
    pub num_experts_per_tok: u64,
    /// Width of one routed expert (`moe_intermediate_size`); `None`: `intermediate_size`
    /// (Mixtral).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expert_intermediate_size: Option<u64>,
    /// Width of the shared experts together (DeepSeek: `n_shared_experts` ×
    /// `moe_intermediate_size`; Qwen2-MoE: `shared_expert_intermediate_size`); 0 = none.
    #[serde(default)]
    pub shared_intermediate_size: u64,
    /// Leading layers with a dense MLP instead of experts (`first_k_dense_replace`).
    #[serde(default)]
    pub dense_layers: u64,
}

/// Multi-head latent attention (DeepSeek-V2/V3): q through an optional low-rank
/// bottleneck, K and V up-projected from one cached latent of `kv_lora_rank` plus a shared
/// RoPE key of `qk_rope_head_dim`. Decode runs the absorbed form (the K up-projection
/// folded into q, the V one applied after attention), as vLLM and SGLang do.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mla {
    /// Rank of q's bottleneck (`q_lora_rank`); `None`: q projected from the hidden state.
    pub q_lora_rank: Option<u64>,
    /// Width of the cached latent (`kv_lora_rank`).
    pub kv_lora_rank: u64,
    /// Per-head query/key width without RoPE (`qk_nope_head_dim`).
    pub qk_nope_head_dim: u64,
    /// Width of the RoPE part of q and of the one shared RoPE key (`qk_rope_head_dim`).
    pub qk_rope_head_dim: u64,
    /// Per-head value width (`v_head_dim`).
    pub v_head_dim: u64,
}

impl Mla {
    /// Elements one token adds to one layer's cache: the latent and its RoPE key.
    pub fn cached_width(&self) -> u64 {
        self.kv_lora_rank + self.qk_rope_head_dim
    }
}

impl Moe {
    /// Expected number of distinct experts a layer touches when `tokens` tokens are each
    /// routed to k of E experts, uniformly and independently: E·(1 − (1 − k/E)^tokens).
    /// One token touches exactly k; many tokens approach E.
    pub fn expected_distinct(&self, tokens: u64) -> f64 {
        self.expected_distinct_of(self.num_local_experts, tokens)
    }

    /// Expected distinct experts among `held` of the E experts (one GPU's share under
    /// expert parallelism) when `tokens` tokens are routed: each expert is touched with
    /// probability 1 − (1 − k/E)^tokens, so `held`·(1 − (1 − k/E)^tokens).
    pub fn expected_distinct_of(&self, held: u64, tokens: u64) -> f64 {
        let e = self.num_local_experts as f64;
        let k = self.num_experts_per_tok as f64;
        let exponent = i32::try_from(tokens).unwrap_or(i32::MAX);
        held as f64 * (1.0 - (1.0 - k / e).powi(exponent))
    }

    /// Width of one routed expert.
    pub fn expert_width(&self, intermediate_size: u64) -> u64 {
        self.expert_intermediate_size.unwrap_or(intermediate_size)
    }
}

impl ModelConfig {
    /// Parameters in total (embedding and LM head counted once each, or once when tied;
    /// every expert counted), as model cards quote them. Saturates rather than overflows.
    pub fn total_params(&self) -> u64 {
        let c = Sat;
        let h = c(self.hidden_size);
        let hq = c(self.num_attention_heads);
        let mut attn = match self.mla {
            Some(m) => {
                let qk = hq * c(m.qk_nope_head_dim + m.qk_rope_head_dim);
                let q = match m.q_lora_rank {
                    Some(r) => h * c(r) + c(r) + c(r) * qk,
                    None => h * qk,
                };
                let kv_a = h * c(m.cached_width()) + c(m.kv_lora_rank);
                let kv_b = c(m.kv_lora_rank) * hq * c(m.qk_nope_head_dim + m.v_head_dim);
                q + kv_a + kv_b + hq * c(m.v_head_dim) * h
            }
            None => {
                let q = hq * c(self.head_dim);
                let kv = c(self.num_key_value_heads) * c(self.head_dim);
                let mut a = h * (q + c(2) * kv) + q * h;
                if self.qkv_bias {
                    a = a + q + c(2) * kv;
                }
                a
            }
        };
        if self.o_bias {
            attn = attn + h;
        }
        let gated = |inter: u64| {
            let inter = c(inter);
            let mut mlp = c(3) * h * inter;
            if self.mlp_bias {
                mlp = mlp + c(2) * inter + h;
            }
            mlp
        };
        let dense_mlp = gated(self.intermediate_size);
        let layers = c(self.num_hidden_layers);
        let all_layers = match self.moe {
            None => layers * (attn + dense_mlp + c(2) * h),
            Some(m) => {
                let e = c(m.num_local_experts);
                let routed = e * gated(m.expert_width(self.intermediate_size)) + e * h;
                let shared = match m.shared_intermediate_size {
                    0 => c(0),
                    w => gated(w),
                };
                let dense = c(m.dense_layers);
                dense * (attn + dense_mlp + c(2) * h)
                    + c(self.num_hidden_layers.saturating_sub(m.dense_layers))
                        * (attn + routed + shared + c(2) * h)
            }
        };
        let embed = c(self.vocab_size) * h;
        let head = if self.tie_word_embeddings {
            c(0)
        } else {
            embed
        };
        (all_layers + h + embed + head).0
    }

    /// Bytes of KV cache one token adds, at `kv_bytes_per_element`: layers · 2 · kv_heads ·
    /// head_dim · s, or layers · (kv_lora_rank + qk_rope_head_dim) · s under latent
    /// attention (saturating).
    pub fn kv_bytes_per_token(&self, kv_bytes_per_element: u64) -> u64 {
        let c = Sat;
        let per_layer = match self.mla {
            Some(m) => c(m.cached_width()),
            None => c(2) * c(self.num_key_value_heads) * c(self.head_dim),
        };
        (c(self.num_hidden_layers) * per_layer * c(kv_bytes_per_element)).0
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
            (
                "moe_intermediate_size",
                self.moe.and_then(|m| m.expert_intermediate_size),
            ),
            ("q_lora_rank", self.mla.and_then(|m| m.q_lora_rank)),
            ("kv_lora_rank", self.mla.map(|m| m.kv_lora_rank)),
            ("qk_nope_head_dim", self.mla.map(|m| m.qk_nope_head_dim)),
            ("qk_rope_head_dim", self.mla.map(|m| m.qk_rope_head_dim)),
            ("v_head_dim", self.mla.map(|m| m.v_head_dim)),
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
            if m.dense_layers > self.num_hidden_layers {
                return Err(format!(
                    "first_k_dense_replace {} is more than num_hidden_layers {}",
                    m.dense_layers, self.num_hidden_layers
                ));
            }
            let widths = Sat(2) * Sat(m.shared_intermediate_size)
                + Sat(2) * Sat(m.expert_width(self.intermediate_size));
            if widths.0 > MAX_DIM {
                return Err(format!(
                    "an expert's gate/up projection is wider than {MAX_DIM}; the config is absurd"
                ));
            }
        }
        if let Some(m) = self.mla {
            let q = Sat(self.num_attention_heads)
                * (Sat(m.qk_nope_head_dim) + Sat(m.qk_rope_head_dim) + Sat(m.v_head_dim));
            if q.0 > MAX_DIM || Sat(m.cached_width()).0 > MAX_DIM {
                return Err(format!(
                    "the latent attention's projections are wider than {MAX_DIM}; the config is absurd"
                ));
            }
        }
        Ok(())
    }
}
