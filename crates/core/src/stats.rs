//! Statistics of timing samples: pure functions, tested on fixed numbers.

use serde::{Deserialize, Serialize};

/// Summary of a sample set, in the unit of the samples (seconds in results files).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Smallest sample.
    pub min: f64,
    /// Median (50th percentile, linear interpolation).
    pub median: f64,
    /// Arithmetic mean.
    pub mean: f64,
    /// Sample standard deviation (n − 1 denominator; 0 for one sample).
    pub stdev: f64,
    /// 10th percentile.
    pub p10: f64,
    /// 90th percentile.
    pub p90: f64,
    /// Median absolute deviation from the median (unscaled).
    pub mad: f64,
    /// Relative standard error of the mean: stdev / √n / mean.
    pub rel_stderr: f64,
}

/// Arithmetic mean; NaN for an empty slice.
pub fn mean(xs: &[f64]) -> f64 {
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// Sample standard deviation (Bessel-corrected); 0 for fewer than two samples.
pub fn stdev(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    let m = mean(xs);
    let ss: f64 = xs.iter().map(|x| (x - m) * (x - m)).sum();
    (ss / (xs.len() - 1) as f64).sqrt()
}

/// Relative standard error of the mean, stdev / √n / mean; infinite for fewer than two samples.
pub fn rel_stderr(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return f64::INFINITY;
    }
    stdev(xs) / (xs.len() as f64).sqrt() / mean(xs).abs()
}

/// Percentile `p` in [0, 100] of already sorted samples, with linear interpolation between
/// closest ranks (NumPy's default). NaN for an empty slice.
pub fn percentile_sorted(sorted: &[f64], p: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        1 => sorted[0],
        n => {
            let rank = p.clamp(0.0, 100.0) / 100.0 * (n - 1) as f64;
            let lo = rank.floor() as usize;
            let hi = rank.ceil() as usize;
            sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
        }
    }
}

/// Median of unsorted samples.
pub fn median(xs: &[f64]) -> f64 {
    percentile_sorted(&sorted(xs), 50.0)
}

/// Median absolute deviation from the median (unscaled).
pub fn mad(xs: &[f64]) -> f64 {
    let m = median(xs);
    let dev: Vec<f64> = xs.iter().map(|x| (x - m).abs()).collect();
    median(&dev)
}

fn sorted(xs: &[f64]) -> Vec<f64> {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    v
}

impl Summary {
    /// Summarises samples; `None` when there are none.
    pub fn of(xs: &[f64]) -> Option<Summary> {
        if xs.is_empty() {
            return None;
        }
        let s = sorted(xs);
        Some(Summary {
            min: s[0],
            median: percentile_sorted(&s, 50.0),
            mean: mean(xs),
            stdev: stdev(xs),
            p10: percentile_sorted(&s, 10.0),
            p90: percentile_sorted(&s, 90.0),
            mad: mad(xs),
            rel_stderr: rel_stderr(xs),
        })
    }

    /// Coefficient of variation, stdev / mean.
    pub fn cv(&self) -> f64 {
        self.stdev / self.mean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1.0)
    }

    #[test]
    fn summary_of_known_samples() {
        // Samples 1..=10 (shuffled). Hand values: mean 5.5; sum of squared deviations
        // 82.5, /9 = 9.1666…, stdev 3.0276503540974917; median 5.5;
        // p10: rank 0.9 → 1 + 0.9·1 = 1.9; p90: rank 8.1 → 9.1;
        // |x − 5.5| = {0.5,0.5,1.5,1.5,…,4.5,4.5} → MAD 2.5.
        let xs = [3.0, 1.0, 4.0, 10.0, 5.0, 9.0, 2.0, 6.0, 8.0, 7.0];
        let s = Summary::of(&xs).unwrap();
        assert_eq!(s.min, 1.0);
        assert!(close(s.mean, 5.5));
        assert!(close(s.median, 5.5));
        assert!(close(s.stdev, 3.027_650_354_097_491_7));
        assert!(close(s.p10, 1.9));
        assert!(close(s.p90, 9.1));
        assert!(close(s.mad, 2.5));
        // rse = 3.0276503540974917 / sqrt(10) / 5.5 = 0.17407765595569785
        assert!(close(s.rel_stderr, 0.174_077_655_955_697_85));
    }

    #[test]
    fn odd_count_and_single_sample() {
        let s = Summary::of(&[2.0, 100.0, 1.0]).unwrap();
        assert_eq!(s.median, 2.0);
        assert_eq!(s.mad, 1.0); // |1−2|,|2−2|,|100−2| → {1,0,98} → 1
        let one = Summary::of(&[4.0]).unwrap();
        assert_eq!(
            (one.median, one.stdev, one.p10, one.p90),
            (4.0, 0.0, 4.0, 4.0)
        );
        assert!(one.rel_stderr.is_infinite());
        assert!(Summary::of(&[]).is_none());
    }

    #[test]
    fn percentile_interpolates_between_ranks() {
        let s = [10.0, 20.0, 30.0, 40.0];
        assert_eq!(percentile_sorted(&s, 0.0), 10.0);
        assert_eq!(percentile_sorted(&s, 100.0), 40.0);
        // rank 0.5·3 = 1.5 → 25
        assert_eq!(percentile_sorted(&s, 50.0), 25.0);
        // rank 0.9·3 = 2.7 → 30 + 0.7·10 = 37
        assert!(close(percentile_sorted(&s, 90.0), 37.0));
    }
}
