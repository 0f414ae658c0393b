//! The worker protocol: one JSON object per line. The run writes a [`Job`] to the worker's
//! stdin; the worker answers on stdout with [`Reply::Progress`] lines and one
//! [`Reply::Result`], which says whether the device may be poisoned; after such a result the
//! worker exits and the run starts a fresh one for the next benchmark. Lines that are not
//! replies (a library printing to stdout) are passed on to stderr.

use serde::{Deserialize, Serialize};

use hotpath_core::backend::CacheMode;
use hotpath_core::cache::LlcHint;
use hotpath_core::measure::MeasureConfig;
use hotpath_core::runner::Ran;
use hotpath_core::OpSpec;

/// One benchmark for the worker to run.
#[derive(Debug, Serialize, Deserialize)]
pub struct Job {
    /// What to run.
    pub spec: OpSpec,
    /// Which implementation.
    pub imp: String,
    /// Cache state between samples.
    pub cache: CacheMode,
    /// The run's `--hardware` file, for cold-cache sizing.
    #[serde(default)]
    pub llc_hint: Option<LlcHint>,
    /// Sampling configuration.
    pub cfg: MeasureConfig,
}

/// A line from the worker.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reply {
    /// Fraction of the benchmark's time limit used so far.
    Progress(f64),
    /// The finished benchmark, and whether a device error retires this worker
    /// ([`Ran::device_error`]).
    Result(Box<Ran>),
}
