//! Named suites: which benchmarks a `hotpath run --suite NAME` runs, scaled to the device.

use crate::dtype::DType;
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

fn spec(op: OpKind, shape: &str, dtype: DType) -> Result<OpSpec> {
    OpSpec::parse(op, shape, dtype)
        .map_err(|e| Error::backend(format!("built-in suite shape {op} {shape} is invalid: {e}")))
}

fn ceilings(class: DeviceClass) -> Result<Vec<OpSpec>> {
    // CPU: 16 Mi f32 = 64 MiB per array (copy moves 128 MiB, > 3× a 32 MiB L3).
    // GPU: 512 Mi f32 = 2 GiB per array.
    let (elements, peaks): (&str, &[DType]) = match class {
        DeviceClass::Cpu => ("elements=16M", &[DType::F32]),
        DeviceClass::Gpu => (
            "elements=512M",
            &[DType::Bf16, DType::F16, DType::Fp8E4m3, DType::F32],
        ),
    };
    let mut v = Vec::new();
    for op in [OpKind::Copy, OpKind::Read, OpKind::Write, OpKind::Triad] {
        v.push(spec(op, elements, DType::F32)?);
    }
    for &d in peaks {
        v.push(spec(OpKind::PeakMma, "", d)?);
    }
    if class == DeviceClass::Gpu {
        // 2 Mi f32 = 8 MB: inside every supported GPU's L2 (MI250X's is 8 MB per GCD).
        v.push(spec(OpKind::L2Read, "elements=2M", DType::F32)?);
        v.push(spec(OpKind::Launch, "blocks=1", DType::F32)?);
        // 256 Mi f32 = 1 GiB each way over PCIe / C2C.
        v.push(spec(OpKind::H2d, "elements=256M", DType::F32)?);
        v.push(spec(OpKind::D2h, "elements=256M", DType::F32)?);
    }
    Ok(v)
}

fn decode(class: DeviceClass) -> Result<Vec<OpSpec>> {
    let bf = DType::Bf16;
    let ms: &[u64] = match class {
        DeviceClass::Cpu => &[1, 4, 16],
        DeviceClass::Gpu => &[1, 2, 4, 8, 16],
    };
    let mut v = Vec::new();
    for &m in ms {
        for (_, n, k) in LLAMA_8B_PROJECTIONS {
            v.push(spec(OpKind::Gemv, &format!("m={m},n={n},k={k}"), bf)?);
        }
    }
    let attn: &[&str] = match class {
        DeviceClass::Cpu => &[
            "batch=1,context=4096",
            "batch=4,context=4096",
            "batch=1,context=16384",
        ],
        DeviceClass::Gpu => &[
            "batch=1,context=4096",
            "batch=16,context=4096",
            "batch=64,context=4096",
            "batch=8,context=32768",
        ],
    };
    for s in attn {
        v.push(spec(OpKind::AttnDecode, s, bf)?);
    }
    v.push(spec(OpKind::KvWrite, "tokens=4096", bf)?);
    v.push(spec(OpKind::KvRead, "tokens=4096", bf)?);
    Ok(v)
}

fn prefill(class: DeviceClass) -> Result<Vec<OpSpec>> {
    let bf = DType::Bf16;
    let mut v = Vec::new();
    match class {
        DeviceClass::Cpu => {
            v.push(spec(OpKind::Gemm, "m=1024,n=1024,k=1024", DType::F32)?);
            for (_, n, k) in LLAMA_8B_PROJECTIONS {
                v.push(spec(OpKind::Gemm, &format!("m=128,n={n},k={k}"), bf)?);
            }
            for s in ["seq=512", "seq=1024"] {
                v.push(spec(OpKind::AttnPrefill, s, bf)?);
            }
        }
        DeviceClass::Gpu => {
            for s in ["m=4096,n=4096,k=4096", "m=8192,n=8192,k=8192"] {
                v.push(spec(OpKind::Gemm, s, bf)?);
            }
            for (_, n, k) in LLAMA_8B_PROJECTIONS {
                v.push(spec(OpKind::Gemm, &format!("m=2048,n={n},k={k}"), bf)?);
            }
            v.push(spec(OpKind::Gemm, "m=8192,n=8192,k=8192", DType::Fp8E4m3)?);
            for s in ["seq=1024", "seq=4096", "seq=8192"] {
                v.push(spec(OpKind::AttnPrefill, s, bf)?);
            }
        }
    }
    Ok(v)
}

fn quick(class: DeviceClass) -> Result<Vec<OpSpec>> {
    let bf = DType::Bf16;
    let mut v = ceilings(class)?;
    if class == DeviceClass::Gpu {
        v.truncate(4);
        v.push(spec(OpKind::PeakMma, "", bf)?);
    }
    v.push(spec(OpKind::Gemv, "m=1,n=14336,k=4096", bf)?);
    v.push(spec(OpKind::Gemv, "m=8,n=4096,k=4096", bf)?);
    match class {
        DeviceClass::Cpu => {
            v.push(spec(OpKind::Gemm, "m=512,n=512,k=512", DType::F32)?);
            v.push(spec(OpKind::Gemm, "m=128,n=4096,k=4096", bf)?);
            v.push(spec(OpKind::AttnPrefill, "seq=512", bf)?);
        }
        DeviceClass::Gpu => {
            v.push(spec(OpKind::Gemm, "m=4096,n=4096,k=4096", bf)?);
            v.push(spec(OpKind::AttnPrefill, "seq=4096", bf)?);
        }
    }
    v.push(spec(OpKind::AttnDecode, "batch=1,context=4096", bf)?);
    v.push(spec(OpKind::KvWrite, "tokens=4096", bf)?);
    v.push(spec(OpKind::KvRead, "tokens=4096", bf)?);
    Ok(v)
}

/// The suite `name` for a device of `class`.
pub fn suite(name: &str, class: DeviceClass) -> Result<Suite> {
    let (specs, time_limit_s) = match name {
        "quick" => (quick(class)?, 3.0),
        "decode" => (decode(class)?, 15.0),
        "prefill" => (prefill(class)?, 15.0),
        "ceilings" => (ceilings(class)?, 15.0),
        "full" => {
            let mut v = ceilings(class)?;
            v.extend(decode(class)?);
            v.extend(prefill(class)?);
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
        assert!(copy.work().bytes >= 3 * 32 * 1024 * 1024);
    }
}
