//! The CUDA backend and its devices: driver discovery (a missing driver is a reason, never a
//! panic), device facts from the driver and NVML, kernels compiled per device and cached.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use cudarc::driver::sys::CUdevice_attribute;
use cudarc::driver::{CudaContext, CudaFunction, CudaModule, CudaStream};
use cudarc::nvrtc::Ptx;
use hotpath_core::{
    Backend, ClockSample, DType, Device, DeviceInfo, Error, OpKind, Prepared, Result, TimingMethod,
    Workload,
};

use crate::nvml::Monitor;
pub use crate::ops::impls;
use crate::ops::{self, Launcher};
use crate::timer::GpuBench;
use crate::{blas, nvrtc, toolkit};

/// Why the driver cannot be used (not found, or not the one `HOTPATH_CUDA_LIBRARY` names:
/// [`crate::loader::driver`]), or `Ok` once `cuInit` succeeded.
pub fn driver_ready() -> Result<()> {
    crate::loader::driver().map_err(Error::NotAvailable)?;
    cudarc::driver::result::init()
        .map_err(|e| Error::NotAvailable(format!("the CUDA driver did not initialise: {e}")))
}

fn driver(what: &str, e: impl std::fmt::Display) -> Error {
    Error::backend(format!("CUDA {what} failed: {e}"))
}

/// The CUDA backend.
#[derive(Default)]
pub struct CudaBackend;

impl CudaBackend {
    /// The backend (the driver is looked for when it is first used).
    pub fn new() -> CudaBackend {
        CudaBackend
    }
}

/// The device's facts, its context, and its NVML index (matched by PCI address).
fn describe(index: usize) -> Result<(DeviceInfo, Arc<CudaContext>, u32)> {
    let ctx = CudaContext::new(index).map_err(|e| driver(&format!("opening device {index}"), e))?;
    let attr = |a| {
        ctx.attribute(a)
            .map_err(|e| driver("reading a device attribute", e))
    };
    let (major, minor) = ctx
        .compute_capability()
        .map_err(|e| driver("reading the compute capability", e))?;
    let (free, total) = ctx
        .mem_get_info()
        .map_err(|e| driver("reading memory", e))?;
    let mut version = 0i32;
    // SAFETY: `version` is valid for writes; the driver is initialised.
    let _ = unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut version) };
    let pci = (|| {
        Some((
            u32::try_from(attr(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_PCI_DOMAIN_ID).ok()?)
                .ok()?,
            u32::try_from(attr(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_PCI_BUS_ID).ok()?).ok()?,
            u32::try_from(attr(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_PCI_DEVICE_ID).ok()?)
                .ok()?,
        ))
    })();
    let nvml_index = crate::nvml::resolve_nvml_index(index as u32, pci);
    let monitor = Monitor::open(nvml_index).ok();
    let mut extra = BTreeMap::new();
    extra.insert(
        "compute_capability".to_string(),
        format!("{major}.{minor}").into(),
    );
    if let Some(m) = &monitor {
        for (k, v) in m.facts() {
            extra.insert(k, v);
        }
    }
    extra.insert("nvml_index".to_string(), nvml_index.into());
    if let Some((d, b, dev)) = pci {
        extra.insert(
            "cuda_pci_bus_id".to_string(),
            format!("{d:08X}:{b:02X}:{dev:02X}.0").into(),
        );
    }
    if let Some(w) = crate::busy::warning(nvml_index) {
        eprintln!("warning: {w}");
        extra.insert("warnings".to_string(), vec![w].into());
    }
    let info = DeviceInfo {
        backend: "cuda".into(),
        index,
        name: ctx
            .name()
            .map_err(|e| driver("reading the device name", e))?,
        arch: nvrtc::target_for(major, minor),
        driver: Some(format!("CUDA {}.{}", version / 1000, (version % 1000) / 10)),
        memory_bytes: total as u64,
        memory_available_bytes: free as u64,
        compute_units: attr(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)? as u32,
        llc_bytes: attr(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_L2_CACHE_SIZE)? as u64,
        reported_mem_bytes_per_s: monitor.as_ref().and_then(Monitor::spec_bandwidth),
        power_limit_max_w: monitor.as_ref().and_then(Monitor::power_limit_max_w),
        extra,
    };
    Ok((info, ctx, nvml_index))
}

impl Backend for CudaBackend {
    fn name(&self) -> &'static str {
        "cuda"
    }

    fn devices(&self) -> Result<Vec<DeviceInfo>> {
        driver_ready()?;
        let count = CudaContext::device_count().map_err(|e| driver("counting devices", e))?;
        if count <= 0 {
            return Err(Error::NotAvailable(
                "the CUDA driver reports no devices".into(),
            ));
        }
        (0..count as usize)
            .map(|i| describe(i).map(|(info, _, _)| info))
            .collect()
    }

    fn open(&self, index: usize) -> Result<Box<dyn Device>> {
        driver_ready()?;
        let (info, ctx, nvml_index) = describe(index)?;
        // SAFETY: one stream per benchmark and no cross-stream sharing, so cudarc's
        // per-launch event bookkeeping is not needed (and would cost host time per launch).
        unsafe { ctx.disable_event_tracking() };
        let stream = ctx
            .new_stream()
            .map_err(|e| driver("creating a stream", e))?;
        Ok(Box::new(CudaDevice {
            cc: cc_of(&info),
            monitor: Monitor::open(nvml_index).ok(),
            nvml_index,
            info,
            ctx,
            stream,
            modules: HashMap::new(),
        }))
    }
}

fn cc_of(info: &DeviceInfo) -> (i32, i32) {
    info.extra
        .get("compute_capability")
        .and_then(|v| v.as_str())
        .and_then(|s| s.split_once('.'))
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .unwrap_or((0, 0))
}

/// An opened CUDA device.
pub struct CudaDevice {
    info: DeviceInfo,
    cc: (i32, i32),
    ctx: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    monitor: Option<Monitor>,
    /// This device's index among NVML's (CUDA's order differs under CUDA_VISIBLE_DEVICES).
    nvml_index: u32,
    modules: HashMap<&'static str, Arc<CudaModule>>,
}

/// The kernel file that defines `function`.
pub fn file_of(function: &str) -> &'static str {
    hotpath_core::kernels::file_of_function(function)
}

impl CudaDevice {
    fn function(&mut self, name: &str) -> Result<CudaFunction> {
        let file_name = file_of(name);
        if !self.modules.contains_key(file_name) {
            let file = hotpath_core::kernels::file(file_name).ok_or_else(|| {
                Error::backend(format!("kernel file {file_name} is not embedded"))
            })?;
            let tk = toolkit::find()?;
            let compiled = nvrtc::compile(file, &self.info.arch, &tk)?;
            let module = self
                .ctx
                .load_module(Ptx::from_binary(compiled.cubin))
                .map_err(|e| driver(&format!("loading {file_name}"), e))?;
            self.modules.insert(file.file, module);
        }
        let module = &self.modules[file_name];
        module
            .load_function(name)
            .map_err(|e| driver(&format!("finding {name} in {file_name}"), e))
    }

    /// The plan of our kernels for `spec` on this device. For decode attention (and MLA
    /// decode) the split
    /// count depends on how many blocks an SM holds, which the driver's occupancy query
    /// (registers included) answers better than the plan's shared-memory estimate: the plan
    /// is made again with the driver's figure. Also returns the target's shared memory per
    /// block (after the opt-in), the limit every launch of the plan is checked against.
    fn plan(
        &mut self,
        spec: &hotpath_core::OpSpec,
    ) -> Result<(hotpath_core::launch_plan::LaunchPlan, u64)> {
        let mut target = crate::target::read(&self.ctx, &self.info.arch, self.info.compute_units);
        let limit = target.smem_per_block;
        let plan = hotpath_core::launch_plan::build(spec, &target)?;
        if !matches!(spec.op, OpKind::AttnDecode | OpKind::AttnMlaDecode) {
            return Ok((plan, limit));
        }
        let Some(hotpath_core::launch_plan::LaunchStep::Kernel {
            function, geometry, ..
        }) = plan.steps.first()
        else {
            return Ok((plan, limit));
        };
        let f = self.function(function)?;
        crate::target::opt_in(&f, function, geometry.shared_bytes)?;
        match crate::target::resident(&f, geometry.block.0, geometry.shared_bytes) {
            Some(resident) => {
                target.decode_resident = Some(resident);
                Ok((hotpath_core::launch_plan::build(spec, &target)?, limit))
            }
            None => Ok((plan, limit)),
        }
    }

    fn launcher(
        &mut self,
        work: &Workload,
        route: ops::Route,
    ) -> Result<(Box<dyn Launcher>, Vec<usize>)> {
        let spec = work.spec;
        let stream = self.stream.clone();
        Ok(match route {
            ops::Route::Blas => (
                Box::new(blas::LtMatmul::new(spec, &stream)?),
                blas::LtMatmul::out_bytes(spec)?,
            ),
            ops::Route::Host => {
                let input = work.inputs.get("a")?;
                (
                    Box::new(ops::host::Transfer::new(spec, &self.ctx, input)?),
                    ops::host::Transfer::out_bytes(spec)?,
                )
            }
            ops::Route::Planned => {
                let (plan, limit) = self.plan(spec)?;
                let out_bytes = plan.output_bytes.clone();
                let inputs = work.inputs.tensors.len();
                let device = format!("{} ({})", self.info.name, self.info.arch);
                let mut f = |n: &str| self.function(n);
                (
                    Box::new(ops::planned::Planned::new(
                        plan, inputs, &stream, &mut f, limit, &device,
                    )?),
                    out_bytes,
                )
            }
        })
    }
}

impl Device for CudaDevice {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn impls(&self, op: OpKind, dtype: DType) -> Vec<&'static str> {
        impls(op, dtype, self.cc)
    }

    fn prepare(&mut self, work: &Workload) -> Result<Box<dyn Prepared>> {
        let spec = work.spec;
        let route = ops::route(spec.op, work.imp)?;
        let offered = impls(spec.op, spec.dtype, self.cc);
        if !offered.contains(&work.imp) {
            let on = format!(" on {} ({})", self.info.name, self.info.arch);
            return Err(hotpath_core::backend::unsupported_impl(
                "cuda", spec, work.imp, &offered, &on,
            ));
        }
        let (launcher, out_bytes) = self.launcher(work, route)?;
        let mut sets = Vec::with_capacity(work.rotation_sets.max(1));
        for _ in 0..work.rotation_sets.max(1) {
            sets.push(ops::upload_set(&self.stream, work.inputs, &out_bytes)?);
        }
        self.stream
            .synchronize()
            .map_err(|e| driver("uploading inputs", e))?;
        Ok(Box::new(GpuBench::new(
            &self.ctx,
            self.stream.clone(),
            launcher,
            sets,
        )?))
    }

    fn clock(&self) -> Result<Option<ClockSample>> {
        Ok(self.monitor.as_ref().and_then(Monitor::clock))
    }

    fn telemetry(&self) -> Result<Option<hotpath_core::Telemetry>> {
        Ok(self.monitor.as_ref().and_then(Monitor::telemetry))
    }

    fn telemetry_source(&self) -> hotpath_core::TelemetrySource {
        match self.monitor {
            Some(_) => hotpath_core::TelemetrySource::Nvml,
            None => hotpath_core::TelemetrySource::None,
        }
    }

    fn timing_method(&self) -> TimingMethod {
        TimingMethod::DeviceEvents
    }

    fn health_source(&self) -> Box<dyn hotpath_core::health::HealthSource> {
        Box::new(crate::health_source::NvmlHealth::open(self.nvml_index))
    }
}

#[cfg(test)]
#[path = "device_tests.rs"]
mod tests;
