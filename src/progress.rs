//! Progress bar on stderr (hidden automatically when stderr is not a terminal).

use indicatif::{ProgressBar, ProgressStyle};

/// A bar over the benchmarks of a run; the position inside a benchmark advances with the
/// fraction of its time limit used.
pub struct RunProgress {
    bar: ProgressBar,
}

const SCALE: u64 = 1000;

impl RunProgress {
    /// A bar for `total` benchmarks.
    pub fn new(total: usize) -> Self {
        let bar = ProgressBar::new(total as u64 * SCALE);
        let style = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        RunProgress { bar }
    }

    /// Benchmark `index` (0-based) named `id` starts.
    pub fn start(&self, index: usize, total: usize, id: &str) {
        self.bar.set_position(index as u64 * SCALE);
        self.bar.set_message(format!("{}/{total} {id}", index + 1));
    }

    /// Benchmark `index` has used `fraction` of its time budget.
    pub fn advance(&self, index: usize, fraction: f64) {
        self.bar
            .set_position(index as u64 * SCALE + (fraction.clamp(0.0, 1.0) * SCALE as f64) as u64);
    }

    /// Prints a line above the bar.
    pub fn println(&self, line: &str) {
        self.bar.suspend(|| eprintln!("{line}"));
    }

    /// Removes the bar.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
