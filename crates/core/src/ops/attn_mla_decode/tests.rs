use super::*;
use crate::error::Error;
use crate::inputs::{footprint_bytes, generate, output_bytes};
use crate::launch_plan::{build, mla, Arg, LaunchStep};

fn spec(shape: &str, dtype: DType) -> OpSpec {
    OpSpec::parse(OpKind::AttnMlaDecode, shape, dtype).unwrap()
}

/// The main kernel's name, grid, threads, dynamic shared memory and arguments.
fn main_kernel(p: &LaunchPlan) -> (&str, (u32, u32, u32), u32, u32, &[Arg]) {
    match &p.steps[0] {
        LaunchStep::Kernel {
            function,
            geometry,
            args,
        } => (
            function.as_str(),
            geometry.grid,
            geometry.block.0,
            geometry.shared_bytes,
            args.as_slice(),
        ),
        LaunchStep::ZeroScratch(_) => panic!("{p:?}"),
    }
}

#[test]
fn cost_by_hand() {
    // DeepSeek dims, b 64, L 4096, hq 128, bf16: FLOPs 2·64·128·4096·(576 + 512) =
    // 2·33,554,432·1,088 = 73,014,444,032; bytes: latent rows 64·4096·576·2 = 301,989,888,
    // once for all heads, + q 64·128·576·2 = 9,437,184 + o 64·128·512·2 = 8,388,608 =
    // 319,815,680.
    let w = spec(
        "batch=64,context=4096,heads_q=128,kv_lora=512,rope_dim=64,page_size=64",
        DType::Bf16,
    )
    .work()
    .unwrap();
    assert_eq!((w.flops, w.bytes), (73_014_444_032, 319_815_680));
    // The same with an fp8 cache: rows 150,994,944 + q, o 17,825,792 + the scale 4 =
    // 168,820,740; the FLOPs are the same.
    let w = spec("batch=64,context=4096,kv_fp8=1", DType::Bf16)
        .work()
        .unwrap();
    assert_eq!((w.flops, w.bytes), (73_014_444_032, 168_820_740));
    // The small shape, b 2, L 300, hq 16, 64 + 32, f32: FLOPs 2·2·16·300·96 = 1,843,200 +
    // 2·2·16·300·64 = 1,228,800 → 3,072,000; bytes 2·300·96·4 = 230,400 + 2·16·96·4 =
    // 12,288 + 2·16·64·4 = 8,192 → 250,880; in bf16 half of each: 125,440.
    let small = AttnMlaDecode.small_shape();
    let w = spec(small, DType::F32).work().unwrap();
    assert_eq!((w.flops, w.bytes), (3_072_000, 250_880));
    assert_eq!(spec(small, DType::Bf16).work().unwrap().bytes, 125_440);
}

#[test]
fn inputs_are_one_latent_cache_and_one_scale_and_fill_the_footprint() {
    for fp8 in ["", ",kv_fp8=1"] {
        let s = spec(
            &format!("batch=2,context=70,heads_q=16,kv_lora=64,rope_dim=32,page_size=64{fp8}"),
            DType::Bf16,
        );
        let inputs = generate(&s, 5).unwrap();
        let cache = inputs.get("kv_cache").unwrap();
        // 2 sequences × ⌈70/64⌉ = 2 pages each: 4 pages of 64 rows of 96.
        assert_eq!(cache.shape, vec![4, 64, 96]);
        let want = if fp8.is_empty() {
            DType::Bf16
        } else {
            DType::Fp8E4m3
        };
        assert_eq!(cache.dtype(), Some(want));
        assert_eq!(inputs.get("q").unwrap().shape, vec![2, 16, 96]);
        assert_eq!(inputs.get("kv_scale").unwrap().shape, vec![1]);
        assert_eq!(inputs.get("block_table").unwrap().shape, vec![2, 2]);
        assert_eq!(
            footprint_bytes(&s).unwrap(),
            inputs.size_bytes() + output_bytes(&s).unwrap()
        );
    }
}

#[test]
fn plan_by_hand_on_an_h100() {
    let h100 = Target::h100();
    // bf16, DeepSeek dims, batch 64: head tile 64 → 256 threads; q 64·(576·2 + 16) = 74,752,
    // exchange 8 warps·32·16·4 = 16,384, stage 32·1,168 = 37,376: 4 stages = 240,640 > 232,448,
    // 3 stages = 203,264. One block per SM (233,472 / 204,288), 132 slots for 64·2 = 128
    // (sequence, head tile) pairs: one split costs 4096 + 64, two 2 waves × (2048 + 64), so 1.
    let p = build(&spec("batch=64,context=4096", DType::Bf16), &h100).unwrap();
    let (f, grid, threads, smem, args) = main_kernel(&p);
    assert_eq!(
        (f, grid, threads, smem),
        (
            "hp_attn_mla_decode_bf16_l512_r64_h64",
            (1, 2, 64),
            256,
            203_264
        )
    );
    assert_eq!(&args[..4], &[0, 1, 2, 3].map(Arg::Input));
    assert_eq!(
        &args[7..14],
        &[64, 128, 64, 64, 1, 4096, 3].map(Arg::I32),
        "batch, hq, page size, pages per sequence, splits, chunk, stages"
    );
    assert_eq!(args[14], Arg::Input(4));
    assert_eq!(p.steps.len(), 1, "one split: no combine");
    // Batch 1: 2 pairs for 132 slots, so the most splits that keep a page each: 64 of 64
    // tokens, then the combine over (128 heads, 1 sequence) × 256 threads.
    let p = build(&spec("batch=1,context=4096", DType::Bf16), &h100).unwrap();
    assert_eq!(mla::chosen(&p), Some((64, 3)));
    let LaunchStep::Kernel {
        function,
        geometry,
        args,
    } = &p.steps[1]
    else {
        panic!("{p:?}")
    };
    assert_eq!(function, "hp_attn_mla_decode_combine_bf16");
    assert_eq!((geometry.grid, geometry.block.0), ((128, 1, 1), 256));
    assert_eq!(&args[3..], &[1, 128, 64, 512].map(Arg::I32));
    assert_eq!(p.scratch_bytes, vec![128 * 64 * 512 * 4, 128 * 64 * 2 * 4]);
    // fp8 cache: q 74,752 + decoded tile 37,376 + exchange 16,384 = 128,512, stages of
    // 32·(576 + 16) = 18,944: 4 → 204,288.
    let p = build(&spec("batch=64,context=4096,kv_fp8=1", DType::Bf16), &h100).unwrap();
    let (f, _, _, smem, _) = main_kernel(&p);
    assert_eq!(
        (f, smem),
        ("hp_attn_mla_decode_bf16_fp8kv_l512_r64_h64", 204_288)
    );
    // The small shape: 16 heads → tile 16, 64 threads; q 16·208 = 3,328 + exchange 4,096 +
    // 4 stages of 32·208 = 26,624 → 34,048.
    let p = build(&spec(AttnMlaDecode.small_shape(), DType::F16), &h100).unwrap();
    let (f, _, threads, smem, _) = main_kernel(&p);
    assert_eq!(
        (f, threads, smem),
        ("hp_attn_mla_decode_f16_l64_r32_h16", 64, 34_048)
    );
    // f32 runs on the CUDA cores (no exchange): tile 64 keeps only 1 stage (148,480 +
    // 74,240 = 222,720), tile 32 keeps 2 (74,240 + 2·74,240 = 222,720).
    let p = build(&spec("batch=64,context=4096", DType::F32), &h100).unwrap();
    let (f, _, _, smem, _) = main_kernel(&p);
    assert_eq!((f, smem), ("hp_attn_mla_decode_f32_l512_r64_h32", 222_720));
}

#[test]
fn smaller_shared_memory_takes_fewer_stages_or_a_smaller_head_tile() {
    // An A100's 163 KiB (166,912 B) per block: tile 64 with 2 stages, 91,136 + 74,752 =
    // 165,888.
    let a100 = Target {
        arch: "sm_80".into(),
        units: 108,
        smem_per_block: 166_912,
        smem_per_unit: 167_936,
        ..Target::h100()
    };
    let p = build(&spec("batch=64,context=4096", DType::Bf16), &a100).unwrap();
    let (f, _, _, smem, _) = main_kernel(&p);
    assert_eq!((f, smem), ("hp_attn_mla_decode_bf16_l512_r64_h64", 165_888));
    assert_eq!(mla::chosen(&p).map(|c| c.1), Some(2));
    // AMD's 64 KiB of LDS, CUDA-core path (no exchange): no tile keeps 2 stages; tile 16
    // keeps 1 (16·1,168 + 37,376 = 56,064).
    let mi300 = Target::amd("gfx942", 304);
    let p = build(&spec("batch=64,context=4096", DType::Bf16), &mi300).unwrap();
    let (f, _, threads, smem, _) = main_kernel(&p);
    assert_eq!(
        (f, threads, smem),
        ("hp_attn_mla_decode_bf16_l512_r64_h16", 64, 56_064)
    );
    // f32 rows there do not fit one stage (37,120 + 74,240): refused with a sentence.
    let e = build(&spec("batch=64,context=4096", DType::F32), &mi300)
        .unwrap_err()
        .to_string();
    assert!(e.contains("111360 B of shared memory"), "{e}");
}

#[test]
fn bad_shapes_are_refused() {
    // Widths off the 16/8 grid are refused when the shape is read.
    for bad in ["kv_lora=24", "rope_dim=12"] {
        let r = OpSpec::parse(
            OpKind::AttnMlaDecode,
            &format!("context=64,{bad}"),
            DType::Bf16,
        );
        assert!(r.is_err(), "{bad}");
    }
    // Heads outside tiles of 16 and widths without an instantiation are refused by the plan.
    for bad in ["heads_q=24", "kv_lora=256", "rope_dim=32"] {
        let e = build(
            &spec(&format!("context=64,{bad}"), DType::Bf16),
            &Target::h100(),
        )
        .unwrap_err();
        assert!(matches!(e, Error::Unsupported(_)), "{bad}: {e}");
    }
    // fp8 activations are not an MLA decode the kernels serve.
    let e = build(&spec("context=64", DType::Fp8E4m3), &Target::h100()).unwrap_err();
    assert!(e.to_string().contains("f32, f16 and bf16"), "{e}");
}

#[test]
fn suites_add_deepseek_shapes_to_decode_only() {
    let gpu = AttnMlaDecode.suite_entries(SuiteName::Decode, DeviceClass::Gpu);
    assert_eq!(gpu.len(), 6);
    assert!(gpu
        .iter()
        .all(|(s, d)| *d == DType::Bf16 && spec(s, *d).dim("kv_lora").unwrap() == 512));
    assert_eq!(
        AttnMlaDecode
            .suite_entries(SuiteName::Decode, DeviceClass::Cpu)
            .len(),
        3
    );
    for class in [DeviceClass::Cpu, DeviceClass::Gpu] {
        assert!(AttnMlaDecode
            .suite_entries(SuiteName::Quick, class)
            .is_empty());
    }
}
