//! A model run's settings: the phase, batch, context, dtypes and tensor-parallel degree,
//! checked against the model. Recorded in the results file of a model-shaped run.

use serde::{Deserialize, Serialize};

use super::ModelConfig;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::op::MAX_DIM;

/// Which part of inference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// One new token per sequence (TPOT).
    Decode,
    /// The whole prompt at once (TTFT).
    Prefill,
}

impl Phase {
    /// `decode` or `prefill`.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Decode => "decode",
            Phase::Prefill => "prefill",
        }
    }
}

/// A model at a batch, context, dtypes and tensor-parallel degree: what a model-shaped run
/// measured, recorded in its results file (`model`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelRun {
    /// The model's shapes.
    pub model: ModelConfig,
    /// The phase the run measured.
    pub phase: Phase,
    /// Sequences (B).
    pub batch: u64,
    /// Cached tokens per sequence in decode; prompt tokens per sequence in prefill (L).
    pub context: u64,
    /// Element type of the linear layers' weights.
    pub dtype: DType,
    /// Element type of the KV cache.
    pub kv_dtype: DType,
    /// Tensor-parallel degree: shapes are one GPU's shard.
    pub tp: u64,
    /// Expert-parallel degree: a mixture's experts are split whole over this many GPUs
    /// (each holds E/ep of them, unsplit by `tp`); 1 = experts split by `tp` like any MLP.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub ep: u64,
    /// Weight-only int4 linear layers (`--weights int4`): the k elements per scale, with the
    /// activations in `dtype`; `None` when the weights are in `dtype`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub int4_group: Option<u64>,
}

fn one() -> u64 {
    1
}

fn is_one(v: &u64) -> bool {
    *v == 1
}

/// The group size of `--weights int4` (AWQ's and GPTQ's usual 128).
pub const INT4_MODEL_GROUP: u64 = 128;

/// How the linear layers' weights are stored: `--weights bf16|f16|f32|fp8|int4`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weights {
    /// In a dtype (fp8: with the norms, embedding, router and LM head in bf16).
    Dtype(DType),
    /// Weight-only int4 with group scales, bf16 activations.
    Int4,
}

impl Weights {
    /// The dtype a run of these weights is built with: the weights' own, or bf16 for int4.
    pub fn activation_dtype(self) -> DType {
        match self {
            Weights::Dtype(d) => d,
            Weights::Int4 => DType::Bf16,
        }
    }

    /// Parses `--weights`: a dtype name or `int4`.
    pub fn parse(text: &str) -> Result<Weights> {
        match text.trim().to_ascii_lowercase().as_str() {
            "int4" | "w4a16" => Ok(Weights::Int4),
            other => DType::parse(other).map(Weights::Dtype).map_err(|_| {
                Error::bad_input(format!(
                    "unknown --weights '{text}'; accepted: bf16, f16, f32, fp8, int4"
                ))
            }),
        }
    }
}

impl ModelRun {
    /// Checks the settings against the model: sizes at least 1, `tp` dividing the heads,
    /// KV heads and MLP width (replicating KV heads is not modelled).
    pub fn new(
        model: ModelConfig,
        phase: Phase,
        batch: u64,
        context: u64,
        dtype: DType,
        kv_dtype: Option<DType>,
        tp: u64,
    ) -> Result<ModelRun> {
        let run = ModelRun {
            model,
            phase,
            batch,
            context,
            dtype,
            kv_dtype: kv_dtype.unwrap_or_else(|| default_kv_dtype(dtype)),
            tp,
            ep: 1,
            int4_group: None,
        };
        run.check()?;
        Ok(run)
    }

    /// The run with its experts split over `ep` GPUs (`--ep`), checked against the model.
    pub fn with_ep(mut self, ep: u64) -> Result<ModelRun> {
        self.ep = ep;
        self.check()?;
        Ok(self)
    }

    /// Checks the model and the settings (also for runs read back from a results file).
    pub fn check(&self) -> Result<()> {
        let model = &self.model;
        model
            .check()
            .map_err(|what| Error::bad_input(format!("model {}: {what}", model.id)))?;
        for (flag, v) in [
            ("--batch", self.batch),
            ("--context", self.context),
            ("--tp", self.tp),
        ] {
            if v == 0 || v > MAX_DIM {
                return Err(Error::bad_input(format!(
                    "{flag} {v} is out of range; accepted: 1 to {MAX_DIM}"
                )));
            }
        }
        let tp = self.tp;
        let mut split = vec![
            ("num_attention_heads", model.num_attention_heads),
            ("intermediate_size", model.intermediate_size),
        ];
        if model.mla.is_none() {
            split.push(("num_key_value_heads", model.num_key_value_heads));
        }
        if let Some(moe) = model.moe.filter(|_| self.ep == 1) {
            split.push((
                "moe_intermediate_size",
                moe.expert_width(model.intermediate_size),
            ));
        }
        if let Some(moe) = model.moe.filter(|m| m.shared_intermediate_size > 0) {
            split.push(("shared expert width", moe.shared_intermediate_size));
        }
        for (field, v) in split {
            if !v.is_multiple_of(tp) {
                return Err(Error::bad_input(format!(
                    "--tp {tp} does not divide {}'s {field} {v}; tensor parallelism splits it evenly, so give a divisor of {v}",
                    model.id
                )));
            }
        }
        self.check_ep()
    }

    /// `--ep`: 1 to [`MAX_DIM`], and above 1 only for a mixture whose experts it divides.
    fn check_ep(&self) -> Result<()> {
        let ep = self.ep;
        if ep == 0 || ep > MAX_DIM {
            return Err(Error::bad_input(format!(
                "--ep {ep} is out of range; accepted: 1 to {MAX_DIM}"
            )));
        }
        match self.model.moe {
            _ if ep == 1 => Ok(()),
            None => Err(Error::bad_input(format!(
                "--ep {ep} splits experts, and {} has none; give --ep 1 or a mixture-of-experts model",
                self.model.id
            ))),
            Some(m) if !m.num_local_experts.is_multiple_of(ep) => Err(Error::bad_input(format!(
                "--ep {ep} does not divide {}'s {} experts; expert parallelism places them evenly, so give a divisor of {}",
                self.model.id, m.num_local_experts, m.num_local_experts
            ))),
            Some(_) => Ok(()),
        }
    }

    /// The run with its linear layers' weights stored as `weights` (int4: bf16 activations,
    /// groups of [`INT4_MODEL_GROUP`]).
    pub fn with_weights(mut self, weights: Weights) -> ModelRun {
        match weights {
            Weights::Dtype(d) => {
                self.dtype = d;
                self.int4_group = None;
            }
            Weights::Int4 => {
                self.dtype = DType::Bf16;
                self.int4_group = Some(INT4_MODEL_GROUP);
            }
        }
        self
    }

    /// Element type of what is never quantized to 8 bits: norms, embedding, router and LM
    /// head (bf16 under fp8 weights, as FP8 checkpoints keep them), else the weight dtype.
    pub fn high_dtype(&self) -> DType {
        match self.dtype {
            DType::Fp8E4m3 => DType::Bf16,
            d => d,
        }
    }

    /// Tokens attention reads per sequence in decode: the context, capped by the sliding
    /// window when the model has one.
    pub fn attended(&self) -> u64 {
        match self.model.sliding_window {
            Some(w) => self.context.min(w),
            None => self.context,
        }
    }

    /// Routed experts one GPU holds: E/ep (all E when the experts are split by `tp`).
    pub fn experts_held(&self) -> Option<u64> {
        self.model.moe.map(|m| m.num_local_experts / self.ep)
    }

    /// A label for file names: `llama-3.1-8b-decode-b1-l4096`.
    pub fn label(&self) -> String {
        let stem = std::path::Path::new(&self.model.id)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into());
        format!(
            "{stem}-{}-b{}-l{}",
            self.phase.name(),
            self.batch,
            self.context
        )
    }
}

/// The KV-cache dtype when none is given: the weight dtype, except bf16 under fp8 weights
/// (what serving engines default to for FP8 checkpoints).
pub fn default_kv_dtype(dtype: DType) -> DType {
    match dtype {
        DType::Fp8E4m3 => DType::Bf16,
        d => d,
    }
}
