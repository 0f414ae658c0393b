//! Results files for the report's tests: the committed CPU run, and synthetic GPU runs whose
//! every number is chosen by hand (round values, so expected pixels and rates are easy to
//! derive by hand).

use std::collections::BTreeMap;

use hotpath_core::dtype::DType;
use hotpath_core::op::{OpKind, OpSpec};
use hotpath_core::results::{BenchmarkResult, Rates, ResultsFile, Status, TimeStats};
use hotpath_core::roofline::Roofs;

/// The committed 2-core CPU quick run, its roofs recomputed by the current rules (the stored
/// ones may come from an older build).
pub fn cpu_file() -> ResultsFile {
    let text = include_str!("../../../results/cpu-epyc-2core-quick.json");
    let mut f: ResultsFile = serde_json::from_str(text).expect("the committed file parses");
    let mut spec = f.hardware.clone();
    spec.mem_bytes_per_s = None;
    spec.peak_flops.clear();
    spec.sources.retain(|k, _| k == "file");
    let cpu = |d: DType| {
        if d == DType::Fp8E4m3 {
            d
        } else {
            DType::F32
        }
    };
    hotpath_core::runner::update_roofs(&mut f, &spec, &cpu);
    f
}

/// The rate a synthetic benchmark is measured at; its median time follows from its work.
#[derive(Clone, Copy, Debug)]
pub enum Rate {
    /// Compulsory bytes per second.
    Bytes(f64),
    /// FLOP per second.
    Flops(f64),
}

/// A benchmark of `op shape dtype imp` measured at `rate` (every sample equal), its work
/// from the cost model (`peak_mma`: `kernel_flops`, as its kernel would count them).
pub fn bench(
    op: OpKind,
    shape: &str,
    dtype: DType,
    imp: &str,
    rate: Rate,
    kernel_flops: Option<u64>,
) -> BenchmarkResult {
    let spec = OpSpec::parse(op, shape, dtype).expect("test shapes are valid");
    let w = spec.work().unwrap();
    let flops = kernel_flops.unwrap_or(w.flops);
    let median_s = match rate {
        Rate::Bytes(r) => w.bytes as f64 / r,
        Rate::Flops(r) => flops as f64 / r,
    };
    BenchmarkResult {
        id: spec.id(imp),
        op,
        shape: spec.shape.clone(),
        dtype,
        imp: imp.to_string(),
        status: Status::Ok,
        error: None,
        flops,
        bytes: w.bytes,
        time: Some(TimeStats {
            median_s,
            min_s: median_s,
            mean_s: median_s,
            stdev_s: 0.0,
            p10_s: median_s,
            p90_s: median_s,
            mad_s: 0.0,
        }),
        samples_s: vec![median_s; 10],
        rates: Some(Rates {
            flops_per_s: flops as f64 / median_s,
            bytes_per_s: w.bytes as f64 / median_s,
        }),
        roofline: None,
        correctness: None,
        discarded_samples: 0,
        measurement: None,
        graph: None,
        telemetry: None,
        fp8_encoding: None,
    }
}

/// A synthetic H100 run: spec roofs 3.35 TB/s and 989.4 bf16 TFLOP/s from the datasheet,
/// measured roofs 3.0 TB/s (its copy) and 800 TFLOP/s (its peak_mma); a gemv
/// m=1,n=16384,k=8192 bf16 at 2.5 TB/s and a gemm 8192³ bf16 at 600 TFLOP/s.
pub fn h100_file() -> ResultsFile {
    gpu_file(
        ("NVIDIA H100 80GB HBM3", "h100-sxm", "cuda"),
        (3.35e12, 989.4e12),
        (3.0e12, 8e14),
        2.5e12,
        Some(6e14),
    )
}

/// A synthetic MI300X run: spec 5.3 TB/s and 1307.4 bf16 TFLOP/s, measured 4.0 TB/s and
/// 1000 TFLOP/s; a gemv at 3.5 TB/s, no gemm.
pub fn mi300x_file() -> ResultsFile {
    gpu_file(
        ("AMD Instinct MI300X", "mi300x", "rocm"),
        (5.3e12, 1307.4e12),
        (4.0e12, 1e15),
        3.5e12,
        None,
    )
}

/// A GPU run: (device name, hardware id, backend), spec and measured (bandwidth, bf16 peak),
/// the gemv's bytes/s and the gemm's FLOP/s (no gemm when `None`).
pub fn gpu_file(
    device: (&str, &str, &str),
    spec: (f64, f64),
    measured: (f64, f64),
    gemv_bytes_per_s: f64,
    gemm_flops_per_s: Option<f64>,
) -> ResultsFile {
    let mut f = cpu_file();
    f.device.name = device.0.into();
    f.hardware.id = device.1.into();
    f.device.backend = device.2.into();
    f.hardware.mem_bytes_per_s = Some(spec.0);
    f.hardware.peak_flops = BTreeMap::from([("bf16".to_string(), spec.1)]);
    f.hardware.sources = BTreeMap::from([
        ("file".to_string(), format!("hardware/{}.toml", device.1)),
        ("mem_bytes_per_s".to_string(), "datasheet".to_string()),
        ("peak_flops".to_string(), "datasheet, dense".to_string()),
    ]);
    f.measured = Roofs {
        mem_bytes_per_s: Some(measured.0),
        peak_flops: BTreeMap::from([("bf16".to_string(), measured.1)]),
        set_by: BTreeMap::new(),
    };
    // peak_mma: the kernel counts measured.1 FLOP in one second.
    let peak_flops = measured.1 as u64;
    f.benchmarks = vec![
        bench(
            OpKind::Copy,
            "elements=268435456",
            DType::F32,
            "hotpath",
            Rate::Bytes(measured.0),
            None,
        ),
        bench(
            OpKind::PeakMma,
            "iters=65536",
            DType::Bf16,
            "hotpath",
            Rate::Flops(measured.1),
            Some(peak_flops),
        ),
        bench(
            OpKind::Gemv,
            "m=1,n=16384,k=8192",
            DType::Bf16,
            "hotpath",
            Rate::Bytes(gemv_bytes_per_s),
            None,
        ),
    ];
    if let Some(r) = gemm_flops_per_s {
        f.benchmarks.push(bench(
            OpKind::Gemm,
            "m=8192,n=8192,k=8192",
            DType::Bf16,
            "cublaslt",
            Rate::Flops(r),
            None,
        ));
    }
    hotpath_core::runner::place_on_roofline(&mut f);
    f
}
