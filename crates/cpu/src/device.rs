//! The CPU as a benchmark device: what it is (from /proc and sysfs) and which kernels it runs.

use hotpath_core::{DType, Device, DeviceInfo, OpKind, Prepared, Result, TimingMethod, Workload};

pub use crate::kernels::{builder, impls, Build};
use crate::simd::level;
use crate::timer::Timed;

/// The host CPU, all rayon threads.
pub struct CpuDevice {
    info: DeviceInfo,
    telemetry: crate::telemetry::CpuTelemetry,
}

/// A `/proc/meminfo` value in bytes.
pub fn meminfo_bytes(text: &str, key: &str) -> Option<u64> {
    let line = text
        .lines()
        .find(|l| l.starts_with(key) && l[key.len()..].starts_with(':'))?;
    let kib: u64 = line[key.len() + 1..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// A sysfs cache size (`32768K`, `1M`) in bytes.
pub fn cache_size_bytes(text: &str) -> Option<u64> {
    let t = text.trim();
    let (digits, mult) = match t.chars().last()? {
        'K' => (&t[..t.len() - 1], 1024),
        'M' => (&t[..t.len() - 1], 1024 * 1024),
        'G' => (&t[..t.len() - 1], 1024 * 1024 * 1024),
        _ => (t, 1),
    };
    Some(digits.parse::<u64>().ok()? * mult)
}

fn llc_bytes() -> u64 {
    let mut best = (0u32, 0u64);
    for i in 0..8 {
        let dir = format!("/sys/devices/system/cpu/cpu0/cache/index{i}");
        let level = std::fs::read_to_string(format!("{dir}/level"))
            .ok()
            .and_then(|t| t.trim().parse().ok());
        let size = std::fs::read_to_string(format!("{dir}/size"))
            .ok()
            .and_then(|t| cache_size_bytes(&t));
        if let (Some(l), Some(s)) = (level, size) {
            if l > best.0 || (l == best.0 && s > best.1) {
                best = (l, s);
            }
        }
    }
    // Unknown: assume a generous 64 MB so cold rotation errs on the side of more sets.
    if best.1 == 0 {
        64 << 20
    } else {
        best.1
    }
}

impl CpuDevice {
    /// Reads the CPU's facts.
    pub fn detect() -> CpuDevice {
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let threads = rayon::current_num_threads();
        let mut extra = std::collections::BTreeMap::new();
        extra.insert("threads".to_string(), serde_json::Value::from(threads));
        extra.insert("simd".to_string(), serde_json::Value::from(level().name()));
        CpuDevice {
            info: DeviceInfo {
                backend: "cpu".into(),
                index: 0,
                name: hotpath_core::host::cpu_model().unwrap_or_else(|| "unknown CPU".to_string()),
                arch: format!("{}+{}", std::env::consts::ARCH, level().name()),
                driver: None,
                memory_bytes: meminfo_bytes(&meminfo, "MemTotal").unwrap_or(0),
                memory_available_bytes: meminfo_bytes(&meminfo, "MemAvailable").unwrap_or(0),
                compute_units: threads as u32,
                llc_bytes: llc_bytes(),
                reported_mem_bytes_per_s: None,
                power_limit_max_w: None,
                extra,
            },
            telemetry: crate::telemetry::CpuTelemetry::open(),
        }
    }
}

impl Device for CpuDevice {
    fn info(&self) -> &DeviceInfo {
        &self.info
    }

    fn impls(&self, op: OpKind, dtype: DType) -> Vec<&'static str> {
        impls(op, dtype)
    }

    fn prepare(&mut self, work: &Workload) -> Result<Box<dyn Prepared>> {
        let spec = work.spec;
        let build = builder(spec.op, work.imp)?;
        let offered = impls(spec.op, spec.dtype);
        if !offered.contains(&work.imp) {
            return Err(hotpath_core::backend::unsupported_impl(
                "cpu", spec, work.imp, &offered, "",
            ));
        }
        let sets = work.rotation_sets.max(1);
        let kernel = build(spec, work.inputs, sets)?;
        Ok(Box::new(Timed::new(kernel, sets, spec.op)))
    }

    fn clock(&self) -> Result<Option<hotpath_core::ClockSample>> {
        Ok(None)
    }

    fn telemetry(&self) -> Result<Option<hotpath_core::Telemetry>> {
        Ok(self.telemetry.read())
    }

    fn telemetry_source(&self) -> hotpath_core::TelemetrySource {
        self.telemetry.source()
    }

    fn timing_method(&self) -> TimingMethod {
        TimingMethod::WallClock
    }

    fn health_source(&self) -> Box<dyn hotpath_core::health::HealthSource> {
        Box::new(crate::health_source::CpuHealth::new())
    }

    fn peak_dtype(&self, dtype: DType) -> DType {
        // f16/bf16 are widened and computed in f32; fp8 is not run at all.
        match dtype {
            DType::Fp8E4m3 => DType::Fp8E4m3,
            DType::F32 | DType::F16 | DType::Bf16 => DType::F32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hotpath_core::{Inputs, OpSpec};

    #[test]
    fn proc_and_sysfs_parsing() {
        let m = "MemTotal:       24000000 kB\nMemFree: 1 kB\nMemAvailable:   20000000 kB\n";
        assert_eq!(meminfo_bytes(m, "MemTotal"), Some(24_000_000 * 1024));
        assert_eq!(meminfo_bytes(m, "MemAvailable"), Some(20_000_000 * 1024));
        assert_eq!(meminfo_bytes(m, "Mem"), None);
        assert_eq!(cache_size_bytes("32768K\n"), Some(32 << 20));
        assert_eq!(cache_size_bytes("1M"), Some(1 << 20));
        assert_eq!(cache_size_bytes("x"), None);
    }

    #[test]
    fn impl_table() {
        assert_eq!(impls(OpKind::Gemv, DType::Bf16), vec!["hotpath", "candle"]);
        assert_eq!(impls(OpKind::Gemm, DType::F32), vec!["candle"]);
        assert!(impls(OpKind::PeakMma, DType::Bf16).is_empty());
        assert!(impls(OpKind::Copy, DType::Fp8E4m3).is_empty());
        // The GPU-only ceilings are offered nowhere; every other op by hotpath's own kernel
        // (the quantized GEMVs under 16-bit activations only).
        for op in OpKind::ALL {
            let quantized = matches!(op, OpKind::GemvW4a16 | OpKind::GemvFp8w);
            if quantized {
                assert!(impls(op, DType::F32).is_empty(), "{op:?}");
            }
            let offered = impls(op, if quantized { DType::Bf16 } else { DType::F32 });
            let gpu_only = matches!(
                op,
                OpKind::L2Read | OpKind::Launch | OpKind::H2d | OpKind::D2h
            );
            if gpu_only {
                assert!(offered.is_empty(), "{op:?}");
            } else if op == OpKind::Gemm {
                assert_eq!(offered, ["candle"]);
            } else {
                assert!(offered.contains(&"hotpath"), "{op:?}");
            }
        }
    }

    fn prepare(op: OpKind, shape: &str, dtype: DType, imp: &str) -> Result<Box<dyn Prepared>> {
        let spec = OpSpec::parse(op, shape, dtype).unwrap();
        // A refusal reads no input: none are made for what the table does not list (fp8's
        // take seconds to make).
        let inputs = if impls(op, dtype).contains(&imp) {
            hotpath_core::inputs::generate(&spec, 1).unwrap()
        } else {
            Inputs {
                fp8: Default::default(),
                tensors: vec![],
            }
        };
        CpuDevice::detect().prepare(&Workload {
            spec: &spec,
            imp,
            inputs: &inputs,
            rotation_sets: 1,
        })
    }

    #[test]
    fn an_op_without_a_cpu_kernel_is_refused_not_routed_elsewhere() {
        let err = prepare(OpKind::L2Read, "elements=1024", DType::F32, "hotpath")
            .err()
            .unwrap();
        assert!(
            matches!(err, hotpath_core::Error::Unsupported(_)),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "l2_read is not implemented on cpu");
    }

    /// Every op, dtype and implementation: what the impl table lists prepares (or is
    /// refused for a shape reason), what it does not list is refused, and an op it lists at
    /// no dtype is "not implemented on cpu".
    #[test]
    fn the_impl_table_and_prepare_agree() {
        use hotpath_core::Error;
        for op in OpKind::ALL {
            let implemented = DType::ALL.iter().any(|&d| !impls(op, d).is_empty());
            assert_eq!(implemented, builder(op, "hotpath").is_ok(), "{op}");
            for dtype in DType::ALL {
                let offered = impls(op, dtype);
                for imp in ["hotpath", "candle"] {
                    let got = prepare(op, op.small_shape(), dtype, imp);
                    let what = format!("{op} {dtype} {imp}");
                    match got {
                        Ok(_) => assert!(offered.contains(&imp), "{what}: prepared, not listed"),
                        Err(Error::BadInput(why)) if offered.contains(&imp) => {
                            eprintln!("{what}: refused for its shape: {why}")
                        }
                        Err(e) if offered.contains(&imp) => panic!("{what}: listed, but {e}"),
                        Err(Error::Unsupported(why)) if !implemented => {
                            assert_eq!(why, format!("{op} is not implemented on cpu"))
                        }
                        Err(Error::Unsupported(why)) => {
                            assert!(why.starts_with("the cpu backend has no"), "{what}: {why}")
                        }
                        Err(e) => panic!("{what}: not listed, refused with {e:?}"),
                    }
                }
            }
        }
    }
}
