//! `hotpath compare --normalize bandwidth`: memory-bound benchmarks compared on their
//! efficiency against their own run's streaming ceiling rather than on time.
//!
//! A memory-bound kernel's time follows the DRAM bandwidth of the moment. When the memory
//! system of a machine runs 15 % slower in one run than in the next (another tenant, a
//! power state), the kernel and the run's streaming ceiling both slow down by about that
//! much. Comparing time × the run's measured bandwidth roof (`measured.mem_bytes_per_s`,
//! the best of its copy/read/write/triad) — the inverse of the kernel's efficiency against
//! that roof, up to its constant byte count — cancels that drift and keeps what the kernel
//! itself changed. The ceilings themselves (they *are* the roof) and compute-bound
//! benchmarks are compared on time.
//!
//! A file without a measured bandwidth roof (its run measured no streaming ceiling) cannot
//! normalize: its memory-bound rows fall back to time, each with a note, and the comparison
//! carries a warning naming the file. That keeps a nightly job that always passes the flag
//! working on suites without ceilings, and the fallback is visible in every row it touches.

use serde::Serialize;

use hotpath_core::results::{BenchmarkResult, ResultsFile};
use hotpath_core::roofline::Bound;

/// What `--normalize` asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalize {
    /// Every benchmark on time (the default).
    #[default]
    None,
    /// Memory-bound benchmarks on time × their run's measured bandwidth roof.
    Bandwidth,
}

/// What a row was compared on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ComparedAs {
    /// Time (ratio new time ÷ base time).
    Time,
    /// Time × the run's measured bandwidth roof: the inverse of the efficiency against the
    /// run's own streaming ceiling (ratio above 1 = less efficient).
    Efficiency,
}

impl ComparedAs {
    /// The name written in tables and JSON.
    pub fn name(self) -> &'static str {
        match self {
            ComparedAs::Time => "time",
            ComparedAs::Efficiency => "efficiency",
        }
    }
}

/// How `--normalize bandwidth` compares, as the outputs name it.
pub const METHOD: &str = "--normalize bandwidth: a benchmark whose roofline bound is memory \
(and that is not itself a streaming ceiling: copy, read, write, triad) is compared on time × \
its own run's measured bandwidth roof (measured.mem_bytes_per_s), i.e. on its efficiency \
against that run's streaming ceiling, so a drift of the memory system that moves both \
cancels; its ratios are of that product (above 1 = less efficient) and roof_ratio is new roof \
÷ base roof; every other benchmark, and every benchmark of a file without a measured \
bandwidth roof, is compared on time";

/// Whether `--normalize bandwidth` compares this benchmark as efficiency: memory-bound by
/// the base file's roofline placement (the new file's when the base has none), and not a
/// streaming ceiling.
pub fn memory_bound(base: &BenchmarkResult, new: &BenchmarkResult) -> bool {
    let bound = base
        .roofline
        .as_ref()
        .or(new.roofline.as_ref())
        .map(|r| r.bound);
    bound == Some(Bound::Memory) && !base.op.is_streaming_ceiling()
}

/// The measured bandwidth roof of a file, bytes/s, when it is a positive number.
pub fn roof(file: &ResultsFile) -> Option<f64> {
    file.measured
        .mem_bytes_per_s
        .filter(|bw| bw.is_finite() && *bw > 0.0)
}

/// The warning for a file without a measured bandwidth roof under `--normalize bandwidth`.
pub fn missing_roof(side: &str, name: &str) -> String {
    format!(
        "--normalize bandwidth: {side} file {name} has no measured bandwidth roof \
         (measured.mem_bytes_per_s: its run measured no streaming ceiling), so memory-bound \
         benchmarks are compared on time"
    )
}
