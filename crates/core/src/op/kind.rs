//! The benchmarked operations and the shape keys each one takes.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::error::{Error, Result};

/// One shape key of an op: its name, what it means, and its default (None = required).
#[derive(Clone, Copy, Debug)]
pub struct ShapeKey {
    /// Key as written on the command line (`m`, `context`, ...).
    pub name: &'static str,
    /// What the key means, for `hotpath list`.
    pub meaning: &'static str,
    /// Value used when the key is omitted; `None` means the key is required.
    pub default: Option<u64>,
}

const fn req(name: &'static str, meaning: &'static str) -> ShapeKey {
    ShapeKey {
        name,
        meaning,
        default: None,
    }
}

const fn opt(name: &'static str, meaning: &'static str, default: u64) -> ShapeKey {
    ShapeKey {
        name,
        meaning,
        default: Some(default),
    }
}

const LINEAR_KEYS: &[ShapeKey] = &[
    req("m", "rows of activations A[m,k] (tokens)"),
    req("n", "rows of weights W[n,k] (output features)"),
    req("k", "reduction length (input features)"),
];
const PREFILL_KEYS: &[ShapeKey] = &[
    opt("batch", "sequences", 1),
    req("seq", "tokens per sequence"),
    opt("heads_q", "query heads", 32),
    opt("heads_kv", "key/value heads (GQA groups)", 8),
    opt("head_dim", "elements per head", 128),
    opt("causal", "1 = causal mask, 0 = full", 1),
];
const DECODE_KEYS: &[ShapeKey] = &[
    opt("batch", "sequences decoded together", 1),
    req("context", "cached tokens per sequence"),
    opt("heads_q", "query heads", 32),
    opt("heads_kv", "key/value heads (GQA groups)", 8),
    opt("head_dim", "elements per head", 128),
    opt("page_size", "tokens per KV page", 16),
];
const KV_KEYS: &[ShapeKey] = &[
    req("tokens", "tokens written or read"),
    opt("heads_kv", "key/value heads", 8),
    opt("head_dim", "elements per head", 128),
    opt("page_size", "tokens per KV page", 16),
];
const STREAM_KEYS: &[ShapeKey] = &[req("elements", "elements per array")];
const L2_KEYS: &[ShapeKey] = &[
    req("elements", "elements of the cache-resident array"),
    opt(
        "passes",
        "reads of the whole array in one launch (launch overhead under 2 % of the time)",
        512,
    ),
];
const LAUNCH_KEYS: &[ShapeKey] = &[opt("blocks", "blocks of the empty kernel", 1)];
const PEAK_KEYS: &[ShapeKey] = &[opt(
    "iters",
    "dependent multiply-add steps per lane in the timed loop",
    65536,
)];

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

/// An operation hotpath benchmarks (the rows of the cost-model table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpKind {
    /// Prefill GEMM: C[m,n] = A[m,k]·W[n,k]ᵀ.
    Gemm,
    /// Decode GEMV: the same product with m ≤ 16.
    Gemv,
    /// Prefill attention (flash style, optional causal mask, GQA).
    AttnPrefill,
    /// Decode attention over a paged KV cache.
    AttnDecode,
    /// Scatter new K/V rows into cache pages by slot mapping.
    KvWrite,
    /// Gather cache pages into contiguous K/V.
    KvRead,
    /// b = a (STREAM copy).
    Copy,
    /// Sum of a (read-only bandwidth).
    Read,
    /// a = constant (write-only bandwidth).
    Write,
    /// a = b + q·c (STREAM triad).
    Triad,
    /// Peak multiply-add throughput (the compute roof).
    PeakMma,
    /// Sum of an array that fits in the last-level cache, always hot (LLC bandwidth).
    L2Read,
    /// An empty kernel (launch overhead; time only).
    Launch,
    /// Host-to-device copy from pinned memory (PCIe / C2C bandwidth).
    H2d,
    /// Device-to-host copy into pinned memory.
    D2h,
}

impl OpKind {
    /// Every op, in the order of the cost-model table.
    pub const ALL: [OpKind; 15] = [
        OpKind::Gemm,
        OpKind::Gemv,
        OpKind::AttnPrefill,
        OpKind::AttnDecode,
        OpKind::KvWrite,
        OpKind::KvRead,
        OpKind::Copy,
        OpKind::Read,
        OpKind::Write,
        OpKind::Triad,
        OpKind::PeakMma,
        OpKind::L2Read,
        OpKind::Launch,
        OpKind::H2d,
        OpKind::D2h,
    ];

    /// Name on the command line and in results files.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Gemm => "gemm",
            OpKind::Gemv => "gemv",
            OpKind::AttnPrefill => "attn_prefill",
            OpKind::AttnDecode => "attn_decode",
            OpKind::KvWrite => "kv_write",
            OpKind::KvRead => "kv_read",
            OpKind::Copy => "copy",
            OpKind::Read => "read",
            OpKind::Write => "write",
            OpKind::Triad => "triad",
            OpKind::PeakMma => "peak_mma",
            OpKind::L2Read => "l2_read",
            OpKind::Launch => "launch",
            OpKind::H2d => "h2d",
            OpKind::D2h => "d2h",
        }
    }

    /// One line on what the op measures, for `hotpath list`.
    pub fn summary(self) -> &'static str {
        match self {
            OpKind::Gemm => "prefill GEMM C[m,n] = A[m,k]·W[n,k]^T",
            OpKind::Gemv => "decode GEMV (m <= 16), memory-bound on the weights",
            OpKind::AttnPrefill => "prefill attention, online softmax, GQA",
            OpKind::AttnDecode => "decode attention over a paged KV cache, GQA",
            OpKind::KvWrite => "scatter new K/V rows into cache pages",
            OpKind::KvRead => "gather cache pages into contiguous K/V",
            OpKind::Copy => "STREAM copy b = a (bandwidth ceiling)",
            OpKind::Read => "read-only sum of a (read bandwidth ceiling)",
            OpKind::Write => "write-only fill of a (write bandwidth ceiling)",
            OpKind::Triad => "STREAM triad a = b + q*c",
            OpKind::PeakMma => "dependent multiply-add chains (compute ceiling)",
            OpKind::L2Read => {
                "read-only sum of a cache-resident array, many passes in one launch (LLC bandwidth, always hot)"
            }
            OpKind::Launch => "empty kernel (launch overhead)",
            OpKind::H2d => "host-to-device copy from pinned memory (PCIe bandwidth)",
            OpKind::D2h => "device-to-host copy into pinned memory (PCIe bandwidth)",
        }
    }

    /// Shape keys this op accepts, in canonical order.
    pub fn shape_keys(self) -> &'static [ShapeKey] {
        match self {
            OpKind::Gemm | OpKind::Gemv => LINEAR_KEYS,
            OpKind::AttnPrefill => PREFILL_KEYS,
            OpKind::AttnDecode => DECODE_KEYS,
            OpKind::KvWrite | OpKind::KvRead => KV_KEYS,
            OpKind::Copy | OpKind::Read | OpKind::Write | OpKind::Triad => STREAM_KEYS,
            OpKind::PeakMma => PEAK_KEYS,
            OpKind::L2Read => L2_KEYS,
            OpKind::H2d | OpKind::D2h => STREAM_KEYS,
            OpKind::Launch => LAUNCH_KEYS,
        }
    }

    /// What kind of measurement the op is: written once here, asked everywhere else.
    pub fn class(self) -> OpClass {
        match self {
            OpKind::Gemm
            | OpKind::Gemv
            | OpKind::AttnPrefill
            | OpKind::AttnDecode
            | OpKind::KvWrite
            | OpKind::KvRead => OpClass::Model,
            OpKind::Copy | OpKind::Read | OpKind::Write | OpKind::Triad => {
                OpClass::StreamingCeiling
            }
            OpKind::PeakMma => OpClass::ComputeCeiling,
            OpKind::L2Read | OpKind::Launch | OpKind::H2d | OpKind::D2h => OpClass::OffRoofline,
        }
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

    /// The small shape the op's correctness runs use (`hotpath validate`, the input tests): multiples of 128 so every kernel's tiling
    /// applies, big enough to cover more than one block of threads, small enough that the f64
    /// reference takes milliseconds.
    pub fn small_shape(self) -> &'static str {
        match self {
            OpKind::Gemm => "m=128,n=256,k=256",
            OpKind::Gemv => "m=4,n=512,k=512",
            OpKind::AttnPrefill => "seq=128",
            OpKind::AttnDecode => "batch=2,context=512",
            OpKind::KvWrite | OpKind::KvRead => "tokens=256",
            OpKind::Copy
            | OpKind::Read
            | OpKind::Write
            | OpKind::Triad
            | OpKind::H2d
            | OpKind::D2h => "elements=1M",
            OpKind::L2Read => "elements=256K",
            OpKind::Launch => "blocks=1",
            OpKind::PeakMma => "",
        }
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
