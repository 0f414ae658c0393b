//! The four verdicts of `hotpath compare` and the rule that picks one.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What a change in one benchmark amounts to. With `r` the Hodges-Lehmann estimate of the
/// time ratio new ÷ base (the median of all pairwise ratios; under a pure change of scale
/// it is the ratio of the medians), `[lo, hi]` its 95 % interval (`lo ≤ r ≤ hi`) and `t`
/// the threshold (0.05 for 5 %):
///
/// - **regression**: `r > 1 + t` and `lo > 1` — slower by more than the threshold, and
///   significantly slower;
/// - **improvement**: `r < 1 − t` and `hi < 1` — faster by more than the threshold, and
///   significantly faster;
/// - **unchanged**: the whole interval lies within `[1 − t, 1 + t]` — any change is
///   confidently smaller than the threshold;
/// - **noisy**: anything else — the interval reaches past the threshold but the change is
///   not significant beyond it (or the samples are too few for an interval), so a change
///   beyond the threshold can be neither confirmed nor ruled out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Slower beyond the threshold and significant.
    Regression,
    /// Faster beyond the threshold and significant.
    Improvement,
    /// Within the threshold, interval included.
    Unchanged,
    /// Too uncertain to tell.
    Noisy,
}

impl Verdict {
    /// The name written in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Regression => "regression",
            Verdict::Improvement => "improvement",
            Verdict::Unchanged => "unchanged",
            Verdict::Noisy => "noisy",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One paragraph that defines the verdicts, printed under every comparison.
pub const DEFINITIONS: &str = "verdicts (r = Hodges-Lehmann ratio new/base, [lo, hi] its 95 % \
interval, t = threshold): regression = r > 1+t and lo > 1; improvement = r < 1-t and hi < 1; \
unchanged = lo >= 1-t and hi <= 1+t; noisy = anything else (the interval reaches past the \
threshold without a significant change beyond it, or too few samples for an interval); the \
ratio of medians is reported beside r and never decides";

/// What the run-to-run band adds to [`DEFINITIONS`] when a history is given.
pub const BAND_DEFINITION: &str = "with a history, b = the run-to-run band of the \
benchmark: a regression must also have r > 1+b and an improvement r < 1/(1+b); a change \
that passes the threshold and its interval but not the band is noisy (within the \
run-to-run band); without a band (fewer runs than needed) the rule is the one above";

/// The verdict of [`classify`] with a run-to-run band `band` (a fraction: 0.2 for ±20 %)
/// applied on top: a regression needs `ratio > 1 + band` too, an improvement
/// `ratio < 1 / (1 + band)`. Returns the verdict and whether the band alone turned a
/// regression or improvement into `noisy`. `band` None leaves [`classify`]'s verdict.
pub fn classify_banded(
    ratio: f64,
    interval: Option<(f64, f64)>,
    threshold: f64,
    band: Option<f64>,
) -> (Verdict, bool) {
    let v = classify(ratio, interval, threshold);
    let Some(b) = band else {
        return (v, false);
    };
    let held = match v {
        Verdict::Regression => ratio <= 1.0 + b,
        Verdict::Improvement => ratio >= 1.0 / (1.0 + b),
        _ => false,
    };
    if held {
        (Verdict::Noisy, true)
    } else {
        (v, false)
    }
}

/// The verdict for the estimated ratio `ratio`, its interval `interval` (None when the
/// samples were too few for one) and threshold `threshold` (a fraction: 0.05 for 5 %).
pub fn classify(ratio: f64, interval: Option<(f64, f64)>, threshold: f64) -> Verdict {
    let Some((lo, hi)) = interval else {
        return Verdict::Noisy;
    };
    let (down, up) = (1.0 - threshold, 1.0 + threshold);
    if ratio > up && lo > 1.0 {
        Verdict::Regression
    } else if ratio < down && hi < 1.0 {
        Verdict::Improvement
    } else if (down..=up).contains(&ratio) && lo >= down && hi <= up {
        Verdict::Unchanged
    } else {
        Verdict::Noisy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_branch_of_the_rule() {
        let t = 0.05;
        // 10 % slower, interval [1.08, 1.12]: beyond 5 % and significant.
        assert_eq!(classify(1.10, Some((1.08, 1.12)), t), Verdict::Regression);
        // 10 % slower but the interval includes 1: not significant.
        assert_eq!(classify(1.10, Some((0.97, 1.25)), t), Verdict::Noisy);
        // Significant (interval above 1) but under the threshold, interval inside ±5 %.
        assert_eq!(classify(1.02, Some((1.01, 1.03)), t), Verdict::Unchanged);
        // Significant, under the threshold, but the interval reaches past +5 %.
        assert_eq!(classify(1.03, Some((1.01, 1.06)), t), Verdict::Noisy);
        // Faster by 20 %, interval below 1.
        assert_eq!(classify(0.80, Some((0.78, 0.83)), t), Verdict::Improvement);
        // Faster by 20 % but the interval reaches 1.01.
        assert_eq!(classify(0.80, Some((0.60, 1.01)), t), Verdict::Noisy);
        // No change at all, narrow interval.
        assert_eq!(classify(1.0, Some((0.999, 1.001)), t), Verdict::Unchanged);
        // No interval (too few samples): never a verdict either way.
        assert_eq!(classify(1.5, None, t), Verdict::Noisy);
        // Exactly at the threshold is not beyond it.
        assert_eq!(classify(1.05, Some((1.04, 1.05)), t), Verdict::Unchanged);
        // A larger threshold turns the 10 % regression into noise-free "unchanged".
        assert_eq!(classify(1.10, Some((1.08, 1.12)), 0.25), Verdict::Unchanged);
    }

    #[test]
    fn the_band_holds_back_changes_inside_it() {
        let (t, iv) = (0.05, Some((1.10, 1.14)));
        // 12 % slower: a regression by the threshold rule; a 20 % band holds it (1.12 ≤
        // 1.20), a 3 % band does not (1.12 > 1.03); no band leaves the rule alone.
        assert_eq!(
            classify_banded(1.12, iv, t, Some(0.20)),
            (Verdict::Noisy, true)
        );
        assert_eq!(
            classify_banded(1.12, iv, t, Some(0.03)),
            (Verdict::Regression, false)
        );
        assert_eq!(
            classify_banded(1.12, iv, t, None),
            (Verdict::Regression, false)
        );
        // Faster: 1/1.2 = 0.8333; a ratio of 0.85 is inside the 20 % band, 0.80 is not.
        let down = Some((0.78, 0.88));
        assert_eq!(
            classify_banded(0.85, down, t, Some(0.20)),
            (Verdict::Noisy, true)
        );
        assert_eq!(
            classify_banded(0.80, down, t, Some(0.20)),
            (Verdict::Improvement, false)
        );
        // Unchanged and noisy verdicts are never changed by a band.
        assert_eq!(
            classify_banded(1.0, Some((0.99, 1.01)), t, Some(0.5)),
            (Verdict::Unchanged, false)
        );
        assert_eq!(
            classify_banded(1.3, Some((0.9, 1.8)), t, Some(0.5)),
            (Verdict::Noisy, false)
        );
    }
}
