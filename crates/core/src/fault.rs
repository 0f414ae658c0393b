//! Fault injection for tests of hotpath's own fault handling: `HOTPATH_FAULT` makes chosen
//! benchmarks crash, hang, fail on the device or return wrong data, so the worker isolation,
//! the watchdog, the worker replacement and the correctness check are exercised on any
//! backend, the CPU included.
//!
//! Format: comma-separated `KIND:PATTERN` entries, KIND one of `crash` (the process aborts,
//! as a GPU fault poisoning a context would end it), `hang` (the benchmark never returns),
//! `poison` (its first kernel run fails with a device error, and the device object is
//! poisoned: every later call on it in this process fails too, as after a sticky CUDA error
//! such as an illegal address), `refuse` (preparing it fails with an `Unsupported`
//! refusal, as a launch plan refuses a shape before touching the device), `wrong` (the
//! output is perturbed before the correctness check), `slow` (every timed
//! batch runs the kernel twice as often as it counts, so the benchmark measures at half its
//! speed: a slow GPU for the fleet and threshold checks; `slowN`, N from 2 to 1000, runs it N
//! times, e.g. `slow4` for a quarter of the speed) or `slowerP` (every timed batch is reported
//! P % longer than it took, P from 1 to 100: a kernel made P % slower with its own noise, e.g.
//! `slower10`, the planted 10 % slowdown of the nightly job's self-test); PATTERN is a
//! substring of the benchmark id (`op/shape/dtype/impl`). Example:
//! `HOTPATH_FAULT=crash:gemv/m=1,wrong:triad`. Unset, nothing is injected. `poison` and
//! `refuse` are device-side: [`inject`] wraps the backend so that its devices carry them
//! out (see [`device`]); the others are carried out by the runner.

mod device;

pub use device::{inject, FaultyBackend, FaultyDevice};

use crate::backend::Prepared;
use crate::error::{Error, Result};
use crate::tensor::{HostData, HostTensor};
use crate::units::Seconds;

/// The environment variable read.
pub const ENV: &str = "HOTPATH_FAULT";
/// The largest slow-down factor `slowN` accepts.
pub const MAX_SLOW: u32 = 1000;
/// The largest percentage `slowerP` accepts.
pub const MAX_SLOWER_PCT: u32 = 100;

/// A fault to inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Abort the process.
    Crash,
    /// Never return.
    Hang,
    /// Fail the first kernel run with a device error and poison the device object.
    Poison,
    /// Refuse the benchmark in `prepare` (`Unsupported`), leaving the device as it was.
    Refuse,
    /// Corrupt the output.
    Wrong,
    /// Run this many times the iterations each timed batch counts (1 / N of the measured
    /// speed); `slow` is 2.
    Slow(u32),
    /// Report every timed batch this many percent longer than it took.
    Slower(u32),
}

/// Parses `HOTPATH_FAULT` text into (fault, id pattern) pairs.
pub fn parse(text: &str) -> Result<Vec<(Fault, String)>> {
    text.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| {
            let (kind, pattern) = entry.split_once(':').unwrap_or((entry, ""));
            let fault = match kind {
                "crash" => Fault::Crash,
                "hang" => Fault::Hang,
                "poison" => Fault::Poison,
                "refuse" => Fault::Refuse,
                "wrong" => Fault::Wrong,
                "slow" => Fault::Slow(2),
                other => {
                    let slower = other.strip_prefix("slower").map(str::parse::<u32>);
                    let slow = other.strip_prefix("slow").map(str::parse::<u32>);
                    match (slower, slow) {
                        (Some(Ok(p)), _) if (1..=MAX_SLOWER_PCT).contains(&p) => Fault::Slower(p),
                        (None, Some(Ok(n))) if (2..=MAX_SLOW).contains(&n) => Fault::Slow(n),
                        _ => {
                            return Err(Error::bad_input(format!(
                                "{ENV} entry '{entry}' has fault '{other}'; accepted: crash, hang, poison, refuse, wrong, slow, slowN with N from 2 to {MAX_SLOW}, slowerP with P from 1 to {MAX_SLOWER_PCT} (as KIND:ID-SUBSTRING)"
                            )))
                        }
                    }
                }
            };
            if pattern.is_empty() {
                return Err(Error::bad_input(format!(
                    "{ENV} entry '{entry}' names no benchmark; write KIND:ID-SUBSTRING, e.g. crash:gemv"
                )));
            }
            Ok((fault, pattern.to_string()))
        })
        .collect()
}

/// The fault injected into benchmark `id`, if `HOTPATH_FAULT` asks for one.
pub fn for_benchmark(id: &str) -> Result<Option<Fault>> {
    let Ok(text) = std::env::var(ENV) else {
        return Ok(None);
    };
    Ok(parse(&text)?
        .into_iter()
        .find(|(_, pattern)| id.contains(pattern.as_str()))
        .map(|(f, _)| f))
}

/// Carries out a `Crash` or `Hang` (a `Wrong` is applied to the output by [`corrupt`], a
/// `Slow` or `Slower` to the timed batches by [`Repeated`] or [`Stretched`], a `Poison` or `Refuse` by the device that
/// [`inject`] wrapped).
pub fn strike(fault: Fault) {
    match fault {
        Fault::Crash => {
            eprintln!("{ENV}: crashing on purpose");
            std::process::abort();
        }
        Fault::Hang => {
            eprintln!("{ENV}: hanging on purpose");
            loop {
                std::thread::sleep(std::time::Duration::from_secs(3600));
            }
        }
        Fault::Wrong | Fault::Slow(_) | Fault::Slower(_) | Fault::Poison | Fault::Refuse => {}
    }
}

/// Perturbs an output the way a broken kernel would: every value gains 1 + 50 % of itself
/// (integer outputs: +1), so the result is wrong by far more than any tolerance.
pub fn corrupt(output: &mut HostTensor) {
    match &mut output.data {
        HostData::F32(v) => v.iter_mut().for_each(|x| *x = *x * 1.5 + 1.0),
        HostData::F16(v) => v
            .iter_mut()
            .for_each(|x| *x = half::f16::from_f32(x.to_f32() * 1.5 + 1.0)),
        HostData::Bf16(v) => v
            .iter_mut()
            .for_each(|x| *x = half::bf16::from_f32(x.to_f32() * 1.5 + 1.0)),
        HostData::Fp8E4m3(v) | HostData::Fp8E4m3Fnuz(v) => {
            v.iter_mut().for_each(|x| *x = x.wrapping_add(9))
        }
        HostData::I32(v) => v.iter_mut().for_each(|x| *x = x.wrapping_add(1)),
        HostData::U32(v) => v.iter_mut().for_each(|x| *x = x.wrapping_add(1)),
    }
}

/// A prepared benchmark that runs every timed batch `times` times and reports the sum: the
/// `slow` fault. The work is real (the kernel runs), only its count is divided by `times`.
pub struct Repeated {
    /// The benchmark slowed down.
    pub prepared: Box<dyn Prepared>,
    /// Runs per counted batch (at least 1).
    pub times: u32,
}

impl Prepared for Repeated {
    fn run(&mut self, iters: u32) -> Result<Seconds> {
        let mut total = 0.0;
        for _ in 0..self.times.max(1) {
            total += self.prepared.run(iters)?.0;
        }
        Ok(Seconds(total))
    }
    fn output(&mut self) -> Result<HostTensor> {
        self.prepared.output()
    }
    fn counted_work(&self) -> Option<crate::op::Work> {
        self.prepared.counted_work()
    }
    fn clock(&self) -> Option<&'static str> {
        self.prepared.clock()
    }
}

/// A prepared benchmark whose every timed batch is reported `percent` % longer than it took:
/// the `slowerP` fault, a slowdown smaller than the whole factors of [`Repeated`] that keeps
/// the kernel's own noise (every sample is scaled by the same factor).
pub struct Stretched {
    /// The benchmark slowed down.
    pub prepared: Box<dyn Prepared>,
    /// How much longer each batch is reported, percent.
    pub percent: u32,
}

impl Prepared for Stretched {
    fn run(&mut self, iters: u32) -> Result<Seconds> {
        let t = self.prepared.run(iters)?.0;
        Ok(Seconds(t * (1.0 + f64::from(self.percent) / 100.0)))
    }
    fn output(&mut self) -> Result<HostTensor> {
        self.prepared.output()
    }
    fn counted_work(&self) -> Option<crate::op::Work> {
        self.prepared.counted_work()
    }
    fn clock(&self) -> Option<&'static str> {
        self.prepared.clock()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entries_and_rejects_bad_ones() {
        let f = parse("crash:gemv/m=1, wrong:triad,poison:read/,refuse:copy").unwrap();
        assert_eq!(
            f,
            vec![
                (Fault::Crash, "gemv/m=1".to_string()),
                (Fault::Wrong, "triad".to_string()),
                (Fault::Poison, "read/".to_string()),
                (Fault::Refuse, "copy".to_string())
            ]
        );
        let e = parse("explode:gemv").unwrap_err().to_string();
        assert!(
            e.contains("'explode'")
                && e.contains("accepted: crash, hang, poison, refuse, wrong, slow, slowN"),
            "{e}"
        );
        for bad in [
            "slow1",
            "slow1001",
            "slowx",
            "slow-3",
            "slower0",
            "slower101",
            "slowerx",
        ] {
            let e = parse(&format!("{bad}:copy")).unwrap_err().to_string();
            assert!(
                e.contains(&format!("'{bad}'"))
                    && e.contains("slowN with N from 2 to 1000, slowerP with P from 1 to 100"),
                "{e}"
            );
        }
        assert_eq!(
            parse("slower10:kv_write").unwrap(),
            vec![(Fault::Slower(10), "kv_write".to_string())]
        );
        assert!(parse("hang")
            .unwrap_err()
            .to_string()
            .contains("names no benchmark"));
    }

    #[test]
    fn slow_runs_every_batch_n_times_and_reports_the_sum() {
        struct Counting(u32);
        impl Prepared for Counting {
            fn run(&mut self, iters: u32) -> Result<Seconds> {
                self.0 += iters;
                Ok(Seconds(0.25 * f64::from(iters)))
            }
            fn output(&mut self) -> Result<HostTensor> {
                Err(crate::error::Error::backend("no output"))
            }
        }
        assert_eq!(
            parse("slow:copy, slow4:triad").unwrap(),
            vec![
                (Fault::Slow(2), "copy".into()),
                (Fault::Slow(4), "triad".into())
            ]
        );
        let mut t = Repeated {
            prepared: Box::new(Counting(0)),
            times: 2,
        };
        // 4 iterations counted: 8 run at 0.25 s each = 2 s, twice the 1 s the 4 take.
        assert_eq!(t.run(4).unwrap(), Seconds(2.0));
        assert_eq!(t.run(1).unwrap(), Seconds(0.5));
        let mut t = Repeated {
            prepared: Box::new(Counting(0)),
            times: 4,
        };
        // 3 counted: 12 run at 0.25 s = 3 s, four times the 0.75 s the 3 take.
        assert_eq!(t.run(3).unwrap(), Seconds(3.0));
    }

    #[test]
    fn slower_reports_each_batch_longer() {
        struct Fixed;
        impl Prepared for Fixed {
            fn run(&mut self, iters: u32) -> Result<Seconds> {
                Ok(Seconds(0.5 * f64::from(iters)))
            }
            fn output(&mut self) -> Result<HostTensor> {
                Err(crate::error::Error::backend("no output"))
            }
        }
        // 4 iterations at 0.5 s = 2 s, reported 10 % longer: 2.2 s; 25 %: 2.5 s.
        let mut t = Stretched {
            prepared: Box::new(Fixed),
            percent: 10,
        };
        assert!((t.run(4).unwrap().0 - 2.2).abs() < 1e-12);
        t.percent = 25;
        assert_eq!(t.run(4).unwrap(), Seconds(2.5));
    }

    #[test]
    fn corrupt_moves_every_value() {
        // x·1.5 + 1: 2 → 4, 0 → 1, 4 → 7.
        let mut t = HostTensor {
            name: "out",
            shape: vec![3],
            data: HostData::F32(vec![2.0, 0.0, 4.0]),
        };
        corrupt(&mut t);
        assert_eq!(t.data, HostData::F32(vec![4.0, 1.0, 7.0]));
    }
}
