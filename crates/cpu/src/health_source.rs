//! The CPU as a health source of `hotpath validate`: the core clock (cpufreq) and the package
//! temperature (thermal zones) where sysfs has them; the GPU readings (ECC, PCIe link, power
//! limit, persistence) do not apply and are reported so. Virtual machines often expose
//! neither file; then those checks are SKIP too.

use std::path::{Path, PathBuf};

use hotpath_core::health::{HealthReadings, HealthSource, SourceKind};

/// Reads from a sysfs root (`/sys`, or a fake tree in tests).
pub struct CpuHealth {
    root: PathBuf,
}

impl CpuHealth {
    /// The host's `/sys`.
    pub fn new() -> CpuHealth {
        CpuHealth::at(Path::new("/sys"))
    }

    /// A sysfs tree rooted at `root`.
    pub fn at(root: &Path) -> CpuHealth {
        CpuHealth {
            root: root.to_path_buf(),
        }
    }
}

impl Default for CpuHealth {
    fn default() -> Self {
        CpuHealth::new()
    }
}

fn number(path: &Path) -> Option<f64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The package temperature in °C: the `x86_pkg_temp` thermal zone, else the hottest zone.
fn temperature(root: &Path) -> Option<f64> {
    let zones: Vec<(String, f64)> = std::fs::read_dir(root.join("class/thermal"))
        .ok()?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("thermal_zone"))
        .filter_map(|e| {
            let kind = std::fs::read_to_string(e.path().join("type")).unwrap_or_default();
            Some((
                kind.trim().to_string(),
                number(&e.path().join("temp"))? / 1000.0,
            ))
        })
        .collect();
    zones
        .iter()
        .find(|(k, _)| k == "x86_pkg_temp")
        .map(|z| z.1)
        .or_else(|| zones.iter().map(|z| z.1).max_by(f64::total_cmp))
}

impl HealthSource for CpuHealth {
    fn describe(&self) -> String {
        format!("CPU sysfs ({})", self.root.display())
    }

    fn kind(&self) -> SourceKind {
        SourceKind::Cpu
    }

    fn read(&mut self) -> HealthReadings {
        let freq = self.root.join("devices/system/cpu/cpu0/cpufreq");
        let mut r = HealthReadings {
            sm_clock_mhz: number(&freq.join("scaling_cur_freq")).map(|khz| khz / 1000.0),
            sm_clock_max_mhz: number(&freq.join("cpuinfo_max_freq")).map(|khz| khz / 1000.0),
            temperature_c: temperature(&self.root),
            ..HealthReadings::default()
        };
        if r.sm_clock_mhz.is_none() {
            r.note(
                "sm_clock_mhz",
                "no cpufreq in sysfs (common in virtual machines)",
            );
        }
        if r.temperature_c.is_none() {
            r.note("temperature_c", "no thermal zone in sysfs");
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotpath_validate::{health, Status};

    #[test]
    fn a_fake_sysfs_reads_back_and_only_cpu_checks_apply() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let freq = root.join("devices/system/cpu/cpu0/cpufreq");
        std::fs::create_dir_all(&freq).unwrap();
        std::fs::write(freq.join("scaling_cur_freq"), "2400000\n").unwrap();
        std::fs::write(freq.join("cpuinfo_max_freq"), "3700000\n").unwrap();
        for (zone, kind, milli) in [
            ("thermal_zone0", "acpitz", "30000"),
            ("thermal_zone1", "x86_pkg_temp", "61000"),
        ] {
            let z = root.join("class/thermal").join(zone);
            std::fs::create_dir_all(&z).unwrap();
            std::fs::write(z.join("type"), kind).unwrap();
            std::fs::write(z.join("temp"), milli).unwrap();
        }
        let mut s = CpuHealth::at(root);
        let r = s.read();
        assert_eq!(r.sm_clock_mhz, Some(2400.0));
        assert_eq!(r.sm_clock_max_mhz, Some(3700.0));
        assert_eq!(
            r.temperature_c,
            Some(61.0),
            "the package zone, not the hottest"
        );
        let checks = health::checks(&r, &r, s.kind());
        let get = |n: &str| checks.iter().find(|c| c.name == n).unwrap();
        assert_eq!(get("health/temperature").status, Status::Pass);
        // 2400 of 3700 MHz = 65 %: below 75 %, but a CPU lowers its clock when idle.
        assert_eq!(get("health/sm_clock").status, Status::Pass);
        for n in [
            "health/ecc_uncorrected_volatile",
            "health/pcie_width",
            "health/power_limit",
        ] {
            assert_eq!(get(n).status, Status::Skip, "{n}");
            assert_eq!(get(n).detail, "not applicable on a CPU");
        }
    }

    #[test]
    fn an_empty_sysfs_skips_everything() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = CpuHealth::at(dir.path());
        let r = s.read();
        let checks = health::checks(&r, &r, SourceKind::Cpu);
        assert!(
            checks.iter().all(|c| c.status == Status::Skip),
            "{checks:?}"
        );
    }
}
