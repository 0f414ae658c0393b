//! `hotpath`: GPU micro-benchmarks for the LLM inference hot path. The binary is a thin
//! shell: argument parsing and output here, everything else in hotpath-core and the backends.

mod backends;
mod cli;
mod commands;
mod export;
mod isolate;
mod lock;
mod progress;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
