//! Clocks against time for the ceiling benchmarks (`OpKind::is_ceiling`), from the telemetry
//! stored with their samples ([`hotpath_core::telemetry::TelemetryTrace`]): one SVG per ceiling
//! with the SM clock and the memory clock in MHz (batches the throttle rule discarded ringed
//! in red on the SM line), and one with the temperature in °C, when it was read; report.md
//! gets the same as a table of ranges. A ceiling run while the clock sagged sets a roof too
//! low, so these show whether a roof was measured at full clock.

use plotters::prelude::*;

use crate::chart::{plot_err, point_label, ABOVE_COLOR};
use hotpath_core::error::Result;
use hotpath_core::results::{BenchmarkResult, ResultsFile};
use hotpath_core::telemetry::TelemetryTrace;
use hotpath_core::units::sig3;

/// Width and height of one chart, pixels.
pub const SIZE: (u32, u32) = (900, 300);
/// Colour of the SM clock line.
pub const SM_COLOR: RGBColor = RGBColor(30, 90, 200);
/// Colour of the memory clock line.
pub const MEM_COLOR: RGBColor = RGBColor(20, 140, 70);
/// Colour of the temperature line.
pub const TEMP_COLOR: RGBColor = RGBColor(210, 110, 0);

/// The ceilings of `file` whose telemetry has a clock or a temperature to draw, run order.
pub fn traced(file: &ResultsFile) -> Vec<(&BenchmarkResult, &TelemetryTrace)> {
    file.benchmarks
        .iter()
        .filter(|b| b.op.is_ceiling())
        .filter_map(|b| Some((b, b.telemetry.as_ref()?)))
        .filter(|(_, t)| {
            !t.sm_points().is_empty() || !t.mem_points().is_empty() || !t.temp_points().is_empty()
        })
        .collect()
}

/// A tick label the axis reader parses back to the tick's value (six significant digits, so
/// 0.30000000000000004 reads 0.3).
fn tick(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let mag = v.abs().log10().floor() as i32;
    let scale = 10f64.powi(5 - mag);
    format!("{}", (v * scale).round() / scale)
}

/// Lowest and highest of `values`; `None` when empty.
fn range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |r, v| {
        Some(r.map_or((v, v), |(lo, hi): (f64, f64)| (lo.min(v), hi.max(v))))
    })
}

/// The time axis: from 0 to the last reading (at least 1 ms), 2 % beyond.
fn time_range(t: &TelemetryTrace) -> (f64, f64) {
    let end = range(t.t_s.iter().copied().filter(|v| v.is_finite())).map_or(0.0, |r| r.1);
    (0.0, end.max(1e-3) * 1.02)
}

/// One line of a chart: legend text, colour, (seconds, value) points.
type Series = (String, RGBColor, Vec<(f64, f64)>);

/// One line chart of `series` (legend, colour, points) against seconds; `rings` are points
/// drawn as red rings (discarded batches).
fn line_chart(
    title: &str,
    y_desc: &str,
    x: (f64, f64),
    y: (f64, f64),
    series: &[Series],
    rings: &[(f64, f64)],
) -> Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(x.0..x.1, y.0..y.1)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc("seconds since sampling began")
            .y_desc(y_desc)
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .draw()
            .map_err(plot_err)?;
        for (label, color, points) in series {
            let color = *color;
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))
                .map_err(plot_err)?
                .label(label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                });
        }
        if !rings.is_empty() {
            chart
                .draw_series(
                    rings
                        .iter()
                        .map(|&p| Circle::new(p, 4, ABOVE_COLOR.stroke_width(1))),
                )
                .map_err(plot_err)?
                .label(format!(
                    "{} batches discarded (SM clock below the throttle threshold)",
                    rings.len()
                ))
                .legend(|(x, y)| Circle::new((x + 9, y), 4, ABOVE_COLOR.stroke_width(1)));
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
    Ok(svg)
}

/// What a chart title says after the benchmark: the source and any thinning.
fn provenance(t: &TelemetryTrace) -> String {
    let thinned = if t.stride > 1 {
        format!(", 1 batch in {} of {}", t.stride, t.batches)
    } else {
        String::new()
    };
    format!("{}{thinned}", t.source.name())
}

/// The SM and memory clocks of ceiling `b` against time; `None` when neither was read.
/// The y axis runs from 0 to 10 % above the highest clock (or the SM maximum).
pub fn clocks_svg(b: &BenchmarkResult, t: &TelemetryTrace) -> Result<Option<String>> {
    let sm = t.sm_points();
    let mem = t.mem_points();
    if sm.is_empty() && mem.is_empty() {
        return Ok(None);
    }
    let top = range(
        sm.iter()
            .chain(&mem)
            .map(|p| p.1)
            .chain(t.sm_max_mhz.filter(|v| v.is_finite())),
    )
    .map_or(1.0, |r| r.1.max(1.0));
    let mut series = Vec::new();
    if !sm.is_empty() {
        let max = t
            .sm_max_mhz
            .map(|m| format!(" (max {} MHz)", sig3(m)))
            .unwrap_or_default();
        series.push((format!("SM clock{max}"), SM_COLOR, sm.clone()));
    }
    if !mem.is_empty() {
        series.push(("memory clock".to_string(), MEM_COLOR, mem));
    }
    let rings: Vec<(f64, f64)> = t
        .t_s
        .iter()
        .zip(&t.sm_mhz)
        .enumerate()
        .filter(|(i, _)| t.is_discarded(*i))
        .filter_map(|(_, (&s, v))| v.map(|v| (s, v)))
        .collect();
    let title = format!("{} — clocks ({})", point_label(&b.id), provenance(t));
    line_chart(
        &title,
        "MHz",
        time_range(t),
        (0.0, top * 1.1),
        &series,
        &rings,
    )
    .map(Some)
}

/// The temperature of ceiling `b` against time, with the power range in the legend; `None`
/// when no temperature was read. The y axis spans the readings widened by 5 °C each way.
pub fn temperature_svg(b: &BenchmarkResult, t: &TelemetryTrace) -> Result<Option<String>> {
    let temp = t.temp_points();
    let Some((lo, hi)) = range(temp.iter().map(|p| p.1)) else {
        return Ok(None);
    };
    let power = range(t.power_points().into_iter().map(|p| p.1))
        .map(|(a, b)| format!("; power {}–{} W", sig3(a), sig3(b)))
        .unwrap_or_default();
    let title = format!("{} — temperature ({})", point_label(&b.id), provenance(t));
    let series = [(format!("temperature{power}"), TEMP_COLOR, temp)];
    line_chart(
        &title,
        "°C",
        time_range(t),
        ((lo - 5.0).floor(), (hi + 5.0).ceil()),
        &series,
        &[],
    )
    .map(Some)
}

/// `lo–hi unit` of a series, `-` when empty.
fn span(points: &[(f64, f64)]) -> String {
    range(points.iter().map(|p| p.1)).map_or("-".into(), |(lo, hi)| {
        if lo == hi {
            sig3(lo)
        } else {
            format!("{}–{}", sig3(lo), sig3(hi))
        }
    })
}

/// The report.md section: one row per traced ceiling with the range of each reading.
pub fn markdown(file: &ResultsFile) -> String {
    let rows = traced(file);
    if rows.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\n### clocks during the ceilings\n\n| benchmark | source | batches | discarded | SM MHz | memory MHz | °C | W |\n|---|---|---|---|---|---|---|---|\n",
    );
    for (b, t) in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |\n",
            b.id,
            provenance(t),
            t.batches,
            b.discarded_samples,
            span(&t.sm_points()),
            span(&t.mem_points()),
            span(&t.temp_points()),
            span(&t.power_points()),
        ));
    }
    out
}

/// The report.html block: the clocks and temperature charts of every traced ceiling.
pub fn html(file: &ResultsFile) -> Result<String> {
    let rows = traced(file);
    if rows.is_empty() {
        return Ok(String::new());
    }
    let mut out = String::from("<h3>clocks during the ceilings</h3>\n");
    for (b, t) in rows {
        for svg in [clocks_svg(b, t)?, temperature_svg(b, t)?]
            .into_iter()
            .flatten()
        {
            out.push_str(&format!("<div class=\"chart\">{svg}</div>\n"));
        }
    }
    Ok(out)
}

#[cfg(test)]
#[path = "clocks_tests.rs"]
mod tests;
