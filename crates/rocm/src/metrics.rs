//! Throttle status from amdgpu's `gpu_metrics` sysfs file (`/sys/class/drm/cardN/device/
//! gpu_metrics`), a binary `struct gpu_metrics_vX_Y` of the kernel's
//! `drivers/gpu/drm/amd/include/kgd_pp_interface.h`, mapped to hotpath's throttle names
//! (those of NVML: `sw_power_cap`, `sw_thermal_slowdown`, `hw_slowdown`, ...).
//!
//! Layout read (little-endian, natural alignment, as the kernel builds it):
//! - every version starts with `struct metrics_table_header { u16 structure_size;
//!   u8 format_revision; u8 content_revision; }`; format 1 is a discrete GPU, 2 and 3 APUs.
//! - v1.3 (Linux 5.15 on; MI100/Arcturus, MI200/Aldebaran and the RDNA dGPUs): 120 bytes,
//!   `u64 indep_throttle_status` at byte 112, the ASIC-independent bits below. (Its
//!   `u32 throttle_status` at byte 68 is the firmware's own, ASIC-dependent bits: not read.)
//! - v1.0–v1.2 have only the ASIC-dependent word, so their throttle status is not read.
//! - v1.4 and later (MI300, `smu_v13_0_6`) have a different layout whose `throttle_status`
//!   the driver sets to 0 ("Throttle status is not reported through metrics now"): reading it
//!   would claim "no throttling" on a GPU that may be throttled, so it is reported unreadable.
//!
//! ASIC-independent bits (`SMU_THROTTLER_*_BIT`, `drivers/gpu/drm/amd/pm/swsmu/inc/amdgpu_smu.h`)
//! and the name each maps to:
//!
//! | bits | AMD | hotpath |
//! |---|---|---|
//! | 0–7 | PPT0–3, SPL, FPPT, SPPT, SPPT_APU (power limits) | `sw_power_cap` |
//! | 16–23 | TDC_GFX/SOC/MEM/VDD/CVIP, EDC_CPU/GFX, APCC (current limits the firmware holds) | `sw_power_cap` |
//! | 32–43 | TEMP_GPU/CORE/MEM/EDGE/HOTSPOT/SOC/VR_*/LIQUID* (temperature limits) | `sw_thermal_slowdown` |
//! | 44–45 | VRHOT0/1 (a voltage regulator signals over-temperature) | `hw_thermal_slowdown` |
//! | 46–47 | PROCHOT_CPU/GFX (the external PROCHOT# signal) | `hw_slowdown` |
//! | 56 | PPM (platform power management) | `sw_power_cap` |
//! | 57 | FIT (reliability limit) | `amd_fit` |
//!
//! Any other bit set is named `amd_throttle_bit_N`.

use std::path::Path;

/// Byte offset of `indep_throttle_status` in `gpu_metrics_v1_3`.
pub const V1_3_INDEP_THROTTLE_OFFSET: usize = 112;
/// `sizeof(struct gpu_metrics_v1_3)`.
pub const V1_3_SIZE: usize = 120;

/// One ASIC-independent throttle bit: its number, AMD's name and hotpath's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottleBit {
    /// Bit number in `indep_throttle_status`.
    pub bit: u32,
    /// `SMU_THROTTLER_<amd>_BIT`.
    pub amd: &'static str,
    /// The hotpath (NVML) reason it maps to.
    pub name: &'static str,
}

const fn b(bit: u32, amd: &'static str, name: &'static str) -> ThrottleBit {
    ThrottleBit { bit, amd, name }
}

const POWER: &str = "sw_power_cap";
const THERMAL: &str = "sw_thermal_slowdown";

/// Every ASIC-independent bit the kernel defines.
pub const THROTTLE_BITS: [ThrottleBit; 32] = [
    b(0, "PPT0", POWER),
    b(1, "PPT1", POWER),
    b(2, "PPT2", POWER),
    b(3, "PPT3", POWER),
    b(4, "SPL", POWER),
    b(5, "FPPT", POWER),
    b(6, "SPPT", POWER),
    b(7, "SPPT_APU", POWER),
    b(16, "TDC_GFX", POWER),
    b(17, "TDC_SOC", POWER),
    b(18, "TDC_MEM", POWER),
    b(19, "TDC_VDD", POWER),
    b(20, "TDC_CVIP", POWER),
    b(21, "EDC_CPU", POWER),
    b(22, "EDC_GFX", POWER),
    b(23, "APCC", POWER),
    b(32, "TEMP_GPU", THERMAL),
    b(33, "TEMP_CORE", THERMAL),
    b(34, "TEMP_MEM", THERMAL),
    b(35, "TEMP_EDGE", THERMAL),
    b(36, "TEMP_HOTSPOT", THERMAL),
    b(37, "TEMP_SOC", THERMAL),
    b(38, "TEMP_VR_GFX", THERMAL),
    b(39, "TEMP_VR_SOC", THERMAL),
    b(40, "TEMP_VR_MEM0", THERMAL),
    b(41, "TEMP_VR_MEM1", THERMAL),
    b(42, "TEMP_LIQUID0", THERMAL),
    b(43, "TEMP_LIQUID1", THERMAL),
    b(44, "VRHOT0", "hw_thermal_slowdown"),
    b(45, "VRHOT1", "hw_thermal_slowdown"),
    b(46, "PROCHOT_CPU", "hw_slowdown"),
    b(47, "PROCHOT_GFX", "hw_slowdown"),
];

/// PPM and FIT, the two "other" bits.
const OTHER_BITS: [ThrottleBit; 2] = [b(56, "PPM", POWER), b(57, "FIT", "amd_fit")];

/// The throttle reasons active in one reading.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Throttle {
    /// hotpath names, each once, in bit order.
    pub reasons: Vec<String>,
    /// AMD's names of the bits set, in bit order.
    pub amd: Vec<String>,
}

/// The reasons set in an `indep_throttle_status` word.
pub fn decode(indep: u64) -> Throttle {
    let mut t = Throttle::default();
    for bit in 0..64u32 {
        if indep & (1u64 << bit) == 0 {
            continue;
        }
        let known = THROTTLE_BITS
            .iter()
            .chain(OTHER_BITS.iter())
            .find(|tb| tb.bit == bit);
        let (amd, name) = match known {
            Some(tb) => (tb.amd.to_string(), tb.name.to_string()),
            None => (format!("bit {bit}"), format!("amd_throttle_bit_{bit}")),
        };
        t.amd.push(amd);
        if !t.reasons.contains(&name) {
            t.reasons.push(name);
        }
    }
    t
}

/// The throttle status of a `gpu_metrics` file's bytes, or why it cannot be read from it.
pub fn parse(bytes: &[u8]) -> Result<Throttle, String> {
    let [s0, s1, format, content, ..] = bytes else {
        return Err(format!(
            "gpu_metrics is {} bytes, shorter than its header",
            bytes.len()
        ));
    };
    let size = u16::from_le_bytes([*s0, *s1]) as usize;
    let version = format!("v{format}.{content}");
    match (format, content) {
        (1, 3) => {
            if size < V1_3_SIZE || bytes.len() < V1_3_SIZE {
                return Err(format!(
                    "gpu_metrics {version} is {} bytes (header says {size}), shorter than the {V1_3_SIZE} of that version",
                    bytes.len()
                ));
            }
            let word = &bytes[V1_3_INDEP_THROTTLE_OFFSET..V1_3_INDEP_THROTTLE_OFFSET + 8];
            let mut raw = [0u8; 8];
            raw.copy_from_slice(word);
            Ok(decode(u64::from_le_bytes(raw)))
        }
        (1, 0..=2) => Err(format!(
            "gpu_metrics {version} has only the ASIC-specific throttle bits, which hotpath does not decode"
        )),
        (1, _) => Err(format!(
            "gpu_metrics {version} (MI300 and later) carries no throttle status: the driver reports 0 there"
        )),
        _ => Err(format!(
            "gpu_metrics {version} is an APU layout, which hotpath does not read"
        )),
    }
}

/// The throttle status of the card at `dir` (`/sys/class/drm/cardN/device`), or why not.
pub fn read(dir: &Path) -> Result<Throttle, String> {
    let path = dir.join("gpu_metrics");
    let bytes =
        std::fs::read(&path).map_err(|e| format!("{} is not readable: {e}", path.display()))?;
    parse(&bytes)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A gpu_metrics_v1_3 image with `indep` at byte 112 and the ASIC word at 68 set to junk
    /// (it must not be read).
    pub(crate) fn v1_3(indep: u64) -> Vec<u8> {
        let mut b = vec![0u8; V1_3_SIZE];
        b[0..2].copy_from_slice(&(V1_3_SIZE as u16).to_le_bytes());
        b[2] = 1;
        b[3] = 3;
        b[68..72].copy_from_slice(&0xffff_ffffu32.to_le_bytes());
        b[112..120].copy_from_slice(&indep.to_le_bytes());
        b
    }

    #[test]
    fn bits_map_to_hotpaths_names() {
        assert_eq!(decode(0), Throttle::default());
        // PPT0 (bit 0) and TDC_GFX (bit 16): both power, named once.
        let t = decode(1 | 1 << 16);
        assert_eq!(t.reasons, vec!["sw_power_cap"]);
        assert_eq!(t.amd, vec!["PPT0", "TDC_GFX"]);
        // TEMP_HOTSPOT (36), VRHOT0 (44), PROCHOT_GFX (47).
        let t = decode(1 << 36 | 1 << 44 | 1 << 47);
        assert_eq!(
            t.reasons,
            vec!["sw_thermal_slowdown", "hw_thermal_slowdown", "hw_slowdown"]
        );
        assert_eq!(t.amd, vec!["TEMP_HOTSPOT", "VRHOT0", "PROCHOT_GFX"]);
        // FIT (57) and an undefined bit (60).
        let t = decode(1 << 57 | 1 << 60);
        assert_eq!(t.reasons, vec!["amd_fit", "amd_throttle_bit_60"]);
    }

    #[test]
    fn the_bit_table_is_the_kernels() {
        // amdgpu_smu.h: PPT0..SPPT_APU = 0..7, TDC_GFX..APCC = 16..23,
        // TEMP_GPU..TEMP_LIQUID1 = 32..43, VRHOT0/1 = 44/45, PROCHOT_CPU/GFX = 46/47.
        let bits: Vec<u32> = THROTTLE_BITS.iter().map(|t| t.bit).collect();
        let want: Vec<u32> = (0..8).chain(16..24).chain(32..48).collect();
        assert_eq!(bits, want);
        assert_eq!(THROTTLE_BITS[20].amd, "TEMP_HOTSPOT");
        assert_eq!(THROTTLE_BITS[20].bit, 36);
    }

    #[test]
    fn versions_without_an_independent_word_are_unreadable_not_unthrottled() {
        assert_eq!(parse(&v1_3(1 << 4)).unwrap().reasons, vec!["sw_power_cap"]);
        let mut v12 = v1_3(0);
        v12[3] = 2;
        assert!(parse(&v12).unwrap_err().contains("ASIC-specific"));
        let mut v14 = v1_3(0);
        v14[3] = 4;
        assert!(parse(&v14).unwrap_err().contains("MI300"));
        let mut apu = v1_3(0);
        apu[2] = 2;
        assert!(parse(&apu).unwrap_err().contains("APU"));
        assert!(parse(&[1, 0])
            .unwrap_err()
            .contains("shorter than its header"));
        let short = &v1_3(0)[..100];
        assert!(parse(short).unwrap_err().contains("shorter than the 120"));
    }

    #[test]
    fn a_fake_card_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(dir.path())
            .unwrap_err()
            .contains("gpu_metrics is not readable"));
        std::fs::write(dir.path().join("gpu_metrics"), v1_3(1 << 36)).unwrap();
        assert_eq!(
            read(dir.path()).unwrap().reasons,
            vec!["sw_thermal_slowdown"]
        );
    }
}
