//! Mixtures of experts and latent attention in a step: DeepSeek-V3 and Qwen3-30B-A3B worked
//! by hand, expert parallelism, and the configs that describe them.

use super::floors::{analyze, Roofing};
use super::step::{step, Category, ModelRun, Phase};
use super::*;
use hotpath_core::dtype::DType;
use hotpath_core::roofline::Roofs;

fn h100() -> Roofs {
    Roofs {
        mem_bytes_per_s: Some(3.35e12),
        peak_flops: [("bf16".to_string(), 989.4e12)].into_iter().collect(),
        set_by: Default::default(),
    }
}

fn spec_only() -> Roofing<'static> {
    Roofing {
        hardware_id: "h100-sxm".into(),
        spec: h100(),
        measured: None,
        benchmarks: None,
    }
}

fn decode(id: &str, batch: u64, context: u64, tp: u64, ep: u64) -> ModelRun {
    ModelRun::new(
        resolve(id).unwrap(),
        Phase::Decode,
        batch,
        context,
        DType::Bf16,
        None,
        tp,
    )
    .unwrap()
    .with_ep(ep)
    .unwrap()
}

fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(1e-300)
}

#[test]
fn expected_distinct_experts_of_deepseek_v3_by_hand() {
    // E = 256, k = 8: each expert is missed by one token with probability 1 − 8/256 = 31/32,
    // by B tokens with (31/32)^B. B = 1: 256·(1/32) = 8 exactly. B = 2: 256·(1 − 961/1024)
    // = 256·63/1024 = 15.75. B = 32: (31/32)^32 = 0.362055…, 256·0.637945… = 163.3138….
    let m = resolve("deepseek-v3").unwrap().moe.unwrap();
    assert_eq!(m.expected_distinct(1), 8.0);
    assert_eq!(m.expected_distinct(2), 15.75);
    // (Compared to 1e-15: the compiler folds the constant powi with other rounding.)
    let want = 256.0 * (1.0 - (31.0f64 / 32.0).powi(32));
    assert!(close(m.expected_distinct(32), want, 1e-15));
    assert!(close(want, 163.313_845_950_383, 1e-12));
    // One GPU of eight under --ep 8 holds 32 experts: 32·0.637945… = 20.4142….
    assert!(close(m.expected_distinct_of(32, 32), want / 8.0, 1e-15));
    assert!(close(
        m.expected_distinct_of(32, 32),
        20.414_230_743_797_9,
        1e-12
    ));
}

#[test]
fn deepseek_v3_decode_floor_by_hand_and_every_row_a_kernel() {
    // B = 32, L = 4096, bf16, one GPU. Per layer (61), latent attention and norms:
    // q_a 1536·7168·2 = 22,020,096; q_a_norm 1536·2 = 3,072; q_b 24576·1536·2 = 75,497,472;
    // kv_a 576·7168·2 = 8,257,536; kv_a_norm 512·2 = 1,024; q_absorb 128·512·128·2
    // = 16,777,216; v_absorb the same; o 7168·16384·2 = 234,881,024; norms 2·7168·2 = 28,672
    // → 374,243,328 B. Dense MLP (layers 0-2): (36864·7168 + 7168·18432)·2 = 792,723,456.
    // Routed layers (58): router 256·7168·2 = 3,670,016; an expert (4096·7168 + 7168·2048)·2
    // = 88,080,384, D = 163.3138… of them, and the shared expert (the same size).
    // Per step: final norm 14,336, 32 embedding rows 458,752, LM head 129280·7168·2
    // = 1,853,358,080.
    let r = analyze(
        &decode("deepseek-v3", 32, 4096, 1, 1),
        &[Phase::Decode],
        &spec_only(),
    )
    .unwrap();
    let d_experts = 256.0 * (1.0 - (31.0f64 / 32.0).powi(32));
    let routed_layer = 3_670_016.0 + d_experts * 88_080_384.0 + 88_080_384.0;
    let weights = 61.0 * 374_243_328.0
        + 3.0 * 792_723_456.0
        + 58.0 * routed_layer
        + 14_336.0
        + 458_752.0
        + 1_853_358_080.0;
    let d = r.decode.as_ref().unwrap();
    assert!(
        close(d.weight_bytes, weights, 1e-12),
        "{} {weights}",
        d.weight_bytes
    );
    assert!(close(d.weight_bytes, 866_697_651_045.941, 1e-12));
    // The latent cache: 61 layers · 32 sequences · 4096 tokens · 576 · 2 B = 9,210,691,584,
    // read once for all 128 heads; written: 61 · 32 · 576 · 2 = 2,248,704.
    assert_eq!(d.kv_bytes, 9_210_691_584.0);
    assert_eq!(d.kv_write_bytes, 2_248_704.0);
    // FLOPs: 2·32 per weight of each projection, attention 2·32·128·4096·(576 + 512) per
    // layer, experts 2·32·8 per expert weight, the shared expert 2·32 per weight.
    let proj = 1536.0 * 7168.0
        + 24576.0 * 1536.0
        + 576.0 * 7168.0
        + 2.0 * 128.0 * 512.0 * 128.0
        + 7168.0 * 16384.0;
    let attn = 64.0 * proj + 2.0 * 32.0 * 128.0 * 4096.0 * 1088.0;
    let expert = 4096.0 * 7168.0 + 7168.0 * 2048.0;
    let routed = 64.0 * 256.0 * 7168.0 + 64.0 * 8.0 * expert + 64.0 * expert;
    let flops = 61.0 * attn
        + 3.0 * 64.0 * (36864.0 * 7168.0 + 7168.0 * 18432.0)
        + 58.0 * routed
        + 64.0 * 129_280.0 * 7168.0;
    assert_eq!(d.flops, flops);
    assert_eq!(d.flops, 4_570_914_750_464.0);
    // Memory-bound at 3.35 TB/s: (866,697,651,045.9 + 9,210,691,584 + 2,248,704) B
    // = 875,910,591,333.9 B → 261.466 ms.
    assert!(close(
        d.spec.floor_s.unwrap(),
        0.261_465_848_159_385_5,
        1e-9
    ));
    for op in r.per_op.iter() {
        assert!(op.kernel.is_some(), "{} has no kernel", op.name);
    }
    let row = |name: &str| r.per_op.iter().find(|o| o.name == name).unwrap();
    let gate_up = row("gate_up");
    assert_eq!(
        gate_up.kernel.as_deref(),
        Some("moe_gemm/tokens=32,experts=256,top_k=8,n=4096,k=7168,zipf_x100=0,route_seed=0/bf16")
    );
    assert_eq!((gate_up.count, gate_up.calls), (58, 1.0));
    assert!(close(gate_up.bytes_each, d_experts * 58_720_256.0, 1e-12));
    assert_eq!(row("dense_gate_up").count, 3);
    assert_eq!(
        row("shared_down").kernel.as_deref(),
        Some("gemm/m=32,n=7168,k=2048/bf16")
    );
    assert_eq!(
        row("attention").kernel.as_deref(),
        Some("attn_mla_decode/batch=32,context=4096,heads_q=128,kv_lora=512,rope_dim=64,page_size=64/bf16")
    );
    let q_absorb = row("q_absorb");
    assert_eq!(q_absorb.calls, 128.0);
    assert_eq!(
        q_absorb.kernel.as_deref(),
        Some("gemm/m=32,n=512,k=128/bf16")
    );
    assert_eq!(
        row("kv_write").kernel.as_deref(),
        Some("kv_write/tokens=32,heads_kv=1,head_dim=288,page_size=64/bf16")
    );
    assert_eq!(
        row("rope").kernel.as_deref(),
        Some("rope/tokens=32,heads_q=128,heads_kv=1,head_dim=64,rotary_dim=64,max_position=4097,gptj=1/bf16")
    );
}

#[test]
fn expert_parallelism_reads_one_gpus_experts_whole() {
    // --tp 8 --ep 8: each GPU holds 32 experts of the full width 2048 and touches
    // 32·(1 − (31/32)^32) = 20.414… of them: 20.414… · 88,080,384 B per routed layer, the same
    // expected bytes as 1/8 of every touched expert under --tp 8 alone. Each token's 8
    // picks put 1 on this GPU: moe_gemm over 32 tokens, 32 experts, top_k 1.
    let ep = step(&decode("deepseek-v3", 32, 4096, 8, 8), Phase::Decode).unwrap();
    let tp = step(&decode("deepseek-v3", 32, 4096, 8, 1), Phase::Decode).unwrap();
    let find =
        |s: &super::step::Step, name: &str| s.ops.iter().find(|o| o.name == name).unwrap().clone();
    let local = 32.0 * (1.0 - (31.0f64 / 32.0).powi(32));
    let g = find(&ep, "gate_up");
    assert!(close(g.bytes_each, local * 58_720_256.0, 1e-12));
    assert!(close(g.bytes_each, find(&tp, "gate_up").bytes_each, 1e-12));
    assert_eq!(
        g.kernel.unwrap().to_string(),
        "moe_gemm/tokens=32,experts=32,top_k=1,n=4096,k=7168,zipf_x100=0,route_seed=0/bf16"
    );
    // Under --tp 8 alone the experts are split: 256 experts of width 2048/8 = 256.
    assert_eq!(
        find(&tp, "down").kernel.unwrap().to_string(),
        "moe_gemm/tokens=32,experts=256,top_k=8,n=7168,k=256,zipf_x100=0,route_seed=0/bf16"
    );
    // Latent attention under --tp 8: 16 heads each, the whole latent cache on every GPU.
    assert_eq!(ep.bytes_of(Category::KvRead), 9_210_691_584.0);
    // --ep 16 does not divide k = 8: the 32·8/16 = 16 routed rows as single picks.
    let ep16 = step(&decode("deepseek-v3", 32, 4096, 8, 16), Phase::Decode).unwrap();
    assert_eq!(
        find(&ep16, "down").kernel.unwrap().to_string(),
        "moe_gemm/tokens=16,experts=16,top_k=1,n=7168,k=2048,zipf_x100=0,route_seed=0/bf16"
    );
}

#[test]
fn bad_expert_parallelism_is_refused_with_a_sentence() {
    let run = |id: &str, tp: u64| {
        ModelRun::new(
            resolve(id).unwrap(),
            Phase::Decode,
            1,
            64,
            DType::Bf16,
            None,
            tp,
        )
        .unwrap()
    };
    let e = run("deepseek-v3", 1).with_ep(3).unwrap_err().to_string();
    assert!(
        e.contains("--ep 3 does not divide") && e.contains("256"),
        "{e}"
    );
    let e = run("llama-3.1-8b", 1).with_ep(2).unwrap_err().to_string();
    assert!(e.contains("has none"), "{e}");
    let e = run("deepseek-v3", 1).with_ep(0).unwrap_err().to_string();
    assert!(e.contains("--ep 0 is out of range"), "{e}");
    // Qwen3-30B-A3B's experts are 768 wide: --tp 5 does not divide them (nor the heads).
    let e = ModelRun::new(
        resolve("qwen3-30b-a3b").unwrap(),
        Phase::Decode,
        1,
        64,
        DType::Bf16,
        None,
        5,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("--tp 5 does not divide"), "{e}");
}

#[test]
fn qwen3_30b_a3b_decode_by_hand() {
    // B = 1: 8 of 128 experts. Per layer: qkv (32 + 2·4)·128·2048·2 = 20,971,520; o 2048·4096·2
    // = 16,777,216; router 128·2048·2 = 524,288; 8 experts × (1536·2048 + 2048·768)·2
    // = 8 × 9,437,184 = 75,497,472; norms 8,192 → 113,778,688 × 48 = 5,461,377,024;
    // + final norm 4,096 + one embedding row 4,096 + LM head 151936·2048·2 = 622,329,856
    // → 6,083,715,072 B. KV: 48 · 4096 · 2 · 4 · 128 · 2 = 402,653,184.
    let r = analyze(
        &decode("qwen3-30b-a3b", 1, 4096, 1, 1),
        &[Phase::Decode],
        &spec_only(),
    )
    .unwrap();
    let d = r.decode.unwrap();
    assert_eq!(d.weight_bytes, 6_083_715_072.0);
    assert_eq!(d.kv_bytes, 402_653_184.0);
    let gate_up = r.per_op.iter().find(|o| o.name == "gate_up").unwrap();
    assert_eq!(
        gate_up.kernel.as_deref(),
        Some("moe_gemm/tokens=1,experts=128,top_k=8,n=1536,k=2048,zipf_x100=0,route_seed=0/bf16")
    );
    assert!(r.per_op.iter().all(|o| !o.name.starts_with("shared")));
}

#[test]
fn quantized_experts_run_one_gemv_per_touched_expert() {
    // fp8 weights: moe_gemm takes f16/bf16/f32, so each touched expert is a gemv_fp8w of
    // the average rows: B = 32 routes 256 rows over 163.31 experts, ⌈1.5675⌉ = 2 each.
    let run = ModelRun::new(
        resolve("deepseek-v3").unwrap(),
        Phase::Decode,
        32,
        4096,
        DType::Fp8E4m3,
        None,
        1,
    )
    .unwrap();
    let s = step(&run, Phase::Decode).unwrap();
    let g = s.ops.iter().find(|o| o.name == "gate_up").unwrap();
    assert_eq!(
        g.kernel.as_ref().unwrap().to_string(),
        "gemv_fp8w/m=2,n=4096,k=7168/bf16"
    );
    assert!(close(
        g.calls,
        256.0 * (1.0 - (31.0f64 / 32.0).powi(32)),
        1e-15
    ));
    // An fp8 expert: a byte a weight and an f32 scale per row.
    let d = g.calls;
    assert!(close(
        g.bytes_each,
        d * (4096.0 * 7168.0 + 4.0 * 4096.0),
        1e-12
    ));
}

#[test]
fn configs_of_moe_and_latent_models_parse_to_the_built_ins() {
    for (file, id) in [
        ("deepseek-v3.json", "deepseek-v3"),
        ("qwen3-30b-a3b.json", "qwen3-30b-a3b"),
    ] {
        let path = format!(
            "{}/../../tests/fixtures/models/{file}",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut parsed = resolve(&path).unwrap();
        let builtin = resolve(id).unwrap();
        parsed.id.clone_from(&builtin.id);
        parsed.source.clone_from(&builtin.source);
        assert_eq!(parsed, builtin, "{file}");
    }
    // Model cards: DeepSeek-V3 671 B (without its 14 B multi-token-prediction module),
    // Qwen3-30B-A3B 30.5 B. DeepSeek: 3 dense layers of 187,107,328 + 396,361,728 + 14,336,
    // 58 routed ones of 187,107,328 + 256 × 44,040,192 + 1,835,008 + 44,040,192 + 14,336,
    // embedding and head 2 × 926,679,040, final norm 7,168 → 671,026,404,352.
    let ds = resolve("deepseek-v3").unwrap();
    assert_eq!(ds.total_params(), 671_026_404_352);
    assert_eq!(
        resolve("qwen3-30b-a3b").unwrap().total_params(),
        30_532_110_336
    );
    // KV per token: 61 · 576 · 2 = 70,272 B (a GQA cache of 128 heads would be 4 MB).
    assert_eq!(ds.kv_bytes_per_token(2), 70_272);
}

#[test]
fn moe_and_latent_fields_that_cannot_be_modelled_are_refused_by_name() {
    let base = r#""hidden_size": 64, "num_hidden_layers": 4, "num_attention_heads": 4,
        "intermediate_size": 128, "vocab_size": 100, "tie_word_embeddings": false"#;
    let cases = [
        (
            r#""n_routed_experts": 8, "num_experts_per_tok": 2, "n_shared_experts": 1"#,
            "'n_shared_experts' needs moe_intermediate_size",
        ),
        (
            r#""num_experts": 8, "num_local_experts": 8, "num_experts_per_tok": 2"#,
            "both give an expert count",
        ),
        (
            r#""num_experts": 8, "num_experts_per_tok": 2, "mlp_only_layers": [1]"#,
            "'mlp_only_layers'",
        ),
        (
            r#""num_experts": 8, "num_experts_per_tok": 2, "decoder_sparse_step": 2"#,
            "'decoder_sparse_step' is 2",
        ),
        (
            r#""n_routed_experts": 8, "num_experts_per_tok": 2, "first_k_dense_replace": 5"#,
            "first_k_dense_replace 5 is more than num_hidden_layers 4",
        ),
        (r#""moe_intermediate_size": 32"#, "no expert count"),
        (
            r#""kv_lora_rank": 16, "qk_nope_head_dim": 8, "qk_rope_head_dim": 8"#,
            "'v_head_dim' is missing",
        ),
        (r#""q_lora_rank": 16"#, "without kv_lora_rank"),
    ];
    for (fields, needle) in cases {
        let text = format!("{{{base}, {fields}}}");
        let err = config::parse(&text, "x.json").unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, hotpath_core::Error::BadInput(_)), "{msg}");
        assert!(msg.contains(needle), "{needle}: {msg}");
    }
    // first_k_dense_replace 0 is a value (no dense layers), not an absent field.
    let text = format!(
        r#"{{{base}, "n_routed_experts": 8, "num_experts_per_tok": 2, "first_k_dense_replace": 0}}"#
    );
    assert_eq!(
        config::parse(&text, "x.json")
            .unwrap()
            .moe
            .unwrap()
            .dense_layers,
        0
    );
}

#[test]
fn a_prefill_past_what_moe_gemm_routes_has_no_expert_benchmark() {
    // 32 prompts of 32768 tokens, 8 experts each: 8,388,608 routed pairs, over moe_gemm's
    // 2^22 = 4,194,304; the expert rows keep their bytes and FLOPs and name no kernel.
    let run = ModelRun::new(
        resolve("deepseek-v3").unwrap(),
        Phase::Prefill,
        32,
        32768,
        DType::Bf16,
        None,
        1,
    )
    .unwrap();
    let s = step(&run, Phase::Prefill).unwrap();
    let g = s.ops.iter().find(|o| o.name == "gate_up").unwrap();
    assert!(g.kernel.is_none());
    assert!(close(g.bytes_each, 256.0 * 58_720_256.0, 1e-9));
    assert_eq!(g.flops_each, 2.0 * 32.0 * 32768.0 * 8.0 * 4096.0 * 7168.0);
}
