//! Wall-clock timing of a CPU kernel over its rotation sets (`TimingMethod::WallClock`).

use std::time::Instant;

use hotpath_core::{HostTensor, Prepared, Result, Seconds, Work};

use crate::kernels::Kernel;

/// A kernel with its rotation state, timed with the monotonic clock.
pub struct Timed {
    kernel: Box<dyn Kernel>,
    sets: usize,
    next: usize,
}

impl Timed {
    /// Wraps `kernel`, which owns `sets` rotation sets.
    pub fn new(kernel: Box<dyn Kernel>, sets: usize) -> Timed {
        Timed {
            kernel,
            sets: sets.max(1),
            next: 0,
        }
    }
}

impl Prepared for Timed {
    fn run(&mut self, iters: u32) -> Result<Seconds> {
        let start = Instant::now();
        for _ in 0..iters {
            self.kernel.run(self.next)?;
            self.next = (self.next + 1) % self.sets;
        }
        Ok(Seconds(start.elapsed().as_secs_f64()))
    }

    fn output(&mut self) -> Result<HostTensor> {
        self.kernel.run(0)?;
        Ok(self.kernel.output(0))
    }

    fn counted_work(&self) -> Option<Work> {
        self.kernel.counted_work()
    }
}
