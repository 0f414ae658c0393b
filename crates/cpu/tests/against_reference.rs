//! Every CPU kernel, every dtype, on small and ragged shapes, checked against core's f64
//! reference — the same check `hotpath run` does before timing.

use hotpath_core::check::check;
use hotpath_core::inputs::{generate, seed_for};
use hotpath_core::{Backend, DType, HostTensor, OpKind, OpSpec, Workload};
use hotpath_cpu::CpuBackend;

fn run(
    op: OpKind,
    shape: &str,
    dtype: DType,
    imp: &str,
    sets: usize,
) -> hotpath_core::check::Correctness {
    let spec = OpSpec::parse(op, shape, dtype).unwrap();
    let inputs = generate(&spec, seed_for(&spec)).unwrap();
    let mut dev = CpuBackend::new().open(0).unwrap();
    let mut p = dev
        .prepare(&Workload {
            spec: &spec,
            imp,
            inputs: &inputs,
            rotation_sets: sets,
        })
        .unwrap();
    // Time a few iterations first so rotation goes round, then check set 0.
    p.run(sets as u32 + 1).unwrap();
    let out = p.output().unwrap();
    let c = check(&spec, &inputs, &out).unwrap();
    assert!(c.pass, "{op} {shape} {dtype} {imp}: {c:?}");
    c
}

const DTYPES: [DType; 3] = [DType::F32, DType::F16, DType::Bf16];

#[test]
fn gemv_and_gemm_both_impls() {
    for d in DTYPES {
        for shape in ["m=1,n=37,k=100", "m=5,n=64,k=33", "m=16,n=9,k=256"] {
            run(OpKind::Gemv, shape, d, "hotpath", 2);
            run(OpKind::Gemv, shape, d, "candle", 1);
        }
        run(OpKind::Gemm, "m=33,n=17,k=65", d, "candle", 2);
    }
}

#[test]
fn quantized_gemvs_every_form() {
    // int4: every group size, both forms, m = 1 (four accumulator chains), 3 and 16 (one per
    // row), one and several tasks of rows, a k of one group and of many, whole 128-code chunks
    // (the bf16 path) in four chains and one left over.
    for d in [DType::F16, DType::Bf16] {
        for shape in [
            "m=1,n=37,k=128,group=32",
            "m=3,n=64,k=256,group=64,zero_points=1",
            "m=16,n=9,k=1152,group=128,zero_points=1",
            "m=1,n=70,k=4096,group=128",
            "m=5,n=33,k=96,group=32,zero_points=1",
            "m=2,n=20,k=640,group=64",
        ] {
            run(OpKind::GemvW4a16, shape, d, "hotpath", 2);
        }
        // fp8: a k of under one 16-code block, ragged tails, m from 1 to 16, whole 64-code
        // blocks (the bf16 path) in four chains and one left over.
        for shape in [
            "m=1,n=37,k=100",
            "m=4,n=64,k=7",
            "m=16,n=9,k=512",
            "m=1,n=70,k=4096",
            "m=2,n=20,k=320",
        ] {
            run(OpKind::GemvFp8w, shape, d, "hotpath", 2);
        }
    }
}

#[test]
fn quantized_gemvs_by_hand() {
    // int4, k = 32 (one group), symmetric: words 0x9999_9999 (q − 8 = 1) and 0x6666_6666
    // (q − 8 = −2) alternate, scale 0.5; a = 1 everywhere: c = 0.5·(16·1 + 16·(−2)) = −8.
    let spec = OpSpec::parse(OpKind::GemvW4a16, "m=1,n=1,k=32,group=32", DType::Bf16).unwrap();
    let inputs = hotpath_core::Inputs {
        fp8: Default::default(),
        tensors: vec![
            HostTensor::from_f32("a", vec![1, 32], DType::Bf16, &[1.0; 32]),
            HostTensor::from_u32(
                "w",
                vec![1, 4],
                vec![0x9999_9999, 0x6666_6666, 0x9999_9999, 0x6666_6666],
            ),
            HostTensor::from_f32("scales", vec![1, 1], DType::Bf16, &[0.5]),
            HostTensor::from_u32("zeros", vec![1], vec![0]),
        ],
    };
    assert_eq!(output(&spec, &inputs), vec![-8.0]);
    // fp8, k = 2: codes 0x38 (1) and 0xc0 (−2), scale 0.25, a = [3, 1]: 0.25·(3 − 2) = 0.25.
    let spec = OpSpec::parse(OpKind::GemvFp8w, "m=1,n=1,k=2", DType::F16).unwrap();
    let inputs = hotpath_core::Inputs {
        fp8: Default::default(),
        tensors: vec![
            HostTensor::from_f32("a", vec![1, 2], DType::F16, &[3.0, 1.0]),
            HostTensor {
                name: "w",
                shape: vec![1, 2],
                data: hotpath_core::HostData::Fp8E4m3(vec![0x38, 0xc0]),
            },
            HostTensor::from_f32("w_scale", vec![1], DType::F32, &[0.25]),
        ],
    };
    assert_eq!(output(&spec, &inputs), vec![0.25]);
}

/// The output of one run of `spec`'s hotpath kernel on `inputs`, as f32.
fn output(spec: &OpSpec, inputs: &hotpath_core::Inputs) -> Vec<f32> {
    let mut dev = CpuBackend::new().open(0).unwrap();
    let mut p = dev
        .prepare(&Workload {
            spec,
            imp: "hotpath",
            inputs,
            rotation_sets: 1,
        })
        .unwrap();
    p.run(1).unwrap();
    p.output().unwrap().to_f32_vec()
}

#[test]
fn quantized_gemvs_take_f16_and_bf16_activations_only() {
    let mut dev = CpuBackend::new().open(0).unwrap();
    for op in [OpKind::GemvW4a16, OpKind::GemvFp8w] {
        let spec = OpSpec::parse(op, "m=1,n=8,k=128", DType::F32).unwrap();
        let inputs = generate(&spec, 1).unwrap();
        let err = dev
            .prepare(&Workload {
                spec: &spec,
                imp: "hotpath",
                inputs: &inputs,
                rotation_sets: 1,
            })
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            err,
            format!(
                "the cpu backend has no hotpath implementation of {op} for f32; it offers: none"
            )
        );
    }
}

#[test]
fn prefill_attention_causal_full_gqa_ragged() {
    for d in DTYPES {
        run(
            OpKind::AttnPrefill,
            "seq=70,heads_q=4,heads_kv=2,head_dim=16",
            d,
            "hotpath",
            1,
        );
        run(
            OpKind::AttnPrefill,
            "batch=2,seq=65,heads_q=2,heads_kv=2,head_dim=8,causal=0",
            d,
            "hotpath",
            2,
        );
        run(
            OpKind::AttnPrefill,
            "seq=1,heads_q=3,heads_kv=1,head_dim=4",
            d,
            "hotpath",
            1,
        );
    }
}

#[test]
fn paged_decode_attention() {
    for d in DTYPES {
        // Context not a multiple of the page size: the last page's tail must be ignored.
        run(
            OpKind::AttnDecode,
            "batch=3,context=45,heads_q=8,heads_kv=2,head_dim=32,page_size=16",
            d,
            "hotpath",
            2,
        );
        run(
            OpKind::AttnDecode,
            "context=1,heads_q=2,heads_kv=2,head_dim=8,page_size=4",
            d,
            "hotpath",
            1,
        );
    }
}

#[test]
fn paged_decode_attention_over_an_fp8_cache() {
    // Codes with per-KV-head scales under every dtype: the grouped bf16 head dims (64, 128,
    // 256) and odd ones, every group 1..8, a context that is not a multiple of the page size,
    // several splits (600 tokens), one token.
    for d in DTYPES {
        for group in 1..=8 {
            run(
                OpKind::AttnDecode,
                &format!(
                    "batch=2,context=300,heads_q={},heads_kv=2,head_dim=128,page_size=16,kv_fp8=1",
                    2 * group
                ),
                d,
                "hotpath",
                1,
            );
        }
        for shape in [
            "batch=3,context=45,heads_q=8,heads_kv=2,head_dim=64,page_size=16",
            "batch=2,context=600,heads_q=16,heads_kv=2,head_dim=256,page_size=16",
            "batch=2,context=77,heads_q=6,heads_kv=3,head_dim=40,page_size=5",
            "context=33,heads_q=3,heads_kv=1,head_dim=5,page_size=4",
            "context=1,heads_q=2,heads_kv=2,head_dim=8,page_size=4",
        ] {
            run(
                OpKind::AttnDecode,
                &format!("{shape},kv_fp8=1"),
                d,
                "hotpath",
                2,
            );
        }
    }
}

#[test]
fn mla_decode_in_every_dtype_and_over_an_fp8_cache() {
    // The small shape (a partial last page: 300 = 4·64 + 44), DeepSeek's widths at 16 heads
    // (a split of 512 tokens and a partial one), odd heads and pages of 5, one token; each
    // with the cache in the dtype and in fp8.
    for d in DTYPES {
        for shape in [
            "batch=2,context=300,heads_q=16,kv_lora=64,rope_dim=32,page_size=64",
            "batch=1,context=700,heads_q=16,kv_lora=512,rope_dim=64,page_size=64",
            "batch=3,context=77,heads_q=5,kv_lora=32,rope_dim=16,page_size=5",
            "context=1,heads_q=2,kv_lora=16,rope_dim=8,page_size=4",
        ] {
            for fp8 in ["", ",kv_fp8=1"] {
                run(
                    OpKind::AttnMlaDecode,
                    &format!("{shape}{fp8}"),
                    d,
                    "hotpath",
                    2,
                );
            }
        }
    }
}

#[test]
fn attention_for_every_gqa_group_and_odd_head_dims() {
    for d in DTYPES {
        for group in 1..=8 {
            let hq = 2 * group;
            run(
                OpKind::AttnDecode,
                &format!("batch=2,context=300,heads_q={hq},heads_kv=2,head_dim=40,page_size=16"),
                d,
                "hotpath",
                1,
            );
            run(
                OpKind::AttnPrefill,
                &format!("seq=67,heads_q={hq},heads_kv=2,head_dim=24"),
                d,
                "hotpath",
                1,
            );
        }
        run(
            OpKind::AttnDecode,
            "context=33,heads_q=3,heads_kv=1,head_dim=5,page_size=4",
            d,
            "hotpath",
            1,
        );
        run(
            OpKind::AttnPrefill,
            "seq=9,heads_q=3,heads_kv=3,head_dim=7",
            d,
            "hotpath",
            1,
        );
    }
}

#[test]
fn prefill_longer_than_one_key_block() {
    // 600 keys are three steps of the online softmax; 130 query positions are three blocks.
    for d in DTYPES {
        for causal in [0, 1] {
            run(
                OpKind::AttnPrefill,
                &format!("seq=600,heads_q=2,heads_kv=1,head_dim=16,causal={causal}"),
                d,
                "hotpath",
                1,
            );
        }
    }
}

#[test]
fn decode_with_ragged_and_empty_sequences() {
    for d in DTYPES {
        let spec = OpSpec::parse(
            OpKind::AttnDecode,
            "batch=4,context=600,heads_q=4,heads_kv=2,head_dim=32,page_size=16",
            d,
        )
        .unwrap();
        let mut inputs = generate(&spec, seed_for(&spec)).unwrap();
        // Several splits, one page's worth, nothing, and one token.
        let lens = HostTensor::from_i32("seq_lens", vec![4], vec![600, 16, 0, 1]);
        for t in inputs.tensors.iter_mut().filter(|t| t.name == "seq_lens") {
            *t = lens.clone();
        }
        let mut dev = CpuBackend::new().open(0).unwrap();
        let mut p = dev
            .prepare(&Workload {
                spec: &spec,
                imp: "hotpath",
                inputs: &inputs,
                rotation_sets: 2,
            })
            .unwrap();
        p.run(3).unwrap();
        let out = p.output().unwrap();
        let c = check(&spec, &inputs, &out).unwrap();
        assert!(c.pass, "{d}: {c:?}");
    }
}

#[test]
fn embedding_gather_every_path() {
    // Vector rows, element rows (5 of f16), one token, a table of one row.
    for d in DTYPES {
        for shape in [
            "tokens=64,hidden=4096,vocab=1000",
            "tokens=7,hidden=5,vocab=40",
            "tokens=1,hidden=8,vocab=1",
        ] {
            run(OpKind::Embedding, shape, d, "hotpath", 2);
        }
    }
}

#[test]
fn kv_cache_scatter_and_gather() {
    for d in DTYPES {
        run(
            OpKind::KvWrite,
            "tokens=37,heads_kv=2,head_dim=8,page_size=16",
            d,
            "hotpath",
            3,
        );
        run(
            OpKind::KvRead,
            "tokens=37,heads_kv=2,head_dim=8,page_size=16",
            d,
            "hotpath",
            3,
        );
        // The fp8 cache: quantized per head on the way in, dequantized on the way out. The
        // written codes must be the reference's exactly (nmse 0: the same f32 operations).
        for shape in [
            "tokens=37,heads_kv=2,head_dim=8,page_size=16,kv_fp8=1",
            "tokens=5,heads_kv=3,head_dim=5,page_size=4,kv_fp8=1",
            // Heads of two 16-element vectors and a tail of 8 (the fused bf16 codecs).
            "tokens=9,heads_kv=2,head_dim=40,page_size=4,kv_fp8=1",
        ] {
            let c = run(OpKind::KvWrite, shape, d, "hotpath", 2);
            assert_eq!(c.nmse, 0.0, "{shape} {d}");
            run(OpKind::KvRead, shape, d, "hotpath", 2);
        }
    }
}

#[test]
fn fused_add_rmsnorm_every_path() {
    // One element, ragged rows, rows longer than one 1024-element piece (and not a multiple
    // of it), many short rows batched into one task, one long row.
    for d in DTYPES {
        for shape in [
            "tokens=1,hidden=1",
            "tokens=5,hidden=7",
            "tokens=3,hidden=1030",
            "tokens=64,hidden=4096",
            "tokens=300,hidden=24",
            "tokens=1,hidden=8192",
        ] {
            run(OpKind::AddRmsnorm, shape, d, "hotpath", 2);
        }
    }
}

#[test]
fn fused_add_rmsnorm_by_hand() {
    // r = [1+2, 2+2] = [3, 4]; mean r² = 12.5; y = [3, 4·0.5]/√12.5 = [0.84852814, 0.56568542].
    let spec = OpSpec::parse(OpKind::AddRmsnorm, "tokens=1,hidden=2", DType::F32).unwrap();
    let f32s = |name, shape, v: &[f32]| HostTensor::from_f32(name, shape, DType::F32, v);
    let inputs = hotpath_core::Inputs {
        fp8: Default::default(),
        tensors: vec![
            f32s("x", vec![1, 2], &[1.0, 2.0]),
            f32s("residual", vec![1, 2], &[2.0, 2.0]),
            f32s("weight", vec![2], &[1.0, 0.5]),
        ],
    };
    let mut dev = CpuBackend::new().open(0).unwrap();
    let mut p = dev
        .prepare(&Workload {
            spec: &spec,
            imp: "hotpath",
            inputs: &inputs,
            rotation_sets: 1,
        })
        .unwrap();
    p.run(1).unwrap();
    let out = p.output().unwrap();
    assert_eq!(out.shape, vec![2, 1, 2]);
    let v = out.to_f32_vec();
    assert!((v[0] - 0.848_528_1).abs() < 1e-6, "{v:?}");
    assert!((v[1] - 0.565_685_4).abs() < 1e-6, "{v:?}");
    assert_eq!(&v[2..], &[3.0, 4.0]);
}

#[test]
fn fused_add_rmsnorm_refuses_fp8() {
    let spec = OpSpec::parse(OpKind::AddRmsnorm, "tokens=2,hidden=8", DType::Fp8E4m3).unwrap();
    let inputs = generate(&spec, 1).unwrap();
    let mut dev = CpuBackend::new().open(0).unwrap();
    let err = dev
        .prepare(&Workload {
            spec: &spec,
            imp: "hotpath",
            inputs: &inputs,
            rotation_sets: 1,
        })
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        err,
        "the cpu backend has no hotpath implementation of add_rmsnorm for fp8_e4m3; it offers: none"
    );
}

/// Prepares `spec` on `inputs` with one rotation set: the kernel, or the refusal.
fn prepare_one(
    spec: &OpSpec,
    inputs: &hotpath_core::Inputs,
) -> hotpath_core::Result<Box<dyn hotpath_core::Prepared>> {
    CpuBackend::new().open(0).unwrap().prepare(&Workload {
        spec,
        imp: "hotpath",
        inputs,
        rotation_sets: 1,
    })
}

#[test]
fn silu_mul_every_path() {
    // One element, ragged rows, a row past one 2048-element piece and not a multiple of it,
    // a row split over several tasks, the CPU suite's width, many short rows.
    for d in DTYPES {
        for shape in [
            "tokens=1,intermediate=1",
            "tokens=5,intermediate=7",
            "tokens=3,intermediate=2049",
            "tokens=2,intermediate=40000",
            "tokens=4,intermediate=14336",
            "tokens=300,intermediate=24",
        ] {
            run(OpKind::SiluMul, shape, d, "hotpath", 2);
        }
    }
}

#[test]
fn silu_mul_by_hand_and_fp8_refused() {
    // Gates [0, 2], ups [5, 3]: silu(0)·5 = 0; silu(2)·3 = 2/(1 + e^−2)·3 = 5.2847825.
    let spec = OpSpec::parse(OpKind::SiluMul, "tokens=1,intermediate=2", DType::F32).unwrap();
    let inputs = hotpath_core::Inputs {
        fp8: Default::default(),
        tensors: vec![HostTensor::from_f32(
            "x",
            vec![1, 4],
            DType::F32,
            &[0.0, 2.0, 5.0, 3.0],
        )],
    };
    let mut p = prepare_one(&spec, &inputs).unwrap();
    p.run(1).unwrap();
    let out = p.output().unwrap();
    assert_eq!(out.shape, vec![1, 2]);
    let v = out.to_f32_vec();
    assert_eq!(v[0], 0.0);
    assert!((v[1] - 5.284_782_5).abs() < 1e-6, "{v:?}");
    let fp8 = OpSpec::parse(OpKind::SiluMul, "tokens=2,intermediate=8", DType::Fp8E4m3).unwrap();
    let err = prepare_one(&fp8, &generate(&fp8, 1).unwrap())
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        err,
        "the cpu backend has no hotpath implementation of silu_mul for fp8_e4m3; it offers: none"
    );
}

#[test]
fn rope_every_path() {
    // Llama-3.1-8B heads in both layouts, a partial rotary_dim, heads of 6 with one pair,
    // a head longer than a widened group (the scalar path), many tokens of small heads.
    for d in DTYPES {
        for shape in [
            "tokens=5,max_position=64",
            "tokens=5,max_position=64,gptj=1",
            "tokens=3,heads_q=4,heads_kv=2,head_dim=128,rotary_dim=64,max_position=100",
            "tokens=7,heads_q=3,heads_kv=1,head_dim=6,rotary_dim=2,max_position=9,gptj=1",
            "tokens=7,heads_q=3,heads_kv=1,head_dim=6,rotary_dim=2,max_position=9",
            "tokens=2,heads_q=1,heads_kv=1,head_dim=5000,rotary_dim=4998,max_position=3",
            "tokens=300,heads_q=2,heads_kv=2,head_dim=16,max_position=4096,rotary_dim=16",
        ] {
            run(OpKind::Rope, shape, d, "hotpath", 2);
        }
    }
}

#[test]
fn rope_by_hand() {
    // rotary_dim 4, cache row 1: pair 0 a quarter turn (cos 0, sin 1), pair 1 a half turn
    // (cos −1, sin 0); row 0 the identity. Token 0 at position 1, token 1 at position 0.
    // NeoX: [1, 2, 3, 4] → (x0, x2) = (−3, 1), (x1, x3) = (−2, −4); elements 4, 5 copied.
    // GPT-J: (x0, x1) = (−2, 1), (x2, x3) = (−3, −4).
    let turns = [1.0, 1.0, 0.0, 0.0, 0.0, -1.0, 1.0, 0.0];
    for (gptj, want) in [
        (0, [-3.0, -2.0, 1.0, -4.0, 5.0, 6.0]),
        (1, [-2.0, 1.0, -3.0, -4.0, 5.0, 6.0]),
    ] {
        let shape = format!(
            "tokens=2,heads_q=1,heads_kv=1,head_dim=6,rotary_dim=4,max_position=2,gptj={gptj}"
        );
        let spec = OpSpec::parse(OpKind::Rope, &shape, DType::F32).unwrap();
        let qk: Vec<f32> = (0..24).map(|i| (i % 6 + 1) as f32).collect();
        let inputs = hotpath_core::Inputs {
            fp8: Default::default(),
            tensors: vec![
                HostTensor::from_i32("positions", vec![2], vec![1, 0]),
                HostTensor::from_f32("qk", vec![2, 2, 6], DType::F32, &qk),
                HostTensor::from_f32("cos_sin", vec![2, 4], DType::F32, &turns),
            ],
        };
        let mut p = prepare_one(&spec, &inputs).unwrap();
        p.run(1).unwrap();
        let v = p.output().unwrap().to_f32_vec();
        assert_eq!(&v[..6], &want, "gptj={gptj}: token 0, q");
        assert_eq!(&v[6..12], &want, "gptj={gptj}: token 0, k");
        assert_eq!(&v[12..], &qk[12..], "gptj={gptj}: token 1 at position 0");
    }
}

#[test]
fn rope_refuses_fp8_and_a_position_past_the_cache() {
    let fp8 = OpSpec::parse(OpKind::Rope, "tokens=2,max_position=8", DType::Fp8E4m3).unwrap();
    let err = prepare_one(&fp8, &generate(&fp8, 1).unwrap())
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("no hotpath implementation of rope for fp8_e4m3"),
        "{err}"
    );
    let shape = "tokens=1,heads_q=1,heads_kv=1,head_dim=2,rotary_dim=2,max_position=2";
    let spec = OpSpec::parse(OpKind::Rope, shape, DType::F32).unwrap();
    let inputs = hotpath_core::Inputs {
        fp8: Default::default(),
        tensors: vec![
            HostTensor::from_i32("positions", vec![1], vec![2]),
            HostTensor::from_f32("qk", vec![1, 2, 2], DType::F32, &[1.0; 4]),
            HostTensor::from_f32("cos_sin", vec![2, 2], DType::F32, &[1.0, 0.0, 0.0, 1.0]),
        ],
    };
    let err = prepare_one(&spec, &inputs).err().unwrap().to_string();
    assert!(err.contains("holds 2, outside 0..2"), "{err}");
}

#[test]
fn stream_ceilings_and_peak() {
    for d in DTYPES {
        for op in [OpKind::Copy, OpKind::Read, OpKind::Write, OpKind::Triad] {
            run(op, "elements=200003", d, "hotpath", 2);
        }
    }
    let c = run(OpKind::PeakMma, "iters=3000", DType::F32, "hotpath", 1);
    assert!(c.checked_elements >= 192);
}

#[test]
fn unsupported_combinations_say_what_is_offered() {
    let spec = OpSpec::parse(OpKind::Gemm, "m=4,n=4,k=4", DType::Bf16).unwrap();
    let inputs = generate(&spec, 1).unwrap();
    let mut dev = CpuBackend::new().open(0).unwrap();
    let err = dev
        .prepare(&Workload {
            spec: &spec,
            imp: "hotpath",
            inputs: &inputs,
            rotation_sets: 1,
        })
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        err,
        "the cpu backend has no hotpath implementation of gemm for bf16; it offers: candle"
    );
    assert!(dev.impls(OpKind::Gemv, DType::Fp8E4m3).is_empty());
    assert!(CpuBackend::new()
        .open(1)
        .err()
        .unwrap()
        .to_string()
        .contains("accepted: 0"));
}

#[test]
fn peak_counts_its_own_flops() {
    let spec = OpSpec::parse(OpKind::PeakMma, "iters=10", DType::F32).unwrap();
    let inputs = generate(&spec, 1).unwrap();
    let mut dev = CpuBackend::new().open(0).unwrap();
    let p = dev
        .prepare(&Workload {
            spec: &spec,
            imp: "hotpath",
            inputs: &inputs,
            rotation_sets: 1,
        })
        .unwrap();
    let threads = rayon::current_num_threads() as u64;
    // 192 chains per thread, one FMA (2 FLOPs) per chain per step, 10 steps.
    assert_eq!(p.counted_work().unwrap().flops, threads * 192 * 2 * 10);
}

#[test]
fn moe_gemm_every_dtype_and_routing() {
    // Uniform and Zipf routing, an idle expert (the small shape's routing leaves one), one
    // token, top_k = experts, a ragged last chunk of rows (n = 37), many rows per expert.
    for d in DTYPES {
        for shape in [
            "tokens=12,experts=8,top_k=2,n=192,k=256,zipf_x100=120",
            "tokens=1,experts=16,top_k=4,n=37,k=100",
            "tokens=9,experts=4,top_k=4,n=20,k=64,route_seed=3",
            "tokens=64,experts=6,top_k=2,n=33,k=72,zipf_x100=150,route_seed=1",
            "tokens=40,experts=32,top_k=3,n=48,k=40",
        ] {
            run(OpKind::MoeGemm, shape, d, "hotpath", 2);
        }
    }
}

#[test]
fn moe_gemm_by_hand() {
    // x = 1 everywhere and w[e][c][·] = e + 1 + c, so x·w[e][c] = k·(e + 1 + c) and, the
    // router weights summing to 1, y[t][c] = k·(Σ_j g_tj·(e_tj + 1) + c). k = 8, n = 4, bf16:
    // token 0 → experts (2, 0) by (0.75, 0.25): 8·(2.5 + c) = 20, 28, 36, 44; token 1 →
    // (1, 2) by (0.25, 0.75): 8·(2.75 + c) = 22, 30, 38, 46 (all exact in bf16).
    let spec = OpSpec::parse(
        OpKind::MoeGemm,
        "tokens=2,experts=3,top_k=2,n=4,k=8",
        DType::Bf16,
    )
    .unwrap();
    let w: Vec<f32> = (0..3 * 4)
        .flat_map(|row| [(row / 4 + 1 + row % 4) as f32; 8])
        .collect();
    let inputs = hotpath_core::Inputs {
        fp8: Default::default(),
        tensors: vec![
            HostTensor::from_f32("x", vec![2, 8], DType::Bf16, &[1.0; 16]),
            HostTensor::from_f32("w", vec![3, 4, 8], DType::Bf16, &w),
            HostTensor::from_i32("topk_ids", vec![2, 2], vec![2, 0, 1, 2]),
            HostTensor::from_f32(
                "topk_weights",
                vec![2, 2],
                DType::F32,
                &[0.75, 0.25, 0.25, 0.75],
            ),
        ],
    };
    assert_eq!(
        output(&spec, &inputs),
        vec![20.0, 28.0, 36.0, 44.0, 22.0, 30.0, 38.0, 46.0]
    );
}
