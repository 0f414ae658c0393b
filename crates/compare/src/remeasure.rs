//! A regression measured again before it counts (`hotpath compare --remeasured FILE`): the
//! base is compared with a second measurement of the new build too, and a benchmark stays a
//! regression only if that comparison flags it as well; otherwise it becomes `noisy`, "did
//! not reproduce". Drift that lifted one run past the threshold rarely lifts the next one
//! the same way; a real slowdown does.

use super::{Comparison, Verdict};

/// Keeps in `first` only the regressions `again` confirms (same benchmark id, verdict
/// regression); the others become noisy with a note saying what the second measurement
/// showed. The id lists are recomputed.
pub fn confirm(first: &mut Comparison, again: &Comparison) {
    for row in &mut first.rows {
        if row.verdict != Verdict::Regression {
            continue;
        }
        let second = again.rows.iter().find(|r| r.id == row.id);
        match second {
            Some(r) if r.verdict == Verdict::Regression => {
                let note = format!(
                    "reproduced: measured again, {:+.1} %",
                    (r.hl_ratio.unwrap_or(r.ratio) - 1.0) * 100.0
                );
                row.note = Some(match row.note.take() {
                    Some(n) => format!("{n}; {note}"),
                    None => note,
                });
            }
            Some(r) => {
                row.verdict = Verdict::Noisy;
                row.note = Some(format!(
                    "did not reproduce: measured again it was {} ({:+.1} %)",
                    r.verdict,
                    (r.hl_ratio.unwrap_or(r.ratio) - 1.0) * 100.0
                ));
            }
            None => {
                row.verdict = Verdict::Noisy;
                row.note = Some("did not reproduce: not measured again".to_string());
            }
        }
    }
    let ids = |v: Verdict| -> Vec<String> {
        first
            .rows
            .iter()
            .filter(|r| r.verdict == v)
            .map(|r| r.id.clone())
            .collect()
    };
    first.regressions = ids(Verdict::Regression);
    first.improvements = ids(Verdict::Improvement);
    first.noisy = ids(Verdict::Noisy);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compare;
    use hotpath_core::fixture::{bench, file, samples};
    use hotpath_core::op::OpKind;
    use hotpath_core::results::ResultsFile;

    /// One file with a gemv and a copy at 1 ms × `gemv` and 1 ms × `copy` (±1 % noise).
    fn run(seed: u64, gemv: f64, copy: f64) -> ResultsFile {
        let mut f = file();
        f.benchmarks.push(bench(
            OpKind::Gemv,
            "m=1,n=4096,k=4096",
            "hotpath",
            samples(seed, 30, 1e-3 * gemv, 0.01),
        ));
        f.benchmarks.push(bench(
            OpKind::Copy,
            "elements=1M",
            "hotpath",
            samples(seed + 100, 30, 1e-3 * copy, 0.01),
        ));
        f
    }

    #[test]
    fn only_a_regression_that_reproduces_stands() {
        let base = run(1, 1.0, 1.0);
        // First measurement: gemv +20 % (real), copy +20 % (drift). Measured again: gemv
        // still +20 %, copy back to +0 %.
        let mut first = compare(&base, &run(2, 1.2, 1.2), 5.0, "b", "n").unwrap();
        assert_eq!(first.regressions.len(), 2);
        let again = compare(&base, &run(3, 1.2, 1.0), 5.0, "b", "n2").unwrap();
        confirm(&mut first, &again);
        assert_eq!(
            first.regressions,
            vec!["gemv/m=1,n=4096,k=4096/f32/hotpath"]
        );
        assert_eq!(first.noisy, vec!["copy/elements=1048576/f32/hotpath"]);
        let copy = &first.rows[1];
        let note = copy.note.as_deref().unwrap();
        assert!(
            note.starts_with("did not reproduce: measured again it was unchanged ("),
            "{note}"
        );
        let gemv = &first.rows[0];
        assert!(gemv
            .note
            .as_deref()
            .unwrap()
            .starts_with("reproduced: measured again, +"));
        assert!(first.has_regression());
    }

    #[test]
    fn a_benchmark_missing_from_the_second_measurement_does_not_count() {
        let base = run(1, 1.0, 1.0);
        let mut first = compare(&base, &run(2, 1.0, 1.3), 5.0, "b", "n").unwrap();
        assert_eq!(first.regressions, vec!["copy/elements=1048576/f32/hotpath"]);
        let mut only_gemv = run(3, 1.0, 1.3);
        only_gemv.benchmarks.truncate(1);
        let again = compare(&base, &only_gemv, 5.0, "b", "n2").unwrap();
        confirm(&mut first, &again);
        assert!(!first.has_regression());
        assert_eq!(
            first.rows[1].note.as_deref(),
            Some("did not reproduce: not measured again")
        );
    }
}
