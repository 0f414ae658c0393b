//! The device-side faults, `poison` and `refuse`. [`inject`] wraps a backend when
//! `HOTPATH_FAULT` asks for either, so every device it opens is a [`FaultyDevice`]:
//!
//! - `poison`: the benchmark prepares normally, then its first kernel run (the correctness
//!   run, `Prepared::output`) fails with an `Error::Backend` device error, and from then on
//!   every fallible call on that device object (`prepare`, `clock`, `telemetry`, and `run` and
//!   `output` of anything it prepared) fails too — what a sticky CUDA error (an illegal
//!   address) does to a context. A freshly opened device, as in a fresh worker process, is
//!   not poisoned.
//! - `refuse`: `prepare` fails with `Error::Unsupported` before the device is called, as a
//!   launch plan refuses a shape the device cannot run; the device stays usable.
//!
//! Devices are wrapped only when a `poison` or `refuse` entry is set, so an ordinary run
//! calls its backend directly.

use std::cell::OnceCell;
use std::rc::Rc;

use super::{parse, Fault, ENV};
use crate::backend::Workload;
use crate::backend::{Backend, ClockSample, Device, DeviceInfo, Prepared, TimingMethod};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::op::OpKind;
use crate::tensor::HostTensor;
use crate::units::Seconds;

/// `backend`, wrapped in a [`FaultyBackend`] when `HOTPATH_FAULT` has a `poison` or
/// `refuse` entry; unchanged otherwise (also when the variable does not parse: the run
/// reports that as bad input before anything is measured).
pub fn inject(backend: Box<dyn Backend>) -> Box<dyn Backend> {
    let faults: Vec<(Fault, String)> = std::env::var(ENV)
        .ok()
        .and_then(|t| parse(&t).ok())
        .unwrap_or_default()
        .into_iter()
        .filter(|(f, _)| matches!(f, Fault::Poison | Fault::Refuse))
        .collect();
    if faults.is_empty() {
        backend
    } else {
        Box::new(FaultyBackend {
            inner: backend,
            faults,
        })
    }
}

/// A backend whose devices carry out the `poison` and `refuse` faults.
pub struct FaultyBackend {
    inner: Box<dyn Backend>,
    faults: Vec<(Fault, String)>,
}

impl FaultyBackend {
    /// Wraps `inner`; `faults` are (fault, id substring) pairs, the first match wins.
    pub fn new(inner: Box<dyn Backend>, faults: Vec<(Fault, String)>) -> FaultyBackend {
        FaultyBackend { inner, faults }
    }
}

impl Backend for FaultyBackend {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn devices(&self) -> Result<Vec<DeviceInfo>> {
        self.inner.devices()
    }
    fn open(&self, index: usize) -> Result<Box<dyn Device>> {
        Ok(Box::new(FaultyDevice::new(
            self.inner.open(index)?,
            self.faults.clone(),
        )))
    }
}

/// A device that a `poison` fault can poison and a `refuse` fault makes refuse.
pub struct FaultyDevice {
    inner: Box<dyn Device>,
    faults: Vec<(Fault, String)>,
    /// The id of the benchmark whose injected error poisoned this device, once one did.
    poisoned: Rc<OnceCell<String>>,
}

impl FaultyDevice {
    /// Wraps `inner`; `faults` as in [`FaultyBackend::new`].
    pub fn new(inner: Box<dyn Device>, faults: Vec<(Fault, String)>) -> FaultyDevice {
        FaultyDevice {
            inner,
            faults,
            poisoned: Rc::new(OnceCell::new()),
        }
    }
}

/// The error of every call on a poisoned device.
fn sticky(poisoned: &OnceCell<String>) -> Result<()> {
    match poisoned.get() {
        Some(id) => Err(Error::backend(format!(
            "{ENV}: the device is unusable since the device error injected in {id} (sticky, as an illegal address leaves a CUDA context)"
        ))),
        None => Ok(()),
    }
}

impl Device for FaultyDevice {
    fn info(&self) -> &DeviceInfo {
        self.inner.info()
    }
    fn impls(&self, op: OpKind, dtype: DType) -> Vec<&'static str> {
        self.inner.impls(op, dtype)
    }
    fn prepare(&mut self, work: &Workload) -> Result<Box<dyn Prepared>> {
        sticky(&self.poisoned)?;
        let id = work.spec.id(work.imp);
        let fault = self
            .faults
            .iter()
            .find(|(_, pattern)| id.contains(pattern.as_str()))
            .map(|(f, _)| *f);
        if fault == Some(Fault::Refuse) {
            return Err(Error::unsupported(format!(
                "{ENV}: {id} refused on purpose, as a launch plan refuses a shape the device cannot run"
            )));
        }
        Ok(Box::new(FaultyPrepared {
            inner: self.inner.prepare(work)?,
            poisoned: Rc::clone(&self.poisoned),
            strike: (fault == Some(Fault::Poison)).then_some(id),
        }))
    }
    fn clock(&self) -> Result<Option<ClockSample>> {
        sticky(&self.poisoned)?;
        self.inner.clock()
    }
    fn telemetry(&self) -> Result<Option<crate::telemetry::Telemetry>> {
        sticky(&self.poisoned)?;
        self.inner.telemetry()
    }
    fn telemetry_source(&self) -> crate::telemetry::TelemetrySource {
        self.inner.telemetry_source()
    }
    fn timing_method(&self) -> TimingMethod {
        self.inner.timing_method()
    }
    fn peak_dtype(&self, dtype: DType) -> DType {
        self.inner.peak_dtype(dtype)
    }
    fn health_source(&self) -> Box<dyn crate::health::HealthSource> {
        self.inner.health_source()
    }
}

/// A prepared benchmark of a [`FaultyDevice`]: fails once its device is poisoned, and
/// poisons it on its first run when it is the `poison` fault's benchmark (`strike`).
struct FaultyPrepared {
    inner: Box<dyn Prepared>,
    poisoned: Rc<OnceCell<String>>,
    strike: Option<String>,
}

impl FaultyPrepared {
    fn gate(&mut self) -> Result<()> {
        if let Some(id) = self.strike.take() {
            let err = Error::backend(format!(
                "{ENV}: injected device error in {id}: an illegal memory access was encountered (as CUDA_ERROR_ILLEGAL_ADDRESS: every later call on this device fails)"
            ));
            let _ = self.poisoned.set(id);
            return Err(err);
        }
        sticky(&self.poisoned)
    }
}

impl Prepared for FaultyPrepared {
    fn run(&mut self, iters: u32) -> Result<Seconds> {
        self.gate()?;
        self.inner.run(iters)
    }
    fn output(&mut self) -> Result<HostTensor> {
        self.gate()?;
        self.inner.output()
    }
    fn counted_work(&self) -> Option<crate::op::Work> {
        self.inner.counted_work()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs;
    use crate::op::OpSpec;
    use crate::tensor::HostData;

    /// A device that always works: each run takes 0.5 s per iteration, the output is [3].
    struct Healthy {
        info: DeviceInfo,
    }
    struct Kernel;

    impl Device for Healthy {
        fn info(&self) -> &DeviceInfo {
            &self.info
        }
        fn impls(&self, _: OpKind, _: DType) -> Vec<&'static str> {
            vec!["hotpath"]
        }
        fn prepare(&mut self, _: &Workload) -> Result<Box<dyn Prepared>> {
            Ok(Box::new(Kernel))
        }
        fn clock(&self) -> Result<Option<ClockSample>> {
            Ok(None)
        }
        fn timing_method(&self) -> TimingMethod {
            TimingMethod::WallClock
        }
    }
    impl Prepared for Kernel {
        fn run(&mut self, iters: u32) -> Result<Seconds> {
            Ok(Seconds(0.5 * f64::from(iters)))
        }
        fn output(&mut self) -> Result<HostTensor> {
            Ok(HostTensor {
                name: "out",
                shape: vec![1],
                data: HostData::F32(vec![3.0]),
            })
        }
    }

    fn device(faults: &str) -> FaultyDevice {
        let healthy = Healthy {
            info: DeviceInfo::default(),
        };
        FaultyDevice::new(Box::new(healthy), parse(faults).unwrap())
    }

    fn copy(elements: u64) -> OpSpec {
        OpSpec::parse(OpKind::Copy, &format!("elements={elements}"), DType::F32).unwrap()
    }

    fn prepare(d: &mut FaultyDevice, spec: &OpSpec) -> Result<Box<dyn Prepared>> {
        let host = inputs::generate(spec, 1).unwrap();
        d.prepare(&Workload {
            spec,
            imp: "hotpath",
            inputs: &host,
            rotation_sets: 1,
        })
    }

    #[test]
    fn poison_fails_the_first_run_then_every_call_on_that_device() {
        let mut d = device("poison:elements=4096/");
        let (hit, other) = (copy(4096), copy(1024));
        // Before the poisoned benchmark runs, everything works.
        assert_eq!(
            prepare(&mut d, &other).unwrap().run(2).unwrap(),
            Seconds(1.0)
        );
        let mut before = prepare(&mut d, &other).unwrap();
        // It prepares, then its first kernel run fails with a device error.
        let mut p = prepare(&mut d, &hit).unwrap();
        let first = p.output().unwrap_err();
        assert!(matches!(first, Error::Backend(_)), "{first:?}");
        assert!(
            first.to_string().starts_with(&format!(
                "HOTPATH_FAULT: injected device error in {}",
                hit.id("hotpath")
            )),
            "{first}"
        );
        // Sticky: its own later runs, anything prepared before, new prepares, clock.
        let again = p.run(1).unwrap_err().to_string();
        assert!(again.contains("unusable since the device error injected in copy/elements=4096/"));
        assert!(matches!(before.run(1), Err(Error::Backend(_))));
        assert!(matches!(before.output(), Err(Error::Backend(_))));
        assert!(matches!(prepare(&mut d, &other), Err(Error::Backend(_))));
        assert!(matches!(d.clock(), Err(Error::Backend(_))));
        // A device opened afresh (a new worker) is not poisoned until its own strike.
        let mut fresh = device("poison:elements=4096/");
        let out = prepare(&mut fresh, &other).unwrap().output().unwrap();
        assert_eq!(out.data, HostData::F32(vec![3.0]));
    }

    #[test]
    fn refuse_is_an_unsupported_refusal_that_leaves_the_device_usable() {
        let mut d = device("refuse:elements=4096/");
        let e = prepare(&mut d, &copy(4096)).err().unwrap();
        assert!(matches!(e, Error::Unsupported(_)), "{e:?}");
        assert!(e.to_string().contains("refused on purpose"), "{e}");
        assert_eq!(
            prepare(&mut d, &copy(1024)).unwrap().run(4).unwrap(),
            Seconds(2.0)
        );
        assert!(d.clock().is_ok());
    }

    #[test]
    fn a_faulty_backend_opens_devices_that_carry_out_its_faults() {
        struct One;
        impl Backend for One {
            fn name(&self) -> &'static str {
                "one"
            }
            fn devices(&self) -> Result<Vec<DeviceInfo>> {
                Ok(vec![])
            }
            fn open(&self, _: usize) -> Result<Box<dyn Device>> {
                Ok(Box::new(Healthy {
                    info: DeviceInfo::default(),
                }))
            }
        }
        let b = FaultyBackend::new(Box::new(One), parse("refuse:copy").unwrap());
        assert_eq!(b.name(), "one");
        let mut d = b.open(0).unwrap();
        let host = inputs::generate(&copy(8), 1).unwrap();
        let refused = d.prepare(&Workload {
            spec: &copy(8),
            imp: "hotpath",
            inputs: &host,
            rotation_sets: 1,
        });
        assert!(matches!(refused, Err(Error::Unsupported(_))));
    }
}
