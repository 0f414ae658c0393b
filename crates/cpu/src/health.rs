//! What a CPU can say about its own health: load and free memory.

use hotpath_core::{Health, HealthCheck, HealthState};

/// Load average over one minute vs the thread count, and available memory.
pub fn snapshot(threads: usize, mem_total: u64, mem_available: u64) -> Health {
    let mut checks = Vec::new();
    match std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse::<f64>().ok())
    {
        Some(load) => checks.push(HealthCheck {
            name: "load_1min".into(),
            state: load_state(load, threads),
            value: format!("{load:.2} on {threads} threads"),
        }),
        None => checks.push(HealthCheck {
            name: "load_1min".into(),
            state: HealthState::Unknown,
            value: "unreadable".into(),
        }),
    }
    let frac = if mem_total > 0 {
        mem_available as f64 / mem_total as f64
    } else {
        0.0
    };
    checks.push(HealthCheck {
        name: "memory_available".into(),
        state: if mem_total == 0 {
            HealthState::Unknown
        } else if frac < 0.1 {
            HealthState::Warn
        } else {
            HealthState::Ok
        },
        value: format!(
            "{:.1} GB of {:.1} GB",
            mem_available as f64 / 1e9,
            mem_total as f64 / 1e9
        ),
    });
    Health { checks }
}

/// A load above half the threads means other work competes with the benchmark.
pub fn load_state(load: f64, threads: usize) -> HealthState {
    if load > 0.5 * threads as f64 + 0.5 {
        HealthState::Warn
    } else {
        HealthState::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_verdicts() {
        assert_eq!(load_state(0.2, 2), HealthState::Ok);
        assert_eq!(load_state(1.6, 2), HealthState::Warn);
    }
}
