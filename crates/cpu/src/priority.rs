//! The worker threads of a ceiling get their cores while a batch is timed.
//!
//! A ceiling is what the memory system sustains. On a node where another process keeps a
//! core busy, the kernel's worker on that core gets half of it, and the wall-clock copy then
//! measures the neighbour's share: 22 GB/s where the quiet run read 31 (one core of this
//! 2-core VM pulls 24). Timing on the cores does not help for bandwidth (a thread alone on
//! the memory system gets more than its share), and a nice value does not either: with
//! autogroups (the default of most distributions) nice weighs threads only against their
//! own session, and a nice −20 thread here still got half a core against a nice-0 loop.
//!
//! So, where permitted (root, or `CAP_SYS_NICE`), every rayon worker is pinned to its own
//! CPU (worker `i` to the `i`-th CPU it may use, as STREAM's `OMP_PROC_BIND` does) and runs
//! under `SCHED_FIFO` at the lowest real-time priority ([`CEILING_RT_PRIORITY`]) for each
//! timed batch of a ceiling (streaming, and `peak_mma`, which is also timed on the cores
//! for when the policy is refused), and gets its own policy and CPU mask back right
//! after. A neighbour at normal priority then waits for the batch (measured: a spinning
//! thread got 0.95 of a core against a busy loop, nice −20 got 0.5); the kernel's real-time
//! throttling (`sched_rt_runtime_us`, 95 % by default) still leaves others a share, the
//! batches last tens of milliseconds, and the ceilings a few seconds in all. Benchmarks other
//! than the ceilings keep the process's scheduling: they are measured as they would run.

/// The `SCHED_FIFO` priority of the workers while a ceiling's batch runs: the
/// lowest, so that no real-time thread of the system waits for it.
pub const CEILING_RT_PRIORITY: i32 = 1;

/// Whether the workers got their cores, as a ceiling's result records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Raised {
    /// Every worker ran the batch pinned, under `SCHED_FIFO`.
    Yes,
    /// The system refused the real-time policy (no root or `CAP_SYS_NICE`) to at least
    /// one worker.
    NotPermitted,
}

/// A thread's scheduling policy and priority.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// `SCHED_OTHER`, `SCHED_FIFO`, ... (without `SCHED_RESET_ON_FORK`).
    pub policy: i32,
    /// Its static priority (0 for the normal policies).
    pub priority: i32,
}

/// What each worker had before [`raise_pool`], in thread order, to put back.
pub struct Before {
    policy: Vec<Option<Policy>>,
    mask: Vec<Option<libc::cpu_set_t>>,
}

/// The calling thread's policy; None when it cannot be read.
pub fn thread_policy() -> Option<Policy> {
    // SAFETY: pid 0 is the calling thread; `param` is valid and writable.
    unsafe {
        let policy = libc::sched_getscheduler(0);
        let mut param: libc::sched_param = std::mem::zeroed();
        (policy >= 0 && libc::sched_getparam(0, &mut param) == 0).then_some(Policy {
            policy: policy & !libc::SCHED_RESET_ON_FORK,
            priority: param.sched_priority,
        })
    }
}

/// Sets the calling thread's policy; false when refused. A real-time policy is not passed
/// on to processes the thread forks.
fn set_thread_policy(p: Policy) -> bool {
    let param = libc::sched_param {
        sched_priority: p.priority,
    };
    let flags = if p.policy == libc::SCHED_FIFO {
        libc::SCHED_RESET_ON_FORK
    } else {
        0
    };
    // SAFETY: pid 0 is the calling thread; `param` is valid.
    unsafe { libc::sched_setscheduler(0, p.policy | flags, &param) == 0 }
}

/// The CPUs the calling thread may run on; None when they cannot be read.
fn thread_mask() -> Option<libc::cpu_set_t> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; the size passed is its own.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        (libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0)
            .then_some(set)
    }
}

/// Sets the calling thread's CPU mask; false when refused.
fn set_thread_mask(set: &libc::cpu_set_t) -> bool {
    // SAFETY: `set` is a valid cpu_set_t of the size passed.
    unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) == 0 }
}

/// The CPUs of `set`, in order.
pub fn cpus_of(set: &libc::cpu_set_t) -> Vec<usize> {
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: i is below CPU_SETSIZE.
        .filter(|&i| unsafe { libc::CPU_ISSET(i, set) })
        .collect()
}

/// The set holding the `k`-th CPU of `set` alone (counting from 0, modulo their number);
/// None for an empty set.
pub fn nth_cpu(set: &libc::cpu_set_t, k: usize) -> Option<libc::cpu_set_t> {
    let cpus = cpus_of(set);
    let cpu = *cpus.get(k % cpus.len().max(1))?;
    // SAFETY: a zeroed cpu_set_t is a valid empty set; cpu is below CPU_SETSIZE.
    unsafe {
        let mut one: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut one);
        Some(one)
    }
}

/// Pins every rayon worker to its own CPU and puts it under `SCHED_FIFO` at
/// [`CEILING_RT_PRIORITY`]; returns what to restore and whether every worker got the
/// policy.
pub fn raise_pool() -> (Before, Raised) {
    let each = rayon::broadcast(|ctx| {
        let mask = thread_mask();
        if let Some(one) = mask.as_ref().and_then(|m| nth_cpu(m, ctx.index())) {
            set_thread_mask(&one);
        }
        let before = thread_policy();
        let raised = before.is_some()
            && set_thread_policy(Policy {
                policy: libc::SCHED_FIFO,
                priority: CEILING_RT_PRIORITY,
            });
        (before, mask, raised)
    });
    let raised = if each.iter().all(|(_, _, r)| *r) {
        Raised::Yes
    } else {
        Raised::NotPermitted
    };
    let (policy, mask) = each.into_iter().map(|(p, m, _)| (p, m)).unzip();
    (Before { policy, mask }, raised)
}

/// Gives every worker back the policy and CPU mask it had before [`raise_pool`] (leaving a
/// real-time policy is always permitted).
pub fn restore_pool(before: &Before) {
    rayon::broadcast(|ctx| {
        if let Some(Some(p)) = before.policy.get(ctx.index()) {
            set_thread_policy(*p);
        }
        if let Some(Some(mask)) = before.mask.get(ctx.index()) {
            set_thread_mask(mask);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workers_run_pinned_and_real_time_and_go_back() {
        let state = || rayon::broadcast(|_| (thread_policy(), thread_mask().map(|m| cpus_of(&m))));
        let start = state();
        assert!(start.iter().all(|(p, m)| p.is_some() && m.is_some()));
        let (before, raised) = raise_pool();
        let during = state();
        restore_pool(&before);
        assert_eq!(state(), start);
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            assert_eq!(raised, Raised::Yes);
        }
        let fifo = Some(Policy {
            policy: libc::SCHED_FIFO,
            priority: CEILING_RT_PRIORITY,
        });
        match raised {
            Raised::Yes => assert!(during.iter().all(|(p, _)| *p == fifo), "{during:?}"),
            Raised::NotPermitted => assert!(during.iter().any(|(p, _)| *p != fifo)),
        }
        // Worker i runs on the i-th allowed CPU alone (modulo their number).
        let allowed = start[0].1.clone().unwrap();
        for (i, (_, m)) in during.iter().enumerate() {
            assert_eq!(m.clone().unwrap(), vec![allowed[i % allowed.len()]]);
        }
    }

    #[test]
    fn the_nth_cpu_of_a_mask() {
        // SAFETY: a zeroed cpu_set_t is a valid empty set; the CPUs are below CPU_SETSIZE.
        let set = unsafe {
            let mut s: libc::cpu_set_t = std::mem::zeroed();
            for c in [2, 5, 7] {
                libc::CPU_SET(c, &mut s);
            }
            s
        };
        assert_eq!(cpus_of(&set), vec![2, 5, 7]);
        assert_eq!(cpus_of(&nth_cpu(&set, 1).unwrap()), vec![5]);
        assert_eq!(cpus_of(&nth_cpu(&set, 4).unwrap()), vec![5]);
        // SAFETY: as above.
        let empty: libc::cpu_set_t = unsafe { std::mem::zeroed() };
        assert!(nth_cpu(&empty, 0).is_none());
    }
}
