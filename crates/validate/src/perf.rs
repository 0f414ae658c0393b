//! Performance and correctness checks: which benchmark each performance check runs, and how
//! a [`BenchmarkResult`] becomes a check against a [`Threshold`].

use hotpath_core::dtype::DType;
use hotpath_core::error::Result;
use hotpath_core::op::{OpKind, OpSpec};
use hotpath_core::results::{BenchmarkResult, Status as RunStatus};
use hotpath_core::suite::DeviceClass;
use hotpath_core::units::sig3;

use super::health::CLOCK_FRACTION;
use super::thresholds::{Reference, Threshold};
use super::{Check, Group, Level, Status};

/// What a performance check measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Compulsory bytes per second (decimal).
    BytesPerS,
    /// FLOP per second.
    FlopsPerS,
}

impl Metric {
    /// Unit as written in checks.
    pub fn unit(self) -> &'static str {
        match self {
            Metric::BytesPerS => "B/s",
            Metric::FlopsPerS => "FLOP/s",
        }
    }

    /// `3.01 TB/s`-style text (GB/s below 1 TB/s; TFLOP/s for FLOP rates).
    pub fn format(self, v: f64) -> String {
        match self {
            Metric::BytesPerS if v >= 1e12 => format!("{} TB/s", sig3(v / 1e12)),
            Metric::BytesPerS => format!("{} GB/s", sig3(v / 1e9)),
            Metric::FlopsPerS => format!("{} TFLOP/s", sig3(v / 1e12)),
        }
    }

    /// The rate of `result` in this metric.
    pub fn of(self, result: &BenchmarkResult) -> Option<f64> {
        let r = result.rates?;
        Some(match self {
            Metric::BytesPerS => r.bytes_per_s,
            Metric::FlopsPerS => r.flops_per_s,
        })
    }
}

/// The performance checks a `[validate]` table may name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PerfKind {
    /// Device memory copy bandwidth (read + write counted).
    Copy,
    /// bf16 GEMM throughput (the vendor library where there is one).
    GemmBf16,
    /// fp8 (e4m3) GEMM throughput (level standard and up).
    GemmFp8,
    /// Decode GEMV (m = 1, a Llama-3.1-8B gate/up projection) bandwidth.
    GemvDecode,
    /// Paged decode attention bandwidth.
    AttnDecode,
    /// Paged KV-cache write (scatter) bandwidth.
    KvWrite,
}

impl PerfKind {
    /// Every check, in report order.
    pub const ALL: [PerfKind; 6] = [
        PerfKind::Copy,
        PerfKind::GemmBf16,
        PerfKind::GemmFp8,
        PerfKind::GemvDecode,
        PerfKind::AttnDecode,
        PerfKind::KvWrite,
    ];

    /// Name in `[validate.<key>]` and in `perf/<key>`.
    pub fn key(self) -> &'static str {
        match self {
            PerfKind::Copy => "copy",
            PerfKind::GemmBf16 => "gemm_bf16",
            PerfKind::GemmFp8 => "gemm_fp8",
            PerfKind::GemvDecode => "gemv_decode",
            PerfKind::AttnDecode => "attn_decode",
            PerfKind::KvWrite => "kv_write",
        }
    }

    /// The check named `key`.
    pub fn parse(key: &str) -> Option<PerfKind> {
        PerfKind::ALL.into_iter().find(|k| k.key() == key)
    }

    /// What the check measures.
    pub fn metric(self) -> Metric {
        match self {
            PerfKind::GemmBf16 | PerfKind::GemmFp8 => Metric::FlopsPerS,
            _ => Metric::BytesPerS,
        }
    }

    /// The lowest level that runs it.
    pub fn min_level(self) -> Level {
        match self {
            PerfKind::GemmFp8 => Level::Standard,
            _ => Level::Quick,
        }
    }

    /// The benchmark it runs on a device of `class`. GPU shapes are large enough to stream
    /// past a 256 MB last-level cache or fill the GPU; CPU shapes finish in milliseconds.
    pub fn spec(self, class: DeviceClass) -> Result<OpSpec> {
        let gpu = class == DeviceClass::Gpu;
        let (op, shape, dtype) = match self {
            // 128 Mi f32 = 512 MiB per array on a GPU; 16 Mi f32 = 64 MiB on a CPU.
            PerfKind::Copy => (
                OpKind::Copy,
                if gpu { "elements=128M" } else { "elements=16M" },
                DType::F32,
            ),
            PerfKind::GemmBf16 => (
                OpKind::Gemm,
                if gpu {
                    "m=4096,n=4096,k=4096"
                } else {
                    "m=128,n=4096,k=4096"
                },
                DType::Bf16,
            ),
            PerfKind::GemmFp8 => (
                OpKind::Gemm,
                if gpu {
                    "m=4096,n=4096,k=4096"
                } else {
                    "m=128,n=4096,k=4096"
                },
                DType::Fp8E4m3,
            ),
            PerfKind::GemvDecode => (OpKind::Gemv, "m=1,n=14336,k=4096", DType::Bf16),
            PerfKind::AttnDecode => (
                OpKind::AttnDecode,
                if gpu {
                    "batch=16,context=4096"
                } else {
                    "batch=1,context=4096"
                },
                DType::Bf16,
            ),
            PerfKind::KvWrite => (
                OpKind::KvWrite,
                if gpu { "tokens=16384" } else { "tokens=4096" },
                DType::Bf16,
            ),
        };
        OpSpec::parse(op, shape, dtype)
    }

    /// The implementation to time among `offered`: the vendor library for GEMM (what a
    /// healthy GPU is judged by), our kernel for the rest; else the first offered.
    pub fn pick_impl(self, offered: &[&'static str]) -> Option<&'static str> {
        let order: &[&str] = match self {
            PerfKind::GemmBf16 | PerfKind::GemmFp8 => &["cublaslt", "hipblaslt", "hotpath"],
            _ => &["hotpath"],
        };
        order
            .iter()
            .find_map(|want| offered.iter().find(|o| *o == want).copied())
            .or_else(|| offered.first().copied())
    }
}

/// The best rate of the ceilings in `results` that stands as the "measured" reference of
/// `kind`: for bandwidth, the best cold read/write/triad (never the check's own op); for
/// FLOP/s, the `peak_mma` of the check's dtype. Returns the rate and what it is.
pub fn measured_reference(
    kind: PerfKind,
    dtype: DType,
    results: &[BenchmarkResult],
) -> Option<(f64, String)> {
    let ok = results
        .iter()
        .filter(|b| b.status == RunStatus::Ok && b.rates.is_some());
    match kind.metric() {
        Metric::BytesPerS => ok
            .filter(|b| matches!(b.op, OpKind::Read | OpKind::Write | OpKind::Triad))
            .filter_map(|b| Some((b.rates?.bytes_per_s, b.op.to_string())))
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(v, op)| (v, format!("the best streaming ceiling of this run ({op})"))),
        Metric::FlopsPerS => ok
            .filter(|b| b.op == OpKind::PeakMma && b.dtype == dtype)
            .filter_map(|b| b.rates.map(|r| r.flops_per_s))
            .max_by(f64::total_cmp)
            .map(|v| (v, format!("peak_mma {dtype} of this run"))),
    }
}

/// The performance check of `kind` from its benchmark `result`, against `threshold` (whose
/// `"measured"` reference is `measured`).
pub fn judge(
    kind: PerfKind,
    threshold: &Threshold,
    result: &BenchmarkResult,
    measured: Option<(f64, String)>,
) -> Check {
    let metric = kind.metric();
    let name = format!("perf/{}", kind.key());
    let base =
        Check::new(Group::Perf, name, Status::Fail).value(serde_json::Value::Null, metric.unit());
    let (reference, what) = match (&threshold.reference, measured) {
        (Reference::Figure(v), _) => (*v, threshold.source.clone()),
        (Reference::Named(_), Some((v, what))) => (v, format!("{what}; {}", threshold.source)),
        (Reference::Named(_), None) => {
            return Check {
                status: Status::Warn,
                ..base
            }
            .detail(
                "not judged: its reference is measured in this run and no reference ceiling ran correctly",
            )
        }
    };
    let fail_line = threshold.fail_below * reference;
    let warn_line = threshold.warn_below * reference;
    let base = Check {
        warn_threshold: Some(warn_line),
        ..base.threshold(fail_line)
    };
    let Some(value) = metric.of(result).filter(|_| result.status == RunStatus::Ok) else {
        let why = match result.status {
            RunStatus::Failed => {
                "not timed: its output was wrong (see its correctness check)".to_string()
            }
            _ => format!(
                "could not run: {}",
                result.error.as_deref().unwrap_or("no rate measured")
            ),
        };
        return base.detail(format!("{}: {why}", result.id));
    };
    let pct = 100.0 * value / reference;
    let status = if value < fail_line {
        Status::Fail
    } else if value < warn_line {
        Status::Warn
    } else {
        Status::Pass
    };
    let verdict = match status {
        Status::Fail => format!("below the FAIL line {:.0} %", 100.0 * threshold.fail_below),
        Status::Warn => format!("below the WARN line {:.0} %", 100.0 * threshold.warn_below),
        _ => format!(
            "at or above the WARN line {:.0} %",
            100.0 * threshold.warn_below
        ),
    };
    Check {
        status,
        value: serde_json::json!(value),
        ..base
    }
    .detail(format!(
        "{} = {pct:.1} % of {} ({verdict}); {}; reference: {what}",
        metric.format(value),
        metric.format(reference),
        result.id
    ))
}

/// The correctness check of one benchmark: PASS when its output matched the f64 reference,
/// FAIL when it did not or the kernel could not run.
pub fn correctness(result: &BenchmarkResult) -> Check {
    let name = format!("correctness/{}", result.id);
    match (&result.correctness, result.status) {
        (Some(c), _) if c.pass => Check::new(Group::Correctness, name, Status::Pass)
            .value(c.nmse, "nmse")
            .threshold(c.tolerance_nmse)
            .detail(format!(
                "output matches the {} reference (nmse {:.1e} within {:.0e})",
                c.reference, c.nmse, c.tolerance_nmse
            )),
        (Some(c), _) => {
            // The check's own note says which limit was broken, when it gives one.
            let broken = c
                .note
                .clone()
                .unwrap_or_else(|| format!("nmse {:.3e} exceeds {:.0e}", c.nmse, c.tolerance_nmse));
            let mut why = format!(
                "WRONG RESULTS: {broken}, max abs error {:.3e}",
                c.max_abs_err
            );
            if c.non_finite > 0 {
                why.push_str(&format!(", {} non-finite values", c.non_finite));
            }
            Check::new(Group::Correctness, name, Status::Fail)
                .value(c.nmse, "nmse")
                .threshold(c.tolerance_nmse)
                .detail(why)
        }
        (None, _) => Check::new(Group::Correctness, name, Status::Fail)
            .value(serde_json::Value::Null, "nmse")
            .detail(format!(
                "the kernel did not run to its check: {}",
                result.error.as_deref().unwrap_or("no output")
            )),
    }
}

/// Clocks under load over every timed benchmark: the lowest SM clock read around kept
/// batches against the maximum, and how many batches were discarded because the clock was
/// below 75 % of it. WARN when any batch was discarded, FAIL when half or more were.
/// `name` is the check's name (`perf/clocks_under_load`, `sustained/gemm_bf16/clocks`).
pub fn clocks_under_load(
    name: &str,
    group: Group,
    results: &[&BenchmarkResult],
    sm_max_mhz: Option<f64>,
) -> Check {
    let timed: Vec<&&BenchmarkResult> = results.iter().filter(|b| b.time.is_some()).collect();
    let kept: usize = timed.iter().map(|b| b.samples_s.len()).sum();
    let discarded: u64 = timed.iter().map(|b| b.discarded_samples).sum();
    let low = timed
        .iter()
        .filter_map(|b| b.measurement.as_ref()?.sm_clock_mhz.map(|(lo, _)| lo))
        .min_by(f64::total_cmp);
    let Some(low) = low else {
        return Check::new(group, name, Status::Skip)
            .detail("the backend reads no clock around sample batches");
    };
    let batches = kept as u64 + discarded;
    let status = if discarded == 0 {
        Status::Pass
    } else if 2 * discarded >= batches {
        Status::Fail
    } else {
        Status::Warn
    };
    let of_max = match sm_max_mhz {
        Some(m) if m > 0.0 => format!(" of {m:.0} MHz ({:.0} %)", 100.0 * low / m),
        _ => String::new(),
    };
    let check = Check::new(group, name, status).value(low, "MHz");
    let check = match sm_max_mhz {
        Some(m) => check.threshold(CLOCK_FRACTION * m),
        None => check,
    };
    check.detail(format!(
        "lowest SM clock in kept batches {low:.0} MHz{of_max}; {discarded} of {batches} batches ran below {:.0} % of the maximum and were discarded",
        100.0 * CLOCK_FRACTION
    ))
}
