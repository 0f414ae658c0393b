//! Device health for `hotpath validate`: what a [`HealthSource`] reads ([`HealthReadings`],
//! every field optional so "not readable" is explicit) and the rules that turn two readings
//! (before any load, and right after the performance checks) into checks.
//!
//! The rules, each with its reason in the check's detail:
//!
//! | check | FAIL | WARN | unreadable on a GPU |
//! |---|---|---|---|
//! | `ecc_mode` | | ECC disabled | SKIP |
//! | `ecc_uncorrected_volatile` | any (since the driver loaded) | | WARN |
//! | `ecc_uncorrected_aggregate` | | any (over the GPU's life) | SKIP |
//! | `retired_pages` | | any | SKIP |
//! | `retirement_pending` | pending (reset needed) | | SKIP |
//! | `remapped_rows` | | rows remapped after uncorrectable errors | SKIP |
//! | `row_remap_pending` | pending (reset needed) | | SKIP |
//! | `row_remap_failure` | failed (no spare rows) | | SKIP |
//! | `pcie_width` | fewer lanes than the maximum | | SKIP |
//! | `pcie_gen` | | lower generation than the maximum | SKIP |
//! | `sm_clock`, `mem_clock` | | below 75 % of max while not idle | SKIP |
//! | `throttle` | hardware slowdown, thermal or power brake | software thermal slowdown | SKIP |
//! | `power_limit` | | enforced limit below 98 % of the default | SKIP |
//! | `temperature` | at or above the slowdown limit (95 °C without one) | within 5 °C of it (85 °C) | SKIP |
//! | `persistence_mode` | | off | SKIP |
//!
//! On a CPU every GPU check is SKIP ("not applicable"); clocks and temperature are judged
//! where sysfs has them.
//!
//! **Health unverified.** When not one health check could be read, [`unverified`] adds
//! `health/unverified`: on a GPU WARN at levels quick and standard and FAIL at long (an
//! acceptance run must see the device's health); on a CPU SKIP, because a CPU's verdict
//! stands on correctness and performance and a virtual machine commonly shows no clock or
//! temperature at all.

pub use hotpath_core::health::{HealthReadings, HealthSource, NoHealth, SourceKind};

use super::{Check, Group, Status};

/// NVML's hardware slowdown reasons: the GPU protects itself (cooling, power delivery, or
/// an external signal). Any of these under load fails a device.
pub const HW_SLOWDOWN: [&str; 3] = [
    "hw_slowdown",
    "hw_thermal_slowdown",
    "hw_power_brake_slowdown",
];

/// The software thermal slowdown reason (the driver cools the GPU down): a warning.
pub const SW_THERMAL: &str = "sw_thermal_slowdown";

/// The reason NVML gives for low clocks on an idle GPU.
pub const IDLE: &str = "gpu_idle";

/// Fraction of its maximum below which a clock counts as held down (the same fraction below
/// which the measurement loop discards sample batches).
pub const CLOCK_FRACTION: f64 = 0.75;

/// Fraction of the default power limit below which the enforced limit is a cap worth a
/// warning.
pub const POWER_LIMIT_FRACTION: f64 = 0.98;

fn check(name: &str, status: Status) -> Check {
    Check::new(Group::Health, format!("health/{name}"), status)
}

/// The check for a field that has no reading: SKIP on a CPU (not applicable), `gpu_status`
/// on a GPU, with the source's note when it gave one.
fn unreadable(
    name: &str,
    field: &str,
    r: &HealthReadings,
    kind: SourceKind,
    gpu_status: Status,
    consequence: &str,
) -> Check {
    match kind {
        SourceKind::Cpu => check(name, Status::Skip).detail("not applicable on a CPU"),
        SourceKind::Gpu => {
            let why = r
                .notes
                .get(field)
                .map(|n| format!(" ({n})"))
                .unwrap_or_default();
            check(name, gpu_status).detail(format!("not readable{why}{consequence}"))
        }
    }
}

/// Every health check from the reading before any load (`before`) and the one right after
/// the performance checks (`after`): counters from `after` (with what changed since
/// `before`), clocks, link, throttling and temperature from `after`, where load shows them.
pub fn checks(before: &HealthReadings, after: &HealthReadings, kind: SourceKind) -> Vec<Check> {
    let mut out = Vec::new();
    let r = after;
    out.push(match r.ecc_enabled {
        Some(true) => check("ecc_mode", Status::Pass)
            .value(true, "flag")
            .detail("ECC is enabled"),
        Some(false) => check("ecc_mode", Status::Warn).value(false, "flag").detail(
            "ECC is disabled: memory errors go undetected (enable with nvidia-smi -e 1 and a reset)",
        ),
        None => unreadable("ecc_mode", "ecc_enabled", r, kind, Status::Skip, ""),
    });
    out.push(ecc_volatile(before, r, kind));
    out.push(match r.ecc_uncorrected_aggregate {
        Some(0) => check("ecc_uncorrected_aggregate", Status::Pass)
            .value(0, "errors")
            .threshold(0)
            .detail("no uncorrected ECC error over the device's life"),
        Some(n) => check("ecc_uncorrected_aggregate", Status::Warn)
            .value(n, "errors")
            .threshold(0)
            .detail(format!(
                "{n} uncorrected ECC errors over the device's life; see retired pages and remapped rows"
            )),
        None => unreadable(
            "ecc_uncorrected_aggregate",
            "ecc_uncorrected_aggregate",
            r,
            kind,
            Status::Skip,
            "",
        ),
    });
    out.push(match r.retired_pages {
        Some(0) => check("retired_pages", Status::Pass)
            .value(0, "pages")
            .threshold(0)
            .detail("no page retired"),
        Some(n) => check("retired_pages", Status::Warn)
            .value(n, "pages")
            .threshold(0)
            .detail(format!(
                "{n} memory pages retired after errors (the device works with less memory)"
            )),
        None => unreadable("retired_pages", "retired_pages", r, kind, Status::Skip, ""),
    });
    out.push(pending(
        "retirement_pending",
        r.retirement_pending,
        r,
        kind,
        "pages wait to be retired: reset the GPU (or reboot), then validate again",
    ));
    out.push(match r.remapped_rows_uncorrectable {
        Some(0) => check("remapped_rows", Status::Pass)
            .value(0, "rows")
            .threshold(0)
            .detail(format!(
                "no row remapped after an uncorrectable error ({} after correctable ones)",
                r.remapped_rows_correctable
                    .map_or("unknown".into(), |n| n.to_string())
            )),
        Some(n) => check("remapped_rows", Status::Warn)
            .value(n, "rows")
            .threshold(0)
            .detail(format!(
                "{n} rows remapped to spares after uncorrectable errors (the device works; watch for more)"
            )),
        None => unreadable(
            "remapped_rows",
            "remapped_rows_uncorrectable",
            r,
            kind,
            Status::Skip,
            "",
        ),
    });
    out.push(pending(
        "row_remap_pending",
        r.row_remap_pending,
        r,
        kind,
        "a row remapping waits for a reset: reset the GPU (or reboot), then validate again",
    ));
    out.push(match r.row_remap_failure {
        Some(false) => check("row_remap_failure", Status::Pass)
            .value(false, "flag")
            .detail("no failed row remapping"),
        Some(true) => check("row_remap_failure", Status::Fail)
            .value(true, "flag")
            .detail("a row remapping failed: no spare rows are left; the GPU needs repair"),
        None => unreadable(
            "row_remap_failure",
            "row_remap_failure",
            r,
            kind,
            Status::Skip,
            "",
        ),
    });
    out.push(pcie_width(r, kind));
    out.push(pcie_gen(r, kind));
    out.push(clock(
        "sm_clock",
        r.sm_clock_mhz,
        r.sm_clock_max_mhz,
        r,
        kind,
        "sm_clock_mhz",
    ));
    out.push(clock(
        "mem_clock",
        r.mem_clock_mhz,
        r.mem_clock_max_mhz,
        r,
        kind,
        "mem_clock_mhz",
    ));
    out.push(throttle(before, r, kind));
    out.push(power_limit(r, kind));
    out.push(temperature("temperature", r.temperature_c, r, kind));
    out.push(match r.persistence_mode {
        Some(true) => check("persistence_mode", Status::Pass)
            .value(true, "flag")
            .detail("persistence mode is on"),
        Some(false) => check("persistence_mode", Status::Warn)
            .value(false, "flag")
            .detail("persistence mode is off: the driver tears the GPU down between jobs (slow first launch, settings lost); enable nvidia-persistenced or nvidia-smi -pm 1"),
        None => unreadable(
            "persistence_mode",
            "persistence_mode",
            r,
            kind,
            Status::Skip,
            "",
        ),
    });
    out
}

/// `health/unverified` when none of the health `checks` holds a reading (every value null:
/// unreadable, whatever its status): WARN on a GPU at `quick` and `standard`, FAIL at `long`,
/// SKIP on a CPU; `None` when at least one was read.
pub fn unverified(checks: &[Check], kind: SourceKind, level: super::Level) -> Option<Check> {
    let health: Vec<&Check> = checks.iter().filter(|c| c.group == Group::Health).collect();
    if health.iter().any(|c| !c.value.is_null()) {
        return None;
    }
    let n = health.len();
    Some(match kind {
        SourceKind::Cpu => check("unverified", Status::Skip)
            .value(0, "checks read")
            .detail(format!(
                "health unverified: none of the {n} health checks could be read on this CPU (no cpufreq or thermal zone); a CPU's verdict stands on correctness and performance"
            )),
        SourceKind::Gpu => {
            let status = if level == super::Level::Long {
                Status::Fail
            } else {
                Status::Warn
            };
            check("unverified", status)
                .value(0, "checks read")
                .detail(format!(
                    "health unverified: none of the {n} health checks could be read (ECC, PCIe, clocks, throttling and temperature unknown); {}",
                    if status == Status::Fail {
                        "an acceptance run at level long must see the device's health"
                    } else {
                        "WARN at this level, FAIL at level long"
                    }
                ))
        }
    })
}

fn ecc_volatile(before: &HealthReadings, r: &HealthReadings, kind: SourceKind) -> Check {
    let name = "ecc_uncorrected_volatile";
    match r.ecc_uncorrected_volatile {
        Some(0) => check(name, Status::Pass)
            .value(0, "errors")
            .threshold(0)
            .detail("no uncorrected ECC error since the driver loaded"),
        Some(n) => {
            let during = match before.ecc_uncorrected_volatile {
                Some(b) if n > b => format!(", {} of them during this validation", n - b),
                _ => String::new(),
            };
            check(name, Status::Fail)
                .value(n, "errors")
                .threshold(0)
                .detail(format!(
                    "{n} uncorrected ECC errors since the driver loaded{during}: memory returned data it could not correct"
                ))
        }
        None => unreadable(
            name,
            name,
            r,
            kind,
            Status::Warn,
            ": uncorrected memory errors cannot be ruled out",
        ),
    }
}

fn pending(
    name: &str,
    value: Option<bool>,
    r: &HealthReadings,
    kind: SourceKind,
    why: &str,
) -> Check {
    match value {
        Some(false) => check(name, Status::Pass)
            .value(false, "flag")
            .detail("nothing pending"),
        Some(true) => check(name, Status::Fail).value(true, "flag").detail(why),
        None => unreadable(name, name, r, kind, Status::Skip, ""),
    }
}

fn pcie_width(r: &HealthReadings, kind: SourceKind) -> Check {
    match (r.pcie_width, r.pcie_width_max) {
        (Some(w), Some(max)) if w < max => check("pcie_width", Status::Fail)
            .value(w, "lanes")
            .threshold(max)
            .detail(format!(
                "the PCIe link trained at x{w} of x{max}: a seating, riser or cable fault; host transfers run at {:.0} % of their speed",
                100.0 * w as f64 / max as f64
            )),
        (Some(w), Some(max)) => check("pcie_width", Status::Pass)
            .value(w, "lanes")
            .threshold(max)
            .detail(format!("x{w} of x{max}")),
        _ => unreadable("pcie_width", "pcie_width", r, kind, Status::Skip, ""),
    }
}

fn pcie_gen(r: &HealthReadings, kind: SourceKind) -> Check {
    match (r.pcie_gen, r.pcie_gen_max) {
        (Some(g), Some(max)) if g < max => check("pcie_gen", Status::Warn)
            .value(g, "generation")
            .threshold(max)
            .detail(format!(
                "PCIe gen{g} of gen{max} right after load; GPUs lower the link speed when idle, so check it under load (a link that stays low makes host transfers slower)"
            )),
        (Some(g), Some(max)) => check("pcie_gen", Status::Pass)
            .value(g, "generation")
            .threshold(max)
            .detail(format!("gen{g} of gen{max}")),
        _ => unreadable("pcie_gen", "pcie_gen", r, kind, Status::Skip, ""),
    }
}

fn is_idle(r: &HealthReadings) -> bool {
    r.throttle_reasons
        .as_ref()
        .is_some_and(|v| v.iter().any(|n| n == IDLE))
}

fn clock(
    name: &str,
    now: Option<f64>,
    max: Option<f64>,
    r: &HealthReadings,
    kind: SourceKind,
    field: &str,
) -> Check {
    let (Some(now), Some(max)) = (now, max) else {
        return match kind {
            SourceKind::Cpu => check(name, Status::Skip).detail("not readable on this CPU"),
            SourceKind::Gpu => unreadable(name, field, r, kind, Status::Skip, ""),
        };
    };
    let line = CLOCK_FRACTION * max;
    let pct = if max > 0.0 { 100.0 * now / max } else { 0.0 };
    let base = check(name, Status::Pass).value(now, "MHz").threshold(line);
    if now >= line || max <= 0.0 {
        return base.detail(format!("{now:.0} of {max:.0} MHz ({pct:.0} %)"));
    }
    if is_idle(r) || kind == SourceKind::Cpu {
        return base.detail(format!(
            "{now:.0} of {max:.0} MHz ({pct:.0} %): idle, clocks are lowered on purpose"
        ));
    }
    let reasons = match &r.throttle_reasons {
        Some(v) if !v.is_empty() => format!(" (throttle reasons: {})", v.join(", ")),
        _ => String::new(),
    };
    Check {
        status: Status::Warn,
        ..base
    }
    .detail(format!(
        "{now:.0} of {max:.0} MHz ({pct:.0} %) while not idle, below {:.0} % of the maximum{reasons}",
        100.0 * CLOCK_FRACTION
    ))
}

/// The throttle verdict over `reasons` (names): FAIL on a hardware slowdown, WARN on a
/// software thermal slowdown, else PASS.
pub fn throttle_status(reasons: &[String]) -> Status {
    if reasons.iter().any(|n| HW_SLOWDOWN.contains(&n.as_str())) {
        Status::Fail
    } else if reasons.iter().any(|n| n == SW_THERMAL) {
        Status::Warn
    } else {
        Status::Pass
    }
}

fn throttle(before: &HealthReadings, r: &HealthReadings, kind: SourceKind) -> Check {
    let mut seen: Vec<String> = Vec::new();
    for reading in [before, r] {
        for n in reading.throttle_reasons.iter().flatten() {
            if !seen.contains(n) {
                seen.push(n.clone());
            }
        }
    }
    if before.throttle_reasons.is_none() && r.throttle_reasons.is_none() {
        return unreadable("throttle", "throttle_reasons", r, kind, Status::Skip, "");
    }
    let status = throttle_status(&seen);
    let detail = match status {
        Status::Fail => format!(
            "hardware slowdown active ({}): the GPU protects itself from heat or a power-delivery fault",
            seen.join(", ")
        ),
        Status::Warn => format!(
            "software thermal slowdown active ({}): the GPU runs hot",
            seen.join(", ")
        ),
        _ if seen.is_empty() => "no throttle reason active".to_string(),
        _ => format!(
            "only {} (expected: idle, or the power cap under heavy load)",
            seen.join(", ")
        ),
    };
    check("throttle", status)
        .value(seen, "reasons")
        .detail(detail)
}

fn power_limit(r: &HealthReadings, kind: SourceKind) -> Check {
    match (r.power_limit_w, r.power_limit_default_w) {
        (Some(w), Some(d)) if d > 0.0 && w < POWER_LIMIT_FRACTION * d => {
            check("power_limit", Status::Warn)
                .value(w, "W")
                .threshold(d)
                .detail(format!(
            "power capped at {w:.0} W of the default {d:.0} W: compute-bound kernels run slower"
        ))
        }
        (Some(w), Some(d)) => check("power_limit", Status::Pass)
            .value(w, "W")
            .threshold(d)
            .detail(format!("{w:.0} W, default {d:.0} W")),
        _ => unreadable("power_limit", "power_limit_w", r, kind, Status::Skip, ""),
    }
}

/// Temperature verdict: with the device's slowdown limit, FAIL at or above it and WARN within
/// 5 °C of it; without one, FAIL above 95 °C and WARN above 85 °C. Returns the status, the
/// FAIL line and what it is.
pub fn temperature_status(t: f64, slowdown: Option<f64>) -> (Status, f64, String) {
    match slowdown {
        Some(s) if t >= s => (Status::Fail, s, format!("the slowdown limit {s:.0} C")),
        Some(s) if t >= s - 5.0 => (
            Status::Warn,
            s,
            format!("within 5 C of the slowdown limit {s:.0} C"),
        ),
        Some(s) => (Status::Pass, s, format!("slowdown limit {s:.0} C")),
        None if t > 95.0 => (Status::Fail, 95.0, "95 C (no limit readable)".into()),
        None if t > 85.0 => (Status::Warn, 95.0, "above 85 C (no limit readable)".into()),
        None => (
            Status::Pass,
            95.0,
            "fail line 95 C (no limit readable)".into(),
        ),
    }
}

/// The temperature check of reading `r` (also used for the peak of a sustained run).
pub fn temperature(name: &str, t: Option<f64>, r: &HealthReadings, kind: SourceKind) -> Check {
    let Some(t) = t else {
        return match kind {
            SourceKind::Cpu => check(name, Status::Skip).detail("not readable on this CPU"),
            SourceKind::Gpu => unreadable(name, "temperature_c", r, kind, Status::Skip, ""),
        };
    };
    let (status, line, what) = temperature_status(t, r.temperature_slowdown_c);
    let verdict = match status {
        Status::Fail => "at or above",
        Status::Warn => "near",
        _ => "below",
    };
    Check::new(Group::Health, format!("health/{name}"), status)
        .value(t, "C")
        .threshold(line)
        .detail(format!("{t:.0} C, {verdict} {what}"))
}
