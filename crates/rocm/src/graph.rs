//! HIP graphs for launch-bound kernels ([`hotpath_core::graph_timing`]): a benchmark's
//! iterations captured on its own stream (`hipStreamBeginCapture`, thread-local mode), the
//! graph instantiated once, and replays (`hipGraphLaunch`) timed by the benchmark's events.
//! The order of calls (capture always ended, a partial or uninstantiable graph destroyed)
//! is [`capture_with`], apart from HIP so it is tested without a GPU.

use std::ffi::c_void;
use std::marker::PhantomData;

use hotpath_core::graph_timing::capture_order;
use hotpath_core::{Error, GraphReplay, Result, Seconds};

use crate::device::err;
use crate::hip::{Hip, CAPTURE_MODE_THREAD_LOCAL};
use crate::timer::RocmBench;

/// The calls one capture makes, in the order [`capture_with`] makes them.
pub(crate) trait CaptureCalls {
    /// Starts capturing the stream.
    fn begin(&mut self) -> Result<()>;
    /// Enqueues one iteration on rotation set `set`.
    fn iteration(&mut self, set: usize) -> Result<()>;
    /// Ends the capture; the graph it recorded (null when none).
    fn end(&mut self) -> Result<*mut c_void>;
    /// Instantiates `graph`; the executable graph.
    fn instantiate(&mut self, graph: *mut c_void) -> Result<*mut c_void>;
    /// Destroys `graph` (a failure to do so is not reported: nothing can be done about it).
    fn destroy_graph(&mut self, graph: *mut c_void);
}

/// Captures one iteration per entry of `sets` (rotation set indices, in launch order) and
/// instantiates the graph: `(graph, executable graph)`. The capture is ended even when an
/// iteration fails (so the stream stays usable), and a graph that is not handed back is
/// destroyed; the first failure is the error returned.
pub(crate) fn capture_with(
    calls: &mut dyn CaptureCalls,
    sets: &[usize],
) -> Result<(*mut c_void, *mut c_void)> {
    calls.begin()?;
    let enqueued = sets.iter().try_for_each(|&s| calls.iteration(s));
    let ended = calls.end();
    let graph = match (enqueued, ended) {
        (Ok(()), Ok(g)) => g,
        (Err(e), Ok(g)) => {
            if !g.is_null() {
                calls.destroy_graph(g);
            }
            return Err(e);
        }
        (Err(e), Err(_)) | (Ok(()), Err(e)) => return Err(e),
    };
    if graph.is_null() {
        return Err(Error::backend("the HIP stream capture recorded no graph"));
    }
    match calls.instantiate(graph) {
        Ok(exec) => Ok((graph, exec)),
        Err(e) => {
            calls.destroy_graph(graph);
            Err(e)
        }
    }
}

/// [`CaptureCalls`] on a prepared benchmark's stream.
struct OnStream<'b> {
    bench: &'b mut RocmBench,
}

impl CaptureCalls for OnStream<'_> {
    fn begin(&mut self) -> Result<()> {
        let h = self.bench.h;
        // SAFETY: the stream was created in `prepare` and lives as long as the benchmark.
        let r = unsafe { (h.hipStreamBeginCapture)(self.bench.stream, CAPTURE_MODE_THREAD_LOCAL) };
        h.check("hipStreamBeginCapture", r).map_err(err)
    }

    fn iteration(&mut self, set: usize) -> Result<()> {
        self.bench.iteration(set)
    }

    fn end(&mut self) -> Result<*mut c_void> {
        let h = self.bench.h;
        let mut graph = std::ptr::null_mut();
        // SAFETY: as in `begin`; `graph` is valid for writes.
        let r = unsafe { (h.hipStreamEndCapture)(self.bench.stream, &mut graph) };
        h.check("hipStreamEndCapture", r).map_err(err)?;
        Ok(graph)
    }

    fn instantiate(&mut self, graph: *mut c_void) -> Result<*mut c_void> {
        let h = self.bench.h;
        let mut exec = std::ptr::null_mut();
        // SAFETY: `graph` came from hipStreamEndCapture; no error node or log is asked for.
        let r = unsafe {
            (h.hipGraphInstantiate)(
                &mut exec,
                graph,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                0,
            )
        };
        h.check("hipGraphInstantiate", r).map_err(err)?;
        Ok(exec)
    }

    fn destroy_graph(&mut self, graph: *mut c_void) {
        // SAFETY: `graph` came from hipStreamEndCapture and is destroyed once.
        let _ = unsafe { (self.bench.h.hipGraphDestroy)(graph) };
    }
}

/// An instantiated graph of one benchmark's iterations, replayed on its stream and timed
/// by its events; both graphs are destroyed on drop. Borrows the benchmark, whose buffers
/// the graph's launches read.
pub(crate) struct HipGraph<'a> {
    h: &'static Hip,
    stream: *mut c_void,
    events: (*mut c_void, *mut c_void),
    graph: *mut c_void,
    exec: *mut c_void,
    launches: u32,
    _bench: PhantomData<&'a RocmBench>,
}

impl Drop for HipGraph<'_> {
    fn drop(&mut self) {
        // SAFETY: both were created by `capture` and are destroyed once, executable first.
        unsafe {
            let _ = (self.h.hipGraphExecDestroy)(self.exec);
            let _ = (self.h.hipGraphDestroy)(self.graph);
        }
    }
}

/// Captures `launches` iterations of `bench`, each on the next rotation set from its
/// current one (as a stream-timed batch would enqueue them), and instantiates the graph;
/// the benchmark's next set moves past them.
pub(crate) fn capture(bench: &mut RocmBench, launches: u32) -> Result<HipGraph<'_>> {
    if bench.sets.is_empty() {
        return Err(Error::backend("a HIP graph needs at least one buffer set"));
    }
    let (order, after) = capture_order(bench.next, launches, bench.sets.len());
    let (graph, exec) = capture_with(&mut OnStream { bench: &mut *bench }, &order)?;
    bench.next = after;
    Ok(HipGraph {
        h: bench.h,
        stream: bench.stream,
        events: bench.events,
        graph,
        exec,
        launches,
        _bench: PhantomData,
    })
}

impl GraphReplay for HipGraph<'_> {
    fn launches(&self) -> u32 {
        self.launches
    }

    fn replay(&mut self, replays: u32) -> Result<Seconds> {
        let h = self.h;
        // SAFETY: stream and events live as long as the benchmark this graph borrows; the
        // executable graph was instantiated in `capture`.
        unsafe {
            h.check(
                "hipEventRecord",
                (h.hipEventRecord)(self.events.0, self.stream),
            )
            .map_err(err)?;
            for _ in 0..replays {
                h.check("hipGraphLaunch", (h.hipGraphLaunch)(self.exec, self.stream))
                    .map_err(err)?;
            }
            crate::timer::elapsed_since_start(h, self.events, self.stream)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records every call; fails where told.
    #[derive(Default)]
    struct Script {
        calls: Vec<String>,
        fail_iteration: Option<usize>,
        end_fails: bool,
        end_returns_null: bool,
        instantiate_fails: bool,
    }

    /// Stand-in handles (never dereferenced).
    const GRAPH: usize = 0x100;
    const EXEC: usize = 0x200;

    impl CaptureCalls for Script {
        fn begin(&mut self) -> Result<()> {
            self.calls.push("begin".into());
            Ok(())
        }
        fn iteration(&mut self, set: usize) -> Result<()> {
            self.calls.push(format!("iteration {set}"));
            if self.fail_iteration == Some(self.calls.len() - 2) {
                return Err(Error::backend("hipModuleLaunchKernel failed"));
            }
            Ok(())
        }
        fn end(&mut self) -> Result<*mut c_void> {
            self.calls.push("end".into());
            if self.end_fails {
                return Err(Error::backend("hipStreamEndCapture failed"));
            }
            Ok(if self.end_returns_null {
                std::ptr::null_mut()
            } else {
                GRAPH as *mut c_void
            })
        }
        fn instantiate(&mut self, graph: *mut c_void) -> Result<*mut c_void> {
            self.calls
                .push(format!("instantiate {:#x}", graph as usize));
            if self.instantiate_fails {
                return Err(Error::backend("hipGraphInstantiate failed"));
            }
            Ok(EXEC as *mut c_void)
        }
        fn destroy_graph(&mut self, graph: *mut c_void) {
            self.calls.push(format!("destroy {:#x}", graph as usize));
        }
    }

    #[test]
    fn captures_each_launch_on_its_set_then_instantiates() {
        let mut s = Script::default();
        let (order, _) = capture_order(1, 4, 2);
        let (g, e) = capture_with(&mut s, &order).unwrap();
        assert_eq!((g as usize, e as usize), (GRAPH, EXEC));
        assert_eq!(
            s.calls,
            [
                "begin",
                "iteration 1",
                "iteration 0",
                "iteration 1",
                "iteration 0",
                "end",
                "instantiate 0x100"
            ]
        );
    }

    #[test]
    fn a_failed_launch_still_ends_the_capture_and_frees_the_partial_graph() {
        // The second launch (index 1) fails: the capture is ended, the graph destroyed, and
        // the launch's error returned.
        let mut s = Script {
            fail_iteration: Some(1),
            ..Script::default()
        };
        let e = capture_with(&mut s, &[0, 1, 0]).unwrap_err().to_string();
        assert!(e.contains("hipModuleLaunchKernel"), "{e}");
        assert_eq!(
            s.calls,
            [
                "begin",
                "iteration 0",
                "iteration 1",
                "end",
                "destroy 0x100"
            ]
        );
        // The same when ending fails too: the launch's error is the one reported.
        let mut s = Script {
            fail_iteration: Some(0),
            end_fails: true,
            ..Script::default()
        };
        let e = capture_with(&mut s, &[0, 1]).unwrap_err().to_string();
        assert!(e.contains("hipModuleLaunchKernel"), "{e}");
        assert_eq!(s.calls, ["begin", "iteration 0", "end"]);
    }

    #[test]
    fn an_uninstantiable_or_missing_graph_is_an_error() {
        let mut s = Script {
            instantiate_fails: true,
            ..Script::default()
        };
        let e = capture_with(&mut s, &[0]).unwrap_err().to_string();
        assert!(e.contains("hipGraphInstantiate"), "{e}");
        assert_eq!(
            s.calls,
            [
                "begin",
                "iteration 0",
                "end",
                "instantiate 0x100",
                "destroy 0x100"
            ]
        );
        let mut s = Script {
            end_returns_null: true,
            ..Script::default()
        };
        let e = capture_with(&mut s, &[0]).unwrap_err().to_string();
        assert!(e.contains("recorded no graph"), "{e}");
        assert_eq!(s.calls, ["begin", "iteration 0", "end"]);
    }
}
