//! The "latency floors" section: for a results file holding a model-shaped run
//! (`hotpath run --model`), the step's floors at spec and measured roofs against the
//! kernel-composed step time, op by op. The same cells feed `hotpath floors`' table.

use hotpath_core::error::Result;
use hotpath_core::results::ResultsFile;
use hotpath_core::units::{bytes_decimal, sig3, Seconds};
use hotpath_model::floors::{analyze, FloorsReport, OpReport, PhaseReport, Roofing};
use hotpath_model::step::Phase;

/// Column headers of [`op_cells`].
pub const OP_HEADERS: [&str; 13] = [
    "op",
    "kernel (exact shape)",
    "x",
    "bytes each",
    "FLOPs each",
    "bytes",
    "FLOPs",
    "floor",
    "floor (measured)",
    "kernel median",
    "impl",
    "in step",
    "% of floor",
];

/// The floors of the model run a results file holds; `None` when it holds none.
pub fn analysis(file: &ResultsFile) -> Option<Result<FloorsReport>> {
    let run = file.model.as_ref()?;
    Some(analyze(run, &[run.phase], &Roofing::results(file)))
}

/// FLOPs in decimal units (GFLOP, TFLOP, PFLOP).
pub fn flops_decimal(flops: f64) -> String {
    const UNITS: [&str; 5] = ["FLOP", "kFLOP", "MFLOP", "GFLOP", "TFLOP"];
    let mut v = flops;
    let mut i = 0;
    while v >= 1000.0 && i + 1 < UNITS.len() {
        v /= 1000.0;
        i += 1;
    }
    format!("{} {}", sig3(v), UNITS[i])
}

fn secs(v: Option<f64>) -> String {
    v.map(|s| Seconds(s).to_string())
        .unwrap_or_else(|| "-".into())
}

fn pct(v: f64) -> String {
    format!("{:.1} %", v * 100.0)
}

/// The cells of one op's row, in [`OP_HEADERS`] order.
pub fn op_cells(o: &OpReport) -> Vec<String> {
    let times = if o.calls == 1.0 || o.kernel.is_none() {
        o.count.to_string()
    } else {
        format!("{}x{}", o.count, sig3(o.calls))
    };
    let m = o.measured.as_ref();
    vec![
        o.name.to_string(),
        o.kernel.clone().unwrap_or_else(|| "-".into()),
        times,
        bytes_decimal(o.bytes_each),
        flops_decimal(o.flops_each),
        bytes_decimal(o.bytes),
        flops_decimal(o.flops),
        secs(o.floor_s),
        secs(o.measured_floor_s),
        secs(m.map(|k| k.median_s)),
        m.map(|k| k.imp.clone()).unwrap_or_else(|| "-".into()),
        secs(m.map(|k| k.step_s)),
        match (o.floor_s, m) {
            (Some(f), Some(k)) if k.step_s > 0.0 => pct(f / k.step_s),
            _ => "-".into(),
        },
    ]
}

/// Label/value lines summarising one phase.
pub fn summary(phase: Phase, p: &PhaseReport, batch: u64) -> Vec<(String, String)> {
    let mut lines = vec![
        ("weights read".to_string(), bytes_decimal(p.weight_bytes)),
        ("KV read".to_string(), bytes_decimal(p.kv_bytes)),
        ("KV written".to_string(), bytes_decimal(p.kv_write_bytes)),
        ("FLOPs".to_string(), flops_decimal(p.flops)),
        ("memory floor".to_string(), secs(p.spec.memory_floor_s)),
        ("compute floor".to_string(), secs(p.spec.compute_floor_s)),
    ];
    let bound = format!("{:?}", p.spec.bound).to_lowercase();
    let floor_label = match phase {
        Phase::Decode => "TPOT floor",
        Phase::Prefill => "TTFT floor",
    };
    let rate = match (phase, p.spec.floor_s) {
        (Phase::Decode, Some(f)) => format!(
            " = {} tokens/s per sequence, {} tokens/s in all",
            sig3(1.0 / f),
            sig3(batch as f64 / f)
        ),
        (Phase::Prefill, Some(f)) => format!(" = {} prompt tokens/s", sig3(p.tokens as f64 / f)),
        _ => String::new(),
    };
    lines.push((
        floor_label.to_string(),
        format!("{} ({bound}-bound){rate}", secs(p.spec.floor_s)),
    ));
    if let Some(m) = &p.measured {
        lines.push((
            format!("{floor_label} at measured ceilings"),
            format!(
                "{} ({}-bound)",
                secs(m.floor_s),
                format!("{:?}", m.bound).to_lowercase()
            ),
        ));
    }
    if let Some(c) = &p.composed {
        let value = match c.step_s {
            Some(t) => {
                let mut v = Seconds(t).to_string();
                if let Some(f) = p.spec.floor_s {
                    v.push_str(&format!(" = {} of the floor", pct(f / t)));
                }
                if let Some(f) = p.measured.and_then(|m| m.floor_s) {
                    v.push_str(&format!(", {} of the measured-ceiling floor", pct(f / t)));
                }
                if let (Some(mbu), Some(mfu)) = (c.mbu, c.mfu) {
                    v.push_str(&format!("; MBU {}, MFU {}", pct(mbu), pct(mfu)));
                }
                let highest = [p.spec.floor_s, p.measured.and_then(|m| m.floor_s)]
                    .into_iter()
                    .flatten()
                    .fold(0.0, f64::max);
                if t < highest / 1.02 {
                    v.push_str(
                        "; BELOW a floor, so a roof was under-measured or is wrong: suspect the ceilings, not the kernels",
                    );
                }
                v
            }
            None => format!("not known: missing {}", c.missing.join(", ")),
        };
        lines.push(("kernel-composed step".to_string(), value));
    }
    lines
}

/// A one-line description of the run: model, batch, context, dtypes, TP, roofs.
pub fn heading(r: &FloorsReport) -> String {
    let bw = r
        .spec_roofs
        .mem_bytes_per_s
        .map(|b| format!("{} GB/s", sig3(b / 1e9)))
        .unwrap_or_else(|| "bandwidth unknown".into());
    let peak = r
        .spec_roofs
        .peak_flops
        .get(r.dtype.name())
        .map(|p| format!("{} {} TFLOP/s", r.dtype, sig3(p / 1e12)))
        .unwrap_or_else(|| format!("no {} peak", r.dtype));
    let weights = match r.int4_group {
        Some(g) => format!("int4 (groups of {g}, {} activations)", r.dtype),
        None => r.dtype.to_string(),
    };
    let ep = match r.ep {
        1 => String::new(),
        ep => format!(", ep {ep}"),
    };
    format!(
        "{}: batch {}, context {}, weights {weights}, KV {}, tp {}{ep}; roofs {} ({bw}, {peak})",
        r.model, r.batch, r.context, r.kv_dtype, r.tp, r.hardware
    )
}

fn phases(r: &FloorsReport) -> Vec<(Phase, &PhaseReport)> {
    let mut v = Vec::new();
    if let Some(d) = &r.decode {
        v.push((Phase::Decode, d));
    }
    if let Some(p) = &r.prefill {
        v.push((Phase::Prefill, p));
    }
    v
}

/// The section in markdown (empty when the file holds no model run).
pub fn markdown(file: &ResultsFile) -> String {
    let r = match analysis(file) {
        None => return String::new(),
        Some(Err(e)) => return format!("\n### latency floors\n\ncannot be computed: {e}\n"),
        Some(Ok(r)) => r,
    };
    let mut out = format!("\n### latency floors\n\n{}\n\n", heading(&r));
    for (phase, p) in phases(&r) {
        out.push_str(&format!("**{}**\n\n| | |\n|---|---|\n", phase.name()));
        for (k, v) in summary(phase, p, r.batch) {
            out.push_str(&format!("| {k} | {v} |\n"));
        }
        out.push_str(&format!(
            "\n| {} |\n|{}\n",
            OP_HEADERS.join(" | "),
            "---|".repeat(OP_HEADERS.len())
        ));
        for o in r.per_op.iter().filter(|o| o.phase == phase) {
            out.push_str(&format!("| {} |\n", op_cells(o).join(" | ")));
        }
        out.push('\n');
    }
    for n in &r.notes {
        out.push_str(&format!("- {n}\n"));
    }
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The section in HTML (empty when the file holds no model run).
pub fn html(file: &ResultsFile) -> String {
    let r = match analysis(file) {
        None => return String::new(),
        Some(Err(e)) => {
            return format!(
                "<h3>latency floors</h3><p>cannot be computed: {}</p>\n",
                esc(&e.to_string())
            )
        }
        Some(Ok(r)) => r,
    };
    let mut out = format!("<h3>latency floors</h3>\n<p>{}</p>\n", esc(&heading(&r)));
    for (phase, p) in phases(&r) {
        out.push_str(&format!("<h4>{}</h4><table class=\"meta\">", phase.name()));
        for (k, v) in summary(phase, p, r.batch) {
            out.push_str(&format!(
                "<tr><th>{}</th><td>{}</td></tr>",
                esc(&k),
                esc(&v)
            ));
        }
        out.push_str("</table>\n<table><tr>");
        for h in OP_HEADERS {
            out.push_str(&format!("<th>{}</th>", esc(h)));
        }
        out.push_str("</tr>");
        for o in r.per_op.iter().filter(|o| o.phase == phase) {
            out.push_str("<tr>");
            for c in op_cells(o) {
                out.push_str(&format!("<td>{}</td>", esc(&c)));
            }
            out.push_str("</tr>");
        }
        out.push_str("</table>\n");
    }
    out.push_str("<ul>");
    for n in &r.notes {
        out.push_str(&format!("<li>{}</li>", esc(n)));
    }
    out.push_str("</ul>\n");
    out
}
