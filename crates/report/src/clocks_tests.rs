//! Tests of the clock charts: every stored reading is found in the SVG where the chart's own
//! labelled (linear) axis ticks put it, and the discarded batches are ringed.

use super::*;
use crate::svgread::{self, linear_map, Axes};
use crate::testdata;
use hotpath_core::telemetry::TelemetrySource;

/// A copy ceiling's five batches on an H100: SM clock 1980, 1980, 1400 (discarded), 1755,
/// 1980 MHz; HBM3 at 2619 MHz; 40–60 °C; 500–700 W.
fn trace() -> TelemetryTrace {
    TelemetryTrace {
        source: TelemetrySource::Nvml,
        batches: 5,
        stride: 1,
        t_s: vec![0.1, 0.2, 0.3, 0.4, 0.5],
        discarded: vec![2],
        sm_max_mhz: Some(1980.0),
        sm_mhz: vec![
            Some(1980.0),
            Some(1980.0),
            Some(1400.0),
            Some(1755.0),
            Some(1980.0),
        ],
        mem_mhz: vec![Some(2619.0); 5],
        temp_c: vec![Some(40.0), Some(45.0), None, Some(55.0), Some(60.0)],
        power_w: vec![Some(500.0), Some(600.0), Some(700.0), None, Some(650.0)],
        throttle_reasons: vec![],
    }
}

/// The H100 test file with the trace on its copy ceiling (benchmark 0) and on its gemv
/// (benchmark 2, not a ceiling: never drawn).
fn file() -> ResultsFile {
    let mut f = testdata::h100_file();
    f.benchmarks[0].telemetry = Some(trace());
    f.benchmarks[0].discarded_samples = 1;
    f.benchmarks[2].telemetry = Some(trace());
    f
}

/// The chart's axes, checked to be linear: equally spaced labelled ticks at equal steps.
fn linear_axes(svg: &str) -> Axes {
    let axes = svgread::axes(svg).expect("the chart has axes");
    for ticks in [&axes.x_ticks, &axes.y_ticks] {
        assert!(ticks.len() >= 3, "{axes:?}");
        let mut t = ticks.clone();
        t.sort_by(|a, b| a.0.total_cmp(&b.0));
        let (dv, dp) = (t[1].0 - t[0].0, t[1].1 - t[0].1);
        for w in t.windows(2) {
            assert!(
                ((w[1].0 - w[0].0) - dv).abs() < 1e-9 * dv.abs().max(1.0),
                "{t:?}"
            );
            assert!(((w[1].1 - w[0].1) - dp).abs() <= 1.0, "{t:?}");
        }
    }
    axes
}

/// The polyline of `stroke` with `n` vertices (the legend sample has 2).
fn line(svg: &str, stroke: &str, n: usize) -> Vec<(f64, f64)> {
    let found: Vec<_> = svgread::polylines(svg)
        .into_iter()
        .filter(|p| p.stroke == stroke && p.points.len() == n)
        .collect();
    assert_eq!(found.len(), 1, "one {stroke} line of {n} vertices");
    found[0].points.clone()
}

fn assert_drawn(axes: &Axes, drawn: &[(f64, f64)], want: &[(f64, f64)]) {
    assert_eq!(drawn.len(), want.len());
    for (d, &(t, v)) in drawn.iter().zip(want) {
        let p = (linear_map(&axes.x_ticks, t), linear_map(&axes.y_ticks, v));
        assert!(
            (d.0 - p.0).abs() <= 1.5 && (d.1 - p.1).abs() <= 1.5,
            "({t} s, {v}) drawn at {d:?}, expected {p:?}"
        );
    }
}

#[test]
fn the_clocks_are_drawn_where_the_stored_telemetry_puts_them() {
    let f = file();
    let page = html(&f).unwrap();
    let svgs = svgread::documents(&page);
    assert_eq!(
        svgs.len(),
        2,
        "the copy's clocks and temperature; the gemv is no ceiling"
    );
    let clocks = svgs[0];
    assert!(clocks.contains("copy N=268435456 f32 hotpath — clocks (nvml)"));
    let axes = linear_axes(clocks);
    // SM: all five batches, in the order read (independent of the drawing code: the values
    // are the ones written in `trace`).
    let sm = [
        (0.1, 1980.0),
        (0.2, 1980.0),
        (0.3, 1400.0),
        (0.4, 1755.0),
        (0.5, 1980.0),
    ];
    assert_drawn(&axes, &line(clocks, "#1E5AC8", 5), &sm);
    let mem: Vec<(f64, f64)> = [0.1, 0.2, 0.3, 0.4, 0.5].map(|t| (t, 2619.0)).to_vec();
    assert_drawn(&axes, &line(clocks, "#148C46", 5), &mem);
    // The discarded third batch is ringed at (0.3 s, 1400 MHz); the legend has one ring too.
    let rings: Vec<svgread::Circle> = svgread::circles(clocks)
        .into_iter()
        .filter(|c| c.stroke == "#DC0000" && c.fill == "none")
        .collect();
    assert_eq!(rings.len(), 2, "{rings:?}");
    let at = (
        linear_map(&axes.x_ticks, 0.3),
        linear_map(&axes.y_ticks, 1400.0),
    );
    assert!(
        rings
            .iter()
            .any(|c| (c.cx - at.0).abs() <= 1.5 && (c.cy - at.1).abs() <= 1.5),
        "{rings:?} {at:?}"
    );
    assert!(clocks.contains("SM clock (max 1980 MHz)"));
    assert!(clocks.contains("1 batches discarded"));
    // Temperature: the four readings there are (batch 3 read none), power 500–700 W.
    let temp = svgs[1];
    let axes = linear_axes(temp);
    let want = [(0.1, 40.0), (0.2, 45.0), (0.4, 55.0), (0.5, 60.0)];
    assert_drawn(&axes, &line(temp, "#D26E00", 4), &want);
    assert!(temp.contains("temperature; power 500–700 W"), "{temp}");
}

#[test]
fn markdown_gives_the_ranges_and_nothing_without_telemetry() {
    let md = markdown(&file());
    assert!(md.contains("### clocks during the ceilings"));
    assert!(
        md.contains(
            "| copy/elements=268435456/f32/hotpath | nvml | 5 | 1 | 1400–1980 | 2619 | 40.0–60.0 | 500–700 |"
        ),
        "{md}"
    );
    assert!(!md.contains("gemv/"), "only ceilings");
    let plain = testdata::h100_file();
    assert_eq!(markdown(&plain), "");
    assert_eq!(html(&plain).unwrap(), "");
}

#[test]
fn a_thinned_trace_says_so_and_a_trace_without_clocks_draws_only_temperature() {
    let mut t = trace();
    t.stride = 3;
    t.batches = 13;
    t.sm_mhz.clear();
    t.mem_mhz.clear();
    let b = &file().benchmarks[0];
    assert_eq!(clocks_svg(b, &t).unwrap(), None);
    let svg = temperature_svg(b, &t).unwrap().unwrap();
    assert!(svg.contains("(nvml, 1 batch in 3 of 13)"), "{svg}");
    t.temp_c.clear();
    assert_eq!(temperature_svg(b, &t).unwrap(), None);
}

#[test]
fn tick_labels_read_back_as_their_values() {
    assert_eq!(tick(0.30000000000000004), "0.3");
    assert_eq!(tick(2000.0), "2000");
    assert_eq!(tick(0.0), "0");
    assert_eq!(tick(0.125), "0.125");
}

#[test]
fn the_metadata_says_where_the_clocks_were_read() {
    let clocks = |f: &ResultsFile| {
        crate::metadata(f)
            .into_iter()
            .find(|(k, _)| k == "clocks")
            .map(|(_, v)| v)
    };
    let mut f = file();
    assert_eq!(clocks(&f).as_deref(), Some("not readable on this device"));
    // A CPU read through sysfs: clocks per batch, but no maximum for the throttle rule.
    f.config.telemetry_source = Some(TelemetrySource::Sysfs);
    assert_eq!(
        clocks(&f).as_deref(),
        Some("read by sysfs, without a maximum to judge throttling against")
    );
    f.config.telemetry_source = Some(TelemetrySource::None);
    assert_eq!(clocks(&f).as_deref(), Some("not readable on this device"));
}
