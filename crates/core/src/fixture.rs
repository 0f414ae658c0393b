//! Results files built from planted sample sets, for the compare, gap and history tests.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

use crate::backend::{CacheMode, DeviceInfo, TimingMethod};
use crate::dtype::DType;
use crate::op::{OpKind, OpSpec};
use crate::results::{
    BenchmarkResult, HardwareRoofs, HostInfo, Rates, ResultsFile, RunConfig, Status, TimeStats,
    ToolInfo, SCHEMA,
};
use crate::roofline::Roofs;
use crate::stats::Summary;

/// An empty CPU results file.
pub fn file() -> ResultsFile {
    ResultsFile {
        schema: SCHEMA.to_string(),
        tool: ToolInfo {
            version: "0.1.0".into(),
            git: Some("abc1234".into()),
        },
        created: "2026-11-24T00:00:00Z".into(),
        host: HostInfo {
            hostname: "h".into(),
            os: "linux".into(),
            cpu: "x".into(),
        },
        device: DeviceInfo {
            backend: "cpu".into(),
            name: "Test CPU".into(),
            arch: "x86_64+avx2".into(),
            compute_units: 2,
            ..DeviceInfo::default()
        },
        hardware: HardwareRoofs {
            id: "cpu-generic".into(),
            mem_bytes_per_s: Some(1e10),
            peak_flops: BTreeMap::new(),
            sources: BTreeMap::new(),
        },
        measured: Roofs::default(),
        config: RunConfig {
            cache: CacheMode::Cold,
            min_samples: 10,
            min_time_s: 0.5,
            max_rel_stderr: 0.005,
            warmup_s: 0.1,
            time_limit_s: 15.0,
            min_sample_s: 5e-5,
            throttle_fraction: 0.75,
            timing: TimingMethod::WallClock,
            suite: None,
            inputs: "uniform".into(),
            telemetry_source: None,
        },
        model: None,
        benchmarks: vec![],
    }
}

/// A measured benchmark `op shape dtype impl` with these samples (seconds).
pub fn bench(op: OpKind, shape: &str, imp: &str, samples_s: Vec<f64>) -> BenchmarkResult {
    let spec = OpSpec::parse(op, shape, DType::F32).expect("fixture shapes are valid");
    let work = spec.work().expect("fixture shapes are valid");
    let s = Summary::of(&samples_s).expect("fixture samples are not empty");
    BenchmarkResult {
        id: spec.id(imp),
        op,
        shape: spec.shape.clone(),
        dtype: DType::F32,
        imp: imp.to_string(),
        status: Status::Ok,
        error: None,
        flops: work.flops,
        bytes: work.bytes,
        time: Some(TimeStats {
            median_s: s.median,
            min_s: s.min,
            mean_s: s.mean,
            stdev_s: s.stdev,
            p10_s: s.p10,
            p90_s: s.p90,
            mad_s: s.mad,
        }),
        samples_s,
        rates: Some(Rates {
            flops_per_s: work.flops as f64 / s.median,
            bytes_per_s: work.bytes as f64 / s.median,
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

/// `n` samples around `center_s`, each multiplied by 1 + u with u uniform in
/// [−`noise`, +`noise`], from a ChaCha8 stream seeded with `seed`.
pub fn samples(seed: u64, n: usize, center_s: f64, noise: f64) -> Vec<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| center_s * (1.0 + rng.random_range(-noise..=noise)))
        .collect()
}
