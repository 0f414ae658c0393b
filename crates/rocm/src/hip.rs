//! The HIP runtime, loaded at run time with libloading (no ROCm needed to build). The lowest
//! layer: raw function pointers and a `check` that turns a `hipError_t` into a sentence.
//! Enum values are ROCm's (`hip_runtime_api.h`, checked against ROCm 5.2's header).

use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::sync::OnceLock;

use libloading::Library;

use crate::loader::{Candidates, HIP_ENV, HIP_NAMES};

/// `hipMemcpyHostToDevice`.
pub const MEMCPY_H2D: c_int = 1;
/// `hipMemcpyDeviceToHost`.
pub const MEMCPY_D2H: c_int = 2;
/// `hipDeviceAttributeClockRate` (kHz).
pub const ATTR_CLOCK_RATE: c_int = 5;
/// `hipDeviceAttributeL2CacheSize` (bytes).
pub const ATTR_L2_CACHE: c_int = 19;
/// `hipDeviceAttributeMemoryBusWidth` (bits).
pub const ATTR_MEM_BUS_WIDTH: c_int = 59;
/// `hipDeviceAttributeMemoryClockRate` (kHz).
pub const ATTR_MEM_CLOCK: c_int = 60;
/// `hipDeviceAttributeMultiprocessorCount` (CUs).
pub const ATTR_CU_COUNT: c_int = 63;
/// `hipDeviceAttributeMaxSharedMemoryPerBlock` (bytes).
pub const ATTR_MAX_SHARED_PER_BLOCK: c_int = 74;
/// `hipDeviceAttributeWarpSize` (wavefront size).
pub const ATTR_WAVE_SIZE: c_int = 87;
/// `HIP_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES` (a kernel's static shared memory, bytes).
pub const FUNC_ATTR_SHARED_SIZE_BYTES: c_int = 1;
/// `hipStreamCaptureModeThreadLocal`: while capturing, only this thread's unsafe calls are
/// refused.
pub const CAPTURE_MODE_THREAD_LOCAL: c_int = 1;

macro_rules! hip_fns {
    ($($name:ident : fn($($arg:ty),*) -> $ret:ty;)*) => {
        /// The HIP runtime functions hotpath uses.
        #[allow(non_snake_case)]
        pub struct Hip {
            _lib: Library,
            /// Which library file was loaded.
            pub path: String,
            $(
                #[doc = concat!("`", stringify!($name), "`")]
                pub $name: unsafe extern "C" fn($($arg),*) -> $ret,
            )*
        }

        impl Hip {
            #[allow(non_snake_case)]
            fn load(lib: Library, path: String) -> Result<Hip, String> {
                // SAFETY: each symbol is looked up by its exported name and given the signature
                // of hip_runtime_api.h; the library stays loaded as long as `Hip` lives.
                unsafe {
                    $(
                        let $name = *lib
                            .get::<unsafe extern "C" fn($($arg),*) -> $ret>(concat!(stringify!($name), "\0").as_bytes())
                            .map_err(|e| format!("{path} lacks {}: {e}", stringify!($name)))?;
                    )*
                    Ok(Hip { _lib: lib, path, $($name,)* })
                }
            }
        }
    };
}

hip_fns! {
    hipInit: fn(c_uint) -> c_int;
    hipGetDeviceCount: fn(*mut c_int) -> c_int;
    hipSetDevice: fn(c_int) -> c_int;
    hipDeviceGetName: fn(*mut c_char, c_int, c_int) -> c_int;
    hipDeviceGetPCIBusId: fn(*mut c_char, c_int, c_int) -> c_int;
    hipDeviceGetAttribute: fn(*mut c_int, c_int, c_int) -> c_int;
    hipDeviceTotalMem: fn(*mut usize, c_int) -> c_int;
    hipMemGetInfo: fn(*mut usize, *mut usize) -> c_int;
    hipDriverGetVersion: fn(*mut c_int) -> c_int;
    hipRuntimeGetVersion: fn(*mut c_int) -> c_int;
    hipGetErrorString: fn(c_int) -> *const c_char;
    hipMalloc: fn(*mut *mut c_void, usize) -> c_int;
    hipFree: fn(*mut c_void) -> c_int;
    hipHostMalloc: fn(*mut *mut c_void, usize, c_uint) -> c_int;
    hipHostFree: fn(*mut c_void) -> c_int;
    hipMemcpy: fn(*mut c_void, *const c_void, usize, c_int) -> c_int;
    hipMemcpyAsync: fn(*mut c_void, *const c_void, usize, c_int, *mut c_void) -> c_int;
    hipMemsetAsync: fn(*mut c_void, c_int, usize, *mut c_void) -> c_int;
    hipStreamCreate: fn(*mut *mut c_void) -> c_int;
    hipStreamSynchronize: fn(*mut c_void) -> c_int;
    hipEventCreate: fn(*mut *mut c_void) -> c_int;
    hipEventRecord: fn(*mut c_void, *mut c_void) -> c_int;
    hipEventSynchronize: fn(*mut c_void) -> c_int;
    hipEventElapsedTime: fn(*mut f32, *mut c_void, *mut c_void) -> c_int;
    hipEventDestroy: fn(*mut c_void) -> c_int;
    hipStreamDestroy: fn(*mut c_void) -> c_int;
    hipModuleUnload: fn(*mut c_void) -> c_int;
    hipModuleLoadData: fn(*mut *mut c_void, *const c_void) -> c_int;
    hipModuleGetFunction: fn(*mut *mut c_void, *mut c_void, *const c_char) -> c_int;
    hipFuncGetAttribute: fn(*mut c_int, c_int, *mut c_void) -> c_int;
    hipModuleLaunchKernel: fn(*mut c_void, c_uint, c_uint, c_uint, c_uint, c_uint, c_uint, c_uint, *mut c_void, *mut *mut c_void, *mut *mut c_void) -> c_int;
    hipStreamBeginCapture: fn(*mut c_void, c_int) -> c_int;
    hipStreamEndCapture: fn(*mut c_void, *mut *mut c_void) -> c_int;
    hipGraphInstantiate: fn(*mut *mut c_void, *mut c_void, *mut *mut c_void, *mut c_char, usize) -> c_int;
    hipGraphLaunch: fn(*mut c_void, *mut c_void) -> c_int;
    hipGraphExecDestroy: fn(*mut c_void) -> c_int;
    hipGraphDestroy: fn(*mut c_void) -> c_int;
}

static HIP: OnceLock<Result<Hip, String>> = OnceLock::new();

/// The HIP runtime, loaded once from [`HIP_NAMES`] or what `HOTPATH_HIP_LIBRARY` names;
/// the error says what was looked for.
pub fn hip() -> Result<&'static Hip, String> {
    HIP.get_or_init(|| {
        let (lib, path) = Candidates::from_env(HIP_ENV, &HIP_NAMES).open_first("HIP runtime")?;
        Hip::load(lib, path)
    })
    .as_ref()
    .map_err(Clone::clone)
}

impl Hip {
    /// `Ok` for hipSuccess, else a sentence with HIP's own error text.
    pub fn check(&self, what: &str, code: c_int) -> Result<(), String> {
        if code == 0 {
            return Ok(());
        }
        // SAFETY: hipGetErrorString returns a static NUL-terminated string for any code.
        let text = unsafe {
            let p = (self.hipGetErrorString)(code);
            if p.is_null() {
                "unknown error".to_string()
            } else {
                CStr::from_ptr(p).to_string_lossy().into_owned()
            }
        };
        Err(format!("{what} failed: {text} (hipError {code})"))
    }
}
