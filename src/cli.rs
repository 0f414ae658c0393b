//! Command-line definition (clap) and the mapping from outcomes to exit codes:
//! 0 ok, 1 a check failed, 2 bad input or error.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

use crate::commands;
use hotpath_core::Error;

/// GPU micro-benchmarks for the LLM inference hot path, measured against the roofline.
#[derive(Parser, Debug)]
#[command(name = "hotpath", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Backends found, their devices, and why a backend is missing.
    Devices(DevicesArgs),
    /// Ops (with shape keys), dtypes, suites and hardware ids.
    List(ListArgs),
    /// Run benchmarks and write a results file.
    Run(Box<RunArgs>),
    /// Kernel tools: `kernels compile` builds every kernel with NVRTC, no GPU needed.
    Kernels(KernelsArgs),
    /// Roofline report (report.md + self-contained report.html) from results files;
    /// with --history DIR, the trend page (history.md + history.html) of a run history.
    /// A benchmark above one of its roofs is a warning on stderr and marked in the report;
    /// the exit code stays 0 (the report is still written: it is the evidence to look at).
    Report(ReportArgs),
    /// Noise-aware comparison of two results files; exit 1 on a significant regression.
    Compare(commands::compare::CompareArgs),
    /// The new build (this binary) and the last good build measured alternately, benchmark
    /// by benchmark, judged on the paired rounds; a flagged regression is measured again;
    /// exit 1 on a confirmed regression.
    Ab(Box<commands::ab::AbArgs>),
    /// Kernel-gap table of two results files (CUDA vs ROCm, or any two devices).
    Gap(commands::gap::GapArgs),
    /// Per-token latency floors (decode TPOT, prefill TTFT) of a model on a GPU's roofs.
    Floors(commands::floors::FloorsArgs),
    /// GPU acceptance: health, hot-path kernels against per-SKU thresholds, correctness of
    /// every kernel; PASS/WARN/FAIL per check, exit 1 on a FAIL.
    Validate(Box<commands::validate::ValidateArgs>),
    /// Outlier nodes across a fleet's validate reports or results files (median and MAD);
    /// exit 1 when a node is slow or failed.
    Fleet(commands::fleet::FleetArgs),
    /// Internal: runs benchmarks for `hotpath run` in an isolated worker process.
    #[command(name = "__worker", hide = true)]
    Worker(WorkerArgs),
}

#[derive(Args, Debug)]
pub struct WorkerArgs {
    /// Backend of the device.
    #[arg(long, value_enum)]
    pub backend: BackendChoice,
    /// Device index.
    #[arg(long)]
    pub device: usize,
}

/// Where `hotpath run` executes benchmarks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Isolation {
    /// In a supervised worker process: a crash or hang fails only that benchmark (default).
    Process,
    /// In the run's own process: a crashing kernel ends the run.
    None,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Results files (hotpath.results/1), shown side by side.
    #[arg(required_unless_present = "history")]
    pub results: Vec<std::path::PathBuf>,
    /// Directory of results files from successive runs (results/history): writes the trend
    /// page history.md + history.html, median and 95 % interval per benchmark over time.
    #[arg(long)]
    pub history: Option<std::path::PathBuf>,
    /// Directory to write report.md and report.html into (created if missing).
    #[arg(long, default_value = "report")]
    pub out: std::path::PathBuf,
    /// Also tabulate `cargo bench` estimates from this criterion directory (target/criterion).
    #[arg(long)]
    pub criterion: Option<std::path::PathBuf>,
}

#[derive(Args, Debug)]
pub struct KernelsArgs {
    #[command(subcommand)]
    pub action: KernelsAction,
}

#[derive(Subcommand, Debug)]
pub enum KernelsAction {
    /// Compile every kernel for a target and print registers and spills per kernel.
    Compile {
        /// sm_80, sm_89, sm_90a, sm_100a (any sm_XY[a]) or all.
        #[arg(long, default_value = "all")]
        target: String,
        /// Also write each compiled file (CUBIN, or AMD code object) as
        /// DIR/<target>/<file>.cubin or .co, for disassembly.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<std::path::PathBuf>,
    },
    /// Print the launch plan of an op on a device: kernels, grids, shared memory, arguments.
    Plan(KernelsPlanArgs),
}

/// `hotpath kernels plan`: the device is described by flags (default an H100/H200 SXM).
#[derive(Args, Debug)]
pub struct KernelsPlanArgs {
    /// Op to plan.
    #[arg(long, required_unless_present = "cases")]
    pub op: Option<String>,
    /// Shape keys, k=v,...
    #[arg(long, default_value = "")]
    pub shape: String,
    /// Element type.
    #[arg(long, default_value = "bf16")]
    pub dtype: String,
    /// Kernel target: sm_80, sm_89, sm_90a, sm_100a, gfx90a, gfx942, ...
    #[arg(long, default_value = "sm_90a")]
    pub arch: String,
    /// SMs / CUs (default: 132, or 304 for a gfx target).
    #[arg(long)]
    pub units: Option<u32>,
    /// Shared memory one block may use after the opt-in, bytes (default: 232448 on sm_90a,
    /// 49152 on other NVIDIA targets, 65536 on AMD).
    #[arg(long)]
    pub smem_per_block: Option<u64>,
    /// Shared memory per SM/CU, bytes (default: 233472 on sm_90a, twice the per-block
    /// figure on other NVIDIA targets, 65536 on AMD).
    #[arg(long)]
    pub smem_per_unit: Option<u64>,
    /// Force the split count of attn_decode (1..256).
    #[arg(long)]
    pub splits: Option<u32>,
    /// Plan every line of FILE instead (`OP SHAPE DTYPE [arch=..] [units=..]
    /// [smem_per_block=..] [smem_per_unit=..] [splits=..]`); lines format only.
    #[arg(long, value_name = "FILE", conflicts_with = "op")]
    pub cases: Option<std::path::PathBuf>,
    /// `json`, or `lines` (the record format the kernel emulator reads).
    #[arg(long, default_value = "json")]
    pub format: String,
}

/// Output format of a command's report on stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned text table.
    Table,
    /// JSON (for run: the whole results file).
    Json,
    /// Comma-separated values, one row per benchmark.
    Csv,
    /// Markdown table.
    Md,
}

/// Which backend to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum BackendChoice {
    /// CUDA, then ROCm, then CPU: the first with a device.
    Auto,
    /// NVIDIA GPUs.
    Cuda,
    /// AMD GPUs.
    Rocm,
    /// The host CPU.
    Cpu,
}

/// Cache state between samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CacheChoice {
    /// Rotate inputs so no sample finds data in the last-level cache (default).
    Cold,
    /// Reuse the same buffers: the cache-resident case.
    Hot,
}

#[derive(Args, Debug)]
pub struct DevicesArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct RunArgs {
    /// Backend to run on.
    #[arg(long, value_enum, default_value_t = BackendChoice::Auto)]
    pub backend: BackendChoice,
    /// Device index, or `all`.
    #[arg(long, default_value = "0")]
    pub device: String,
    /// Suite to run (quick, decode, prefill, ceilings, full); default quick.
    #[arg(long, conflicts_with = "op")]
    pub suite: Option<String>,
    /// A single op (see `hotpath list`); needs --shape.
    #[arg(long)]
    pub op: Option<String>,
    /// Shape of --op as key=value pairs, e.g. m=1,n=14336,k=4096.
    #[arg(long, requires = "op")]
    pub shape: Option<String>,
    /// Element type of --op, or of a --model's linear weights: f32, f16, bf16, fp8_e4m3.
    #[arg(long, default_value = "bf16")]
    pub dtype: String,
    /// Only this implementation (hotpath, candle, cublaslt, ...); default all the device has.
    #[arg(long = "impl")]
    pub imp: Option<String>,
    /// Cache state between samples.
    #[arg(long, value_enum, default_value_t = CacheChoice::Cold)]
    pub cache: CacheChoice,
    /// Results file (JSON, schema hotpath.results/1), rewritten after every benchmark.
    /// Default: hotpath-<backend>-<suite or op>-<time>.json in the current directory.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Format of the report on stdout.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Hardware id whose spec roofs to use instead of the one matched by device name.
    #[arg(long)]
    pub hardware: Option<String>,
    /// Fewest samples per benchmark.
    #[arg(long, default_value_t = 10)]
    pub min_samples: usize,
    /// Least kernel time sampled per benchmark, seconds.
    #[arg(long, default_value_t = 0.5)]
    pub min_time: f64,
    /// Stop once the relative standard error of the mean is below this, in percent.
    #[arg(long, default_value_t = 0.5)]
    pub max_rse_pct: f64,
    /// Wall-time limit per benchmark in seconds (default: the suite's, 3 s for quick, else 15 s).
    #[arg(long)]
    pub time_limit: Option<f64>,
    /// Least warm-up time per benchmark, seconds.
    #[arg(long, default_value_t = 0.1)]
    pub warmup: f64,
    /// Where benchmarks execute: `process` isolates each in a supervised worker.
    #[arg(long, value_enum, default_value_t = Isolation::Process)]
    pub isolation: Isolation,
    /// Seconds a benchmark may take, start-up and correctness check included, before its
    /// worker is killed and it is recorded as hung (default: 60 + 4 × the time limit).
    #[arg(long)]
    pub watchdog: Option<f64>,
    /// Measure only what was asked: no calibration ceilings before it (efficiency against
    /// measured roofs is then missing where the hardware file has no spec roof, e.g. on a
    /// CPU). `hotpath ab` uses it to time one benchmark per run.
    #[arg(long)]
    pub no_calibration: bool,
    /// Model-shaped run: --model M --batch B --context L [--prefill] [--tp N] [--ep N] [--kv-dtype DT].
    #[command(flatten)]
    pub model: commands::model_run::ModelArgs,
}

/// What a command concluded, mapped to the exit code.
pub enum Outcome {
    /// Everything ran and every check passed.
    Ok,
    /// A check failed: a correctness check, or a significant regression in compare (exit 1).
    CheckFailed,
    /// SIGINT or SIGTERM stopped the run after saving what was measured (exit 130).
    Interrupted,
}

/// Parses arguments, runs the command, prints errors as one sentence, returns the exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_error(e),
    };
    let result = match cli.command {
        Command::Devices(a) => commands::devices::run(&a),
        Command::List(a) => commands::list::run(&a),
        Command::Run(a) => commands::run::run(&a),
        Command::Kernels(a) => commands::kernels::run(&a),
        Command::Report(a) => commands::report::run(&a),
        Command::Compare(a) => commands::compare::run(&a),
        Command::Ab(a) => commands::ab::run(&a),
        Command::Gap(a) => commands::gap::run(&a),
        Command::Floors(a) => commands::floors::run(&a),
        Command::Validate(a) => commands::validate::run(&a),
        Command::Fleet(a) => commands::fleet::run(&a),
        Command::Worker(a) => crate::isolate::worker::run(a.backend, a.device),
    };
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::CheckFailed) => ExitCode::from(1),
        Ok(Outcome::Interrupted) => ExitCode::from(130),
        Err(e) => {
            eprintln!("error: {}", sentence(&e));
            ExitCode::from(2)
        }
    }
}

fn sentence(e: &Error) -> String {
    e.to_string().replace('\n', " ")
}

/// Help and version go to stdout with exit 0; usage errors become one line on stderr, exit 2.
fn clap_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        };
    }
    let text = e.render().to_string();
    let mut parts: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more information")
        })
        .collect();
    if let Some(first) = parts.first_mut() {
        *first = first.trim_start_matches("error: ");
    }
    eprintln!("error: {}; see hotpath --help", parts.join(" "));
    ExitCode::from(2)
}
