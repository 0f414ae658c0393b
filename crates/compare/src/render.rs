//! Text renderings of a [`Comparison`] and a [`Gap`]: an aligned table for terminals and
//! Markdown for reports and CI summaries. JSON is the structs themselves (serde).

use super::gap::{Gap, GapRow, Group};
use super::normalize::Normalize;
use super::{CompareRow, Comparison, Verdict};
use hotpath_core::units::{sig3, Seconds};

/// Aligned text table: the first `left` columns left-aligned, the rest right-aligned.
pub fn text_table(headers: &[&str], rows: &[Vec<String>], left: usize) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, &w))| {
                let pad = w.saturating_sub(c.chars().count());
                if i < left {
                    format!("{c}{}", " ".repeat(pad))
                } else {
                    format!("{}{c}", " ".repeat(pad))
                }
            })
            .collect();
        parts.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = line(headers.to_vec());
    for r in rows {
        out.push_str(&line(r.iter().map(String::as_str).collect()));
    }
    out
}

/// Markdown table (pipes in cells escaped).
pub fn markdown_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let esc = |c: &str| c.replace('|', "\\|");
    let mut out = format!(
        "| {} |\n|{}\n",
        headers.join(" | "),
        "---|".repeat(headers.len())
    );
    for r in rows {
        let cells: Vec<String> = r.iter().map(|c| esc(c)).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    out
}

/// A ratio as a signed percentage change: 1.103 → `+10.3 %`.
pub fn change_pct(ratio: f64) -> String {
    format!("{:+.1} %", (ratio - 1.0) * 100.0)
}

const COMPARE_HEADERS: [&str; 7] = [
    "benchmark",
    "base median",
    "new median",
    "median change",
    "HL change",
    "HL 95 % interval",
    "verdict (on HL)",
];

/// The headers of `c`'s table: the band column with a history, the `compared as` column
/// with `--normalize bandwidth`, both before the verdict.
fn compare_headers(c: &Comparison) -> Vec<&'static str> {
    let mut h = COMPARE_HEADERS[..6].to_vec();
    if c.normalize == Normalize::Bandwidth {
        h.push("compared as");
    }
    if c.history.is_some() {
        h.push("run-to-run band");
    }
    h.push(COMPARE_HEADERS[6]);
    h
}

/// A row's band cell: `±20.0 % (12 runs)`, or `none (2 runs)` with too few runs.
pub fn band_cell(r: &CompareRow) -> String {
    let runs = r.band_runs.unwrap_or(0);
    let plural = if runs == 1 { "" } else { "s" };
    match r.band {
        Some(b) => format!("±{:.1} % ({runs} run{plural})", b * 100.0),
        None => format!("none ({runs} run{plural})"),
    }
}

fn compare_cells(c: &Comparison, r: &CompareRow) -> Vec<String> {
    let interval = match (r.ci_low, r.ci_high) {
        (Some(lo), Some(hi)) => format!("{} … {}", change_pct(lo), change_pct(hi)),
        _ => "-".into(),
    };
    let verdict = match r.verdict {
        Verdict::Regression => "REGRESSION".to_string(),
        v => v.name().to_string(),
    };
    let mut cells = vec![
        r.id.clone(),
        Seconds(r.base_median_s).to_string(),
        Seconds(r.new_median_s).to_string(),
        change_pct(r.ratio),
        r.hl_ratio.map(change_pct).unwrap_or_else(|| "-".into()),
        interval,
    ];
    if c.normalize == Normalize::Bandwidth {
        cells.push(r.compared_as.name().to_string());
    }
    if c.history.is_some() {
        cells.push(band_cell(r));
    }
    cells.push(verdict);
    cells
}

/// How to read the columns of a comparison, and which of them decide the verdict.
pub const COMPARE_LEGEND: &str = "median change: ratio of medians (new median / base median) \
- 1, reported only; HL change and HL 95 % interval: Hodges-Lehmann estimate of the ratio \
new/base (median of all pairwise ratios) and its Mann-Whitney interval, which decide the verdict";

/// The one-line count of verdicts, with the threshold and what else decided them.
pub fn summary(c: &Comparison) -> String {
    let count = |v: Verdict| c.rows.iter().filter(|r| r.verdict == v).count();
    let band = if c.history.is_some() {
        ", and the run-to-run band"
    } else {
        ""
    };
    let normalize = if c.normalize == Normalize::Bandwidth {
        "; memory-bound benchmarks as efficiency against their run's bandwidth roof"
    } else {
        ""
    };
    format!(
        "{} regressions, {} improvements, {} noisy, {} unchanged (threshold ±{} %{band}{normalize})",
        count(Verdict::Regression),
        count(Verdict::Improvement),
        count(Verdict::Noisy),
        count(Verdict::Unchanged),
        c.threshold_pct
    )
}

/// The line that says where the bands came from, with a history.
fn history_line(c: &Comparison) -> Option<String> {
    let h = c.history.as_ref()?;
    Some(format!(
        "{}: {} run{} of {} [{}] (the last up to {} per benchmark, at least {} for a band){}{}",
        h.dir,
        h.runs,
        if h.runs == 1 { "" } else { "s" },
        h.device,
        h.hardware,
        h.window,
        h.min_runs,
        if h.other_hardware > 0 {
            format!(
                "; {} file{} of other hardware ignored",
                h.other_hardware,
                if h.other_hardware == 1 { "" } else { "s" }
            )
        } else {
            String::new()
        },
        if h.new_excluded {
            "; the new file itself left out"
        } else {
            ""
        }
    ))
}

fn label(l: &super::FileLabel) -> String {
    format!(
        "{} ({}, {}{})",
        l.file,
        l.device,
        l.created,
        l.git.as_ref().map(|g| format!(", {g}")).unwrap_or_default()
    )
}

/// Lines after the table: unmatched and skipped benchmarks, warnings, summary, method.
fn compare_notes(c: &Comparison, bullet: &str) -> Vec<String> {
    let mut out = Vec::new();
    for id in &c.only_in_base {
        out.push(format!("{bullet}only in base: {id}"));
    }
    for id in &c.only_in_new {
        out.push(format!("{bullet}only in new: {id}"));
    }
    for s in &c.not_compared {
        out.push(format!("{bullet}not compared: {} ({})", s.id, s.reason));
    }
    for w in &c.warnings {
        out.push(format!("{bullet}warning: {w}"));
    }
    for r in c.rows.iter().filter(|r| r.note.is_some()) {
        out.push(format!(
            "{bullet}note: {}: {}",
            r.id,
            r.note.as_deref().unwrap_or_default()
        ));
    }
    out
}

/// The comparison as an aligned text table.
pub fn compare_text(c: &Comparison) -> String {
    let rows: Vec<Vec<String>> = c.rows.iter().map(|r| compare_cells(c, r)).collect();
    let mut out = format!("base: {}\nnew:  {}\n", label(&c.base), label(&c.new));
    if let Some(h) = history_line(c) {
        out.push_str(&format!("history: {h}\n"));
    }
    out.push_str(&text_table(&compare_headers(c), &rows, 1));
    for l in compare_notes(c, "") {
        out.push_str(&l);
        out.push('\n');
    }
    out.push_str(&format!(
        "{}\n{COMPARE_LEGEND}\nmethod: {}\n{}\n",
        summary(c),
        c.method,
        c.verdicts
    ));
    out
}

/// The comparison as Markdown.
pub fn compare_markdown(c: &Comparison) -> String {
    let rows: Vec<Vec<String>> = c.rows.iter().map(|r| compare_cells(c, r)).collect();
    let history = history_line(c)
        .map(|h| format!("- history: {h}\n"))
        .unwrap_or_default();
    let mut out = format!(
        "# hotpath compare\n\n- base: {}\n- new: {}\n{history}- **{}**\n\n",
        label(&c.base),
        label(&c.new),
        summary(c)
    );
    out.push_str(&markdown_table(&compare_headers(c), &rows));
    let notes = compare_notes(c, "- ");
    if !notes.is_empty() {
        out.push('\n');
        out.push_str(&notes.join("\n"));
        out.push('\n');
    }
    out.push_str(&format!(
        "\nColumns: {COMPARE_LEGEND}.\n\nMethod: {}.\n\nVerdicts: {}.\n",
        c.method,
        c.verdicts.trim_start_matches("verdicts ")
    ));
    out
}

const GAP_HEADERS: [&str; 12] = [
    "op/shape/dtype",
    "impl A",
    "impl B",
    "time A",
    "time B",
    "A %spec",
    "B %spec",
    "gap spec (pp)",
    "A %meas",
    "B %meas",
    "gap meas (pp)",
    "A speedup",
];

fn pct(v: Option<f64>) -> String {
    v.map(|e| format!("{:.1}", e * 100.0))
        .unwrap_or_else(|| "-".into())
}

fn pp(v: Option<f64>) -> String {
    v.map(|e| format!("{e:+.1}")).unwrap_or_else(|| "-".into())
}

fn gap_cells(r: &GapRow) -> Vec<String> {
    vec![
        r.key.clone(),
        r.impl_a.clone(),
        r.impl_b.clone(),
        Seconds(r.a_median_s).to_string(),
        Seconds(r.b_median_s).to_string(),
        pct(r.a_eff_spec),
        pct(r.b_eff_spec),
        pp(r.gap_spec_pp),
        pct(r.a_eff_measured),
        pct(r.b_eff_measured),
        pp(r.gap_measured_pp),
        format!("{}×", sig3(r.a_speedup)),
    ]
}

fn gap_side(s: &super::gap::SideInfo) -> String {
    let bw = |v: Option<f64>| v.map(|b| format!("{} GB/s", sig3(b / 1e9)));
    format!(
        "{} — {} [{}]{}; roofs: spec {}, measured {}",
        s.file,
        s.device,
        s.hardware,
        s.driver
            .as_ref()
            .map(|d| format!(", {d}"))
            .unwrap_or_default(),
        bw(s.spec_mem_bytes_per_s).unwrap_or_else(|| "-".into()),
        bw(s.measured_mem_bytes_per_s).unwrap_or_else(|| "-".into()),
    )
}

/// How to read the gap table, printed under it.
pub const GAP_LEGEND: &str = "%spec / %meas: each side's roofline floor time ÷ its median time, \
against its own spec and measured roofs (100 = on the roof); gap (pp) = A − B in percentage \
points, above 0 when A is closer to its roof; A speedup = B time ÷ A time (above 1: A is faster)";

fn gap_groups(g: &Gap) -> Vec<(Group, Vec<Vec<String>>)> {
    [Group::SameSource, Group::VendorLibrary]
        .into_iter()
        .map(|grp| {
            let rows = g
                .rows
                .iter()
                .filter(|r| r.group == grp)
                .map(gap_cells)
                .collect();
            (grp, rows)
        })
        .collect()
}

/// The gap table as aligned text, one table per group.
pub fn gap_text(g: &Gap) -> String {
    let mut out = format!("A: {}\nB: {}\n", gap_side(&g.a), gap_side(&g.b));
    for (grp, rows) in gap_groups(g) {
        out.push_str(&format!("\n{}:\n", grp.title()));
        if rows.is_empty() {
            out.push_str("(none on both sides)\n");
        } else {
            out.push_str(&text_table(&GAP_HEADERS, &rows, 3));
        }
    }
    if !g.unpaired.is_empty() {
        out.push('\n');
    }
    for u in &g.unpaired {
        out.push_str(&format!(
            "not in the table: {} {} ({})\n",
            u.side.to_uppercase(),
            u.id,
            u.reason
        ));
    }
    out.push_str(&format!("\n{GAP_LEGEND}\n"));
    out
}

/// The gap table as Markdown, one table per group.
pub fn gap_markdown(g: &Gap) -> String {
    let mut out = format!(
        "# hotpath gap\n\n- A: {}\n- B: {}\n",
        gap_side(&g.a),
        gap_side(&g.b)
    );
    for (grp, rows) in gap_groups(g) {
        out.push_str(&format!("\n## {}\n\n", grp.title()));
        if rows.is_empty() {
            out.push_str("(none on both sides)\n");
        } else {
            out.push_str(&markdown_table(&GAP_HEADERS, &rows));
        }
    }
    if !g.unpaired.is_empty() {
        out.push_str("\n## not in the table\n\n");
        for u in &g.unpaired {
            out.push_str(&format!(
                "- {} {} ({})\n",
                u.side.to_uppercase(),
                u.id,
                u.reason
            ));
        }
    }
    out.push_str(&format!("\n{GAP_LEGEND}.\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_escape() {
        let rows = vec![
            vec!["a".to_string(), "1".to_string()],
            vec!["bbb".to_string(), "22".to_string()],
        ];
        assert_eq!(
            text_table(&["x", "y"], &rows, 1),
            "x     y\na     1\nbbb  22\n"
        );
        let md = markdown_table(&["x"], &[vec!["a|b".to_string()]]);
        assert_eq!(md, "| x |\n|---|\n| a\\|b |\n");
        assert_eq!(change_pct(1.1034), "+10.3 %");
        assert_eq!(change_pct(0.9), "-10.0 %");
    }
}
