//! `hotpath compare --format junit`: one test case per benchmark (classname `compare.<op>`,
//! name the benchmark id) so a CI dashboard tracks each benchmark across builds. A regression
//! is a `<failure type="regression">` whose message is the one-sentence reason; benchmarks
//! in one file only, or not comparable, are `<skipped>` with why; improvements, unchanged and
//! noisy benchmarks pass (compare exits 0 on them), and the summary, warnings and notes go to
//! the suite's `<system-out>`.

use hotpath_core::junit::{self, Outcome, TestCase, TestSuite};

use super::normalize::{ComparedAs, Normalize};
use super::verdict::Verdict;
use super::{CompareRow, Comparison};

fn classname(id: &str) -> String {
    format!("compare.{}", id.split('/').next().unwrap_or(id))
}

/// Why a regression is one, in one sentence.
fn reason(c: &Comparison, r: &CompareRow) -> String {
    let ratio = r.hl_ratio.unwrap_or(r.ratio);
    let what = match r.compared_as {
        ComparedAs::Time => "slower",
        ComparedAs::Efficiency => "less efficient",
    };
    let interval = match (r.ci_low, r.ci_high) {
        (Some(lo), Some(hi)) => format!(", 95 % interval [{lo:.3}, {hi:.3}]"),
        _ => String::new(),
    };
    let band = r
        .band
        .map(|b| format!(" and its run-to-run band of ±{:.1} %", 100.0 * b))
        .unwrap_or_default();
    format!(
        "{} is {:.1} % {what} (Hodges-Lehmann ratio {ratio:.3}{interval}), beyond the ±{} % threshold{band}",
        r.id,
        100.0 * (ratio - 1.0),
        c.threshold_pct
    )
}

fn skipped(id: &str, message: String) -> TestCase {
    TestCase::untimed(id, classname(id), Outcome::Skipped { message })
}

/// The JUnit document of a comparison made on host `hostname`.
pub fn compare(c: &Comparison, hostname: &str) -> String {
    let mut cases: Vec<TestCase> = c
        .rows
        .iter()
        .map(|r| TestCase {
            name: r.id.clone(),
            classname: classname(&r.id),
            time_s: r.new_median_s,
            outcome: if r.verdict == Verdict::Regression {
                Outcome::Failed {
                    kind: "regression".into(),
                    message: reason(c, r),
                    text: format!(
                        "median {:.6e} s (base) → {:.6e} s (new), {} and {} samples{}",
                        r.base_median_s,
                        r.new_median_s,
                        r.base_samples,
                        r.new_samples,
                        r.note
                            .as_ref()
                            .map(|n| format!("; {n}"))
                            .unwrap_or_default()
                    ),
                }
            } else {
                Outcome::Passed
            },
        })
        .collect();
    cases.extend(
        c.only_in_base
            .iter()
            .map(|id| skipped(id, "only in the base file".into())),
    );
    cases.extend(
        c.only_in_new
            .iter()
            .map(|id| skipped(id, "only in the new file".into())),
    );
    cases.extend(
        c.not_compared
            .iter()
            .map(|s| skipped(&s.id, format!("not compared: {}", s.reason))),
    );
    let mut out = vec![super::render::summary(c)];
    out.extend(c.warnings.iter().map(|w| format!("warning: {w}")));
    out.extend(
        c.rows
            .iter()
            .filter_map(|r| Some(format!("{} ({}): {}", r.id, r.verdict, r.note.as_ref()?))),
    );
    let suite = TestSuite {
        name: format!("hotpath compare {}", c.new.device),
        timestamp: c.new.created.clone(),
        hostname: hostname.to_string(),
        time_s: 0.0,
        properties: vec![
            ("base".into(), c.base.file.clone()),
            ("new".into(), c.new.file.clone()),
            ("base_git".into(), c.base.git.clone().unwrap_or_default()),
            ("new_git".into(), c.new.git.clone().unwrap_or_default()),
            ("threshold_pct".into(), c.threshold_pct.to_string()),
            (
                "normalize".into(),
                match c.normalize {
                    Normalize::None => "none",
                    Normalize::Bandwidth => "bandwidth",
                }
                .to_string(),
            ),
            ("method".into(), c.method.clone()),
        ],
        cases,
        system_out: out.join("\n"),
    };
    junit::render("hotpath.compare", &[suite])
}

#[cfg(test)]
mod tests {
    use hotpath_core::fixture::{bench, file, samples};
    use hotpath_core::format_check::{assert_invalid, assert_valid, Parser};
    use hotpath_core::op::OpKind;

    use crate::compare;

    #[test]
    fn a_regression_is_a_failure_with_its_reason_and_the_rest_pass_or_skip() {
        let (mut base, mut new) = (file(), file());
        // gemv: 30 samples around 1 ms (base) and 1.2 ms (new), ±1 % noise: a regression.
        base.benchmarks.push(bench(
            OpKind::Gemv,
            "m=1,n=4096,k=4096",
            "hotpath",
            samples(1, 30, 1e-3, 0.01),
        ));
        new.benchmarks.push(bench(
            OpKind::Gemv,
            "m=1,n=4096,k=4096",
            "hotpath",
            samples(2, 30, 1.2e-3, 0.01),
        ));
        // copy: the same both sides: unchanged.
        base.benchmarks.push(bench(
            OpKind::Copy,
            "elements=1M",
            "hotpath",
            samples(3, 30, 1e-4, 0.01),
        ));
        new.benchmarks.push(bench(
            OpKind::Copy,
            "elements=1M",
            "hotpath",
            samples(3, 30, 1e-4, 0.01),
        ));
        // triad: only in base.
        base.benchmarks.push(bench(
            OpKind::Triad,
            "elements=1M",
            "hotpath",
            samples(4, 30, 1e-4, 0.01),
        ));
        let c = compare(&base, &new, 5.0, "base.json", "new <1>.json").unwrap();
        assert_eq!(c.regressions, ["gemv/m=1,n=4096,k=4096/f32/hotpath"]);
        let xml = super::compare(&c, "ci-7");
        assert!(
            xml.contains("tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"1\""),
            "{xml}"
        );
        let r = &c.rows[0];
        let pct = 100.0 * (r.hl_ratio.unwrap() - 1.0);
        assert!((18.0..22.0).contains(&pct), "{pct}");
        let want = format!(
            "<failure type=\"regression\" message=\"gemv/m=1,n=4096,k=4096/f32/hotpath is {pct:.1} % slower (Hodges-Lehmann ratio {:.3}, 95 % interval [{:.3}, {:.3}]), beyond the ±5 % threshold\">",
            r.hl_ratio.unwrap(),
            r.ci_low.unwrap(),
            r.ci_high.unwrap()
        );
        assert!(xml.contains(&want), "{want}\n{xml}");
        let copy = format!(
            "<testcase name=\"{}\" classname=\"compare.copy\" time=",
            c.rows[1].id
        );
        assert!(xml.contains(&copy), "{copy}\n{xml}");
        assert!(xml.contains("<skipped message=\"only in the base file\"/>"));
        assert!(xml.contains("<property name=\"new\" value=\"new &lt;1&gt;.json\"/>"));
        assert!(xml.contains("hostname=\"ci-7\""));
        assert_valid(Parser::JunitSchema, &xml);
        assert_invalid(
            Parser::JunitSchema,
            &xml.replace(" classname=\"compare.copy\"", ""),
        );
    }
}
