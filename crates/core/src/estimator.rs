//! Which statistic of a benchmark's samples its rates and roofline placement use.
//!
//! A ceiling (copy, read, write, triad, `peak_mma`, and the cache, launch and PCIe ceilings)
//! states what the hardware sustained: each of its sample batches lasts at least
//! [`CEILING_MIN_SAMPLE_S`], and its rate is that of the fastest sample, as BabelStream and
//! MAMF report. One descheduled thread slows a sample; it cannot speed one up, so the best of
//! long samples is the sustained rate. Every other benchmark keeps the median.

use serde::{Deserialize, Serialize};

use crate::measure::MeasureConfig;
use crate::op::OpKind;
use crate::results::{BenchmarkResult, TimeStats};

/// Least duration of one sample batch of a ceiling benchmark, seconds (10 ms): long enough
/// that a time slice lost to another process is a small part of a sample.
pub const CEILING_MIN_SAMPLE_S: f64 = 10e-3;

/// The statistic of the kept samples a result's rates and efficiencies are computed at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Estimator {
    /// The median sample (every benchmark that is not a ceiling; files without the field).
    #[default]
    Median,
    /// The fastest sample: what the hardware sustained over one batch (ceilings).
    Best,
}

impl Estimator {
    /// The estimator for `op`: [`Estimator::Best`] for a ceiling ([`OpKind::is_ceiling`]),
    /// [`Estimator::Median`] otherwise.
    pub fn for_op(op: OpKind) -> Estimator {
        if op.is_ceiling() {
            Estimator::Best
        } else {
            Estimator::Median
        }
    }

    /// `median` or `best`, as the results file spells it.
    pub fn name(self) -> &'static str {
        match self {
            Estimator::Median => "median",
            Estimator::Best => "best",
        }
    }

    /// Whether this is the median (the default, left out of results files).
    pub fn is_median(&self) -> bool {
        *self == Estimator::Median
    }

    /// The time per iteration this estimator takes from `t`, seconds.
    pub fn time_s(self, t: &TimeStats) -> f64 {
        match self {
            Estimator::Median => t.median_s,
            Estimator::Best => t.min_s,
        }
    }
}

/// The measurement settings for `op`: `cfg`, with a ceiling's sample batches lasting at
/// least [`CEILING_MIN_SAMPLE_S`] (or the run's own `min_sample_s` when that is longer).
pub fn sample_config(op: OpKind, cfg: &MeasureConfig) -> MeasureConfig {
    let mut c = *cfg;
    if op.is_ceiling() {
        c.min_sample_s = c.min_sample_s.max(CEILING_MIN_SAMPLE_S);
    }
    c
}

/// The estimator `b` was measured with (the median when the file does not say).
pub fn of(b: &BenchmarkResult) -> Estimator {
    b.measurement
        .as_ref()
        .map(|m| m.estimator)
        .unwrap_or_default()
}

/// The time per iteration of `b` at its estimator, seconds (None unless measured).
pub fn time_s(b: &BenchmarkResult) -> Option<f64> {
    b.time.as_ref().map(|t| of(b).time_s(t))
}

/// `b`'s time as tables show it: a ceiling's fastest sample marked `best` (`4.00 ms best`),
/// else the median ([`crate::graph_timing::median_text`]); either followed by the graph's
/// per-launch median when there is one. `None` when nothing was measured.
pub fn time_text(b: &BenchmarkResult) -> Option<String> {
    match of(b) {
        Estimator::Median => crate::graph_timing::median_text(b),
        Estimator::Best => {
            let best = format!("{} best", crate::units::Seconds(b.time?.min_s));
            Some(match b.graph.as_ref().and_then(|g| g.time) {
                Some(g) => format!("{best}; graph {}", crate::units::Seconds(g.median_s)),
                None => best,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::measure::batch_size;

    fn stats() -> TimeStats {
        // Samples 4, 5 and 8 ms: median 5 ms, fastest 4 ms.
        TimeStats {
            median_s: 5e-3,
            min_s: 4e-3,
            mean_s: 17e-3 / 3.0,
            stdev_s: 2.08e-3,
            p10_s: 4.2e-3,
            p90_s: 7.4e-3,
            mad_s: 1e-3,
        }
    }

    #[test]
    fn ceilings_take_the_fastest_sample_and_others_the_median() {
        assert_eq!(Estimator::for_op(OpKind::PeakMma), Estimator::Best);
        assert_eq!(Estimator::for_op(OpKind::Triad), Estimator::Best);
        assert_eq!(Estimator::for_op(OpKind::Gemm), Estimator::Median);
        assert_eq!(Estimator::for_op(OpKind::AttnDecode), Estimator::Median);
        let t = stats();
        // A peak_mma of 1e9 FLOP per iteration: 1e9 / 4 ms = 250 GFLOP/s at its best sample.
        let best = Estimator::for_op(OpKind::PeakMma).time_s(&t);
        assert_eq!(best, 4e-3);
        assert!((1e9 / best - 2.5e11).abs() < 1.0);
        // A gemm of the same work: 1e9 / 5 ms = 200 GFLOP/s at its median.
        let median = Estimator::for_op(OpKind::Gemm).time_s(&t);
        assert_eq!(median, 5e-3);
        assert!((1e9 / median - 2e11).abs() < 1.0);
    }

    #[test]
    fn old_files_read_as_median_and_best_is_written_by_name() {
        assert_eq!(Estimator::default(), Estimator::Median);
        assert_eq!(serde_json::to_string(&Estimator::Best).unwrap(), "\"best\"");
        let e: Estimator = serde_json::from_str("\"median\"").unwrap();
        assert_eq!(e, Estimator::Median);
    }

    #[test]
    fn ceiling_batches_last_at_least_ten_milliseconds() {
        let cfg = MeasureConfig::default();
        // peak_mma at 0.25 ms an iteration: 10 ms / 0.25 ms = 40 iterations a batch.
        let c = sample_config(OpKind::PeakMma, &cfg);
        assert_eq!(c.min_sample_s, 10e-3);
        assert_eq!(batch_size(0.25e-3, c.min_sample_s), 40);
        // A gemm at 0.25 ms keeps the run's 50 µs: one iteration a batch, as before.
        let g = sample_config(OpKind::Gemm, &cfg);
        assert_eq!(g, cfg);
        assert_eq!(batch_size(0.25e-3, g.min_sample_s), 1);
        // A run asking for 20 ms samples keeps them for ceilings too.
        let long = MeasureConfig {
            min_sample_s: 20e-3,
            ..cfg
        };
        assert_eq!(sample_config(OpKind::Copy, &long).min_sample_s, 20e-3);
    }
}
