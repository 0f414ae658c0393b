//! Ingesting `cargo bench` results: criterion's `target/criterion/*/*/new/{benchmark,
//! estimates}.json` for the harnesses in benches/, whose function ids are hotpath result ids
//! (`gemv/m=1,n=14336,k=4096/bf16/hotpath`), so the cost model turns their times into rates.

use std::path::Path;

use serde::Deserialize;

use hotpath_core::dtype::DType;
use hotpath_core::error::{Error, Result};
use hotpath_core::op::{OpKind, OpSpec};

/// One criterion estimate of a hotpath benchmark.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    /// criterion group (`cpu/gemv`: backend and family).
    pub group: String,
    /// hotpath result id.
    pub id: String,
    /// The op spec parsed from the id.
    pub spec: OpSpec,
    /// Median time per iteration, seconds (criterion's point estimate).
    pub median_s: f64,
    /// 95 % confidence interval of the median, seconds.
    pub median_ci_s: (f64, f64),
}

#[derive(Deserialize)]
struct Bench {
    group_id: String,
    function_id: String,
}

#[derive(Deserialize)]
struct Interval {
    lower_bound: f64,
    upper_bound: f64,
}

#[derive(Deserialize)]
struct Stat {
    point_estimate: f64,
    confidence_interval: Interval,
}

#[derive(Deserialize)]
struct Estimates {
    median: Stat,
}

/// The spec of a result id `op/shape/dtype/impl`.
pub fn spec_of_id(id: &str) -> Option<OpSpec> {
    let mut parts = id.split('/');
    let op = OpKind::parse(parts.next()?).ok()?;
    let shape = parts.next()?;
    let dtype = DType::parse(parts.next()?).ok()?;
    OpSpec::parse(op, shape, dtype).ok()
}

/// What [`read_dir`] found: the estimates, and one line per benchmark directory it could
/// not use (unreadable or malformed JSON, or an id that is not a hotpath result id).
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    /// Estimates, sorted by group and id.
    pub estimates: Vec<Estimate>,
    /// `PATH: why` for every benchmark left out.
    pub skipped: Vec<String>,
}

/// One benchmark directory's `new/` estimate, or why it cannot be used.
fn read_bench(new: &Path) -> std::result::Result<Estimate, String> {
    let read = |name: &str| {
        std::fs::read_to_string(new.join(name)).map_err(|e| format!("cannot read {name}: {e}"))
    };
    let bench: Bench = serde_json::from_str(&read("benchmark.json")?)
        .map_err(|e| format!("benchmark.json is not criterion's: {e}"))?;
    let est: Estimates = serde_json::from_str(&read("estimates.json")?)
        .map_err(|e| format!("estimates.json is not criterion's: {e}"))?;
    let spec = spec_of_id(&bench.function_id).ok_or_else(|| {
        format!(
            "'{}' is not a hotpath result id (op/shape/dtype/impl)",
            bench.function_id
        )
    })?;
    let m = &est.median;
    if !(m.point_estimate.is_finite() && m.point_estimate > 0.0) {
        return Err(format!(
            "median {} ns is not a positive time",
            m.point_estimate
        ));
    }
    Ok(Estimate {
        group: bench.group_id,
        id: bench.function_id,
        spec,
        median_s: m.point_estimate / 1e9,
        median_ci_s: (
            m.confidence_interval.lower_bound / 1e9,
            m.confidence_interval.upper_bound / 1e9,
        ),
    })
}

/// Every hotpath estimate under `dir` (a `target/criterion` directory: `GROUP/BENCH/new/`
/// with criterion's benchmark.json and estimates.json, times in nanoseconds). A directory
/// that cannot be read, or holds no usable estimate, is bad input.
pub fn read_dir(dir: &Path) -> Result<Found> {
    let bad = |e: std::io::Error| {
        Error::bad_input(format!(
            "cannot read criterion directory {}: {e}",
            dir.display()
        ))
    };
    let mut found = Found {
        estimates: Vec::new(),
        skipped: Vec::new(),
    };
    for group in std::fs::read_dir(dir).map_err(bad)?.flatten() {
        let Ok(benches) = std::fs::read_dir(group.path()) else {
            continue;
        };
        for b in benches.flatten() {
            let new = b.path().join("new");
            if !new.join("benchmark.json").exists() && !new.join("estimates.json").exists() {
                continue; // criterion's own report/ pages, or not a benchmark
            }
            match read_bench(&new) {
                Ok(e) => found.estimates.push(e),
                Err(why) => found.skipped.push(format!("{}: {why}", new.display())),
            }
        }
    }
    if found.estimates.is_empty() {
        return Err(Error::bad_input(format!(
            "no criterion estimates of hotpath benchmarks under {}{}; `cargo bench --bench ops` writes them to target/criterion",
            dir.display(),
            if found.skipped.is_empty() {
                String::new()
            } else {
                format!(" ({} unusable: {})", found.skipped.len(), found.skipped.join("; "))
            }
        )));
    }
    found.skipped.sort();
    found
        .estimates
        .sort_by(|a, b| (&a.group, &a.id).cmp(&(&b.group, &b.id)));
    Ok(found)
}

/// Cells of one estimate: group, benchmark, median, 95 % CI, GB/s, TFLOP/s.
pub fn cells(e: &Estimate) -> [String; 6] {
    // A rate needs the cost model; a spec it cannot count shows none.
    let (bytes, flops) = e.spec.work().map_or((0, 0), |w| (w.bytes, w.flops));
    [
        e.group.clone(),
        e.id.clone(),
        hotpath_core::units::Seconds(e.median_s).to_string(),
        format!(
            "{} – {}",
            hotpath_core::units::Seconds(e.median_ci_s.0),
            hotpath_core::units::Seconds(e.median_ci_s.1)
        ),
        if bytes > 0 {
            hotpath_core::units::sig3(bytes as f64 / e.median_s / 1e9)
        } else {
            "-".into()
        },
        if flops > 0 {
            hotpath_core::units::sig3(flops as f64 / e.median_s / 1e12)
        } else {
            "-".into()
        },
    ]
}

/// Column headers of [`cells`].
pub const HEADERS: [&str; 6] = ["group", "benchmark", "median", "95 % CI", "GB/s", "TFLOP/s"];

/// Markdown table of estimates: time and the cost model's rates.
pub fn markdown(estimates: &[Estimate]) -> String {
    let mut out = format!(
        "## criterion estimates (cargo bench)\n\n| {} |\n|{}\n",
        HEADERS.join(" | "),
        "---|".repeat(HEADERS.len())
    );
    for e in estimates {
        out.push_str(&format!("| {} |\n", cells(e).join(" | ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_criterion_tree_is_read_and_rated_by_the_cost_model() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("cpu_gemv/gemv_x/new");
        std::fs::create_dir_all(&new).unwrap();
        std::fs::write(
            new.join("benchmark.json"),
            r#"{"group_id":"cpu/gemv","function_id":"gemv/m=1,n=14336,k=4096/bf16/hotpath","throughput":{"BytesDecimal":117477376}}"#,
        )
        .unwrap();
        // 2,936,934.4 ns median → 117,477,376 B / 2.9369344 ms = 40.0 GB/s exactly.
        std::fs::write(
            new.join("estimates.json"),
            r#"{"median":{"point_estimate":2936934.4,"confidence_interval":{"confidence_level":0.95,"lower_bound":2900000.0,"upper_bound":2950000.0},"standard_error":1.0}}"#,
        )
        .unwrap();
        // A benchmark that is not a hotpath id is left out, and said so.
        let other = dir.path().join("other/fib_20/new");
        std::fs::create_dir_all(&other).unwrap();
        std::fs::write(
            other.join("benchmark.json"),
            r#"{"group_id":"other","function_id":"fib 20"}"#,
        )
        .unwrap();
        std::fs::write(other.join("estimates.json"), "{}").unwrap();
        // criterion's own report pages are not benchmarks.
        std::fs::create_dir_all(dir.path().join("report")).unwrap();
        let found = read_dir(dir.path()).unwrap();
        let e = found.estimates;
        assert_eq!(e.len(), 1);
        assert_eq!(found.skipped.len(), 1, "{:?}", found.skipped);
        assert!(found.skipped[0].contains("other/fib_20/new: estimates.json is not criterion's"));
        assert_eq!(e[0].spec.work().unwrap().bytes, 117_477_376);
        assert!((e[0].median_s - 2.9369344e-3).abs() < 1e-15);
        let md = markdown(&e);
        assert!(md.contains("| 40.0 |"), "{md}");
        assert!(read_dir(Path::new("/nonexistent/criterion")).is_err());
        let empty = tempfile::tempdir().unwrap();
        let err = read_dir(empty.path()).unwrap_err().to_string();
        assert!(err.contains("no criterion estimates"), "{err}");
        assert_eq!(spec_of_id("nope/m=1"), None);
    }
}
