use super::*;
use crate::inputs::generate;
use crate::launch_plan::{build, LaunchStep};

fn spec(shape: &str, dtype: DType) -> OpSpec {
    OpSpec::parse(OpKind::Rope, shape, dtype).unwrap()
}

const LLAMA: &str = "tokens=64,heads_q=32,heads_kv=8,head_dim=128";

#[test]
fn cost_by_hand() {
    // flops 3·64·40·128 = 983,040. bytes: q and k 2·64·40·128·2 = 1,310,720, positions
    // 4·64 = 256, cos/sin rows 4·64·128 = 32,768: 1,343,744.
    let w = spec(LLAMA, DType::Bf16).work().unwrap();
    assert_eq!((w.flops, w.bytes), (983_040, 1_343_744));
    // 3 tokens, 2 + 1 heads of 8 in f32, rotary_dim 4: 3·3·3·4 = 108 FLOPs;
    // 2·3·3·8·4 = 576 + 12 + 4·3·4 = 48: 636 B. The cache's size does not count.
    let small = "tokens=3,heads_q=2,heads_kv=1,head_dim=8,rotary_dim=4,max_position=7";
    let w = spec(small, DType::F32).work().unwrap();
    assert_eq!((w.flops, w.bytes), (108, 636));
    assert_eq!(
        spec(&format!("{small},gptj=1"), DType::F32).work().unwrap(),
        w,
        "the layout moves nothing more"
    );
}

#[test]
fn defaults_are_llama_3_1_8b() {
    let s = spec("tokens=1", DType::Bf16);
    assert_eq!(
        s.shape.to_string(),
        "tokens=1,heads_q=32,heads_kv=8,head_dim=128,rotary_dim=128,max_position=32768"
    );
}

#[test]
fn bad_shapes_are_refused_with_a_sentence() {
    for (text, needle) in [
        ("heads_q=4", "needs shape key 'tokens'"),
        ("tokens=4,rotary_dim=127", "rotary_dim=127 is odd"),
        (
            "tokens=4,head_dim=64,rotary_dim=128",
            "rotary_dim=128 exceeds head_dim=64",
        ),
        (
            "tokens=4,gptj=2",
            "gptj=2 is not valid for rope; accepted: 0 or 1",
        ),
        ("tokens=4,heads_kv=0", "heads_kv=0"),
        ("tokens=4,rotary_dim=0", "rotary_dim=0"),
        ("tokens=4,seq=2", "'seq'"),
    ] {
        let err = OpSpec::parse(OpKind::Rope, text, DType::Bf16)
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{text}: {err}");
    }
}

fn kernel_of(shape: &str, dtype: DType) -> (String, Geometry, Vec<Arg>) {
    match build(&spec(shape, dtype), &Target::h100()).unwrap().steps[0].clone() {
        LaunchStep::Kernel {
            function,
            geometry,
            args,
        } => (function, geometry, args),
        LaunchStep::ZeroScratch(_) => panic!("a kernel step"),
    }
}

#[test]
fn units_and_blocks_by_hand_and_the_readme_arguments() {
    // bf16 NeoX: 8 elements a vector, r/2 = 64 → 8 units a head, 40 heads = 320 units a
    // token = 3 blocks of 128; 64 tokens.
    let (function, geometry, args) = kernel_of(LLAMA, DType::Bf16);
    assert_eq!(function, "hp_rope_bf16");
    assert_eq!((geometry.grid, geometry.block), ((192, 1, 1), (128, 1, 1)));
    assert_eq!(geometry.shared_bytes, 0);
    assert_eq!(
        args,
        vec![
            Arg::Input(0),
            Arg::Input(1),
            Arg::Input(2),
            Arg::Output(0),
            Arg::I32(64),
            Arg::I32(40),
            Arg::I32(128),
            Arg::I32(128),
            Arg::I32(0),
        ]
    );
    let p = build(&spec(LLAMA, DType::Bf16), &Target::h100()).unwrap();
    assert_eq!(p.output_bytes, vec![64 * 40 * 128 * 2]);
    assert_eq!(
        (p.output.name, p.output.shape.clone()),
        ("out", vec![64, 40, 128])
    );
    // GPT-J: 16 vectors a head = 640 units = 5 blocks a token; the flag is the last argument.
    let (_, geometry, args) = kernel_of(&format!("{LLAMA},gptj=1"), DType::Bf16);
    assert_eq!(geometry.grid, (320, 1, 1));
    assert_eq!(args[8], Arg::I32(1));
    // f32 NeoX: 4 a vector, 16 units a head, 640 a token.
    assert_eq!(kernel_of(LLAMA, DType::F32).1.grid, (320, 1, 1));
}

#[test]
fn units_per_head_on_both_paths() {
    let units = |shape: &str, elem_bytes: u64| {
        units_per_head(
            &RopeShape::of(&spec(shape, DType::Bf16)).unwrap(),
            elem_bytes,
        )
    };
    // Partial rotation on the vector path: 32/8 rotated + 64/8 copied.
    assert_eq!(units("tokens=1,rotary_dim=64", 2), 12);
    // r = 8: GPT-J's 8 rotated elements are one vector (1 + 120/8); NeoX's halves of 4 are
    // not, so it goes element by element: 4 pairs + 120 copied.
    assert_eq!(units("tokens=1,rotary_dim=8,gptj=1", 2), 16);
    assert_eq!(units("tokens=1,rotary_dim=8", 2), 124);
    // A head of 6 is no whole number of vectors: 1 pair + 4 copied.
    assert_eq!(units("tokens=1,head_dim=6,rotary_dim=2", 2), 5);
    assert_eq!(units("tokens=1,head_dim=6,rotary_dim=2,gptj=1", 4), 5);
}

#[test]
fn fp8_and_oversized_shapes_are_refused_with_a_sentence() {
    let h100 = Target::h100();
    let e = build(&spec("tokens=1", DType::Fp8E4m3), &h100)
        .unwrap_err()
        .to_string();
    assert!(e.contains("runs f32, f16 and bf16; got fp8_e4m3"), "{e}");
    let e = build(&spec("tokens=4G", DType::F32), &h100)
        .unwrap_err()
        .to_string();
    assert!(e.contains("tokens=4294967296"), "{e}");
    let e = build(&spec("tokens=1,heads_q=4G", DType::F32), &h100)
        .unwrap_err()
        .to_string();
    assert!(e.contains("up to 2147483647"), "{e}");
    // Positions are i32: a cache of 2³¹ rows is refused before anything is allocated.
    let big = spec(
        "tokens=1,rotary_dim=2,head_dim=2,max_position=2G",
        DType::F32,
    );
    let e = generate(&big, 1).unwrap_err().to_string();
    assert!(e.contains("max_position is at most 2147483647"), "{e}");
}

#[test]
fn inputs_are_in_range_and_the_cache_is_exact() {
    let s = spec(
        "tokens=300,heads_q=2,heads_kv=1,head_dim=8,rotary_dim=6,max_position=50",
        DType::F16,
    );
    let inputs = generate(&s, 9).unwrap();
    let positions = inputs.get("positions").unwrap().as_i32().unwrap();
    assert_eq!(positions.len(), 300);
    assert!(positions.iter().all(|&p| (0..50).contains(&p)));
    assert!(
        positions.iter().any(|&p| p != positions[0]),
        "drawn, not fixed"
    );
    let cache = inputs.get("cos_sin").unwrap();
    assert_eq!(cache.shape, vec![50, 6]);
    assert_eq!(
        cache.dtype(),
        Some(DType::F32),
        "the cache is f32 whatever T is"
    );
    assert_eq!(cache.to_f32_vec(), cos_sin_cache(50, 6));
    // Row 7, pair 2: θ₂ = 10000^(−4/6) = 0.0021544347; angle 7·θ₂ = 0.015081043.
    let (c, s) = (cache.get_f64(7 * 6 + 2), cache.get_f64(7 * 6 + 5));
    assert!((c - 0.999_886_28).abs() < 1e-7 && (s - 0.015_080_47).abs() < 1e-7);
    assert_eq!(inputs.get("qk").unwrap().shape, vec![300, 3, 8]);
}
