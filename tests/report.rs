//! End-to-end tests of `hotpath report`: several results files side by side, a point above
//! its roof, criterion estimates (`--criterion`).

mod common;

use common::{assert_bad_input, hotpath, stderr};

use std::path::Path;
use std::process::Output;

use hotpath_report::svgread;

fn report(args: &[&str], out: &Path) -> (Output, String, String) {
    let mut all: Vec<&str> = vec!["report"];
    all.extend_from_slice(args);
    let out_s = out.to_str().unwrap();
    all.extend_from_slice(&["--out", out_s]);
    let o = hotpath(&all);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    (o, md, html)
}

fn json(path: &str) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Best bytes ÷ median over the streaming ceilings of a results file, and its id.
fn best_stream(v: &serde_json::Value) -> (f64, String) {
    v["benchmarks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| ["copy", "read", "write", "triad"].contains(&b["op"].as_str().unwrap()))
        .map(|b| {
            let rate = b["bytes"].as_f64().unwrap() / b["time"]["median_s"].as_f64().unwrap();
            (rate, b["id"].as_str().unwrap().to_string())
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap()
}

/// Pixel x of `v` on a chart's linear x axis.
fn linear_x(axes: &svgread::Axes, v: f64) -> f64 {
    svgread::linear_map(&axes.x_ticks, v)
}

#[test]
fn two_results_files_side_by_side_each_with_its_own_roofs() {
    let dir = tempfile::tempdir().unwrap();
    let a = "results/cpu-epyc-2core-quick.json";
    let b = "results/cpu-epyc-1thread-quick.json";
    let (_, md, html) = report(&[a, b], dir.path());
    // The two runs' measured bandwidth roofs, from bytes ÷ median of their ceilings: the
    // 2-core copy (35.3 GB/s) and the 1-thread triad (25.4 GB/s).
    let (bw_a, id_a) = best_stream(&json(a));
    let (bw_b, id_b) = best_stream(&json(b));
    assert!(id_a.starts_with("copy/") && (bw_a / 1e9 - 35.27).abs() < 0.01);
    assert!(id_b.starts_with("triad/") && (bw_b / 1e9 - 25.41).abs() < 0.01);
    let sections: Vec<&str> = html.split("<section>").skip(1).collect();
    assert_eq!(sections.len(), 2);
    for (section, gbs, id) in [
        (sections[0], bw_a / 1e9, &id_a),
        (sections[1], bw_b / 1e9, &id_b),
    ] {
        assert!(section.contains("<h2>AMD EPYC — cpu-generic</h2>"));
        let meta = format!("{gbs:.1} GB/s (best cold streaming ceiling: {id})");
        assert!(section.contains(&meta), "{meta}");
        for op in ["copy", "gemv", "gemm", "attn_decode"] {
            assert_eq!(
                section.matches(&format!("<h3>{op}</h3>")).count(),
                1,
                "{op}"
            );
        }
        let svgs = svgread::documents(section);
        assert_eq!(svgs.len(), 2, "a roofline and a bandwidth chart per file");
        // The bandwidth chart's measured roof line sits at this file's own value.
        let axes = svgread::axes(svgs[1]).unwrap();
        let lines: Vec<f64> = svgread::polylines(svgs[1])
            .into_iter()
            .filter(|p| {
                p.stroke == "#1E5AC8" && p.points.len() == 2 && p.points[0].0 == p.points[1].0
            })
            .map(|p| p.points[0].0)
            .collect();
        assert_eq!(lines.len(), 1);
        assert!(
            (lines[0] - linear_x(&axes, gbs)).abs() <= 1.5,
            "{lines:?} vs {gbs}"
        );
        assert!(svgs[0].contains(&format!("measured roof, bf16 f32: {gbs:.1} GB/s")));
    }
    let heads: Vec<usize> = md
        .match_indices("## AMD EPYC — cpu-generic")
        .map(|m| m.0)
        .collect();
    assert_eq!(heads.len(), 2);
    assert!(md[heads[0]..heads[1]].contains(&id_a) && md[heads[1]..].contains(&id_b));
}

#[test]
fn a_point_above_its_roof_warns_and_is_marked_yet_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let mut v = json("results/cpu-epyc-2core-quick.json");
    // gemv m=1,n=14336,k=4096 bf16 moves 117,477,376 B: a median of 2.9369344 ms is 40.0 GB/s,
    // 13.4 % above the 35.27 GB/s copy ceiling. Its stored efficiency (93 %) is left as is.
    let gemv = v["benchmarks"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|b| b["id"] == "gemv/m=1,n=14336,k=4096/bf16/hotpath")
        .unwrap();
    let median = 117_477_376.0 / 40e9;
    gemv["time"]["median_s"] = median.into();
    gemv["rates"]["bytes_per_s"] = (117_477_376.0 / median).into();
    gemv["rates"]["flops_per_s"] = (117_440_512.0 / median).into();
    let path = dir.path().join("above.json");
    std::fs::write(&path, v.to_string()).unwrap();
    let out = dir.path().join("rep");
    let (o, md, html) = report(&[path.to_str().unwrap()], &out);
    let err = stderr(&o);
    let warnings: Vec<&str> = err.lines().collect();
    // One finding: the CPU's spec bandwidth is the measured one standing in, the same roof.
    assert_eq!(
        warnings,
        ["warning: above a roof (suspect the measurement, not the kernel): gemv/m=1,n=14336,k=4096/bf16/hotpath at 113.4 % of the measured bandwidth roof (40.0 > 35.3 GB/s)"],
        "{err}"
    );
    assert!(md.contains("**ABOVE A ROOF: gemv/m=1,n=14336,k=4096/bf16/hotpath at 113.4 %"));
    assert!(md.contains("| pass (nmse 3e-6); ABOVE ITS ROOF |"), "{md}");
    assert!(html.contains("<p class=\"warn\">ABOVE A ROOF"));
    let svgs = svgread::documents(&html);
    for svg in &svgs[..2] {
        assert_eq!(
            svgread::circles(svg)
                .iter()
                .filter(|c| c.fill == "#DC0000")
                .count(),
            1
        );
    }
    // The file as committed has nothing above its roofs: no warning.
    let (clean, md, _) = report(
        &["results/cpu-epyc-2core-quick.json"],
        &dir.path().join("c"),
    );
    assert_eq!(stderr(&clean), "");
    assert!(!md.contains("ABOVE"));
}

fn write_bench(root: &Path, dir: &str, group: &str, id: &str, median_ns: f64, ci: (f64, f64)) {
    let new = root.join(dir).join("new");
    std::fs::create_dir_all(&new).unwrap();
    std::fs::write(
        new.join("benchmark.json"),
        format!(r#"{{"group_id":"{group}","function_id":"{id}","value_str":null,"throughput":null,"full_id":"{group}/{id}","directory_name":"{dir}","title":"{group}/{id}"}}"#),
    )
    .unwrap();
    let est = |v: f64, lo: f64, hi: f64| {
        format!(
            r#"{{"confidence_interval":{{"confidence_level":0.95,"lower_bound":{lo},"upper_bound":{hi}}},"point_estimate":{v},"standard_error":1.0}}"#
        )
    };
    std::fs::write(
        new.join("estimates.json"),
        format!(
            r#"{{"mean":{m},"median":{md},"median_abs_dev":{m},"slope":null,"std_dev":{m}}}"#,
            m = est(median_ns, ci.0, ci.1),
            md = est(median_ns, ci.0, ci.1),
        ),
    )
    .unwrap();
}

#[test]
fn criterion_estimates_are_tabulated_with_the_cost_model_s_rates() {
    let dir = tempfile::tempdir().unwrap();
    let crit = dir.path().join("criterion");
    // gemv m=1,n=14336,k=4096 bf16: 117,477,376 B and 117,440,512 FLOP in 2,936,934.4 ns =
    // 40.0 GB/s and 0.0400 TFLOP/s. copy of 16,777,216 f32: 134,217,728 B in 4,194,304 ns =
    // 32.0 GB/s.
    write_bench(
        &crit,
        "cpu_gemv/gemv_m=1,n=14336,k=4096_bf16_hotpath",
        "cpu/gemv",
        "gemv/m=1,n=14336,k=4096/bf16/hotpath",
        2_936_934.4,
        (2.9e6, 2.95e6),
    );
    write_bench(
        &crit,
        "cpu_stream/copy_elements=16777216_f32_hotpath",
        "cpu/stream",
        "copy/elements=16777216/f32/hotpath",
        4_194_304.0,
        (4.1e6, 4.3e6),
    );
    // Not a hotpath benchmark: left out with a warning. criterion's report/ is not one.
    write_bench(&crit, "misc/fib", "misc", "fib 20", 10.0, (9.0, 11.0));
    std::fs::create_dir_all(crit.join("report")).unwrap();
    let out = dir.path().join("rep");
    let (o, md, html) = report(
        &[
            "results/cpu-epyc-2core-quick.json",
            "--criterion",
            crit.to_str().unwrap(),
        ],
        &out,
    );
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with("warning: criterion estimate left out: ")
            && err.contains("'fib 20' is not a hotpath result id"),
        "{err}"
    );
    assert!(md.contains("## criterion estimates (cargo bench)"));
    let rows = [
        "| cpu/gemv | gemv/m=1,n=14336,k=4096/bf16/hotpath | 2.94 ms | 2.90 ms – 2.95 ms | 40.0 | 0.0400 |",
        "| cpu/stream | copy/elements=16777216/f32/hotpath | 4.19 ms | 4.10 ms – 4.30 ms | 32.0 | - |",
    ];
    for r in rows {
        assert!(md.contains(r), "{r}\n{md}");
    }
    assert!(
        md.find(rows[0]).unwrap() < md.find(rows[1]).unwrap(),
        "sorted by group"
    );
    assert!(html.contains("<h2>criterion estimates (cargo bench)</h2>"));
    assert!(html.contains("<td>cpu/gemv</td><td>gemv/m=1,n=14336,k=4096/bf16/hotpath</td><td>2.94 ms</td><td>2.90 ms – 2.95 ms</td><td>40.0</td><td>0.0400</td>"));

    // Bad criterion directories fail before anything is written.
    let never = dir.path().join("never");
    let never_s = never.to_str().unwrap();
    assert_bad_input(
        &[
            "report",
            "results/cpu-epyc-2core-quick.json",
            "--criterion",
            "/nonexistent/criterion",
            "--out",
            never_s,
        ],
        "/nonexistent/criterion",
    );
    let empty = tempfile::tempdir().unwrap();
    assert_bad_input(
        &[
            "report",
            "results/cpu-epyc-2core-quick.json",
            "--criterion",
            empty.path().to_str().unwrap(),
            "--out",
            never_s,
        ],
        "no criterion estimates of hotpath benchmarks",
    );
    assert!(!never.exists());
}
