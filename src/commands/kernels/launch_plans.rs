//! `hotpath kernels plan`: the launch plan of an op on a device described by flags (an
//! H100/H200 SXM by default), as JSON for people or as the line records the kernel emulator
//! (`tools/kernel-emu`) executes, so the emulator launches with core's arguments.

use std::fmt::Write as _;

use hotpath_core::launch_plan::{self, Arg, LaunchPlan, LaunchStep};
use hotpath_core::op::{OpKind, OpSpec};
use hotpath_core::target::Target;
use hotpath_core::{DType, Error, Result};
use serde_json::{json, Value};

use crate::cli::{KernelsPlanArgs, Outcome};

/// Device knobs of one case.
#[derive(Default)]
struct Knobs {
    arch: Option<String>,
    units: Option<u32>,
    smem_per_block: Option<u64>,
    smem_per_unit: Option<u64>,
    splits: Option<u32>,
}

/// The target the knobs describe: H100/H200 SXM for `sm_90a`, the static 48 KiB on other
/// NVIDIA targets, CDNA's 64 KiB of LDS on `gfx*`, each figure overridable.
fn target(k: &Knobs) -> Result<Target> {
    let arch = k.arch.clone().unwrap_or_else(|| "sm_90a".into());
    let mut t = if arch.starts_with("gfx") {
        Target::amd(&arch, k.units.unwrap_or(304))
    } else if arch == "sm_90a" {
        Target::h100()
    } else if arch.starts_with("sm_") {
        Target::nvidia(&arch, k.units.unwrap_or(132))
    } else {
        return Err(Error::bad_input(format!(
            "--arch {arch} is not a kernel target; accepted: sm_80, sm_89, sm_90a, sm_100a (any sm_XY[a]), gfx90a, gfx942 (any gfxNNN)"
        )));
    };
    if let Some(u) = k.units {
        if u == 0 {
            return Err(Error::bad_input(
                "--units 0: a device has at least one SM/CU",
            ));
        }
        t.units = u;
    }
    if let Some(b) = k.smem_per_block {
        t.smem_per_block = b;
        t.smem_per_unit = t.smem_per_unit.max(b);
    }
    if let Some(b) = k.smem_per_unit {
        t.smem_per_unit = b;
    }
    if let Some(s) = k.splits {
        if !(1..=launch_plan::decode::MAX_SPLITS).contains(&s) {
            return Err(Error::bad_input(format!(
                "--splits {s} is out of range; accepted: 1 to {}",
                launch_plan::decode::MAX_SPLITS
            )));
        }
        t.decode_splits = Some(s);
    }
    Ok(t)
}

fn spec(op: &str, shape: &str, dtype: &str) -> Result<OpSpec> {
    OpSpec::parse(OpKind::parse(op)?, shape, DType::parse(dtype)?)
}

/// Runs `kernels plan`.
pub fn run(a: &KernelsPlanArgs) -> Result<Outcome> {
    if !matches!(a.format.as_str(), "json" | "lines") {
        return Err(Error::bad_input(format!(
            "--format {} is not a plan format; accepted: json, lines",
            a.format
        )));
    }
    if let Some(path) = &a.cases {
        if a.format != "lines" {
            return Err(Error::bad_input(
                "--cases writes the lines format only; add --format lines",
            ));
        }
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        print!("{}", cases(&text)?);
        return Ok(Outcome::Ok);
    }
    let op = a.op.as_deref().unwrap_or_default();
    let spec = spec(op, &a.shape, &a.dtype)?;
    let knobs = Knobs {
        arch: Some(a.arch.clone()),
        units: a.units,
        smem_per_block: a.smem_per_block,
        smem_per_unit: a.smem_per_unit,
        splits: a.splits,
    };
    let t = target(&knobs)?;
    let p = launch_plan::build(&spec, &t)?;
    if a.format == "lines" {
        print!("{}", launch_plan::to_lines(&spec, &t, &p));
    } else {
        let text = serde_json::to_string_pretty(&to_json(&spec, &t, &p))
            .map_err(|e| Error::backend(format!("writing the plan as JSON failed: {e}")))?;
        println!("{text}");
    }
    Ok(Outcome::Ok)
}

/// Every line of a cases file planned, in order: a plan's records, or `error <sentence>`,
/// each closed by `end`. Blank lines and `#` comments are skipped; a malformed line is bad
/// input naming its number.
pub fn cases(text: &str) -> Result<String> {
    let mut out = String::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let bad = |why: String| Error::bad_input(format!("cases line {}: {why}", n + 1));
        if words.len() < 3 {
            return Err(bad(format!(
                "'{line}' has {} words; write OP SHAPE DTYPE [knob=value ...] (SHAPE '-' for the defaults)",
                words.len()
            )));
        }
        let mut knobs = Knobs::default();
        for w in &words[3..] {
            let (k, v) = w
                .split_once('=')
                .ok_or_else(|| bad(format!("knob '{w}' is not key=value")))?;
            let num = |v: &str| {
                v.parse::<u64>()
                    .map_err(|_| bad(format!("knob {k}={v} is not a non-negative integer")))
            };
            match k {
                "arch" => knobs.arch = Some(v.to_string()),
                "units" => knobs.units = Some(num(v)?.min(u32::MAX as u64) as u32),
                "smem_per_block" => knobs.smem_per_block = Some(num(v)?),
                "smem_per_unit" => knobs.smem_per_unit = Some(num(v)?),
                "splits" => knobs.splits = Some(num(v)?.min(u32::MAX as u64) as u32),
                _ => {
                    return Err(bad(format!(
                        "unknown knob '{k}'; accepted: arch, units, smem_per_block, smem_per_unit, splits"
                    )))
                }
            }
        }
        let shape = if words[1] == "-" { "" } else { words[1] };
        let planned = spec(words[0], shape, words[2])
            .and_then(|s| target(&knobs).map(|t| (s, t)))
            .and_then(|(s, t)| launch_plan::build(&s, &t).map(|p| (s, t, p)));
        match planned {
            Ok((s, t, p)) => out.push_str(&launch_plan::to_lines(&s, &t, &p)),
            Err(e) => {
                let _ = writeln!(out, "error {}", e.to_string().replace('\n', " "));
                out.push_str("end\n");
            }
        }
    }
    Ok(out)
}

fn arg_json(a: &Arg) -> Value {
    match a {
        Arg::Input(i) => json!({ "input": i }),
        Arg::Output(i) => json!({ "output": i }),
        Arg::Scratch(i) => json!({ "scratch": i }),
        Arg::I32(v) => json!({ "i32": v }),
        Arg::I64(v) => json!({ "i64": v }),
        Arg::F32(v) => json!({ "f32": v }),
        Arg::U32x4(v) => json!({ "u32x4": v }),
    }
}

fn to_json(spec: &OpSpec, t: &Target, p: &LaunchPlan) -> Value {
    let steps: Vec<Value> = p
        .steps
        .iter()
        .map(|s| match s {
            LaunchStep::Kernel {
                function,
                geometry: g,
                args,
            } => json!({
                "kernel": function,
                "grid": [g.grid.0, g.grid.1, g.grid.2],
                "block": [g.block.0, g.block.1, g.block.2],
                "dynamic_shared_bytes": g.shared_bytes,
                "args": args.iter().map(arg_json).collect::<Vec<_>>(),
            }),
            LaunchStep::ZeroScratch(i) => json!({ "zero_scratch": i }),
        })
        .collect();
    json!({
        "op": spec.op.name(),
        "shape": spec.shape,
        "dtype": spec.dtype,
        "target": {
            "arch": t.arch,
            "units": t.units,
            "smem_per_block": t.smem_per_block,
            "smem_per_unit": t.smem_per_unit,
            "threads_per_unit": t.threads_per_unit,
            "grid_max": [t.grid_max.0, t.grid_max.1, t.grid_max.2],
        },
        "inputs": hotpath_core::inputs::input_names(spec.op),
        "steps": steps,
        "output_bytes": p.output_bytes,
        "scratch_bytes": p.scratch_bytes,
        "output": {
            "index": p.output.index,
            "name": p.output.name,
            "dtype": p.output.dtype,
            "shape": p.output.shape,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases_plan_in_order_and_report_refusals_in_place() {
        let text = "# a comment\n\
                    attn_decode batch=2,context=17 f32 splits=3\n\
                    \n\
                    copy elements=1000 f32 arch=gfx942 units=10\n\
                    attn_decode context=16,head_dim=96 bf16\n";
        let out = cases(text).unwrap();
        let plans: Vec<&str> = out.lines().filter(|l| l.starts_with("plan ")).collect();
        assert_eq!(plans.len(), 2);
        assert!(plans[0].starts_with("plan attn_decode batch=2,context=17"));
        assert!(plans[0].ends_with("f32 sm_90a 132"));
        assert!(
            out.contains("i32:3 "),
            "forced splits appear as the kernel argument"
        );
        assert!(plans[1].ends_with("f32 gfx942 10"));
        let err = out.lines().find(|l| l.starts_with("error ")).unwrap();
        assert!(err.contains("head_dim 64, 128 or 256"), "{err}");
        assert_eq!(out.lines().filter(|l| *l == "end").count(), 3);
    }

    #[test]
    fn malformed_cases_are_bad_input_naming_the_line() {
        for (text, want) in [
            (
                "copy elements=1\n",
                "cases line 1: 'copy elements=1' has 2 words",
            ),
            (
                "copy - f32 units\n",
                "cases line 1: knob 'units' is not key=value",
            ),
            (
                "\ncopy - f32 units=x\n",
                "cases line 2: knob units=x is not a non-negative integer",
            ),
            (
                "copy - f32 colour=red\n",
                "cases line 1: unknown knob 'colour'",
            ),
        ] {
            let err = cases(text).unwrap_err();
            assert!(matches!(err, Error::BadInput(_)));
            assert!(err.to_string().starts_with(want), "{err}");
        }
        // Bad knob values are planned as refusals, not bad input of the whole file.
        let out = cases("copy elements=16 f32 splits=999\n").unwrap();
        assert!(
            out.starts_with("error --splits 999 is out of range"),
            "{out}"
        );
    }
}
