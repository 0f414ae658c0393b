//! Results schema v1 (`hotpath.results/1`): the file every run writes, atomically, after
//! every benchmark. Field names are a contract (compare, report and other tools read them).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::backend::{CacheMode, DeviceInfo, TimingMethod};
use crate::cache::CacheRotation;
use crate::check::Correctness;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::estimator::Estimator;
pub use crate::graph_timing::{EfficiencyTiming, GraphTiming};
use crate::op::{OpKind, Shape};
use crate::roof_check::Remeasured;
use crate::roofline::{Bound, Roofs};
use crate::stopping::StopReason;

mod directory;

pub use directory::read_dir;

/// The schema identifier written into every file.
pub const SCHEMA: &str = "hotpath.results/1";

/// One results file: one device, one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResultsFile {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The hotpath build that wrote the file.
    pub tool: ToolInfo,
    /// Creation time, RFC 3339 UTC.
    pub created: String,
    /// The machine the run happened on.
    pub host: HostInfo,
    /// The device measured.
    pub device: DeviceInfo,
    /// Spec roofs (hardware/*.toml, or measured where the spec has none, e.g. a CPU).
    pub hardware: HardwareRoofs,
    /// Roofs measured by the ceilings benchmarks in this same file.
    #[serde(default)]
    pub measured: Roofs,
    /// How the run measured.
    pub config: RunConfig,
    /// The model step a model-shaped run measured (`hotpath run --model`): model config,
    /// phase, batch, context, dtypes and tensor-parallel degree. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<crate::model_config::ModelRun>,
    /// Every benchmark, in the order run.
    pub benchmarks: Vec<BenchmarkResult>,
}

/// Tool version and git commit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolInfo {
    /// Crate version.
    pub version: String,
    /// Short git commit of the build, when known.
    pub git: Option<String>,
}

/// Host facts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HostInfo {
    /// Host name.
    pub hostname: String,
    /// Operating system and kernel.
    pub os: String,
    /// CPU model.
    pub cpu: String,
}

/// The spec roofs used for `efficiency_spec`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HardwareRoofs {
    /// hardware/*.toml id (`h100-sxm`, `cpu-generic`).
    pub id: String,
    /// Spec DRAM bandwidth, bytes/s.
    pub mem_bytes_per_s: Option<f64>,
    /// Spec peak FLOP/s per dtype.
    pub peak_flops: BTreeMap<String, f64>,
    /// Where each roof came from (TOML sources, the device's own report, or a measurement).
    #[serde(default)]
    pub sources: BTreeMap<String, String>,
}

impl HardwareRoofs {
    /// These roofs as a [`Roofs`].
    pub fn roofs(&self) -> Roofs {
        Roofs {
            mem_bytes_per_s: self.mem_bytes_per_s,
            peak_flops: self.peak_flops.clone(),
            set_by: BTreeMap::new(),
        }
    }
}

/// How the run measured (applies to every benchmark in the file).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    /// `cold` (default) or `hot`.
    pub cache: CacheMode,
    /// Fewest samples per benchmark.
    pub min_samples: usize,
    /// Least kernel time sampled per benchmark, seconds.
    pub min_time_s: f64,
    /// Target relative standard error of the mean.
    pub max_rel_stderr: f64,
    /// Least warm-up wall time, seconds.
    pub warmup_s: f64,
    /// Wall-time limit per benchmark, seconds.
    pub time_limit_s: f64,
    /// Least duration of one sample batch, seconds.
    pub min_sample_s: f64,
    /// Clock fraction below which samples are discarded.
    pub throttle_fraction: f64,
    /// How kernels were timed.
    pub timing: TimingMethod,
    /// Suite name, when a suite was run.
    pub suite: Option<String>,
    /// How inputs are generated.
    pub inputs: String,
    /// Where the clocks, temperature, power and throttle reasons were read (`nvml`,
    /// `amdsmi`, `sysfs`, `none`); absent in files written before telemetry was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telemetry_source: Option<crate::telemetry::TelemetrySource>,
}

/// Outcome of one benchmark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Checked correct and measured.
    Ok,
    /// The output did not match the reference; not timed.
    Failed,
    /// Could not be prepared or run (the error says why).
    Error,
}

/// Time statistics of the kept samples, seconds per iteration.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimeStats {
    /// Median.
    pub median_s: f64,
    /// Fastest.
    pub min_s: f64,
    /// Mean.
    pub mean_s: f64,
    /// Sample standard deviation.
    pub stdev_s: f64,
    /// 10th percentile.
    pub p10_s: f64,
    /// 90th percentile.
    pub p90_s: f64,
    /// Median absolute deviation.
    pub mad_s: f64,
}

impl TimeStats {
    /// The statistics of a sample set's [`crate::stats::Summary`].
    pub fn of(s: &crate::stats::Summary) -> TimeStats {
        TimeStats {
            median_s: s.median,
            min_s: s.min,
            mean_s: s.mean,
            stdev_s: s.stdev,
            p10_s: s.p10,
            p90_s: s.p90,
            mad_s: s.mad,
        }
    }
}

/// Achieved rates at the result's estimator time (`measurement.estimator`: the median, or the
/// fastest sample of a ceiling).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rates {
    /// FLOP per second.
    pub flops_per_s: f64,
    /// Compulsory bytes per second.
    pub bytes_per_s: f64,
}

/// Position under the roofline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Roofline {
    /// FLOP per compulsory byte (None when no bytes move).
    pub intensity: Option<f64>,
    /// Which roof limits it (spec roofs, else measured).
    pub bound: Bound,
    /// Floor time at the spec roofs ÷ the estimator's time.
    pub efficiency_spec: Option<f64>,
    /// Floor time at the measured roofs ÷ the estimator's time.
    pub efficiency_measured: Option<f64>,
    /// Floor time at the measured roofs, seconds (the estimator's time − this = distance to
    /// the roof).
    pub floor_measured_s: Option<f64>,
    /// Which median the efficiencies divide by: `graph` (the graph-timed median per launch
    /// of a launch-bound kernel) or `stream` (absent: the stream median).
    #[serde(
        default,
        rename = "efficiency_timing",
        skip_serializing_if = "EfficiencyTiming::is_stream"
    )]
    pub timing: EfficiencyTiming,
    /// The measured roofs this benchmark sets (`mem_bytes_per_s`, `peak_flops.<dtype>`):
    /// measured cold above such a roof, it stayed above after the roof's ceiling was measured
    /// again, so the roof was raised to its rate (`measured.set_by` names it). Usually empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sets_roof: Vec<String>,
}

/// How one benchmark was measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeasurementInfo {
    /// Iterations per sample batch.
    pub iters_per_sample: u32,
    /// Warm-up iterations.
    pub warmup_iters: u64,
    /// Why sampling stopped.
    pub stop_reason: StopReason,
    /// Relative standard error of the mean reached; infinite with one sample (JSON `null`,
    /// read back as infinity).
    #[serde(deserialize_with = "null_as_infinity")]
    pub rel_stderr: f64,
    /// Coefficient of variation (stdev / mean) of the samples.
    #[serde(deserialize_with = "null_as_infinity")]
    pub cv: f64,
    /// Wall time spent, seconds.
    pub wall_s: f64,
    /// Lowest and highest SM clock read around kept batches, MHz.
    pub sm_clock_mhz: Option<(f64, f64)>,
    /// Cache control.
    pub cache: CacheRotation,
    /// The statistic the rates and efficiencies use: `best` (the fastest sample) for a
    /// ceiling, the median otherwise; absent means `median` (as in files written before).
    #[serde(default, skip_serializing_if = "Estimator::is_median")]
    pub estimator: Estimator,
    /// Set when this ceiling was measured a second time at the end of the run because a
    /// benchmark was above the roof it set; the faster of the two measurements is kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remeasured: Option<Remeasured>,
    /// How the batches were timed when not by the run's `config.timing` (a CPU ceiling:
    /// on-core time); absent means the run's method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock: Option<String>,
}

/// One benchmark's result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BenchmarkResult {
    /// `op/shape/dtype/impl`.
    pub id: String,
    /// The op.
    pub op: OpKind,
    /// Its shape.
    pub shape: Shape,
    /// Element type.
    pub dtype: DType,
    /// Implementation (`hotpath`, `candle`, `cublaslt`, ...).
    #[serde(rename = "impl")]
    pub imp: String,
    /// ok, failed or error.
    pub status: Status,
    /// Why it failed or errored.
    pub error: Option<String>,
    /// FLOPs per iteration.
    pub flops: u64,
    /// Compulsory bytes per iteration.
    pub bytes: u64,
    /// Time statistics (None unless measured).
    pub time: Option<TimeStats>,
    /// Every kept sample, seconds per iteration.
    pub samples_s: Vec<f64>,
    /// Achieved rates at the median.
    pub rates: Option<Rates>,
    /// Position under the roofline.
    pub roofline: Option<Roofline>,
    /// Correctness against the reference.
    pub correctness: Option<Correctness>,
    /// Batches discarded for low clocks.
    pub discarded_samples: u64,
    /// How it was measured.
    pub measurement: Option<MeasurementInfo>,
    /// The graph timing of a launch-bound kernel (CUDA/HIP, stream median under 20 µs;
    /// [`crate::graph_timing`]), or why it is missing; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graph: Option<GraphTiming>,
    /// Clocks, temperature, power and throttle reasons read after every sample batch (see
    /// [`crate::telemetry::TelemetryTrace`]); absent when nothing was readable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telemetry: Option<crate::telemetry::TelemetryTrace>,
    /// The fp8 encoding the benchmark's fp8 data was in (`e4m3`, or `e4m3fnuz` on AMD
    /// gfx940/941/942), for ops on fp8 data ([`crate::fp8::uses_fp8`]); absent for the rest
    /// and in files written before it was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fp8_encoding: Option<crate::fp8::Fp8Encoding>,
}

impl ResultsFile {
    /// Reads and validates a results file.
    pub fn read(path: &Path) -> Result<ResultsFile> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        ResultsFile::parse(&text, &path.display().to_string())
    }

    /// Parses and validates results JSON `text`; `origin` (a path) names it in errors, which
    /// give the line and column of the first problem.
    pub fn parse(text: &str, origin: &str) -> Result<ResultsFile> {
        let file: ResultsFile = serde_json::from_str(text).map_err(|e| {
            Error::bad_input(format!("{origin} is not a hotpath results file: {e}"))
        })?;
        if file.schema != SCHEMA {
            return Err(Error::bad_input(format!(
                "{origin} has schema '{}'; this hotpath reads '{SCHEMA}'",
                file.schema
            )));
        }
        Ok(file)
    }

    /// Writes the file atomically: a temporary file in the same directory, then a rename,
    /// so a reader (or a killed run) never sees a half-written file.
    pub fn write_atomic(&self, path: &Path) -> Result<()> {
        write_json_atomic(self, path)
    }
}

/// Writes `value` as pretty JSON to `path` atomically: a temporary file in the same
/// directory, synced, then renamed over `path`, so a reader (or a killed run) never sees a
/// half-written file. Every hotpath output file (results, validate reports) is written so.
pub fn write_json_atomic(value: &impl Serialize, path: &Path) -> Result<()> {
    let json = serde_json::to_vec_pretty(value)
        .map_err(|e| Error::backend(format!("cannot serialize {}: {e}", path.display())))?;
    let tmp = temp_path(path);
    let mut f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    f.write_all(&json).map_err(|e| Error::io(&tmp, e))?;
    f.write_all(b"\n").map_err(|e| Error::io(&tmp, e))?;
    f.sync_all().map_err(|e| Error::io(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// serde_json writes a non-finite f64 as `null`; this reads such a `null` back as infinity
/// (the only non-finite value these fields take), so every file hotpath wrote reads back.
fn null_as_infinity<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
}

/// Checks up front that `path` can be written (before anything is measured): its directory
/// exists and accepts a new file, and it is not a directory.
pub fn check_writable(path: &Path) -> Result<()> {
    if path.is_dir() {
        return Err(Error::bad_input(format!(
            "--out {} is a directory; give a file path such as {}/results.json",
            path.display(),
            path.display()
        )));
    }
    if let Ok(meta) = std::fs::metadata(path) {
        if meta.permissions().readonly() {
            return Err(Error::bad_input(format!(
                "--out {} is read-only; refusing to replace it (choose another path, or make it writable on purpose)",
                path.display()
            )));
        }
        if meta.len() > 0 && !is_hotpath_output(path) {
            return Err(Error::bad_input(format!(
                "--out {} exists and is not a hotpath output file; refusing to overwrite it (is it one of your inputs?)",
                path.display()
            )));
        }
    }
    let tmp = temp_path(path);
    std::fs::File::create(&tmp).map_err(|e| {
        Error::bad_input(format!(
            "--out {} cannot be written ({e}); choose a path in a writable directory",
            path.display()
        ))
    })?;
    std::fs::remove_file(&tmp).map_err(|e| Error::io(&tmp, e))
}

/// Writes `text` to `path` atomically: a new temporary file beside it (created exclusively,
/// so never a file or link that was there), synced, then renamed over `path` (which replaces
/// a link rather than following it). For the exports (`--export-prometheus`,
/// `--export-junit`): node_exporter's textfile collector must never read half a file.
pub fn write_text_atomic(text: &str, path: &Path) -> Result<()> {
    let tmp = temp_path(path);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| Error::io(&tmp, e))?;
    let written = f
        .write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(|e| Error::io(&tmp, e));
    drop(f);
    if let Err(e) =
        written.and_then(|()| std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e)))
    {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(())
}

/// Checks up front that export `path`, given with `flag`, can be written: not a directory,
/// not an existing file that hotpath did not write (a Prometheus text or a JUnit document of
/// its own may be replaced), and its directory accepts a new file.
pub fn check_export_writable(path: &Path, flag: &str) -> Result<()> {
    if path.is_dir() {
        return Err(Error::bad_input(format!(
            "{flag} {} is a directory; give a file path such as {}/hotpath.prom",
            path.display(),
            path.display()
        )));
    }
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if meta.len() > 0 && !(meta.is_file() && is_hotpath_export(path)) {
            return Err(Error::bad_input(format!(
                "{flag} {} exists and is not a file hotpath exported; refusing to replace it",
                path.display()
            )));
        }
    }
    let tmp = temp_path(path);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| {
            Error::bad_input(format!(
                "{flag} {} cannot be written ({e}); choose a path in a writable directory",
                path.display()
            ))
        })?;
    std::fs::remove_file(&tmp).map_err(|e| Error::io(&tmp, e))
}

/// Whether the file at `path` starts like a Prometheus text or a JUnit document hotpath wrote.
fn is_hotpath_export(path: &Path) -> bool {
    use std::io::Read;
    let mut head = Vec::new();
    let read = std::fs::File::open(path).and_then(|f| f.take(4096).read_to_end(&mut head));
    let text = String::from_utf8_lossy(&head);
    read.is_ok()
        && (text.starts_with("# HELP hotpath_")
            || (text.starts_with("<?xml") && text.contains("package=\"hotpath.")))
}

/// Whether the start of the file at `path` reads like JSON hotpath wrote: an object with a
/// `"schema": "hotpath.…"` field (results, validate and other hotpath outputs).
fn is_hotpath_output(path: &Path) -> bool {
    use std::io::Read;
    let mut head = Vec::new();
    let read = std::fs::File::open(path).and_then(|f| f.take(4096).read_to_end(&mut head));
    let text = String::from_utf8_lossy(&head);
    read.is_ok()
        && text.trim_start().starts_with('{')
        && text.split("\"schema\"").nth(1).is_some_and(|rest| {
            rest.trim_start_matches([' ', ':', '\n', '\t'])
                .starts_with("\"hotpath.")
        })
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "results.json".to_string());
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_file() -> ResultsFile {
        ResultsFile {
            schema: SCHEMA.to_string(),
            tool: ToolInfo {
                version: "0.1.0".into(),
                git: Some("abc1234".into()),
            },
            created: "2026-11-24T00:00:00Z".into(),
            host: HostInfo {
                hostname: "h".into(),
                os: "linux".into(),
                cpu: "x".into(),
            },
            device: DeviceInfo {
                backend: "cpu".into(),
                ..DeviceInfo::default()
            },
            hardware: HardwareRoofs {
                id: "cpu-generic".into(),
                mem_bytes_per_s: Some(1e10),
                peak_flops: BTreeMap::new(),
                sources: BTreeMap::new(),
            },
            measured: Roofs::default(),
            config: RunConfig {
                cache: CacheMode::Cold,
                min_samples: 10,
                min_time_s: 0.5,
                max_rel_stderr: 0.005,
                warmup_s: 0.1,
                time_limit_s: 15.0,
                min_sample_s: 5e-5,
                throttle_fraction: 0.75,
                timing: TimingMethod::WallClock,
                suite: None,
                inputs: "uniform".into(),
                telemetry_source: None,
            },
            model: None,
            benchmarks: vec![],
        }
    }

    #[test]
    fn writes_atomically_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        check_writable(&path).unwrap();
        let f = sample_file();
        f.write_atomic(&path).unwrap();
        assert_eq!(ResultsFile::read(&path).unwrap(), f);
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["schema"], "hotpath.results/1");
        assert!(v["benchmarks"].is_array());
    }

    #[test]
    fn one_sample_measurement_reads_back() {
        // One sample: the standard error is infinite, which serde_json writes as null.
        let text = r#"{"iters_per_sample":1,"warmup_iters":2,"stop_reason":"time_limit",
            "rel_stderr":null,"cv":0.0,"wall_s":0.48,"sm_clock_mhz":null,
            "cache":{"mode":"cold","method":"rotate","sets":1,"set_bytes":117477376,
            "llc_bytes":33554432,"llc_multiple":3.5}}"#;
        let m: MeasurementInfo = serde_json::from_str(text).unwrap();
        assert!(m.rel_stderr.is_infinite());
        assert_eq!(m.cv, 0.0);
        let again = serde_json::to_string(&m).unwrap();
        assert!(again.contains("\"rel_stderr\":null"), "{again}");
    }

    #[test]
    fn unwritable_paths_are_bad_input() {
        let dir = tempfile::tempdir().unwrap();
        let err = check_writable(dir.path()).unwrap_err().to_string();
        assert!(err.contains("is a directory"), "{err}");
        let missing = dir.path().join("no/such/dir/r.json");
        let err = check_writable(&missing).unwrap_err().to_string();
        assert!(err.contains("cannot be written"), "{err}");
        // An input that is not hotpath output (a model config, a TOML) is never replaced.
        let config = dir.path().join("config.json");
        std::fs::write(&config, "{\"hidden_size\": 4096}").unwrap();
        let err = check_writable(&config).unwrap_err().to_string();
        assert!(err.contains("not a hotpath output file"), "{err}");
        // A previous results file may be replaced, unless it is read-only.
        let old = dir.path().join("old.json");
        sample_file().write_atomic(&old).unwrap();
        check_writable(&old).unwrap();
        let mut ro = std::fs::metadata(&old).unwrap().permissions();
        ro.set_readonly(true);
        std::fs::set_permissions(&old, ro).unwrap();
        let err = check_writable(&old).unwrap_err().to_string();
        assert!(err.contains("read-only"), "{err}");
        assert_eq!(ResultsFile::read(&old).unwrap(), sample_file());
    }

    #[test]
    fn rejects_other_schemas() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        let mut f = sample_file();
        f.schema = "hotpath.results/2".into();
        f.write_atomic(&path).unwrap();
        let err = ResultsFile::read(&path).unwrap_err().to_string();
        assert!(err.contains("hotpath.results/2"), "{err}");
    }

    #[test]
    fn exports_replace_their_own_files_atomically_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let prom = dir.path().join("hotpath.prom");
        check_export_writable(&prom, "--export-prometheus").unwrap();
        write_text_atomic("# HELP hotpath_x h\n", &prom).unwrap();
        assert_eq!(
            std::fs::read_to_string(&prom).unwrap(),
            "# HELP hotpath_x h\n"
        );
        // Its own file may be replaced; no temporary file is left beside it.
        check_export_writable(&prom, "--export-prometheus").unwrap();
        write_text_atomic("# HELP hotpath_y h\n", &prom).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        // Someone else's file, a directory, and a link are refused, naming the flag.
        let other = dir.path().join("other.prom");
        std::fs::write(&other, "node_load1 0.5\n").unwrap();
        let e = check_export_writable(&other, "--export-prometheus").unwrap_err();
        assert!(e.to_string().starts_with("--export-prometheus "), "{e}");
        assert!(check_export_writable(dir.path(), "--export-junit").is_err());
        let link = dir.path().join("link.prom");
        std::os::unix::fs::symlink(&prom, &link).unwrap();
        assert!(check_export_writable(&link, "--export-prometheus").is_err());
        // A planted temporary name is never written through.
        let planted = temp_path(&other);
        std::os::unix::fs::symlink(&prom, &planted).unwrap();
        assert!(write_text_atomic("x", &other).is_err());
        assert_eq!(
            std::fs::read_to_string(&prom).unwrap(),
            "# HELP hotpath_y h\n"
        );
        // A JUnit document of its own is recognised.
        let xml = dir.path().join("v.xml");
        std::fs::write(&xml, "<?xml version=\"1.0\"?>\n<testsuites>\n  <testsuite name=\"a\" package=\"hotpath.validate\"").unwrap();
        check_export_writable(&xml, "--export-junit").unwrap();
    }
}
