//! The correctness check: a backend's output against the plain reference ([`crate::reference`]),
//! as a normalized mean squared error with a per-dtype tolerance.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::dtype::DType;
use crate::error::Result;
use crate::inputs::{output_shape, Inputs};
use crate::op::OpSpec;
use crate::reference::{self, OpReference};
use crate::tensor::HostTensor;

/// Name recorded as the reference of every check.
pub const REFERENCE_NAME: &str = "cpu-f64";

/// How an output compared with the reference. Serialized into each result's `correctness`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Correctness {
    /// What the output was compared against (`cpu-f64`: core's plain loops in f64).
    pub reference: String,
    /// Σ(out − ref)² ÷ Σ ref² over the checked elements.
    pub nmse: f64,
    /// Largest |out − ref| over the checked elements.
    pub max_abs_err: f64,
    /// True when the output has the right length, no NaN/Inf, and `nmse ≤ tolerance_nmse`.
    pub pass: bool,
    /// The dtype's bound ([`DType::nmse_tolerance`]).
    pub tolerance_nmse: f64,
    /// Output elements compared.
    #[serde(default)]
    pub checked_elements: u64,
    /// Output elements in all.
    #[serde(default)]
    pub total_elements: u64,
    /// Checked elements that were NaN or infinite.
    #[serde(default)]
    pub non_finite: u64,
    /// Why it failed, or how it was sampled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The dtype the output is stored in (`read` sums into one f32).
fn output_dtype(spec: &OpSpec) -> DType {
    crate::ops::def(spec.op).output_dtype(spec)
}

/// Checks `output` of `spec` run on `inputs` against the reference.
pub fn check(spec: &OpSpec, inputs: &Inputs, output: &HostTensor) -> Result<Correctness> {
    let reference = reference::for_spec(spec, inputs, output.len())?;
    Ok(compare(spec, reference.as_ref(), output))
}

/// Compares `output` with `reference` on the blocks [`reference::sample_blocks`] picks.
pub fn compare(spec: &OpSpec, reference: &dyn OpReference, output: &HostTensor) -> Correctness {
    let tolerance = output_dtype(spec).nmse_tolerance();
    let len = reference.block_len();
    let total = reference.blocks() * len;
    let mut result = Correctness {
        reference: REFERENCE_NAME.to_string(),
        nmse: 0.0,
        max_abs_err: 0.0,
        pass: false,
        tolerance_nmse: tolerance,
        checked_elements: 0,
        total_elements: total as u64,
        non_finite: 0,
        note: None,
    };
    if output.len() != total {
        let want = match output_shape(spec) {
            Ok(Some(s)) => format!("{s:?}"),
            Ok(None) | Err(_) => total.to_string(),
        };
        result.note = Some(format!(
            "output has {} elements; expected {total} ({want})",
            output.len()
        ));
        return result;
    }
    let sample = reference::sample_blocks(reference);
    let (err2, ref2, max_abs, bad) = sample
        .blocks
        .par_iter()
        .map(|&b| {
            let want = reference.expected_block(b);
            let mut acc = (0.0f64, 0.0f64, 0.0f64, 0u64);
            for (i, w) in want.iter().enumerate() {
                let got = output.get_f64(b * len + i);
                if !got.is_finite() {
                    acc.3 += 1;
                    continue;
                }
                let e = got - w;
                acc.0 += e * e;
                acc.1 += w * w;
                acc.2 = acc.2.max(e.abs());
            }
            acc
        })
        .reduce(
            || (0.0, 0.0, 0.0, 0),
            |x, y| (x.0 + y.0, x.1 + y.1, x.2.max(y.2), x.3 + y.3),
        );
    result.checked_elements = (sample.blocks.len() * len) as u64;
    result.non_finite = bad;
    result.max_abs_err = max_abs;
    result.nmse = if ref2 > 0.0 {
        err2 / ref2
    } else if err2 == 0.0 {
        0.0
    } else {
        // An all-zero reference: any error is total.
        1.0
    };
    result.pass = bad == 0 && result.nmse <= tolerance;
    let mut notes = vec![];
    if bad > 0 {
        notes.push(format!("{bad} checked elements are NaN or infinite"));
    }
    if result.nmse > tolerance {
        notes.push(format!(
            "nmse {:.3e} exceeds the {} tolerance {:.0e}",
            result.nmse,
            output_dtype(spec),
            tolerance
        ));
    }
    if sample.sampled {
        notes.push(format!(
            "sampled {} of {} output blocks of {len} elements, evenly spread",
            sample.blocks.len(),
            reference.blocks()
        ));
    }
    result.note = (!notes.is_empty()).then(|| notes.join("; "));
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs::generate;
    use crate::op::OpKind;

    fn gemm_output(spec: &OpSpec, inputs: &Inputs) -> Vec<f32> {
        // A second, independent way to the same numbers: f32 loops in i-k-j order.
        let s = crate::ops::LinearShape::of(spec).unwrap();
        let (m, n, k) = (s.m as usize, s.n as usize, s.k as usize);
        let a = inputs.get("a").unwrap().to_f32_vec();
        let w = inputs.get("w").unwrap().to_f32_vec();
        let mut c = vec![0f32; m * n];
        for i in 0..m {
            for p in 0..k {
                for j in 0..n {
                    c[i * n + j] += a[i * k + p] * w[j * k + p];
                }
            }
        }
        c
    }

    #[test]
    fn a_correct_gemm_passes_and_a_perturbed_one_fails() {
        let spec = OpSpec::parse(OpKind::Gemm, "m=7,n=9,k=33", DType::F32).unwrap();
        let inputs = generate(&spec, 1).unwrap();
        let c = gemm_output(&spec, &inputs);
        let ok = check(
            &spec,
            &inputs,
            &HostTensor::from_f32("c", vec![7, 9], DType::F32, &c),
        )
        .unwrap();
        assert!(ok.pass && ok.nmse < 1e-12, "{ok:?}");
        assert_eq!((ok.checked_elements, ok.total_elements), (63, 63));
        let mut bad = c.clone();
        bad[62] += 0.5;
        let r = check(
            &spec,
            &inputs,
            &HostTensor::from_f32("c", vec![7, 9], DType::F32, &bad),
        )
        .unwrap();
        assert!(!r.pass);
        assert!((r.max_abs_err - 0.5).abs() < 1e-5, "{r:?}");
        assert!(r.note.unwrap().contains("exceeds"));
    }

    #[test]
    fn bf16_rounding_of_the_output_passes_its_tolerance() {
        let spec = OpSpec::parse(OpKind::Gemv, "m=2,n=40,k=100", DType::Bf16).unwrap();
        let inputs = generate(&spec, 2).unwrap();
        let c = gemm_output(&spec, &inputs);
        let out = HostTensor::from_f32("c", vec![2, 40], DType::Bf16, &c);
        let r = check(&spec, &inputs, &out).unwrap();
        assert!(r.pass && r.nmse > 0.0 && r.nmse < 1e-4, "{r:?}");
    }

    #[test]
    fn nan_and_wrong_length_fail() {
        let spec = OpSpec::parse(OpKind::Copy, "elements=5", DType::F32).unwrap();
        let inputs = generate(&spec, 3).unwrap();
        let mut a = inputs.get("a").unwrap().to_f32_vec();
        a[2] = f32::NAN;
        let r = check(
            &spec,
            &inputs,
            &HostTensor::from_f32("b", vec![5], DType::F32, &a),
        )
        .unwrap();
        assert!(!r.pass && r.non_finite == 1, "{r:?}");
        let r = check(
            &spec,
            &inputs,
            &HostTensor::from_f32("b", vec![4], DType::F32, &a[..4]),
        )
        .unwrap();
        assert!(!r.pass && r.note.unwrap().contains("expected 5"));
    }

    #[test]
    fn read_sum_and_peak_chain() {
        let spec = OpSpec::parse(OpKind::Read, "elements=1000", DType::Bf16).unwrap();
        let inputs = generate(&spec, 4).unwrap();
        let sum: f32 = inputs.get("a").unwrap().to_f32_vec().iter().sum();
        let r = check(
            &spec,
            &inputs,
            &HostTensor::from_f32("sum", vec![1], DType::F32, &[sum]),
        )
        .unwrap();
        assert!(r.pass, "{r:?}");
        let spec = OpSpec::parse(OpKind::PeakMma, "iters=4096", DType::F32).unwrap();
        let mut x = 0f32;
        for _ in 0..4096 {
            x = x.mul_add(crate::inputs::PEAK_ALPHA, crate::inputs::PEAK_BETA);
        }
        let lanes = HostTensor::from_f32("x", vec![16], DType::F32, &[x; 16]);
        let r = check(
            &spec,
            &Inputs {
                fp8: Default::default(),
                tensors: vec![],
            },
            &lanes,
        )
        .unwrap();
        assert!(r.pass && r.checked_elements == 16, "{r:?}");
    }
}
