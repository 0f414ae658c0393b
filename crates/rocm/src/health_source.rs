//! AMD SMI and amdgpu's sysfs as the health source of `hotpath validate`: AMD SMI's reading
//! of a field where it gives one, sysfs's otherwise. Throttle reasons come from sysfs's
//! `gpu_metrics` ([`crate::metrics`]; AMD SMI's throttle status is not bound), unreadable on
//! MI300, whose driver reports none there. Persistence mode has no AMD counterpart and row
//! remapping is not read (AMD retires pages instead of remapping rows).

use std::path::{Path, PathBuf};

use hotpath_core::health::{HealthReadings, HealthSource, SourceKind};

use crate::amdsmi::{self, AmdSmiReadings, Bdf};
use crate::metrics;
use crate::sysfs::{parse_dpm, read};

/// What amdgpu's sysfs says about one card; `None` = file absent or unparsable.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SysfsReadings {
    /// PCIe speed now and at most, GT/s.
    pub link_gts: Option<(f64, f64)>,
    /// PCIe lanes now and at most.
    pub link_width: Option<(u32, u32)>,
    /// Graphics clock now and at most, MHz.
    pub sclk_mhz: Option<(f64, f64)>,
    /// Memory clock now and at most, MHz.
    pub mclk_mhz: Option<(f64, f64)>,
    /// Junction (hotspot) temperature, else edge, °C.
    pub temperature_c: Option<f64>,
    /// The junction's critical limit (the driver throttles there), °C.
    pub temperature_crit_c: Option<f64>,
    /// Power cap now and by default, W.
    pub power_cap_w: Option<(f64, f64)>,
    /// Average power, W.
    pub power_w: Option<f64>,
    /// Uncorrectable memory-controller errors (RAS `umc_err_count`).
    pub umc_uncorrectable: Option<u64>,
    /// Active throttle reasons (hotpath names) from `gpu_metrics`, empty when none.
    pub throttle_reasons: Option<Vec<String>>,
    /// Why `throttle_reasons` is `None`.
    pub throttle_unreadable: Option<String>,
}

/// The PCIe generation of a link speed in GT/s (2.5 → 1, 5 → 2, 8 → 3, 16 → 4, 32 → 5, 64 → 6).
pub fn pcie_gen(gts: f64) -> Option<u32> {
    [
        (2.5, 1),
        (5.0, 2),
        (8.0, 3),
        (16.0, 4),
        (32.0, 5),
        (64.0, 6),
    ]
    .into_iter()
    .find(|(s, _)| (gts - s).abs() < 0.3)
    .map(|(_, g)| g)
}

/// The GT/s of `32.0 GT/s PCIe`.
pub fn parse_gts(text: &str) -> Option<f64> {
    text.split_whitespace().next()?.parse().ok()
}

fn hwmon_value(dir: &Path, file: &str) -> Option<f64> {
    std::fs::read_dir(dir.join("hwmon"))
        .ok()?
        .flatten()
        .find_map(|e| read(&e.path(), file)?.parse().ok())
}

fn pair<T>(a: Option<T>, b: Option<T>) -> Option<(T, T)> {
    Some((a?, b?))
}

/// Reads the card at `dir` (`/sys/class/drm/cardN/device`).
pub fn sysfs(dir: &Path) -> SysfsReadings {
    let num = |f: &str| read(dir, f).and_then(|t| t.parse::<u32>().ok());
    let milli = |f: &str| hwmon_value(dir, f).map(|v| v / 1000.0);
    let micro = |f: &str| hwmon_value(dir, f).map(|v| v / 1e6);
    let (throttle_reasons, throttle_unreadable) = match metrics::read(dir) {
        Ok(t) => (Some(t.reasons), None),
        Err(why) => (None, Some(why)),
    };
    SysfsReadings {
        throttle_reasons,
        throttle_unreadable,
        link_gts: pair(
            read(dir, "current_link_speed").and_then(|t| parse_gts(&t)),
            read(dir, "max_link_speed").and_then(|t| parse_gts(&t)),
        ),
        link_width: pair(num("current_link_width"), num("max_link_width")),
        sclk_mhz: read(dir, "pp_dpm_sclk").and_then(|t| parse_dpm(&t)),
        mclk_mhz: read(dir, "pp_dpm_mclk").and_then(|t| parse_dpm(&t)),
        temperature_c: milli("temp2_input").or_else(|| milli("temp1_input")),
        temperature_crit_c: milli("temp2_crit"),
        power_cap_w: pair(micro("power1_cap"), micro("power1_cap_default")),
        power_w: micro("power1_average").or_else(|| micro("power1_input")),
        umc_uncorrectable: read(dir, "ras/umc_err_count").and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("ue:"))
                .and_then(|v| v.trim().parse().ok())
        }),
    }
}

/// The readings of one GPU from AMD SMI's (where given) and sysfs's.
pub fn combine(amd: Option<&AmdSmiReadings>, s: &SysfsReadings) -> HealthReadings {
    let a = amd.cloned().unwrap_or_default();
    let mut r = HealthReadings {
        ecc_uncorrected_volatile: a.ecc_uncorrectable.or(s.umc_uncorrectable),
        ecc_corrected_volatile: a.ecc_correctable,
        retired_pages: a.retired_pages.map(u64::from),
        pcie_gen: a
            .pcie_mts
            .map(|m| f64::from(m) / 1000.0)
            .or(s.link_gts.map(|l| l.0))
            .and_then(pcie_gen),
        pcie_gen_max: a
            .pcie_max_mts
            .map(|m| f64::from(m) / 1000.0)
            .or(s.link_gts.map(|l| l.1))
            .and_then(pcie_gen),
        pcie_width: a.pcie_width.map(u32::from).or(s.link_width.map(|l| l.0)),
        pcie_width_max: a
            .pcie_max_width
            .map(u32::from)
            .or(s.link_width.map(|l| l.1)),
        sm_clock_mhz: a.gfx_mhz.map(f64::from).or(s.sclk_mhz.map(|c| c.0)),
        sm_clock_max_mhz: a.gfx_max_mhz.map(f64::from).or(s.sclk_mhz.map(|c| c.1)),
        mem_clock_mhz: a.mem_mhz.map(f64::from).or(s.mclk_mhz.map(|c| c.0)),
        mem_clock_max_mhz: a.mem_max_mhz.map(f64::from).or(s.mclk_mhz.map(|c| c.1)),
        power_limit_w: s.power_cap_w.map(|p| p.0),
        power_limit_default_w: s.power_cap_w.map(|p| p.1),
        power_draw_w: s.power_w,
        temperature_c: a.hotspot_c.map(|t| t as f64).or(s.temperature_c),
        temperature_slowdown_c: a.hotspot_crit_c.map(|t| t as f64).or(s.temperature_crit_c),
        throttle_reasons: s.throttle_reasons.clone(),
        ..HealthReadings::default()
    };
    let na = "not applicable on AMD GPUs";
    r.note("persistence_mode", na);
    r.note(
        "remapped_rows_uncorrectable",
        "AMD retires pages instead of remapping rows",
    );
    r.note(
        "row_remap_pending",
        "AMD retires pages instead of remapping rows",
    );
    r.note(
        "row_remap_failure",
        "AMD retires pages instead of remapping rows",
    );
    if r.throttle_reasons.is_none() {
        let why = s
            .throttle_unreadable
            .clone()
            .unwrap_or_else(|| "no sysfs card to read gpu_metrics from".to_string());
        r.note("throttle_reasons", &why);
    }
    r.note("ecc_enabled", "not read on AMD");
    r.note(
        "ecc_uncorrected_aggregate",
        "AMD SMI's counts are since the driver loaded",
    );
    r.note("retirement_pending", "not read on AMD");
    if r.retired_pages.is_none() {
        r.note("retired_pages", "needs AMD SMI");
    }
    if r.ecc_uncorrected_volatile.is_none() {
        r.note(
            "ecc_uncorrected_volatile",
            "neither AMD SMI nor sysfs RAS counters answered",
        );
    }
    r
}

/// The health source of one AMD GPU: its sysfs directory and its PCI address for AMD SMI.
pub struct RocmHealth {
    card: Option<PathBuf>,
    bdf: Option<Bdf>,
}

impl RocmHealth {
    /// A source for the card at `card` (sysfs) and `bdf` (AMD SMI); either may be unknown.
    pub fn new(card: Option<PathBuf>, bdf: Option<Bdf>) -> RocmHealth {
        RocmHealth { card, bdf }
    }
}

impl HealthSource for RocmHealth {
    fn describe(&self) -> String {
        let smi = match amdsmi::amd_smi() {
            Ok(s) => format!("AMD SMI at {}", s.path),
            Err(_) => "no AMD SMI".to_string(),
        };
        let sysfs = match &self.card {
            Some(c) => format!("sysfs {}", c.display()),
            None => "no sysfs card".to_string(),
        };
        format!("{smi} + {sysfs}")
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Gpu
    }

    fn read(&mut self) -> HealthReadings {
        let amd = match (amdsmi::amd_smi(), self.bdf) {
            (Ok(smi), Some(b)) => smi.readings_for_bdf(b).ok(),
            _ => None,
        };
        let s = self.card.as_deref().map(sysfs).unwrap_or_default();
        let mut r = combine(amd.as_ref(), &s);
        r.bus_id = self.bdf.map(|b| b.to_string());
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_speeds_name_their_generation() {
        assert_eq!(pcie_gen(2.5), Some(1));
        assert_eq!(pcie_gen(16.0), Some(4));
        assert_eq!(pcie_gen(32.0), Some(5));
        assert_eq!(pcie_gen(12.0), None);
        assert_eq!(parse_gts("32.0 GT/s PCIe"), Some(32.0));
    }

    #[test]
    fn a_fake_card_at_x8_reads_back_and_fails_the_width_rule() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("hwmon/hwmon2")).unwrap();
        std::fs::create_dir_all(d.join("ras")).unwrap();
        std::fs::write(d.join("hwmon/hwmon2/temp2_input"), "71000\n").unwrap();
        std::fs::write(d.join("hwmon/hwmon2/temp2_crit"), "100000\n").unwrap();
        std::fs::write(d.join("hwmon/hwmon2/power1_cap"), "550000000\n").unwrap();
        std::fs::write(d.join("hwmon/hwmon2/power1_cap_default"), "750000000\n").unwrap();
        std::fs::write(d.join("current_link_speed"), "32.0 GT/s PCIe\n").unwrap();
        std::fs::write(d.join("max_link_speed"), "32.0 GT/s PCIe\n").unwrap();
        std::fs::write(d.join("current_link_width"), "8\n").unwrap();
        std::fs::write(d.join("max_link_width"), "16\n").unwrap();
        std::fs::write(d.join("ras/umc_err_count"), "ue: 2\nce: 7\n").unwrap();
        let s = sysfs(d);
        assert_eq!(s.link_width, Some((8, 16)));
        assert_eq!(s.power_cap_w, Some((550.0, 750.0)));
        let r = combine(None, &s);
        assert_eq!((r.pcie_gen, r.pcie_gen_max), (Some(5), Some(5)));
        assert_eq!(r.temperature_c, Some(71.0));
        assert_eq!(r.temperature_slowdown_c, Some(100.0));
        assert_eq!(r.ecc_uncorrected_volatile, Some(2));
        use hotpath_validate::Status;
        let checks = hotpath_validate::health::checks(&r, &r, SourceKind::Gpu);
        let get = |n: &str| checks.iter().find(|c| c.name == n).unwrap();
        assert_eq!(get("health/pcie_width").status, Status::Fail);
        assert_eq!(get("health/ecc_uncorrected_volatile").status, Status::Fail);
        // 550 W of 750 W default: capped.
        assert_eq!(get("health/power_limit").status, Status::Warn);
        assert_eq!(get("health/persistence_mode").status, Status::Skip);
        assert!(get("health/persistence_mode")
            .detail
            .contains("not applicable on AMD"));
        // No gpu_metrics in this card: the throttle check says why it cannot judge.
        assert_eq!(get("health/throttle").status, Status::Skip);
        assert!(
            get("health/throttle").detail.contains("gpu_metrics"),
            "{}",
            get("health/throttle").detail
        );
    }

    #[test]
    fn throttle_reasons_from_gpu_metrics_are_judged() {
        use hotpath_validate::Status;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let judge = |indep: u64| {
            std::fs::write(d.join("gpu_metrics"), metrics::tests::v1_3(indep)).unwrap();
            let r = combine(None, &sysfs(d));
            let checks = hotpath_validate::health::checks(&r, &r, SourceKind::Gpu);
            let c = checks
                .into_iter()
                .find(|c| c.name == "health/throttle")
                .unwrap();
            (r.throttle_reasons.unwrap(), c.status)
        };
        // PPT0: the power cap under load, which passes.
        assert_eq!(judge(1), (vec!["sw_power_cap".to_string()], Status::Pass));
        // TEMP_HOTSPOT (bit 36): software thermal slowdown, a warning.
        assert_eq!(
            judge(1 << 36),
            (vec!["sw_thermal_slowdown".to_string()], Status::Warn)
        );
        // VRHOT0 (bit 44) and PROCHOT_GFX (bit 47): hardware slowdowns, a failure.
        assert_eq!(
            judge(1 << 44 | 1 << 47),
            (
                vec!["hw_thermal_slowdown".to_string(), "hw_slowdown".to_string()],
                Status::Fail
            )
        );
        assert_eq!(judge(0), (vec![], Status::Pass));
        // An MI300 (gpu_metrics v1.4) cannot tell: SKIP, with the driver's reason.
        let mut v14 = metrics::tests::v1_3(0);
        v14[3] = 4;
        std::fs::write(d.join("gpu_metrics"), v14).unwrap();
        let r = combine(None, &sysfs(d));
        assert_eq!(r.throttle_reasons, None);
        let checks = hotpath_validate::health::checks(&r, &r, SourceKind::Gpu);
        let c = checks.iter().find(|c| c.name == "health/throttle").unwrap();
        assert_eq!(c.status, Status::Skip);
        assert!(c.detail.contains("MI300"), "{}", c.detail);
    }

    #[test]
    fn amd_smi_readings_take_precedence() {
        let amd = AmdSmiReadings {
            hotspot_c: Some(80),
            hotspot_crit_c: Some(105),
            pcie_width: Some(16),
            pcie_max_width: Some(16),
            pcie_mts: Some(16_000),
            pcie_max_mts: Some(32_000),
            ecc_uncorrectable: Some(0),
            retired_pages: Some(3),
            ..AmdSmiReadings::default()
        };
        let s = SysfsReadings {
            link_width: Some((8, 16)),
            umc_uncorrectable: Some(5),
            temperature_c: Some(40.0),
            ..SysfsReadings::default()
        };
        let r = combine(Some(&amd), &s);
        assert_eq!(r.pcie_width, Some(16));
        assert_eq!((r.pcie_gen, r.pcie_gen_max), (Some(4), Some(5)));
        assert_eq!(r.ecc_uncorrected_volatile, Some(0));
        assert_eq!(r.retired_pages, Some(3));
        assert_eq!(r.temperature_c, Some(80.0));
        assert_eq!(r.temperature_slowdown_c, Some(105.0));
    }
}
