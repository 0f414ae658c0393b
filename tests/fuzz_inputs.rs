//! Hostile inputs, generated: the parsers of results JSON, hardware TOML, shape text and HF
//! model config.json (with the step accounting of what parses), and
//! the report built from whatever a results file may legally hold, must never panic; a
//! rejected input's error names its origin and, for a syntax error, the position.
//!
//! Cases per property: `HOTPATH_FUZZ_CASES` (default 10000), so CI runs a bounded amount and
//! a long local run can do more. Every case is one distinct input.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use hotpath_core::hardware;
use hotpath_core::op::{OpKind, OpSpec, Shape, MAX_DIM};
use hotpath_core::results::ResultsFile;
use hotpath_core::DType;
use hotpath_report as report;

const RESULTS_JSON: &str = include_str!("../results/cpu-epyc-2core-quick.json");
const HARDWARE_TOML: &str = include_str!("../hardware/h100-sxm.toml");

fn cases() -> u32 {
    std::env::var("HOTPATH_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

fn runner() -> TestRunner {
    TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    })
}

/// One edit of a text: replace, insert or delete a byte range, or truncate.
#[derive(Clone, Debug)]
enum Edit {
    Replace(usize, Vec<u8>),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
    Truncate(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    // Bytes biased toward the ones JSON and TOML care about.
    let byte = prop_oneof![
        any::<u8>(),
        prop::sample::select(b"{}[]\":,=.-+eE0123456789 \n\\tnulrsfa#'".to_vec()),
    ];
    let bytes = prop::collection::vec(byte, 1..8);
    prop_oneof![
        (any::<usize>(), bytes.clone()).prop_map(|(at, b)| Edit::Replace(at, b)),
        (any::<usize>(), bytes).prop_map(|(at, b)| Edit::Insert(at, b)),
        (any::<usize>(), 1usize..64).prop_map(|(at, n)| Edit::Delete(at, n)),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

fn apply(text: &str, edits: &[Edit]) -> String {
    let mut b = text.as_bytes().to_vec();
    for e in edits {
        let len = b.len().max(1);
        match e {
            Edit::Replace(at, new) => {
                let at = at % len;
                for (i, &x) in new.iter().enumerate() {
                    if let Some(slot) = b.get_mut(at + i) {
                        *slot = x;
                    }
                }
            }
            Edit::Insert(at, new) => {
                let at = (at % len).min(b.len());
                b.splice(at..at, new.iter().copied());
            }
            Edit::Delete(at, n) => {
                let at = (at % len).min(b.len());
                let end = (at + n).min(b.len());
                b.drain(at..end);
            }
            Edit::Truncate(at) => b.truncate(at % len),
        }
    }
    String::from_utf8_lossy(&b).into_owned()
}

/// A rejected results file must say which file and, when JSON syntax is at fault, where.
fn check_results_error(text: &str) {
    if let Err(e) = ResultsFile::parse(text, "fuzz.json") {
        let msg = e.to_string();
        assert!(
            msg.contains("fuzz.json"),
            "error does not name the file: {msg}"
        );
        if serde_json::from_str::<serde_json::Value>(text).is_err() {
            assert!(
                msg.contains("line "),
                "syntax error without position: {msg}"
            );
        }
    }
}

#[test]
fn results_json_mutations_never_panic() {
    runner()
        .run(&prop::collection::vec(edit(), 1..6), |edits| {
            let text = apply(RESULTS_JSON, &edits);
            check_results_error(&text);
            // A mutated file that still parses must still render.
            if let Ok(file) = ResultsFile::parse(&text, "fuzz.json") {
                let files = [file];
                let _ = report::markdown(&files);
                let _ = report::html(&files, &[]);
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn results_json_arbitrary_text_never_panics() {
    runner()
        .run(&".{0,400}", |text| {
            check_results_error(&text);
            Ok(())
        })
        .unwrap();
}

/// Replaces every number in the valid file by a hostile one (zero, negative, tiny, huge):
/// the file still parses, and the report must render it without panicking.
#[test]
fn results_with_hostile_numbers_render() {
    let base: serde_json::Value = serde_json::from_str(RESULTS_JSON).unwrap();
    let number = prop_oneof![
        Just(0.0),
        Just(-1.0),
        Just(1e-300),
        Just(1e300),
        Just(f64::MAX),
        -1e12f64..1e12,
    ];
    runner()
        .run(&prop::collection::vec(number, 64), |numbers| {
            let mut v = base.clone();
            let mut i = 0;
            replace_numbers(&mut v, &numbers, &mut i);
            let text = v.to_string();
            if let Ok(file) = ResultsFile::parse(&text, "hostile.json") {
                let files = [file];
                let _ = report::markdown(&files);
                let _ = report::html(&files, &[]);
            }
            Ok(())
        })
        .unwrap();
}

fn replace_numbers(v: &mut serde_json::Value, numbers: &[f64], i: &mut usize) {
    match v {
        serde_json::Value::Number(n) if n.is_f64() => {
            if let Some(x) = serde_json::Number::from_f64(numbers[*i % numbers.len()]) {
                *n = x;
            }
            *i += 1;
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(|x| replace_numbers(x, numbers, i)),
        serde_json::Value::Object(o) => o.values_mut().for_each(|x| replace_numbers(x, numbers, i)),
        _ => {}
    }
}

#[test]
fn hardware_toml_mutations_never_panic() {
    runner()
        .run(&prop::collection::vec(edit(), 1..6), |edits| {
            let text = apply(HARDWARE_TOML, &edits);
            if let Err(e) = hardware::parse_text(&text, "fuzz.toml") {
                let msg = e.to_string();
                prop_assert!(
                    msg.contains("fuzz.toml"),
                    "error does not name the file: {msg}"
                );
                if text.parse::<toml::Table>().is_err() {
                    prop_assert!(msg.contains("line "), "syntax error without line: {msg}");
                }
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn hardware_toml_arbitrary_text_never_panics() {
    runner()
        .run(&".{0,300}", |text| {
            let _ = hardware::parse_text(&text, "fuzz.toml");
            Ok(())
        })
        .unwrap();
}

#[test]
fn shape_text_never_panics() {
    let op = prop::sample::select(OpKind::ALL.to_vec());
    runner()
        .run(&(op, "[a-z_=,0-9KMG ]{0,60}"), |(op, text)| {
            let _ = Shape::parse(op, &text);
            Ok(())
        })
        .unwrap();
}

/// Any in-range shape, however large: the cost model and the footprint never overflow
/// (debug builds check), and a shape whose bytes do not fit in 64 bits is rejected before
/// anything is allocated.
#[test]
fn huge_shapes_are_counted_or_rejected() {
    let op = prop::sample::select(OpKind::ALL.to_vec());
    let dim = prop_oneof![1u64..=64, 1u64..=MAX_DIM, Just(MAX_DIM)];
    runner()
        .run(&(op, prop::collection::vec(dim, 8)), |(op, dims)| {
            let pairs: Vec<(String, u64)> = op
                .shape_keys()
                .iter()
                .zip(&dims)
                .map(|(k, &v)| {
                    let v = if k.flag { v % 2 } else { v };
                    (k.name.to_string(), v)
                })
                .collect();
            let Ok(shape) = Shape::for_op(op, &pairs) else {
                return Ok(());
            };
            let spec = OpSpec {
                op,
                shape,
                dtype: DType::F32,
            };
            let _ = spec.work();
            let need =
                hotpath_core::inputs::footprint_bytes(&spec).expect("a parsed shape has every key");
            let info = hotpath_core::backend::DeviceInfo {
                memory_available_bytes: 80_000_000_000,
                ..Default::default()
            };
            let fits = hotpath_core::runner::check_fits(&spec, &info);
            prop_assert_eq!(fits.is_ok(), need.saturating_mul(2) <= 80_000_000_000);
            Ok(())
        })
        .unwrap();
}

const MODEL_CONFIGS: [&str; 2] = [
    include_str!("../tests/fixtures/models/llama-3.1-8b.json"),
    include_str!("../tests/fixtures/models/mixtral-8x7b.json"),
];

/// A mutated Hugging Face config.json either is rejected with an error naming the file, or
/// gives a model whose decode and prefill steps are accounted without panicking (debug
/// builds check every multiplication), at any batch, context and TP degree.
#[test]
fn model_config_mutations_never_panic() {
    use hotpath_model::{config, step};
    let strat = (
        prop::sample::select(MODEL_CONFIGS.to_vec()),
        prop::collection::vec(edit(), 1..4),
        prop_oneof![1u64..=64, 1u64..=MAX_DIM],
        prop_oneof![1u64..=8192, 1u64..=MAX_DIM],
        prop::sample::select(vec![1u64, 2, 8, 3]),
    );
    runner()
        .run(&strat, |(base, edits, batch, context, tp)| {
            let text = apply(base, &edits);
            match config::parse(&text, "config.json") {
                Err(e) => prop_assert!(e.to_string().contains("config.json"), "{e}"),
                Ok(model) => {
                    for phase in [step::Phase::Decode, step::Phase::Prefill] {
                        if let Ok(run) = step::ModelRun::new(
                            model.clone(),
                            phase,
                            batch,
                            context,
                            DType::Bf16,
                            None,
                            tp,
                        ) {
                            let _ = step::step(&run, phase);
                        }
                    }
                }
            }
            Ok(())
        })
        .unwrap();
}

/// Numbers in a config.json replaced by hostile ones (0, 1, huge): rejected or accounted,
/// never a panic.
#[test]
fn model_config_hostile_numbers_never_panic() {
    use hotpath_model::{config, step};
    let base: serde_json::Value = serde_json::from_str(MODEL_CONFIGS[1]).unwrap();
    let number = prop_oneof![
        Just(0u64),
        Just(1),
        Just(3),
        Just(u64::MAX),
        Just(1 << 40),
        1u64..100_000
    ];
    runner()
        .run(
            &prop::collection::vec(prop::option::weighted(0.15, number), 32),
            |numbers| {
                let mut v = base.clone();
                if let serde_json::Value::Object(map) = &mut v {
                    for (i, x) in map.values_mut().filter(|x| x.is_u64()).enumerate() {
                        if let Some(n) = numbers[i % numbers.len()] {
                            *x = n.into();
                        }
                    }
                }
                if let Ok(model) = config::parse(&v.to_string(), "config.json") {
                    if let Ok(run) = step::ModelRun::new(
                        model,
                        step::Phase::Decode,
                        1,
                        4096,
                        DType::Bf16,
                        None,
                        1,
                    ) {
                        let _ = step::step(&run, step::Phase::Decode);
                    }
                }
                Ok(())
            },
        )
        .unwrap();
}
