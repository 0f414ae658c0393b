//! The worker side (`hotpath __worker`, hidden): opens one device, then runs each
//! [`Job`] read from stdin and answers on stdout, until stdin closes or a benchmark ends in
//! a device error (the device may be poisoned, so this process runs nothing more).

use std::io::{BufRead, Write};
use std::time::{Duration, Instant};

use hotpath_core::runner::run_one;
use hotpath_core::{Error, Result};

use super::protocol::{Job, Reply};
use super::supervisor::WORKER_ENV;
use crate::backends;
use crate::cli::{BackendChoice, Outcome};

/// Runs jobs for device `index` of `backend` until stdin closes or a device error.
pub fn run(backend: BackendChoice, index: usize) -> Result<Outcome> {
    die_with_parent()?;
    let (backend, _) = backends::select(backend)?;
    let mut device = backend.open(index)?;
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = line.map_err(|e| Error::backend(format!("worker: reading a job: {e}")))?;
        let job: Job = serde_json::from_str(&line)
            .map_err(|e| Error::bad_input(format!("worker: a job line is not valid: {e}")))?;
        let mut last = Instant::now();
        let mut progress = |f: f64| {
            if last.elapsed() >= Duration::from_millis(100) {
                last = Instant::now();
                let _ = send(&mut std::io::stdout(), &Reply::Progress(f));
            }
        };
        let ran = run_one(
            device.as_mut(),
            &job.spec,
            &job.imp,
            job.cache,
            job.llc_hint.as_ref(),
            &job.cfg,
            &mut progress,
        );
        let retire = ran.device_error;
        send(&mut out, &Reply::Result(Box::new(ran)))
            .map_err(|e| Error::backend(format!("worker: writing a result: {e}")))?;
        if retire {
            break;
        }
    }
    Ok(Outcome::Ok)
}

fn send(out: &mut impl Write, reply: &Reply) -> std::io::Result<()> {
    let text = serde_json::to_string(reply).map_err(std::io::Error::other)?;
    writeln!(out, "{text}")?;
    out.flush()
}

/// Asks the kernel to kill this worker when the run that started it dies (even by
/// SIGKILL), so no orphan keeps a GPU busy; exits if that run is already gone.
fn die_with_parent() -> Result<()> {
    let Some(parent) = std::env::var(WORKER_ENV)
        .ok()
        .and_then(|p| p.parse::<i32>().ok())
    else {
        return Err(Error::bad_input(
            "__worker is internal: it is started by `hotpath run`, not by hand".to_string(),
        ));
    };
    // SAFETY: prctl(PR_SET_PDEATHSIG) and getppid take no pointers and cannot corrupt memory.
    unsafe {
        libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
        if libc::getppid() != parent {
            std::process::exit(0);
        }
    }
    Ok(())
}
