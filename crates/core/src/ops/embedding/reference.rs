//! Reference of `embedding`: row `t` of the output is row `ids[t]` of the table, or zeros
//! for an id outside the table.

use super::EmbeddingShape;
use crate::error::Result;
use crate::inputs::Inputs;
use crate::op::OpSpec;
use crate::reference::{expect_len, load, OpReference};
use crate::tensor::HostTensor;

/// Reference of `embedding`: one output row per block.
pub struct Embedding<'a> {
    ids: &'a [i32],
    table: &'a HostTensor,
    hidden: usize,
    vocab: usize,
}

impl<'a> Embedding<'a> {
    /// Binds the inputs and checks their sizes.
    pub fn new(spec: &OpSpec, inputs: &'a Inputs) -> Result<Self> {
        let p = EmbeddingShape::of(spec)?;
        let (ids, table) = (inputs.get("ids")?, inputs.get("table")?);
        expect_len(ids, p.tokens as usize)?;
        expect_len(table, (p.vocab * p.hidden) as usize)?;
        Ok(Embedding {
            ids: ids.as_i32()?,
            table,
            hidden: p.hidden as usize,
            vocab: p.vocab as usize,
        })
    }
}

impl OpReference for Embedding<'_> {
    fn blocks(&self) -> usize {
        self.ids.len()
    }

    fn block_len(&self) -> usize {
        self.hidden
    }

    fn block_cost(&self) -> f64 {
        self.hidden as f64
    }

    fn compute(&self, block: usize, out: &mut [f64]) {
        match usize::try_from(self.ids[block]) {
            Ok(row) if row < self.vocab => load(self.table, row * self.hidden, out),
            _ => out.fill(0.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::op::OpKind;

    #[test]
    fn rows_by_id_and_zeros_outside_the_table() {
        // Table rows [1, 2], [3, 4], [5, 6]; ids [2, 0, 3, −1]: [5, 6], [1, 2], 0, 0.
        let spec =
            OpSpec::parse(OpKind::Embedding, "tokens=3,hidden=2,vocab=3", DType::F32).unwrap();
        let inputs = Inputs {
            fp8: Default::default(),
            tensors: vec![
                HostTensor::from_i32("ids", vec![3], vec![2, 0, 3]),
                HostTensor::from_f32(
                    "table",
                    vec![3, 2],
                    DType::F32,
                    &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                ),
            ],
        };
        let r = Embedding::new(&spec, &inputs).unwrap();
        assert_eq!(r.expected_output(), vec![5.0, 6.0, 1.0, 2.0, 0.0, 0.0]);
    }
}
