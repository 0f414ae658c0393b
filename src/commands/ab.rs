//! `hotpath ab --against LAST_GOOD`: this build (B) and the last good build (A) measured
//! alternately, benchmark by benchmark, in the same window, judged on the paired rounds
//! (`hotpath_compare::paired`); a flagged regression is measured again before it
//! counts. Exit 1 on a confirmed regression or a failed check in the new build.
//!
//! Each side of a round is one `hotpath run --op … --shape … --dtype …` of that build, so
//! each build measures with its own kernels and code; the results files go to a private
//! temporary directory that is removed at the end.

use clap::Args;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use hotpath_compare::ab::{self, AbReport, AbRow, Build, NotJudged};
use hotpath_compare::paired::{self, Order, Round};
use hotpath_compare::{self as compare, Verdict};
use hotpath_core::results::{self, ResultsFile, Status};
use hotpath_core::suite::{self, DeviceClass};
use hotpath_core::{Error, OpSpec, Result};

use super::compare::{json, TextFormat};
use crate::backends;
use crate::cli::{BackendChoice, Outcome};

/// The most rounds accepted.
pub const MAX_ROUNDS: usize = 20;

/// Arguments of `hotpath ab`.
#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct AbArgs {
    /// The last good build's hotpath binary (A).
    #[arg(long, value_name = "BIN")]
    pub against: PathBuf,
    /// The new build's hotpath binary (B); default this binary. A wrapper script may stand
    /// here (the nightly self-test plants a slowdown in the new build so).
    #[arg(long, value_name = "BIN")]
    pub new: Option<PathBuf>,
    /// Backend to run on (both builds use the same).
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Device index.
    #[arg(long, default_value_t = 0)]
    pub device: usize,
    /// Suite whose benchmarks are compared (quick, decode, prefill, ceilings, full).
    #[arg(long, default_value = "quick")]
    pub suite: String,
    /// Rounds per benchmark, at least 2: each runs both builds, the order alternating
    /// (AB, BA, AB, …); a flagged regression gets as many rounds again.
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Smallest change that counts, in percent of the last good build's time.
    #[arg(long, default_value_t = compare::DEFAULT_THRESHOLD_PCT)]
    pub threshold: f64,
    /// Also write the comparison as JSON (schema hotpath.ab/1) to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value_t = TextFormat::Table)]
    pub format: TextFormat,
    /// Keep the last good build's results files of every round in this directory (created
    /// if missing): runs of known-good code measured minutes apart, which `hotpath compare
    /// --history` reads as the run-to-run spread.
    #[arg(long, value_name = "DIR")]
    pub keep_runs: Option<PathBuf>,
    /// Arguments given to every `hotpath run` of both builds, after `--` (e.g. `--
    /// --time-limit 1 --min-time 0.2`).
    #[arg(last = true)]
    pub run_args: Vec<String>,
}

/// Measures, judges, measures flagged regressions again, prints; see the module doc.
pub fn run(args: &AbArgs) -> Result<Outcome> {
    let threshold = compare::check_threshold(args.threshold)?;
    if !(2..=MAX_ROUNDS).contains(&args.rounds) {
        return Err(Error::bad_input(format!(
            "--rounds {} is not valid; give 2 to {MAX_ROUNDS} (a round runs both builds once)",
            args.rounds
        )));
    }
    check_binary(&args.against, "--against")?;
    let me = match &args.new {
        Some(bin) => {
            check_binary(bin, "--new")?;
            bin.clone()
        }
        None => std::env::current_exe()
            .map_err(|e| Error::backend(format!("cannot find this hotpath binary: {e}")))?,
    };
    if let Some(out) = &args.out {
        results::check_writable(out)?;
    }
    let (backend, devices) = backends::select(args.backend)?;
    let Some(info) = devices.get(args.device) else {
        return Err(Error::bad_input(format!(
            "--device {} is not valid; the {} backend has {} device(s), 0 to {}",
            args.device,
            backend.name(),
            devices.len(),
            devices.len().saturating_sub(1)
        )));
    };
    let backend_name = backend.name();
    let device = format!("{} {}", info.backend, info.name);
    drop(backend);
    let suite = suite::suite(&args.suite, DeviceClass::of_backend(backend_name))?;
    let dir = tempfile::Builder::new()
        .prefix("hotpath-ab-")
        .tempdir()
        .map_err(|e| Error::backend(format!("cannot create a private temporary directory: {e}")))?;
    if let Some(keep) = &args.keep_runs {
        std::fs::create_dir_all(keep).map_err(|e| {
            Error::bad_input(format!(
                "--keep-runs {} cannot be created ({e}); give a writable directory",
                keep.display()
            ))
        })?;
        let meta = std::fs::symlink_metadata(keep).map_err(|e| Error::io(keep, e))?;
        if !meta.is_dir() {
            return Err(Error::bad_input(format!(
                "--keep-runs {} is not a directory (a symbolic link is not followed); give a directory",
                keep.display()
            )));
        }
    }
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let runner = Runner {
        keep: args.keep_runs.clone().map(|d| (d, stamp)),
        a_skips_calibration: knows_no_calibration(&args.against),
        b_skips_calibration: knows_no_calibration(&me),
        a: args.against.clone(),
        b: me.clone(),
        backend: backend_name,
        device: args.device,
        run_args: args.run_args.clone(),
        dir: dir.path().to_path_buf(),
    };

    let start = Instant::now();
    let mut report = AbReport {
        schema: ab::SCHEMA,
        a: build(&args.against),
        b: build(&me),
        device,
        suite: suite.name.clone(),
        rounds: args.rounds,
        threshold_pct: args.threshold,
        verdicts: paired::DEFINITIONS,
        run_args: args.run_args.clone(),
        regressions: vec![],
        improvements: vec![],
        noisy: vec![],
        failed_checks: vec![],
        rows: vec![],
        not_judged: vec![],
        wall_s: 0.0,
    };
    let n = suite.specs.len();
    for (i, spec) in suite.specs.iter().enumerate() {
        let label = format!("[{}/{n}] {}", i + 1, spec_label(spec));
        let first = runner.measure(spec, &format!("{i}"), args.rounds, &label, &mut report)?;
        let mut judged: Vec<(String, paired::Judgement)> = Vec::new();
        for (id, rounds) in first {
            match paired::judge(&rounds, threshold) {
                Ok(j) => judged.push((id, j)),
                Err(e) => report.not_judged.push(NotJudged { id, reason: e.0 }),
            }
        }
        let flagged = judged.iter().any(|(_, j)| j.verdict == Verdict::Regression);
        let mut again = BTreeMap::new();
        if flagged {
            let label = format!("{label} (measured again: flagged as a regression)");
            for (id, rounds) in runner.measure(
                spec,
                &format!("{i}-again"),
                args.rounds,
                &label,
                &mut report,
            )? {
                if let Ok(j) = paired::judge(&rounds, threshold) {
                    again.insert(id, j);
                }
            }
        }
        for (id, j) in judged {
            let second = (j.verdict == Verdict::Regression)
                .then(|| again.remove(&id))
                .flatten();
            let (verdict, note) = paired::confirm(&j, second.as_ref());
            eprintln!("ab: {id}: {}", verdict.name());
            report.rows.push(AbRow {
                id,
                first: j,
                again: second,
                verdict,
                note,
            });
        }
    }
    report.wall_s = start.elapsed().as_secs_f64();
    report.tally();
    if let Some(out) = &args.out {
        results::write_json_atomic(&report, out)?;
    }
    let text = match args.format {
        TextFormat::Table => ab::text(&report),
        TextFormat::Md => ab::markdown(&report),
        TextFormat::Json => json(&report)?,
    };
    print!("{text}");
    Ok(if report.fails() {
        Outcome::CheckFailed
    } else {
        Outcome::Ok
    })
}

/// The two builds and how to run them.
struct Runner {
    a: PathBuf,
    b: PathBuf,
    /// Whether each build knows `run --no-calibration` (older builds do not: they measure
    /// their calibration ceilings too, which are then left out of the comparison).
    a_skips_calibration: bool,
    b_skips_calibration: bool,
    /// Where the last good build's results files are kept, and the prefix of their names.
    keep: Option<(PathBuf, String)>,
    backend: &'static str,
    device: usize,
    run_args: Vec<String>,
    dir: PathBuf,
}

impl Runner {
    /// `rounds` rounds of `spec`: per benchmark id, the rounds in which both builds measured
    /// it. Ids a side could not measure go to `report.not_judged` (once per id), failed
    /// checks of the new build to `report.failed_checks`; the builds' versions are noted.
    fn measure(
        &self,
        spec: &OpSpec,
        tag: &str,
        rounds: usize,
        label: &str,
        report: &mut AbReport,
    ) -> Result<BTreeMap<String, Vec<Round>>> {
        let mut per_id: BTreeMap<String, Vec<Round>> = BTreeMap::new();
        let mut missing: BTreeMap<String, String> = BTreeMap::new();
        for r in 0..rounds {
            let order = Order::of_round(r);
            let sides: [(bool, &Path); 2] = match order {
                Order::AB => [(false, &self.a), (true, &self.b)],
                Order::BA => [(true, &self.b), (false, &self.a)],
            };
            let mut a_file = None;
            let mut b_file = None;
            for (is_b, bin) in sides {
                let name = if is_b { "b" } else { "a" };
                let out = match (&self.keep, is_b) {
                    (Some((keep, stamp)), false) => keep.join(format!("{stamp}-{tag}-{r}-a.json")),
                    _ => self.dir.join(format!("{tag}-{r}-{name}.json")),
                };
                let file = self.run(bin, spec, &out)?;
                if is_b {
                    b_file = file;
                } else {
                    a_file = file;
                }
            }
            let (a_file, b_file) = match (a_file, b_file) {
                (Some(a), Some(b)) => (a, b),
                (a, b) => {
                    let who = match (a.is_some(), b.is_some()) {
                        (false, false) => "neither build",
                        (false, true) => "the last good build",
                        _ => "the new build",
                    };
                    let id = spec_label(spec);
                    missing
                        .entry(id.clone())
                        .or_insert(format!("{who} wrote a results file in round {}", r + 1));
                    continue;
                }
            };
            note_tool(&mut report.a, &a_file);
            note_tool(&mut report.b, &b_file);
            let mut line = Vec::new();
            let mine = format!("{}/", spec_label(spec));
            for b in b_file.benchmarks.iter().filter(|b| b.id.starts_with(&mine)) {
                if b.status == Status::Failed && !report.failed_checks.contains(&b.id) {
                    report.failed_checks.push(b.id.clone());
                }
                let Some(a) = a_file.benchmarks.iter().find(|x| x.id == b.id) else {
                    missing
                        .entry(b.id.clone())
                        .or_insert("the last good build does not measure it".into());
                    continue;
                };
                match (usable(a), usable(b)) {
                    (Ok(()), Ok(())) => {
                        let round = Round {
                            order,
                            a_samples_s: a.samples_s.clone(),
                            b_samples_s: b.samples_s.clone(),
                        };
                        line.push(format!(
                            "{} {:.3}",
                            b.imp,
                            hotpath_core::stats::median(&b.samples_s)
                                / hotpath_core::stats::median(&a.samples_s)
                        ));
                        per_id.entry(b.id.clone()).or_default().push(round);
                    }
                    (Err(why), _) => {
                        missing
                            .entry(b.id.clone())
                            .or_insert(format!("the last good build {why}"));
                    }
                    (_, Err(why)) => {
                        missing
                            .entry(b.id.clone())
                            .or_insert(format!("the new build {why}"));
                    }
                }
            }
            eprintln!(
                "ab: {label} round {}/{rounds} ({}): B/A {}",
                r + 1,
                order.name(),
                if line.is_empty() {
                    "-".to_string()
                } else {
                    line.join(", ")
                }
            );
        }
        // Only ids measured by both builds in every round are judged.
        per_id.retain(|id, v| {
            let whole = v.len() == rounds;
            if !whole {
                missing.entry(id.clone()).or_insert(format!(
                    "measured by both builds in {} of {rounds} rounds",
                    v.len()
                ));
            }
            whole
        });
        for (id, reason) in missing {
            if !report.not_judged.iter().any(|n| n.id == id) {
                report.not_judged.push(NotJudged { id, reason });
            }
        }
        Ok(per_id)
    }

    /// One `hotpath run` of `spec` by `bin` into `out`; the results file, or None when the
    /// run wrote none (its last words are printed). Exit 130 (interrupted) stops everything.
    fn run(&self, bin: &Path, spec: &OpSpec, out: &Path) -> Result<Option<ResultsFile>> {
        let shape = spec.shape.to_string();
        let skip = if bin == self.a {
            self.a_skips_calibration
        } else {
            self.b_skips_calibration
        };
        // Each run executes a fresh copy of its build: the page cache holds one copy of a
        // binary's code for every process that runs it, at the same physical addresses, and
        // on a CPU that placement can bias a kernel by several percent for as long as the
        // file stays cached (measured: one build's attn_decode slower than an identical copy
        // in 8 of 9 runs). A fresh copy per run turns that bias into noise the rounds see.
        let fresh = self.dir.join(format!(
            ".build-{}",
            out.file_stem()
                .map_or("run".into(), |s| s.to_string_lossy())
        ));
        let exe = match std::fs::copy(bin, &fresh) {
            Ok(_) => fresh.clone(),
            Err(_) => bin.to_path_buf(),
        };
        let output = Command::new(&exe)
            .arg("run")
            .args(skip.then_some("--no-calibration"))
            .args(["--backend", self.backend])
            .args(["--device", &self.device.to_string()])
            .args(["--op", spec.op.name()])
            .args(["--shape", &shape])
            .args(["--dtype", spec.dtype.name()])
            .arg("--out")
            .arg(out)
            .args(&self.run_args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .map_err(|e| Error::backend(format!("cannot start {}: {e}", bin.display())));
        if exe == fresh {
            let _ = std::fs::remove_file(&fresh);
        }
        let output = output?;
        match output.status.code() {
            Some(130) => {
                return Err(Error::backend(format!(
                    "{} was interrupted; the comparison stops",
                    bin.display()
                )))
            }
            Some(0) | Some(1) => {}
            code => {
                let stderr = String::from_utf8_lossy(&output.stderr);
                let last = stderr.lines().rev().find(|l| !l.trim().is_empty());
                eprintln!(
                    "ab: {} run of {} exited with {}: {}",
                    bin.display(),
                    spec_label(spec),
                    code.map_or("a signal".to_string(), |c| c.to_string()),
                    last.unwrap_or("no message")
                );
            }
        }
        if !out.exists() {
            return Ok(None);
        }
        ResultsFile::read(out).map(Some)
    }
}

/// Why a result cannot be judged, or Ok.
fn usable(b: &hotpath_core::results::BenchmarkResult) -> std::result::Result<(), String> {
    match b.status {
        Status::Ok if !b.samples_s.is_empty() => Ok(()),
        Status::Ok => Err("kept no samples".into()),
        Status::Failed => Err("failed its correctness check".into()),
        Status::Error => Err(format!(
            "could not run it: {}",
            b.error.as_deref().unwrap_or("no reason recorded")
        )),
    }
}

fn spec_label(spec: &OpSpec) -> String {
    format!("{}/{}/{}", spec.op, spec.shape, spec.dtype)
}

fn build(bin: &Path) -> Build {
    Build {
        binary: bin.display().to_string(),
        version: None,
        git: None,
    }
}

fn note_tool(build: &mut Build, file: &ResultsFile) {
    if build.version.is_none() {
        build.version = Some(file.tool.version.clone());
        build.git = file.tool.git.clone();
    }
}

/// Whether `bin run --help` lists `--no-calibration`.
fn knows_no_calibration(bin: &Path) -> bool {
    Command::new(bin)
        .args(["run", "--help"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("--no-calibration"))
}

/// A build must be an executable regular file; `flag` names it in the error.
fn check_binary(path: &Path, flag: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).map_err(|e| {
        Error::bad_input(format!(
            "{flag} {} cannot be read ({e}); give the path of a hotpath binary",
            path.display()
        ))
    })?;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        return Err(Error::bad_input(format!(
            "{flag} {} is not an executable file; give the path of a hotpath binary",
            path.display()
        )));
    }
    Ok(())
}
