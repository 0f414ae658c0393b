//! Device-side timing: a pair of HIP events (created with timing enabled) around back-to-back
//! iterations on the benchmark's stream, each on the next rotation set; what one iteration
//! enqueues is its launcher's ([`crate::ops`]).

use std::ffi::c_void;

use hotpath_core::{Error, GraphReplay, HostTensor, Prepared, Result, Seconds, Work};

use crate::buffers::download;
use crate::device::err;
use crate::hip::Hip;
use crate::ops::{Launcher, Set};

/// A prepared GPU benchmark: launcher, rotation sets, events.
pub(crate) struct RocmBench {
    pub(crate) h: &'static Hip,
    pub(crate) stream: *mut c_void,
    launcher: Box<dyn Launcher>,
    /// The rotation sets, each the op's inputs then its outputs.
    pub(crate) sets: Vec<Set>,
    /// The rotation set of the next iteration.
    pub(crate) next: usize,
    /// Start and end events (timing enabled).
    pub(crate) events: (*mut c_void, *mut c_void),
}

impl Drop for RocmBench {
    fn drop(&mut self) {
        // SAFETY: events created in `new`, destroyed once.
        unsafe {
            let _ = (self.h.hipEventDestroy)(self.events.0);
            let _ = (self.h.hipEventDestroy)(self.events.1);
        }
    }
}

fn event(h: &Hip) -> Result<*mut c_void> {
    let mut e = std::ptr::null_mut();
    // SAFETY: out-pointer valid; hipEventCreate makes an event with timing enabled.
    h.check("hipEventCreate", unsafe { (h.hipEventCreate)(&mut e) })
        .map_err(err)?;
    Ok(e)
}

impl RocmBench {
    /// Wraps a launcher and its sets, enqueued on `stream`; creates the timing events.
    pub(crate) fn new(
        h: &'static Hip,
        stream: *mut c_void,
        launcher: Box<dyn Launcher>,
        sets: Vec<Set>,
    ) -> Result<RocmBench> {
        if sets.is_empty() {
            return Err(Error::backend(
                "a GPU benchmark needs at least one buffer set",
            ));
        }
        let start = event(h)?;
        let end = event(h).inspect_err(|_| {
            // SAFETY: created just above and not used anywhere else.
            let _ = unsafe { (h.hipEventDestroy)(start) };
        })?;
        Ok(RocmBench {
            h,
            stream,
            launcher,
            sets,
            next: 0,
            events: (start, end),
        })
    }

    /// Enqueues one iteration on rotation set `set`.
    pub(crate) fn iteration(&mut self, set: usize) -> Result<()> {
        let set = self
            .sets
            .get_mut(set)
            .ok_or_else(|| Error::backend(format!("rotation set {set} does not exist")))?;
        self.launcher.launch(self.stream, set)
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
        // SAFETY: the events were created in `new`, the stream in `open`; both outlive `self`'s use.
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
        if let Some(host) = self.launcher.host_output(self.stream) {
            return host;
        }
        let h = self.h;
        // SAFETY: stream created in `open`, live as long as the device.
        h.check("hipStreamSynchronize", unsafe {
            (h.hipStreamSynchronize)(self.stream)
        })
        .map_err(err)?;
        let out = self.launcher.output();
        let buf = self.sets[0]
            .bufs
            .get(out.buf)
            .ok_or_else(|| Error::backend(format!("output buffer {} does not exist", out.buf)))?;
        download(h, buf, out.name, out.dtype, out.shape)
    }

    fn counted_work(&self) -> Option<Work> {
        self.launcher.counted_work()
    }

    fn graph(&mut self, launches: u32) -> Result<Option<Box<dyn GraphReplay + '_>>> {
        Ok(Some(Box::new(crate::graph::capture(self, launches)?)))
    }
}
