//! `gemm`: prefill GEMM C[m,n] = A[m,k]·W[n,k]ᵀ.

use super::Op;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::inputs::{Gen, Inputs};
use crate::kernels::{self, KernelFile};
use crate::launch;
use crate::launch_plan::{kernel, out, out_bytes, simple, suffix, Arg, LaunchPlan};
use crate::op::{req, OpClass, OpKind, OpSpec, Sat, ShapeKey};
use crate::reference::{linear::Linear, OpReference};
use crate::suite::{DeviceClass, SuiteName, LLAMA_8B_PROJECTIONS};
use crate::target::Target;
use crate::tensor::HostTensor;

/// The shape of `gemm` and `gemv`: A[m,k]·W[n,k]ᵀ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinearShape {
    /// Rows of activations (tokens).
    pub m: u64,
    /// Rows of weights (output features).
    pub n: u64,
    /// Reduction length (input features).
    pub k: u64,
}

impl LinearShape {
    /// The typed shape of `spec`; an error when a key is missing.
    pub fn of(spec: &OpSpec) -> Result<LinearShape> {
        Ok(LinearShape {
            m: spec.dim("m")?,
            n: spec.dim("n")?,
            k: spec.dim("k")?,
        })
    }

    /// The cost of one product: 2·m·n·k FLOPs; A, W and C once each.
    pub(super) fn work(self, dtype: DType) -> (Sat, Sat) {
        let (m, n, k, s) = (
            Sat(self.m),
            Sat(self.n),
            Sat(self.k),
            Sat(dtype.size_bytes()),
        );
        (Sat(2) * m * n * k, (m * k + n * k + m * n) * s)
    }

    pub(super) fn input_bytes(self, dtype: DType) -> Sat {
        (Sat(self.m) + Sat(self.n)) * Sat(self.k) * Sat(dtype.size_bytes())
    }

    pub(super) fn generate(self, dtype: DType, gen: &mut Gen) -> Vec<HostTensor> {
        let (m, n, k) = (self.m as usize, self.n as usize, self.k as usize);
        vec![
            gen.uniform("a", vec![m, k], dtype, -1.0, 1.0),
            gen.uniform("w", vec![n, k], dtype, -1.0, 1.0),
        ]
    }

    pub(super) fn reference<'a>(self, inputs: &'a Inputs) -> Result<Box<dyn OpReference + 'a>> {
        Ok(Box::new(Linear::new(
            inputs.get("a")?,
            inputs.get("w")?,
            self.m as usize,
            self.n as usize,
            self.k as usize,
        )?))
    }

    /// Our kernels read rows as 16-byte vectors.
    pub(super) fn check_k(self, op: OpKind) -> Result<()> {
        if !self.k.is_multiple_of(8) {
            return Err(Error::unsupported(format!(
                "the hotpath {op} needs k to be a multiple of 8 (16-byte rows); got k={}",
                self.k
            )));
        }
        Ok(())
    }
}

/// Keys of `gemm` and `gemv`.
pub(super) const LINEAR_KEYS: &[ShapeKey] = &[
    req("m", "rows of activations A[m,k] (tokens)"),
    req("n", "rows of weights W[n,k] (output features)"),
    req("k", "reduction length (input features)"),
];

/// Prefill GEMM.
pub struct Gemm;

impl Op for Gemm {
    fn kind(&self) -> OpKind {
        OpKind::Gemm
    }
    fn name(&self) -> &'static str {
        "gemm"
    }
    fn summary(&self) -> &'static str {
        "prefill GEMM C[m,n] = A[m,k]·W[n,k]^T"
    }
    fn shape_keys(&self) -> &'static [ShapeKey] {
        LINEAR_KEYS
    }
    fn example_shape(&self) -> &'static str {
        "m=2048,n=4096,k=4096"
    }
    fn small_shape(&self) -> &'static str {
        "m=128,n=256,k=256"
    }
    fn class(&self) -> OpClass {
        OpClass::Model
    }
    fn work(&self, spec: &OpSpec) -> Result<(Sat, Sat)> {
        Ok(LinearShape::of(spec)?.work(spec.dtype))
    }
    fn input_names(&self) -> &'static [&'static str] {
        &["a", "w"]
    }
    fn input_bytes(&self, spec: &OpSpec) -> Result<Sat> {
        Ok(LinearShape::of(spec)?.input_bytes(spec.dtype))
    }
    fn output_shape(&self, spec: &OpSpec) -> Result<Option<Vec<usize>>> {
        let s = LinearShape::of(spec)?;
        Ok(Some(vec![s.m as usize, s.n as usize]))
    }
    fn generate(&self, spec: &OpSpec, gen: &mut Gen) -> Result<Vec<HostTensor>> {
        Ok(LinearShape::of(spec)?.generate(spec.dtype, gen))
    }
    fn reference<'a>(
        &self,
        spec: &OpSpec,
        inputs: &'a Inputs,
        _output_len: usize,
    ) -> Result<Box<dyn OpReference + 'a>> {
        LinearShape::of(spec)?.reference(inputs)
    }
    fn kernel_file(&self) -> Option<&'static KernelFile> {
        Some(&kernels::GEMM)
    }
    fn launch_plan(&self, spec: &OpSpec, _target: &Target) -> Result<LaunchPlan> {
        let s = LinearShape::of(spec)?;
        s.check_k(OpKind::Gemm)?;
        let args = vec![
            Arg::Input(0),
            Arg::Input(1),
            Arg::Output(0),
            Arg::I32(s.m as i32),
            Arg::I32(s.n as i32),
            Arg::I32(s.k as i32),
        ];
        Ok(simple(
            vec![kernel(
                format!("hp_gemm_{}", suffix(spec.dtype)),
                launch::gemm(s.m, s.n),
                args,
            )],
            out(spec, 0, "c")?,
            vec![out_bytes(spec)?],
        ))
    }
    fn suite_entries(&self, suite: SuiteName, class: DeviceClass) -> Vec<(String, DType)> {
        let bf = DType::Bf16;
        let mut v = Vec::new();
        match (suite, class) {
            (SuiteName::Quick, DeviceClass::Cpu) => {
                v.push(("m=512,n=512,k=512".to_string(), DType::F32));
                v.push(("m=128,n=4096,k=4096".to_string(), bf));
            }
            (SuiteName::Quick, DeviceClass::Gpu) => {
                v.push(("m=4096,n=4096,k=4096".to_string(), bf));
            }
            (SuiteName::Prefill, DeviceClass::Cpu) => {
                v.push(("m=1024,n=1024,k=1024".to_string(), DType::F32));
                for (_, n, k) in LLAMA_8B_PROJECTIONS {
                    v.push((format!("m=128,n={n},k={k}"), bf));
                }
            }
            (SuiteName::Prefill, DeviceClass::Gpu) => {
                for s in ["m=4096,n=4096,k=4096", "m=8192,n=8192,k=8192"] {
                    v.push((s.to_string(), bf));
                }
                for (_, n, k) in LLAMA_8B_PROJECTIONS {
                    v.push((format!("m=2048,n={n},k={k}"), bf));
                }
                v.push(("m=8192,n=8192,k=8192".to_string(), DType::Fp8E4m3));
            }
            (SuiteName::Decode | SuiteName::Ceilings, _) => {}
        }
        v
    }
}
