//! Named suites: which benchmarks a `hotpath run --suite NAME` runs, scaled to the device.

use crate::error::{Error, Result};
use crate::op::{OpKind, OpSpec};

/// CPU or GPU: suites pick shapes a device of that class finishes in reasonable time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceClass {
    /// A CPU (the `cpu` backend).
    Cpu,
    /// A GPU (`cuda`, `rocm`).
    Gpu,
}

impl DeviceClass {
    /// The class of a backend by name.
    pub fn of_backend(backend: &str) -> DeviceClass {
        if backend == "cpu" {
            DeviceClass::Cpu
        } else {
            DeviceClass::Gpu
        }
    }
}

/// Suite names and what each is for, as `hotpath list` shows them.
pub const SUITES: [(&str, &str); 5] = [
    (
        "quick",
        "one of each op family at a Llama-3.1-8B shape, about a minute on a CPU",
    ),
    (
        "decode",
        "decode path: GEMV at Llama-3.1-8B projections, paged decode attention, KV write/read",
    ),
    (
        "prefill",
        "prefill path: GEMM at Llama-3.1-8B projections, prefill attention",
    ),
    (
        "ceilings",
        "roofs: copy/read/write/triad bandwidth and peak multiply-add throughput",
    ),
    ("full", "ceilings + decode + prefill"),
];

/// A suite: its benchmarks (ceilings first, so the measured roofs exist for the rest) and
/// a per-benchmark time limit suited to it.
#[derive(Clone, Debug)]
pub struct Suite {
    /// Suite name.
    pub name: String,
    /// Benchmarks in run order.
    pub specs: Vec<OpSpec>,
    /// Wall-time limit per benchmark, seconds.
    pub time_limit_s: f64,
}

/// Llama-3.1-8B's four linear projections as (name, n, k): fused QKV, O, fused gate+up, down.
pub const LLAMA_8B_PROJECTIONS: [(&str, u64, u64); 4] = [
    ("qkv", 6144, 4096),
    ("o", 4096, 4096),
    ("gate_up", 28672, 4096),
    ("down", 4096, 14336),
];

/// The suites the ops contribute to; `full` is ceilings, decode and prefill in turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SuiteName {
    /// One of each op family at a Llama-3.1-8B shape.
    Quick,
    /// The decode path.
    Decode,
    /// The prefill path.
    Prefill,
    /// The roofs.
    Ceilings,
}

/// The benchmarks of suite `name` on a device of `class`: every op's entries
/// ([`crate::ops::Op::suite_entries`]), the ceilings first (so the measured roofs exist for
/// the rest), then the others, each in [`OpKind::ALL`] order.
fn assemble(name: SuiteName, class: DeviceClass) -> Result<Vec<OpSpec>> {
    let ceilings_first = OpKind::ALL
        .iter()
        .filter(|op| op.is_ceiling())
        .chain(OpKind::ALL.iter().filter(|op| !op.is_ceiling()));
    let mut v = Vec::new();
    for &op in ceilings_first {
        for (shape, dtype) in crate::ops::def(op).suite_entries(name, class) {
            v.push(OpSpec::parse(op, &shape, dtype).map_err(|e| {
                Error::backend(format!("built-in suite shape {op} {shape} is invalid: {e}"))
            })?);
        }
    }
    Ok(v)
}

/// The suite `name` for a device of `class`.
pub fn suite(name: &str, class: DeviceClass) -> Result<Suite> {
    let (specs, time_limit_s) = match name {
        "quick" => (assemble(SuiteName::Quick, class)?, 3.0),
        "decode" => (assemble(SuiteName::Decode, class)?, 15.0),
        "prefill" => (assemble(SuiteName::Prefill, class)?, 15.0),
        "ceilings" => (assemble(SuiteName::Ceilings, class)?, 15.0),
        "full" => {
            let mut v = assemble(SuiteName::Ceilings, class)?;
            v.extend(assemble(SuiteName::Decode, class)?);
            v.extend(assemble(SuiteName::Prefill, class)?);
            (v, 15.0)
        }
        _ => {
            let names: Vec<_> = SUITES.iter().map(|(n, _)| *n).collect();
            return Err(Error::bad_input(format!(
                "unknown suite '{name}'; accepted: {}",
                names.join(", ")
            )));
        }
    };
    Ok(Suite {
        name: name.to_string(),
        specs,
        time_limit_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_suite_builds_for_both_classes_with_ceilings_first() {
        for (name, _) in SUITES {
            for class in [DeviceClass::Cpu, DeviceClass::Gpu] {
                let s = suite(name, class).unwrap();
                assert!(!s.specs.is_empty(), "{name}");
                let first_non_ceiling = s
                    .specs
                    .iter()
                    .position(|x| !x.op.is_ceiling())
                    .unwrap_or(s.specs.len());
                assert!(
                    s.specs[first_non_ceiling..]
                        .iter()
                        .all(|x| !x.op.is_ceiling()),
                    "{name}: ceilings must run first"
                );
            }
        }
    }

    #[test]
    fn full_covers_every_op_and_unknown_suite_is_bad_input() {
        let s = suite("full", DeviceClass::Gpu).unwrap();
        for op in OpKind::ALL {
            assert!(s.specs.iter().any(|x| x.op == op), "full misses {op}");
        }
        let err = suite("nightly", DeviceClass::Cpu).unwrap_err().to_string();
        assert!(err.contains("'nightly'") && err.contains("quick"), "{err}");
    }

    #[test]
    fn cpu_copy_ceiling_exceeds_three_times_a_32_mib_l3() {
        let s = suite("ceilings", DeviceClass::Cpu).unwrap();
        let copy = s.specs.iter().find(|x| x.op == OpKind::Copy).unwrap();
        assert!(copy.work().unwrap().bytes >= 3 * 32 * 1024 * 1024);
    }
}
