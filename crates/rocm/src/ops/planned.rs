//! Our kernels on ROCm: executes a backend-independent [`LaunchPlan`] (which kernels, geometry,
//! argument order, scratch) with the HIP runtime. The argument order lives once, in
//! `hotpath_core::launch_plan`, for CUDA and ROCm alike.

use std::collections::HashMap;
use std::ffi::c_void;

use hotpath_core::launch::Geometry;
use hotpath_core::launch_plan::{Arg, LaunchPlan, LaunchStep};
use hotpath_core::{Error, Result, Work};

use super::{FuncLookup, Launcher, OutputSpec, Set};
use crate::buffers::{alloc, DevBuf};
use crate::device::err;
use crate::hip::{Hip, FUNC_ATTR_SHARED_SIZE_BYTES};

/// One kernel argument, resolved against the rotation set at launch.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum HipArg {
    /// Buffer `i` of the rotation set (inputs first, then outputs).
    Buf(usize),
    /// Scratch buffer `i` (shared by all sets).
    Scratch(usize),
    /// A 32-bit integer.
    I32(i32),
    /// A 64-bit integer.
    I64(i64),
    /// A 32-bit float.
    F32(f32),
    /// Sixteen bytes passed by value (`uint4`).
    U4([u32; 4]),
}

impl HipArg {
    /// Argument `arg` of a plan whose op has `inputs` input tensors (output buffer `i` is
    /// set buffer `inputs + i`).
    pub fn of(arg: &Arg, inputs: usize) -> HipArg {
        match arg {
            Arg::Input(i) => HipArg::Buf(*i),
            Arg::Output(i) => HipArg::Buf(inputs + i),
            Arg::Scratch(i) => HipArg::Scratch(*i),
            Arg::I32(v) => HipArg::I32(*v),
            Arg::I64(v) => HipArg::I64(*v),
            Arg::F32(v) => HipArg::F32(*v),
            Arg::U32x4(v) => HipArg::U4(*v),
        }
    }
}

/// The bytes one argument passes, as the kernel reads them (little-endian, zero after the
/// argument's own size); 16-byte aligned, the largest alignment of any argument.
#[repr(C, align(16))]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArgBytes(pub [u8; 16]);

/// The bytes of `arg`: a buffer's device address, looked up in the set (`buf`) or the
/// scratch (`scratch`), or the value itself. An index the plan names but the set or the
/// scratch lacks is an error.
pub fn arg_bytes(
    arg: HipArg,
    buf: impl Fn(usize) -> Option<*mut c_void>,
    scratch: impl Fn(usize) -> Option<*mut c_void>,
) -> Result<ArgBytes> {
    let mut out = ArgBytes::default();
    let mut put = |b: &[u8]| out.0[..b.len()].copy_from_slice(b);
    let missing = |what: &str, i: usize| {
        Error::backend(format!("plan names {what} {i}, which does not exist"))
    };
    match arg {
        HipArg::Buf(i) => put(&(buf(i).ok_or_else(|| missing("buffer", i))? as u64).to_le_bytes()),
        HipArg::Scratch(i) => {
            put(&(scratch(i).ok_or_else(|| missing("scratch", i))? as u64).to_le_bytes())
        }
        HipArg::I32(v) => put(&v.to_le_bytes()),
        HipArg::I64(v) => put(&v.to_le_bytes()),
        HipArg::F32(v) => put(&v.to_le_bytes()),
        HipArg::U4(v) => {
            for (j, x) in v.iter().enumerate() {
                out.0[4 * j..4 * j + 4].copy_from_slice(&x.to_le_bytes());
            }
        }
    }
    Ok(out)
}

/// The static shared memory kernel `f` declares, as HIP reports it.
fn static_shared(h: &Hip, f: *mut c_void) -> Option<u64> {
    let mut v = 0;
    // SAFETY: `v` is valid for writes; `f` came from hipModuleGetFunction on a loaded module.
    let code = unsafe { (h.hipFuncGetAttribute)(&mut v, FUNC_ATTR_SHARED_SIZE_BYTES, f) };
    (code == 0 && v >= 0).then_some(v as u64)
}

/// A kernel launch of the plan: its function, geometry, arguments, and the bytes of the
/// arguments of the current launch (kept alive for it).
struct Kernel {
    function: *mut c_void,
    geometry: Geometry,
    args: Vec<HipArg>,
    values: Vec<ArgBytes>,
}

enum HipStep {
    Kernel(Kernel),
    Zero(usize),
}

/// A plan with its functions loaded and scratch allocated.
pub struct Planned {
    h: &'static Hip,
    steps: Vec<HipStep>,
    /// Scratch buffers shared by all sets, with their sizes.
    scratch: Vec<(DevBuf, usize)>,
    output: OutputSpec,
    counted: Option<Work>,
}

impl Planned {
    /// Resolves every kernel of `plan` and allocates its scratch on `stream`; `inputs` is the
    /// number of input tensors (output buffer `i` is set buffer `inputs + i`). A kernel whose
    /// shared memory (static plus dynamic) exceeds `smem_limit` (bytes per workgroup on
    /// `device`) is refused before anything is launched. CDNA's dynamic LDS up to 64 KiB
    /// needs no opt-in, so none is made.
    pub fn new(
        plan: LaunchPlan,
        inputs: usize,
        h: &'static Hip,
        stream: *mut c_void,
        func: &mut FuncLookup,
        smem_limit: u64,
        device: &str,
    ) -> Result<Planned> {
        let mut functions: HashMap<String, *mut c_void> = HashMap::new();
        let mut steps = Vec::new();
        for step in &plan.steps {
            steps.push(match step {
                LaunchStep::ZeroScratch(i) => HipStep::Zero(*i),
                LaunchStep::Kernel {
                    function,
                    geometry,
                    args,
                } => {
                    if !functions.contains_key(function) {
                        functions.insert(function.clone(), func(function)?);
                    }
                    HipStep::Kernel(Kernel {
                        function: functions[function],
                        geometry: *geometry,
                        args: args.iter().map(|a| HipArg::of(a, inputs)).collect(),
                        values: vec![ArgBytes::default(); args.len()],
                    })
                }
            });
        }
        plan.check_shared_memory(
            &mut |f| Ok(functions.get(f).and_then(|&func| static_shared(h, func))),
            smem_limit,
            device,
        )?;
        let scratch = plan
            .scratch_bytes
            .iter()
            .map(|&b| Ok((alloc(h, b, stream)?, b)))
            .collect::<Result<_>>()?;
        let o = &plan.output;
        Ok(Planned {
            h,
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
    fn launch(&mut self, stream: *mut c_void, set: &mut Set) -> Result<()> {
        let h = self.h;
        for step in &mut self.steps {
            match step {
                HipStep::Zero(i) => {
                    let (buf, bytes) = self.scratch.get(*i).ok_or_else(|| {
                        Error::backend(format!("plan zeroes scratch {i}, which does not exist"))
                    })?;
                    // SAFETY: the scratch buffer holds at least `bytes`.
                    h.check("hipMemsetAsync", unsafe {
                        (h.hipMemsetAsync)(buf.ptr, 0, *bytes, stream)
                    })
                    .map_err(err)?;
                }
                HipStep::Kernel(k) => {
                    for (value, arg) in k.values.iter_mut().zip(&k.args) {
                        *value = arg_bytes(
                            *arg,
                            |i| set.bufs.get(i).map(|b| b.ptr),
                            |i| self.scratch.get(i).map(|(b, _)| b.ptr),
                        )?;
                    }
                    let mut params: Vec<*mut c_void> = k
                        .values
                        .iter_mut()
                        .map(|v| v.0.as_mut_ptr() as *mut c_void)
                        .collect();
                    let (g, b) = (k.geometry.grid, k.geometry.block);
                    // SAFETY: `params` point at values laid out as the kernel's parameters
                    // (kernels/README.md), alive until the call returns (HIP copies them);
                    // every buffer is padded to the kernel's index range.
                    let r = unsafe {
                        (h.hipModuleLaunchKernel)(
                            k.function,
                            g.0,
                            g.1,
                            g.2,
                            b.0,
                            b.1,
                            b.2,
                            k.geometry.shared_bytes,
                            stream,
                            params.as_mut_ptr(),
                            std::ptr::null_mut(),
                        )
                    };
                    h.check("hipModuleLaunchKernel", r).map_err(err)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_laid_out_as_the_kernel_reads_them() {
        // Two inputs and one output in the set, one scratch buffer.
        let bufs = [0x1000usize, 0x2000, 0x3000].map(|p| p as *mut c_void);
        let scratch = [0x4000usize as *mut c_void];
        let bytes = |a: Arg| {
            arg_bytes(
                HipArg::of(&a, 2),
                |i| bufs.get(i).copied(),
                |i| scratch.get(i).copied(),
            )
        };
        let head = |a: Arg, n: usize| bytes(a).unwrap().0[..n].to_vec();
        assert_eq!(head(Arg::Input(1), 8), 0x2000u64.to_le_bytes());
        assert_eq!(head(Arg::Output(0), 8), 0x3000u64.to_le_bytes());
        assert_eq!(head(Arg::Scratch(0), 8), 0x4000u64.to_le_bytes());
        assert_eq!(head(Arg::I32(-2), 4), [0xfe, 0xff, 0xff, 0xff]);
        assert_eq!(head(Arg::I64(-2), 8), (-2i64).to_le_bytes());
        assert_eq!(head(Arg::F32(1.0), 4), [0, 0, 0x80, 0x3f]);
        let u4 = bytes(Arg::U32x4([1, 2, 3, 4])).unwrap().0;
        assert_eq!(&u4[..8], &[1, 0, 0, 0, 2, 0, 0, 0]);
        assert_eq!(&u4[12..], &[4, 0, 0, 0]);
        // Zero after the argument's own size.
        assert_eq!(&bytes(Arg::I32(-1)).unwrap().0[4..], &[0u8; 12]);
        // Buffers the set or the scratch lacks.
        let e = bytes(Arg::Output(3)).unwrap_err().to_string();
        assert_eq!(e, "plan names buffer 5, which does not exist");
        assert!(bytes(Arg::Scratch(1)).is_err());
    }
}
