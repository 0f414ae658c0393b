//! The two fp8 e4m3 encodings a device may use, and which one runs where.
//!
//! OCP e4m3 (`e4m3`, NVIDIA, gfx950, the CPU): bias 7, largest finite ±448, no infinities,
//! 0x7f/0xff are NaN and 0x80 is −0. Its host codec is [`crate::tensor::fp8_e4m3_to_f32`] /
//! [`crate::tensor::fp8_e4m3_from_f32`].
//!
//! e4m3fnuz (`e4m3fnuz`, AMD gfx940/941/942 — MI300): bias 8, largest finite ±240, no
//! infinities, no negative zero, 0x80 is the only NaN. Every other code is worth half its OCP
//! value, so the codes of values within ±240 ([`crate::ops::KV_FP8_MAX`]) hold the same value
//! set in both encodings (fnuz adds the subnormals k·2⁻¹⁰ of odd k).

use serde::{Deserialize, Serialize};

use crate::dtype::DType;
use crate::op::{OpKind, OpSpec};
use crate::tensor::{fp8_e4m3_from_f32, fp8_e4m3_to_f32};

/// True when `spec` runs on fp8 data, so its result records the encoding that ran: an fp8
/// dtype, `gemv_fp8w`'s weights, or a KV cache in fp8 (`kv_fp8=1`).
pub fn uses_fp8(spec: &OpSpec) -> bool {
    spec.dtype == DType::Fp8E4m3
        || spec.op == OpKind::GemvFp8w
        || spec.dim("kv_fp8").is_ok_and(|v| v == 1)
}

/// Which fp8 e4m3 encoding a tensor's codes (and a device's fp8 kernels) use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Fp8Encoding {
    /// OCP fp8 e4m3 (bias 7, ±448, NaN 0x7f/0xff): NVIDIA, gfx950, the CPU backend.
    #[default]
    #[serde(rename = "e4m3")]
    E4m3,
    /// e4m3fnuz (bias 8, ±240, NaN 0x80 only, no −0): AMD gfx940, gfx941, gfx942.
    #[serde(rename = "e4m3fnuz")]
    E4m3Fnuz,
}

impl Fp8Encoding {
    /// The encoding fp8 kernels built for compiler target `arch` use (`gfx942`,
    /// `gfx942:sramecc+:xnack-`, `sm_90a`, a CPU's `x86_64+avx512f`): e4m3fnuz on gfx940,
    /// gfx941 and gfx942, OCP e4m3 everywhere else.
    pub fn for_arch(arch: &str) -> Fp8Encoding {
        let base = arch.split(':').next().unwrap_or(arch);
        match base {
            "gfx940" | "gfx941" | "gfx942" => Fp8Encoding::E4m3Fnuz,
            _ => Fp8Encoding::E4m3,
        }
    }

    /// The name results files and messages use: `e4m3` or `e4m3fnuz`.
    pub fn name(self) -> &'static str {
        match self {
            Fp8Encoding::E4m3 => "e4m3",
            Fp8Encoding::E4m3Fnuz => "e4m3fnuz",
        }
    }

    /// The largest finite value: 448 (OCP) or 240 (fnuz).
    pub fn max_finite(self) -> f32 {
        match self {
            Fp8Encoding::E4m3 => 448.0,
            Fp8Encoding::E4m3Fnuz => 240.0,
        }
    }

    /// The value of `code`, exactly (NaN for the encoding's NaN codes).
    pub fn decode(self, code: u8) -> f32 {
        match self {
            Fp8Encoding::E4m3 => fp8_e4m3_to_f32(code),
            Fp8Encoding::E4m3Fnuz => fp8_e4m3fnuz_to_f32(code),
        }
    }

    /// The code nearest to `value` (ties to even), saturating at ±[`Fp8Encoding::max_finite`].
    pub fn encode(self, value: f32) -> u8 {
        match self {
            Fp8Encoding::E4m3 => fp8_e4m3_from_f32(value),
            Fp8Encoding::E4m3Fnuz => fp8_e4m3fnuz_from_f32(value),
        }
    }
}

impl std::fmt::Display for Fp8Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Decodes one e4m3fnuz byte: bias 8, exponent field 0 subnormal (m·2⁻¹⁰), 0x80 the only NaN,
/// no infinities, no −0.
pub fn fp8_e4m3fnuz_to_f32(byte: u8) -> f32 {
    if byte == 0x80 {
        return f32::NAN;
    }
    e4m3_value(byte, 8)
}

/// Encodes an f32 as e4m3fnuz, rounding to nearest even and saturating at ±240 (infinities
/// too); NaN gives 0x80, and a value that rounds to zero (−0 included) gives 0x00, since the
/// encoding has no −0. The bit arithmetic of [`fp8_e4m3_from_f32`] with the exponent biased
/// by 8: below the smallest normal (2⁻⁷) the value is a multiple of 2⁻¹⁰, rounded.
pub fn fp8_e4m3fnuz_from_f32(value: f32) -> u8 {
    if value.is_nan() {
        return 0x80;
    }
    let sign = if value.is_sign_negative() { 0x80u8 } else { 0 };
    // |value| ≤ 240 = 1.875·2⁷ keeps the code at or below 0x7f.
    match e4m3_magnitude(value.abs().min(240.0), 8) {
        0 => 0,
        magnitude => sign | magnitude,
    }
}

/// The value of e4m3 code `byte` whose exponent field is biased by `bias` (7 OCP, 8
/// e4m3fnuz), NaN codes aside: field e > 0 is (1 + m/8)·2^(e − bias), e = 0 is
/// m/8·2^(1 − bias).
pub(crate) fn e4m3_value(byte: u8, bias: i32) -> f32 {
    let sign = if byte & 0x80 != 0 { -1.0 } else { 1.0 };
    let exp = ((byte >> 3) & 0x0f) as i32;
    let man = (byte & 0x07) as f32;
    if exp == 0 {
        sign * man / 8.0 * 2f32.powi(1 - bias)
    } else {
        sign * (1.0 + man / 8.0) * 2f32.powi(exp - bias)
    }
}

/// The code (without sign) of magnitude `a` in e4m3 biased by `bias`, rounded to nearest
/// even: below the smallest normal 2^(1 − bias) a multiple of 2^(−2 − bias) (codes 0..8, 8
/// being the smallest normal); above, the exponent re-biased and the mantissa rounded to
/// three bits, a carry moving into the exponent. `a` must be finite and within the
/// encoding's largest value.
pub(crate) fn e4m3_magnitude(a: f32, bias: i32) -> u8 {
    if a < 2f32.powi(1 - bias) {
        return (a * 2f32.powi(bias + 2)).round_ties_even() as u8;
    }
    let bits = a.to_bits();
    let mut exp = (bits >> 23) as i32 - 127;
    let man = bits & 0x7f_ffff;
    let (mut m3, rest) = (man >> 20, man & 0xf_ffff);
    if rest > 0x8_0000 || (rest == 0x8_0000 && m3 & 1 == 1) {
        m3 += 1;
    }
    if m3 == 8 {
        m3 = 0;
        exp += 1;
    }
    (((exp + bias) as u8) << 3) | m3 as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnuz_known_codes() {
        // Bias 8: 0x40 is 2⁰, 0x38 is 2⁻¹, 0x7f is 1.875·2⁷, 0x01 is 2⁻¹⁰.
        assert_eq!(fp8_e4m3fnuz_to_f32(0x40), 1.0);
        assert_eq!(fp8_e4m3fnuz_to_f32(0x38), 0.5);
        assert_eq!(fp8_e4m3fnuz_to_f32(0x7f), 240.0);
        assert_eq!(fp8_e4m3fnuz_to_f32(0xff), -240.0);
        assert_eq!(fp8_e4m3fnuz_to_f32(0x01), 2f32.powi(-10));
        assert_eq!(fp8_e4m3fnuz_to_f32(0x08), 2f32.powi(-7));
        assert_eq!(fp8_e4m3fnuz_to_f32(0xc0), -1.0);
        assert_eq!(fp8_e4m3fnuz_to_f32(0x00), 0.0);
        assert!(fp8_e4m3fnuz_to_f32(0x80).is_nan());
        assert_eq!(fp8_e4m3fnuz_from_f32(1.0), 0x40);
        assert_eq!(fp8_e4m3fnuz_from_f32(-1.0), 0xc0);
        assert_eq!(fp8_e4m3fnuz_from_f32(240.0), 0x7f);
        assert_eq!(fp8_e4m3fnuz_from_f32(448.0), 0x7f);
        assert_eq!(fp8_e4m3fnuz_from_f32(-1000.0), 0xff);
        assert_eq!(fp8_e4m3fnuz_from_f32(f32::INFINITY), 0x7f);
        assert_eq!(fp8_e4m3fnuz_from_f32(f32::NAN), 0x80);
        // No −0: negative zero and negative values that round to zero give 0x00.
        assert_eq!(fp8_e4m3fnuz_from_f32(-0.0), 0x00);
        assert_eq!(fp8_e4m3fnuz_from_f32(-(2f32.powi(-12))), 0x00);
        // 1.0625 is halfway between 1.0 (0x40) and 1.125 (0x41): ties go to even.
        assert_eq!(fp8_e4m3fnuz_from_f32(1.0625), 0x40);
        // 232 is halfway between 224 (0x7e) and 240 (0x7f): to the even 0x7e.
        assert_eq!(fp8_e4m3fnuz_from_f32(232.0), 0x7e);
        // 2⁻¹¹ is halfway between 0 and 2⁻¹⁰: to 0; 3·2⁻¹¹ between 0x01 and 0x02: to 0x02.
        assert_eq!(fp8_e4m3fnuz_from_f32(2f32.powi(-11)), 0x00);
        assert_eq!(fp8_e4m3fnuz_from_f32(3.0 * 2f32.powi(-11)), 0x02);
    }

    #[test]
    fn fnuz_codes_are_half_their_ocp_values() {
        for code in 0u8..=255 {
            if code == 0x80 || code & 0x7f == 0x7f {
                continue; // fnuz NaN; OCP NaN
            }
            assert_eq!(
                fp8_e4m3fnuz_to_f32(code),
                fp8_e4m3_to_f32(code) / 2.0,
                "{code:#04x}"
            );
        }
    }

    /// The nearest code by exhaustive search over the 128 finite non-negative fnuz codes
    /// (ties to the even code), saturating at 240, never −0: the definition the encoder is
    /// held to.
    fn nearest_fnuz(value: f32) -> u8 {
        let target = value.abs().min(240.0);
        let mut best = (0u8, f32::INFINITY);
        for code in 0u8..=0x7f {
            let err = (fp8_e4m3fnuz_to_f32(code) - target).abs();
            if err < best.1 || (err == best.1 && code & 1 == 0) {
                best = (code, err);
            }
        }
        if value.is_sign_negative() && best.0 != 0 {
            0x80 | best.0
        } else {
            best.0
        }
    }

    #[test]
    fn fnuz_encoding_is_the_nearest_code() {
        // Every code's value, every midpoint between neighbours (the ties), points a quarter
        // of the way, and a sweep of ±300 in steps that are not powers of two.
        let mut values = vec![0.0f32, 240.0, 241.0, 248.0, 256.0, 1e9, 1e-12];
        for code in 0u8..0x7f {
            let (lo, hi) = (fp8_e4m3fnuz_to_f32(code), fp8_e4m3fnuz_to_f32(code + 1));
            values.extend([
                lo,
                (lo + hi) / 2.0,
                lo + (hi - lo) / 4.0,
                hi - (hi - lo) / 4.0,
            ]);
        }
        values.extend((0..60_000).map(|i| (i as f32 - 30_000.0) * 0.010_000_7));
        for v in values.iter().flat_map(|&v| [v, -v]) {
            assert_eq!(fp8_e4m3fnuz_from_f32(v), nearest_fnuz(v), "{v:e}");
        }
    }

    #[test]
    fn every_code_round_trips() {
        for enc in [Fp8Encoding::E4m3, Fp8Encoding::E4m3Fnuz] {
            for code in 0u8..=255 {
                let v = enc.decode(code);
                if v.is_nan() || (v == 0.0 && code != 0) {
                    continue; // NaN codes; OCP −0
                }
                assert_eq!(enc.encode(v), code, "{enc} {code:#04x}");
            }
        }
    }

    #[test]
    fn fp8_ops_are_the_fp8_dtype_fp8_weights_and_fp8_caches() {
        let spec = |op, shape, dtype| OpSpec::parse(op, shape, dtype).unwrap();
        assert!(uses_fp8(&spec(
            OpKind::KvRead,
            "tokens=16,kv_fp8=1",
            DType::Bf16
        )));
        assert!(!uses_fp8(&spec(OpKind::KvRead, "tokens=16", DType::Bf16)));
        assert!(uses_fp8(&spec(
            OpKind::GemvFp8w,
            "m=1,n=16,k=16",
            DType::Bf16
        )));
        assert!(uses_fp8(&spec(
            OpKind::Gemm,
            "m=16,n=16,k=16",
            DType::Fp8E4m3
        )));
        assert!(!uses_fp8(&spec(
            OpKind::Gemm,
            "m=16,n=16,k=16",
            DType::Bf16
        )));
        assert!(uses_fp8(&spec(
            OpKind::AttnDecode,
            "context=64,kv_fp8=1",
            DType::Bf16
        )));
    }

    #[test]
    fn gfx94x_run_fnuz_and_everything_else_ocp() {
        for arch in ["gfx940", "gfx941", "gfx942", "gfx942:sramecc+:xnack-"] {
            assert_eq!(Fp8Encoding::for_arch(arch), Fp8Encoding::E4m3Fnuz, "{arch}");
        }
        for arch in [
            "gfx950",
            "gfx90a",
            "gfx908",
            "gfx1100",
            "sm_90a",
            "x86_64+avx512f",
            "",
        ] {
            assert_eq!(Fp8Encoding::for_arch(arch), Fp8Encoding::E4m3, "{arch}");
        }
        assert_eq!(Fp8Encoding::E4m3Fnuz.max_finite(), 240.0);
        assert_eq!(
            serde_json::to_string(&Fp8Encoding::E4m3Fnuz).unwrap(),
            "\"e4m3fnuz\""
        );
        assert_eq!(
            serde_json::from_str::<Fp8Encoding>("\"e4m3\"").unwrap(),
            Fp8Encoding::E4m3
        );
    }
}
