//! The [`Target`] a launch plan is made for, read from the CUDA driver: SM count, shared
//! memory per block after the opt-in and per SM, threads per SM, grid limits; and the
//! occupancy of the decode-attention kernel, which counts registers the plan cannot see.

use cudarc::driver::sys::{CUdevice_attribute, CUfunction_attribute};
use cudarc::driver::{CudaContext, CudaFunction};
use hotpath_core::target::{Target, NVIDIA_STATIC_SMEM_BYTES};
use hotpath_core::{Error, Result};

/// The device's plan target; an attribute the driver does not report keeps the H100's
/// value (the static 48 KiB for shared memory per block, so nothing over it is planned).
pub fn read(ctx: &CudaContext, arch: &str, units: u32) -> Target {
    let attr = |a: CUdevice_attribute| ctx.attribute(a).ok().filter(|&v| v > 0);
    let h100 = Target::h100();
    let smem_per_block =
        attr(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN)
            .or_else(|| attr(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK))
            .map_or(NVIDIA_STATIC_SMEM_BYTES, |b| b as u64);
    Target {
        arch: arch.to_string(),
        units,
        smem_per_block,
        smem_per_unit: attr(
            CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_MULTIPROCESSOR,
        )
        .map_or(smem_per_block, |b| b as u64),
        threads_per_unit: attr(
            CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_MULTIPROCESSOR,
        )
        .map_or(h100.threads_per_unit, |t| t as u32),
        grid_max: (
            attr(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X)
                .map_or(h100.grid_max.0, |v| v as u32),
            attr(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y)
                .map_or(h100.grid_max.1, |v| v as u32),
            attr(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z)
                .map_or(h100.grid_max.2, |v| v as u32),
        ),
        decode_resident: None,
        decode_splits: None,
    }
}

/// Lets `function` (called `name`) use `bytes` of dynamic shared memory: over 48 KiB the
/// driver refuses the launch unless the function's limit is raised first.
pub fn opt_in(function: &CudaFunction, name: &str, bytes: u32) -> Result<()> {
    if (bytes as u64) <= NVIDIA_STATIC_SMEM_BYTES {
        return Ok(());
    }
    function
        .set_attribute(
            CUfunction_attribute::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
            bytes as i32,
        )
        .map_err(|e| {
            Error::backend(format!(
                "raising {name}'s dynamic shared memory to {bytes} B failed: {e}"
            ))
        })
}

/// Blocks of `function` resident per SM with `threads` threads and `smem` bytes of dynamic
/// shared memory, as the driver computes it (registers included); `None` when it cannot say.
pub fn resident(function: &CudaFunction, threads: u32, smem: u32) -> Option<u32> {
    function
        .occupancy_max_active_blocks_per_multiprocessor(threads, smem as usize, None)
        .ok()
        .filter(|&n| n > 0)
}
