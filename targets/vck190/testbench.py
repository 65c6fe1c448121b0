"""The testbench's view of a kernel's ports (tb/tb_io.h, from templates/tb_io.h.in), generated.

The lines `vectors` and `compare` are inside a macro: each ends with a backslash, and
every kernel has an output, so neither is empty."""

from __future__ import annotations

import os

from nscc.targets import render
from nscc.targets.vck190.hls import Kernel

TEMPLATE = os.path.join(os.path.dirname(__file__), "templates", "tb_io.h.in")


def tb_io(kernel: Kernel, steps: int) -> str:
    args = ["wgt.data()", "wgt2.data()", "prm.data()"] + (["state.data()"] if kernel.state_words else [])
    load_args = ", ".join(args + ["0"] * (len(kernel.inputs) + len(kernel.outputs)))
    vectors = []
    for x in kernel.inputs:
        vectors.append(
            f'    std::vector<{x["ctype"]}> {x["port"]} = load<{x["ctype"]}>(root + "/tb/vectors/{x["port"]}_step" + s_ + ".bin", {x["elements"]}); \\'
        )
        args.append(f"{x['port']}.data()")
    for x in kernel.outputs:
        vectors.append(f"    std::vector<{x['ctype']}> {x['port']}({x['elements']}, 0x5a5a5a5a); \\")
        vectors.append(
            f'    std::vector<{x["ctype"]}> {x["port"]}_gold = load<{x["ctype"]}>(root + "/tb/vectors/{x["port"]}_step" + s_ + ".bin", {x["elements"]}); \\'
        )
        args.append(f"{x['port']}.data()")
    compare = [
        f"    for (size_t i_ = 0; i_ < {x['port']}.size(); ++i_) {{ if ({x['port']}[i_] == {x['port']}_gold[i_]) ++passed; else {{ "
        f'if (failed < 10) std::printf("csim: step %d {x["port"]}[%zu] = %lld, golden %lld\\n", step, i_, (long long){x["port"]}[i_], '
        f"(long long){x['port']}_gold[i_]); ++failed; }} }} \\"
        for x in kernel.outputs
    ]
    return render(
        TEMPLATE, steps=steps, load_args=load_args, vectors="\n".join(vectors), step_args=", ".join(args), compare="\n".join(compare)
    )
