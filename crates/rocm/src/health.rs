//! AMD health and clocks from `/sys/class/drm/card*/device` (amdgpu's sysfs), the fallback
//! when AMD SMI (`libamd_smi.so`) is absent: clocks, power, temperature, PCIe link, RAS.

use std::path::{Path, PathBuf};

use hotpath_core::{ClockSample, Health, HealthCheck, HealthState};

/// Current and maximum MHz from `pp_dpm_sclk` / `pp_dpm_mclk` (`1: 1700Mhz *`).
pub fn parse_dpm(text: &str) -> Option<(f64, f64)> {
    let mut current = None;
    let mut max: Option<f64> = None;
    for line in text.lines() {
        let Some((_, rest)) = line.split_once(':') else {
            continue;
        };
        let mhz: f64 = rest
            .trim()
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()?;
        max = Some(max.map_or(mhz, |m: f64| m.max(mhz)));
        if line.trim_end().ends_with('*') {
            current = Some(mhz);
        }
    }
    Some((current?, max?))
}

/// The DRM device directory of the `index`-th amdgpu card, in card order.
pub fn card_dir(index: usize) -> Option<PathBuf> {
    let mut cards: Vec<PathBuf> = std::fs::read_dir("/sys/class/drm")
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            name.starts_with("card") && !name.contains('-')
        })
        .filter(|p| {
            std::fs::read_to_string(p.join("device/vendor")).is_ok_and(|v| v.trim() == "0x1002")
        })
        .map(|p| p.join("device"))
        .collect();
    cards.sort();
    cards.into_iter().nth(index)
}

/// The trimmed text of `dir/file`, when readable.
pub(crate) fn read(dir: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(file))
        .ok()
        .map(|s| s.trim().to_string())
}

fn hwmon(dir: &Path, file: &str) -> Option<f64> {
    let entries = std::fs::read_dir(dir.join("hwmon")).ok()?;
    entries
        .flatten()
        .find_map(|e| read(&e.path(), file)?.parse().ok())
}

/// The SM (shader) clock now and at most.
pub fn clock(dir: &Path) -> Option<ClockSample> {
    let (sm, max) = parse_dpm(&read(dir, "pp_dpm_sclk")?)?;
    Some(ClockSample {
        sm_mhz: sm,
        sm_max_mhz: max,
        throttle_reasons: vec![],
    })
}

/// Every reading sysfs offers, each with a verdict. (Whether AMD SMI answered, and which of
/// these it replaces, is [`crate::amdsmi::health`]'s to say.)
pub fn snapshot(dir: Option<&Path>) -> Health {
    let mut checks = Vec::new();
    let Some(dir) = dir else {
        checks.push(HealthCheck {
            name: "sysfs".into(),
            state: HealthState::Unknown,
            value: "no amdgpu card in /sys/class/drm".into(),
        });
        return Health { checks };
    };
    let mut add = |name: &str, state, value: String| {
        checks.push(HealthCheck {
            name: name.into(),
            state,
            value,
        })
    };
    match hwmon(dir, "temp1_input") {
        Some(milli) => add(
            "temperature",
            if milli / 1000.0 > 95.0 {
                HealthState::Warn
            } else {
                HealthState::Ok
            },
            format!("{:.0} C", milli / 1000.0),
        ),
        None => add("temperature", HealthState::Unknown, "unreadable".into()),
    }
    match hwmon(dir, "power1_average").or_else(|| hwmon(dir, "power1_input")) {
        Some(micro) => add("power", HealthState::Ok, format!("{:.1} W", micro / 1e6)),
        None => add("power", HealthState::Unknown, "unreadable".into()),
    }
    match (
        read(dir, "current_link_speed"),
        read(dir, "current_link_width"),
        read(dir, "max_link_width"),
    ) {
        (Some(s), Some(w), Some(wm)) => add(
            "pcie_link",
            if w != wm {
                HealthState::Warn
            } else {
                HealthState::Ok
            },
            format!("{s} x{w}/{wm}"),
        ),
        _ => add("pcie_link", HealthState::Unknown, "unreadable".into()),
    }
    match read(dir, "ras/umc_err_count") {
        Some(t) => {
            let ue = t
                .lines()
                .find_map(|l| l.strip_prefix("ue:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0);
            add(
                "ras_umc_uncorrectable",
                if ue == 0 {
                    HealthState::Ok
                } else {
                    HealthState::Fail
                },
                ue.to_string(),
            );
        }
        None => add(
            "ras_umc_uncorrectable",
            HealthState::Unknown,
            "RAS counters not exposed".into(),
        ),
    }
    Health { checks }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpm_tables_give_current_and_max() {
        let t = "0: 500Mhz\n1: 1200Mhz *\n2: 1700Mhz\n";
        assert_eq!(parse_dpm(t), Some((1200.0, 1700.0)));
        assert_eq!(parse_dpm("0: 500Mhz\n"), None, "no current level marked");
    }

    #[test]
    fn a_fake_card_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("hwmon/hwmon3")).unwrap();
        std::fs::write(d.join("hwmon/hwmon3/temp1_input"), "51000\n").unwrap();
        std::fs::write(d.join("current_link_speed"), "32.0 GT/s PCIe\n").unwrap();
        std::fs::write(d.join("current_link_width"), "8\n").unwrap();
        std::fs::write(d.join("max_link_width"), "16\n").unwrap();
        std::fs::write(d.join("pp_dpm_sclk"), "0: 800Mhz\n1: 2100Mhz *\n").unwrap();
        let h = snapshot(Some(d));
        let get = |n: &str| h.checks.iter().find(|c| c.name == n).unwrap().clone();
        assert_eq!(get("temperature").value, "51 C");
        assert_eq!(get("pcie_link").state, HealthState::Warn, "x8 of x16");
        assert_eq!(get("ras_umc_uncorrectable").state, HealthState::Unknown);
        assert!(h.checks.iter().all(|c| c.name != "amd_smi"));
        assert_eq!(clock(d).unwrap().sm_mhz, 2100.0);
    }
}
