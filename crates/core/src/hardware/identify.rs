//! Which hardware file describes a device, and the one rule for its spec bandwidth.
//!
//! A device is matched by its runtime name first: the file with the longest `match` pattern
//! found in the name wins. Where several files share that longest pattern (an H200 SXM and
//! an H200 NVL may both report `NVIDIA H200`), their `[match_requires]` ranges decide, read
//! against what the device reports ([`DeviceInfo::power_limit_max_w`],
//! [`DeviceInfo::memory_bytes`]). A file whose range the device's value falls outside is
//! ruled out; a value the device does not report rules out nothing. Exactly one file left:
//! it applies. None, or several the device's facts cannot tell apart: **no file applies**
//! and [`Identity::note`] says why, so the device gets no spec peaks, no datasheet bandwidth
//! and no `validate` thresholds rather than a neighbour's (pass `--hardware ID` to choose);
//! only the bandwidth it reports itself stands in, labelled ([`spec_bandwidth`]).

use serde::{Deserialize, Serialize};

use super::{builtin, HardwareSpec, CPU_GENERIC};
use crate::backend::DeviceInfo;
use crate::error::Result;
use crate::results::HardwareRoofs;

/// `[match_requires]`: facts besides the name a device must show for a file to apply. Each
/// is an inclusive `[min, max]` range; one the device does not report neither confirms nor
/// rules out the file.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchRequires {
    /// The highest board power limit the device accepts, watts
    /// ([`DeviceInfo::power_limit_max_w`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_limit_max_w: Option<[f64; 2]>,
    /// Total device memory as the runtime reports it, bytes ([`DeviceInfo::memory_bytes`];
    /// 0 there means unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<[f64; 2]>,
}

/// How a device's facts stand against one file's `[match_requires]`.
#[derive(Debug, PartialEq)]
enum Fit {
    /// Every requirement is met (or there is none).
    Yes,
    /// None is broken, but these facts are not reported by the device.
    Unknown(Vec<&'static str>),
    /// These are broken, in words.
    No(Vec<String>),
}

impl MatchRequires {
    /// True when the table requires nothing.
    pub fn is_empty(&self) -> bool {
        self.power_limit_max_w.is_none() && self.memory_bytes.is_none()
    }

    /// Each requirement with its name, unit and the device's value (None = not reported).
    fn facts(&self, info: &DeviceInfo) -> Vec<(&'static str, &'static str, [f64; 2], Option<f64>)> {
        let mut out = Vec::new();
        if let Some(r) = self.power_limit_max_w {
            out.push(("power limit", "W", r, info.power_limit_max_w));
        }
        if let Some(r) = self.memory_bytes {
            let total = (info.memory_bytes > 0).then_some(info.memory_bytes as f64);
            out.push(("memory", "B", r, total));
        }
        out
    }

    fn fit(&self, info: &DeviceInfo) -> Fit {
        let (mut unknown, mut broken) = (Vec::new(), Vec::new());
        for (what, unit, [lo, hi], value) in self.facts(info) {
            match value {
                None => unknown.push(what),
                Some(v) if v < lo || v > hi => {
                    broken.push(format!("its {what} {v} {unit} is outside {lo}-{hi} {unit}"))
                }
                Some(_) => {}
            }
        }
        match (broken.is_empty(), unknown.is_empty()) {
            (false, _) => Fit::No(broken),
            (true, false) => Fit::Unknown(unknown),
            (true, true) => Fit::Yes,
        }
    }

    /// Checks every range: finite, 0 ≤ min ≤ max. The error names the field.
    pub fn check(&self) -> std::result::Result<(), String> {
        for (field, range) in [
            ("power_limit_max_w", self.power_limit_max_w),
            ("memory_bytes", self.memory_bytes),
        ] {
            if let Some([lo, hi]) = range {
                if !(lo.is_finite() && hi.is_finite() && 0.0 <= lo && lo <= hi) {
                    return Err(format!(
                        "match_requires.{field} = [{lo}, {hi}] must be [min, max] with 0 <= min <= max"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// What the built-in files say about one device.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Identity {
    /// The one file that applies, if any.
    pub spec: Option<HardwareSpec>,
    /// Why no file applies although files matched the name (several that the device's facts
    /// cannot tell apart, or facts that rule each out), in words; None otherwise.
    pub note: Option<String>,
}

/// The built-in file for `info` by the rule in this module's documentation, among files of
/// its backend's vendor and kind (`cuda`: nvidia gpu, `rocm`: amd gpu, `cpu`: cpu). Every
/// CPU without a file of its own is `cpu-generic`; an unknown backend matches nothing.
pub fn identify(info: &DeviceInfo) -> Result<Identity> {
    let all = builtin()?;
    let fits: fn(&HardwareSpec) -> bool = match info.backend.as_str() {
        "cuda" => |s| s.vendor == "nvidia" && s.kind == "gpu",
        "rocm" => |s| s.vendor == "amd" && s.kind == "gpu",
        "cpu" => |s| s.kind == "cpu",
        _ => return Ok(Identity::default()),
    };
    let name = info.name.to_lowercase();
    let scored: Vec<(usize, &HardwareSpec)> = all
        .iter()
        .filter(|s| fits(s))
        .filter_map(|s| {
            let longest = s
                .match_names
                .iter()
                .filter(|p| name.contains(&p.to_lowercase()))
                .map(|p| p.chars().count())
                .max()?;
            Some((longest, s))
        })
        .collect();
    let Some(best) = scored.iter().map(|(len, _)| *len).max() else {
        let generic = (info.backend == "cpu")
            .then(|| all.iter().find(|s| s.id == CPU_GENERIC).cloned())
            .flatten();
        return Ok(Identity {
            spec: generic,
            note: None,
        });
    };
    let mut kept = Vec::new();
    let mut ruled_out = Vec::new();
    let mut unknown: Vec<&str> = Vec::new();
    for (_, s) in scored.into_iter().filter(|(len, _)| *len == best) {
        match s.match_requires.fit(info) {
            Fit::Yes => kept.push(s),
            Fit::Unknown(what) => {
                unknown.extend(what);
                kept.push(s);
            }
            Fit::No(why) => ruled_out.push(format!("not {} ({})", s.id, why.join(", "))),
        }
    }
    let ids = |list: &[&HardwareSpec]| {
        list.iter()
            .map(|s| s.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let note = match kept.as_slice() {
        [one] => {
            return Ok(Identity {
                spec: Some((*one).clone()),
                note: None,
            })
        }
        [] => format!(
            "'{}' matches hardware files by name but its facts rule each out: {}; no hardware file applies (pass --hardware ID; see hotpath list)",
            info.name,
            ruled_out.join("; ")
        ),
        several => {
            unknown.sort_unstable();
            unknown.dedup();
            format!(
                "'{}' matches {} by name, and the device does not report its {} that tells them apart; no hardware file applies, so no spec peak, datasheet bandwidth or threshold is used rather than a wrong one (pass --hardware with one of them)",
                info.name,
                ids(several),
                unknown.join(" or ")
            )
        }
    };
    Ok(Identity {
        spec: None,
        note: Some(note),
    })
}

/// The built-in file for a device known only by its backend and runtime name (every other
/// fact unknown): [`identify`]'s answer, `None` when no file, or several, fit the name.
/// Commands that have an opened device use [`identify`] or [`resolve`] with its facts.
pub fn match_device(backend: &str, device_name: &str) -> Result<Option<HardwareSpec>> {
    let info = DeviceInfo {
        backend: backend.to_string(),
        name: device_name.to_string(),
        ..DeviceInfo::default()
    };
    Ok(identify(&info)?.spec)
}

/// The file a run uses for `info`: `chosen` (the run's `--hardware`) when given, else
/// [`identify`]'s. `run`, `validate` and the worker processes all decide through here.
pub fn resolve(info: &DeviceInfo, chosen: Option<&HardwareSpec>) -> Result<Identity> {
    match chosen {
        Some(s) => Ok(Identity {
            spec: Some(s.clone()),
            note: None,
        }),
        None => identify(info),
    }
}

/// The spec memory bandwidth of a device in B/s, with where it comes from, by the one rule
/// every command uses: the figure of the hardware file that applies (a datasheet's); only
/// when no file applies, or the file has none, the bandwidth the device reports (memory
/// clock × bus width), labelled so; else none. The device's figure is never preferred to the
/// datasheet's: on an H200 NVML's clock and bus width give 4.92 TB/s against the
/// datasheet's 4.8, and `validate` judges against the file's figure.
pub fn spec_bandwidth(info: &DeviceInfo, spec: Option<&HardwareSpec>) -> Option<(f64, String)> {
    if let Some((bw, s)) = spec.and_then(|s| s.mem_bytes_per_s.map(|bw| (bw, s))) {
        let source = s
            .sources
            .get("mem_bytes_per_s")
            .cloned()
            .unwrap_or_else(|| format!("{} (no source given)", s.file_label()));
        return Some((bw, source));
    }
    let reported = info.reported_mem_bytes_per_s?;
    let why = match spec {
        Some(s) => format!("{} has no spec bandwidth", s.file_label()),
        None => "no hardware file applies to this device".to_string(),
    };
    Some((
        reported,
        format!("reported by the device: memory clock x bus width ({why})"),
    ))
}

/// The spec roofs of a device as a results file records them: the peaks of `identity`'s
/// file, the bandwidth by [`spec_bandwidth`], every source, the file's label under `file`,
/// and `identity`'s note under `match` when no file applies for a reason worth stating.
pub fn spec_roofs(info: &DeviceInfo, identity: &Identity) -> HardwareRoofs {
    let spec = identity.spec.as_ref();
    let mut sources = spec.map(|s| s.sources.clone()).unwrap_or_default();
    if let Some(s) = spec {
        sources.insert("file".to_string(), s.file_label());
    }
    if let Some(note) = &identity.note {
        sources.insert("match".to_string(), note.clone());
    }
    let mem = spec_bandwidth(info, spec);
    match &mem {
        Some((_, source)) => {
            sources.insert("mem_bytes_per_s".to_string(), source.clone());
        }
        None => {
            sources.remove("mem_bytes_per_s");
        }
    }
    HardwareRoofs {
        id: spec.map_or_else(|| "unknown".to_string(), |s| s.id.clone()),
        mem_bytes_per_s: mem.map(|(bw, _)| bw),
        peak_flops: spec.map(|s| s.peak_flops.clone()).unwrap_or_default(),
        sources,
    }
}

#[cfg(test)]
#[path = "identify_tests.rs"]
mod tests;
