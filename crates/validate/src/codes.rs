//! Stable failure codes of `hotpath validate`, one per check (as DCGM's `DCGM_FR_*` codes):
//! a dashboard, a ticket or a runbook keys on `HP208`, not on a sentence that may be reworded.
//! A code is never renumbered or reused; a new check gets the next free number of its group.
//! `docs/failure-codes.md` lists them with what each means and what to do (a test keeps that
//! page equal to [`markdown_table`]).
//!
//! Numbering: 1xx the device itself, 2xx health readings, 3xx correctness, 4xx performance,
//! 5xx sustained load.

use super::perf::PerfKind;

/// Which check names a code covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// Exactly this name.
    Exact(&'static str),
    /// Every name that starts with this (`correctness/` + a benchmark id).
    Prefix(&'static str),
    /// `sustained/<kernel>/<this>`, for every sustained kernel.
    Sustained(&'static str),
}

impl Pattern {
    /// Whether `name` is covered.
    pub fn matches(self, name: &str) -> bool {
        match self {
            Pattern::Exact(n) => name == n,
            Pattern::Prefix(p) => name.len() > p.len() && name.starts_with(p),
            Pattern::Sustained(what) => name
                .strip_prefix("sustained/")
                .and_then(|rest| rest.split_once('/'))
                .is_some_and(|(kernel, w)| !kernel.is_empty() && w == what),
        }
    }

    /// The names covered, as written in the docs (`correctness/<benchmark>`).
    pub fn text(self) -> String {
        match self {
            Pattern::Exact(n) => n.to_string(),
            Pattern::Prefix(p) => format!("{p}<benchmark>"),
            Pattern::Sustained(what) => format!("sustained/<kernel>/{what}"),
        }
    }
}

/// One failure code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailureCode {
    /// `HP` and three digits.
    pub code: &'static str,
    /// The check(s) it belongs to.
    pub check: Pattern,
    /// What a WARN or FAIL of this check means.
    pub meaning: &'static str,
    /// What an operator should do about it.
    pub action: &'static str,
}

const fn code(
    code: &'static str,
    check: Pattern,
    meaning: &'static str,
    action: &'static str,
) -> FailureCode {
    FailureCode {
        code,
        check,
        meaning,
        action,
    }
}

use Pattern::{Exact, Prefix, Sustained};

/// Every code but the performance checks' ([`perf_code`]), in number order.
const FIXED: [FailureCode; 29] = [
    code("HP101", Exact("device/open"), "The device did not open: the driver, runtime or device is not usable.", "Check the driver (nvidia-smi or amd-smi), the kernel log for Xid or amdgpu errors, then reset the GPU or drain the node."),
    code("HP102", Exact("device/hardware"), "No hardware file applies to the device, or the one named with --hardware is not usable.", "Give --hardware with a built-in id or a site TOML file (hotpath list shows the ids)."),
    code("HP103", Exact("device/plan"), "The list of checks for this device could not be built (a kernel or library the level needs is missing).", "Read the detail; install the library it names (cuBLASLt, hipBLASLt, NVRTC) or run a lower level."),
    code("HP104", Exact("device/exclusive"), "Another hotpath run or other work was on the device, so its performance may read low.", "Drain the node's other jobs and validate again before judging performance."),
    code("HP201", Exact("health/ecc_uncorrected_volatile"), "Uncorrected ECC errors since the driver loaded (FAIL), or the count cannot be read (WARN).", "Drain the node, reset the GPU; if errors return, return it to the vendor (RMA)."),
    code("HP202", Exact("health/ecc_uncorrected_aggregate"), "Uncorrected ECC errors over the GPU's lifetime.", "Compare with earlier reports; a growing count means RMA."),
    code("HP203", Exact("health/retired_pages"), "Memory pages were retired after ECC errors.", "Watch the count; near the vendor's limit, RMA."),
    code("HP204", Exact("health/retirement_pending"), "A page retirement waits for a GPU reset.", "Drain the node and reset the GPU, then validate again."),
    code("HP205", Exact("health/remapped_rows"), "Memory rows were remapped after errors.", "Watch the count; uncorrectable remaps or a growing count mean RMA."),
    code("HP206", Exact("health/row_remap_pending"), "A row remap waits for a GPU reset.", "Drain the node and reset the GPU, then validate again."),
    code("HP207", Exact("health/row_remap_failure"), "A row could not be remapped: no spare rows are left.", "Take the GPU out of service and RMA it."),
    code("HP208", Exact("health/pcie_width"), "The PCIe link runs with fewer lanes than the device and slot allow.", "Reseat the GPU or riser, check the slot and cables, then validate again."),
    code("HP209", Exact("health/pcie_gen"), "The PCIe link ran below its top generation right after load.", "Check the BIOS link settings and the riser; validate again under load."),
    code("HP210", Exact("health/sm_clock"), "The SM clock was below 75 % of its maximum while not idle.", "Look at the throttle reasons, power capping and application clocks (nvidia-smi -q -d CLOCK)."),
    code("HP211", Exact("health/mem_clock"), "The memory clock was below 75 % of its maximum while not idle.", "Look at the throttle reasons and the memory clock settings."),
    code("HP212", Exact("health/throttle"), "Hardware slowdown, thermal or power-brake slowdown (FAIL), or software thermal slowdown (WARN).", "Check cooling, fans, inlet temperature and the power supply; a power brake points at the PSU or the chassis."),
    code("HP213", Exact("health/power_limit"), "The enforced power limit is below 98 % of the default.", "Restore the default limit (nvidia-smi -pl) unless capped on purpose."),
    code("HP214", Exact("health/temperature"), "The GPU is at (FAIL) or within 5 °C of (WARN) its slowdown temperature.", "Check cooling, airflow and inlet temperature."),
    code("HP215", Exact("health/ecc_mode"), "ECC is off.", "Turn ECC on (nvidia-smi -e 1) and reboot, unless it is off on purpose."),
    code("HP216", Exact("health/persistence_mode"), "Persistence mode is off, so the driver may reload between jobs.", "Turn it on (nvidia-smi -pm 1 or nvidia-persistenced)."),
    code("HP217", Exact("health/unverified"), "Not one health reading of the GPU could be made (WARN; FAIL at level long).", "Install or fix NVML (the NVIDIA driver) or AMD SMI so health can be read."),
    code("HP301", Prefix("correctness/"), "A kernel's output differs from the f64 reference beyond its tolerance, or the kernel crashed or hung.", "Validate again; a repeat points at the GPU's memory or compute units: drain the node and run the vendor's diagnostics (dcgmi diag -r 3, or AMD's rvs)."),
    code("HP501", Sustained("sustained_over_burst"), "The held peak fell below 90 % (WARN) or 80 % (FAIL) of its burst rate: the GPU cannot hold its clocks.", "Look at the throttle reasons seen; check cooling and the power supply."),
    code("HP502", Sustained("stability"), "The rate at the end of the sustained load differs from its start.", "Look at the clocks and throttle reasons over the trace; check cooling."),
    code("HP503", Sustained("clocks"), "The SM clock fell below 75 % of its maximum during the sustained load.", "Check cooling and power capping."),
    code("HP504", Sustained("throttle"), "Throttle reasons were seen during the sustained load.", "Check cooling, fans and the power supply."),
    code("HP505", Sustained("temperature"), "The GPU reached (FAIL) or neared (WARN) its slowdown temperature under sustained load.", "Check cooling and airflow."),
    code("HP506", Sustained("ecc"), "New ECC errors appeared during the sustained load.", "Drain the node and RMA the GPU if they repeat."),
    code("HP507", Sustained("correctness_after"), "A kernel's output was wrong after the sustained load.", "Drain the node and run the vendor's diagnostics; the GPU fails when hot."),
];

/// The code of performance check `kind` (`perf/<key>`); a new [`PerfKind`] needs a code here
/// before it compiles.
pub fn perf_code(kind: PerfKind) -> FailureCode {
    let slow = "Read the detail: a FAIL below the line of the hardware file is a slow GPU (check clocks, throttling, PCIe and other work on it); compare with the fleet (hotpath fleet).";
    match kind {
        PerfKind::Copy => code(
            "HP401",
            Exact("perf/copy"),
            "Device-memory copy bandwidth is below the hardware file's WARN or FAIL line.",
            slow,
        ),
        PerfKind::GemmBf16 => code(
            "HP402",
            Exact("perf/gemm_bf16"),
            "The bf16 GEMM (cuBLASLt, hipBLASLt) is below its WARN or FAIL line.",
            slow,
        ),
        PerfKind::GemmFp8 => code(
            "HP403",
            Exact("perf/gemm_fp8"),
            "The fp8 GEMM is below its WARN or FAIL line.",
            slow,
        ),
        PerfKind::GemvDecode => code(
            "HP404",
            Exact("perf/gemv_decode"),
            "The decode GEMV's bandwidth is below its WARN or FAIL line.",
            slow,
        ),
        PerfKind::AttnDecode => code(
            "HP405",
            Exact("perf/attn_decode"),
            "Paged decode attention's bandwidth is below its WARN or FAIL line.",
            slow,
        ),
        PerfKind::KvWrite => code(
            "HP406",
            Exact("perf/kv_write"),
            "The KV-cache write's bandwidth is below its WARN or FAIL line.",
            slow,
        ),
    }
}

/// The performance checks' other codes.
const PERF_OTHER: [FailureCode; 2] = [
    code("HP407", Exact("perf/thresholds"), "The hardware file has no performance thresholds for this device, so performance is not judged.", "Add [validate.*] tables to a site hardware file and give it with --hardware."),
    code("HP408", Exact("perf/clocks_under_load"), "Sample batches of the performance checks ran below 75 % of the maximum SM clock (FAIL when half did).", "Look at throttling and power capping during the run."),
];

/// Every code, in number order.
pub fn all() -> Vec<FailureCode> {
    let mut out: Vec<FailureCode> = FIXED.to_vec();
    out.extend(PerfKind::ALL.into_iter().map(perf_code));
    out.extend(PERF_OTHER);
    out.sort_by_key(|c| c.code);
    out
}

/// The code of the check named `name`, if it has one.
pub fn of(name: &str) -> Option<FailureCode> {
    all().into_iter().find(|c| c.check.matches(name))
}

/// The table of `docs/failure-codes.md`: code, check, meaning, action.
pub fn markdown_table() -> String {
    let mut s = String::from("| code | check | what it means | what to do |\n|---|---|---|---|\n");
    for c in all() {
        s.push_str(&format!(
            "| `{}` | `{}` | {} | {} |\n",
            c.code,
            c.check.text(),
            c.meaning,
            c.action
        ));
    }
    s
}
