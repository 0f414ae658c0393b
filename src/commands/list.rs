//! `hotpath list`: ops with their shape keys, dtypes, suites, hardware ids and built-in models.

use serde::Serialize;

use hotpath_core::op::shape_example;
use hotpath_core::suite::{suite, DeviceClass, SUITES};
use hotpath_core::{hardware, DType, Error, OpKind, Result};

use crate::cli::{Format, ListArgs, Outcome};

#[derive(Serialize)]
struct KeyEntry {
    name: &'static str,
    meaning: &'static str,
    default: Option<u64>,
}

#[derive(Serialize)]
struct OpEntry {
    op: &'static str,
    summary: &'static str,
    keys: Vec<KeyEntry>,
    example: &'static str,
}

#[derive(Serialize)]
struct SuiteEntry {
    name: &'static str,
    summary: &'static str,
    benchmarks_cpu: usize,
    benchmarks_gpu: usize,
}

#[derive(Serialize)]
struct HardwareEntry {
    id: String,
    name: String,
    mem_bytes_per_s: Option<f64>,
}

#[derive(Serialize)]
struct ModelEntry {
    id: String,
    source: String,
    params: u64,
    layers: u64,
    hidden_size: u64,
    heads_q: u64,
    heads_kv: u64,
    experts: Option<(u64, u64)>,
    /// Latent attention: the cached latent and RoPE-key widths.
    #[serde(skip_serializing_if = "Option::is_none")]
    latent_kv: Option<(u64, u64)>,
}

#[derive(Serialize)]
struct Listing {
    ops: Vec<OpEntry>,
    dtypes: Vec<&'static str>,
    suites: Vec<SuiteEntry>,
    hardware: Vec<HardwareEntry>,
    models: Vec<ModelEntry>,
}

/// Prints what hotpath can run.
pub fn run(args: &ListArgs) -> Result<Outcome> {
    let listing = Listing {
        ops: OpKind::ALL
            .iter()
            .map(|op| OpEntry {
                op: op.name(),
                summary: op.summary(),
                keys: op
                    .shape_keys()
                    .iter()
                    .map(|k| KeyEntry {
                        name: k.name,
                        meaning: k.meaning,
                        default: k.default,
                    })
                    .collect(),
                example: shape_example(*op),
            })
            .collect(),
        dtypes: DType::ALL.iter().map(|d| d.name()).collect(),
        suites: SUITES
            .iter()
            .map(|(name, summary)| {
                let count = |c| suite(name, c).map(|s| s.specs.len()).unwrap_or(0);
                SuiteEntry {
                    name,
                    summary,
                    benchmarks_cpu: count(DeviceClass::Cpu),
                    benchmarks_gpu: count(DeviceClass::Gpu),
                }
            })
            .collect(),
        hardware: hardware::builtin()?
            .into_iter()
            .map(|h| HardwareEntry {
                id: h.id,
                name: h.name,
                mem_bytes_per_s: h.mem_bytes_per_s,
            })
            .collect(),
        models: hotpath_model::builtin::all()
            .into_iter()
            .map(|m| ModelEntry {
                params: m.total_params(),
                layers: m.num_hidden_layers,
                hidden_size: m.hidden_size,
                heads_q: m.num_attention_heads,
                heads_kv: m.num_key_value_heads,
                experts: m.moe.map(|e| (e.num_local_experts, e.num_experts_per_tok)),
                latent_kv: m.mla.map(|a| (a.kv_lora_rank, a.qk_rope_head_dim)),
                id: m.id,
                source: m.source,
            })
            .collect(),
    };
    if args.format == Format::Json {
        let text = serde_json::to_string_pretty(&listing)
            .map_err(|e| Error::backend(format!("cannot serialize listing: {e}")))?;
        println!("{text}");
        return Ok(Outcome::Ok);
    }
    println!("ops (--op, --shape key=value,...):");
    for o in &listing.ops {
        println!("  {:<13} {}", o.op, o.summary);
        let keys: Vec<String> = o
            .keys
            .iter()
            .map(|k| match k.default {
                Some(d) => format!("{}={d} ({})", k.name, k.meaning),
                None => format!("{} ({}, required)", k.name, k.meaning),
            })
            .collect();
        if !keys.is_empty() {
            println!("  {:<13} keys: {}", "", keys.join("; "));
        }
        println!("  {:<13} e.g. --shape {}", "", o.example);
    }
    println!("dtypes (--dtype): {}", listing.dtypes.join(", "));
    println!("suites (--suite):");
    for s in &listing.suites {
        println!(
            "  {:<9} {} [{} on a CPU, {} on a GPU]",
            s.name, s.summary, s.benchmarks_cpu, s.benchmarks_gpu
        );
    }
    println!("hardware ids (--hardware):");
    for h in &listing.hardware {
        let bw = h
            .mem_bytes_per_s
            .map(|b| format!("{} GB/s", b / 1e9))
            .unwrap_or_else(|| "measured".into());
        println!("  {:<12} {} ({bw})", h.id, h.name);
    }
    println!("models (--model; or the path of a Hugging Face config.json):");
    for m in &listing.models {
        let experts = m
            .experts
            .map(|(e, k)| format!(", {k} of {e} experts"))
            .unwrap_or_default();
        let heads = match m.latent_kv {
            Some((kv, rope)) => format!("{} heads on a latent KV of {kv}+{rope}", m.heads_q),
            None => format!("{}/{} heads", m.heads_q, m.heads_kv),
        };
        println!(
            "  {:<14} {:.2} B params, {} layers, hidden {}, {heads}{experts} ({})",
            m.id,
            m.params as f64 / 1e9,
            m.layers,
            m.hidden_size,
            m.source
                .trim_start_matches("https://huggingface.co/")
                .trim_end_matches("/blob/main/config.json")
        );
    }
    Ok(Outcome::Ok)
}
