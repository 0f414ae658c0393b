//! References of the STREAM-style ceilings (copy, read, write, triad) and of the
//! `peak_mma` multiply-add chain.

use rayon::prelude::*;

use super::{expect_len, OpReference};
use crate::dtype::DType;
use crate::error::Result;
use crate::inputs::{Inputs, PEAK_ALPHA, PEAK_BETA, PEAK_MMA_STEP, TRIAD_SCALAR, WRITE_VALUE};
use crate::tensor::HostTensor;

/// What a streaming ceiling computes per element.
enum Kind<'a> {
    /// b = a (`copy`, `h2d`, `d2h`).
    Copy(&'a HostTensor),
    /// One sum of `passes` reads of a (`read`, `l2_read`).
    Sum(&'a HostTensor, f64),
    /// a = b + q·c (`triad`).
    Triad(&'a HostTensor, &'a HostTensor),
    /// a = [`WRITE_VALUE`] (`write`).
    Fill,
}

/// Reference of the streaming ceilings, one element per block (a sum: one block).
pub struct Stream<'a> {
    kind: Kind<'a>,
    elements: usize,
}

/// Input `name` of `inputs`, checked to hold `n` elements.
fn bind<'a>(inputs: &'a Inputs, name: &str, n: usize) -> Result<&'a HostTensor> {
    let t = inputs.get(name)?;
    expect_len(t, n)?;
    Ok(t)
}

impl<'a> Stream<'a> {
    /// b = a over `n` elements of input `a`.
    pub fn copy(inputs: &'a Inputs, n: usize) -> Result<Self> {
        Ok(Stream {
            kind: Kind::Copy(bind(inputs, "a", n)?),
            elements: n,
        })
    }

    /// The sum of `passes` reads of input `a` (`n` elements).
    pub fn sum(inputs: &'a Inputs, n: usize, passes: u64) -> Result<Self> {
        Ok(Stream {
            kind: Kind::Sum(bind(inputs, "a", n)?, passes as f64),
            elements: n,
        })
    }

    /// a = b + q·c over `n` elements.
    pub fn triad(inputs: &'a Inputs, n: usize) -> Result<Self> {
        Ok(Stream {
            kind: Kind::Triad(bind(inputs, "b", n)?, bind(inputs, "c", n)?),
            elements: n,
        })
    }

    /// `n` elements of [`WRITE_VALUE`].
    pub fn fill(n: usize) -> Self {
        Stream {
            kind: Kind::Fill,
            elements: n,
        }
    }
}

impl OpReference for Stream<'_> {
    fn blocks(&self) -> usize {
        match self.kind {
            Kind::Sum(..) => 1,
            Kind::Copy(_) | Kind::Triad(..) | Kind::Fill => self.elements,
        }
    }

    fn block_len(&self) -> usize {
        1
    }

    fn block_cost(&self) -> f64 {
        match self.kind {
            Kind::Sum(..) => self.elements as f64,
            Kind::Copy(_) | Kind::Triad(..) | Kind::Fill => 1.0,
        }
    }

    fn compute(&self, block: usize, out: &mut [f64]) {
        out[0] = match self.kind {
            Kind::Copy(a) => a.get_f64(block),
            Kind::Sum(a, passes) => {
                passes
                    * (0..self.elements)
                        .into_par_iter()
                        .map(|i| a.get_f64(i))
                        .sum::<f64>()
            }
            Kind::Triad(b, c) => b.get_f64(block) + TRIAD_SCALAR as f64 * c.get_f64(block),
            Kind::Fill => WRITE_VALUE as f64,
        };
    }
}

/// Reference of `launch`: the empty kernel has no output, so there is nothing to compare.
pub struct Nothing;

impl OpReference for Nothing {
    fn blocks(&self) -> usize {
        0
    }

    fn block_len(&self) -> usize {
        1
    }

    fn block_cost(&self) -> f64 {
        0.0
    }

    fn compute(&self, _: usize, _: &mut [f64]) {}
}

/// Reference of `peak_mma`. In f32 every lane runs `x ← x·α + β` `iters` times from 0,
/// which in exact arithmetic ends at `1 − αⁱᵗᵉʳˢ` (β = 1 − α). In f16/bf16/fp8 the matrix
/// units add `A·I` with every A entry 2⁻⁶ per step, so every lane ends at `iters·2⁻⁶`.
pub struct PeakChain {
    value: f64,
    lanes: usize,
}

impl PeakChain {
    /// The closed form for `iters` steps at `dtype`, for an output of `lanes` values.
    pub fn new(dtype: DType, iters: u64, lanes: usize) -> PeakChain {
        let value = if dtype == DType::F32 {
            let alpha = PEAK_ALPHA as f64;
            debug_assert_eq!(PEAK_BETA as f64, 1.0 - alpha);
            1.0 - alpha.powf(iters as f64)
        } else {
            iters as f64 * PEAK_MMA_STEP as f64
        };
        PeakChain { value, lanes }
    }
}

impl OpReference for PeakChain {
    fn blocks(&self) -> usize {
        self.lanes
    }

    fn block_len(&self) -> usize {
        1
    }

    fn block_cost(&self) -> f64 {
        1.0
    }

    fn compute(&self, _: usize, out: &mut [f64]) {
        out[0] = self.value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::op::{OpKind, OpSpec};

    #[test]
    fn peak_chain_closed_form_matches_iterating() {
        // Iterate the recurrence in f64 and compare to 1 − αⁿ.
        for iters in [0u64, 1, 2, 10, 1000] {
            let mut x = 0.0f64;
            for _ in 0..iters {
                x = x * PEAK_ALPHA as f64 + PEAK_BETA as f64;
            }
            let out = PeakChain::new(DType::F32, iters, 1).expected_block(0);
            assert!(
                (out[0] - x).abs() < 1e-12,
                "iters {iters}: {} vs {x}",
                out[0]
            );
        }
    }

    #[test]
    fn triad_read_and_write_by_hand() {
        let inputs = Inputs {
            fp8: Default::default(),
            tensors: vec![
                HostTensor::from_f32("a", vec![3], DType::F32, &[0.25, 0.5, 0.125]),
                HostTensor::from_f32("b", vec![3], DType::F32, &[1.0, 2.0, 3.0]),
                HostTensor::from_f32("c", vec![3], DType::F32, &[4.0, -2.0, 0.0]),
            ],
        };
        let one = |op: OpKind, block: usize| {
            let spec = OpSpec::parse(op, "elements=3", DType::F32).unwrap();
            let r = crate::ops::def(op).reference(&spec, &inputs, 1).unwrap();
            r.expected_block(block)[0]
        };
        // a = b + 0.5·c
        assert_eq!(one(OpKind::Triad, 0), 3.0);
        assert_eq!(one(OpKind::Triad, 1), 1.0);
        assert_eq!(one(OpKind::Read, 0), 0.875);
        assert_eq!(one(OpKind::Write, 2), 1.25);
        assert_eq!(one(OpKind::Copy, 1), 0.5);
    }
}
