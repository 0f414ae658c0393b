//! Results files built by hand for the CLI tests: a device, the spec roofs of a
//! hardware/*.toml entry, ceilings and kernels with chosen median times. The measured roofs
//! and every benchmark's place under the roofline are then filled in by the code a real run
//! uses (`runner::update_roofs`), so the files are what `hotpath run` would have written had
//! the device measured these times; the tests compute the expected numbers by hand.

// Each test crate that includes this module uses a part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use hotpath_core::backend::{CacheMode, DeviceInfo, TimingMethod};
use hotpath_core::results::{
    BenchmarkResult, HardwareRoofs, HostInfo, Rates, ResultsFile, RunConfig, Status, TimeStats,
    ToolInfo, SCHEMA,
};
use hotpath_core::roofline::Roofs;
use hotpath_core::stats::Summary;
use hotpath_core::{hardware, runner, DType, OpKind, OpSpec};

/// An empty results file of device `name` (`backend`, `arch`) with the spec roofs of the
/// built-in hardware entry `hardware_id`.
pub fn file(backend: &str, name: &str, arch: &str, hardware_id: &str) -> ResultsFile {
    let hw = hardware::by_id(hardware_id).expect("the hardware id is built in");
    ResultsFile {
        schema: SCHEMA.to_string(),
        tool: ToolInfo {
            version: "0.1.0".into(),
            git: Some("abc1234".into()),
        },
        created: "2026-11-24T00:00:00Z".into(),
        host: HostInfo {
            hostname: "node".into(),
            os: "linux".into(),
            cpu: "x".into(),
        },
        device: DeviceInfo {
            backend: backend.into(),
            name: name.into(),
            arch: arch.into(),
            compute_units: hw.compute_units.unwrap_or(1),
            ..DeviceInfo::default()
        },
        hardware: HardwareRoofs {
            id: hw.id.clone(),
            mem_bytes_per_s: hw.mem_bytes_per_s,
            peak_flops: hw.peak_flops.clone(),
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
            timing: TimingMethod::DeviceEvents,
            suite: None,
            inputs: "uniform".into(),
            telemetry_source: None,
        },
        model: None,
        benchmarks: vec![],
    }
}

/// Five samples whose median is exactly `median_s`: × 0.98, 0.99, 1, 1.01, 1.02.
pub fn around(median_s: f64) -> Vec<f64> {
    [0.98, 0.99, 1.0, 1.01, 1.02]
        .iter()
        .map(|f| median_s * f)
        .collect()
}

/// A passing benchmark `op shape dtype impl` with these samples (seconds); FLOPs and bytes
/// from the cost model (for `peak_mma`, which counts its own FLOPs, pass `flops`).
pub fn bench(
    op: OpKind,
    shape: &str,
    dtype: DType,
    imp: &str,
    samples_s: Vec<f64>,
    flops: Option<u64>,
) -> BenchmarkResult {
    let spec = OpSpec::parse(op, shape, dtype).expect("test shapes are valid");
    let work = spec.work().unwrap();
    let flops = flops.unwrap_or(work.flops);
    let s = Summary::of(&samples_s).expect("test samples are not empty");
    BenchmarkResult {
        id: spec.id(imp),
        op,
        shape: spec.shape.clone(),
        dtype,
        imp: imp.to_string(),
        status: Status::Ok,
        error: None,
        flops,
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
            flops_per_s: flops as f64 / s.median,
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

/// Measured roofs from the file's ceilings, and every benchmark placed under the spec and
/// measured roofs, as a run does at its end (a GPU computes each dtype at its own peak).
pub fn place(file: &mut ResultsFile) {
    let spec = file.hardware.clone();
    runner::update_roofs(file, &spec, &|d| d);
}

/// Writes `file` to `dir/name` and returns the path as a string.
pub fn write(file: &ResultsFile, dir: &Path, name: &str) -> String {
    let path = dir.join(name);
    file.write_atomic(&path)
        .expect("the temporary directory is writable");
    path.to_string_lossy().into_owned()
}
