//! Performance thresholds as data: the optional `[validate.<check>]` tables of a
//! `hardware/*.toml` file.
//!
//! ```toml
//! [validate.copy]
//! reference = 3.35e12     # B/s for bandwidth checks, FLOP/s for GEMM; or "measured"
//! warn_below = 0.80       # WARN below this fraction of the reference
//! fail_below = 0.70       # FAIL below this fraction
//! source = "spec (NVIDIA H100 datasheet); fraction of spec; no known-good measurement yet"
//! ```
//!
//! `reference = "measured"` means the device's own roof measured in the same validate run:
//! the best of the other streaming ceilings (read, write, triad) for a bandwidth check, the
//! `peak_mma` of the dtype for a FLOP/s check. Check names are [`CHECK_NAMES`]: hotpath-validate's
//! checks (its `PerfKind`, which a test there holds equal to this list).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The checks a `[validate.<check>]` table may name, in report order.
pub const CHECK_NAMES: [&str; 6] = [
    "copy",
    "gemm_bf16",
    "gemm_fp8",
    "gemv_decode",
    "attn_decode",
    "kv_write",
];

/// What a threshold's fractions multiply.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Reference {
    /// A figure in the check's unit (B/s or FLOP/s).
    Figure(f64),
    /// `"measured"`: the device's roof measured in the same run.
    Named(String),
}

impl Reference {
    /// The figure, or `None` for `"measured"`.
    pub fn figure(&self) -> Option<f64> {
        match self {
            Reference::Figure(v) => Some(*v),
            Reference::Named(_) => None,
        }
    }
}

/// One `[validate.<check>]` table.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// The figure the fractions multiply, or `"measured"`.
    pub reference: Reference,
    /// WARN below this fraction of the reference.
    pub warn_below: f64,
    /// FAIL below this fraction of the reference.
    pub fail_below: f64,
    /// Where the reference and the fractions come from, in words.
    pub source: String,
}

/// A hardware file's `[validate]` tables, keyed by check name (`copy`, `gemm_bf16`, ...).
pub type ValidateTable = BTreeMap<String, Threshold>;

/// Checks what serde cannot: known check names, a positive figure or `"measured"`,
/// 0 < fail_below ≤ warn_below ≤ 2, and a source. The error names the table and the field.
pub fn check_table(table: &ValidateTable) -> Result<(), String> {
    for (key, t) in table {
        if !CHECK_NAMES.contains(&key.as_str()) {
            return Err(format!(
                "[validate.{key}] names no check; accepted: {}",
                CHECK_NAMES.join(", ")
            ));
        }
        match &t.reference {
            Reference::Figure(v) if !(v.is_finite() && *v > 0.0) => {
                return Err(format!(
                    "validate.{key}.reference = {v} must be a positive number or \"measured\""
                ))
            }
            Reference::Named(n) if n != "measured" => {
                return Err(format!(
                "validate.{key}.reference = \"{n}\"; accepted: a positive number or \"measured\""
            ))
            }
            _ => {}
        }
        let fraction = |v: f64| v.is_finite() && v > 0.0 && v <= 2.0;
        if !fraction(t.fail_below) || !fraction(t.warn_below) {
            return Err(format!(
                "validate.{key}: warn_below = {} and fail_below = {} must be fractions above 0 and at most 2",
                t.warn_below, t.fail_below
            ));
        }
        if t.fail_below > t.warn_below {
            return Err(format!(
                "validate.{key}: fail_below = {} is above warn_below = {}; a device must warn before it fails",
                t.fail_below, t.warn_below
            ));
        }
        if t.source.trim().is_empty() {
            return Err(format!(
                "validate.{key}.source is empty; say where the reference and the fractions come from"
            ));
        }
    }
    Ok(())
}
