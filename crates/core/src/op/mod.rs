//! Ops, their shapes, and the exact FLOP / compulsory-byte cost model of docs/methodology.md.

mod cost;
mod kind;
mod shape;

pub use cost::{Sat, Work};
pub(crate) use kind::{flag, opt, param, req, switch};
pub use kind::{OpClass, OpKind, ShapeKey};
pub use shape::{example as shape_example, Shape, MAX_DIM};

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::dtype::DType;
use crate::error::Result;

/// One benchmark problem: an op at a shape and dtype (independent of implementation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpSpec {
    /// The operation.
    pub op: OpKind,
    /// Its shape, every key present.
    pub shape: Shape,
    /// Element type of its tensors.
    pub dtype: DType,
}

impl OpSpec {
    /// Builds a spec from command-line text (`m=1,n=14336,k=4096`).
    pub fn parse(op: OpKind, shape: &str, dtype: DType) -> Result<OpSpec> {
        Ok(OpSpec {
            op,
            shape: Shape::parse(op, shape)?,
            dtype,
        })
    }

    /// A shape value; an error when the shape has no such key (the typed shapes of
    /// [`crate::ops`] read their fields through it).
    pub fn dim(&self, key: &str) -> Result<u64> {
        self.shape.dim(key)
    }

    /// The result id: `op/shape/dtype/impl`, e.g. `gemv/m=1,n=14336,k=4096/bf16/hotpath`.
    pub fn id(&self, imp: &str) -> String {
        format!("{}/{}/{}/{}", self.op, self.shape, self.dtype, imp)
    }

    /// FLOPs and compulsory bytes of one execution, exactly as the cost-model table says.
    /// `peak_mma` counts no FLOPs here: its kernel reports them ([`crate::Prepared::counted_work`]).
    pub fn work(&self) -> Result<Work> {
        cost::work(self)
    }
}

impl fmt::Display for OpSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.op, self.shape, self.dtype)
    }
}
