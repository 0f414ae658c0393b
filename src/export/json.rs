//! JSON: the whole results file (schema hotpath.results/1).

use hotpath_core::results::ResultsFile;
use hotpath_core::{Error, Result};

use super::Exporter;

/// Pretty-printed results file.
pub struct JsonExporter;

impl Exporter for JsonExporter {
    fn export(&self, file: &ResultsFile) -> Result<String> {
        serde_json::to_string_pretty(file)
            .map(|s| s + "\n")
            .map_err(|e| Error::backend(format!("cannot serialize results: {e}")))
    }
}
