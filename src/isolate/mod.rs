//! Fault isolation: each benchmark runs in a worker process (hotpath re-executing itself as
//! `hotpath __worker`), supervised by the run. A worker that crashes (a kernel fault that
//! poisons the GPU context, an abort) or outlives the watchdog is recorded as that
//! benchmark's failure with the reason, a fresh worker takes the next benchmark, and every
//! other result is kept; so does a worker whose benchmark failed with a device error (it may
//! be poisoned, see [`hotpath_core::runner::Ran::device_error`]). In process
//! (`--isolation none`) nothing can replace the process, so a device error ends that
//! device's run and its remaining benchmarks are recorded as not run, with the reason.
//! SIGINT/SIGTERM stop the run after writing what was measured.

mod protocol;
pub mod signals;
mod supervisor;
pub mod worker;

use hotpath_core::backend::{CacheMode, Device};
use hotpath_core::cache::LlcHint;
use hotpath_core::measure::MeasureConfig;
use hotpath_core::results::BenchmarkResult;
use hotpath_core::runner::{error_result, run_one};
use hotpath_core::OpSpec;

pub use supervisor::Supervisor;

/// Appended, in process, to the error of the benchmark whose device error ends the device's run.
const STOPPED: &str = "; the rest of this device's benchmarks are not run, since a device error can leave a GPU context unusable until the process ends (--isolation process replaces the worker instead)";

/// What became of one benchmark.
pub enum Step {
    /// It ran (or failed, crashed or hung: the result says which and why).
    Done(Box<BenchmarkResult>),
    /// SIGINT or SIGTERM arrived before it finished; nothing is recorded for it.
    Interrupted,
}

/// Where benchmarks run.
pub enum Executor {
    /// In this process (`--isolation none`): fastest start, but a crash ends the run, and a
    /// device error ends this device's run (its remaining benchmarks are recorded as not
    /// run).
    InProcess {
        /// Sizes cold caches from the run's `--hardware` file.
        hint: Option<LlcHint>,
        /// The benchmark whose device error left the device possibly poisoned, once one did.
        poisoned_by: Option<String>,
    },
    /// In a supervised worker process (`--isolation process`, the default).
    Worker(Supervisor),
}

impl Executor {
    /// The executor `--isolation` asks for on device `index` of `backend`: in process, or a
    /// supervisor with `watchdog`; either sizes cold caches from `hint` (the run's
    /// `--hardware` file).
    pub fn new(
        isolation: crate::cli::Isolation,
        backend: &str,
        index: usize,
        watchdog: std::time::Duration,
        hint: Option<LlcHint>,
    ) -> Executor {
        match isolation {
            crate::cli::Isolation::None => Executor::InProcess {
                hint,
                poisoned_by: None,
            },
            crate::cli::Isolation::Process => {
                let mut s = Supervisor::new(backend, index, watchdog);
                s.set_llc_hint(hint);
                Executor::Worker(s)
            }
        }
    }

    /// Runs one benchmark; `device` is used only in process.
    pub fn run(
        &mut self,
        device: &mut dyn Device,
        spec: &OpSpec,
        imp: &str,
        cache: CacheMode,
        cfg: &MeasureConfig,
        on_progress: &mut dyn FnMut(f64),
    ) -> Step {
        if signals::interrupted() {
            return Step::Interrupted;
        }
        match self {
            Executor::InProcess { hint, poisoned_by } => {
                if let Some(first) = poisoned_by {
                    return Step::Done(Box::new(error_result(
                        spec,
                        imp,
                        format!("not run: {first} failed with a device error earlier in this process, which can leave a GPU context unusable until the process ends; run with --isolation process (the default) to have a fresh worker take each benchmark after such an error"),
                    )));
                }
                let ran = run_one(device, spec, imp, cache, hint.as_ref(), cfg, on_progress);
                let mut result = ran.result;
                if ran.device_error {
                    *poisoned_by = Some(result.id.clone());
                    let why = result.error.get_or_insert_with(String::new);
                    why.push_str(STOPPED);
                }
                Step::Done(Box::new(result))
            }
            Executor::Worker(s) => s.run(spec, imp, cache, cfg, on_progress),
        }
    }
}
