//! The telemetry path end to end through [`crate::runner::run_one`]: a device's readings
//! reach the benchmark's result, discarded batches included, and survive the results file.

use std::cell::Cell;

use crate::backend::{CacheMode, ClockSample, Device, DeviceInfo, Prepared};
use crate::backend::{TimingMethod, Workload};
use crate::error::Result;
use crate::measure::MeasureConfig;
use crate::op::{OpKind, OpSpec};
use crate::results::{BenchmarkResult, Status};
use crate::runner::run_one;
use crate::telemetry::{Telemetry, TelemetrySource};
use crate::tensor::HostTensor;
use crate::units::Seconds;
use crate::DType;

/// A copy device whose n-th telemetry reading (1-based) reads n °C and an SM clock of
/// `low` MHz when n is a multiple of `every`, else 1980 MHz (maximum 1980).
struct Traced {
    info: DeviceInfo,
    reads: Cell<u32>,
    every: u32,
    low: f64,
}

struct Copy(HostTensor);

impl Device for Traced {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }
    fn impls(&self, _: OpKind, _: DType) -> Vec<&'static str> {
        vec!["hotpath"]
    }
    fn prepare(&mut self, work: &Workload) -> Result<Box<dyn Prepared>> {
        let mut output = work.inputs.get("a")?.clone();
        output.name = "b";
        Ok(Box::new(Copy(output)))
    }
    fn clock(&self) -> Result<Option<ClockSample>> {
        Ok(None)
    }
    fn telemetry(&self) -> Result<Option<Telemetry>> {
        let n = self.reads.get() + 1;
        self.reads.set(n);
        let sm = if n.is_multiple_of(self.every) {
            self.low
        } else {
            1980.0
        };
        Ok(Some(Telemetry {
            sm_mhz: Some(sm),
            sm_max_mhz: Some(1980.0),
            temp_c: Some(f64::from(n)),
            ..Telemetry::default()
        }))
    }
    fn telemetry_source(&self) -> TelemetrySource {
        TelemetrySource::Nvml
    }
    fn timing_method(&self) -> TimingMethod {
        TimingMethod::DeviceEvents
    }
}

impl Prepared for Copy {
    fn run(&mut self, iters: u32) -> Result<Seconds> {
        Ok(Seconds(1e-3 * f64::from(iters)))
    }
    fn output(&mut self) -> Result<HostTensor> {
        Ok(self.0.clone())
    }
}

fn run(every: u32, low: f64) -> BenchmarkResult {
    let mut d = Traced {
        info: DeviceInfo {
            backend: "cuda".into(),
            memory_available_bytes: 1 << 30,
            ..DeviceInfo::default()
        },
        reads: Cell::new(0),
        every,
        low,
    };
    let spec = OpSpec::parse(OpKind::Copy, "elements=1024", DType::F32).unwrap();
    let mut cfg = MeasureConfig::default();
    cfg.criterion.min_samples = 3;
    cfg.criterion.min_time_s = 0.0;
    cfg.warmup_s = 0.0;
    cfg.time_limit_s = 0.05;
    let ran = run_one(
        &mut d,
        &spec,
        "hotpath",
        CacheMode::Hot,
        None,
        &cfg,
        &mut |_| {},
    );
    ran.result
}

#[test]
fn the_trace_reaches_the_result_with_its_discarded_batches() {
    // Every 4th reading is 500 MHz (below 75 % of 1980 = 1485): readings come in pairs per
    // batch, so batch k reads 2k−1 and 2k, and every batch with 4 | 2k (k even) is dropped.
    let r = run(4, 500.0);
    assert_eq!(r.status, Status::Ok, "{:?}", r.error);
    let t = r.telemetry.clone().expect("a trace");
    assert_eq!(t.source, TelemetrySource::Nvml);
    assert_eq!(t.stride, 1);
    let batches = t.batches as usize;
    assert_eq!(batches, r.samples_s.len() + r.discarded_samples as usize);
    assert_eq!(t.t_s.len(), batches);
    // Positions 1, 3, 5, … (batches 2, 4, 6, …) are the discarded ones.
    let odd: Vec<u32> = (0..batches as u32).filter(|i| i % 2 == 1).collect();
    assert_eq!(t.discarded, odd);
    assert_eq!(t.discarded.len() as u64, r.discarded_samples);
    // The reading after batch k is the 2k-th: 2k °C.
    for (i, v) in t.temp_c.iter().enumerate() {
        assert_eq!(*v, Some(2.0 * (i as f64 + 1.0)), "batch {}", i + 1);
    }
    let json = serde_json::to_string(&r).unwrap();
    let back: BenchmarkResult = serde_json::from_str(&json).unwrap();
    assert_eq!(back.telemetry, Some(t));
}

#[test]
fn a_benchmark_whose_every_batch_was_discarded_keeps_its_trace() {
    // Every reading is 100 MHz: every batch is discarded and the benchmark errors, but the
    // trace that shows why is kept.
    let r = run(1, 100.0);
    assert_eq!(r.status, Status::Error);
    assert!(r.error.unwrap_or_default().contains("discarded"));
    let t = r.telemetry.expect("a trace");
    assert_eq!(t.discarded.len(), t.t_s.len());
    assert!(t.sm_mhz.iter().all(|&v| v == Some(100.0)));
}
