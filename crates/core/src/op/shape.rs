//! Shapes: ordered `key=value` lists, parsed from the command line and validated per op.

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

use super::kind::OpKind;
use crate::error::{Error, Result};

/// Largest value any single shape key may take; beyond it a shape is called absurd.
pub const MAX_DIM: u64 = 1 << 36;

/// An op's shape: every key of [`OpKind::shape_keys`] with a value, in canonical order.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Shape {
    dims: Vec<(String, u64)>,
}

impl Shape {
    /// Builds a shape for `op` from `key=value` pairs, filling defaults and checking
    /// that every key is known, present (or defaulted) and in range.
    pub fn for_op(op: OpKind, pairs: &[(String, u64)]) -> Result<Shape> {
        let keys = op.shape_keys();
        for (name, _) in pairs {
            if !keys.iter().any(|k| k.name == name) {
                return Err(Error::bad_input(format!(
                    "shape key '{name}' does not apply to {op}; accepted: {}",
                    key_list(op)
                )));
            }
        }
        let mut dims = Vec::with_capacity(keys.len());
        for key in keys {
            let given: Vec<u64> = pairs
                .iter()
                .filter(|(n, _)| n == key.name)
                .map(|(_, v)| *v)
                .collect();
            let value = match (given.as_slice(), key.default) {
                ([v], _) => *v,
                ([], Some(d)) => d,
                ([], None) => {
                    return Err(Error::bad_input(format!(
                        "{op} needs shape key '{}' ({}); accepted: {}",
                        key.name,
                        key.meaning,
                        key_list(op)
                    )))
                }
                _ => {
                    return Err(Error::bad_input(format!(
                        "shape key '{}' is given more than once",
                        key.name
                    )))
                }
            };
            dims.push((key.name.to_string(), value));
        }
        let shape = Shape { dims };
        shape.check_ranges(op)?;
        Ok(shape)
    }

    /// Parses `k=v,k=v` text (values may use `_` separators and K/M/G binary suffixes,
    /// e.g. `elements=256M`) and builds the shape for `op`.
    pub fn parse(op: OpKind, text: &str) -> Result<Shape> {
        let mut pairs = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part.split_once('=').ok_or_else(|| {
                Error::bad_input(format!(
                    "shape part '{part}' is not key=value; write e.g. --shape {}",
                    example(op)
                ))
            })?;
            pairs.push((name.trim().to_ascii_lowercase(), parse_value(name, value)?));
        }
        Shape::for_op(op, &pairs)
    }

    /// Value of `key`; an error naming the key and the shape when the shape has no such key
    /// (never a silent zero), except a quiet switch, which is off where a shape read back
    /// from an older results file lacks it.
    pub fn dim(&self, key: &str) -> Result<u64> {
        match self.dims.iter().find(|(n, _)| n == key) {
            Some((_, v)) => Ok(*v),
            None if super::kind::is_quiet_switch(key) => Ok(0),
            None => Err(Error::bad_input(format!(
                "shape '{self}' has no key '{key}'"
            ))),
        }
    }

    /// Keys and values in canonical order.
    pub fn dims(&self) -> &[(String, u64)] {
        &self.dims
    }

    /// Whether two shapes of one op are the same problem: the same keys and values, a quiet
    /// switch that is off counting the same as one a shape from an older file lacks.
    pub fn same_as(&self, other: &Shape) -> bool {
        let named = |s: &Shape| -> Vec<(String, u64)> {
            s.dims
                .iter()
                .filter(|(k, v)| *v != 0 || !super::kind::is_quiet_switch(k))
                .cloned()
                .collect()
        };
        named(self) == named(other)
    }

    fn check_ranges(&self, op: OpKind) -> Result<()> {
        for (key, (name, value)) in op.shape_keys().iter().zip(&self.dims) {
            if key.flag {
                if *value > 1 {
                    return Err(Error::bad_input(format!(
                        "shape key {name}={value} is not valid for {op}; accepted: 0 or 1"
                    )));
                }
                continue;
            }
            if *value == 0 && !key.zero_ok {
                return Err(Error::bad_input(format!(
                    "shape key {name}=0 is not valid for {op}; every size must be at least 1"
                )));
            }
            if *value > MAX_DIM {
                return Err(Error::bad_input(format!(
                    "shape key {name}={value} is absurd for {op}; at most {MAX_DIM} is accepted"
                )));
            }
        }
        crate::ops::def(op).check_shape(self)?;
        Ok(())
    }
}

fn parse_value(name: &str, value: &str) -> Result<u64> {
    let v = value.trim().replace('_', "");
    let (digits, mult) = match v.chars().last() {
        Some('k' | 'K') => (&v[..v.len() - 1], 1u64 << 10),
        Some('m' | 'M') => (&v[..v.len() - 1], 1u64 << 20),
        Some('g' | 'G') => (&v[..v.len() - 1], 1u64 << 30),
        _ => (v.as_str(), 1),
    };
    if digits.starts_with('-') {
        return Err(Error::bad_input(format!(
            "shape key {name}={value} is negative; sizes are positive integers"
        )));
    }
    digits
        .parse::<u64>()
        .ok()
        .and_then(|d| d.checked_mul(mult))
        .ok_or_else(|| {
            Error::bad_input(format!(
                "shape key {name}={value} is not a positive integer (K/M/G suffixes allowed)"
            ))
        })
}

fn key_list(op: OpKind) -> String {
    let keys: Vec<String> = op
        .shape_keys()
        .iter()
        .map(|k| match k.default {
            Some(d) => format!("{} (default {d})", k.name),
            None => k.name.to_string(),
        })
        .collect();
    if keys.is_empty() {
        "no keys".to_string()
    } else {
        keys.join(", ")
    }
}

/// An example `--shape` value for `op`, for error messages and `hotpath list`.
pub fn example(op: OpKind) -> &'static str {
    crate::ops::def(op).example_shape()
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Quiet switches that are off are left out (the text older ids were made of).
        let parts: Vec<String> = self
            .dims
            .iter()
            .filter(|(k, v)| *v != 0 || !super::kind::is_quiet_switch(k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        f.write_str(&parts.join(","))
    }
}

impl Serialize for Shape {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.dims.len()))?;
        for (k, v) in &self.dims {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Shape {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Shape, D::Error> {
        struct ShapeVisitor;
        impl<'de> Visitor<'de> for ShapeVisitor {
            type Value = Shape;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of shape keys to non-negative integers")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Shape, A::Error> {
                let mut dims = Vec::new();
                while let Some((k, v)) = access.next_entry::<String, u64>()? {
                    dims.push((k, v));
                }
                Ok(Shape { dims })
            }
        }
        deserializer.deserialize_map(ShapeVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::op::OpSpec;

    #[test]
    fn parses_and_fills_defaults_in_canonical_order() {
        let s = Shape::parse(OpKind::AttnDecode, "context=4096, batch=16").unwrap();
        assert_eq!(
            s.to_string(),
            "batch=16,context=4096,heads_q=32,heads_kv=8,head_dim=128,page_size=16"
        );
        let s = Shape::parse(OpKind::Copy, "elements=256M").unwrap();
        assert_eq!(s.dim("elements").unwrap(), 268_435_456);
        let s = Shape::parse(OpKind::Gemm, "k=3,n=2,m=1").unwrap();
        assert_eq!(s.to_string(), "m=1,n=2,k=3");
    }

    #[test]
    fn quiet_switches_are_left_out_while_off_and_read_as_off_when_missing() {
        // kv_fp8 joined kv_write after results were written: the id of the dtype cache stays.
        let s = Shape::parse(OpKind::KvWrite, "tokens=4").unwrap();
        assert_eq!(
            s.to_string(),
            "tokens=4,heads_kv=8,head_dim=128,page_size=16"
        );
        assert_eq!(s.dim("kv_fp8").unwrap(), 0);
        let s = Shape::parse(OpKind::KvWrite, "tokens=4,kv_fp8=1").unwrap();
        assert_eq!(
            s.to_string(),
            "tokens=4,heads_kv=8,head_dim=128,page_size=16,kv_fp8=1"
        );
        // A shape read back from an older file, without the key: off, not an error.
        let old: Shape = serde_json::from_str(r#"{"tokens":4,"heads_kv":8}"#).unwrap();
        assert_eq!(old.dim("kv_fp8").unwrap(), 0);
        assert!(
            old.dim("head_dim").is_err(),
            "other keys are still required"
        );
        let old: Shape =
            serde_json::from_str(r#"{"tokens":4,"heads_kv":8,"head_dim":128,"page_size":16}"#)
                .unwrap();
        let new = Shape::parse(OpKind::KvWrite, "tokens=4").unwrap();
        assert!(old.same_as(&new) && new.same_as(&old));
        let fp8 = Shape::parse(OpKind::KvWrite, "tokens=4,kv_fp8=1").unwrap();
        assert!(!old.same_as(&fp8));
        // A flag that is not quiet (causal) is always written.
        let s = Shape::parse(OpKind::AttnPrefill, "seq=8,causal=0").unwrap();
        assert!(s.to_string().ends_with("causal=0"), "{s}");
    }

    #[test]
    fn rejects_bad_shapes_with_a_sentence() {
        let cases = [
            (OpKind::Gemm, "m=0,n=1,k=1", "m=0"),
            (OpKind::Gemm, "m=-4,n=1,k=1", "negative"),
            (OpKind::Gemm, "m=1,n=1", "'k'"),
            (OpKind::Gemm, "m=1,n=1,k=1,q=3", "'q'"),
            (OpKind::Gemm, "m=1,n=1,k=99999999999999", "absurd"),
            (OpKind::Gemm, "m=1,n=1,k=abc", "not a positive integer"),
            (OpKind::Gemm, "m=1,n,k=1", "not key=value"),
            (OpKind::Gemv, "m=17,n=1,k=1", "m <= 16"),
            (
                OpKind::AttnDecode,
                "context=8,heads_q=12,heads_kv=8",
                "multiple",
            ),
            (OpKind::AttnPrefill, "seq=8,causal=2", "causal=2"),
            (OpKind::Gemm, "m=1,m=2,n=1,k=1", "more than once"),
        ];
        for (op, text, needle) in cases {
            let err = Shape::parse(op, text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
            assert!(!err.contains('\n'), "one line: {err}");
        }
    }

    #[test]
    fn an_unknown_key_is_an_error_not_a_zero() {
        let s = Shape::parse(OpKind::Gemv, "m=1,n=14336,k=4096").unwrap();
        let err = s.dim("context").unwrap_err().to_string();
        assert!(
            err.contains("'context'") && err.contains("m=1,n=14336,k=4096"),
            "{err}"
        );
        let spec = OpSpec::parse(OpKind::Gemv, "m=1,n=14336,k=4096", DType::Bf16).unwrap();
        assert!(crate::ops::DecodeShape::of(&spec).is_err());
        assert_eq!(crate::ops::LinearShape::of(&spec).unwrap().n, 14336);
    }

    #[test]
    fn serde_round_trip_keeps_order() {
        let s = Shape::parse(OpKind::Gemv, "m=1,n=14336,k=4096").unwrap();
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(json, r#"{"m":1,"n":14336,"k":4096}"#);
        let back: Shape = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
    }
}
