//! The token-embedding gather (`embedding`): row copies from the table, parallel over
//! tokens; an id outside the table gives a row of zeros.

use rayon::prelude::*;

use hotpath_core::ops::EmbeddingShape;
use hotpath_core::{HostTensor, Inputs, OpSpec, Result};

use super::{tensor, HostElem, Kernel};
use crate::kernels::output::output_buffer;

struct Set<E> {
    table: Vec<E>,
    out: Vec<E>,
}

/// The embedding gather.
pub struct Embedding<E> {
    ids: Vec<i32>,
    hidden: usize,
    sets: Vec<Set<E>>,
}

/// Builds the kernel with `sets` rotation sets.
pub fn build<E: HostElem>(spec: &OpSpec, inputs: &Inputs, sets: usize) -> Result<Box<dyn Kernel>> {
    let p = EmbeddingShape::of(spec)?;
    let (t, h) = (p.tokens as usize, p.hidden as usize);
    let ids = inputs.get("ids")?.as_i32()?.to_vec();
    let table = E::slice(inputs.get("table")?)?;
    let sets = (0..sets)
        .into_par_iter()
        .map(|_| Set {
            table: table.to_vec(),
            out: output_buffer(t * h),
        })
        .collect();
    Ok(Box::new(Embedding {
        ids,
        hidden: h,
        sets,
    }))
}

impl<E: HostElem> Kernel for Embedding<E> {
    fn run(&mut self, set: usize) -> Result<()> {
        let h = self.hidden;
        let s = &mut self.sets[set];
        let table = &s.table;
        s.out
            .par_chunks_mut(h)
            .zip(self.ids.par_iter())
            .for_each(|(dst, &id)| {
                match usize::try_from(id)
                    .ok()
                    .and_then(|r| table.get(r * h..(r + 1) * h))
                {
                    Some(row) => dst.copy_from_slice(row),
                    None => dst.fill(E::default()),
                }
            });
        Ok(())
    }

    fn output(&self, set: usize) -> HostTensor {
        tensor(
            "out",
            vec![self.ids.len(), self.hidden],
            self.sets[set].out.clone(),
        )
    }
}
