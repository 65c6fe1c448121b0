"""Synthesizability lint for the generated HLS sources: rejects what Vitis HLS
would refuse or build badly. Standalone (standard library only), so the
package ships a copy: `python3 scripts/hls_lint.py kernel/`.

Checked in the synthesized files (not in the csim stand-ins):
dynamic allocation (new, malloc, free), recursion, std containers and
streams, virtual functions, function pointers, exceptions, variable-length
arrays, loops without a constant bound (while, for without a bound or a
LOOP_TRIPCOUNT), unknown `#pragma HLS` directives, and pointer arguments of
the top function without an interface pragma.
"""

from __future__ import annotations

import os
import re
import sys

PRAGMAS = {
    "INTERFACE", "PIPELINE", "UNROLL", "DATAFLOW", "STREAM", "ARRAY_PARTITION", "INLINE", "LOOP_TRIPCOUNT", "BIND_STORAGE",
    "DEPENDENCE", "LOOP_FLATTEN", "ALLOCATION", "AGGREGATE",
}  # fmt: skip
FORBIDDEN = [
    (r"\bnew\b", "dynamic allocation (new)"),
    (r"\b(malloc|calloc|realloc|free)\s*\(", "dynamic allocation"),
    (r"\bstd::(vector|deque|list|map|set|unordered_\w+|string|function|shared_ptr|unique_ptr)\b", "std container"),
    (r"\bvirtual\b", "virtual function"),
    (r"\b(try|catch|throw)\b", "exceptions"),
    (r"\bwhile\s*\(", "loop without a constant bound (while)"),
    (r"\bgoto\b", "goto"),
    (r"\(\s*\*\s*\w+\s*\)\s*\(", "function pointer"),
    (r"#\s*include\s*<(vector|deque|list|map|set|string|iostream|fstream|memory|functional)>", "host-only header"),
]
SYNTHESIZED = ("nscc_kernel.cpp", "nscc_model.h", "nscc_hls.h", "nscc_int.h", "nscc_fixed.h")


def _strip(src: str) -> str:
    src = re.sub(r"//[^\n]*", "", src)
    src = re.sub(r"/\*.*?\*/", "", src, flags=re.S)
    src = re.sub(r'"(\\.|[^"\\])*"', '""', src)
    # the csim stand-ins are never synthesized
    return re.sub(r"#else\s*\n\s*#include \"nscc_csim_types.h\"\s*\n", "\n", src)


def lint_source(name: str, src: str) -> list[str]:
    problems = []
    code = _strip(src)
    for pattern, what in FORBIDDEN:
        for m in re.finditer(pattern, code):
            line = code.count("\n", 0, m.start()) + 1
            problems.append(f"{name}:{line}: {what}")
    for m in re.finditer(r"#pragma\s+HLS\s+(\w+)", code):
        if m.group(1).upper() not in PRAGMAS:
            problems.append(f"{name}:{code.count(chr(10), 0, m.start()) + 1}: unknown pragma HLS {m.group(1)}")
    for m in re.finditer(r"\bfor\s*\(([^;]*);([^;]*);", code):
        cond = m.group(2).strip()
        if not cond:
            problems.append(f"{name}:{code.count(chr(10), 0, m.start()) + 1}: loop without a bound")
    # variable-length arrays: a local array whose size is a function parameter
    for fn in re.finditer(r"\b\w+\s+(\w+)\s*\(([^)]*)\)\s*\{", code):
        params = {p.strip().split()[-1].lstrip("*&") for p in fn.group(2).split(",") if p.strip() and "template" not in p}
        body = code[fn.end() : _block_end(code, fn.end())]
        for arr in re.finditer(r"\b(?:int\d+_t|uint\d+_t|int|word_t)\s+\w+\[(\w+)\]", body):
            if arr.group(1) in params:
                problems.append(f"{name}: variable-length array in {fn.group(1)}")
        # recursion: a function calling itself
        if re.search(rf"\b{re.escape(fn.group(1))}\s*(<[^;]*?>)?\s*\(", body) and fn.group(1) not in ("if", "for", "switch"):
            problems.append(f"{name}: recursion in {fn.group(1)}")
    return problems


def _block_end(code: str, start: int) -> int:
    depth = 1
    for i in range(start, len(code)):
        if code[i] == "{":
            depth += 1
        elif code[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    return len(code)


def lint_top(src: str) -> list[str]:
    """Every pointer argument of nscc_top has an m_axi interface pragma."""
    m = re.search(r'extern "C" void nscc_top\(([^)]*)\)\s*\{', src)
    if not m:
        return ["nscc_kernel.cpp: no top function nscc_top"]
    ports = [p.strip().split()[-1] for p in m.group(1).split(",") if "*" in p]
    have = set(re.findall(r"#pragma HLS INTERFACE m_axi port=(\w+)", src))
    out = [f"nscc_kernel.cpp: pointer argument '{p}' has no m_axi interface pragma" for p in ports if p not in have]
    if "s_axilite port=return" not in src:
        out.append("nscc_kernel.cpp: no s_axilite control interface")
    return out


def lint_dir(kernel_dir: str) -> list[str]:
    problems = []
    for name in SYNTHESIZED:
        path = os.path.join(kernel_dir, name)
        if not os.path.exists(path):
            problems.append(f"{name}: missing")
            continue
        src = open(path).read()
        problems += lint_source(name, src)
        if name == "nscc_kernel.cpp":
            problems += lint_top(src)
    return problems


if __name__ == "__main__":
    found = lint_dir(sys.argv[1] if len(sys.argv) > 1 else "kernel")
    for p in found:
        print("hls-lint:", p)
    print(f"hls-lint: {len(found)} problem(s)")
    sys.exit(1 if found else 0)
