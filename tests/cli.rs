//! End-to-end tests of the `hotpath` binary: exit codes, one-sentence errors, results files.

mod common;

use common::{assert_bad_input, hotpath, stderr};

use std::path::Path;

/// Fast measurement settings so debug-build tests finish quickly.
const FAST: [&str; 8] = [
    "--min-time",
    "0.02",
    "--time-limit",
    "1",
    "--warmup",
    "0",
    "--min-samples",
    "3",
];

fn run_cpu(extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = ["run", "--backend", "cpu"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn bad(extra: &[&str], needle: &str) {
    let args = run_cpu(extra);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_bad_input(&refs, needle);
}

#[test]
fn bad_shapes_are_rejected_with_one_sentence() {
    bad(&["--op", "gemm", "--shape", "m=0,n=256,k=256"], "m=0");
    bad(&["--op", "gemm", "--shape", "m=-4,n=256,k=256"], "negative");
    bad(
        &["--op", "gemm", "--shape", "m=1,n=1,k=99999999999999"],
        "absurd",
    );
    bad(&["--op", "gemm", "--shape", "m=1,n=1"], "'k'");
    bad(&["--op", "gemm", "--shape", "m=1,n=1,k=1,z=2"], "'z'");
    bad(
        &["--op", "gemv", "--shape", "m=17,n=4096,k=4096"],
        "m <= 16",
    );
    bad(
        &[
            "--op",
            "attn_decode",
            "--shape",
            "context=64,heads_q=6,heads_kv=4",
        ],
        "multiple",
    );
    bad(&["--op", "gemm"], "needs --shape");
}

#[test]
fn unknown_names_are_rejected_with_what_is_accepted() {
    bad(&["--op", "conv2d", "--shape", "m=1"], "'conv2d'");
    bad(
        &["--op", "gemm", "--shape", "m=1,n=1,k=1", "--dtype", "int4"],
        "'int4'",
    );
    bad(&["--suite", "nightly"], "'nightly'");
    bad(
        &[
            "--hardware",
            "h900",
            "--op",
            "copy",
            "--shape",
            "elements=1K",
        ],
        "h900",
    );
    assert_bad_input(&["run", "--backend", "metal"], "metal");
    assert_bad_input(&["frobnicate"], "frobnicate");
    bad(
        &["--device", "5", "--op", "copy", "--shape", "elements=1K"],
        "--device 5",
    );
}

#[test]
fn unsupported_and_unavailable_are_exit_2() {
    bad(
        &["--op", "gemm", "--shape", "m=8,n=8,k=8", "--dtype", "fp8"],
        "fp8_e4m3",
    );
    bad(
        &[
            "--op",
            "gemv",
            "--shape",
            "m=1,n=8,k=8",
            "--impl",
            "cublaslt",
        ],
        "cublaslt",
    );
    // An op the CPU lacks at every dtype is named as such, not run by another kernel.
    bad(
        &[
            "--op",
            "l2_read",
            "--shape",
            "elements=1K",
            "--dtype",
            "f32",
        ],
        "l2_read is not implemented on cpu",
    );
    assert_bad_input(
        &[
            "run",
            "--backend",
            "cuda",
            "--op",
            "copy",
            "--shape",
            "elements=1K",
        ],
        "cuda",
    );
}

#[test]
fn shapes_that_cannot_fit_in_memory_are_rejected_before_running() {
    // 3 · 2^40 elements of bf16 = 6.6 TB of operands.
    bad(&["--op", "gemm", "--shape", "m=1M,n=1M,k=1M"], "available");
}

#[test]
fn bad_measurement_settings_and_out_paths() {
    bad(
        &[
            "--op",
            "copy",
            "--shape",
            "elements=1K",
            "--max-rse-pct",
            "0",
        ],
        "--max-rse-pct",
    );
    bad(
        &[
            "--op",
            "copy",
            "--shape",
            "elements=1K",
            "--time-limit",
            "-1",
        ],
        "--time-limit",
    );
    bad(
        &[
            "--op",
            "copy",
            "--shape",
            "elements=1K",
            "--min-samples",
            "0",
        ],
        "--min-samples",
    );
    bad(
        &[
            "--op",
            "copy",
            "--shape",
            "elements=1K",
            "--out",
            "/nonexistent-dir/x/r.json",
        ],
        "cannot be written",
    );
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_string_lossy().into_owned();
    bad(
        &["--op", "copy", "--shape", "elements=1K", "--out", &d],
        "is a directory",
    );
    // --out naming an input (the model config) or a read-only file: refused before anything
    // runs, and neither file is touched.
    let config = dir.path().join("config.json");
    let config_text = std::fs::read_to_string("tests/fixtures/models/llama-3.1-8b.json").unwrap();
    std::fs::write(&config, &config_text).unwrap();
    let config_s = config.to_string_lossy().into_owned();
    bad(
        &["--model", &config_s, "--context", "16", "--out", &config_s],
        "is not a hotpath output file",
    );
    assert_eq!(std::fs::read_to_string(&config).unwrap(), config_text);
    let old = dir.path().join("old.json");
    let old_text = "{\"schema\": \"hotpath.results/1\"}";
    std::fs::write(&old, old_text).unwrap();
    let mut ro = std::fs::metadata(&old).unwrap().permissions();
    ro.set_readonly(true);
    std::fs::set_permissions(&old, ro).unwrap();
    let old_s = old.to_string_lossy().into_owned();
    bad(
        &["--op", "copy", "--shape", "elements=1K", "--out", &old_s],
        "is read-only",
    );
    assert_eq!(std::fs::read_to_string(&old).unwrap(), old_text);
}

#[test]
fn gemm_run_writes_schema_v1_with_exact_flops() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.json");
    let out_s = out.to_string_lossy().into_owned();
    let mut args = run_cpu(&[
        "--op",
        "gemm",
        "--shape",
        "m=256,n=256,k=256",
        "--dtype",
        "f32",
        "--out",
        &out_s,
    ]);
    args.extend(FAST.iter().map(|s| s.to_string()));
    let o = hotpath(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("gemm") && stdout.contains("m=256,n=256,k=256"),
        "{stdout}"
    );

    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(v["schema"], "hotpath.results/1");
    assert_eq!(v["device"]["backend"], "cpu");
    let gemm = v["benchmarks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["op"] == "gemm")
        .expect("a gemm benchmark");
    assert_eq!(gemm["id"], "gemm/m=256,n=256,k=256/f32/candle");
    assert_eq!(gemm["flops"], 2 * 256 * 256 * 256);
    assert_eq!(gemm["bytes"], 3 * 256 * 256 * 4);
    assert_eq!(gemm["status"], "ok");
    assert_eq!(gemm["correctness"]["pass"], true);
    let samples = gemm["samples_s"].as_array().unwrap();
    assert!(samples.len() >= 3);
    let median = gemm["time"]["median_s"].as_f64().unwrap();
    assert!(median > 0.0);
    // Rates are derived from the median exactly.
    let fps = gemm["rates"]["flops_per_s"].as_f64().unwrap();
    assert!((fps * median - 33_554_432.0).abs() < 1.0);
    // The CPU measured its own roofs first (copy and peak_mma calibration).
    assert!(v["measured"]["mem_bytes_per_s"].as_f64().unwrap() > 0.0);
    assert!(v["measured"]["peak_flops"]["f32"].as_f64().unwrap() > 0.0);
    assert!(gemm["roofline"]["efficiency_measured"].as_f64().unwrap() > 0.0);
    assert_eq!(gemm["measurement"]["cache"]["mode"], "cold");
}

/// Runs `op` at `shape` in bf16 on the CPU (fast settings) and returns its benchmark record.
fn cpu_benchmark(op: &str, shape: &str) -> serde_json::Value {
    cpu_benchmark_with(op, shape, &[])
}

/// [`cpu_benchmark`] with `extra` flags.
fn cpu_benchmark_with(op: &str, shape: &str, extra: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("q.json");
    let out_s = out.to_string_lossy().into_owned();
    let mut args = run_cpu(&["--op", op, "--shape", shape, "--out", &out_s]);
    args.extend(extra.iter().map(|s| s.to_string()));
    args.extend(FAST.iter().map(|s| s.to_string()));
    let o = hotpath(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let b = v["benchmarks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["op"] == op)
        .cloned();
    b.unwrap_or_else(|| panic!("no {op} benchmark in {v}"))
}

#[test]
fn quantized_gemvs_run_on_the_cpu_and_pass_their_checks() {
    // int4, asymmetric, group 64: FLOPs 2·4·512·1024 = 4,194,304; bytes (4·1024 + 4·512 +
    // 512·16)·2 (a, c, scales) + 512·512 (codes) + 4·512·2 (zero words) = 28,672 + 262,144
    // + 4,096 = 294,912.
    let b = cpu_benchmark("gemv_w4a16", "m=4,n=512,k=1024,group=64,zero_points=1");
    assert_eq!(
        b["id"],
        "gemv_w4a16/m=4,n=512,k=1024,group=64,zero_points=1/bf16/hotpath"
    );
    assert_eq!(
        (b["flops"].as_u64(), b["bytes"].as_u64()),
        (Some(4_194_304), Some(294_912))
    );
    assert_eq!(b["correctness"]["pass"], true, "{}", b["correctness"]);
    // fp8: FLOPs 2·1·512·1024 + 512 = 1,049,088; bytes (1024 + 512)·2 + 512·1024 + 4·512
    // = 3,072 + 524,288 + 2,048 = 529,408.
    let b = cpu_benchmark("gemv_fp8w", "m=1,n=512,k=1024");
    assert_eq!(
        (b["flops"].as_u64(), b["bytes"].as_u64()),
        (Some(1_049_088), Some(529_408))
    );
    assert_eq!(b["correctness"]["pass"], true, "{}", b["correctness"]);
    // A result on fp8 data records the encoding that ran (a CPU runs OCP e4m3); int4 has none.
    assert_eq!(b["fp8_encoding"], "e4m3");
    let b = cpu_benchmark("gemv_w4a16", "m=1,n=64,k=128");
    assert!(b.get("fp8_encoding").is_none(), "{b}");
}

#[test]
fn moe_gemm_runs_on_the_cpu_and_counts_only_the_touched_experts() {
    // The small shape's routing (12 tokens × 2 of 8 experts, Zipf s = 1.2, seed 0) touches
    // experts 1, 2, 4, 5, 6: D = 5. FLOPs 2·12·2·192·256 + 12·2·192 = 2,359,296 + 4,608;
    // bytes 5·192·256·2 (weights) + 12·256·2 (x) + 12·192·2 (y) + 12·2·8 (ids, weights) =
    // 491,520 + 6,144 + 4,608 + 192.
    let b = cpu_benchmark(
        "moe_gemm",
        "tokens=12,experts=8,top_k=2,n=192,k=256,zipf_x100=120",
    );
    assert_eq!(
        b["id"],
        "moe_gemm/tokens=12,experts=8,top_k=2,n=192,k=256,zipf_x100=120,route_seed=0/bf16/hotpath"
    );
    assert_eq!(
        (b["flops"].as_u64(), b["bytes"].as_u64()),
        (Some(2_363_904), Some(502_464))
    );
    assert_eq!(b["correctness"]["pass"], true, "{}", b["correctness"]);
    // Bad input: one sentence, exit 2.
    for (shape, dtype, says) in [
        (
            "tokens=4,experts=8,top_k=9",
            "bf16",
            "top_k=9 must be at most experts=8",
        ),
        ("tokens=4,experts=8,top_k=0", "bf16", "top_k=0 is not valid"),
        (
            "tokens=4,experts=8,top_k=2,n=16,k=16",
            "fp8_e4m3",
            "moe_gemm in fp8_e4m3",
        ),
    ] {
        bad(
            &["--op", "moe_gemm", "--shape", shape, "--dtype", dtype],
            says,
        );
    }
}

#[test]
fn kv_dtype_fp8_runs_the_kv_ops_on_an_fp8_cache() {
    // 64 tokens of 8 heads of 128: 2·64·1024·(2 + 1) bytes + the 16 f32 scales = 393,280.
    let b = cpu_benchmark_with("kv_write", "tokens=64", &["--kv-dtype", "fp8_e4m3"]);
    assert_eq!(
        b["id"],
        "kv_write/tokens=64,heads_kv=8,head_dim=128,page_size=16,kv_fp8=1/bf16/hotpath"
    );
    assert_eq!(b["bytes"].as_u64(), Some(393_280));
    assert_eq!(b["correctness"]["pass"], true, "{}", b["correctness"]);
    assert_eq!(b["fp8_encoding"], "e4m3");
    let b = cpu_benchmark_with("kv_read", "tokens=64", &["--kv-dtype", "fp8"]);
    assert_eq!(b["correctness"]["pass"], true, "{}", b["correctness"]);
    assert_eq!(b["fp8_encoding"], "e4m3");
    // The cache in the dtype keeps the id it always had, and records no fp8 encoding.
    let b = cpu_benchmark_with("kv_read", "tokens=64", &["--kv-dtype", "bf16"]);
    assert!(b.get("fp8_encoding").is_none(), "{b}");
    assert_eq!(
        b["id"],
        "kv_read/tokens=64,heads_kv=8,head_dim=128,page_size=16/bf16/hotpath"
    );
    bad(
        &["--op", "gemm", "--shape", "m=1,n=8,k=8", "--kv-dtype", "fp8"],
        "--kv-dtype applies to the ops on the KV cache (attn_decode, attn_mla_decode, kv_write, kv_read) and to --model; got --op gemm",
    );
    bad(
        &[
            "--op",
            "kv_write",
            "--shape",
            "tokens=4",
            "--kv-dtype",
            "f16",
        ],
        "--kv-dtype f16 under --dtype bf16",
    );
}

#[test]
fn mla_decode_runs_on_the_cpu_and_passes_its_check() {
    // The small shape, bf16: FLOPs 2·2·16·300·(64 + 32) + 2·2·16·300·64 = 1,843,200 +
    // 1,228,800 = 3,072,000; bytes: the latent rows once, 2·300·96·2 = 115,200, + q
    // 2·16·96·2 = 6,144 + o 2·16·64·2 = 4,096 = 125,440. Under kv_fp8=1 the rows are 57,600
    // bytes and the scale 4: 67,844.
    let shape = "batch=2,context=300,heads_q=16,kv_lora=64,rope_dim=32,page_size=64";
    let mut args = run_cpu(&[
        "--op",
        "attn_mla_decode",
        "--shape",
        shape,
        "--format",
        "json",
    ]);
    args.extend(FAST.iter().map(|s| s.to_string()));
    let o = hotpath(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let b = v["benchmarks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["op"] == "attn_mla_decode")
        .cloned()
        .unwrap_or_else(|| panic!("no attn_mla_decode benchmark in {v}"));
    assert_eq!(
        b["id"],
        format!("attn_mla_decode/{shape}/bf16/hotpath").as_str()
    );
    assert_eq!(
        (b["flops"].as_u64(), b["bytes"].as_u64()),
        (Some(3_072_000), Some(125_440))
    );
    assert_eq!(b["correctness"]["pass"], true, "{}", b["correctness"]);
    let b = cpu_benchmark_with("attn_mla_decode", shape, &["--kv-dtype", "fp8"]);
    assert_eq!(b["bytes"].as_u64(), Some(67_844));
    assert_eq!(b["correctness"]["pass"], true, "{}", b["correctness"]);
    // Bad widths: one sentence on stderr, exit 2.
    let o = hotpath(&[
        "run",
        "--backend",
        "cpu",
        "--op",
        "attn_mla_decode",
        "--shape",
        "context=64,kv_lora=24",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(
        e.contains("kv_lora a multiple of 16") && e.trim().lines().count() == 1,
        "{e}"
    );
}

#[test]
fn decode_over_an_fp8_cache_runs_on_the_cpu_and_passes_its_check() {
    // batch 2, L 100, hq 32, hkv 8, d 128, bf16 q/o, fp8 cache: FLOPs 4·2·32·100·128 =
    // 3,276,800; bytes 2·100·8·128·2·1 (codes) + 2·32·128·2·2 (q, o) + 8·8 (scales) =
    // 409,600 + 32,768 + 64 = 442,432.
    let b = cpu_benchmark("attn_decode", "batch=2,context=100,kv_fp8=1");
    assert_eq!(
        b["id"],
        "attn_decode/batch=2,context=100,heads_q=32,heads_kv=8,head_dim=128,page_size=16,kv_fp8=1/bf16/hotpath"
    );
    assert_eq!(
        (b["flops"].as_u64(), b["bytes"].as_u64()),
        (Some(3_276_800), Some(442_432))
    );
    assert_eq!(b["correctness"]["pass"], true, "{}", b["correctness"]);
    // --kv-dtype says the same.
    let b = cpu_benchmark_with("attn_decode", "batch=2,context=100", &["--kv-dtype", "fp8"]);
    assert_eq!(
        b["id"],
        "attn_decode/batch=2,context=100,heads_q=32,heads_kv=8,head_dim=128,page_size=16,kv_fp8=1/bf16/hotpath"
    );
    assert_eq!(b["correctness"]["pass"], true, "{}", b["correctness"]);
    bad(
        &["--op", "attn_decode", "--shape", "context=64,kv_fp8=2"],
        "kv_fp8=2",
    );
}

#[test]
fn quantized_gemvs_refuse_bad_groups_and_f32() {
    bad(
        &["--op", "gemv_w4a16", "--shape", "m=1,n=8,k=128,group=48"],
        "gemv_w4a16 takes group=32, 64 or 128; got group=48",
    );
    bad(
        &["--op", "gemv_w4a16", "--shape", "m=1,n=8,k=100,group=32"],
        "gemv_w4a16 needs k to be a multiple of group; got k=100, group=32",
    );
    bad(
        &[
            "--op",
            "gemv_fp8w",
            "--shape",
            "m=1,n=8,k=64",
            "--dtype",
            "f32",
        ],
        "gemv_fp8w",
    );
}

#[test]
fn add_rmsnorm_runs_on_the_cpu_and_passes_its_check() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("n.json");
    let out_s = out.to_string_lossy().into_owned();
    let mut args = run_cpu(&[
        "--op",
        "add_rmsnorm",
        "--shape",
        "tokens=64,hidden=4096",
        "--out",
        &out_s,
    ]);
    args.extend(FAST.iter().map(|s| s.to_string()));
    let o = hotpath(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("tokens=64,hidden=4096"), "{stdout}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let b = v["benchmarks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["op"] == "add_rmsnorm")
        .expect("an add_rmsnorm benchmark");
    assert_eq!(b["id"], "add_rmsnorm/tokens=64,hidden=4096/bf16/hotpath");
    // 5·64·4096 FLOPs; (4·64·4096 + 4096)·2 bytes.
    assert_eq!(b["flops"], 1_310_720);
    assert_eq!(b["bytes"], 2_105_344);
    assert_eq!(b["status"], "ok");
    assert_eq!(b["correctness"]["pass"], true, "{}", b["correctness"]);
    // Both halves of out[2,64,4096] are checked.
    assert_eq!(b["correctness"]["total_elements"], 2 * 64 * 4096);
    assert_eq!(b["correctness"]["checked_elements"], 2 * 64 * 4096);
}

#[test]
fn add_rmsnorm_refuses_fp8_and_a_zero_width() {
    bad(
        &[
            "--op",
            "add_rmsnorm",
            "--shape",
            "tokens=4,hidden=64",
            "--dtype",
            "fp8",
        ],
        "the cpu backend does not run add_rmsnorm in fp8_e4m3",
    );
    bad(
        &["--op", "add_rmsnorm", "--shape", "tokens=4,hidden=0"],
        "hidden=0",
    );
    bad(
        &["--op", "add_rmsnorm", "--shape", "tokens=4"],
        "needs shape key 'hidden' (elements per row (model width))",
    );
}

/// Runs `--op op --shape shape` on the CPU (default dtype, bf16) and returns its benchmark,
/// after checking it ran and passed.
fn run_one_on_the_cpu(op: &str, shape: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let out_s = out.to_string_lossy().into_owned();
    let mut args = run_cpu(&["--op", op, "--shape", shape, "--out", &out_s]);
    args.extend(FAST.iter().map(|s| s.to_string()));
    let o = hotpath(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let b = v["benchmarks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["op"] == op)
        .unwrap_or_else(|| panic!("a {op} benchmark"))
        .clone();
    assert_eq!(b["status"], "ok");
    assert_eq!(b["correctness"]["pass"], true, "{}", b["correctness"]);
    b
}

#[test]
fn silu_mul_runs_on_the_cpu_and_passes_its_check() {
    let b = run_one_on_the_cpu("silu_mul", "tokens=64,intermediate=14336");
    assert_eq!(
        b["id"],
        "silu_mul/tokens=64,intermediate=14336/bf16/hotpath"
    );
    // 4·64·14336 FLOPs; 3·64·14336·2 bytes (gate and up read, out written).
    assert_eq!(b["flops"], 3_670_016);
    assert_eq!(b["bytes"], 5_505_024);
    assert_eq!(b["correctness"]["total_elements"], 64 * 14336);
    assert_eq!(b["correctness"]["checked_elements"], 64 * 14336);
}

#[test]
fn rope_runs_on_the_cpu_and_passes_its_check() {
    let b = run_one_on_the_cpu("rope", "tokens=64");
    assert_eq!(
        b["id"],
        "rope/tokens=64,heads_q=32,heads_kv=8,head_dim=128,rotary_dim=128,max_position=32768/bf16/hotpath"
    );
    // 3·64·40·128 FLOPs; 2·64·40·128·2 + 4·64 + 4·64·128 bytes.
    assert_eq!(b["flops"], 983_040);
    assert_eq!(b["bytes"], 1_343_744);
    assert_eq!(b["correctness"]["total_elements"], 64 * 40 * 128);
    // GPT-J pairs and a partial rotation pass too.
    let b = run_one_on_the_cpu("rope", "tokens=16,rotary_dim=64,gptj=1");
    assert_eq!(b["correctness"]["checked_elements"], 16 * 40 * 128);
}

#[test]
fn silu_mul_and_rope_refuse_bad_shapes_and_fp8() {
    bad(
        &[
            "--op",
            "silu_mul",
            "--shape",
            "tokens=4,intermediate=8",
            "--dtype",
            "fp8",
        ],
        "the cpu backend does not run silu_mul in fp8_e4m3",
    );
    bad(
        &["--op", "silu_mul", "--shape", "tokens=4"],
        "needs shape key 'intermediate'",
    );
    bad(
        &["--op", "rope", "--shape", "tokens=4,rotary_dim=127"],
        "rotary_dim=127 is odd; rope rotates pairs of elements, so rotary_dim must be even",
    );
    bad(
        &[
            "--op",
            "rope",
            "--shape",
            "tokens=4,head_dim=64,rotary_dim=128",
        ],
        "rotary_dim=128 exceeds head_dim=64",
    );
    bad(
        &["--op", "rope", "--shape", "tokens=4,gptj=2"],
        "gptj=2 is not valid for rope; accepted: 0 or 1",
    );
}

#[test]
fn formats_and_listing_commands() {
    let o = hotpath(&["devices"]);
    assert_eq!(o.status.code(), Some(0));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.contains("cpu: 1 device"), "{text}");
    assert!(
        text.contains(
            "cuda: unavailable: CUDA driver not found (looked for /nonexistent/libcuda.so, from HOTPATH_CUDA_LIBRARY)"
        ),
        "{text}"
    );

    let o = hotpath(&["list", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(
        v["ops"].as_array().unwrap().len(),
        hotpath_core::op::OpKind::ALL.len(),
        "every op of the registry"
    );
    assert!(v["hardware"]
        .as_array()
        .unwrap()
        .iter()
        .any(|h| h["id"] == "h100-sxm"));

    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c.json");
    let out_s = out.to_string_lossy().into_owned();
    let mut args = run_cpu(&[
        "--op",
        "copy",
        "--shape",
        "elements=1M",
        "--dtype",
        "f32",
        "--format",
        "csv",
        "--out",
        &out_s,
    ]);
    args.extend(FAST.iter().map(|s| s.to_string()));
    let o = hotpath(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let csv = String::from_utf8_lossy(&o.stdout);
    let mut lines = csv.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("id,op,shape,dtype,impl,status,median_s"));
    assert!(csv.contains("copy/elements=1048576/f32/hotpath"), "{csv}");
    assert!(Path::new(&out).exists());
}

#[test]
fn kernels_compile_rejects_unknown_targets_and_cuda_without_a_driver_says_why() {
    assert_bad_input(
        &["kernels", "compile", "--target", "hopper"],
        "unknown target 'hopper'",
    );
    // No NVIDIA driver (hidden by `hotpath`'s HOTPATH_CUDA_LIBRARY, so on a GPU node too):
    // one sentence, exit 2, the reason named.
    assert_bad_input(
        &[
            "run",
            "--backend",
            "cuda",
            "--op",
            "copy",
            "--shape",
            "elements=1K",
        ],
        "backend cuda is unavailable: CUDA driver not found (looked for /nonexistent/libcuda.so, from HOTPATH_CUDA_LIBRARY)",
    );
}

#[test]
fn report_writes_markdown_and_self_contained_html() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rep");
    let o = hotpath(&[
        "report",
        "results/cpu-epyc-2core-quick.json",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("roofline") && !html.contains("<script"));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("### gemv") && md.contains("% of measured roof"));
    assert_bad_input(&["report", "/nonexistent/r.json"], "/nonexistent/r.json");
}

#[test]
fn a_hardware_file_sizes_the_cold_cache_in_workers_and_in_process() {
    // A site file claiming a 200 MB last-level cache: the copy of 1 Mi f32 (8,388,608 B a
    // set, read + write) must rotate past 3 × max(200 MB, the runtime's LLC), in a worker
    // and in process alike, and the results name the file by its path.
    let dir = tempfile::tempdir().unwrap();
    let hw = dir.path().join("big-llc.toml");
    std::fs::write(
        &hw,
        "id = \"big-llc-cpu\"\nname = \"A CPU said to have a 200 MB cache\"\nvendor = \"cpu\"\nkind = \"cpu\"\nmatch = []\nllc_bytes = 200000000\n",
    )
    .unwrap();
    let hw_s = hw.to_string_lossy().into_owned();
    for isolation in ["process", "none"] {
        let out = dir.path().join(format!("{isolation}.json"));
        let out_s = out.to_string_lossy().into_owned();
        let mut args = run_cpu(&[
            "--op",
            "copy",
            "--shape",
            "elements=1M",
            "--dtype",
            "f32",
            "--hardware",
            &hw_s,
            "--isolation",
            isolation,
            "--out",
            &out_s,
        ]);
        args.extend(FAST.iter().map(|s| s.to_string()));
        let o = hotpath(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(o.status.code(), Some(0), "{isolation}: {}", stderr(&o));
        let f: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        assert_eq!(f["hardware"]["sources"]["file"], hw_s.as_str());
        let runtime = f["device"]["llc_bytes"].as_u64().unwrap();
        let llc = runtime.max(200_000_000);
        let cache = &f["benchmarks"][0]["measurement"]["cache"];
        assert_eq!(
            cache["llc_bytes"].as_u64(),
            Some(llc),
            "{isolation}: {cache}"
        );
        let sets = (3 * llc).div_ceil(8_388_608);
        assert_eq!(cache["sets"].as_u64(), Some(sets), "{isolation}: {cache}");
        if runtime < 200_000_000 {
            let source = cache["llc_source"].as_str().unwrap();
            assert!(
                source.starts_with(&format!("{hw_s} llc_bytes (200 MB)")),
                "{isolation}: {source}"
            );
        }
    }
}
