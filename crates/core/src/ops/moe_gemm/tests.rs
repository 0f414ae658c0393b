use std::collections::HashSet;

use super::*;
use crate::inputs::generate;
use crate::launch_plan::{build, LaunchStep};

fn spec(shape: &str, dtype: DType) -> OpSpec {
    OpSpec::parse(OpKind::MoeGemm, shape, dtype).unwrap()
}

fn distinct(ids: &[u32]) -> u64 {
    ids.iter().collect::<HashSet<_>>().len() as u64
}

#[test]
fn cost_by_hand() {
    // One token, 8 of 256 DeepSeek-V3 experts (n=7168, k=2048), bf16: D = 8 whatever the
    // seed. FLOPs 2·8·7168·2048 + 8·7168 = 234,881,024 + 57,344; bytes 8·7168·2048·2
    // (weights) + 2048·2 (x) + 7168·2 (y) + 8·8 (ids, weights) = 234,881,024 + 4,096 +
    // 14,336 + 64.
    let w = spec("tokens=1,experts=256,top_k=8,n=7168,k=2048", DType::Bf16)
        .work()
        .unwrap();
    assert_eq!((w.flops, w.bytes), (234_938_368, 234_899_520));
    // 2 tokens × both of 2 experts, n=3, k=4, f32: FLOPs 2·2·2·3·4 + 2·2·3 = 96 + 12;
    // bytes 2·3·4·4 + 2·4·4 + 2·3·4 + 2·2·8 = 96 + 32 + 24 + 32.
    let w = spec("tokens=2,experts=2,top_k=2,n=3,k=4", DType::F32)
        .work()
        .unwrap();
    assert_eq!((w.flops, w.bytes), (108, 184));
    // 1 token, 2 of 64 experts, n=16, k=8, f16: 62 idle experts cost nothing. FLOPs
    // 2·2·16·8 + 2·16 = 544; bytes 2·16·8·2 + 8·2 + 16·2 + 2·8 = 512 + 16 + 32 + 16 = 576;
    // the allocation holds all 64 experts: 8·2 + 64·16·8·2 + 2·8 = 16,416 bytes.
    let s = spec("tokens=1,experts=64,top_k=2,n=16,k=8", DType::F16);
    let w = s.work().unwrap();
    assert_eq!((w.flops, w.bytes), (544, 576));
    assert_eq!(MoeGemm.input_bytes(&s).unwrap().0, 16_416);
    // A cold run rotates the 576 touched bytes, not the 16,416 allocated.
    assert_eq!(MoeGemm.touched_bytes(&s).unwrap(), Some(576));
}

#[test]
fn the_small_shape_leaves_an_expert_idle_and_counts_only_the_touched() {
    let s = spec(MoeGemm.small_shape(), DType::Bf16);
    let p = MoeShape::of(&s).unwrap();
    let ids = route(&p);
    // The routing as an independent Python transcription of the router (splitmix64, the rank
    // permutation, draws by weight without replacement) gives it: experts 0, 3 and 7 idle.
    assert_eq!(
        ids,
        [5, 1, 6, 1, 4, 2, 2, 4, 2, 1, 4, 1, 5, 6, 2, 6, 1, 6, 2, 1, 1, 5, 6, 5]
    );
    let d = distinct(&ids);
    assert_eq!(d, 5);
    assert_eq!(touched_experts(&p), d);
    // D·192·256·2 + 12·256·2 + 12·192·2 + 12·2·8.
    assert_eq!(s.work().unwrap().bytes, d * 98_304 + 6_144 + 4_608 + 192);
}

#[test]
fn inputs_carry_the_shape_routing_and_normalised_weights() {
    let s = spec(
        "tokens=5,experts=6,top_k=3,n=8,k=16,zipf_x100=120,route_seed=4",
        DType::F16,
    );
    let inputs = generate(&s, 99).unwrap();
    let names: Vec<_> = inputs.tensors.iter().map(|t| t.name).collect();
    assert_eq!(names, MoeGemm.input_names());
    let ids = inputs.get("topk_ids").unwrap().as_i32().unwrap();
    let want: Vec<i32> = route(&MoeShape::of(&s).unwrap())
        .into_iter()
        .map(|e| e as i32)
        .collect();
    assert_eq!(ids, &want[..]);
    // Another generator seed: other values, the same routing.
    let other = generate(&s, 100).unwrap();
    assert_eq!(other.get("topk_ids").unwrap().as_i32().unwrap(), ids);
    let w = inputs.get("topk_weights").unwrap().to_f32_vec();
    for row in w.chunks(3) {
        assert!(row.iter().all(|&v| v > 0.0), "{row:?}");
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6, "{row:?}");
    }
    assert_eq!(inputs.size_bytes(), MoeGemm.input_bytes(&s).unwrap().0);
}

#[test]
fn bad_shapes_and_dtypes_are_refused_with_a_sentence() {
    let parse = |shape: &str| {
        OpSpec::parse(OpKind::MoeGemm, shape, DType::Bf16)
            .unwrap_err()
            .to_string()
    };
    let e = parse("tokens=4,experts=8,top_k=9");
    assert!(e.contains("top_k=9 must be at most experts=8"), "{e}");
    let e = parse("tokens=4,experts=8,top_k=0");
    assert!(e.contains("top_k=0 is not valid"), "{e}");
    let e = parse("tokens=4,zipf_x100=1001");
    assert!(e.contains("zipf_x100 up to 1000"), "{e}");
    let e = parse("tokens=1M,top_k=8");
    assert!(e.contains("at most 4194304"), "{e}");
    let e = parse("tokens=1,experts=2M");
    assert!(e.contains("up to 1048576 experts"), "{e}");
    let e = parse("tokens=4096,experts=65536,zipf_x100=100");
    assert!(e.contains("up to 268435456"), "{e}");
    // 0 is a value for the seed and the exponent.
    spec("tokens=4,zipf_x100=0,route_seed=0", DType::Bf16);
    let h100 = Target::h100();
    let e = build(&spec("tokens=4", DType::Fp8E4m3), &h100)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("f32, f16 or bf16") && e.contains("fp8_e4m3"),
        "{e}"
    );
    let e = build(&spec("tokens=4,experts=5000,k=64,n=8", DType::Bf16), &h100)
        .unwrap_err()
        .to_string();
    assert!(e.contains("up to 4096 experts"), "{e}");
    let e = build(&spec("tokens=4,k=60", DType::Bf16), &h100)
        .unwrap_err()
        .to_string();
    assert!(e.contains("multiple of 8") && e.contains("k=60"), "{e}");
}

/// One kernel step as (function, grid, arguments).
type Step<'a> = (&'a str, (u32, u32, u32), &'a [Arg]);

fn kernels(p: &LaunchPlan) -> Vec<Step<'_>> {
    p.steps
        .iter()
        .map(|s| match s {
            LaunchStep::Kernel {
                function,
                geometry,
                args,
            } => (function.as_str(), geometry.grid, args.as_slice()),
            LaunchStep::ZeroScratch(_) => panic!("{p:?}"),
        })
        .collect()
}

#[test]
fn decode_streams_weights_and_prefill_tiles() {
    // B = 32 on DeepSeek-V3's down projection: 256 pairs over ≤ 256 experts, about one row
    // each: the weight stream, (7168/8, 256) blocks.
    let s = spec("tokens=32,experts=256,top_k=8,n=7168,k=2048", DType::Bf16);
    let p = build(&s, &Target::h100()).unwrap();
    let k = kernels(&p);
    assert_eq!(k.len(), 3);
    assert_eq!(k[0].0, "hp_moe_gemm_align");
    assert_eq!(k[0].1, (1, 1, 1));
    assert_eq!(
        k[0].2,
        &[
            Arg::Input(2),
            Arg::Scratch(0),
            Arg::Scratch(1),
            Arg::I32(256),
            Arg::I32(256)
        ]
    );
    assert_eq!(k[1].0, "hp_moe_gemm_gemv_bf16");
    assert_eq!(k[1].1, (896, 256, 1));
    assert_eq!(
        k[1].2,
        &[
            Arg::Input(0),
            Arg::Input(1),
            Arg::Scratch(0),
            Arg::Scratch(1),
            Arg::Scratch(2),
            Arg::I32(8),
            Arg::I32(7168),
            Arg::I32(2048)
        ]
    );
    assert_eq!(k[2].0, "hp_moe_gemm_combine_bf16");
    // 32·7168 = 229,376 outputs over blocks of 256: 896.
    assert_eq!(k[2].1, (896, 1, 1));
    assert_eq!(
        k[2].2,
        &[
            Arg::Scratch(2),
            Arg::Input(3),
            Arg::Input(2),
            Arg::Output(0),
            Arg::I32(32),
            Arg::I32(8),
            Arg::I32(7168),
            Arg::I32(256)
        ]
    );
    // Every kernel is found in this op's file by its name (how the backends compile it).
    for (function, _, _) in &k {
        assert_eq!(crate::kernels::file_of_function(function), "moe_gemm.cu");
    }
    assert_eq!(p.scratch_bytes, vec![4 * 257, 4 * 256, 4 * 256 * 7168]);
    assert_eq!(p.output_bytes, vec![32 * 7168 * 2]);
    // Prefill, 4096 tokens: 128 rows per expert on average, the tiles of 64 columns.
    let s = spec("tokens=4096,experts=256,top_k=8,n=7168,k=2048", DType::F16);
    let k2 = build(&s, &Target::h100()).unwrap();
    let k2 = kernels(&k2);
    assert_eq!((k2[1].0, k2[1].1), ("hp_moe_gemm_tile_f16", (112, 256, 1)));
}

#[test]
fn suites_use_the_model_shapes() {
    let gpu = MoeGemm.suite_entries(SuiteName::Decode, DeviceClass::Gpu);
    assert_eq!(gpu.len(), 7);
    assert!(gpu.contains(&(
        "tokens=32,experts=256,top_k=8,n=7168,k=2048,zipf_x100=120".to_string(),
        DType::Bf16
    )));
    let cpu = MoeGemm.suite_entries(SuiteName::Decode, DeviceClass::Cpu);
    assert_eq!(
        cpu[..2],
        [
            (
                "tokens=1,experts=128,top_k=8,n=1536,k=2048".to_string(),
                DType::Bf16
            ),
            (
                "tokens=1,experts=128,top_k=8,n=2048,k=768".to_string(),
                DType::Bf16
            )
        ]
    );
    assert_eq!(
        MoeGemm.suite_entries(SuiteName::Prefill, DeviceClass::Cpu),
        vec![(
            "tokens=256,experts=128,top_k=8,n=2048,k=768".to_string(),
            DType::Bf16
        )]
    );
}
