//! Fault injection for tests of hotpath's own fault handling: `HOTPATH_FAULT` makes chosen
//! benchmarks crash, hang or return wrong data, so the worker isolation, the watchdog and
//! the correctness check are exercised on any backend, the CPU included.
//!
//! Format: comma-separated `KIND:PATTERN` entries, KIND one of `crash` (the process aborts,
//! as a GPU fault poisoning a context would end it), `hang` (the benchmark never returns)
//! or `wrong` (the output is perturbed before the correctness check); PATTERN is a
//! substring of the benchmark id (`op/shape/dtype/impl`). Example:
//! `HOTPATH_FAULT=crash:gemv/m=1,wrong:triad`. Unset, nothing is injected.

use crate::error::{Error, Result};
use crate::tensor::{HostData, HostTensor};

/// The environment variable read.
pub const ENV: &str = "HOTPATH_FAULT";

/// A fault to inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Abort the process.
    Crash,
    /// Never return.
    Hang,
    /// Corrupt the output.
    Wrong,
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
                "wrong" => Fault::Wrong,
                other => {
                    return Err(Error::bad_input(format!(
                        "{ENV} entry '{entry}' has fault '{other}'; accepted: crash, hang, wrong (as KIND:ID-SUBSTRING)"
                    )))
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

/// Carries out a `Crash` or `Hang` (a `Wrong` is applied to the output by [`corrupt`]).
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
        Fault::Wrong => {}
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
        HostData::Fp8E4m3(v) => v.iter_mut().for_each(|x| *x = x.wrapping_add(9)),
        HostData::I32(v) => v.iter_mut().for_each(|x| *x = x.wrapping_add(1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entries_and_rejects_bad_ones() {
        let f = parse("crash:gemv/m=1, wrong:triad").unwrap();
        assert_eq!(
            f,
            vec![
                (Fault::Crash, "gemv/m=1".to_string()),
                (Fault::Wrong, "triad".to_string())
            ]
        );
        let e = parse("explode:gemv").unwrap_err().to_string();
        assert!(
            e.contains("'explode'") && e.contains("crash, hang, wrong"),
            "{e}"
        );
        assert!(parse("hang")
            .unwrap_err()
            .to_string()
            .contains("names no benchmark"));
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
