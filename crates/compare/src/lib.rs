//! `hotpath compare` and `hotpath gap`: two results files side by side.
//!
//! [`compare`] matches benchmarks by id and gives each a noise-aware verdict ([`verdict`])
//! from the Hodges-Lehmann ratio and its distribution-free interval ([`stats`]), with the
//! ratio of medians reported beside it; [`band`] adds the run-to-run band of a history of
//! runs (`--history`) and [`normalize`] the comparison of memory-bound benchmarks on their
//! efficiency against their own run's streaming ceiling (`--normalize bandwidth`); [`setup`]
//! warns when the files were measured under different conditions; [`gap`] is the kernel-gap
//! table of two devices, each against its own roofs; [`render`] formats both.

pub mod ab;
pub mod band;
pub mod gap;
pub mod junit;
pub mod normalize;
pub mod paired;
pub mod remeasure;
pub mod render;
pub mod setup;
pub mod stats;
pub mod verdict;

use serde::Serialize;
use std::collections::BTreeMap;

use band::History;
use hotpath_core::error::{Error, Result};
use hotpath_core::results::{BenchmarkResult, ResultsFile, Status};
use normalize::{ComparedAs, Normalize};
use stats::{IntervalError, RatioInterval};
pub use verdict::Verdict;

/// Schema of `hotpath compare --format json`.
pub const SCHEMA: &str = "hotpath.compare/1";

/// The interval method, as every output names it.
pub const METHOD: &str = "Hodges-Lehmann estimate of the new/base time ratio on log-times, \
with the distribution-free 95 % confidence interval that inverts the Mann-Whitney test \
(exact for up to 50 samples per side, normal approximation above); deterministic, no resampling";

/// The row fields the verdict is decided on: the Hodges-Lehmann ratio and its interval. The
/// ratio of medians (`ratio`) is reported beside them and never decides. With a history the
/// row's `band` decides too.
pub const VERDICT_USES: [&str; 3] = ["hl_ratio", "ci_low", "ci_high"];

/// Default threshold of `hotpath compare`, percent.
pub const DEFAULT_THRESHOLD_PCT: f64 = 5.0;

/// One benchmark present and measured in both files.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CompareRow {
    /// Benchmark id (`op/shape/dtype/impl`).
    pub id: String,
    /// Median of the base file's samples, seconds.
    pub base_median_s: f64,
    /// Median of the new file's samples, seconds.
    pub new_median_s: f64,
    /// Ratio of medians, new_median_s ÷ base_median_s (above 1 = slower). Reported only: the
    /// verdict is decided on `hl_ratio` and its interval ([`VERDICT_USES`]).
    pub ratio: f64,
    /// Hodges-Lehmann estimate of the time ratio new ÷ base: the median of all pairwise
    /// ratios, which the verdict uses (None without an interval). Equal to `ratio` when the
    /// two distributions differ only by scale; more stable than it when they do not.
    pub hl_ratio: Option<f64>,
    /// Lower end of the 95 % interval of `hl_ratio`.
    pub ci_low: Option<f64>,
    /// Upper end of the 95 % interval of `hl_ratio`.
    pub ci_high: Option<f64>,
    /// `exact` or `normal`: which Mann-Whitney distribution set the interval's ranks.
    pub interval: Option<&'static str>,
    /// Samples in the base file.
    pub base_samples: usize,
    /// Samples in the new file.
    pub new_samples: usize,
    /// What the ratios are of: `time`, or with `--normalize bandwidth` for a memory-bound
    /// benchmark `efficiency` (time × the run's measured bandwidth roof; above 1 = less
    /// efficient). `base_median_s` and `new_median_s` are times either way.
    pub compared_as: ComparedAs,
    /// For an `efficiency` row, new file's measured bandwidth roof ÷ base file's: the
    /// ratios are the time ratios × this.
    pub roof_ratio: Option<f64>,
    /// Run-to-run band of this benchmark from the history (a fraction: 0.2 = ±20 %); None
    /// without a history or with fewer than [`band::MIN_RUNS`] runs of it there.
    pub band: Option<f64>,
    /// How many runs of the history the band came from (None without a history).
    pub band_runs: Option<usize>,
    /// The verdict.
    pub verdict: Verdict,
    /// Notes, `; `-separated: why there is no interval or no band, a change held back by the
    /// band, a fallback from efficiency to time.
    pub note: Option<String>,
}

/// A benchmark in both files that could not be compared (failed or errored on a side).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Skipped {
    /// Benchmark id.
    pub id: String,
    /// Why.
    pub reason: String,
}

/// Which run a file holds, for the header of a comparison.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FileLabel {
    /// The file as given.
    pub file: String,
    /// `backend name` of the device.
    pub device: String,
    /// When the run was made (RFC 3339).
    pub created: String,
    /// The hotpath commit that made it.
    pub git: Option<String>,
}

impl FileLabel {
    /// The label of `file`, named `name`.
    pub fn of(file: &ResultsFile, name: &str) -> FileLabel {
        FileLabel {
            file: name.to_string(),
            device: format!("{} {}", file.device.backend, file.device.name),
            created: file.created.clone(),
            git: file.tool.git.clone(),
        }
    }
}

/// The whole comparison of two files.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    /// Always [`SCHEMA`].
    pub schema: &'static str,
    /// The base file.
    pub base: FileLabel,
    /// The new file.
    pub new: FileLabel,
    /// The interval method ([`METHOD`]), then the band's ([`band::METHOD`]) with a history
    /// and the normalization's ([`normalize::METHOD`]) with `--normalize bandwidth`.
    pub method: String,
    /// Confidence level of the intervals.
    pub confidence: f64,
    /// Threshold, percent.
    pub threshold_pct: f64,
    /// How the verdicts are defined ([`verdict::DEFINITIONS`], and
    /// [`verdict::BAND_DEFINITION`] with a history).
    pub verdicts: String,
    /// The row fields the verdicts are decided on ([`VERDICT_USES`], and `band` with a
    /// history).
    pub verdict_uses: Vec<&'static str>,
    /// `none`, or `bandwidth` for `--normalize bandwidth`.
    pub normalize: Normalize,
    /// The history the bands came from (None without `--history`).
    pub history: Option<History>,
    /// Ids judged regressions.
    pub regressions: Vec<String>,
    /// Ids judged improvements.
    pub improvements: Vec<String>,
    /// Ids judged noisy.
    pub noisy: Vec<String>,
    /// One row per benchmark measured in both files, in the base file's order.
    pub rows: Vec<CompareRow>,
    /// Ids only in the base file.
    pub only_in_base: Vec<String>,
    /// Ids only in the new file.
    pub only_in_new: Vec<String>,
    /// Ids in both files that could not be compared.
    pub not_compared: Vec<Skipped>,
    /// Differences in how the two files were measured.
    pub warnings: Vec<String>,
}

impl Comparison {
    /// True when any benchmark regressed (the CLI exits 1).
    pub fn has_regression(&self) -> bool {
        !self.regressions.is_empty()
    }
}

/// The largest threshold accepted, percent.
pub const MAX_THRESHOLD_PCT: f64 = 1000.0;

/// Checks a threshold given in percent: a finite number above 0 and at most 1000. From 100
/// on only slowdowns can be flagged (no time falls 100 % or more below the base); such
/// thresholds are for machines whose runs drift by whole factors, e.g. a shared CI VM.
pub fn check_threshold(pct: f64) -> Result<f64> {
    if pct.is_finite() && pct > 0.0 && pct <= MAX_THRESHOLD_PCT {
        Ok(pct / 100.0)
    } else {
        Err(Error::bad_input(format!(
            "--threshold {pct} is not valid; give a percentage above 0 and at most {MAX_THRESHOLD_PCT}, such as 5"
        )))
    }
}

/// Benchmarks of `file` by id, refusing duplicate ids (a file has one result per id).
pub(crate) fn by_id<'a>(
    file: &'a ResultsFile,
    origin: &str,
) -> Result<BTreeMap<&'a str, &'a BenchmarkResult>> {
    let mut map = BTreeMap::new();
    for b in &file.benchmarks {
        if map.insert(b.id.as_str(), b).is_some() {
            return Err(Error::bad_input(format!(
                "{origin} holds benchmark {} twice; a results file has one result per id",
                b.id
            )));
        }
    }
    Ok(map)
}

/// Why a benchmark cannot be compared, or None when it can.
fn unusable(b: &BenchmarkResult, side: &str) -> Option<String> {
    match b.status {
        Status::Ok if b.time.is_some() || !b.samples_s.is_empty() => None,
        Status::Ok => Some(format!("not measured in {side}")),
        Status::Failed => Some(format!("failed its correctness check in {side}")),
        Status::Error => Some(format!(
            "errored in {side}: {}",
            b.error.as_deref().unwrap_or("no reason recorded")
        )),
    }
}

/// Median of a benchmark's samples (the stored median when the samples were dropped).
pub(crate) fn median_s(b: &BenchmarkResult) -> Option<f64> {
    if b.samples_s.is_empty() {
        b.time.map(|t| t.median_s)
    } else {
        Some(hotpath_core::stats::median(&b.samples_s))
    }
}

/// How one comparison is made: its threshold, normalization and history.
#[derive(Clone, Copy, Debug)]
pub struct Options<'a> {
    /// Threshold, percent (checked by [`check_threshold`]).
    pub threshold_pct: f64,
    /// `--normalize`.
    pub normalize: Normalize,
    /// The history whose run-to-run band each row must beat (`--history`).
    pub history: Option<&'a History>,
}

impl Options<'_> {
    /// Threshold `threshold_pct` percent, no normalization, no history.
    pub fn threshold(threshold_pct: f64) -> Options<'static> {
        Options {
            threshold_pct,
            normalize: Normalize::None,
            history: None,
        }
    }
}

/// What one row is compared on: `scale` multiplies every ratio (the roof ratio of an
/// efficiency row, 1 for time), `fallback` is why a memory-bound row stayed on time.
struct Basis {
    compared_as: ComparedAs,
    scale: f64,
    fallback: Option<String>,
}

/// One row: the median ratio, the interval and the verdict, on `basis`, against the band.
fn row(
    id: &str,
    a: &BenchmarkResult,
    b: &BenchmarkResult,
    threshold: f64,
    basis: Basis,
    history: Option<&History>,
) -> Result<CompareRow> {
    let (Some(base_median_s), Some(new_median_s)) = (median_s(a), median_s(b)) else {
        return Err(Error::bad_input(format!(
            "benchmark {id} has no median time"
        )));
    };
    let positive = |t: f64| t.is_finite() && t > 0.0;
    if !(positive(base_median_s) && positive(new_median_s)) {
        return Err(Error::bad_input(format!(
            "benchmark {id} has median times {base_median_s} s (base) and {new_median_s} s (new); times must be positive numbers"
        )));
    }
    let mut notes = Vec::new();
    let interval: Option<RatioInterval> = match stats::ratio_interval(&a.samples_s, &b.samples_s)
    {
        Ok(r) => Some(r),
        Err(IntervalError::TooFewSamples) => {
            notes.push(format!(
                "too few samples for a 95 % interval ({} base, {} new; at least 4 each)",
                a.samples_s.len(),
                b.samples_s.len()
            ));
            None
        }
        Err(IntervalError::NotPositive) => {
            return Err(Error::bad_input(format!(
                "benchmark {id} holds a sample that is not a positive number of seconds; samples_s must be times"
            )))
        }
    };
    // Multiplying every sample of a side by a constant shifts every pairwise log-difference
    // by the same amount, so the estimate and both ends of the interval scale by it.
    let s = basis.scale;
    let ratio = new_median_s / base_median_s * s;
    let band = history.map(|h| h.band(id, basis.compared_as == ComparedAs::Efficiency));
    let (verdict, held) = verdict::classify_banded(
        interval.map_or(ratio, |r| r.estimate * s),
        interval.map(|r| (r.low * s, r.high * s)),
        threshold,
        band.and_then(|b| b.band),
    );
    if let Some(why) = basis.fallback {
        notes.push(why);
    }
    match band {
        Some(band::Band {
            band: Some(width),
            runs,
        }) if held => notes.push(format!(
            "within the run-to-run band (±{:.1} % over {runs} runs)",
            width * 100.0
        )),
        Some(band::Band { band: None, runs }) => notes.push(format!(
            "no run-to-run band: {runs} run{} of it in the history, at least {} needed",
            if runs == 1 { "" } else { "s" },
            band::MIN_RUNS
        )),
        _ => {}
    }
    Ok(CompareRow {
        id: id.to_string(),
        base_median_s,
        new_median_s,
        ratio,
        hl_ratio: interval.map(|r| r.estimate * s),
        ci_low: interval.map(|r| r.low * s),
        ci_high: interval.map(|r| r.high * s),
        interval: interval.map(|r| if r.exact { "exact" } else { "normal" }),
        base_samples: a.samples_s.len(),
        new_samples: b.samples_s.len(),
        compared_as: basis.compared_as,
        roof_ratio: (basis.compared_as == ComparedAs::Efficiency).then_some(s),
        band: band.and_then(|b| b.band),
        band_runs: band.map(|b| b.runs),
        verdict,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
    })
}

/// Compares `new` against `base` with threshold `threshold_pct` (percent), on time, without
/// a history. `base_name` and `new_name` (paths) name the files in errors.
pub fn compare(
    base: &ResultsFile,
    new: &ResultsFile,
    threshold_pct: f64,
    base_name: &str,
    new_name: &str,
) -> Result<Comparison> {
    compare_with(
        base,
        new,
        base_name,
        new_name,
        &Options::threshold(threshold_pct),
    )
}

/// Compares `new` against `base` as `opts` says: its threshold, `--normalize` and the
/// history whose run-to-run band a change must beat. `base_name` and `new_name` (paths) name
/// the files in errors and warnings.
pub fn compare_with(
    base: &ResultsFile,
    new: &ResultsFile,
    base_name: &str,
    new_name: &str,
    opts: &Options<'_>,
) -> Result<Comparison> {
    let threshold_pct = opts.threshold_pct;
    let threshold = check_threshold(threshold_pct)?;
    let mut warnings = setup::differences(base, new);
    let roofs = match opts.normalize {
        Normalize::None => None,
        Normalize::Bandwidth => {
            let (rb, rn) = (normalize::roof(base), normalize::roof(new));
            if rb.is_none() {
                warnings.push(normalize::missing_roof("base", base_name));
            }
            if rn.is_none() {
                warnings.push(normalize::missing_roof("new", new_name));
            }
            Some((rb, rn))
        }
    };
    let basis = |a: &BenchmarkResult, b: &BenchmarkResult| -> Basis {
        let time = |fallback| Basis {
            compared_as: ComparedAs::Time,
            scale: 1.0,
            fallback,
        };
        match roofs {
            Some(roofs) if normalize::memory_bound(a, b) => match roofs {
                (Some(rb), Some(rn)) => Basis {
                    compared_as: ComparedAs::Efficiency,
                    scale: rn / rb,
                    fallback: None,
                },
                (rb, _) => {
                    let name = if rb.is_none() { base_name } else { new_name };
                    time(Some(format!(
                        "memory-bound but compared on time: {name} has no measured bandwidth roof"
                    )))
                }
            },
            _ => time(None),
        }
    };
    let base_ids = by_id(base, base_name)?;
    let new_ids = by_id(new, new_name)?;
    let mut rows = Vec::new();
    let mut not_compared = Vec::new();
    let mut only_in_base = Vec::new();
    for a in &base.benchmarks {
        let Some(b) = new_ids.get(a.id.as_str()) else {
            only_in_base.push(a.id.clone());
            continue;
        };
        match unusable(a, "base").or_else(|| unusable(b, "new")) {
            Some(reason) => not_compared.push(Skipped {
                id: a.id.clone(),
                reason,
            }),
            None => rows.push(row(&a.id, a, b, threshold, basis(a, b), opts.history)?),
        }
    }
    let only_in_new = new
        .benchmarks
        .iter()
        .filter(|b| !base_ids.contains_key(b.id.as_str()))
        .map(|b| b.id.clone())
        .collect();
    let ids = |v: Verdict| -> Vec<String> {
        rows.iter()
            .filter(|r| r.verdict == v)
            .map(|r| r.id.clone())
            .collect()
    };
    let mut method = METHOD.to_string();
    let mut verdicts = verdict::DEFINITIONS.to_string();
    let mut verdict_uses = VERDICT_USES.to_vec();
    if opts.history.is_some() {
        method = format!("{method}; {}", band::METHOD);
        verdicts = format!("{verdicts}; {}", verdict::BAND_DEFINITION);
        verdict_uses.push("band");
    }
    if opts.normalize == Normalize::Bandwidth {
        method = format!("{method}; {}", normalize::METHOD);
    }
    Ok(Comparison {
        schema: SCHEMA,
        base: FileLabel::of(base, base_name),
        new: FileLabel::of(new, new_name),
        method,
        confidence: stats::CONFIDENCE,
        threshold_pct,
        verdicts,
        verdict_uses,
        normalize: opts.normalize,
        history: opts.history.cloned(),
        regressions: ids(Verdict::Regression),
        improvements: ids(Verdict::Improvement),
        noisy: ids(Verdict::Noisy),
        rows,
        only_in_base,
        only_in_new,
        not_compared,
        warnings,
    })
}

#[cfg(test)]
mod band_tests;
#[cfg(test)]
mod tests;
