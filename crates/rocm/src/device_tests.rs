//! Tests of the ROCm device layer that need no GPU: offered implementations, reasons for
//! what is missing.

use super::*;
use hotpath_core::HostTensor;

#[test]
fn amd_offers_our_kernels_and_mfma_peaks() {
    assert_eq!(impls(OpKind::Gemv, DType::Bf16), vec!["hotpath"]);
    assert_eq!(impls(OpKind::PeakMma, DType::F32), vec!["hotpath"]);
    assert_eq!(impls(OpKind::PeakMma, DType::F16), vec!["hotpath"]);
    assert_eq!(impls(OpKind::PeakMma, DType::Bf16), vec!["hotpath"]);
    assert!(impls(OpKind::PeakMma, DType::Fp8E4m3).is_empty());
    assert!(impls(OpKind::AttnDecode, DType::Fp8E4m3).is_empty());
    for op in [OpKind::AddRmsnorm, OpKind::Rope, OpKind::SiluMul] {
        for d in [DType::F32, DType::F16, DType::Bf16] {
            assert_eq!(impls(op, d), vec!["hotpath"]);
        }
        assert!(impls(op, DType::Fp8E4m3).is_empty());
    }
}

#[test]
fn an_implementation_not_offered_says_why() {
    let fp8 = hotpath_core::OpSpec::parse(OpKind::Gemm, "m=64,n=64,k=64", DType::Fp8E4m3).unwrap();
    let found = Ok("/opt/rocm/lib/libhipblaslt.so".to_string());
    let why = unoffered_why("hipblaslt", &found, "AMD Instinct MI300X", "gfx942");
    let offered = impls_with(OpKind::Gemm, DType::Fp8E4m3, true);
    assert!(offered.is_empty());
    let e = hotpath_core::backend::unsupported_impl("rocm", &fp8, "hipblaslt", &offered, &why);
    assert_eq!(
        e.to_string(),
        "the rocm backend has no hipblaslt implementation of gemm for fp8_e4m3 (hipBLASLt, found at /opt/rocm/lib/libhipblaslt.so, runs gemm and gemv in f32, f16 and bf16 only); it offers: none"
    );
    let missing = Err("hipBLASLt not found (looked for libhipblaslt.so)".to_string());
    assert_eq!(
        unoffered_why("hipblaslt", &missing, "x", "y"),
        " (hipBLASLt not found (looked for libhipblaslt.so))"
    );
    assert_eq!(
        unoffered_why("hotpath", &found, "AMD Instinct MI250X", "gfx90a"),
        " on AMD Instinct MI250X (gfx90a)"
    );
}

#[test]
fn no_gpu_is_a_reason_not_a_panic() {
    match RocmBackend::new().devices() {
        Err(Error::NotAvailable(why)) => {
            assert!(
                why.contains("HIP runtime not found (looked for")
                    || why.contains("no usable AMD GPU")
                    || why.contains("no AMD GPU"),
                "{why}"
            )
        }
        Err(e) => panic!("expected NotAvailable, got {e}"),
        Ok(devs) => assert!(!devs.is_empty()),
    }
}

#[test]
fn bytes_come_back_as_host_data() {
    // bf16 1.0 = 0x3F80 and -2.0 = 0xC000, little-endian, as a device stores them.
    let data = HostTensor::from_le_bytes("o", vec![2], DType::Bf16, &[0x80, 0x3f, 0x00, 0xc0]).data;
    assert_eq!(
        data,
        hotpath_core::HostData::Bf16(vec![half::bf16::from_f32(1.0), half::bf16::from_f32(-2.0)])
    );
}

/// Every op and dtype, with and without hipBLASLt, on each AMD target CI compiles for (and
/// MI300X's): each implementation the table lists has a launcher (hipBLASLt for
/// `hipblaslt` alone), a planned one has a launch plan for the op's example shape, a host
/// copy has none, and an op listed nowhere is "not implemented on rocm".
#[test]
fn the_impl_table_and_the_launchers_agree() {
    use hotpath_core::target::Target;
    let targets = [
        Target::amd("gfx908", 120),
        Target::amd("gfx90a", 110),
        Target::amd("gfx942", 304),
    ];
    for op in OpKind::ALL {
        let mut listed = false;
        for dtype in DType::ALL {
            let spec = hotpath_core::OpSpec::parse(op, hotpath_core::op::shape_example(op), dtype)
                .unwrap();
            for imp in impls_with(op, dtype, true) {
                listed = true;
                let route = ops::route(op, imp).unwrap_or_else(|e| panic!("{op} {dtype}: {e}"));
                assert_eq!(
                    route == ops::Route::Blas,
                    imp == "hipblaslt",
                    "{op} {dtype}"
                );
                for target in &targets {
                    let what = format!("{op} {dtype} {imp} on {}", target.arch);
                    match (route, hotpath_core::launch_plan::build(&spec, target)) {
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
            // Without hipBLASLt, our kernels alone.
            let ours = impls_with(op, dtype, false);
            assert!(!ours.contains(&"hipblaslt"), "{op} {dtype}");
            assert_eq!(ours, impls(op, dtype), "{op} {dtype}");
        }
        if !listed {
            let e = ops::route(op, "hotpath").unwrap_err();
            assert!(matches!(e, Error::Unsupported(_)), "{e:?}");
            assert_eq!(e.to_string(), format!("{op} is not implemented on rocm"));
        }
    }
}
