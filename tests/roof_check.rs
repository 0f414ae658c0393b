//! End to end: a run whose `peak_mma` is made slow (`HOTPATH_FAULT=slow100`, a hundredth of
//! its speed, as a busy machine would halve it) leaves a gemm above its measured roof; the run
//! measures the peak again (still slow), then raises the roof to the gemm and says so. A
//! twentieth was not enough on every CI machine: a 2-core Xeon VM's peak read 16 GFLOP/s at
//! slow20, above the cold 256³ candle gemm there, so no point was above its roof.

mod common;

use std::process::Command;

#[test]
fn a_point_above_a_slowed_peak_remeasures_it_then_sets_the_roof() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let locks = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_hotpath"))
        .args([
            "run",
            "--backend",
            "cpu",
            "--op",
            "gemm",
            "--shape",
            "m=256,n=256,k=256",
            "--dtype",
            "f32",
            "--min-time",
            "0.02",
            "--time-limit",
            "1",
            "--warmup",
            "0",
            "--min-samples",
            "3",
            "--out",
        ])
        .arg(&out)
        .envs(common::NO_GPU)
        .env("HOTPATH_LOCK_DIR", locks.path())
        .env("HOTPATH_FAULT", "slow100:peak_mma")
        .output()
        .unwrap();
    let err = common::stderr(&o);
    assert_eq!(o.status.code(), Some(0), "{err}");
    let gemm_id = "gemm/m=256,n=256,k=256/f32/candle";
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let benches = v["benchmarks"].as_array().unwrap();
    let by_op = |op: &str| benches.iter().find(|b| b["op"] == op).unwrap();
    let peak = by_op("peak_mma");
    let gemm = by_op("gemm");
    // The ceiling used its fastest sample; the gemm its median.
    assert_eq!(peak["measurement"]["estimator"], "best");
    assert!(gemm["measurement"].get("estimator").is_none(), "{gemm}");
    // The peak was measured a second time because of the gemm, and both times are kept.
    let again = &peak["measurement"]["remeasured"];
    assert_eq!(
        again["triggered_by"],
        serde_json::json!([gemm_id]),
        "{peak}"
    );
    let first = again["first_s"].as_f64().unwrap();
    let second = again["second_s"].as_f64().unwrap();
    let min_s = peak["time"]["min_s"].as_f64().unwrap();
    assert_eq!(min_s, first.min(second));
    // Still above: the f32 peak is the gemm's rate (2 · 256³ FLOP ÷ its median), named.
    assert_eq!(v["measured"]["set_by"]["peak_flops.f32"], gemm_id, "{v}");
    assert_eq!(
        gemm["roofline"]["sets_roof"],
        serde_json::json!(["peak_flops.f32"])
    );
    let rate = 33_554_432.0 / gemm["time"]["median_s"].as_f64().unwrap();
    let roof = v["measured"]["peak_flops"]["f32"].as_f64().unwrap();
    assert!((roof / rate - 1.0).abs() < 1e-9, "{roof} vs {rate}");
    // No point is above 100 % of its measured roof any more.
    for b in benches {
        let e = b["roofline"]["efficiency_measured"].as_f64().unwrap_or(0.0);
        assert!(e <= 1.0 + 1e-9, "{} at {e}", b["id"]);
    }
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains(&format!("roof set by {gemm_id}")),
        "{stdout}"
    );
    assert!(
        err.contains(&format!(
            "measuring peak_mma/iters=65536/f32/hotpath again: {gemm_id}"
        )),
        "{err}"
    );
}
