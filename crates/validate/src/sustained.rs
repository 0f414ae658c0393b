//! Sustained load (level `long`): minutes of one kernel back to back, its batch times as a
//! time series, and health read about once a second meanwhile. The checks, per kernel:
//!
//! - `sustained_over_burst` (the bf16 peak, `peak_bf16`, only; it replaces `stability`
//!   there): the `peak_mma` ceiling kernel of the device's bf16 peak dtype held for the
//!   sustained seconds. **Burst** is the median rate of the batches timed in the first
//!   [`BURST_S`] seconds of the hold (after its 0.5 s warm-up, on a device that settled
//!   before it: the maximum achievable rate, MAMF); **sustained** is the median rate of the
//!   batches in the last third of the hold (the maximum sustained rate, MSMF). sustained ÷
//!   burst: WARN below [`SUSTAINED_OVER_BURST_WARN`], FAIL below
//!   [`SUSTAINED_OVER_BURST_FAIL`]; the throttle reasons read during the hold are listed.
//!   A hold shorter than [`MIN_HOLD_S`] cannot tell the two apart: WARN;
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

use hotpath_core::results::{BenchmarkResult, Status as RunStatus};
use hotpath_core::stats;

use super::health::{self, HealthReadings, SourceKind};
use super::perf::Metric;
use super::{Check, Group, Status};

/// Below this ratio of last-fifth to first-fifth rate, WARN.
pub const STABILITY_WARN: f64 = 0.90;
/// Below this ratio, FAIL.
pub const STABILITY_FAIL: f64 = 0.80;

/// The sustained check key of the held bf16 peak.
pub const PEAK_KEY: &str = "peak_bf16";

/// Seconds of timed batches at the start of the hold whose median rate is the burst.
pub const BURST_S: f64 = 5.0;

/// Shortest hold that tells burst from sustained: the burst window, a gap, and a last third
/// that starts at or after the burst window ends (3 × [`BURST_S`]).
pub const MIN_HOLD_S: f64 = 3.0 * BURST_S;

/// Seconds of hold below which the detail says the hold shows little of the heat.
pub const HEAT_S: f64 = 60.0;

/// Below this ratio of sustained to burst rate, WARN. A healthy SXM GPU under a dense MMA
/// loop sits at its power cap within milliseconds, so burst already includes the power
/// limit; what a minute adds is heat (leakage rises with temperature, and the clock at the
/// same power falls a few per cent). Losing more than 10 % means the cooling does not keep
/// up: the same line as the `stability` check.
pub const SUSTAINED_OVER_BURST_WARN: f64 = 0.90;

/// Below this ratio, FAIL: a fifth of the peak lost within the hold is thermal slowdown,
/// which no serving load should meet on a healthy node.
pub const SUSTAINED_OVER_BURST_FAIL: f64 = 0.80;

/// Burst and sustained over a hold, as median seconds per iteration.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BurstSustained {
    /// Median seconds per iteration of the batches that started within the first
    /// [`BURST_S`] seconds.
    pub burst_s: f64,
    /// Median seconds per iteration of the batches that started in the last third of the
    /// hold.
    pub sustained_s: f64,
    /// Batches in the burst window.
    pub burst_batches: usize,
    /// Batches in the last third.
    pub tail_batches: usize,
    /// Seconds of timed batches in all (the sum of the batch times).
    pub hold_s: f64,
}

impl BurstSustained {
    /// sustained ÷ burst rate (= burst ÷ sustained time per iteration).
    pub fn ratio(&self) -> f64 {
        self.burst_s / self.sustained_s
    }
}

/// Burst and sustained of `samples_s` (seconds per iteration of each batch, in time order;
/// each batch ran `iters_per_sample` iterations, so batch `i` starts at the sum of the
/// earlier batch times). `None` when the batches add up to less than [`MIN_HOLD_S`], either
/// window holds fewer than 3 batches, or a time is not positive.
pub fn burst_sustained(samples_s: &[f64], iters_per_sample: u32) -> Option<BurstSustained> {
    if samples_s.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
        return None;
    }
    let iters = f64::from(iters_per_sample.max(1));
    let mut starts = Vec::with_capacity(samples_s.len());
    let mut t = 0.0;
    for s in samples_s {
        starts.push(t);
        t += s * iters;
    }
    let hold_s = t;
    if hold_s < MIN_HOLD_S {
        return None;
    }
    let tail_from = hold_s * 2.0 / 3.0;
    let burst: Vec<f64> = samples_s
        .iter()
        .zip(&starts)
        .filter(|(_, t)| **t < BURST_S)
        .map(|(s, _)| *s)
        .collect();
    let tail: Vec<f64> = samples_s
        .iter()
        .zip(&starts)
        .filter(|(_, t)| **t >= tail_from)
        .map(|(s, _)| *s)
        .collect();
    if burst.len() < 3 || tail.len() < 3 {
        return None;
    }
    Some(BurstSustained {
        burst_s: stats::median(&burst),
        sustained_s: stats::median(&tail),
        burst_batches: burst.len(),
        tail_batches: tail.len(),
        hold_s,
    })
}

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
    let points: Vec<&HealthReadings> = std::iter::once(start)
        .chain(trace.iter().map(|p| &p.readings))
        .chain(std::iter::once(end))
        .collect();
    if key == PEAK_KEY {
        out.push(sustained_over_burst(key, result, &points));
    } else {
        out.push(stability_check(key, result, seconds));
    }
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
    out.push(throttle(key, &points, kind));
    out.push(temperature(key, &points, kind));
    out.push(ecc(key, start, end, kind));
    out
}

/// FAIL below `fail`, WARN below `warn`, else PASS.
fn ratio_status(ratio: f64, warn: f64, fail: f64) -> Status {
    if ratio < fail {
        Status::Fail
    } else if ratio < warn {
        Status::Warn
    } else {
        Status::Pass
    }
}

fn not_run(key: &str, what: &str, result: &BenchmarkResult) -> Check {
    check(key, what, Status::Fail).detail(format!(
        "{} did not run through: {}",
        result.id,
        result.error.as_deref().unwrap_or("no samples")
    ))
}

/// `sustained/<key>/sustained_over_burst` of the held peak `result`, with the throttle
/// reasons read at `points` (start, trace, end).
fn sustained_over_burst(key: &str, result: &BenchmarkResult, points: &[&HealthReadings]) -> Check {
    let what = "sustained_over_burst";
    if result.status != RunStatus::Ok {
        return not_run(key, what, result);
    }
    let iters = result
        .measurement
        .as_ref()
        .map_or(1, |m| m.iters_per_sample);
    let seen = match reasons_seen(points) {
        None => "throttle reasons not readable during the hold".to_string(),
        Some((seen, n)) if seen.is_empty() => format!("no throttle reason in {n} readings"),
        Some((seen, n)) => format!(
            "throttle reasons during the hold: {}",
            seen.iter()
                .map(|(r, c)| format!("{r} in {c} of {n} readings"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let Some(bs) = burst_sustained(&result.samples_s, iters) else {
        let hold: f64 = result.samples_s.iter().sum::<f64>() * f64::from(iters.max(1));
        return check(key, what, Status::Warn)
            .value(serde_json::Value::Null, "ratio")
            .detail(format!(
                "{} held {hold:.1} s in {} batches: too short to tell burst (first {BURST_S:.0} s) from sustained (last third); hold at least {MIN_HOLD_S:.0} s ({HEAT_S:.0} s or more to see heat); {seen}",
                result.id,
                result.samples_s.len()
            ));
    };
    let ratio = bs.ratio();
    let status = ratio_status(ratio, SUSTAINED_OVER_BURST_WARN, SUSTAINED_OVER_BURST_FAIL);
    let rate = |s_per_iter: f64| Metric::FlopsPerS.format(result.flops as f64 / s_per_iter);
    // The loop's wall time includes the gaps between batches; the batches alone sum to less.
    let seconds = result
        .measurement
        .as_ref()
        .map_or(bs.hold_s, |m| m.wall_s.max(bs.hold_s));
    let short = if seconds.round() < HEAT_S {
        format!("; a hold under {HEAT_S:.0} s shows little of the heat")
    } else {
        String::new()
    };
    Check {
        warn_threshold: Some(SUSTAINED_OVER_BURST_WARN),
        ..check(key, what, status)
            .value(ratio, "ratio")
            .threshold(SUSTAINED_OVER_BURST_FAIL)
            .detail(format!(
                "{}: sustained {} (median of {} batches in the last third of a {seconds:.0} s hold) is {:.1} % of burst {} (median of {} batches in the first {BURST_S:.0} s) (WARN below {:.0} %, FAIL below {:.0} %){short}; {seen}",
                result.id,
                rate(bs.sustained_s),
                bs.tail_batches,
                100.0 * ratio,
                rate(bs.burst_s),
                bs.burst_batches,
                100.0 * SUSTAINED_OVER_BURST_WARN,
                100.0 * SUSTAINED_OVER_BURST_FAIL
            ))
    }
}

/// Every throttle reason among the readable `points`, with how many readings showed it, and
/// how many were readable; `None` when none was.
fn reasons_seen(points: &[&HealthReadings]) -> Option<(Vec<(String, usize)>, usize)> {
    let readable: Vec<&Vec<String>> = points
        .iter()
        .filter_map(|r| r.throttle_reasons.as_ref())
        .collect();
    if readable.is_empty() {
        return None;
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
    Some((seen, readable.len()))
}

fn stability_check(key: &str, result: &BenchmarkResult, seconds: f64) -> Check {
    match (result.status, stability(&result.samples_s)) {
        (RunStatus::Ok, Some(ratio)) => {
            let status = ratio_status(ratio, STABILITY_WARN, STABILITY_FAIL);
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
        _ => not_run(key, "stability", result),
    }
}

fn throttle(key: &str, points: &[&HealthReadings], kind: SourceKind) -> Check {
    let Some((seen, readable)) = reasons_seen(points) else {
        return check(key, "throttle", Status::Skip).detail(match kind {
            SourceKind::Cpu => "not applicable on a CPU",
            SourceKind::Gpu => "throttle reasons not readable",
        });
    };
    let names: Vec<String> = seen.iter().map(|(n, _)| n.clone()).collect();
    let status = health::throttle_status(&names);
    let list = seen
        .iter()
        .map(|(n, c)| format!("{n} in {c} of {readable} readings"))
        .collect::<Vec<_>>()
        .join(", ");
    let detail = match status {
        Status::Fail => format!("hardware slowdown under load: {list}"),
        Status::Warn => format!("software thermal slowdown under load: {list}"),
        _ if seen.is_empty() => format!("no throttle reason in {readable} readings"),
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
