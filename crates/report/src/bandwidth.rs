//! The bandwidth picture of one results file: one row per benchmark that moves bytes (in run
//! order, top to bottom), a point at its achieved GB/s, and the bandwidth roofs as vertical
//! lines. The streaming ceiling that defines the measured roof sits on that line, ringed; every
//! other benchmark lies left of it.

use plotters::prelude::*;

use crate::chart::{
    draw_label, plot_err, plottable, point_label, roof_bw, ABOVE_COLOR, MEASURED_COLOR, SPEC_COLOR,
};
use crate::label;
use crate::roofs::{self, Origin, Set};
use hotpath_core::error::Result;
use hotpath_core::results::{ResultsFile, Status};
use hotpath_core::units::sig3;

/// Chart width, pixels (its height grows with the rows).
pub const WIDTH: u32 = 900;

/// Pixels per benchmark row.
pub const ROW_PX: u32 = 22;

/// One benchmark on the bandwidth chart.
#[derive(Clone, Debug, PartialEq)]
pub struct BwPoint {
    /// Row, 0 at the top (run order).
    pub row: usize,
    /// Result id.
    pub id: String,
    /// Achieved GB/s (median).
    pub gbs: f64,
    /// Whether it is the streaming ceiling the measured bandwidth roof is.
    pub defines_roof: bool,
    /// Whether it lies above a roof.
    pub above_roof: bool,
}

/// The benchmarks the chart draws.
pub fn bw_points(file: &ResultsFile) -> Vec<BwPoint> {
    let above = roofs::above_roof_ids(&roofs::above_roof(file, super::TOLERANCE));
    let defining = file
        .measured
        .mem_bytes_per_s
        .and_then(|bw| roofs::defining_stream(file, bw))
        .map(|b| b.id.clone());
    file.benchmarks
        .iter()
        .filter(|b| b.status == Status::Ok && b.bytes > 0)
        .filter_map(|b| b.rates.map(|r| (b.id.clone(), r.bytes_per_s / 1e9)))
        .filter(|p| plottable(p.1))
        .enumerate()
        .map(|(row, (id, gbs))| BwPoint {
            row,
            defines_roof: defining.as_deref() == Some(id.as_str()),
            above_roof: above.contains(&id),
            id,
            gbs,
        })
        .collect()
}

/// The bandwidth roof lines drawn: (set, GB/s, legend text). A spec roof that is only the
/// measured one standing in (a CPU) is drawn once, as measured, and the legend says so.
pub fn bw_roofs(file: &ResultsFile) -> Vec<(Set, f64, String)> {
    let mut out = Vec::new();
    if let Some(bw) = roof_bw(&file.measured) {
        let by = match roofs::bandwidth_origin(file, Set::Measured) {
            Some(Origin::Measured(Some(id))) => format!(" (the best cold streaming ceiling, {id})"),
            _ => String::new(),
        };
        let stand_in = file.hardware.mem_bytes_per_s == Some(bw)
            && roofs::bandwidth_origin(file, Set::Spec).is_some_and(|o| o.is_from_run());
        let also = if stand_in {
            "; no spec bandwidth, it stands in"
        } else {
            ""
        };
        out.push((
            Set::Measured,
            bw / 1e9,
            format!("measured roof: {} GB/s{by}{also}", sig3(bw / 1e9)),
        ));
    }
    if let Some(bw) = roof_bw(&file.hardware.roofs()) {
        let origin = roofs::bandwidth_origin(file, Set::Spec);
        let drawn = out.iter().any(|(_, g, _)| *g == bw / 1e9);
        if !(drawn && origin.as_ref().is_some_and(Origin::is_from_run)) {
            let note = match origin {
                Some(Origin::Reported) => " (reported by the device)",
                Some(o) if o.is_from_run() => " (measured: no spec figure)",
                _ => " (datasheet)",
            };
            out.push((
                Set::Spec,
                bw / 1e9,
                format!("spec roof: {} GB/s{note}", sig3(bw / 1e9)),
            ));
        }
    }
    out
}

/// The bandwidth chart of `file` as SVG, and the points it drew.
pub fn bandwidth_svg(file: &ResultsFile) -> Result<(String, Vec<BwPoint>)> {
    let pts = bw_points(file);
    let lines = bw_roofs(file);
    let top = pts
        .iter()
        .map(|p| p.gbs)
        .chain(lines.iter().map(|l| l.1))
        .fold(1.0, f64::max)
        * 1.15;
    let n = pts.len().max(1);
    // Blank rows below the benchmarks hold the legend, so it never covers a point.
    let legend_rows = lines.len() + 1;
    let height = 110 + ROW_PX * (n + legend_rows) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("{} — bandwidth", file.device.name),
                ("sans-serif", 18),
            )
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(16)
            .build_cartesian_2d(0.0..top, (-0.5 - legend_rows as f64)..(n as f64 - 0.5))
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(0)
            .x_desc("GB/s (compulsory bytes ÷ median time); one row per benchmark, in run order")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .draw()
            .map_err(plot_err)?;
        let y_of = |row: usize| (n - 1 - row) as f64;
        for (set, gbs, text) in &lines {
            let color = match set {
                Set::Spec => SPEC_COLOR,
                Set::Measured => MEASURED_COLOR,
            };
            chart
                .draw_series(LineSeries::new(
                    vec![(*gbs, -0.5), (*gbs, n as f64 - 0.5)],
                    color.stroke_width(2),
                ))
                .map_err(plot_err)?
                .label(text.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
        let (px, py) = chart.plotting_area().get_pixel_range();
        let area_x = (px.start, px.end - 1);
        let area_y = (py.start, py.end - 1);
        for p in &pts {
            let color = if p.above_roof { ABOVE_COLOR } else { BLACK };
            let at = (p.gbs, y_of(p.row));
            chart
                .draw_series(std::iter::once(Circle::new(at, 4, color.filled())))
                .map_err(plot_err)?;
            let mut text = format!("{}  {} GB/s", point_label(&p.id), sig3(p.gbs));
            if p.defines_roof {
                chart
                    .draw_series(std::iter::once(Circle::new(
                        at,
                        8,
                        MEASURED_COLOR.stroke_width(2),
                    )))
                    .map_err(plot_err)?;
                text.push_str(" = the measured roof");
            }
            if p.above_roof {
                text.push_str(" — ABOVE ITS ROOF");
            }
            let placed = label::place(&text, chart.backend_coord(&at), area_x, area_y);
            draw_label(&root, &placed, color)?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok((svg, pts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::svgread;
    use crate::testdata;

    /// Pixel x of `gbs` on the chart's linear x axis.
    fn x_px(axes: &svgread::Axes, gbs: f64) -> f64 {
        svgread::linear_map(&axes.x_ticks, gbs)
    }

    fn vertical_lines(svg: &str, color: &str) -> Vec<f64> {
        svgread::polylines(svg)
            .into_iter()
            .filter(|p| p.stroke == color && p.points.len() == 2 && p.points[0].0 == p.points[1].0)
            .map(|p| p.points[0].0)
            .collect()
    }

    #[test]
    fn the_best_streaming_ceiling_sits_on_the_measured_roof_and_the_others_left_of_it() {
        let f = testdata::cpu_file();
        let (svg, pts) = bandwidth_svg(&f).unwrap();
        let axes = svgread::axes(&svg).unwrap();
        assert!(axes.x_ticks.len() >= 3, "{axes:?}");
        // The committed run: copy 134,217,728 B in 3.8054 ms = 35.27 GB/s, the best of copy
        // (35.27), read (30.64), write (26.35) and triad (35.09).
        let copy_gbs: f64 = 134_217_728.0 / 0.0038054 / 1e9;
        assert!((copy_gbs - 35.2703).abs() < 1e-3);
        let roof_x = x_px(&axes, copy_gbs);
        let blue = vertical_lines(&svg, "#1E5AC8");
        assert_eq!(blue.len(), 1, "one measured roof line: {blue:?}");
        assert!((blue[0] - roof_x).abs() <= 1.5, "{} vs {roof_x}", blue[0]);
        // The CPU has no spec bandwidth: no second (red) line repeats the measured one.
        assert!(vertical_lines(&svg, "#C81E1E").is_empty());
        let dots: Vec<svgread::Circle> = svgread::circles(&svg)
            .into_iter()
            .filter(|c| c.r == 4.0)
            .collect();
        assert_eq!(dots.len(), pts.len());
        let stream: Vec<(&BwPoint, f64)> = pts
            .iter()
            .filter(|p| {
                ["copy/", "read/", "write/", "triad/"]
                    .iter()
                    .any(|s| p.id.starts_with(s))
            })
            .map(|p| (p, f.benchmarks.iter().find(|b| b.id == p.id).unwrap()))
            .map(|(p, b)| (p, b.bytes as f64 / b.time.unwrap().median_s / 1e9))
            .collect();
        assert_eq!(stream.len(), 4);
        for (p, gbs) in &stream {
            // Expected pixel from bytes ÷ median alone.
            let want = x_px(&axes, *gbs);
            let dot = dots.iter().find(|c| (c.cx - want).abs() <= 1.5);
            assert!(dot.is_some(), "{} expected at x {want:.1}", p.id);
            if p.id.starts_with("copy/") {
                assert!(p.defines_roof && (dot.unwrap().cx - blue[0]).abs() <= 1.0);
            } else {
                assert!(!p.defines_roof, "{}", p.id);
                assert!(dot.unwrap().cx < blue[0], "{} not left of the roof", p.id);
            }
        }
        // Triad is 0.18 GB/s below copy: still left of the line, by under two pixels.
        let rings: Vec<svgread::Circle> = svgread::circles(&svg)
            .into_iter()
            .filter(|c| c.r == 8.0)
            .collect();
        assert_eq!(rings.len(), 1);
        assert!((rings[0].cx - roof_x).abs() <= 1.5);
        let texts = svgread::texts(&svg);
        assert!(texts
            .iter()
            .any(|t| t.content.starts_with("copy N=16777216 f32 hotpath")
                && t.content.ends_with("= the measured roof")));
        assert!(texts
            .iter()
            .any(|t| t.content.contains("no spec bandwidth, it stands in")));
    }

    #[test]
    fn a_gpu_shows_both_roofs_where_its_numbers_put_them() {
        let f = testdata::h100_file();
        let (svg, pts) = bandwidth_svg(&f).unwrap();
        let axes = svgread::axes(&svg).unwrap();
        let red = vertical_lines(&svg, "#C81E1E");
        let blue = vertical_lines(&svg, "#1E5AC8");
        assert_eq!((red.len(), blue.len()), (1, 1));
        assert!((red[0] - x_px(&axes, 3350.0)).abs() <= 1.5);
        assert!((blue[0] - x_px(&axes, 3000.0)).abs() <= 1.5);
        // copy (3000 GB/s) defines the measured roof; gemv (2500) is left of it.
        let copy = pts.iter().find(|p| p.id.starts_with("copy/")).unwrap();
        assert!(copy.defines_roof && (copy.gbs - 3000.0).abs() < 1e-6);
        let texts = svgread::texts(&svg);
        assert!(texts
            .iter()
            .any(|t| t.content == "spec roof: 3350 GB/s (datasheet)"));
    }
}
