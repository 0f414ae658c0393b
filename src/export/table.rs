//! Aligned plain-text table for terminals.

use hotpath_core::results::ResultsFile;
use hotpath_core::Result;

use super::{header_line, notes, rows, Exporter, HEADERS};

/// Aligned text table with a device/roof header line.
pub struct TableExporter;

impl Exporter for TableExporter {
    fn export(&self, file: &ResultsFile) -> Result<String> {
        let rows = rows(file);
        let mut widths: Vec<usize> = HEADERS.iter().map(|h| h.chars().count()).collect();
        for r in &rows {
            for (w, c) in widths.iter_mut().zip(r.cells()) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: [&str; 12]| {
            let parts: Vec<String> = cells
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (c, w))| {
                    // Text columns left-aligned, numbers right-aligned.
                    if i < 4 || i == 8 || i == 11 {
                        format!("{c:<w$}")
                    } else {
                        format!("{c:>w$}")
                    }
                })
                .collect();
            parts.join("  ").trim_end().to_string()
        };
        let mut out = format!("{}\n", header_line(file));
        out.push_str(&line(HEADERS));
        out.push('\n');
        for r in &rows {
            out.push_str(&line(r.cells()));
            out.push('\n');
        }
        for n in notes(file) {
            out.push_str(&n);
            out.push('\n');
        }
        Ok(out)
    }
}
