//! CUDA graphs for launch-bound kernels ([`hotpath_core::graph_timing`]): a benchmark's
//! launches captured on its own stream with cudarc's `begin_capture`/`end_capture`
//! (thread-local mode: only this thread's unsafe calls are refused while capturing), the
//! graph instantiated and uploaded once, and replays timed by the benchmark's timing
//! events.

use std::sync::Arc;

use cudarc::driver::sys::{CUgraphInstantiate_flags, CUstreamCaptureMode};
use cudarc::driver::{CudaEvent, CudaGraph, CudaStream};
use hotpath_core::graph_timing::capture_order;
use hotpath_core::{Error, GraphReplay, Result, Seconds};

use crate::ops::{Launcher, Set};

fn driver(what: &str, e: impl std::fmt::Display) -> Error {
    Error::backend(format!("CUDA {what} failed: {e}"))
}

/// An instantiated graph of one benchmark's launches and the events that time its replays.
pub struct CudaGraphReplay<'a> {
    graph: CudaGraph,
    launches: u32,
    start: &'a CudaEvent,
    end: &'a CudaEvent,
    stream: &'a Arc<CudaStream>,
}

/// Captures `launches` iterations of `launcher` on `stream`, each on the next of `sets`
/// from `*next` (as a stream-timed batch would enqueue them), instantiates and uploads the
/// graph; `*next` moves past the captured launches. The capture is ended even when a
/// launch fails, so the stream stays usable; the launch's error is the one returned.
pub fn capture<'a>(
    stream: &'a Arc<CudaStream>,
    launcher: &mut dyn Launcher,
    sets: &mut [Set],
    next: &mut usize,
    events: (&'a CudaEvent, &'a CudaEvent),
    launches: u32,
) -> Result<CudaGraphReplay<'a>> {
    let (order, after) = capture_order(*next, launches, sets.len());
    if sets.is_empty() {
        return Err(Error::backend("a CUDA graph needs at least one buffer set"));
    }
    stream
        .begin_capture(CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL)
        .map_err(|e| driver("beginning a stream capture", e))?;
    let enqueued = order
        .iter()
        .try_for_each(|&i| launcher.launch(stream, &mut sets[i]));
    let ended = stream.end_capture(CUgraphInstantiate_flags(0));
    enqueued?;
    let graph = ended
        .map_err(|e| driver("ending the stream capture (or instantiating its graph)", e))?
        .ok_or_else(|| Error::backend("the CUDA stream capture recorded no graph"))?;
    graph
        .upload()
        .map_err(|e| driver("uploading the graph", e))?;
    *next = after;
    Ok(CudaGraphReplay {
        graph,
        launches,
        start: events.0,
        end: events.1,
        stream,
    })
}

impl GraphReplay for CudaGraphReplay<'_> {
    fn launches(&self) -> u32 {
        self.launches
    }

    fn replay(&mut self, replays: u32) -> Result<Seconds> {
        self.start
            .record(self.stream)
            .map_err(|e| driver("recording the start event", e))?;
        for _ in 0..replays {
            self.graph
                .launch()
                .map_err(|e| driver("launching the graph", e))?;
        }
        self.end
            .record(self.stream)
            .map_err(|e| driver("recording the end event", e))?;
        let ms = self
            .start
            .elapsed_ms(self.end)
            .map_err(|e| driver("reading the events", e))?;
        Ok(Seconds(f64::from(ms) / 1000.0))
    }
}
