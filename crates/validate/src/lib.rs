//! `hotpath validate` and `hotpath fleet`: GPU acceptance in about a minute, and the slow GPU
//! in a fleet.
//!
//! A device is judged by checks, each PASS, WARN, FAIL (or SKIP when it cannot be made or does
//! not apply), with the measured value, the threshold and the reason:
//! - [`health`]: ECC, retired pages and remapped rows, PCIe link, clocks, throttle reasons,
//!   power limit, temperature, persistence mode, read through a [`health::HealthSource`]
//!   (NVML, AMD SMI + sysfs, or the CPU's sysfs) and judged by fixed rules;
//! - [`perf`]: hot-path kernels against thresholds kept as data in `hardware/*.toml`
//!   ([`thresholds`]), plus the correctness of every kernel run;
//! - [`sustained`] (level `long`): the bf16 peak held for a minute or more (sustained over
//!   burst), and minutes of GEMM and copy, watching clocks, throttling, temperature and
//!   errors over time;
//! - [`settle`]: before each timed benchmark, a bounded wait for the device to settle from
//!   the previous load, recorded on the check it makes.
//!
//! A verdict means something was checked: a device with no check, or only SKIPs, is WARN
//! ([`verdict`], [`unverified_note`]); a GPU none of whose health checks could be read gets
//! `health/unverified` ([`health::unverified`]).
//!
//! [`engine`] runs one device's plan ([`plan`]) through a [`engine::Bench`] (the CLI's
//! isolated workers, or a fake in tests); [`render`] prints the report; [`fleet`] finds
//! outlier nodes across many reports by median and MAD.

pub mod checklist;
pub mod codes;
pub mod engine;
pub mod fleet;
pub mod health;
pub mod junit;
pub mod perf;
pub mod prometheus;
pub mod render;
pub mod settle;
pub mod sustained;
pub use hotpath_core::hardware::thresholds;

#[cfg(test)]
mod acceptance_tests;
#[cfg(test)]
mod codes_tests;
#[cfg(test)]
mod export_tests;
#[cfg(test)]
mod fleet_tests;
#[cfg(test)]
mod h200_tests;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};

use hotpath_core::error::{Error, Result};
use hotpath_core::results::{HostInfo, ToolInfo};

/// Schema of `hotpath validate --format json` and `--out`.
pub const SCHEMA: &str = "hotpath.validate/1";

/// The outcome of one check, worst last (so the verdict is the maximum).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    /// The check could not be made or does not apply here; `detail` says which and why. It
    /// does not change the verdict.
    Skip,
    /// Within its threshold.
    Pass,
    /// Worth a look before the device goes into service; not a failure.
    Warn,
    /// The device should not go into service as it is; `detail` says why.
    Fail,
}

impl Status {
    /// `PASS`, `WARN`, `FAIL` or `SKIP`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Skip => "SKIP",
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
        }
    }
}

/// The verdict over `statuses`: the worst of them, SKIPs ignored. When there are none, or
/// every one is SKIP, nothing was checked and the verdict is WARN, never PASS
/// ([`unverified_note`] says why in words).
pub fn verdict(statuses: impl IntoIterator<Item = Status>) -> Status {
    statuses
        .into_iter()
        .filter(|s| *s != Status::Skip)
        .max()
        .unwrap_or(Status::Warn)
}

/// Why a verdict over `statuses` is WARN for want of checks: `health unverified: ...` when
/// there are none or every one is SKIP; `None` when something was checked.
pub fn unverified_note(statuses: impl IntoIterator<Item = Status>) -> Option<String> {
    let all: Vec<Status> = statuses.into_iter().collect();
    if all.iter().any(|s| *s != Status::Skip) {
        return None;
    }
    Some(if all.is_empty() {
        "health unverified: no check was made".to_string()
    } else {
        format!(
            "health unverified: all {} checks were SKIP, so nothing was checked",
            all.len()
        )
    })
}

/// Which family a check belongs to (the report groups checks in this order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    /// Device health readings (NVML, AMD SMI, sysfs).
    Health,
    /// A kernel's output against the f64 reference.
    Correctness,
    /// Kernel performance against a threshold.
    Perf,
    /// Sustained load (level `long`).
    Sustained,
    /// The device could not be validated at all (it did not open, the run was cut short).
    Device,
}

/// One check: what was measured, against what, and the verdict with its reason.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// `health/pcie_width`, `perf/copy`, `correctness/<benchmark id>`, ...
    pub name: String,
    /// The check's stable failure code (`HP208`; [`codes`], docs/failure-codes.md), set by
    /// [`ValidateReport::settle`]; empty for a check without one.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub code: String,
    /// The verdict.
    pub status: Status,
    /// The value measured or read, in `unit` (a number, a flag, a list of names, or null when
    /// nothing could be read).
    pub value: serde_json::Value,
    /// The limit the value was judged against, in `unit` (for performance: the FAIL line; the
    /// WARN line is in `warn_threshold`); null when the check has none.
    pub threshold: serde_json::Value,
    /// Unit of `value` and `threshold` (`B/s`, `FLOP/s`, `lanes`, `C`, `errors`, ...).
    pub unit: String,
    /// Why the status is what it is, in words.
    pub detail: String,
    /// The WARN line of a performance check, in `unit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warn_threshold: Option<f64>,
    /// Family of the check.
    pub group: Group,
    /// Device index (among the backend's devices) the check belongs to.
    #[serde(default)]
    pub device: usize,
    /// How the wait for the device to settle before this check's benchmark went (timed
    /// benchmarks only, when waiting is on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settle: Option<settle::SettleRecord>,
}

impl Check {
    /// A check of `group` for device 0 with no threshold (set fields after, or use the
    /// builder methods).
    pub fn new(group: Group, name: impl Into<String>, status: Status) -> Check {
        Check {
            name: name.into(),
            code: String::new(),
            status,
            value: serde_json::Value::Null,
            threshold: serde_json::Value::Null,
            unit: String::new(),
            detail: String::new(),
            warn_threshold: None,
            group,
            device: 0,
            settle: None,
        }
    }

    /// With this value and unit.
    pub fn value(mut self, value: impl Into<serde_json::Value>, unit: &str) -> Check {
        self.value = value.into();
        self.unit = unit.to_string();
        self
    }

    /// With this threshold.
    pub fn threshold(mut self, threshold: impl Into<serde_json::Value>) -> Check {
        self.threshold = threshold.into();
        self
    }

    /// With this explanation.
    pub fn detail(mut self, detail: impl Into<String>) -> Check {
        self.detail = detail.into();
        self
    }
}

/// How much `hotpath validate` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// Health, the hot-path performance checks with short measurements, and every kernel's
    /// correctness in its serving dtype (f32 for the streaming kernels).
    Quick,
    /// Quick with longer measurements, every dtype's kernels checked, and the fp8 GEMM check
    /// where the hardware file has one.
    Standard,
    /// Standard plus the bf16 peak held (sustained over burst) and minutes of sustained GEMM
    /// and copy, watching clocks, throttling, temperature and errors over time; a GPU whose
    /// health cannot be read at all fails.
    Long,
}

impl Level {
    /// Every level, in order.
    pub const ALL: [Level; 3] = [Level::Quick, Level::Standard, Level::Long];

    /// Name as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Level::Quick => "quick",
            Level::Standard => "standard",
            Level::Long => "long",
        }
    }

    /// Parses a level name.
    pub fn parse(text: &str) -> Result<Level> {
        Level::ALL
            .into_iter()
            .find(|l| l.name() == text.trim())
            .ok_or_else(|| {
                Error::bad_input(format!(
                    "unknown level '{text}'; accepted: quick, standard, long"
                ))
            })
    }
}

/// One device's summary in a report (its checks are in the report's `checks` with its index).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeviceSummary {
    /// `cuda`, `rocm` or `cpu`.
    pub backend: String,
    /// Index among the backend's devices.
    pub index: usize,
    /// Name as the runtime reports it (empty when the device did not open).
    pub name: String,
    /// hardware/*.toml id whose thresholds were used (`unknown` when none matched).
    pub hardware: String,
    /// PCI bus id or other identity the backend reports (NVML's, when read), to tell GPUs of
    /// one node apart across runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bus_id: Option<String>,
    /// Where the health readings came from (`NVML`, `AMD SMI + sysfs`, `CPU sysfs`).
    pub health_source: String,
    /// This device's verdict.
    pub status: Status,
    /// Wall time spent on this device, seconds.
    pub wall_s: f64,
    /// Checks per status: PASS, WARN, FAIL, SKIP.
    pub counts: StatusCounts,
    /// The timed benchmarks behind the performance and sustained checks, with every sample,
    /// their clocks and how they were measured (cold cache).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub benchmarks: Vec<hotpath_core::results::BenchmarkResult>,
    /// Health read about once a second during each sustained-load kernel (level `long`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sustained_traces: Vec<SustainedTrace>,
    /// Why this device's verdict is WARN for want of checks (`health unverified: ...`);
    /// absent when something was checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict_note: Option<String>,
}

/// The health trace of one sustained-load kernel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SustainedTrace {
    /// The sustained check's key (`gemm_bf16`, `copy`).
    pub check: String,
    /// Readings in time order.
    pub points: Vec<sustained::TracePoint>,
}

/// How the checks were measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValidateConfig {
    /// Cache state between samples: always `cold` (inputs rotated past the last-level cache).
    pub cache: hotpath_core::backend::CacheMode,
    /// Sampling of the performance checks.
    pub perf: hotpath_core::measure::MeasureConfig,
    /// Sampling of the correctness runs.
    pub correctness: hotpath_core::measure::MeasureConfig,
    /// Seconds of sustained load per kernel (level `long`; 0 otherwise).
    pub sustain_s: f64,
    /// Longest wait for the device to settle before each timed benchmark, seconds (0: no
    /// wait); absent in reports written before the wait existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settle_max_s: Option<f64>,
    /// `HOTPATH_FAULT` when set: faults were injected on purpose (a test, not a verdict).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub injected_faults: Option<String>,
}

/// How many checks ended in each status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCounts {
    /// PASS checks.
    pub pass: usize,
    /// WARN checks.
    pub warn: usize,
    /// FAIL checks.
    pub fail: usize,
    /// SKIP checks.
    pub skip: usize,
}

impl StatusCounts {
    /// Counts of `checks`.
    pub fn of<'a>(checks: impl IntoIterator<Item = &'a Check>) -> StatusCounts {
        let mut c = StatusCounts::default();
        for check in checks {
            match check.status {
                Status::Pass => c.pass += 1,
                Status::Warn => c.warn += 1,
                Status::Fail => c.fail += 1,
                Status::Skip => c.skip += 1,
            }
        }
        c
    }
}

/// A `hotpath validate` report (`hotpath.validate/1`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValidateReport {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The hotpath build.
    pub tool: ToolInfo,
    /// Creation time, RFC 3339 UTC.
    pub created: String,
    /// The node.
    pub host: HostInfo,
    /// `quick`, `standard` or `long`.
    pub level: Level,
    /// Worst device verdict: FAIL if any check failed on any device; WARN when no device
    /// was validated.
    pub status: Status,
    /// Wall time of the whole command, seconds (start-up of the devices included).
    pub wall_s: f64,
    /// How the checks were measured.
    pub config: ValidateConfig,
    /// True when SIGINT/SIGTERM cut the run short (what ran is kept).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub interrupted: bool,
    /// Every device validated.
    pub devices: Vec<DeviceSummary>,
    /// Every check of every device (`device` says which), grouped per device.
    pub checks: Vec<Check>,
}

impl ValidateReport {
    /// An empty report (no devices, no checks, so WARN: nothing checked yet) of a run at
    /// `level`.
    pub fn new(
        tool: ToolInfo,
        created: String,
        host: HostInfo,
        level: Level,
        config: ValidateConfig,
    ) -> ValidateReport {
        ValidateReport {
            schema: SCHEMA.to_string(),
            tool,
            created,
            host,
            level,
            status: Status::Warn,
            wall_s: 0.0,
            config,
            interrupted: false,
            devices: Vec::new(),
            checks: Vec::new(),
        }
    }

    /// Recomputes each device's status and counts and the overall status from the checks.
    pub fn settle(&mut self) {
        for c in &mut self.checks {
            c.code = codes::of(&c.name).map_or_else(String::new, |f| f.code.to_string());
        }
        for d in &mut self.devices {
            let mine: Vec<&Check> = self.checks.iter().filter(|c| c.device == d.index).collect();
            d.status = verdict(mine.iter().map(|c| c.status));
            d.verdict_note = unverified_note(mine.iter().map(|c| c.status));
            d.counts = StatusCounts::of(mine);
        }
        self.status = verdict(self.devices.iter().map(|d| d.status));
    }

    /// Writes the report to `path` atomically, so a reader or a killed run never sees half
    /// a file.
    pub fn write_atomic(&self, path: &std::path::Path) -> Result<()> {
        hotpath_core::results::write_json_atomic(self, path)
    }

    /// Parses a report; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<ValidateReport> {
        let report: ValidateReport = serde_json::from_str(text).map_err(|e| {
            Error::bad_input(format!("{origin} is not a hotpath validate report: {e}"))
        })?;
        if report.schema != SCHEMA {
            return Err(Error::bad_input(format!(
                "{origin} has schema '{}'; accepted: {SCHEMA}",
                report.schema
            )));
        }
        Ok(report)
    }
}
