//! AMD telemetry read around every sample batch: the graphics (SM) clock from AMD SMI, else
//! amdgpu's `pp_dpm_sclk`, on every call (the throttle rule judges it), with the throttle
//! reasons of `gpu_metrics`; the memory clock and temperature from AMD SMI, else sysfs
//! (`pp_dpm_mclk`, hwmon `temp2_input` junction then `temp1_input` edge), and the board
//! power from hwmon (`power1_average`, else `power1_input`; AMD SMI's power call is not
//! bound) refreshed every [`GPU_REFRESH`].

use std::path::{Path, PathBuf};

use hotpath_core::telemetry::{Refresh, GPU_REFRESH};
use hotpath_core::{ClockSample, Telemetry, TelemetrySource};

use crate::amdsmi::{self, Bdf};
use crate::sysfs;

/// The readings refreshed every [`GPU_REFRESH`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Slow {
    /// Memory clock, MHz.
    pub mem_mhz: Option<f64>,
    /// Temperature, °C (junction/hotspot where readable, else edge).
    pub temp_c: Option<f64>,
    /// Board power, W.
    pub power_w: Option<f64>,
}

impl Slow {
    /// Each value from `first` where it has one, else from `second`.
    pub fn or(self, second: Slow) -> Slow {
        Slow {
            mem_mhz: self.mem_mhz.or(second.mem_mhz),
            temp_c: self.temp_c.or(second.temp_c),
            power_w: self.power_w.or(second.power_w),
        }
    }
}

/// A hwmon value of the card at `dir` (`hwmon/hwmon*/file`), the first sensor that has it.
fn hwmon(dir: &Path, file: &str) -> Option<f64> {
    hotpath_core::telemetry::sysfs::subdirs(&dir.join("hwmon"), "hwmon")
        .iter()
        .find_map(|h| {
            hotpath_core::telemetry::sysfs::read_text(&h.join(file))?
                .parse()
                .ok()
        })
}

/// The memory clock, temperature and power amdgpu's sysfs gives for the card at `dir`:
/// `pp_dpm_mclk`'s current level in MHz, hwmon m°C ÷ 1000, hwmon µW ÷ 10⁶.
pub fn sysfs_slow(dir: &Path) -> Slow {
    let read = |f: &str| hotpath_core::telemetry::sysfs::read_text(&dir.join(f));
    Slow {
        mem_mhz: read("pp_dpm_mclk")
            .and_then(|t| sysfs::parse_dpm(&t))
            .map(|(now, _)| now),
        temp_c: hwmon(dir, "temp2_input")
            .or_else(|| hwmon(dir, "temp1_input"))
            .map(|m| m / 1000.0),
        power_w: hwmon(dir, "power1_average")
            .or_else(|| hwmon(dir, "power1_input"))
            .map(|u| u / 1e6),
    }
}

/// One reading from its parts: the SM clock sample (AMD SMI's or sysfs's), the slow readings
/// and the throttle reasons; `None` when none of them has anything.
pub fn combine(clock: Option<ClockSample>, slow: Slow, throttle: Vec<String>) -> Option<Telemetry> {
    let t = Telemetry {
        sm_mhz: clock.as_ref().map(|c| c.sm_mhz),
        sm_max_mhz: clock.as_ref().map(|c| c.sm_max_mhz),
        mem_mhz: slow.mem_mhz,
        temp_c: slow.temp_c,
        power_w: slow.power_w,
        throttle_reasons: throttle,
    };
    (!t.is_empty()).then_some(t)
}

/// The telemetry of one AMD GPU: its DRM device directory and PCI address.
pub struct RocmTelemetry {
    card: Option<PathBuf>,
    bdf: Option<Bdf>,
    slow: Refresh<Slow>,
}

impl RocmTelemetry {
    /// The GPU whose amdgpu sysfs directory is `card` and PCI address `bdf` (each when known).
    pub fn new(card: Option<PathBuf>, bdf: Option<Bdf>) -> RocmTelemetry {
        RocmTelemetry {
            card,
            bdf,
            slow: Refresh::new(GPU_REFRESH),
        }
    }

    /// `amdsmi` when AMD SMI answers for this GPU's clock, else `sysfs` when the card has a
    /// sysfs directory, else `none`.
    pub fn source(&self) -> TelemetrySource {
        if amdsmi::clock(self.bdf).is_some() {
            TelemetrySource::Amdsmi
        } else if self.card.is_some() {
            TelemetrySource::Sysfs
        } else {
            TelemetrySource::None
        }
    }

    /// The reading now.
    pub fn read(&self) -> Option<Telemetry> {
        let card = self.card.as_deref();
        let clock = amdsmi::clock(self.bdf).or_else(|| card.and_then(sysfs::clock));
        let slow = self.slow.get(std::time::Instant::now(), || {
            let smi = amdsmi::mem_and_temperature(self.bdf).unwrap_or_default();
            smi.or(card.map(sysfs_slow).unwrap_or_default())
        });
        combine(clock, slow, sysfs::throttle_reasons(card))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sysfs_gives_memory_clock_junction_temperature_and_power() {
        let dir = tempfile::tempdir().unwrap();
        let card = dir.path();
        std::fs::write(
            card.join("pp_dpm_mclk"),
            "0: 96Mhz\n1: 456Mhz\n2: 1300Mhz *\n",
        )
        .unwrap();
        let h = card.join("hwmon/hwmon4");
        std::fs::create_dir_all(&h).unwrap();
        // 82 °C junction, 55 °C edge; 612.5 W average (612,500,000 µW).
        std::fs::write(h.join("temp2_input"), "82000\n").unwrap();
        std::fs::write(h.join("temp1_input"), "55000\n").unwrap();
        std::fs::write(h.join("power1_average"), "612500000\n").unwrap();
        std::fs::write(h.join("power1_input"), "1\n").unwrap();
        assert_eq!(
            sysfs_slow(card),
            Slow {
                mem_mhz: Some(1300.0),
                temp_c: Some(82.0),
                power_w: Some(612.5)
            }
        );
        // Edge only, instantaneous power only (MI300 exposes power1_input).
        std::fs::remove_file(h.join("temp2_input")).unwrap();
        std::fs::remove_file(h.join("power1_average")).unwrap();
        std::fs::write(h.join("power1_input"), "250000000").unwrap();
        let s = sysfs_slow(card);
        assert_eq!((s.temp_c, s.power_w), (Some(55.0), Some(250.0)));
        assert_eq!(sysfs_slow(&card.join("none")), Slow::default());
    }

    #[test]
    fn amd_smi_values_win_and_sysfs_fills_the_gaps() {
        let smi = Slow {
            mem_mhz: None,
            temp_c: Some(71.0),
            power_w: None,
        };
        let fs = Slow {
            mem_mhz: Some(1300.0),
            temp_c: Some(55.0),
            power_w: Some(600.0),
        };
        assert_eq!(
            smi.or(fs),
            Slow {
                mem_mhz: Some(1300.0),
                temp_c: Some(71.0),
                power_w: Some(600.0)
            }
        );
        let clock = ClockSample {
            sm_mhz: 1700.0,
            sm_max_mhz: 2100.0,
            throttle_reasons: vec![],
        };
        let t = combine(Some(clock), smi.or(fs), vec!["sw_power_cap".into()]).unwrap();
        assert_eq!(
            (t.sm_mhz, t.sm_max_mhz, t.mem_mhz, t.temp_c, t.power_w),
            (
                Some(1700.0),
                Some(2100.0),
                Some(1300.0),
                Some(71.0),
                Some(600.0)
            )
        );
        assert_eq!(t.throttle_reasons, vec!["sw_power_cap"]);
        assert_eq!(combine(None, Slow::default(), vec![]), None);
    }
}
