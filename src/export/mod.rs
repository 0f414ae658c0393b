//! Exporters of a results file: one per output format behind one trait (hyperfine's layout).

mod csv;
mod json;
mod markdown;
mod table;

use hotpath_core::estimator::{self, Estimator};
use hotpath_core::graph_timing;
use hotpath_core::results::{ResultsFile, Status};
use hotpath_core::roof_check;
use hotpath_core::units::{sig3, Seconds};
use hotpath_core::Result;

use crate::cli::Format;

/// Turns a results file into text for stdout.
pub trait Exporter {
    /// Renders `file`.
    fn export(&self, file: &ResultsFile) -> Result<String>;
}

/// The exporter for `format`.
pub fn exporter(format: Format) -> Box<dyn Exporter> {
    match format {
        Format::Table => Box::new(table::TableExporter),
        Format::Json => Box::new(json::JsonExporter),
        Format::Csv => Box::new(csv::CsvExporter),
        Format::Md => Box::new(markdown::MarkdownExporter),
    }
}

/// One benchmark as the human-facing formats show it (already formatted, decimal units).
pub struct Row {
    pub op: String,
    pub shape: String,
    pub dtype: String,
    pub imp: String,
    /// Time per iteration at the estimator: the median, or `… best` (a ceiling's fastest sample).
    pub time: String,
    pub rse: String,
    pub gb_s: String,
    pub tflop_s: String,
    pub bound: String,
    pub pct_spec: String,
    pub pct_measured: String,
    pub check: String,
}

/// Column headers matching [`Row`]'s fields.
pub const HEADERS: [&str; 12] = [
    "op", "shape", "dtype", "impl", "time", "rse", "GB/s", "TFLOP/s", "bound", "%spec", "%meas",
    "check",
];

impl Row {
    /// The row's cells in [`HEADERS`] order.
    pub fn cells(&self) -> [&str; 12] {
        [
            &self.op,
            &self.shape,
            &self.dtype,
            &self.imp,
            &self.time,
            &self.rse,
            &self.gb_s,
            &self.tflop_s,
            &self.bound,
            &self.pct_spec,
            &self.pct_measured,
            &self.check,
        ]
    }
}

fn pct(v: Option<f64>) -> String {
    v.map(|e| format!("{:.1}", e * 100.0))
        .unwrap_or_else(|| "-".into())
}

/// Rows for every benchmark in `file`.
pub fn rows(file: &ResultsFile) -> Vec<Row> {
    file.benchmarks
        .iter()
        .map(|b| {
            let check = match (b.status, &b.correctness) {
                (Status::Ok, Some(c)) => format!("pass ({:.0e})", c.nmse),
                (Status::Failed, Some(c)) => format!("FAIL ({:.1e})", c.nmse),
                (Status::Error, _) => "ERROR".into(),
                _ => "-".into(),
            };
            let roof = b.roofline.as_ref();
            Row {
                op: b.op.to_string(),
                shape: b.shape.to_string(),
                dtype: b.dtype.to_string(),
                imp: b.imp.clone(),
                time: estimator::time_text(b).unwrap_or_else(|| "-".into()),
                rse: b
                    .measurement
                    .as_ref()
                    .map(|m| format!("{:.2}%", m.rel_stderr * 100.0))
                    .unwrap_or_else(|| "-".into()),
                gb_s: b
                    .rates
                    .filter(|_| b.bytes > 0)
                    .map(|r| sig3(r.bytes_per_s / 1e9))
                    .unwrap_or_else(|| "-".into()),
                tflop_s: b
                    .rates
                    .filter(|_| b.flops > 0)
                    .map(|r| sig3(r.flops_per_s / 1e12))
                    .unwrap_or_else(|| "-".into()),
                bound: roof
                    .map(|r| format!("{:?}", r.bound).to_lowercase())
                    .unwrap_or_else(|| "-".into()),
                pct_spec: graph_timing::mark_efficiency(
                    pct(roof.and_then(|r| r.efficiency_spec)),
                    b,
                ),
                pct_measured: graph_timing::mark_efficiency(
                    pct(roof.and_then(|r| r.efficiency_measured)),
                    b,
                ),
                check,
            }
        })
        .collect()
}

/// One-line summary of the device, roofs and measurement settings.
pub fn header_line(file: &ResultsFile) -> String {
    let d = &file.device;
    let mut roofs = Vec::new();
    if let Some(bw) = file.hardware.mem_bytes_per_s {
        roofs.push(format!("spec {} GB/s", sig3(bw / 1e9)));
    }
    let set_by = |key: &str| match file.measured.set_by.get(key) {
        Some(id) => format!(" (roof set by {id})"),
        None => String::new(),
    };
    if let Some(bw) = file.measured.mem_bytes_per_s {
        roofs.push(format!(
            "measured {} GB/s{}",
            sig3(bw / 1e9),
            set_by(roof_check::MEM_KEY)
        ));
    }
    for (dt, p) in &file.measured.peak_flops {
        roofs.push(format!(
            "measured {dt} {} TFLOP/s{}",
            sig3(p / 1e12),
            set_by(&roof_check::peak_key(dt))
        ));
    }
    format!(
        "{} {} ({}) | hardware {} | cache {} | roofs: {}",
        d.backend,
        d.index,
        d.name,
        file.hardware.id,
        file.config.cache.name(),
        if roofs.is_empty() {
            "none known".to_string()
        } else {
            roofs.join(", ")
        }
    )
}

/// Lines printed under a table: how the ceilings were estimated, which ceilings were measured
/// again at the end of the run and why, and every roof a benchmark set ("roof set by <id>").
pub fn notes(file: &ResultsFile) -> Vec<String> {
    let mut out = Vec::new();
    if file
        .benchmarks
        .iter()
        .any(|b| estimator::of(b) == Estimator::Best)
    {
        out.push(
            "ceilings (time \"best\"): rate of the fastest sample of batches of at least 10 ms; other benchmarks: the median"
                .to_string(),
        );
    }
    for b in &file.benchmarks {
        let Some(r) = b.measurement.as_ref().and_then(|m| m.remeasured.as_ref()) else {
            continue;
        };
        let second = r
            .second_s
            .map_or_else(|| "failed".to_string(), |s| Seconds(s).to_string());
        out.push(format!(
            "{} measured again ({} above the roof it set): first {}, second {}; the faster is kept",
            b.id,
            r.triggered_by.join(", "),
            Seconds(r.first_s),
            second
        ));
    }
    for (key, id) in &file.measured.set_by {
        let value = match key.strip_prefix("peak_flops.") {
            Some(d) => file
                .measured
                .peak_flops
                .get(d)
                .map(|p| format!("{d} peak {} TFLOP/s", sig3(p / 1e12))),
            None => file
                .measured
                .mem_bytes_per_s
                .map(|bw| format!("bandwidth {} GB/s", sig3(bw / 1e9))),
        };
        out.push(format!(
            "roof set by {id}: the measured {} (still above the roof after its ceiling was measured again)",
            value.unwrap_or_else(|| key.clone())
        ));
    }
    out
}
