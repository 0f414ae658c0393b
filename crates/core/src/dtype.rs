//! Element types of benchmarked tensors.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::error::{Error, Result};

/// Element type of an op's tensors. fp8 e4m3 is declared for GPU backends; the CPU backend
/// does not run it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DType {
    /// IEEE 754 binary32.
    F32,
    /// IEEE 754 binary16.
    F16,
    /// bfloat16 (8-bit exponent, 7-bit mantissa).
    Bf16,
    /// OCP fp8 E4M3 (4-bit exponent, 3-bit mantissa, finite-only).
    Fp8E4m3,
}

impl DType {
    /// Every dtype, in the order `hotpath list` shows them.
    pub const ALL: [DType; 4] = [DType::F32, DType::F16, DType::Bf16, DType::Fp8E4m3];

    /// Size of one element in bytes (`s` in the cost model).
    pub fn size_bytes(self) -> u64 {
        match self {
            DType::F32 => 4,
            DType::F16 | DType::Bf16 => 2,
            DType::Fp8E4m3 => 1,
        }
    }

    /// The name used on the command line and in results files.
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::Bf16 => "bf16",
            DType::Fp8E4m3 => "fp8_e4m3",
        }
    }

    /// Parses a command-line dtype name (`fp8` and `e4m3` are accepted for fp8_e4m3).
    pub fn parse(text: &str) -> Result<DType> {
        match text.trim().to_ascii_lowercase().as_str() {
            "f32" | "fp32" | "float32" => Ok(DType::F32),
            "f16" | "fp16" | "half" | "float16" => Ok(DType::F16),
            "bf16" | "bfloat16" => Ok(DType::Bf16),
            "fp8" | "e4m3" | "fp8_e4m3" | "float8_e4m3" => Ok(DType::Fp8E4m3),
            _ => Err(Error::bad_input(format!(
                "unknown dtype '{text}'; accepted: f32, f16, bf16, fp8_e4m3"
            ))),
        }
    }

    /// Largest normalized mean squared error against the reference that still passes.
    ///
    /// The bound is set by the output rounding of the dtype (relative half-ulp 2^-24, 2^-11,
    /// 2^-8, 2^-4) plus room for a different accumulation order.
    pub fn nmse_tolerance(self) -> f64 {
        match self {
            DType::F32 => 1e-8,
            DType::F16 => 1e-5,
            DType::Bf16 => 2e-4,
            DType::Fp8E4m3 => 2e-2,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_names() {
        assert_eq!(DType::F32.size_bytes(), 4);
        assert_eq!(DType::Bf16.size_bytes(), 2);
        assert_eq!(DType::F16.size_bytes(), 2);
        assert_eq!(DType::Fp8E4m3.size_bytes(), 1);
        for d in DType::ALL {
            assert_eq!(DType::parse(d.name()).unwrap(), d);
        }
        assert_eq!(DType::parse("FP8").unwrap(), DType::Fp8E4m3);
    }

    #[test]
    fn unknown_dtype_names_what_is_accepted() {
        let err = DType::parse("int4").unwrap_err().to_string();
        assert!(err.contains("'int4'") && err.contains("bf16"), "{err}");
    }

    #[test]
    fn serde_uses_cli_names() {
        assert_eq!(
            serde_json::to_string(&DType::Fp8E4m3).unwrap(),
            "\"fp8_e4m3\""
        );
        assert_eq!(serde_json::to_string(&DType::Bf16).unwrap(), "\"bf16\"");
    }
}
