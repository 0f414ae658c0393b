//! NVML readings: the device's facts for the results file, its clock and telemetry around
//! every sample batch, the names of its throttle reasons, the CUDA-to-NVML index match by
//! PCI address, and the memory bandwidth the device itself implies (memory clock × bus
//! width × 2 for DDR).

use hotpath_core::telemetry::{Refresh, GPU_REFRESH};
use hotpath_core::{ClockSample, Telemetry};
use nvml_wrapper::enum_wrappers::device::{Clock, TemperatureSensor};
use nvml_wrapper::Device as NvmlDevice;
use nvml_wrapper::Nvml;

/// NVML's clock-throttle reason bits (`nvmlClocksThrottleReason*` in nvml.h) and names.
pub const THROTTLE_REASONS: [(u64, &str); 9] = [
    (0x1, "gpu_idle"),
    (0x2, "applications_clocks_setting"),
    (0x4, "sw_power_cap"),
    (0x8, "hw_slowdown"),
    (0x10, "sync_boost"),
    (0x20, "sw_thermal_slowdown"),
    (0x40, "hw_thermal_slowdown"),
    (0x80, "hw_power_brake_slowdown"),
    (0x100, "display_clock_setting"),
];

/// Reasons that mean the clock was held down by power, heat or hardware, not by choice.
pub const SLOWDOWN_REASONS: u64 = 0x4 | 0x8 | 0x20 | 0x40 | 0x80;

/// Names of the reasons set in `bits` (unknown bits as hex).
pub fn throttle_names(bits: u64) -> Vec<String> {
    let mut names: Vec<String> = THROTTLE_REASONS
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, n)| n.to_string())
        .collect();
    let known: u64 = THROTTLE_REASONS.iter().map(|(b, _)| b).sum();
    if bits & !known != 0 {
        names.push(format!("0x{:x}", bits & !known));
    }
    names
}

/// Spec bandwidth in B/s from the maximum memory clock (MHz) and bus width (bits): HBM and
/// GDDR both move data on both edges, so × 2 (H100 SXM: 2619 MHz × 5120 bit → 3.35 TB/s).
pub fn bandwidth_from_clock(mem_clock_mhz: u32, bus_width_bits: u32) -> f64 {
    mem_clock_mhz as f64 * 1e6 * 2.0 * bus_width_bits as f64 / 8.0
}

/// One NVML-opened device.
pub struct Monitor {
    nvml: Nvml,
    index: u32,
    /// Memory clock, temperature and power, refreshed every [`GPU_REFRESH`].
    slow: Refresh<(Option<u32>, Option<u32>, Option<u32>)>,
}

/// A PCI address: domain, bus, device (the function of a GPU is 0).
pub type PciAddress = (u32, u32, u32);

/// Parses a PCI bus id as NVML and the CUDA driver write it (`00000000:18:00.0`,
/// `0000:18:00.0`, `18:00.0`; hexadecimal; the domain may be left out).
pub fn parse_bus_id(text: &str) -> Option<PciAddress> {
    let text = text.trim();
    let (addr, _function) = text.split_once('.').unwrap_or((text, "0"));
    let parts: Vec<&str> = addr.split(':').collect();
    let hex = |s: &str| u32::from_str_radix(s, 16).ok();
    match parts.as_slice() {
        [d, b, dev] => Some((hex(d)?, hex(b)?, hex(dev)?)),
        [b, dev] => Some((0, hex(b)?, hex(dev)?)),
        _ => None,
    }
}

/// The NVML index of the GPU at `pci` among NVML's devices, when one is there. CUDA's device
/// order differs from NVML's whenever CUDA_VISIBLE_DEVICES is set (Slurm sets it for every
/// job given part of a node) or CUDA_DEVICE_ORDER reorders: CUDA device 0 may be NVML
/// device 4, so the two are matched by PCI address, never by index.
pub fn nvml_index_of(nvml: &Nvml, pci: PciAddress) -> Option<u32> {
    let count = nvml.device_count().ok()?;
    (0..count).find(|&i| {
        nvml.device_by_index(i)
            .ok()
            .and_then(|d| d.pci_info().ok())
            .and_then(|p| parse_bus_id(&p.bus_id))
            == Some(pci)
    })
}

/// The NVML index of CUDA device `cuda_index` at PCI address `pci` (when the driver gave
/// one): matched by address, else (no address, or NVML cannot see it) the CUDA index.
pub fn resolve_nvml_index(cuda_index: u32, pci: Option<PciAddress>) -> u32 {
    let nvml = pci.and_then(|_| crate::loader::nvml().ok());
    resolve_with(nvml.as_ref(), cuda_index, pci)
}

/// [`resolve_nvml_index`] with NVML given (`None`: it is not available).
pub fn resolve_with(nvml: Option<&Nvml>, cuda_index: u32, pci: Option<PciAddress>) -> u32 {
    pci.and_then(|p| nvml.and_then(|n| nvml_index_of(n, p)))
        .unwrap_or(cuda_index)
}

impl Monitor {
    /// Opens NVML for NVML device `index` (see [`resolve_nvml_index`] for the CUDA device's).
    pub fn open(index: u32) -> Result<Monitor, String> {
        let nvml = crate::loader::nvml()?;
        nvml.device_by_index(index)
            .map_err(|e| format!("NVML has no device {index}: {e}"))?;
        Ok(Monitor {
            nvml,
            index,
            slow: Refresh::new(GPU_REFRESH),
        })
    }

    fn device(&self) -> Option<NvmlDevice<'_>> {
        self.nvml.device_by_index(self.index).ok()
    }

    /// Spec bandwidth implied by the memory clock and bus width, B/s.
    pub fn spec_bandwidth(&self) -> Option<f64> {
        let d = self.device()?;
        let clock = d.max_clock_info(Clock::Memory).ok()?;
        let width = d.memory_bus_width().ok()?;
        (clock > 0 && width > 0).then(|| bandwidth_from_clock(clock, width))
    }

    /// The highest power limit the board accepts, W: NVML's limit constraint (its maximum),
    /// else the default limit. Not the enforced limit, which an administrator may lower.
    pub fn power_limit_max_w(&self) -> Option<f64> {
        let d = self.device()?;
        let mw = d
            .power_management_limit_constraints()
            .map(|c| c.max_limit)
            .or_else(|_| d.power_management_limit_default())
            .ok()?;
        (mw > 0).then(|| f64::from(mw) / 1000.0)
    }

    /// Extra facts for the results file's `device.extra`.
    pub fn facts(&self) -> Vec<(String, serde_json::Value)> {
        let Some(d) = self.device() else {
            return vec![];
        };
        let mut out: Vec<(String, serde_json::Value)> = Vec::new();
        let mut put = |k: &str, v: serde_json::Value| out.push((k.to_string(), v));
        if let Ok(v) = d.max_clock_info(Clock::SM) {
            put("sm_clock_max_mhz", v.into());
        }
        if let Ok(v) = d.max_clock_info(Clock::Memory) {
            put("mem_clock_max_mhz", v.into());
        }
        if let Ok(v) = d.memory_bus_width() {
            put("mem_bus_width_bits", v.into());
        }
        if let Ok(v) = d.enforced_power_limit() {
            put("power_limit_w", (v as f64 / 1000.0).into());
        }
        if let Ok(p) = d.pci_info() {
            put("pci_bus_id", p.bus_id.into());
        }
        if let (Ok(g), Ok(w)) = (d.current_pcie_link_gen(), d.current_pcie_link_width()) {
            put("pcie_link", format!("gen{g} x{w}").into());
        }
        if let Ok(u) = d.uuid() {
            put("uuid", u.into());
        }
        out
    }

    /// Current and maximum SM clock and the active throttle reasons.
    pub fn clock(&self) -> Option<ClockSample> {
        let d = self.device()?;
        let sm = d.clock_info(Clock::SM).ok()?;
        let max = d.max_clock_info(Clock::SM).ok()?;
        let bits = d.current_throttle_reasons().map(|r| r.bits()).unwrap_or(0);
        Some(ClockSample {
            sm_mhz: sm as f64,
            sm_max_mhz: max as f64,
            throttle_reasons: throttle_names(bits & SLOWDOWN_REASONS),
        })
    }

    /// The telemetry read around every sample batch: SM clock and the slowdown throttle
    /// reasons on every call (the throttle rule judges them), memory clock, GPU temperature
    /// and board power (NVML's power usage, which the driver averages over up to a second
    /// on some boards) refreshed every [`GPU_REFRESH`]. Each value `None` where NVML cannot
    /// answer; `None` when the device is gone.
    pub fn telemetry(&self) -> Option<Telemetry> {
        let d = self.device()?;
        let (mem_mhz, temp_c, power_mw) = self.slow.get(std::time::Instant::now(), || {
            (
                d.clock_info(Clock::Memory).ok(),
                d.temperature(TemperatureSensor::Gpu).ok(),
                d.power_usage().ok(),
            )
        });
        Some(telemetry_from(NvmlReadings {
            sm_mhz: d.clock_info(Clock::SM).ok(),
            sm_max_mhz: d.max_clock_info(Clock::SM).ok(),
            mem_mhz,
            temp_c,
            power_mw,
            throttle_bits: d.current_throttle_reasons().ok().map(|r| r.bits()),
        }))
    }
}

/// The raw NVML answers one telemetry reading is made of (`None`: the call failed).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NvmlReadings {
    /// `nvmlDeviceGetClockInfo(NVML_CLOCK_SM)`, MHz.
    pub sm_mhz: Option<u32>,
    /// `nvmlDeviceGetMaxClockInfo(NVML_CLOCK_SM)`, MHz.
    pub sm_max_mhz: Option<u32>,
    /// `nvmlDeviceGetClockInfo(NVML_CLOCK_MEM)`, MHz.
    pub mem_mhz: Option<u32>,
    /// `nvmlDeviceGetTemperature(NVML_TEMPERATURE_GPU)`, °C.
    pub temp_c: Option<u32>,
    /// `nvmlDeviceGetPowerUsage`, mW.
    pub power_mw: Option<u32>,
    /// `nvmlDeviceGetCurrentClocksThrottleReasons` bits.
    pub throttle_bits: Option<u64>,
}

/// One telemetry reading from NVML's answers: power in W (mW ÷ 1000), the throttle reasons
/// that are slowdowns ([`SLOWDOWN_REASONS`]; idle and application clocks are not), a zero
/// clock or maximum (NVML's "no value") left unset.
pub fn telemetry_from(r: NvmlReadings) -> Telemetry {
    let mhz = |v: Option<u32>| v.filter(|&m| m > 0).map(f64::from);
    Telemetry {
        sm_mhz: mhz(r.sm_mhz),
        sm_max_mhz: mhz(r.sm_max_mhz),
        mem_mhz: mhz(r.mem_mhz),
        temp_c: r.temp_c.map(f64::from),
        power_w: r.power_mw.map(|mw| f64::from(mw) / 1000.0),
        throttle_reasons: r
            .throttle_bits
            .map(|b| throttle_names(b & SLOWDOWN_REASONS))
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn bus_ids_parse_in_every_spelling_nvml_and_cuda_use() {
        assert_eq!(parse_bus_id("00000000:18:00.0"), Some((0, 0x18, 0)));
        assert_eq!(parse_bus_id("0000:AB:1f.0"), Some((0, 0xab, 0x1f)));
        assert_eq!(parse_bus_id("18:00.0"), Some((0, 0x18, 0)));
        assert_eq!(parse_bus_id("00000001:c1:00"), Some((1, 0xc1, 0)));
        assert_eq!(parse_bus_id("gpu0"), None);
        assert_eq!(parse_bus_id(""), None);
    }

    #[test]
    fn without_nvml_the_cuda_index_stands() {
        // No NVML (as on a machine without a driver): nothing to match against.
        assert_eq!(resolve_with(None, 3, Some((0, 0x18, 0))), 3);
        assert_eq!(resolve_with(None, 2, None), 2);
    }

    use super::*;

    #[test]
    fn h100_sxm_bandwidth_from_its_memory_clock() {
        // 2619 MHz × 2 × 5120 bit / 8 = 3.352 TB/s (docs/hardware-sources.md: 3.35 TB/s).
        let bw = bandwidth_from_clock(2619, 5120);
        assert!((bw - 3.352_32e12).abs() < 1e6, "{bw}");
        // L40S: 9001 MHz × 2 × 384 / 8 = 864.1 GB/s.
        assert!((bandwidth_from_clock(9001, 384) - 864.096e9).abs() < 1e6);
    }

    #[test]
    fn throttle_bits_are_named() {
        assert!(throttle_names(0).is_empty());
        assert_eq!(
            throttle_names(0x1 | 0x40),
            vec!["gpu_idle", "hw_thermal_slowdown"]
        );
        assert_eq!(
            throttle_names(0x4 | 0x1000),
            vec!["sw_power_cap".to_string(), "0x1000".to_string()]
        );
        assert_eq!(SLOWDOWN_REASONS & 0x1, 0, "idle is not a slowdown");
    }

    #[test]
    fn nvml_answers_become_a_telemetry_reading() {
        // An H100 SXM under a power cap: 1755 of 1980 MHz, HBM3 at 2619 MHz, 67 °C,
        // 699,512 mW = 699.512 W; bits 0x1 (idle, not a slowdown) | 0x4 (sw_power_cap).
        let t = telemetry_from(NvmlReadings {
            sm_mhz: Some(1755),
            sm_max_mhz: Some(1980),
            mem_mhz: Some(2619),
            temp_c: Some(67),
            power_mw: Some(699_512),
            throttle_bits: Some(0x1 | 0x4),
        });
        assert_eq!(
            (t.sm_mhz, t.sm_max_mhz, t.mem_mhz, t.temp_c, t.power_w),
            (
                Some(1755.0),
                Some(1980.0),
                Some(2619.0),
                Some(67.0),
                Some(699.512)
            )
        );
        assert_eq!(t.throttle_reasons, vec!["sw_power_cap"]);
        assert_eq!(t.clock().map(|c| c.sm_mhz), Some(1755.0));
        // Nothing answered, or zeros: no values, no clock for the throttle rule.
        let none = telemetry_from(NvmlReadings {
            sm_mhz: Some(0),
            ..NvmlReadings::default()
        });
        assert!(none.is_empty() && none.clock().is_none());
    }
}
