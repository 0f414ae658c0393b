//! Tests of the CUDA device layer that need no GPU: offered implementations, the launcher
//! each runs on, kernel files, the missing-driver reason.

use super::*;
use hotpath_core::launch_plan;
use hotpath_core::target::Target;
use hotpath_core::OpSpec;

#[test]
fn impls_follow_the_architecture() {
    assert_eq!(
        impls(OpKind::Gemm, DType::Bf16, (9, 0)),
        vec!["hotpath", "cublaslt"]
    );
    assert_eq!(
        impls(OpKind::Gemm, DType::Fp8E4m3, (9, 0)),
        vec!["cublaslt"]
    );
    assert!(
        impls(OpKind::Gemm, DType::Fp8E4m3, (8, 0)).is_empty(),
        "A100 has no fp8"
    );
    assert!(impls(OpKind::PeakMma, DType::Fp8E4m3, (8, 0)).is_empty());
    assert_eq!(
        impls(OpKind::PeakMma, DType::Fp8E4m3, (8, 9)),
        vec!["hotpath"]
    );
    assert_eq!(
        impls(OpKind::PeakMma, DType::Fp8E4m3, (9, 0)),
        vec!["hotpath"]
    );
    assert!(impls(OpKind::PeakMma, DType::Fp8E4m3, (10, 0)).is_empty());
    assert_eq!(
        impls(OpKind::Gemv, DType::Bf16, (8, 0)),
        vec!["hotpath", "cublaslt"]
    );
    assert!(impls(OpKind::AttnDecode, DType::Fp8E4m3, (9, 0)).is_empty());
}

#[test]
fn kernel_functions_map_to_their_files() {
    assert_eq!(file_of("hp_gemv_finish_bf16"), "gemv.cu");
    assert_eq!(file_of("hp_attn_decode_combine_f16"), "attn_decode.cu");
    assert_eq!(file_of("hp_kv_read_f32"), "kv.cu");
    assert_eq!(file_of("hp_reduce_partials"), "stream.cu");
    assert_eq!(file_of("hp_peak_fma_f32"), "peak.cu");
    assert_eq!(file_of("hp_copy"), "stream.cu");
}

#[test]
fn no_driver_is_a_reason_not_a_panic() {
    // This machine (and CI) has no NVIDIA driver; on a GPU node the backend opens.
    match CudaBackend::new().devices() {
        Err(Error::NotAvailable(why)) => assert!(why.contains("driver"), "{why}"),
        Err(e) => panic!("expected NotAvailable, got {e}"),
        Ok(devs) => assert!(!devs.is_empty()),
    }
}

/// A device of each architecture CI compiles for, with its shared memory after the opt-in.
fn targets() -> [((i32, i32), Target); 4] {
    let of = |arch: &str, units, smem_per_block, smem_per_unit, threads_per_unit| Target {
        arch: arch.into(),
        units,
        smem_per_block,
        smem_per_unit,
        threads_per_unit,
        ..Target::h100()
    };
    [
        ((8, 0), of("sm_80", 108, 166_912, 167_936, 2048)),
        ((8, 9), of("sm_89", 142, 101_376, 102_400, 1536)),
        ((9, 0), Target::h100()),
        ((10, 0), of("sm_100a", 148, 232_448, 233_472, 2048)),
    ]
}

/// Every op, dtype and architecture: each implementation the table lists has a launcher
/// (cuBLASLt for `cublaslt` alone), a planned one has a launch plan for the op's example
/// shape, a host copy has none, and an op listed nowhere is "not implemented on cuda".
#[test]
fn the_impl_table_and_the_launchers_agree() {
    for op in OpKind::ALL {
        let mut listed = false;
        for ((cc, target), dtype) in targets()
            .into_iter()
            .flat_map(|t| DType::ALL.map(|d| (t.clone(), d)))
        {
            let spec = OpSpec::parse(op, hotpath_core::op::shape_example(op), dtype).unwrap();
            for imp in impls(op, dtype, cc) {
                listed = true;
                let what = format!("{op} {dtype} {imp} on {}", target.arch);
                let route = ops::route(op, imp).unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(route == ops::Route::Blas, imp == "cublaslt", "{what}");
                match (route, launch_plan::build(&spec, &target)) {
                    (ops::Route::Planned, Ok(_)) | (ops::Route::Blas, _) => {}
                    (ops::Route::Planned, Err(Error::BadInput(why))) => {
                        eprintln!("{what}: refused for its shape: {why}")
                    }
                    (ops::Route::Planned, Err(e)) => panic!("{what}: listed, but {e}"),
                    (ops::Route::Host, Ok(_)) => panic!("{what}: a copy with a kernel plan"),
                    (ops::Route::Host, Err(_)) => {}
                }
            }
        }
        if !listed {
            let e = ops::route(op, "hotpath").unwrap_err();
            assert!(matches!(e, Error::Unsupported(_)), "{e:?}");
            assert_eq!(e.to_string(), format!("{op} is not implemented on cuda"));
        }
    }
}
