//! AMD SMI (`libamd_smi.so`), loaded at run time with libloading: temperature, clocks, ECC
//! counts, PCIe link and retired pages of one GPU, found by its PCI address. Where AMD SMI is
//! absent, or gives no value for a reading, the reading comes from sysfs ([`crate::sysfs`]).
//!
//! **Unverified on hardware**: nothing here has run against a real `libamd_smi.so`.
//!
//! # The C API bound here, as read in amdsmi's header
//!
//! From `include/amd_smi/amdsmi.h` of ROCm/amdsmi at 0ceca28f (library 24.7.0, October 2024),
//! compared with the same header at the tags rocm-5.7.0 (23.2.0.1), rocm-6.0.0 (23.4.0.0),
//! rocm-6.1.0 (24.5.0.0) and rocm-6.2.0 (24.6.2.0), and with `projects/amdsmi` of
//! ROCm/rocm-systems at 55fff125 (26.1.0). Every function bound has the same declaration in
//! 23.2 and 24.7 (`amdsmi_get_pcie_info` only exists from 24.x, so it is optional); the 26.1
//! declarations read (`amdsmi_get_temp_metric`, `amdsmi_get_gpu_bad_page_info`,
//! `amdsmi_get_gpu_device_bdf`, `amdsmi_get_lib_version`) are unchanged too. C enums go as
//! `u32`: every value used fits, and `amdsmi_status_t` holds 0xFFFFFFFF, so it is unsigned.
//! Layouts relied on (x86_64, LP64):
//! - `amdsmi_version_t`, 24 bytes in all: to 24.x `{u32 year, major, minor, release; const
//!   char *build}`, in 26.x `{u32 major, minor, release; const char *build}`. The first word
//!   is the year (23, 24) in the old scheme and the major (25 on) in the new one. `build` is
//!   never read.
//! - `amdsmi_bdf_t`, a `u64` union, the same in all: see [`Bdf::from_amdsmi`].
//! - `amdsmi_clk_info_t`, 32 bytes in all: current (`cur_clk`, renamed `clk` in 24.6), min and
//!   max MHz as `u32` at 0, 4 and 8; the tail changed twice and is not read.
//! - `amdsmi_error_count_t`: correctable and uncorrectable `u64` at 0 and 8 in all; 32 bytes
//!   to 23.4, 64 from 24.x (a deferred count was added).
//! - `amdsmi_pcie_info_t`: from 24.2 (commit 0b67c2c) 512 bytes `{pcie_static, pcie_metric,
//!   reserved[32]}` with max width `u16` at 0, max speed `u32` at 4, width `u16` at 96 and
//!   speed `u32` at 100, the same in 24.2–24.7 and 26.1; before 24.2 another struct. So it is
//!   read only when the library says 24.2 to 24.x, or 26.x (the 26.x header promises a new
//!   major for any ABI break).
//!
//! Behaviour read in the 24.7 implementation (`src/amd_smi/amd_smi.cc`):
//! `amdsmi_get_temp_metric` writes whole °C (it divides by 1000 since db9d879, February 2023,
//! although the headers up to 24.7 say millidegrees; 26.1's says °C);
//! `amdsmi_get_gpu_total_ecc_count` adds into the struct it is given (so it is passed zeroed);
//! `amdsmi_get_gpu_bad_page_info(h, &n, NULL)` only counts and leaves `n` untouched when the
//! bad-page file is empty (so `n` starts at 0). Every out-struct is passed at the start of a
//! larger zeroed buffer, so a newer library that grows it writes into slack, not past it.
//!
//! Not bound: `amdsmi_get_power_info`, whose struct moved its fields in 23.4 and again by
//! 26.1 (and a host build takes an extra sensor index), so power stays from hwmon; throttle
//! status (`amdsmi_gpu_metrics_t` and `amdsmi_violation_status_t` grow with every metrics
//! version), which comes from sysfs's `gpu_metrics` instead ([`crate::metrics`]).

pub mod bdf;
pub mod readings;

use std::ffi::{c_char, c_void, CStr};
use std::path::Path;
use std::sync::{Mutex, OnceLock};

use hotpath_core::ClockSample;
use libloading::Library;

use crate::loader::{self, Candidates, AMD_SMI_ENV};

pub use bdf::Bdf;
pub use readings::{AmdSmiReadings, ClockInfo, PcieLink, Processor, SmiCalls};

/// Library names tried for AMD SMI before the ROCm directories (sonames 23–26: ROCm 6.0–7.x).
pub const SMI_NAMES: [&str; 5] = [
    "libamd_smi.so",
    "libamd_smi.so.26",
    "libamd_smi.so.25",
    "libamd_smi.so.24",
    "libamd_smi.so.23",
];

/// `AMDSMI_INIT_AMD_GPUS`.
const INIT_AMD_GPUS: u64 = 1 << 1;
/// `AMDSMI_STATUS_SUCCESS`.
const SUCCESS: u32 = 0;
/// At most this many handles are asked for (AMD SMI caps devices at 32 per socket).
const MAX_HANDLES: u32 = 1024;

type Raw = *mut c_void;

/// A C struct followed by zeroed slack, so a library whose struct is larger writes into the
/// slack rather than past the buffer.
#[repr(C)]
struct Padded<T> {
    value: T,
    _slack: [u64; 64],
}

impl<T: Default> Default for Padded<T> {
    fn default() -> Self {
        Padded {
            value: T::default(),
            _slack: [0; 64],
        }
    }
}

/// `amdsmi_version_t`: four `u32` words, then the build string pointer (unread).
#[repr(C)]
struct VersionRaw {
    words: [u32; 4],
    _build: *const c_char,
}

impl Default for VersionRaw {
    fn default() -> Self {
        VersionRaw {
            words: [0; 4],
            _build: std::ptr::null(),
        }
    }
}

/// `amdsmi_clk_info_t` (24.6+ names; the first three fields are the same in every version).
#[repr(C)]
#[derive(Default)]
struct ClkInfoRaw {
    clk: u32,
    min_clk: u32,
    max_clk: u32,
    _locked_sleep: [u8; 2],
    _reserved: [u32; 4],
}

/// `amdsmi_error_count_t` (24.x and 26.x; 23.x wrote only the first 32 bytes).
#[repr(C)]
#[derive(Default)]
struct ErrorCountRaw {
    correctable: u64,
    uncorrectable: u64,
    _deferred_reserved: [u64; 6],
}

/// `amdsmi_pcie_info_t` from 24.2: the fields read, the rest as opaque words.
#[repr(C)]
#[derive(Default)]
struct PcieInfoRaw {
    max_pcie_width: u16,
    max_pcie_speed: u32,
    _static_rest: [u32; 2],
    _static_reserved: [u64; 10],
    pcie_width: u16,
    pcie_speed: u32,
    _metric_rest: [u64; 19],
    _reserved: [u64; 32],
}

const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(size_of::<VersionRaw>() == 24);
    assert!(size_of::<ClkInfoRaw>() == 32);
    assert!(size_of::<ErrorCountRaw>() == 64);
    assert!(offset_of!(PcieInfoRaw, max_pcie_speed) == 4);
    assert!(offset_of!(PcieInfoRaw, pcie_width) == 96);
    assert!(offset_of!(PcieInfoRaw, pcie_speed) == 100);
    assert!(size_of::<PcieInfoRaw>() == 512);
};

/// The library's version, in whichever of its two schemes it reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LibVersion {
    /// Up to 24.x: year.major.minor.release (ROCm 6.2 ships 24.6.2.0).
    Year {
        /// Last two digits of the year.
        year: u32,
        /// Bumped with every header change.
        major: u32,
        /// Minor.
        minor: u32,
        /// Release.
        release: u32,
    },
    /// From 25: major.minor.release; the major changes with every ABI break.
    Major {
        /// Major.
        major: u32,
        /// Minor.
        minor: u32,
        /// Release.
        release: u32,
    },
}

impl LibVersion {
    /// Decodes the first four words of `amdsmi_version_t`.
    pub fn from_words(w: [u32; 4]) -> LibVersion {
        if w[0] >= 25 {
            LibVersion::Major {
                major: w[0],
                minor: w[1],
                release: w[2],
            }
        } else {
            LibVersion::Year {
                year: w[0],
                major: w[1],
                minor: w[2],
                release: w[3],
            }
        }
    }

    /// Whether `amdsmi_pcie_info_t` has the layout read (24.2 to 24.x, or 26.x).
    pub fn pcie_layout_known(self) -> bool {
        match self {
            LibVersion::Year { year, major, .. } => year == 24 && major >= 2,
            LibVersion::Major { major, .. } => major == 26,
        }
    }
}

impl std::fmt::Display for LibVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LibVersion::Year {
                year,
                major,
                minor,
                release,
            } => write!(f, "{year}.{major}.{minor}.{release}"),
            LibVersion::Major {
                major,
                minor,
                release,
            } => write!(f, "{major}.{minor}.{release}"),
        }
    }
}

/// Library files tried, in order: [`SMI_NAMES`] (the loader's search path), then
/// `<opt>/rocm/lib`, then every other `<opt>/rocm*/lib`, newest name first
/// (`HOTPATH_AMD_SMI_LIBRARY` replaces the whole list, see [`crate::loader`]).
pub fn candidates(opt: &Path) -> Vec<String> {
    let mut dirs: Vec<String> = std::fs::read_dir(opt)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("rocm") && n != "rocm")
                .collect()
        })
        .unwrap_or_default();
    dirs.sort_by(|a, b| b.cmp(a));
    let mut out: Vec<String> = SMI_NAMES.iter().map(|s| s.to_string()).collect();
    for dir in std::iter::once("rocm".to_string()).chain(dirs) {
        out.push(
            opt.join(dir)
                .join("lib/libamd_smi.so")
                .display()
                .to_string(),
        );
    }
    out
}

type InitFn = unsafe extern "C" fn(u64) -> u32;
type ShutDownFn = unsafe extern "C" fn() -> u32;
type VersionFn = unsafe extern "C" fn(*mut VersionRaw) -> u32;
type SocketsFn = unsafe extern "C" fn(*mut u32, *mut Raw) -> u32;
type ProcessorsFn = unsafe extern "C" fn(Raw, *mut u32, *mut Raw) -> u32;
type BdfFn = unsafe extern "C" fn(Raw, *mut u64) -> u32;
type StatusTextFn = unsafe extern "C" fn(u32, *mut *const c_char) -> u32;
type TempFn = unsafe extern "C" fn(Raw, u32, u32, *mut i64) -> u32;
type ClockFn = unsafe extern "C" fn(Raw, u32, *mut ClkInfoRaw) -> u32;
type EccFn = unsafe extern "C" fn(Raw, *mut ErrorCountRaw) -> u32;
type PcieFn = unsafe extern "C" fn(Raw, *mut PcieInfoRaw) -> u32;
type BadPagesFn = unsafe extern "C" fn(Raw, *mut u32, *mut c_void) -> u32;

/// AMD SMI, loaded and initialised for AMD GPUs.
pub struct AmdSmi {
    _lib: Library,
    /// Which library file was loaded.
    pub path: String,
    /// What `amdsmi_get_lib_version` said, when it answered.
    pub version: Option<LibVersion>,
    initialised: bool,
    lock: Mutex<()>,
    shut_down: ShutDownFn,
    sockets: SocketsFn,
    processors: ProcessorsFn,
    bdf: BdfFn,
    status_text: Option<StatusTextFn>,
    temp: Option<TempFn>,
    clock: Option<ClockFn>,
    ecc: Option<EccFn>,
    pcie: Option<PcieFn>,
    bad_pages: Option<BadPagesFn>,
}

/// Looks up `name` in `lib` as a `T`.
///
/// # Safety
/// `T` must be the function pointer type of the symbol's C declaration.
unsafe fn symbol<T: Copy>(lib: &Library, name: &str) -> Option<T> {
    // SAFETY: forwarded to the caller.
    unsafe { lib.get::<T>(name.as_bytes()).ok().map(|s| *s) }
}

impl AmdSmi {
    /// Opens the first of [`candidates`] under `/opt` (or of what `HOTPATH_AMD_SMI_LIBRARY`
    /// names) that loads, binds it and calls `amdsmi_init(AMDSMI_INIT_AMD_GPUS)`; the error
    /// says what was looked for or what failed.
    pub fn load() -> Result<AmdSmi, String> {
        let value = std::env::var(AMD_SMI_ENV).ok();
        AmdSmi::load_from(&Candidates::from_value(
            AMD_SMI_ENV,
            value.as_deref(),
            candidates(Path::new("/opt")),
        ))
    }

    /// [`AmdSmi::load`] over an explicit list of library files.
    pub fn load_from(names: &Candidates) -> Result<AmdSmi, String> {
        let mut errors = Vec::new();
        let found = names
            .names
            .iter()
            .find_map(|name| match loader::open(name) {
                Ok(lib) => Some((lib, name)),
                Err(e) => {
                    errors.extend(e);
                    None
                }
            });
        let Some((lib, path)) = found else {
            return Err(names.not_found("AMD SMI", &errors));
        };
        let missing = |f: &str| format!("{path} lacks {f}, so it is not a usable AMD SMI");
        // SAFETY (every `symbol` call): each type is the function's declaration in amdsmi.h
        // (module doc); the library outlives the pointers, which live in the same struct.
        let init: InitFn =
            unsafe { symbol(&lib, "amdsmi_init") }.ok_or_else(|| missing("amdsmi_init"))?;
        let status_text: Option<StatusTextFn> =
            unsafe { symbol(&lib, "amdsmi_status_code_to_string") };
        let version_fn: Option<VersionFn> = unsafe { symbol(&lib, "amdsmi_get_lib_version") };
        let mut smi = AmdSmi {
            shut_down: unsafe { symbol(&lib, "amdsmi_shut_down") }
                .ok_or_else(|| missing("amdsmi_shut_down"))?,
            sockets: unsafe { symbol(&lib, "amdsmi_get_socket_handles") }
                .ok_or_else(|| missing("amdsmi_get_socket_handles"))?,
            processors: unsafe { symbol(&lib, "amdsmi_get_processor_handles") }
                .ok_or_else(|| missing("amdsmi_get_processor_handles"))?,
            bdf: unsafe { symbol(&lib, "amdsmi_get_gpu_device_bdf") }
                .ok_or_else(|| missing("amdsmi_get_gpu_device_bdf"))?,
            status_text,
            temp: unsafe { symbol(&lib, "amdsmi_get_temp_metric") },
            clock: unsafe { symbol(&lib, "amdsmi_get_clock_info") },
            ecc: unsafe { symbol(&lib, "amdsmi_get_gpu_total_ecc_count") },
            pcie: unsafe { symbol(&lib, "amdsmi_get_pcie_info") },
            bad_pages: unsafe { symbol(&lib, "amdsmi_get_gpu_bad_page_info") },
            version: None,
            initialised: false,
            lock: Mutex::new(()),
            path: path.clone(),
            _lib: lib,
        };
        // SAFETY: amdsmi_init takes flags only.
        let status = unsafe { init(INIT_AMD_GPUS) };
        if status != SUCCESS {
            return Err(format!(
                "AMD SMI at {path} failed to initialise: {}",
                smi.status(status)
            ));
        }
        smi.initialised = true;
        if let Some(f) = version_fn {
            let mut v = Padded::<VersionRaw>::default();
            // SAFETY: `v` starts with an amdsmi_version_t (24 bytes) and has slack after.
            if unsafe { f(&mut v.value) } == SUCCESS {
                smi.version = Some(LibVersion::from_words(v.value.words));
            }
        }
        Ok(smi)
    }

    /// AMD SMI's own text for a status code, with the code.
    fn status(&self, code: u32) -> String {
        let text = self.status_text.and_then(|f| {
            let mut p: *const c_char = std::ptr::null();
            // SAFETY: `p` is valid for writes; the library points it at a static string.
            let ok = unsafe { f(code, &mut p) } == SUCCESS && !p.is_null();
            // SAFETY: non-null and NUL-terminated, as amdsmi.h promises.
            ok.then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
        });
        match text {
            Some(t) => format!("{t} (amdsmi status {code})"),
            None => format!("amdsmi status {code}"),
        }
    }

    /// Every reading of the GPU at `bdf`; `Err` when AMD SMI lists no GPU there.
    pub fn readings_for_bdf(&self, bdf: Bdf) -> Result<AmdSmiReadings, String> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        readings::readings_with(self, bdf)
    }

    /// The memory clock (MHz) and temperature (°C) of the GPU at `bdf`, for telemetry;
    /// `None` when AMD SMI lists no GPU there.
    pub fn slow_for_bdf(&self, bdf: Bdf) -> Option<(Option<f64>, Option<f64>)> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        readings::slow_with(self, bdf)
    }

    /// The graphics clock of the GPU at `bdf` (read around every sample batch, so only the
    /// clock is asked for); `None` when AMD SMI cannot say.
    pub fn clock_for_bdf(&self, bdf: Bdf) -> Option<ClockSample> {
        let _guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        readings::clock_with(self, bdf)
    }
}

impl Drop for AmdSmi {
    fn drop(&mut self) {
        if self.initialised {
            // SAFETY: amdsmi_init succeeded for this instance; shut down once.
            let _ = unsafe { (self.shut_down)() };
        }
    }
}

/// The two-call list pattern of `amdsmi_get_socket_handles` / `amdsmi_get_processor_handles`:
/// ask for the count with a null buffer, then fill a buffer of that size; keep what was
/// written. Null handles are kept here and dropped by the caller.
pub fn two_call_list(mut call: impl FnMut(*mut u32, *mut Raw) -> u32) -> Result<Vec<Raw>, u32> {
    let mut count = 0u32;
    let status = call(&mut count, std::ptr::null_mut());
    if status != SUCCESS {
        return Err(status);
    }
    let count = count.min(MAX_HANDLES);
    if count == 0 {
        return Ok(vec![]);
    }
    let mut handles: Vec<Raw> = vec![std::ptr::null_mut(); count as usize];
    let mut written = count;
    let status = call(&mut written, handles.as_mut_ptr());
    if status != SUCCESS {
        return Err(status);
    }
    handles.truncate(written.min(count) as usize);
    Ok(handles)
}

impl SmiCalls for AmdSmi {
    fn processors(&self) -> Result<Vec<Processor>, String> {
        let sockets_fn = self.sockets;
        // SAFETY: the closure passes a valid count pointer and a buffer of `*count` handles
        // (or null), as amdsmi_get_socket_handles requires.
        let sockets = two_call_list(|n, out| unsafe { sockets_fn(n, out) })
            .map_err(|s| format!("amdsmi_get_socket_handles: {}", self.status(s)))?;
        let mut all = Vec::new();
        for socket in sockets.into_iter().filter(|s| !s.is_null()) {
            let processors_fn = self.processors;
            // SAFETY: as above, with a non-null socket handle from the library.
            let list = two_call_list(|n, out| unsafe { processors_fn(socket, n, out) })
                .map_err(|s| format!("amdsmi_get_processor_handles: {}", self.status(s)))?;
            all.extend(list.into_iter().filter_map(Processor::new));
        }
        Ok(all)
    }

    fn bdf(&self, p: Processor) -> Option<Bdf> {
        let mut raw = Padded::<u64>::default();
        // SAFETY: non-null handle from the library; `raw` holds an amdsmi_bdf_t.
        let status = unsafe { (self.bdf)(p.as_ptr(), &mut raw.value) };
        (status == SUCCESS).then(|| Bdf::from_amdsmi(raw.value))
    }

    fn temperature_c(&self, p: Processor, sensor: u32, metric: u32) -> Option<i64> {
        let f = self.temp?;
        let mut t = 0i64;
        // SAFETY: non-null handle; `t` is the int64_t the function writes.
        (unsafe { f(p.as_ptr(), sensor, metric, &mut t) } == SUCCESS).then_some(t)
    }

    fn clock(&self, p: Processor, clock_type: u32) -> Option<ClockInfo> {
        let f = self.clock?;
        let mut c = Padded::<ClkInfoRaw>::default();
        // SAFETY: non-null handle; `c` starts with an amdsmi_clk_info_t and has slack after.
        (unsafe { f(p.as_ptr(), clock_type, &mut c.value) } == SUCCESS).then_some(ClockInfo {
            current: c.value.clk,
            min: c.value.min_clk,
            max: c.value.max_clk,
        })
    }

    fn total_ecc(&self, p: Processor) -> Option<(u64, u64)> {
        let f = self.ecc?;
        let mut e = Padded::<ErrorCountRaw>::default();
        // SAFETY: non-null handle; `e` is a zeroed amdsmi_error_count_t (the call adds into it).
        (unsafe { f(p.as_ptr(), &mut e.value) } == SUCCESS)
            .then_some((e.value.correctable, e.value.uncorrectable))
    }

    fn pcie(&self, p: Processor) -> Option<PcieLink> {
        if !self.version?.pcie_layout_known() {
            return None;
        }
        let f = self.pcie?;
        let mut i = Padded::<PcieInfoRaw>::default();
        // SAFETY: non-null handle; the loaded version has the 512-byte layout of PcieInfoRaw.
        (unsafe { f(p.as_ptr(), &mut i.value) } == SUCCESS).then_some(PcieLink {
            width: i.value.pcie_width,
            max_width: i.value.max_pcie_width,
            speed: i.value.pcie_speed,
            max_speed: i.value.max_pcie_speed,
        })
    }

    fn bad_pages(&self, p: Processor) -> Option<u32> {
        let f = self.bad_pages?;
        let mut n = 0u32;
        // SAFETY: non-null handle; a null record buffer asks for the count only.
        (unsafe { f(p.as_ptr(), &mut n, std::ptr::null_mut()) } == SUCCESS).then_some(n)
    }
}

static SMI: OnceLock<Result<AmdSmi, String>> = OnceLock::new();

/// AMD SMI, loaded and initialised once; the error says what was looked for or what failed.
pub fn amd_smi() -> Result<&'static AmdSmi, String> {
    SMI.get_or_init(AmdSmi::load).as_ref().map_err(Clone::clone)
}

/// The graphics clock of the GPU at `bdf` from AMD SMI; `None` when AMD SMI is absent or
/// cannot say (the caller falls back to sysfs).
pub fn clock(bdf: Option<Bdf>) -> Option<ClockSample> {
    amd_smi().ok()?.clock_for_bdf(bdf?)
}

/// The memory clock and temperature of the GPU at `bdf` from AMD SMI, as telemetry's slow
/// readings; `None` when AMD SMI is absent or lists no GPU there (the caller uses sysfs).
pub fn mem_and_temperature(bdf: Option<Bdf>) -> Option<crate::telemetry::Slow> {
    let (mem_mhz, temp_c) = amd_smi().ok()?.slow_for_bdf(bdf?)?;
    Some(crate::telemetry::Slow {
        mem_mhz,
        temp_c,
        power_w: None,
    })
}

#[cfg(test)]
mod tests;
