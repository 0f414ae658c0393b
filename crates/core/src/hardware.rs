//! The hardware database: one TOML per GPU/CPU kind under `hardware/`, embedded in the
//! binary, with spec roofs and where each number comes from. Matched to the detected device
//! by name, and by other facts where parts share a name ([`identify`]); `--hardware ID`
//! overrides the match.
//!
//! Numbers are decimal (1 GB/s = 1e9 B/s) and dense (no sparsity). The built-in files take
//! their numbers from `docs/hardware-sources.md`; a device that matches no file, or more than one that
//! its facts cannot tell apart, gets no spec roof rather than a wrong one, and
//! `cpu-generic` has none at all: CPU roofs are measured.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

use crate::dtype::DType;
use crate::error::{Error, Result};

mod identify;
pub mod thresholds;

pub use identify::{
    identify, match_device, resolve, spec_bandwidth, spec_roofs, Identity, MatchRequires,
};

/// Spec facts of one device kind, as written in a `hardware/*.toml` file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HardwareSpec {
    /// Identifier; for built-in files equal to the file stem (`h100-sxm`).
    pub id: String,
    /// Marketing name (`NVIDIA H100 SXM5 80GB`).
    pub name: String,
    /// `nvidia`, `amd` or `cpu`.
    pub vendor: String,
    /// `gpu` or `cpu`.
    pub kind: String,
    /// Case-insensitive substrings of the runtime device name; the longest match wins.
    #[serde(rename = "match", default)]
    pub match_names: Vec<String>,
    /// Facts besides the name that a device must show for this file to apply
    /// (`[match_requires]`): what tells apart files that share a name pattern.
    #[serde(default, skip_serializing_if = "MatchRequires::is_empty")]
    pub match_requires: MatchRequires,
    /// Spec memory bandwidth, bytes per second (decimal); absent when measured at run time.
    pub mem_bytes_per_s: Option<f64>,
    /// Last-level cache (L2 / Infinity Cache), bytes; absent when unknown.
    pub llc_bytes: Option<u64>,
    /// How many times its last-level cache a cold rotation must span on this kind of device,
    /// at least [`crate::cache::LLC_FACTOR`] (absent: that). More where the cache's
    /// replacement keeps part of a stream a few times its size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold_llc_multiple: Option<u64>,
    /// Device memory, bytes.
    pub memory_bytes: Option<u64>,
    /// Streaming multiprocessors (NVIDIA) or compute units (AMD).
    pub compute_units: Option<u32>,
    /// Dense peak FLOP/s per dtype name (`f16`, `bf16`, `fp8_e4m3`, `f32`).
    #[serde(default)]
    pub peak_flops: BTreeMap<String, f64>,
    /// Where each number comes from, keyed by field name (`mem_bytes_per_s`, `peak_flops`).
    #[serde(default)]
    pub sources: BTreeMap<String, String>,
    /// `hotpath validate` performance thresholds, keyed by check (`[validate.copy]`, ...);
    /// each names its reference figure and where it comes from.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub validate: thresholds::ValidateTable,
    /// The path it was read from, for a site's own file (`--hardware PATH.toml`); None for a
    /// built-in entry.
    #[serde(skip)]
    pub file: Option<String>,
}

impl HardwareSpec {
    /// Where this entry comes from, as results record it: the path of a site's file, else
    /// `hardware/<id>.toml`.
    pub fn file_label(&self) -> String {
        self.file
            .clone()
            .unwrap_or_else(|| format!("hardware/{}.toml", self.id))
    }

    /// This file's last-level cache, for sizing cold caches when a run is told to use it.
    pub fn llc_hint(&self) -> crate::cache::LlcHint {
        crate::cache::LlcHint {
            hardware: self.file_label(),
            bytes: self.llc_bytes,
            multiple: self.cold_llc_multiple,
        }
    }
}

/// The id of the entry every CPU falls back to.
pub const CPU_GENERIC: &str = "cpu-generic";

/// Field names a `[sources]` key may name.
const SOURCE_KEYS: [&str; 7] = [
    "mem_bytes_per_s",
    "llc_bytes",
    "cold_llc_multiple",
    "memory_bytes",
    "compute_units",
    "peak_flops",
    "match_requires",
];

/// Every built-in file: its stem and its text.
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
    ("h200-nvl", include_str!("../../../hardware/h200-nvl.toml")),
    ("l40s", include_str!("../../../hardware/l40s.toml")),
    (
        "mi250x-gcd",
        include_str!("../../../hardware/mi250x-gcd.toml"),
    ),
    ("mi300x", include_str!("../../../hardware/mi300x.toml")),
    ("mi325x", include_str!("../../../hardware/mi325x.toml")),
];

/// Parses and checks one file. `origin` names it in errors; `stem`, when given, is the id
/// the file must carry.
fn parse(text: &str, origin: &str, stem: Option<&str>) -> Result<HardwareSpec> {
    let spec: HardwareSpec = toml::from_str(text).map_err(|e| {
        let at = e
            .span()
            .and_then(|span| text.get(..span.start))
            .map(|before| format!(" (line {})", before.matches('\n').count() + 1))
            .unwrap_or_default();
        Error::bad_input(format!(
            "{origin} is not a valid hardware file{at}: {}",
            e.message().trim_end()
        ))
    })?;
    validate(&spec, stem).map_err(|what| Error::bad_input(format!("{origin}: {what}")))?;
    Ok(spec)
}

/// Checks what serde cannot: names from closed sets, positive numbers, the id.
fn validate(spec: &HardwareSpec, stem: Option<&str>) -> std::result::Result<(), String> {
    match stem {
        Some(stem) if spec.id != stem => {
            return Err(format!(
                "id '{}' must equal the file name '{stem}'",
                spec.id
            ))
        }
        _ if spec.id.trim().is_empty() || spec.id.contains(char::is_whitespace) => {
            return Err(format!("id '{}' must be a non-empty word", spec.id))
        }
        _ => {}
    }
    match (spec.vendor.as_str(), spec.kind.as_str()) {
        ("nvidia" | "amd", "gpu") | ("cpu", "cpu") => {}
        ("nvidia" | "amd" | "cpu", kind) => {
            return Err(format!(
                "kind '{kind}' does not fit vendor '{}' (nvidia and amd are gpu, cpu is cpu)",
                spec.vendor
            ))
        }
        (vendor, _) => return Err(format!("vendor '{vendor}' is not one of nvidia, amd, cpu")),
    }
    if spec.match_names.iter().any(|p| p.trim().is_empty()) {
        return Err("match has an empty pattern, which would match every device".into());
    }
    spec.match_requires.check()?;
    if !spec.match_requires.is_empty() && spec.match_names.is_empty() {
        return Err(
            "[match_requires] without match patterns: files are matched by name first, so it would never apply"
                .into(),
        );
    }
    for (key, value) in &spec.peak_flops {
        if !DType::ALL.iter().any(|d| d.name() == key) {
            let hint = match DType::parse(key) {
                Ok(d) => format!("; write '{}'", d.name()),
                Err(_) => String::new(),
            };
            return Err(format!(
                "peak_flops key '{key}' is not a dtype name (f32, f16, bf16, fp8_e4m3){hint}"
            ));
        }
        positive(&format!("peak_flops.{key}"), *value)?;
    }
    if let Some(bw) = spec.mem_bytes_per_s {
        positive("mem_bytes_per_s", bw)?;
    }
    for (field, value) in [
        ("llc_bytes", spec.llc_bytes),
        ("memory_bytes", spec.memory_bytes),
        ("compute_units", spec.compute_units.map(u64::from)),
    ] {
        if value == Some(0) {
            return Err(format!("{field} = 0; leave it out when unknown"));
        }
    }
    if let Some(m) = spec.cold_llc_multiple {
        if m < crate::cache::LLC_FACTOR {
            return Err(format!(
                "cold_llc_multiple = {m}; it must be at least {} (the cold guarantee), or left out",
                crate::cache::LLC_FACTOR
            ));
        }
    }
    thresholds::check_table(&spec.validate)?;
    if let Some(key) = spec
        .sources
        .keys()
        .find(|k| !SOURCE_KEYS.contains(&k.as_str()))
    {
        return Err(format!(
            "sources key '{key}' names no field; accepted: {}",
            SOURCE_KEYS.join(", ")
        ));
    }
    Ok(())
}

/// `Ok` when `value` is a finite number above zero.
fn positive(field: &str, value: f64) -> std::result::Result<(), String> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(format!("{field} = {value} must be a positive number"))
    }
}

/// Every built-in hardware file, parsed and checked, sorted by id.
pub fn builtin() -> Result<Vec<HardwareSpec>> {
    let mut all = BUILTIN
        .iter()
        .map(|(stem, text)| parse(text, &format!("hardware/{stem}.toml"), Some(stem)))
        .collect::<Result<Vec<_>>>()?;
    all.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(all)
}

/// The built-in entry `id`, or the file `id` when it ends in `.toml` ([`from_file`]); else
/// an error listing the accepted ids.
pub fn by_id(id: &str) -> Result<HardwareSpec> {
    if id.ends_with(".toml") {
        return from_file(Path::new(id));
    }
    let all = builtin()?;
    if let Some(s) = all.iter().find(|s| s.id == id.trim()) {
        return Ok(s.clone());
    }
    let ids: Vec<&str> = all.iter().map(|s| s.id.as_str()).collect();
    Err(Error::bad_input(format!(
        "unknown hardware id '{id}'; accepted: {} (see `hotpath list`), or a path to a .toml hardware file",
        ids.join(", ")
    )))
}

/// A hardware file of the site's own (a SKU hotpath does not know, or thresholds from the
/// site's known-good fleet), checked as strictly as the built-in ones except that its id
/// need not equal its file name. Errors name the path and what is wrong.
pub fn from_file(path: &Path) -> Result<HardwareSpec> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::bad_input(format!(
            "hardware file {} cannot be read ({e}); give a hardware id (see hotpath list) or a readable .toml file",
            path.display()
        ))
    })?;
    let mut spec = parse(&text, &path.display().to_string(), None)?;
    spec.file = Some(path.display().to_string());
    Ok(spec)
}

/// Parses and checks hardware TOML `text` like a user's own file; `origin` names it in
/// errors (with the line of a syntax error).
pub fn parse_text(text: &str, origin: &str) -> Result<HardwareSpec> {
    parse(text, origin, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn id_of(backend: &str, name: &str) -> Option<String> {
        match_device(backend, name).unwrap().map(|s| s.id)
    }

    const IDS: [&str; 12] = [
        "a100-40g",
        "a100-80g",
        "b200",
        "cpu-generic",
        "h100-pcie",
        "h100-sxm",
        "h200",
        "h200-nvl",
        "l40s",
        "mi250x-gcd",
        "mi300x",
        "mi325x",
    ];

    #[test]
    fn every_builtin_parses_sorted_with_unique_ids() {
        let all = builtin().unwrap();
        let ids: Vec<&str> = all.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, IDS);
        assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), IDS.len());
    }

    #[test]
    fn every_number_in_a_builtin_has_a_source() {
        for s in builtin().unwrap() {
            let needs = [
                ("mem_bytes_per_s", s.mem_bytes_per_s.is_some()),
                ("llc_bytes", s.llc_bytes.is_some()),
                ("cold_llc_multiple", s.cold_llc_multiple.is_some()),
                ("memory_bytes", s.memory_bytes.is_some()),
                ("compute_units", s.compute_units.is_some()),
                ("peak_flops", !s.peak_flops.is_empty()),
                ("match_requires", !s.match_requires.is_empty()),
            ];
            for (field, present) in needs {
                if present {
                    assert!(s.sources.contains_key(field), "{}: {field}", s.id);
                }
            }
            if s.kind == "gpu" {
                assert!(s.mem_bytes_per_s.is_some() && !s.match_names.is_empty());
                assert!(s.peak_flops.contains_key("bf16"), "{}", s.id);
            }
        }
    }

    #[test]
    fn numbers_are_the_table_s() {
        let h = by_id("h100-sxm").unwrap();
        assert_eq!(h.mem_bytes_per_s, Some(3.35e12));
        assert_eq!(h.peak_flops["bf16"], 989.4e12);
        assert_eq!(h.peak_flops["f16"], 989.4e12);
        assert_eq!(h.peak_flops["fp8_e4m3"], 1978.9e12);
        assert_eq!(h.llc_bytes, Some(50_000_000));
        assert_eq!(h.compute_units, Some(132));
        let a = by_id("a100-40g").unwrap();
        assert_eq!(a.mem_bytes_per_s, Some(1.555e12));
        assert!(!a.peak_flops.contains_key("fp8_e4m3"), "A100 has no fp8");
        let m = by_id("mi250x-gcd").unwrap();
        assert_eq!(m.mem_bytes_per_s, Some(1.6e12), "one GCD, half the card");
        assert_eq!(m.peak_flops["bf16"], 191.5e12);
        assert_eq!(
            by_id("b200").unwrap().llc_bytes,
            None,
            "not in the datasheet"
        );
        let c = by_id("cpu-generic").unwrap();
        assert_eq!(c.mem_bytes_per_s, None);
        assert!(c.peak_flops.is_empty() && c.match_names.is_empty());
    }

    #[test]
    fn runtime_names_match_the_right_entry() {
        let cases = [
            ("cuda", "NVIDIA H100 80GB HBM3", Some("h100-sxm")),
            ("cuda", "NVIDIA H100 PCIe", Some("h100-pcie")),
            // Both H200 files fit the plain name: by name alone, neither applies
            // (identify_tests.rs tells them apart by the power limit).
            ("cuda", "NVIDIA H200", None),
            ("cuda", "NVIDIA H200 NVL", Some("h200-nvl")),
            ("cuda", "NVIDIA A100-SXM4-40GB", Some("a100-40g")),
            ("cuda", "NVIDIA A100-SXM4-80GB", Some("a100-80g")),
            ("cuda", "A100-SXM4-80GB", Some("a100-80g")),
            ("cuda", "NVIDIA L40S", Some("l40s")),
            ("cuda", "NVIDIA B200", Some("b200")),
            ("cuda", "nvidia h100 pcie", Some("h100-pcie")),
            ("rocm", "AMD Instinct MI300X", Some("mi300x")),
            ("rocm", "AMD Instinct MI325X", Some("mi325x")),
            ("rocm", "AMD Instinct MI250X", Some("mi250x-gcd")),
            ("cpu", "AMD EPYC 9xxx", Some("cpu-generic")),
            ("cpu", "", Some("cpu-generic")),
            // Parts with other numbers must get no roof rather than a neighbour's.
            ("cuda", "NVIDIA GeForce RTX 4090", None),
            ("cuda", "NVIDIA L40", None),
            ("cuda", "NVIDIA GH200 480GB", None),
            ("cuda", "NVIDIA GB200", None),
            ("cuda", "NVIDIA A100 80GB PCIe", None),
            ("rocm", "AMD Instinct MI300A", None),
            // The vendor must agree with the backend.
            ("rocm", "NVIDIA H100 80GB HBM3", None),
            ("cuda", "AMD Instinct MI300X", None),
            ("metal", "NVIDIA H100 80GB HBM3", None),
        ];
        for (backend, name, want) in cases {
            assert_eq!(id_of(backend, name).as_deref(), want, "{backend} '{name}'");
        }
    }

    #[test]
    fn every_pattern_finds_its_own_entry() {
        // A device named by the pattern whose other facts sit in the middle of the entry's
        // [match_requires] ranges: patterns that entries share must be told apart that way.
        for s in builtin().unwrap() {
            let backend = match s.vendor.as_str() {
                "nvidia" => "cuda",
                "amd" => "rocm",
                _ => "cpu",
            };
            let mid = |r: Option<[f64; 2]>| r.map(|[lo, hi]| (lo + hi) / 2.0);
            for p in &s.match_names {
                let info = crate::backend::DeviceInfo {
                    backend: backend.into(),
                    name: p.clone(),
                    power_limit_max_w: mid(s.match_requires.power_limit_max_w),
                    memory_bytes: mid(s.match_requires.memory_bytes).map_or(0, |m| m as u64),
                    ..Default::default()
                };
                let got = identify(&info).unwrap();
                assert_eq!(
                    got.spec.map(|h| h.id),
                    Some(s.id.clone()),
                    "{p}: {:?}",
                    got.note
                );
            }
        }
    }

    #[test]
    fn unknown_id_lists_what_is_accepted() {
        let err = by_id("nope").unwrap_err().to_string();
        assert!(err.contains("'nope'"), "{err}");
        for id in IDS {
            assert!(err.contains(id), "{err}");
        }
    }

    fn load(text: &str) -> Result<HardwareSpec> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("mine.toml");
        std::fs::write(&p, text).unwrap();
        from_file(&p)
    }

    fn load_err(text: &str) -> String {
        let err = load(text).unwrap_err().to_string();
        assert!(err.contains("mine.toml"), "{err}");
        err
    }

    const HEAD: &str = "id = \"x\"\nname = \"x\"\nvendor = \"nvidia\"\nkind = \"gpu\"\n";

    #[test]
    fn a_good_user_file_loads_whatever_its_name() {
        let text = format!("{HEAD}match = [\"X1\"]\nmem_bytes_per_s = 1e12\n[peak_flops]\nbf16 = 5e14\n[sources]\npeak_flops = \"mine\"\n");
        let s = load(&text).unwrap();
        assert_eq!(s.id, "x");
        assert_eq!(s.mem_bytes_per_s, Some(1e12));
        assert_eq!(s.peak_flops["bf16"], 5e14);
    }

    #[test]
    fn a_bad_user_file_names_its_path_and_problem() {
        let err = load_err(&format!("{HEAD}bogus = 1\n"));
        assert!(err.contains("bogus") && err.contains("line 5"), "{err}");
        let err = load_err("name = \"x\"\nvendor = \"nvidia\"\nkind = \"gpu\"\n");
        assert!(err.contains("`id`"), "{err}");
        let err = load_err(&format!("{HEAD}cold_llc_multiple = 2\n"));
        assert!(
            err.contains("cold_llc_multiple = 2") && err.contains("at least 3"),
            "{err}"
        );
        let err = load_err(&format!("{HEAD}[peak_flops]\nint4 = 1e12\n"));
        assert!(err.contains("'int4'"), "{err}");
        let err = load_err(&format!("{HEAD}[peak_flops]\nfp16 = 1e12\n"));
        assert!(err.contains("'fp16'") && err.contains("'f16'"), "{err}");
        let err = load_err(&format!("{HEAD}[peak_flops]\nbf16 = -1.0\n"));
        assert!(err.contains("peak_flops.bf16"), "{err}");
        let err = load_err(&format!("{HEAD}mem_bytes_per_s = 0.0\n"));
        assert!(err.contains("mem_bytes_per_s"), "{err}");
        let err = load_err(&format!("{HEAD}llc_bytes = 0\n"));
        assert!(err.contains("llc_bytes"), "{err}");
        let err = load_err(&format!("{HEAD}match = [\"\"]\n"));
        assert!(err.contains("empty pattern"), "{err}");
        let err = load_err(&format!("{HEAD}[sources]\nbandwidth = \"x\"\n"));
        assert!(err.contains("'bandwidth'"), "{err}");
        let err = load_err("id = \"x\"\nname = \"x\"\nvendor = \"intel\"\nkind = \"gpu\"\n");
        assert!(err.contains("'intel'"), "{err}");
        let err = load_err("id = \"x\"\nname = \"x\"\nvendor = \"amd\"\nkind = \"cpu\"\n");
        assert!(err.contains("kind 'cpu'"), "{err}");
    }

    #[test]
    fn a_missing_user_file_names_its_path() {
        let err = from_file(Path::new("/nonexistent/gpu.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/gpu.toml"), "{err}");
    }
}
