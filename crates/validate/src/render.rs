//! The `hotpath validate` report as a text table: per device, one line per check with its
//! status, value, threshold and reason, then the verdict.

use std::fmt::Write;

use super::{Check, Group, Status, ValidateReport};

/// A check's value or threshold as short text in its unit.
pub fn show(v: &serde_json::Value, unit: &str) -> String {
    match v {
        serde_json::Value::Null => "-".to_string(),
        serde_json::Value::Bool(b) => if *b { "yes" } else { "no" }.to_string(),
        serde_json::Value::Number(n) => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            match unit {
                "B/s" => super::perf::Metric::BytesPerS.format(x),
                "FLOP/s" => super::perf::Metric::FlopsPerS.format(x),
                "nmse" => format!("{x:.1e}"),
                "ratio" => format!("{x:.3}"),
                "MHz" | "W" | "C" => format!("{x:.0} {unit}"),
                _ if x.fract() == 0.0 => format!("{x:.0} {unit}"),
                _ => format!("{x:.3} {unit}"),
            }
        }
        serde_json::Value::Array(a) if a.is_empty() => "none".to_string(),
        serde_json::Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_string))
            .collect::<Vec<_>>()
            .join(","),
        other => other.to_string(),
    }
}

fn threshold_text(c: &Check) -> String {
    let base = show(&c.threshold, &c.unit);
    match c.warn_threshold {
        Some(w) => format!("fail<{base} warn<{}", show(&serde_json::json!(w), &c.unit)),
        None => base,
    }
}

/// One line of the text table: a check, or several alike checks folded into one.
struct Row {
    name: String,
    status: Status,
    code: String,
    value: String,
    threshold: String,
    detail: String,
}

impl Row {
    fn of(c: &Check) -> Row {
        Row {
            name: c.name.clone(),
            status: c.status,
            code: if c.code.is_empty() {
                "-".to_string()
            } else {
                c.code.clone()
            },
            value: show(&c.value, &c.unit),
            threshold: threshold_text(c),
            detail: c.detail.clone(),
        }
    }
}

/// The rows of one device's checks. Every WARN and FAIL, and every check that is neither a
/// passing correctness check nor a SKIP, has its own row; passing correctness checks fold
/// into one row (with the worst nmse), and SKIPs with the same reason into one row per
/// reason, so the table stays readable. The JSON report keeps every check.
fn rows(checks: &[&Check]) -> Vec<Row> {
    let mut out: Vec<Row> = Vec::new();
    let passing: Vec<&&Check> = checks
        .iter()
        .filter(|c| c.group == Group::Correctness && c.status == Status::Pass)
        .collect();
    let mut folded_correctness = false;
    let mut folded_skips: Vec<String> = Vec::new();
    for c in checks {
        if c.group == Group::Correctness && c.status == Status::Pass {
            if folded_correctness {
                continue;
            }
            folded_correctness = true;
            // The worst is the one nearest its own tolerance (dtypes differ in tolerance).
            let near = |c: &Check| match (c.value.as_f64(), c.threshold.as_f64()) {
                (Some(v), Some(t)) if t > 0.0 => v / t,
                (Some(v), _) => v,
                _ => 0.0,
            };
            let worst = passing
                .iter()
                .filter_map(|c| Some((c.value.as_f64()?, c)))
                .max_by(|a, b| near(a.1).total_cmp(&near(b.1)));
            let mut row = Row::of(c);
            row.name = format!("correctness ({} kernels)", passing.len());
            row.detail = format!(
                "every output matches its reference{}",
                worst.map_or(String::new(), |(v, w)| format!(
                    "; worst nmse {v:.1e} (tolerance {}) in {}",
                    show(&w.threshold, "nmse"),
                    w.name.trim_start_matches("correctness/")
                ))
            );
            row.value = worst.map_or("-".into(), |(v, _)| format!("{v:.1e}"));
            row.threshold = "-".into();
            out.push(row);
            continue;
        }
        if c.status == Status::Skip {
            if folded_skips.contains(&c.detail) {
                continue;
            }
            folded_skips.push(c.detail.clone());
            let alike: Vec<&&Check> = checks
                .iter()
                .filter(|o| o.status == Status::Skip && o.detail == c.detail)
                .collect();
            if alike.len() > 1 {
                let names: Vec<&str> = alike.iter().map(|o| o.name.as_str()).collect();
                out.push(Row {
                    name: format!("{} checks", alike.len()),
                    status: Status::Skip,
                    code: "-".into(),
                    value: "-".into(),
                    threshold: "-".into(),
                    detail: format!("{}: {}", c.detail, names.join(", ")),
                });
                continue;
            }
        }
        out.push(Row::of(c));
    }
    out
}

/// The whole report as text.
pub fn table(report: &ValidateReport) -> String {
    let mut s = String::new();
    for d in &report.devices {
        let _ = writeln!(
            s,
            "validate {} {} ({}) | hardware {} | level {} | health from {} | {:.1} s",
            d.backend,
            d.index,
            if d.name.is_empty() { "?" } else { &d.name },
            d.hardware,
            report.level.name(),
            d.health_source,
            d.wall_s
        );
        let checks: Vec<&Check> = report
            .checks
            .iter()
            .filter(|c| c.device == d.index)
            .collect();
        let rows = rows(&checks);
        let w = rows.iter().map(|r| r.name.len()).max().unwrap_or(5).max(5);
        let vw = rows.iter().map(|r| r.value.len()).max().unwrap_or(5).max(5);
        let tw = rows
            .iter()
            .map(|r| r.threshold.len())
            .max()
            .unwrap_or(9)
            .max(9);
        let _ = writeln!(
            s,
            "{:<w$}  {:<6} {:<5}  {:<vw$}  {:<tw$}  detail",
            "check", "status", "code", "value", "threshold"
        );
        for r in rows {
            let _ = writeln!(
                s,
                "{:<w$}  {:<6} {:<5}  {:<vw$}  {:<tw$}  {}",
                r.name,
                r.status.name(),
                r.code,
                r.value,
                r.threshold,
                r.detail
            );
        }
        let _ = writeln!(
            s,
            "device {} verdict: {} ({} PASS, {} WARN, {} FAIL, {} SKIP){}\n",
            d.index,
            d.status.name(),
            d.counts.pass,
            d.counts.warn,
            d.counts.fail,
            d.counts.skip,
            d.verdict_note
                .as_ref()
                .map_or(String::new(), |n| format!(": {n}"))
        );
    }
    let failing: Vec<String> = report
        .devices
        .iter()
        .filter(|d| d.status == Status::Fail)
        .map(|d| d.index.to_string())
        .collect();
    let _ = writeln!(
        s,
        "verdict: {}{} | {} device(s) | {:.1} s{}",
        report.status.name(),
        if failing.is_empty() {
            String::new()
        } else {
            format!(" (device {} failed)", failing.join(", "))
        },
        report.devices.len(),
        report.wall_s,
        if report.interrupted {
            " | interrupted: the checks above are what ran"
        } else if report.devices.is_empty() {
            " | nothing was validated"
        } else {
            ""
        }
    );
    s
}

/// The `hotpath fleet` report as text: per hardware id, the statistics of each metric, then
/// every node with what it was flagged for.
pub fn fleet_table(report: &super::fleet::FleetReport) -> String {
    let mut s = String::new();
    for g in &report.groups {
        let _ = writeln!(
            s,
            "fleet {}: {} node(s), {} metric(s) | flagged beyond k = {} spreads from the median; spread = {} x MAD, kept within {:.0} % and {:.0} % of the median",
            g.hardware,
            g.members.len(),
            g.metrics.len(),
            report.k,
            report.mad_scale,
            100.0 * report.min_rel_spread,
            100.0 * report.max_rel_spread
        );
        if let Some(n) = &g.note {
            let _ = writeln!(s, "note: {n}");
        }
        for m in g.metrics.iter().filter(|m| m.capped && m.low.is_some()) {
            let _ = writeln!(
                s,
                "note: {}: the nodes differ widely ({} x MAD = {:.0} % of the median); the spread is capped at {:.0} %, so a node more than {:.0} % from the median is flagged",
                m.name,
                report.mad_scale,
                100.0 * report.mad_scale * m.mad / m.median.abs(),
                100.0 * report.max_rel_spread,
                100.0 * report.k * report.max_rel_spread
            );
        }
        let fmt = |v: f64, unit: &str| show(&serde_json::json!(v), unit);
        let w = g
            .metrics
            .iter()
            .map(|m| m.name.len())
            .max()
            .unwrap_or(6)
            .max(6);
        let _ = writeln!(
            s,
            "{:<w$}  {:>4}  {:>14}  {:>14}  {:>14}  from",
            "metric", "n", "median", "MAD", "slow below"
        );
        for m in &g.metrics {
            let _ = writeln!(
                s,
                "{:<w$}  {:>4}  {:>14}  {:>14}  {:>14}  {}",
                m.name,
                m.n,
                fmt(m.median, &m.unit),
                fmt(m.mad, &m.unit),
                m.low.map_or("-".to_string(), |l| fmt(l, &m.unit)),
                if m.from_baseline {
                    "baseline"
                } else {
                    "this fleet"
                }
            );
        }
        let nw = g
            .members
            .iter()
            .map(|m| m.node.len())
            .max()
            .unwrap_or(4)
            .max(4);
        let _ = writeln!(s, "{:<nw$}  {:<8}  flagged", "node", "validate");
        for m in &g.members {
            let flags: Vec<String> = g
                .outliers
                .iter()
                .filter(|o| o.node == m.node)
                .map(|o| {
                    let unit = g
                        .metrics
                        .iter()
                        .find(|x| x.name == o.metric)
                        .map_or("", |x| x.unit.as_str());
                    format!(
                        "{} {} {} ({:+.1} %, z {:.1})",
                        o.direction,
                        o.metric,
                        fmt(o.value, unit),
                        o.delta_pct,
                        o.z
                    )
                })
                .collect();
            let _ = writeln!(
                s,
                "{:<nw$}  {:<8}  {}",
                m.node,
                m.validate.map_or("-", |v| v.name()),
                if flags.is_empty() {
                    "-".to_string()
                } else {
                    flags.join("; ")
                }
            );
        }
        let _ = writeln!(s);
    }
    let _ = writeln!(
        s,
        "slow nodes: {}",
        if report.slow_nodes.is_empty() {
            "none".to_string()
        } else {
            report.slow_nodes.join(", ")
        }
    );
    if let Some(expected) = report.expected_nodes {
        let _ = writeln!(
            s,
            "missing nodes: {} ({} expected, {} sent no report)",
            if report.missing_nodes.is_empty() {
                "none".to_string()
            } else {
                report.missing_nodes.join(", ")
            },
            expected,
            report.missing_nodes.len()
        );
    }
    if let Some(b) = &report.baseline {
        let _ = writeln!(s, "baseline: {b}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(name: &str, group: Group, status: Status, value: f64, tol: f64, detail: &str) -> Check {
        Check::new(group, name, status)
            .value(value, "nmse")
            .threshold(tol)
            .detail(detail)
    }

    #[test]
    fn passing_correctness_and_alike_skips_fold_failures_stay() {
        let checks = [
            c("health/a", Group::Health, Status::Skip, 0.0, 0.0, "n/a"),
            c("health/b", Group::Health, Status::Skip, 0.0, 0.0, "n/a"),
            c("health/c", Group::Health, Status::Skip, 0.0, 0.0, "other"),
            // 1e-9 of 1e-8 is nearer its tolerance than 1e-6 of 2e-4: it is the worst.
            c(
                "correctness/x",
                Group::Correctness,
                Status::Pass,
                1e-6,
                2e-4,
                "",
            ),
            c(
                "correctness/y",
                Group::Correctness,
                Status::Pass,
                1e-9,
                1e-8,
                "",
            ),
            c(
                "correctness/z",
                Group::Correctness,
                Status::Fail,
                0.3,
                2e-4,
                "WRONG",
            ),
        ];
        let refs: Vec<&Check> = checks.iter().collect();
        let r = rows(&refs);
        let names: Vec<&str> = r.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "2 checks",
                "health/c",
                "correctness (2 kernels)",
                "correctness/z"
            ]
        );
        assert_eq!(r[0].detail, "n/a: health/a, health/b");
        assert_eq!(r[2].value, "1.0e-9");
        assert!(r[2].detail.ends_with("in y"), "{}", r[2].detail);
        assert_eq!(r[3].status, Status::Fail);
    }
}
