//! `hotpath kernels compile`: every kernel file through NVRTC (`sm_*` targets) or hipRTC
//! (`gfx*` targets) for each target, one line per kernel (named by its op) with registers,
//! spills and static shared memory where the compiler reports them. No GPU needed.
//! `hotpath kernels plan`: an op's launch plan on a described device ([`launch_plans`]).

mod launch_plans;

use hotpath_core::kernels::{files, op_of_function};
use hotpath_core::{Error, Result};
use hotpath_cuda::{nvrtc, toolkit};
use hotpath_rocm::hiprtc;

use crate::cli::{KernelsAction, KernelsArgs, Outcome};

/// Runs the `kernels` subcommand.
pub fn run(args: &KernelsArgs) -> Result<Outcome> {
    match &args.action {
        KernelsAction::Compile { target, out_dir } => compile(target, out_dir.as_deref()),
        KernelsAction::Plan(a) => launch_plans::run(a),
    }
}

/// Expands `--target`: comma-separated names, `all` (every CUDA target) and `all-amd`
/// (the AMD targets), each checked.
pub fn targets(text: &str) -> Result<(Vec<String>, Vec<String>)> {
    let (mut cuda, mut amd) = (Vec::new(), Vec::new());
    for t in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let lower = t.to_ascii_lowercase();
        if lower == "all-amd" {
            amd.extend(hiprtc::AMD_TARGETS.iter().map(|s| s.to_string()));
        } else if hiprtc::is_amd_target(&lower) {
            amd.push(lower);
        } else {
            cuda.extend(nvrtc::parse_target(t).map_err(|_| {
                Error::bad_input(format!(
                    "unknown target '{t}'; accepted: sm_80, sm_89, sm_90a, sm_100a (any sm_XY[a]), all, gfx90a, gfx942 (any gfxNNN), all-amd, comma-separated"
                ))
            })?);
        }
    }
    if cuda.is_empty() && amd.is_empty() {
        return Err(Error::bad_input(
            "--target is empty; accepted: sm_90a, gfx90a, all, all-amd, comma-separated",
        ));
    }
    Ok((cuda, amd))
}

fn compile(target: &str, out_dir: Option<&std::path::Path>) -> Result<Outcome> {
    let (cuda, amd) = targets(target)?;
    if let Some(dir) = out_dir {
        if !dir.is_dir() {
            return Err(Error::bad_input(format!(
                "--out-dir {} is not a directory; give an existing directory",
                dir.display()
            )));
        }
    }
    let mut failed = Vec::new();
    let mut count = 0;
    if !cuda.is_empty() {
        compile_cuda(&cuda, out_dir, &mut failed, &mut count)?;
    }
    if !amd.is_empty() {
        compile_amd(&amd, out_dir, &mut failed, &mut count)?;
    }
    if !failed.is_empty() {
        return Err(Error::backend(format!(
            "{} kernel file(s) did not compile: {}",
            failed.len(),
            failed.join(", ")
        )));
    }
    let all: Vec<String> = cuda.into_iter().chain(amd).collect();
    eprintln!("{count} kernels compiled for {}", all.join(", "));
    Ok(Outcome::Ok)
}

/// Writes one compiled file as `dir/<target>/<stem>.<ext>` (the target directory made here).
fn emit(
    dir: Option<&std::path::Path>,
    target: &str,
    file: &str,
    ext: &str,
    bytes: &[u8],
) -> Result<()> {
    let Some(dir) = dir else { return Ok(()) };
    let sub = dir.join(target);
    std::fs::create_dir_all(&sub).map_err(|e| Error::io(&sub, e))?;
    let path = sub.join(format!("{}.{ext}", file.trim_end_matches(".cu")));
    std::fs::write(&path, bytes).map_err(|e| Error::io(&path, e))
}

fn compile_amd(
    targets: &[String],
    out_dir: Option<&std::path::Path>,
    failed: &mut Vec<String>,
    count: &mut usize,
) -> Result<()> {
    let rtc = hiprtc::rtc()?;
    let (major, minor) = rtc.version();
    eprintln!("hipRTC {major}.{minor} from {}", rtc.path);
    for t in targets {
        for file in files() {
            match rtc.compile(file, t) {
                Ok(c) => {
                    *count += 1;
                    emit(out_dir, t, file.file, "co", &c.code)?;
                    println!(
                        "{t:<8} {:<13} {:<38} code {:>7} B{}",
                        file.file.trim_end_matches(".cu"),
                        file.file,
                        c.code.len(),
                        if c.cached { "  (cached)" } else { "" }
                    );
                }
                Err(e) => {
                    eprintln!("FAILED {} for {t}: {e}", file.file);
                    failed.push(format!("{} ({t})", file.file));
                }
            }
        }
    }
    Ok(())
}

fn compile_cuda(
    targets: &[String],
    out_dir: Option<&std::path::Path>,
    failed: &mut Vec<String>,
    kernels: &mut usize,
) -> Result<()> {
    let tk = toolkit::find()?;
    toolkit::load_nvrtc(&tk)?;
    let (major, minor) = nvrtc::version()?;
    eprintln!(
        "NVRTC {major}.{minor}, headers from {}",
        tk.include_dir.display()
    );
    for t in targets {
        for file in files() {
            match nvrtc::compile(file, t, &tk) {
                Ok(c) => {
                    emit(out_dir, t, file.file, "cubin", &c.cubin)?;
                    if c.stats.is_empty() {
                        failed.push(format!("{} ({t}) defines no kernels", file.file));
                    }
                    for s in &c.stats {
                        *kernels += 1;
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
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_route_by_vendor() {
        let (cuda, amd) = targets("sm_90a, gfx90a").unwrap();
        assert_eq!(
            (cuda, amd),
            (vec!["sm_90a".to_string()], vec!["gfx90a".to_string()])
        );
        let (cuda, amd) = targets("all").unwrap();
        assert_eq!((cuda.len(), amd.len()), (4, 0));
        assert_eq!(targets("all-amd").unwrap().1, vec!["gfx90a", "gfx942"]);
        assert!(targets("hopper")
            .unwrap_err()
            .to_string()
            .contains("unknown target 'hopper'"));
        assert!(targets(" , ").is_err());
    }
}
