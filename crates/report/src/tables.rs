//! The report's tables, as text cells: one row per benchmark (grouped by op), and the
//! device and run facts, with every roof labelled by where it comes from.

use crate::roofs::{self, Origin, Set};
use hotpath_core::results::{BenchmarkResult, ResultsFile, Status};
use hotpath_core::roof_check;
use hotpath_core::telemetry::TelemetrySource;
use hotpath_core::units::{sig3, Seconds};

/// One table row of a benchmark, already formatted.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Op name (tables are grouped by it).
    pub op: String,
    /// Cells: shape, dtype, impl, time (median, or a ceiling's best), GB/s, TFLOP/s, bound, %spec, %meas, to roof, check.
    pub cells: Vec<String>,
}

/// Column headers of [`Row::cells`] (see [`headers`] for a file's own).
pub const HEADERS: [&str; 11] = [
    "shape",
    "dtype",
    "impl",
    "time",
    "GB/s",
    "TFLOP/s",
    "bound",
    "% of spec roof",
    "% of measured roof",
    "to roof",
    "check",
];

/// The column headers for `file`: where its spec roofs are measured values standing in (a
/// CPU), the spec column says so.
pub fn headers(file: &ResultsFile) -> Vec<String> {
    HEADERS
        .iter()
        .map(|h| {
            if *h == "% of spec roof" && roofs::spec_is_stand_in(file) {
                "% of spec roof (measured stand-in)".to_string()
            } else {
                h.to_string()
            }
        })
        .collect()
}

fn pct(v: Option<f64>) -> String {
    v.map(|e| format!("{:.1}", e * 100.0))
        .unwrap_or_else(|| "-".into())
}

/// The marker a row of a benchmark above its roof carries in its check cell.
pub const ABOVE_MARK: &str = "ABOVE ITS ROOF";

/// The formatted row of one benchmark; `above_roof` marks one found above a roof.
pub fn row(b: &BenchmarkResult, above_roof: bool) -> Row {
    let (time, gbs, tfs) = match (b.time, b.rates) {
        (Some(t), Some(r)) => (
            hotpath_core::estimator::time_text(b)
                .unwrap_or_else(|| Seconds(t.median_s).to_string()),
            if b.bytes > 0 {
                sig3(r.bytes_per_s / 1e9)
            } else {
                "-".into()
            },
            if b.flops > 0 {
                sig3(r.flops_per_s / 1e12)
            } else {
                "-".into()
            },
        ),
        _ => ("-".into(), "-".into(), "-".into()),
    };
    let rf = b.roofline.as_ref();
    let timed = hotpath_core::graph_timing::efficiency_time(b);
    let to_roof = match (timed, rf.and_then(|r| r.floor_measured_s)) {
        (Some((t, _)), Some(f)) => Seconds((t - f).max(0.0)).to_string(),
        _ => "-".into(),
    };
    let mut check = match (&b.status, &b.correctness) {
        (Status::Ok, Some(c)) => format!("pass (nmse {:.0e})", c.nmse),
        (Status::Failed, _) => "FAILED".into(),
        (Status::Error, _) => format!("error: {}", b.error.as_deref().unwrap_or("unknown")),
        (Status::Ok, None) => "-".into(),
    };
    if above_roof {
        check = format!("{check}; {ABOVE_MARK}");
    }
    Row {
        op: b.op.to_string(),
        cells: vec![
            b.shape.to_string(),
            b.dtype.to_string(),
            b.imp.clone(),
            time,
            gbs,
            tfs,
            rf.map(|r| format!("{:?}", r.bound).to_lowercase())
                .unwrap_or_else(|| "-".into()),
            hotpath_core::graph_timing::mark_efficiency(pct(rf.and_then(|r| r.efficiency_spec)), b),
            hotpath_core::graph_timing::mark_efficiency(
                pct(rf.and_then(|r| r.efficiency_measured)),
                b,
            ),
            to_roof,
            check,
        ],
    }
}

/// The rows of `file` grouped by op: ops in the order they first appear, each once, with
/// every row of that op (wherever it was in the run).
pub fn grouped(file: &ResultsFile) -> Vec<(String, Vec<Row>)> {
    let above = roofs::above_roof_ids(&roofs::above_roof(file, super::TOLERANCE));
    let mut groups: Vec<(String, Vec<Row>)> = Vec::new();
    for b in &file.benchmarks {
        let r = row(b, above.contains(&b.id));
        match groups.iter_mut().find(|(op, _)| *op == r.op) {
            Some((_, rows)) => rows.push(r),
            None => groups.push((r.op.clone(), vec![r])),
        }
    }
    groups
}

/// The bandwidth of `set` with where it comes from.
fn bandwidth_cell(file: &ResultsFile, set: Set) -> String {
    let Some(bw) = set.roofs(file).mem_bytes_per_s else {
        return "-".into();
    };
    let gbs = format!("{} GB/s", sig3(bw / 1e9));
    if let (Set::Measured, Some(id)) = (set, file.measured.set_by.get(roof_check::MEM_KEY)) {
        return format!("{gbs} (roof set by {id})");
    }
    match (set, roofs::bandwidth_origin(file, set)) {
        (Set::Spec, Some(o)) if o.is_from_run() => format!(
            "none in {}: the measured {gbs} stands in",
            hardware_file(file)
        ),
        (Set::Spec, Some(Origin::Reported)) => {
            format!("{gbs} (reported by the device: memory clock x bus width)")
        }
        (Set::Spec, _) => format!(
            "{gbs} (datasheet: {})",
            file.hardware
                .sources
                .get("mem_bytes_per_s")
                .map(String::as_str)
                .unwrap_or("hardware file")
        ),
        (Set::Measured, Some(Origin::Measured(Some(id)))) => {
            format!("{gbs} (best cold streaming ceiling: {id})")
        }
        (Set::Measured, _) => format!("{gbs} (best cold streaming ceiling)"),
    }
}

/// The peaks of `set` with where each comes from; dtypes sharing a value and a source are
/// listed together.
fn peaks_cell(file: &ResultsFile, set: Set) -> String {
    let r = set.roofs(file);
    if r.peak_flops.is_empty() {
        return "-".into();
    }
    // (value, words with {dtypes} in place of the dtype list, dtypes)
    let mut groups: Vec<(f64, String, Vec<String>)> = Vec::new();
    for (d, &p) in &r.peak_flops {
        let tf = format!("{} TFLOP/s", sig3(p / 1e12));
        let set_by = file.measured.set_by.get(&roof_check::peak_key(d));
        let words = match roofs::peak_origin(file, set, d) {
            _ if set == Set::Measured && set_by.is_some() => {
                format!("{{dtypes}} {tf} (roof set by {})", set_by.map_or("", String::as_str))
            }
            Some(Origin::Measured(by)) if set == Set::Spec => format!(
                "none in {}: the measured {}, {tf}, stands in for {{dtypes}}",
                hardware_file(file),
                by.unwrap_or_else(|| "peak".into())
            ),
            Some(Origin::StandIn(from)) if set == Set::Spec => format!(
                "none in {}: the measured {from} peak_mma, {tf}, stands in for {{dtypes}}",
                hardware_file(file)
            ),
            Some(Origin::StandIn(from)) => format!(
                "{{dtypes}} {tf} (stand-in: the {from} peak_mma; this run measured no {{dtypes}} peak)"
            ),
            Some(o) => format!("{{dtypes}} {tf} ({})", o.words()),
            None => format!("{{dtypes}} {tf}"),
        };
        match groups.iter_mut().find(|(v, w, _)| *v == p && *w == words) {
            Some((_, _, ds)) => ds.push(d.clone()),
            None => groups.push((p, words, vec![d.clone()])),
        }
    }
    groups
        .into_iter()
        .map(|(_, words, ds)| words.replace("{dtypes}", &ds.join(", ")))
        .collect::<Vec<_>>()
        .join("; ")
}

fn hardware_file(file: &ResultsFile) -> String {
    file.hardware
        .sources
        .get("file")
        .cloned()
        .unwrap_or_else(|| format!("the {} entry", file.hardware.id))
}

/// Device and run facts a reader needs to trust or doubt the numbers.
pub fn metadata(file: &ResultsFile) -> Vec<(String, String)> {
    let d = &file.device;
    let discarded: u64 = file.benchmarks.iter().map(|b| b.discarded_samples).sum();
    let clocks: Vec<(f64, f64)> = file
        .benchmarks
        .iter()
        .filter_map(|b| b.measurement.as_ref().and_then(|m| m.sm_clock_mhz))
        .collect();
    let clock = if clocks.is_empty() {
        "not readable on this device".to_string()
    } else {
        let lo = clocks.iter().map(|c| c.0).fold(f64::INFINITY, f64::min);
        let hi = clocks.iter().map(|c| c.1).fold(0.0, f64::max);
        format!("{lo:.0}–{hi:.0} MHz around kept samples")
    };
    let clock = match file.config.telemetry_source {
        Some(TelemetrySource::None) | None => clock,
        Some(source) if clocks.is_empty() => format!(
            "read by {}, without a maximum to judge throttling against",
            source.name()
        ),
        Some(source) => format!("{clock} (read by {})", source.name()),
    };
    let c = &file.config;
    vec![
        (
            "device".into(),
            format!("{} [{} {}] {}", d.name, d.backend, d.index, d.arch),
        ),
        (
            "driver".into(),
            d.driver.clone().unwrap_or_else(|| "-".into()),
        ),
        (
            "memory".into(),
            format!(
                "{:.1} GB, last-level cache {:.1} MB, {} compute units",
                d.memory_bytes as f64 / 1e9,
                d.llc_bytes as f64 / 1e6,
                d.compute_units
            ),
        ),
        ("hardware entry".into(), file.hardware.id.clone()),
        ("spec bandwidth".into(), bandwidth_cell(file, Set::Spec)),
        ("spec peaks".into(), peaks_cell(file, Set::Spec)),
        (
            "measured bandwidth".into(),
            bandwidth_cell(file, Set::Measured),
        ),
        ("measured peaks".into(), peaks_cell(file, Set::Measured)),
        (
            "cache".into(),
            format!(
                "{} (inputs rotated past the last-level cache when cold)",
                c.cache.name()
            ),
        ),
        ("timing".into(), format!("{:?}", c.timing)),
        (
            "sampling".into(),
            format!(
                "≥ {} samples, ≥ {} s, stop at {:.2} % RSE, {} s limit",
                c.min_samples,
                c.min_time_s,
                c.max_rel_stderr * 100.0,
                c.time_limit_s
            ),
        ),
        ("clocks".into(), clock),
        (
            "discarded samples".into(),
            format!(
                "{discarded} (clock below {:.0} % of max)",
                c.throttle_fraction * 100.0
            ),
        ),
        (
            "created".into(),
            format!(
                "{} by hotpath {}{}",
                file.created,
                file.tool.version,
                file.tool
                    .git
                    .as_ref()
                    .map(|g| format!(" ({g})"))
                    .unwrap_or_default()
            ),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata;

    fn meta(f: &ResultsFile, key: &str) -> String {
        metadata(f)
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
            .unwrap()
    }

    #[test]
    fn a_cpu_s_roofs_are_labelled_measured_and_stand_in_never_spec() {
        let f = testdata::cpu_file();
        let bw = meta(&f, "spec bandwidth");
        assert_eq!(
            bw,
            "none in hardware/cpu-generic.toml: the measured 35.3 GB/s stands in"
        );
        assert_eq!(
            meta(&f, "spec peaks"),
            "none in hardware/cpu-generic.toml: the measured f32 peak_mma, 0.213 TFLOP/s, stands in for bf16, f16, f32"
        );
        let mbw = meta(&f, "measured bandwidth");
        assert_eq!(
            mbw,
            "35.3 GB/s (best cold streaming ceiling: copy/elements=16777216/f32/hotpath)"
        );
        assert_eq!(
            meta(&f, "measured peaks"),
            "bf16, f16 0.213 TFLOP/s (stand-in: the f32 peak_mma; this run measured no bf16, f16 peak); f32 0.213 TFLOP/s (measured: f32 peak_mma)"
        );
        assert_eq!(headers(&f)[7], "% of spec roof (measured stand-in)");
    }

    #[test]
    fn a_gpu_s_roofs_are_labelled_datasheet_and_measured() {
        let f = testdata::h100_file();
        assert_eq!(
            meta(&f, "spec bandwidth"),
            "3350 GB/s (datasheet: datasheet)"
        );
        assert_eq!(meta(&f, "spec peaks"), "bf16 989 TFLOP/s (datasheet)");
        assert_eq!(
            meta(&f, "measured bandwidth"),
            "3000 GB/s (best cold streaming ceiling: copy/elements=268435456/f32/hotpath)"
        );
        assert_eq!(
            meta(&f, "measured peaks"),
            "bf16 800 TFLOP/s (measured: bf16 peak_mma)"
        );
        assert_eq!(headers(&f)[7], "% of spec roof");
    }

    #[test]
    fn interleaved_ops_are_grouped_once_in_first_appearance_order() {
        let mut f = testdata::h100_file();
        // copy, peak_mma, gemv, gemm, then a second gemv and a second copy.
        let mut g = f.benchmarks[2].clone();
        g.imp = "candle".into();
        g.id = g.id.replace("hotpath", "candle");
        f.benchmarks.push(g);
        f.benchmarks.push(f.benchmarks[0].clone());
        let groups = grouped(&f);
        let ops: Vec<&str> = groups.iter().map(|(op, _)| op.as_str()).collect();
        assert_eq!(ops, ["copy", "peak_mma", "gemv", "gemm"]);
        let gemv = &groups[2].1;
        assert_eq!(gemv.len(), 2);
        assert_eq!(
            (gemv[0].cells[2].as_str(), gemv[1].cells[2].as_str()),
            ("hotpath", "candle")
        );
        assert_eq!(groups[0].1.len(), 2);
    }
}
