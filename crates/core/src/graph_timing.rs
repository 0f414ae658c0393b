//! Launch-bound kernels timed as engines run them. A kernel whose stream-timed median is
//! below [`THRESHOLD_S`] spends a good part of that time being launched; inference engines
//! run such kernels (decode steps) from CUDA/HIP graphs, so on backends that can capture
//! graphs it is also timed as [`GraphSize::launches`] back-to-back launches captured in one
//! graph, replayed with device events around the replays: time per launch = elapsed ÷
//! (replays × launches). The stream timing stays as it was; the graph timing is recorded
//! beside it ([`GraphTiming`]) and the roofline efficiency uses it ([`EfficiencyTiming`]).
//!
//! The rule for the graph's size ([`graph_size`]):
//! 1. `n = ⌈min_sample_s ÷ stream median⌉` (a quotient within 10⁻⁹ of a whole number
//!    counts as it), so one replay lasts about one sample batch,
//!    clamped to [[`MIN_LAUNCHES`], [`MAX_LAUNCHES`]];
//! 2. rounded up to a whole number of rotation cycles (a multiple of the cache plan's set
//!    count), so replays back to back visit the sets in the same cyclic order as stream
//!    launches and cold stays cold; where that passes [`MAX_LAUNCHES`], the largest multiple
//!    below it, or one cycle when the sets alone outnumber it (at most
//!    [`crate::cache::MAX_SETS`] launches).
//!
//! Replays per sample follow the stream loop's batch rule ([`crate::measure::batch_size`]
//! on the last warm-up replay), and sampling stops by the same criterion, sample cap and
//! time limit (a limit of its own, so a benchmark with a graph timing may take up to twice
//! `time_limit_s`). Host copies (`h2d`, `d2h`) are not kernels and are never graph-timed.

use serde::{Deserialize, Serialize};

use crate::backend::{ClockSample, GraphReplay, Prepared};
use crate::error::{Error, Result};
use crate::measure::{measure, MeasureConfig};
use crate::op::OpKind;
use crate::results::{BenchmarkResult, TimeStats};
use crate::stats::Summary;
use crate::stopping::StopReason;
use crate::tensor::HostTensor;
use crate::units::Seconds;

/// Kernels whose stream median is below this many seconds (20 µs) are also graph-timed.
pub const THRESHOLD_S: f64 = 20e-6;
/// Fewest launches captured in one graph (before rounding to whole rotation cycles).
pub const MIN_LAUNCHES: u32 = 16;
/// Most launches captured in one graph, unless one rotation cycle alone is longer.
pub const MAX_LAUNCHES: u32 = 1024;

/// How to graph-time one benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GraphSize {
    /// Launches captured in the graph: a multiple of the rotation set count.
    pub launches: u32,
}

/// The graph plan for a benchmark of `op` whose stream median was `stream_median_s`, in a
/// run whose sample batches last at least `min_sample_s`, rotating `rotation_sets` sets;
/// `None` when it is not graph-timed (host copies, kernels of [`THRESHOLD_S`] or longer, a
/// median that is not a positive number). The rule is the module's.
pub fn graph_size(
    op: OpKind,
    stream_median_s: f64,
    min_sample_s: f64,
    rotation_sets: usize,
) -> Option<GraphSize> {
    if matches!(op, OpKind::H2d | OpKind::D2h) {
        return None;
    }
    if !(stream_median_s > 0.0 && stream_median_s < THRESHOLD_S) {
        return None;
    }
    let wanted = if min_sample_s > 0.0 {
        whole_ceil(min_sample_s / stream_median_s)
    } else {
        0.0
    };
    let n = (wanted.clamp(f64::from(MIN_LAUNCHES), f64::from(MAX_LAUNCHES))) as u32;
    let sets = u32::try_from(rotation_sets.max(1)).unwrap_or(u32::MAX);
    let cycles = n.div_ceil(sets);
    let launches = match cycles.checked_mul(sets) {
        Some(l) if l <= MAX_LAUNCHES => l,
        _ => (MAX_LAUNCHES / sets).max(1) * sets,
    };
    Some(GraphSize { launches })
}

/// `⌈q⌉`, where a quotient within one part in 10⁹ of a whole number counts as that number
/// (50 µs ÷ 2 µs is 25.000000000000004 in floating point, and 25 launches are meant).
fn whole_ceil(q: f64) -> f64 {
    let r = q.round();
    if (q - r).abs() <= 1e-9 * r.abs() {
        r
    } else {
        q.ceil()
    }
}

/// The rotation sets `launches` consecutive launches use, starting at set `next` of `sets`
/// (each launch on the next set, as [`Prepared::run`] does), and the set after the last.
pub fn capture_order(next: usize, launches: u32, sets: usize) -> (Vec<usize>, usize) {
    let sets = sets.max(1);
    let order: Vec<usize> = (0..launches as usize).map(|i| (next + i) % sets).collect();
    (order, (next + launches as usize) % sets)
}

/// The name a backend's graph timing is recorded under: `cuda_graph`, `hip_graph` (ROCm).
pub fn method_name(backend: &str) -> String {
    match backend {
        "rocm" => "hip_graph".to_string(),
        other => format!("{other}_graph"),
    }
}

/// Which timing the roofline efficiency of a benchmark divides by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EfficiencyTiming {
    /// The stream-timed median (`time.median_s`): every benchmark without a graph timing.
    #[default]
    Stream,
    /// The graph-timed median per launch (`graph.time.median_s`).
    Graph,
}

impl EfficiencyTiming {
    /// True for [`EfficiencyTiming::Stream`] (the value files written before graphs imply).
    pub fn is_stream(&self) -> bool {
        *self == EfficiencyTiming::Stream
    }
}

/// A benchmark's graph timing (`graph` in the results file): how it was captured and what
/// it measured, per launch, or why it is missing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GraphTiming {
    /// How: `cuda_graph` or `hip_graph` ([`method_name`]), replays timed by device events.
    pub method: String,
    /// Launches captured in the graph ([`graph_size`]).
    pub launches_per_graph: u32,
    /// Graph replays per sample batch (0 when nothing was measured).
    #[serde(default)]
    pub replays_per_sample: u32,
    /// Graph replays during warm-up.
    #[serde(default)]
    pub warmup_replays: u64,
    /// Statistics of the kept samples, seconds per launch (None when nothing was measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<TimeStats>,
    /// Every kept sample, seconds per launch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub samples_s: Vec<f64>,
    /// Why sampling stopped (None when nothing was measured).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_reason: Option<StopReason>,
    /// Sample batches dropped for low clocks.
    #[serde(default)]
    pub discarded_samples: u64,
    /// Wall time spent warming up and sampling the graph, seconds.
    #[serde(default)]
    pub wall_s: f64,
    /// Why there is no graph timing (capture, instantiation or a replay failed); the
    /// stream timing of the benchmark stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The error came from the device and may have poisoned it (not written; it retires
    /// the device object as any device failure does).
    #[serde(skip)]
    pub device_error: bool,
}

impl GraphTiming {
    fn failed(method: String, launches: u32, error: &Error) -> GraphTiming {
        GraphTiming {
            method,
            launches_per_graph: launches,
            replays_per_sample: 0,
            warmup_replays: 0,
            time: None,
            samples_s: vec![],
            stop_reason: None,
            discarded_samples: 0,
            wall_s: 0.0,
            error: Some(error.to_string()),
            device_error: error.may_poison_device(),
        }
    }
}

/// The time a benchmark's efficiency divides by, and which timing it is: the graph's
/// per-launch median when the benchmark has one, else the stream time at its estimator (the
/// median, or a ceiling's fastest sample); `None` when nothing was measured.
pub fn efficiency_time(b: &BenchmarkResult) -> Option<(f64, EfficiencyTiming)> {
    let graph = b
        .graph
        .as_ref()
        .and_then(|g| g.time)
        .map(|t| t.median_s)
        .filter(|m| m.is_finite() && *m > 0.0);
    match (graph, b.time) {
        (Some(m), _) => Some((m, EfficiencyTiming::Graph)),
        (None, Some(t)) => Some((crate::estimator::of(b).time_s(&t), EfficiencyTiming::Stream)),
        (None, None) => None,
    }
}

/// A benchmark's median as tables show it: the stream median, and beside it the graph's
/// per-launch median when there is one (`7.63 us; graph 3.81 us`); `None` when nothing
/// was measured.
pub fn median_text(b: &BenchmarkResult) -> Option<String> {
    let stream = Seconds(b.time?.median_s);
    Some(match b.graph.as_ref().and_then(|g| g.time) {
        Some(g) => format!("{stream}; graph {}", Seconds(g.median_s)),
        None => stream.to_string(),
    })
}

/// What tables append to an efficiency that divides by the graph time.
pub const GRAPH_MARK: &str = " (graph)";

/// An efficiency `cell` as tables show it: with [`GRAPH_MARK`] appended when `b`'s
/// roofline efficiency divides by its graph time (and the cell holds a value, not `-`).
pub fn mark_efficiency(cell: String, b: &BenchmarkResult) -> String {
    let graph = b
        .roofline
        .as_ref()
        .is_some_and(|r| r.timing == EfficiencyTiming::Graph);
    if graph && cell != "-" {
        cell + GRAPH_MARK
    } else {
        cell
    }
}

/// The stream loop's view of a graph: one "iteration" is one replay of all its launches.
struct Replays<'g, 'p> {
    graph: &'g mut (dyn GraphReplay + 'p),
}

impl Prepared for Replays<'_, '_> {
    fn run(&mut self, iters: u32) -> Result<Seconds> {
        self.graph.replay(iters)
    }
    fn output(&mut self) -> Result<HostTensor> {
        Err(Error::backend(
            "a graph replay has no output of its own; the correctness check reads the stream launch",
        ))
    }
}

/// Graph-times `prepared` when [`graph_size`] says so for a stream median of `stream_median_s`:
/// captures the planned launches (not timed), then runs the stream loop's warm-up,
/// batching, clock checks and stopping rule on whole replays, and keeps samples per launch.
/// `None` when the benchmark is not graph-timed or the backend has no graphs; a failure is
/// a [`GraphTiming`] with its `error`, never an error of the benchmark.
#[allow(clippy::too_many_arguments)]
pub fn time_graph(
    prepared: &mut dyn Prepared,
    backend: &str,
    op: OpKind,
    stream_median_s: f64,
    rotation_sets: usize,
    clock: &mut dyn FnMut() -> Result<Option<ClockSample>>,
    cfg: &MeasureConfig,
    on_progress: &mut dyn FnMut(f64),
) -> Option<GraphTiming> {
    let p = graph_size(op, stream_median_s, cfg.min_sample_s, rotation_sets)?;
    let method = method_name(backend);
    let mut graph = match prepared.graph(p.launches) {
        Ok(Some(g)) => g,
        Ok(None) => return None,
        Err(e) => return Some(GraphTiming::failed(method, p.launches, &e)),
    };
    let launches = graph.launches();
    let measured = measure(
        &mut Replays {
            graph: graph.as_mut(),
        },
        clock,
        cfg,
        on_progress,
    );
    let m = match measured {
        Ok(m) => m,
        Err(e) => return Some(GraphTiming::failed(method, launches, &e)),
    };
    let per_launch: Vec<f64> = m
        .samples_s
        .iter()
        .map(|s| s / f64::from(launches.max(1)))
        .collect();
    let Some(s) = Summary::of(&per_launch) else {
        let why = Error::backend(format!(
            "all {} graph sample batches were discarded because the SM clock fell below {:.0} % of its maximum",
            m.discarded_samples,
            cfg.throttle_fraction * 100.0
        ));
        let mut t = GraphTiming::failed(method, launches, &why);
        t.device_error = false;
        t.discarded_samples = m.discarded_samples;
        return Some(t);
    };
    Some(GraphTiming {
        method,
        launches_per_graph: launches,
        replays_per_sample: m.iters_per_sample,
        warmup_replays: m.warmup_iters,
        time: Some(TimeStats::of(&s)),
        samples_s: per_launch,
        stop_reason: Some(m.stop_reason),
        discarded_samples: m.discarded_samples,
        wall_s: m.wall_s,
        error: None,
        device_error: false,
    })
}

#[cfg(test)]
#[path = "graph_timing_tests.rs"]
mod tests;
