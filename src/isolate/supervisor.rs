//! The parent side: starts workers, hands them one benchmark at a time, and turns a crash
//! or a watchdog timeout into that benchmark's failure. A worker is used for the next
//! benchmark only if the last one left its device usable: after a device error
//! ([`hotpath_core::runner::Ran::device_error`]: a failed launch, copy, allocation or sync,
//! which on a GPU can be sticky and fail every later call in the process), a crash, a hang
//! or an unreadable reply, it is reaped (or killed) and a fresh worker takes the next one.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use hotpath_core::backend::CacheMode;
use hotpath_core::cache::LlcHint;
use hotpath_core::measure::MeasureConfig;
use hotpath_core::runner::error_result;
use hotpath_core::OpSpec;

use super::protocol::{Job, Reply};
use super::{signals, Step};

/// Set in a worker's environment, so it knows it is one.
pub const WORKER_ENV: &str = "HOTPATH_WORKER";

/// Appended to the error of a benchmark whose device error retired its worker.
pub const REPLACED: &str = "; the worker was replaced, since a device error can leave a GPU context unusable for the rest of its process (CUDA errors such as an illegal address are sticky), and a fresh worker runs the next benchmark";

/// Runs benchmarks in worker processes for one device.
pub struct Supervisor {
    backend: String,
    index: usize,
    watchdog: Duration,
    llc_hint: Option<LlcHint>,
    worker: Option<Worker>,
}

struct Worker {
    child: Child,
    stdin: ChildStdin,
    replies: Receiver<Line>,
}

enum Line {
    Reply(Reply),
    /// A reply that does not decode (a bug, never expected): the error.
    Garbled(String),
    /// stdout closed: the worker exited.
    End,
}

impl Supervisor {
    /// A supervisor for device `index` of `backend`; a benchmark still running after
    /// `watchdog` is killed and recorded as hung.
    pub fn new(backend: &str, index: usize, watchdog: Duration) -> Supervisor {
        Supervisor {
            backend: backend.to_string(),
            index,
            watchdog,
            llc_hint: None,
            worker: None,
        }
    }

    /// Sizes every cold cache from this hardware file (the run's `--hardware`).
    pub fn set_llc_hint(&mut self, hint: Option<LlcHint>) {
        self.llc_hint = hint;
    }

    /// From now on, a benchmark still running after `watchdog` is killed and recorded as hung.
    pub fn set_watchdog(&mut self, watchdog: Duration) {
        self.watchdog = watchdog;
    }

    /// Runs one benchmark in the worker (starting one if needed).
    pub fn run(
        &mut self,
        spec: &OpSpec,
        imp: &str,
        cache: CacheMode,
        cfg: &MeasureConfig,
        on_progress: &mut dyn FnMut(f64),
    ) -> Step {
        let fail = |msg: String| Step::Done(Box::new(error_result(spec, imp, msg)));
        let job = Job {
            spec: spec.clone(),
            imp: imp.to_string(),
            cache,
            llc_hint: self.llc_hint.clone(),
            cfg: *cfg,
        };
        let line = match serde_json::to_string(&job) {
            Ok(l) => l,
            Err(e) => return fail(format!("cannot encode the benchmark for the worker: {e}")),
        };
        let worker = match self.worker.take() {
            Some(w) => w,
            None => match self.spawn() {
                Ok(w) => w,
                Err(e) => return fail(e),
            },
        };
        let mut worker = worker;
        if let Err(e) = writeln!(worker.stdin, "{line}").and_then(|_| worker.stdin.flush()) {
            let status = reap(&mut worker.child);
            return fail(format!(
                "the worker process could not take the benchmark ({e}); it {}",
                describe(status)
            ));
        }
        let start = Instant::now();
        loop {
            if signals::interrupted() {
                kill(&mut worker.child);
                return Step::Interrupted;
            }
            let left = self.watchdog.saturating_sub(start.elapsed());
            if left.is_zero() {
                kill(&mut worker.child);
                return fail(format!(
                    "hung: no result after {:.0} s (the watchdog, --watchdog); the worker was killed and a fresh one runs the next benchmark",
                    self.watchdog.as_secs_f64()
                ));
            }
            match worker
                .replies
                .recv_timeout(left.min(Duration::from_millis(100)))
            {
                Ok(Line::Reply(Reply::Progress(f))) => on_progress(f),
                Ok(Line::Reply(Reply::Result(ran))) => {
                    let mut result = ran.result;
                    if ran.device_error {
                        retire(worker);
                        let why = result.error.get_or_insert_with(String::new);
                        why.push_str(REPLACED);
                    } else {
                        self.worker = Some(worker);
                    }
                    return Step::Done(Box::new(result));
                }
                Ok(Line::Garbled(e)) => {
                    retire(worker);
                    return fail(format!(
                        "the worker's result could not be decoded ({e}); a fresh worker runs the next benchmark"
                    ));
                }
                Ok(Line::End) | Err(RecvTimeoutError::Disconnected) => {
                    let status = reap(&mut worker.child);
                    return fail(format!(
                        "crashed: the worker process {} while running it; a fresh worker runs the next benchmark",
                        describe(status)
                    ));
                }
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }

    fn spawn(&self) -> Result<Worker, String> {
        let exe = std::env::current_exe()
            .map_err(|e| format!("cannot find the hotpath executable to start a worker: {e}"))?;
        let mut child = Command::new(exe)
            .args([
                "__worker",
                "--backend",
                &self.backend,
                "--device",
                &self.index.to_string(),
            ])
            .env(WORKER_ENV, std::process::id().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            // Its own process group: a terminal's Ctrl-C reaches the run, which decides.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start a worker process: {e}"))?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            kill(&mut child);
            return Err("the worker process has no stdin/stdout pipes".to_string());
        };
        let (tx, replies) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str::<Reply>(&line) {
                    Ok(r) => {
                        if tx.send(Line::Reply(r)).is_err() {
                            return;
                        }
                    }
                    Err(e) if line.starts_with("{\"result\"") => {
                        if tx.send(Line::Garbled(e.to_string())).is_err() {
                            return;
                        }
                    }
                    Err(_) => eprintln!("{line}"),
                }
            }
            let _ = tx.send(Line::End);
        });
        Ok(Worker {
            child,
            stdin,
            replies,
        })
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        if let Some(mut w) = self.worker.take() {
            // Closing stdin asks the worker to exit; kill it if it does not within 2 s.
            drop(w.stdin);
            let deadline = Instant::now() + Duration::from_secs(2);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = w.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            kill(&mut w.child);
        }
    }
}

/// Ends a worker that must not run another benchmark: closing its stdin asks it to exit (a
/// worker that reported a device error has already begun to), and [`reap`] waits for its
/// status, killing it after 2 s, so it leaves neither an orphan nor a zombie.
fn retire(worker: Worker) {
    let Worker {
        mut child, stdin, ..
    } = worker;
    drop(stdin);
    reap(&mut child);
}

fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// Waits up to 2 s for an exiting worker's status, killing it after that.
fn reap(child: &mut Child) -> Option<ExitStatus> {
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        match child.try_wait() {
            Ok(Some(s)) => return Some(s),
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(_) => break,
        }
    }
    kill(child);
    None
}

/// "was killed by signal 6 (SIGABRT)", "exited with code 101", ...
fn describe(status: Option<ExitStatus>) -> String {
    match status {
        None => "stopped answering".to_string(),
        Some(s) => match (s.code(), s.signal()) {
            (Some(101), _) => "exited with code 101 (a Rust panic)".to_string(),
            (Some(c), _) => format!("exited with code {c}"),
            (None, Some(sig)) => format!("was killed by signal {sig} ({})", signal_name(sig)),
            (None, None) => "ended".to_string(),
        },
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        4 => "SIGILL",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL, e.g. the out-of-memory killer",
        11 => "SIGSEGV",
        15 => "SIGTERM",
        _ => "signal",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_read_as_sentences() {
        // Raw wait statuses: a signal in the low 7 bits; an exit code in bits 8..15.
        assert_eq!(
            describe(Some(ExitStatus::from_raw(6))),
            "was killed by signal 6 (SIGABRT)"
        );
        assert_eq!(
            describe(Some(ExitStatus::from_raw(101 << 8))),
            "exited with code 101 (a Rust panic)"
        );
        assert_eq!(
            describe(Some(ExitStatus::from_raw(3 << 8))),
            "exited with code 3"
        );
        assert_eq!(describe(None), "stopped answering");
    }
}
