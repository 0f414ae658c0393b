//! The report of `hotpath ab` (schema `hotpath.ab/1`): per benchmark, the rounds of the last
//! good build (A) and the new build (B), the judgement of [`super::paired`], the
//! re-measurement of a flagged regression, and the final verdict; rendered as a table or
//! Markdown.

use serde::Serialize;

use super::paired::{self, Judgement};
use super::render::{change_pct, markdown_table, text_table};
use super::Verdict;
use hotpath_core::units::Seconds;

/// Schema of `hotpath ab --format json` and `--out`.
pub const SCHEMA: &str = "hotpath.ab/1";

/// One build taking part.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Build {
    /// The binary as given (B: this binary).
    pub binary: String,
    /// `tool.version` of its results files.
    pub version: Option<String>,
    /// `tool.git` of its results files.
    pub git: Option<String>,
}

/// One benchmark measured by both builds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AbRow {
    /// Benchmark id (`op/shape/dtype/impl`).
    pub id: String,
    /// The first set of rounds.
    pub first: Judgement,
    /// The rounds measured again because `first` was a regression.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub again: Option<Judgement>,
    /// The final verdict ([`paired::confirm`]).
    pub verdict: Verdict,
    /// Why, when the verdict is noisy.
    pub note: Option<String>,
}

/// A benchmark that could not be judged, and why.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NotJudged {
    /// Benchmark id (or the spec, when no run produced a result).
    pub id: String,
    /// Why.
    pub reason: String,
}

/// The whole A/B comparison.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct AbReport {
    /// Always [`SCHEMA`].
    pub schema: &'static str,
    /// The last good build.
    pub a: Build,
    /// The new build.
    pub b: Build,
    /// Backend and device measured.
    pub device: String,
    /// Suite whose benchmarks were measured.
    pub suite: String,
    /// Rounds per benchmark (and per re-measurement).
    pub rounds: usize,
    /// Threshold, percent.
    pub threshold_pct: f64,
    /// The rule ([`paired::DEFINITIONS`]).
    pub verdicts: &'static str,
    /// Arguments every `hotpath run` of both builds was given.
    pub run_args: Vec<String>,
    /// Confirmed regressions.
    pub regressions: Vec<String>,
    /// Improvements.
    pub improvements: Vec<String>,
    /// Noisy benchmarks (regressions that did not reproduce among them).
    pub noisy: Vec<String>,
    /// Benchmarks whose new-build output failed its correctness check.
    pub failed_checks: Vec<String>,
    /// One row per judged benchmark, in suite order.
    pub rows: Vec<AbRow>,
    /// Benchmarks that could not be judged.
    pub not_judged: Vec<NotJudged>,
    /// Wall time of the whole comparison, seconds.
    pub wall_s: f64,
}

impl AbReport {
    /// Fills the id lists from the rows' final verdicts.
    pub fn tally(&mut self) {
        let ids = |v: Verdict| -> Vec<String> {
            self.rows
                .iter()
                .filter(|r| r.verdict == v)
                .map(|r| r.id.clone())
                .collect()
        };
        self.regressions = ids(Verdict::Regression);
        self.improvements = ids(Verdict::Improvement);
        self.noisy = ids(Verdict::Noisy);
    }

    /// True when the job should fail: a confirmed regression or a failed correctness check.
    pub fn fails(&self) -> bool {
        !self.regressions.is_empty() || !self.failed_checks.is_empty()
    }
}

const HEADERS: [&str; 7] = [
    "benchmark",
    "A median",
    "B median",
    "change",
    "95 % interval",
    "rounds (B/A)",
    "verdict",
];

fn cells(r: &AbRow) -> Vec<String> {
    let j = r.again.as_ref().unwrap_or(&r.first);
    let med = |f: fn(&paired::RoundSummary) -> f64| {
        let v: Vec<f64> = j.rounds.iter().map(f).collect();
        Seconds(hotpath_core::stats::median(&v)).to_string()
    };
    let interval = match (j.ci_low, j.ci_high) {
        (Some(lo), Some(hi)) => format!("[{}, {}]", change_pct(lo), change_pct(hi)),
        _ => "-".to_string(),
    };
    let rounds: Vec<String> = r
        .first
        .rounds
        .iter()
        .map(|s| format!("{:.3}", s.ratio))
        .collect();
    let mut rounds = rounds.join(" ");
    if let Some(a) = &r.again {
        let again: Vec<String> = a.rounds.iter().map(|s| format!("{:.3}", s.ratio)).collect();
        rounds = format!("{rounds}; again {}", again.join(" "));
    }
    let mut verdict = r.verdict.name().to_uppercase();
    if let Some(n) = &r.note {
        verdict = format!("{verdict} ({n})");
    }
    vec![
        r.id.clone(),
        med(|s| s.a_median_s),
        med(|s| s.b_median_s),
        j.hl_ratio.map_or("-".to_string(), change_pct),
        interval,
        rounds,
        verdict,
    ]
}

fn header_lines(r: &AbReport) -> Vec<String> {
    let build = |b: &Build| {
        format!(
            "{} ({})",
            b.binary,
            b.git.as_deref().unwrap_or("unknown commit")
        )
    };
    vec![
        format!("A (last good): {}", build(&r.a)),
        format!("B (new):       {}", build(&r.b)),
        format!(
            "{} · suite {} · {} rounds per benchmark · threshold {} % · {:.0} s",
            r.device, r.suite, r.rounds, r.threshold_pct, r.wall_s
        ),
    ]
}

fn footer_lines(r: &AbReport) -> Vec<String> {
    let mut out = Vec::new();
    for n in &r.not_judged {
        out.push(format!("not judged: {}: {}", n.id, n.reason));
    }
    for f in &r.failed_checks {
        out.push(format!("check FAILED in the new build: {f}"));
    }
    out.push(format!(
        "{} regression(s), {} improvement(s), {} noisy, {} judged",
        r.regressions.len(),
        r.improvements.len(),
        r.noisy.len(),
        r.rows.len()
    ));
    out.push(r.verdicts.to_string());
    out
}

/// Aligned text for a terminal.
pub fn text(r: &AbReport) -> String {
    let rows: Vec<Vec<String>> = r.rows.iter().map(cells).collect();
    let mut out = header_lines(r).join("\n") + "\n";
    out.push_str(&text_table(&HEADERS, &rows, 1));
    out.push_str(&(footer_lines(r).join("\n") + "\n"));
    out
}

/// Markdown, for the nightly job's comparison page.
pub fn markdown(r: &AbReport) -> String {
    let rows: Vec<Vec<String>> = r.rows.iter().map(cells).collect();
    let mut out = String::from("# A/B comparison\n\n");
    for l in header_lines(r) {
        out.push_str(&format!("{l}  \n"));
    }
    out.push('\n');
    out.push_str(&markdown_table(&HEADERS, &rows));
    out.push('\n');
    for l in footer_lines(r) {
        out.push_str(&format!("{l}  \n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paired::{judge, Order, Round};

    fn rounds(ratio: f64) -> Vec<Round> {
        (0..2)
            .map(|i| Round {
                order: Order::of_round(i),
                a_samples_s: vec![1e-3, 1.01e-3, 0.99e-3, 1.0e-3, 1.02e-3, 0.98e-3],
                b_samples_s: [1e-3, 1.01e-3, 0.99e-3, 1.0e-3, 1.02e-3, 0.98e-3]
                    .iter()
                    .map(|s| s * ratio)
                    .collect(),
            })
            .collect()
    }

    fn report(rows: Vec<AbRow>) -> AbReport {
        let b = |n: &str| Build {
            binary: n.into(),
            version: Some("0.1.0".into()),
            git: Some("abc1234".into()),
        };
        let mut r = AbReport {
            schema: SCHEMA,
            a: b("last-good/hotpath"),
            b: b("target/release/hotpath"),
            device: "cpu AMD EPYC".into(),
            suite: "quick".into(),
            rounds: 2,
            threshold_pct: 5.0,
            verdicts: paired::DEFINITIONS,
            run_args: vec![],
            regressions: vec![],
            improvements: vec![],
            noisy: vec![],
            failed_checks: vec![],
            rows,
            not_judged: vec![],
            wall_s: 12.0,
        };
        r.tally();
        r
    }

    #[test]
    fn tallies_and_renders_a_confirmed_regression_and_a_noisy_one() {
        let slow = judge(&rounds(1.2), 0.05).unwrap();
        let same = judge(&rounds(1.0), 0.05).unwrap();
        let (v1, n1) = paired::confirm(&slow, Some(&slow));
        let (v2, n2) = paired::confirm(&slow, Some(&same));
        let r = report(vec![
            AbRow {
                id: "kv_write/tokens=4096/bf16/hotpath".into(),
                first: slow.clone(),
                again: Some(slow.clone()),
                verdict: v1,
                note: n1,
            },
            AbRow {
                id: "copy/elements=16777216/f32/hotpath".into(),
                first: slow.clone(),
                again: Some(same),
                verdict: v2,
                note: n2,
            },
        ]);
        assert_eq!(r.regressions, vec!["kv_write/tokens=4096/bf16/hotpath"]);
        assert_eq!(r.noisy, vec!["copy/elements=16777216/f32/hotpath"]);
        assert!(r.fails());
        let t = text(&r);
        // The samples are exact multiples: B = 1.2 × A in every round, so +20.0 %.
        assert!(t.contains("+20.0 %"), "{t}");
        assert!(t.contains("REGRESSION"), "{t}");
        assert!(t.contains("1.200 1.200; again 1.200 1.200"), "{t}");
        assert!(t.contains("NOISY (did not reproduce"), "{t}");
        assert!(t.contains("1 regression(s), 0 improvement(s), 1 noisy, 2 judged"));
        let md = markdown(&r);
        assert!(md.contains("| kv_write/tokens=4096/bf16/hotpath |"), "{md}");
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["schema"], "hotpath.ab/1");
        assert_eq!(json["rows"][0]["verdict"], "regression");
    }

    #[test]
    fn nothing_flagged_does_not_fail() {
        let same = judge(&rounds(1.0), 0.05).unwrap();
        let r = report(vec![AbRow {
            id: "x".into(),
            first: same.clone(),
            again: None,
            verdict: same.verdict,
            note: None,
        }]);
        assert_eq!(same.verdict, Verdict::Unchanged);
        assert!(!r.fails());
    }
}
