//! `hotpath gap A B`: the kernel-gap table of two results files (CUDA vs ROCm, or any two
//! devices), each against its own roofs.

use clap::Args;
use std::path::PathBuf;

use hotpath_compare::{gap, render};
use hotpath_core::results::ResultsFile;
use hotpath_core::Result;

use super::compare::{json, TextFormat};
use crate::cli::Outcome;

/// Arguments of `hotpath gap`.
#[derive(Args, Debug)]
pub struct GapArgs {
    /// Side A: results file (hotpath.results/1), usually the CUDA run.
    pub a: PathBuf,
    /// Side B: results file, usually the ROCm run.
    pub b: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TextFormat::Table)]
    pub format: TextFormat,
}

/// Reads both files, pairs their benchmarks, prints the table.
pub fn run(args: &GapArgs) -> Result<Outcome> {
    let a = ResultsFile::read(&args.a)?;
    let b = ResultsFile::read(&args.b)?;
    let g = gap::gap(
        &a,
        &b,
        &args.a.display().to_string(),
        &args.b.display().to_string(),
    )?;
    let text = match args.format {
        TextFormat::Table => render::gap_text(&g),
        TextFormat::Md => render::gap_markdown(&g),
        TextFormat::Json => json(&g)?,
    };
    print!("{text}");
    Ok(Outcome::Ok)
}
