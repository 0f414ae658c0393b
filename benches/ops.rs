//! criterion harnesses over the same ops `hotpath run` measures, on the auto backend (CUDA,
//! then ROCm, then CPU). Each iteration is timed by the backend's own timer (`iter_custom`
//! over `Prepared::run`: device events on a GPU, the wall clock on a CPU) and criterion's
//! throughput is the cost model's compulsory bytes, so its reports show decimal GB/s.
//! Inputs are checked against the reference before they are timed, as in `hotpath run`.
//!
//! `cargo bench --bench ops` (add `-- gemv` to run one family).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hotpath_core::inputs::{generate, seed_for};
use hotpath_core::{Backend, DType, Device, OpKind, OpSpec, Workload};

fn device() -> Option<Box<dyn Device>> {
    let backends: Vec<Box<dyn Backend>> = vec![
        Box::new(hotpath_cuda::CudaBackend::new()),
        Box::new(hotpath_rocm::RocmBackend::new()),
        Box::new(hotpath_cpu::CpuBackend::new()),
    ];
    backends
        .into_iter()
        .find_map(|b| b.devices().ok().and_then(|_| b.open(0).ok()))
}

/// One benchmark: op, shape, dtype.
type Case = (OpKind, &'static str, DType);

/// Op families and their shapes: small enough for a CPU, representative of decode/prefill.
fn families() -> Vec<(&'static str, Vec<Case>)> {
    vec![
        (
            "stream",
            vec![
                (OpKind::Copy, "elements=16M", DType::F32),
                (OpKind::Triad, "elements=16M", DType::F32),
            ],
        ),
        (
            "gemv",
            vec![
                (OpKind::Gemv, "m=1,n=14336,k=4096", DType::Bf16),
                (OpKind::Gemv, "m=8,n=4096,k=4096", DType::Bf16),
            ],
        ),
        (
            "gemm",
            vec![(OpKind::Gemm, "m=512,n=512,k=512", DType::F32)],
        ),
        (
            "attention",
            vec![
                (OpKind::AttnDecode, "batch=1,context=4096", DType::Bf16),
                (OpKind::AttnPrefill, "seq=256", DType::Bf16),
            ],
        ),
        (
            "kv",
            vec![
                (OpKind::KvWrite, "tokens=4096", DType::Bf16),
                (OpKind::KvRead, "tokens=4096", DType::Bf16),
            ],
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let Some(mut dev) = device() else {
        eprintln!("no backend has a usable device");
        return;
    };
    let backend = dev.info().backend.clone();
    for (family, specs) in families() {
        let mut group = c.benchmark_group(format!("{backend}/{family}"));
        group
            .measurement_time(Duration::from_secs(3))
            .sample_size(20);
        for (op, shape, dtype) in specs {
            let Ok(spec) = OpSpec::parse(op, shape, dtype) else {
                continue;
            };
            let Some(imp) = dev.impls(op, dtype).first().copied() else {
                continue;
            };
            let inputs = generate(&spec, seed_for(&spec));
            let plan =
                hotpath_core::runner::cache_plan(&spec, dev.info(), hotpath_core::CacheMode::Cold);
            let work = Workload {
                spec: &spec,
                imp,
                inputs: &inputs,
                rotation_sets: plan.sets,
            };
            let Ok(mut prepared) = dev.prepare(&work) else {
                continue;
            };
            let checked = prepared
                .output()
                .and_then(|o| hotpath_core::check::check(&spec, &inputs, &o));
            if !checked.as_ref().is_ok_and(|c| c.pass) {
                eprintln!(
                    "{}: output does not match the reference; not timed",
                    spec.id(imp)
                );
                continue;
            }
            group.throughput(Throughput::BytesDecimal(spec.work().bytes));
            group.bench_function(spec.id(imp), |b| {
                b.iter_custom(|iters| {
                    let t = prepared
                        .run(iters.min(u32::MAX as u64) as u32)
                        .map(|s| s.0)
                        .unwrap_or(f64::NAN);
                    Duration::from_secs_f64(if t.is_finite() { t } else { 0.0 })
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
