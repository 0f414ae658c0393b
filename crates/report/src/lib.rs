//! `hotpath report`: results files turned into report.md and a self-contained report.html
//! (inline SVG rooflines, no scripts, no network), several files side by side.
//!
//! A benchmark above one of its roofs (recomputed by [`roofs::above_roof`]) is a measurement
//! or cost-model bug, or an under-measured roof, never a fast kernel: the report says so at
//! the top of the device's section, marks its row and draws its point in red.

pub mod bandwidth;
pub mod chart;
pub mod clocks;
pub mod criterion;
pub mod floors;
#[cfg(test)]
mod graph_tests;
pub mod history;
mod label;
pub mod roofs;
pub mod svgread;
pub mod tables;
#[cfg(test)]
mod testdata;

use hotpath_core::results::ResultsFile;

pub use tables::{headers, metadata, row, Row, HEADERS};

/// How far a point may lie above a roof measured in the same run (2 %: the run's noise)
/// before the report calls it above its roof. Datasheet roofs allow nothing.
pub const TOLERANCE: f64 = 0.02;

/// What the charts' point labels say, written under the charts.
pub const LABEL_NOTE: &str = "Point labels: op, shape (b batch, S sequence, L context, hq/hkv query/KV heads, d head dim, page page size, T tokens, N elements), dtype, implementation. A point above a roof is red; the streaming ceiling that defines the measured bandwidth roof is ringed.";

/// One line per benchmark of `file` above a roof (see [`roofs::above_roof`]).
pub fn above_roof(file: &ResultsFile) -> Vec<String> {
    roofs::above_roof(file, TOLERANCE)
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// The warning a section of `file` opens with when benchmarks lie above a roof.
fn above_roof_warning(file: &ResultsFile) -> Option<String> {
    let found = above_roof(file);
    (!found.is_empty()).then(|| {
        format!(
            "ABOVE A ROOF: {}. A point above a roof is a measurement or cost-model bug, or a \
             roof measured too low (a ceiling run while the machine was slower): suspect the \
             numbers, not a fast kernel.",
            found.join("; ")
        )
    })
}

/// report.md for `files`.
pub fn markdown(files: &[ResultsFile]) -> String {
    let mut out = String::from("# hotpath report\n\n");
    for f in files {
        out.push_str(&format!("## {} — {}\n\n", f.device.name, f.hardware.id));
        if let Some(w) = above_roof_warning(f) {
            out.push_str(&format!("**{w}**\n\n"));
        }
        out.push_str("| | |\n|---|---|\n");
        for (k, v) in metadata(f) {
            out.push_str(&format!("| {k} | {v} |\n"));
        }
        let heads = headers(f);
        for (op, rows) in tables::grouped(f) {
            out.push_str(&format!(
                "\n### {op}\n\n| {} |\n|{}\n",
                heads.join(" | "),
                "---|".repeat(heads.len())
            ));
            for r in rows {
                out.push_str(&format!("| {} |\n", r.cells.join(" | ")));
            }
        }
        out.push_str(&floors::markdown(f));
        out.push_str(&clocks::markdown(f));
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
) -> hotpath_core::error::Result<String> {
    let mut body = String::new();
    for f in files {
        let (svg, _) = chart::roofline_svg(f)?;
        let (bw_svg, _) = bandwidth::bandwidth_svg(f)?;
        body.push_str(&format!(
            "<section><h2>{} — {}</h2>\n",
            esc(&f.device.name),
            esc(&f.hardware.id)
        ));
        if let Some(w) = above_roof_warning(f) {
            body.push_str(&format!("<p class=\"warn\">{}</p>\n", esc(&w)));
        }
        body.push_str("<table class=\"meta\">");
        for (k, v) in metadata(f) {
            body.push_str(&format!(
                "<tr><th>{}</th><td>{}</td></tr>",
                esc(&k),
                esc(&v)
            ));
        }
        body.push_str("</table>\n");
        body.push_str(&format!(
            "<div class=\"chart\">{svg}</div>\n<div class=\"chart\">{bw_svg}</div>\n<p class=\"note\">{}</p>\n",
            esc(LABEL_NOTE)
        ));
        let heads = headers(f);
        for (op, rows) in tables::grouped(f) {
            body.push_str(&format!("<h3>{}</h3><table><tr>", esc(&op)));
            for h in &heads {
                body.push_str(&format!("<th>{}</th>", esc(h)));
            }
            body.push_str("</tr>");
            for r in rows {
                body.push_str("<tr>");
                for c in &r.cells {
                    let class = if c.contains(tables::ABOVE_MARK) {
                        " class=\"warn\""
                    } else {
                        ""
                    };
                    body.push_str(&format!("<td{class}>{}</td>", esc(c)));
                }
                body.push_str("</tr>");
            }
            body.push_str("</table>\n");
        }
        body.push_str(&floors::html(f));
        body.push_str(&clocks::html(f)?);
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
         .warn{{color:#a00;font-weight:bold}} .note{{font-size:12px;color:#555;max-width:900px}}\n</style></head>\n<body><h1>hotpath report</h1><div class=\"files\">\n{body}</div></body></html>\n"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::svgread;

    /// The y pixel of a roof plateau: the last vertex of the three-vertex line of `stroke`.
    fn plateau_px(svg: &str, stroke: &str) -> Vec<f64> {
        svgread::polylines(svg)
            .into_iter()
            .filter(|p| p.stroke == stroke && p.points.len() == 3)
            .map(|p| p.points[2].1)
            .collect()
    }

    /// Pixel y of `v` on the chart's log y axis.
    fn y_px(axes: &svgread::Axes, v: f64) -> f64 {
        svgread::log_map(&axes.y_ticks, v)
    }

    #[test]
    fn two_devices_side_by_side_each_with_its_own_roofs() {
        let files = [testdata::h100_file(), testdata::mi300x_file()];
        let page = html(&files, &[]).unwrap();
        assert_eq!(page.matches("<section>").count(), 2);
        let h100 = page
            .find("<h2>NVIDIA H100 80GB HBM3 — h100-sxm</h2>")
            .unwrap();
        let mi300 = page.find("<h2>AMD Instinct MI300X — mi300x</h2>").unwrap();
        assert!(h100 < mi300, "sections in the order given");
        let (a, b) = page.split_at(mi300);
        // Each section: its own metadata, two charts, its own tables.
        assert!(a.contains("3350 GB/s (datasheet") && !a.contains("5300 GB/s"));
        assert!(b.contains("5300 GB/s (datasheet") && !b.contains("3350 GB/s"));
        assert!(a.contains("<h3>gemm</h3>") && !b.contains("<h3>gemm</h3>"));
        for (part, device) in [(a, "NVIDIA H100 80GB HBM3"), (b, "AMD Instinct MI300X")] {
            let svgs = svgread::documents(part);
            assert_eq!(svgs.len(), 2, "{device}: roofline and bandwidth charts");
            assert!(svgs[0].contains(&format!("{device} (")) && svgs[0].contains("roofline"));
            assert!(svgs[1].contains(&format!("{device} — bandwidth")));
            assert_eq!(part.matches("<h3>gemv</h3>").count(), 1);
        }
        // Each roofline draws its own plateaus: H100 spec 989.4, measured 800 TFLOP/s;
        // MI300X spec 1307.4, measured 1000 TFLOP/s.
        for (part, spec, measured) in [(a, 989.4e12, 8e14), (b, 1307.4e12, 1e15)] {
            let svg = svgread::documents(part)[0];
            let axes = svgread::axes(svg).unwrap();
            let red = plateau_px(svg, "#C81E1E");
            let blue = plateau_px(svg, "#1E5AC8");
            assert_eq!((red.len(), blue.len()), (1, 1));
            assert!((red[0] - y_px(&axes, spec)).abs() <= 1.5, "{red:?}");
            assert!((blue[0] - y_px(&axes, measured)).abs() <= 1.5, "{blue:?}");
        }
        let md = markdown(&files);
        let h = md.find("## NVIDIA H100 80GB HBM3 — h100-sxm").unwrap();
        let m = md.find("## AMD Instinct MI300X — mi300x").unwrap();
        assert!(h < m && md[h..m].contains("### gemm") && !md[m..].contains("### gemm"));
        assert_eq!(md.matches("### gemv").count(), 2);
    }

    #[test]
    fn interleaved_ops_get_one_section_each() {
        let mut f = testdata::h100_file();
        // gemv, copy, gemv: the second gemv belongs in the first gemv's table.
        f.benchmarks = vec![
            f.benchmarks[2].clone(),
            f.benchmarks[0].clone(),
            f.benchmarks[2].clone(),
        ];
        f.benchmarks[2].imp = "candle".into();
        let md = markdown(std::slice::from_ref(&f));
        assert_eq!(md.matches("### gemv").count(), 1, "{md}");
        assert_eq!(md.matches("### copy").count(), 1);
        assert!(md.find("### gemv").unwrap() < md.find("### copy").unwrap());
        let gemv = &md[md.find("### gemv").unwrap()..md.find("### copy").unwrap()];
        assert!(
            gemv.contains("| hotpath |") && gemv.contains("| candle |"),
            "{gemv}"
        );
        let page = html(std::slice::from_ref(&f), &[]).unwrap();
        assert_eq!(page.matches("<h3>gemv</h3>").count(), 1);
    }

    #[test]
    fn a_point_above_its_roof_is_loud_in_both_reports() {
        let mut f = testdata::h100_file();
        // gemv at 3.1 TB/s against the measured 3.0 TB/s roof.
        f.benchmarks[2] = testdata::bench(
            hotpath_core::OpKind::Gemv,
            "m=1,n=16384,k=8192",
            hotpath_core::DType::Bf16,
            "hotpath",
            testdata::Rate::Bytes(3.1e12),
            None,
        );
        let md = markdown(std::slice::from_ref(&f));
        assert!(md.contains("**ABOVE A ROOF: gemv/m=1,n=16384,k=8192/bf16/hotpath at 103.3 % of the measured bandwidth roof"), "{md}");
        assert!(md.contains("; ABOVE ITS ROOF |"));
        let page = html(std::slice::from_ref(&f), &[]).unwrap();
        assert!(page.contains("<p class=\"warn\">ABOVE A ROOF: gemv/"));
        assert!(page.contains("<td class=\"warn\">-; ABOVE ITS ROOF</td>"));
        // Nothing is flagged in the file as measured.
        let clean = markdown(&[testdata::h100_file()]);
        assert!(!clean.contains("ABOVE"));
    }
}
