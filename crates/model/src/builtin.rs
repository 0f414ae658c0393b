//! Built-in models: the published values of each model's Hugging Face `config.json`
//! (the repository is named above each entry and in its `source`).

use super::{Mla, ModelConfig, Moe};

/// The fields that differ between the built-in models (dense, no biases, full attention
/// unless set).
struct Entry {
    id: &'static str,
    source: &'static str,
    hidden: u64,
    layers: u64,
    heads: u64,
    kv_heads: u64,
    head_dim: u64,
    intermediate: u64,
    vocab: u64,
    tied: bool,
    qkv_bias: bool,
    moe: Option<Moe>,
    mla: Option<Mla>,
}

/// A Mixtral-style mixture: E experts of `intermediate_size`, k per token, no shared
/// expert, every layer routed.
const fn routed(experts: u64, per_token: u64) -> Option<Moe> {
    Some(Moe {
        num_local_experts: experts,
        num_experts_per_tok: per_token,
        expert_intermediate_size: None,
        shared_intermediate_size: 0,
        dense_layers: 0,
    })
}

impl Entry {
    fn config(&self) -> ModelConfig {
        ModelConfig {
            id: self.id.to_string(),
            source: format!(
                "https://huggingface.co/{}/blob/main/config.json",
                self.source
            ),
            hidden_size: self.hidden,
            num_hidden_layers: self.layers,
            num_attention_heads: self.heads,
            num_key_value_heads: self.kv_heads,
            head_dim: self.head_dim,
            intermediate_size: self.intermediate,
            vocab_size: self.vocab,
            tie_word_embeddings: self.tied,
            qkv_bias: self.qkv_bias,
            o_bias: false,
            mlp_bias: false,
            sliding_window: None,
            moe: self.moe,
            mla: self.mla,
        }
    }
}

const ENTRIES: &[Entry] = &[
    // meta-llama/Llama-3.2-1B config.json: hidden_size 2048, num_hidden_layers 16,
    // num_attention_heads 32, num_key_value_heads 8, head_dim 64, intermediate_size 8192,
    // vocab_size 128256, tie_word_embeddings true.
    Entry {
        id: "llama-3.2-1b",
        source: "meta-llama/Llama-3.2-1B",
        hidden: 2048,
        layers: 16,
        heads: 32,
        kv_heads: 8,
        head_dim: 64,
        intermediate: 8192,
        vocab: 128_256,
        tied: true,
        qkv_bias: false,
        moe: None,
        mla: None,
    },
    // meta-llama/Llama-3.2-3B config.json: hidden_size 3072, num_hidden_layers 28,
    // num_attention_heads 24, num_key_value_heads 8, head_dim 128, intermediate_size 8192,
    // vocab_size 128256, tie_word_embeddings true.
    Entry {
        id: "llama-3.2-3b",
        source: "meta-llama/Llama-3.2-3B",
        hidden: 3072,
        layers: 28,
        heads: 24,
        kv_heads: 8,
        head_dim: 128,
        intermediate: 8192,
        vocab: 128_256,
        tied: true,
        qkv_bias: false,
        moe: None,
        mla: None,
    },
    // meta-llama/Llama-3.1-8B config.json: hidden_size 4096, num_hidden_layers 32,
    // num_attention_heads 32, num_key_value_heads 8, (head_dim 4096/32 = 128),
    // intermediate_size 14336, vocab_size 128256, tie_word_embeddings false.
    Entry {
        id: "llama-3.1-8b",
        source: "meta-llama/Llama-3.1-8B",
        hidden: 4096,
        layers: 32,
        heads: 32,
        kv_heads: 8,
        head_dim: 128,
        intermediate: 14_336,
        vocab: 128_256,
        tied: false,
        qkv_bias: false,
        moe: None,
        mla: None,
    },
    // meta-llama/Llama-3.1-70B config.json: hidden_size 8192, num_hidden_layers 80,
    // num_attention_heads 64, num_key_value_heads 8, (head_dim 8192/64 = 128),
    // intermediate_size 28672, vocab_size 128256, tie_word_embeddings false.
    Entry {
        id: "llama-3.1-70b",
        source: "meta-llama/Llama-3.1-70B",
        hidden: 8192,
        layers: 80,
        heads: 64,
        kv_heads: 8,
        head_dim: 128,
        intermediate: 28_672,
        vocab: 128_256,
        tied: false,
        qkv_bias: false,
        moe: None,
        mla: None,
    },
    // meta-llama/Llama-3.1-405B config.json: hidden_size 16384, num_hidden_layers 126,
    // num_attention_heads 128, num_key_value_heads 8, (head_dim 16384/128 = 128),
    // intermediate_size 53248, vocab_size 128256, tie_word_embeddings false.
    Entry {
        id: "llama-3.1-405b",
        source: "meta-llama/Llama-3.1-405B",
        hidden: 16_384,
        layers: 126,
        heads: 128,
        kv_heads: 8,
        head_dim: 128,
        intermediate: 53_248,
        vocab: 128_256,
        tied: false,
        qkv_bias: false,
        moe: None,
        mla: None,
    },
    // mistralai/Mistral-7B-v0.3 config.json: hidden_size 4096, num_hidden_layers 32,
    // num_attention_heads 32, num_key_value_heads 8, (head_dim 128), intermediate_size 14336,
    // vocab_size 32768, tie_word_embeddings false, sliding_window null. (v0.1 differs:
    // vocab_size 32000 and sliding_window 4096; give its config.json by path.)
    Entry {
        id: "mistral-7b",
        source: "mistralai/Mistral-7B-v0.3",
        hidden: 4096,
        layers: 32,
        heads: 32,
        kv_heads: 8,
        head_dim: 128,
        intermediate: 14_336,
        vocab: 32_768,
        tied: false,
        qkv_bias: false,
        moe: None,
        mla: None,
    },
    // mistralai/Mixtral-8x7B-v0.1 config.json: hidden_size 4096, num_hidden_layers 32,
    // num_attention_heads 32, num_key_value_heads 8, (head_dim 128), intermediate_size 14336
    // (per expert), vocab_size 32000, tie_word_embeddings false, num_local_experts 8,
    // num_experts_per_tok 2, sliding_window null.
    Entry {
        id: "mixtral-8x7b",
        source: "mistralai/Mixtral-8x7B-v0.1",
        hidden: 4096,
        layers: 32,
        heads: 32,
        kv_heads: 8,
        head_dim: 128,
        intermediate: 14_336,
        vocab: 32_000,
        tied: false,
        qkv_bias: false,
        moe: routed(8, 2),
        mla: None,
    },
    // Qwen/Qwen2.5-7B config.json: hidden_size 3584, num_hidden_layers 28,
    // num_attention_heads 28, num_key_value_heads 4, (head_dim 3584/28 = 128),
    // intermediate_size 18944, vocab_size 152064, tie_word_embeddings false,
    // use_sliding_window false; model_type qwen2 (bias on q, k and v).
    Entry {
        id: "qwen2.5-7b",
        source: "Qwen/Qwen2.5-7B",
        hidden: 3584,
        layers: 28,
        heads: 28,
        kv_heads: 4,
        head_dim: 128,
        intermediate: 18_944,
        vocab: 152_064,
        tied: false,
        qkv_bias: true,
        moe: None,
        mla: None,
    },
    // Qwen/Qwen2.5-72B config.json: hidden_size 8192, num_hidden_layers 80,
    // num_attention_heads 64, num_key_value_heads 8, (head_dim 128), intermediate_size 29568,
    // vocab_size 152064, tie_word_embeddings false, use_sliding_window false; model_type
    // qwen2 (bias on q, k and v).
    Entry {
        id: "qwen2.5-72b",
        source: "Qwen/Qwen2.5-72B",
        hidden: 8192,
        layers: 80,
        heads: 64,
        kv_heads: 8,
        head_dim: 128,
        intermediate: 29_568,
        vocab: 152_064,
        tied: false,
        qkv_bias: true,
        moe: None,
        mla: None,
    },
    // deepseek-ai/DeepSeek-V3 config.json: hidden_size 7168, num_hidden_layers 61,
    // num_attention_heads 128 (num_key_value_heads 128, unused: attention is latent),
    // intermediate_size 18432 (the first_k_dense_replace 3 dense layers), vocab_size 129280,
    // tie_word_embeddings false; n_routed_experts 256, num_experts_per_tok 8,
    // moe_intermediate_size 2048, n_shared_experts 1, moe_layer_freq 1; q_lora_rank 1536,
    // kv_lora_rank 512, qk_nope_head_dim 128, qk_rope_head_dim 64, v_head_dim 128. The
    // multi-token-prediction layer (num_nextn_predict_layers 1) is not part of a decode step.
    Entry {
        id: "deepseek-v3",
        source: "deepseek-ai/DeepSeek-V3",
        hidden: 7168,
        layers: 61,
        heads: 128,
        kv_heads: 128,
        head_dim: 128,
        intermediate: 18_432,
        vocab: 129_280,
        tied: false,
        qkv_bias: false,
        moe: Some(Moe {
            num_local_experts: 256,
            num_experts_per_tok: 8,
            expert_intermediate_size: Some(2048),
            shared_intermediate_size: 2048,
            dense_layers: 3,
        }),
        mla: Some(Mla {
            q_lora_rank: Some(1536),
            kv_lora_rank: 512,
            qk_nope_head_dim: 128,
            qk_rope_head_dim: 64,
            v_head_dim: 128,
        }),
    },
    // Qwen/Qwen3-30B-A3B config.json: hidden_size 2048, num_hidden_layers 48,
    // num_attention_heads 32, num_key_value_heads 4, head_dim 128, vocab_size 151936,
    // tie_word_embeddings false; num_experts 128, num_experts_per_tok 8,
    // moe_intermediate_size 768, decoder_sparse_step 1, mlp_only_layers [] (every layer
    // routed; intermediate_size 6144 is unused). Its per-head q/k RMSNorm weights
    // (2 × 128 per layer) are not modelled.
    Entry {
        id: "qwen3-30b-a3b",
        source: "Qwen/Qwen3-30B-A3B",
        hidden: 2048,
        layers: 48,
        heads: 32,
        kv_heads: 4,
        head_dim: 128,
        intermediate: 6144,
        vocab: 151_936,
        tied: false,
        qkv_bias: false,
        moe: Some(Moe {
            num_local_experts: 128,
            num_experts_per_tok: 8,
            expert_intermediate_size: Some(768),
            shared_intermediate_size: 0,
            dense_layers: 0,
        }),
        mla: None,
    },
];

/// Every built-in model, in the order `hotpath list` shows them.
pub fn all() -> Vec<ModelConfig> {
    ENTRIES.iter().map(Entry::config).collect()
}
