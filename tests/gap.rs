//! `hotpath gap` on the two committed CPU results files (two threads vs one thread on the
//! same 2-core EPYC VM: two device configurations, each measured against its own roofs),
//! with the efficiencies recomputed here by hand from the cost model, the roofs and the
//! median times in the files.

use std::process::{Command, Output};

const A: &str = "results/cpu-epyc-2core-quick.json";
const B: &str = "results/cpu-epyc-1thread-quick.json";

fn hotpath(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hotpath"))
        .args(args)
        .output()
        .expect("the hotpath binary runs")
}

fn gap_json() -> serde_json::Value {
    let o = hotpath(&["gap", A, B, "--format", "json"]);
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
