//! Hugging Face `config.json` → [`ModelConfig`], with one clear sentence per problem, naming
//! the field.
//!
//! Read: `hidden_size`, `num_hidden_layers`, `num_attention_heads`, `intermediate_size`,
//! `vocab_size` (required); `num_key_value_heads` (absent = MHA, as transformers does),
//! `head_dim` (absent = hidden_size / num_attention_heads, or `v_head_dim` under latent
//! attention), `tie_word_embeddings` (absent =
//! false for the model types whose transformers class defaults it so, else an error),
//! `attention_bias`, `mlp_bias`, `sliding_window` + `use_sliding_window`; a mixture of
//! experts from `num_local_experts` (Mixtral), `n_routed_experts` (DeepSeek) or
//! `num_experts` (Qwen-MoE) with `num_experts_per_tok`, `moe_intermediate_size`,
//! `n_shared_experts` or `shared_expert_intermediate_size`, and `first_k_dense_replace`;
//! multi-head latent attention from `kv_lora_rank`, `q_lora_rank`, `qk_nope_head_dim`,
//! `qk_rope_head_dim` and `v_head_dim`. Structures these fields cannot describe (nested text
//! configs, experts on every other layer, dense layers in the middle) are refused by name
//! rather than guessed at.

use serde_json::{Map, Value};
use std::path::Path;

use super::{Mla, ModelConfig, Moe};
use hotpath_core::error::{Error, Result};
use hotpath_core::op::MAX_DIM;

/// Model types whose transformers config class defaults `tie_word_embeddings` to false.
const UNTIED_BY_DEFAULT: [&str; 9] = [
    "llama",
    "mistral",
    "mixtral",
    "qwen2",
    "qwen2_moe",
    "qwen3",
    "qwen3_moe",
    "deepseek_v2",
    "deepseek_v3",
];

/// Model types with bias vectors on q, k and v whatever `attention_bias` says.
const QKV_BIAS_TYPES: [&str; 2] = ["qwen2", "qwen2_moe"];

/// Fields of model structures these shapes cannot describe, and what each one means.
const UNSUPPORTED: [(&str, &str); 1] = [(
    "text_config",
    "a multimodal wrapper; give the language model's own config",
)];

/// Layer-pattern fields whose only value hotpath models (every layer after the dense ones
/// routed), with what another value would mean.
const EVERY_LAYER: [(&str, u64, &str); 2] = [
    ("moe_layer_freq", 1, "experts on every n-th layer only"),
    ("decoder_sparse_step", 1, "experts on every n-th layer only"),
];

/// Reads and checks the config at `path`; its id is the path as given.
pub fn read(path: &Path) -> Result<ModelConfig> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let origin = path.display().to_string();
    parse(&text, &origin)
}

/// Parses and checks `config.json` text; `origin` names it in errors and becomes the id.
pub fn parse(text: &str, origin: &str) -> Result<ModelConfig> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| Error::bad_input(format!("{origin} is not valid JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(Error::bad_input(format!(
            "{origin} is not a config.json: expected a JSON object"
        )));
    };
    from_map(&map, origin).map_err(|what| Error::bad_input(format!("{origin}: {what}")))
}

fn from_map(map: &Map<String, Value>, origin: &str) -> std::result::Result<ModelConfig, String> {
    if let Some((field, what)) = UNSUPPORTED
        .iter()
        .find(|(f, _)| map.get(*f).is_some_and(|v| !v.is_null()))
    {
        return Err(format!(
            "field '{field}' describes {what}, which hotpath does not model"
        ));
    }
    for (field, only, what) in EVERY_LAYER {
        if let Some(v) = optional(map, field)?.filter(|v| *v != only) {
            return Err(format!(
                "field '{field}' is {v}, which describes {what}; hotpath models {field} {only}"
            ));
        }
    }
    if let Some(Value::Array(layers)) = map.get("mlp_only_layers") {
        if !layers.is_empty() {
            return Err("field 'mlp_only_layers' lists dense layers among the routed ones, which hotpath does not model; only leading dense layers (first_k_dense_replace) are".into());
        }
    }
    let model_type = match map.get("model_type") {
        Some(Value::String(s)) => Some(s.as_str()),
        _ => None,
    };
    let hidden = required(map, "hidden_size")?;
    let layers = required(map, "num_hidden_layers")?;
    let heads = required(map, "num_attention_heads")?;
    let intermediate = required(map, "intermediate_size")?;
    let vocab = required(map, "vocab_size")?;
    let kv_heads = optional(map, "num_key_value_heads")?.unwrap_or(heads);
    let head_dim = match (optional(map, "head_dim")?, optional(map, "v_head_dim")?) {
        (Some(d), _) => d,
        // Latent attention: a head's output width (what the output projection takes).
        (None, Some(v)) if map.get("kv_lora_rank").is_some_and(|r| !r.is_null()) => v,
        (None, _) if !hidden.is_multiple_of(heads) => {
            return Err(format!(
                "num_attention_heads {heads} does not divide hidden_size {hidden}, and there is no head_dim; give head_dim or fix the heads"
            ))
        }
        (None, _) => hidden / heads,
    };
    if !heads.is_multiple_of(kv_heads) {
        return Err(format!(
            "num_key_value_heads {kv_heads} does not divide num_attention_heads {heads}; grouped-query attention needs heads = g · kv_heads"
        ));
    }
    let tied = match (map.get("tie_word_embeddings"), model_type) {
        (Some(Value::Bool(b)), _) => *b,
        (None | Some(Value::Null), Some(t)) if UNTIED_BY_DEFAULT.contains(&t) => false,
        (None | Some(Value::Null), _) => {
            return Err(format!(
                "field 'tie_word_embeddings' is missing and model_type {} has no known default; add \"tie_word_embeddings\": true or false",
                model_type.map(|t| format!("'{t}'")).unwrap_or_else(|| "(absent)".into())
            ))
        }
        (Some(v), _) => return Err(format!("field 'tie_word_embeddings' is {v}; expected true or false")),
    };
    let attention_bias = boolean(map, "attention_bias")?;
    let qwen2 = model_type.is_some_and(|t| QKV_BIAS_TYPES.contains(&t));
    let sliding_window = match (
        optional(map, "sliding_window")?,
        map.get("use_sliding_window"),
    ) {
        (Some(_), Some(Value::Bool(false))) => None,
        (w, _) => w,
    };
    let moe = moe(map, layers)?;
    let mla = mla(map)?;
    let config = ModelConfig {
        id: origin.to_string(),
        source: origin.to_string(),
        hidden_size: hidden,
        num_hidden_layers: layers,
        num_attention_heads: heads,
        num_key_value_heads: kv_heads,
        head_dim,
        intermediate_size: intermediate,
        vocab_size: vocab,
        tie_word_embeddings: tied,
        qkv_bias: attention_bias || qwen2,
        o_bias: attention_bias,
        mlp_bias: boolean(map, "mlp_bias")?,
        sliding_window,
        moe,
        mla,
    };
    config.check()?;
    Ok(config)
}

/// The mixture of experts, under any of its three spellings of the expert count.
fn moe(map: &Map<String, Value>, layers: u64) -> std::result::Result<Option<Moe>, String> {
    let mut counts = Vec::new();
    for field in ["num_local_experts", "n_routed_experts", "num_experts"] {
        if let Some(e) = optional(map, field)? {
            counts.push((field, e));
        }
    }
    let per_token = optional(map, "num_experts_per_tok")?;
    let width = optional(map, "moe_intermediate_size")?;
    let (field, e, k) = match (counts.as_slice(), per_token) {
        ([], None) => {
            return match width {
                Some(_) => Err("field 'moe_intermediate_size' is given but no expert count (num_local_experts, n_routed_experts or num_experts); a mixture of experts needs one".into()),
                None => Ok(None),
            }
        }
        ([(field, e)], Some(k)) => (*field, *e, k),
        ([], Some(_)) => {
            return Err("field 'num_experts_per_tok' is given but no expert count; add num_local_experts, n_routed_experts or num_experts".into())
        }
        ([(field, _)], None) => {
            return Err(format!("field 'num_experts_per_tok' is missing ({field} is given); a mixture of experts needs both"))
        }
        ([(a, _), (b, _), ..], _) => {
            return Err(format!("fields '{a}' and '{b}' both give an expert count; keep one"))
        }
    };
    if k > e {
        return Err(format!("num_experts_per_tok {k} is more than {field} {e}"));
    }
    let shared = match (
        optional(map, "n_shared_experts")?,
        optional(map, "shared_expert_intermediate_size")?,
    ) {
        (Some(_), Some(_)) => return Err("fields 'n_shared_experts' and 'shared_expert_intermediate_size' both size the shared experts; keep one".into()),
        (Some(n), None) => match width {
            Some(w) => n.saturating_mul(w),
            None => return Err("field 'n_shared_experts' needs moe_intermediate_size, the width of each shared expert".into()),
        },
        (None, Some(w)) => w,
        (None, None) => 0,
    };
    let dense_layers = optional_count(map, "first_k_dense_replace")?;
    if dense_layers > layers {
        return Err(format!(
            "first_k_dense_replace {dense_layers} is more than num_hidden_layers {layers}"
        ));
    }
    Ok(Some(Moe {
        num_local_experts: e,
        num_experts_per_tok: k,
        expert_intermediate_size: width,
        shared_intermediate_size: shared,
        dense_layers,
    }))
}

/// Multi-head latent attention, when `kv_lora_rank` is given (its four widths required).
fn mla(map: &Map<String, Value>) -> std::result::Result<Option<Mla>, String> {
    let Some(kv_lora_rank) = optional(map, "kv_lora_rank")? else {
        return match optional(map, "q_lora_rank")? {
            Some(_) => Err("field 'q_lora_rank' is given without kv_lora_rank; latent attention needs kv_lora_rank".into()),
            None => Ok(None),
        };
    };
    let width = |field: &str| {
        optional(map, field)?.ok_or_else(|| {
            format!("field '{field}' is missing; latent attention (kv_lora_rank is given) needs it")
        })
    };
    Ok(Some(Mla {
        q_lora_rank: optional(map, "q_lora_rank")?,
        kv_lora_rank,
        qk_nope_head_dim: width("qk_nope_head_dim")?,
        qk_rope_head_dim: width("qk_rope_head_dim")?,
        v_head_dim: width("v_head_dim")?,
    }))
}

/// An optional count that may be 0 (`null` or absent = 0).
fn optional_count(map: &Map<String, Value>, field: &str) -> std::result::Result<u64, String> {
    match map.get(field) {
        Some(Value::Number(n)) if n.as_u64() == Some(0) => Ok(0),
        _ => Ok(optional(map, field)?.unwrap_or(0)),
    }
}

/// A required positive integer field.
fn required(map: &Map<String, Value>, field: &str) -> std::result::Result<u64, String> {
    optional(map, field)?.ok_or_else(|| {
        format!("field '{field}' is missing; a decoder config.json (Llama, Mistral, Mixtral, Qwen2) has it")
    })
}

/// An optional positive integer field (`null` counts as absent).
fn optional(map: &Map<String, Value>, field: &str) -> std::result::Result<Option<u64>, String> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64() {
            Some(0) => Err(format!("field '{field}' is 0; it must be at least 1")),
            Some(n) if n > MAX_DIM => Err(format!(
                "field '{field}' is {n}, which is absurd; at most {MAX_DIM} is accepted"
            )),
            Some(n) => Ok(Some(n)),
            None => Err(format!(
                "field '{field}' is {v}; expected a positive integer"
            )),
        },
    }
}

/// An optional boolean field (absent or `null` = false).
fn boolean(map: &Map<String, Value>, field: &str) -> std::result::Result<bool, String> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(format!("field '{field}' is {v}; expected true or false")),
    }
}
