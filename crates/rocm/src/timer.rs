//! Device-side timing: a pair of HIP events (created with timing enabled) around back-to-back
//! iterations on the benchmark's stream, each on the next rotation set; and what one
//! iteration enqueues (our kernels, a hipBLASLt product, or a host copy).

use std::ffi::c_void;

use hotpath_core::{
    DType, Error, GraphReplay, HostTensor, OpKind, Prepared, Result, Seconds, Work,
};

use crate::blas;
use crate::buffers::{DevBuf, Pinned};
use crate::device::err;
use crate::hip::{Hip, MEMCPY_D2H, MEMCPY_H2D};

/// Kernel arguments of one step for one set: each value's bytes, kept alive for the launch.
pub(crate) struct Launch {
    /// The kernel.
    pub(crate) function: *mut c_void,
    /// Blocks.
    pub(crate) grid: (u32, u32, u32),
    /// Threads per block.
    pub(crate) block: (u32, u32, u32),
    /// Dynamic shared memory, bytes.
    pub(crate) shared_bytes: u32,
    /// Each argument's bytes.
    pub(crate) values: Vec<Vec<u8>>,
}

/// One step of an iteration.
pub(crate) enum Action {
    /// Launch a kernel.
    Kernel(Launch),
    /// Zero scratch buffer `i`.
    Zero(usize),
}

/// Where the output lives.
pub(crate) enum OutputPlace {
    /// Output buffer `i` of set 0.
    Device(usize),
    /// The pinned host buffer (`d2h`).
    Host,
}

/// A prepared benchmark: rotation sets, what one iteration enqueues, the timing events.
pub(crate) struct RocmBench {
    pub(crate) h: &'static Hip,
    pub(crate) stream: *mut c_void,
    /// Per rotation set, the steps of one iteration (our kernels).
    pub(crate) actions: Vec<Vec<Action>>,
    /// Per rotation set, its input and output buffers.
    pub(crate) sets: Vec<(Vec<DevBuf>, Vec<DevBuf>)>,
    /// Scratch buffers shared by all sets, with their sizes.
    pub(crate) scratch: Vec<(DevBuf, usize)>,
    /// `h2d` / `d2h`: the copy's direction, size and pinned host side.
    pub(crate) transfer: Option<(OpKind, usize, Pinned)>,
    /// The hipBLASLt product, for impl `hipblaslt`.
    pub(crate) blas: Option<blas::LtMatmul>,
    /// Where the output is, its name, dtype and shape.
    pub(crate) output: (OutputPlace, &'static str, DType, Vec<usize>),
    /// Work the kernel counts itself (`peak_mma`).
    pub(crate) counted: Option<Work>,
    /// The rotation set of the next iteration.
    pub(crate) next: usize,
    /// Start and end events (timing enabled).
    pub(crate) events: (*mut c_void, *mut c_void),
}

impl Drop for RocmBench {
    fn drop(&mut self) {
        // SAFETY: events created in `prepare`, destroyed once.
        unsafe {
            let _ = (self.h.hipEventDestroy)(self.events.0);
            let _ = (self.h.hipEventDestroy)(self.events.1);
        }
    }
}

impl RocmBench {
    /// Enqueues one iteration on rotation set `set`.
    pub(crate) fn iteration(&mut self, set: usize) -> Result<()> {
        let h = self.h;
        if let Some(b) = &self.blas {
            let (ins, outs) = &self.sets[set];
            return b.launch(ins[0].ptr, ins[1].ptr, outs[0].ptr, self.stream);
        }
        if let Some((op, bytes, host)) = &self.transfer {
            let (ins, outs) = &self.sets[set];
            // SAFETY: pinned host buffer and device buffers both hold `bytes`.
            let r = unsafe {
                if *op == OpKind::H2d {
                    (h.hipMemcpyAsync)(outs[0].ptr, host.ptr, *bytes, MEMCPY_H2D, self.stream)
                } else {
                    (h.hipMemcpyAsync)(host.ptr, ins[0].ptr, *bytes, MEMCPY_D2H, self.stream)
                }
            };
            return h.check("hipMemcpyAsync", r).map_err(err);
        }
        for action in &mut self.actions[set] {
            match action {
                Action::Zero(i) => {
                    let (buf, bytes) = &self.scratch[*i];
                    // SAFETY: the scratch buffer holds at least `bytes`.
                    h.check("hipMemsetAsync", unsafe {
                        (h.hipMemsetAsync)(buf.ptr, 0, *bytes, self.stream)
                    })
                    .map_err(err)?;
                }
                Action::Kernel(l) => {
                    let mut params: Vec<*mut c_void> = l
                        .values
                        .iter_mut()
                        .map(|v| v.as_mut_ptr() as *mut c_void)
                        .collect();
                    // SAFETY: `params` point at values laid out as the kernel's parameters
                    // (kernels/README.md); buffers outlive the launch.
                    let r = unsafe {
                        (h.hipModuleLaunchKernel)(
                            l.function,
                            l.grid.0,
                            l.grid.1,
                            l.grid.2,
                            l.block.0,
                            l.block.1,
                            l.block.2,
                            l.shared_bytes,
                            self.stream,
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
}

/// Records the end event `events.1` on `stream`, waits for it and returns the time since the
/// start event `events.0` was recorded on the same stream.
///
/// # Safety
/// Both events and the stream must be live HIP handles of the current device, and the start
/// event must have been recorded on `stream`.
pub(crate) unsafe fn elapsed_since_start(
    h: &Hip,
    events: (*mut c_void, *mut c_void),
    stream: *mut c_void,
) -> Result<Seconds> {
    let mut ms = 0f32;
    h.check("hipEventRecord", (h.hipEventRecord)(events.1, stream))
        .map_err(err)?;
    h.check("hipEventSynchronize", (h.hipEventSynchronize)(events.1))
        .map_err(err)?;
    h.check(
        "hipEventElapsedTime",
        (h.hipEventElapsedTime)(&mut ms, events.0, events.1),
    )
    .map_err(err)?;
    Ok(Seconds(f64::from(ms) / 1000.0))
}

impl Prepared for RocmBench {
    fn run(&mut self, iters: u32) -> Result<Seconds> {
        let h = self.h;
        // SAFETY: events and stream were created in `prepare` and live as long as `self`.
        unsafe {
            h.check(
                "hipEventRecord",
                (h.hipEventRecord)(self.events.0, self.stream),
            )
            .map_err(err)?
        };
        for _ in 0..iters {
            self.iteration(self.next)?;
            self.next = (self.next + 1) % self.sets.len();
        }
        // SAFETY: as above.
        unsafe { elapsed_since_start(h, self.events, self.stream) }
    }

    fn output(&mut self) -> Result<HostTensor> {
        self.iteration(0)?;
        let h = self.h;
        // SAFETY: stream created in `prepare`.
        h.check("hipStreamSynchronize", unsafe {
            (h.hipStreamSynchronize)(self.stream)
        })
        .map_err(err)?;
        let (place, name, dtype, shape) = &self.output;
        let len: usize = shape.iter().product();
        let bytes = len * dtype.size_bytes() as usize;
        let mut host = vec![0u8; bytes];
        match place {
            OutputPlace::Device(i) => {
                let src = self.sets[0].1[*i].ptr;
                // SAFETY: the output buffer holds at least `bytes`; `host` is exactly `bytes`.
                let r = unsafe {
                    (h.hipMemcpy)(host.as_mut_ptr() as *mut c_void, src, bytes, MEMCPY_D2H)
                };
                h.check("reading the output back", r).map_err(err)?;
            }
            OutputPlace::Host => {
                let Some((_, _, pinned)) = &self.transfer else {
                    return Err(Error::backend("d2h output without its pinned buffer"));
                };
                // SAFETY: the pinned buffer holds `bytes` (the copy's size); the stream is idle.
                host.copy_from_slice(unsafe {
                    std::slice::from_raw_parts(pinned.ptr as *const u8, bytes)
                });
            }
        }
        let _ = len;
        Ok(HostTensor::from_le_bytes(
            name,
            shape.clone(),
            *dtype,
            &host,
        ))
    }

    fn counted_work(&self) -> Option<Work> {
        self.counted
    }

    fn graph(&mut self, launches: u32) -> Result<Option<Box<dyn GraphReplay + '_>>> {
        Ok(Some(Box::new(crate::graph::capture(self, launches)?)))
    }
}
