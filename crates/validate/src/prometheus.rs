//! `--format prometheus` of `hotpath validate` and `hotpath fleet`: the text exposition format,
//! laid out for node_exporter's textfile collector (write it to `<dir>/hotpath.prom`, or let
//! `--export-prometheus` write it atomically) so GPU acceptance shows next to DCGM's health
//! in Prometheus and Grafana.
//!
//! Statuses are state sets (one sample per possible status, 1 for the one that holds, 0 for
//! the others) so an alert reads `hotpath_validate_check{status="fail"} == 1` and a series
//! never vanishes when a check recovers. Rates are in base units: bytes and floating-point
//! operations per second, hertz, ratios. docs/prometheus.md lists every family.

use hotpath_core::prometheus::Exposition;

use super::fleet::FleetReport;
use super::{Group, Status, ValidateReport};

/// A check's statuses, in the order their samples are written.
const CHECK_STATES: [Status; 4] = [Status::Pass, Status::Warn, Status::Fail, Status::Skip];
/// A device's or a run's verdicts.
const VERDICT_STATES: [Status; 3] = [Status::Pass, Status::Warn, Status::Fail];

/// The family-name suffix and the factor to base units of a check's or metric's `unit`;
/// None for units that are not a rate, clock or ratio.
pub fn base_unit(unit: &str) -> Option<(&'static str, f64)> {
    match unit {
        "B/s" => Some(("bytes_per_second", 1.0)),
        "FLOP/s" => Some(("flop_per_second", 1.0)),
        "MHz" => Some(("hertz", 1e6)),
        "ratio" => Some(("ratio", 1.0)),
        _ => None,
    }
}

fn state(s: Status) -> &'static str {
    match s {
        Status::Pass => "pass",
        Status::Warn => "warn",
        Status::Fail => "fail",
        Status::Skip => "skip",
    }
}

/// Seconds since 1970 of an RFC 3339 time, if it is one.
fn unix_seconds(rfc3339: &str) -> Option<f64> {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .map(|t| t.timestamp() as f64)
}

/// The exposition of a validate report.
pub fn validate(report: &ValidateReport) -> String {
    let mut e = Exposition::new();
    let node = report.host.hostname.as_str();
    let level = report.level.name();
    let git = report.tool.git.as_deref().unwrap_or("");
    e.gauge(
        "hotpath_validate_info",
        "The hotpath build and level of the last validation of this node (always 1).",
        &[
            ("node", node),
            ("version", &report.tool.version),
            ("git", git),
            ("level", level),
        ],
        1.0,
    );
    if let Some(t) = unix_seconds(&report.created) {
        e.gauge(
            "hotpath_validate_timestamp_seconds",
            "When the last validation of this node started, seconds since 1970.",
            &[("node", node)],
            t,
        );
    }
    e.gauge(
        "hotpath_validate_duration_seconds",
        "Wall time of the last validation of this node, seconds.",
        &[("node", node)],
        report.wall_s,
    );
    e.gauge(
        "hotpath_validate_interrupted",
        "1 when the last validation was cut short by a signal (its checks are what ran).",
        &[("node", node)],
        f64::from(u8::from(report.interrupted)),
    );
    for s in VERDICT_STATES {
        e.gauge(
            "hotpath_validate_node_status",
            "Verdict of the last validation of this node over every device: 1 for the verdict that holds.",
            &[("node", node), ("status", state(s))],
            f64::from(u8::from(report.status == s)),
        );
    }
    for d in &report.devices {
        let device = format!("{}:{}", d.backend, d.index);
        for s in VERDICT_STATES {
            e.gauge(
                "hotpath_validate_device_status",
                "Verdict of the last validation of this device: 1 for the verdict that holds.",
                &[
                    ("node", node),
                    ("device", &device),
                    ("hardware", &d.hardware),
                    ("status", state(s)),
                ],
                f64::from(u8::from(d.status == s)),
            );
        }
    }
    for c in &report.checks {
        let Some(d) = report.devices.iter().find(|d| d.index == c.device) else {
            continue;
        };
        let device = format!("{}:{}", d.backend, d.index);
        for s in CHECK_STATES {
            e.gauge(
                "hotpath_validate_check",
                "Status of one check of the last validation (code: docs/failure-codes.md): 1 for the status that holds.",
                &[
                    ("node", node),
                    ("device", &device),
                    ("hardware", &d.hardware),
                    ("check", &c.name),
                    ("code", &c.code),
                    ("status", state(s)),
                ],
                f64::from(u8::from(c.status == s)),
            );
        }
    }
    for c in &report.checks {
        if !matches!(c.group, Group::Perf | Group::Sustained) {
            continue;
        }
        let (Some((unit, scale)), Some(d)) = (
            base_unit(&c.unit),
            report.devices.iter().find(|d| d.index == c.device),
        ) else {
            continue;
        };
        let device = format!("{}:{}", d.backend, d.index);
        let labels = [
            ("node", node),
            ("device", device.as_str()),
            ("hardware", d.hardware.as_str()),
            ("check", c.name.as_str()),
        ];
        if let Some(v) = c.value.as_f64().filter(|v| v.is_finite()) {
            e.gauge(
                &format!("hotpath_benchmark_rate_{unit}"),
                &format!("What a performance or sustained-load check of the last validation measured, {}.", unit.replace('_', " ")),
                &labels,
                v * scale,
            );
        }
        for (line, value) in [("fail", c.threshold.as_f64()), ("warn", c.warn_threshold)] {
            if let Some(v) = value.filter(|v| v.is_finite()) {
                let mut with_line = labels.to_vec();
                with_line.push(("line", line));
                e.gauge(
                    &format!("hotpath_benchmark_threshold_{unit}"),
                    &format!(
                        "The FAIL and WARN lines a check was judged against, {}.",
                        unit.replace('_', " ")
                    ),
                    &with_line,
                    v * scale,
                );
            }
        }
    }
    e.render()
}

/// The state of a node in a fleet report, worst first: `missing` (no report), `fail` (its own
/// validation failed), `slow` (flagged), `ok`.
const NODE_STATES: [&str; 4] = ["ok", "slow", "fail", "missing"];
/// The help text of `hotpath_fleet_node_status`, written for members and missing nodes alike.
const NODE_STATUS_HELP: &str = "A node's state in the fleet report (missing: no report; fail: its validation failed; slow: flagged below the fleet): 1 for the state that holds.";

/// The exposition of a fleet report.
pub fn fleet(report: &FleetReport) -> String {
    let mut e = Exposition::new();
    for g in &report.groups {
        e.gauge(
            "hotpath_fleet_nodes",
            "Nodes (devices) of this hardware id in the fleet report.",
            &[("hardware", &g.hardware)],
            g.members.len() as f64,
        );
        for m in &g.metrics {
            let Some((unit, scale)) = base_unit(&m.unit) else {
                continue;
            };
            let labels = [
                ("hardware", g.hardware.as_str()),
                ("metric", m.name.as_str()),
            ];
            e.gauge(
                &format!("hotpath_fleet_median_{unit}"),
                &format!(
                    "The fleet's median of a metric, {}.",
                    unit.replace('_', " ")
                ),
                &labels,
                m.median * scale,
            );
            if let Some(low) = m.low {
                e.gauge(
                    &format!("hotpath_fleet_slow_below_{unit}"),
                    &format!(
                        "A node below this is flagged slow on the metric, {}.",
                        unit.replace('_', " ")
                    ),
                    &labels,
                    low * scale,
                );
            }
        }
        for member in &g.members {
            let (node, device) = split_node(&member.node);
            let slow = g
                .outliers
                .iter()
                .any(|o| o.node == member.node && o.direction == "slow");
            let now = if member.validate == Some(Status::Fail) {
                "fail"
            } else if slow {
                "slow"
            } else {
                "ok"
            };
            for s in NODE_STATES {
                e.gauge(
                    "hotpath_fleet_node_status",
                    NODE_STATUS_HELP,
                    &[
                        ("node", &node),
                        ("device", device),
                        ("hardware", &g.hardware),
                        ("status", s),
                    ],
                    f64::from(u8::from(s == now)),
                );
            }
            for (metric, v) in &member.metrics {
                let unit = g
                    .metrics
                    .iter()
                    .find(|m| &m.name == metric)
                    .map(|m| m.unit.as_str());
                let Some((unit, scale)) = unit.and_then(base_unit) else {
                    continue;
                };
                e.gauge(
                    &format!("hotpath_fleet_value_{unit}"),
                    &format!(
                        "A node's value of a fleet metric, {}.",
                        unit.replace('_', " ")
                    ),
                    &[
                        ("node", &node),
                        ("device", device),
                        ("hardware", &g.hardware),
                        ("metric", metric),
                    ],
                    v * scale,
                );
            }
        }
        for o in &g.outliers {
            let (node, device) = split_node(&o.node);
            e.gauge(
                "hotpath_fleet_outlier_z",
                "A flagged value's distance from the fleet's median in robust spreads (negative: slow).",
                &[("node", &node), ("device", device), ("hardware", &g.hardware), ("metric", &o.metric), ("direction", &o.direction)],
                o.z,
            );
        }
    }
    for node in &report.missing_nodes {
        for s in NODE_STATES {
            e.gauge(
                "hotpath_fleet_node_status",
                NODE_STATUS_HELP,
                &[
                    ("node", node),
                    ("device", ""),
                    ("hardware", ""),
                    ("status", s),
                ],
                f64::from(u8::from(s == "missing")),
            );
        }
    }
    e.render()
}

/// `gpu-07 cuda:0 [gpu-07-a]` → (`gpu-07 [gpu-07-a]`, `cuda:0`): a fleet member's name is
/// the host name and the device, with a tag when one host came more than once; the tag stays
/// with the node so repeated validations of one host stay apart.
fn split_node(member: &str) -> (String, &str) {
    match member.split_once(' ') {
        Some((host, rest)) => {
            let (device, tag) = rest.split_once(' ').unwrap_or((rest, ""));
            if device.contains(':') {
                let node = if tag.is_empty() {
                    host.to_string()
                } else {
                    format!("{host} {tag}")
                };
                (node, device)
            } else {
                (member.to_string(), "")
            }
        }
        None => (member.to_string(), ""),
    }
}
