//! PCI addresses (domain:bus:device.function): how a HIP device is matched with its AMD SMI
//! processor and with its sysfs directory, whatever order each of them lists GPUs in.

use std::ffi::{c_char, c_int, CStr};
use std::fmt;
use std::path::{Path, PathBuf};

use crate::hip::Hip;

/// A PCI address. `domain` is 48 bits wide in `amdsmi_bdf_t`; Linux uses 16 (or 32) of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bdf {
    /// PCI domain (segment).
    pub domain: u64,
    /// Bus, 0..=0xff.
    pub bus: u8,
    /// Device, 0..=0x1f.
    pub device: u8,
    /// Function, 0..=7.
    pub function: u8,
}

impl Bdf {
    /// Parses `dddd:bb:dd.f` as `hipDeviceGetPCIBusId` and sysfs write it (hex; the domain may
    /// be omitted, as `lspci` does, meaning 0). `None` for anything else or a field out of range.
    pub fn parse(text: &str) -> Option<Bdf> {
        let text = text.trim().trim_end_matches('\0');
        let (rest, function) = text.rsplit_once('.')?;
        let mut parts: Vec<&str> = rest.split(':').collect();
        let hex = |s: &str, max_digits: usize| -> Option<u64> {
            if s.is_empty() || s.len() > max_digits || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            u64::from_str_radix(s, 16).ok()
        };
        let domain = match parts.len() {
            3 => hex(parts.remove(0), 12)?,
            2 => 0,
            _ => return None,
        };
        let bus = hex(parts[0], 2)?;
        let device = hex(parts[1], 2)?;
        let function = hex(function, 1)?;
        (device <= 0x1f && function <= 7).then_some(Bdf {
            domain,
            bus: bus as u8,
            device: device as u8,
            function: function as u8,
        })
    }

    /// From `amdsmi_bdf_t.as_uint`: function in bits 0–2, device 3–7, bus 8–15, domain 16–63
    /// (the header's bit-fields, allocated from the low bit on little-endian x86_64).
    pub fn from_amdsmi(raw: u64) -> Bdf {
        Bdf {
            domain: raw >> 16,
            bus: ((raw >> 8) & 0xff) as u8,
            device: ((raw >> 3) & 0x1f) as u8,
            function: (raw & 0x7) as u8,
        }
    }

    /// The inverse of [`Bdf::from_amdsmi`] (domain bits above 48 are dropped).
    pub fn to_amdsmi(self) -> u64 {
        ((self.domain & 0xffff_ffff_ffff) << 16)
            | (u64::from(self.bus) << 8)
            | (u64::from(self.device & 0x1f) << 3)
            | u64::from(self.function & 0x7)
    }

    /// The same address with another function number.
    pub fn with_function(self, function: u8) -> Bdf {
        Bdf { function, ..self }
    }

    /// The device's sysfs directory under `root` (`/sys/bus/pci/devices`), which holds the
    /// same `hwmon/`, `pp_dpm_sclk`, link and RAS files as `/sys/class/drm/cardN/device`,
    /// when it exists and is an AMD device (vendor 0x1002).
    pub fn sysfs_dir_in(self, root: &Path) -> Option<PathBuf> {
        let dir = root.join(self.to_string());
        let vendor = std::fs::read_to_string(dir.join("vendor")).ok()?;
        (vendor.trim() == "0x1002").then_some(dir)
    }

    /// [`Bdf::sysfs_dir_in`] under `/sys/bus/pci/devices`.
    pub fn sysfs_dir(self) -> Option<PathBuf> {
        self.sysfs_dir_in(Path::new("/sys/bus/pci/devices"))
    }
}

impl fmt::Display for Bdf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04x}:{:02x}:{:02x}.{:x}",
            self.domain, self.bus, self.device, self.function
        )
    }
}

/// The PCI address of HIP device `device`, from `hipDeviceGetPCIBusId` (`%04x:%02x:%02x.%01x`
/// in current HIP; older HIP always wrote function 0). `None` when HIP cannot say.
pub fn hip_bdf(h: &Hip, device: c_int) -> Option<Bdf> {
    let mut buf = [0 as c_char; 64];
    // SAFETY: `buf` holds `len` bytes and HIP writes at most `len` including the NUL; the
    // device index was range-checked by the caller (HIP also rejects a bad one).
    let code = unsafe { (h.hipDeviceGetPCIBusId)(buf.as_mut_ptr(), buf.len() as c_int, device) };
    if code != 0 {
        return None;
    }
    let bytes: Vec<u8> = buf.iter().map(|&c| c as u8).collect();
    let text = CStr::from_bytes_until_nul(&bytes).ok()?.to_str().ok()?;
    Bdf::parse(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hip_and_sysfs_addresses_parse_and_print_back() {
        let b = Bdf::parse("0000:c1:00.0").unwrap();
        assert_eq!(
            b,
            Bdf {
                domain: 0,
                bus: 0xc1,
                device: 0,
                function: 0
            }
        );
        assert_eq!(b.to_string(), "0000:c1:00.0");
        let b = Bdf::parse(" 0001:03:1f.7\n").unwrap();
        assert_eq!((b.domain, b.bus, b.device, b.function), (1, 3, 0x1f, 7));
        assert_eq!(b.to_string(), "0001:03:1f.7");
        assert_eq!(
            Bdf::parse("c1:00.0"),
            Bdf::parse("0000:c1:00.0"),
            "lspci form"
        );
        assert_eq!(
            Bdf::parse("10000:00:02.0").unwrap().to_string(),
            "10000:00:02.0"
        );
    }

    #[test]
    fn out_of_range_or_malformed_addresses_are_rejected() {
        for bad in [
            "",
            "0000:c1:20.0",  // device 0x20 > 0x1f
            "0000:c1:00.8",  // function 8 > 7
            "0000:100:00.0", // bus has three digits
            "0000:c1:00",    // no function
            "zz:00.0",
            "0:0:0:00.0",
            "0000:c1:-1.0",
        ] {
            assert_eq!(Bdf::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn amdsmi_bit_layout() {
        // 0001:03:1f.7 by hand: domain 1 << 16 = 0x10000, bus 3 << 8 = 0x300,
        // device 0x1f << 3 = 0xf8, function 7: 0x10000 | 0x300 | 0xf8 | 0x7 = 0x103ff.
        // (amdsmi.h documents the same bus/device/function positions for amdsmi_get_gpu_bdf_id.)
        let b = Bdf::parse("0001:03:1f.7").unwrap();
        assert_eq!(b.to_amdsmi(), 0x103ff);
        assert_eq!(Bdf::from_amdsmi(0x103ff), b);
        // MI300X-like 0000:c1:00.0: 0xc1 << 8 = 0xc100.
        assert_eq!(Bdf::from_amdsmi(0xc100).to_string(), "0000:c1:00.0");
    }

    #[test]
    fn sysfs_dir_is_found_by_address_and_vendor() {
        let root = tempfile::tempdir().unwrap();
        let amd = root.path().join("0000:c1:00.0");
        std::fs::create_dir_all(&amd).unwrap();
        std::fs::write(amd.join("vendor"), "0x1002\n").unwrap();
        let nv = root.path().join("0000:41:00.0");
        std::fs::create_dir_all(&nv).unwrap();
        std::fs::write(nv.join("vendor"), "0x10de\n").unwrap();
        let at = |s: &str| Bdf::parse(s).unwrap().sysfs_dir_in(root.path());
        assert_eq!(at("0000:c1:00.0"), Some(amd));
        assert_eq!(at("0000:41:00.0"), None, "not an AMD device");
        assert_eq!(at("0000:05:00.0"), None, "absent");
    }
}
