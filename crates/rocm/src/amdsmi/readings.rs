//! What AMD SMI tells about one GPU: its readings, found by PCI address, and the clock sample
//! they give. Pure code over the [`SmiCalls`] trait: the library implements it, tests
//! implement it with fakes. `hotpath validate` judges the readings
//! ([`crate::health_source`]).

use std::ffi::c_void;
use std::ptr::NonNull;

use hotpath_core::ClockSample;

use super::bdf::Bdf;

/// A processor handle from `amdsmi_get_processor_handles`, never null: every call that takes
/// a handle takes this type, so no FFI call can be made on a null handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Processor(NonNull<c_void>);

impl Processor {
    /// `None` for a null handle.
    pub fn new(raw: *mut c_void) -> Option<Processor> {
        NonNull::new(raw).map(Processor)
    }

    /// The handle to pass to AMD SMI.
    pub fn as_ptr(self) -> *mut c_void {
        self.0.as_ptr()
    }
}

/// `amdsmi_clk_info_t`'s current, minimum and maximum clock (MHz, raw from the library).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClockInfo {
    /// Current (an average over about 1 s).
    pub current: u32,
    /// Lowest DPM level.
    pub min: u32,
    /// Highest DPM level.
    pub max: u32,
}

/// `amdsmi_pcie_info_t`'s link fields, raw from the library.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PcieLink {
    /// Lanes now.
    pub width: u16,
    /// Lanes at most.
    pub max_width: u16,
    /// Speed now (MT/s).
    pub speed: u32,
    /// Speed at most (MT/s, or GT/s as 26.x documents it; see [`pcie_mts`]).
    pub max_speed: u32,
}

/// The AMD SMI calls a reading is made of, each `None` when the library cannot answer.
pub trait SmiCalls {
    /// Every GPU processor handle, null ones dropped.
    fn processors(&self) -> Result<Vec<Processor>, String>;
    /// `amdsmi_get_gpu_device_bdf`.
    fn bdf(&self, p: Processor) -> Option<Bdf>;
    /// `amdsmi_get_temp_metric` in whole °C; `sensor` and `metric` are the header's enum values.
    fn temperature_c(&self, p: Processor, sensor: u32, metric: u32) -> Option<i64>;
    /// `amdsmi_get_clock_info` for a clock type.
    fn clock(&self, p: Processor, clock_type: u32) -> Option<ClockInfo>;
    /// `amdsmi_get_gpu_total_ecc_count`: (correctable, uncorrectable).
    fn total_ecc(&self, p: Processor) -> Option<(u64, u64)>;
    /// `amdsmi_get_pcie_info`, only where its layout is known for the loaded version.
    fn pcie(&self, p: Processor) -> Option<PcieLink>;
    /// `amdsmi_get_gpu_bad_page_info` (count only).
    fn bad_pages(&self, p: Processor) -> Option<u32>;
}

/// `AMDSMI_TEMPERATURE_TYPE_EDGE`.
pub const SENSOR_EDGE: u32 = 0;
/// `AMDSMI_TEMPERATURE_TYPE_HOTSPOT` (= JUNCTION).
pub const SENSOR_HOTSPOT: u32 = 1;
/// `AMDSMI_TEMP_CURRENT`.
pub const TEMP_CURRENT: u32 = 0;
/// `AMDSMI_TEMP_CRITICAL`.
pub const TEMP_CRITICAL: u32 = 5;
/// `AMDSMI_TEMP_EMERGENCY`.
pub const TEMP_EMERGENCY: u32 = 7;
/// `AMDSMI_CLK_TYPE_GFX`.
pub const CLK_GFX: u32 = 0;
/// `AMDSMI_CLK_TYPE_MEM`.
pub const CLK_MEM: u32 = 4;

/// Everything AMD SMI told about one GPU; `None` = not readable.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AmdSmiReadings {
    /// Hotspot (junction) temperature, °C.
    pub hotspot_c: Option<i64>,
    /// The hotspot's critical limit (the driver throttles there), °C.
    pub hotspot_crit_c: Option<i64>,
    /// The hotspot's emergency limit, °C.
    pub hotspot_emergency_c: Option<i64>,
    /// Edge temperature, °C.
    pub edge_c: Option<i64>,
    /// Graphics (shader) clock now, MHz.
    pub gfx_mhz: Option<u32>,
    /// Graphics clock at most, MHz.
    pub gfx_max_mhz: Option<u32>,
    /// Memory clock now, MHz.
    pub mem_mhz: Option<u32>,
    /// Memory clock at most, MHz.
    pub mem_max_mhz: Option<u32>,
    /// Correctable ECC errors, every RAS block.
    pub ecc_correctable: Option<u64>,
    /// Uncorrectable ECC errors, every RAS block.
    pub ecc_uncorrectable: Option<u64>,
    /// PCIe lanes now.
    pub pcie_width: Option<u16>,
    /// PCIe lanes at most.
    pub pcie_max_width: Option<u16>,
    /// PCIe speed now, MT/s.
    pub pcie_mts: Option<u32>,
    /// PCIe speed at most, MT/s.
    pub pcie_max_mts: Option<u32>,
    /// VRAM pages retired after memory errors.
    pub retired_pages: Option<u32>,
}

/// A clock in MHz, or `None` for the library's "not available" values: 0, `u16::MAX` (an
/// unsupported gpu_metrics field copied into 32 bits) and `u32::MAX`.
pub fn mhz(raw: u32) -> Option<u32> {
    (raw != 0 && raw != u32::from(u16::MAX) && raw != u32::MAX).then_some(raw)
}

/// A PCIe speed in MT/s. amdsmi 24.x writes MT/s (sysfs GT/s × 1000) for both speeds; 26.1
/// documents the maximum in GT/s, so a value of 64 or less (no MT/s rate is) is taken as
/// GT/s. 0 and `u32::MAX` are "not available".
pub fn pcie_mts(raw: u32) -> Option<u32> {
    match raw {
        0 | u32::MAX => None,
        1..=64 => Some(raw * 1000),
        _ => Some(raw),
    }
}

fn lanes(raw: u16) -> Option<u16> {
    (raw != 0 && raw != u16::MAX).then_some(raw)
}

/// The processor at `want`: the exact address, else the only one that differs from it in
/// the function number alone (older HIP reports every function as 0).
pub fn find(found: &[(Processor, Bdf)], want: Bdf) -> Result<Processor, String> {
    if let Some((p, _)) = found.iter().find(|(_, b)| *b == want) {
        return Ok(*p);
    }
    let near: Vec<Processor> = found
        .iter()
        .filter(|(_, b)| b.with_function(0) == want.with_function(0))
        .map(|(p, _)| *p)
        .collect();
    if let [only] = near[..] {
        return Ok(only);
    }
    let list: Vec<String> = found.iter().map(|(_, b)| b.to_string()).collect();
    Err(format!(
        "AMD SMI lists no GPU at {want} (it lists {})",
        if list.is_empty() {
            "none".to_string()
        } else {
            list.join(", ")
        }
    ))
}

/// The processor at `bdf` among every processor the library lists.
fn processor_at(api: &impl SmiCalls, bdf: Bdf) -> Result<Processor, String> {
    let found: Vec<(Processor, Bdf)> = api
        .processors()?
        .into_iter()
        .filter_map(|p| Some((p, api.bdf(p)?)))
        .collect();
    find(&found, bdf)
}

/// The graphics clock sample of the GPU at `bdf`, asking for nothing else.
pub fn clock_with(api: &impl SmiCalls, bdf: Bdf) -> Option<ClockSample> {
    let c = api.clock(processor_at(api, bdf).ok()?, CLK_GFX)?;
    Some(ClockSample {
        sm_mhz: f64::from(mhz(c.current)?),
        sm_max_mhz: f64::from(mhz(c.max)?),
        throttle_reasons: vec![],
    })
}

/// The memory clock (MHz) and temperature (°C: hotspot, else edge) of the GPU at `bdf`,
/// for telemetry, asking for nothing else; `None` when AMD SMI lists no GPU there.
pub fn slow_with(api: &impl SmiCalls, bdf: Bdf) -> Option<(Option<f64>, Option<f64>)> {
    let p = processor_at(api, bdf).ok()?;
    let mem = api
        .clock(p, CLK_MEM)
        .and_then(|c| mhz(c.current))
        .map(f64::from);
    let temp = api
        .temperature_c(p, SENSOR_HOTSPOT, TEMP_CURRENT)
        .or_else(|| api.temperature_c(p, SENSOR_EDGE, TEMP_CURRENT))
        .map(|c| c as f64);
    Some((mem, temp))
}

/// Every reading of the GPU at `bdf`; `Err` when AMD SMI lists no GPU there.
pub fn readings_with(api: &impl SmiCalls, bdf: Bdf) -> Result<AmdSmiReadings, String> {
    let p = processor_at(api, bdf)?;
    let temp = |sensor, metric| api.temperature_c(p, sensor, metric);
    let gfx = api.clock(p, CLK_GFX);
    let mem = api.clock(p, CLK_MEM);
    let ecc = api.total_ecc(p);
    let link = api.pcie(p);
    Ok(AmdSmiReadings {
        hotspot_c: temp(SENSOR_HOTSPOT, TEMP_CURRENT),
        hotspot_crit_c: temp(SENSOR_HOTSPOT, TEMP_CRITICAL).filter(|&c| c > 0),
        hotspot_emergency_c: temp(SENSOR_HOTSPOT, TEMP_EMERGENCY).filter(|&c| c > 0),
        edge_c: temp(SENSOR_EDGE, TEMP_CURRENT),
        gfx_mhz: gfx.and_then(|c| mhz(c.current)),
        gfx_max_mhz: gfx.and_then(|c| mhz(c.max)),
        mem_mhz: mem.and_then(|c| mhz(c.current)),
        mem_max_mhz: mem.and_then(|c| mhz(c.max)),
        ecc_correctable: ecc.map(|e| e.0).filter(|&n| n != u64::MAX),
        ecc_uncorrectable: ecc.map(|e| e.1).filter(|&n| n != u64::MAX),
        pcie_width: link.and_then(|l| lanes(l.width)),
        pcie_max_width: link.and_then(|l| lanes(l.max_width)),
        pcie_mts: link.and_then(|l| pcie_mts(l.speed)),
        pcie_max_mts: link.and_then(|l| pcie_mts(l.max_speed)),
        retired_pages: api.bad_pages(p),
    })
}

/// The clock sample (graphics clock now and at most), when both are readable. AMD SMI's
/// throttle status is not bound (see the module doc), so no throttle reasons.
pub fn clock_sample(r: &AmdSmiReadings) -> Option<ClockSample> {
    Some(ClockSample {
        sm_mhz: f64::from(r.gfx_mhz?),
        sm_max_mhz: f64::from(r.gfx_max_mhz?),
        throttle_reasons: vec![],
    })
}

#[cfg(test)]
#[path = "readings_tests.rs"]
mod tests;
