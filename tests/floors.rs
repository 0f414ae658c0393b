//! End-to-end tests of `hotpath floors` and model-shaped runs (`hotpath run --model`).

use std::process::{Command, Output};

fn hotpath(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hotpath"))
        .args(args)
        .output()
        .expect("the hotpath binary runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts exit code 2 and one `error:` line on stderr containing `needle`.
fn assert_bad_input(args: &[&str], needle: &str) {
    let o = hotpath(args);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "{args:?}: one line expected: {err}");
    assert!(lines[0].starts_with("error: "), "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: '{needle}' not in: {err}");
}

fn json(o: &Output) -> serde_json::Value {
    assert_eq!(o.status.code(), Some(0), "{}", stderr(o));
    serde_json::from_slice(&o.stdout).expect("stdout is JSON")
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs()
}

#[test]
fn floors_json_for_llama_8b_on_h100() {
    let v = json(&hotpath(&[
        "floors",
        "--model",
        "llama-3.1-8b",
        "--batch",
        "1",
        "--context",
        "4096",
        "--hardware",
        "h100-sxm",
        "--format",
        "json",
    ]));
    // The worked example of METHODOLOGY.md (numbers derived in crates/core/src/model/tests.rs).
    let d = &v["decode"];
    assert_eq!(d["weight_bytes"].as_f64(), Some(15_009_857_536.0));
    assert_eq!(d["kv_bytes"].as_f64(), Some(536_870_912.0));
    assert_eq!(d["bound"], "memory");
    assert!(
        close(d["floor_s"].as_f64().unwrap(), 4.640_853_588e-3, 1e-9),
        "{d}"
    );
    let p = &v["prefill"];
    assert_eq!(p["bound"], "compute");
    assert!(
        close(p["floor_s"].as_f64().unwrap(), 62.233_375_6e-3, 1e-8),
        "{p}"
    );
    let ops = v["per_op"].as_array().unwrap();
    for name in [
        "qkv",
        "o",
        "gate_up",
        "down",
        "lm_head",
        "attention",
        "kv_write",
    ] {
        for phase in ["decode", "prefill"] {
            assert!(
                ops.iter().any(|o| o["name"] == name && o["phase"] == phase),
                "{name} {phase}"
            );
        }
    }
    // The decode rows add up to the decode bytes.
    let sum: f64 = ops
        .iter()
        .filter(|o| o["phase"] == "decode")
        .map(|o| o["bytes"].as_f64().unwrap())
        .sum();
    assert_eq!(sum, d["bytes"].as_f64().unwrap());
}

#[test]
fn tensor_parallel_is_per_gpu_and_says_communication_is_not_modelled() {
    let v = json(&hotpath(&[
        "floors",
        "--model",
        "llama-3.1-70b",
        "--batch",
        "1",
        "--context",
        "4096",
        "--tp",
        "8",
        "--hardware",
        "h100-sxm",
        "--format",
        "json",
    ]));
    // One GPU's shard: 17,378,068,480 B of weights (derived in the core tests).
    assert_eq!(v["decode"]["weight_bytes"].as_f64(), Some(17_378_068_480.0));
    assert_eq!(v["tp"], 8);
    let notes = v["notes"].to_string();
    assert!(notes.contains("communication is not modelled"), "{notes}");
    // The table says so too.
    let o = hotpath(&[
        "floors",
        "--model",
        "llama-3.1-70b",
        "--batch",
        "1",
        "--context",
        "4096",
        "--tp",
        "8",
        "--hardware",
        "h100-sxm",
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("TPOT floor") && text.contains("tp 8"),
        "{text}"
    );
}

#[test]
fn bad_configs_and_settings_exit_2_with_one_sentence() {
    let base = [
        "floors",
        "--batch",
        "1",
        "--context",
        "128",
        "--hardware",
        "h100-sxm",
    ];
    let cases = [
        ("bad/missing-hidden-size.json", "'hidden_size' is missing"),
        ("bad/zero-heads.json", "'num_attention_heads' is 0"),
        (
            "bad/heads-not-dividing-hidden.json",
            "does not divide hidden_size",
        ),
        ("bad/kv-heads-not-dividing.json", "num_key_value_heads 5"),
        ("bad/truncated.json", "not valid JSON"),
        ("bad/shared-experts.json", "shared experts"),
    ];
    for (file, needle) in cases {
        let path = format!("tests/fixtures/models/{file}");
        let mut args = base.to_vec();
        args.extend(["--model", &path]);
        assert_bad_input(&args, needle);
    }
    let mut args = base.to_vec();
    args.extend(["--model", "llama-3.1-8b", "--tp", "3"]);
    assert_bad_input(&args, "--tp 3 does not divide");
    let mut args = base.to_vec();
    args.extend(["--model", "gpt-5"]);
    assert_bad_input(&args, "unknown model 'gpt-5'");
    let mut args = base.to_vec();
    args.extend(["--model", "llama-3.1-8b", "--dtype", "int4"]);
    assert_bad_input(&args, "'int4'");
    assert_bad_input(
        &[
            "floors",
            "--model",
            "llama-3.1-8b",
            "--batch",
            "1",
            "--context",
            "1",
            "--hardware",
            "a100-80g",
            "--dtype",
            "fp8",
        ],
        "no fp8_e4m3 peak",
    );
    assert_bad_input(
        &[
            "floors",
            "--model",
            "llama-3.1-8b",
            "--batch",
            "1",
            "--context",
            "1",
        ],
        "--hardware",
    );
    assert_bad_input(
        &["run", "--backend", "cpu", "--model", "llama-3.1-8b"],
        "--context",
    );
    assert_bad_input(
        &[
            "run",
            "--backend",
            "cpu",
            "--model",
            "tests/fixtures/models/mistral-7b-v0.1.json",
            "--context",
            "8192",
            "--prefill",
        ],
        "sliding window of 4096",
    );
    assert_bad_input(&["run", "--backend", "cpu", "--batch", "2"], "--model");
}

#[test]
fn model_shaped_run_composes_the_step_and_floors_read_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tiny.json");
    let out_s = out.to_string_lossy().into_owned();
    let model = "tests/fixtures/models/tiny.json";
    let o = hotpath(&[
        "run",
        "--backend",
        "cpu",
        "--model",
        model,
        "--batch",
        "1",
        "--context",
        "64",
        "--out",
        &out_s,
        "--min-time",
        "0.02",
        "--time-limit",
        "1",
        "--warmup",
        "0",
        "--min-samples",
        "3",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("kernel-composed step"), "{text}");

    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(file["model"]["batch"], 1);
    assert_eq!(file["model"]["phase"], "decode");
    assert_eq!(file["model"]["model"]["hidden_size"], 256);

    // Second method: the composed time is Σ (fastest median of each kernel × its count),
    // summed here straight from the results file. Tiny: hidden 256, 4 heads of 64, 2 KV
    // heads, MLP 512, vocab 1000 (tied), 2 layers.
    let kernels = [
        ("gemv/m=1,n=512,k=256/bf16/", 2.0),
        (
            "attn_decode/batch=1,context=64,heads_q=4,heads_kv=2,head_dim=64,page_size=16/bf16/",
            2.0,
        ),
        (
            "kv_write/tokens=1,heads_kv=2,head_dim=64,page_size=16/bf16/",
            2.0,
        ),
        ("gemv/m=1,n=256,k=256/bf16/", 2.0),
        ("gemv/m=1,n=1024,k=256/bf16/", 2.0),
        ("gemv/m=1,n=256,k=512/bf16/", 2.0),
        ("gemv/m=1,n=1000,k=256/bf16/", 1.0),
    ];
    let benchmarks = file["benchmarks"].as_array().unwrap();
    let mut want = 0.0;
    for (prefix, count) in kernels {
        let best = benchmarks
            .iter()
            .filter(|b| b["id"].as_str().unwrap().starts_with(prefix) && b["status"] == "ok")
            .map(|b| b["time"]["median_s"].as_f64().unwrap())
            .fold(f64::INFINITY, f64::min);
        assert!(best.is_finite(), "{prefix} was measured");
        want += best * count;
    }

    let v = json(&hotpath(&[
        "floors",
        "--model",
        model,
        "--batch",
        "1",
        "--context",
        "64",
        "--results",
        &out_s,
        "--format",
        "json",
    ]));
    let d = &v["decode"];
    let composed = d["composed"]["step_s"].as_f64().unwrap();
    assert!(close(composed, want, 1e-12), "{composed} vs {want}");
    // Weights by hand: per layer qkv 512·256·2 = 262,144 + o 131,072 + gate_up 524,288
    // + down 262,144 + norms 1,024 = 1,180,672, × 2 = 2,361,344; + final norm 512
    // + embedding row 512 + LM head 1000·256·2 = 512,000 → 2,874,368 B.
    // KV: 64 · 2 layers · 2 · 2 heads · 64 · 2 B = 65,536.
    assert_eq!(d["weight_bytes"].as_f64(), Some(2_874_368.0));
    assert_eq!(d["kv_bytes"].as_f64(), Some(65_536.0));
    // MBU is the spec memory floor over the composed time; on a CPU the spec bandwidth is
    // the measured one.
    let bw = file["hardware"]["mem_bytes_per_s"].as_f64().unwrap();
    let mbu = d["composed"]["mbu"].as_f64().unwrap();
    assert!(close(
        mbu,
        d["bytes"].as_f64().unwrap() / bw / composed,
        1e-12
    ));
    assert!(d["measured"]["floor_s"].as_f64().unwrap() > 0.0);

    // The report gains a latency-floors section.
    let rep = dir.path().join("rep");
    let o = hotpath(&["report", &out_s, "--out", rep.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let md = std::fs::read_to_string(rep.join("report.md")).unwrap();
    assert!(
        md.contains("### latency floors") && md.contains("kernel-composed step"),
        "{md}"
    );
    let html = std::fs::read_to_string(rep.join("report.html")).unwrap();
    assert!(html.contains("<h3>latency floors</h3>"));
}

#[test]
fn list_shows_the_built_in_models() {
    let v = json(&hotpath(&["list", "--format", "json"]));
    let models = v["models"].as_array().unwrap();
    let ids: Vec<&str> = models.iter().map(|m| m["id"].as_str().unwrap()).collect();
    for id in [
        "llama-3.2-1b",
        "llama-3.2-3b",
        "llama-3.1-8b",
        "llama-3.1-70b",
        "llama-3.1-405b",
        "mistral-7b",
        "mixtral-8x7b",
        "qwen2.5-7b",
        "qwen2.5-72b",
    ] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
    let mixtral = models.iter().find(|m| m["id"] == "mixtral-8x7b").unwrap();
    assert_eq!(mixtral["experts"], serde_json::json!([8, 2]));
    let text = String::from_utf8_lossy(&hotpath(&["list"]).stdout).into_owned();
    assert!(
        text.contains("llama-3.1-8b") && text.contains("8.03 B params"),
        "{text}"
    );
}
