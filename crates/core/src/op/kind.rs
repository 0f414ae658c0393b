//! What every op answers, asked of its definition ([`crate::ops::def`]): name, summary,
//! shape keys, class; and the shape-key and class types the definitions use.

use std::fmt;

use crate::error::{Error, Result};
pub use crate::ops::OpKind;

/// One shape key of an op: its name, what it means, and its default (None = required).
#[derive(Clone, Copy, Debug)]
pub struct ShapeKey {
    /// Key as written on the command line (`m`, `context`, ...).
    pub name: &'static str,
    /// What the key means, for `hotpath list`.
    pub meaning: &'static str,
    /// Value used when the key is omitted; `None` means the key is required.
    pub default: Option<u64>,
    /// A 0/1 switch (`causal`, `gptj`): 0 is a value, anything above 1 is refused.
    pub flag: bool,
    /// A switch that is off unless named (`kv_fp8`, `zero_points`, `gptj`): left out of a
    /// shape's text while off, so the ids of results from before an op had it stay the same,
    /// and read as off where a shape from such a results file lacks it.
    pub quiet: bool,
    /// A parameter for which 0 is a value (a seed, an exponent), not a size: 0 is accepted.
    pub zero_ok: bool,
}

pub(crate) const fn req(name: &'static str, meaning: &'static str) -> ShapeKey {
    ShapeKey {
        name,
        meaning,
        default: None,
        flag: false,
        quiet: false,
        zero_ok: false,
    }
}

pub(crate) const fn opt(name: &'static str, meaning: &'static str, default: u64) -> ShapeKey {
    ShapeKey {
        name,
        meaning,
        default: Some(default),
        flag: false,
        quiet: false,
        zero_ok: false,
    }
}

/// A 0/1 switch with its default (`causal=1`).
pub(crate) const fn flag(name: &'static str, meaning: &'static str, default: bool) -> ShapeKey {
    ShapeKey {
        name,
        meaning,
        default: Some(default as u64),
        flag: true,
        quiet: false,
        zero_ok: false,
    }
}

/// A 0/1 switch that is off unless named ([`ShapeKey::quiet`]).
pub(crate) const fn switch(name: &'static str, meaning: &'static str) -> ShapeKey {
    ShapeKey {
        name,
        meaning,
        default: Some(0),
        flag: true,
        quiet: true,
        zero_ok: false,
    }
}

/// A parameter with its default for which 0 is a value ([`ShapeKey::zero_ok`]).
pub(crate) const fn param(name: &'static str, meaning: &'static str, default: u64) -> ShapeKey {
    ShapeKey {
        zero_ok: true,
        ..opt(name, meaning, default)
    }
}

/// Whether `key` is a quiet switch of any op (key names mean the same in every op).
pub(crate) fn is_quiet_switch(key: &str) -> bool {
    OpKind::ALL
        .iter()
        .flat_map(|op| op.shape_keys())
        .any(|k| k.quiet && k.name == key)
}

/// What kind of measurement an op is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpClass {
    /// A kernel of the inference hot path, measured against the roofs (GEMM, GEMV,
    /// attention, KV cache).
    Model,
    /// A streaming bandwidth ceiling (copy, read, write, triad): its best cold rate is the
    /// measured memory roof.
    StreamingCeiling,
    /// The compute ceiling (peak multiply-add): its rate is the measured FLOP/s roof.
    ComputeCeiling,
    /// A ceiling off the DRAM/compute roofline (cache bandwidth, launch overhead, host
    /// copies): always hot, no floor, no efficiency.
    OffRoofline,
}

impl OpKind {
    /// Name on the command line and in results files.
    pub fn name(self) -> &'static str {
        crate::ops::def(self).name()
    }

    /// One line on what the op measures, for `hotpath list`.
    pub fn summary(self) -> &'static str {
        crate::ops::def(self).summary()
    }

    /// Shape keys this op accepts, in canonical order.
    pub fn shape_keys(self) -> &'static [ShapeKey] {
        crate::ops::def(self).shape_keys()
    }

    /// What kind of measurement the op is ([`crate::ops::Op::class`]).
    pub fn class(self) -> OpClass {
        crate::ops::def(self).class()
    }

    /// True for the ceiling ops (bandwidth and compute roofs, and the off-roofline ones).
    pub fn is_ceiling(self) -> bool {
        self.class() != OpClass::Model
    }

    /// True for the streaming bandwidth ceilings (copy, read, write, triad): the ops whose
    /// best measured rate is the device's memory roof.
    pub fn is_streaming_ceiling(self) -> bool {
        self.class() == OpClass::StreamingCeiling
    }

    /// True for the ceilings that are not under the DRAM/compute roofline (cache, launch
    /// and host-link ceilings): they have no floor and no efficiency, they are roofs.
    pub fn is_off_roofline(self) -> bool {
        self.class() == OpClass::OffRoofline
    }

    /// The small shape the op's correctness runs use ([`crate::ops::Op::small_shape`]).
    pub fn small_shape(self) -> &'static str {
        crate::ops::def(self).small_shape()
    }

    /// Parses an op name.
    pub fn parse(text: &str) -> Result<OpKind> {
        let t = text.trim().to_ascii_lowercase();
        OpKind::ALL
            .into_iter()
            .find(|k| k.name() == t)
            .ok_or_else(|| {
                let names: Vec<_> = OpKind::ALL.iter().map(|k| k.name()).collect();
                Error::bad_input(format!(
                    "unknown op '{text}'; accepted: {}",
                    names.join(", ")
                ))
            })
    }
}

impl fmt::Display for OpKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
