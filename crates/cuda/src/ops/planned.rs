//! Our kernels on CUDA: executes a backend-independent [`LaunchPlan`] (which kernels, geometry,
//! argument order, scratch) with cudarc. The argument order lives once, in
//! `hotpath_core::launch_plan`, for CUDA and ROCm alike.

use std::collections::HashMap;
use std::sync::Arc;

use cudarc::driver::{CudaFunction, CudaSlice, CudaStream, PushKernelArg};
use hotpath_core::launch_plan::{Arg, LaunchPlan, LaunchStep};
use hotpath_core::{Error, Result, Work};

use super::{cfg, launch_err, FuncLookup, Launcher, OutputSpec, Set, Uint4};
use crate::buffers::zeros;

/// One argument, resolved for cudarc.
enum CudaArg {
    Buf(usize),
    Scratch(usize),
    I32(i32),
    I64(i64),
    F32(f32),
    U4(Uint4),
}

enum CudaStep {
    Kernel {
        function: CudaFunction,
        geometry: hotpath_core::launch::Geometry,
        args: Vec<CudaArg>,
    },
    Zero(usize),
}

/// A plan with its functions loaded and scratch allocated.
pub struct Planned {
    steps: Vec<CudaStep>,
    scratch: Vec<CudaSlice<u8>>,
    output: OutputSpec,
    counted: Option<Work>,
}

impl Planned {
    /// Resolves every kernel of `plan`, raises the dynamic shared-memory limit of those that
    /// need more than 48 KiB, and allocates its scratch; `inputs` is the number of input
    /// tensors (output buffer `i` is set buffer `inputs + i`). A kernel whose shared memory
    /// (static plus dynamic) exceeds `smem_limit` (bytes per block on `device`, after the
    /// opt-in) is refused before anything is launched.
    pub fn new(
        plan: LaunchPlan,
        inputs: usize,
        stream: &Arc<CudaStream>,
        func: &mut FuncLookup,
        smem_limit: u64,
        device: &str,
    ) -> Result<Planned> {
        let mut functions: HashMap<String, CudaFunction> = HashMap::new();
        let mut steps = Vec::new();
        for step in &plan.steps {
            steps.push(match step {
                LaunchStep::ZeroScratch(i) => CudaStep::Zero(*i),
                LaunchStep::Kernel {
                    function,
                    geometry,
                    args,
                } => {
                    if !functions.contains_key(function) {
                        functions.insert(function.clone(), func(function)?);
                    }
                    crate::target::opt_in(&functions[function], function, geometry.shared_bytes)?;
                    let args = args
                        .iter()
                        .map(|a| match a {
                            Arg::Input(i) => CudaArg::Buf(*i),
                            Arg::Output(i) => CudaArg::Buf(inputs + i),
                            Arg::Scratch(i) => CudaArg::Scratch(*i),
                            Arg::I32(v) => CudaArg::I32(*v),
                            Arg::I64(v) => CudaArg::I64(*v),
                            Arg::F32(v) => CudaArg::F32(*v),
                            Arg::U32x4(v) => CudaArg::U4(Uint4(*v)),
                        })
                        .collect();
                    CudaStep::Kernel {
                        function: functions[function].clone(),
                        geometry: *geometry,
                        args,
                    }
                }
            });
        }
        plan.check_shared_memory(
            &mut |f| {
                Ok(functions
                    .get(f)
                    .and_then(|func| func.shared_size_bytes().ok())
                    .map(|b| b.max(0) as u64))
            },
            smem_limit,
            device,
        )?;
        let scratch = plan
            .scratch_bytes
            .iter()
            .map(|&b| zeros(stream, b))
            .collect::<Result<_>>()?;
        let o = &plan.output;
        Ok(Planned {
            steps,
            scratch,
            output: OutputSpec {
                buf: inputs + o.index,
                name: o.name,
                dtype: o.dtype,
                shape: o.shape.clone(),
            },
            counted: plan.counted_work,
        })
    }
}

impl Launcher for Planned {
    fn launch(&mut self, stream: &Arc<CudaStream>, set: &mut Set) -> Result<()> {
        for step in &self.steps {
            match step {
                CudaStep::Zero(i) => {
                    let buf = self.scratch.get_mut(*i).ok_or_else(|| {
                        Error::backend(format!("plan zeroes scratch {i}, which does not exist"))
                    })?;
                    stream
                        .memset_zeros(buf)
                        .map_err(|e| launch_err("memset", e))?;
                }
                CudaStep::Kernel {
                    function,
                    geometry,
                    args,
                } => {
                    let mut b = stream.launch_builder(function);
                    for a in args {
                        match a {
                            CudaArg::Buf(i) => {
                                let buf = set.bufs.get(*i).ok_or_else(|| {
                                    Error::backend(format!(
                                        "plan names buffer {i}, which does not exist"
                                    ))
                                })?;
                                b.arg(buf);
                            }
                            CudaArg::Scratch(i) => {
                                let buf = self.scratch.get(*i).ok_or_else(|| {
                                    Error::backend(format!(
                                        "plan names scratch {i}, which does not exist"
                                    ))
                                })?;
                                b.arg(buf);
                            }
                            CudaArg::I32(v) => {
                                b.arg(v);
                            }
                            CudaArg::I64(v) => {
                                b.arg(v);
                            }
                            CudaArg::F32(v) => {
                                b.arg(v);
                            }
                            CudaArg::U4(v) => {
                                b.arg(v);
                            }
                        }
                    }
                    // SAFETY: the plan's argument lists match the kernel signatures of
                    // kernels/README.md; every buffer is padded to the kernel's index range.
                    unsafe { b.launch(cfg(*geometry)) }.map_err(|e| launch_err("kernel", e))?;
                }
            }
        }
        Ok(())
    }

    fn output(&self) -> OutputSpec {
        self.output.clone()
    }

    fn counted_work(&self) -> Option<Work> {
        self.counted
    }
}
