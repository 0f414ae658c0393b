//! When to stop sampling: nvbench's "stdrel" criterion as its own object.

use serde::{Deserialize, Serialize};

use crate::stats;

/// Why sampling stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Enough samples, enough time, and the relative standard error of the mean is below target.
    Converged,
    /// The per-benchmark time limit was reached first; the result is less certain than asked.
    TimeLimit,
    /// The sample cap was reached first.
    SampleCap,
}

/// Stop when at least `min_samples` samples and `min_time_s` seconds of kernel time are
/// collected and the relative standard error of the mean is at most `max_rel_stderr`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct StdRelCriterion {
    /// Fewest samples taken.
    pub min_samples: usize,
    /// Least total kernel time sampled, in seconds.
    pub min_time_s: f64,
    /// Target relative standard error of the mean (0.005 = 0.5 %).
    pub max_rel_stderr: f64,
}

impl Default for StdRelCriterion {
    fn default() -> Self {
        StdRelCriterion {
            min_samples: 10,
            min_time_s: 0.5,
            max_rel_stderr: 0.005,
        }
    }
}

impl StdRelCriterion {
    /// True when `samples` (seconds per iteration) taken over `sampled_time_s` seconds of
    /// kernel time satisfy the criterion.
    pub fn is_done(&self, samples: &[f64], sampled_time_s: f64) -> bool {
        samples.len() >= self.min_samples
            && sampled_time_s >= self.min_time_s
            && stats::rel_stderr(samples) <= self.max_rel_stderr
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_count_time_and_precision() {
        let c = StdRelCriterion::default();
        // 10 identical 0.1 s samples: 1 s total, rse 0 → done.
        assert!(c.is_done(&[0.1; 10], 1.0));
        // 9 samples: too few.
        assert!(!c.is_done(&[0.1; 9], 0.9));
        // 10 × 0.01 s = 0.1 s < 0.5 s: not enough time.
        assert!(!c.is_done(&[0.01; 10], 0.1));
        // Alternating 0.09/0.11, n = 10: stdev = 0.0105409, rse = 0.0105409/√10/0.1 = 3.3 % > 0.5 %.
        let noisy: Vec<f64> = (0..10)
            .map(|i| if i % 2 == 0 { 0.09 } else { 0.11 })
            .collect();
        assert!(!c.is_done(&noisy, 1.0));
        // 500 of them: rse = 0.0100100/√500/0.1 = 0.45 % ≤ 0.5 %.
        let many: Vec<f64> = (0..500)
            .map(|i| if i % 2 == 0 { 0.09 } else { 0.11 })
            .collect();
        assert!(c.is_done(&many, 50.0));
    }
}
