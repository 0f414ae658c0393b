//! Units as types: the one place where seconds, bytes/s and FLOP/s are formatted (decimal).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A duration in seconds.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Seconds(pub f64);

/// A bandwidth in bytes per second (decimal: 1 GB/s = 1e9 B/s).
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct BytesPerSec(pub f64);

/// A compute rate in floating-point operations per second (1 TFLOP/s = 1e12).
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct FlopsPerSec(pub f64);

impl Seconds {
    /// From a std duration.
    pub fn from_duration(d: std::time::Duration) -> Self {
        Seconds(d.as_secs_f64())
    }
}

impl fmt::Display for Seconds {
    /// Three significant digits in s, ms, µs or ns.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        let (v, unit) = if s >= 1.0 {
            (s, "s")
        } else if s >= 1e-3 {
            (s * 1e3, "ms")
        } else if s >= 1e-6 {
            (s * 1e6, "us")
        } else {
            (s * 1e9, "ns")
        };
        write!(f, "{} {unit}", sig3(v))
    }
}

impl BytesPerSec {
    /// In GB/s (1e9 bytes per second).
    pub fn gb_per_s(self) -> f64 {
        self.0 / 1e9
    }
}

impl fmt::Display for BytesPerSec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} GB/s", sig3(self.gb_per_s()))
    }
}

impl FlopsPerSec {
    /// In TFLOP/s (1e12 FLOP per second).
    pub fn tflop_per_s(self) -> f64 {
        self.0 / 1e12
    }
}

impl fmt::Display for FlopsPerSec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} TFLOP/s", sig3(self.tflop_per_s()))
    }
}

/// Formats with three significant digits (no exponent for the ranges hotpath prints).
pub fn sig3(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let mag = v.abs().log10().floor() as i32;
    let decimals = (2 - mag).clamp(0, 6) as usize;
    format!("{v:.decimals$}")
}

/// Formats a byte count in decimal units (B, kB, MB, GB, TB).
pub fn bytes_decimal(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < UNITS.len() {
        v /= 1000.0;
        i += 1;
    }
    format!("{} {}", sig3(v), UNITS[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_formatting() {
        assert_eq!(BytesPerSec(3.35e12).to_string(), "3350 GB/s");
        assert_eq!(BytesPerSec(12.345e9).to_string(), "12.3 GB/s");
        assert_eq!(FlopsPerSec(9.894e14).to_string(), "989 TFLOP/s");
        assert_eq!(Seconds(0.000_012_34).to_string(), "12.3 us");
        assert_eq!(Seconds(0.25).to_string(), "250 ms");
        assert_eq!(bytes_decimal(117_477_376.0), "117 MB");
        assert_eq!(bytes_decimal(50e6), "50.0 MB");
    }
}
