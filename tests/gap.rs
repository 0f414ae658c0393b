//! `hotpath gap` on the two committed CPU results files (two threads vs one thread on the
//! same 2-core EPYC VM: two device configurations, each measured against its own roofs),
//! with the efficiencies recomputed here by hand from the cost model, the roofs and the
//! median times in the files.

mod support;

use std::process::{Command, Output};

use hotpath_core::{DType, OpKind};

const A: &str = "results/cpu-epyc-2core-quick.json";
const B: &str = "results/cpu-epyc-1thread-quick.json";

fn hotpath(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hotpath"))
        .args(args)
        .output()
        .expect("the hotpath binary runs")
}

fn gap_json() -> serde_json::Value {
    gap_of(A, B)
}

fn gap_of(a: &str, b: &str) -> serde_json::Value {
    let o = hotpath(&["gap", a, b, "--format", "json"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("gap prints JSON")
}

fn row<'a>(g: &'a serde_json::Value, key: &str, group: &str) -> &'a serde_json::Value {
    g["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == key && r["group"] == group)
        .unwrap_or_else(|| panic!("no {group} row {key}"))
}

fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap()
}

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn memory_bound_gemv_efficiency_matches_hand_computation() {
    let g = gap_json();
    let r = row(&g, "gemv/m=1,n=14336,k=4096/bf16", "same_source");
    assert_eq!(
        (r["impl_a"].as_str(), r["impl_b"].as_str()),
        (Some("hotpath"), Some("hotpath"))
    );
    // Compulsory bytes (m·k + n·k + m·n)·2 = (4096 + 58,720,256 + 14,336)·2 = 117,477,376.
    let bytes = ((4096u64 + 14336 * 4096 + 14336) * 2) as f64;
    assert_eq!(bytes, 117_477_376.0);
    // A: roof 35.270 GB/s (best cold streaming ceiling, two threads), median 3.580402 ms:
    // floor 117,477,376 / 35,270,333,736.27 = 3.33077 ms → 93.03 %.
    let eff_a = bytes / 35_270_333_736.269_51 / 0.003_580_402;
    assert!(close(eff_a, 0.9303, 5e-5), "{eff_a}");
    // B: roof 25.410 GB/s (one thread), median 6.596278 ms: floor 4.62333 ms → 70.09 %.
    let eff_b = bytes / 25_409_685_516.215_15 / 0.006_596_278;
    assert!(close(eff_b, 0.7009, 5e-5), "{eff_b}");
    assert!(close(f(&r["a_median_s"]), 0.003_580_402, 1e-15));
    assert!(close(f(&r["b_median_s"]), 0.006_596_278, 1e-15));
    for side in ["spec", "measured"] {
        // A CPU has no spec bandwidth: the measured ceiling stands in for both roofs.
        assert!(close(f(&r[format!("a_eff_{side}")]), eff_a, 1e-9), "{r}");
        assert!(close(f(&r[format!("b_eff_{side}")]), eff_b, 1e-9), "{r}");
        // Gap (93.03 − 70.09) = 22.94 percentage points.
        assert!(close(
            f(&r[format!("gap_{side}_pp")]),
            (eff_a - eff_b) * 100.0,
            1e-7
        ));
    }
    assert!(close(f(&r["gap_spec_pp"]), 22.94, 0.01), "{r}");
    // Speed ratio 6.596278 / 3.580402 = 1.8423: two threads are 1.84× faster.
    assert!(close(f(&r["a_speedup"]), 1.8423, 1e-4), "{r}");
}

#[test]
fn compute_bound_vendor_gemm_efficiency_matches_hand_computation() {
    let g = gap_json();
    let r = row(&g, "gemm/m=512,n=512,k=512/f32", "vendor_library");
    assert_eq!(
        (r["impl_a"].as_str(), r["impl_b"].as_str()),
        (Some("candle"), Some("candle"))
    );
    // 2·512³ = 268,435,456 FLOP. A: peak 212.742 GFLOP/s (peak_mma, two threads), median
    // 1.432711 ms: floor 1.26179 ms → 88.07 %. B: peak 118.190 GFLOP/s, median
    // 2.705467 ms: floor 2.27121 ms → 83.95 %.
    let flops = 2.0 * 512f64.powi(3);
    let eff_a = flops / 212_741_896_692.738_98 / 0.001_432_711;
    let eff_b = flops / 118_190_469_928.519_76 / 0.002_705_467;
    assert!(
        close(eff_a, 0.8807, 5e-5) && close(eff_b, 0.8395, 5e-5),
        "{eff_a} {eff_b}"
    );
    assert!(close(f(&r["a_eff_spec"]), eff_a, 1e-9), "{r}");
    assert!(close(f(&r["b_eff_measured"]), eff_b, 1e-9), "{r}");
    assert!(close(f(&r["gap_measured_pp"]), 4.12, 0.01), "{r}");
    assert!(
        close(f(&r["a_speedup"]), 2.705_467 / 1.432_711, 1e-9),
        "{r}"
    );
}

#[test]
fn groups_sides_and_formats() {
    let g = gap_json();
    assert_eq!(g["schema"], "hotpath.gap/1");
    assert_eq!(g["a"]["file"], A);
    let rows = g["rows"].as_array().unwrap();
    // The quick suite: 11 of our kernels and 4 candle results, all paired.
    let count = |grp: &str| rows.iter().filter(|r| r["group"] == grp).count();
    assert_eq!((count("same_source"), count("vendor_library")), (11, 4));
    assert_eq!(g["unpaired"], serde_json::json!([]));
    // Same-source rows come first.
    assert_eq!(rows[0]["group"], "same_source");
    assert_eq!(rows[14]["group"], "vendor_library");
    let text = String::from_utf8_lossy(&hotpath(&["gap", A, B]).stdout).into_owned();
    assert!(
        text.contains("same-source kernels (ours on both):"),
        "{text}"
    );
    assert!(text.contains("vendor libraries:"), "{text}");
    assert!(text.contains("+22.9"), "{text}");
    let md =
        String::from_utf8_lossy(&hotpath(&["gap", A, B, "--format", "md"]).stdout).into_owned();
    assert!(md.contains("## vendor libraries") && md.contains("| gemv/m=1,n=14336,k=4096/bf16 | hotpath | hotpath | 3.58 ms | 6.60 ms | 93.0 | 70.1 | +22.9 |"), "{md}");
    let o = hotpath(&["gap", A, "/nonexistent.json"]);
    assert_eq!(o.status.code(), Some(2));
}

fn read_json(path: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A benchmark's efficiency from its achieved rates and one set of roofs, computed here
/// apart from the roofline code: rate ÷ roof, the larger of the bandwidth and compute
/// fractions (a stream ceiling only moves bytes); None when a roof it needs is unknown.
fn rate_over_roof(b: &serde_json::Value, roofs: &serde_json::Value) -> Option<f64> {
    let rates = &b["rates"];
    let memory = (b["bytes"].as_f64()? > 0.0)
        .then(|| Some(f(&rates["bytes_per_s"]) / roofs["mem_bytes_per_s"].as_f64()?));
    let stream = ["copy", "read", "write", "triad"].contains(&b["op"].as_str()?);
    let compute = (b["flops"].as_f64()? > 0.0 && !stream).then(|| {
        let peak = roofs["peak_flops"][b["dtype"].as_str()?].as_f64()?;
        Some(f(&rates["flops_per_s"]) / peak)
    });
    match (memory, compute) {
        (Some(m), Some(c)) => Some(m?.max(c?)),
        (Some(m), None) => m,
        (None, Some(c)) => c,
        (None, None) => None,
    }
}

/// Every efficiency `hotpath gap` printed for files `a` and `b` (read from the files'
/// roofline fields) agrees with rate ÷ roof of that side's benchmark and roofs, and every
/// gap and speed ratio with the two sides' numbers.
fn assert_efficiencies_are_rate_over_roof(a: &str, b: &str) -> usize {
    let g = gap_of(a, b);
    let files = [read_json(a), read_json(b)];
    let rows = g["rows"].as_array().unwrap();
    for r in rows {
        for (i, side) in ["a", "b"].into_iter().enumerate() {
            let imp = r[format!("impl_{side}")].as_str().unwrap();
            let id = format!("{}/{imp}", r["key"].as_str().unwrap());
            let bench = files[i]["benchmarks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["id"] == id.as_str())
                .unwrap_or_else(|| panic!("{id} in side {side}"));
            assert_eq!(
                f(&r[format!("{side}_median_s")]),
                f(&bench["time"]["median_s"])
            );
            for (roofs, field) in [("hardware", "spec"), ("measured", "measured")] {
                let want = rate_over_roof(bench, &files[i][roofs]);
                let got = r[format!("{side}_eff_{field}")].as_f64();
                match (want, got) {
                    (Some(w), Some(x)) => {
                        assert!(close(x, w, 1e-9 * w), "{id} {field}: {x} vs {w}")
                    }
                    (w, x) => assert_eq!(w, x, "{id} {field}"),
                }
            }
        }
        for field in ["spec", "measured"] {
            let (ea, eb) = (
                r[format!("a_eff_{field}")].as_f64(),
                r[format!("b_eff_{field}")].as_f64(),
            );
            let gap = r[format!("gap_{field}_pp")].as_f64();
            assert_eq!(gap.is_some(), ea.is_some() && eb.is_some(), "{r}");
            if let (Some(ea), Some(eb), Some(gap)) = (ea, eb, gap) {
                assert!(close(gap, (ea - eb) * 100.0, 1e-9), "{r}");
            }
        }
        assert!(close(
            f(&r["a_speedup"]),
            f(&r["b_median_s"]) / f(&r["a_median_s"]),
            1e-12
        ));
    }
    rows.len()
}

#[test]
fn every_committed_efficiency_is_rate_over_roof() {
    // All 15 rows of the committed CPU pair.
    assert_eq!(assert_efficiencies_are_rate_over_roof(A, B), 15);
}

/// An H100 SXM run (CUDA) and an MI300X run (ROCm), built by hand: spec roofs from
/// hardware/*.toml, ceilings measured below them, one same-source GEMV and one vendor GEMM.
fn gpu_pair(dir: &std::path::Path) -> (String, String) {
    use support::{around, bench};
    // H100: spec 3.35 TB/s and bf16 989.4 TFLOP/s; copy of 375,000,000 f32 (2 · 4 B each =
    // 3.0e9 B) in 1 ms → measured 3.0e12 B/s; peak_mma 8.0e11 FLOP in 1 ms → 8.0e14 FLOP/s.
    let mut a = support::file("cuda", "NVIDIA H100 80GB HBM3", "sm_90", "h100-sxm");
    a.device.driver = Some("CUDA 12.4".into());
    // MI300X: spec 5.3 TB/s and bf16 1307.4 TFLOP/s; the same copy at 4.2e12 B/s
    // (3.0e9 B in 714.29 µs), peak_mma 7.0e11 FLOP in 1 ms → 7.0e14 FLOP/s.
    let mut b = support::file("rocm", "AMD Instinct MI300X", "gfx942", "mi300x");
    b.device.driver = Some("ROCm 6.2".into());
    let copy = "elements=375000000";
    let gemv = "m=1,n=14336,k=4096";
    let gemm = "m=4096,n=4096,k=4096";
    let peak = |flops: u64| {
        bench(
            OpKind::PeakMma,
            "iters=65536",
            DType::Bf16,
            "hotpath",
            around(1e-3),
            Some(flops),
        )
    };
    let kernel =
        |op, shape, imp, median_s| bench(op, shape, DType::Bf16, imp, around(median_s), None);
    a.benchmarks = vec![
        bench(
            OpKind::Copy,
            copy,
            DType::F32,
            "hotpath",
            around(1e-3),
            None,
        ),
        peak(800_000_000_000),
        kernel(OpKind::Gemv, gemv, "hotpath", 45e-6),
        kernel(OpKind::Gemm, gemm, "cublaslt", 200e-6),
    ];
    b.benchmarks = vec![
        bench(
            OpKind::Copy,
            copy,
            DType::F32,
            "hotpath",
            around(3.0e9 / 4.2e12),
            None,
        ),
        peak(700_000_000_000),
        kernel(OpKind::Gemv, gemv, "hotpath", 40e-6),
        kernel(OpKind::Gemm, gemm, "hipblaslt", 250e-6),
    ];
    support::place(&mut a);
    support::place(&mut b);
    (
        support::write(&a, dir, "h100.json"),
        support::write(&b, dir, "mi300x.json"),
    )
}

#[test]
fn spec_and_measured_gaps_differ_when_measured_roofs_are_below_spec() {
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb) = gpu_pair(dir.path());
    let g = gap_of(&pa, &pb);
    assert_eq!(f(&g["a"]["spec_mem_bytes_per_s"]), 3.35e12);
    assert!(close(f(&g["a"]["measured_mem_bytes_per_s"]), 3.0e12, 1.0)); // within 1 B/s
    assert_eq!(f(&g["b"]["spec_mem_bytes_per_s"]), 5.3e12);
    assert!(close(f(&g["b"]["measured_mem_bytes_per_s"]), 4.2e12, 1.0));
    assert_eq!(g["unpaired"], serde_json::json!([]));

    // Same-source GEMV, memory-bound: (1·4096 + 14336·4096 + 1·14336) · 2 = 117,477,376 B.
    // A 45 µs: spec floor 117,477,376 / 3.35e12 = 35.068 µs → 77.93 %; measured floor
    // / 3.0e12 = 39.159 µs → 87.02 %. B 40 µs: spec floor / 5.3e12 = 22.166 µs → 55.41 %;
    // measured / 4.2e12 = 27.971 µs → 69.93 %. Gaps: spec 77.93 − 55.41 = +22.51 pp,
    // measured 87.02 − 69.93 = +17.09 pp. B is faster (A speedup 40 / 45 = 0.889) while A
    // is closer to its roofs.
    let r = row(&g, "gemv/m=1,n=14336,k=4096/bf16", "same_source");
    assert!(close(f(&r["a_eff_spec"]), 0.779_286, 1e-6), "{r}");
    assert!(close(f(&r["a_eff_measured"]), 0.870_203, 1e-6), "{r}");
    assert!(close(f(&r["b_eff_spec"]), 0.554_139, 1e-6), "{r}");
    assert!(close(f(&r["b_eff_measured"]), 0.699_270, 1e-6), "{r}");
    assert!(close(f(&r["gap_spec_pp"]), 22.5148, 1e-4), "{r}");
    assert!(close(f(&r["gap_measured_pp"]), 17.0933, 1e-4), "{r}");
    assert!(close(f(&r["a_speedup"]), 40.0 / 45.0, 1e-12), "{r}");

    // Vendor GEMM 4096³, compute-bound (2 · 4096³ = 137,438,953,472 FLOP over
    // 3 · 4096² · 2 = 100,663,296 B: 1365 FLOP/B). A (cuBLASLt) 200 µs: spec floor
    // 137,438,953,472 / 9.894e14 = 138.911 µs → 69.46 %; measured / 8.0e14 = 171.799 µs →
    // 85.90 %. B (hipBLASLt) 250 µs: spec / 1.3074e15 = 105.124 µs → 42.05 %; measured
    // / 7.0e14 = 196.341 µs → 78.54 %. Gaps: spec +27.41 pp, measured only +7.36 pp: most
    // of the spec gap is B's lower measured peak, not its GEMM. A speedup 250 / 200 = 1.25.
    let r = row(&g, "gemm/m=4096,n=4096,k=4096/bf16", "vendor_library");
    assert_eq!(
        (r["impl_a"].as_str(), r["impl_b"].as_str()),
        (Some("cublaslt"), Some("hipblaslt"))
    );
    assert!(close(f(&r["a_eff_spec"]), 0.694_557, 1e-6), "{r}");
    assert!(close(f(&r["a_eff_measured"]), 0.858_993, 1e-6), "{r}");
    assert!(close(f(&r["b_eff_spec"]), 0.420_495, 1e-6), "{r}");
    assert!(close(f(&r["b_eff_measured"]), 0.785_365, 1e-6), "{r}");
    assert!(close(f(&r["gap_spec_pp"]), 27.4062, 1e-4), "{r}");
    assert!(close(f(&r["gap_measured_pp"]), 7.3628, 1e-4), "{r}");
    assert!(close(f(&r["a_speedup"]), 1.25, 1e-12), "{r}");

    // The copy ceiling is the measured bandwidth roof on each side, so 100 % measured on
    // both (gap 0), while against spec it is 3.0 / 3.35 = 89.55 % and 4.2 / 5.3 = 79.25 %:
    // 89.552 − 79.245 = +10.31 pp.
    let r = row(&g, "copy/elements=375000000/f32", "same_source");
    assert!(close(f(&r["a_eff_measured"]), 1.0, 1e-12), "{r}");
    assert!(close(f(&r["b_eff_measured"]), 1.0, 1e-12), "{r}");
    assert!(close(f(&r["gap_measured_pp"]), 0.0, 1e-9), "{r}");
    assert!(close(f(&r["gap_spec_pp"]), 10.3070, 1e-4), "{r}");

    // Every row (with the peak_mma ceilings) is rate ÷ roof of its own side.
    assert_eq!(assert_efficiencies_are_rate_over_roof(&pa, &pb), 4);

    let text = String::from_utf8_lossy(&hotpath(&["gap", &pa, &pb]).stdout).into_owned();
    assert!(text.contains("+22.5") && text.contains("+17.1"), "{text}");
    assert!(text.contains("0.889×") && text.contains("1.25×"), "{text}");
}
