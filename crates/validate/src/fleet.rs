//! `hotpath fleet`: across many nodes' validate (or run) results of one hardware id, a robust
//! outlier table, so the slow GPU among 64 is found even when every one passes its
//! thresholds.
//!
//! Per metric: the median and the median absolute deviation (MAD) over the fleet; the spread
//! is 1.4826 × MAD (the factor that makes the MAD estimate a normal distribution's standard
//! deviation), floored at 1 % of the median so that nodes measured alike (MAD ≈ 0) do not
//! flag differences that are only noise, and capped at 10 % of the median so that a fleet
//! whose nodes disagree widely (a bimodal fleet, a loaded machine, a few broken nodes among
//! few) cannot hide a node far below the rest: with k = 3 a node more than 30 % below the
//! median is always flagged. A node whose value lies more than k spreads below the median
//! is flagged `slow` (exit 1); more than k above, `fast` (listed, not a failure).
//! Every metric is higher-is-better (rates, clocks, stability ratios). At least 3 nodes are
//! needed to judge anything.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

use hotpath_core::error::{Error, Result};
use hotpath_core::results::{ResultsFile, Status as RunStatus};
use hotpath_core::stats;

use super::{Group, Status, ValidateReport};

/// Schema of `hotpath fleet --format json`.
pub const SCHEMA: &str = "hotpath.fleet/1";
/// MAD × this estimates the standard deviation of normally distributed values.
pub const MAD_SCALE: f64 = 1.4826;
/// Default number of spreads beyond which a node is flagged.
pub const DEFAULT_K: f64 = 3.0;
/// The spread is at least this fraction of the median.
pub const MIN_REL_SPREAD: f64 = 0.01;
/// The spread is at most this fraction of the median. A healthy GPU fleet's nodes differ by
/// a few percent; a MAD beyond this says the fleet itself is split, and without the cap the
/// slow threshold would fall towards (or below) zero and flag nothing.
pub const MAX_REL_SPREAD: f64 = 0.10;
/// Fewest nodes with a metric for it to be judged.
pub const MIN_NODES: usize = 3;

/// One device of one node, from one file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Member {
    /// Node (host name) and device, e.g. `gpu-07 cuda:0`.
    pub node: String,
    /// The host name alone, as the report gives it (matched against `--expect-nodes`).
    #[serde(default)]
    pub host: String,
    /// hardware/*.toml id.
    pub hardware: String,
    /// The file it came from.
    pub file: String,
    /// The device's validate verdict (None for a run's results file).
    pub validate: Option<Status>,
    /// Metric name → value (higher is better).
    pub metrics: BTreeMap<String, f64>,
    /// Metric name → unit.
    #[serde(skip)]
    pub units: BTreeMap<String, String>,
}

/// Units the fleet compares from a validate report (all higher-is-better).
const FLEET_UNITS: [&str; 4] = ["B/s", "FLOP/s", "MHz", "ratio"];

/// The members of a validate report: one per device, with its perf and sustained values.
pub fn from_validate(report: &ValidateReport, file: &str) -> Vec<Member> {
    report
        .devices
        .iter()
        .map(|d| {
            let mut m = Member {
                node: format!("{} {}:{}", report.host.hostname, d.backend, d.index),
                host: report.host.hostname.clone(),
                hardware: d.hardware.clone(),
                file: file.to_string(),
                validate: Some(d.status),
                metrics: BTreeMap::new(),
                units: BTreeMap::new(),
            };
            for c in report.checks.iter().filter(|c| c.device == d.index) {
                if !matches!(c.group, Group::Perf | Group::Sustained)
                    || !FLEET_UNITS.contains(&c.unit.as_str())
                {
                    continue;
                }
                if let Some(v) = c.value.as_f64().filter(|v| v.is_finite()) {
                    m.metrics.insert(c.name.clone(), v);
                    m.units.insert(c.name.clone(), c.unit.clone());
                }
            }
            m
        })
        .collect()
}

/// The member of a run's results file: one metric per measured benchmark (FLOP/s where the
/// op does arithmetic, else B/s).
pub fn from_results(file: &ResultsFile, name: &str) -> Member {
    let mut m = Member {
        node: format!(
            "{} {}:{}",
            file.host.hostname, file.device.backend, file.device.index
        ),
        host: file.host.hostname.clone(),
        hardware: file.hardware.id.clone(),
        file: name.to_string(),
        validate: None,
        metrics: BTreeMap::new(),
        units: BTreeMap::new(),
    };
    for b in file.benchmarks.iter().filter(|b| b.status == RunStatus::Ok) {
        let Some(r) = b.rates else { continue };
        let (v, unit) = if b.flops > 0 {
            (r.flops_per_s, "FLOP/s")
        } else {
            (r.bytes_per_s, "B/s")
        };
        if v.is_finite() && v > 0.0 {
            m.metrics.insert(b.id.clone(), v);
            m.units.insert(b.id.clone(), unit.to_string());
        }
    }
    m
}

/// Parses a validate report or a results file into members; `name` names it in errors.
pub fn parse_file(text: &str, name: &str) -> Result<Vec<Member>> {
    let schema = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .and_then(|v| v.get("schema")?.as_str().map(str::to_string));
    match schema.as_deref() {
        Some(super::SCHEMA) => Ok(from_validate(&ValidateReport::parse(text, name)?, name)),
        Some(hotpath_core::results::SCHEMA) => Ok(vec![from_results(
            &ResultsFile::parse(text, name)?,
            name,
        )]),
        _ => Err(Error::bad_input(format!(
            "{name} is neither a validate report ({}) nor a results file ({}); give files written by hotpath validate --out or hotpath run --out",
            super::SCHEMA,
            hotpath_core::results::SCHEMA
        ))),
    }
}

/// Fleet statistics of one metric.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricStats {
    /// Metric name (`perf/copy`, or a benchmark id).
    pub name: String,
    /// Its unit.
    pub unit: String,
    /// Nodes with a value.
    pub n: usize,
    /// Median over those nodes.
    pub median: f64,
    /// Median absolute deviation (unscaled).
    pub mad: f64,
    /// The spread used: 1.4826 × MAD, kept within 1 % and 10 % of |median|.
    pub spread: f64,
    /// Whether 1.4826 × MAD exceeded 10 % of |median| and the spread was capped there.
    #[serde(default)]
    pub capped: bool,
    /// Values below this are flagged slow (median − k × spread); None when n < 3.
    pub low: Option<f64>,
    /// Values above this are flagged fast.
    pub high: Option<f64>,
    /// True when median, MAD, spread and lines are the baseline fleet's (`--baseline`), not
    /// this fleet's own; `n` is still this fleet's count.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub from_baseline: bool,
}

/// One flagged value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outlier {
    /// The node.
    pub node: String,
    /// The metric.
    pub metric: String,
    /// Its value.
    pub value: f64,
    /// (value − median) ÷ spread.
    pub z: f64,
    /// (value − median) ÷ median, percent.
    pub delta_pct: f64,
    /// `slow` or `fast`.
    pub direction: String,
}

/// The outlier table of one hardware id.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FleetGroup {
    /// hardware/*.toml id.
    pub hardware: String,
    /// Every member, in input order.
    pub members: Vec<Member>,
    /// Statistics per metric, sorted by name.
    pub metrics: Vec<MetricStats>,
    /// Flagged values, slow first.
    pub outliers: Vec<Outlier>,
    /// Why nothing could be judged, when so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A `hotpath fleet` report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FleetReport {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// Spreads beyond which a value is flagged.
    pub k: f64,
    /// The MAD scale factor, 1.4826.
    pub mad_scale: f64,
    /// The spread's floor as a fraction of the median.
    pub min_rel_spread: f64,
    /// The spread's cap as a fraction of the median.
    #[serde(default = "default_max_rel_spread")]
    pub max_rel_spread: f64,
    /// One table per hardware id.
    pub groups: Vec<FleetGroup>,
    /// Nodes flagged slow on some metric, over every group.
    pub slow_nodes: Vec<String>,
    /// Nodes that were expected (`--expect-nodes`) and sent no report: a node that died or
    /// never ran. A failure, like a slow node.
    #[serde(default)]
    pub missing_nodes: Vec<String>,
    /// How many nodes were expected, when a list was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_nodes: Option<usize>,
    /// The earlier fleet report whose statistics judged this one (`--baseline`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
}

fn default_max_rel_spread() -> f64 {
    MAX_REL_SPREAD
}

/// The outlier report of `members` with threshold `k` spreads, each group judged by its own
/// statistics.
pub fn analyze(members: Vec<Member>, k: f64) -> Result<FleetReport> {
    analyze_against(members, k, None)
}

/// An earlier fleet report to judge against, and the name it is known by.
pub struct Baseline<'a> {
    /// The report.
    pub report: &'a FleetReport,
    /// Its file, for the record.
    pub name: String,
}

/// [`analyze`], with every metric the baseline judged (same hardware id and name) judged by
/// the baseline's median and spread instead of this fleet's, so a fleet of one or two nodes
/// (the rest being repaired, or dead) is still judged against the nodes of a healthy night.
pub fn analyze_against(
    members: Vec<Member>,
    k: f64,
    baseline: Option<&Baseline>,
) -> Result<FleetReport> {
    if !(k.is_finite() && k > 0.0) {
        return Err(Error::bad_input(format!(
            "--k {k} is out of range; give a positive number of spreads, e.g. 3"
        )));
    }
    let mut by_hw: BTreeMap<String, Vec<Member>> = BTreeMap::new();
    for m in dedup_names(members) {
        by_hw.entry(m.hardware.clone()).or_default().push(m);
    }
    let groups: Vec<FleetGroup> = by_hw
        .into_iter()
        .map(|(hardware, members)| {
            let reference =
                baseline.and_then(|b| b.report.groups.iter().find(|g| g.hardware == hardware));
            group(hardware, members, k, reference)
        })
        .collect();
    let slow: BTreeSet<String> = groups
        .iter()
        .flat_map(|g| g.outliers.iter())
        .filter(|o| o.direction == "slow")
        .map(|o| o.node.clone())
        .collect();
    Ok(FleetReport {
        schema: SCHEMA.to_string(),
        k,
        mad_scale: MAD_SCALE,
        min_rel_spread: MIN_REL_SPREAD,
        max_rel_spread: MAX_REL_SPREAD,
        groups,
        slow_nodes: slow.into_iter().collect(),
        missing_nodes: Vec::new(),
        expected_nodes: None,
        baseline: baseline.map(|b| b.name.clone()),
    })
}

/// Parses a list of expected nodes (`scontrol show hostnames` output): one name per line,
/// blank lines and `#` comments ignored; `origin` names it in errors.
pub fn parse_expected(text: &str, origin: &str) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for line in text.lines() {
        let name = line.split('#').next().unwrap_or("").trim();
        if name.is_empty() {
            continue;
        }
        if name.chars().any(char::is_whitespace) {
            return Err(Error::bad_input(format!(
                "{origin}: '{name}' is not one node name; give one node name per line, as scontrol show hostnames writes them"
            )));
        }
        if !out.iter().any(|n| n == name) {
            out.push(name.to_string());
        }
    }
    if out.is_empty() {
        return Err(Error::bad_input(format!(
            "{origin} names no node; give one node name per line, as scontrol show hostnames writes them"
        )));
    }
    Ok(out)
}

/// Whether `member` is node `name`'s report: its host name, or the host name's first label
/// (`gpu-07` of `gpu-07.cluster`), is `name`, or its file is `<name>.json` or
/// `<name>-<tag>.json` (as scripts/slurm/validate.sbatch names them).
pub fn is_node(member: &Member, name: &str) -> bool {
    let short = |h: &str| h.split('.').next().unwrap_or(h).to_string();
    if member.host == name || short(&member.host) == short(name) {
        return true;
    }
    let stem = std::path::Path::new(&member.file)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    stem == name
        || stem
            .strip_prefix(name)
            .is_some_and(|rest| rest.starts_with('-'))
}

/// Records in `report` which of the `expected` nodes sent no report.
pub fn mark_missing(report: &mut FleetReport, expected: &[String]) {
    report.expected_nodes = Some(expected.len());
    report.missing_nodes = expected
        .iter()
        .filter(|name| {
            !report
                .groups
                .iter()
                .flat_map(|g| &g.members)
                .any(|m| is_node(m, name))
        })
        .cloned()
        .collect();
}

/// Makes node names unique: a node that appears in several files (the same host validated
/// more than once, or a job array on one host) is told apart by its file's name, then by
/// ` #2`, ` #3` if one file is given twice.
fn dedup_names(members: Vec<Member>) -> Vec<Member> {
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for m in &members {
        *count.entry(m.node.clone()).or_insert(0) += 1;
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    members
        .into_iter()
        .map(|mut m| {
            if count.get(&m.node).is_some_and(|&c| c > 1) {
                let stem = std::path::Path::new(&m.file)
                    .file_stem()
                    .map_or_else(|| m.file.clone(), |s| s.to_string_lossy().into_owned());
                m.node = format!("{} [{stem}]", m.node);
            }
            let n = seen.entry(m.node.clone()).or_insert(0);
            *n += 1;
            if *n > 1 {
                m.node = format!("{} #{n}", m.node);
            }
            m
        })
        .collect()
}

fn group(
    hardware: String,
    members: Vec<Member>,
    k: f64,
    reference: Option<&FleetGroup>,
) -> FleetGroup {
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for m in &members {
        for (name, unit) in &m.units {
            names.entry(name.clone()).or_insert_with(|| unit.clone());
        }
        for name in m.metrics.keys() {
            names.entry(name.clone()).or_default();
        }
    }
    let mut metrics = Vec::new();
    let mut outliers = Vec::new();
    for (name, unit) in names {
        let values: Vec<(&str, f64)> = members
            .iter()
            .filter_map(|m| Some((m.node.as_str(), *m.metrics.get(&name)?)))
            .collect();
        let xs: Vec<f64> = values.iter().map(|v| v.1).collect();
        let base =
            reference.and_then(|g| g.metrics.iter().find(|m| m.name == name && m.low.is_some()));
        let (median, mad, spread, capped, judged) = match base {
            Some(b) => (b.median, b.mad, b.spread, b.capped, b.spread > 0.0),
            None => {
                let median = stats::median(&xs);
                let mad = stats::mad(&xs);
                let scaled = MAD_SCALE * mad;
                let capped = scaled > MAX_REL_SPREAD * median.abs();
                let spread = scaled
                    .max(MIN_REL_SPREAD * median.abs())
                    .min(MAX_REL_SPREAD * median.abs());
                (
                    median,
                    mad,
                    spread,
                    capped,
                    xs.len() >= MIN_NODES && spread > 0.0,
                )
            }
        };
        let (low, high) = if judged {
            (Some(median - k * spread), Some(median + k * spread))
        } else {
            (None, None)
        };
        if judged {
            for (node, v) in &values {
                let z = (v - median) / spread;
                if z.abs() > k {
                    outliers.push(Outlier {
                        node: node.to_string(),
                        metric: name.clone(),
                        value: *v,
                        z,
                        delta_pct: 100.0 * (v - median) / median,
                        direction: if z < 0.0 { "slow" } else { "fast" }.to_string(),
                    });
                }
            }
        }
        metrics.push(MetricStats {
            name,
            unit,
            n: xs.len(),
            median,
            mad,
            spread,
            capped,
            low,
            high,
            from_baseline: base.is_some(),
        });
    }
    outliers.sort_by(|a, b| {
        (a.direction != "slow")
            .cmp(&(b.direction != "slow"))
            .then(a.z.total_cmp(&b.z))
    });
    let from_baseline = metrics.iter().filter(|m| m.from_baseline).count();
    let note = if from_baseline > 0 {
        Some(format!(
            "{from_baseline} of {} metric(s) judged against the baseline fleet's median and spread",
            metrics.len()
        ))
    } else {
        (members.len() < MIN_NODES).then(|| {
            format!(
                "{} node(s): at least {MIN_NODES} are needed to judge outliers; values are listed only",
                members.len()
            )
        })
    };
    FleetGroup {
        hardware,
        members,
        metrics,
        outliers,
        note,
    }
}
