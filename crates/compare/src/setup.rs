//! Warnings when two results files were not measured under the same conditions: another
//! device, driver, clock or power setting, thread count, cache mode or timing method.

use hotpath_core::backend::TimingMethod;
use hotpath_core::results::ResultsFile;

/// Relative difference between two observed clocks above which they count as different.
const CLOCK_TOLERANCE: f64 = 0.02;

/// Device facts (in `device.extra`) that change speed when they change.
const SPEED_FACTS: [&str; 5] = [
    "sm_clock_max_mhz",
    "mem_clock_max_mhz",
    "power_limit_w",
    "pcie_link",
    "threads",
];

fn show(v: Option<&str>) -> &str {
    v.unwrap_or("none")
}

/// A device fact as written in a warning: strings without JSON quotes, `none` when absent.
fn show_fact(v: Option<&serde_json::Value>) -> String {
    match v {
        None => "none".to_string(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

/// Whether two device facts are the same: numbers by value (700 and 700.0 W are one power
/// limit, whichever way a tool wrote them), anything else exactly.
fn same_fact(a: Option<&serde_json::Value>, b: Option<&serde_json::Value>) -> bool {
    match (a.and_then(|v| v.as_f64()), b.and_then(|v| v.as_f64())) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn timing_name(t: TimingMethod) -> &'static str {
    match t {
        TimingMethod::WallClock => "wall clock",
        TimingMethod::DeviceEvents => "device events",
    }
}

/// One sentence per difference in how `base` and `new` were measured; empty when they match.
pub fn differences(base: &ResultsFile, new: &ResultsFile) -> Vec<String> {
    let (a, b) = (&base.device, &new.device);
    let mut out = Vec::new();
    if (&a.backend, &a.name, &a.arch) != (&b.backend, &b.name, &b.arch) {
        out.push(format!(
            "different devices: base ran on {} {} ({}), new on {} {} ({})",
            a.backend, a.name, a.arch, b.backend, b.name, b.arch
        ));
    }
    if base.hardware.id != new.hardware.id {
        out.push(format!(
            "different hardware entries: base {}, new {}",
            base.hardware.id, new.hardware.id
        ));
    }
    if a.driver != b.driver {
        out.push(format!(
            "different drivers: base {}, new {}",
            show(a.driver.as_deref()),
            show(b.driver.as_deref())
        ));
    }
    if a.compute_units != b.compute_units {
        out.push(format!(
            "different compute units (SMs, CUs or CPU threads): base {}, new {}",
            a.compute_units, b.compute_units
        ));
    }
    for key in SPEED_FACTS {
        let (va, vb) = (a.extra.get(key), b.extra.get(key));
        if !same_fact(va, vb) {
            out.push(format!(
                "different {key}: base {}, new {}",
                show_fact(va),
                show_fact(vb)
            ));
        }
    }
    if let (Some(ca), Some(cb)) = (highest_clock(base), highest_clock(new)) {
        if (ca - cb).abs() > CLOCK_TOLERANCE * ca.max(cb) {
            out.push(format!(
                "different clocks: the highest SM clock around kept samples was {ca:.0} MHz in base, {cb:.0} MHz in new"
            ));
        }
    }
    if base.config.cache != new.config.cache {
        out.push(format!(
            "different cache modes: base {}, new {}",
            base.config.cache.name(),
            new.config.cache.name()
        ));
    }
    if let Some(sentence) = fp8_differences(base, new) {
        out.push(sentence);
    }
    if base.config.timing != new.config.timing {
        out.push(format!(
            "different timing methods: base {}, new {}",
            timing_name(base.config.timing),
            timing_name(new.config.timing)
        ));
    }
    out
}

/// A sentence on the benchmarks both files hold whose fp8 data was in different encodings
/// (OCP e4m3 against AMD gfx94x's e4m3fnuz), naming the first; `None` when there are none.
fn fp8_differences(base: &ResultsFile, new: &ResultsFile) -> Option<String> {
    let name = |e: Option<hotpath_core::fp8::Fp8Encoding>| e.map_or("no fp8", |e| e.name());
    let differing: Vec<(&str, &str, &str)> = base
        .benchmarks
        .iter()
        .filter_map(|a| {
            let b = new.benchmarks.iter().find(|b| b.id == a.id)?;
            (a.fp8_encoding != b.fp8_encoding)
                .then(|| (a.id.as_str(), name(a.fp8_encoding), name(b.fp8_encoding)))
        })
        .collect();
    let (id, ea, eb) = *differing.first()?;
    Some(format!(
        "different fp8 encodings in {} benchmark(s): {id} ran {ea} in base, {eb} in new",
        differing.len()
    ))
}

/// The highest SM clock read around any kept sample batch in the file, MHz.
fn highest_clock(file: &ResultsFile) -> Option<f64> {
    file.benchmarks
        .iter()
        .filter_map(|b| b.measurement.as_ref().and_then(|m| m.sm_clock_mhz))
        .map(|(_, hi)| hi)
        .fold(None, |acc: Option<f64>, v| {
            Some(acc.map_or(v, |a| a.max(v)))
        })
}
