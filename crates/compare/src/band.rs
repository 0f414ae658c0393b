//! The run-to-run band of `hotpath compare --history DIR`: how far a benchmark's median may
//! move between two runs on the same machine, with nothing changed.
//!
//! The Mann-Whitney interval of a comparison is built from the samples of one run each, so
//! it measures noise *within* a run. A machine whose speed drifts *between* runs (memory
//! bandwidth, clocks, a busy neighbour) makes changes that are significant and larger than
//! the threshold without any change in the code. The history of the base's machine — the
//! results files `scripts/nightly.sh` keeps — shows that drift directly: per benchmark, the
//! spread of the medians of its past runs. With `m_1 … m_n` the medians of the last up to
//! [`WINDOW`] runs that measured the benchmark (at least [`MIN_RUNS`]),
//!
//! ```text
//! s    = max(1.4826 · MAD(ln m_i), SD(ln m_i))
//! band = max(exp(t(n − 1) · √2 · s) − 1,  max m_i / min m_i − 1)
//! ```
//!
//! `s` estimates the standard deviation of one run's log median (the MAD's normal-consistent
//! scale, or the sample standard deviation when outliers make that larger). A comparison
//! sets *two* runs against each other, base and new, so their log ratio spreads by `√2 · s`;
//! and `s` itself comes from only `n` runs, so the bound is Student's t quantile with
//! `n − 1` degrees of freedom at 99.9 % one-sided ([`T_999`]: 22.3 for 3 runs, 4.79 for 8,
//! 3.58 for 20), a prediction bound for the next run rather than three standard deviations
//! of the past ones. (A band of 3 robust sigmas over 8 runs let a night-to-night drift of
//! 7.1 % on a gemv whose runs had spanned 6.3 % through as a regression in CI.) Some
//! machines have two speeds instead (a VM whose memory bandwidth was 41 GB/s in some runs
//! and 60–73 GB/s in others, minutes apart, the binary unchanged), so the band is also at
//! least the whole range the window's runs spanned: a change no larger than what runs of the
//! history already showed is never a regression. A regression must then also be slower than
//! `1 + band` ([`super::verdict::classify_banded`]). A real slowdown of a noisy benchmark
//! that hides inside its band is the A/B judgement's to find (`hotpath ab`), which measures
//! both builds in the same window.

use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

use hotpath_core::error::Result;
use hotpath_core::results::read_dir;
use hotpath_core::results::{ResultsFile, Status};

/// Most recent runs of a benchmark the band is computed over.
pub const WINDOW: usize = 20;

/// Fewest runs of a benchmark that give a band; with fewer the row has none.
pub const MIN_RUNS: usize = 3;

/// 1.4826 · MAD estimates the standard deviation of normal data (1 / Φ⁻¹(3/4)).
pub const MAD_TO_SIGMA: f64 = 1.4826;

/// Student's t quantile at 0.999 (one-sided) for `n − 1` degrees of freedom, `n` from
/// [`MIN_RUNS`] to [`WINDOW`]: entry `n − MIN_RUNS`. Computed with mpmath (the regularized
/// incomplete beta function, solved for the quantile); the tests check them by integrating
/// the t density.
pub const T_999: [f64; WINDOW - MIN_RUNS + 1] = [
    22.327125, 10.214532, 7.1731822, 5.8934295, 5.2076262, 4.7852896, 4.5007909, 4.2968057,
    4.1437005, 4.0247010, 3.9296333, 3.8519824, 3.7873902, 3.7328344, 3.6861548, 3.6457674,
    3.6104849, 3.5794001,
];

/// How the band is defined, as every output names it.
pub const METHOD: &str = "run-to-run band b per benchmark from the history's runs of the \
base's hardware (the new file itself excluded): over the last up to 20 runs that measured it, \
at least 3 (n), with s = max(1.4826 · MAD(ln median_i), SD(ln median_i)) the spread of one \
run's log median, b = the larger of exp(t(n − 1) · √2 · s) − 1, a 99.9 % one-sided \
prediction bound for the ratio of two runs (Student's t with n − 1 degrees of freedom), and \
max/min − 1, the whole range they spanned (of time × the run's measured bandwidth roof for \
benchmarks compared as efficiency)";

/// One run of the history: its medians by benchmark id.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    /// The file's name in the history directory.
    pub file: String,
    /// Measured bandwidth roof of the run (`measured.mem_bytes_per_s`), bytes/s.
    pub mem_bytes_per_s: Option<f64>,
    /// Median time of every benchmark that ran and was measured, seconds, by id.
    pub medians_s: BTreeMap<String, f64>,
}

/// The history a comparison's bands come from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct History {
    /// The directory as given.
    pub dir: String,
    /// The hardware entry id the runs must share with the base file.
    pub hardware: String,
    /// `backend name` of the device the runs must share with the base file.
    pub device: String,
    /// Results files of that hardware and device that were used, new excluded.
    pub runs: usize,
    /// Results files of other hardware or devices, ignored.
    pub other_hardware: usize,
    /// True when the new file itself was in the directory (and was left out).
    pub new_excluded: bool,
    /// [`WINDOW`].
    pub window: usize,
    /// [`MIN_RUNS`].
    pub min_runs: usize,
    /// The runs used, oldest first.
    #[serde(skip)]
    pub data: Vec<Run>,
}

/// The band of one benchmark.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Band {
    /// The band as a fraction (0.2 = ±20 %), None with fewer than [`MIN_RUNS`] runs.
    pub band: Option<f64>,
    /// How many runs it came from (at most [`WINDOW`]; fewer than [`MIN_RUNS`] when no band).
    pub runs: usize,
}

/// Median time of a benchmark that ran: the median of its samples, or the stored median
/// when the samples were dropped. None when it failed, errored or was not measured.
pub(crate) fn run_median_s(b: &hotpath_core::results::BenchmarkResult) -> Option<f64> {
    if b.status != Status::Ok {
        return None;
    }
    super::median_s(b).filter(|t| t.is_finite() && *t > 0.0)
}

/// The band of values `v` (medians of successive runs, any positive unit): None with
/// fewer than [`MIN_RUNS`] values, else the larger of exp(t · √2 · s) − 1 and the range
/// max v / min v − 1, where s = max([`MAD_TO_SIGMA`] · MAD(ln v), SD(ln v)) and t is
/// [`T_999`] for `v.len() − 1` degrees of freedom (the last `WINDOW` values count).
pub fn band_of(v: &[f64]) -> Option<f64> {
    let v = &v[v.len().saturating_sub(WINDOW)..];
    let t = *T_999.get(v.len().checked_sub(MIN_RUNS)?)?;
    let logs: Vec<f64> = v.iter().map(|x| x.ln()).collect();
    let spread =
        (MAD_TO_SIGMA * hotpath_core::stats::mad(&logs)).max(hotpath_core::stats::stdev(&logs));
    let predicted = (t * std::f64::consts::SQRT_2 * spread).exp() - 1.0;
    let (lo, hi) = logs
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        });
    Some(predicted.max((hi - lo).exp() - 1.0))
}

/// Whether two files were measured on the same kind of machine: the same hardware entry
/// and the same backend and device name.
fn same_hardware(a: &ResultsFile, b: &ResultsFile) -> bool {
    a.hardware.id == b.hardware.id
        && a.device.backend == b.device.backend
        && a.device.name == b.device.name
}

/// Whether `a` and `b` hold the same run: made at the same second by the same hotpath build
/// on the same host and device (a copy of a file, or the file itself read twice; the times
/// need not round-trip bit for bit).
fn same_run(a: &ResultsFile, b: &ResultsFile) -> bool {
    a.created == b.created
        && a.tool.git == b.tool.git
        && a.host.hostname == b.host.hostname
        && (&a.device.backend, a.device.index, &a.device.name)
            == (&b.device.backend, b.device.index, &b.device.name)
}

impl History {
    /// Reads the results files directly in `dir` ([`read_dir`]: regular `*.json`
    /// files only, symbolic links skipped) and keeps those of `base`'s hardware entry and
    /// device, leaving out `new` itself (a file of the same run: the same creation time,
    /// hotpath build, host and device). A directory that cannot be
    /// read, holds no results files or holds a file that is not one is an error.
    pub fn load(dir: &Path, base: &ResultsFile, new: &ResultsFile) -> Result<History> {
        History::load_dirs(&[dir], base, new)
    }

    /// As [`History::load`] over several directories (nightly.sh's `history/` and the
    /// last good build's A/B rounds it keeps in `runs/`), their runs merged in order of
    /// creation.
    pub fn load_dirs(dirs: &[&Path], base: &ResultsFile, new: &ResultsFile) -> Result<History> {
        let mut files = Vec::new();
        for dir in dirs {
            files.extend(read_dir(dir)?);
        }
        files.sort_by(|a, b| (&a.1.created, &a.0).cmp(&(&b.1.created, &b.0)));
        let mut data = Vec::new();
        let mut other_hardware = 0;
        let mut new_excluded = false;
        for (file, f) in files {
            if same_run(&f, new) {
                new_excluded = true;
            } else if !same_hardware(&f, base) {
                other_hardware += 1;
            } else {
                let medians_s = f
                    .benchmarks
                    .iter()
                    .filter_map(|b| run_median_s(b).map(|m| (b.id.clone(), m)))
                    .collect();
                data.push(Run {
                    file,
                    mem_bytes_per_s: f.measured.mem_bytes_per_s,
                    medians_s,
                });
            }
        }
        Ok(History {
            dir: dirs
                .iter()
                .map(|d| d.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            hardware: base.hardware.id.clone(),
            device: format!("{} {}", base.device.backend, base.device.name),
            runs: data.len(),
            other_hardware,
            new_excluded,
            window: WINDOW,
            min_runs: MIN_RUNS,
            data,
        })
    }

    /// The band of benchmark `id` over the last up to [`WINDOW`] runs that measured it: of
    /// its median times, or with `efficiency` of median time × the run's measured bandwidth
    /// roof (runs without that roof do not count then).
    pub fn band(&self, id: &str, efficiency: bool) -> Band {
        let mut v: Vec<f64> = self
            .data
            .iter()
            .rev()
            .filter_map(|r| {
                let m = *r.medians_s.get(id)?;
                if efficiency {
                    r.mem_bytes_per_s
                        .filter(|bw| bw.is_finite() && *bw > 0.0)
                        .map(|bw| m * bw)
                } else {
                    Some(m)
                }
            })
            .take(WINDOW)
            .collect();
        v.reverse();
        Band {
            band: band_of(&v),
            runs: v.len(),
        }
    }
}
