//! NVML as the health source of `hotpath validate`: every field of
//! [`HealthReadings`] NVML can give, each unreadable one with NVML's reason. The rules that
//! judge the readings are hotpath-validate's (`hotpath_validate::health`) and tested there with a
//! fake source behind the same trait.

use hotpath_core::health::{HealthReadings, HealthSource, SourceKind};
use nvml_wrapper::enum_wrappers::device::{
    Clock, EccCounter, MemoryError, RetirementCause, TemperatureSensor, TemperatureThreshold,
};
use nvml_wrapper::error::{nvml_try, NvmlError};
use nvml_wrapper::Device as NvmlDevice;
use nvml_wrapper::Nvml;

use crate::nvml::throttle_names;

/// NVML's `nvmlDeviceGetRemappedRows` result: rows remapped after correctable and after
/// uncorrectable errors, a remapping pending a reset, a remapping that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemappedRows {
    /// Rows remapped after correctable errors.
    pub correctable: u32,
    /// Rows remapped after uncorrectable errors.
    pub uncorrectable: u32,
    /// A remapping waits for the next GPU reset.
    pub pending: bool,
    /// A remapping failed (no spare row left).
    pub failure: bool,
}

/// Milliwatts (NVML's power unit) to watts.
pub fn watts(milliwatts: u32) -> f64 {
    f64::from(milliwatts) / 1000.0
}

/// The health source of NVML device `index` (the CUDA device's NVML index, matched by PCI
/// address: see `nvml::resolve_nvml_index`).
pub struct NvmlHealth {
    nvml: Result<Nvml, String>,
    index: u32,
}

impl NvmlHealth {
    /// Initialises NVML; a failure is kept and reported as the reason of every reading.
    pub fn open(index: u32) -> NvmlHealth {
        NvmlHealth {
            nvml: crate::loader::nvml(),
            index,
        }
    }
}

fn get<T>(r: &mut HealthReadings, field: &str, v: Result<T, NvmlError>) -> Option<T> {
    match v {
        Ok(v) => Some(v),
        Err(e) => {
            r.note(field, e.to_string());
            None
        }
    }
}

/// `nvmlDeviceGetRemappedRows`, which nvml-wrapper does not wrap: called through the
/// symbol table it loaded (absent in NVML before R450).
fn remapped_rows(d: &NvmlDevice) -> Result<RemappedRows, String> {
    let f = d
        .nvml()
        .lib()
        .nvmlDeviceGetRemappedRows
        .as_ref()
        .map_err(|e| format!("this NVML has no nvmlDeviceGetRemappedRows: {e}"))?;
    let (mut corr, mut unc, mut pending, mut failure) = (0u32, 0u32, 0u32, 0u32);
    // SAFETY: the handle belongs to a device of a live NVML; the out-pointers are valid u32s.
    let code = unsafe { f(d.handle(), &mut corr, &mut unc, &mut pending, &mut failure) };
    nvml_try(code).map_err(|e| e.to_string())?;
    Ok(RemappedRows {
        correctable: corr,
        uncorrectable: unc,
        pending: pending != 0,
        failure: failure != 0,
    })
}

/// Fills `r` from one NVML device.
fn read_device(d: &NvmlDevice, r: &mut HealthReadings) {
    r.ecc_enabled = get(r, "ecc_enabled", d.is_ecc_enabled()).map(|m| m.currently_enabled);
    r.ecc_uncorrected_volatile = get(
        r,
        "ecc_uncorrected_volatile",
        d.total_ecc_errors(MemoryError::Uncorrected, EccCounter::Volatile),
    );
    r.ecc_uncorrected_aggregate = get(
        r,
        "ecc_uncorrected_aggregate",
        d.total_ecc_errors(MemoryError::Uncorrected, EccCounter::Aggregate),
    );
    r.ecc_corrected_volatile = get(
        r,
        "ecc_corrected_volatile",
        d.total_ecc_errors(MemoryError::Corrected, EccCounter::Volatile),
    );
    let sbe = get(
        r,
        "retired_pages",
        d.retired_pages(RetirementCause::MultipleSingleBitEccErrors),
    );
    let dbe = get(
        r,
        "retired_pages",
        d.retired_pages(RetirementCause::DoubleBitEccError),
    );
    r.retired_pages = match (sbe, dbe) {
        (Some(a), Some(b)) => Some((a.len() + b.len()) as u64),
        _ => None,
    };
    r.retirement_pending = get(r, "retirement_pending", d.are_pages_pending_retired());
    match remapped_rows(d) {
        Ok(rows) => {
            r.remapped_rows_correctable = Some(u64::from(rows.correctable));
            r.remapped_rows_uncorrectable = Some(u64::from(rows.uncorrectable));
            r.row_remap_pending = Some(rows.pending);
            r.row_remap_failure = Some(rows.failure);
        }
        Err(why) => {
            for f in [
                "remapped_rows_uncorrectable",
                "row_remap_pending",
                "row_remap_failure",
            ] {
                r.note(f, why.clone());
            }
        }
    }
    r.pcie_gen = get(r, "pcie_gen", d.current_pcie_link_gen());
    r.pcie_gen_max = get(r, "pcie_gen", d.max_pcie_link_gen());
    r.pcie_width = get(r, "pcie_width", d.current_pcie_link_width());
    r.pcie_width_max = get(r, "pcie_width", d.max_pcie_link_width());
    r.sm_clock_mhz = get(r, "sm_clock_mhz", d.clock_info(Clock::SM)).map(f64::from);
    r.sm_clock_max_mhz = get(r, "sm_clock_mhz", d.max_clock_info(Clock::SM)).map(f64::from);
    r.mem_clock_mhz = get(r, "mem_clock_mhz", d.clock_info(Clock::Memory)).map(f64::from);
    r.mem_clock_max_mhz = get(r, "mem_clock_mhz", d.max_clock_info(Clock::Memory)).map(f64::from);
    r.throttle_reasons = get(r, "throttle_reasons", d.current_throttle_reasons())
        .map(|bits| throttle_names(bits.bits()));
    r.power_limit_w = get(r, "power_limit_w", d.enforced_power_limit()).map(watts);
    r.power_limit_default_w =
        get(r, "power_limit_w", d.power_management_limit_default()).map(watts);
    r.power_draw_w = get(r, "power_draw_w", d.power_usage()).map(watts);
    r.temperature_c = get(r, "temperature_c", d.temperature(TemperatureSensor::Gpu)).map(f64::from);
    r.temperature_slowdown_c = get(
        r,
        "temperature_slowdown_c",
        d.temperature_threshold(TemperatureThreshold::Slowdown),
    )
    .map(f64::from);
    r.persistence_mode = get(r, "persistence_mode", d.is_in_persistent_mode());
    r.bus_id = d.pci_info().ok().map(|p| p.bus_id);
}

impl HealthSource for NvmlHealth {
    fn describe(&self) -> String {
        match &self.nvml {
            Ok(n) => format!(
                "NVML (driver {})",
                n.sys_driver_version()
                    .unwrap_or_else(|_| "version unknown".into())
            ),
            Err(why) => format!("none ({why})"),
        }
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Gpu
    }

    fn read(&mut self) -> HealthReadings {
        let mut r = HealthReadings::default();
        let why = match &self.nvml {
            Ok(nvml) => match nvml.device_by_index(self.index) {
                Ok(d) => {
                    read_device(&d, &mut r);
                    return r;
                }
                Err(e) => format!("NVML has no device {}: {e}", self.index),
            },
            Err(why) => why.clone(),
        };
        for f in ["ecc_uncorrected_volatile", "ecc_enabled", "pcie_width"] {
            r.note(f, why.clone());
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliwatts_to_watts() {
        assert_eq!(watts(700_000), 700.0);
        assert_eq!(watts(1), 0.001);
    }

    #[test]
    fn no_nvml_reads_nothing_and_says_why() {
        // As on a machine without a driver: NVML did not initialise.
        let mut s = NvmlHealth {
            nvml: Err("NVML is not available: libnvidia-ml.so.1: cannot open".into()),
            index: 0,
        };
        assert_eq!(s.kind(), SourceKind::Gpu);
        assert!(s.describe().starts_with("none (NVML is not available"));
        let r = s.read();
        assert_eq!(r.ecc_uncorrected_volatile, None);
        assert!(r.notes["ecc_uncorrected_volatile"].contains("NVML is not available"));
        // The rules then warn that memory errors cannot be ruled out.
        let checks = hotpath_validate::health::checks(&r, &r, SourceKind::Gpu);
        let ecc = checks
            .iter()
            .find(|c| c.name == "health/ecc_uncorrected_volatile")
            .unwrap();
        assert_eq!(ecc.status, hotpath_validate::Status::Warn);
        assert!(
            ecc.detail.contains("NVML is not available"),
            "{}",
            ecc.detail
        );
    }
}
