//! The roofline picture of one results file, as SVG (plotters): arithmetic intensity
//! (FLOP/byte) against FLOP/s on log-log axes, the spec and measured roofs as lines, every
//! benchmark that does arithmetic as a labelled point. [`Geometry`] records how values map to
//! pixels so tests can check that points and roofs sit where the numbers put them.

use plotters::prelude::*;

use crate::error::{Error, Result};
use crate::results::{ResultsFile, Status};
use crate::roofline::Roofs;

/// Width and height of the chart in pixels.
pub const SIZE: (u32, u32) = (900, 600);

/// One benchmark on the chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// Result id.
    pub label: String,
    /// FLOP per byte.
    pub intensity: f64,
    /// Achieved FLOP/s (median).
    pub flops_per_s: f64,
    /// Dtype name (selects the compute roof).
    pub dtype: String,
}

/// Value ranges and the pixel rectangle they map to (log scale on both axes).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Geometry {
    /// Intensity range, FLOP/byte.
    pub x: (f64, f64),
    /// FLOP/s range.
    pub y: (f64, f64),
    /// Left and right pixel of the plotting area.
    pub px_x: (i32, i32),
    /// Top and bottom pixel of the plotting area.
    pub px_y: (i32, i32),
}

impl Geometry {
    /// Pixel of a value pair, by the log mapping the chart uses.
    pub fn pixel(&self, intensity: f64, flops: f64) -> (f64, f64) {
        let fx = (intensity.log10() - self.x.0.log10()) / (self.x.1.log10() - self.x.0.log10());
        let fy = (flops.log10() - self.y.0.log10()) / (self.y.1.log10() - self.y.0.log10());
        (
            self.px_x.0 as f64 + fx * (self.px_x.1 - self.px_x.0) as f64,
            self.px_y.1 as f64 - fy * (self.px_y.1 - self.px_y.0) as f64,
        )
    }
}

/// Benchmarks that do arithmetic and move bytes, measured successfully.
pub fn points(file: &ResultsFile) -> Vec<Point> {
    file.benchmarks
        .iter()
        .filter(|b| b.status == Status::Ok && b.flops > 0 && b.bytes > 0)
        .filter_map(|b| {
            let r = b.rates?;
            Some(Point {
                label: b.id.clone(),
                intensity: b.flops as f64 / b.bytes as f64,
                flops_per_s: r.flops_per_s,
                dtype: b.dtype.name().to_string(),
            })
        })
        .filter(|p| plottable(p.intensity) && plottable(p.flops_per_s))
        .collect()
}

/// A value the log axes show: within 1e-12..1e24, which holds every real intensity
/// (FLOP/byte), FLOP/s and B/s by many decades. A hand-edited or corrupt file may hold
/// anything (zero, negative, 1e300); such values are left off the chart, never handed to
/// the plotter, whose log axis never finishes on a zero or a span of hundreds of decades.
fn plottable(v: f64) -> bool {
    v.is_finite() && (1e-12..1e24).contains(&v)
}

/// A roof's bandwidth, when it is plottable.
fn roof_bw(roofs: &Roofs) -> Option<f64> {
    roofs.mem_bytes_per_s.filter(|&b| plottable(b))
}

/// The roof at `intensity` for `dtype`: min(bandwidth · intensity, peak), when both are known.
pub fn roof_at(roofs: &Roofs, dtype: &str, intensity: f64) -> Option<f64> {
    let bw = roofs.mem_bytes_per_s?;
    let peak = *roofs.peak_flops.get(dtype)?;
    Some((bw * intensity).min(peak))
}

fn decade_floor(v: f64) -> f64 {
    10f64.powf(v.log10().floor())
}

fn decade_ceil(v: f64) -> f64 {
    10f64.powf(v.log10().ceil())
}

/// Axis ranges covering every point and every roof's ridge.
pub fn ranges(points: &[Point], roofs: &[&Roofs]) -> ((f64, f64), (f64, f64)) {
    let mut xs: Vec<f64> = points.iter().map(|p| p.intensity).collect();
    let mut ys: Vec<f64> = points.iter().map(|p| p.flops_per_s).collect();
    for r in roofs {
        if let Some(bw) = roof_bw(r) {
            for &peak in r.peak_flops.values().filter(|&&p| plottable(p)) {
                xs.push(peak / bw);
                ys.push(peak);
            }
        }
    }
    xs.retain(|&x| plottable(x));
    ys.retain(|&y| plottable(y));
    let (xmin, xmax) = xs
        .iter()
        .fold((f64::INFINITY, 0f64), |(a, b), &x| (a.min(x), b.max(x)));
    let (ymin, ymax) = ys
        .iter()
        .fold((f64::INFINITY, 0f64), |(a, b), &y| (a.min(y), b.max(y)));
    if !xmin.is_finite() || xmax <= 0.0 || !ymin.is_finite() || ymax <= 0.0 {
        return ((0.1, 1000.0), (1e9, 1e15));
    }
    (
        (decade_floor(xmin / 2.0), decade_ceil(xmax * 2.0)),
        (decade_floor(ymin / 2.0), decade_ceil(ymax * 2.0)),
    )
}

fn plot_err(e: impl std::fmt::Display) -> Error {
    Error::backend(format!("drawing the roofline failed: {e}"))
}

/// The roofline of `file` as an SVG document, and how it maps values to pixels.
pub fn roofline_svg(file: &ResultsFile) -> Result<(String, Geometry)> {
    let spec = file.hardware.roofs();
    let measured = file.measured.clone();
    let pts = points(file);
    let (xr, yr) = ranges(&pts, &[&spec, &measured]);
    let mut svg = String::new();
    let geometry;
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let title = format!("{} ({}) — roofline", file.device.name, file.hardware.id);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(72)
            .build_cartesian_2d((xr.0..xr.1).log_scale(), (yr.0..yr.1).log_scale())
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("arithmetic intensity (FLOP/byte)")
            .y_desc("FLOP/s")
            .y_label_formatter(&|v| format!("{:.0e}", v))
            .x_label_formatter(&|v| format!("{v}"))
            .draw()
            .map_err(plot_err)?;
        for (roofs, name, color) in [
            (&spec, "spec", RGBColor(200, 30, 30)),
            (&measured, "measured", RGBColor(30, 90, 200)),
        ] {
            let Some(bw) = roof_bw(roofs) else {
                continue;
            };
            for (dtype, peak) in &roofs.peak_flops {
                if !plottable(*peak) || !pts.iter().any(|p| &p.dtype == dtype) {
                    continue;
                }
                let ridge = (peak / bw).clamp(xr.0, xr.1);
                let line = vec![
                    (xr.0, (bw * xr.0).min(*peak)),
                    (ridge, (bw * ridge).min(*peak)),
                    (xr.1, (bw * xr.1).min(*peak)),
                ];
                chart
                    .draw_series(LineSeries::new(line, color.stroke_width(2)))
                    .map_err(plot_err)?
                    .label(format!(
                        "{name} roof, {dtype}: {:.0} GB/s, {:.2} TFLOP/s",
                        bw / 1e9,
                        peak / 1e12
                    ))
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                    });
            }
        }
        for p in &pts {
            let short = p.label.split('/').take(2).collect::<Vec<_>>().join(" ");
            chart
                .draw_series(std::iter::once(Circle::new(
                    (p.intensity, p.flops_per_s),
                    4,
                    BLACK.filled(),
                )))
                .map_err(plot_err)?;
            chart
                .draw_series(std::iter::once(Text::new(
                    short,
                    (p.intensity, p.flops_per_s),
                    ("sans-serif", 11),
                )))
                .map_err(plot_err)?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(plot_err)?;
        let (px, py) = chart.plotting_area().get_pixel_range();
        geometry = Geometry {
            x: xr,
            y: yr,
            px_x: (px.start, px.end),
            px_y: (py.start, py.end),
        };
        root.present().map_err(plot_err)?;
    }
    Ok((svg, geometry))
}

/// The bandwidth picture of one results file: achieved GB/s of every benchmark that moves
/// bytes (in run order) under the spec and measured bandwidth roofs drawn as lines. Returns
/// the SVG and, per drawn benchmark, its (index, GB/s).
pub fn bandwidth_svg(file: &ResultsFile) -> Result<(String, Vec<(usize, f64)>)> {
    let pts: Vec<(usize, String, f64)> = file
        .benchmarks
        .iter()
        .filter(|b| b.status == Status::Ok && b.bytes > 0)
        .filter_map(|b| b.rates.map(|r| (b.id.clone(), r.bytes_per_s / 1e9)))
        .filter(|p| plottable(p.1))
        .enumerate()
        .map(|(i, (id, gbs))| (i, id, gbs))
        .collect();
    let spec = roof_bw(&file.hardware.roofs()).map(|b| b / 1e9);
    let measured = roof_bw(&file.measured).map(|b| b / 1e9);
    let top = pts
        .iter()
        .map(|p| p.2)
        .chain(spec)
        .chain(measured)
        .fold(1.0, f64::max)
        * 1.15;
    let n = pts.len().max(1) as f64;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (SIZE.0, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("{} — bandwidth", file.device.name),
                ("sans-serif", 18),
            )
            .margin(16)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5..(n - 0.5), 0.0..top)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .y_desc("GB/s")
            .x_desc("benchmark (run order)")
            .draw()
            .map_err(plot_err)?;
        for (value, name, color) in [
            (spec, "spec", RGBColor(200, 30, 30)),
            (measured, "measured", RGBColor(30, 90, 200)),
        ] {
            if let Some(v) = value {
                chart
                    .draw_series(LineSeries::new(
                        vec![(-0.5, v), (n - 0.5, v)],
                        color.stroke_width(2),
                    ))
                    .map_err(plot_err)?
                    .label(format!("{name} roof: {v:.1} GB/s"))
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                    });
            }
        }
        for (i, id, gbs) in &pts {
            let short = id.split('/').take(2).collect::<Vec<_>>().join(" ");
            chart
                .draw_series(std::iter::once(Circle::new(
                    (*i as f64, *gbs),
                    4,
                    BLACK.filled(),
                )))
                .map_err(plot_err)?;
            chart
                .draw_series(std::iter::once(Text::new(
                    short,
                    (*i as f64, *gbs),
                    ("sans-serif", 10),
                )))
                .map_err(plot_err)?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok((svg, pts.into_iter().map(|(i, _, g)| (i, g)).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::ResultsFile;

    /// A real CPU results file, its roofs recomputed by the current rules (the stored ones
    /// may come from an older build).
    fn file() -> ResultsFile {
        let text = include_str!("../../../../results/cpu-epyc-2core-quick.json");
        let mut f: ResultsFile = serde_json::from_str(text).unwrap();
        let mut spec = f.hardware.clone();
        spec.mem_bytes_per_s = None;
        spec.peak_flops.clear();
        let cpu = |d: crate::DType| {
            if d == crate::DType::Fp8E4m3 {
                d
            } else {
                crate::DType::F32
            }
        };
        crate::runner::update_roofs(&mut f, &spec, &cpu);
        f
    }

    /// (cx, cy) of every `<circle>` in an SVG.
    fn circles(svg: &str) -> Vec<(f64, f64)> {
        svg.split("<circle")
            .skip(1)
            .filter_map(|c| {
                let attr = |name: &str| -> Option<f64> {
                    let start = c.find(&format!("{name}=\""))? + name.len() + 2;
                    c[start..].split('"').next()?.parse().ok()
                };
                Some((attr("cx")?, attr("cy")?))
            })
            .collect()
    }

    #[test]
    fn every_point_is_drawn_where_its_numbers_put_it() {
        let f = file();
        let (svg, g) = roofline_svg(&f).unwrap();
        let pts = points(&f);
        assert!(pts.len() >= 5, "{} points", pts.len());
        let drawn = circles(&svg);
        for p in &pts {
            // Expected pixel from the numbers alone: log10 of intensity and FLOP/s.
            let (x, y) = g.pixel(p.intensity, p.flops_per_s);
            assert!(
                drawn
                    .iter()
                    .any(|(cx, cy)| (cx - x).abs() <= 2.0 && (cy - y).abs() <= 2.0),
                "{} expected near ({x:.1}, {y:.1})",
                p.label
            );
        }
    }

    #[test]
    fn the_roof_passes_through_bandwidth_times_intensity() {
        // The measured roof at intensity 1 FLOP/B is the copy bandwidth in FLOP/s, and flat at
        // the peak beyond the ridge.
        let f = file();
        let bw = f.measured.mem_bytes_per_s.unwrap();
        let peak = f.measured.peak_flops["f32"];
        assert_eq!(roof_at(&f.measured, "f32", 1.0), Some(bw.min(peak)));
        assert_eq!(roof_at(&f.measured, "f32", 1e6), Some(peak));
        // Every point that does arithmetic is at or below its measured roof (2 % slack).
        for p in points(&f) {
            let roof = roof_at(&f.measured, &p.dtype, p.intensity).unwrap();
            assert!(
                p.flops_per_s <= roof * 1.02,
                "{} above its roof: {} > {}",
                p.label,
                p.flops_per_s,
                roof
            );
        }
    }

    #[test]
    fn a_point_above_its_roof_is_caught() {
        let mut f = file();
        let b = f
            .benchmarks
            .iter_mut()
            .find(|b| b.op == crate::op::OpKind::Gemm)
            .unwrap();
        // Claim 10× the measured peak: the roofline check must flag it.
        let mut r = b.roofline.unwrap();
        r.efficiency_measured = Some(10.0);
        b.roofline = Some(r);
        let flagged = crate::report::above_roof(&f, 0.02);
        assert!(
            flagged.iter().any(|s| s.starts_with("gemm/")),
            "{flagged:?}"
        );
    }

    #[test]
    fn bandwidth_points_and_roof_lines() {
        let f = file();
        let (svg, pts) = bandwidth_svg(&f).unwrap();
        // The best streaming ceiling defines the measured roof: one point equals it, the
        // other streaming points are below it.
        let roof = f.measured.mem_bytes_per_s.unwrap() / 1e9;
        let stream: Vec<f64> = f
            .benchmarks
            .iter()
            .filter(|b| {
                matches!(
                    b.op,
                    crate::op::OpKind::Copy
                        | crate::op::OpKind::Read
                        | crate::op::OpKind::Write
                        | crate::op::OpKind::Triad
                )
            })
            .map(|b| b.rates.unwrap().bytes_per_s / 1e9)
            .collect();
        assert!(
            stream.iter().any(|g| (g - roof).abs() < 1e-9),
            "{stream:?} vs {roof}"
        );
        assert!(stream.iter().all(|g| *g <= roof + 1e-9));
        assert_eq!(pts.len(), circles(&svg).len());
        assert!(svg.contains("measured roof"));
    }
}
