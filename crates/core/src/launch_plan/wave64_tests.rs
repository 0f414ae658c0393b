//! Launch plans on AMD CDNA (wavefronts of 64) against NVIDIA (warps of 32), every number
//! worked by hand: the kernels are written for 32-lane groups, so a plan depends on the
//! CU/SM count (and, for attn_decode, the shared memory), and a wavefront holds two groups.
//! MI300X has 304 CUs, one MI250X GCD 110, MI100 (gfx908) 120, H100 SXM 132 SMs.

use super::*;
use crate::op::OpKind;

const MI300X: u32 = 304;
const MI250X_GCD: u32 = 110;
const MI100: u32 = 120;
const H100: u32 = 132;

fn amd(units: u32) -> Target {
    Target::amd(if units == MI100 { "gfx908" } else { "gfx90a" }, units)
}

fn nv(units: u32) -> Target {
    Target::nvidia("sm_90a", units)
}

fn spec(op: OpKind, shape: &str, dtype: DType) -> OpSpec {
    OpSpec::parse(op, shape, dtype).unwrap()
}

/// The first kernel step's function and geometry.
fn first(p: &LaunchPlan) -> (String, Geometry) {
    p.steps
        .iter()
        .find_map(|s| match s {
            LaunchStep::Kernel {
                function, geometry, ..
            } => Some((function.clone(), *geometry)),
            LaunchStep::ZeroScratch(_) => None,
        })
        .unwrap()
}

#[test]
fn streaming_grids_cap_at_eight_blocks_per_cu_of_four_wavefronts() {
    // 2^28 f32 = 1 GiB = 67,108,864 vectors of 16 B: 65,537 blocks wanted, capped at
    // 8 × 304 = 2432 on MI300X (8 × 132 = 1056 on H100).
    let s = spec(OpKind::Copy, "elements=268435456", DType::F32);
    let (f, g) = first(&build(&s, &amd(MI300X)).unwrap());
    assert_eq!(
        (f.as_str(), g.grid, g.block),
        ("hp_copy", (2432, 1, 1), (256, 1, 1))
    );
    assert_eq!(first(&build(&s, &nv(H100)).unwrap()).1.grid.0, 1056);
    // 256 threads: 4 wavefronts of 64 = 8 groups of 32.
    assert_eq!((g.groups(64), g.groups(32)), (4, 8));
}

#[test]
fn gemm_blocks_cover_the_same_tile_with_four_waves_or_eight_warps() {
    let s = spec(OpKind::Gemm, "m=4096,n=4096,k=4096", DType::Bf16);
    let (f, g) = first(&build(&s, &amd(MI300X)).unwrap());
    assert_eq!(
        (f.as_str(), g.grid, g.block),
        ("hp_gemm_bf16", (32, 32, 1), (256, 1, 1))
    );
    // The grid does not depend on the CU count.
    assert_eq!(first(&build(&s, &nv(H100)).unwrap()).1, g);
    // AMD: 2 × 2 waves of 64 × 64 outputs; NVIDIA: 2 × 4 warps of 64 × 32; both 128 × 128.
    assert_eq!(g.groups(64) * 64 * 64, 128 * 128);
    assert_eq!(g.groups(32) * 64 * 32, 128 * 128);
}

#[test]
fn prefill_blocks_own_64_queries_as_two_waves_or_four_warps() {
    let s = spec(
        OpKind::AttnPrefill,
        "batch=2,seq=4097,heads_q=32",
        DType::F16,
    );
    let (f, g) = first(&build(&s, &amd(MI300X)).unwrap());
    // ⌈4097 / 64⌉ = 65 query tiles × 32 heads × 2 sequences, 128 threads each.
    assert_eq!(
        (f.as_str(), g.grid, g.block),
        ("hp_attn_prefill_f16_d128", (65, 32, 2), (128, 1, 1))
    );
    // AMD: 2 waves × 32 query rows; NVIDIA: 4 warps × 16 rows.
    assert_eq!(g.groups(64) * 32, 64);
    assert_eq!(g.groups(32) * 16, 64);
}

#[test]
fn decode_splits_fill_whole_waves_of_each_device() {
    // batch 1, 8 KV heads, 32,768 tokens, bf16 d = 128 (group 4). On AMD there is no
    // tensor-core path and no Q tile: a ring of 2 × 32 KiB = 64 KiB, all of a CU's LDS, so
    // one block per CU. Costs ⌈8s/slots⌉ × (chunk + 64):
    //  - MI300X, 304 slots: s = 38 is the most in one wave (304 blocks), chunk
    //    ⌈⌈32768/38⌉/16⌉·16 = 864 → 928; two waves at s = 76 (chunk 432) cost 992.
    //  - MI250X GCD, 110 slots: s = 13 in one wave costs 2528 + 64 = 2592; s = 27 in two
    //    waves (216 blocks) costs 2 × (1216 + 64) = 2560, the best.
    //  - H100 with its 227 KiB opt-in: 69,632 B per block (ring + Q tile), 3 per SM, 396
    //    slots: s = 49 in one wave (392 blocks), chunk 672.
    let s = spec(OpKind::AttnDecode, "batch=1,context=32768", DType::Bf16);
    for (target, splits, smem) in [
        (amd(MI300X), 38u32, 65_536u32),
        (amd(MI250X_GCD), 27, 65_536),
        (Target::h100(), 49, 69_632),
    ] {
        let p = build(&s, &target).unwrap();
        let (f, g) = first(&p);
        assert_eq!(
            (f.as_str(), g.grid, g.shared_bytes),
            ("hp_attn_decode_bf16_d128_g4", (splits, 8, 1), smem),
            "{}",
            target.units
        );
        // Partials of 32 query heads × splits rows: d = 128 floats and (max, sum) each.
        let rows = 32 * splits as usize;
        assert_eq!(p.scratch_bytes, vec![rows * 128 * 4, rows * 2 * 4]);
    }
    assert_eq!(decode::chunk(32768, 38, 16), 864);
    assert_eq!(decode::chunk(32768, 27, 16), 1216);
    assert_eq!(decode::chunk(32768, 49, 16), 672);
}

#[test]
fn gemv_splits_on_one_mi250x_gcd() {
    // 1024 rows → 128 row blocks; 4 × 110 = 440 wanted: ⌈440/128⌉ = 4 splits (k = 4096
    // allows 8). MI300X: ⌈1216/128⌉ = 10, capped at the 8 that k allows.
    let s = spec(OpKind::Gemv, "m=1,n=1024,k=4096", DType::Bf16);
    let p = build(&s, &amd(MI250X_GCD)).unwrap();
    assert_eq!(p.steps.len(), 3, "zero, gemv, finish");
    assert_eq!(first(&p).1.grid, (128, 4, 1));
    assert_eq!(first(&build(&s, &amd(MI300X)).unwrap()).1.grid, (128, 8, 1));
}

#[test]
fn mfma_peak_flops_counted_per_wavefront_equal_the_plans_count() {
    // MI300X bf16: 4 × 304 = 1216 blocks of 256 = 4864 wavefronts. Each runs 4 chains of
    // one v_mfma_f32_16x16x16bf16_1k per step: 2·16·16·16 = 8192 FLOPs.
    let iters = 1000u64;
    let s = spec(OpKind::PeakMma, "iters=1000", DType::Bf16);
    let p = build(&s, &amd(MI300X)).unwrap();
    let (f, g) = first(&p);
    assert_eq!(
        (f.as_str(), g.grid, g.block),
        ("hp_peak_mma_bf16", (1216, 1, 1), (256, 1, 1))
    );
    let waves = 1216 * 256 / 64;
    assert_eq!(waves, 4864);
    let per_wave_step = 2 * 16 * 16 * 16;
    assert_eq!(
        p.counted_work.unwrap().flops,
        waves * 4 * per_wave_step * iters
    );
    assert_eq!(p.counted_work.unwrap().flops, 159_383_552_000);
    // Output: every wave stores 4 chains × 64 lanes × 4 accumulators.
    assert_eq!(p.output.shape, vec![(waves * 4 * 64 * 4) as usize]);
    assert_eq!(p.output_bytes, vec![4_980_736 * 4]);

    // MI100 (gfx908) f16: 480 blocks = 1920 waves; bf16 there is two 16x16x8 MFMAs of
    // 2·16·16·8 = 4096 FLOPs per step, the same 8192: the count does not change.
    for dtype in [DType::F16, DType::Bf16] {
        let p = build(&spec(OpKind::PeakMma, "iters=1", dtype), &amd(MI100)).unwrap();
        assert_eq!(p.counted_work.unwrap().flops, 1920 * 4 * (2 * 4096));
        assert_eq!(p.counted_work.unwrap().flops, 62_914_560);
    }

    // The f32 FMA chains on MI300X: 1216 × 256 threads × 8 chains × 2 FLOPs per step.
    let p = build(&spec(OpKind::PeakMma, "iters=1", DType::F32), &amd(MI300X)).unwrap();
    assert_eq!(p.counted_work.unwrap().flops, 4_980_736);
}

#[test]
fn every_block_is_a_whole_number_of_32_lane_groups() {
    // HP_LANES reductions (xor 16..1) must never cross a wavefront: with blocks a multiple
    // of 32 threads, a wave of 64 holds exactly two whole groups. Every kernel of every op.
    let shapes = [
        (OpKind::Gemm, "m=100,n=200,k=64"),
        (OpKind::Gemv, "m=3,n=1000,k=512"),
        (OpKind::AttnPrefill, "seq=100,head_dim=64"),
        (OpKind::AttnDecode, "context=1000,head_dim=64"),
        (OpKind::KvWrite, "tokens=10"),
        (OpKind::KvRead, "tokens=10"),
        (OpKind::Copy, "elements=1000"),
        (OpKind::Read, "elements=1000"),
        (OpKind::Write, "elements=1000"),
        (OpKind::Triad, "elements=1000"),
        (OpKind::L2Read, "elements=1000"),
        (OpKind::PeakMma, "iters=1"),
        (OpKind::Launch, "blocks=3"),
    ];
    for (op, shape) in shapes {
        let dtype = if op == OpKind::Launch {
            DType::F32
        } else {
            DType::F16
        };
        let p = build(&spec(op, shape, dtype), &amd(MI300X)).unwrap();
        for step in &p.steps {
            if let LaunchStep::Kernel {
                function, geometry, ..
            } = step
            {
                assert_eq!(geometry.threads() % 32, 0, "{function}");
                // Only attn_decode's ring is dynamic; it fits the 64 KiB of LDS.
                if op == OpKind::AttnDecode && function.starts_with("hp_attn_decode_f16") {
                    assert!(geometry.shared_bytes as u64 <= launch::AMD_LDS_BYTES);
                } else {
                    assert_eq!(geometry.shared_bytes, 0, "{function}: static only");
                }
            }
        }
    }
}
