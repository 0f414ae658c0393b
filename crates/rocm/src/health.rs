//! AMD health and clocks from `/sys/class/drm/card*/device` (amdgpu's sysfs), the fallback
//! when AMD SMI (`libamd_smi.so`) is absent: clocks, power, temperature, PCIe link, RAS; and
//! the throttle status, which only sysfs gives ([`crate::metrics`]).

use std::path::{Path, PathBuf};

use hotpath_core::{ClockSample, Health, HealthCheck, HealthState};

use crate::metrics;

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

/// The SM (shader) clock now and at most, with the active throttle reasons.
pub fn clock(dir: &Path) -> Option<ClockSample> {
    let (sm, max) = parse_dpm(&read(dir, "pp_dpm_sclk")?)?;
    Some(ClockSample {
        sm_mhz: sm,
        sm_max_mhz: max,
        throttle_reasons: throttle_reasons(Some(dir)),
    })
}

/// The throttle reasons `gpu_metrics` shows for the card at `dir`; empty when none are
/// active or the file cannot tell (a clock sample has no "unknown").
pub fn throttle_reasons(dir: Option<&Path>) -> Vec<String> {
    dir.and_then(|d| metrics::read(d).ok())
        .map(|t| t.reasons)
        .unwrap_or_default()
}

/// The `throttle_reasons` check: FAIL on a hardware slowdown, WARN on a thermal one, OK
/// otherwise; UNKNOWN, with the reason, when `gpu_metrics` cannot tell.
fn throttle_check(dir: &Path) -> HealthCheck {
    let (state, value) = match metrics::read(dir) {
        Ok(t) if t.amd.is_empty() => (HealthState::Ok, "none active".to_string()),
        Ok(t) => {
            let state = if t.reasons.iter().any(|n| n.starts_with("hw_")) {
                HealthState::Fail
            } else if t.reasons.iter().any(|n| n == "sw_thermal_slowdown") {
                HealthState::Warn
            } else {
                HealthState::Ok
            };
            (
                state,
                format!("{} (AMD: {})", t.reasons.join(", "), t.amd.join(", ")),
            )
        }
        Err(why) => (HealthState::Unknown, why),
    };
    HealthCheck {
        name: "throttle_reasons".into(),
        state,
        value,
    }
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
    checks.push(throttle_check(dir));
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
        // No gpu_metrics: the throttle state is unknown, and a clock sample lists none.
        assert_eq!(get("throttle_reasons").state, HealthState::Unknown);
        assert!(clock(d).unwrap().throttle_reasons.is_empty());
    }

    #[test]
    fn throttle_status_from_gpu_metrics() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(
            d.join("pp_dpm_sclk"),
            "0: 800Mhz\n1: 1300Mhz *\n2: 1700Mhz\n",
        )
        .unwrap();
        let get = |n: &str| {
            snapshot(Some(d))
                .checks
                .into_iter()
                .find(|c| c.name == n)
                .unwrap()
        };
        // MI250X at its power cap: PPT0 (bit 0).
        std::fs::write(d.join("gpu_metrics"), metrics::tests::v1_3(1)).unwrap();
        assert_eq!(clock(d).unwrap().throttle_reasons, vec!["sw_power_cap"]);
        let c = get("throttle_reasons");
        assert_eq!(
            (c.state, c.value.as_str()),
            (HealthState::Ok, "sw_power_cap (AMD: PPT0)")
        );
        // Hotspot over its limit (bit 36): a warning; PROCHOT_GFX (bit 47): a failure.
        std::fs::write(d.join("gpu_metrics"), metrics::tests::v1_3(1 << 36)).unwrap();
        assert_eq!(get("throttle_reasons").state, HealthState::Warn);
        std::fs::write(
            d.join("gpu_metrics"),
            metrics::tests::v1_3(1 << 36 | 1 << 47),
        )
        .unwrap();
        let c = get("throttle_reasons");
        assert_eq!(c.state, HealthState::Fail);
        assert_eq!(
            clock(d).unwrap().throttle_reasons,
            vec!["sw_thermal_slowdown", "hw_slowdown"]
        );
        // Nothing set.
        std::fs::write(d.join("gpu_metrics"), metrics::tests::v1_3(0)).unwrap();
        let c = get("throttle_reasons");
        assert_eq!(
            (c.state, c.value.as_str()),
            (HealthState::Ok, "none active")
        );
    }
}
