//! `hotpath kernels compile`: every kernel file through NVRTC for each target, one line per
//! kernel (named by its op) with registers, spills and static shared memory. No GPU needed.

use hotpath_core::kernels::{op_of_function, FILES};
use hotpath_core::{Error, Result};
use hotpath_cuda::{nvrtc, toolkit};

use crate::cli::{KernelsAction, KernelsArgs, Outcome};

/// Runs the `kernels` subcommand.
pub fn run(args: &KernelsArgs) -> Result<Outcome> {
    match &args.action {
        KernelsAction::Compile { target } => compile(target),
    }
}

fn compile(target: &str) -> Result<Outcome> {
    let targets = nvrtc::parse_target(target)?;
    let tk = toolkit::find()?;
    toolkit::load_nvrtc(&tk)?;
    let (major, minor) = nvrtc::version()?;
    eprintln!(
        "NVRTC {major}.{minor}, headers from {}",
        tk.include_dir.display()
    );
    let mut failed = Vec::new();
    let mut kernels = 0;
    for t in &targets {
        for file in FILES {
            match nvrtc::compile(file, t, &tk) {
                Ok(c) => {
                    if c.stats.is_empty() {
                        failed.push(format!("{} ({t}) defines no kernels", file.file));
                    }
                    for s in &c.stats {
                        kernels += 1;
                        let num =
                            |v: Option<u32>| v.map(|x| x.to_string()).unwrap_or_else(|| "-".into());
                        println!(
                            "{t:<8} {:<13} {:<38} regs {:>3}  spill {:>4} B  smem {:>6} B{}",
                            op_of_function(&s.function),
                            s.function,
                            num(s.registers),
                            num(s.spill_store_bytes),
                            num(s.smem_bytes),
                            if c.cached { "  (cached)" } else { "" }
                        );
                    }
                }
                Err(e) => {
                    eprintln!("FAILED {} for {t}: {e}", file.file);
                    failed.push(format!("{} ({t})", file.file));
                }
            }
        }
    }
    if !failed.is_empty() {
        return Err(Error::backend(format!(
            "{} kernel file(s) did not compile: {}",
            failed.len(),
            failed.join(", ")
        )));
    }
    eprintln!("{kernels} kernels compiled for {}", targets.join(", "));
    Ok(Outcome::Ok)
}
