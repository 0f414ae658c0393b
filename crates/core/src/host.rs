//! Facts about the host a run happens on, for the results file.

use crate::results::HostInfo;

/// Reads host name, OS/kernel and CPU model; unreadable facts become "unknown".
pub fn detect() -> HostInfo {
    let hostname = gethostname::gethostname().to_string_lossy().into_owned();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string());
    HostInfo {
        hostname,
        os: format!("{} {kernel}", std::env::consts::OS),
        cpu: cpu_model().unwrap_or_else(|| "unknown".to_string()),
    }
}

/// The CPU model name from /proc/cpuinfo, when there is one.
pub fn cpu_model() -> Option<String> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    text.lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}
