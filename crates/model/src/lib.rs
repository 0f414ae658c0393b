//! Models: transformer decoder configs (built in, or any Hugging Face `config.json`), the
//! kernels of one decode step or prefill at a model's exact shapes, and the per-token
//! latency floors of docs/floors.md.
//!
//! - [`ModelConfig`]: the shape facts of a model, from [`builtin`] or [`config::parse`];
//! - [`step`]: one decode step (or prefill) as a list of ops with their bytes, FLOPs and
//!   the benchmark that measures each at the model's shape;
//! - [`floors`]: memory, compute and binding floors at spec or measured roofs, and the
//!   kernel-composed step time from measured kernels.

pub mod builtin;
pub mod config;
pub mod floors;
pub mod step;

#[cfg(test)]
mod moe_tests;
#[cfg(test)]
mod tests;

use std::path::Path;

use hotpath_core::error::{Error, Result};
pub use hotpath_core::model_config::{default_kv_dtype, Mla, ModelConfig, ModelRun, Moe, Phase};

/// Resolves `text` to a model: a built-in id (case-insensitive, see `hotpath list`) or the
/// path of a Hugging Face `config.json`.
pub fn resolve(text: &str) -> Result<ModelConfig> {
    let id = text.trim().to_ascii_lowercase();
    if let Some(m) = builtin::all().into_iter().find(|m| m.id == id) {
        return Ok(m);
    }
    let path = Path::new(text.trim());
    if path.is_file() {
        return config::read(path);
    }
    let looks_like_path = text.contains('/') || text.ends_with(".json");
    let ids: Vec<String> = builtin::all().into_iter().map(|m| m.id).collect();
    Err(Error::bad_input(if looks_like_path {
        format!(
            "model config {text} does not exist or is not a file; give a Hugging Face config.json or a built-in id: {}",
            ids.join(", ")
        )
    } else {
        format!(
            "unknown model '{text}'; accepted: {} or the path of a Hugging Face config.json",
            ids.join(", ")
        )
    }))
}
