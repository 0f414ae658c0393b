//! Is someone else using this GPU? Another process's kernels share the SMs and the memory
//! bus with ours and make every number meaningless, so a run records a warning when NVML
//! shows other compute processes on the device or a busy GPU before we have launched
//! anything.

/// GPU utilisation (percent of the last sample period with a kernel running) above which
/// the device counts as busy before our first kernel.
pub const BUSY_UTILIZATION_PCT: u32 = 5;

/// The warning for device `index`, or `None` when it looks idle or NVML cannot tell.
/// Our own processes (this one and, in a worker, the run that started it) are not counted.
pub fn warning(index: u32) -> Option<String> {
    let nvml = crate::loader::nvml().ok()?;
    let dev = nvml.device_by_index(index).ok()?;
    let util = dev.utilization_rates().ok().map(|u| u.gpu);
    let mut ours = vec![std::process::id()];
    if let Some(parent) = std::env::var("HOTPATH_WORKER")
        .ok()
        .and_then(|p| p.parse().ok())
    {
        ours.push(parent);
    }
    let others: Vec<u32> = dev
        .running_compute_processes()
        .map(|ps| ps.iter().map(|p| p.pid).collect())
        .unwrap_or_default();
    verdict(index, util, &others, &ours)
}

/// The decision, apart from NVML: other processes' pids and the utilisation reading.
pub fn verdict(index: u32, util_pct: Option<u32>, pids: &[u32], ours: &[u32]) -> Option<String> {
    let others: Vec<String> = pids
        .iter()
        .filter(|p| !ours.contains(p))
        .map(u32::to_string)
        .collect();
    match (others.is_empty(), util_pct) {
        (false, u) => Some(format!(
            "cuda device {index} is in use by other process(es) (pid {}{}); their kernels share the GPU with ours and skew every number",
            others.join(", "),
            u.map(|u| format!(", {u} % utilisation")).unwrap_or_default()
        )),
        (true, Some(u)) if u > BUSY_UTILIZATION_PCT => Some(format!(
            "cuda device {index} was {u} % busy before hotpath launched anything (another user, a MIG slice's neighbour or a display?); numbers may be skewed"
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_other_processes_or_real_load_warn() {
        assert_eq!(verdict(0, Some(0), &[100, 200], &[100, 200]), None);
        assert_eq!(verdict(0, Some(5), &[], &[1]), None);
        let w = verdict(1, Some(97), &[100, 4242], &[100]).unwrap();
        assert!(
            w.contains("device 1") && w.contains("pid 4242, 97 %"),
            "{w}"
        );
        let w = verdict(0, Some(40), &[], &[1]).unwrap();
        assert!(w.contains("40 % busy"), "{w}");
        let w = verdict(0, None, &[7], &[1]).unwrap();
        assert!(w.contains("pid 7)"), "{w}");
    }
}
