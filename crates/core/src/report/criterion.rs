//! Ingesting `cargo bench` results: criterion's `target/criterion/*/*/new/{benchmark,
//! estimates}.json` for the harnesses in benches/, whose function ids are hotpath result ids
//! (`gemv/m=1,n=14336,k=4096/bf16/hotpath`), so the cost model turns their times into rates.

use std::path::Path;

use serde::Deserialize;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::op::{OpKind, OpSpec};

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

/// Every hotpath estimate under `dir` (a `target/criterion` directory).
pub fn read_dir(dir: &Path) -> Result<Vec<Estimate>> {
    let bad = |e: std::io::Error| {
        Error::bad_input(format!(
            "cannot read criterion directory {}: {e}",
            dir.display()
        ))
    };
    let mut out = Vec::new();
    for group in std::fs::read_dir(dir).map_err(bad)?.flatten() {
        let Ok(benches) = std::fs::read_dir(group.path()) else {
            continue;
        };
        for b in benches.flatten() {
            let new = b.path().join("new");
            let (Ok(bj), Ok(ej)) = (
                std::fs::read_to_string(new.join("benchmark.json")),
                std::fs::read_to_string(new.join("estimates.json")),
            ) else {
                continue;
            };
            let (Ok(bench), Ok(est)) = (
                serde_json::from_str::<Bench>(&bj),
                serde_json::from_str::<Estimates>(&ej),
            ) else {
                continue;
            };
            let Some(spec) = spec_of_id(&bench.function_id) else {
                continue;
            };
            out.push(Estimate {
                group: bench.group_id,
                id: bench.function_id,
                spec,
                median_s: est.median.point_estimate / 1e9,
                median_ci_s: (
                    est.median.confidence_interval.lower_bound / 1e9,
                    est.median.confidence_interval.upper_bound / 1e9,
                ),
            });
        }
    }
    out.sort_by(|a, b| (&a.group, &a.id).cmp(&(&b.group, &b.id)));
    Ok(out)
}

/// Cells of one estimate: group, benchmark, median, 95 % CI, GB/s, TFLOP/s.
pub fn cells(e: &Estimate) -> [String; 6] {
    let w = e.spec.work();
    [
        e.group.clone(),
        e.id.clone(),
        crate::units::Seconds(e.median_s).to_string(),
        format!(
            "{} – {}",
            crate::units::Seconds(e.median_ci_s.0),
            crate::units::Seconds(e.median_ci_s.1)
        ),
        if w.bytes > 0 {
            crate::units::sig3(w.bytes as f64 / e.median_s / 1e9)
        } else {
            "-".into()
        },
        if w.flops > 0 {
            crate::units::sig3(w.flops as f64 / e.median_s / 1e12)
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
        let e = read_dir(dir.path()).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].spec.work().bytes, 117_477_376);
        let md = markdown(&e);
        assert!(md.contains("| 40.0 |"), "{md}");
        assert!(read_dir(Path::new("/nonexistent/criterion")).is_err());
        assert_eq!(spec_of_id("nope/m=1"), None);
    }
}
