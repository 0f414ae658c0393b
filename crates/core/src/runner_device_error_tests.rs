//! Which failures of [`run_one`] mark the device as possibly poisoned (`Ran::device_error`,
//! what retires a worker): a `Backend` error from a call into the device, and nothing else.

use super::*;
use crate::backend::{ClockSample, Prepared, TimingMethod, Workload};
use crate::fault::{self, Fault, FaultyDevice};
use crate::tensor::HostTensor;
use crate::units::Seconds;

/// Where the scripted device fails.
#[derive(Clone, Copy, Debug, PartialEq)]
enum At {
    Nowhere,
    Prepare,
    Output,
    Run,
    Clock,
    /// Every clock read shows 10 % of the maximum: all samples are discarded.
    Throttled,
}

/// A copy "kernel" whose output is its input, failing at one call with `kind`'s error.
struct Scripted {
    info: DeviceInfo,
    at: At,
    kind: fn(String) -> Error,
    prepares: u32,
}

struct Copy {
    output: HostTensor,
    at: At,
    kind: fn(String) -> Error,
}

impl Device for Scripted {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }
    fn impls(&self, _: OpKind, _: DType) -> Vec<&'static str> {
        vec!["hotpath"]
    }
    fn prepare(&mut self, work: &Workload) -> Result<Box<dyn Prepared>> {
        self.prepares += 1;
        if self.at == At::Prepare {
            return Err((self.kind)("prepare failed".into()));
        }
        let mut output = work.inputs.get("a")?.clone();
        output.name = "b";
        Ok(Box::new(Copy {
            output,
            at: self.at,
            kind: self.kind,
        }))
    }
    fn clock(&self) -> Result<Option<ClockSample>> {
        match self.at {
            At::Clock => Err((self.kind)("clock failed".into())),
            At::Throttled => Ok(Some(ClockSample {
                sm_mhz: 100.0,
                sm_max_mhz: 1000.0,
                throttle_reasons: vec!["hw_slowdown".into()],
            })),
            _ => Ok(None),
        }
    }
    fn timing_method(&self) -> TimingMethod {
        TimingMethod::WallClock
    }
}

impl Prepared for Copy {
    fn run(&mut self, iters: u32) -> Result<Seconds> {
        if self.at == At::Run {
            return Err((self.kind)("launch failed".into()));
        }
        Ok(Seconds(1e-3 * f64::from(iters)))
    }
    fn output(&mut self) -> Result<HostTensor> {
        if self.at == At::Output {
            return Err((self.kind)("sync failed".into()));
        }
        Ok(self.output.clone())
    }
}

fn scripted(at: At, kind: fn(String) -> Error) -> Scripted {
    Scripted {
        info: DeviceInfo {
            backend: "cpu".into(),
            name: "Scripted".into(),
            memory_available_bytes: 1 << 30,
            ..DeviceInfo::default()
        },
        at,
        kind,
        prepares: 0,
    }
}

fn copy(elements: u64) -> OpSpec {
    OpSpec::parse(OpKind::Copy, &format!("elements={elements}"), DType::F32).unwrap()
}

fn fast() -> MeasureConfig {
    let mut cfg = MeasureConfig::default();
    cfg.criterion.min_samples = 3;
    cfg.criterion.min_time_s = 0.0;
    cfg.warmup_s = 0.0;
    cfg.time_limit_s = 0.05;
    cfg
}

fn run(device: &mut dyn Device, spec: &OpSpec) -> Ran {
    run_one(
        device,
        spec,
        "hotpath",
        CacheMode::Hot,
        None,
        &fast(),
        &mut |_| {},
    )
}

#[test]
fn backend_errors_from_device_calls_mark_the_device() {
    for at in [At::Prepare, At::Output, At::Run, At::Clock] {
        let mut d = scripted(at, Error::Backend);
        let r = run(&mut d, &copy(1024));
        assert!(r.device_error, "{at:?}");
        assert_eq!(r.result.status, Status::Error, "{at:?}");
        let why = r.result.error.unwrap_or_default();
        assert!(why.ends_with(" failed"), "{at:?}: {why}");
    }
}

#[test]
fn refusals_and_host_side_failures_leave_the_device_usable() {
    // The device refuses before touching anything (a launch plan, a missing library).
    for kind in [Error::Unsupported, Error::BadInput, Error::NotAvailable] {
        for at in [At::Prepare, At::Run] {
            let mut d = scripted(at, kind);
            let r = run(&mut d, &copy(1024));
            assert_eq!(r.result.status, Status::Error);
            assert!(!r.device_error, "{at:?}: {:?}", r.result.error);
        }
    }
    // The fit check refuses on the host: 2 × 2 × 4 B × 2^28 = 4.3 GB > 1 GiB available,
    // and the device is never called.
    let mut d = scripted(At::Nowhere, Error::Backend);
    let r = run(&mut d, &copy(1 << 28));
    assert!(!r.device_error);
    assert!(r.result.error.unwrap_or_default().contains("available"));
    assert_eq!(d.prepares, 0);
    // Every sample discarded for a throttled clock: a Backend error made by the runner,
    // about the measurement, not a failed device call.
    let mut d = scripted(At::Throttled, Error::Backend);
    let r = run(&mut d, &copy(1024));
    assert!(!r.device_error);
    assert!(r
        .result
        .error
        .unwrap_or_default()
        .contains("were discarded"));
    // And a benchmark that works.
    let mut d = scripted(At::Nowhere, Error::Backend);
    let r = run(&mut d, &copy(1024));
    assert_eq!(r.result.status, Status::Ok, "{:?}", r.result.error);
    assert!(!r.device_error);
}

#[test]
fn an_injected_poison_marks_its_benchmark_and_every_later_one_a_refusal_neither() {
    let faults = fault::parse("poison:elements=2048/,refuse:elements=4096/").unwrap();
    assert_eq!(faults[0].0, Fault::Poison);
    let inner = scripted(At::Nowhere, Error::Backend);
    let mut d = FaultyDevice::new(Box::new(inner), faults);
    let refused = run(&mut d, &copy(4096));
    assert!(!refused.device_error);
    assert_eq!(run(&mut d, &copy(1024)).result.status, Status::Ok);
    let poisoned = run(&mut d, &copy(2048));
    assert!(poisoned.device_error);
    let why = poisoned.result.error.unwrap_or_default();
    assert!(why.contains("injected device error in copy/"), "{why}");
    // The same device object fails every later benchmark: what a reused worker would do.
    let after = run(&mut d, &copy(1024));
    assert!(after.device_error);
    assert!(after
        .result
        .error
        .unwrap_or_default()
        .contains("the device is unusable since"));
}
