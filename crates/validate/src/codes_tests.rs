//! The failure codes: every check a validation can make has exactly one, every code names a
//! check that exists, codes are unique and numbered by group, and docs/failure-codes.md lists
//! them as the code does.

use std::collections::BTreeSet;

use super::codes::{self, Pattern};
use super::engine::run_device;
use super::health::HealthReadings;
use super::tests::{gpu_plan, healthy, FakeBench, FakeClock, FakeDevice, FakeNvml};
use super::{checklist, Group, Level};

/// The checks the CLI itself makes (src/commands/validate.rs), not the engine.
const CLI_CHECKS: [&str; 4] = [
    "device/open",
    "device/hardware",
    "device/plan",
    "device/exclusive",
];

/// Every check name a validation of the fake H100 makes at level long, healthy and with
/// unreadable health, and of a GPU with no thresholds, plus the CLI's device checks.
fn every_check_name() -> BTreeSet<String> {
    let mut names: BTreeSet<String> = CLI_CHECKS.iter().map(|s| s.to_string()).collect();
    let long = gpu_plan(Level::Long);
    for health in [healthy(), HealthReadings::default()] {
        let mut src = FakeNvml::new(health.clone(), health);
        let out = run_device(
            &long,
            &mut FakeBench::healthy(),
            &mut src,
            &mut FakeClock::default(),
            &mut |_| {},
        );
        names.extend(out.checks.into_iter().map(|c| c.name));
    }
    let bare = checklist::build(Level::Quick, &FakeDevice::gpu(), None, 30.0).unwrap();
    let mut src = FakeNvml::new(healthy(), healthy());
    let out = run_device(
        &bare,
        &mut FakeBench::healthy(),
        &mut src,
        &mut FakeClock::default(),
        &mut |_| {},
    );
    names.extend(out.checks.into_iter().map(|c| c.name));
    names
}

#[test]
fn every_check_has_exactly_one_code() {
    let names = every_check_name();
    // The families this must cover, so an empty run cannot pass.
    for must in [
        "health/unverified",
        "perf/thresholds",
        "perf/gemm_fp8",
        "sustained/peak_bf16/sustained_over_burst",
        "sustained/copy/correctness_after",
    ] {
        assert!(names.contains(must), "{must} was not made: {names:?}");
    }
    for name in &names {
        let n = codes::all()
            .iter()
            .filter(|c| c.check.matches(name))
            .count();
        assert_eq!(n, 1, "{name} has {n} codes");
    }
}

#[test]
fn every_code_names_a_check_that_is_made() {
    let names = every_check_name();
    for c in codes::all() {
        assert!(
            names.iter().any(|n| c.check.matches(n)),
            "{} ({}) matches no check",
            c.code,
            c.check.text()
        );
    }
}

#[test]
fn codes_are_unique_and_numbered_by_group() {
    let all = codes::all();
    let unique: BTreeSet<&str> = all.iter().map(|c| c.code).collect();
    assert_eq!(unique.len(), all.len());
    assert_eq!(all.len(), 37);
    for c in &all {
        assert!(
            c.code.len() == 5
                && c.code.starts_with("HP")
                && c.code[2..].bytes().all(|b| b.is_ascii_digit()),
            "{}",
            c.code
        );
        let family = c.check.text();
        let want = match family.split('/').next() {
            Some("device") => '1',
            Some("health") => '2',
            Some("correctness") => '3',
            Some("perf") => '4',
            Some("sustained") => '5',
            other => panic!("{other:?}"),
        };
        assert_eq!(c.code.as_bytes()[2] as char, want, "{} {family}", c.code);
        assert!(!c.meaning.is_empty() && !c.action.is_empty());
    }
    // Numbers written down once and never renumbered.
    assert_eq!(codes::of("health/pcie_width").unwrap().code, "HP208");
    assert_eq!(codes::of("perf/copy").unwrap().code, "HP401");
    assert_eq!(codes::of("device/open").unwrap().code, "HP101");
    assert_eq!(
        codes::of("correctness/gemv/m=1,n=14336,k=4096/bf16/hotpath")
            .unwrap()
            .code,
        "HP301"
    );
    assert_eq!(
        codes::of("sustained/gemm_bf16/throttle").unwrap().code,
        "HP504"
    );
}

#[test]
fn patterns_match_what_they_say() {
    assert!(Pattern::Exact("perf/copy").matches("perf/copy"));
    assert!(!Pattern::Exact("perf/copy").matches("perf/copy2"));
    assert!(Pattern::Prefix("correctness/").matches("correctness/x"));
    assert!(!Pattern::Prefix("correctness/").matches("correctness/"));
    assert!(Pattern::Sustained("ecc").matches("sustained/copy/ecc"));
    assert!(!Pattern::Sustained("ecc").matches("sustained//ecc"));
    assert!(!Pattern::Sustained("ecc").matches("sustained/copy/ecc/x"));
    assert!(!Pattern::Sustained("ecc").matches("health/ecc"));
    assert_eq!(codes::of("perf/unknown"), None);
}

#[test]
fn the_report_carries_each_checks_code() {
    let mut r = super::acceptance_tests::empty_report();
    r.devices.push(super::acceptance_tests::device(0));
    r.checks = vec![
        super::Check::new(Group::Health, "health/pcie_width", super::Status::Fail),
        super::Check::new(Group::Perf, "perf/unknown", super::Status::Pass),
    ];
    r.settle();
    assert_eq!(r.checks[0].code, "HP208");
    assert_eq!(r.checks[1].code, "");
}

#[test]
fn the_docs_list_every_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join("docs/failure-codes.md");
    let doc = std::fs::read_to_string(&path).expect("docs/failure-codes.md");
    let table = codes::markdown_table();
    assert!(
        doc.contains(&table),
        "docs/failure-codes.md does not hold the table of the code; replace its table with:\n{table}"
    );
}
