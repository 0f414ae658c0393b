//! The hardware database: one TOML per GPU/CPU kind under `hardware/`, embedded in the
//! binary, with spec roofs and where each number comes from. Matched to the detected device
//! by name; `--hardware ID` overrides the match.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

use crate::dtype::DType;
use crate::error::{Error, Result};

/// Spec facts of one device kind.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HardwareSpec {
    /// Identifier, equal to the file stem (`h100-sxm`).
    pub id: String,
    /// Marketing name.
    pub name: String,
    /// `nvidia`, `amd` or `cpu`.
    pub vendor: String,
    /// `gpu` or `cpu`.
    pub kind: String,
    /// Case-insensitive substrings of the runtime device name; the longest match wins.
    #[serde(rename = "match", default)]
    pub match_names: Vec<String>,
    /// Spec memory bandwidth, bytes per second (decimal); absent when measured at run time.
    pub mem_bytes_per_s: Option<f64>,
    /// Last-level cache (L2 / Infinity Cache), bytes.
    pub llc_bytes: Option<u64>,
    /// Device memory, bytes.
    pub memory_bytes: Option<u64>,
    /// SMs or CUs.
    pub compute_units: Option<u32>,
    /// Dense peak FLOP/s per dtype name (`bf16`, `fp8_e4m3`, ...).
    #[serde(default)]
    pub peak_flops: BTreeMap<String, f64>,
    /// Where each number comes from, keyed by field name.
    #[serde(default)]
    pub sources: BTreeMap<String, String>,
}

const BUILTIN: &[(&str, &str)] = &[
    ("a100-40g", include_str!("../../../hardware/a100-40g.toml")),
    ("a100-80g", include_str!("../../../hardware/a100-80g.toml")),
    ("b200", include_str!("../../../hardware/b200.toml")),
    (
        "cpu-generic",
        include_str!("../../../hardware/cpu-generic.toml"),
    ),
    (
        "h100-pcie",
        include_str!("../../../hardware/h100-pcie.toml"),
    ),
    ("h100-sxm", include_str!("../../../hardware/h100-sxm.toml")),
    ("h200", include_str!("../../../hardware/h200.toml")),
    ("l40s", include_str!("../../../hardware/l40s.toml")),
    (
        "mi250x-gcd",
        include_str!("../../../hardware/mi250x-gcd.toml"),
    ),
    ("mi300x", include_str!("../../../hardware/mi300x.toml")),
    ("mi325x", include_str!("../../../hardware/mi325x.toml")),
];

fn parse(text: &str, origin: &str, stem: &str) -> Result<HardwareSpec> {
    let spec: HardwareSpec = toml::from_str(text).map_err(|e| {
        Error::bad_input(format!(
            "{origin} is not a valid hardware file: {}",
            e.message()
        ))
    })?;
    let bad = |what: String| Error::bad_input(format!("{origin}: {what}"));
    if spec.id != stem {
        return Err(bad(format!(
            "id '{}' must equal the file name '{stem}'",
            spec.id
        )));
    }
    if !matches!(spec.vendor.as_str(), "nvidia" | "amd" | "cpu") {
        return Err(bad(format!(
            "vendor '{}' is not one of nvidia, amd, cpu",
            spec.vendor
        )));
    }
    if !matches!(spec.kind.as_str(), "gpu" | "cpu") {
        return Err(bad(format!("kind '{}' is not one of gpu, cpu", spec.kind)));
    }
    for (dtype, value) in &spec.peak_flops {
        DType::parse(dtype).map_err(|_| {
            bad(format!(
                "peak_flops key '{dtype}' is not a dtype (f32, f16, bf16, fp8_e4m3)"
            ))
        })?;
        if !(value.is_finite() && *value > 0.0) {
            return Err(bad(format!(
                "peak_flops.{dtype} = {value} must be a positive number"
            )));
        }
    }
    if let Some(bw) = spec.mem_bytes_per_s {
        if !(bw.is_finite() && bw > 0.0) {
            return Err(bad(format!(
                "mem_bytes_per_s = {bw} must be a positive number"
            )));
        }
    }
    Ok(spec)
}

/// Every built-in hardware file, sorted by id.
pub fn builtin() -> Result<Vec<HardwareSpec>> {
    BUILTIN
        .iter()
        .map(|(stem, text)| parse(text, &format!("hardware/{stem}.toml"), stem))
        .collect()
}

/// The built-in entry `id`, or a sentence listing the accepted ids.
pub fn by_id(id: &str) -> Result<HardwareSpec> {
    let all = builtin()?;
    if let Some(s) = all.iter().find(|s| s.id == id.trim()) {
        return Ok(s.clone());
    }
    let ids: Vec<&str> = all.iter().map(|s| s.id.as_str()).collect();
    Err(Error::bad_input(format!(
        "unknown hardware id '{id}'; accepted: {} (see `hotpath list`)",
        ids.join(", ")
    )))
}

/// The entry for a device `backend` reports as `device_name`: the longest `match` pattern
/// found in the name among entries of that backend's vendor; every CPU is `cpu-generic`.
pub fn match_device(backend: &str, device_name: &str) -> Result<Option<HardwareSpec>> {
    let all = builtin()?;
    if backend == "cpu" {
        return Ok(all.into_iter().find(|s| s.id == "cpu-generic"));
    }
    let vendor = match backend {
        "cuda" => "nvidia",
        "rocm" => "amd",
        _ => return Ok(None),
    };
    let name = device_name.to_ascii_lowercase();
    Ok(all
        .into_iter()
        .filter(|s| s.vendor == vendor)
        .filter_map(|s| {
            let best = s
                .match_names
                .iter()
                .filter(|p| !p.is_empty() && name.contains(&p.to_ascii_lowercase()))
                .map(|p| p.len())
                .max()?;
            Some((best, s))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, s)| s))
}

/// A user's own hardware file.
pub fn load_file(path: &Path) -> Result<HardwareSpec> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::bad_input(format!("cannot read hardware file {}: {e}", path.display()))
    })?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    parse(&text, &path.display().to_string(), &stem)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id_of(backend: &str, name: &str) -> Option<String> {
        match_device(backend, name).unwrap().map(|s| s.id)
    }

    #[test]
    fn every_builtin_parses_with_unique_ids_and_sources() {
        let all = builtin().unwrap();
        assert_eq!(all.len(), 11);
        let mut ids: Vec<_> = all.iter().map(|s| s.id.clone()).collect();
        ids.dedup();
        assert_eq!(ids.len(), 11);
        for s in &all {
            assert!(!s.sources.is_empty(), "{} has no sources", s.id);
            if s.mem_bytes_per_s.is_some() {
                assert!(s.sources.contains_key("mem_bytes_per_s"), "{}", s.id);
            }
        }
    }

    #[test]
    fn h100_sxm_numbers_are_the_table_s() {
        let h = by_id("h100-sxm").unwrap();
        assert_eq!(h.mem_bytes_per_s, Some(3.35e12));
        assert_eq!(h.peak_flops["bf16"], 989.4e12);
        assert_eq!(h.peak_flops["fp8_e4m3"], 1978.9e12);
        assert_eq!(h.llc_bytes, Some(50_000_000));
    }

    #[test]
    fn runtime_names_match_the_right_entry() {
        assert_eq!(
            id_of("cuda", "NVIDIA H100 80GB HBM3").as_deref(),
            Some("h100-sxm")
        );
        assert_eq!(
            id_of("cuda", "NVIDIA H100 PCIe").as_deref(),
            Some("h100-pcie")
        );
        assert_eq!(id_of("cuda", "NVIDIA H200").as_deref(), Some("h200"));
        assert_eq!(
            id_of("cuda", "NVIDIA A100-SXM4-40GB").as_deref(),
            Some("a100-40g")
        );
        assert_eq!(
            id_of("cuda", "NVIDIA A100-SXM4-80GB").as_deref(),
            Some("a100-80g")
        );
        assert_eq!(id_of("cuda", "NVIDIA L40S").as_deref(), Some("l40s"));
        assert_eq!(
            id_of("rocm", "AMD Instinct MI300X").as_deref(),
            Some("mi300x")
        );
        assert_eq!(
            id_of("rocm", "AMD Instinct MI325X").as_deref(),
            Some("mi325x")
        );
        assert_eq!(
            id_of("rocm", "AMD Instinct MI250X").as_deref(),
            Some("mi250x-gcd")
        );
        assert_eq!(
            id_of("cpu", "AMD EPYC 9755").as_deref(),
            Some("cpu-generic")
        );
        assert_eq!(id_of("cuda", "NVIDIA GeForce RTX 4090"), None);
        assert_eq!(
            id_of("rocm", "NVIDIA H100 80GB HBM3"),
            None,
            "vendor must agree"
        );
    }

    #[test]
    fn unknown_id_lists_what_is_accepted() {
        let err = by_id("h100").unwrap_err().to_string();
        assert!(
            err.contains("'h100'") && err.contains("h100-sxm") && err.contains("mi300x"),
            "{err}"
        );
    }

    #[test]
    fn a_bad_user_file_names_its_path_and_problem() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mine.toml");
        std::fs::write(
            &p,
            "id = \"mine\"\nname = \"x\"\nvendor = \"nvidia\"\nkind = \"gpu\"\nbogus = 1\n",
        )
        .unwrap();
        let err = load_file(&p).unwrap_err().to_string();
        assert!(err.contains("mine.toml") && err.contains("bogus"), "{err}");
        std::fs::write(&p, "name = \"x\"\nvendor = \"nvidia\"\nkind = \"gpu\"\n").unwrap();
        let err = load_file(&p).unwrap_err().to_string();
        assert!(err.contains("mine.toml") && err.contains("id"), "{err}");
        std::fs::write(&p, "id = \"mine\"\nname = \"x\"\nvendor = \"nvidia\"\nkind = \"gpu\"\n[peak_flops]\nint4 = 1e12\n").unwrap();
        assert!(load_file(&p).unwrap_err().to_string().contains("int4"));
        std::fs::write(&p, "id = \"mine\"\nname = \"x\"\nvendor = \"nvidia\"\nkind = \"gpu\"\nmem_bytes_per_s = 1e12\n").unwrap();
        assert_eq!(load_file(&p).unwrap().mem_bytes_per_s, Some(1e12));
    }
}
