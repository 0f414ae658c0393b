//! Floors pinned to numbers worked out by hand (in the comments), configs checked against
//! the parameter counts their model cards publish, and every bad config refused by name.

use std::collections::BTreeMap;

use super::floors::{analyze, Roofing};
use super::step::{step, Category, ModelRun, Phase};
use super::{builtin, config, resolve, ModelConfig};
use hotpath_core::dtype::DType;
use hotpath_core::roofline::{Bound, Roofs};

fn h100() -> Roofs {
    Roofs {
        mem_bytes_per_s: Some(3.35e12),
        peak_flops: BTreeMap::from([
            ("bf16".to_string(), 989.4e12),
            ("fp8_e4m3".to_string(), 1978.9e12),
        ]),
        set_by: BTreeMap::new(),
    }
}

fn run(id: &str, batch: u64, context: u64, tp: u64) -> ModelRun {
    let model = resolve(id).unwrap();
    ModelRun::new(model, Phase::Decode, batch, context, DType::Bf16, None, tp).unwrap()
}

fn spec_only(roofs: Roofs) -> Roofing<'static> {
    Roofing {
        hardware_id: "h100-sxm".into(),
        spec: roofs,
        measured: None,
        benchmarks: None,
    }
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs()
}

#[test]
fn llama_3_1_8b_decode_floor_on_h100_by_hand() {
    // Per layer, bf16 (2 B): qkv (32 + 2·8)·128 = 6144 × 4096 → 50,331,648 B;
    // o 4096 × 4096 → 33,554,432; gate_up 2·14336 × 4096 → 234,881,024;
    // down 4096 × 14336 → 117,440,512; two norms 2·4096·2 = 16,384.
    // Sum 436,224,000 × 32 layers = 13,959,168,000.
    // + final norm 8,192 + one embedding row 8,192 + LM head 128256·4096·2 = 1,050,673,152
    // = 15,009,857,536 B of weights (7.50 B params, docs/floors.md's ≈ 15.0 GB).
    // KV read: 4096 · 32 · 2 · 8 · 128 · 2 = 536,870,912 B; KV written: 32·2·8·128·2 = 131,072.
    // Total 15,546,859,520 B / 3.35e12 B/s = 4.640854 ms (docs/floors.md's ≈ 4.64 ms).
    // FLOPs: 2 · 7,504,658,432 linear params = 15,009,316,864, + attention
    // 4 · 4096 · 32 · 128 · 32 = 2,147,483,648 → 17,156,800,512; / 989.4e12 = 17.34 µs.
    let r = analyze(
        &run("llama-3.1-8b", 1, 4096, 1),
        &[Phase::Decode],
        &spec_only(h100()),
    )
    .unwrap();
    let d = r.decode.unwrap();
    assert_eq!(d.weight_bytes, 15_009_857_536.0);
    assert_eq!(d.kv_bytes, 536_870_912.0);
    assert_eq!(d.kv_write_bytes, 131_072.0);
    assert_eq!(d.bytes, 15_546_859_520.0);
    assert_eq!(d.flops, 17_156_800_512.0);
    assert_eq!(d.spec.bound, Bound::Memory);
    assert!(
        close(d.spec.floor_s.unwrap(), 4.640_853_588e-3, 1e-9),
        "{:?}",
        d.spec
    );
    assert!(close(d.spec.compute_floor_s.unwrap(), 17.340_611e-6, 1e-6));
    assert!(close(
        d.tokens_per_s_per_seq.unwrap(),
        1.0 / 4.640_853_588e-3,
        1e-9
    ));
    // Per-op rows add up to the totals, and qkv's per-layer bytes are as above.
    let decode_ops: Vec<_> = r
        .per_op
        .iter()
        .filter(|o| o.phase == Phase::Decode)
        .collect();
    assert_eq!(decode_ops.iter().map(|o| o.bytes).sum::<f64>(), d.bytes);
    let qkv = decode_ops.iter().find(|o| o.name == "qkv").unwrap();
    assert_eq!((qkv.bytes_each, qkv.count), (50_331_648.0, 32));
    assert_eq!(qkv.kernel.as_deref(), Some("gemv/m=1,n=6144,k=4096/bf16"));
}

#[test]
fn llama_3_1_8b_prefill_floor_by_hand() {
    // P = 4096, B = 1. Per-layer linear params 218,103,808 (436,207,616 B / 2) × 32 = 6,979,321,856;
    // 2 · 4096 · 6,979,321,856 = 57,174,604,644,352. LM head on the last token only:
    // 2 · 128256 · 4096 = 1,050,673,152. Causal attention 2 · 4096² · 32 · 128 · 32
    // = 4,398,046,511,104. Total 61,573,701,828,608 FLOPs / 989.4e12 = 62.233 ms,
    // compute-bound (bytes: 15.58 GB / 3.35e12 = 4.65 ms).
    let mut r = run("llama-3.1-8b", 1, 4096, 1);
    r.phase = Phase::Prefill;
    let rep = analyze(&r, &[Phase::Prefill], &spec_only(h100())).unwrap();
    let p = rep.prefill.unwrap();
    assert_eq!(p.tokens, 4096);
    assert_eq!(p.flops, 61_573_701_828_608.0);
    assert_eq!(p.spec.bound, Bound::Compute);
    assert!(
        close(p.spec.floor_s.unwrap(), 62.233_375_6e-3, 1e-8),
        "{:?}",
        p.spec
    );
    // Weights as in decode less the one embedding row, plus 4096 rows; KV written for
    // 4096 tokens: 4096 · 32 · 2 · 8 · 128 · 2 = 536,870,912.
    assert_eq!(
        p.weight_bytes,
        15_009_857_536.0 - 8_192.0 + 4096.0 * 8_192.0
    );
    assert_eq!(p.kv_write_bytes, 536_870_912.0);
    assert_eq!(p.kv_bytes, 0.0);
}

#[test]
fn llama_3_1_70b_kv_and_tensor_parallel_by_hand() {
    // KV per token: 80 layers · 2 · 8 kv heads · 128 · 2 B = 327,680 B (320 KiB);
    // one 4096-token sequence holds 1,342,177,280 B.
    let m = resolve("llama-3.1-70b").unwrap();
    assert_eq!(m.kv_bytes_per_token(2), 327_680);
    let one = analyze(
        &run("llama-3.1-70b", 1, 4096, 1),
        &[Phase::Decode],
        &spec_only(h100()),
    )
    .unwrap()
    .decode
    .unwrap();
    assert_eq!(one.kv_bytes, 1_342_177_280.0);
    // Per layer: qkv (64 + 16)·128 = 10240 × 8192 → 167,772,160 B; o 134,217,728;
    // gate_up 2·28672·8192·2 = 939,524,096; down 469,762,048; norms 32,768;
    // = 1,711,308,800 × 80 = 136,904,704,000; + final norm 16,384 + embedding row 16,384
    // + LM head 128256 · 8192 · 2 = 2,101,346,304 → 139,006,083,072 B.
    assert_eq!(one.weight_bytes, 139_006_083_072.0);

    // TP 8, per GPU: qkv (8 + 2)·128 = 1280 × 8192 → 20,971,520; o 8192 × 1024 →
    // 16,777,216; gate_up 7168 × 8192 → 117,440,512; down 8192 × 3584 → 58,720,256;
    // norms (replicated) 32,768 → 213,942,272 × 80 = 17,115,381,760; + final norm 16,384
    // + embedding row 16,384 / 8 = 2,048 + LM head 16032 × 8192 × 2 = 262,668,288
    // → 17,378,068,480 B. KV: 4096 · 80 · 2 · 1 · 128 · 2 = 167,772,160; written 40,960.
    // Total 17,545,881,600 B / 3.35e12 = 5.237577 ms per GPU.
    let tp8 = analyze(
        &run("llama-3.1-70b", 1, 4096, 8),
        &[Phase::Decode],
        &spec_only(h100()),
    )
    .unwrap();
    assert!(tp8.notes.iter().any(|n| n.contains("not modelled")));
    let d = tp8.decode.unwrap();
    assert_eq!(d.weight_bytes, 17_378_068_480.0);
    assert_eq!(d.kv_bytes, 167_772_160.0);
    assert_eq!(d.kv_write_bytes, 40_960.0);
    assert!(close(d.spec.floor_s.unwrap(), 5.237_576_597e-3, 1e-9));
}

#[test]
fn mixtral_reads_only_the_experts_it_routes_to() {
    // B = 1: E·(1 − (1 − 2/8)^1) = 2 experts per layer. Per layer: qkv 50,331,648 B,
    // o 33,554,432, router 8·4096·2 = 65,536, experts 2 × (234,881,024 + 117,440,512)
    // = 704,643,072, norms 16,384 → 788,611,072 × 32 = 25,235,554,304; + final norm 8,192
    // + embedding row 8,192 + LM head 32000·4096·2 = 262,144,000 → 25,497,714,688 B.
    // + KV 536,870,912 + 131,072 written = 26,034,716,672 B / 3.35e12 = 7.771557 ms.
    // FLOPs per layer 2·(25,165,824 + 16,777,216 + 32,768) + 2·2·176,160,768 + attention
    // 4·4096·32·128 = 83,951,616 + 704,643,072 + 67,108,864 = 855,703,552; × 32
    // = 27,382,513,664 + LM head 2·131,072,000 = 27,644,657,664.
    let r = analyze(
        &run("mixtral-8x7b", 1, 4096, 1),
        &[Phase::Decode],
        &spec_only(h100()),
    )
    .unwrap();
    let d = r.decode.unwrap();
    assert_eq!(d.weight_bytes, 25_497_714_688.0);
    assert_eq!(d.bytes, 26_034_716_672.0);
    assert_eq!(d.flops, 27_644_657_664.0);
    assert!(close(d.spec.floor_s.unwrap(), 7.771_557_215e-3, 1e-9));
    // The two experts run as one moe_gemm of the step's routing.
    let gate_up = r.per_op.iter().find(|o| o.name == "gate_up").unwrap();
    assert_eq!(gate_up.calls, 1.0);
    assert_eq!(gate_up.bytes_each, 2.0 * 234_881_024.0);
    assert_eq!(
        gate_up.kernel.as_deref(),
        Some("moe_gemm/tokens=1,experts=8,top_k=2,n=28672,k=4096,zipf_x100=0,route_seed=0/bf16")
    );

    // B = 8: D = 8·(1 − 0.75^8) = 8·(1 − 0.1001129150390625) = 58975/8192 = 7.1990966796875
    // experts per layer; they read 7.1990966796875 × 352,321,536 = 2,536,396,800 B per
    // layer. Per layer 50,331,648 + 33,554,432 + 65,536 + 16,384 + 2,536,396,800
    // = 2,620,364,800 × 32 = 83,851,673,600 + final norm 8,192 + 8 embedding rows 65,536
    // + LM head 262,144,000 = 84,113,891,328 B.
    // KV: 8 × 536,870,912 = 4,294,967,296; written 8 × 131,072 = 1,048,576.
    let r = analyze(
        &run("mixtral-8x7b", 8, 4096, 1),
        &[Phase::Decode],
        &spec_only(h100()),
    )
    .unwrap();
    let d = r.decode.unwrap();
    let distinct = 8.0 * (1.0 - 0.75f64.powi(8));
    assert_eq!(distinct, 7.199_096_679_687_5);
    let per_layer = 50_331_648.0 + 33_554_432.0 + 65_536.0 + 16_384.0 + distinct * 352_321_536.0;
    assert!(close(
        d.weight_bytes,
        per_layer * 32.0 + 8_192.0 + 65_536.0 + 262_144_000.0,
        1e-12
    ));
    assert_eq!(d.weight_bytes, 84_113_891_328.0);
    assert_eq!(d.kv_bytes, 4_294_967_296.0);
    let gate_up = r.per_op.iter().find(|o| o.name == "gate_up").unwrap();
    assert_eq!(
        gate_up.kernel.as_deref(),
        Some("moe_gemm/tokens=8,experts=8,top_k=2,n=28672,k=4096,zipf_x100=0,route_seed=0/bf16")
    );
}

#[test]
fn expected_distinct_experts() {
    let m = resolve("mixtral-8x7b").unwrap().moe.unwrap();
    assert_eq!(m.expected_distinct(1), 2.0);
    // 8·(1 − 0.75²) = 8 · 0.4375 = 3.5.
    assert_eq!(m.expected_distinct(2), 3.5);
    assert!(close(m.expected_distinct(4096), 8.0, 1e-12));
}

#[test]
fn fp8_weights_keep_the_head_in_bf16_and_use_the_fp8_peak() {
    // Llama-3.1-8B, fp8 weights, bf16 KV: linear layers 13,958,643,712 / 2 = 6,979,321,856 B
    // and an f32 scale per output row, 4·(6144 + 4096 + 28672 + 4096)·32 = 5,505,024 B;
    // norms 524,288 + 8,192, embedding row 8,192, LM head bf16 1,050,673,152
    // → 8,036,040,704 B of weights.
    let model = resolve("llama-3.1-8b").unwrap();
    let run = ModelRun::new(model, Phase::Decode, 1, 4096, DType::Fp8E4m3, None, 1).unwrap();
    assert_eq!(run.kv_dtype, DType::Bf16);
    let d = analyze(&run, &[Phase::Decode], &spec_only(h100()))
        .unwrap()
        .decode
        .unwrap();
    assert_eq!(d.weight_bytes, 8_036_040_704.0);
    // Compute floor: 13,958,643,712 linear FLOPs at fp8 + (2,101,346,304 LM head
    // + 2,147,483,648 attention) at bf16.
    let want = 13_958_643_712.0 / 1978.9e12 + (1_050_673_152.0 + 2_147_483_648.0) / 989.4e12;
    assert!(close(d.spec.compute_floor_s.unwrap(), want, 1e-12));
}

#[test]
fn configs_match_published_parameter_counts() {
    // Model cards: Llama-3.2-1B 1.24 B, 3.2-3B 3.21 B, 3.1-8B 8.03 B, 70B 70.6 B, 405B
    // 405.9 B, Mistral-7B 7.25 B, Mixtral-8x7B 46.7 B, Qwen2.5-7B 7.61 B, Qwen2.5-72B 72.7 B.
    let want = [
        ("llama-3.2-1b", 1_235_814_400u64),
        ("llama-3.2-3b", 3_212_749_824),
        ("llama-3.1-8b", 8_030_261_248),
        ("llama-3.1-70b", 70_553_706_496),
        ("llama-3.1-405b", 405_853_388_800),
        ("mistral-7b", 7_248_023_552),
        ("mixtral-8x7b", 46_702_792_704),
        ("qwen2.5-7b", 7_615_616_512),
        ("qwen2.5-72b", 72_706_203_648),
        ("deepseek-v3", 671_026_404_352),
        ("qwen3-30b-a3b", 30_532_110_336),
    ];
    let all = builtin::all();
    assert_eq!(all.len(), want.len());
    for (id, params) in want {
        let m = all.iter().find(|m| m.id == id).unwrap();
        assert_eq!(m.total_params(), params, "{id}");
    }
}

fn fixture(name: &str) -> String {
    format!(
        "{}/../../tests/fixtures/models/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

fn same_shapes(a: &ModelConfig, b: &ModelConfig) {
    let strip = |m: &ModelConfig| ModelConfig {
        id: String::new(),
        source: String::new(),
        ..m.clone()
    };
    assert_eq!(strip(a), strip(b));
}

#[test]
fn hugging_face_configs_parse_to_the_built_in_shapes() {
    for (file, id) in [
        ("llama-3.1-8b.json", "llama-3.1-8b"),
        ("mixtral-8x7b.json", "mixtral-8x7b"),
        ("qwen2.5-7b.json", "qwen2.5-7b"),
    ] {
        let parsed = resolve(&fixture(file)).unwrap();
        same_shapes(&parsed, &resolve(id).unwrap());
        assert_eq!(parsed.id, fixture(file));
    }
    // Mistral-7B-v0.1: sliding window 4096, so decode at 8192 reads 4096 tokens of KV:
    // 4096 · 32 · 2 · 8 · 128 · 2 = 536,870,912 B.
    let v01 = resolve(&fixture("mistral-7b-v0.1.json")).unwrap();
    assert_eq!(v01.sliding_window, Some(4096));
    let r = ModelRun::new(v01, Phase::Decode, 1, 8192, DType::Bf16, None, 1).unwrap();
    let s = step(&r, Phase::Decode).unwrap();
    assert_eq!(s.bytes_of(Category::KvRead), 536_870_912.0);
}

#[test]
fn bad_configs_name_the_field() {
    let cases = [
        ("missing-hidden-size.json", "field 'hidden_size' is missing"),
        ("zero-heads.json", "field 'num_attention_heads' is 0"),
        (
            "heads-not-dividing-hidden.json",
            "does not divide hidden_size 4100",
        ),
        (
            "kv-heads-not-dividing.json",
            "num_key_value_heads 5 does not divide",
        ),
        ("string-layers.json", "field 'num_hidden_layers' is \"32\""),
        (
            "experts-without-top-k.json",
            "'num_experts_per_tok' is missing",
        ),
        ("experts-every-other-layer.json", "'moe_layer_freq' is 2"),
        ("tie-unknown-type.json", "'tie_word_embeddings' is missing"),
        ("truncated.json", "is not valid JSON"),
    ];
    for (file, needle) in cases {
        let err = resolve(&fixture(&format!("bad/{file}"))).unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, hotpath_core::Error::BadInput(_)),
            "{file}: {text}"
        );
        assert!(text.contains(needle), "{file}: {text}");
        assert!(!text.contains('\n'), "{file}: one line: {text}");
    }
    let err = config::parse("[1, 2]", "x.json").unwrap_err().to_string();
    assert!(err.contains("expected a JSON object"), "{err}");
    let err = resolve("llama-9").unwrap_err().to_string();
    assert!(
        err.contains("unknown model 'llama-9'") && err.contains("llama-3.1-8b"),
        "{err}"
    );
    let err = resolve("/no/such/config.json").unwrap_err().to_string();
    assert!(err.contains("does not exist"), "{err}");
}

#[test]
fn tensor_parallel_must_divide_heads() {
    let m = resolve("llama-3.1-8b").unwrap();
    let err = ModelRun::new(m.clone(), Phase::Decode, 1, 1, DType::Bf16, None, 3)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("--tp 3") && err.contains("num_attention_heads 32"),
        "{err}"
    );
    // 16 divides the 32 query heads but not the 8 KV heads.
    let err = ModelRun::new(m.clone(), Phase::Decode, 1, 1, DType::Bf16, None, 16)
        .unwrap_err()
        .to_string();
    assert!(err.contains("num_key_value_heads 8"), "{err}");
    let err = ModelRun::new(m, Phase::Decode, 0, 1, DType::Bf16, None, 1)
        .unwrap_err()
        .to_string();
    assert!(err.contains("--batch 0"), "{err}");
}

#[test]
fn composed_time_needs_every_kernel_and_names_the_missing_ones() {
    // The committed CPU quick run holds attn_decode at Llama-3.1-8B's decode shape but not
    // its fused projections nor a one-token kv_write, so the step cannot be composed.
    let text = include_str!("../../../results/cpu-epyc-2core-quick.json");
    let file: hotpath_core::results::ResultsFile = serde_json::from_str(text).unwrap();
    let r = analyze(
        &run("llama-3.1-8b", 1, 4096, 1),
        &[Phase::Decode],
        &Roofing::results(&file),
    )
    .unwrap();
    let c = r.decode.as_ref().unwrap().composed.as_ref().unwrap();
    assert_eq!(c.step_s, None);
    assert_eq!((c.mbu, c.mfu), (None, None));
    assert!(
        c.missing
            .contains(&"gemv/m=1,n=6144,k=4096/bf16".to_string()),
        "{:?}",
        c.missing
    );
    assert!(c
        .missing
        .contains(&"kv_write/tokens=1,heads_kv=8,head_dim=128,page_size=16/bf16".to_string()));
    // The attention kernel it does hold is found, with its fastest implementation.
    let attn = r.per_op.iter().find(|o| o.name == "attention").unwrap();
    let k = attn.measured.as_ref().unwrap();
    let want = file
        .benchmarks
        .iter()
        .find(|b| b.id == k.id)
        .and_then(|b| b.time)
        .unwrap()
        .median_s;
    assert_eq!(k.median_s, want);
    assert_eq!(k.step_s, want * 32.0);
}

#[test]
fn hostile_model_records_in_results_files_are_errors_not_panics() {
    // A results file's `model` is read back without ModelRun::new; step() checks it again.
    let good = run("llama-3.1-8b", 1, 4096, 1);
    let mut cases = Vec::new();
    let mut r = good.clone();
    r.tp = 0;
    cases.push((r, "--tp 0"));
    let mut r = good.clone();
    r.model.num_key_value_heads = 0;
    cases.push((r, "'num_key_value_heads' is 0"));
    let mut r = good.clone();
    r.model.hidden_size = u64::MAX;
    cases.push((r, "absurd"));
    let mut r = good.clone();
    r.model.head_dim = 1 << 35;
    cases.push((r, "wider than"));
    let mut r = good;
    r.model.moe = Some(super::Moe {
        num_local_experts: 2,
        num_experts_per_tok: 3,
        expert_intermediate_size: None,
        shared_intermediate_size: 0,
        dense_layers: 0,
    });
    cases.push((r, "more than num_local_experts"));
    for (r, needle) in cases {
        let err = step(&r, Phase::Decode).unwrap_err().to_string();
        assert!(err.contains(needle), "{needle}: {err}");
        let err = analyze(&r, &[Phase::Decode], &spec_only(h100())).unwrap_err();
        assert!(matches!(err, hotpath_core::Error::BadInput(_)));
    }
}
