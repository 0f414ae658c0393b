//! Runs one device's [`DeviceChecklist`]: health before, the performance checks (with their
//! correctness), health after the load, the correctness of every kernel, then the sustained
//! load; every benchmark goes through a [`Bench`] (the CLI's supervised workers, or a fake
//! in tests) and becomes checks as soon as it ends. Before each timed benchmark the device
//! is given time to settle ([`settle::wait`], through a [`Clock`] tests can script), and
//! the check the benchmark makes records how that went.

use std::time::Instant;

use hotpath_core::measure::MeasureConfig;
use hotpath_core::op::OpSpec;
use hotpath_core::results::BenchmarkResult;

use super::checklist::DeviceChecklist;
use super::health::{self, HealthReadings, HealthSource};
use super::settle::{self, Clock, SettleRecord};
use super::sustained::{self, TracePoint};
use super::{perf, Check, Group};

/// Runs one benchmark (correctness check, then timing) and returns its result; `None` when
/// the run was interrupted (SIGINT/SIGTERM) before it finished.
pub trait Bench {
    /// Runs `spec` with implementation `imp`, sampled as `cfg` says; `on_progress` is told the
    /// fraction of the time limit used so far, now and then.
    fn run(
        &mut self,
        spec: &OpSpec,
        imp: &str,
        cfg: &MeasureConfig,
        on_progress: &mut dyn FnMut(f64),
    ) -> Option<BenchmarkResult>;
}

/// What one device's validation produced.
#[derive(Debug, Default)]
pub struct DeviceOutcome {
    /// Every check, in report order (health, correctness, perf, sustained).
    pub checks: Vec<Check>,
    /// True when a benchmark was interrupted; the checks so far are kept.
    pub interrupted: bool,
    /// The PCI bus id the health source read, when it did.
    pub bus_id: Option<String>,
    /// Health readings during each sustained kernel, for the record.
    pub traces: Vec<super::SustainedTrace>,
    /// The timed benchmarks (references, performance checks, sustained loads), for the record.
    pub benchmarks: Vec<BenchmarkResult>,
}

/// Seconds between health readings during a sustained load.
pub const TRACE_INTERVAL_S: f64 = 1.0;

/// `check` with the wait before its benchmark recorded, and the detail saying so when the
/// device had not settled (the status stays: the note is not a warning).
fn with_settle(mut check: Check, record: Option<SettleRecord>) -> Check {
    if let Some(note) = record.as_ref().and_then(SettleRecord::note) {
        check.detail = format!("{}; {note}", check.detail);
    }
    check.settle = record;
    check
}

/// Runs `plan` on one device, waiting for it to settle on `clock`. `on_check` sees each
/// check as it is made (for progress lines).
pub fn run_device(
    list: &DeviceChecklist,
    bench: &mut dyn Bench,
    source: &mut dyn HealthSource,
    clock: &mut dyn Clock,
    on_check: &mut dyn FnMut(&Check),
) -> DeviceOutcome {
    let mut out = DeviceOutcome::default();
    let kind = source.kind();
    let mut emit = |c: Check, out: &mut DeviceOutcome| {
        on_check(&c);
        out.checks.push(c);
    };
    for c in &list.notes {
        emit(c.clone(), &mut out);
    }
    let before = source.read();
    out.bus_id = before.bus_id.clone();

    let mut timed: Vec<BenchmarkResult> = Vec::new();
    let mut references: Vec<BenchmarkResult> = Vec::new();
    for (spec, imp) in &list.references {
        let waited = settle::wait(source, clock, &list.settle);
        let Some(r) = bench.run(spec, imp, &list.perf_cfg, &mut |_| {}) else {
            return finish(out, true);
        };
        // A reference ceiling makes no perf check of its own: its correctness check keeps
        // the record.
        emit(with_settle(perf::correctness(&r), waited), &mut out);
        references.push(r);
    }
    for p in &list.perf {
        let waited = settle::wait(source, clock, &list.settle);
        let Some(r) = bench.run(&p.spec, p.imp, &list.perf_cfg, &mut |_| {}) else {
            return finish(out, true);
        };
        emit(perf::correctness(&r), &mut out);
        let measured = perf::measured_reference(p.kind, p.peak_dtype, &references);
        emit(
            with_settle(perf::judge(p.kind, &p.threshold, &r, measured), waited),
            &mut out,
        );
        timed.push(r);
    }
    out.benchmarks.extend(references.iter().cloned());
    out.benchmarks.extend(timed.iter().cloned());
    let after = source.read();
    let health_checks = health::checks(&before, &after, kind);
    let unverified = health::unverified(&health_checks, kind, list.level);
    for c in health_checks.into_iter().chain(unverified) {
        emit(c, &mut out);
    }
    let loaded: Vec<&BenchmarkResult> = references.iter().chain(&timed).collect();
    if !loaded.is_empty() {
        let sm_max = after.sm_clock_max_mhz.or(before.sm_clock_max_mhz);
        emit(
            perf::clocks_under_load("perf/clocks_under_load", Group::Perf, &loaded, sm_max),
            &mut out,
        );
    }

    for (spec, imp) in &list.correctness {
        let Some(r) = bench.run(spec, imp, &list.correctness_cfg, &mut |_| {}) else {
            return finish(out, true);
        };
        emit(perf::correctness(&r), &mut out);
    }

    for (key, spec, imp) in &list.sustained {
        let mut waited = settle::wait(source, clock, &list.settle);
        let start_readings = source.read();
        let started = Instant::now();
        let mut trace: Vec<TracePoint> = Vec::new();
        let mut last_read = Instant::now();
        let result = {
            let mut sample = |_f: f64| {
                if last_read.elapsed().as_secs_f64() >= TRACE_INTERVAL_S {
                    last_read = Instant::now();
                    trace.push(TracePoint {
                        t_s: started.elapsed().as_secs_f64(),
                        readings: source.read(),
                    });
                }
            };
            bench.run(spec, imp, &list.sustained_cfg, &mut sample)
        };
        let Some(r) = result else {
            return finish(out, true);
        };
        let end_readings: HealthReadings = source.read();
        for c in sustained::checks(key, &r, &start_readings, &trace, &end_readings, kind) {
            // The first check (stability, or sustained over burst) keeps the record.
            emit(with_settle(c, waited.take()), &mut out);
        }
        out.traces.push(super::SustainedTrace {
            check: key.to_string(),
            points: trace,
        });
        out.benchmarks.push(r);
        // The same kernel's output again, on the device as the load left it.
        let Some(again) = bench.run(spec, imp, &list.correctness_cfg, &mut |_| {}) else {
            return finish(out, true);
        };
        let mut c = perf::correctness(&again);
        c.group = Group::Sustained;
        c.name = format!("sustained/{key}/correctness_after");
        emit(c, &mut out);
    }
    finish(out, false)
}

/// Orders the checks by group (stable within a group) and records an interruption.
fn finish(mut out: DeviceOutcome, interrupted: bool) -> DeviceOutcome {
    out.checks.sort_by_key(|c| c.group);
    out.interrupted = interrupted;
    out
}
