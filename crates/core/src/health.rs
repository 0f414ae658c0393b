//! What a device's health source reads: [`HealthReadings`] (every field optional, so "not
//! readable" is explicit) from a [`HealthSource`] each backend provides. The rules that
//! judge readings are hotpath-validate's.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Whether the readings are of a GPU (every check applies) or a CPU (most do not).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// An NVIDIA or AMD GPU.
    Gpu,
    /// The host CPU: memory errors, PCIe links and power limits of a GPU do not apply.
    Cpu,
}

/// One reading of every health field a source can read. `None` = not readable; `notes` may
/// say why, keyed by field name.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HealthReadings {
    /// Whether ECC is enabled now.
    pub ecc_enabled: Option<bool>,
    /// Uncorrected ECC errors since the driver loaded.
    pub ecc_uncorrected_volatile: Option<u64>,
    /// Uncorrected ECC errors over the device's life.
    pub ecc_uncorrected_aggregate: Option<u64>,
    /// Corrected ECC errors since the driver loaded (reported, never judged).
    pub ecc_corrected_volatile: Option<u64>,
    /// Pages retired after memory errors (NVIDIA before Ampere; AMD's bad pages).
    pub retired_pages: Option<u64>,
    /// Pages waiting to be retired at the next reset.
    pub retirement_pending: Option<bool>,
    /// Rows remapped after uncorrectable errors (NVIDIA Ampere and later).
    pub remapped_rows_uncorrectable: Option<u64>,
    /// Rows remapped after correctable errors.
    pub remapped_rows_correctable: Option<u64>,
    /// A row remapping waits for the next reset.
    pub row_remap_pending: Option<bool>,
    /// A row remapping failed (no spare rows left).
    pub row_remap_failure: Option<bool>,
    /// PCIe generation now.
    pub pcie_gen: Option<u32>,
    /// Highest PCIe generation of the device and its slot.
    pub pcie_gen_max: Option<u32>,
    /// PCIe lanes now.
    pub pcie_width: Option<u32>,
    /// Most PCIe lanes of the device and its slot.
    pub pcie_width_max: Option<u32>,
    /// SM (graphics) clock now, MHz.
    pub sm_clock_mhz: Option<f64>,
    /// SM clock at most, MHz.
    pub sm_clock_max_mhz: Option<f64>,
    /// Memory clock now, MHz.
    pub mem_clock_mhz: Option<f64>,
    /// Memory clock at most, MHz.
    pub mem_clock_max_mhz: Option<f64>,
    /// Active clock throttle reasons by name (`gpu_idle`, `sw_power_cap`, `hw_slowdown`, ...),
    /// empty when none; `None` when unreadable.
    pub throttle_reasons: Option<Vec<String>>,
    /// Power limit enforced now, W.
    pub power_limit_w: Option<f64>,
    /// Power limit the device boots with, W.
    pub power_limit_default_w: Option<f64>,
    /// Power drawn now, W.
    pub power_draw_w: Option<f64>,
    /// Temperature now (GPU core, or AMD's hotspot), °C.
    pub temperature_c: Option<f64>,
    /// Temperature at which the device starts slowing itself down, °C.
    pub temperature_slowdown_c: Option<f64>,
    /// Whether driver persistence mode is on (NVIDIA).
    pub persistence_mode: Option<bool>,
    /// PCI bus id, to tell devices apart.
    pub bus_id: Option<String>,
    /// Why a field could not be read, by field name (`ecc_uncorrected_volatile`: `NotSupported`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub notes: BTreeMap<String, String>,
}

impl HealthReadings {
    /// Records why `field` could not be read.
    pub fn note(&mut self, field: &str, why: impl Into<String>) {
        self.notes.insert(field.to_string(), why.into());
    }
}

/// Where health readings come from: NVML, AMD SMI + sysfs, the CPU's sysfs, or a fake.
pub trait HealthSource {
    /// The source in a few words (`NVML 550.54.15`, `AMD SMI 24.7 + sysfs`).
    fn describe(&self) -> String;
    /// GPU or CPU.
    fn kind(&self) -> SourceKind;
    /// Reads every field it can, now. Never fails: what cannot be read is `None` (with a note).
    fn read(&mut self) -> HealthReadings;
}

/// A source that reads nothing (a backend without health readings): every field unreadable.
pub struct NoHealth {
    /// GPU or CPU.
    pub kind: SourceKind,
    /// Why nothing is read.
    pub why: String,
}

impl HealthSource for NoHealth {
    fn describe(&self) -> String {
        format!("none ({})", self.why)
    }
    fn kind(&self) -> SourceKind {
        self.kind
    }
    fn read(&mut self) -> HealthReadings {
        HealthReadings::default()
    }
}
