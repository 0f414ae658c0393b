//! `hotpath run --model M --batch B --context L [--prefill]`: the kernels of one decode step
//! (or prefill) of a model at its exact shapes, then the kernel-composed step time against
//! the floors at spec and measured roofs.

use clap::Args;

use hotpath_core::results::ResultsFile;
use hotpath_core::{DType, Error, OpSpec, Result};
use hotpath_model::floors::{analyze, Roofing};
use hotpath_model::step::{self, ModelRun, Phase, Weights};
use hotpath_model::{self as model};

use super::floors::render;
use crate::cli::Format;

/// Flags of a model-shaped run (flattened into `hotpath run`).
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// Run the kernels of one decode step of this model at its exact shapes: a built-in id
    /// (see `hotpath list`) or the path of a Hugging Face config.json.
    #[arg(long, conflicts_with_all = ["op", "suite"])]
    pub model: Option<String>,
    /// With --model: sequences decoded (or prompts prefilled) together.
    #[arg(long, requires = "model")]
    pub batch: Option<u64>,
    /// With --model: cached tokens per sequence (decode), or prompt tokens with --prefill.
    #[arg(long, requires = "model")]
    pub context: Option<u64>,
    /// With --model: run one prefill of --context tokens per sequence instead of a decode step.
    #[arg(long, requires = "model")]
    pub prefill: bool,
    /// With --model: tensor-parallel degree; runs one GPU's shard of every layer.
    #[arg(long, requires = "model")]
    pub tp: Option<u64>,
    /// With --model: expert-parallel degree; runs one GPU's share of a mixture's experts.
    #[arg(long, requires = "model")]
    pub ep: Option<u64>,
    /// KV-cache dtype: with --model, of its step (default: --dtype, or bf16 under fp8
    /// weights); with --op attn_decode, kv_write or kv_read, fp8_e4m3 sets kv_fp8=1.
    #[arg(long)]
    pub kv_dtype: Option<String>,
    /// With --model: how the linear layers' weights are stored, bf16, f16, f32, fp8 or int4
    /// (weight-only, groups of 128, bf16 activations); instead of --dtype.
    #[arg(long, requires = "model")]
    pub weights: Option<String>,
}

/// The model run `args` ask for (weights in `dtype`), or `None` without --model.
pub fn request(args: &ModelArgs, dtype: &str) -> Result<Option<ModelRun>> {
    let Some(name) = &args.model else {
        return Ok(None);
    };
    let Some(context) = args.context else {
        return Err(Error::bad_input(
            "--model needs --context L: cached tokens per sequence (or prompt tokens with --prefill)",
        ));
    };
    let phase = if args.prefill {
        Phase::Prefill
    } else {
        Phase::Decode
    };
    let kv = args.kv_dtype.as_deref().map(DType::parse).transpose()?;
    let weights = match &args.weights {
        Some(w) => Weights::parse(w)?,
        None => Weights::Dtype(DType::parse(dtype)?),
    };
    let run = ModelRun::new(
        model::resolve(name)?,
        phase,
        args.batch.unwrap_or(1),
        context,
        weights.activation_dtype(),
        kv,
        args.tp.unwrap_or(1),
    )?
    .with_ep(args.ep.unwrap_or(1))?
    .with_weights(weights);
    if let (Phase::Prefill, Some(w)) = (phase, run.model.sliding_window) {
        if context > w {
            return Err(Error::unsupported(format!(
                "{} attends over a sliding window of {w} tokens and the attn_prefill benchmark has no window; use --context {w} or less with --prefill",
                run.model.id
            )));
        }
    }
    Ok(Some(run))
}

/// The distinct benchmarks of `run`'s step, in execution order.
pub fn specs(run: &ModelRun) -> Result<Vec<OpSpec>> {
    let step = step::step(run, run.phase)?;
    let mut specs: Vec<OpSpec> = Vec::new();
    for k in step.ops.into_iter().filter_map(|o| o.kernel) {
        if !specs.contains(&k) {
            specs.push(k);
        }
    }
    Ok(specs)
}

/// After a model-shaped run: the composed step time against both floors, on stdout under
/// a table, on stderr with other formats (so JSON and CSV stay parseable).
pub fn print_floors(file: &ResultsFile, format: Format) -> Result<()> {
    let Some(run) = &file.model else {
        return Ok(());
    };
    let report = analyze(run, &[run.phase], &Roofing::results(file))?;
    let text = render(&report);
    match format {
        Format::Table | Format::Md => print!("\n{text}"),
        Format::Json | Format::Csv => eprint!("\n{text}"),
    }
    Ok(())
}
