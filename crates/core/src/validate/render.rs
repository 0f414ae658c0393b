//! The `hotpath validate` report as a text table: per device, one line per check with its
//! status, value, threshold and reason, then the verdict.

use std::fmt::Write;

use super::{Check, Status, ValidateReport};

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
        let w = checks
            .iter()
            .map(|c| c.name.len())
            .max()
            .unwrap_or(5)
            .max(5);
        let rows: Vec<(String, String)> = checks
            .iter()
            .map(|c| (show(&c.value, &c.unit), threshold_text(c)))
            .collect();
        let vw = rows.iter().map(|r| r.0.len()).max().unwrap_or(5).max(5);
        let tw = rows.iter().map(|r| r.1.len()).max().unwrap_or(9).max(9);
        let _ = writeln!(
            s,
            "{:<w$}  {:<6} {:<vw$}  {:<tw$}  detail",
            "check", "status", "value", "threshold"
        );
        for (c, (v, t)) in checks.iter().zip(rows) {
            let _ = writeln!(
                s,
                "{:<w$}  {:<6} {:<vw$}  {:<tw$}  {}",
                c.name,
                c.status.name(),
                v,
                t,
                c.detail
            );
        }
        let _ = writeln!(
            s,
            "device {} verdict: {} ({} PASS, {} WARN, {} FAIL, {} SKIP)\n",
            d.index,
            d.status.name(),
            d.counts.pass,
            d.counts.warn,
            d.counts.fail,
            d.counts.skip
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
            "fleet {}: {} node(s), {} metric(s) | flagged beyond k = {} spreads from the median; spread = max({} x MAD, {:.0} % of the median)",
            g.hardware,
            g.members.len(),
            g.metrics.len(),
            report.k,
            report.mad_scale,
            100.0 * report.min_rel_spread
        );
        if let Some(n) = &g.note {
            let _ = writeln!(s, "note: {n}");
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
            "{:<w$}  {:>4}  {:>14}  {:>14}  {:>14}",
            "metric", "n", "median", "MAD", "slow below"
        );
        for m in &g.metrics {
            let _ = writeln!(
                s,
                "{:<w$}  {:>4}  {:>14}  {:>14}  {:>14}",
                m.name,
                m.n,
                fmt(m.median, &m.unit),
                fmt(m.mad, &m.unit),
                m.low.map_or("-".to_string(), |l| fmt(l, &m.unit))
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
    s
}
