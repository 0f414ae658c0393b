#!/usr/bin/env python3
"""Turn a kernel source (kernels/<name>.cu) into a translation unit for the host emulator.

usage: prep.py KERNEL.cu OUT.cu NAMESPACE
       prep.py --header kernels/hotpath_common.cuh OUT.cuh

The kernel text is kept as committed except for three mechanical rewrites:
  1. every `asm volatile(...)` statement becomes `emu_asm(template, {operands})`, which the
     emulator interprets (tools/kernel-emu/include/hp_emu.h);
  2. every `__shared__ T name[...];` declaration gets a registration so the emulator can
     poison shared memory before each block and map shared addresses, and every
     `extern __shared__ T name[];` (dynamic shared memory) becomes a pointer to the launch's
     dynamic region (emu_dyn_smem());
  3. the code after `#include "hotpath_common.cuh"` is wrapped in `namespace NAMESPACE`,
     so helpers of different kernel files never collide.
The portability header (--header) gets only the first: its matrix and copy wrappers are the
inline PTX every kernel shares; it declares no shared memory and stays outside namespaces.
Line numbers are preserved (#line), so compiler and sanitizer messages point at kernels/.
Anything the rewrite does not understand is an error, never silently skipped.
"""
import os
import re
import sys


def fail(msg):
    sys.exit(f"prep.py: {msg}")


def skip_string(s, i):
    """i at an opening quote; returns the index after the closing quote."""
    q = s[i]
    i += 1
    while s[i] != q:
        i += 2 if s[i] == "\\" else 1
    return i + 1


def match_paren(s, i):
    """i at '('; returns the index of the matching ')'."""
    depth = 0
    while i < len(s):
        c = s[i]
        if c in "\"'":
            i = skip_string(s, i)
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    fail("unbalanced parentheses")


def split_top(s, sep):
    """Split s at sep characters outside strings and brackets."""
    parts, depth, cur, i = [], 0, [], 0
    while i < len(s):
        c = s[i]
        if c in "\"'":
            j = skip_string(s, i)
            cur.append(s[i:j])
            i = j
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        if c == sep and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    return parts


OUT_CONS = {"=r", "+r", "=f", "+f"}
IN_CONS = {"r", "f", "l", "n"}


def rewrite_asm(body, where):
    """body: the text between asm volatile( and its closing )."""
    sections = split_top(body, ":")
    while len(sections) < 4:
        sections.append("")
    tmpl, outs, ins = sections[0].strip(), sections[1].strip(), sections[2].strip()
    if len(sections) > 4:
        fail(f"{where}: asm goto is not emulated")
    if not tmpl.startswith('"') and not re.match(r"^[\w\s\"]", tmpl):
        fail(f"{where}: unexpected asm template {tmpl!r}")
    ops = []
    for kind, text in (("out", outs), ("in", ins)):
        if not text:
            continue
        for op in split_top(text, ","):
            op = op.strip()
            m = re.fullmatch(r'"([^"]*)"\s*\((.*)\)', op, re.S)
            if not m:
                fail(f"{where}: cannot parse asm operand {op!r} (named operands are not emulated)")
            cons, expr = m.group(1), m.group(2).strip()
            if kind == "out":
                if cons not in OUT_CONS:
                    fail(f"{where}: output constraint {cons!r} not emulated")
                ops.append(f"emu_o({expr})")
            else:
                if cons not in IN_CONS:
                    fail(f"{where}: input constraint {cons!r} not emulated")
                ops.append(f"emu_i({expr})")
    return f"emu_asm({tmpl}, {{{', '.join(ops)}}})"


def flatten(text):
    """Join continuation lines and newlines of one statement into one line."""
    return re.sub(r"\s+", " ", text.replace("\\\n", " "))


def rewrite_all_asm(src):
    """Every asm statement of src rewritten to emu_asm(); returns (text, count)."""
    out, i, n_asm = [], 0, 0
    for m in re.finditer(r"\b(?:asm|__asm__)\s+(?:volatile\s*|__volatile__\s*)?\(", src):
        if m.start() < i:
            continue
        line = src.count("\n", 0, m.start()) + 1
        open_ = m.end() - 1
        close = match_paren(src, open_)
        span = src[m.start():close + 1]
        rep = rewrite_asm(flatten(src[open_ + 1:close]), f"line {line}")
        newlines = span.count("\n")
        in_macro = "\\\n" in span
        rep += (" \\\n" if in_macro else "\n") * newlines
        out.append(src[i:m.start()])
        out.append(rep)
        i = close + 1
        n_asm += 1
    out.append(src[i:])
    s = "".join(out)
    if re.search(r"\b(asm|__asm__)\b", re.sub(r"//[^\n]*", "", s)):
        fail("an asm statement was not rewritten")
    return s, n_asm


def prep(src, ns):
    s, n_asm = rewrite_all_asm(src)

    # extern __shared__ [attributes] TYPE NAME[]; (dynamic shared memory) → a pointer to the
    # launch's dynamic region.
    dyn = re.compile(r"extern\s+__shared__\s+(?:__align__\(\d+\)\s+)?([^;\[]*?)\s*\b(\w+)\s*\[\s*\]\s*;")
    s, n_dyn = dyn.subn(lambda m: f"{m.group(1)}* {m.group(2)} = ({m.group(1)}*)emu_dyn_smem();", s)

    # __shared__ [attributes] TYPE NAME[...]...; (attributes: __align__(n), __attribute__((...)))
    decl = re.compile(r"__shared__\s+([^;\[]*?)\s*\b(\w+)((?:\s*\[[^\];]+\])+)\s*;")
    n_shared = len(re.findall(r"\b__shared__\b", re.sub(r"//[^\n]*", "", s)))
    s, n_rep = decl.subn(
        lambda m: f"__shared__ {m.group(1)} {m.group(2)}{m.group(3)}; "
                  f"static const bool {m.group(2)}_emu_reg = emu_smem_reg(&{m.group(2)}, sizeof {m.group(2)}); "
                  f"(void){m.group(2)}_emu_reg;",
        s)
    if n_rep != n_shared:
        fail(f"{n_shared - n_rep} __shared__ declaration(s) not understood")

    lines = s.split("\n")
    inc = [k for k, l in enumerate(lines) if re.match(r'\s*#include\s+"hotpath_common.cuh"', l)]
    if len(inc) != 1:
        fail('expected exactly one #include "hotpath_common.cuh"')
    k = inc[0]
    return lines[: k + 1], lines[k + 1:], n_asm, n_rep


def prep_header(src):
    s, _ = rewrite_all_asm(src)
    if re.search(r"\b__shared__\b", re.sub(r"//[^\n]*", "", s)):
        fail("the header declares __shared__ memory, which is not registered")
    return s


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "--header":
        src_path, dst = sys.argv[2:]
        text = f'#line 1 "{os.path.abspath(src_path)}"\n' + prep_header(open(src_path).read())
        os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
        with open(dst, "w") as f:
            f.write(text)
        return
    if len(sys.argv) != 4:
        fail("usage: prep.py KERNEL.cu OUT.cu NAMESPACE | prep.py --header IN OUT")
    src_path, dst, ns = sys.argv[1:]
    src = open(src_path).read()
    head, tail, n_asm, n_shared = prep(src, ns)
    path = os.path.abspath(src_path)
    text = (f'#line 1 "{path}"\n' + "\n".join(head) + f"\nnamespace {ns} {{\n"
            + f'#line {len(head) + 1} "{path}"\n' + "\n".join(tail) + f"\n}}  // namespace {ns}\n")
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    with open(dst, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
