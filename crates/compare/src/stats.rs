//! The interval behind every compare verdict: the Hodges-Lehmann estimate of the shift
//! between two sample sets of log-times, with the distribution-free confidence interval
//! that inverts the Mann-Whitney (Wilcoxon rank-sum) test (Bauer 1972; Hollander & Wolfe,
//! *Nonparametric Statistical Methods*, §4.3; what R's `wilcox.test(conf.int = TRUE)` does).
//!
//! On log-times a shift is a ratio: `exp(shift)` is new time ÷ base time, and under the
//! shift model (same shape of distribution, scaled) it is the ratio of the medians. No
//! random numbers are involved, so the same files always give the same verdict.
//!
//! Also the distribution-free confidence interval of one sample set's median (order
//! statistics of the binomial), which the history view draws.

/// Confidence level of every interval hotpath reports.
pub const CONFIDENCE: f64 = 0.95;

/// Standard normal quantile at 1 − (1 − [`CONFIDENCE`]) / 2 = 0.975.
const Z_975: f64 = 1.959_963_984_540_054;

/// Largest sample count per side for which the exact Mann-Whitney distribution is used
/// (R's limit too); above it the normal approximation with continuity correction.
pub const EXACT_MAX: usize = 50;

/// The shift between two sample sets on the log scale, as ratios (new ÷ base).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RatioInterval {
    /// Hodges-Lehmann estimate: exp(median of all pairwise differences ln new − ln base).
    pub estimate: f64,
    /// Lower end of the [`CONFIDENCE`] interval of the ratio.
    pub low: f64,
    /// Upper end of the [`CONFIDENCE`] interval of the ratio.
    pub high: f64,
    /// True when the exact Mann-Whitney distribution set the interval's ranks (both sides
    /// at most [`EXACT_MAX`] samples), false for the normal approximation.
    pub exact: bool,
}

/// Why no interval could be formed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntervalError {
    /// Too few samples for a [`CONFIDENCE`] interval (fewer than 4 per side, roughly).
    TooFewSamples,
    /// A sample is zero, negative, infinite or NaN (a time must be a positive number).
    NotPositive,
}

/// Hodges-Lehmann ratio and its Mann-Whitney interval for `new` against `base` (seconds).
pub fn ratio_interval(base: &[f64], new: &[f64]) -> Result<RatioInterval, IntervalError> {
    let x = sorted_logs(base)?;
    let y = sorted_logs(new)?;
    let (n, m) = (x.len(), y.len());
    if n == 0 || m == 0 {
        return Err(IntervalError::TooFewSamples);
    }
    let exact = n <= EXACT_MAX && m <= EXACT_MAX;
    let qu = if exact {
        exact_lower_rank(n, m)
    } else {
        normal_lower_rank(n, m)
    };
    if qu == 0 {
        return Err(IntervalError::TooFewSamples);
    }
    let nm = n * m;
    let center = if nm % 2 == 1 {
        kth_difference(&x, &y, nm.div_ceil(2))
    } else {
        0.5 * (kth_difference(&x, &y, nm / 2) + kth_difference(&x, &y, nm / 2 + 1))
    };
    Ok(RatioInterval {
        estimate: center.exp(),
        low: kth_difference(&x, &y, qu).exp(),
        high: kth_difference(&x, &y, nm + 1 - qu).exp(),
        exact,
    })
}

fn sorted_logs(xs: &[f64]) -> Result<Vec<f64>, IntervalError> {
    if xs.iter().any(|&v| !(v.is_finite() && v > 0.0)) {
        return Err(IntervalError::NotPositive);
    }
    let mut v: Vec<f64> = xs.iter().map(|v| v.ln()).collect();
    v.sort_by(f64::total_cmp);
    Ok(v)
}

/// Probability mass of the Mann-Whitney statistic U (0..=n·m) under the null hypothesis
/// for sample sizes `n` and `m`: the coefficients of the Gaussian binomial
/// [n+m choose n]_q, built by q-Pascal's rule G(a,b) = G(a−1,b−1) + q^b·G(a−1,b), divided
/// by C(n+m, n). Only additions of positive numbers, so no cancellation.
pub fn mann_whitney_pmf(n: usize, m: usize) -> Vec<f64> {
    let k = n.min(m);
    let mut row: Vec<Vec<f64>> = vec![vec![1.0]];
    for a in 1..=n + m {
        let mut next = Vec::with_capacity(a.min(k) + 1);
        for b in 0..=a.min(k) {
            let mut p = vec![0.0; b * (a - b) + 1];
            if b >= 1 {
                for (i, c) in row[b - 1].iter().enumerate() {
                    p[i] += c;
                }
            }
            if b < a && b < row.len() {
                for (i, c) in row[b].iter().enumerate() {
                    p[i + b] += c;
                }
            }
            next.push(p);
        }
        row = next;
    }
    let counts = &row[k];
    let total: f64 = counts.iter().sum();
    counts.iter().map(|c| c / total).collect()
}

/// R's `qwilcox(α/2, n, m)`: the smallest u with P(U ≤ u) ≥ α/2, from the exact
/// distribution. 0 means the samples are too few for the interval.
fn exact_lower_rank(n: usize, m: usize) -> usize {
    let half_alpha = (1.0 - CONFIDENCE) / 2.0;
    let mut cdf = 0.0;
    for (u, p) in mann_whitney_pmf(n, m).into_iter().enumerate() {
        cdf += p;
        // A relative slack of 1e-12 keeps exact ties with α/2 on the conservative side.
        if cdf >= half_alpha * (1.0 - 1e-12) {
            return u;
        }
    }
    0
}

/// The same rank from the normal approximation with continuity correction:
/// P(U ≤ u) ≈ Φ((u + ½ − nm/2) / σ), σ² = nm(n+m+1)/12, so u = ⌈nm/2 − z·σ − ½⌉.
fn normal_lower_rank(n: usize, m: usize) -> usize {
    let (nf, mf) = (n as f64, m as f64);
    let mu = nf * mf / 2.0;
    let sigma = (nf * mf * (nf + mf + 1.0) / 12.0).sqrt();
    let u = (mu - Z_975 * sigma - 0.5).ceil();
    if u < 1.0 {
        0
    } else {
        u as usize
    }
}

/// Orders f64 values as unsigned integers (finite values only), for bisection over floats.
fn key(v: f64) -> u64 {
    let b = v.to_bits();
    if b >> 63 == 1 {
        !b
    } else {
        b | (1 << 63)
    }
}

fn from_key(k: u64) -> f64 {
    if k >> 63 == 1 {
        f64::from_bits(k & !(1 << 63))
    } else {
        f64::from_bits(!k)
    }
}

/// How many pairwise differences y_j − x_i are ≤ `d` (both sorted ascending): two pointers,
/// O(n + m), since the rounded difference is monotone in both indices.
fn count_le(x: &[f64], y: &[f64], d: f64) -> usize {
    let mut j = 0;
    let mut count = 0;
    for &xi in x {
        // x ascending → y_j − x_i falls as i grows, so more j qualify: j only moves forward.
        while j < y.len() && y[j] - xi <= d {
            j += 1;
        }
        count += j;
    }
    count
}

/// The `k`-th smallest (1-based) of the n·m differences y_j − x_i without forming them:
/// bisection over the floats (as ordered integers, at most 64 steps) for the smallest value
/// with at least `k` differences at or below it. Inputs sorted ascending, 1 ≤ k ≤ n·m.
pub fn kth_difference(x: &[f64], y: &[f64], k: usize) -> f64 {
    let (Some(&x_min), Some(&x_max), Some(&y_min), Some(&y_max)) =
        (x.first(), x.last(), y.first(), y.last())
    else {
        return f64::NAN;
    };
    let smallest = y_min - x_max;
    if count_le(x, y, smallest) >= k {
        return smallest;
    }
    // Invariant: count_le(lo) < k ≤ count_le(hi).
    let (mut lo, mut hi) = (key(smallest), key(y_max - x_min));
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if count_le(x, y, from_key(mid)) >= k {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    // No float lies strictly between lo and hi, so the k-th difference is hi itself.
    from_key(hi)
}

/// The distribution-free interval of the median of `xs` (at least [`CONFIDENCE`]): order
/// statistics x_(l) and x_(n+1−l) with l the largest rank for which
/// P(Binomial(n, ½) ≤ l − 1) ≤ (1 − CONFIDENCE)/2. With fewer than 6 samples no such rank
/// exists and the whole range is returned. `None` for no samples.
pub fn median_interval(xs: &[f64]) -> Option<(f64, f64)> {
    let mut s: Vec<f64> = xs.iter().copied().filter(|v| v.is_finite()).collect();
    if s.is_empty() {
        return None;
    }
    s.sort_by(f64::total_cmp);
    let n = s.len();
    let half_alpha = (1.0 - CONFIDENCE) / 2.0;
    // Binomial(n, ½) pmf in log space: ln pmf(0) = n·ln ½, pmf(i)/pmf(i−1) = (n−i+1)/i.
    let mut ln_pmf = n as f64 * 0.5f64.ln();
    let mut cdf = 0.0;
    let mut l = 0;
    for i in 0..n {
        if i > 0 {
            ln_pmf += ((n - i + 1) as f64 / i as f64).ln();
        }
        cdf += ln_pmf.exp();
        // cdf = P(B ≤ i); rank i + 1 is allowed when P(B ≤ i) ≤ α/2.
        if cdf <= half_alpha {
            l = i + 1;
        } else {
            break;
        }
    }
    let l = l.max(1);
    Some((s[l - 1], s[n - l]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn all_differences(x: &[f64], y: &[f64]) -> Vec<f64> {
        let mut d: Vec<f64> = x
            .iter()
            .flat_map(|xi| y.iter().map(move |yj| yj - xi))
            .collect();
        d.sort_by(f64::total_cmp);
        d
    }

    #[test]
    fn pmf_matches_brute_force_enumeration() {
        // Second method: enumerate every way to choose which n of the n+m ranks belong to
        // the first sample and count U = Σ over its members of the later ranks not in it.
        for (n, m) in [(1, 1), (2, 3), (4, 4), (5, 7), (6, 3)] {
            let pmf = mann_whitney_pmf(n, m);
            assert_eq!(pmf.len(), n * m + 1);
            let mut counts = vec![0u64; n * m + 1];
            let total_ranks = n + m;
            for mask in 0u32..(1 << total_ranks) {
                if mask.count_ones() as usize != n {
                    continue;
                }
                let mut u = 0;
                for r in 0..total_ranks {
                    if mask & (1 << r) != 0 {
                        u += (r + 1..total_ranks)
                            .filter(|s| mask & (1 << s) == 0)
                            .count();
                    }
                }
                counts[u] += 1;
            }
            let total: u64 = counts.iter().sum();
            for (u, c) in counts.iter().enumerate() {
                let expect = *c as f64 / total as f64;
                assert!((pmf[u] - expect).abs() < 1e-15, "n={n} m={m} u={u}");
            }
        }
    }

    #[test]
    fn exact_ranks_match_published_critical_values() {
        // Mann-Whitney tables, two-sided α = 0.05: the critical U for n1 = n2 = 10 is 23
        // (reject when U ≤ 23), so R's qwilcox(0.025, 10, 10) = 24; for 5 and 5 it is 2
        // (qwilcox = 3); for 20 and 20 it is 127 (qwilcox = 128).
        assert_eq!(exact_lower_rank(10, 10), 24);
        assert_eq!(exact_lower_rank(5, 5), 3);
        assert_eq!(exact_lower_rank(20, 20), 128);
        // 3 and 3: P(U = 0) = 1/C(6,3) = 0.05 > 0.025 → no 95 % interval exists.
        assert_eq!(exact_lower_rank(3, 3), 0);
        // The normal approximation agrees with the exact rank where they meet: at 50 and
        // 50, ⌈1250 − 1.959964·√(2500·101/12) − 0.5⌉ = ⌈965.2⌉ = 966.
        assert_eq!(normal_lower_rank(50, 50), 966);
        assert!(exact_lower_rank(50, 50).abs_diff(966) <= 1);
    }

    #[test]
    fn kth_difference_equals_sorting_every_difference() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for (n, m) in [(1, 1), (3, 5), (17, 9), (60, 80)] {
            let mut x: Vec<f64> = (0..n).map(|_| rng.random_range(-3.0..3.0)).collect();
            let mut y: Vec<f64> = (0..m).map(|_| rng.random_range(-3.0..3.0)).collect();
            // Ties and repeated values too.
            x.push(0.5);
            y.push(0.5);
            y.push(0.5);
            x.sort_by(f64::total_cmp);
            y.sort_by(f64::total_cmp);
            let all = all_differences(&x, &y);
            for k in 1..=all.len() {
                assert_eq!(kth_difference(&x, &y, k), all[k - 1], "n={n} m={m} k={k}");
            }
        }
    }

    #[test]
    fn interval_on_a_hand_sized_example() {
        // base 5 samples, new 5 samples (seconds). Logs differ; the interval uses ranks
        // qwilcox(0.025,5,5) = 3 → the 3rd smallest and 23rd smallest of 25 differences,
        // the estimate the 13th. Checked against the sorted differences.
        let base = [1.00, 1.02, 0.98, 1.01, 0.99];
        let new = [1.10, 1.12, 1.08, 1.11, 1.09];
        let r = ratio_interval(&base, &new).unwrap();
        let lx: Vec<f64> = base.iter().map(|v: &f64| v.ln()).collect();
        let ly: Vec<f64> = new.iter().map(|v: &f64| v.ln()).collect();
        let d = all_differences(&lx, &ly);
        assert!(r.exact);
        assert_eq!(r.estimate, d[12].exp());
        assert_eq!(r.low, d[2].exp());
        assert_eq!(r.high, d[22].exp());
        // All new samples are slower than every base sample: the interval is above 1.
        assert!(r.low > 1.0 && r.estimate > 1.09 && r.estimate < 1.11);
    }

    #[test]
    fn identical_samples_give_ratio_one() {
        let s: Vec<f64> = (1..=200).map(|i| 1e-3 * (1.0 + i as f64 * 1e-4)).collect();
        let r = ratio_interval(&s, &s).unwrap();
        assert!(!r.exact);
        assert_eq!(r.estimate, 1.0);
        assert!(r.low < 1.0 && r.high > 1.0);
        // Symmetric around 1 on the log scale.
        assert!((r.low.ln() + r.high.ln()).abs() < 1e-12);
    }

    #[test]
    fn bad_samples_are_refused() {
        assert_eq!(
            ratio_interval(&[1.0, 0.0, 1.0, 1.0], &[1.0; 4]),
            Err(IntervalError::NotPositive)
        );
        assert_eq!(
            ratio_interval(&[1.0, f64::NAN], &[1.0; 4]),
            Err(IntervalError::NotPositive)
        );
        assert_eq!(
            ratio_interval(&[1.0; 3], &[1.0; 3]),
            Err(IntervalError::TooFewSamples)
        );
        assert_eq!(
            ratio_interval(&[], &[1.0; 9]),
            Err(IntervalError::TooFewSamples)
        );
    }

    #[test]
    fn median_interval_uses_binomial_ranks() {
        // n = 10: P(B ≤ 1) = 11/1024 = 0.0107 ≤ 0.025 < P(B ≤ 2) = 56/1024 = 0.0547,
        // so l = 2: the 2nd and 9th order statistics.
        let xs: Vec<f64> = (1..=10).rev().map(f64::from).collect();
        assert_eq!(median_interval(&xs), Some((2.0, 9.0)));
        // n = 5: P(B = 0) = 1/32 = 0.031 > 0.025 → the whole range.
        assert_eq!(
            median_interval(&[5.0, 1.0, 3.0, 2.0, 4.0]),
            Some((1.0, 5.0))
        );
        // n = 6: P(B = 0) = 1/64 = 0.0156 ≤ 0.025 < P(B ≤ 1) = 7/64 → l = 1.
        assert_eq!(
            median_interval(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
            Some((1.0, 6.0))
        );
        // n = 20: P(B ≤ 5) = 21700/1048576 = 0.0207 ≤ 0.025 < P(B ≤ 6) = 0.0577 → l = 6.
        let xs: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(median_interval(&xs), Some((6.0, 15.0)));
        assert_eq!(median_interval(&[]), None);
    }
}
