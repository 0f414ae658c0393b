//! A launch plan as plain text lines, one record per line, for programs that execute plans
//! without a JSON parser: the kernel emulator (`tools/kernel-emu`) reads them, so the
//! arguments it launches with are core's, never a copy.
//!
//! ```text
//! plan <op> <shape> <dtype> <arch> <units>
//! input <i> <name>                        Input(i) of the plan is the tensor called <name>
//! output <i> <bytes>                      output buffer i of a rotation set
//! scratch <i> <bytes>                     scratch buffer i (zero at allocation)
//! check <i> <name> <dtype> <d0,d1,...>    the output that is checked
//! kernel <function> <gx> <gy> <gz> <bx> <by> <bz> <dynamic smem bytes> <arg>...
//! zero <i>                                zero scratch buffer i (stream-ordered)
//! end
//! ```
//!
//! Arguments: `in:<i>`, `out:<i>`, `scratch:<i>`, `i32:<v>`, `i64:<v>`, `f32:<bits, hex>`
//! (exact), `u4:<a>,<b>,<c>,<d>` (hex).

use std::fmt::Write;

use super::{Arg, LaunchPlan, LaunchStep};
use crate::inputs::input_names;
use crate::op::OpSpec;
use crate::target::Target;

fn arg(a: &Arg) -> String {
    match a {
        Arg::Input(i) => format!("in:{i}"),
        Arg::Output(i) => format!("out:{i}"),
        Arg::Scratch(i) => format!("scratch:{i}"),
        Arg::I32(v) => format!("i32:{v}"),
        Arg::I64(v) => format!("i64:{v}"),
        Arg::F32(v) => format!("f32:{:08x}", v.to_bits()),
        Arg::U32x4([a, b, c, d]) => format!("u4:{a:x},{b:x},{c:x},{d:x}"),
    }
}

/// `plan` of `spec` on `target` as text lines (the format above), ending with `end`.
pub fn to_lines(spec: &OpSpec, target: &Target, plan: &LaunchPlan) -> String {
    let mut s = String::new();
    // Writing to a String cannot fail.
    let _ = writeln!(
        s,
        "plan {} {} {} {} {}",
        spec.op, spec.shape, spec.dtype, target.arch, target.units
    );
    for (i, name) in input_names(spec.op).iter().enumerate() {
        let _ = writeln!(s, "input {i} {name}");
    }
    for (i, b) in plan.output_bytes.iter().enumerate() {
        let _ = writeln!(s, "output {i} {b}");
    }
    for (i, b) in plan.scratch_bytes.iter().enumerate() {
        let _ = writeln!(s, "scratch {i} {b}");
    }
    let o = &plan.output;
    let dims: Vec<String> = o.shape.iter().map(|d| d.to_string()).collect();
    let _ = writeln!(
        s,
        "check {} {} {} {}",
        o.index,
        o.name,
        o.dtype,
        if dims.is_empty() {
            "-".to_string()
        } else {
            dims.join(",")
        }
    );
    for step in &plan.steps {
        match step {
            LaunchStep::Kernel {
                function,
                geometry: g,
                args,
            } => {
                let args: Vec<String> = args.iter().map(arg).collect();
                let _ = writeln!(
                    s,
                    "kernel {function} {} {} {} {} {} {} {} {}",
                    g.grid.0,
                    g.grid.1,
                    g.grid.2,
                    g.block.0,
                    g.block.1,
                    g.block.2,
                    g.shared_bytes,
                    args.join(" ")
                );
            }
            LaunchStep::ZeroScratch(i) => {
                let _ = writeln!(s, "zero {i}");
            }
        }
    }
    s.push_str("end\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::op::OpKind;

    #[test]
    fn a_decode_plan_as_lines() {
        let spec = OpSpec::parse(
            OpKind::AttnDecode,
            "batch=2,context=1000,heads_q=32,heads_kv=8",
            DType::Bf16,
        )
        .unwrap();
        let target = Target::h100();
        let p = super::super::build(&spec, &target).unwrap();
        let text = to_lines(&spec, &target, &p);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "plan attn_decode batch=2,context=1000,heads_q=32,heads_kv=8,head_dim=128,page_size=16 bf16 sm_90a 132"
        );
        assert_eq!(
            &lines[1..8],
            &[
                "input 0 q",
                "input 1 k_cache",
                "input 2 v_cache",
                "input 3 block_table",
                "input 4 seq_lens",
                "input 5 k_scale",
                "input 6 v_scale"
            ]
        );
        // 2 × 32 × 128 bf16 outputs.
        assert_eq!(lines[8], "output 0 16384");
        assert!(lines.contains(&"check 0 o bf16 2,32,128"));
        let k = lines
            .iter()
            .find(|l| l.starts_with("kernel hp_attn_decode_bf16_d128_g4 "))
            .unwrap();
        assert!(k.contains(" 128 1 1 69632 in:0 in:1 in:2 in:3 in:4 scratch:0 scratch:1 out:0 i32:2 i32:32 i32:8 i32:16 i32:63 "), "{k}");
        assert_eq!(lines.last(), Some(&"end"));
        // Exact floats and vectors.
        assert_eq!(arg(&Arg::F32(0.5)), "f32:3f000000");
        assert_eq!(arg(&Arg::U32x4([1, 2, 0xa, 0xff])), "u4:1,2,a,ff");
    }
}
