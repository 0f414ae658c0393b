//! Fault isolation: each benchmark runs in a worker process (hotpath re-executing itself as
//! `hotpath __worker`), supervised by the run. A worker that crashes (a kernel fault that
//! poisons the GPU context, an abort) or outlives the watchdog is recorded as that
//! benchmark's failure with the reason, a fresh worker takes the next benchmark, and every
//! other result is kept. SIGINT/SIGTERM stop the run after writing what was measured.

mod protocol;
pub mod signals;
mod supervisor;
pub mod worker;

use hotpath_core::backend::{CacheMode, Device};
use hotpath_core::cache::LlcHint;
use hotpath_core::measure::MeasureConfig;
use hotpath_core::results::BenchmarkResult;
use hotpath_core::runner::run_one;
use hotpath_core::OpSpec;

pub use supervisor::Supervisor;

/// What became of one benchmark.
pub enum Step {
    /// It ran (or failed, crashed or hung: the result says which and why).
    Done(Box<BenchmarkResult>),
    /// SIGINT or SIGTERM arrived before it finished; nothing is recorded for it.
    Interrupted,
}

/// Where benchmarks run.
pub enum Executor {
    /// In this process (`--isolation none`): fastest start, but a crash ends the run. The
    /// hint sizes cold caches from the run's `--hardware` file.
    InProcess(Option<LlcHint>),
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
            crate::cli::Isolation::None => Executor::InProcess(hint),
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
            Executor::InProcess(hint) => Step::Done(Box::new(run_one(
                device,
                spec,
                imp,
                cache,
                hint.as_ref(),
                cfg,
                on_progress,
            ))),
            Executor::Worker(s) => s.run(spec, imp, cache, cfg, on_progress),
        }
    }
}
