#!/usr/bin/env python3
"""The compute roofs measure the instructions they claim: disassembles every peak kernel.

`hotpath kernels compile --out-dir DIR` leaves DIR/<target>/peak.cubin; this script runs
nvdisasm on each and finds every loop of every peak kernel (a backward branch to a label of
the same function). The timed loop must hold the instruction the roof
is named for, and no loop may hold floating-point adds in its place (what ptxas left of an
emulated, hoisted mma on sm_90). The timed loop is the one with the most of that instruction:
  hp_peak_fma_f32        FFMA
  hp_peak_mma_*          HMMA (f16, bf16) or QMMA (fp8)
  hp_peak_wgmma_*        HGMMA (f16, bf16) or QGMMA (fp8)
One line per kernel; exits 1 if one fails, 2 if nothing could be checked.

usage: scripts/check-peak-sass.py DIR [--nvdisasm PATH]
       scripts/check-peak-sass.py --self-test
nvdisasm: --nvdisasm, $NVDISASM, ~/.cache/hotpath/nvdisasm/nvidia/cu13/bin/nvdisasm (the
nvidia-cuda-nvdisasm wheel that scripts/ci-setup.sh installs), or the PATH.
"""
import os
import re
import shutil
import subprocess
import sys

FUNC = re.compile(r"^\s*\.text\.(\w+):")
LABEL = re.compile(r"^(\.L_x_\d+):")
BRANCH = re.compile(r"\bBRA\b[^`]*`\((\.L_x_\d+)\)")
OPCODE = re.compile(r"/\*[0-9a-f]+\*/\s+(?:@!?U?P\w+\s+)?([A-Z][A-Z0-9_]*)")
FLOAT_ADDS = {"FADD", "HADD2", "DADD"}

# What the timed loop of each kernel family must hold.
WANT = [
    ("hp_peak_fma_f32", {"FFMA"}),
    ("hp_peak_wgmma_", {"HGMMA", "QGMMA"}),
    ("hp_peak_mma_", {"HMMA", "QMMA"}),
]


def functions(sass):
    """{function name: [lines]} of one disassembly."""
    out, cur = {}, None
    for line in sass.splitlines():
        m = FUNC.match(line)
        if m:
            cur = m.group(1)
            out[cur] = []
        elif cur:
            out[cur].append(line)
    return out


def loops(lines):
    """Opcode lists of every loop body: from a label to a later branch back to it."""
    labels, found = {}, []
    for i, line in enumerate(lines):
        m = LABEL.match(line.strip())
        if m:
            labels[m.group(1)] = i
        b = BRANCH.search(line)
        if b and b.group(1) in labels and labels[b.group(1)] < i:
            body = lines[labels[b.group(1)]:i + 1]
            found.append([m.group(1) for m in (OPCODE.search(l) for l in body) if m])
    return found


def verdict(name, lines):
    """(ok, sentence) for one kernel."""
    want = next((w for prefix, w in WANT if name.startswith(prefix)), None)
    if want is None:
        return True, "not a peak kernel"
    bodies = [[op.split(".")[0] for op in body] for body in loops(lines)]
    count = lambda ops, names: sum(op in names for op in ops)
    tensor = not want & {"FFMA"}
    if tensor:
        # Float adds in a loop with no tensor instruction: the product went elsewhere.
        for ops in bodies:
            if count(ops, FLOAT_ADDS) and not count(ops, want):
                return False, f"a loop of {len(ops)} instructions holds {count(ops, FLOAT_ADDS)} float adds and no {'/'.join(sorted(want))}"
    # The timed loop: the one with the most of the roof's instruction.
    ops = max(bodies, key=lambda o: (count(o, want), len(o)), default=None)
    if ops is None:
        return False, "no loop found"
    hits, adds = count(ops, want), count(ops, FLOAT_ADDS)
    detail = f"timed loop: {len(ops)} instructions, {hits} {'/'.join(sorted(want))}, {adds} float adds"
    if hits == 0:
        return False, detail + f": no {'/'.join(sorted(want))} in any loop"
    if adds and tensor:
        return False, detail + ": float adds in a tensor-core loop (a hoisted or emulated product)"
    return True, detail


def nvdisasm_path(given):
    for p in (given, os.environ.get("NVDISASM"),
              os.path.expanduser("~/.cache/hotpath/nvdisasm/nvidia/cu13/bin/nvdisasm"), shutil.which("nvdisasm")):
        if p and os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


def check(root, nvdisasm):
    failed = checked = 0
    for target in sorted(os.listdir(root)):
        cubin = os.path.join(root, target, "peak.cubin")
        if not target.startswith("sm_") or not os.path.isfile(cubin):
            continue
        run = subprocess.run([nvdisasm, "-c", cubin], capture_output=True, text=True)
        if run.returncode != 0:
            print(f"FAIL {target:<8} peak.cubin: nvdisasm failed: {run.stderr.strip()}")
            failed += 1
            continue
        for name, lines in sorted(functions(run.stdout).items()):
            ok, why = verdict(name, lines)
            if why == "not a peak kernel":
                continue
            checked += 1
            failed += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {target:<8} {name:<22} {why}")
    return checked, failed


SELF_TEST = {
    # ptxas's rendering of an emulated, hoisted e4m3 mma: the loop is adds only.
    "hp_peak_mma_fp8": (False, """
.L_x_2:
        /*0100*/                   FADD R8, R8, R30 ;
        /*0110*/                   FADD R9, R9, R31 ;
        /*0120*/               @P0 BRA `(.L_x_2) ;
"""),
    "hp_peak_mma_bf16": (True, """
        /*0000*/                   HMMA.16816.F32.BF16 R20, R4, R2, R20 ;
.L_x_7:
        /*0100*/                   LOP3.LUT R4, R6, R5, RZ, 0x3c, !PT ;
        /*0110*/                   HMMA.16816.F32.BF16 R20, R4, R2, R20 ;
        /*0120*/               @P1 BRA `(.L_x_7) ;
"""),
    "hp_peak_wgmma_bf16": (False, """
.L_x_1:
        /*0100*/                   HMMA.16816.F32.BF16 R20, R4, R2, R20 ;
        /*0120*/                   BRA.U UP0, `(.L_x_1) ;
"""),
    "hp_peak_wgmma_fp8": (True, """
.L_x_22:
        /*1440*/                   WARPGROUP.ARRIVE ;
        /*1460*/                   QGMMA.64x128x32.F32.E4M3.E4M3 R88, gdesc[UR4], R88 ;
        /*1560*/               @P1 BRA `(.L_x_22) ;
"""),
    "hp_peak_fma_f32": (False, """
        /*0100*/                   FFMA R2, R2, R3, R4 ;
        /*0110*/                   EXIT ;
"""),
}


def self_test():
    bad = 0
    for name, (want, text) in SELF_TEST.items():
        ok, why = verdict(name, text.splitlines())
        if ok != want:
            print(f"self-test FAILED: {name}: expected {'pass' if want else 'fail'}, got {why}")
            bad += 1
    print(f"check-peak-sass self-test: {len(SELF_TEST) - bad}/{len(SELF_TEST)} as expected")
    return 1 if bad else 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    args = argv[1:]
    given = None
    if "--nvdisasm" in args:
        i = args.index("--nvdisasm")
        given = args[i + 1] if i + 1 < len(args) else None
        del args[i:i + 2]
    if len(args) != 1 or not os.path.isdir(args[0]):
        print(__doc__.strip().splitlines()[-6], file=sys.stderr)
        print(f"check-peak-sass: give the directory `hotpath kernels compile --out-dir` wrote; got {args}", file=sys.stderr)
        return 2
    nvdisasm = nvdisasm_path(given)
    if not nvdisasm:
        print("check-peak-sass: nvdisasm not found (pip install nvidia-cuda-nvdisasm, or --nvdisasm PATH)", file=sys.stderr)
        return 2
    checked, failed = check(args[0], nvdisasm)
    if checked == 0:
        print(f"check-peak-sass: no peak kernel found under {args[0]}", file=sys.stderr)
        return 2
    print(f"check-peak-sass: {checked - failed}/{checked} peak kernels run their roof's instruction in the timed loop")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
