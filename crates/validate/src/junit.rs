//! `--format junit` of `hotpath validate` and `hotpath fleet`: JUnit XML for CI dashboards.
//!
//! Validate: one test suite per device, one test case per check (classname
//! `<node>.<backend><index>.<group>`, name the check). FAIL is a `<failure>` whose type is the
//! check's failure code and whose message is its one-sentence reason; SKIP is `<skipped>`;
//! PASS and WARN pass (validate exits 0 on WARN too), and every WARN is listed with its code
//! in the suite's `<system-out>`. Fleet: one suite per hardware id, one case per node, a
//! slow or failed node a `<failure>`, a missing node a `<failure>` of its own suite.

use hotpath_core::junit::{self, Outcome, TestCase, TestSuite};

use super::fleet::FleetReport;
use super::render::show;
use super::{Check, Group, Status, ValidateReport};

fn group_name(g: Group) -> &'static str {
    match g {
        Group::Health => "health",
        Group::Correctness => "correctness",
        Group::Perf => "perf",
        Group::Sustained => "sustained",
        Group::Device => "device",
    }
}

/// The measured value and the lines, for a failure's text.
fn values(c: &Check) -> String {
    let mut s = format!("value {}", show(&c.value, &c.unit));
    if !c.threshold.is_null() {
        s.push_str(&format!(", FAIL line {}", show(&c.threshold, &c.unit)));
    }
    if let Some(w) = c.warn_threshold {
        s.push_str(&format!(
            ", WARN line {}",
            show(&serde_json::json!(w), &c.unit)
        ));
    }
    s
}

fn code_or(c: &Check, other: &str) -> String {
    if c.code.is_empty() {
        other.to_string()
    } else {
        c.code.clone()
    }
}

/// The JUnit document of a validate report.
pub fn validate(report: &ValidateReport) -> String {
    let node = report.host.hostname.as_str();
    let suites: Vec<TestSuite> = report
        .devices
        .iter()
        .map(|d| {
            let class = format!("{node}.{}{}", d.backend, d.index);
            let mut warnings = Vec::new();
            let cases = report
                .checks
                .iter()
                .filter(|c| c.device == d.index)
                .map(|c| {
                    let outcome = match c.status {
                        Status::Pass => Outcome::Passed,
                        Status::Warn => {
                            warnings.push(format!(
                                "WARN {} {}: {}",
                                code_or(c, "-"),
                                c.name,
                                c.detail
                            ));
                            Outcome::Passed
                        }
                        Status::Skip => Outcome::Skipped {
                            message: c.detail.clone(),
                        },
                        Status::Fail => Outcome::Failed {
                            kind: code_or(c, "FAIL"),
                            message: c.detail.clone(),
                            text: values(c),
                        },
                    };
                    TestCase::untimed(
                        c.name.as_str(),
                        format!("{class}.{}", group_name(c.group)),
                        outcome,
                    )
                })
                .collect();
            let mut out = format!(
                "{} {}:{} ({}): {}",
                node,
                d.backend,
                d.index,
                d.name,
                d.status.name()
            );
            if let Some(n) = &d.verdict_note {
                out.push_str(&format!(": {n}"));
            }
            for w in warnings {
                out.push('\n');
                out.push_str(&w);
            }
            TestSuite {
                name: format!("hotpath validate {node} {}:{}", d.backend, d.index),
                timestamp: report.created.clone(),
                hostname: node.to_string(),
                time_s: d.wall_s,
                properties: vec![
                    ("level".into(), report.level.name().into()),
                    ("device".into(), d.name.clone()),
                    ("hardware".into(), d.hardware.clone()),
                    ("health_source".into(), d.health_source.clone()),
                    ("cache".into(), "cold".into()),
                    ("hotpath_version".into(), report.tool.version.clone()),
                    (
                        "hotpath_git".into(),
                        report.tool.git.clone().unwrap_or_default(),
                    ),
                    (
                        "injected_faults".into(),
                        report.config.injected_faults.clone().unwrap_or_default(),
                    ),
                ],
                cases,
                system_out: out,
            }
        })
        .collect();
    junit::render("hotpath.validate", &suites)
}

/// The JUnit document of a fleet report; `created` (RFC 3339) is when it was made.
pub fn fleet(report: &FleetReport, created: &str, hostname: &str) -> String {
    let mut suites: Vec<TestSuite> = report
        .groups
        .iter()
        .map(|g| {
            let cases = g
                .members
                .iter()
                .map(|m| {
                    let flags: Vec<String> = g
                        .outliers
                        .iter()
                        .filter(|o| o.node == m.node && o.direction == "slow")
                        .map(|o| {
                            format!(
                                "slow on {}: {:+.1} % from the fleet's median (z {:.1})",
                                o.metric, o.delta_pct, o.z
                            )
                        })
                        .collect();
                    let outcome = if m.validate == Some(Status::Fail) {
                        Outcome::Failed {
                            kind: "validate".into(),
                            message: format!("{} failed its own validation ({})", m.node, m.file),
                            text: flags.join("; "),
                        }
                    } else if !flags.is_empty() {
                        Outcome::Failed {
                            kind: "slow".into(),
                            message: format!("{} is {}", m.node, flags.join("; ")),
                            text: format!("report {}", m.file),
                        }
                    } else {
                        Outcome::Passed
                    };
                    TestCase::untimed(m.node.as_str(), format!("fleet.{}", g.hardware), outcome)
                })
                .collect();
            TestSuite {
                name: format!("hotpath fleet {}", g.hardware),
                timestamp: created.to_string(),
                hostname: hostname.to_string(),
                time_s: 0.0,
                properties: vec![
                    ("k".into(), report.k.to_string()),
                    (
                        "baseline".into(),
                        report.baseline.clone().unwrap_or_default(),
                    ),
                ],
                cases,
                system_out: g.note.clone().unwrap_or_default(),
            }
        })
        .collect();
    if report.expected_nodes.is_some() {
        suites.push(TestSuite {
            name: "hotpath fleet expected nodes".into(),
            timestamp: created.to_string(),
            hostname: hostname.to_string(),
            time_s: 0.0,
            properties: vec![(
                "expected".into(),
                report.expected_nodes.unwrap_or(0).to_string(),
            )],
            cases: report
                .missing_nodes
                .iter()
                .map(|n| {
                    TestCase::untimed(
                        n.as_str(),
                        "fleet.missing",
                        Outcome::Failed {
                            kind: "missing".into(),
                            message: format!("{n} was expected and sent no report"),
                            text: String::new(),
                        },
                    )
                })
                .collect(),
            system_out: String::new(),
        });
    }
    junit::render("hotpath.fleet", &suites)
}
