//! Tests of the readings and the clock sample over hand-made readings and a fake library.

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
