//! Every committed results file (results/**/*.json of schema hotpath.results/1) keeps every
//! benchmark at or below the roofs its report draws. Each rate is recomputed here from the
//! median time and the cost model's FLOPs and bytes (never from the stored rates or
//! efficiencies), and compared with min(bandwidth × intensity, peak) of the spec and the
//! measured roofs: a point above a roof is a measurement or cost-model bug.

use std::path::{Path, PathBuf};
use std::process::Command;

use hotpath_core::results::{ResultsFile, Status, SCHEMA};
use hotpath_core::{OpKind, OpSpec};

/// Slack for a roof measured in the same run as the point (the run's own noise); a
/// datasheet roof allows none.
const SAME_RUN: f64 = 0.02;

/// Benchmarks known to lie above a roof, with why. Each must still be above it (a stale
/// entry fails) and `hotpath report` must warn about exactly these.
const KNOWN_ABOVE: [(&str, &str, &str); 1] = [(
    "results/cpu-epyc-2core-llama-3.2-1b-decode.json",
    "gemv/m=1,n=128256,k=2048/bf16/hotpath",
    "the LM head's 525 MB GEMV ran at 39.5 GB/s, above the 30.9 GB/s triad ceiling measured a \
     minute earlier: this VM's DRAM bandwidth drifts by up to 20 % (docs/floors.md)",
)];

fn results_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            results_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&p).unwrap();
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            if v["schema"] == SCHEMA {
                out.push(p);
            }
        }
    }
}

/// Whether a `sources` entry says the roof was measured in this run (a CPU's stand-in).
fn from_run(source: Option<&String>) -> bool {
    source.is_some_and(|s| s.starts_with("measured") || s.starts_with("stand-in"))
}

/// (id, which roof, achieved, roof) for every benchmark of `f` above a roof.
fn above(f: &ResultsFile) -> Vec<(String, String, f64, f64)> {
    let mut out = Vec::new();
    for b in &f.benchmarks {
        if b.status != Status::Ok
            || matches!(
                b.op,
                OpKind::L2Read | OpKind::Launch | OpKind::H2d | OpKind::D2h
            )
        {
            continue;
        }
        let t = b.time.expect("an ok benchmark has times").median_s;
        // The cost model's work, checked against the stored counts; peak_mma's FLOPs are
        // counted by its kernel, so they are the stored ones.
        let w = OpSpec::parse(b.op, &b.shape.to_string(), b.dtype)
            .expect("a committed shape parses")
            .work()
            .unwrap();
        let (flops, bytes) = if b.op == OpKind::PeakMma {
            (b.flops as f64, 0.0)
        } else {
            assert_eq!((w.flops, w.bytes), (b.flops, b.bytes), "{}", b.id);
            (w.flops as f64, w.bytes as f64)
        };
        let (fps, bps) = (flops / t, bytes / t);
        let spec_src = |k: &str| f.hardware.sources.get(k);
        let roofs = [
            (
                "spec",
                f.hardware.mem_bytes_per_s,
                from_run(spec_src("mem_bytes_per_s")),
                f.hardware.peak_flops.get(b.dtype.name()).copied(),
                from_run(
                    spec_src(&format!("peak_flops.{}", b.dtype)).or_else(|| spec_src("peak_flops")),
                ),
            ),
            (
                "measured",
                f.measured.mem_bytes_per_s,
                true,
                f.measured.peak_flops.get(b.dtype.name()).copied(),
                true,
            ),
        ];
        for (name, bw, bw_run, peak, peak_run) in roofs {
            let slack = |run: bool| if run { 1.0 + SAME_RUN } else { 1.0 };
            if let (Some(bw), true) = (bw, bytes > 0.0) {
                if flops > 0.0 {
                    // FLOP/s under min(bandwidth × intensity, peak).
                    let intensity = flops / bytes;
                    let roof = match peak {
                        Some(p) if b.op != OpKind::Triad => (bw * intensity).min(p),
                        _ => bw * intensity,
                    };
                    let s = if peak.is_some_and(|p| p < bw * intensity) {
                        slack(peak_run)
                    } else {
                        slack(bw_run)
                    };
                    if fps > roof * s {
                        out.push((b.id.clone(), format!("{name} roof"), fps, roof));
                    }
                } else if bps > bw * slack(bw_run) {
                    out.push((b.id.clone(), format!("{name} bandwidth"), bps, bw));
                }
            } else if let (Some(p), true) = (peak, flops > 0.0 && bytes == 0.0) {
                if fps > p * slack(peak_run) {
                    out.push((b.id.clone(), format!("{name} peak"), fps, p));
                }
            }
        }
    }
    out
}

#[test]
fn every_committed_point_is_at_or_below_its_roofs() {
    let mut files = Vec::new();
    results_files(Path::new("results"), &mut files);
    assert!(files.len() >= 7, "{files:?}");
    let mut checked = 0;
    for path in &files {
        let f = ResultsFile::read(path).unwrap();
        let rel = path.to_string_lossy().replace('\\', "/");
        checked += f
            .benchmarks
            .iter()
            .filter(|b| b.status == Status::Ok)
            .count();
        for (id, roof, got, max) in above(&f) {
            let known = KNOWN_ABOVE.iter().any(|(p, i, _)| *p == rel && *i == id);
            assert!(
                known,
                "{rel}: {id} at {got:.4e} is above its {roof} {max:.4e} ({:.1} %)",
                got / max * 100.0
            );
        }
    }
    assert!(checked > 60, "{checked} benchmarks");
    // Every known exception is still above its roof, and the report says so loudly.
    for (path, id, why) in KNOWN_ABOVE {
        let f = ResultsFile::read(Path::new(path)).unwrap();
        let found = above(&f);
        assert!(
            found.iter().any(|a| a.0 == id),
            "{path}: {id} is no longer above ({why})"
        );
        let dir = tempfile::tempdir().unwrap();
        let o = Command::new(env!("CARGO_BIN_EXE_hotpath"))
            .args(["report", path, "--out", dir.path().to_str().unwrap()])
            .output()
            .unwrap();
        assert_eq!(o.status.code(), Some(0));
        let err = String::from_utf8_lossy(&o.stderr);
        let flagged: Vec<&str> = err.lines().filter(|l| l.contains("above a roof")).collect();
        assert!(
            !flagged.is_empty() && flagged.iter().all(|l| l.contains(id)),
            "{err}"
        );
        let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
        assert!(md.contains(&format!("**ABOVE A ROOF: {id} at ")), "{md}");
    }
}

#[test]
fn a_synthetic_rate_above_the_roof_is_caught() {
    // The committed 2-core run with its copy's median halved: 134,217,728 B in 1.9027 ms is
    // 70.5 GB/s, twice the 35.27 GB/s roof the file states (stored rates left unchanged).
    let mut f = ResultsFile::read(Path::new("results/cpu-epyc-2core-quick.json")).unwrap();
    assert!(above(&f).is_empty());
    let copy = f
        .benchmarks
        .iter_mut()
        .find(|b| b.op == OpKind::Copy)
        .unwrap();
    let t = copy.time.as_mut().unwrap();
    assert_eq!(t.median_s, 0.0038054);
    t.median_s /= 2.0;
    let found = above(&f);
    let ids: Vec<(&str, &str)> = found.iter().map(|a| (a.0.as_str(), a.1.as_str())).collect();
    assert_eq!(
        ids,
        [
            ("copy/elements=16777216/f32/hotpath", "spec bandwidth"),
            ("copy/elements=16777216/f32/hotpath", "measured bandwidth")
        ]
    );
    assert!((found[0].2 - 134_217_728.0 / 0.0019027).abs() < 1.0);
    // The library's own check (the report's) agrees, once: the CPU's spec bandwidth is the
    // measured one standing in.
    let lib = hotpath_report::roofs::above_roof(&f, SAME_RUN);
    assert_eq!(lib.len(), 1, "{lib:?}");
    assert_eq!(lib[0].id, "copy/elements=16777216/f32/hotpath");
    assert_eq!(lib[0].set, hotpath_report::roofs::Set::Measured);
}
