//! Device-side timing: a pair of CUDA events created *with* timing enabled
//! (`CU_EVENT_DEFAULT`; cudarc's `new_event(None)` disables timing) around back-to-back
//! launches on the benchmark's stream.

use std::sync::Arc;

use cudarc::driver::sys::CUevent_flags;
use cudarc::driver::{CudaContext, CudaEvent, CudaStream};
use hotpath_core::{Error, GraphReplay, HostTensor, Prepared, Result, Seconds, Work};

use crate::buffers::download;
use crate::ops::{Launcher, Set};

fn driver(what: &str, e: impl std::fmt::Display) -> Error {
    Error::backend(format!("CUDA {what} failed: {e}"))
}

/// A prepared GPU benchmark: launcher, rotation sets, events.
pub struct GpuBench {
    stream: Arc<CudaStream>,
    launcher: Box<dyn Launcher>,
    sets: Vec<Set>,
    next: usize,
    start: CudaEvent,
    end: CudaEvent,
}

impl GpuBench {
    /// Wraps a launcher and its sets; creates the timing events.
    pub fn new(
        ctx: &Arc<CudaContext>,
        stream: Arc<CudaStream>,
        launcher: Box<dyn Launcher>,
        sets: Vec<Set>,
    ) -> Result<GpuBench> {
        if sets.is_empty() {
            return Err(Error::backend(
                "a GPU benchmark needs at least one buffer set",
            ));
        }
        let event = || {
            ctx.new_event(Some(CUevent_flags::CU_EVENT_DEFAULT))
                .map_err(|e| driver("creating a timing event", e))
        };
        Ok(GpuBench {
            stream,
            launcher,
            sets,
            next: 0,
            start: event()?,
            end: event()?,
        })
    }
}

impl Prepared for GpuBench {
    fn run(&mut self, iters: u32) -> Result<Seconds> {
        self.start
            .record(&self.stream)
            .map_err(|e| driver("recording the start event", e))?;
        for _ in 0..iters {
            let set = &mut self.sets[self.next];
            self.launcher.launch(&self.stream, set)?;
            self.next = (self.next + 1) % self.sets.len();
        }
        self.end
            .record(&self.stream)
            .map_err(|e| driver("recording the end event", e))?;
        let ms = self
            .start
            .elapsed_ms(&self.end)
            .map_err(|e| driver("reading the events", e))?;
        Ok(Seconds(ms as f64 / 1000.0))
    }

    fn output(&mut self) -> Result<HostTensor> {
        self.launcher.launch(&self.stream, &mut self.sets[0])?;
        if let Some(host) = self.launcher.host_output(&self.stream) {
            return host;
        }
        let out = self.launcher.output();
        let buf = self.sets[0]
            .bufs
            .get(out.buf)
            .ok_or_else(|| Error::backend(format!("output buffer {} does not exist", out.buf)))?;
        download(&self.stream, buf, out.name, out.dtype, out.shape)
    }

    fn counted_work(&self) -> Option<Work> {
        self.launcher.counted_work()
    }

    fn graph(&mut self, launches: u32) -> Result<Option<Box<dyn GraphReplay + '_>>> {
        let g = crate::graph::capture(
            &self.stream,
            self.launcher.as_mut(),
            &mut self.sets,
            &mut self.next,
            (&self.start, &self.end),
            launches,
        )?;
        Ok(Some(Box::new(g)))
    }
}
