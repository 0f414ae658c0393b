//! Sustained load (level `long`): minutes of one kernel back to back, its batch times as a
//! time series, and health read about once a second meanwhile. The checks, per kernel:
//!
//! - `stability`: median rate over the last fifth of the batches ÷ over the first fifth;
//!   WARN below 0.90, FAIL below 0.80 (a GPU that cannot hold its clocks slows down as it
//!   heats up);
//! - `clocks`: batches discarded below 75 % of the maximum SM clock (as
//!   [`super::perf::clocks_under_load`]);
//! - `throttle`: every throttle reason seen in the trace; FAIL on a hardware slowdown, WARN on
//!   a software thermal slowdown;
//! - `temperature`: the hottest reading against the slowdown limit
//!   ([`super::health::temperature_status`]);
//! - `ecc`: uncorrected ECC errors that appeared during the load: FAIL;
//! - `correctness_after`: the kernel's output checked again after the load.

use serde::{Deserialize, Serialize};

use crate::results::{BenchmarkResult, Status as RunStatus};
use crate::stats;

use super::health::{self, HealthReadings, SourceKind};
use super::{Check, Group, Status};

/// Below this ratio of last-fifth to first-fifth rate, WARN.
pub const STABILITY_WARN: f64 = 0.90;
/// Below this ratio, FAIL.
pub const STABILITY_FAIL: f64 = 0.80;

/// One health reading during the load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TracePoint {
    /// Seconds since the load started.
    pub t_s: f64,
    /// What was read.
    pub readings: HealthReadings,
}

fn check(key: &str, what: &str, status: Status) -> Check {
    Check::new(Group::Sustained, format!("sustained/{key}/{what}"), status)
}

/// Last-fifth ÷ first-fifth median rate of `samples_s` (seconds per iteration, in time
/// order); `None` with fewer than 10 samples.
pub fn stability(samples_s: &[f64]) -> Option<f64> {
    if samples_s.len() < 10 {
        return None;
    }
    let fifth = samples_s.len() / 5;
    let first = stats::median(&samples_s[..fifth]);
    let last = stats::median(&samples_s[samples_s.len() - fifth..]);
    (first > 0.0 && last > 0.0).then(|| first / last)
}

/// The checks of one sustained kernel `key` from its `result`, the readings at its `start`
/// and `end` and the `trace` between.
pub fn checks(
    key: &str,
    result: &BenchmarkResult,
    start: &HealthReadings,
    trace: &[TracePoint],
    end: &HealthReadings,
    kind: SourceKind,
) -> Vec<Check> {
    let mut out = Vec::new();
    let seconds = result.measurement.as_ref().map_or(0.0, |m| m.wall_s);
    out.push(match (result.status, stability(&result.samples_s)) {
        (RunStatus::Ok, Some(ratio)) => {
            let status = if ratio < STABILITY_FAIL {
                Status::Fail
            } else if ratio < STABILITY_WARN {
                Status::Warn
            } else {
                Status::Pass
            };
            check(key, "stability", status)
                .value(ratio, "ratio")
                .threshold(STABILITY_FAIL)
                .detail(format!(
                    "rate over the last fifth of {} batches is {:.1} % of the first fifth's over {seconds:.0} s (WARN below {:.0} %, FAIL below {:.0} %)",
                    result.samples_s.len(),
                    100.0 * ratio,
                    100.0 * STABILITY_WARN,
                    100.0 * STABILITY_FAIL
                ))
        }
        (RunStatus::Ok, None) => check(key, "stability", Status::Warn).detail(format!(
            "only {} batches in {seconds:.0} s: too few to compare the start with the end",
            result.samples_s.len()
        )),
        _ => check(key, "stability", Status::Fail).detail(format!(
            "{} did not run through: {}",
            result.id,
            result.error.as_deref().unwrap_or("no samples")
        )),
    });
    let sm_max = end.sm_clock_max_mhz.or(start.sm_clock_max_mhz);
    let mut clocks = super::perf::clocks_under_load(
        &format!("sustained/{key}/clocks"),
        Group::Sustained,
        &[result],
        sm_max,
    );
    if clocks.status == Status::Skip {
        clocks.detail = "the backend reads no clock around sample batches".into();
    }
    out.push(clocks);
    let points: Vec<&HealthReadings> = std::iter::once(start)
        .chain(trace.iter().map(|p| &p.readings))
        .chain(std::iter::once(end))
        .collect();
    out.push(throttle(key, &points, kind));
    out.push(temperature(key, &points, kind));
    out.push(ecc(key, start, end, kind));
    out
}

fn throttle(key: &str, points: &[&HealthReadings], kind: SourceKind) -> Check {
    let readable: Vec<&Vec<String>> = points
        .iter()
        .filter_map(|r| r.throttle_reasons.as_ref())
        .collect();
    if readable.is_empty() {
        return check(key, "throttle", Status::Skip).detail(match kind {
            SourceKind::Cpu => "not applicable on a CPU",
            SourceKind::Gpu => "throttle reasons not readable",
        });
    }
    let mut seen: Vec<(String, usize)> = Vec::new();
    for reasons in &readable {
        for n in reasons.iter() {
            match seen.iter_mut().find(|(s, _)| s == n) {
                Some((_, c)) => *c += 1,
                None => seen.push((n.clone(), 1)),
            }
        }
    }
    let names: Vec<String> = seen.iter().map(|(n, _)| n.clone()).collect();
    let status = health::throttle_status(&names);
    let list = seen
        .iter()
        .map(|(n, c)| format!("{n} in {c} of {} readings", readable.len()))
        .collect::<Vec<_>>()
        .join(", ");
    let detail = match status {
        Status::Fail => format!("hardware slowdown under load: {list}"),
        Status::Warn => format!("software thermal slowdown under load: {list}"),
        _ if seen.is_empty() => format!("no throttle reason in {} readings", readable.len()),
        _ => format!("only {list} (the power cap under load is expected)"),
    };
    check(key, "throttle", status)
        .value(names, "reasons")
        .detail(detail)
}

fn temperature(key: &str, points: &[&HealthReadings], kind: SourceKind) -> Check {
    let hottest = points
        .iter()
        .filter_map(|r| Some((r.temperature_c?, *r)))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let Some((t, at)) = hottest else {
        return check(key, "temperature", Status::Skip).detail(match kind {
            SourceKind::Cpu => "not readable on this CPU",
            SourceKind::Gpu => "temperature not readable",
        });
    };
    let slowdown = at
        .temperature_slowdown_c
        .or_else(|| points.iter().find_map(|r| r.temperature_slowdown_c));
    let (status, line, what) = health::temperature_status(t, slowdown);
    check(key, "temperature", status)
        .value(t, "C")
        .threshold(line)
        .detail(format!(
            "hottest reading {t:.0} C over {} readings; {what}",
            points.len()
        ))
}

fn ecc(key: &str, start: &HealthReadings, end: &HealthReadings, kind: SourceKind) -> Check {
    match (start.ecc_uncorrected_volatile, end.ecc_uncorrected_volatile) {
        (Some(a), Some(b)) if b > a => check(key, "ecc", Status::Fail)
            .value(b - a, "errors")
            .threshold(0)
            .detail(format!(
                "{} uncorrected ECC errors appeared during the load",
                b - a
            )),
        (Some(_), Some(_)) => check(key, "ecc", Status::Pass)
            .value(0, "errors")
            .threshold(0)
            .detail("no uncorrected ECC error appeared during the load"),
        _ => check(key, "ecc", Status::Skip).detail(match kind {
            SourceKind::Cpu => "not applicable on a CPU",
            SourceKind::Gpu => "uncorrected ECC count not readable",
        }),
    }
}
