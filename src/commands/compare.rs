//! `hotpath compare BASE NEW`: noise-aware verdicts per benchmark; exit 1 on a regression.

use clap::{Args, ValueEnum};
use std::path::PathBuf;

use hotpath_core::compare::{self, render};
use hotpath_core::results::ResultsFile;
use hotpath_core::{Error, Result};

use crate::cli::Outcome;

/// Output format of `compare` and `gap`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TextFormat {
    /// Aligned text table.
    Table,
    /// JSON (schema hotpath.compare/1 or hotpath.gap/1).
    Json,
    /// Markdown.
    Md,
}

/// Arguments of `hotpath compare`.
#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct CompareArgs {
    /// The reference results file (hotpath.results/1), e.g. a baseline.
    pub base: PathBuf,
    /// The results file to judge against it.
    pub new: PathBuf,
    /// Smallest change that counts, in percent of the base median time.
    #[arg(long, default_value_t = compare::DEFAULT_THRESHOLD_PCT)]
    pub threshold: f64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TextFormat::Table)]
    pub format: TextFormat,
}

/// Serializes a report struct as pretty JSON with a final newline.
pub fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string_pretty(v)
        .map(|s| s + "\n")
        .map_err(|e| Error::backend(format!("cannot serialize the report: {e}")))
}

/// Reads both files (bad input fails before anything is printed), compares, prints.
pub fn run(args: &CompareArgs) -> Result<Outcome> {
    compare::check_threshold(args.threshold)?;
    let base = ResultsFile::read(&args.base)?;
    let new = ResultsFile::read(&args.new)?;
    let c = compare::compare(
        &base,
        &new,
        args.threshold,
        &args.base.display().to_string(),
        &args.new.display().to_string(),
    )?;
    let text = match args.format {
        TextFormat::Table => render::compare_text(&c),
        TextFormat::Md => render::compare_markdown(&c),
        TextFormat::Json => json(&c)?,
    };
    print!("{text}");
    Ok(if c.has_regression() {
        Outcome::CheckFailed
    } else {
        Outcome::Ok
    })
}
