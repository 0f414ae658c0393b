//! Tests of readings, verdicts and the sysfs merge over hand-made readings and a fake library.

use std::cell::RefCell;

use super::*;

fn handle(n: usize) -> Processor {
    Processor::new(n as *mut c_void).unwrap()
}

fn bdf(s: &str) -> Bdf {
    Bdf::parse(s).unwrap()
}

/// Two GPUs (0000:c1:00.0 and 0000:c2:00.0); only the second answers every call, with the
/// values amdsmi's 24.7 implementation would write. Records which handles were used.
struct Fake {
    used: RefCell<Vec<Processor>>,
    processors: Vec<Processor>,
}

impl Fake {
    fn new() -> Fake {
        Fake {
            used: RefCell::new(vec![]),
            processors: vec![handle(0x100), handle(0x200)],
        }
    }

    fn touch(&self, p: Processor) -> bool {
        self.used.borrow_mut().push(p);
        p == handle(0x200)
    }
}

impl SmiCalls for Fake {
    fn processors(&self) -> Result<Vec<Processor>, String> {
        Ok(self.processors.clone())
    }
    fn bdf(&self, p: Processor) -> Option<Bdf> {
        Some(if p == handle(0x100) {
            bdf("0000:c1:00.0")
        } else {
            bdf("0000:c2:00.0")
        })
    }
    fn temperature_c(&self, p: Processor, sensor: u32, metric: u32) -> Option<i64> {
        self.touch(p).then_some(())?;
        match (sensor, metric) {
            (SENSOR_HOTSPOT, TEMP_CURRENT) => Some(71),
            (SENSOR_HOTSPOT, TEMP_CRITICAL) => Some(105),
            (SENSOR_HOTSPOT, TEMP_EMERGENCY) => Some(0), // unreadable limit reported as 0
            (SENSOR_EDGE, TEMP_CURRENT) => Some(55),
            _ => None,
        }
    }
    fn clock(&self, p: Processor, clock_type: u32) -> Option<ClockInfo> {
        self.touch(p).then_some(())?;
        match clock_type {
            CLK_GFX => Some(ClockInfo {
                current: 1700,
                min: 500,
                max: 2100,
            }),
            // MI300-like: current_uclk unsupported in gpu_metrics, copied as 0xFFFF.
            CLK_MEM => Some(ClockInfo {
                current: 0xFFFF,
                min: 900,
                max: 1300,
            }),
            _ => None,
        }
    }
    fn total_ecc(&self, p: Processor) -> Option<(u64, u64)> {
        self.touch(p).then_some((3, 0))
    }
    fn pcie(&self, p: Processor) -> Option<PcieLink> {
        self.touch(p).then_some(PcieLink {
            width: 8,
            max_width: 16,
            speed: 16000,
            max_speed: 32000,
        })
    }
    fn bad_pages(&self, p: Processor) -> Option<u32> {
        self.touch(p).then_some(2)
    }
}

#[test]
fn readings_come_from_the_gpu_at_the_address_only() {
    let fake = Fake::new();
    let r = readings_with(&fake, bdf("0000:c2:00.0")).unwrap();
    assert!(
        fake.used.borrow().iter().all(|&p| p == handle(0x200)),
        "no call on the other GPU's handle"
    );
    assert_eq!(
        r,
        AmdSmiReadings {
            hotspot_c: Some(71),
            hotspot_crit_c: Some(105),
            hotspot_emergency_c: None,
            edge_c: Some(55),
            gfx_mhz: Some(1700),
            gfx_max_mhz: Some(2100),
            mem_mhz: None,
            mem_max_mhz: Some(1300),
            ecc_correctable: Some(3),
            ecc_uncorrectable: Some(0),
            pcie_width: Some(8),
            pcie_max_width: Some(16),
            pcie_mts: Some(16000),
            pcie_max_mts: Some(32000),
            retired_pages: Some(2),
        }
    );
    // Same address, function 1 (newer HIP on a multi-function device): the only GPU that
    // differs in the function alone is taken.
    let r1 = readings_with(&fake, bdf("0000:c2:00.1")).unwrap();
    assert_eq!(r1, r);
    let err = readings_with(&fake, bdf("0000:c3:00.0")).unwrap_err();
    assert_eq!(
        err,
        "AMD SMI lists no GPU at 0000:c3:00.0 (it lists 0000:c1:00.0, 0000:c2:00.0)"
    );
}

#[test]
fn two_candidates_differing_in_function_are_ambiguous() {
    let found = [
        (handle(1), bdf("0000:c1:00.1")),
        (handle(2), bdf("0000:c1:00.2")),
    ];
    assert_eq!(
        find(&found, bdf("0000:c1:00.2")),
        Ok(handle(2)),
        "exact wins"
    );
    assert!(find(&found, bdf("0000:c1:00.0")).is_err(), "which of two?");
    assert_eq!(
        find(&[], bdf("0000:c1:00.0")),
        Err("AMD SMI lists no GPU at 0000:c1:00.0 (it lists none)".into())
    );
}

#[test]
fn sentinel_values_are_not_readings() {
    assert_eq!(mhz(1700), Some(1700));
    for na in [0, 0xFFFF, u32::MAX] {
        assert_eq!(mhz(na), None, "{na:#x}");
    }
    assert_eq!(pcie_mts(16000), Some(16000), "24.x writes MT/s");
    assert_eq!(
        pcie_mts(32),
        Some(32000),
        "26.1 documents GT/s for the maximum"
    );
    assert_eq!(pcie_mts(0), None);
    assert_eq!(pcie_mts(u32::MAX), None);
}

fn state(checks: &[HealthCheck], name: &str) -> Option<(HealthState, String)> {
    checks
        .iter()
        .find(|c| c.name == name)
        .map(|c| (c.state, c.value.clone()))
}

#[test]
fn verdicts_of_hand_made_readings() {
    let healthy = AmdSmiReadings {
        hotspot_c: Some(71),
        hotspot_crit_c: Some(105),
        hotspot_emergency_c: Some(115),
        ecc_correctable: Some(3),
        ecc_uncorrectable: Some(0),
        pcie_width: Some(16),
        pcie_max_width: Some(16),
        pcie_mts: Some(2500),
        pcie_max_mts: Some(32000),
        retired_pages: Some(0),
        gfx_mhz: Some(1700),
        gfx_max_mhz: Some(2100),
        ..Default::default()
    };
    let c = checks(&healthy);
    assert_eq!(
        state(&c, "temperature"),
        Some((HealthState::Ok, "71 C hotspot (critical 105 C)".into()))
    );
    assert_eq!(state(&c, "ecc_uncorrected").unwrap().0, HealthState::Ok);
    assert_eq!(
        state(&c, "ecc_corrected"),
        Some((HealthState::Ok, "3".into()))
    );
    assert_eq!(state(&c, "retired_pages").unwrap().0, HealthState::Ok);
    // Gen1 speed on a Gen5 link at full width: idle link power management, not a warning.
    assert_eq!(
        state(&c, "pcie_link"),
        Some((HealthState::Ok, "2.5/32.0 GT/s x16/16".into()))
    );
    assert_eq!(
        state(&c, "sm_clock"),
        Some((HealthState::Ok, "1700/2100 MHz".into()))
    );
    assert_eq!(state(&c, "mem_clock"), None, "no memory clock read");

    let sick = AmdSmiReadings {
        hotspot_c: Some(106),
        ecc_uncorrectable: Some(1),
        pcie_width: Some(8),
        retired_pages: Some(4),
        ..healthy.clone()
    };
    let c = checks(&sick);
    assert_eq!(state(&c, "temperature").unwrap().0, HealthState::Warn);
    assert_eq!(
        state(&c, "ecc_uncorrected"),
        Some((HealthState::Fail, "1".into()))
    );
    assert_eq!(state(&c, "retired_pages").unwrap().0, HealthState::Warn);
    assert_eq!(
        state(&c, "pcie_link"),
        Some((HealthState::Warn, "2.5/32.0 GT/s x8/16".into()))
    );
    let hotter = AmdSmiReadings {
        hotspot_c: Some(115),
        ..sick
    };
    assert_eq!(
        state(&checks(&hotter), "temperature").unwrap().0,
        HealthState::Fail,
        "at the emergency limit"
    );
    // Edge only (no hotspot sensor): the sysfs rule, warn above 95 °C.
    let edge = AmdSmiReadings {
        edge_c: Some(96),
        ..Default::default()
    };
    assert_eq!(
        state(&checks(&edge), "temperature"),
        Some((HealthState::Warn, "96 C edge".into()))
    );
    // Nothing readable: no checks at all, so sysfs gives every reading.
    assert!(checks(&AmdSmiReadings::default()).is_empty());
}

#[test]
fn the_clock_path_asks_for_the_graphics_clock_only() {
    let fake = Fake::new();
    let got = clock_with(&fake, bdf("0000:c2:00.0"));
    assert_eq!(
        got,
        Some(ClockSample {
            sm_mhz: 1700.0,
            sm_max_mhz: 2100.0,
            throttle_reasons: vec![]
        })
    );
    assert_eq!(fake.used.borrow().len(), 1, "one clock call, nothing else");
    assert_eq!(clock_with(&fake, bdf("0000:c3:00.0")), None, "no GPU there");
}

#[test]
fn telemetry_asks_for_the_memory_clock_and_one_temperature() {
    let fake = Fake::new();
    // The fake's memory clock is 0xFFFF (unsupported): no value; the hotspot reads 71 °C.
    assert_eq!(
        slow_with(&fake, bdf("0000:c2:00.0")),
        Some((None, Some(71.0)))
    );
    // One memory clock call and one temperature call (the hotspot answered).
    assert_eq!(fake.used.borrow().len(), 2);
    assert_eq!(slow_with(&fake, bdf("0000:c3:00.0")), None, "no GPU there");
}

#[test]
fn the_clock_sample_needs_both_clocks() {
    let r = AmdSmiReadings {
        gfx_mhz: Some(1700),
        gfx_max_mhz: Some(2100),
        ..Default::default()
    };
    assert_eq!(
        clock_sample(&r),
        Some(ClockSample {
            sm_mhz: 1700.0,
            sm_max_mhz: 2100.0,
            throttle_reasons: vec![]
        })
    );
    let no_max = AmdSmiReadings {
        gfx_max_mhz: None,
        ..r
    };
    assert_eq!(clock_sample(&no_max), None);
}

fn named(name: &str, value: &str) -> HealthCheck {
    HealthCheck {
        name: name.into(),
        state: HealthState::Ok,
        value: value.into(),
    }
}

#[test]
fn amd_smi_readings_replace_sysfs_ones_and_sysfs_fills_the_rest() {
    let sysfs = Health {
        checks: vec![
            named("amd_smi", "old text"),
            named("temperature", "51 C"),
            named("power", "300.0 W"),
            named("pcie_link", "32.0 GT/s PCIe x16/16"),
            named("ras_umc_uncorrectable", "0"),
        ],
    };
    let amd = vec![
        named("temperature", "71 C hotspot"),
        named("ecc_uncorrected", "0"),
    ];
    let h = merge(named("amd_smi", "new"), amd, sysfs.clone());
    let got: Vec<(&str, &str)> = h
        .checks
        .iter()
        .map(|c| (c.name.as_str(), c.value.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("amd_smi", "new"),
            ("temperature", "71 C hotspot"),
            ("ecc_uncorrected", "0"),
            ("power", "300.0 W"),
            ("pcie_link", "32.0 GT/s PCIe x16/16"),
        ]
    );
    // AMD SMI gave nothing: every sysfs reading stays, behind the new status.
    let h = merge(named("amd_smi", "absent"), vec![], sysfs);
    assert_eq!(h.checks.len(), 5);
    assert_eq!(h.checks[0].value, "absent");
    assert_eq!(h.checks[4].name, "ras_umc_uncorrectable");
}
