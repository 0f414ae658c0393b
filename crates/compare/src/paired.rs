//! The verdict of `hotpath ab`: two builds measured alternately in the same window, round
//! after round (A then B, then B then A, …), and judged on the paired rounds.
//!
//! Drift between runs (a DRAM whose bandwidth wanders by 15 % over minutes, a neighbour that
//! comes and goes) is larger than the noise inside one run, so two results files measured
//! minutes apart cannot tell a 10 % slowdown from drift. Measured seconds apart, the builds
//! share the drift: round `r` gives the ratio `ρ_r = median(B_r) / median(A_r)`, and drift
//! that changes between rounds moves both sides of a round together. Alternating the order
//! (AB, BA, AB, …) cancels a steady trend within the window too.
//!
//! With `t` the threshold (0.05 for 5 %), each round's samples divided by its A median (so
//! drift between rounds leaves no trace in the pool), `r` the Hodges-Lehmann ratio of the
//! pooled B samples over the pooled A samples and `[lo, hi]` its 95 % interval
//! ([`super::stats::ratio_interval`]):
//!
//! - **regression**: `r > 1 + t`, `lo > 1` and *every* round has `ρ_r > 1` (B was slower in
//!   each round: a slowdown that drift cannot fake once per round);
//! - **improvement**: the mirror image: `r < 1 − t`, `hi < 1`, every `ρ_r < 1`;
//! - **unchanged**: `[lo, hi]` and every `ρ_r` lie within `[1 − t, 1 + t]`;
//! - **noisy**: anything else.
//!
//! A regression is then measured again in fresh rounds ([`confirm`]): it stands only if the
//! new rounds judge it a regression too; otherwise it is reported noisy, "did not reproduce".

use serde::{Deserialize, Serialize};

use super::stats::{self, IntervalError};
use super::Verdict;
use hotpath_core::stats::median;

/// Which build ran first in a round.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// The last good build (A) first, then the new build (B).
    AB,
    /// The new build first.
    BA,
}

impl Order {
    /// The order of round `index` (0-based): AB, BA, AB, BA, …
    pub fn of_round(index: usize) -> Order {
        if index.is_multiple_of(2) {
            Order::AB
        } else {
            Order::BA
        }
    }

    /// `AB` or `BA`.
    pub fn name(self) -> &'static str {
        match self {
            Order::AB => "AB",
            Order::BA => "BA",
        }
    }
}

/// One round of one benchmark: both builds' samples (seconds per iteration).
#[derive(Clone, Debug, PartialEq)]
pub struct Round {
    /// Which build ran first.
    pub order: Order,
    /// The last good build's samples.
    pub a_samples_s: Vec<f64>,
    /// The new build's samples.
    pub b_samples_s: Vec<f64>,
}

/// One round as reported: medians and their ratio.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoundSummary {
    /// Which build ran first.
    pub order: Order,
    /// Median of the last good build's samples, seconds.
    pub a_median_s: f64,
    /// Median of the new build's samples, seconds.
    pub b_median_s: f64,
    /// `b_median_s / a_median_s` (above 1: the new build was slower in this round).
    pub ratio: f64,
    /// Samples of A and of B.
    pub samples: (usize, usize),
}

/// The judgement of a set of rounds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Judgement {
    /// Every round, in the order measured.
    pub rounds: Vec<RoundSummary>,
    /// Hodges-Lehmann ratio B ÷ A of the pooled, per-round normalised samples.
    pub hl_ratio: Option<f64>,
    /// Lower end of its 95 % interval.
    pub ci_low: Option<f64>,
    /// Upper end of its 95 % interval.
    pub ci_high: Option<f64>,
    /// The verdict of these rounds.
    pub verdict: Verdict,
    /// Why the verdict is noisy or missing evidence, when it is.
    pub note: Option<String>,
}

/// Why rounds could not be judged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JudgeError(pub String);

/// Judges `rounds` against `threshold` (a fraction: 0.05 for 5 %); the rule is this
/// module's. Fails when a round has no samples on a side or a sample is not a positive time.
pub fn judge(rounds: &[Round], threshold: f64) -> Result<Judgement, JudgeError> {
    if rounds.is_empty() {
        return Err(JudgeError("no rounds to judge".into()));
    }
    let mut summaries = Vec::with_capacity(rounds.len());
    let mut pooled_a = Vec::new();
    let mut pooled_b = Vec::new();
    for (i, r) in rounds.iter().enumerate() {
        let positive = |v: &f64| v.is_finite() && *v > 0.0;
        if r.a_samples_s.is_empty() || r.b_samples_s.is_empty() {
            return Err(JudgeError(format!(
                "round {} has {} samples of the last good build and {} of the new one; each needs at least one",
                i + 1,
                r.a_samples_s.len(),
                r.b_samples_s.len()
            )));
        }
        if !(r.a_samples_s.iter().all(positive) && r.b_samples_s.iter().all(positive)) {
            return Err(JudgeError(format!(
                "round {} holds a sample that is not a positive number of seconds",
                i + 1
            )));
        }
        let a_median_s = median(&r.a_samples_s);
        let b_median_s = median(&r.b_samples_s);
        summaries.push(RoundSummary {
            order: r.order,
            a_median_s,
            b_median_s,
            ratio: b_median_s / a_median_s,
            samples: (r.a_samples_s.len(), r.b_samples_s.len()),
        });
        pooled_a.extend(r.a_samples_s.iter().map(|s| s / a_median_s));
        pooled_b.extend(r.b_samples_s.iter().map(|s| s / a_median_s));
    }
    let ratios: Vec<f64> = summaries.iter().map(|s| s.ratio).collect();
    let (down, up) = (1.0 - threshold, 1.0 + threshold);
    let interval = match stats::ratio_interval(&pooled_a, &pooled_b) {
        Ok(i) => Some(i),
        Err(IntervalError::TooFewSamples) => None,
        Err(IntervalError::NotPositive) => {
            return Err(JudgeError("a normalised sample is not positive".into()))
        }
    };
    let Some(iv) = interval else {
        return Ok(Judgement {
            rounds: summaries,
            hl_ratio: None,
            ci_low: None,
            ci_high: None,
            verdict: Verdict::Noisy,
            note: Some(format!(
                "too few samples for a 95 % interval ({} of A, {} of B pooled over {} rounds)",
                pooled_a.len(),
                pooled_b.len(),
                rounds.len()
            )),
        });
    };
    let all_slower = ratios.iter().all(|&r| r > 1.0);
    let all_faster = ratios.iter().all(|&r| r < 1.0);
    let all_within = ratios.iter().all(|r| (down..=up).contains(r));
    let (verdict, note) = if iv.estimate > up && iv.low > 1.0 && all_slower {
        (Verdict::Regression, None)
    } else if iv.estimate < down && iv.high < 1.0 && all_faster {
        (Verdict::Improvement, None)
    } else if iv.low >= down && iv.high <= up && all_within {
        (Verdict::Unchanged, None)
    } else if iv.estimate > up && iv.low > 1.0 {
        (
            Verdict::Noisy,
            Some(format!(
                "slower overall but not in every round (round ratios {})",
                list(&ratios)
            )),
        )
    } else if iv.estimate < down && iv.high < 1.0 {
        (
            Verdict::Noisy,
            Some(format!(
                "faster overall but not in every round (round ratios {})",
                list(&ratios)
            )),
        )
    } else {
        (
            Verdict::Noisy,
            Some(format!(
                "the rounds reach past ±{:.0} % without a consistent change (round ratios {})",
                threshold * 100.0,
                list(&ratios)
            )),
        )
    };
    Ok(Judgement {
        rounds: summaries,
        hl_ratio: Some(iv.estimate),
        ci_low: Some(iv.low),
        ci_high: Some(iv.high),
        verdict,
        note,
    })
}

fn list(ratios: &[f64]) -> String {
    ratios
        .iter()
        .map(|r| format!("{r:.3}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The final verdict of a benchmark judged `first` and, when that was a regression,
/// measured again and judged `again`: a regression stands only if `again` is one too;
/// otherwise it is noisy with the note "did not reproduce". Other verdicts stand as judged.
pub fn confirm(first: &Judgement, again: Option<&Judgement>) -> (Verdict, Option<String>) {
    match (first.verdict, again) {
        (Verdict::Regression, Some(j)) if j.verdict == Verdict::Regression => {
            (Verdict::Regression, None)
        }
        (Verdict::Regression, Some(j)) => (
            Verdict::Noisy,
            Some(format!(
                "did not reproduce: measured again it was {} (ratio {})",
                j.verdict,
                j.hl_ratio
                    .map_or("unknown".to_string(), |r| format!("{r:.3}"))
            )),
        ),
        (Verdict::Regression, None) => (
            Verdict::Noisy,
            Some("flagged once and not measured again; not confirmed".into()),
        ),
        (v, _) => (v, first.note.clone()),
    }
}

/// The rule as one paragraph, printed under every A/B table.
pub const DEFINITIONS: &str = "A = last good build, B = new build, measured alternately per \
benchmark (round orders AB, BA, AB, …); per round ρ = median(B)/median(A); r = Hodges-Lehmann \
ratio of the pooled samples, each round divided by its A median, [lo, hi] its 95 % interval, \
t = threshold. regression = r > 1+t, lo > 1 and ρ > 1 in every round, and again when measured \
a second time; improvement = r < 1-t, hi < 1, ρ < 1 in every round; unchanged = lo, hi and \
every ρ within [1-t, 1+t]; noisy = anything else, or a regression that did not reproduce";

#[cfg(test)]
mod tests {
    use super::*;

    /// Thirty samples spread evenly by ±1 % around `center` (1.000 × center ± 0.01 × k/15).
    fn spread(center: f64) -> Vec<f64> {
        (0..30)
            .map(|i| center * (1.0 + 0.01 * (i as f64 - 14.5) / 14.5))
            .collect()
    }

    fn round(i: usize, a: f64, b: f64) -> Round {
        Round {
            order: Order::of_round(i),
            a_samples_s: spread(a),
            b_samples_s: spread(b),
        }
    }

    #[test]
    fn drift_between_rounds_is_not_a_regression() {
        // Round 1 at 1 ms, round 2 at 1.3 ms (the machine drifted 30 %), round 3 at 0.9 ms; in
        // each round both builds take the same time. Unpaired, round 1's A against round 2's
        // B would read +30 %. Paired: every ρ = 1, the pooled ratio 1, unchanged.
        let rounds = [
            round(0, 1e-3, 1e-3),
            round(1, 1.3e-3, 1.3e-3),
            round(2, 0.9e-3, 0.9e-3),
        ];
        let j = judge(&rounds, 0.05).unwrap();
        assert_eq!(j.verdict, Verdict::Unchanged, "{j:?}");
        assert!((j.hl_ratio.unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(
            j.rounds.iter().map(|r| r.order).collect::<Vec<_>>(),
            [Order::AB, Order::BA, Order::AB]
        );
    }

    #[test]
    fn a_ten_percent_slowdown_under_drift_is_a_regression() {
        // B is 1.10 × A in every round while the rounds drift by ±30 %: ρ = 1.10 each round,
        // the normalised pools are ±1 % around 1 and around 1.10, so r = 1.10 and lo > 1.
        let rounds = [
            round(0, 1e-3, 1.1e-3),
            round(1, 1.3e-3, 1.43e-3),
            round(2, 0.7e-3, 0.77e-3),
        ];
        let j = judge(&rounds, 0.05).unwrap();
        assert_eq!(j.verdict, Verdict::Regression, "{j:?}");
        assert!((j.hl_ratio.unwrap() - 1.10).abs() < 1e-9);
        assert!(j.ci_low.unwrap() > 1.0);
        for r in &j.rounds {
            assert!((r.ratio - 1.10).abs() < 1e-9);
        }
    }

    #[test]
    fn slower_overall_but_not_every_round_is_noisy() {
        // ρ = 1.30, 1.30, 0.98: the pool says +20 %, one round says B was faster.
        let rounds = [
            round(0, 1e-3, 1.3e-3),
            round(1, 1e-3, 1.3e-3),
            round(2, 1e-3, 0.98e-3),
        ];
        let j = judge(&rounds, 0.05).unwrap();
        assert_eq!(j.verdict, Verdict::Noisy);
        assert!(j.note.as_deref().unwrap().contains("not in every round"));
        assert!(j.note.as_deref().unwrap().contains("0.980"), "{:?}", j.note);
    }

    #[test]
    fn improvement_and_noise() {
        let faster = [round(0, 1e-3, 0.8e-3), round(1, 1e-3, 0.8e-3)];
        assert_eq!(judge(&faster, 0.05).unwrap().verdict, Verdict::Improvement);
        // ρ = 0.97 and 1.12: one round each way. Whatever the pooled estimate, the rounds
        // disagree on the direction, so neither a regression nor unchanged (1.12 > 1.05).
        let mixed = [round(0, 1e-3, 0.97e-3), round(1, 1e-3, 1.12e-3)];
        let j = judge(&mixed, 0.05).unwrap();
        assert_eq!(j.verdict, Verdict::Noisy, "{j:?}");
        assert!(j.note.unwrap().contains("0.970, 1.120"));
    }

    #[test]
    fn confirmation_rule() {
        let slow = [round(0, 1e-3, 1.2e-3), round(1, 1e-3, 1.2e-3)];
        let same = [round(0, 1e-3, 1e-3), round(1, 1e-3, 1e-3)];
        let first = judge(&slow, 0.05).unwrap();
        assert_eq!(first.verdict, Verdict::Regression);
        let again = judge(&slow, 0.05).unwrap();
        assert_eq!(confirm(&first, Some(&again)).0, Verdict::Regression);
        let gone = judge(&same, 0.05).unwrap();
        let (v, note) = confirm(&first, Some(&gone));
        assert_eq!(v, Verdict::Noisy);
        assert!(note
            .unwrap()
            .starts_with("did not reproduce: measured again it was unchanged (ratio 1.000)"));
        assert_eq!(confirm(&first, None).0, Verdict::Noisy);
        // A verdict other than regression stands without a second measurement.
        assert_eq!(confirm(&gone, None).0, Verdict::Unchanged);
    }

    #[test]
    fn bad_rounds_are_refused() {
        assert!(judge(&[], 0.05).is_err());
        let empty = Round {
            order: Order::AB,
            a_samples_s: vec![],
            b_samples_s: vec![1.0],
        };
        let e = judge(&[empty], 0.05).unwrap_err();
        assert!(e.0.contains("round 1 has 0 samples"), "{}", e.0);
        let negative = Round {
            order: Order::AB,
            a_samples_s: vec![1.0, -1.0],
            b_samples_s: vec![1.0],
        };
        assert!(judge(&[negative], 0.05).is_err());
        // One sample a side: no interval, noisy with the reason.
        let one = Round {
            order: Order::AB,
            a_samples_s: vec![1.0],
            b_samples_s: vec![2.0],
        };
        let j = judge(&[one], 0.05).unwrap();
        assert_eq!(j.verdict, Verdict::Noisy);
        assert!(j.note.unwrap().contains("too few samples"));
    }
}
