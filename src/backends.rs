//! The backend registry: the only place that knows every backend. `auto` picks CUDA, then
//! ROCm, then CPU, and says why each skipped backend is unavailable.

use hotpath_core::{Backend, DeviceInfo, Error, Result};

use crate::cli::BackendChoice;

/// A backend slot: the backend, or the reason it cannot be used in this build or on this machine.
pub struct Slot {
    /// `cuda`, `rocm` or `cpu`.
    pub name: &'static str,
    /// The backend, or why it is missing.
    pub backend: std::result::Result<Box<dyn Backend>, String>,
}

/// Every backend in auto-selection order.
pub fn all() -> Vec<Slot> {
    vec![
        Slot {
            name: "cuda",
            backend: Ok(Box::new(hotpath_cuda::CudaBackend::new())),
        },
        Slot {
            name: "rocm",
            backend: Ok(Box::new(hotpath_rocm::RocmBackend::new())),
        },
        Slot {
            name: "cpu",
            backend: Ok(Box::new(hotpath_cpu::CpuBackend::new())),
        },
    ]
}

/// Devices of a slot, or the reason there are none.
pub fn probe(slot: &Slot) -> std::result::Result<Vec<DeviceInfo>, String> {
    let backend = slot.backend.as_ref().map_err(Clone::clone)?;
    match backend.devices() {
        Ok(d) if d.is_empty() => Err(format!("{} found no devices", slot.name)),
        Ok(d) => Ok(d),
        Err(e) => Err(e.to_string()),
    }
}

/// Resolves `--backend`: an explicit backend must be usable; `auto` takes the first usable
/// one and reports each skipped backend's reason on stderr. With a `poison` or `refuse`
/// entry in `HOTPATH_FAULT`, the backend comes wrapped ([`hotpath_core::fault::inject`]).
pub fn select(choice: BackendChoice) -> Result<(Box<dyn Backend>, Vec<DeviceInfo>)> {
    let wanted = match choice {
        BackendChoice::Auto => None,
        BackendChoice::Cuda => Some("cuda"),
        BackendChoice::Rocm => Some("rocm"),
        BackendChoice::Cpu => Some("cpu"),
    };
    for slot in all() {
        if wanted.is_some_and(|w| w != slot.name) {
            continue;
        }
        match probe(&slot) {
            Ok(devices) => {
                let backend = slot.backend.map_err(Error::NotAvailable)?;
                // HOTPATH_FAULT's device-side faults (poison, refuse) need the devices wrapped.
                return Ok((hotpath_core::fault::inject(backend), devices));
            }
            Err(reason) if wanted.is_some() => {
                return Err(Error::NotAvailable(format!(
                    "backend {} is unavailable: {reason}; run `hotpath devices` to see what is",
                    slot.name
                )))
            }
            Err(reason) => eprintln!("auto: skipping {}: {reason}", slot.name),
        }
    }
    Err(Error::NotAvailable(
        "no backend has a usable device; run `hotpath devices` for the reasons".to_string(),
    ))
}
