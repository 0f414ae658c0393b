//! Tables and the above-roof finder on benchmarks timed both by stream and by graph.

use hotpath_core::fixture;
use hotpath_core::graph_timing::GraphTiming;
use hotpath_core::results::{BenchmarkResult, ResultsFile};
use hotpath_core::runner::place_on_roofline;
use hotpath_core::OpKind;

/// A copy of 1024 f32 (8192 B) sampled at 2⁻¹⁷ s by stream, and by graph at `graph_s` per
/// launch, under spec and measured bandwidths of 2³³ B/s (the floor of 8192 B is 2⁻²⁰ s).
fn placed(graph_s: Option<f64>) -> ResultsFile {
    let stream_s = 1.0 / 131_072.0;
    let mut b: BenchmarkResult =
        fixture::bench(OpKind::Copy, "elements=1024", "hotpath", vec![stream_s; 8]);
    b.graph = graph_s.map(|g| {
        let mut t = b.time.expect("fixture benchmarks are timed");
        t.median_s = g;
        t.min_s = g;
        GraphTiming {
            method: "cuda_graph".into(),
            launches_per_graph: 16,
            replays_per_sample: 4,
            warmup_replays: 4,
            time: Some(t),
            samples_s: vec![g; 8],
            stop_reason: None,
            discarded_samples: 0,
            wall_s: 0.01,
            error: None,
            device_error: false,
        }
    });
    let mut f = fixture::file();
    f.hardware.mem_bytes_per_s = Some(8_589_934_592.0);
    f.measured.mem_bytes_per_s = Some(8_589_934_592.0);
    f.benchmarks = vec![b];
    place_on_roofline(&mut f);
    f
}

#[test]
fn tables_show_both_medians_and_mark_graph_efficiencies() {
    let f = placed(Some(1.0 / 262_144.0));
    let cells = crate::tables::row(&f.benchmarks[0], false).cells;
    // A fixture benchmark records no estimator, so the stream time is its median (every
    // sample is 2⁻¹⁷ s here), the graph's beside it.
    assert_eq!(cells[3], "7.63 us; graph 3.81 us");
    // Both roofs are 2³³ B/s: 2⁻²⁰ ÷ 2⁻¹⁸ = 25.0 %, from the graph.
    assert_eq!(cells[7], "25.0 (graph)");
    assert_eq!(cells[8], "25.0 (graph)");
    // To the roof from the graph time: 2⁻¹⁸ − 2⁻²⁰ = 3 × 2⁻²⁰ s = 2.86 µs.
    assert_eq!(cells[9], "2.86 us");
    let f = placed(None);
    let cells = crate::tables::row(&f.benchmarks[0], false).cells;
    assert_eq!(cells[3], "7.63 us");
    assert_eq!(cells[7], "12.5");
}

#[test]
fn a_graph_time_above_the_roof_is_found() {
    // A graph median of 2⁻²¹ s moves 8192 B at 2¹³ ÷ 2⁻²¹ = 2³⁴ B/s: twice the 2³³ B/s roof,
    // while the stream's 2⁻¹⁷ s stays at an eighth of it.
    let f = placed(Some(1.0 / 2_097_152.0));
    let found = crate::roofs::above_roof(&f, 0.02);
    assert!(
        found.iter().any(|a| a.id == f.benchmarks[0].id),
        "{found:?}"
    );
    assert!(crate::roofs::above_roof(&placed(None), 0.02).is_empty());
}
