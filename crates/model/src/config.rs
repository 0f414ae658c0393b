//! Hugging Face `config.json` → [`ModelConfig`], with one clear sentence per problem, naming
//! the field.
//!
//! Read: `hidden_size`, `num_hidden_layers`, `num_attention_heads`, `intermediate_size`,
//! `vocab_size` (required); `num_key_value_heads` (absent = MHA, as transformers does),
//! `head_dim` (absent = hidden_size / num_attention_heads), `tie_word_embeddings` (absent =
//! false for llama, mistral, mixtral and qwen2, else an error), `attention_bias`,
//! `mlp_bias`, `sliding_window` + `use_sliding_window`, and `num_local_experts` +
//! `num_experts_per_tok` (Mixtral-style mixture of experts). Structures these fields cannot
//! describe (shared experts, per-expert widths, latent attention, nested text configs) are
//! refused by name rather than guessed at.

use serde_json::{Map, Value};
use std::path::Path;

use super::{ModelConfig, Moe};
use hotpath_core::error::{Error, Result};
use hotpath_core::op::MAX_DIM;

/// Model types whose transformers config class defaults `tie_word_embeddings` to false.
const UNTIED_BY_DEFAULT: [&str; 4] = ["llama", "mistral", "mixtral", "qwen2"];

/// Fields of model structures these shapes cannot describe, and what each one means.
const UNSUPPORTED: [(&str, &str); 8] = [
    (
        "text_config",
        "a multimodal wrapper; give the language model's own config",
    ),
    (
        "num_experts",
        "Qwen-MoE style experts (hotpath models Mixtral-style num_local_experts)",
    ),
    (
        "moe_intermediate_size",
        "experts narrower than intermediate_size",
    ),
    ("shared_expert_intermediate_size", "shared experts"),
    ("n_shared_experts", "shared experts"),
    ("n_routed_experts", "DeepSeek-style routed experts"),
    ("kv_lora_rank", "multi-head latent attention"),
    ("q_lora_rank", "multi-head latent attention"),
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
    let head_dim = match optional(map, "head_dim")? {
        Some(d) => d,
        None if !hidden.is_multiple_of(heads) => {
            return Err(format!(
                "num_attention_heads {heads} does not divide hidden_size {hidden}, and there is no head_dim; give head_dim or fix the heads"
            ))
        }
        None => hidden / heads,
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
    let qwen2 = model_type == Some("qwen2");
    let sliding_window = match (
        optional(map, "sliding_window")?,
        map.get("use_sliding_window"),
    ) {
        (Some(_), Some(Value::Bool(false))) => None,
        (w, _) => w,
    };
    let moe = match (
        optional(map, "num_local_experts")?,
        optional(map, "num_experts_per_tok")?,
    ) {
        (None, None) => None,
        (Some(e), Some(k)) if k <= e => Some(Moe {
            num_local_experts: e,
            num_experts_per_tok: k,
        }),
        (Some(e), Some(k)) => {
            return Err(format!(
                "num_experts_per_tok {k} is more than num_local_experts {e}"
            ))
        }
        (Some(_), None) => {
            return Err("field 'num_experts_per_tok' is missing (num_local_experts is given); a mixture of experts needs both".into())
        }
        (None, Some(_)) => {
            return Err("field 'num_local_experts' is missing (num_experts_per_tok is given); a mixture of experts needs both".into())
        }
    };
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
    };
    config.check()?;
    Ok(config)
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
