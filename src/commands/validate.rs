//! `hotpath validate`: is this GPU healthy and as fast as its kind should be? Health
//! readings, the hot-path kernels against thresholds from `hardware/*.toml`, the correctness
//! of every kernel, and (level `long`) minutes of sustained load; PASS/WARN/FAIL per check,
//! exit 0 pass or warn, 1 fail, 2 error, 130 interrupted. Each timed benchmark waits
//! (`--settle`, bounded) for the device to settle from the one before.
//!
//! With `--device all` every device is validated at the same time, each in its own thread
//! with its own supervised worker process, so one bad GPU (a crash, a hang, a device that
//! does not open) fails its own checks and never stops the others.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use hotpath_core::backend::{Backend, CacheMode, Device, DeviceInfo};
use hotpath_core::hardware::{self, HardwareSpec};
use hotpath_core::measure::MeasureConfig;
use hotpath_core::results::{BenchmarkResult, ToolInfo};
use hotpath_core::suite::DeviceClass;
use hotpath_core::{host, Error, OpSpec, Result};
use hotpath_validate::checklist;
use hotpath_validate::engine::{self, Bench};
use hotpath_validate::settle::{Clock, SettleRule, SystemClock};
use hotpath_validate::{
    junit, prometheus, render, Check, DeviceSummary, Group, Level, Status, StatusCounts,
    ValidateConfig, ValidateReport,
};

use super::run_list;
use crate::backends;
use crate::cli::{BackendChoice, Isolation, Outcome};
use crate::isolate::{self, Executor, Step};
use crate::lock;

/// How much `hotpath validate` runs (see `hotpath validate --help`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LevelChoice {
    /// Health, copy/GEMM/GEMV/decode-attention/KV-write against thresholds with short
    /// measurements, every kernel's correctness in its serving dtype (about a minute).
    Quick,
    /// Quick with longer measurements, the fp8 GEMM check, and every dtype's kernels.
    Standard,
    /// Standard plus the bf16 peak held (sustained over burst), then sustained GEMM and
    /// copy (--sustain seconds each), watching clocks, throttling, temperature and errors
    /// over time; health that cannot be read at all FAILs.
    Long,
}

impl LevelChoice {
    fn level(self) -> Level {
        match self {
            LevelChoice::Quick => Level::Quick,
            LevelChoice::Standard => Level::Standard,
            LevelChoice::Long => Level::Long,
        }
    }
}

/// Output format of the validate report on stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ValidateFormat {
    /// One line per check: status, value, threshold, reason; then the verdict.
    Table,
    /// The report (schema hotpath.validate/1).
    Json,
    /// Prometheus text exposition format, for node_exporter's textfile collector
    /// (docs/prometheus.md).
    Prometheus,
    /// JUnit XML: a test case per check (fleet: per node), a failure carrying its code and
    /// reason.
    Junit,
}

/// `hotpath validate` arguments.
#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct ValidateArgs {
    /// Backend to validate.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Device index, or `all` (every device of the node, validated at the same time).
    #[arg(long, default_value = "all")]
    pub device: String,
    /// How much to run.
    #[arg(long, value_enum, default_value_t = LevelChoice::Quick)]
    pub level: LevelChoice,
    /// Format of the report on stdout.
    #[arg(long, value_enum, default_value_t = ValidateFormat::Table)]
    pub format: ValidateFormat,
    /// Report file (JSON, schema hotpath.validate/1), rewritten after every check.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Also write the Prometheus text to this file when done, atomically (for
    /// node_exporter's textfile collector, e.g. /var/lib/node_exporter/textfile/hotpath.prom).
    #[arg(long, value_name = "FILE")]
    pub export_prometheus: Option<PathBuf>,
    /// Also write the JUnit XML to this file when done, atomically.
    #[arg(long, value_name = "FILE")]
    pub export_junit: Option<PathBuf>,
    /// Hardware id whose thresholds to use instead of the one matched by device name.
    #[arg(long)]
    pub hardware: Option<String>,
    /// Seconds of sustained load per kernel at level long (the bf16 peak, GEMM and copy).
    #[arg(long, default_value_t = checklist::DEFAULT_SUSTAIN_S)]
    pub sustain: f64,
    /// Longest wait, seconds, for the device to settle (temperature and clocks) before each
    /// timed benchmark; 0 disables. Default: 10 on a GPU, 0 on a CPU.
    #[arg(long)]
    pub settle: Option<f64>,
    /// Where benchmarks execute: `process` isolates each in a supervised worker.
    #[arg(long, value_enum, default_value_t = Isolation::Process)]
    pub isolation: Isolation,
    /// Seconds a benchmark may take before its worker is killed and it is recorded as hung
    /// (default: 60 + 4 × its time limit).
    #[arg(long)]
    pub watchdog: Option<f64>,
}

/// Longest sustained load accepted per kernel, seconds (a day).
const MAX_SUSTAIN_S: f64 = 86_400.0;

/// Longest settle wait accepted before one benchmark, seconds.
const MAX_SETTLE_S: f64 = 600.0;

/// Validates the selected devices and prints the report.
pub fn run(args: &ValidateArgs) -> Result<Outcome> {
    let started = Instant::now();
    let level = args.level.level();
    if !(args.sustain.is_finite() && args.sustain > 0.0 && args.sustain <= MAX_SUSTAIN_S) {
        return Err(Error::bad_input(format!(
            "--sustain {} is out of range; give seconds of load per kernel, above 0 and at most {MAX_SUSTAIN_S:.0}",
            args.sustain
        )));
    }
    if let Some(s) = args.settle {
        if !(s.is_finite() && (0.0..=MAX_SETTLE_S).contains(&s)) {
            return Err(Error::bad_input(format!(
                "--settle {s} is out of range; give seconds to wait for the device to settle, from 0 (no wait) to {MAX_SETTLE_S:.0}"
            )));
        }
    }
    if let Some(w) = args.watchdog {
        if !(w.is_finite() && w > 0.0) {
            return Err(Error::bad_input(format!(
                "--watchdog {w} is out of range; give positive seconds"
            )));
        }
    }
    // A malformed fault-injection setting is bad input before anything runs.
    hotpath_core::fault::for_benchmark("")?;
    let hw_override = args.hardware.as_deref().map(hardware::by_id).transpose()?;
    if let Some(out) = &args.out {
        hotpath_core::results::check_writable(out)?;
    }
    check_exports(
        args.export_prometheus.as_deref(),
        args.export_junit.as_deref(),
    )?;
    let (backend, devices) = backends::select(args.backend)?;
    let indices = run_list::device_indices(&args.device, devices.len())?;
    let sustain_s = if level == Level::Long {
        args.sustain
    } else {
        0.0
    };
    let config = ValidateConfig {
        cache: CacheMode::Cold,
        perf: checklist::perf_config(level),
        correctness: checklist::correctness_config(),
        sustain_s,
        settle_max_s: Some(args.settle.unwrap_or_else(|| {
            checklist::default_settle_s(DeviceClass::of_backend(backend.name()))
        })),
        injected_faults: std::env::var(hotpath_core::fault::ENV).ok(),
    };
    let mut report = ValidateReport::new(
        ToolInfo {
            version: env!("CARGO_PKG_VERSION").to_string(),
            git: Some(env!("HOTPATH_GIT").to_string()).filter(|g| !g.is_empty()),
        },
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        host::detect(),
        level,
        config,
    );
    for &i in &indices {
        report.devices.push(summary(&devices[i], i));
    }
    isolate::signals::install()
        .map_err(|e| Error::backend(format!("cannot install signal handlers: {e}")))?;

    let report = validate_all(
        backend.as_ref(),
        &indices,
        hw_override.as_ref(),
        args,
        report,
        started,
    )?;
    match args.format {
        ValidateFormat::Table => print!("{}", render::table(&report)),
        ValidateFormat::Json => println!(
            "{}",
            serde_json::to_string_pretty(&report)
                .map_err(|e| Error::backend(format!("cannot serialize the report: {e}")))?
        ),
        ValidateFormat::Prometheus => print!("{}", prometheus::validate(&report)),
        ValidateFormat::Junit => print!("{}", junit::validate(&report)),
    }
    if let Some(out) = &args.out {
        eprintln!("report: {}", display(out));
    }
    write_exports(
        args.export_prometheus.as_deref(),
        || prometheus::validate(&report),
        args.export_junit.as_deref(),
        || junit::validate(&report),
    )?;
    Ok(if report.interrupted {
        Outcome::Interrupted
    } else if report.status == Status::Fail {
        Outcome::CheckFailed
    } else {
        Outcome::Ok
    })
}

/// Validates devices `indices` of `backend` at the same time, one thread each, into
/// `report` (which already lists them); the report is saved to `--out` after every check.
fn validate_all(
    backend: &dyn Backend,
    indices: &[usize],
    hw_override: Option<&HardwareSpec>,
    args: &ValidateArgs,
    report: ValidateReport,
    started: Instant,
) -> Result<ValidateReport> {
    let shared = Shared {
        report: Mutex::new(report),
        out: args.out.as_deref(),
        started,
    };
    shared.save()?;
    let failures: Vec<Error> = std::thread::scope(|scope| {
        let handles: Vec<_> = indices
            .iter()
            .map(|&index| {
                let shared = &shared;
                scope.spawn(move || validate_device(backend, index, hw_override, args, shared))
            })
            .collect();
        handles
            .into_iter()
            .filter_map(|h| match h.join() {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(_) => Some(Error::backend("a device's validation thread panicked")),
            })
            .collect()
    });
    let report = shared.finish()?;
    match failures.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(report),
    }
}

/// The report every device thread adds its checks to, saved after each check.
struct Shared<'a> {
    report: Mutex<ValidateReport>,
    out: Option<&'a Path>,
    started: Instant,
}

impl Shared<'_> {
    /// Runs `f` on the report, then settles and saves it.
    fn update(&self, f: impl FnOnce(&mut ValidateReport)) -> Result<()> {
        let mut r = self
            .report
            .lock()
            .map_err(|_| Error::backend("the validate report's lock is poisoned"))?;
        f(&mut r);
        r.settle();
        r.wall_s = self.started.elapsed().as_secs_f64();
        match self.out {
            Some(path) => r.write_atomic(path),
            None => Ok(()),
        }
    }

    fn save(&self) -> Result<()> {
        self.update(|_| {})
    }

    /// The finished report, checks ordered by device, saved once more.
    fn finish(self) -> Result<ValidateReport> {
        self.update(|r| r.checks.sort_by_key(|c| c.device))?;
        self.report
            .into_inner()
            .map_err(|_| Error::backend("the validate report's lock is poisoned"))
    }
}

/// A device's summary before it is validated.
fn summary(info: &DeviceInfo, index: usize) -> DeviceSummary {
    DeviceSummary {
        backend: info.backend.clone(),
        index,
        name: info.name.clone(),
        hardware: "unknown".to_string(),
        bus_id: None,
        health_source: String::new(),
        status: Status::Pass,
        wall_s: 0.0,
        counts: StatusCounts::default(),
        benchmarks: Vec::new(),
        sustained_traces: Vec::new(),
        verdict_note: None,
    }
}

/// Validates device `index`; what goes wrong with the device becomes its FAIL checks, so
/// the returned error is only for the report file itself failing to be written.
fn validate_device(
    backend: &dyn Backend,
    index: usize,
    hw_override: Option<&HardwareSpec>,
    args: &ValidateArgs,
    shared: &Shared,
) -> Result<()> {
    let started = Instant::now();
    let label = format!("{}:{index}", backend.name());
    let device_fail = |name: &str, detail: String| {
        eprintln!("[{label}] FAIL {name}: {detail}");
        let mut c = Check::new(Group::Device, name, Status::Fail).detail(detail);
        c.device = index;
        shared.update(|r| r.checks.push(c))
    };
    let mut device = match backend.open(index) {
        Ok(d) => d,
        Err(e) => return device_fail("device/open", format!("the device did not open: {e}")),
    };
    // The same choice as `run`'s (hardware::resolve): thresholds and spec figures come from
    // the one file that applies, or from none.
    let hw = match hardware::resolve(device.info(), hw_override) {
        Ok(identity) => identity.spec,
        Err(e) => return device_fail("device/hardware", e.to_string()),
    };
    let level = args.level.level();
    let mut list = match checklist::build(level, device.as_ref(), hw.as_ref(), args.sustain) {
        Ok(p) => p,
        Err(e) => return device_fail("device/plan", e.to_string()),
    };
    if let Some(s) = args.settle {
        list.settle = SettleRule::bounded(s);
    }
    let mut info = device.info().clone();
    let mut lock = lock::claim(&mut info);
    let mut source = device.health_source();
    let source_name = source.describe();
    let hw_id = hw.as_ref().map_or("unknown".to_string(), |h| h.id.clone());
    shared.update(|r| {
        if let Some(d) = r.devices.iter_mut().find(|d| d.index == index) {
            d.name = info.name.clone();
            d.hardware = hw_id.clone();
            d.health_source = source_name.clone();
        }
        r.checks.push(exclusive_check(&info, index));
    })?;
    eprintln!(
        "[{label}] validating {} (hardware {hw_id}, level {}, health from {source_name}): {} timed, {} correctness, {} sustained benchmarks",
        info.name,
        level.name(),
        list.references.len() + list.perf.len(),
        list.correctness.len(),
        list.sustained.len()
    );
    let mut bench = WorkerBench {
        executor: Executor::new(
            args.isolation,
            backend.name(),
            index,
            Duration::from_secs(60),
            hw_override.map(HardwareSpec::llc_hint),
        ),
        device: device.as_mut(),
        watchdog_s: args.watchdog,
    };
    let mut save_error = None;
    let mut clock = SignalClock(SystemClock::new());
    let outcome = engine::run_device(&list, &mut bench, source.as_mut(), &mut clock, &mut |c| {
        if c.status >= Status::Warn {
            eprintln!("[{label}] {} {}: {}", c.status.name(), c.name, c.detail);
        }
        let mut c = c.clone();
        c.device = index;
        if let Err(e) = shared.update(|r| r.checks.push(c)) {
            save_error.get_or_insert(e);
        }
    });
    if let Some(e) = save_error {
        return Err(e);
    }
    let wall_s = started.elapsed().as_secs_f64();
    // A run that started on this device while it was validated makes it shared after all.
    let intruded = lock::note_intruders(&mut lock, &mut info);
    shared.update(|r| {
        // The checks again, in the report's order (health, correctness, perf, sustained),
        // after the exclusive-use check made before the plan ran.
        let exclusive = r
            .checks
            .iter()
            .position(|c| c.device == index && c.group == Group::Device)
            .map(|i| r.checks.remove(i))
            .map(|c| {
                if intruded {
                    exclusive_check(&info, index)
                } else {
                    c
                }
            });
        r.checks.retain(|c| c.device != index);
        r.checks.extend(exclusive);
        r.checks.extend(outcome.checks.into_iter().map(|mut c| {
            c.device = index;
            c
        }));
        r.interrupted |= outcome.interrupted;
        if let Some(d) = r.devices.iter_mut().find(|d| d.index == index) {
            d.bus_id = outcome.bus_id;
            d.wall_s = wall_s;
            d.benchmarks = outcome.benchmarks;
            d.sustained_traces = outcome.traces;
        }
    })
}

/// `device/exclusive`: WARN when another hotpath run holds the device or the backend saw
/// other work on it before anything was launched (its numbers would be shared), else PASS.
fn exclusive_check(info: &DeviceInfo, index: usize) -> Check {
    let warnings: Vec<String> = info
        .extra
        .get("warnings")
        .and_then(|w| w.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|w| w.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut c = if warnings.is_empty() {
        Check::new(Group::Device, "device/exclusive", Status::Pass)
            .detail("no other hotpath run holds the device and no other work was seen on it")
    } else {
        Check::new(Group::Device, "device/exclusive", Status::Warn).detail(format!(
            "the device is shared, so performance may read low: {}",
            warnings.join("; ")
        ))
    };
    c.device = index;
    c
}

/// Checks the export paths up front, before anything is measured.
pub fn check_exports(prometheus: Option<&Path>, junit: Option<&Path>) -> Result<()> {
    if let Some(p) = prometheus {
        hotpath_core::results::check_export_writable(p, "--export-prometheus")?;
    }
    if let Some(p) = junit {
        hotpath_core::results::check_export_writable(p, "--export-junit")?;
    }
    if let (Some(a), Some(b)) = (prometheus, junit) {
        if a == b {
            return Err(Error::bad_input(format!(
                "--export-prometheus and --export-junit are both {}; give two files",
                a.display()
            )));
        }
    }
    Ok(())
}

/// Writes the exports asked for, each atomically, and says where on stderr.
pub fn write_exports(
    prometheus: Option<&Path>,
    prometheus_text: impl FnOnce() -> String,
    junit: Option<&Path>,
    junit_text: impl FnOnce() -> String,
) -> Result<()> {
    if let Some(p) = prometheus {
        hotpath_core::results::write_text_atomic(&prometheus_text(), p)?;
        eprintln!("prometheus: {}", display(p));
    }
    if let Some(p) = junit {
        hotpath_core::results::write_text_atomic(&junit_text(), p)?;
        eprintln!("junit: {}", display(p));
    }
    Ok(())
}

/// The system clock, interrupted by SIGINT/SIGTERM, so a settle wait never delays stopping.
struct SignalClock(SystemClock);

impl Clock for SignalClock {
    fn now_s(&mut self) -> f64 {
        self.0.now_s()
    }
    fn sleep(&mut self, seconds: f64) {
        self.0.sleep(seconds)
    }
    fn interrupted(&mut self) -> bool {
        isolate::signals::interrupted()
    }
}

/// Runs validate's benchmarks through the same executor as `hotpath run` (a supervised
/// worker by default), always with a cold cache.
struct WorkerBench<'a> {
    executor: Executor,
    device: &'a mut dyn Device,
    watchdog_s: Option<f64>,
}

impl Bench for WorkerBench<'_> {
    fn run(
        &mut self,
        spec: &OpSpec,
        imp: &str,
        cfg: &MeasureConfig,
        on_progress: &mut dyn FnMut(f64),
    ) -> Option<BenchmarkResult> {
        if let Executor::Worker(s) = &mut self.executor {
            let seconds = self
                .watchdog_s
                .unwrap_or(60.0 + 4.0 * cfg.time_limit_s)
                .min(1e9);
            s.set_watchdog(Duration::from_secs_f64(seconds));
        }
        match self.executor.run(
            &mut *self.device,
            spec,
            imp,
            CacheMode::Cold,
            cfg,
            on_progress,
        ) {
            Step::Done(r) => Some(*r),
            Step::Interrupted => None,
        }
    }
}

fn display(path: &Path) -> String {
    std::fs::canonicalize(path)
        .unwrap_or_else(|_| PathBuf::from(path))
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotpath_core::backend::{ClockSample, Prepared, TimingMethod, Workload};
    use hotpath_core::{DType, OpKind};

    /// Three devices; device 1 does not open. None offers a kernel, so each device's checks
    /// are its health readings and planning notes: enough to see the devices kept apart.
    struct ThreeGpus;

    struct Idle(DeviceInfo);

    fn info(index: usize) -> DeviceInfo {
        DeviceInfo {
            backend: "fake".into(),
            index,
            name: format!("Fake GPU {index}"),
            ..DeviceInfo::default()
        }
    }

    impl Backend for ThreeGpus {
        fn name(&self) -> &'static str {
            "fake"
        }
        fn devices(&self) -> Result<Vec<DeviceInfo>> {
            Ok((0..3).map(info).collect())
        }
        fn open(&self, index: usize) -> Result<Box<dyn Device>> {
            if index == 1 {
                return Err(Error::backend("device 1 fell off the bus"));
            }
            Ok(Box::new(Idle(info(index))))
        }
    }

    impl Device for Idle {
        fn info(&self) -> &DeviceInfo {
            &self.0
        }
        fn impls(&self, _: OpKind, _: DType) -> Vec<&'static str> {
            Vec::new()
        }
        fn prepare(&mut self, _: &Workload) -> Result<Box<dyn Prepared>> {
            Err(Error::backend("nothing to run"))
        }
        fn clock(&self) -> Result<Option<ClockSample>> {
            Ok(None)
        }
        fn timing_method(&self) -> TimingMethod {
            TimingMethod::DeviceEvents
        }
    }

    #[test]
    fn one_device_that_does_not_open_fails_alone_and_the_others_are_validated() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("v.json");
        let args = ValidateArgs {
            backend: BackendChoice::Auto,
            device: "all".into(),
            level: LevelChoice::Quick,
            format: ValidateFormat::Json,
            out: Some(out.clone()),
            export_prometheus: None,
            export_junit: None,
            hardware: None,
            sustain: checklist::DEFAULT_SUSTAIN_S,
            settle: Some(0.0),
            isolation: Isolation::None,
            watchdog: None,
        };
        let mut report = ValidateReport::new(
            ToolInfo {
                version: "test".into(),
                git: None,
            },
            "2026-12-01T00:00:00Z".into(),
            host::detect(),
            Level::Quick,
            ValidateConfig {
                cache: CacheMode::Cold,
                perf: checklist::perf_config(Level::Quick),
                correctness: checklist::correctness_config(),
                sustain_s: 0.0,
                settle_max_s: Some(0.0),
                injected_faults: None,
            },
        );
        for i in 0..3 {
            report.devices.push(summary(&info(i), i));
        }
        let r = validate_all(&ThreeGpus, &[0, 1, 2], None, &args, report, Instant::now()).unwrap();
        let statuses: Vec<Status> = r.devices.iter().map(|d| d.status).collect();
        // Devices 0 and 2: no hardware entry (WARN, performance not judged) and nothing
        // readable (ECC cannot be ruled out: WARN). Device 1: FAIL, for not opening.
        assert_eq!(statuses, [Status::Warn, Status::Fail, Status::Warn]);
        assert_eq!(r.status, Status::Fail);
        let of = |i: usize| -> Vec<&Check> { r.checks.iter().filter(|c| c.device == i).collect() };
        assert_eq!(of(1).len(), 1);
        assert_eq!(of(1)[0].name, "device/open");
        assert!(of(1)[0].detail.contains("fell off the bus"), "{:?}", of(1));
        for i in [0, 2] {
            let names: Vec<&str> = of(i).iter().map(|c| c.name.as_str()).collect();
            assert_eq!(names[0], "device/exclusive", "{names:?}");
            assert!(names.contains(&"perf/thresholds"), "{names:?}");
            assert!(
                names.contains(&"health/ecc_uncorrected_volatile"),
                "{names:?}"
            );
            assert_eq!(r.devices[i].name, format!("Fake GPU {i}"));
        }
        // Checks are grouped by device in the report, and the file holds the same report.
        let order: Vec<usize> = r.checks.iter().map(|c| c.device).collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted);
        let back =
            ValidateReport::parse(&std::fs::read_to_string(&out).unwrap(), "v.json").unwrap();
        assert_eq!(back.checks, r.checks);
        assert_eq!(back.status, Status::Fail);
    }
}
