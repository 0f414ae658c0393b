//! `hotpath floors`: per-token latency floors of a model (decode TPOT and prefill TTFT) on a
//! hardware entry's spec roofs, or on a results file's roofs with the kernel-composed step
//! time from its measured kernels.

use clap::{Args, ValueEnum};
use std::path::PathBuf;

use hotpath_core::results::ResultsFile;
use hotpath_core::{hardware, DType, Error, Result};
use hotpath_model::floors::{analyze, FloorsReport, Roofing};
use hotpath_model::step::{ModelRun, Phase, Weights};
use hotpath_model::{self as model};
use hotpath_report::floors::{heading, op_cells, summary, OP_HEADERS};

use crate::cli::Outcome;

/// Output format of `hotpath floors`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum FloorsFormat {
    /// Aligned text.
    Table,
    /// JSON (decode, prefill, per_op[], notes).
    Json,
}

/// Flags of `hotpath floors`.
#[derive(Args, Debug)]
pub struct FloorsArgs {
    /// Built-in model id (see `hotpath list`) or the path of a Hugging Face config.json.
    #[arg(long)]
    pub model: String,
    /// Sequences decoded together (B).
    #[arg(long)]
    pub batch: u64,
    /// Cached tokens per sequence for decode, prompt tokens for prefill (L).
    #[arg(long)]
    pub context: u64,
    /// Element type of the linear weights: bf16, f16, f32 or fp8.
    #[arg(long, default_value = "bf16")]
    pub dtype: String,
    /// How the linear layers' weights are stored, instead of --dtype: bf16, f16, f32, fp8,
    /// or int4 (weight-only, groups of 128, bf16 activations).
    #[arg(long, conflicts_with = "dtype")]
    pub weights: Option<String>,
    /// Element type of the KV cache (default: --dtype, or bf16 under fp8 weights).
    #[arg(long)]
    pub kv_dtype: Option<String>,
    /// Tensor-parallel degree: floors of one GPU's shard (communication not modelled).
    #[arg(long, default_value_t = 1)]
    pub tp: u64,
    /// Expert-parallel degree: a mixture's experts split whole over this many GPUs (each
    /// holds E/ep of them); the floors are one GPU's.
    #[arg(long, default_value_t = 1)]
    pub ep: u64,
    /// Spec roofs of this hardware id (see `hotpath list`).
    #[arg(long, conflicts_with = "results", required_unless_present = "results")]
    pub hardware: Option<String>,
    /// A results file: its device's spec and measured roofs, and its measured kernels.
    #[arg(long)]
    pub results: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = FloorsFormat::Table)]
    pub format: FloorsFormat,
}

/// Computes and prints the floors.
pub fn run(args: &FloorsArgs) -> Result<Outcome> {
    let weights = match &args.weights {
        Some(w) => Weights::parse(w)?,
        None => Weights::Dtype(DType::parse(&args.dtype)?),
    };
    let kv = args.kv_dtype.as_deref().map(DType::parse).transpose()?;
    let m = model::resolve(&args.model)?;
    let run = ModelRun::new(
        m,
        Phase::Decode,
        args.batch,
        args.context,
        weights.activation_dtype(),
        kv,
        args.tp,
    )?
    .with_ep(args.ep)?
    .with_weights(weights);
    let file;
    let roofing = match (&args.hardware, &args.results) {
        (Some(id), _) => {
            let hw = hardware::by_id(id)?;
            check_spec(&hw, &run)?;
            Roofing::spec(&hw)
        }
        (None, Some(path)) => {
            file = ResultsFile::read(path)?;
            Roofing::results(&file)
        }
        (None, None) => {
            return Err(Error::bad_input(
                "floors needs --hardware ID (spec roofs) or --results FILE (a device's roofs and kernels)",
            ))
        }
    };
    let report = analyze(&run, &[Phase::Decode, Phase::Prefill], &roofing)?;
    match args.format {
        FloorsFormat::Json => {
            let text = serde_json::to_string_pretty(&report)
                .map_err(|e| Error::backend(format!("cannot serialize floors: {e}")))?;
            emit(&format!("{text}\n"))?;
        }
        FloorsFormat::Table => emit(&render(&report))?,
    }
    Ok(Outcome::Ok)
}

/// Writes to stdout; a closed pipe (`| head`) ends the output quietly instead of panicking.
fn emit(text: &str) -> Result<()> {
    use std::io::Write;
    match std::io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::backend(format!("cannot write to stdout: {e}")))
        }
        _ => Ok(()),
    }
}

/// A hardware entry without the roofs the floors need is bad input, named with what has them.
fn check_spec(hw: &hardware::HardwareSpec, run: &ModelRun) -> Result<()> {
    if hw.mem_bytes_per_s.is_none() {
        return Err(Error::bad_input(format!(
            "hardware '{}' has no spec bandwidth (its roofs are measured); run `hotpath run` on it and pass --results FILE",
            hw.id
        )));
    }
    for d in [run.dtype, run.high_dtype(), run.kv_dtype] {
        if !hw.peak_flops.contains_key(d.name()) {
            let have: Vec<&str> = hw.peak_flops.keys().map(String::as_str).collect();
            return Err(Error::bad_input(format!(
                "hardware '{}' has no {} peak; its peaks: {}",
                hw.id,
                d,
                have.join(", ")
            )));
        }
    }
    Ok(())
}

/// The floors as aligned text: heading, each phase's summary and op table, notes.
pub fn render(r: &FloorsReport) -> String {
    let mut out = format!("{}\n", heading(r));
    for (phase, p) in [(Phase::Decode, &r.decode), (Phase::Prefill, &r.prefill)] {
        let Some(p) = p else { continue };
        let seqs = if r.batch == 1 {
            "sequence"
        } else {
            "sequences"
        };
        out.push_str(&match phase {
            Phase::Decode => format!(
                "\ndecode step (one new token for each of {} {seqs}, {} cached tokens each):\n",
                r.batch, r.context
            ),
            Phase::Prefill => format!(
                "\nprefill ({} {seqs}, a {}-token prompt each):\n",
                r.batch, r.context
            ),
        });
        let lines = summary(phase, p, r.batch);
        let w = lines
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        for (k, v) in lines {
            out.push_str(&format!("  {k:<w$}  {v}\n"));
        }
        let rows: Vec<Vec<String>> = r
            .per_op
            .iter()
            .filter(|o| o.phase == phase)
            .map(op_cells)
            .collect();
        // Measured columns only when a results file gave kernels.
        let cols = if p.composed.is_some() {
            OP_HEADERS.len()
        } else {
            8
        };
        out.push_str(&table(&OP_HEADERS[..cols], &rows, cols));
    }
    out.push_str("\nnotes:\n");
    for n in &r.notes {
        out.push_str(&format!("  - {n}\n"));
    }
    out
}

fn table(headers: &[&str], rows: &[Vec<String>], cols: usize) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r.iter().take(cols)) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| {
                if i < 2 || i == 10 {
                    format!("{c:<w$}")
                } else {
                    format!("{c:>w$}")
                }
            })
            .collect();
        format!("  {}\n", parts.join("  ").trim_end())
    };
    let mut out = String::from("\n");
    out.push_str(&line(headers.to_vec()));
    for r in rows {
        out.push_str(&line(r.iter().take(cols).map(String::as_str).collect()));
    }
    out
}
