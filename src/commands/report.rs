//! `hotpath report`: results files → DIR/report.md and DIR/report.html.

use std::path::Path;

use hotpath_core::results::ResultsFile;
use hotpath_core::{Error, Result};
use hotpath_report as report;

use crate::cli::{Outcome, ReportArgs};

fn write(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// Reads every input first (a bad one fails before anything is written), then writes both;
/// with --history, also (or only) the trend page. A benchmark above a roof is a warning on
/// stderr and a marker in the report, not a failure: the exit code stays 0.
pub fn run(args: &ReportArgs) -> Result<Outcome> {
    let history = match &args.history {
        Some(dir) => Some(report::history::read_dir(dir)?),
        None => None,
    };
    let files = args
        .results
        .iter()
        .map(|p| ResultsFile::read(p))
        .collect::<Result<Vec<_>>>()?;
    let criterion = match &args.criterion {
        Some(dir) => Some(report::criterion::read_dir(dir)?),
        None => None,
    };
    if args.out.exists() && !args.out.is_dir() {
        return Err(Error::bad_input(format!(
            "--out {} is a file; give a directory",
            args.out.display()
        )));
    }
    std::fs::create_dir_all(&args.out).map_err(|e| {
        Error::bad_input(format!("cannot create --out {}: {e}", args.out.display()))
    })?;
    if let Some(runs) = &history {
        let series = report::history::series(runs);
        let md = args.out.join("history.md");
        let html = args.out.join("history.html");
        write(&md, &report::history::markdown(&series, runs.len()))?;
        write(&html, &report::history::html(&series, runs.len())?)?;
        println!("{}\n{}", md.display(), html.display());
        if files.is_empty() {
            return Ok(Outcome::Ok);
        }
    }
    let md = args.out.join("report.md");
    let html = args.out.join("report.html");
    let estimates = match criterion {
        Some(found) => {
            for s in &found.skipped {
                eprintln!("warning: criterion estimate left out: {s}");
            }
            found.estimates
        }
        None => vec![],
    };
    let mut text = report::markdown(&files);
    if !estimates.is_empty() {
        text.push_str(&report::criterion::markdown(&estimates));
    }
    write(&md, &text)?;
    write(&html, &report::html(&files, &estimates)?)?;
    for f in &files {
        for warn in report::above_roof(f) {
            eprintln!("warning: above a roof (suspect the measurement, not the kernel): {warn}");
        }
    }
    println!("{}\n{}", md.display(), html.display());
    Ok(Outcome::Ok)
}
