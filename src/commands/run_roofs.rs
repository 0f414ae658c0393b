//! The end of a device's run: no silent point above a roof. A benchmark measured with a
//! cold cache above its measured roof makes the run measure that roof's ceiling once more,
//! through the same executor and settings; the ceiling keeps the faster of its two
//! measurements. A point still above then sets the roof ("roof set by <id>"). The decisions
//! are `hotpath_core::roof_check`'s; this module only runs the ceilings.

use hotpath_core::backend::{CacheMode, Device};
use hotpath_core::measure::MeasureConfig;
use hotpath_core::results::{HardwareRoofs, ResultsFile};
use hotpath_core::roof_check;
use hotpath_core::OpSpec;

use crate::isolate::{Executor, Step};
use crate::progress::RunProgress;

/// What the check did, for the caller's messages.
pub enum Checked {
    /// Every ceiling needed was measured again (possibly none) and the roofs settled.
    Done,
    /// SIGINT or SIGTERM arrived during a second measurement; the file keeps the first.
    Interrupted,
}

/// Measures again, on `device` through `executor`, the ceilings whose roofs a cold point of
/// `file` lies above (each at most once, with `cfg` and `cache` as in the run), keeps the
/// better of each ceiling's two measurements, recomputes the roofs against `spec`, and
/// raises every roof a cold point is still above to that point's rate. `plan` gives each
/// ceiling's spec; `compute_dtype` is the device's `peak_dtype`.
#[allow(clippy::too_many_arguments)]
pub fn recheck(
    executor: &mut Executor,
    device: &mut dyn Device,
    benchmarks: &[(OpSpec, &'static str)],
    cache: CacheMode,
    cfg: &MeasureConfig,
    file: &mut ResultsFile,
    spec: &HardwareRoofs,
    progress: &RunProgress,
) -> Checked {
    let compute_dtype = |d| device.peak_dtype(d);
    let todo = roof_check::ceilings_to_remeasure(file, &compute_dtype);
    let mut checked = Checked::Done;
    for r in todo {
        let Some((ceiling, imp)) = benchmarks.iter().find(|(s, imp)| s.id(imp) == r.ceiling) else {
            continue;
        };
        let Some(index) = file.benchmarks.iter().position(|b| b.id == r.ceiling) else {
            continue;
        };
        progress.println(&format!(
            "measuring {} again: {} above the roof it set",
            r.ceiling,
            r.triggered_by.join(", ")
        ));
        let step = executor.run(device, ceiling, imp, cache, cfg, &mut |_| {});
        let Step::Done(second) = step else {
            checked = Checked::Interrupted;
            break;
        };
        let kept = roof_check::keep_better(&file.benchmarks[index], *second, r.triggered_by);
        file.benchmarks[index] = kept;
        hotpath_core::runner::update_roofs(file, spec, &|d| device.peak_dtype(d));
    }
    for a in roof_check::raise_to_points_above(file, spec, &|d| device.peak_dtype(d)) {
        progress.println(&format!(
            "roof set by {}: still above its measured {} after the ceiling was measured again",
            a.id, a.roof
        ));
    }
    checked
}
