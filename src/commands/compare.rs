//! `hotpath compare BASE NEW`: noise-aware verdicts per benchmark; exit 1 on a regression.

use clap::{Args, ValueEnum};
use std::path::PathBuf;

use hotpath_compare::band::History;
use hotpath_compare::normalize::Normalize;
use hotpath_compare::{self as compare, render, Options};
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

/// Output format of `compare`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CompareFormat {
    /// Aligned text table.
    Table,
    /// JSON (schema hotpath.compare/1).
    Json,
    /// Markdown.
    Md,
    /// JUnit XML: a test case per benchmark, a regression a failure with its reason.
    Junit,
}

/// What `compare --normalize` accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum NormalizeChoice {
    /// Every benchmark on time.
    None,
    /// Memory-bound benchmarks (not the streaming ceilings) on time × their own run's
    /// measured bandwidth roof: their efficiency against that run's streaming ceiling.
    Bandwidth,
}

impl From<NormalizeChoice> for Normalize {
    fn from(c: NormalizeChoice) -> Normalize {
        match c {
            NormalizeChoice::None => Normalize::None,
            NormalizeChoice::Bandwidth => Normalize::Bandwidth,
        }
    }
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
    #[arg(long, value_enum, default_value_t = CompareFormat::Table)]
    pub format: CompareFormat,
    /// Directory of earlier results files of the base's machine (nightly.sh's history/): a
    /// change must also beat each benchmark's run-to-run band: a 99.9 % prediction bound
    /// (Student's t) for the ratio of two runs, from the spread of its last up to 20 medians
    /// there, and at least their range (at least 3 runs; other hardware and the new file
    /// are left out; symbolic links are not followed).
    /// Repeatable: the runs of every directory given count (nightly.sh adds runs/, the
    /// last good build's A/B rounds).
    #[arg(long, value_name = "DIR")]
    pub history: Vec<PathBuf>,
    /// `bandwidth`: compare memory-bound benchmarks on time × their own run's measured
    /// bandwidth roof (efficiency against the run's streaming ceiling), so a drift of the
    /// memory system cancels; compute-bound benchmarks and the ceilings stay on time.
    #[arg(long, value_enum, value_name = "HOW", default_value_t = NormalizeChoice::None)]
    pub normalize: NormalizeChoice,
    /// A second measurement of the new build (the same suite run again): a regression
    /// counts only if comparing this file with the base flags it too; otherwise it is
    /// noisy, "did not reproduce".
    #[arg(long, value_name = "FILE")]
    pub remeasured: Option<PathBuf>,
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
    let again = args
        .remeasured
        .as_deref()
        .map(ResultsFile::read)
        .transpose()?;
    let dirs: Vec<&std::path::Path> = args.history.iter().map(PathBuf::as_path).collect();
    let history = match dirs.is_empty() {
        true => None,
        false => Some(History::load_dirs(&dirs, &base, &new)?),
    };
    let options = Options {
        threshold_pct: args.threshold,
        normalize: args.normalize.into(),
        history: history.as_ref(),
    };
    let mut c = compare::compare_with(
        &base,
        &new,
        &args.base.display().to_string(),
        &args.new.display().to_string(),
        &options,
    )?;
    if let (Some(again), Some(path)) = (&again, &args.remeasured) {
        let second = compare::compare_with(
            &base,
            again,
            &args.base.display().to_string(),
            &path.display().to_string(),
            &options,
        )?;
        compare::remeasure::confirm(&mut c, &second);
    }
    let text = match args.format {
        CompareFormat::Table => render::compare_text(&c),
        CompareFormat::Md => render::compare_markdown(&c),
        CompareFormat::Json => json(&c)?,
        CompareFormat::Junit => compare::junit::compare(&c, &new.host.hostname),
    };
    print!("{text}");
    Ok(if c.has_regression() {
        Outcome::CheckFailed
    } else {
        Outcome::Ok
    })
}
