//! Tests of the roofline chart: points, roof lines and labels are found in the SVG where the
//! numbers put them, by a log mapping derived here from the chart's own labelled axis ticks.

use super::*;
use crate::svgread::{self, log_map, log_value, Axes};
use crate::testdata::{self, Rate};

fn px(axes: &Axes, intensity: f64, flops: f64) -> (f64, f64) {
    (
        log_map(&axes.x_ticks, intensity),
        log_map(&axes.y_ticks, flops),
    )
}

/// The chart's axes, checked to be a log scale: labelled ticks one decade apart, equally
/// spaced in pixels.
fn log_axes(svg: &str) -> Axes {
    let axes = svgread::axes(svg).expect("the chart has axes");
    for ticks in [&axes.x_ticks, &axes.y_ticks] {
        assert!(ticks.len() >= 3, "{axes:?}");
        let mut t = ticks.clone();
        t.sort_by(|a, b| a.0.total_cmp(&b.0));
        let step = t[1].1 - t[0].1;
        for w in t.windows(2) {
            assert!((w[1].0 / w[0].0 - 10.0).abs() < 1e-9, "{t:?}");
            assert!((w[1].1 - w[0].1 - step).abs() <= 1.0, "{t:?}");
        }
    }
    axes
}

/// The three-vertex polylines (roof lines) of colour `stroke`.
fn roof_polylines(svg: &str, stroke: &str) -> Vec<Vec<(f64, f64)>> {
    svgread::polylines(svg)
        .into_iter()
        .filter(|p| p.stroke == stroke && p.points.len() == 3)
        .map(|p| p.points)
        .collect()
}

/// The vertices a roof of `bw` B/s and `peak` FLOP/s must have, from the axes alone: the
/// slope enters at the left edge (or the bottom edge, if it is below it there), bends at
/// the ridge (peak / bw, peak) and runs flat to the right edge.
fn expected_roof(axes: &Axes, bw: f64, peak: f64) -> [(f64, f64); 3] {
    let x_left = log_value(&axes.x_ticks, axes.x_px.0);
    let x_right = log_value(&axes.x_ticks, axes.x_px.1);
    let y_bottom = log_value(&axes.y_ticks, axes.y_px.1);
    let start = x_left.max(y_bottom / bw);
    [
        px(axes, start, bw * start),
        px(axes, peak / bw, peak),
        px(axes, x_right, peak),
    ]
}

fn assert_line(found: &[Vec<(f64, f64)>], want: [(f64, f64); 3], what: &str) {
    let near = |a: (f64, f64), b: (f64, f64)| (a.0 - b.0).abs() <= 1.5 && (a.1 - b.1).abs() <= 1.5;
    assert!(
        found
            .iter()
            .any(|l| l.iter().zip(want.iter()).all(|(a, b)| near(*a, *b))),
        "{what}: expected {want:?} among {found:?}"
    );
}

/// Interpolated pixel y of a roof line at pixel x.
fn line_y(line: &[(f64, f64)], x: f64) -> f64 {
    for w in line.windows(2) {
        let (a, b) = (w[0], w[1]);
        if x >= a.0 && x <= b.0 && b.0 > a.0 {
            return a.1 + (x - a.0) / (b.0 - a.0) * (b.1 - a.1);
        }
    }
    f64::NAN
}

fn black_dots(svg: &str) -> Vec<(f64, f64)> {
    svgread::circles(svg)
        .into_iter()
        .filter(|c| c.fill == "#000000")
        .map(|c| (c.cx, c.cy))
        .collect()
}

#[test]
fn every_point_is_drawn_where_its_numbers_put_it() {
    let f = testdata::cpu_file();
    let (svg, _) = roofline_svg(&f).unwrap();
    let axes = log_axes(&svg);
    let dots = black_dots(&svg);
    let mut n = 0;
    for b in f.benchmarks.iter().filter(|b| b.flops > 0 && b.bytes > 0) {
        // From the raw counts and the median alone.
        let t = b.time.unwrap().median_s;
        let (x, y) = px(&axes, b.flops as f64 / b.bytes as f64, b.flops as f64 / t);
        assert!(
            dots.iter()
                .any(|(cx, cy)| (cx - x).abs() <= 1.5 && (cy - y).abs() <= 1.5),
            "{} expected near ({x:.1}, {y:.1})",
            b.id
        );
        n += 1;
    }
    assert_eq!(n, 9, "triad, 4 gemv, 2 gemm, 2 attention");
    assert_eq!(dots.len(), n);
}

#[test]
fn spec_and_measured_roof_lines_are_where_the_numbers_put_them() {
    let f = testdata::h100_file();
    let (svg, _) = roofline_svg(&f).unwrap();
    let axes = log_axes(&svg);
    // Spec 3.35 TB/s and 989.4 TFLOP/s: ridge at 295.3 FLOP/B. Measured 3.0 TB/s and
    // 800 TFLOP/s: ridge at 266.7 FLOP/B.
    assert!((989.4e12_f64 / 3.35e12 - 295.343).abs() < 1e-3);
    let red = roof_polylines(&svg, "#C81E1E");
    let blue = roof_polylines(&svg, "#1E5AC8");
    assert_eq!((red.len(), blue.len()), (1, 1), "{red:?} {blue:?}");
    assert_line(&red, expected_roof(&axes, 3.35e12, 989.4e12), "spec roof");
    assert_line(&blue, expected_roof(&axes, 3.0e12, 8e14), "measured roof");
    // The slope rises one decade of FLOP/s per decade of intensity: the pixel slope is the
    // ratio of the axes' decade spacings.
    let dec_x = (log_map(&axes.x_ticks, 10.0) - log_map(&axes.x_ticks, 1.0)).abs();
    let dec_y = (log_map(&axes.y_ticks, 1e13) - log_map(&axes.y_ticks, 1e12)).abs();
    for l in red.iter().chain(blue.iter()) {
        let slope = (l[0].1 - l[1].1) / (l[1].0 - l[0].0);
        assert!(
            (slope - dec_y / dec_x).abs() < 0.02,
            "{slope} vs {}",
            dec_y / dec_x
        );
        assert_eq!(l[1].1, l[2].1, "the plateau is flat");
    }
    // gemv: 268,435,456 FLOP over 268,484,608 B at 2.5 TB/s; gemm 8192³: 8192/3 FLOP/B at
    // 600 TFLOP/s. Both drawn there, and at or below both roofs.
    let gemv_i = 268_435_456.0 / 268_484_608.0;
    let dots = black_dots(&svg);
    for (i, fl) in [(gemv_i, 2.5e12 * gemv_i), (8192.0 / 3.0, 6e14)] {
        let (x, y) = px(&axes, i, fl);
        let dot = dots
            .iter()
            .find(|(cx, cy)| (cx - x).abs() <= 1.5 && (cy - y).abs() <= 1.5);
        assert!(dot.is_some(), "({x:.1}, {y:.1}) not in {dots:?}");
        let (cx, cy) = *dot.unwrap();
        assert!(line_y(&blue[0], cx) <= cy + 1.0 && line_y(&red[0], cx) <= cy + 1.0);
    }
    let texts = svgread::texts(&svg);
    for want in [
        "spec roof, bf16: 3350 GB/s, 989 TFLOP/s",
        "measured roof, bf16: 3000 GB/s, 800 TFLOP/s",
    ] {
        assert!(texts.iter().any(|t| t.content == want), "{want}");
    }
}

#[test]
fn a_cpu_draws_its_measured_roof_once_labelled_as_the_stand_in() {
    let f = testdata::cpu_file();
    let (svg, _) = roofline_svg(&f).unwrap();
    let axes = log_axes(&svg);
    // From the raw fields: copy 134,217,728 B in 3.8054 ms; peak_mma 50,331,648 FLOP in
    // 236.5855 µs. bf16 has no peak_mma of its own: the f32 one stands in, so bf16 and f32
    // share one line, and there is no separate (red) spec line repeating it.
    let bw = 134_217_728.0 / 0.0038054;
    let peak = 50_331_648.0 / 0.000_236_585_5;
    let blue = roof_polylines(&svg, "#1E5AC8");
    assert_eq!(blue.len(), 1, "{blue:?}");
    assert_line(&blue, expected_roof(&axes, bw, peak), "measured roof");
    assert!(roof_polylines(&svg, "#C81E1E").is_empty());
    let texts: Vec<String> = svgread::texts(&svg)
        .into_iter()
        .map(|t| t.content)
        .collect();
    assert!(
        texts.contains(
            &"measured roof, bf16 f32: 35.3 GB/s, 0.213 TFLOP/s (bf16: the f32 peak stands in)"
                .to_string()
        ),
        "{texts:?}"
    );
    assert!(texts.contains(
        &"no spec roofs (hardware/cpu-generic.toml has no figures): the measured roofs stand in"
            .to_string()
    ));
    assert!(
        !texts.iter().any(|t| t.starts_with("spec roof")),
        "{texts:?}"
    );
}

#[test]
fn labels_name_the_implementation_and_stay_inside_the_plotting_area() {
    let f = testdata::cpu_file();
    let (svg, _) = roofline_svg(&f).unwrap();
    let axes = log_axes(&svg);
    let size = label::FONT / 1.24;
    let labels: Vec<svgread::Text> = svgread::texts(&svg)
        .into_iter()
        .filter(|t| t.font_size <= size + 1e-9 && !t.rotated)
        .filter(|t| t.content.ends_with(" hotpath") || t.content.ends_with(" candle"))
        .collect();
    assert_eq!(labels.len(), 9, "{:?}", svgread::texts(&svg));
    let contents: Vec<&str> = labels.iter().map(|t| t.content.as_str()).collect();
    assert!(contents.contains(&"gemv m=1,n=14336,k=4096 bf16 hotpath"));
    assert!(contents.contains(&"gemv m=1,n=14336,k=4096 bf16 candle"));
    // Long shapes in the cost model's letters, whole.
    assert!(contents.contains(&"attn_decode b=1,L=4096,hq=32,hkv=8,d=128,page=16 bf16 hotpath"));
    assert!(contents.contains(&"triad N=16777216 f32 hotpath"));
    for t in &labels {
        // At most 0.62 em per character: the widest of these labels measured 0.52 em in
        // Liberation Sans and 0.61 em in DejaVu Sans in headless Chromium.
        let w = t.content.chars().count() as f64 * 0.62 * t.font_size;
        let (l, r) = match t.anchor.as_str() {
            "start" => (t.x, t.x + w),
            "end" => (t.x - w, t.x),
            other => panic!("anchor {other}"),
        };
        assert!(
            l >= axes.x_px.0 && r <= axes.x_px.1,
            "{} spans {l:.0}..{r:.0}, area {:?}",
            t.content,
            axes.x_px
        );
        assert!(t.y - t.font_size / 2.0 >= axes.y_px.0 && t.y + t.font_size / 2.0 <= axes.y_px.1);
    }
}

#[test]
fn a_point_above_its_roof_is_drawn_red_and_says_so() {
    let mut f = testdata::h100_file();
    // 3.1 TB/s: 3.3 % above the measured 3.0 TB/s roof, below the 3.35 TB/s spec roof.
    f.benchmarks[2] = testdata::bench(
        hotpath_core::OpKind::Gemv,
        "m=1,n=16384,k=8192",
        hotpath_core::DType::Bf16,
        "hotpath",
        Rate::Bytes(3.1e12),
        None,
    );
    let (svg, _) = roofline_svg(&f).unwrap();
    let axes = log_axes(&svg);
    let i = 268_435_456.0 / 268_484_608.0;
    let (x, y) = px(&axes, i, 3.1e12 * i);
    let red: Vec<svgread::Circle> = svgread::circles(&svg)
        .into_iter()
        .filter(|c| c.fill == "#DC0000")
        .collect();
    assert_eq!(red.len(), 1);
    assert!((red[0].cx - x).abs() <= 1.5 && (red[0].cy - y).abs() <= 1.5);
    assert!(svgread::texts(&svg)
        .iter()
        .any(|t| t.content == "gemv m=1,n=16384,k=8192 bf16 hotpath — ABOVE ITS ROOF"));
}
