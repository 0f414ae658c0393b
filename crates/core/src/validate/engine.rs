//! Runs one device's [`DevicePlan`]: health before, the performance checks (with their
//! correctness), health after the load, the correctness of every kernel, then the sustained
//! load; every benchmark goes through a [`Bench`] (the CLI's supervised workers, or a fake
//! in tests) and becomes checks as soon as it ends.

use std::time::Instant;

use crate::measure::MeasureConfig;
use crate::op::OpSpec;
use crate::results::BenchmarkResult;

use super::health::{self, HealthReadings, HealthSource};
use super::plan::DevicePlan;
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

/// Runs `plan` on one device. `on_check` sees each check as it is made (for progress lines).
pub fn run_device(
    plan: &DevicePlan,
    bench: &mut dyn Bench,
    source: &mut dyn HealthSource,
    on_check: &mut dyn FnMut(&Check),
) -> DeviceOutcome {
    let mut out = DeviceOutcome::default();
    let kind = source.kind();
    let mut emit = |c: Check, out: &mut DeviceOutcome| {
        on_check(&c);
        out.checks.push(c);
    };
    for c in &plan.notes {
        emit(c.clone(), &mut out);
    }
    let before = source.read();
    out.bus_id = before.bus_id.clone();

    let mut timed: Vec<BenchmarkResult> = Vec::new();
    let mut references: Vec<BenchmarkResult> = Vec::new();
    for (spec, imp) in &plan.references {
        let Some(r) = bench.run(spec, imp, &plan.perf_cfg, &mut |_| {}) else {
            return finish(out, true);
        };
        emit(perf::correctness(&r), &mut out);
        references.push(r);
    }
    for p in &plan.perf {
        let Some(r) = bench.run(&p.spec, p.imp, &plan.perf_cfg, &mut |_| {}) else {
            return finish(out, true);
        };
        emit(perf::correctness(&r), &mut out);
        let measured = perf::measured_reference(p.kind, p.peak_dtype, &references);
        emit(perf::judge(p.kind, &p.threshold, &r, measured), &mut out);
        timed.push(r);
    }
    out.benchmarks.extend(references.iter().cloned());
    out.benchmarks.extend(timed.iter().cloned());
    let after = source.read();
    for c in health::checks(&before, &after, kind) {
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

    for (spec, imp) in &plan.correctness {
        let Some(r) = bench.run(spec, imp, &plan.correctness_cfg, &mut |_| {}) else {
            return finish(out, true);
        };
        emit(perf::correctness(&r), &mut out);
    }

    for (key, spec, imp) in &plan.sustained {
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
            bench.run(spec, imp, &plan.sustained_cfg, &mut sample)
        };
        let Some(r) = result else {
            return finish(out, true);
        };
        let end_readings: HealthReadings = source.read();
        for c in sustained::checks(key, &r, &start_readings, &trace, &end_readings, kind) {
            emit(c, &mut out);
        }
        out.traces.push(super::SustainedTrace {
            check: key.to_string(),
            points: trace,
        });
        out.benchmarks.push(r);
        // The same kernel's output again, on the device as the load left it.
        let Some(again) = bench.run(spec, imp, &plan.correctness_cfg, &mut |_| {}) else {
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
