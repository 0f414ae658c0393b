//! The Prometheus and JUnit outputs of validate and fleet: values written as computed by hand,
//! and each document accepted by the real parsers (promtool, xmllint with the JUnit schema),
//! with a broken copy of each rejected so the parsers are shown to be live.

use hotpath_core::format_check::{assert_invalid, assert_valid, Parser};

use super::acceptance_tests::{device, empty_report};
use super::fleet::{self, analyze, mark_missing};
use super::*;

/// A validate report of node n1 with one H100: copy PASS at 3 TB/s (lines 2.4 and 2.7 TB/s),
/// pcie_width FAIL, one correctness check SKIP, and the held peak's ratio.
fn report() -> ValidateReport {
    let mut r = empty_report();
    r.wall_s = 12.5;
    r.devices.push(device(0));
    let mut copy = Check::new(Group::Perf, "perf/copy", Status::Pass)
        .value(3.0e12, "B/s")
        .threshold(2.4e12)
        .detail("3.00 TB/s");
    copy.warn_threshold = Some(2.7e12);
    r.checks = vec![
        Check::new(Group::Health, "health/pcie_width", Status::Fail)
            .value(8, "lanes")
            .threshold(16)
            .detail("x8 of x16 \"lanes\" <negotiated>"),
        Check::new(
            Group::Correctness,
            "correctness/gemm/m=1/bf16/x",
            Status::Skip,
        )
        .detail("not offered"),
        copy,
        Check::new(
            Group::Sustained,
            "sustained/peak_bf16/sustained_over_burst",
            Status::Warn,
        )
        .value(0.85, "ratio")
        .detail("held 85 % of the burst"),
    ];
    r.settle();
    r
}

fn lines_of<'a>(text: &'a str, family: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| l.starts_with(&format!("{family}{{")) || l.starts_with(&format!("{family} ")))
        .collect()
}

#[test]
fn validate_prometheus_has_every_family_with_hand_computed_values() {
    let text = prometheus::validate(&report());
    // 2026-12-05T00:00:00Z: 2026-01-01 is 56 × 365 + 14 leap days = 20 454 days after
    // 1970-01-01, and December 5 is day 334 + 4 = 338 of 2026: 20 792 × 86 400 = 1 796 428 800 s.
    assert_eq!(
        lines_of(&text, "hotpath_validate_timestamp_seconds"),
        ["hotpath_validate_timestamp_seconds{node=\"n1\"} 1796428800.0"]
    );
    assert_eq!(
        lines_of(&text, "hotpath_validate_duration_seconds"),
        ["hotpath_validate_duration_seconds{node=\"n1\"} 12.5"]
    );
    // The node's verdict is FAIL (pcie_width): a state set of three.
    assert_eq!(
        lines_of(&text, "hotpath_validate_node_status"),
        [
            "hotpath_validate_node_status{node=\"n1\",status=\"pass\"} 0.0",
            "hotpath_validate_node_status{node=\"n1\",status=\"warn\"} 0.0",
            "hotpath_validate_node_status{node=\"n1\",status=\"fail\"} 1.0",
        ]
    );
    let checks = lines_of(&text, "hotpath_validate_check");
    assert_eq!(checks.len(), 4 * 4, "{checks:#?}");
    assert!(checks.contains(
        &"hotpath_validate_check{node=\"n1\",device=\"cuda:0\",hardware=\"h100-sxm\",check=\"health/pcie_width\",code=\"HP208\",status=\"fail\"} 1.0"
    ));
    assert!(checks.contains(
        &"hotpath_validate_check{node=\"n1\",device=\"cuda:0\",hardware=\"h100-sxm\",check=\"perf/copy\",code=\"HP401\",status=\"fail\"} 0.0"
    ));
    assert_eq!(
        checks.iter().filter(|l| l.ends_with(" 1.0")).count(),
        4,
        "one status holds per check"
    );
    assert_eq!(
        lines_of(&text, "hotpath_benchmark_rate_bytes_per_second"),
        ["hotpath_benchmark_rate_bytes_per_second{node=\"n1\",device=\"cuda:0\",hardware=\"h100-sxm\",check=\"perf/copy\"} 3000000000000.0"]
    );
    assert_eq!(
        lines_of(&text, "hotpath_benchmark_threshold_bytes_per_second"),
        [
            "hotpath_benchmark_threshold_bytes_per_second{node=\"n1\",device=\"cuda:0\",hardware=\"h100-sxm\",check=\"perf/copy\",line=\"fail\"} 2400000000000.0",
            "hotpath_benchmark_threshold_bytes_per_second{node=\"n1\",device=\"cuda:0\",hardware=\"h100-sxm\",check=\"perf/copy\",line=\"warn\"} 2700000000000.0",
        ]
    );
    assert_eq!(
        lines_of(&text, "hotpath_benchmark_rate_ratio"),
        ["hotpath_benchmark_rate_ratio{node=\"n1\",device=\"cuda:0\",hardware=\"h100-sxm\",check=\"sustained/peak_bf16/sustained_over_burst\"} 0.85"]
    );
    // Health values in other units (lanes) are not rates: only their status is exported.
    assert!(!text.contains("lanes"));
    assert_valid(Parser::Promtool, &text);
    // The same text with a counter's suffix on a gauge, and with a broken sample line.
    assert_invalid(
        Parser::Promtool,
        &text.replace(
            "hotpath_validate_duration_seconds",
            "hotpath_validate_duration_total",
        ),
    );
    assert_invalid(
        Parser::Promtool,
        &format!("{text}hotpath_validate_check{{node=\"n1\" 1\n"),
    );
}

#[test]
fn validate_junit_has_a_case_per_check_and_the_failure_code() {
    let r = report();
    let xml = junit::validate(&r);
    assert!(xml.contains("<testsuite name=\"hotpath validate n1 cuda:0\" package=\"hotpath.validate\" id=\"0\" timestamp=\"2026-12-05T00:00:00\" hostname=\"n1\" tests=\"4\" failures=\"1\" errors=\"0\" skipped=\"1\" time=\"1.000\">"), "{xml}");
    assert!(xml.contains("<testcase name=\"health/pcie_width\" classname=\"n1.cuda0.health\" time=\"0.000\">\n      <failure type=\"HP208\" message=\"x8 of x16 &quot;lanes&quot; &lt;negotiated&gt;\">value 8 lanes, FAIL line 16 lanes</failure>"), "{xml}");
    assert!(xml.contains("<skipped message=\"not offered\"/>"));
    assert!(
        xml.contains("<testcase name=\"perf/copy\" classname=\"n1.cuda0.perf\" time=\"0.000\"/>")
    );
    assert!(
        xml.contains("WARN HP501 sustained/peak_bf16/sustained_over_burst: held 85 % of the burst")
    );
    assert_valid(Parser::JunitSchema, &xml);
    // Without the <system-err> the schema requires, the document must be rejected.
    assert_invalid(
        Parser::JunitSchema,
        &xml.replace("    <system-err></system-err>\n", ""),
    );
}

fn fleet_report() -> fleet::FleetReport {
    // Four nodes at 10, 10, 10.2 and 5 GB/s: median 10, |dev| 0 0 0.2 5 → MAD 0.1; spread
    // max(1.4826 × 0.1, 1 % of 10) = 0.14826; n3 at 5 is z = −5 / 0.14826 = −33.7: slow.
    let reports: Vec<ValidateReport> = [10.0e9, 10.0e9, 10.2e9, 5.0e9]
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let mut r = empty_report();
            r.host.hostname = format!("n{i}");
            r.devices.push(device(0));
            r.checks = vec![Check::new(Group::Perf, "perf/copy", Status::Pass).value(*v, "B/s")];
            r.settle();
            r
        })
        .collect();
    let members = reports
        .iter()
        .enumerate()
        .flat_map(|(i, r)| fleet::from_validate(r, &format!("/r/n{i}.json")))
        .collect();
    let mut f = analyze(members, 3.0).unwrap();
    mark_missing(
        &mut f,
        &[
            "n0".into(),
            "n1".into(),
            "n2".into(),
            "n3".into(),
            "n4".into(),
        ],
    );
    f
}

#[test]
fn fleet_prometheus_names_slow_and_missing_nodes() {
    let f = fleet_report();
    assert_eq!(f.slow_nodes, ["n3 cuda:0"]);
    assert_eq!(f.missing_nodes, ["n4"]);
    let text = prometheus::fleet(&f);
    let status = lines_of(&text, "hotpath_fleet_node_status");
    assert_eq!(status.len(), 5 * 4);
    for (node, device, hw, state) in [
        ("n0", "cuda:0", "h100-sxm", "ok"),
        ("n3", "cuda:0", "h100-sxm", "slow"),
        ("n4", "", "", "missing"),
    ] {
        let line = format!("hotpath_fleet_node_status{{node=\"{node}\",device=\"{device}\",hardware=\"{hw}\",status=\"{state}\"}} 1.0");
        assert!(status.contains(&line.as_str()), "{line} in {status:#?}");
    }
    assert_eq!(status.iter().filter(|l| l.ends_with(" 1.0")).count(), 5);
    assert_eq!(
        lines_of(&text, "hotpath_fleet_median_bytes_per_second"),
        ["hotpath_fleet_median_bytes_per_second{hardware=\"h100-sxm\",metric=\"perf/copy\"} 10000000000.0"]
    );
    let z = lines_of(&text, "hotpath_fleet_outlier_z");
    assert_eq!(z.len(), 1);
    let v: f64 = z[0].rsplit(' ').next().unwrap().parse().unwrap();
    assert!(
        (v - (5.0e9 - 10.0e9) / (1.4826 * 0.1e9)).abs() < 1e-6,
        "{v}"
    );
    assert_valid(Parser::Promtool, &text);
}

#[test]
fn fleet_junit_fails_the_slow_and_the_missing_node() {
    let xml = junit::fleet(&fleet_report(), "2026-12-05T01:02:03Z", "head");
    assert!(
        xml.contains("tests=\"4\" failures=\"1\" errors=\"0\" skipped=\"0\""),
        "{xml}"
    );
    assert!(xml.contains("<testcase name=\"n3 cuda:0\" classname=\"fleet.h100-sxm\" time=\"0.000\">\n      <failure type=\"slow\" message=\"n3 cuda:0 is slow on perf/copy: -50.0 % from the fleet&apos;s median (z -33.7)\">"), "{xml}");
    assert!(
        xml.contains("<failure type=\"missing\" message=\"n4 was expected and sent no report\">")
    );
    assert_valid(Parser::JunitSchema, &xml);
}
