//! `hotpath report`: results files turned into report.md and a self-contained report.html
//! (inline SVG rooflines, no scripts, no network), several files side by side.

pub mod chart;
pub mod criterion;
pub mod floors;
pub mod history;

use crate::results::{BenchmarkResult, ResultsFile, Status};
use crate::units::{sig3, Seconds};

/// One table row of a benchmark, already formatted.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Op name (tables are grouped by it).
    pub op: String,
    /// Cells: shape, dtype, impl, median, GB/s, TFLOP/s, bound, %spec, %meas, to roof, check.
    pub cells: Vec<String>,
}

/// Column headers of [`Row::cells`].
pub const HEADERS: [&str; 11] = [
    "shape",
    "dtype",
    "impl",
    "median",
    "GB/s",
    "TFLOP/s",
    "bound",
    "% of spec roof",
    "% of measured roof",
    "to roof",
    "check",
];

fn pct(v: Option<f64>) -> String {
    v.map(|e| format!("{:.1}", e * 100.0))
        .unwrap_or_else(|| "-".into())
}

/// The formatted row of one benchmark.
pub fn row(b: &BenchmarkResult) -> Row {
    let (median, gbs, tfs) = match (b.time, b.rates) {
        (Some(t), Some(r)) => (
            Seconds(t.median_s).to_string(),
            if b.bytes > 0 {
                sig3(r.bytes_per_s / 1e9)
            } else {
                "-".into()
            },
            if b.flops > 0 {
                sig3(r.flops_per_s / 1e12)
            } else {
                "-".into()
            },
        ),
        _ => ("-".into(), "-".into(), "-".into()),
    };
    let rf = b.roofline.as_ref();
    let to_roof = match (b.time, rf.and_then(|r| r.floor_measured_s)) {
        (Some(t), Some(f)) => Seconds((t.median_s - f).max(0.0)).to_string(),
        _ => "-".into(),
    };
    let check = match (&b.status, &b.correctness) {
        (Status::Ok, Some(c)) => format!("pass (nmse {:.0e})", c.nmse),
        (Status::Failed, _) => "FAILED".into(),
        (Status::Error, _) => format!("error: {}", b.error.as_deref().unwrap_or("unknown")),
        (Status::Ok, None) => "-".into(),
    };
    Row {
        op: b.op.to_string(),
        cells: vec![
            b.shape.to_string(),
            b.dtype.to_string(),
            b.imp.clone(),
            median,
            gbs,
            tfs,
            rf.map(|r| format!("{:?}", r.bound).to_lowercase())
                .unwrap_or_else(|| "-".into()),
            pct(rf.and_then(|r| r.efficiency_spec)),
            pct(rf.and_then(|r| r.efficiency_measured)),
            to_roof,
            check,
        ],
    }
}

/// Device and run facts a reader needs to trust or doubt the numbers.
pub fn metadata(file: &ResultsFile) -> Vec<(String, String)> {
    let d = &file.device;
    let discarded: u64 = file.benchmarks.iter().map(|b| b.discarded_samples).sum();
    let clocks: Vec<(f64, f64)> = file
        .benchmarks
        .iter()
        .filter_map(|b| b.measurement.as_ref().and_then(|m| m.sm_clock_mhz))
        .collect();
    let clock = if clocks.is_empty() {
        "not readable on this device".to_string()
    } else {
        let lo = clocks.iter().map(|c| c.0).fold(f64::INFINITY, f64::min);
        let hi = clocks.iter().map(|c| c.1).fold(0.0, f64::max);
        format!("{lo:.0}–{hi:.0} MHz around kept samples")
    };
    let c = &file.config;
    vec![
        (
            "device".into(),
            format!("{} [{} {}] {}", d.name, d.backend, d.index, d.arch),
        ),
        (
            "driver".into(),
            d.driver.clone().unwrap_or_else(|| "-".into()),
        ),
        (
            "memory".into(),
            format!(
                "{:.1} GB, last-level cache {:.1} MB, {} compute units",
                d.memory_bytes as f64 / 1e9,
                d.llc_bytes as f64 / 1e6,
                d.compute_units
            ),
        ),
        ("hardware entry".into(), file.hardware.id.clone()),
        (
            "spec bandwidth".into(),
            file.hardware
                .mem_bytes_per_s
                .map(|b| format!("{} GB/s", sig3(b / 1e9)))
                .unwrap_or_else(|| "-".into()),
        ),
        (
            "measured bandwidth".into(),
            file.measured
                .mem_bytes_per_s
                .map(|b| format!("{} GB/s (best cold streaming ceiling)", sig3(b / 1e9)))
                .unwrap_or_else(|| "-".into()),
        ),
        (
            "cache".into(),
            format!(
                "{} (inputs rotated past the last-level cache when cold)",
                c.cache.name()
            ),
        ),
        ("timing".into(), format!("{:?}", c.timing)),
        (
            "sampling".into(),
            format!(
                "≥ {} samples, ≥ {} s, stop at {:.2} % RSE, {} s limit",
                c.min_samples,
                c.min_time_s,
                c.max_rel_stderr * 100.0,
                c.time_limit_s
            ),
        ),
        ("clocks".into(), clock),
        (
            "discarded samples".into(),
            format!(
                "{discarded} (clock below {:.0} % of max)",
                c.throttle_fraction * 100.0
            ),
        ),
        (
            "created".into(),
            format!(
                "{} by hotpath {}{}",
                file.created,
                file.tool.version,
                file.tool
                    .git
                    .as_ref()
                    .map(|g| format!(" ({g})"))
                    .unwrap_or_default()
            ),
        ),
    ]
}

/// Benchmarks whose achieved rate lies above a roof by more than `tolerance` (0.02 = 2 %):
/// a point above a roof is a measurement or cost-model bug, never a fast kernel.
pub fn above_roof(file: &ResultsFile, tolerance: f64) -> Vec<String> {
    file.benchmarks
        .iter()
        .filter_map(|b| {
            let r = b.roofline.as_ref()?;
            let worst = [r.efficiency_spec, r.efficiency_measured]
                .into_iter()
                .flatten()
                .fold(0.0, f64::max);
            (worst > 1.0 + tolerance)
                .then(|| format!("{} at {:.1} % of its roof", b.id, worst * 100.0))
        })
        .collect()
}

/// report.md for `files`.
pub fn markdown(files: &[ResultsFile]) -> String {
    let mut out = String::from("# hotpath report\n\n");
    for f in files {
        out.push_str(&format!("## {} — {}\n\n", f.device.name, f.hardware.id));
        out.push_str("| | |\n|---|---|\n");
        for (k, v) in metadata(f) {
            out.push_str(&format!("| {k} | {v} |\n"));
        }
        let flagged = above_roof(f, 0.02);
        if !flagged.is_empty() {
            out.push_str(&format!(
                "\n**Above a roof (suspect the measurement):** {}\n",
                flagged.join("; ")
            ));
        }
        let rows: Vec<Row> = f.benchmarks.iter().map(row).collect();
        let mut ops: Vec<&str> = rows.iter().map(|r| r.op.as_str()).collect();
        ops.dedup();
        for op in ops {
            out.push_str(&format!(
                "\n### {op}\n\n| {} |\n|{}\n",
                HEADERS.join(" | "),
                "---|".repeat(HEADERS.len())
            ));
            for r in rows.iter().filter(|r| r.op == op) {
                out.push_str(&format!("| {} |\n", r.cells.join(" | ")));
            }
        }
        out.push_str(&floors::markdown(f));
        out.push('\n');
    }
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// report.html for `files`: one self-contained page, files side by side, then criterion
/// estimates when given.
pub fn html(
    files: &[ResultsFile],
    estimates: &[criterion::Estimate],
) -> crate::error::Result<String> {
    let mut body = String::new();
    for f in files {
        let (svg, _) = chart::roofline_svg(f)?;
        let (bw_svg, _) = chart::bandwidth_svg(f)?;
        body.push_str(&format!(
            "<section><h2>{} — {}</h2>\n<table class=\"meta\">",
            esc(&f.device.name),
            esc(&f.hardware.id)
        ));
        for (k, v) in metadata(f) {
            body.push_str(&format!(
                "<tr><th>{}</th><td>{}</td></tr>",
                esc(&k),
                esc(&v)
            ));
        }
        body.push_str("</table>\n");
        let flagged = above_roof(f, 0.02);
        if !flagged.is_empty() {
            body.push_str(&format!(
                "<p class=\"warn\">Above a roof (suspect the measurement): {}</p>",
                esc(&flagged.join("; "))
            ));
        }
        body.push_str(&format!(
            "<div class=\"chart\">{svg}</div>\n<div class=\"chart\">{bw_svg}</div>\n"
        ));
        let rows: Vec<Row> = f.benchmarks.iter().map(row).collect();
        let mut ops: Vec<&str> = rows.iter().map(|r| r.op.as_str()).collect();
        ops.dedup();
        for op in ops {
            body.push_str(&format!("<h3>{}</h3><table><tr>", esc(op)));
            for h in HEADERS {
                body.push_str(&format!("<th>{}</th>", esc(h)));
            }
            body.push_str("</tr>");
            for r in rows.iter().filter(|r| r.op == op) {
                body.push_str("<tr>");
                for c in &r.cells {
                    body.push_str(&format!("<td>{}</td>", esc(c)));
                }
                body.push_str("</tr>");
            }
            body.push_str("</table>\n");
        }
        body.push_str(&floors::html(f));
        body.push_str("</section>\n");
    }
    if !estimates.is_empty() {
        body.push_str("<section><h2>criterion estimates (cargo bench)</h2><table><tr>");
        for h in criterion::HEADERS {
            body.push_str(&format!("<th>{}</th>", esc(h)));
        }
        body.push_str("</tr>");
        for e in estimates {
            body.push_str("<tr>");
            for c in criterion::cells(e) {
                body.push_str(&format!("<td>{}</td>", esc(&c)));
            }
            body.push_str("</tr>");
        }
        body.push_str("</table></section>\n");
    }
    Ok(format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>hotpath report</title>\n<style>\n\
         body{{font-family:sans-serif;margin:16px;color:#222}} .files{{display:flex;gap:24px;flex-wrap:wrap}}\n\
         section{{flex:1 1 900px;min-width:900px}} table{{border-collapse:collapse;margin:6px 0 14px}}\n\
         th,td{{border:1px solid #ccc;padding:2px 6px;font-size:12px;text-align:right}} .meta th,.meta td{{text-align:left}}\n\
         .warn{{color:#a00;font-weight:bold}}\n</style></head>\n<body><h1>hotpath report</h1><div class=\"files\">\n{body}</div></body></html>\n"
    ))
}
