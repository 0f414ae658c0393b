//! `hotpath fleet RESULTS...`: the slow GPU among many nodes of one kind. Reads validate
//! reports and/or results files (directories are searched for `*.json`), groups them by
//! hardware id and flags values more than k robust spreads below the fleet's median.
//! Exit 1 when a node is flagged slow, failed its own validation or (with `--expect-nodes`)
//! sent no report, 0 otherwise, 2 on bad input.

use std::path::{Path, PathBuf};

use clap::Args;
use hotpath_core::{Error, Result};
use hotpath_validate::fleet::{self, FleetReport, Member};
use hotpath_validate::{junit, prometheus, render, Status};

use super::compare::json;
use super::validate::{check_exports, write_exports, ValidateFormat};
use crate::cli::Outcome;

/// `hotpath fleet` arguments.
#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct FleetArgs {
    /// Validate reports (`hotpath validate --out`) or results files (`hotpath run --out`),
    /// or directories holding them (every `*.json` inside, not recursive).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Flag a node beyond this many robust spreads (1.4826 × MAD, kept within 1 % and
    /// 10 % of the median) from the fleet's median.
    #[arg(long, default_value_t = fleet::DEFAULT_K)]
    pub k: f64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = ValidateFormat::Table)]
    pub format: ValidateFormat,
    /// Also write the report as JSON (schema hotpath.fleet/1) to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The nodes that should have reported, one name per line (`scontrol show hostnames
    /// "$SLURM_JOB_NODELIST"`); a listed node with no report is named missing (exit 1).
    #[arg(long, value_name = "FILE")]
    pub expect_nodes: Option<PathBuf>,
    /// An earlier fleet report (`--out` of a healthy night): every metric it judged is judged
    /// here against its median and spread, so even one or two nodes are judged.
    #[arg(long, value_name = "FLEET_JSON")]
    pub baseline: Option<PathBuf>,
    /// Also write the Prometheus text to this file, atomically (node_exporter's textfile
    /// collector).
    #[arg(long, value_name = "FILE")]
    pub export_prometheus: Option<PathBuf>,
    /// Also write the JUnit XML to this file, atomically.
    #[arg(long, value_name = "FILE")]
    pub export_junit: Option<PathBuf>,
}

/// Reads every file, analyses, prints.
pub fn run(args: &FleetArgs) -> Result<Outcome> {
    let inputs = expand(&args.files)?;
    let out = args.out.as_deref().map(same_file_key);
    let is_out = |p: &Path| out.as_ref().is_some_and(|o| *o == same_file_key(p));
    if let Some((path, _)) = inputs.iter().find(|(p, named)| *named && is_out(p)) {
        return Err(Error::bad_input(format!(
            "--out {} is also an input of this fleet report; write the report elsewhere, e.g. into a fleet/ directory beside the inputs",
            path.display()
        )));
    }
    if let Some(out) = &args.out {
        hotpath_core::results::check_writable(out)?;
    }
    check_exports(
        args.export_prometheus.as_deref(),
        args.export_junit.as_deref(),
    )?;
    let expected = args
        .expect_nodes
        .as_deref()
        .map(|p| {
            let text = read_flag_file(p, "--expect-nodes", "a file of node names, one per line")?;
            fleet::parse_expected(&text, &format!("--expect-nodes {}", p.display()))
        })
        .transpose()?;
    let baseline = args
        .baseline
        .as_deref()
        .map(|p| {
            let what = "a fleet report written by hotpath fleet --out";
            let text = read_flag_file(p, "--baseline", what)?;
            serde_json::from_str::<FleetReport>(&text)
                .ok()
                .filter(|r| r.schema == fleet::SCHEMA)
                .ok_or_else(|| {
                    Error::bad_input(format!(
                        "--baseline {} is not a fleet report ({}); give {what}",
                        p.display(),
                        fleet::SCHEMA
                    ))
                })
        })
        .transpose()?;
    let baseline_path = args.baseline.as_deref().map(same_file_key);
    let mut members: Vec<Member> = Vec::new();
    for (path, named) in inputs {
        let is_out = is_out(&path);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        // A directory holds this report's own earlier output, or another fleet report: not
        // a node. Files named on the command line are always read (and refused if foreign).
        let is_baseline = baseline_path.as_ref() == Some(&same_file_key(&path));
        if !named && (is_out || is_baseline || schema_of(&text).as_deref() == Some(fleet::SCHEMA)) {
            eprintln!(
                "note: {} is a fleet report, not a node; left out",
                path.display()
            );
            continue;
        }
        members.extend(fleet::parse_file(&text, &path.display().to_string())?);
    }
    let against = baseline
        .as_ref()
        .zip(args.baseline.as_ref())
        .map(|(r, p)| fleet::Baseline {
            report: r,
            name: p.display().to_string(),
        });
    let mut report = fleet::analyze_against(members, args.k, against.as_ref())?;
    if let Some(expected) = &expected {
        fleet::mark_missing(&mut report, expected);
    }
    if let Some(out) = &args.out {
        hotpath_core::results::write_json_atomic(&report, out)?;
    }
    let created = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let here = hotpath_core::host::detect().hostname;
    match args.format {
        ValidateFormat::Table => print!("{}", render::fleet_table(&report)),
        ValidateFormat::Json => print!("{}", json(&report)?),
        ValidateFormat::Prometheus => print!("{}", prometheus::fleet(&report)),
        ValidateFormat::Junit => print!("{}", junit::fleet(&report, &created, &here)),
    }
    write_exports(
        args.export_prometheus.as_deref(),
        || prometheus::fleet(&report),
        args.export_junit.as_deref(),
        || junit::fleet(&report, &created, &here),
    )?;
    let failed = report
        .groups
        .iter()
        .flat_map(|g| &g.members)
        .any(|m| m.validate == Some(Status::Fail));
    Ok(
        if failed || !report.slow_nodes.is_empty() || !report.missing_nodes.is_empty() {
            Outcome::CheckFailed
        } else {
            Outcome::Ok
        },
    )
}

/// The text of the file given with `flag`; a file that cannot be read is bad input that says
/// what to give instead (`what`).
fn read_flag_file(p: &Path, flag: &str, what: &str) -> Result<String> {
    std::fs::read_to_string(p).map_err(|e| {
        Error::bad_input(format!(
            "{flag} {} cannot be read ({e}); give {what}",
            p.display()
        ))
    })
}

/// A path's identity for "is this the same file": the canonical path when it exists, else
/// the canonical parent joined with the file name (an --out not yet written).
fn same_file_key(p: &Path) -> PathBuf {
    if let Ok(c) = p.canonicalize() {
        return c;
    }
    match (p.parent(), p.file_name()) {
        (Some(dir), Some(name)) => {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            dir.canonicalize()
                .map_or_else(|_| p.to_path_buf(), |d| d.join(name))
        }
        _ => p.to_path_buf(),
    }
}

/// The `schema` field of a JSON text, if it has one.
fn schema_of(text: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    Some(v.get("schema")?.as_str()?.to_string())
}

/// The files named (flagged `true`), with each directory replaced by its `*.json` files in
/// name order (flagged `false`; hidden files, such as a run still being written, left out).
fn expand(paths: &[PathBuf]) -> Result<Vec<(PathBuf, bool)>> {
    let mut out = Vec::new();
    for p in paths {
        if !p.is_dir() {
            if !p.exists() {
                return Err(Error::bad_input(format!(
                    "{} does not exist; give validate reports, results files or directories of them",
                    p.display()
                )));
            }
            out.push((p.clone(), true));
            continue;
        }
        let mut found: Vec<PathBuf> = std::fs::read_dir(p)
            .map_err(|e| Error::io(p, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|f| is_visible_json(f))
            .collect();
        if found.is_empty() {
            return Err(Error::bad_input(format!(
                "{} holds no *.json files; give the directory the validate jobs wrote to",
                p.display()
            )));
        }
        found.sort();
        out.extend(found.into_iter().map(|f| (f, false)));
    }
    Ok(out)
}

fn is_visible_json(f: &Path) -> bool {
    f.is_file()
        && f.extension().is_some_and(|e| e == "json")
        && f.file_name()
            .is_some_and(|n| !n.to_string_lossy().starts_with('.'))
}
