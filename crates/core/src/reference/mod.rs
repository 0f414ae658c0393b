//! Plain reference implementations: straightforward loops accumulating in f64, written for
//! obviousness, not speed. Every backend's output (the CPU backend's own fast kernels
//! included) is checked against them.
//!
//! A reference splits the output into equal contiguous *blocks* (one GEMM element, one
//! attention row of `head_dim` values, one KV-cache slot, ...) that it can compute one at a
//! time. Small problems are checked in full; large ones on a deterministic, evenly spread
//! sample of blocks that always includes the first and the last (see [`sample_blocks`]).

pub(crate) mod attention;
pub(crate) mod kv;
pub(crate) mod linear;
pub(crate) mod stream;

use crate::error::{Error, Result};
use crate::inputs::Inputs;
use crate::op::OpSpec;
use crate::tensor::HostTensor;

/// Multiply-adds the reference may spend on one check before it samples.
pub const CHECK_BUDGET_MACS: f64 = 1.5e8;
/// Most blocks checked, whatever their cost.
pub const MAX_CHECKED_BLOCKS: usize = 1 << 22;
/// Fewest blocks checked when sampling (as long as the output has that many).
pub const MIN_SAMPLED_BLOCKS: usize = 64;

/// The reference of one op: how its output divides into blocks and how to compute one.
pub trait OpReference: Sync {
    /// Number of blocks in the output.
    fn blocks(&self) -> usize;
    /// Output elements per block; block `b` covers elements `b·len .. (b+1)·len`.
    fn block_len(&self) -> usize;
    /// Approximate multiply-adds (or element reads) needed to compute one block.
    fn block_cost(&self) -> f64;
    /// Writes the expected values of block `block` into `out` (`block_len` long).
    fn compute(&self, block: usize, out: &mut [f64]);

    /// The expected values of block `block`, in a new vector.
    fn expected_block(&self, block: usize) -> Vec<f64> {
        let mut out = vec![0.0; self.block_len()];
        self.compute(block, &mut out);
        out
    }

    /// The whole expected output: every block in order (`blocks · block_len` values).
    fn expected_output(&self) -> Vec<f64> {
        let mut out = vec![0.0; self.blocks() * self.block_len()];
        if self.block_len() > 0 {
            for (b, chunk) in out.chunks_mut(self.block_len()).enumerate() {
                self.compute(b, chunk);
            }
        }
        out
    }
}

/// The reference for `spec` on `inputs`. `output_len` is only consulted for `peak_mma`,
/// whose number of lanes the backend chooses.
pub fn for_spec<'a>(
    spec: &OpSpec,
    inputs: &'a Inputs,
    output_len: usize,
) -> Result<Box<dyn OpReference + 'a>> {
    crate::ops::def(spec.op).reference(spec, inputs, output_len)
}

/// Which blocks a check computes.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckSample {
    /// Block indices, ascending, no duplicates.
    pub blocks: Vec<usize>,
    /// True when not every block is checked.
    pub sampled: bool,
}

/// Chooses the blocks to check: all of them when the whole output fits the budget,
/// otherwise an evenly spread, deterministically jittered sample including both ends.
pub fn sample_blocks(reference: &dyn OpReference) -> CheckSample {
    let n = reference.blocks();
    let cost = reference.block_cost().max(1.0);
    if n as f64 * cost <= CHECK_BUDGET_MACS && n <= MAX_CHECKED_BLOCKS {
        return CheckSample {
            blocks: (0..n).collect(),
            sampled: false,
        };
    }
    let want = ((CHECK_BUDGET_MACS / cost) as usize)
        .clamp(MIN_SAMPLED_BLOCKS, MAX_CHECKED_BLOCKS)
        .min(n);
    let mut blocks: Vec<usize> = (0..want)
        .map(|i| {
            let start = (i as u128 * n as u128 / want as u128) as usize;
            let end = ((i as u128 + 1) * n as u128 / want as u128) as usize;
            let span = (end - start).max(1);
            // splitmix64 of i: a fixed, well-spread offset inside the stride.
            let mut z = (i as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            if i == 0 {
                0
            } else {
                start + (z % span as u64) as usize
            }
        })
        .collect();
    blocks.push(n - 1);
    blocks.sort_unstable();
    blocks.dedup();
    CheckSample {
        sampled: blocks.len() < n,
        blocks,
    }
}

/// Reads `len` elements of `t` starting at `start` into `out`, widened to f64.
pub(crate) fn load(t: &HostTensor, start: usize, out: &mut [f64]) {
    for (i, o) in out.iter_mut().enumerate() {
        *o = t.get_f64(start + i);
    }
}

/// Checks that tensor `t` holds exactly `want` elements.
pub(crate) fn expect_len(t: &HostTensor, want: usize) -> Result<()> {
    if t.len() != want {
        return Err(Error::backend(format!(
            "input tensor '{}' has {} elements; the layout needs {want}",
            t.name,
            t.len()
        )));
    }
    Ok(())
}

/// Checks that every index of `t` lies in `0..limit` and returns them as usize.
pub(crate) fn indices(t: &HostTensor, limit: usize) -> Result<Vec<usize>> {
    t.indices(limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake {
        n: usize,
        cost: f64,
    }

    impl OpReference for Fake {
        fn blocks(&self) -> usize {
            self.n
        }
        fn block_len(&self) -> usize {
            1
        }
        fn block_cost(&self) -> f64 {
            self.cost
        }
        fn compute(&self, _: usize, out: &mut [f64]) {
            out.fill(0.0);
        }
    }

    #[test]
    fn small_outputs_are_checked_in_full() {
        let p = sample_blocks(&Fake {
            n: 1000,
            cost: 4096.0,
        });
        assert!(!p.sampled);
        assert_eq!(p.blocks, (0..1000).collect::<Vec<_>>());
    }

    #[test]
    fn large_outputs_are_sampled_evenly_with_both_ends() {
        // 8192² GEMM elements at k = 8192: the budget buys 1.5e8 / 8192 = 18310 blocks.
        let n = 8192 * 8192;
        let p = sample_blocks(&Fake { n, cost: 8192.0 });
        assert!(p.sampled);
        assert_eq!(p.blocks[0], 0);
        assert_eq!(*p.blocks.last().unwrap(), n - 1);
        assert!(
            (18_000..=18_311).contains(&p.blocks.len()),
            "{}",
            p.blocks.len()
        );
        // Evenly spread: every sixteenth of the output holds about a sixteenth of the sample.
        for part in 0..16 {
            let lo = part * n / 16;
            let hi = (part + 1) * n / 16;
            let count = p.blocks.iter().filter(|&&b| b >= lo && b < hi).count();
            assert!((1100..=1190).contains(&count), "part {part}: {count}");
        }
        assert!(p.blocks.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn expensive_blocks_still_get_a_minimum_sample() {
        let p = sample_blocks(&Fake {
            n: 10_000,
            cost: 1e9,
        });
        assert_eq!(p.blocks.len(), MIN_SAMPLED_BLOCKS + 1);
    }
}
