//! End-to-end tests of `hotpath floors` and model-shaped runs (`hotpath run --model`).

mod common;

use common::{assert_bad_input, hotpath, stderr};

mod support;

use std::collections::BTreeSet;
use std::process::Output;

use hotpath_core::{DType, OpKind};

fn json(o: &Output) -> serde_json::Value {
    assert_eq!(o.status.code(), Some(0), "{}", stderr(o));
    serde_json::from_slice(&o.stdout).expect("stdout is JSON")
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs()
}

fn num(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("{v} is not a number"))
}

/// The `op/shape/dtype` of a benchmark id (`op/shape/dtype/impl`).
fn kernel_of(id: &str) -> &str {
    id.rsplit_once('/').map_or(id, |(k, _)| k)
}

/// Σ (fastest passing median of each kernel × its instances), straight from a results file.
fn composed_from_file(file: &serde_json::Value, kernels: &[(&str, f64)]) -> f64 {
    let benchmarks = file["benchmarks"].as_array().unwrap();
    let mut total = 0.0;
    for (kernel, count) in kernels {
        let best = benchmarks
            .iter()
            .filter(|b| kernel_of(b["id"].as_str().unwrap()) == *kernel && b["status"] == "ok")
            .map(|b| num(&b["time"]["median_s"]))
            .fold(f64::INFINITY, f64::min);
        assert!(best.is_finite(), "{kernel} was measured");
        total += best * count;
    }
    total
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
    // The worked example of docs/floors.md (numbers derived in crates/model/src/tests.rs).
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
fn int4_weights_and_an_fp8_cache_make_every_decode_row_a_kernel() {
    let v = json(&hotpath(&[
        "floors",
        "--model",
        "llama-3.1-8b",
        "--batch",
        "1",
        "--context",
        "4096",
        "--weights",
        "int4",
        "--kv-dtype",
        "fp8_e4m3",
        "--hardware",
        "h100-sxm",
        "--format",
        "json",
    ]));
    // int4 n×k with groups of 128: n·k/2 bytes of codes + n·k/128 bf16 scales. Per layer:
    // qkv 12,582,912 + 393,216; o 8,388,608 + 262,144; gate_up 58,720,256 + 1,835,008;
    // down 29,360,128 + 917,504 = 112,459,776; ×32 = 3,598,712,832. Norms 32·2·4096·2 =
    // 524,288, final norm and one embedding row 8,192 each, LM head (bf16) 128256·4096·2 =
    // 1,050,673,152: 4,649,926,656 in all.
    let d = &v["decode"];
    assert_eq!(d["weight_bytes"].as_f64(), Some(4_649_926_656.0));
    // The fp8 cache: 4096 tokens · 2 · 8 heads · 128 · 1 byte · 32 layers.
    assert_eq!(d["kv_bytes"].as_f64(), Some(268_435_456.0));
    let rows: Vec<&serde_json::Value> = v["per_op"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["phase"] == "decode")
        .collect();
    for (name, kernel) in [
        ("qkv", "gemv_w4a16/m=1,n=6144,k=4096,group=128/bf16"),
        ("rope", "rope/tokens=1,"),
        ("attention", "kv_fp8=1/bf16"),
        (
            "kv_write",
            "kv_write/tokens=1,heads_kv=8,head_dim=128,page_size=16,kv_fp8=1/bf16",
        ),
        ("o", "gemv_w4a16/m=1,n=4096,k=4096,group=128/bf16"),
        ("gate_up", "gemv_w4a16/m=1,n=28672,k=4096,group=128/bf16"),
        ("act", "silu_mul/tokens=1,intermediate=14336/bf16"),
        ("down", "gemv_w4a16/m=1,n=4096,k=14336,group=128/bf16"),
        ("norms", "add_rmsnorm/tokens=1,hidden=4096/bf16"),
        ("final_norm", "add_rmsnorm/tokens=1,hidden=4096/bf16"),
        ("embed", "embedding/tokens=1,hidden=4096,vocab=128256/bf16"),
        ("lm_head", "gemv/m=1,n=128256,k=4096/bf16"),
    ] {
        let row = rows.iter().find(|o| o["name"] == name);
        let got = row.and_then(|o| o["kernel"].as_str()).unwrap_or("-");
        assert!(got.contains(kernel), "{name}: {got}");
    }
    assert!(
        rows.iter().all(|o| o["kernel"].is_string()),
        "every decode row is a kernel"
    );
}

#[test]
fn deepseek_v3_floors_count_touched_experts_and_every_decode_row_is_a_kernel() {
    let v = json(&hotpath(&[
        "floors",
        "--model",
        "deepseek-v3",
        "--batch",
        "32",
        "--context",
        "4096",
        "--hardware",
        "h200",
        "--format",
        "json",
    ]));
    let rows: Vec<&serde_json::Value> = v["per_op"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["phase"] == "decode")
        .collect();
    for o in &rows {
        assert!(o["kernel"].is_string(), "{}: no kernel", o["name"]);
    }
    // 32 tokens routed to 8 of 256 experts touch 256·(1 − (31/32)^32) = 163.31 experts,
    // each (4096·7168 + 7168·2048)·2 = 88,080,384 bytes, in each of the 58 routed layers.
    let touched = 256.0 * (1.0 - (31.0f64 / 32.0).powi(32));
    let expert_bytes: f64 = rows
        .iter()
        .filter(|o| o["name"] == "gate_up" || o["name"] == "down")
        .map(|o| num(&o["bytes"]))
        .sum();
    assert!(close(expert_bytes, 58.0 * touched * 88_080_384.0, 1e-12));
    assert!(
        v["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("= 163.314 distinct experts")),
        "{}",
        v["notes"]
    );
    // Expert parallelism over 8 GPUs: the same expected bytes on each, and it says so.
    let text = String::from_utf8_lossy(
        &hotpath(&[
            "floors",
            "--model",
            "deepseek-v3",
            "--batch",
            "32",
            "--context",
            "4096",
            "--tp",
            "8",
            "--ep",
            "8",
            "--hardware",
            "h200",
        ])
        .stdout,
    )
    .into_owned();
    assert!(
        text.contains("tp 8, ep 8") && text.contains("each GPU holds 32 of the 256 experts"),
        "{text}"
    );
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
        ("bad/experts-every-other-layer.json", "every n-th layer"),
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
    args.extend(["--model", "deepseek-v3", "--ep", "3"]);
    assert_bad_input(&args, "--ep 3 does not divide");
    let mut args = base.to_vec();
    args.extend(["--model", "llama-3.1-8b", "--ep", "2"]);
    assert_bad_input(&args, "has none");
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

/// The tiny test model (2 layers, hidden 256).
const TINY: &str = "tests/fixtures/models/tiny.json";

/// `hotpath run` of the tiny model on the CPU at batch 1 with fast sampling, into `out`;
/// `extra` gives the context (and `--prefill`).
fn tiny_run(out: &str, extra: &[&str]) -> Output {
    model_run(TINY, "1", out, extra)
}

/// `hotpath run` of `model` on the CPU at `batch` with fast sampling, into `out`; `extra`
/// gives the context (and `--prefill`).
fn model_run(model: &str, batch: &str, out: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "run",
        "--backend",
        "cpu",
        "--model",
        model,
        "--batch",
        batch,
    ];
    args.extend_from_slice(extra);
    args.extend([
        "--out",
        out,
        "--min-time",
        "0.02",
        "--time-limit",
        "1",
        "--warmup",
        "0",
        "--min-samples",
        "3",
    ]);
    hotpath(&args)
}

#[test]
fn a_latent_attention_mixture_runs_every_kernel_of_its_step_on_the_cpu() {
    // A tiny DeepSeek-shaped model (16 heads on a 64 + 32 latent, 8 experts of 128, top 2,
    // one shared expert, one leading dense layer): every decode row is a benchmark, every
    // benchmark passes its check, and the composed step is complete.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tiny-deepseek.json");
    let out_s = out.to_string_lossy().into_owned();
    let model = "tests/fixtures/models/tiny-deepseek.json";
    let o = model_run(model, "2", &out_s, &["--context", "128"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let ops: Vec<&str> = file["benchmarks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["status"] == "ok")
        .map(|b| b["op"].as_str().unwrap())
        .collect();
    for op in [
        "attn_mla_decode",
        "moe_gemm",
        "kv_write",
        "rope",
        "silu_mul",
    ] {
        assert!(ops.contains(&op), "{op} in {ops:?}");
    }
    for b in file["benchmarks"].as_array().unwrap() {
        assert_eq!(b["status"], "ok", "{}", b["id"]);
    }
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("kernel-composed step"), "{text}");
    assert!(!text.contains("not known: missing"), "{text}");
    // Two tokens routed to 2 of 8 experts: 8·(1 − (6/8)²) = 3.5 experts per routed layer.
    assert!(text.contains("= 3.500 distinct experts"), "{text}");
}

#[test]
fn model_shaped_run_composes_the_step_and_floors_read_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tiny.json");
    let out_s = out.to_string_lossy().into_owned();
    let model = TINY;
    let o = tiny_run(&out_s, &["--context", "64"]);
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
        (
            "rope/tokens=1,heads_q=4,heads_kv=2,head_dim=64,rotary_dim=64,max_position=65/bf16/",
            2.0,
        ),
        ("silu_mul/tokens=1,intermediate=512/bf16/", 2.0),
        // Two norms a layer and the final one.
        ("add_rmsnorm/tokens=1,hidden=256/bf16/", 5.0),
        ("embedding/tokens=1,hidden=256,vocab=1000/bf16/", 1.0),
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
fn model_shaped_prefill_runs_the_prompt_kernels_and_floors_read_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("tiny-prefill.json");
    let out_s = out.to_string_lossy().into_owned();
    let model = TINY;
    let o = tiny_run(&out_s, &["--context", "32", "--prefill"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        text.contains("prefill (1 sequence, a 32-token prompt each):"),
        "{text}"
    );
    assert!(!text.contains("decode step"), "{text}");

    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(file["model"]["phase"], "prefill");
    assert_eq!(file["model"]["context"], 32);
    assert_eq!(file["model"]["batch"], 1);

    // The prompt's kernels by hand. Tiny: hidden 256, 4 query and 2 KV heads of 64, MLP
    // 512, vocab 1000 (tied), 2 layers. One 32-token prompt, so every linear layer sees
    // m = 32 rows: more than 16, a GEMM rather than a GEMV.
    //   qkv      n = (4 + 2·2)·64 = 512,  k = hidden 256
    //   o        n = 256,                  k = 4·64 = 256
    //   gate_up  n = 2·512 = 1024,         k = 256
    //   down     n = 256,                  k = 512
    // Causal attention over the whole prompt (seq 32, 4/2 heads of 64), the 32 new tokens'
    // K and V written into 16-token pages, and the LM head on the last prompt token only
    // (m = 1: a GEMV of 1000 × 256). Per layer ×2, the LM head once.
    let kernels = [
        ("gemm/m=32,n=512,k=256/bf16", 2.0),
        (
            "attn_prefill/batch=1,seq=32,heads_q=4,heads_kv=2,head_dim=64,causal=1/bf16",
            2.0,
        ),
        (
            "kv_write/tokens=32,heads_kv=2,head_dim=64,page_size=16/bf16",
            2.0,
        ),
        ("gemm/m=32,n=256,k=256/bf16", 2.0),
        ("gemm/m=32,n=1024,k=256/bf16", 2.0),
        ("gemm/m=32,n=256,k=512/bf16", 2.0),
        ("gemv/m=1,n=1000,k=256/bf16", 1.0),
        (
            "rope/tokens=32,heads_q=4,heads_kv=2,head_dim=64,rotary_dim=64,max_position=33/bf16",
            2.0,
        ),
        ("silu_mul/tokens=32,intermediate=512/bf16", 2.0),
        ("add_rmsnorm/tokens=32,hidden=256/bf16", 5.0),
        ("embedding/tokens=32,hidden=256,vocab=1000/bf16", 1.0),
    ];
    // Besides the ceilings, exactly these kernels ran: nothing at a decode shape.
    let ceilings = ["copy", "read", "write", "triad", "peak_mma"];
    let ran: BTreeSet<&str> = file["benchmarks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| !ceilings.contains(&b["op"].as_str().unwrap()))
        .map(|b| kernel_of(b["id"].as_str().unwrap()))
        .collect();
    let expected: BTreeSet<&str> = kernels.iter().map(|(k, _)| *k).collect();
    assert_eq!(ran, expected);
    let want = composed_from_file(&file, &kernels);

    let v = json(&hotpath(&[
        "floors",
        "--model",
        model,
        "--batch",
        "1",
        "--context",
        "32",
        "--results",
        &out_s,
        "--format",
        "json",
    ]));
    let p = &v["prefill"];
    // Bytes by hand, per layer: qkv 512·256·2 = 262,144, o 131,072, gate_up 524,288, down
    // 262,144, norms 2·256·2 = 1,024, K/V of 32 tokens 2·32·2·64·2 = 16,384 → 1,197,056;
    // × 2 = 2,394,112, + final norm 512 + 32 embedding rows 32·256·2 = 16,384 + LM head
    // 1000·256·2 = 512,000 → 2,923,008 B, of which 2 · 16,384 = 32,768 written K/V.
    // FLOPs per layer: 2·32·(512·256 + 256·256 + 1024·256 + 256·512) = 37,748,736 and causal
    // attention 4·4 heads·(32²/2)·64 = 524,288 → 38,273,024; × 2 = 76,546,048, + LM head
    // 2·1·1000·256 = 512,000 → 77,058,048.
    assert_eq!(p["tokens"], 32);
    assert_eq!(num(&p["bytes"]), 2_923_008.0);
    assert_eq!(num(&p["weight_bytes"]), 2_890_240.0);
    assert_eq!(num(&p["kv_bytes"]), 0.0);
    assert_eq!(num(&p["kv_write_bytes"]), 32_768.0);
    assert_eq!(num(&p["flops"]), 77_058_048.0);

    // The floors at the file's own roofs (on a CPU the measured ceilings are the spec roofs;
    // every op of the step computes in bf16).
    for (floor, roofs) in [(p, &file["hardware"]), (&p["measured"], &file["measured"])] {
        let memory = 2_923_008.0 / num(&roofs["mem_bytes_per_s"]);
        let compute = 77_058_048.0 / num(&roofs["peak_flops"]["bf16"]);
        assert!(
            close(num(&floor["memory_floor_s"]), memory, 1e-12),
            "{floor}"
        );
        assert!(
            close(num(&floor["compute_floor_s"]), compute, 1e-12),
            "{floor}"
        );
        assert!(
            close(num(&floor["floor_s"]), memory.max(compute), 1e-12),
            "{floor}"
        );
        let bound = if compute > memory {
            "compute"
        } else {
            "memory"
        };
        assert_eq!(floor["bound"], bound, "{floor}");
    }

    // The composed prefill time is the hand sum of the file's kernels; MBU and MFU are the
    // spec floors over it.
    let c = &p["composed"];
    let composed = num(&c["step_s"]);
    assert!(close(composed, want, 1e-12), "{composed} vs {want}");
    assert_eq!(c["missing"], serde_json::json!([]));
    let (memory, compute) = (num(&p["memory_floor_s"]), num(&p["compute_floor_s"]));
    assert!(close(num(&c["mbu"]), memory / composed, 1e-12), "{c}");
    assert!(close(num(&c["mfu"]), compute / composed, 1e-12), "{c}");
    // Per op: the qkv kernel counts twice (two layers), the LM head once.
    let row = |name: &str| {
        v["per_op"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["phase"] == "prefill" && o["name"] == name)
            .unwrap_or_else(|| panic!("no prefill row {name}"))
            .clone()
    };
    for (name, count) in [("qkv", 2.0), ("lm_head", 1.0)] {
        let m = &row(name)["measured"];
        assert!(close(num(&m["step_s"]), num(&m["median_s"]) * count, 1e-12));
    }
    assert_eq!(
        row("attention")["kernel"],
        "attn_prefill/batch=1,seq=32,heads_q=4,heads_kv=2,head_dim=64,causal=1/bf16"
    );
    // A prefill run holds no decode-step kernels: the decode composed time is unknown and
    // says which are missing.
    let d = &v["decode"]["composed"];
    assert!(d["step_s"].is_null(), "{d}");
    assert!(
        d["missing"]
            .to_string()
            .contains("gemv/m=1,n=512,k=256/bf16"),
        "{d}"
    );

    // The run's own summary states the composed time against both floors with the same
    // numbers, and flags it only when it is below a floor (an under-measured roof).
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("kernel-composed step"))
        .unwrap_or_else(|| panic!("no composed line in {text}"));
    let (floor, measured) = (num(&p["floor_s"]), num(&p["measured"]["floor_s"]));
    for needle in [
        format!("{:.1} % of the floor", floor / composed * 100.0),
        format!(
            "{:.1} % of the measured-ceiling floor",
            measured / composed * 100.0
        ),
        format!(
            "MBU {:.1} %, MFU {:.1} %",
            memory / composed * 100.0,
            compute / composed * 100.0
        ),
    ] {
        assert!(line.contains(&needle), "'{needle}' not in: {line}");
    }
    assert_eq!(
        line.contains("BELOW a floor"),
        composed < floor.max(measured) / 1.02,
        "{line}"
    );
}

/// An H100 SXM results file built by hand for the tiny model's decode step (batch 1, 64
/// cached tokens): spec roofs from hardware/h100-sxm.toml (3.35 TB/s, bf16 989.4 TFLOP/s),
/// ceilings measured below them (3.0 TB/s, 600 TFLOP/s), and every kernel of the step at a
/// chosen median.
fn h100_tiny_decode_file() -> hotpath_core::results::ResultsFile {
    use support::{around, bench};
    let mut f = support::file("cuda", "NVIDIA H100 80GB HBM3", "sm_90", "h100-sxm");
    let b = &mut f.benchmarks;
    // copy: 2 · 4 B · 375,000,000 elements = 3.0e9 B in 1 ms → 3.0e12 B/s.
    b.push(bench(
        OpKind::Copy,
        "elements=375000000",
        DType::F32,
        "hotpath",
        around(1e-3),
        None,
    ));
    // peak_mma counting 6.0e11 bf16 FLOPs in 1 ms → 6.0e14 FLOP/s.
    b.push(bench(
        OpKind::PeakMma,
        "iters=65536",
        DType::Bf16,
        "hotpath",
        around(1e-3),
        Some(600_000_000_000),
    ));
    let kernels: [(OpKind, &str, &str, f64); 8] = [
        (OpKind::Gemv, "m=1,n=512,k=256", "hotpath", 2.0e-6),
        (OpKind::Gemv, "m=1,n=512,k=256", "cublaslt", 2.5e-6),
        (
            OpKind::AttnDecode,
            "batch=1,context=64,heads_q=4,heads_kv=2,head_dim=64,page_size=16",
            "hotpath",
            3.0e-6,
        ),
        (
            OpKind::KvWrite,
            "tokens=1,heads_kv=2,head_dim=64,page_size=16",
            "hotpath",
            1.0e-6,
        ),
        (OpKind::Gemv, "m=1,n=256,k=256", "hotpath", 1.5e-6),
        (OpKind::Gemv, "m=1,n=1024,k=256", "hotpath", 3.5e-6),
        (OpKind::Gemv, "m=1,n=1024,k=256", "cublaslt", 3.2e-6),
        (OpKind::Gemv, "m=1,n=256,k=512", "hotpath", 2.0e-6),
    ];
    for (op, shape, imp, median) in kernels {
        b.push(bench(op, shape, DType::Bf16, imp, around(median), None));
    }
    b.push(bench(
        OpKind::Gemv,
        "m=1,n=1000,k=256",
        DType::Bf16,
        "hotpath",
        around(2.5e-6),
        None,
    ));
    // The rows that carry no bytes or FLOPs still take time: rope, the activation, the
    // norms (two per layer and the final one) and the embedding lookup.
    for (op, shape, median) in [
        (
            OpKind::Rope,
            "tokens=1,heads_q=4,heads_kv=2,head_dim=64,rotary_dim=64,max_position=65",
            0.5e-6,
        ),
        (OpKind::SiluMul, "tokens=1,intermediate=512", 0.4e-6),
        (OpKind::AddRmsnorm, "tokens=1,hidden=256", 0.3e-6),
        (OpKind::Embedding, "tokens=1,hidden=256,vocab=1000", 0.2e-6),
    ] {
        b.push(bench(
            op,
            shape,
            DType::Bf16,
            "hotpath",
            around(median),
            None,
        ));
    }
    support::place(&mut f);
    f
}

#[test]
fn measured_floor_composed_step_mbu_and_mfu_match_a_hand_built_results_file() {
    let f = h100_tiny_decode_file();
    // The ceilings became the measured roofs.
    let bw = f.measured.mem_bytes_per_s.unwrap();
    assert!(close(bw, 3.0e12, 1e-12), "{bw}");
    assert!(close(f.measured.peak_flops["bf16"], 6.0e14, 1e-12));
    let dir = tempfile::tempdir().unwrap();
    let path = support::write(&f, dir.path(), "h100-tiny.json");
    let args = [
        "floors",
        "--model",
        TINY,
        "--batch",
        "1",
        "--context",
        "64",
        "--results",
        &path,
    ];
    let mut with_json = args.to_vec();
    with_json.extend(["--format", "json"]);
    let v = json(&hotpath(&with_json));
    let d = &v["decode"];
    assert_eq!(v["hardware"], "h100-sxm");

    // Decode bytes (derived in model_shaped_run_composes_the_step_and_floors_read_it_back):
    // weights 2,874,368 + KV read 65,536 + K/V of the new token 2 layers · 2·1·2·64·2 = 1,024
    // → 2,940,928 B. FLOPs per layer: 2·(512·256 + 256·256 + 1024·256 + 256·512) = 1,179,648
    // + attention 4·4·64·64 = 65,536 → 1,245,184; × 2 + LM head 2·1000·256 = 512,000
    // → 3,002,368.
    assert_eq!(num(&d["bytes"]), 2_940_928.0);
    assert_eq!(num(&d["flops"]), 3_002_368.0);
    // Spec: 2,940,928 / 3.35e12 = 877.889 ns; 3,002,368 / 9.894e14 = 3.0345 ns: memory-bound.
    assert!(
        close(num(&d["memory_floor_s"]), 877.888_955e-9, 1e-8),
        "{d}"
    );
    assert!(close(num(&d["compute_floor_s"]), 3.034_534e-9, 1e-6), "{d}");
    assert!(close(num(&d["floor_s"]), 877.888_955e-9, 1e-8), "{d}");
    assert_eq!(d["bound"], "memory");
    // Measured: 2,940,928 / 3.0e12 = 980.309 ns; 3,002,368 / 6.0e14 = 5.0039 ns: the
    // measured-ceiling floor is 980.309 ns, memory-bound, 11.7 % above the spec floor.
    let m = &d["measured"];
    assert!(
        close(num(&m["memory_floor_s"]), 980.309_333e-9, 1e-8),
        "{m}"
    );
    assert!(close(num(&m["compute_floor_s"]), 5.003_947e-9, 1e-6), "{m}");
    assert!(close(num(&m["floor_s"]), 980.309_333e-9, 1e-8), "{m}");
    assert_eq!(m["bound"], "memory");
    // Composed: the fastest passing kernel of each op × its instances. cuBLASLt's gate_up
    // (3.2 µs) beats ours (3.5 µs); our qkv (2.0 µs) beats cuBLASLt's (2.5 µs).
    // 2 · (qkv 2.0 + rope 0.5 + attention 3.0 + kv_write 1.0 + o 1.5 + gate_up 3.2 + act 0.4
    // + down 2.0 + norms 2·0.3) + final norm 0.3 + embedding 0.2 + LM head 2.5
    // = 2 · 14.2 + 3.0 = 31.4 µs.
    let c = &d["composed"];
    let composed = num(&c["step_s"]);
    assert!(close(composed, 31.4e-6, 1e-12), "{c}");
    assert_eq!(c["missing"], serde_json::json!([]));
    // MBU = spec memory floor / composed = 877.889 ns / 31.4 µs = 2.7958 %;
    // MFU = spec compute floor / composed = 3.0345 ns / 31.4 µs = 0.0096641 %.
    assert!(close(num(&c["mbu"]), 0.027_958_247, 1e-8), "{c}");
    assert!(close(num(&c["mfu"]), 9.664_121e-5, 1e-6), "{c}");
    let gate_up = v["per_op"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["phase"] == "decode" && o["name"] == "gate_up")
        .unwrap();
    assert_eq!(gate_up["measured"]["imp"], "cublaslt");
    assert!(close(num(&gate_up["measured"]["step_s"]), 6.4e-6, 1e-12));
    // The file holds no prefill kernels: the prefill composed time is unknown.
    assert!(v["prefill"]["composed"]["step_s"].is_null());

    // The table says the same: 877.889 / 31.4 = 2.8 % of the floor, 980.309 / 31.4 = 3.1 %
    // of the measured-ceiling floor, MBU 2.8 %, MFU 0.0 % (0.0097 % at one decimal).
    let o = hotpath(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(
        text.contains("TPOT floor at measured ceilings  980 ns (memory-bound)"),
        "{text}"
    );
    assert!(
        text.contains(
            "31.4 us = 2.8 % of the floor, 3.1 % of the measured-ceiling floor; MBU 2.8 %, MFU 0.0 %"
        ),
        "{text}"
    );
    assert!(!text.contains("BELOW a floor"), "{text}");
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
        "deepseek-v3",
        "qwen3-30b-a3b",
    ] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
    let mixtral = models.iter().find(|m| m["id"] == "mixtral-8x7b").unwrap();
    assert_eq!(mixtral["experts"], serde_json::json!([8, 2]));
    let deepseek = models.iter().find(|m| m["id"] == "deepseek-v3").unwrap();
    assert_eq!(deepseek["experts"], serde_json::json!([256, 8]));
    assert_eq!(deepseek["latent_kv"], serde_json::json!([512, 64]));
    let text = String::from_utf8_lossy(&hotpath(&["list"]).stdout).into_owned();
    assert!(
        text.contains("llama-3.1-8b") && text.contains("8.03 B params"),
        "{text}"
    );
    assert!(
        text.contains("671.03 B params, 61 layers, hidden 7168, 128 heads on a latent KV of 512+64, 8 of 256 experts"),
        "{text}"
    );
}
