//! criterion harnesses over the same ops `hotpath run` measures, on the auto backend (CUDA,
//! then ROCm, then CPU). Each iteration is timed by the backend's own timer (`iter_custom`
//! over `Prepared::run`: device events on a GPU, the wall clock on a CPU) and criterion's
//! throughput is the cost model's compulsory bytes, so its reports show decimal GB/s.
//! Inputs are checked against the reference before they are timed, as in `hotpath run`.
//! A benchmark that cannot be prepared, checked or run is reported on stderr as NOT
//! MEASURED and the bench exits 1; a run that fails mid-sampling stops the bench with its
//! reason (criterion cannot drop a sample, and a made-up one would be averaged in).
//!
//! `cargo bench --bench ops` (add `-- gemv` to run one family).

use std::sync::Mutex;
use std::time::Duration;

use criterion::{criterion_group, Criterion, Throughput};
use hotpath_core::inputs::{generate, seed_for};
use hotpath_core::{Backend, DType, Device, OpKind, OpSpec, Prepared, Workload};

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

/// Benchmarks that could not be measured, one line each; the bench exits 1 when any.
static FAILURES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Says why a benchmark is not measured, now on stderr and again in the final summary.
fn fail(msg: String) {
    eprintln!("ops bench: NOT MEASURED: {msg}");
    if let Ok(mut f) = FAILURES.lock() {
        f.push(msg);
    }
}

/// One timed batch of `iters` iterations on the backend's own clock. criterion has no way to
/// reject a sample, and a made-up one (0 s) would be averaged in silently: a run that fails
/// or returns a time that is not a positive number stops the bench with the reason.
fn timed(prepared: &mut dyn Prepared, id: &str, iters: u64) -> Duration {
    let n = iters.clamp(1, u32::MAX as u64) as u32;
    match prepared.run(n) {
        Ok(t) if t.0.is_finite() && t.0 > 0.0 => Duration::from_secs_f64(t.0),
        Ok(t) => panic!("ops bench: {id}: {n} iterations returned {} s, not a positive time; stopping rather than record a made-up sample", t.0),
        Err(e) => panic!("ops bench: {id}: run failed while sampling: {e}; stopping rather than record a made-up sample"),
    }
}

fn bench(c: &mut Criterion) {
    let Some(mut dev) = device() else {
        fail("no backend has a usable device (not even the CPU)".into());
        return;
    };
    let backend = dev.info().backend.clone();
    for (family, specs) in families() {
        let mut group = c.benchmark_group(format!("{backend}/{family}"));
        group
            .measurement_time(Duration::from_secs(3))
            .sample_size(20);
        for (op, shape, dtype) in specs {
            let spec = match OpSpec::parse(op, shape, dtype) {
                Ok(s) => s,
                Err(e) => {
                    fail(format!(
                        "{op} {shape} {dtype}: the shape does not parse: {e}"
                    ));
                    continue;
                }
            };
            let Some(imp) = dev.impls(op, dtype).first().copied() else {
                eprintln!(
                    "ops bench: skipping {spec}: the {backend} backend has no implementation of {op} in {dtype}"
                );
                continue;
            };
            let id = spec.id(imp);
            let inputs = generate(&spec, seed_for(&spec)).expect("a suite shape has every key");
            let rotation = hotpath_core::runner::cache_rotation(
                &spec,
                dev.info(),
                hotpath_core::CacheMode::Cold,
                None,
            )
            .expect("a suite shape has every key");
            let work = Workload {
                spec: &spec,
                imp,
                inputs: &inputs,
                rotation_sets: rotation.sets,
            };
            let mut prepared = match dev.prepare(&work) {
                Ok(p) => p,
                Err(e) => {
                    fail(format!("{id}: prepare failed: {e}"));
                    continue;
                }
            };
            match prepared
                .output()
                .and_then(|o| hotpath_core::check::check(&spec, &inputs, &o))
            {
                Ok(c) if c.pass => {}
                Ok(c) => {
                    fail(format!(
                        "{id}: output does not match the reference (nmse {:.1e}, bound {:.1e}); not timed",
                        c.nmse, c.tolerance_nmse
                    ));
                    continue;
                }
                Err(e) => {
                    fail(format!("{id}: the correctness check could not run: {e}"));
                    continue;
                }
            }
            // One trial batch first, so a kernel that cannot run is reported, not sampled.
            if let Err(e) = prepared.run(1) {
                fail(format!("{id}: run failed: {e}"));
                continue;
            }
            group.throughput(Throughput::BytesDecimal(
                spec.work().expect("a suite shape has every key").bytes,
            ));
            group.bench_function(&id, |b| {
                b.iter_custom(|iters| timed(prepared.as_mut(), &id, iters))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);

/// criterion's `criterion_main!`, then exit 1 when any benchmark could not be measured.
fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    let failures = FAILURES.lock().map(|f| f.clone()).unwrap_or_default();
    if !failures.is_empty() {
        eprintln!(
            "ops bench: {} benchmark(s) not measured:\n  {}",
            failures.len(),
            failures.join("\n  ")
        );
        std::process::exit(1);
    }
}
