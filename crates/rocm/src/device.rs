//! The ROCm backend and its devices. Everything is loaded at run time; a missing runtime,
//! driver or GPU is a reason string. Our kernels run from the backend-independent launch
//! plans of `hotpath_core::launch_plan`, compiled by hipRTC for the device's gfx target.

use std::collections::{BTreeMap, HashMap};
use std::ffi::{c_char, c_int, c_void, CString};

use std::path::PathBuf;

use hotpath_core::launch_plan;
use hotpath_core::{
    Backend, ClockSample, DType, Device, DeviceInfo, Error, OpKind, Prepared, Result, TimingMethod,
    Workload,
};

use crate::amdsmi::{self, bdf::hip_bdf};
use crate::hip::{
    hip, Hip, ATTR_CU_COUNT, ATTR_L2_CACHE, ATTR_MAX_SHARED_PER_BLOCK, ATTR_MEM_BUS_WIDTH,
    ATTR_MEM_CLOCK, ATTR_WAVE_SIZE,
};
use crate::hiprtc::rtc;
pub use crate::ops::impls;
use crate::ops::{self, Launcher};
use crate::timer::RocmBench;
use crate::topology::kfd_targets;
use crate::{blas, sysfs};

/// A HIP failure sentence as a backend error.
pub(crate) fn err(e: String) -> Error {
    Error::backend(e)
}

/// The HIP runtime, initialised; or why it cannot be used.
pub fn runtime() -> Result<&'static Hip> {
    let h = hip().map_err(Error::NotAvailable)?;
    // SAFETY: hipInit takes flags 0 and has no other preconditions.
    h.check("hipInit", unsafe { (h.hipInit)(0) }).map_err(|e| {
        Error::NotAvailable(format!(
            "HIP runtime found ({}) but {e}: no usable AMD GPU",
            h.path
        ))
    })?;
    Ok(h)
}

/// The ROCm backend.
#[derive(Default)]
pub struct RocmBackend;

impl RocmBackend {
    /// The backend (the runtime is looked for when first used).
    pub fn new() -> RocmBackend {
        RocmBackend
    }
}

fn attr(h: &Hip, a: c_int, dev: c_int) -> Option<i64> {
    let mut v = 0;
    // SAFETY: `v` is valid for writes; `dev` was range-checked by the caller.
    (unsafe { (h.hipDeviceGetAttribute)(&mut v, a, dev) } == 0).then_some(v as i64)
}

/// Shared memory (LDS) one workgroup may use on device `dev`, as HIP reports it; CDNA's
/// 64 KiB when it does not.
fn shared_limit(h: &Hip, dev: c_int) -> u64 {
    attr(h, ATTR_MAX_SHARED_PER_BLOCK, dev)
        .filter(|&b| b > 0)
        .map_or(hotpath_core::launch::AMD_LDS_BYTES, |b| b as u64)
}

fn describe(h: &Hip, index: usize) -> Result<DeviceInfo> {
    let dev = index as c_int;
    // SAFETY: plain calls on an initialised runtime with valid out-pointers.
    unsafe {
        h.check("hipSetDevice", (h.hipSetDevice)(dev))
            .map_err(err)?;
        let mut name = [0 as c_char; 256];
        h.check(
            "hipDeviceGetName",
            (h.hipDeviceGetName)(name.as_mut_ptr(), 256, dev),
        )
        .map_err(err)?;
        let name = std::ffi::CStr::from_ptr(name.as_ptr())
            .to_string_lossy()
            .into_owned();
        let (mut free, mut total) = (0usize, 0usize);
        h.check("hipMemGetInfo", (h.hipMemGetInfo)(&mut free, &mut total))
            .map_err(err)?;
        let mut version = 0;
        let _ = (h.hipDriverGetVersion)(&mut version);
        let wave = attr(h, ATTR_WAVE_SIZE, dev).unwrap_or(64);
        let bandwidth = match (
            attr(h, ATTR_MEM_CLOCK, dev),
            attr(h, ATTR_MEM_BUS_WIDTH, dev),
        ) {
            (Some(khz), Some(bits)) if khz > 0 && bits > 0 => {
                Some(khz as f64 * 1e3 * 2.0 * bits as f64 / 8.0)
            }
            _ => None,
        };
        let mut extra = BTreeMap::new();
        extra.insert("wavefront_size".to_string(), serde_json::Value::from(wave));
        extra.insert(
            "shared_memory_per_block_bytes".to_string(),
            serde_json::Value::from(shared_limit(h, dev)),
        );
        extra.insert(
            "runtime".to_string(),
            serde_json::Value::from(h.path.clone()),
        );
        if let Some(bdf) = hip_bdf(h, dev) {
            extra.insert("pci_bus_id".to_string(), bdf.to_string().into());
        }
        Ok(DeviceInfo {
            backend: "rocm".into(),
            index,
            name,
            arch: kfd_targets()
                .get(index)
                .cloned()
                .unwrap_or_else(|| "gfx-unknown".into()),
            driver: Some(format!("HIP {version}")),
            memory_bytes: total as u64,
            memory_available_bytes: free as u64,
            compute_units: attr(h, ATTR_CU_COUNT, dev).unwrap_or(0).max(0) as u32,
            llc_bytes: attr(h, ATTR_L2_CACHE, dev).unwrap_or(0).max(0) as u64,
            reported_mem_bytes_per_s: bandwidth,
            power_limit_max_w: None,
            extra,
        })
    }
}

impl Backend for RocmBackend {
    fn name(&self) -> &'static str {
        "rocm"
    }

    fn devices(&self) -> Result<Vec<DeviceInfo>> {
        let h = runtime()?;
        let mut count = 0;
        // SAFETY: `count` is valid for writes.
        h.check("hipGetDeviceCount", unsafe {
            (h.hipGetDeviceCount)(&mut count)
        })
        .map_err(|e| Error::NotAvailable(format!("{e}: no AMD GPU visible")))?;
        if count <= 0 {
            return Err(Error::NotAvailable(
                "the HIP runtime reports no devices".into(),
            ));
        }
        (0..count as usize).map(|i| describe(h, i)).collect()
    }

    fn open(&self, index: usize) -> Result<Box<dyn Device>> {
        let h = runtime()?;
        let info = describe(h, index)?;
        let mut stream = std::ptr::null_mut();
        // SAFETY: `stream` is valid for writes; the device was selected by `describe`.
        h.check("hipStreamCreate", unsafe {
            (h.hipStreamCreate)(&mut stream)
        })
        .map_err(err)?;
        // The PCI address finds this GPU in AMD SMI and in sysfs whatever order they list
        // GPUs in; without it, the index-th amdgpu card.
        let bdf = hip_bdf(h, index as c_int);
        let card = bdf
            .and_then(|b| b.sysfs_dir())
            .or_else(|| sysfs::card_dir(index));
        Ok(Box::new(RocmDevice {
            shared_limit: shared_limit(h, index as c_int),
            telemetry: crate::telemetry::RocmTelemetry::new(card.clone(), bdf),
            card,
            bdf,
            info,
            h,
            stream,
            modules: HashMap::new(),
        }))
    }
}

/// Implementations offered on AMD: our kernels (MFMA paths for gemm, prefill attention and
/// the f16/bf16 peak on CDNA), and hipBLASLt for gemm/gemv when `blas` (it loaded) is true.
pub fn impls_with(op: OpKind, dtype: DType, blas: bool) -> Vec<&'static str> {
    let mut v = impls(op, dtype);
    // hipBLASLt for the ops its launcher runs (gemm, gemv), at the dtypes it multiplies.
    let runs = matches!(ops::route(op, "hipblaslt"), Ok(ops::Route::Blas));
    if blas && runs && blas::data_type(dtype).is_some() {
        v.push("hipblaslt");
    }
    v
}

/// What follows "the rocm backend has no <imp> implementation of <op> for <dtype>": for
/// `hipblaslt`, where hipBLASLt was found and what hotpath runs on it, or why it is missing
/// (`blas`, from [`blas::available`]); for our kernels, the device (`name`, `arch`).
pub fn unoffered_why(
    imp: &str,
    blas: &std::result::Result<String, String>,
    name: &str,
    arch: &str,
) -> String {
    match (imp, blas) {
        ("hipblaslt", Ok(path)) => {
            format!(" (hipBLASLt, found at {path}, runs gemm and gemv in f32, f16 and bf16 only)")
        }
        ("hipblaslt", Err(why)) => format!(" ({why})"),
        _ => format!(" on {name} ({arch})"),
    }
}

/// An opened AMD GPU.
pub struct RocmDevice {
    info: DeviceInfo,
    h: &'static Hip,
    stream: *mut c_void,
    card: Option<PathBuf>,
    bdf: Option<amdsmi::Bdf>,
    /// Clocks, temperature and power around every sample batch.
    telemetry: crate::telemetry::RocmTelemetry,
    modules: HashMap<&'static str, *mut c_void>,
    /// Shared memory one workgroup may use, bytes.
    shared_limit: u64,
}

impl Drop for RocmDevice {
    fn drop(&mut self) {
        // SAFETY: modules and stream were created by this device and are released once.
        unsafe {
            for m in self.modules.values() {
                let _ = (self.h.hipModuleUnload)(*m);
            }
            let _ = (self.h.hipStreamDestroy)(self.stream);
        }
    }
}

impl RocmDevice {
    fn function(&mut self, name: &str) -> Result<*mut c_void> {
        let file_name = hotpath_core::kernels::file_of_function(name);
        if !self.modules.contains_key(file_name) {
            let file = hotpath_core::kernels::file(file_name).ok_or_else(|| {
                Error::backend(format!("kernel file {file_name} is not embedded"))
            })?;
            let compiled = rtc()?.compile(file, &self.info.arch)?;
            let mut module = std::ptr::null_mut();
            // SAFETY: the code object stays alive for the call; HIP copies it.
            self.h
                .check(&format!("loading {file_name}"), unsafe {
                    (self.h.hipModuleLoadData)(&mut module, compiled.code.as_ptr() as *const c_void)
                })
                .map_err(err)?;
            self.modules.insert(file.file, module);
        }
        let cname = CString::new(name).map_err(|_| Error::backend("kernel name has a NUL"))?;
        let mut f = std::ptr::null_mut();
        // SAFETY: module loaded above; out-pointer valid.
        self.h
            .check(&format!("finding {name}"), unsafe {
                (self.h.hipModuleGetFunction)(&mut f, self.modules[file_name], cname.as_ptr())
            })
            .map_err(err)?;
        Ok(f)
    }

    /// The plan of our kernels for `spec` on this device, and the shared memory one
    /// workgroup may use, the limit every launch of the plan is checked against. CDNA's LDS
    /// is 64 KiB per workgroup and per CU, and dynamic LDS up to that needs no opt-in; more
    /// (gfx950's 160 KiB) would need hipFuncSetAttribute on a host stub, which module
    /// kernels do not have, so plans stay within 64 KiB. Blocks per CU are estimated from
    /// LDS and threads (no occupancy query is loaded).
    fn plan(&self, spec: &hotpath_core::OpSpec) -> Result<(launch_plan::LaunchPlan, u64)> {
        let mut target =
            hotpath_core::target::Target::amd(&self.info.arch, self.info.compute_units);
        target.smem_per_block = self.shared_limit.min(hotpath_core::launch::AMD_LDS_BYTES);
        target.smem_per_unit = target.smem_per_block;
        Ok((launch_plan::build(spec, &target)?, self.shared_limit))
    }

    fn launcher(
        &mut self,
        work: &Workload,
        route: ops::Route,
    ) -> Result<(Box<dyn Launcher>, Vec<usize>)> {
        let spec = work.spec;
        let h = self.h;
        Ok(match route {
            ops::Route::Blas => (
                Box::new(blas::LtMatmul::new(spec, h)?),
                blas::LtMatmul::out_bytes(spec)?,
            ),
            ops::Route::Host => {
                let input = work.inputs.get("a")?;
                (
                    Box::new(ops::host::Transfer::new(spec, h, input)?),
                    ops::host::Transfer::out_bytes(spec)?,
                )
            }
            ops::Route::Planned => {
                let (plan, limit) = self.plan(spec)?;
                let out_bytes = plan.output_bytes.clone();
                let inputs = work.inputs.tensors.len();
                let device = format!("{} ({})", self.info.name, self.info.arch);
                let stream = self.stream;
                let mut f = |n: &str| self.function(n);
                (
                    Box::new(ops::planned::Planned::new(
                        plan, inputs, h, stream, &mut f, limit, &device,
                    )?),
                    out_bytes,
                )
            }
        })
    }
}

impl Device for RocmDevice {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn impls(&self, op: OpKind, dtype: DType) -> Vec<&'static str> {
        impls_with(op, dtype, blas::available().is_ok())
    }

    fn prepare(&mut self, work: &Workload) -> Result<Box<dyn Prepared>> {
        let spec = work.spec;
        let route = ops::route(spec.op, work.imp)?;
        let offered = impls_with(spec.op, spec.dtype, blas::available().is_ok());
        if !offered.contains(&work.imp) {
            let why = unoffered_why(
                work.imp,
                &blas::available(),
                &self.info.name,
                &self.info.arch,
            );
            return Err(hotpath_core::backend::unsupported_impl(
                "rocm", spec, work.imp, &offered, &why,
            ));
        }
        let (launcher, out_bytes) = self.launcher(work, route)?;
        let (h, stream) = (self.h, self.stream);
        let mut sets = Vec::with_capacity(work.rotation_sets.max(1));
        for _ in 0..work.rotation_sets.max(1) {
            sets.push(ops::upload_set(h, stream, work.inputs, &out_bytes)?);
        }
        // SAFETY: the stream was created in `open` and lives as long as the device.
        h.check("hipStreamSynchronize", unsafe {
            (h.hipStreamSynchronize)(stream)
        })
        .map_err(err)?;
        Ok(Box::new(RocmBench::new(h, stream, launcher, sets)?))
    }

    fn clock(&self) -> Result<Option<ClockSample>> {
        let card = self.card.as_deref();
        Ok(match amdsmi::clock(self.bdf) {
            // AMD SMI gives the clock; the throttle status only sysfs has.
            Some(mut sample) => {
                sample.throttle_reasons = sysfs::throttle_reasons(card);
                Some(sample)
            }
            None => card.and_then(sysfs::clock),
        })
    }

    fn telemetry(&self) -> Result<Option<hotpath_core::Telemetry>> {
        Ok(self.telemetry.read())
    }

    fn telemetry_source(&self) -> hotpath_core::TelemetrySource {
        self.telemetry.source()
    }

    fn health_source(&self) -> Box<dyn hotpath_core::health::HealthSource> {
        Box::new(crate::health_source::RocmHealth::new(
            self.card.clone(),
            self.bdf,
        ))
    }

    fn timing_method(&self) -> TimingMethod {
        TimingMethod::DeviceEvents
    }
}

#[cfg(test)]
#[path = "device_tests.rs"]
mod tests;
