//! hotpath-core: everything that does not depend on a backend.
//!
//! Ops and their cost model ([`op`]), deterministic inputs ([`inputs`]), plain reference
//! implementations ([`reference`]) and the correctness check ([`check`]), the measurement
//! loop ([`measure`]) apart from its statistics ([`stats`]), the results schema
//! ([`results`]), hardware specs ([`hardware`]) and the roofline ([`roofline`]).

pub mod backend;
pub mod cache;
pub mod check;
pub mod dtype;
pub mod error;
pub mod estimator;
pub mod fault;
pub mod fixture;
pub mod format_check;
pub mod fp8;
pub mod graph_timing;
pub mod hardware;
pub mod health;
pub mod host;
pub mod inputs;
pub mod junit;
pub mod kernels;
pub mod launch;
pub mod launch_plan;
pub mod libs;
pub mod measure;
pub mod model_config;
pub mod op;
pub mod ops;
pub mod prometheus;
pub mod reference;
pub mod results;
pub mod roof_check;
pub mod roofline;
pub mod runner;
pub mod stats;
pub mod stopping;
pub mod suite;
pub mod target;
pub mod telemetry;
pub mod tensor;
pub mod units;

pub use backend::{
    Backend, CacheMode, ClockSample, Device, DeviceInfo, GraphReplay, Prepared, TimingMethod,
    Workload,
};
pub use dtype::DType;
pub use error::{Error, Result};
pub use inputs::Inputs;
pub use op::{OpKind, OpSpec, Shape, Work};
pub use telemetry::{Telemetry, TelemetrySource, TelemetryTrace};
pub use tensor::{HostData, HostTensor};
pub use units::{BytesPerSec, FlopsPerSec, Seconds};
