//! `moe_gemm`: the mixture-of-experts grouped GEMM of a MoE layer (vLLM's `fused_moe`, SGLang's
//! grouped GEMM). Every token is routed to `top_k` of `experts` experts; the (token, slot)
//! pairs are permuted into per-expert groups, each touched expert multiplies its rows by its
//! weights `w[e][n][k]`, and the rows are weighted by the router and summed back per token:
//! y[t] = Σ_j topk_weights[t,j]·(x[t]·w[topk_ids[t,j]]ᵀ). Every expert is resident (as in a
//! serving engine) but only the touched ones are read, so the cost model counts those alone;
//! the routing is a pure function of the shape ([`route`]). Kernels: `kernels/moe_gemm.cu`.

mod reference;
pub mod route;

use super::Op;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::inputs::{Gen, Inputs};
use crate::kernels::KernelFile;
use crate::launch;
use crate::launch_plan::{i32_arg, kernel, out, out_bytes, suffix, Arg, LaunchPlan};
use crate::op::{opt, param, req, OpClass, OpKind, OpSpec, Sat, Shape, ShapeKey};
use crate::reference::OpReference;
use crate::suite::{DeviceClass, SuiteName};
use crate::target::Target;
use crate::tensor::HostTensor;
use reference::MoeGemm as Reference;
use route::{route, touched_experts};

/// `kernels/moe_gemm.cu`, this op's kernels.
static FILE: KernelFile = KernelFile {
    file: "moe_gemm.cu",
    source: include_str!("../../../../kernels/moe_gemm.cu"),
};

/// Most experts the hotpath align kernel counts (its per-expert counters in shared memory,
/// `HP_MOE_MAX_EXPERTS` of the kernel).
pub const MOE_MAX_EXPERTS: u64 = 4096;
/// Mean rows per touched expert from which the plan runs the tiled GEMM instead of the
/// GEMV-like weight stream (the tile's rows then mostly hold work).
pub const MOE_TILE_ROWS_FROM: u64 = 16;
/// Most (token, slot) pairs a shape may route (128 times a 4096-token prefill at top_k 8):
/// the router runs in every cost-model call, so its work and `topk_ids` stay small.
pub const MOE_MAX_PAIRS: u64 = 1 << 22;
/// Most `pairs·experts` a Zipf routing may take (each draw scans the experts).
pub const MOE_MAX_ZIPF_WORK: u64 = 1 << 28;
/// Most experts a shape may have (the router keeps a few words per expert).
pub const MOE_MAX_SHAPE_EXPERTS: u64 = 1 << 20;
/// Largest Zipf exponent accepted, in hundredths (s = 10).
pub const MOE_MAX_ZIPF_X100: u64 = 1000;

/// The shape of `moe_gemm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MoeShape {
    /// Tokens routed.
    pub tokens: u64,
    /// Experts, E (all resident).
    pub experts: u64,
    /// Distinct experts per token.
    pub top_k: u64,
    /// Output features per expert.
    pub n: u64,
    /// Input features.
    pub k: u64,
    /// Zipf exponent of expert popularity in hundredths (0 = uniform routing).
    pub zipf_x100: u64,
    /// Seed of the router's assignment.
    pub route_seed: u64,
}

impl MoeShape {
    /// The typed shape of `spec`; an error when a key is missing.
    pub fn of(spec: &OpSpec) -> Result<MoeShape> {
        MoeShape::of_shape(&spec.shape)
    }

    /// The typed shape of a parsed `shape`.
    pub fn of_shape(shape: &Shape) -> Result<MoeShape> {
        Ok(MoeShape {
            tokens: shape.dim("tokens")?,
            experts: shape.dim("experts")?,
            top_k: shape.dim("top_k")?,
            n: shape.dim("n")?,
            k: shape.dim("k")?,
            zipf_x100: shape.dim("zipf_x100")?,
            route_seed: shape.dim("route_seed")?,
        })
    }

    /// (tokens, experts, top_k, n, k) as sizes of host tensors.
    pub fn sizes(&self) -> (usize, usize, usize, usize, usize) {
        let u = |v: u64| v as usize;
        (
            u(self.tokens),
            u(self.experts),
            u(self.top_k),
            u(self.n),
            u(self.k),
        )
    }

    /// (token, slot) pairs, `tokens·top_k`.
    pub fn pairs(&self) -> u64 {
        self.tokens.saturating_mul(self.top_k)
    }
}

const KEYS: &[ShapeKey] = &[
    req("tokens", "tokens routed"),
    opt("experts", "experts E, all resident", 256),
    opt("top_k", "distinct experts per token (1..experts)", 8),
    opt("n", "output features per expert", 7168),
    opt("k", "input features", 2048),
    param(
        "zipf_x100",
        "Zipf exponent of expert popularity in hundredths (0 = uniform, 120 = s 1.2)",
        0,
    ),
    param("route_seed", "seed of the router's assignment", 0),
];

/// The dtypes the op runs in.
fn check_dtype(dtype: DType) -> Result<()> {
    match dtype {
        DType::F32 | DType::F16 | DType::Bf16 => Ok(()),
        DType::Fp8E4m3 => Err(Error::unsupported(format!(
            "moe_gemm runs f32, f16 or bf16 activations and weights; got --dtype {dtype}"
        ))),
    }
}

/// DeepSeek-V3's routed experts: E = 256, top_k = 8, hidden 7168, moe_intermediate 2048.
const DEEPSEEK_V3: (u64, u64, u64, u64) = (256, 8, 7168, 2048);
/// Qwen3-30B-A3B's experts: E = 128, top_k = 8, hidden 2048, moe_intermediate 768.
const QWEN3_30B_A3B: (u64, u64, u64, u64) = (128, 8, 2048, 768);

/// The shape of `tokens` through the gate+up (`down = false`: n = 2·intermediate, k =
/// hidden) or the down projection (n = hidden, k = intermediate) of `model`'s experts.
fn model_shape(model: (u64, u64, u64, u64), tokens: u64, down: bool) -> String {
    let (experts, top_k, hidden, inter) = model;
    let (n, k) = if down {
        (hidden, inter)
    } else {
        (2 * inter, hidden)
    };
    format!("tokens={tokens},experts={experts},top_k={top_k},n={n},k={k}")
}

/// Threads per block of every moe_gemm kernel.
const MOE_THREADS: u32 = 256;
/// Weight rows per block of `hp_moe_gemm_gemv_*` (one lane group each).
const GEMV_ROWS: u64 = 8;
/// Output columns per block of `hp_moe_gemm_tile_*` (its tile is 128 rows × 64 columns).
const TILE_COLS: u64 = 64;

/// `hp_moe_gemm_gemv_*`: `(⌈n/8⌉, experts)` × 256.
fn gemv_geometry(n: u64, experts: u64) -> launch::Geometry {
    launch::grid((n.div_ceil(GEMV_ROWS), experts, 1), MOE_THREADS)
}

/// `hp_moe_gemm_tile_*`: `(⌈n/64⌉, experts)` × 256.
fn tile_geometry(n: u64, experts: u64) -> launch::Geometry {
    launch::grid((n.div_ceil(TILE_COLS), experts, 1), MOE_THREADS)
}

/// The mixture-of-experts grouped GEMM.
pub struct MoeGemm;

impl Op for MoeGemm {
    fn kind(&self) -> OpKind {
        OpKind::MoeGemm
    }
    fn name(&self) -> &'static str {
        "moe_gemm"
    }
    fn summary(&self) -> &'static str {
        "mixture-of-experts grouped GEMM: tokens routed top-k to experts, permute, per-expert GEMM, weighted unpermute"
    }
    fn shape_keys(&self) -> &'static [ShapeKey] {
        KEYS
    }
    fn example_shape(&self) -> &'static str {
        "tokens=32,experts=256,top_k=8,n=7168,k=2048"
    }
    fn small_shape(&self) -> &'static str {
        // A skewed routing that leaves experts 0, 3 and 7 idle (asserted by a test).
        "tokens=12,experts=8,top_k=2,n=192,k=256,zipf_x100=120"
    }
    fn class(&self) -> OpClass {
        OpClass::Model
    }
    fn check_shape(&self, shape: &Shape) -> Result<()> {
        let p = MoeShape::of_shape(shape)?;
        if p.top_k > p.experts {
            return Err(Error::bad_input(format!(
                "moe_gemm routes each token to distinct experts: top_k={} must be at most experts={}",
                p.top_k, p.experts
            )));
        }
        if p.experts > MOE_MAX_SHAPE_EXPERTS {
            return Err(Error::bad_input(format!(
                "moe_gemm takes up to {MOE_MAX_SHAPE_EXPERTS} experts; got experts={}",
                p.experts
            )));
        }
        if p.pairs() > MOE_MAX_PAIRS {
            return Err(Error::bad_input(format!(
                "moe_gemm routes at most {MOE_MAX_PAIRS} (token, expert) pairs; got tokens={} × top_k={}",
                p.tokens, p.top_k
            )));
        }
        if p.zipf_x100 > MOE_MAX_ZIPF_X100 {
            return Err(Error::bad_input(format!(
                "moe_gemm takes zipf_x100 up to {MOE_MAX_ZIPF_X100} (s = 10); got zipf_x100={}",
                p.zipf_x100
            )));
        }
        if p.zipf_x100 > 0 && p.pairs().saturating_mul(p.experts) > MOE_MAX_ZIPF_WORK {
            return Err(Error::bad_input(format!(
                "a Zipf routing takes tokens·top_k·experts up to {MOE_MAX_ZIPF_WORK}; got {}·{}·{}",
                p.tokens, p.top_k, p.experts
            )));
        }
        Ok(())
    }
    fn work(&self, spec: &OpSpec) -> Result<(Sat, Sat)> {
        // 2·T·top_k·n·k multiply-adds and T·top_k·n router-weight multiplies; the touched
        // experts' weights (idle ones are never read), x and y in the dtype, 4-byte ids and
        // 4-byte weights per pair.
        let p = MoeShape::of(spec)?;
        let touched = Sat(touched_experts(&p));
        let (t, top_k, n, k) = (Sat(p.tokens), Sat(p.top_k), Sat(p.n), Sat(p.k));
        let s = Sat(spec.dtype.size_bytes());
        Ok((
            Sat(2) * t * top_k * n * k + t * top_k * n,
            touched * n * k * s + t * k * s + t * n * s + t * top_k * Sat(8),
        ))
    }
    fn touched_bytes(&self, spec: &OpSpec) -> Result<Option<u64>> {
        // The same experts every iteration: a cold run rotates them, not the allocation.
        Ok(Some(self.work(spec)?.1 .0))
    }
    fn input_names(&self) -> &'static [&'static str] {
        &["x", "w", "topk_ids", "topk_weights"]
    }
    fn input_bytes(&self, spec: &OpSpec) -> Result<Sat> {
        let p = MoeShape::of(spec)?;
        let s = Sat(spec.dtype.size_bytes());
        let (t, e, n, k) = (Sat(p.tokens), Sat(p.experts), Sat(p.n), Sat(p.k));
        Ok(t * k * s + e * n * k * s + t * Sat(p.top_k) * Sat(8))
    }
    fn output_shape(&self, spec: &OpSpec) -> Result<Option<Vec<usize>>> {
        let p = MoeShape::of(spec)?;
        Ok(Some(vec![p.tokens as usize, p.n as usize]))
    }
    fn generate(&self, spec: &OpSpec, gen: &mut Gen) -> Result<Vec<HostTensor>> {
        check_dtype(spec.dtype)?;
        let p = MoeShape::of(spec)?;
        let (t, e, top_k, n, k) = p.sizes();
        let ids: Vec<i32> = route(&p).into_iter().map(|e| e as i32).collect();
        // Router weights as a softmax over the chosen experts leaves them: positive, each
        // token's summing to 1.
        let mut weights = gen
            .uniform("topk_weights", vec![t, top_k], DType::F32, 0.05, 1.0)
            .to_f32_vec();
        for row in weights.chunks_mut(top_k) {
            let sum: f32 = row.iter().sum();
            row.iter_mut().for_each(|v| *v /= sum);
        }
        Ok(vec![
            gen.uniform("x", vec![t, k], spec.dtype, -1.0, 1.0),
            gen.uniform("w", vec![e, n, k], spec.dtype, -1.0, 1.0),
            HostTensor::from_i32("topk_ids", vec![t, top_k], ids),
            HostTensor::from_f32("topk_weights", vec![t, top_k], DType::F32, &weights),
        ])
    }
    fn reference<'a>(
        &self,
        spec: &OpSpec,
        inputs: &'a Inputs,
        _output_len: usize,
    ) -> Result<Box<dyn OpReference + 'a>> {
        Ok(Box::new(Reference::new(spec, inputs)?))
    }
    fn kernel_file(&self) -> Option<&'static KernelFile> {
        Some(&FILE)
    }
    fn launch_plan(&self, spec: &OpSpec, _target: &Target) -> Result<LaunchPlan> {
        check_dtype(spec.dtype)?;
        let p = MoeShape::of(spec)?;
        if p.experts > MOE_MAX_EXPERTS {
            return Err(Error::unsupported(format!(
                "the hotpath moe_gemm kernels take up to {MOE_MAX_EXPERTS} experts (the align kernel's counters); got experts={}",
                p.experts
            )));
        }
        if !p.k.is_multiple_of(8) {
            return Err(Error::unsupported(format!(
                "the hotpath moe_gemm needs k to be a multiple of 8 (16-byte rows); got k={}",
                p.k
            )));
        }
        let int = |key: &str, v: u64| i32_arg(spec.op, key, v);
        let pairs = int("tokens·top_k", p.pairs())?;
        let (experts, top_k) = (int("experts", p.experts)?, int("top_k", p.top_k)?);
        let (n, k) = (int("n", p.n)?, int("k", p.k)?);
        let tokens = int("tokens", p.tokens)?;
        let dt = suffix(spec.dtype);
        // Mean rows per touched expert picks the GEMM: a weight stream for decode's 1–2 rows,
        // tiles that reuse each weight across many rows for prefill.
        let touched = touched_experts(&p).max(1);
        let (gemm, geometry) = if p.pairs() / touched >= MOE_TILE_ROWS_FROM {
            ("hp_moe_gemm_tile", tile_geometry(p.n, p.experts))
        } else {
            ("hp_moe_gemm_gemv", gemv_geometry(p.n, p.experts))
        };
        let steps = vec![
            kernel(
                "hp_moe_gemm_align".to_string(),
                launch::grid((1, 1, 1), MOE_THREADS),
                vec![
                    Arg::Input(2),
                    Arg::Scratch(0),
                    Arg::Scratch(1),
                    Arg::I32(pairs),
                    Arg::I32(experts),
                ],
            ),
            kernel(
                format!("{gemm}_{dt}"),
                geometry,
                vec![
                    Arg::Input(0),
                    Arg::Input(1),
                    Arg::Scratch(0),
                    Arg::Scratch(1),
                    Arg::Scratch(2),
                    Arg::I32(top_k),
                    Arg::I32(n),
                    Arg::I32(k),
                ],
            ),
            kernel(
                format!("hp_moe_gemm_combine_{dt}"),
                launch::elementwise(p.tokens * p.n),
                vec![
                    Arg::Scratch(2),
                    Arg::Input(3),
                    Arg::Input(2),
                    Arg::Output(0),
                    Arg::I32(tokens),
                    Arg::I32(top_k),
                    Arg::I32(n),
                    Arg::I32(experts),
                ],
            ),
        ];
        Ok(LaunchPlan {
            steps,
            output_bytes: vec![out_bytes(spec)?],
            // Expert offsets (E + 1 i32), the pairs sorted by expert (i32), one f32 row of n
            // per pair.
            scratch_bytes: vec![
                4 * (p.experts as usize + 1),
                4 * p.pairs() as usize,
                4 * (p.pairs() * p.n) as usize,
            ],
            output: out(spec, 0, "y")?,
            counted_work: None,
        })
    }
    fn suite_entries(&self, suite: SuiteName, class: DeviceClass) -> Vec<(String, DType)> {
        let mut v = Vec::new();
        match (suite, class) {
            (SuiteName::Decode, DeviceClass::Cpu) => {
                for tokens in [1, 8] {
                    v.push(model_shape(QWEN3_30B_A3B, tokens, false));
                    v.push(model_shape(QWEN3_30B_A3B, tokens, true));
                }
            }
            (SuiteName::Decode, DeviceClass::Gpu) => {
                for tokens in [1, 32, 128] {
                    v.push(model_shape(DEEPSEEK_V3, tokens, false));
                    v.push(model_shape(DEEPSEEK_V3, tokens, true));
                }
                v.push(model_shape(DEEPSEEK_V3, 32, true) + ",zipf_x100=120");
            }
            (SuiteName::Prefill, DeviceClass::Gpu) => v.push(model_shape(DEEPSEEK_V3, 4096, true)),
            (SuiteName::Prefill, DeviceClass::Cpu) => v.push(model_shape(QWEN3_30B_A3B, 256, true)),
            (SuiteName::Quick | SuiteName::Ceilings, _) => {}
        }
        v.into_iter().map(|s| (s, DType::Bf16)).collect()
    }
}

#[cfg(test)]
mod tests;
