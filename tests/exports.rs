//! The machine-read outputs of the CLI on the CPU backend: `validate` and `fleet` in the
//! Prometheus text format and JUnit XML (on stdout and as atomic export files), `fleet`'s
//! missing nodes and baseline, each document accepted by the real parsers (promtool,
//! xmllint with the JUnit schema), and bad input refused before anything is measured.

mod common;

use common::{as_node, assert_bad_input, hotpath, stderr};
use hotpath_core::format_check::{assert_valid, Parser};
use serde_json::Value;

fn s(p: &std::path::Path) -> String {
    p.to_string_lossy().into_owned()
}

#[test]
fn validate_writes_prometheus_and_junit_that_the_parsers_accept() {
    let dir = tempfile::tempdir().unwrap();
    let (json, prom, xml) = (
        dir.path().join("v.json"),
        dir.path().join("v.prom"),
        dir.path().join("v.xml"),
    );
    let o = hotpath(&[
        "validate",
        "--backend",
        "cpu",
        "--device",
        "0",
        "--format",
        "prometheus",
        "--out",
        &s(&json),
        "--export-prometheus",
        &s(&prom),
        "--export-junit",
        &s(&xml),
    ]);
    assert_ne!(o.status.code(), Some(2), "{}", stderr(&o));
    let stdout = String::from_utf8(o.stdout).unwrap();
    let file = std::fs::read_to_string(&prom).unwrap();
    assert_eq!(stdout, file, "stdout and the export are the same text");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    // One state set of four per check, exactly one sample of each set at 1.
    let checks = report["checks"].as_array().unwrap();
    let samples: Vec<&str> = file
        .lines()
        .filter(|l| l.starts_with("hotpath_validate_check{"))
        .collect();
    assert_eq!(samples.len(), 4 * checks.len());
    assert_eq!(
        samples.iter().filter(|l| l.ends_with(" 1.0")).count(),
        checks.len()
    );
    // The copy rate is the report's value, in bytes per second.
    let copy = checks.iter().find(|c| c["name"] == "perf/copy").unwrap();
    let host = report["host"]["hostname"].as_str().unwrap();
    let line = format!(
        "hotpath_benchmark_rate_bytes_per_second{{node=\"{host}\",device=\"cpu:0\",hardware=\"cpu-generic\",check=\"perf/copy\"}} {:?}",
        copy["value"].as_f64().unwrap()
    );
    assert!(file.contains(&line), "{line}\n{file}");
    assert_valid(Parser::Promtool, &file);
    // JUnit: a test case per check.
    let junit = std::fs::read_to_string(&xml).unwrap();
    assert_eq!(junit.matches("<testcase ").count(), checks.len());
    assert_valid(Parser::JunitSchema, &junit);
    // No temporary file is left beside the exports.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
}

#[test]
fn fleet_names_the_missing_node_judges_two_against_a_baseline_and_exports_both_formats() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.json");
    let o = hotpath(&[
        "validate",
        "--backend",
        "cpu",
        "--device",
        "0",
        "--out",
        &s(&seed),
    ]);
    assert_ne!(o.status.code(), Some(2), "{}", stderr(&o));
    let seed: Value = serde_json::from_str(&std::fs::read_to_string(&seed).unwrap()).unwrap();
    // A healthy night: five nodes within ±1 %, its fleet report the baseline.
    let night = dir.path().join("night");
    std::fs::create_dir(&night).unwrap();
    for (host, f) in [
        ("n1", 1.0),
        ("n2", 1.01),
        ("n3", 0.99),
        ("n4", 1.005),
        ("n5", 0.995),
    ] {
        as_node(&seed, host, f, &night);
    }
    let base = dir.path().join("base-fleet.json");
    let o = hotpath(&["fleet", &s(&night), "--out", &s(&base)]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    // Tonight three nodes were expected; n3 died, n2 came back at 80 %.
    let tonight = dir.path().join("tonight");
    std::fs::create_dir(&tonight).unwrap();
    as_node(&seed, "n1", 1.0, &tonight);
    as_node(&seed, "n2", 0.80, &tonight);
    let expected = tonight.join("expected-nodes.txt");
    std::fs::write(&expected, "n1\nn2\nn3\n").unwrap();
    let (prom, xml, out) = (
        dir.path().join("fleet.prom"),
        dir.path().join("fleet.xml"),
        dir.path().join("fleet.json"),
    );
    let o = hotpath(&[
        "fleet",
        &s(&tonight),
        "--expect-nodes",
        &s(&expected),
        "--baseline",
        &s(&base),
        "--out",
        &s(&out),
        "--export-prometheus",
        &s(&prom),
        "--export-junit",
        &s(&xml),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let table = String::from_utf8(o.stdout).unwrap();
    assert!(
        table.contains("missing nodes: n3 (3 expected, 1 sent no report)"),
        "{table}"
    );
    assert!(table.contains("slow nodes: n2 cpu:0"), "{table}");
    assert!(table.contains("baseline"), "{table}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(v["missing_nodes"], serde_json::json!(["n3"]));
    assert_eq!(v["expected_nodes"], 3);
    let m = &v["groups"][0]["metrics"][0];
    assert_eq!(m["from_baseline"], true);
    assert_eq!(m["n"], 2);
    // The baseline's median copy rate is the night's middle node (n1, factor 1.0).
    let b: Value = serde_json::from_str(&std::fs::read_to_string(&base).unwrap()).unwrap();
    assert_eq!(m["median"], b["groups"][0]["metrics"][0]["median"]);
    let text = std::fs::read_to_string(&prom).unwrap();
    assert!(text.contains(
        "hotpath_fleet_node_status{node=\"n3\",device=\"\",hardware=\"\",status=\"missing\"} 1.0"
    ));
    assert!(text.contains(
        "hotpath_fleet_node_status{node=\"n2\",device=\"cpu:0\",hardware=\"cpu-generic\",status=\"slow\"} 1.0"
    ));
    assert_valid(Parser::Promtool, &text);
    let junit = std::fs::read_to_string(&xml).unwrap();
    assert!(
        junit.contains("<failure type=\"missing\" message=\"n3 was expected and sent no report\">")
    );
    assert!(junit.contains("<failure type=\"slow\""));
    assert_valid(Parser::JunitSchema, &junit);
    // The expected list and the baseline inside the directory read are not nodes.
    assert_eq!(v["groups"][0]["members"].as_array().unwrap().len(), 2);
}

#[test]
fn bad_exports_and_fleet_inputs_are_one_sentence_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let d = s(dir.path());
    let foreign = dir.path().join("node.prom");
    std::fs::write(&foreign, "node_load1 0.5\n").unwrap();
    let empty = dir.path().join("empty.txt");
    std::fs::write(&empty, "# nobody\n").unwrap();
    let notfleet = dir.path().join("not-fleet.json");
    std::fs::write(&notfleet, "{\"schema\": \"hotpath.results/1\"}").unwrap();
    let same = dir.path().join("x.out");
    assert_bad_input(
        &["validate", "--backend", "cpu", "--export-prometheus", &d],
        "--export-prometheus",
    );
    assert_bad_input(
        &[
            "validate",
            "--backend",
            "cpu",
            "--export-prometheus",
            &s(&foreign),
        ],
        "is not a file hotpath exported",
    );
    assert_bad_input(
        &[
            "validate",
            "--backend",
            "cpu",
            "--export-junit",
            &s(&same),
            "--export-prometheus",
            &s(&same),
        ],
        "give two files",
    );
    assert_bad_input(
        &["fleet", &d, "--expect-nodes", &s(&empty)],
        "names no node",
    );
    assert_bad_input(
        &["fleet", &d, "--expect-nodes", &format!("{d}/absent.txt")],
        "--expect-nodes",
    );
    assert_bad_input(
        &["fleet", &d, "--baseline", &s(&notfleet)],
        "is not a fleet report",
    );
    assert_bad_input(&["compare", "a.json", "b.json", "--format", "xml"], "xml");
    // Nothing was written in place of the foreign file.
    assert_eq!(
        std::fs::read_to_string(&foreign).unwrap(),
        "node_load1 0.5\n"
    );
}
