//! amdgpu's sysfs (`/sys/class/drm/card*/device`): which directory is a GPU's, its clocks
//! (the fallback when AMD SMI, `libamd_smi.so`, is absent or cannot say) and its throttle
//! reasons, which only sysfs gives ([`crate::metrics`]).

use std::path::{Path, PathBuf};

use hotpath_core::ClockSample;

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
    fn a_fake_card_gives_its_clock() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("pp_dpm_sclk"), "0: 800Mhz\n1: 2100Mhz *\n").unwrap();
        assert_eq!(clock(d).unwrap().sm_mhz, 2100.0);
        // No gpu_metrics: a clock sample lists no throttle reason.
        assert!(clock(d).unwrap().throttle_reasons.is_empty());
        assert!(clock(&d.join("absent")).is_none());
    }

    #[test]
    fn throttle_reasons_from_gpu_metrics() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(
            d.join("pp_dpm_sclk"),
            "0: 800Mhz\n1: 1300Mhz *\n2: 1700Mhz\n",
        )
        .unwrap();
        // MI250X at its power cap: PPT0 (bit 0).
        std::fs::write(d.join("gpu_metrics"), metrics::tests::v1_3(1)).unwrap();
        assert_eq!(clock(d).unwrap().throttle_reasons, vec!["sw_power_cap"]);
        // Hotspot over its limit (bit 36) and PROCHOT_GFX (bit 47).
        std::fs::write(
            d.join("gpu_metrics"),
            metrics::tests::v1_3(1 << 36 | 1 << 47),
        )
        .unwrap();
        assert_eq!(
            clock(d).unwrap().throttle_reasons,
            vec!["sw_thermal_slowdown", "hw_slowdown"]
        );
        // Nothing set; no card at all.
        std::fs::write(d.join("gpu_metrics"), metrics::tests::v1_3(0)).unwrap();
        assert!(throttle_reasons(Some(d)).is_empty());
        assert!(throttle_reasons(None).is_empty());
    }
}
