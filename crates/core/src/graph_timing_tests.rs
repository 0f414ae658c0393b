//! The graph timing plan, its loop on a scripted graph, and the runner recording both
//! timings (efficiency from the graph), all on the host.

use std::cell::Cell;
use std::rc::Rc;

use super::*;
use crate::backend::{Device, DeviceInfo, TimingMethod, Workload};
use crate::dtype::DType;
use crate::op::OpSpec;
use crate::results::Status;
use crate::runner::{place_on_roofline, run_one};

/// 2⁻¹⁸ s = 3.814697265625 µs: a per-launch time every sum and quotient below keeps exact.
const GRAPH_LAUNCH_S: f64 = 1.0 / 262_144.0;
/// 2⁻¹⁷ s = 7.62939453125 µs: the same kernel launched from the stream.
const STREAM_LAUNCH_S: f64 = 1.0 / 131_072.0;

#[test]
fn launches_per_graph_by_hand() {
    let gemv = OpKind::Gemv;
    // 50 µs ÷ 2 µs = 25 launches, within [16, 1024]; one set.
    assert_eq!(
        graph_size(gemv, 2e-6, 50e-6, 1),
        Some(GraphSize { launches: 25 })
    );
    // 50 µs ÷ 10 µs = 5 → raised to 16 → ⌈16 ÷ 3⌉ = 6 cycles of 3 sets = 18.
    assert_eq!(
        graph_size(gemv, 10e-6, 50e-6, 3),
        Some(GraphSize { launches: 18 })
    );
    // 50 µs ÷ 19.9 µs = 2.51 → 3 → raised to 16.
    assert_eq!(
        graph_size(gemv, 19.9e-6, 50e-6, 1),
        Some(GraphSize { launches: 16 })
    );
    // 50 µs ÷ 10 ns = 5000 → capped at 1024 → ⌈1024 ÷ 7⌉ × 7 = 1029 > 1024, so the largest
    // multiple of 7 below: ⌊1024 ÷ 7⌋ × 7 = 146 × 7 = 1022.
    assert_eq!(
        graph_size(gemv, 10e-9, 50e-6, 7),
        Some(GraphSize { launches: 1022 })
    );
    // 2000 sets outnumber the cap: one whole cycle of 2000.
    assert_eq!(
        graph_size(gemv, 2e-6, 50e-6, 2000),
        Some(GraphSize { launches: 2000 })
    );
    // No minimum sample length: the floor of 16.
    assert_eq!(
        graph_size(gemv, 2e-6, 0.0, 1),
        Some(GraphSize { launches: 16 })
    );
}

#[test]
fn only_short_kernels_are_graph_timed() {
    let gemv = OpKind::Gemv;
    // The threshold itself and anything longer: stream only.
    assert_eq!(graph_size(gemv, 20e-6, 50e-6, 1), None);
    assert_eq!(graph_size(gemv, 1e-3, 50e-6, 1), None);
    // Nothing measured.
    assert_eq!(graph_size(gemv, 0.0, 50e-6, 1), None);
    assert_eq!(graph_size(gemv, f64::NAN, 50e-6, 1), None);
    // Host copies are not kernels, however short.
    assert_eq!(graph_size(OpKind::H2d, 2e-6, 50e-6, 1), None);
    assert_eq!(graph_size(OpKind::D2h, 2e-6, 50e-6, 1), None);
    // The launch ceiling is a kernel: graph-timed.
    assert!(graph_size(OpKind::Launch, 2e-6, 50e-6, 1).is_some());
}

#[test]
fn captured_launches_rotate_as_stream_launches_do() {
    // Six launches over three sets from set 2: 2, 0, 1, 2, 0, 1; the next launch is on 2,
    // so the graph replayed back to back continues the cycle.
    assert_eq!(capture_order(2, 6, 3), (vec![2, 0, 1, 2, 0, 1], 2));
    // Hot: always set 0.
    assert_eq!(capture_order(0, 4, 1), (vec![0, 0, 0, 0], 0));
    // Zero sets is read as one.
    assert_eq!(capture_order(0, 2, 0), (vec![0, 0], 0));
}

#[test]
fn method_names() {
    assert_eq!(method_name("cuda"), "cuda_graph");
    assert_eq!(method_name("rocm"), "hip_graph");
}

/// What the scripted graph saw.
#[derive(Default)]
struct Log {
    captures: Cell<u32>,
    replay_calls: Cell<u64>,
    replays: Cell<u64>,
}

/// A graph whose launches take [`GRAPH_LAUNCH_S`] each.
struct ScriptedGraph {
    launches: u32,
    log: Rc<Log>,
}

impl GraphReplay for ScriptedGraph {
    fn launches(&self) -> u32 {
        self.launches
    }
    fn replay(&mut self, replays: u32) -> Result<Seconds> {
        self.log.replay_calls.set(self.log.replay_calls.get() + 1);
        self.log
            .replays
            .set(self.log.replays.get() + u64::from(replays));
        Ok(Seconds(
            f64::from(replays) * f64::from(self.launches) * GRAPH_LAUNCH_S,
        ))
    }
}

/// How the scripted kernel answers `graph`.
#[derive(Clone, Copy, PartialEq)]
enum Graphs {
    Capture,
    Fail,
    None,
}

/// A copy "kernel" taking [`STREAM_LAUNCH_S`] per stream launch.
struct Kernel {
    output: HostTensor,
    graphs: Graphs,
    log: Rc<Log>,
}

impl Prepared for Kernel {
    fn run(&mut self, iters: u32) -> Result<Seconds> {
        Ok(Seconds(f64::from(iters) * STREAM_LAUNCH_S))
    }
    fn output(&mut self) -> Result<HostTensor> {
        Ok(self.output.clone())
    }
    fn graph(&mut self, launches: u32) -> Result<Option<Box<dyn GraphReplay + '_>>> {
        self.log.captures.set(self.log.captures.get() + 1);
        match self.graphs {
            Graphs::Capture => Ok(Some(Box::new(ScriptedGraph {
                launches,
                log: self.log.clone(),
            }))),
            Graphs::Fail => Err(Error::backend(
                "CUDA stream capture failed: CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED",
            )),
            Graphs::None => Ok(None),
        }
    }
}

fn kernel(graphs: Graphs) -> (Kernel, Rc<Log>) {
    let log = Rc::new(Log::default());
    let k = Kernel {
        output: HostTensor::from_i32("none", vec![0], vec![]),
        graphs,
        log: log.clone(),
    };
    (k, log)
}

fn quick() -> MeasureConfig {
    MeasureConfig {
        warmup_s: 0.0,
        ..MeasureConfig::default()
    }
}

fn no_clock() -> Result<Option<ClockSample>> {
    Ok(None)
}

#[test]
fn graph_samples_are_per_launch_and_stop_by_the_stream_rule() {
    let (mut k, log) = kernel(Graphs::Capture);
    let t = time_graph(
        &mut k,
        "cuda",
        OpKind::Gemv,
        STREAM_LAUNCH_S,
        1,
        &mut no_clock,
        &quick(),
        &mut |_| {},
    )
    .expect("a 7.6 µs kernel is graph-timed");
    // 50 µs ÷ 7.629 µs = 6.55 → 7 → raised to 16 launches.
    assert_eq!(t.launches_per_graph, 16);
    assert_eq!(t.method, "cuda_graph");
    // One replay: 16 × 2⁻¹⁸ s = 2⁻¹⁴ s = 61.04 µs ≥ 50 µs, so one replay per sample.
    assert_eq!(t.replays_per_sample, 1);
    // No warm-up time asked: the loop's two warm-up runs, then one sizing batch of one
    // replay, which lasts the 50 µs.
    assert_eq!(t.warmup_replays, 3);
    // Identical samples converge once 0.5 s is sampled: 0.5 ÷ 2⁻¹⁴ = 8192 samples.
    assert_eq!(t.stop_reason, Some(StopReason::Converged));
    assert_eq!(t.samples_s.len(), 8192);
    assert!(t.samples_s.iter().all(|&s| s == GRAPH_LAUNCH_S));
    let time = t.time.expect("measured");
    assert_eq!(
        (time.median_s, time.min_s),
        (GRAPH_LAUNCH_S, GRAPH_LAUNCH_S)
    );
    assert_eq!(t.error, None);
    assert_eq!(log.captures.get(), 1);
    assert_eq!(log.replay_calls.get(), 3 + 8192);
    assert_eq!(log.replays.get(), 3 + 8192);
}

#[test]
fn long_kernels_and_graphless_backends_have_no_graph_timing() {
    let (mut k, log) = kernel(Graphs::Capture);
    let cfg = quick();
    // 25 µs: not captured at all.
    let t = time_graph(
        &mut k,
        "cuda",
        OpKind::Gemv,
        25e-6,
        1,
        &mut no_clock,
        &cfg,
        &mut |_| {},
    );
    assert_eq!(t, None);
    assert_eq!(log.captures.get(), 0);
    // A backend without graphs (the trait's default answer) records nothing.
    let (mut k, log) = kernel(Graphs::None);
    let t = time_graph(
        &mut k,
        "cpu",
        OpKind::Gemv,
        2e-6,
        1,
        &mut no_clock,
        &cfg,
        &mut |_| {},
    );
    assert_eq!((t, log.captures.get()), (None, 1));
}

#[test]
fn a_failed_capture_is_recorded_with_its_reason() {
    let (mut k, log) = kernel(Graphs::Fail);
    let t = time_graph(
        &mut k,
        "rocm",
        OpKind::Gemv,
        2e-6,
        3,
        &mut no_clock,
        &quick(),
        &mut |_| {},
    )
    .expect("the failure is recorded");
    // 50 µs ÷ 2 µs = 25 → ⌈25 ÷ 3⌉ × 3 = 27 launches were asked for.
    assert_eq!(t.launches_per_graph, 27);
    assert_eq!(t.method, "hip_graph");
    assert_eq!(t.time, None);
    assert!(t.samples_s.is_empty());
    let why = t.error.as_deref().unwrap_or_default();
    assert!(why.contains("CAPTURE_UNSUPPORTED"), "{why}");
    assert!(t.device_error);
    assert_eq!(log.replay_calls.get(), 0);
}

/// A device whose one benchmark is [`Kernel`].
struct OneKernel {
    info: DeviceInfo,
    graphs: Graphs,
}

impl Device for OneKernel {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }
    fn impls(&self, _: OpKind, _: DType) -> Vec<&'static str> {
        vec!["hotpath"]
    }
    fn prepare(&mut self, work: &Workload) -> Result<Box<dyn Prepared>> {
        let (mut k, _) = kernel(self.graphs);
        k.output = work.inputs.get("a")?.clone();
        k.output.name = "b";
        Ok(Box::new(k))
    }
    fn clock(&self) -> Result<Option<ClockSample>> {
        Ok(None)
    }
    fn timing_method(&self) -> TimingMethod {
        TimingMethod::DeviceEvents
    }
}

fn device(graphs: Graphs) -> OneKernel {
    OneKernel {
        info: DeviceInfo {
            backend: "cuda".into(),
            name: "Scripted GPU".into(),
            memory_available_bytes: 1 << 30,
            ..DeviceInfo::default()
        },
        graphs,
    }
}

/// `copy elements=1024` in f32: 2 × 1024 × 4 = 8192 B per launch.
fn copy_1024() -> OpSpec {
    OpSpec::parse(OpKind::Copy, "elements=1024", DType::F32).expect("a valid shape")
}

/// Places `b` under a spec bandwidth of 2³³ B/s, whose floor for 8192 B is 2¹³ ÷ 2³³ =
/// 2⁻²⁰ s.
fn placed(b: crate::results::BenchmarkResult) -> crate::results::BenchmarkResult {
    let mut f = crate::fixture::file();
    f.hardware.mem_bytes_per_s = Some(8_589_934_592.0);
    f.benchmarks = vec![b];
    place_on_roofline(&mut f);
    f.benchmarks.remove(0)
}

#[test]
fn the_runner_records_both_timings_and_the_efficiency_uses_the_graph() {
    let mut d = device(Graphs::Capture);
    let spec = copy_1024();
    let ran = run_one(
        &mut d,
        &spec,
        "hotpath",
        crate::backend::CacheMode::Hot,
        None,
        &quick(),
        &mut |_| {},
    );
    assert!(!ran.device_error);
    let b = ran.result;
    assert_eq!(b.status, Status::Ok, "{:?}", b.error);
    // The stream timing as before: 2⁻¹⁷ s per launch.
    assert_eq!(b.time.map(|t| t.median_s), Some(STREAM_LAUNCH_S));
    assert_eq!(b.rates.map(|r| r.bytes_per_s), Some(8192.0 * 131_072.0));
    // Beside it the graph timing: 2⁻¹⁸ s per launch, in graphs of 16 (hot: one set).
    let g = b.graph.clone().expect("a 7.6 µs kernel is graph-timed");
    assert_eq!(g.time.map(|t| t.median_s), Some(GRAPH_LAUNCH_S));
    assert_eq!(g.launches_per_graph, 16);
    // Efficiency: floor 2⁻²⁰ s ÷ graph 2⁻¹⁸ s = 0.25 (the stream would give 0.125).
    let r = placed(b).roofline.expect("placed");
    assert_eq!(r.timing, EfficiencyTiming::Graph);
    assert_eq!(r.efficiency_spec, Some(0.25));
}

#[test]
fn a_capture_failure_keeps_the_stream_measurement() {
    let mut d = device(Graphs::Fail);
    let ran = run_one(
        &mut d,
        &copy_1024(),
        "hotpath",
        crate::backend::CacheMode::Hot,
        None,
        &quick(),
        &mut |_| {},
    );
    // A device error may have poisoned the device: it is retired, the result stands.
    assert!(ran.device_error);
    let b = ran.result;
    assert_eq!(b.status, Status::Ok);
    assert_eq!(b.error, None);
    assert_eq!(b.time.map(|t| t.median_s), Some(STREAM_LAUNCH_S));
    let g = b.graph.clone().expect("the failure is recorded");
    assert!(g.error.is_some() && g.time.is_none());
    // Efficiency from the stream: 2⁻²⁰ ÷ 2⁻¹⁷ = 0.125.
    let r = placed(b).roofline.expect("placed");
    assert_eq!(r.timing, EfficiencyTiming::Stream);
    assert_eq!(r.efficiency_spec, Some(0.125));
}

#[test]
fn graph_fields_are_optional_in_the_results_file() {
    let mut d = device(Graphs::None);
    let b = placed(
        run_one(
            &mut d,
            &copy_1024(),
            "hotpath",
            crate::backend::CacheMode::Hot,
            None,
            &quick(),
            &mut |_| {},
        )
        .result,
    );
    // Without a graph nothing new is written, and such a result reads back unchanged.
    let text = serde_json::to_string(&b).expect("serializes");
    assert!(!text.contains("\"graph\""), "{text}");
    assert!(!text.contains("efficiency_timing"), "{text}");
    let back: crate::results::BenchmarkResult = serde_json::from_str(&text).expect("reads back");
    assert_eq!(back, b);
    // With one, both are written and read back; whether it poisoned the device is not.
    let mut d = device(Graphs::Fail);
    let mut b = run_one(
        &mut d,
        &copy_1024(),
        "hotpath",
        crate::backend::CacheMode::Hot,
        None,
        &quick(),
        &mut |_| {},
    )
    .result;
    let mut g = b.graph.take().expect("recorded");
    g.error = None;
    g.device_error = false;
    g.time = b.time;
    g.samples_s = vec![GRAPH_LAUNCH_S];
    b.graph = Some(g);
    let b = placed(b);
    let text = serde_json::to_string(&b).expect("serializes");
    assert!(
        text.contains("\"graph\":{\"method\":\"cuda_graph\""),
        "{text}"
    );
    assert!(text.contains("\"efficiency_timing\":\"graph\""), "{text}");
    assert!(!text.contains("device_error"), "{text}");
    let back: crate::results::BenchmarkResult = serde_json::from_str(&text).expect("reads back");
    assert_eq!(back, b);
}

#[test]
fn both_medians_are_shown_and_graph_efficiencies_marked() {
    let mut d = device(Graphs::Capture);
    let b = run_one(
        &mut d,
        &copy_1024(),
        "hotpath",
        crate::backend::CacheMode::Hot,
        None,
        &quick(),
        &mut |_| {},
    )
    .result;
    let mut f = crate::fixture::file();
    f.hardware.mem_bytes_per_s = Some(8_589_934_592.0);
    f.measured.mem_bytes_per_s = Some(8_589_934_592.0);
    f.benchmarks = vec![b];
    place_on_roofline(&mut f);
    let b = &f.benchmarks[0];
    // 2⁻¹⁷ s = 7.63 µs by stream, 2⁻¹⁸ s = 3.81 µs per launch by graph.
    assert_eq!(median_text(b).as_deref(), Some("7.63 us; graph 3.81 us"));
    // Both roofs are 2³³ B/s: 2⁻²⁰ ÷ 2⁻¹⁸ = 25.0 %, from the graph (hotpath-report's
    // tables show these cells; its tests check them on a benchmark built the same way).
    let r = b.roofline.as_ref().expect("placed");
    assert_eq!(
        (r.efficiency_spec, r.efficiency_measured),
        (Some(0.25), Some(0.25))
    );
    assert_eq!(mark_efficiency("25.0".into(), b), "25.0 (graph)");
    // An efficiency without a value carries no mark; a stream-timed one neither.
    assert_eq!(mark_efficiency("-".into(), b), "-");
    let mut stream = b.clone();
    stream.graph = None;
    f.benchmarks = vec![stream];
    place_on_roofline(&mut f);
    let r = f.benchmarks[0].roofline.as_ref().expect("placed");
    assert_eq!(r.efficiency_spec, Some(0.125));
    assert_eq!(mark_efficiency("12.5".into(), &f.benchmarks[0]), "12.5");
}

#[test]
fn the_default_prepared_has_no_graphs() {
    /// A benchmark that says nothing about graphs (as the CPU backend's).
    struct Plain;
    impl Prepared for Plain {
        fn run(&mut self, iters: u32) -> Result<Seconds> {
            Ok(Seconds(f64::from(iters) * STREAM_LAUNCH_S))
        }
        fn output(&mut self) -> Result<HostTensor> {
            Ok(HostTensor::from_i32("none", vec![0], vec![]))
        }
    }
    assert!(matches!(Plain.graph(16), Ok(None)));
    let t = time_graph(
        &mut Plain,
        "cpu",
        OpKind::Gemv,
        2e-6,
        1,
        &mut no_clock,
        &quick(),
        &mut |_| {},
    );
    assert_eq!(t, None);
}
