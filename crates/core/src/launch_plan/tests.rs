//! Launch plans on NVIDIA targets, every number worked by hand.

use super::*;
use crate::error::Error;
use crate::op::OpKind;

fn spec(op: OpKind, shape: &str, dtype: DType) -> OpSpec {
    OpSpec::parse(op, shape, dtype).unwrap()
}

fn h100() -> Target {
    Target::h100()
}

/// The first kernel step.
fn first(p: &LaunchPlan) -> (&str, Geometry, &[Arg]) {
    p.steps
        .iter()
        .find_map(|s| match s {
            LaunchStep::Kernel {
                function,
                geometry,
                args,
            } => Some((function.as_str(), *geometry, args.as_slice())),
            LaunchStep::ZeroScratch(_) => None,
        })
        .unwrap()
}

#[test]
fn write_patterns_replicate_the_value() {
    // 1.25 = 0x3FA00000 in f32, 0x3FA0 in bf16, 0x3D00 in f16.
    assert_eq!(vector_pattern(DType::F32, 1.25), [0x3FA0_0000; 4]);
    assert_eq!(vector_pattern(DType::Bf16, 1.25), [0x3FA0_3FA0; 4]);
    assert_eq!(vector_pattern(DType::F16, 1.25), [0x3D00_3D00; 4]);
}

#[test]
fn gemv_splits_only_when_rows_are_few() {
    // 14336 rows on 132 SMs: one pass, no scratch zeroing.
    let p = build(
        &spec(OpKind::Gemv, "m=1,n=14336,k=4096", DType::Bf16),
        &h100(),
    )
    .unwrap();
    assert_eq!(p.steps.len(), 1);
    // 1024 rows on 304 CUs (MI300X): ⌈1216/128⌉ = 10 splits → zero, gemv, finish.
    let mi300x = Target::amd("gfx942", 304);
    let p = build(
        &spec(OpKind::Gemv, "m=2,n=1024,k=8192", DType::Bf16),
        &mi300x,
    )
    .unwrap();
    assert_eq!(p.steps.len(), 3);
    assert_eq!(p.steps[0], LaunchStep::ZeroScratch(0));
    match &p.steps[1] {
        LaunchStep::Kernel {
            function,
            geometry,
            args,
        } => {
            assert_eq!(function, "hp_gemv_bf16");
            assert_eq!(geometry.grid, (128, 10, 1));
            assert_eq!(args[7], Arg::I32(10));
        }
        s => panic!("{s:?}"),
    }
    assert_eq!(p.scratch_bytes, vec![2 * 1024 * 4]);
}

#[test]
fn decode_at_llama_8b_batch_1_takes_32_splits_of_128_tokens() {
    // bf16, d = 128, group 32/8 = 4 → G = 4, tensor cores. Stage = K + V of 64 tokens ×
    // 256 B = 32,768 B; ring of 2 (64 KiB target), plus the Q tile 16 × 256 B: 69,632 B.
    // 233,472 / (69,632 + 1,024) = 3 blocks per SM → 396 slots. 8 groups: every split count
    // up to 49 fits one wave, so the smallest chunk wins: at least 2 tiles = 128 tokens →
    // 4096 / 128 = 32 splits, 256 blocks.
    let p = build(
        &spec(OpKind::AttnDecode, "batch=1,context=4096", DType::Bf16),
        &h100(),
    )
    .unwrap();
    let (f, g, args) = first(&p);
    assert_eq!(
        (f, g.grid, g.block, g.shared_bytes),
        (
            "hp_attn_decode_bf16_d128_g4",
            (32, 8, 1),
            (128, 1, 1),
            69_632
        )
    );
    // batch, hq, hkv, page_size, pages per sequence, splits, chunk, stages.
    assert_eq!(&args[8..], &[1, 32, 8, 16, 256, 32, 128, 2].map(Arg::I32));
    assert_eq!(p.scratch_bytes, vec![32 * 32 * 128 * 4, 32 * 32 * 2 * 4]);
    assert_eq!(decode::chosen(&p), Some((32, 2)));
    let LaunchStep::Kernel {
        function, geometry, ..
    } = &p.steps[1]
    else {
        panic!("no combine")
    };
    assert_eq!(
        (function.as_str(), geometry.grid, geometry.block.0),
        ("hp_attn_decode_combine_bf16", (32, 1, 1), 128)
    );
}

#[test]
fn decode_splits_fill_whole_waves() {
    // B = 8, L = 32768, 8 KV heads: 64 groups on 396 slots. Costs ⌈64s/396⌉ × (chunk + 64):
    // s = 6: one wave (384 blocks), chunk ⌈⌈32768/6⌉/16⌉·16 = 5472 → 5536;
    // s = 12: two waves, chunk 2736 → 5600; s = 18: three, chunk 1824 → 5664.
    // The old rule gave 5 splits = 320 blocks for 264 slots (a tail wave).
    let p = build(
        &spec(OpKind::AttnDecode, "batch=8,context=32768", DType::Bf16),
        &h100(),
    )
    .unwrap();
    assert_eq!(decode::chosen(&p), Some((6, 2)));
    assert_eq!(first(&p).1.grid, (6, 8, 8));
    assert_eq!(decode::chunk(32768, 6, 16), 5472);
    assert_eq!(decode::splits(64, 32768, 16, 64, 396), 6);
    // Once the batch fills the device several times over, fewer splits lose nothing:
    // 64 × 8 = 512 groups: s = 1 costs 2 × 4160 = 8320, s = 3 costs 4 × 1440 = 5760.
    assert_eq!(decode::splits(512, 4096, 16, 64, 396), 3);
    // A forced count (hotpath kernels plan --splits, the emulator) is taken as given.
    let mut t = h100();
    t.decode_splits = Some(3);
    let p = build(
        &spec(OpKind::AttnDecode, "batch=2,context=17", DType::F32),
        &t,
    )
    .unwrap();
    assert_eq!(decode::chosen(&p).unwrap().0, 3);
    // No split is ever empty: 1000 tokens with chunk ⌈⌈1000/7⌉/16⌉·16 = 144 → 7 non-empty.
    assert_eq!(1000u64.div_ceil(decode::chunk(1000, 7, 16)), 7);
}

#[test]
fn decode_instantiation_follows_group_dtype_and_head_dim() {
    let t = h100();
    let cases = [
        // (shape, dtype, function, shared bytes)
        // group 1: CUDA cores; bf16 d=64: stage 16 KiB → 4 stages = 65,536 B, no Q tile.
        (
            "heads_q=8,heads_kv=8,head_dim=64",
            DType::Bf16,
            "hp_attn_decode_bf16_d64_g1",
            65_536,
        ),
        // group 8 (64/8), d=128: tensor cores, 2 stages + Q 4 KiB.
        (
            "heads_q=64,heads_kv=8",
            DType::F16,
            "hp_attn_decode_f16_d128_g8",
            69_632,
        ),
        // group 3 rounds up to 4; d = 256: stage 64 KiB → 2 stages + Q 8 KiB = 139,264.
        (
            "heads_q=24,heads_kv=8,head_dim=256",
            DType::Bf16,
            "hp_attn_decode_bf16_d256_g4",
            139_264,
        ),
        // f32: tiles of 32 tokens; d=128: stage 32 KiB → 2 stages; group 16 → merge area
        // 4 × 16 × 128 × 4 + 512 = 33,280 < 65,536.
        (
            "heads_q=128,heads_kv=8",
            DType::F32,
            "hp_attn_decode_f32_d128_g16",
            65_536,
        ),
        // MHA 128/128: group 1.
        (
            "heads_q=128,heads_kv=128",
            DType::Bf16,
            "hp_attn_decode_bf16_d128_g1",
            65_536,
        ),
    ];
    for (shape, dtype, function, smem) in cases {
        let s = spec(OpKind::AttnDecode, &format!("context=300,{shape}"), dtype);
        let p = build(&s, &t).unwrap();
        let (f, g, _) = first(&p);
        assert_eq!((f, g.shared_bytes), (function, smem), "{shape}");
    }
    for bad in ["heads_q=32,heads_kv=1", "head_dim=96"] {
        let s = spec(
            OpKind::AttnDecode,
            &format!("context=64,{bad}"),
            DType::Bf16,
        );
        assert!(matches!(build(&s, &t), Err(Error::Unsupported(_))), "{bad}");
    }
}

#[test]
fn decode_ring_shrinks_to_the_devices_shared_memory_and_is_refused_beyond() {
    // Without the opt-in (48 KiB): bf16 d=128 G=4 keeps one stage (32 KiB + Q 4 KiB).
    let static_only = Target::nvidia("sm_80", 108);
    let s = spec(OpKind::AttnDecode, "context=4096", DType::Bf16);
    let p = build(&s, &static_only).unwrap();
    assert_eq!(first(&p).1.shared_bytes, 36_864);
    assert_eq!(decode::chosen(&p).unwrap().1, 1);
    // d = 256 needs 64 KiB + 8 KiB for one stage: refused with one sentence, before launch.
    let s = spec(OpKind::AttnDecode, "context=4096,head_dim=256", DType::Bf16);
    let err = build(&s, &static_only).unwrap_err().to_string();
    assert_eq!(
        err,
        "hp_attn_decode_bf16_d256_g4 needs 73728 B of shared memory per block but sm_80 allows 49152 B, so it is not launched"
    );
    // AMD (64 KiB of LDS, no tensor-core path, no Q tile): f32 d=256 G=1 fits one stage of
    // 2 × 32 × 1024 = 65,536 B exactly; G=16 needs a merge area of 66,048 B and is refused.
    let mi300x = Target::amd("gfx942", 304);
    let s = spec(
        OpKind::AttnDecode,
        "context=64,heads_q=8,heads_kv=8,head_dim=256",
        DType::F32,
    );
    let p = build(&s, &mi300x).unwrap();
    assert_eq!(first(&p).1.shared_bytes, 65_536);
    let s = spec(
        OpKind::AttnDecode,
        "context=64,heads_q=128,heads_kv=8,head_dim=256",
        DType::F32,
    );
    assert!(build(&s, &mi300x).is_err());
}

#[test]
fn grids_over_the_device_limit_are_refused_before_launch() {
    // 70,000 sequences: the decode grid's z is the batch, at most 65,535 on NVIDIA.
    let s = spec(OpKind::AttnDecode, "batch=70000,context=16", DType::Bf16);
    let err = build(&s, &h100()).unwrap_err().to_string();
    assert!(
        err.starts_with("hp_attn_decode_bf16_d128_g4 needs a grid of 1 × 8 × 70000 blocks but sm_90a allows at most 65535 in z"),
        "{err}"
    );
    // AMD allows 2³¹−1 in every dimension.
    assert!(build(&s, &Target::amd("gfx942", 304)).is_ok());
    // Prefill puts the heads in y: 70,000 query heads do not fit.
    let s = spec(
        OpKind::AttnPrefill,
        "seq=64,heads_q=70000,heads_kv=1,head_dim=64",
        DType::Bf16,
    );
    assert!(build(&s, &h100()).is_err());
}

#[test]
fn a_kernel_over_the_devices_shared_memory_is_refused_before_launch() {
    let p = build(
        &spec(
            OpKind::AttnPrefill,
            "batch=1,seq=4096,head_dim=128",
            DType::Bf16,
        ),
        &Target::amd("gfx942", 304),
    )
    .unwrap();
    // K + V tiles of 64 × 128 bf16: 32,768 B, within CDNA's 64 KiB of LDS.
    let mut fits = |_: &str| Ok(Some(32_768));
    assert!(p
        .check_shared_memory(&mut fits, launch::AMD_LDS_BYTES, "gfx942")
        .is_ok());
    let mut too_big = |_: &str| Ok(Some(73_728));
    let err = p
        .check_shared_memory(&mut too_big, launch::AMD_LDS_BYTES, "gfx942")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("hp_attn_prefill_bf16_d128 needs 73728 B of shared memory per block"),
        "{err}"
    );
    // A runtime that cannot say counts only the (zero) dynamic bytes.
    let mut unknown = |_: &str| Ok(None);
    assert!(p.check_shared_memory(&mut unknown, 0, "gfx942").is_ok());
}

#[test]
fn l2_read_is_one_launch_of_many_passes() {
    // 2M f32 = 8 MB, read 512 times (the default) in one launch: 4 GiB... 4.29 GB counted.
    let s = spec(OpKind::L2Read, "elements=2M", DType::F32);
    assert_eq!(s.work().unwrap().bytes, 2 * 1024 * 1024 * 4 * 512);
    let p = build(&s, &h100()).unwrap();
    assert_eq!(p.steps.len(), 1);
    let (f, g, args) = first(&p);
    // ⌈2,097,152 / 1024⌉ = 2048 blocks wanted, capped at 8 × 132 = 1056.
    assert_eq!((f, g.grid.0), ("hp_l2_read_f32", 1056));
    assert_eq!(args[1..3], [Arg::I64(2_097_152), Arg::I32(512)]);
    assert_eq!(p.scratch_bytes, vec![1056 * 4, 4]);
}

#[test]
fn peaks_pick_the_tensor_instruction_of_the_target() {
    let iters = "iters=100";
    // Hopper: wgmma for f16, bf16 and fp8: 264 warpgroups × 2 × 2·64·128·K per step.
    for (dtype, k) in [(DType::Bf16, 16u64), (DType::F16, 16), (DType::Fp8E4m3, 32)] {
        let p = build(&spec(OpKind::PeakMma, iters, dtype), &h100()).unwrap();
        let (f, g, args) = first(&p);
        assert!(f.starts_with("hp_peak_wgmma_"), "{f}");
        assert_eq!((g.grid.0, g.block.0, args.len()), (264, 128, 2));
        assert_eq!(
            p.counted_work.unwrap().flops,
            264 * 2 * 2 * 64 * 128 * k * 100
        );
        assert_eq!(p.output.shape, vec![264 * 128 * 128]);
    }
    // Ada: mma.sync, fp8 included, with the zero operand salt as the last argument.
    let ada = Target::nvidia("sm_89", 142);
    let p = build(&spec(OpKind::PeakMma, iters, DType::Fp8E4m3), &ada).unwrap();
    let (f, g, args) = first(&p);
    assert_eq!((f, g.grid.0, args.len()), ("hp_peak_mma_fp8", 568, 3));
    assert_eq!(args[2], Arg::I32(0));
    // 568 × 8 warps × 4 chains × 2·16·8·32 FLOPs × 100.
    assert_eq!(p.counted_work.unwrap().flops, 568 * 8 * 4 * 8192 * 100);
    // Ampere and Blackwell have no verified fp8 peak: refused with a sentence.
    for arch in ["sm_80", "sm_100a"] {
        let err = build(
            &spec(OpKind::PeakMma, iters, DType::Fp8E4m3),
            &Target::nvidia(arch, 108),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains(arch) && err.contains("sm_90a (wgmma)"),
            "{err}"
        );
    }
    // bf16 on Ampere: mma.sync.
    let p = build(
        &spec(OpKind::PeakMma, iters, DType::Bf16),
        &Target::nvidia("sm_80", 108),
    )
    .unwrap();
    assert_eq!(first(&p).0, "hp_peak_mma_bf16");
    // f32: FMA chains on every target; 416 blocks × 256 threads × 8 chains, 2 FLOPs a step.
    let p = build(
        &spec(OpKind::PeakMma, iters, DType::F32),
        &Target::nvidia("sm_80", 104),
    )
    .unwrap();
    assert_eq!(p.counted_work.unwrap().flops, 416 * 256 * 8 * 2 * 100);
    assert_eq!(p.output_bytes, vec![416 * 256 * 8 * 4]);
}

#[test]
fn kernel_arguments_are_refused_past_an_int_and_fp8_past_the_float_kernels() {
    for dt in [DType::F32, DType::F16, DType::Bf16] {
        assert!(float_only(OpKind::Rope, dt).is_ok(), "{dt}");
    }
    let e = float_only(OpKind::Rope, DType::Fp8E4m3)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("the hotpath rope kernel runs f32, f16 and bf16; got fp8_e4m3"),
        "{e}"
    );
    // i32::MAX = 2^31 − 1 = 2,147,483,647.
    assert_eq!(
        i32_arg(OpKind::SiluMul, "tokens", 2_147_483_647).unwrap(),
        i32::MAX
    );
    assert_eq!(i32_arg(OpKind::SiluMul, "tokens", 0).unwrap(), 0);
    let e = i32_arg(OpKind::SiluMul, "tokens", 2_147_483_648)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains(
            "the hotpath silu_mul kernel takes tokens up to 2147483647; got tokens=2147483648"
        ),
        "{e}"
    );
}
