//! Timing of a CPU kernel over its rotation sets (`TimingMethod::WallClock`).
//!
//! Benchmarks are timed on the monotonic clock. The compute ceiling (`peak_mma`) is timed on
//! the cores instead ([`ON_CORE_CLOCK`]): a neighbour that keeps a core busy takes time
//! slices from the kernel's threads, and a wall-clock ceiling would then report the
//! neighbour's share as the hardware's limit (a busy second core halved `peak_mma`). The
//! busiest worker thread's CPU time is how long the kernel ran on the cores it had, and a
//! core's multiply-add rate does not depend on what the other cores do. Not so for
//! bandwidth: a thread running alone on the memory system gets more than its share, so
//! on-core time would overstate what all cores sustain together; the streaming ceilings
//! stay on the wall clock (measured: a copy at 64 GB/s on-core where the wall clock never
//! saw more than 41), with each worker pinned to its own core and under a real-time policy
//! for each batch where permitted ([`crate::priority`]).

use std::time::Instant;

use hotpath_core::{HostTensor, OpKind, Prepared, Result, Seconds, Work};

use crate::kernels::Kernel;
use crate::priority::{self, Raised};

/// How a ceiling's batches are timed, as its results record it.
pub const ON_CORE_CLOCK: &str = "on-core: CPU time of the busiest worker thread \
(CLOCK_THREAD_CPUTIME_ID, read on every rayon thread before and after the batch), at most \
the wall time; time a neighbour took from the threads is not counted";

/// [`ON_CORE_CLOCK`] for a compute ceiling whose workers also got their cores.
pub const ON_CORE_RAISED_CLOCK: &str = "on-core: CPU time of the busiest worker thread \
(CLOCK_THREAD_CPUTIME_ID, read on every rayon thread before and after the batch), at most \
the wall time; every worker pinned to its own CPU and under SCHED_FIFO (priority 1) during \
each batch, its own policy and CPUs restored after";

/// How a streaming ceiling's batches are timed when its workers got their cores.
pub const RAISED_CLOCK: &str = "wall clock, every rayon worker pinned to its own CPU and \
under SCHED_FIFO (priority 1) during each batch, its own policy and CPUs restored after: a \
neighbour at normal priority does not take the cores from the ceiling";

/// How a streaming ceiling's batches are timed when the real-time policy was refused.
pub const NOT_RAISED_CLOCK: &str = "wall clock, every rayon worker pinned to its own CPU \
during each batch at the process's priority: SCHED_FIFO was not permitted (needs root or \
CAP_SYS_NICE), so a neighbour on the cores takes its share of the ceiling";

/// A kernel with its rotation state.
pub struct Timed {
    kernel: Box<dyn Kernel>,
    sets: usize,
    next: usize,
    on_core: bool,
    /// A ceiling: its batches run pinned, under a real-time policy.
    raise: bool,
    /// What the raises of the batches so far did (refused once: refused).
    raised: Option<Raised>,
}

impl Timed {
    /// Wraps `kernel` of `op`, which owns `sets` rotation sets; the compute ceiling is
    /// timed on the cores, and every ceiling's workers get their cores ([`priority`]).
    pub fn new(kernel: Box<dyn Kernel>, sets: usize, op: OpKind) -> Timed {
        let on_core = op == OpKind::PeakMma;
        Timed {
            kernel,
            sets: sets.max(1),
            next: 0,
            on_core,
            raise: op.is_ceiling(),
            raised: None,
        }
    }
}

/// CPU time the calling thread has used, seconds; `None` when the clock cannot be read.
fn thread_cpu_s() -> Option<f64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    (rc == 0).then_some(ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9)
}

/// CPU time of every rayon worker thread, in thread order.
fn pool_cpu_s() -> Vec<Option<f64>> {
    rayon::broadcast(|_| thread_cpu_s())
}

/// The on-core time of a batch: the largest CPU time any worker used between `before` and
/// `after`, capped at `wall_s`; the wall time when no worker's clock could be read or none
/// ran (a kernel that did not use the pool).
pub fn on_core_s(before: &[Option<f64>], after: &[Option<f64>], wall_s: f64) -> f64 {
    let busiest = before
        .iter()
        .zip(after)
        .filter_map(|(b, a)| Some(a.as_ref()? - b.as_ref()?))
        .fold(0.0_f64, f64::max);
    if busiest > 0.0 {
        busiest.min(wall_s)
    } else {
        wall_s
    }
}

impl Prepared for Timed {
    fn run(&mut self, iters: u32) -> Result<Seconds> {
        let priority = self.raise.then(priority::raise_pool);
        let before = self.on_core.then(pool_cpu_s);
        let (kernel, sets, next) = (&mut self.kernel, self.sets, &mut self.next);
        let mut batch = || -> Result<f64> {
            let start = Instant::now();
            for _ in 0..iters {
                kernel.run(*next)?;
                *next = (*next + 1) % sets;
            }
            Ok(start.elapsed().as_secs_f64())
        };
        // A ceiling's batch is driven from a worker (the pool's, pinned and real-time), as
        // OpenMP's master thread takes part: dispatched from this thread, every iteration
        // would wait for it to be scheduled beside workers that keep their cores.
        let wall_s = if priority.is_some() {
            rayon::scope(|_| batch())
        } else {
            batch()
        };
        if let Some((restore, raised)) = priority {
            priority::restore_pool(&restore);
            if self.raised != Some(Raised::NotPermitted) {
                self.raised = Some(raised);
            }
        }
        let wall_s = wall_s?;
        Ok(Seconds(match before {
            Some(before) => on_core_s(&before, &pool_cpu_s(), wall_s),
            None => wall_s,
        }))
    }

    fn output(&mut self) -> Result<HostTensor> {
        self.kernel.run(0)?;
        Ok(self.kernel.output(0))
    }

    fn counted_work(&self) -> Option<Work> {
        self.kernel.counted_work()
    }

    fn clock(&self) -> Option<&'static str> {
        match (self.on_core, self.raised) {
            (true, Some(Raised::Yes)) => Some(ON_CORE_RAISED_CLOCK),
            (true, _) => Some(ON_CORE_CLOCK),
            (false, Some(Raised::Yes)) => Some(RAISED_CLOCK),
            (false, Some(Raised::NotPermitted)) => Some(NOT_RAISED_CLOCK),
            (false, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts the runs on each set, in a count the test keeps too.
    struct Counting(std::sync::Arc<std::sync::Mutex<Vec<usize>>>);

    impl Kernel for Counting {
        fn run(&mut self, set: usize) -> Result<()> {
            self.0.lock().unwrap()[set] += 1;
            Ok(())
        }
        fn output(&self, _: usize) -> HostTensor {
            unreachable!("the test reads the counts")
        }
    }

    #[test]
    fn a_batch_rotates_through_the_sets_from_the_first() {
        let counts = std::sync::Arc::new(std::sync::Mutex::new(vec![0; 5]));
        let mut t = Timed::new(Box::new(Counting(counts.clone())), 5, OpKind::Copy);
        // A batch of 7 runs sets 0..5 and 0..2 again; the next batch goes on from set 2.
        t.run(7).unwrap();
        assert_eq!(*counts.lock().unwrap(), [2, 2, 1, 1, 1]);
        t.run(3).unwrap();
        assert_eq!(*counts.lock().unwrap(), [2, 2, 2, 2, 2]);
    }

    #[test]
    fn on_core_time_is_the_busiest_thread_at_most_the_wall() {
        // Two workers used 6 ms and 8 ms of CPU in a 12 ms batch (a neighbour took 4 ms from
        // the busier one's core): the kernel ran 8 ms on the cores.
        let before = [Some(1.0), Some(2.0)];
        let after = [Some(1.006), Some(2.008)];
        assert!((on_core_s(&before, &after, 0.012) - 0.008).abs() < 1e-12);
        // Never more than the wall time (clock granularity).
        assert_eq!(on_core_s(&before, &after, 0.005), 0.005);
        // No readable clock, or no worker ran: the wall time.
        assert_eq!(on_core_s(&[None, None], &[None, None], 0.01), 0.01);
        assert_eq!(on_core_s(&before, &before, 0.01), 0.01);
        // One unreadable worker does not hide the others.
        assert!((on_core_s(&[None, Some(0.0)], &[None, Some(0.003)], 0.01) - 0.003).abs() < 1e-12);
    }

    #[test]
    fn a_busy_worker_reads_its_own_cpu_time() {
        // Every worker reads a clock that moves forward while it computes.
        let before = pool_cpu_s();
        let x: f64 = rayon::broadcast(|_| (0..2_000_000).map(|i| (i as f64).sqrt()).sum::<f64>())
            .into_iter()
            .sum();
        assert!(x > 0.0);
        let after = pool_cpu_s();
        assert!(before
            .iter()
            .zip(&after)
            .all(|(b, a)| a.unwrap() > b.unwrap()));
    }
}
