//! Host-side tensors: the inputs every backend uploads and the outputs it returns for checking.

use half::{bf16, f16};

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::fp8::{fp8_e4m3fnuz_to_f32, Fp8Encoding};

/// Element storage of a host tensor.
#[derive(Clone, Debug, PartialEq)]
pub enum HostData {
    /// f32 elements.
    F32(Vec<f32>),
    /// f16 elements.
    F16(Vec<f16>),
    /// bf16 elements.
    Bf16(Vec<bf16>),
    /// fp8 e4m3 elements as raw bytes, OCP encoding ([`Fp8Encoding::E4m3`]).
    Fp8E4m3(Vec<u8>),
    /// fp8 e4m3 elements as raw bytes, e4m3fnuz encoding ([`Fp8Encoding::E4m3Fnuz`]: AMD
    /// gfx940/941/942); dtype [`DType::Fp8E4m3`] as the OCP codes.
    Fp8E4m3Fnuz(Vec<u8>),
    /// 32-bit indices (block tables, slot mappings).
    I32(Vec<i32>),
    /// 32-bit words of packed sub-byte values (int4 weights and zero points, eight to a
    /// word; the op that owns the tensor documents the packing).
    U32(Vec<u32>),
}

impl HostData {
    /// fp8 `codes` of encoding `fp8`.
    pub fn fp8(fp8: Fp8Encoding, codes: Vec<u8>) -> HostData {
        match fp8 {
            Fp8Encoding::E4m3 => HostData::Fp8E4m3(codes),
            Fp8Encoding::E4m3Fnuz => HostData::Fp8E4m3Fnuz(codes),
        }
    }
}

/// A named, row-major host tensor.
#[derive(Clone, Debug, PartialEq)]
pub struct HostTensor {
    /// Name of the tensor within its op (`a`, `w`, `q`, `k_cache`, `block_table`, ...).
    pub name: &'static str,
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Elements; their count equals the product of `shape`.
    pub data: HostData,
}

impl HostTensor {
    /// Builds a tensor of `dtype` from f32 values, rounding to nearest even (fp8 in OCP e4m3).
    pub fn from_f32(name: &'static str, shape: Vec<usize>, dtype: DType, values: &[f32]) -> Self {
        Self::from_f32_in(name, shape, dtype, Fp8Encoding::E4m3, values)
    }

    /// Builds a tensor of `dtype` from f32 values, rounding to nearest even; an fp8 tensor
    /// holds codes of `fp8` (saturated at its largest finite value).
    pub fn from_f32_in(
        name: &'static str,
        shape: Vec<usize>,
        dtype: DType,
        fp8: Fp8Encoding,
        values: &[f32],
    ) -> Self {
        let data = match dtype {
            DType::F32 => HostData::F32(values.to_vec()),
            DType::F16 => HostData::F16(values.iter().map(|&v| f16::from_f32(v)).collect()),
            DType::Bf16 => HostData::Bf16(values.iter().map(|&v| bf16::from_f32(v)).collect()),
            DType::Fp8E4m3 => HostData::fp8(fp8, values.iter().map(|&v| fp8.encode(v)).collect()),
        };
        HostTensor { name, shape, data }
    }

    /// Builds an index tensor.
    pub fn from_i32(name: &'static str, shape: Vec<usize>, values: Vec<i32>) -> Self {
        HostTensor {
            name,
            shape,
            data: HostData::I32(values),
        }
    }

    /// Builds a tensor of packed 32-bit words.
    pub fn from_u32(name: &'static str, shape: Vec<usize>, words: Vec<u32>) -> Self {
        HostTensor {
            name,
            shape,
            data: HostData::U32(words),
        }
    }

    /// Number of elements (words, for packed tensors).
    pub fn len(&self) -> usize {
        match &self.data {
            HostData::F32(v) => v.len(),
            HostData::F16(v) => v.len(),
            HostData::Bf16(v) => v.len(),
            HostData::Fp8E4m3(v) | HostData::Fp8E4m3Fnuz(v) => v.len(),
            HostData::I32(v) => v.len(),
            HostData::U32(v) => v.len(),
        }
    }

    /// True when the tensor holds no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The floating-point dtype, or `None` for index and packed tensors.
    pub fn dtype(&self) -> Option<DType> {
        match &self.data {
            HostData::F32(_) => Some(DType::F32),
            HostData::F16(_) => Some(DType::F16),
            HostData::Bf16(_) => Some(DType::Bf16),
            HostData::Fp8E4m3(_) | HostData::Fp8E4m3Fnuz(_) => Some(DType::Fp8E4m3),
            HostData::I32(_) | HostData::U32(_) => None,
        }
    }

    /// Size of the element storage in bytes.
    pub fn size_bytes(&self) -> u64 {
        let elem = self.dtype().map(DType::size_bytes).unwrap_or(4);
        self.len() as u64 * elem
    }

    /// Element `i` widened to f64 (indices included). Panics only on an index out of range,
    /// which is a programming error, never an input error.
    pub fn get_f64(&self, i: usize) -> f64 {
        match &self.data {
            HostData::F32(v) => v[i] as f64,
            HostData::F16(v) => v[i].to_f64(),
            HostData::Bf16(v) => v[i].to_f64(),
            HostData::Fp8E4m3(v) => fp8_e4m3_to_f32(v[i]) as f64,
            HostData::Fp8E4m3Fnuz(v) => fp8_e4m3fnuz_to_f32(v[i]) as f64,
            HostData::I32(v) => v[i] as f64,
            HostData::U32(v) => v[i] as f64,
        }
    }

    /// All elements widened to f32.
    pub fn to_f32_vec(&self) -> Vec<f32> {
        match &self.data {
            HostData::F32(v) => v.clone(),
            HostData::F16(v) => v.iter().map(|x| x.to_f32()).collect(),
            HostData::Bf16(v) => v.iter().map(|x| x.to_f32()).collect(),
            HostData::Fp8E4m3(v) => v.iter().map(|&x| fp8_e4m3_to_f32(x)).collect(),
            HostData::Fp8E4m3Fnuz(v) => v.iter().map(|&x| fp8_e4m3fnuz_to_f32(x)).collect(),
            HostData::I32(v) => v.iter().map(|&x| x as f32).collect(),
            HostData::U32(v) => v.iter().map(|&x| x as f32).collect(),
        }
    }

    /// The indices of an index tensor as usize, each checked to lie in `0..limit`.
    pub fn indices(&self, limit: usize) -> Result<Vec<usize>> {
        self.as_i32()?
            .iter()
            .map(|&i| {
                usize::try_from(i)
                    .ok()
                    .filter(|&u| u < limit)
                    .ok_or_else(|| {
                        Error::backend(format!(
                            "index tensor '{}' holds {i}, outside 0..{limit}",
                            self.name
                        ))
                    })
            })
            .collect()
    }

    /// The elements as little-endian bytes, as a device stores them.
    pub fn to_le_bytes(&self) -> Vec<u8> {
        match &self.data {
            HostData::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            HostData::F16(v) => v.iter().flat_map(|x| x.to_bits().to_le_bytes()).collect(),
            HostData::Bf16(v) => v.iter().flat_map(|x| x.to_bits().to_le_bytes()).collect(),
            HostData::Fp8E4m3(v) | HostData::Fp8E4m3Fnuz(v) => v.clone(),
            HostData::I32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            HostData::U32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
        }
    }

    /// A tensor of `dtype` and `shape` rebuilt from little-endian bytes (read back from a device).
    pub fn from_le_bytes(
        name: &'static str,
        shape: Vec<usize>,
        dtype: DType,
        bytes: &[u8],
    ) -> HostTensor {
        let len: usize = shape.iter().product();
        let take = |size: usize| bytes.chunks_exact(size).take(len);
        let data = match dtype {
            DType::F32 => HostData::F32(
                take(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
            ),
            DType::F16 => HostData::F16(
                take(2)
                    .map(|b| f16::from_bits(u16::from_le_bytes([b[0], b[1]])))
                    .collect(),
            ),
            DType::Bf16 => HostData::Bf16(
                take(2)
                    .map(|b| bf16::from_bits(u16::from_le_bytes([b[0], b[1]])))
                    .collect(),
            ),
            DType::Fp8E4m3 => HostData::Fp8E4m3(bytes.iter().take(len).copied().collect()),
        };
        HostTensor { name, shape, data }
    }

    /// The codes of an OCP fp8 e4m3 tensor (what the CPU kernels decode); an e4m3fnuz
    /// tensor is refused, since its codes mean other values ([`HostTensor::fp8_codes`] takes
    /// either).
    pub fn as_fp8(&self) -> Result<&[u8]> {
        match self.fp8_codes()? {
            (Fp8Encoding::E4m3, v) => Ok(v),
            (Fp8Encoding::E4m3Fnuz, _) => Err(Error::backend(format!(
                "tensor '{}' holds e4m3fnuz codes, which this path would decode as OCP e4m3",
                self.name
            ))),
        }
    }

    /// The codes of an fp8 tensor and their encoding.
    pub fn fp8_codes(&self) -> Result<(Fp8Encoding, &[u8])> {
        match &self.data {
            HostData::Fp8E4m3(v) => Ok((Fp8Encoding::E4m3, v)),
            HostData::Fp8E4m3Fnuz(v) => Ok((Fp8Encoding::E4m3Fnuz, v)),
            _ => Err(Error::backend(format!(
                "tensor '{}' is not an fp8_e4m3 tensor",
                self.name
            ))),
        }
    }

    /// The same tensor with its fp8 codes read as `fp8` codes (the bytes are kept; only
    /// what they mean changes): a device's fp8 output is codes of the device's encoding.
    /// Tensors of other dtypes are returned as they are.
    pub fn with_fp8_encoding(self, fp8: Fp8Encoding) -> HostTensor {
        let data = match self.data {
            HostData::Fp8E4m3(v) | HostData::Fp8E4m3Fnuz(v) => HostData::fp8(fp8, v),
            other => other,
        };
        HostTensor { data, ..self }
    }

    /// The words of a packed tensor.
    pub fn as_u32(&self) -> Result<&[u32]> {
        match &self.data {
            HostData::U32(v) => Ok(v),
            _ => Err(Error::backend(format!(
                "tensor '{}' is not a packed tensor",
                self.name
            ))),
        }
    }

    /// The indices of an index tensor.
    pub fn as_i32(&self) -> Result<&[i32]> {
        match &self.data {
            HostData::I32(v) => Ok(v),
            _ => Err(Error::backend(format!(
                "tensor '{}' is not an index tensor",
                self.name
            ))),
        }
    }
}

/// Decodes one OCP fp8 E4M3 byte (bias 7, no infinities, S.1111.111 is NaN).
pub fn fp8_e4m3_to_f32(byte: u8) -> f32 {
    if byte & 0x7f == 0x7f {
        return f32::NAN;
    }
    crate::fp8::e4m3_value(byte, 7)
}

/// Encodes an f32 as OCP fp8 E4M3, rounding to nearest even and saturating at ±448 (NaN
/// stays NaN, 0x7f). Bit arithmetic on the f32: the exponent re-biased, the mantissa rounded
/// to three bits; below the smallest normal (2⁻⁶) the value is a multiple of 2⁻⁹, rounded.
pub fn fp8_e4m3_from_f32(value: f32) -> u8 {
    if value.is_nan() {
        return 0x7f;
    }
    let sign = if value.is_sign_negative() { 0x80u8 } else { 0 };
    // |value| ≤ 448 = 1.75·2⁸ keeps the code at or below 0x7e.
    sign | crate::fp8::e4m3_magnitude(value.abs().min(448.0), 7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fp8_e4m3_known_codes() {
        // Values from the OCP 8-bit floating point spec.
        assert_eq!(fp8_e4m3_to_f32(0x7e), 448.0);
        assert_eq!(fp8_e4m3_to_f32(0x38), 1.0);
        assert_eq!(fp8_e4m3_to_f32(0x01), 2f32.powi(-9));
        assert_eq!(fp8_e4m3_to_f32(0xb8), -1.0);
        assert!(fp8_e4m3_to_f32(0x7f).is_nan());
        assert_eq!(fp8_e4m3_from_f32(1.0), 0x38);
        assert_eq!(fp8_e4m3_from_f32(1000.0), 0x7e);
        assert_eq!(fp8_e4m3_from_f32(-1.0), 0xb8);
        // 1.0625 is halfway between 1.0 (0x38) and 1.125 (0x39): ties go to even.
        assert_eq!(fp8_e4m3_from_f32(1.0625), 0x38);
    }

    /// The nearest code by exhaustive search over the 127 finite non-negative codes (ties to
    /// the even code), saturating at 448: the definition the encoder is held to.
    fn nearest_code(value: f32) -> u8 {
        let sign = if value.is_sign_negative() { 0x80u8 } else { 0 };
        let target = value.abs().min(448.0);
        let mut best = (0u8, f32::INFINITY);
        for code in 0u8..0x7f {
            let err = (fp8_e4m3_to_f32(code) - target).abs();
            if err < best.1 || (err == best.1 && code & 1 == 0) {
                best = (code, err);
            }
        }
        sign | best.0
    }

    #[test]
    fn fp8_e4m3_encoding_is_the_nearest_code() {
        // Every code's value, every midpoint between neighbours (the ties), points a quarter
        // of the way, and a sweep of ±600 in steps that are not powers of two.
        let mut values = vec![0.0f32, -0.0, 448.0, 449.0, 464.0, 480.0, 1e9, 1e-12];
        for code in 0u8..0x7e {
            let (lo, hi) = (fp8_e4m3_to_f32(code), fp8_e4m3_to_f32(code + 1));
            values.extend([
                lo,
                (lo + hi) / 2.0,
                lo + (hi - lo) / 4.0,
                hi - (hi - lo) / 4.0,
            ]);
        }
        values.extend((0..120_000).map(|i| (i as f32 - 60_000.0) * 0.010_000_7));
        for v in values.iter().flat_map(|&v| [v, -v]) {
            assert_eq!(fp8_e4m3_from_f32(v), nearest_code(v), "{v:e}");
        }
        assert_eq!(fp8_e4m3_from_f32(f32::NAN), 0x7f);
    }

    #[test]
    fn rounding_into_half_types() {
        let t = HostTensor::from_f32("x", vec![2], DType::Bf16, &[1.0, 1.0 + 1.0 / 512.0]);
        // 1 + 2^-9 is halfway between bf16 neighbours 1 and 1 + 2^-7... rounds to 1.
        assert_eq!(t.get_f64(1), 1.0);
        assert_eq!(t.size_bytes(), 4);
        assert_eq!(t.dtype(), Some(DType::Bf16));
    }
}
