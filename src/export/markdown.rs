//! Markdown table, for READMEs and reports.

use hotpath_core::results::ResultsFile;
use hotpath_core::Result;

use super::{header_line, notes, rows, Exporter, HEADERS};

/// GitHub-flavoured Markdown table.
pub struct MarkdownExporter;

impl Exporter for MarkdownExporter {
    fn export(&self, file: &ResultsFile) -> Result<String> {
        let mut out = format!("{}\n\n", header_line(file));
        out.push_str(&format!("| {} |\n", HEADERS.join(" | ")));
        let align: Vec<&str> = (0..HEADERS.len())
            .map(|i| {
                if i < 4 || i == 8 || i == 11 {
                    "---"
                } else {
                    "---:"
                }
            })
            .collect();
        out.push_str(&format!("|{}|\n", align.join("|")));
        for r in rows(file) {
            out.push_str(&format!("| {} |\n", r.cells().join(" | ")));
        }
        let notes = notes(file);
        if !notes.is_empty() {
            out.push('\n');
            for n in notes {
                out.push_str(&format!("- {n}\n"));
            }
        }
        Ok(out)
    }
}
