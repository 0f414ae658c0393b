//! The backend boundary: one trait per level (backend, device, prepared benchmark).
//!
//! Core never imports a backend; backends implement these traits and the CLI wires them up.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::dtype::DType;
use crate::error::Result;
use crate::fp8::Fp8Encoding;
use crate::inputs::Inputs;
use crate::op::{OpKind, OpSpec, Work};
use crate::tensor::HostTensor;
use crate::units::Seconds;

/// Whether consecutive samples may find their inputs in the last-level cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheMode {
    /// Inputs are rotated so no sample reads data another sample left in the LLC (default).
    Cold,
    /// The same buffers every iteration: measures the cache-resident case on purpose.
    Hot,
}

impl CacheMode {
    /// Name as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            CacheMode::Cold => "cold",
            CacheMode::Hot => "hot",
        }
    }
}

/// How a backend times its kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimingMethod {
    /// Host monotonic clock around the kernel (CPU backend).
    WallClock,
    /// Device events recorded on the stream (CUDA/HIP events with timing enabled).
    DeviceEvents,
}

/// What a backend knows about one device. Serialized into the results file's `device`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DeviceInfo {
    /// Backend name: `cuda`, `rocm` or `cpu`.
    pub backend: String,
    /// Index among this backend's devices.
    pub index: usize,
    /// Name as the runtime reports it (matched against hardware/*.toml).
    pub name: String,
    /// Architecture (`sm_90`, `gfx942`, `x86_64+avx512f`).
    pub arch: String,
    /// Driver or runtime version, when there is one.
    pub driver: Option<String>,
    /// Total device memory in bytes.
    pub memory_bytes: u64,
    /// Memory free for benchmarks right now, in bytes.
    pub memory_available_bytes: u64,
    /// SMs, CUs or CPU threads used.
    pub compute_units: u32,
    /// Last-level cache in bytes (L2, Infinity Cache, CPU L3).
    pub llc_bytes: u64,
    /// Spec memory bandwidth the device itself reports (memory clock × bus width), B/s.
    /// Used as the spec roof only when no hardware file applies
    /// ([`crate::hardware::spec_bandwidth`]).
    pub reported_mem_bytes_per_s: Option<f64>,
    /// The highest board power limit the device accepts, in watts (NVML's power-management
    /// limit constraint; its default limit where that is unreadable); `None` when unknown.
    /// Unlike the enforced limit an administrator cannot lower it, so it tells apart parts
    /// that share a name (`[match_requires]` in hardware/*.toml: an H200 SXM allows 700 W,
    /// an H200 NVL 600 W).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_limit_max_w: Option<f64>,
    /// Anything else the backend reports (clocks, ECC, PCIe, CPU flags).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// One reading of the device clock, taken around each sample batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClockSample {
    /// Current SM (core) clock in MHz.
    pub sm_mhz: f64,
    /// Maximum SM clock in MHz.
    pub sm_max_mhz: f64,
    /// Active throttle reasons, empty when none.
    pub throttle_reasons: Vec<String>,
}

/// What `prepare` needs to build one benchmark.
pub struct Workload<'a> {
    /// The problem.
    pub spec: &'a OpSpec,
    /// Which implementation (`hotpath`, `candle`, `cublaslt`, ...).
    pub imp: &'a str,
    /// Inputs from [`crate::inputs::generate`]; the reference uses the same ones.
    pub inputs: &'a Inputs,
    /// Number of input/output sets to rotate through (1 = hot); see [`crate::cache`].
    pub rotation_sets: usize,
}

/// The error for an implementation a backend does not offer, listing what it does offer.
pub fn unsupported_impl(
    backend: &str,
    spec: &OpSpec,
    imp: &str,
    offered: &[&str],
    why: &str,
) -> crate::Error {
    let list = if offered.is_empty() {
        "none".to_string()
    } else {
        offered.join(", ")
    };
    crate::Error::unsupported(format!(
        "the {backend} backend has no {imp} implementation of {} for {}{why}; it offers: {list}",
        spec.op, spec.dtype
    ))
}

/// The error for an op a backend has no implementation of at all, at any dtype:
/// `<op> is not implemented on <backend>`. A backend refuses such an op with it and never
/// runs another op's kernel in its place.
pub fn not_implemented(op: OpKind, backend: &str) -> crate::Error {
    crate::Error::unsupported(format!("{op} is not implemented on {backend}"))
}

/// A family of devices reachable through one runtime (CUDA, ROCm, CPU).
pub trait Backend: Send + Sync {
    /// `cuda`, `rocm` or `cpu`.
    fn name(&self) -> &'static str;
    /// The devices present; `Err(NotAvailable)` with the reason when the runtime is missing.
    fn devices(&self) -> Result<Vec<DeviceInfo>>;
    /// Opens device `index` for benchmarking.
    fn open(&self, index: usize) -> Result<Box<dyn Device>>;
}

/// An opened device.
pub trait Device {
    /// Static facts about the device.
    fn info(&self) -> &DeviceInfo;
    /// Implementations this device offers for `op` at `dtype`, ours (`hotpath`) first.
    /// Empty when the combination is not supported.
    fn impls(&self, op: OpKind, dtype: DType) -> Vec<&'static str>;
    /// Allocates, initialises and compiles everything the benchmark needs. Nothing here is timed.
    fn prepare(&mut self, work: &Workload) -> Result<Box<dyn Prepared>>;
    /// The current clock, read around each sample batch; `None` when the backend cannot tell.
    fn clock(&self) -> Result<Option<ClockSample>>;
    /// One telemetry reading (clocks, temperature, power, throttle reasons), taken around
    /// each sample batch and stored with the samples. Default: the [`Device::clock`]
    /// reading alone.
    fn telemetry(&self) -> Result<Option<crate::telemetry::Telemetry>> {
        Ok(self
            .clock()?
            .map(|c| crate::telemetry::Telemetry::from_clock(&c)))
    }
    /// Where [`Device::telemetry`] reads from. Default: nothing known.
    fn telemetry_source(&self) -> crate::telemetry::TelemetrySource {
        crate::telemetry::TelemetrySource::None
    }
    /// How `Prepared::run` is timed.
    fn timing_method(&self) -> TimingMethod;
    /// The fp8 encoding this device's fp8 kernels take and write (inputs are generated and
    /// checked in it). Default: by the architecture ([`Fp8Encoding::for_arch`]): e4m3fnuz on
    /// gfx940/941/942, OCP e4m3 elsewhere.
    fn fp8_encoding(&self) -> Fp8Encoding {
        Fp8Encoding::for_arch(&self.info().arch)
    }
    /// The dtype whose `peak_mma` roof governs compute at `dtype` (a CPU computes f16/bf16
    /// in f32; a GPU has a tensor-core peak per dtype).
    fn peak_dtype(&self, dtype: DType) -> DType {
        dtype
    }
    /// The health readings `hotpath validate` judges (ECC, PCIe, clocks, ...), from a source
    /// of its own (it is read while benchmarks run elsewhere). Default: nothing readable.
    fn health_source(&self) -> Box<dyn crate::health::HealthSource> {
        Box::new(crate::health::NoHealth {
            kind: crate::health::SourceKind::Gpu,
            why: format!("the {} backend reads no health", self.info().backend),
        })
    }
}

/// A benchmark ready to run: buffers allocated, kernel compiled, inputs uploaded.
pub trait Prepared {
    /// Runs the kernel `iters` times back to back (each on the next rotation set) and
    /// returns the elapsed time on the device's own clock.
    fn run(&mut self, iters: u32) -> Result<Seconds>;
    /// Runs once on rotation set 0 and returns the output for the correctness check.
    fn output(&mut self) -> Result<HostTensor>;
    /// Work per iteration when the kernel counts it itself (`peak_mma`); `None` = cost model.
    fn counted_work(&self) -> Option<Work> {
        None
    }
    /// How [`Prepared::run`] times a batch when it is not the device's usual
    /// [`Device::timing_method`] (the CPU times its ceilings on the cores); recorded in the
    /// result's `measurement.clock`. `None`: the usual method.
    fn clock(&self) -> Option<&'static str> {
        None
    }
    /// Captures `launches` iterations, enqueued back to back exactly as [`Prepared::run`]
    /// would (each on the next rotation set), into one graph and instantiates it; nothing
    /// here is timed ([`crate::graph_timing`]). `Ok(None)` when the backend has no graphs:
    /// the default, and the CPU backend's answer.
    fn graph(&mut self, launches: u32) -> Result<Option<Box<dyn GraphReplay + '_>>> {
        let _ = launches;
        Ok(None)
    }
}

/// An instantiated graph of back-to-back launches of one benchmark (CUDA/HIP graphs).
pub trait GraphReplay {
    /// Launches captured in the graph.
    fn launches(&self) -> u32;
    /// Replays the graph `replays` times back to back and returns the elapsed time on the
    /// device's own clock (events around all the replays).
    fn replay(&mut self, replays: u32) -> Result<Seconds>;
}
