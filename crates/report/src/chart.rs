//! The roofline picture of one results file, as SVG (plotters): arithmetic intensity
//! (FLOP/byte) against FLOP/s on log-log axes, the spec and measured roofs as lines (a
//! bandwidth slope up to the ridge, then the compute plateau), every benchmark that does
//! arithmetic as a point labelled with its op, shape, dtype and implementation. A point above
//! a roof is drawn in red and says so. [`Geometry`] records how values map to pixels.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::label;
use crate::roofs::{self, Origin, Set};
use hotpath_core::error::{Error, Result};
use hotpath_core::results::{ResultsFile, Status};
use hotpath_core::roofline::Roofs;
use hotpath_core::units::sig3;

/// Width and height of the chart in pixels.
pub const SIZE: (u32, u32) = (900, 600);

/// Colour of the spec roofs.
pub const SPEC_COLOR: RGBColor = RGBColor(200, 30, 30);
/// Colour of the measured roofs.
pub const MEASURED_COLOR: RGBColor = RGBColor(30, 90, 200);
/// Colour of a point above a roof.
pub const ABOVE_COLOR: RGBColor = RGBColor(220, 0, 0);

/// One benchmark on the chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// Result id.
    pub id: String,
    /// What the chart writes beside the point: op, shape, dtype, implementation.
    pub label: String,
    /// FLOP per byte.
    pub intensity: f64,
    /// Achieved FLOP/s (median).
    pub flops_per_s: f64,
    /// Dtype name (selects the compute roof).
    pub dtype: String,
    /// Whether the point lies above one of its roofs (see [`roofs::above_roof`]).
    pub above_roof: bool,
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

/// Shape keys as the cost model writes them (docs/methodology.md), for short chart labels.
pub const SHORT_KEYS: [(&str, &str); 9] = [
    ("batch", "b"),
    ("seq", "S"),
    ("context", "L"),
    ("heads_q", "hq"),
    ("heads_kv", "hkv"),
    ("head_dim", "d"),
    ("page_size", "page"),
    ("tokens", "T"),
    ("elements", "N"),
];

/// The words a chart writes beside a benchmark: its id with spaces for slashes and the
/// shape keys in the cost model's letters (`attn_decode b=1,L=4096,hq=32,hkv=8,d=128,page=16
/// bf16 hotpath`, `gemv m=1,n=14336,k=4096 bf16 candle`).
pub fn point_label(id: &str) -> String {
    let mut parts: Vec<String> = id.split('/').map(str::to_string).collect();
    if let Some(shape) = parts.get_mut(1) {
        *shape = shape
            .split(',')
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => {
                    let short = SHORT_KEYS.iter().find(|(long, _)| *long == k);
                    format!("{}={v}", short.map_or(k, |s| s.1))
                }
                None => kv.to_string(),
            })
            .collect::<Vec<_>>()
            .join(",");
    }
    parts.join(" ")
}

/// Benchmarks that do arithmetic and move bytes, measured successfully.
pub fn points(file: &ResultsFile) -> Vec<Point> {
    let above = roofs::above_roof_ids(&roofs::above_roof(file, super::TOLERANCE));
    file.benchmarks
        .iter()
        .filter(|b| b.status == Status::Ok && b.flops > 0 && b.bytes > 0)
        .filter_map(|b| {
            let r = b.rates?;
            Some(Point {
                id: b.id.clone(),
                label: point_label(&b.id),
                intensity: b.flops as f64 / b.bytes as f64,
                flops_per_s: r.flops_per_s,
                dtype: b.dtype.name().to_string(),
                above_roof: above.contains(&b.id),
            })
        })
        .filter(|p| plottable(p.intensity) && plottable(p.flops_per_s))
        .collect()
}

/// A value the log axes show: within 1e-12..1e24, which holds every real intensity
/// (FLOP/byte), FLOP/s and B/s by many decades. A hand-edited or corrupt file may hold
/// anything (zero, negative, 1e300); such values are left off the chart, never handed to
/// the plotter, whose log axis never finishes on a zero or a span of hundreds of decades.
pub fn plottable(v: f64) -> bool {
    v.is_finite() && (1e-12..1e24).contains(&v)
}

/// A roof's bandwidth, when it is plottable.
pub fn roof_bw(roofs: &Roofs) -> Option<f64> {
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

/// Axis ranges covering every point and every roof's ridge, widened to whole decades.
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

/// One roof line of the chart: a bandwidth slope and a compute plateau, for every dtype with
/// points whose roof has these two values.
#[derive(Clone, Debug, PartialEq)]
pub struct RoofLine {
    /// Spec or measured.
    pub set: Set,
    /// The dtypes it is the roof of.
    pub dtypes: Vec<String>,
    /// Bandwidth, B/s.
    pub bw: f64,
    /// Peak, FLOP/s.
    pub peak: f64,
    /// Legend text: values and where they come from.
    pub label: String,
}

/// What the legend adds about where a roof's values come from.
fn provenance(file: &ResultsFile, set: Set, dtypes: &[String]) -> String {
    let mut notes = Vec::new();
    match (set, roofs::bandwidth_origin(file, set)) {
        (Set::Spec, Some(Origin::Reported)) => {
            notes.push("bandwidth reported by the device".into())
        }
        (Set::Spec, Some(o)) if o.is_from_run() => {
            notes.push("bandwidth measured: no spec figure".into())
        }
        _ => {}
    }
    let mut stand_ins: Vec<(String, Vec<&str>)> = Vec::new();
    for d in dtypes {
        match roofs::peak_origin(file, set, d) {
            Some(Origin::StandIn(from)) => match stand_ins.iter_mut().find(|(f, _)| *f == from) {
                Some((_, ds)) => ds.push(d),
                None => stand_ins.push((from, vec![d])),
            },
            Some(Origin::Measured(_)) if set == Set::Spec => {
                notes.push(format!("{d} peak measured: no spec figure"))
            }
            _ => {}
        }
    }
    for (from, ds) in stand_ins {
        notes.push(format!("{}: the {from} peak stands in", ds.join(" ")));
    }
    if notes.is_empty() {
        String::new()
    } else {
        format!(" ({})", notes.join("; "))
    }
}

/// The roof lines to draw for `pts`: per set, one line per distinct (bandwidth, peak) among
/// the dtypes that have points. A spec line that only repeats a measured line with values
/// measured in this run (a CPU has no spec figures) is left out; the legend says so instead.
pub fn roof_lines(file: &ResultsFile, pts: &[Point]) -> Vec<RoofLine> {
    let mut lines: Vec<RoofLine> = Vec::new();
    for set in [Set::Measured, Set::Spec] {
        let r = set.roofs(file);
        let Some(bw) = roof_bw(&r) else { continue };
        let mut groups: Vec<(f64, Vec<String>)> = Vec::new();
        for (dtype, &peak) in &r.peak_flops {
            if !plottable(peak) || !pts.iter().any(|p| &p.dtype == dtype) {
                continue;
            }
            match groups.iter_mut().find(|(p, _)| *p == peak) {
                Some((_, ds)) => ds.push(dtype.clone()),
                None => groups.push((peak, vec![dtype.clone()])),
            }
        }
        for (peak, dtypes) in groups {
            let repeats = set == Set::Spec
                && roofs::spec_is_stand_in(file)
                && lines.iter().any(|l| l.bw == bw && l.peak == peak);
            if repeats {
                continue;
            }
            let label = format!(
                "{} roof, {}: {} GB/s, {} TFLOP/s{}",
                set.name(),
                dtypes.join(" "),
                sig3(bw / 1e9),
                sig3(peak / 1e12),
                provenance(file, set, &dtypes)
            );
            lines.push(RoofLine {
                set,
                dtypes,
                bw,
                peak,
                label,
            });
        }
    }
    lines
}

/// The vertices of a roof line across `x` (intensity range) inside `y` (FLOP/s range): from
/// where the slope enters the area to the ridge, then flat to the right edge.
pub fn roof_vertices(bw: f64, peak: f64, x: (f64, f64), y: (f64, f64)) -> Vec<(f64, f64)> {
    // min/max rather than clamp: a hostile file must never make the bounds cross (a panic).
    let start = x.0.max(y.0 / bw).min(x.1);
    let ridge = (peak / bw).max(start).min(x.1);
    vec![
        (start, (bw * start).min(peak)),
        (ridge, (bw * ridge).min(peak)),
        (x.1, (bw * x.1).min(peak)),
    ]
}

pub(crate) fn plot_err(e: impl std::fmt::Display) -> Error {
    Error::backend(format!("drawing the roofline failed: {e}"))
}

/// Draws a placed label on `root` (pixel coordinates).
pub(crate) fn draw_label(
    root: &DrawingArea<SVGBackend, Shift>,
    p: &label::Placed,
    color: RGBColor,
) -> Result<()> {
    let h = if p.right_of_point {
        HPos::Left
    } else {
        HPos::Right
    };
    let style = ("sans-serif", p.font)
        .into_font()
        .color(&color)
        .pos(Pos::new(h, VPos::Center));
    root.draw(&Text::new(p.text.clone(), (p.x, p.y), style))
        .map_err(plot_err)
}

/// The roofline of `file` as an SVG document, and how it maps values to pixels.
pub fn roofline_svg(file: &ResultsFile) -> Result<(String, Geometry)> {
    let spec = file.hardware.roofs();
    let measured = file.measured.clone();
    let pts = points(file);
    let (xr, yr) = ranges(&pts, &[&spec, &measured]);
    let lines = roof_lines(file, &pts);
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
        for line in &lines {
            let color = match line.set {
                Set::Spec => SPEC_COLOR,
                Set::Measured => MEASURED_COLOR,
            };
            chart
                .draw_series(LineSeries::new(
                    roof_vertices(line.bw, line.peak, xr, yr),
                    color.stroke_width(2),
                ))
                .map_err(plot_err)?
                .label(line.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
        if roofs::spec_is_stand_in(file) && !lines.is_empty() {
            chart
                .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
                .map_err(plot_err)?
                .label(format!(
                    "no spec roofs ({} has no figures): the measured roofs stand in",
                    file.hardware
                        .sources
                        .get("file")
                        .cloned()
                        .unwrap_or_else(|| file.hardware.id.clone())
                ))
                .legend(|(x, y)| EmptyElement::at((x, y)));
        }
        let (px, py) = chart.plotting_area().get_pixel_range();
        let area_x = (px.start, px.end - 1);
        let area_y = (py.start, py.end - 1);
        for p in &pts {
            let color = if p.above_roof { ABOVE_COLOR } else { BLACK };
            chart
                .draw_series(std::iter::once(Circle::new(
                    (p.intensity, p.flops_per_s),
                    4,
                    color.filled(),
                )))
                .map_err(plot_err)?;
            let text = if p.above_roof {
                format!("{} — ABOVE ITS ROOF", p.label)
            } else {
                p.label.clone()
            };
            let at = chart.backend_coord(&(p.intensity, p.flops_per_s));
            draw_label(&root, &label::place(&text, at, area_x, area_y), color)?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()
            .map_err(plot_err)?;
        geometry = Geometry {
            x: xr,
            y: yr,
            px_x: area_x,
            px_y: area_y,
        };
        root.present().map_err(plot_err)?;
    }
    Ok((svg, geometry))
}

#[cfg(test)]
#[path = "chart_tests.rs"]
mod tests;
