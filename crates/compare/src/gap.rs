//! `hotpath gap`: the kernel-gap table of two results files (CUDA vs ROCm, or any two
//! devices): per op, shape and dtype, each side's time, its efficiency against its own
//! roofs (spec and measured, as the run placed it: [`hotpath_core::results::Roofline`]), the
//! efficiency gap and the speed ratio. Same-source kernels (impl `hotpath` on both sides)
//! are kept apart from vendor libraries (cuBLASLt vs hipBLASLt, candle on a CPU).

use serde::Serialize;
use std::collections::BTreeMap;

use hotpath_core::error::Result;
use hotpath_core::results::{BenchmarkResult, ResultsFile, Status};

/// Schema of `hotpath gap --format json`.
pub const SCHEMA: &str = "hotpath.gap/1";

/// The implementation name of our own kernels (the same source on every backend).
pub const SAME_SOURCE_IMPL: &str = "hotpath";

/// Which kind of implementation a row compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    /// Our kernels on both sides: one source compiled for each.
    SameSource,
    /// The vendors' libraries (cuBLASLt, hipBLASLt; candle on a CPU).
    VendorLibrary,
}

impl Group {
    /// The group of an implementation name.
    pub fn of(imp: &str) -> Group {
        if imp == SAME_SOURCE_IMPL {
            Group::SameSource
        } else {
            Group::VendorLibrary
        }
    }

    /// Section title.
    pub fn title(self) -> &'static str {
        match self {
            Group::SameSource => "same-source kernels (ours on both)",
            Group::VendorLibrary => "vendor libraries",
        }
    }
}

/// One side of the comparison.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SideInfo {
    /// The file as given.
    pub file: String,
    /// `backend name`, e.g. `cuda NVIDIA H100 80GB HBM3`.
    pub device: String,
    /// Driver or runtime, when there is one.
    pub driver: Option<String>,
    /// hardware/*.toml id whose spec roofs the run used.
    pub hardware: String,
    /// Spec bandwidth, bytes/s.
    pub spec_mem_bytes_per_s: Option<f64>,
    /// Measured bandwidth (best cold streaming ceiling), bytes/s.
    pub measured_mem_bytes_per_s: Option<f64>,
}

/// One op/shape/dtype measured on both sides.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GapRow {
    /// Same-source or vendor library.
    pub group: Group,
    /// `op/shape/dtype`.
    pub key: String,
    /// Implementation on side A.
    pub impl_a: String,
    /// Implementation on side B.
    pub impl_b: String,
    /// Median time on A, seconds.
    pub a_median_s: f64,
    /// Median time on B, seconds.
    pub b_median_s: f64,
    /// A's efficiency against A's spec roofs (1.0 = on the roof).
    pub a_eff_spec: Option<f64>,
    /// B's efficiency against B's spec roofs.
    pub b_eff_spec: Option<f64>,
    /// A's efficiency against A's measured roofs.
    pub a_eff_measured: Option<f64>,
    /// B's efficiency against B's measured roofs.
    pub b_eff_measured: Option<f64>,
    /// (a_eff_spec − b_eff_spec) × 100, percentage points (above 0: A is closer to its roof).
    pub gap_spec_pp: Option<f64>,
    /// (a_eff_measured − b_eff_measured) × 100, percentage points.
    pub gap_measured_pp: Option<f64>,
    /// b_median_s ÷ a_median_s: how many times faster A is than B (below 1: B is faster).
    pub a_speedup: f64,
}

/// A benchmark that found no partner, or could not be used.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Unpaired {
    /// `a` or `b`.
    pub side: &'static str,
    /// Benchmark id.
    pub id: String,
    /// Why it is not in the table.
    pub reason: String,
}

/// The whole gap table.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Gap {
    /// Always [`SCHEMA`].
    pub schema: &'static str,
    /// The first file (usually CUDA).
    pub a: SideInfo,
    /// The second file (usually ROCm).
    pub b: SideInfo,
    /// Same-source rows first, then vendor libraries, each in A's order.
    pub rows: Vec<GapRow>,
    /// Benchmarks not in the table.
    pub unpaired: Vec<Unpaired>,
}

fn side(file: &ResultsFile, name: &str) -> SideInfo {
    SideInfo {
        file: name.to_string(),
        device: format!("{} {}", file.device.backend, file.device.name),
        driver: file.device.driver.clone(),
        hardware: file.hardware.id.clone(),
        spec_mem_bytes_per_s: file.hardware.mem_bytes_per_s,
        measured_mem_bytes_per_s: file.measured.mem_bytes_per_s,
    }
}

/// `op/shape/dtype` of a benchmark and its group: what pairs across the two files.
fn pair_key(b: &BenchmarkResult) -> (Group, String) {
    (
        Group::of(&b.imp),
        format!("{}/{}/{}", b.op, b.shape, b.dtype),
    )
}

fn measured_median(b: &BenchmarkResult) -> Option<f64> {
    (b.status == Status::Ok)
        .then_some(b.time)
        .flatten()
        .map(|t| t.median_s)
        .filter(|t| t.is_finite() && *t > 0.0)
}

fn why_unusable(b: &BenchmarkResult) -> String {
    match b.status {
        Status::Failed => "failed its correctness check".into(),
        Status::Error => format!("errored: {}", b.error.as_deref().unwrap_or("no reason")),
        Status::Ok => "has no positive median time".into(),
    }
}

/// Why `a` and `b` are not compared when their fp8 data was in different encodings (OCP
/// e4m3 against AMD gfx94x's e4m3fnuz): the table compares like with like.
fn fp8_mismatch(a: &BenchmarkResult, b: &BenchmarkResult) -> Option<String> {
    let name = |e: Option<hotpath_core::fp8::Fp8Encoding>| e.map_or("no fp8", |e| e.name());
    (a.fp8_encoding != b.fp8_encoding).then(|| {
        format!(
            "different fp8 encodings: A ran {}, B ran {}; the gap table compares like with like",
            name(a.fp8_encoding),
            name(b.fp8_encoding)
        )
    })
}

/// Picks B's partner for `a` among B's candidates with the same key: the same
/// implementation when B has it, else B's only candidate.
fn partner<'a>(a: &BenchmarkResult, cands: &[&'a BenchmarkResult]) -> Option<&'a BenchmarkResult> {
    cands
        .iter()
        .find(|c| c.imp == a.imp)
        .or_else(|| (cands.len() == 1).then(|| &cands[0]))
        .copied()
}

/// The gap table of `a` (first file) against `b`; `a_name`, `b_name` are the paths.
pub fn gap(a: &ResultsFile, b: &ResultsFile, a_name: &str, b_name: &str) -> Result<Gap> {
    super::by_id(a, a_name)?;
    super::by_id(b, b_name)?;
    let mut b_by_key: BTreeMap<(Group, String), Vec<&BenchmarkResult>> = BTreeMap::new();
    for x in &b.benchmarks {
        b_by_key.entry(pair_key(x)).or_default().push(x);
    }
    let mut rows = Vec::new();
    let mut unpaired = Vec::new();
    let mut used_b: Vec<&str> = Vec::new();
    for x in &a.benchmarks {
        let key = pair_key(x);
        let cands: Vec<&BenchmarkResult> = b_by_key
            .get(&key)
            .map(Vec::as_slice)
            .unwrap_or(&[])
            .iter()
            .filter(|c| !used_b.contains(&c.id.as_str()))
            .copied()
            .collect();
        let Some(y) = partner(x, &cands) else {
            unpaired.push(Unpaired {
                side: "a",
                id: x.id.clone(),
                reason: format!("no {} result for {} in B", key.0.title(), key.1),
            });
            continue;
        };
        used_b.push(&y.id);
        if let Some(reason) = fp8_mismatch(x, y) {
            unpaired.push(Unpaired {
                side: "a",
                id: x.id.clone(),
                reason,
            });
            continue;
        }
        let (ta, tb) = match (measured_median(x), measured_median(y)) {
            (Some(ta), Some(tb)) => (ta, tb),
            (None, _) => {
                unpaired.push(Unpaired {
                    side: "a",
                    id: x.id.clone(),
                    reason: why_unusable(x),
                });
                continue;
            }
            (_, None) => {
                unpaired.push(Unpaired {
                    side: "b",
                    id: y.id.clone(),
                    reason: why_unusable(y),
                });
                continue;
            }
        };
        let eff = |r: &BenchmarkResult, spec: bool| {
            r.roofline.as_ref().and_then(|rf| {
                if spec {
                    rf.efficiency_spec
                } else {
                    rf.efficiency_measured
                }
            })
        };
        let diff = |p: Option<f64>, q: Option<f64>| p.zip(q).map(|(p, q)| (p - q) * 100.0);
        rows.push(GapRow {
            group: key.0,
            key: key.1,
            impl_a: x.imp.clone(),
            impl_b: y.imp.clone(),
            a_median_s: ta,
            b_median_s: tb,
            a_eff_spec: eff(x, true),
            b_eff_spec: eff(y, true),
            a_eff_measured: eff(x, false),
            b_eff_measured: eff(y, false),
            gap_spec_pp: diff(eff(x, true), eff(y, true)),
            gap_measured_pp: diff(eff(x, false), eff(y, false)),
            a_speedup: tb / ta,
        });
    }
    for y in &b.benchmarks {
        if !used_b.contains(&y.id.as_str()) {
            let key = pair_key(y);
            unpaired.push(Unpaired {
                side: "b",
                id: y.id.clone(),
                reason: format!("no {} result for {} in A", key.0.title(), key.1),
            });
        }
    }
    // Stable: same-source first, each group in A's order.
    rows.sort_by_key(|r| r.group);
    Ok(Gap {
        schema: SCHEMA,
        a: side(a, a_name),
        b: side(b, b_name),
        rows,
        unpaired,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotpath_core::fixture::{bench, file};
    use hotpath_core::op::OpKind;
    use hotpath_core::results::Roofline;
    use hotpath_core::roofline::Bound;

    fn with_eff(mut b: BenchmarkResult, spec: f64, measured: f64) -> BenchmarkResult {
        b.roofline = Some(Roofline {
            intensity: None,
            bound: Bound::Memory,
            efficiency_spec: Some(spec),
            efficiency_measured: Some(measured),
            floor_measured_s: None,
            timing: Default::default(),
            sets_roof: vec![],
        });
        b
    }

    #[test]
    fn pairs_same_source_and_vendor_rows_and_lists_the_rest() {
        let gemv = "m=1,n=4096,k=4096";
        let mut a = file();
        a.device.backend = "cuda".into();
        a.device.name = "NVIDIA H100".into();
        a.benchmarks = vec![
            with_eff(
                bench(OpKind::Gemm, "m=64,n=64,k=64", "cublaslt", vec![2e-3]),
                0.5,
                0.6,
            ),
            with_eff(bench(OpKind::Gemv, gemv, "hotpath", vec![1e-3]), 0.8, 0.9),
            with_eff(
                bench(OpKind::Copy, "elements=1M", "hotpath", vec![1e-3]),
                0.9,
                1.0,
            ),
        ];
        let mut b = file();
        b.device.backend = "rocm".into();
        b.benchmarks = vec![
            with_eff(bench(OpKind::Gemv, gemv, "hotpath", vec![4e-3]), 0.3, 0.35),
            with_eff(
                bench(OpKind::Gemm, "m=64,n=64,k=64", "hipblaslt", vec![1e-3]),
                0.75,
                0.8,
            ),
            with_eff(
                bench(OpKind::Read, "elements=1M", "hotpath", vec![1e-3]),
                0.9,
                1.0,
            ),
        ];
        let g = gap(&a, &b, "cuda.json", "rocm.json").unwrap();
        assert_eq!(g.a.device, "cuda NVIDIA H100");
        assert_eq!(g.rows.len(), 2);
        let s = &g.rows[0];
        assert_eq!(
            (s.group, s.key.as_str()),
            (Group::SameSource, "gemv/m=1,n=4096,k=4096/f32")
        );
        // A 1 ms at 80 %/90 %, B 4 ms at 30 %/35 %: gaps 50 and 55 points, A 4× faster.
        assert!((s.gap_spec_pp.unwrap() - 50.0).abs() < 1e-9);
        assert!((s.gap_measured_pp.unwrap() - 55.0).abs() < 1e-9);
        assert!((s.a_speedup - 4.0).abs() < 1e-12);
        let v = &g.rows[1];
        assert_eq!(
            (v.group, v.impl_a.as_str(), v.impl_b.as_str()),
            (Group::VendorLibrary, "cublaslt", "hipblaslt")
        );
        assert!((v.gap_spec_pp.unwrap() + 25.0).abs() < 1e-9);
        assert!((v.a_speedup - 0.5).abs() < 1e-12);
        let ids: Vec<(&str, &str)> = g.unpaired.iter().map(|u| (u.side, u.id.as_str())).collect();
        assert_eq!(
            ids,
            vec![
                ("a", "copy/elements=1048576/f32/hotpath"),
                ("b", "read/elements=1048576/f32/hotpath")
            ]
        );
    }

    #[test]
    fn failed_partners_are_listed_not_tabulated() {
        let mut a = file();
        a.benchmarks = vec![bench(OpKind::Copy, "elements=1M", "hotpath", vec![1e-3])];
        let mut b = a.clone();
        b.benchmarks[0].status = Status::Failed;
        let g = gap(&a, &b, "a", "b").unwrap();
        assert!(g.rows.is_empty());
        assert_eq!(g.unpaired[0].side, "b");
        assert!(g.unpaired[0].reason.contains("correctness"));
        // A missing efficiency stays unknown rather than becoming a number.
        let g = gap(&a, &a, "a", "a").unwrap();
        assert_eq!(g.rows[0].gap_spec_pp, None);
        assert_eq!(g.rows[0].a_speedup, 1.0);
    }

    #[test]
    fn results_in_different_fp8_encodings_are_not_compared() {
        use hotpath_core::fp8::Fp8Encoding;
        let shape = "tokens=4096,kv_fp8=1";
        let kv = |enc| {
            let mut r = with_eff(
                bench(OpKind::KvRead, shape, "hotpath", vec![1e-3]),
                0.8,
                0.9,
            );
            r.fp8_encoding = Some(enc);
            r
        };
        let (mut a, mut b, mut c) = (file(), file(), file());
        a.benchmarks = vec![kv(Fp8Encoding::E4m3)];
        b.benchmarks = vec![kv(Fp8Encoding::E4m3Fnuz)];
        c.benchmarks = vec![kv(Fp8Encoding::E4m3)];
        let g = gap(&a, &b, "h100.json", "mi300x.json").unwrap();
        assert!(g.rows.is_empty());
        assert_eq!(g.unpaired.len(), 1);
        assert_eq!(
            g.unpaired[0].reason,
            "different fp8 encodings: A ran e4m3, B ran e4m3fnuz; the gap table compares like with like"
        );
        // The same encoding on both sides: one row.
        let g = gap(&a, &c, "h100.json", "h200.json").unwrap();
        assert_eq!((g.rows.len(), g.unpaired.len()), (1, 0));
    }
}
