//! The run list, made before anything is measured: what to run, on which roofs, into which file.
//! Every bad input is found here, so a run never dies half way on something it could have
//! rejected up front.

use std::path::{Path, PathBuf};

use hotpath_core::hardware::{self, HardwareSpec};
use hotpath_core::measure::MeasureConfig;
use hotpath_core::results::HardwareRoofs;
use hotpath_core::stopping::StdRelCriterion;
use hotpath_core::suite::{suite, DeviceClass, SUITES};
use hotpath_core::{DType, Device, DeviceInfo, Error, OpKind, OpSpec, Result};

use crate::cli::RunArgs;

/// What the user asked to run, validated without a backend.
pub enum Request {
    /// A named suite.
    Suite(String),
    /// One op at one shape and dtype.
    Single(OpSpec),
    /// The kernels of one decode step (or prefill) of a model at its exact shapes.
    Model(Box<hotpath_model::step::ModelRun>),
}

/// `shape` with `kv_fp8` set from `--kv-dtype` for an op on the KV cache: fp8_e4m3 is
/// `kv_fp8=1`, the op's own dtype `kv_fp8=0`; any other value, or the flag on another op, is
/// refused with a sentence.
fn with_kv_dtype(op: OpKind, shape: String, dtype: DType, kv: Option<&str>) -> Result<String> {
    let Some(kv) = kv else {
        return Ok(shape);
    };
    let on_cache = |op: &OpKind| op.shape_keys().iter().any(|k| k.name == "kv_fp8");
    if !on_cache(&op) {
        let ops: Vec<&str> = OpKind::ALL
            .iter()
            .filter(|o| on_cache(o))
            .map(|o| o.name())
            .collect();
        return Err(Error::bad_input(format!(
            "--kv-dtype applies to the ops on the KV cache ({}) and to --model; got --op {op}",
            ops.join(", ")
        )));
    }
    let fp8 = match DType::parse(kv)? {
        DType::Fp8E4m3 => 1,
        d if d == dtype => 0,
        d => {
            return Err(Error::bad_input(format!(
                "--kv-dtype {d} under --dtype {dtype}: the cache is in the dtype or fp8_e4m3"
            )))
        }
    };
    if shape.split(',').any(|p| p.trim().starts_with("kv_fp8")) {
        return Err(Error::bad_input(
            "give the KV-cache dtype once: --kv-dtype or kv_fp8= in --shape",
        ));
    }
    Ok(if shape.trim().is_empty() {
        format!("kv_fp8={fp8}")
    } else {
        format!("{shape},kv_fp8={fp8}")
    })
}

impl Request {
    /// Validates --suite / --op / --shape / --dtype.
    pub fn from_args(args: &RunArgs) -> Result<Request> {
        if let Some(run) = super::model_run::request(&args.model, &args.dtype)? {
            return Ok(Request::Model(Box::new(run)));
        }
        match (&args.op, &args.suite) {
            (Some(op), _) => {
                let op = OpKind::parse(op)?;
                let dtype = DType::parse(&args.dtype)?;
                let shape = match (&args.shape, op) {
                    (Some(s), _) => s.clone(),
                    (None, OpKind::PeakMma) => String::new(),
                    (None, _) => {
                        return Err(Error::bad_input(format!(
                            "--op {op} needs --shape, e.g. --shape {}",
                            hotpath_core::op::shape_example(op)
                        )))
                    }
                };
                let shape = with_kv_dtype(op, shape, dtype, args.model.kv_dtype.as_deref())?;
                Ok(Request::Single(OpSpec::parse(op, &shape, dtype)?))
            }
            (None, Some(name)) => {
                if !SUITES.iter().any(|(n, _)| n == name) {
                    let names: Vec<_> = SUITES.iter().map(|(n, _)| *n).collect();
                    return Err(Error::bad_input(format!(
                        "unknown suite '{name}'; accepted: {}",
                        names.join(", ")
                    )));
                }
                Ok(Request::Suite(name.clone()))
            }
            (None, None) => Ok(Request::Suite("quick".to_string())),
        }
    }

    /// Short label for file names: the suite name or the op.
    pub fn label(&self) -> String {
        match self {
            Request::Suite(s) => s.clone(),
            Request::Single(spec) => spec.op.to_string(),
            Request::Model(run) => run.label(),
        }
    }

    /// The model run a model-shaped request records in its results file.
    pub fn model_run(&self) -> Option<hotpath_model::step::ModelRun> {
        match self {
            Request::Model(run) => Some((**run).clone()),
            _ => None,
        }
    }
}

/// Measurement settings from the flags, each checked for sense.
pub fn measure_config(args: &RunArgs, suite_limit_s: f64) -> Result<MeasureConfig> {
    let positive = |name: &str, v: f64, ok: bool| {
        if v.is_finite() && ok {
            Ok(v)
        } else {
            Err(Error::bad_input(format!(
                "{name} {v} is out of range; {}",
                match name {
                    "--max-rse-pct" => "give a percentage above 0 and at most 100",
                    "--warmup" => "give seconds, 0 or more",
                    _ => "give a number of seconds above 0",
                }
            )))
        }
    };
    if args.min_samples == 0 || args.min_samples > 1_000_000 {
        return Err(Error::bad_input(format!(
            "--min-samples {} is out of range; accepted: 1 to 1000000",
            args.min_samples
        )));
    }
    let time_limit = args.time_limit.unwrap_or(suite_limit_s);
    Ok(MeasureConfig {
        criterion: StdRelCriterion {
            min_samples: args.min_samples,
            min_time_s: positive("--min-time", args.min_time, args.min_time >= 0.0)?,
            max_rel_stderr: positive(
                "--max-rse-pct",
                args.max_rse_pct,
                args.max_rse_pct > 0.0 && args.max_rse_pct <= 100.0,
            )? / 100.0,
        },
        warmup_s: positive("--warmup", args.warmup, args.warmup >= 0.0)?,
        time_limit_s: positive("--time-limit", time_limit, time_limit > 0.0)?,
        ..MeasureConfig::default()
    })
}

/// Device indices from `--device N|all`.
pub fn device_indices(text: &str, count: usize) -> Result<Vec<usize>> {
    if text.eq_ignore_ascii_case("all") {
        return Ok((0..count).collect());
    }
    match text.trim().parse::<usize>() {
        Ok(i) if i < count => Ok(vec![i]),
        _ => Err(Error::bad_input(format!(
            "--device {text} does not exist; accepted: {} or all",
            if count == 1 {
                "0".to_string()
            } else {
                format!("0 to {}", count - 1)
            }
        ))),
    }
}

/// A device's run list: (spec, impl) pairs in order, stderr notes on what was skipped, and the
/// per-benchmark time limit in seconds.
pub type RunList = (Vec<(OpSpec, &'static str)>, Vec<String>, f64);

/// The benchmarks to run on one device: (spec, impl) pairs, plus stderr notes on what was
/// skipped. Ceilings the roofs still need are prepended (a CPU has no spec bandwidth),
/// unless `calibrate` is false (`--no-calibration`).
pub fn benchmarks(
    request: &Request,
    device: &dyn Device,
    imp_filter: Option<&str>,
    roofs: &HardwareRoofs,
    calibrate: bool,
) -> Result<RunList> {
    let class = DeviceClass::of_backend(&device.info().backend);
    let backend = device.info().backend.clone();
    let (mut specs, limit) = match request {
        Request::Suite(name) => {
            let s = suite(name, class)?;
            (s.specs, s.time_limit_s)
        }
        Request::Single(spec) => (vec![spec.clone()], 15.0),
        Request::Model(run) => (super::model_run::specs(run)?, 15.0),
    };
    // Calibration: ceilings the spec roofs lack, so efficiency can be stated.
    // A model step is compared with floors at measured ceilings too, and it is
    // read-dominated: it gets every streaming ceiling and the peaks of its dtypes.
    let model = matches!(request, Request::Model(_));
    let mut calibration = Vec::new();
    let lacks_bandwidth =
        roofs.mem_bytes_per_s.is_none() && !specs.iter().any(|s| s.op == OpKind::Copy);
    if calibrate && (model || lacks_bandwidth) {
        calibration.extend(
            suite("ceilings", class)?
                .specs
                .into_iter()
                .filter(|s| s.op == OpKind::Copy || model && s.op.is_streaming_ceiling()),
        );
    }
    let mut peak_dtypes: Vec<DType> = specs
        .iter()
        .filter(|_| calibrate)
        .filter(|s| s.work().is_ok_and(|w| w.flops > 0) && !s.op.is_ceiling())
        .map(|s| device.peak_dtype(s.dtype))
        .filter(|d| model || !roofs.peak_flops.contains_key(d.name()))
        .filter(|d| {
            !specs
                .iter()
                .any(|s| s.op == OpKind::PeakMma && s.dtype == *d)
        })
        .collect();
    peak_dtypes.sort();
    peak_dtypes.dedup();
    for d in peak_dtypes {
        if !device.impls(OpKind::PeakMma, d).is_empty() {
            calibration.push(OpSpec::parse(OpKind::PeakMma, "", d)?);
        }
    }
    calibration.append(&mut specs);
    let specs = calibration;

    let mut benchmarks = Vec::new();
    let mut notes = Vec::new();
    for spec in specs {
        let impls: Vec<&'static str> = device
            .impls(spec.op, spec.dtype)
            .into_iter()
            .filter(|i| imp_filter.is_none_or(|f| f == *i))
            .collect();
        if impls.is_empty() {
            let offered = device.impls(spec.op, spec.dtype);
            let why = match (imp_filter, offered.is_empty()) {
                (Some(f), false) => format!(
                    "the {backend} backend has no '{f}' implementation of {} for {}; it offers: {}",
                    spec.op,
                    spec.dtype,
                    offered.join(", ")
                ),
                // An op offered at no dtype is one the backend lacks: the one sentence for it.
                _ if DType::ALL
                    .iter()
                    .all(|&d| device.impls(spec.op, d).is_empty()) =>
                {
                    hotpath_core::backend::not_implemented(spec.op, &backend).to_string()
                }
                _ => format!(
                    "the {backend} backend does not run {} in {}",
                    spec.op, spec.dtype
                ),
            };
            if let Request::Single(_) | Request::Model(_) = request {
                return Err(Error::Unsupported(why));
            }
            notes.push(format!("skipping {spec}: {why}"));
            continue;
        }
        hotpath_core::runner::check_fits(&spec, device.info())?;
        for imp in impls {
            benchmarks.push((spec.clone(), imp));
        }
    }
    Ok((benchmarks, notes, limit))
}

/// Spec roofs for a device: `--hardware ID` if given, else the file that applies to it
/// ([`hardware::resolve`]); the bandwidth by the one rule shared with `validate`
/// ([`hardware::spec_bandwidth`]: the file's datasheet figure, the device's own only where no
/// file applies). The second value says why no file applies, when names matched.
pub fn hardware_roofs(
    info: &DeviceInfo,
    override_id: Option<&HardwareSpec>,
) -> Result<(HardwareRoofs, Option<String>)> {
    let identity = hardware::resolve(info, override_id)?;
    Ok((hardware::spec_roofs(info, &identity), identity.note))
}

/// Output path for device `index`: --out as given (with `-devN` before the extension when
/// several devices run), or a time-stamped name in the current directory.
pub fn out_path(
    out: Option<&Path>,
    backend: &str,
    label: &str,
    index: usize,
    several: bool,
    stamp: &str,
) -> PathBuf {
    let base = match out {
        Some(p) => p.to_path_buf(),
        None => PathBuf::from(format!("hotpath-{backend}-{label}-{stamp}.json")),
    };
    if !several {
        return base;
    }
    let stem = base
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = base
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    base.with_file_name(format!("{stem}-dev{index}{ext}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_index_parsing() {
        assert_eq!(device_indices("all", 3).unwrap(), vec![0, 1, 2]);
        assert_eq!(device_indices("1", 3).unwrap(), vec![1]);
        let err = device_indices("3", 3).unwrap_err().to_string();
        assert!(
            err.contains("--device 3") && err.contains("0 to 2"),
            "{err}"
        );
        assert!(device_indices("x", 1)
            .unwrap_err()
            .to_string()
            .contains("accepted: 0 or all"));
    }

    #[test]
    fn out_paths() {
        let p = out_path(
            Some(Path::new("/tmp/r.json")),
            "cuda",
            "quick",
            1,
            true,
            "s",
        );
        assert_eq!(p, PathBuf::from("/tmp/r-dev1.json"));
        let p = out_path(None, "cpu", "gemm", 0, false, "20261124-000000");
        assert_eq!(p, PathBuf::from("hotpath-cpu-gemm-20261124-000000.json"));
    }
}
