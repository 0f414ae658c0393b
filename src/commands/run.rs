//! `hotpath run`: plan, then measure each benchmark, rewriting the results file after each.

use std::path::PathBuf;

use hotpath_core::backend::{CacheMode, Device};
use hotpath_core::hardware::{self, HardwareSpec};
use hotpath_core::results::{ResultsFile, RunConfig, Status, ToolInfo, SCHEMA};
use hotpath_core::{host, Result};
use std::time::Duration;

use super::run_list::{self, Request};
use crate::backends;
use crate::cli::{CacheChoice, Outcome, RunArgs};
use crate::export;
use crate::isolate::{self, Executor, Step};
use crate::lock;
use crate::progress::RunProgress;

/// Runs the requested benchmarks on every selected device.
pub fn run(args: &RunArgs) -> Result<Outcome> {
    let request = Request::from_args(args)?;
    // A malformed fault-injection setting is bad input before anything runs.
    hotpath_core::fault::for_benchmark("")?;
    run_list::measure_config(args, 15.0)?;
    let hw_override = args.hardware.as_deref().map(hardware::by_id).transpose()?;
    let (backend, devices) = backends::select(args.backend)?;
    let indices = run_list::device_indices(&args.device, devices.len())?;
    let cache = match args.cache {
        CacheChoice::Cold => CacheMode::Cold,
        CacheChoice::Hot => CacheMode::Hot,
    };
    let stamp = chrono::Utc::now().format("%Y%m%d-%H%M%S").to_string();

    // List every device's benchmarks before measuring anything: bad input fails here, with nothing lost.
    let mut jobs = Vec::new();
    for &index in &indices {
        let device = backend.open(index)?;
        let (roofs, unmatched) = run_list::hardware_roofs(device.info(), hw_override.as_ref())?;
        let (benchmarks, notes, limit) = run_list::benchmarks(
            &request,
            device.as_ref(),
            args.imp.as_deref(),
            &roofs,
            !args.no_calibration,
        )?;
        let cfg = run_list::measure_config(args, limit)?;
        let path = run_list::out_path(
            args.out.as_deref(),
            backend.name(),
            &request.label(),
            index,
            indices.len() > 1,
            &stamp,
        );
        hotpath_core::results::check_writable(&path)?;
        let lacking = match roofs.mem_bytes_per_s {
            Some(_) => "spec efficiency is computed against the bandwidth the device reports only",
            None => "spec efficiency is not computed",
        };
        if let Some(why) = unmatched {
            eprintln!("warning: {why}; {lacking}");
        } else if roofs.id == "unknown" {
            eprintln!(
                "warning: no hardware entry matches '{}'; {lacking} (pass --hardware ID, see hotpath list)",
                device.info().name
            );
        }
        for n in notes {
            eprintln!("{n}");
        }
        let file = ResultsFile {
            schema: SCHEMA.to_string(),
            tool: ToolInfo {
                version: env!("CARGO_PKG_VERSION").to_string(),
                git: Some(env!("HOTPATH_GIT").to_string()).filter(|g| !g.is_empty()),
            },
            created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            host: host::detect(),
            device: device.info().clone(),
            hardware: roofs,
            measured: Default::default(),
            config: RunConfig {
                cache,
                min_samples: cfg.criterion.min_samples,
                min_time_s: cfg.criterion.min_time_s,
                max_rel_stderr: cfg.criterion.max_rel_stderr,
                warmup_s: cfg.warmup_s,
                time_limit_s: cfg.time_limit_s,
                min_sample_s: cfg.min_sample_s,
                throttle_fraction: cfg.throttle_fraction,
                timing: device.timing_method(),
                suite: match &request {
                    Request::Suite(s) => Some(s.clone()),
                    Request::Single(_) | Request::Model(_) => None,
                },
                inputs: "uniform random, seeded by FNV-1a of the spec (identical every run)"
                    .to_string(),
                telemetry_source: Some(device.telemetry_source()),
            },
            model: request.model_run(),
            benchmarks: Vec::new(),
        };
        jobs.push((device, benchmarks, cfg, path, file));
    }

    let mut outcome = Outcome::Ok;
    let mut any_error = false;
    isolate::signals::install().map_err(|e| {
        hotpath_core::Error::backend(format!("cannot install signal handlers: {e}"))
    })?;
    for (mut device, benchmarks, cfg, path, mut file) in jobs {
        let spec_roofs = file.hardware.clone();
        let mut lock = lock::claim(&mut file.device);
        let watchdog = args.watchdog.unwrap_or(60.0 + 4.0 * cfg.time_limit_s);
        let mut executor = Executor::new(
            args.isolation,
            backend.name(),
            file.device.index,
            Duration::from_secs_f64(watchdog),
            hw_override.as_ref().map(HardwareSpec::llc_hint),
        );
        let progress = RunProgress::new(benchmarks.len());
        for (i, (spec, imp)) in benchmarks.iter().enumerate() {
            progress.start(i, benchmarks.len(), &spec.id(imp));
            let step = executor.run(device.as_mut(), spec, imp, cache, &cfg, &mut |f| {
                progress.advance(i, f)
            });
            lock::note_intruders(&mut lock, &mut file.device);
            let Step::Done(result) = step else {
                progress.finish();
                file.write_atomic(&path)?;
                print!("{}", export::exporter(args.format).export(&file)?);
                eprintln!(
                    "interrupted: {} of {} benchmarks measured; results: {}",
                    file.benchmarks.len(),
                    benchmarks.len(),
                    display(&path)
                );
                return Ok(Outcome::Interrupted);
            };
            let result = *result;
            match result.status {
                Status::Ok => {}
                Status::Failed => {
                    outcome = Outcome::CheckFailed;
                    progress.println(&format!("check FAILED: {}", result.id));
                }
                Status::Error => {
                    any_error = true;
                    progress.println(&format!(
                        "error: {}: {}",
                        result.id,
                        result.error.as_deref().unwrap_or("unknown error")
                    ));
                }
            }
            file.benchmarks.push(result);
            update_roofs(&mut file, &spec_roofs, device.as_ref());
            file.write_atomic(&path)?;
        }
        let checked = super::run_roofs::recheck(
            &mut executor,
            device.as_mut(),
            &benchmarks,
            cache,
            &cfg,
            &mut file,
            &spec_roofs,
            &progress,
        );
        lock::note_intruders(&mut lock, &mut file.device);
        file.write_atomic(&path)?;
        if let super::run_roofs::Checked::Interrupted = checked {
            progress.finish();
            print!("{}", export::exporter(args.format).export(&file)?);
            eprintln!(
                "interrupted while measuring a ceiling again; results: {}",
                display(&path)
            );
            return Ok(Outcome::Interrupted);
        }
        progress.finish();
        print!("{}", export::exporter(args.format).export(&file)?);
        super::model_run::print_floors(&file, args.format)?;
        eprintln!("results: {}", display(&path));
    }
    if any_error {
        return Err(hotpath_core::Error::backend(
            "some benchmarks could not run (see the errors above); everything else is in the results file",
        ));
    }
    Ok(outcome)
}

/// Recomputes the file's roofs after each benchmark (see `hotpath_core::runner::update_roofs`).
fn update_roofs(
    file: &mut ResultsFile,
    spec: &hotpath_core::results::HardwareRoofs,
    device: &dyn Device,
) {
    hotpath_core::runner::update_roofs(file, spec, &|d| device.peak_dtype(d));
}

fn display(path: &std::path::Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| PathBuf::from(path))
        .display()
        .to_string()
}
