//! CSV: one row per benchmark, SI base units (seconds, bytes/s, FLOP/s), for spreadsheets.

use hotpath_core::results::ResultsFile;
use hotpath_core::{Error, Result};

use super::Exporter;

/// Comma-separated values with a header row.
pub struct CsvExporter;

const COLUMNS: [&str; 22] = [
    "id",
    "op",
    "shape",
    "dtype",
    "impl",
    "status",
    "median_s",
    "min_s",
    "mean_s",
    "stdev_s",
    "p10_s",
    "p90_s",
    "samples",
    "flops",
    "bytes",
    "flops_per_s",
    "bytes_per_s",
    "estimator",
    "efficiency_spec",
    "efficiency_measured",
    "nmse",
    "error",
];

fn opt(v: Option<f64>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

impl Exporter for CsvExporter {
    fn export(&self, file: &ResultsFile) -> Result<String> {
        let fail = |e: csv::Error| Error::backend(format!("cannot write CSV: {e}"));
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(COLUMNS).map_err(fail)?;
        for b in &file.benchmarks {
            let t = b.time;
            let roof = b.roofline.as_ref();
            w.write_record([
                b.id.clone(),
                b.op.to_string(),
                b.shape.to_string(),
                b.dtype.to_string(),
                b.imp.clone(),
                format!("{:?}", b.status).to_lowercase(),
                opt(t.map(|t| t.median_s)),
                opt(t.map(|t| t.min_s)),
                opt(t.map(|t| t.mean_s)),
                opt(t.map(|t| t.stdev_s)),
                opt(t.map(|t| t.p10_s)),
                opt(t.map(|t| t.p90_s)),
                b.samples_s.len().to_string(),
                b.flops.to_string(),
                b.bytes.to_string(),
                opt(b.rates.map(|r| r.flops_per_s)),
                opt(b.rates.map(|r| r.bytes_per_s)),
                hotpath_core::estimator::of(b).name().to_string(),
                opt(roof.and_then(|r| r.efficiency_spec)),
                opt(roof.and_then(|r| r.efficiency_measured)),
                opt(b.correctness.as_ref().map(|c| c.nmse)),
                b.error.clone().unwrap_or_default(),
            ])
            .map_err(fail)?;
        }
        let bytes = w
            .into_inner()
            .map_err(|e| Error::backend(format!("cannot write CSV: {e}")))?;
        String::from_utf8(bytes).map_err(|e| Error::backend(format!("CSV is not UTF-8: {e}")))
    }
}
