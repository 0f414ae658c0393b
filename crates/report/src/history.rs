//! The history (trend) view: a directory of results files from successive runs (what
//! `scripts/nightly.sh` keeps) turned into one series per machine and benchmark — the median
//! and its 95 % interval per run, over time — as history.md and a self-contained
//! history.html with one plotters SVG per benchmark. The last two runs of every series are
//! also judged with `hotpath compare`'s verdict.

use plotters::prelude::*;

use hotpath_compare::render::{change_pct, markdown_table};
use hotpath_compare::{stats, verdict, Verdict, DEFAULT_THRESHOLD_PCT};
use hotpath_core::error::{Error, Result};
use hotpath_core::results::{ResultsFile, Status};
use hotpath_core::units::Seconds;

/// Width and height of one trend chart in pixels.
pub const SIZE: (u32, u32) = (560, 240);

/// One run of one benchmark.
#[derive(Clone, Debug, PartialEq)]
pub struct TrendPoint {
    /// When the run was made (RFC 3339), the x position's label.
    pub created: String,
    /// hotpath commit of the run.
    pub git: Option<String>,
    /// The results file's name.
    pub file: String,
    /// Median of the samples, seconds.
    pub median_s: f64,
    /// 95 % interval of the median (order statistics), seconds.
    pub low_s: f64,
    /// Upper end of the interval, seconds.
    pub high_s: f64,
    /// Every sample, seconds (for the verdict of the last two runs).
    pub samples_s: Vec<f64>,
}

/// One benchmark on one machine over time, oldest run first.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// `hostname — backend index device name`.
    pub machine: String,
    /// Benchmark id.
    pub id: String,
    /// Runs, oldest first.
    pub points: Vec<TrendPoint>,
}

/// The latest run against the one before it, as `hotpath compare` would judge it.
#[derive(Clone, Debug, PartialEq)]
pub struct LatestChange {
    /// Ratio of medians, latest ÷ previous.
    pub ratio: f64,
    /// `hotpath compare`'s verdict at the default threshold (Hodges-Lehmann ratio and interval).
    pub verdict: Verdict,
}

pub use hotpath_core::results::read_dir;

/// The machine a file was measured on.
fn machine(f: &ResultsFile) -> String {
    format!(
        "{} — {} {} {}",
        f.host.hostname, f.device.backend, f.device.index, f.device.name
    )
}

/// Series of every measured benchmark in `files`, each oldest run first (by creation time,
/// then file name), in order of first appearance.
pub fn series(files: &[(String, ResultsFile)]) -> Vec<Series> {
    let mut ordered: Vec<&(String, ResultsFile)> = files.iter().collect();
    ordered.sort_by(|a, b| (&a.1.created, &a.0).cmp(&(&b.1.created, &b.0)));
    let mut out: Vec<Series> = Vec::new();
    for (name, f) in ordered {
        let m = machine(f);
        for b in f.benchmarks.iter().filter(|b| b.status == Status::Ok) {
            let median_s = if b.samples_s.is_empty() {
                match b.time {
                    Some(t) => t.median_s,
                    None => continue,
                }
            } else {
                hotpath_core::stats::median(&b.samples_s)
            };
            let (low_s, high_s) =
                stats::median_interval(&b.samples_s).unwrap_or((median_s, median_s));
            let point = TrendPoint {
                created: f.created.clone(),
                git: f.tool.git.clone(),
                file: name.clone(),
                median_s,
                low_s,
                high_s,
                samples_s: b.samples_s.clone(),
            };
            match out.iter_mut().find(|s| s.machine == m && s.id == b.id) {
                Some(s) => s.points.push(point),
                None => out.push(Series {
                    machine: m.clone(),
                    id: b.id.clone(),
                    points: vec![point],
                }),
            }
        }
    }
    out
}

/// The last run of `s` against the one before it (None with fewer than two runs).
pub fn latest_change(s: &Series) -> Option<LatestChange> {
    let [.., prev, last] = s.points.as_slice() else {
        return None;
    };
    let ratio = last.median_s / prev.median_s;
    let threshold = DEFAULT_THRESHOLD_PCT / 100.0;
    let verdict = match stats::ratio_interval(&prev.samples_s, &last.samples_s) {
        Ok(r) => verdict::classify(r.estimate, Some((r.low, r.high)), threshold),
        Err(_) => verdict::classify(ratio, None, threshold),
    };
    Some(LatestChange { ratio, verdict })
}

/// `2026-11-24 22:08` from RFC 3339 `2026-11-24T22:08:27Z` (several runs a day stay apart).
fn when(created: &str) -> String {
    created.get(..16).unwrap_or(created).replacen('T', " ", 1)
}

/// `11-24 22:08`: the chart's x labels.
fn short_when(created: &str) -> String {
    created.get(5..16).unwrap_or(created).replacen('T', " ", 1)
}

fn table_rows(series: &[Series], m: &str) -> Vec<Vec<String>> {
    series
        .iter()
        .filter(|s| s.machine == m)
        .map(|s| {
            let first = &s.points[0];
            let last = &s.points[s.points.len() - 1];
            let latest = latest_change(s)
                .map(|c| format!("{} ({})", change_pct(c.ratio), c.verdict))
                .unwrap_or_else(|| "-".into());
            vec![
                s.id.clone(),
                s.points.len().to_string(),
                format!("{} ({})", Seconds(first.median_s), when(&first.created)),
                format!("{} ({})", Seconds(last.median_s), when(&last.created)),
                format!("{} … {}", Seconds(last.low_s), Seconds(last.high_s)),
                latest,
                change_pct(last.median_s / first.median_s),
            ]
        })
        .collect()
}

const HEADERS: [&str; 7] = [
    "benchmark",
    "runs",
    "first median",
    "latest median",
    "latest 95 % interval",
    "latest vs previous",
    "latest vs first",
];

fn machines(series: &[Series]) -> Vec<&str> {
    let mut v: Vec<&str> = Vec::new();
    for s in series {
        if !v.contains(&s.machine.as_str()) {
            v.push(&s.machine);
        }
    }
    v
}

const NOTE: &str = "Median per run with the distribution-free 95 % interval of the median \
(binomial order statistics). \"latest vs previous\" is hotpath compare's verdict at the default \
5 % threshold (Hodges-Lehmann / Mann-Whitney interval of the ratio).";

/// history.md: one table per machine.
pub fn markdown(series: &[Series], runs: usize) -> String {
    let mut out = format!("# hotpath history\n\n{runs} runs. {NOTE}\n");
    for m in machines(series) {
        out.push_str(&format!("\n## {m}\n\n"));
        out.push_str(&markdown_table(&HEADERS, &table_rows(series, m)));
    }
    out
}

/// Value ranges and pixel rectangle of a trend chart (linear axes; x is the run index).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TrendGeometry {
    /// Run index range.
    pub x: (f64, f64),
    /// Time range in the chart's unit.
    pub y: (f64, f64),
    /// Seconds per chart unit (1e-3 for ms).
    pub unit_s: f64,
    /// Left and right pixel of the plotting area.
    pub px_x: (i32, i32),
    /// Top and bottom pixel of the plotting area.
    pub px_y: (i32, i32),
}

impl TrendGeometry {
    /// Pixel of run `index` at `time_s` seconds.
    pub fn pixel(&self, index: f64, time_s: f64) -> (f64, f64) {
        let v = time_s / self.unit_s;
        let fx = (index - self.x.0) / (self.x.1 - self.x.0);
        let fy = (v - self.y.0) / (self.y.1 - self.y.0);
        (
            self.px_x.0 as f64 + fx * (self.px_x.1 - self.px_x.0) as f64,
            self.px_y.1 as f64 - fy * (self.px_y.1 - self.px_y.0) as f64,
        )
    }
}

fn unit(seconds: f64) -> (f64, &'static str) {
    if seconds >= 1.0 {
        (1.0, "s")
    } else if seconds >= 1e-3 {
        (1e-3, "ms")
    } else if seconds >= 1e-6 {
        (1e-6, "us")
    } else {
        (1e-9, "ns")
    }
}

fn plot_err(e: impl std::fmt::Display) -> Error {
    Error::backend(format!("drawing a trend chart failed: {e}"))
}

/// One series as an SVG: medians joined by a line, the interval of each as a vertical bar.
pub fn trend_svg(s: &Series) -> Result<(String, TrendGeometry)> {
    // A time the chart shows: 1 ps to 11 days. A corrupt or hand-edited file may hold
    // anything; a span of hundreds of decades never finishes in the plotter's axis code.
    let finite = |v: f64| v.is_finite() && (1e-12..1e6).contains(&v);
    let pts: Vec<(f64, &TrendPoint)> = s
        .points
        .iter()
        .enumerate()
        .filter(|(_, p)| finite(p.median_s) && finite(p.low_s) && finite(p.high_s))
        .map(|(i, p)| (i as f64, p))
        .collect();
    let lo = pts.iter().map(|p| p.1.low_s).fold(f64::INFINITY, f64::min);
    let hi = pts.iter().map(|p| p.1.high_s).fold(0.0, f64::max);
    let (unit_s, unit_name) = unit(if hi > 0.0 { hi } else { 1.0 });
    let (mut y0, mut y1) = if lo.is_finite() {
        (lo / unit_s, hi / unit_s)
    } else {
        (0.0, 1.0)
    };
    let pad = if y1 > y0 {
        (y1 - y0) * 0.15
    } else {
        y0.abs() * 0.05 + 1e-9
    };
    y0 = (y0 - pad).max(0.0);
    y1 += pad;
    let x = (-0.5, s.points.len().max(1) as f64 - 0.5);
    let labels: Vec<String> = s.points.iter().map(|p| short_when(&p.created)).collect();
    let mut svg = String::new();
    let geometry;
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(&s.id, ("sans-serif", 13))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(x.0..x.1, y0..y1)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_labels(s.points.len().clamp(1, 8))
            .x_label_formatter(&|v| {
                let i = v.round();
                if (v - i).abs() < 1e-6 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_desc(format!("median ({unit_name})"))
            .draw()
            .map_err(plot_err)?;
        let blue = RGBColor(30, 90, 200);
        for (i, p) in &pts {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(*i, p.low_s / unit_s), (*i, p.high_s / unit_s)],
                    blue.stroke_width(2),
                )))
                .map_err(plot_err)?;
        }
        chart
            .draw_series(LineSeries::new(
                pts.iter().map(|(i, p)| (*i, p.median_s / unit_s)),
                BLACK.stroke_width(1),
            ))
            .map_err(plot_err)?;
        chart
            .draw_series(
                pts.iter()
                    .map(|(i, p)| Circle::new((*i, p.median_s / unit_s), 3, BLACK.filled())),
            )
            .map_err(plot_err)?;
        let (px, py) = chart.plotting_area().get_pixel_range();
        geometry = TrendGeometry {
            x,
            y: (y0, y1),
            unit_s,
            px_x: (px.start, px.end),
            px_y: (py.start, py.end),
        };
        root.present().map_err(plot_err)?;
    }
    Ok((svg, geometry))
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// history.html: per machine, the table and one chart per benchmark.
pub fn html(series: &[Series], runs: usize) -> Result<String> {
    let mut body = format!("<p>{runs} runs. {}</p>\n", esc(NOTE));
    for m in machines(series) {
        body.push_str(&format!("<h2>{}</h2>\n<table><tr>", esc(m)));
        for h in HEADERS {
            body.push_str(&format!("<th>{}</th>", esc(h)));
        }
        body.push_str("</tr>");
        for r in table_rows(series, m) {
            body.push_str("<tr>");
            for c in r {
                body.push_str(&format!("<td>{}</td>", esc(&c)));
            }
            body.push_str("</tr>");
        }
        body.push_str("</table>\n<div class=\"charts\">\n");
        for s in series.iter().filter(|s| s.machine == m) {
            let (svg, _) = trend_svg(s)?;
            body.push_str(&format!("<div class=\"chart\">{svg}</div>\n"));
        }
        body.push_str("</div>\n");
    }
    Ok(format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>hotpath history</title>\n<style>\n\
         body{{font-family:sans-serif;margin:16px;color:#222}} .charts{{display:flex;flex-wrap:wrap;gap:8px}}\n\
         table{{border-collapse:collapse;margin:6px 0 14px}} th,td{{border:1px solid #ccc;padding:2px 6px;font-size:12px;text-align:right}}\n\
         td:first-child{{text-align:left}}\n</style></head>\n<body><h1>hotpath history</h1>\n{body}</body></html>\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotpath_core::fixture::{bench, file, samples};
    use hotpath_core::op::OpKind;

    /// Three nightly runs of copy (1.0, 1.0, 1.2 ms, ±0.5 % noise, 200 samples) and one of
    /// read that only the last run has.
    fn history() -> Vec<(String, ResultsFile)> {
        let mut runs = Vec::new();
        for (day, center) in [(3, 1.2e-3), (1, 1.0e-3), (2, 1.0e-3)] {
            let mut f = file();
            f.created = format!("2026-11-0{day}T02:00:00Z");
            f.benchmarks.push(bench(
                OpKind::Copy,
                "elements=1M",
                "hotpath",
                samples(day, 200, center, 0.005),
            ));
            if day == 3 {
                f.benchmarks.push(bench(
                    OpKind::Read,
                    "elements=1M",
                    "hotpath",
                    samples(9, 5, 2e-3, 0.0),
                ));
            }
            runs.push((format!("run{day}.json"), f));
        }
        runs
    }

    #[test]
    fn series_are_ordered_by_time_with_median_intervals() {
        let dir = tempfile::tempdir().unwrap();
        for (name, f) in history() {
            f.write_atomic(&dir.path().join(name)).unwrap();
        }
        std::fs::write(dir.path().join("notes.txt"), "not json").unwrap();
        let files = read_dir(dir.path()).unwrap();
        let names: Vec<&str> = files.iter().map(|f| f.0.as_str()).collect();
        assert_eq!(names, vec!["run1.json", "run2.json", "run3.json"]);
        let s = series(&files);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].points.len(), 3);
        assert_eq!(s[1].points.len(), 1);
        let p = &s[0].points[2];
        assert!((p.median_s / 1.2e-3 - 1.0).abs() < 0.005, "{p:?}");
        // 200 samples: P(B ≤ 85) = 0.0200 ≤ 0.025 < P(B ≤ 86) = 0.0280 for B ~ Bin(200, ½),
        // so the interval is the 86th and 115th order statistics.
        let mut sorted = p.samples_s.clone();
        sorted.sort_by(f64::total_cmp);
        assert_eq!((p.low_s, p.high_s), (sorted[85], sorted[114]));
        // 20 % slower with 0.5 % noise: a regression against the run before.
        let c = latest_change(&s[0]).unwrap();
        assert_eq!(c.verdict, Verdict::Regression);
        assert!((c.ratio - 1.2).abs() < 0.01);
        assert_eq!(latest_change(&s[1]), None);
        let md = markdown(&s, files.len());
        assert!(
            md.contains("| copy/elements=1048576/f32/hotpath | 3 |"),
            "{md}"
        );
        assert!(md.contains("(regression)"), "{md}");
    }

    #[test]
    fn chart_points_sit_where_the_medians_put_them() {
        let s = series(&history());
        let (svg, g) = trend_svg(&s[0]).unwrap();
        assert_eq!(g.unit_s, 1e-3);
        // Every median is drawn as a circle; its centre must be the geometry's pixel.
        let circles: Vec<(f64, f64)> = svg
            .split("<circle")
            .skip(1)
            .map(|c| {
                let attr = |name: &str| -> f64 {
                    let start = c.find(&format!("{name}=\"")).unwrap() + name.len() + 2;
                    c[start..].split('"').next().unwrap().parse().unwrap()
                };
                (attr("cx"), attr("cy"))
            })
            .collect();
        assert_eq!(circles.len(), 3);
        for (i, p) in s[0].points.iter().enumerate() {
            let (x, y) = g.pixel(i as f64, p.median_s);
            assert!((circles[i].0 - x).abs() <= 1.0 && (circles[i].1 - y).abs() <= 1.0);
        }
        // The 1.2 ms run is drawn higher (smaller y) than the 1.0 ms runs.
        assert!(circles[2].1 < circles[1].1 - 50.0, "{circles:?} {g:?}");
        let page = html(&s, 3).unwrap();
        assert_eq!(page.matches("<svg").count(), 2);
        assert!(page.contains("11-03 02:00"));
    }

    #[test]
    fn extreme_values_are_drawn_or_skipped_without_panics() {
        let mut runs = Vec::new();
        for (day, v) in [(1, 1e-300), (2, 1e300), (3, f64::MAX), (4, 5e-324)] {
            let mut f = file();
            f.created = format!("2026-11-0{day}T02:00:00Z");
            f.benchmarks
                .push(bench(OpKind::Copy, "elements=1M", "hotpath", vec![v; 7]));
            runs.push((format!("r{day}.json"), f));
        }
        let s = series(&runs);
        assert_eq!(s[0].points.len(), 4);
        let (svg, _) = trend_svg(&s[0]).unwrap();
        assert!(svg.contains("<svg"));
        assert!(html(&s, 4).is_ok());
        assert!(markdown(&s, 4).contains("| 4 |"));
    }

    #[test]
    fn empty_or_bad_directories_are_bad_input() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_dir(dir.path()).unwrap_err().to_string();
        assert!(err.contains("holds no results files"), "{err}");
        std::fs::write(dir.path().join("x.json"), "{}").unwrap();
        let err = read_dir(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("x.json is not a hotpath results file"),
            "{err}"
        );
        let err = read_dir(&dir.path().join("missing"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot be read"), "{err}");
    }
}
