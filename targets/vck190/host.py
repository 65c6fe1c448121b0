"""The XRT native-API host program (host/host.cpp), generated for a kernel's ports.

The program is templates/host.cpp.in; a decoder's generation loop is
templates/host_generate.cpp.in, any other model's `--input` run
templates/host_inputs.cpp.in. This file writes only the per-port lines."""

from __future__ import annotations

import os

from nscc.targets import render
from nscc.targets.vck190.hls import Kernel

TEMPLATES = os.path.join(os.path.dirname(__file__), "templates")


def _fragment(name: str, **fields: object) -> str:
    """A template that is a block of lines inside host.cpp (no final newline)."""
    return render(os.path.join(TEMPLATES, name), **fields).removesuffix("\n")


def host_source(kernel: Kernel, tables: list[dict], decoder: bool, positions: int, tb_steps: int) -> str:
    """The XRT host: buffers for every port, weights loaded once, the golden vectors
    replayed and compared, and (decoders) greedy generation timed in tokens per second."""
    words = kernel.state_words
    clear = f"std::memset(state.map<char*>(), 0, {words} * 64); state.sync(XCL_BO_SYNC_BO_TO_DEVICE);" if words else ""
    arg_index = ["wgt", "wgt2", "prm"] + (["state"] if words else []) + [x["port"] for x in kernel.inputs + kernel.outputs]
    run_args = ", ".join(arg_index)
    vec_in = [
        f'    read_file(find(dir, "tb/vectors", "{x["port"]}_step" + std::to_string(step) + ".bin"), {x["port"]}.map<char*>(), {x["elements"]} * sizeof({x["ctype"]})); '
        f"{x['port']}.sync(XCL_BO_SYNC_BO_TO_DEVICE);"
        for x in kernel.inputs
    ]
    vec_cmp = [
        f"    {{ {x['port']}.sync(XCL_BO_SYNC_BO_FROM_DEVICE); std::vector<{x['ctype']}> g({x['elements']}); "
        f'read_file(find(dir, "tb/vectors", "{x["port"]}_step" + std::to_string(step) + ".bin"), (char*)g.data(), g.size() * sizeof({x["ctype"]})); '
        f"const {x['ctype']}* o = {x['port']}.map<{x['ctype']}*>(); for (size_t i = 0; i < g.size(); ++i) (o[i] == g[i] ? passed : failed)++; }}"
        for x in kernel.outputs
    ]
    return render(
        os.path.join(TEMPLATES, "host.cpp.in"),
        arg_indices="\n".join(f"constexpr int arg_{n} = {i};" for i, n in enumerate(arg_index)),
        tb_steps=tb_steps,
        max_positions=positions,
        state_buffer=f"  xrt::bo state(dev, {words} * 64, krnl.group_id(arg_state));  // the step function's state arguments, updated in place by each call"
        if words
        else "",
        port_buffers="\n".join(
            f"  xrt::bo {x['port']}(dev, {x['elements']} * sizeof({x['ctype']}), krnl.group_id(arg_{x['port']}));"
            for x in kernel.inputs + kernel.outputs
        ),
        run_args=run_args,
        state_clear="  " + clear if clear else "",
        vectors_in="\n".join(vec_in),
        vectors_compare="\n".join(vec_cmp),
        run=_generate(kernel, tables, run_args, clear) if decoder else _run_inputs(kernel, tables, run_args),
    )


def _table(tables: list[dict], port: str, role: str) -> dict | None:
    return next((t for t in tables if t["port"] == port and t["role"] == role), None)


def _generate(kernel: Kernel, tables: list[dict], run_args: str, clear: str) -> str:
    """Greedy generation (`--prompt-ids`, `--generate`): the logits decoded with the output's scale and bias."""
    ids, pos = kernel.inputs[0], kernel.inputs[1] if len(kernel.inputs) > 1 else None
    out = kernel.outputs[0]
    scale, bias = _table(tables, out["port"], "scale"), _table(tables, out["port"], "bias")
    decode = f"tables[{scale['offset'] if scale else 0} + {'v' if scale and scale['count'] > 1 else '0'}]"
    if bias:
        decode += f" + tables[{bias['offset']} + {'v' if bias['count'] > 1 else '0'}]"
    return _fragment(
        "host_generate.cpp.in",
        state_clear=clear,
        ids=ids["port"],
        batch=ids["elements"],
        position=f"{pos['port']}.map<int64_t*>()[0] = (int64_t)p; {pos['port']}.sync(XCL_BO_SYNC_BO_TO_DEVICE);" if pos else "",
        run_args=run_args,
        logits=out["port"],
        vocab=out["shape"][-1],
        decode=decode,
    )


def _run_inputs(kernel: Kernel, tables: list[dict], run_args: str) -> str:
    """`--input FILE` per input port: float32 files are encoded here (snn.encode), the
    outputs decoded (snn.decode) into outputJ.bin, with the argmax of each row printed."""
    load = []
    for x in kernel.inputs:
        p = x["port"]
        if "channels" in x:
            th = _table(tables, p, "theta")
            ch = f"(i / {x['inner']}) % {x['channels']}" if x["channels"] > 1 else "0"
            load.append(
                f"    {{ std::vector<float> v({x['elements']}); read_file(inputs.at(k++), (char*)v.data(), v.size() * sizeof(float)); int32_t* d = {p}.map<int32_t*>();\n"
                f"      for (size_t i = 0; i < v.size(); ++i) {{ float q = v[i] / tables[{th['offset']} + {ch}]; float r = std::isnan(q) ? 0.f : std::nearbyint(q); "
                f"d[i] = (int32_t)std::min(std::max(r, {float(x['lo'])!r}f), {float(x['hi'])!r}f); }}\n"
                f"      {p}.sync(XCL_BO_SYNC_BO_TO_DEVICE); }}"
            )
        else:
            load.append(
                f"    read_file(inputs.at(k++), {p}.map<char*>(), {x['elements']} * sizeof({x['ctype']})); {p}.sync(XCL_BO_SYNC_BO_TO_DEVICE);"
            )
    save = []
    for j, x in enumerate(kernel.outputs):
        p = x["port"]
        last = x["shape"][-1] if x["shape"] else 1
        if "channels" in x:
            sc, bi = _table(tables, p, "scale"), _table(tables, p, "bias")
            ch = f"(i / {x['inner']}) % {x['channels']}" if x["channels"] > 1 else "0"
            bias = f" + tables[{bi['offset']} + {ch}]" if bi else ""
            save.append(
                f"    {{ {p}.sync(XCL_BO_SYNC_BO_FROM_DEVICE); const int32_t* a = {p}.map<int32_t*>(); std::vector<float> y({x['elements']});\n"
                f"      for (size_t i = 0; i < y.size(); ++i) {{ float v = (float)a[i] * tables[{sc['offset']} + {ch}]; y[i] = v{bias}; }}\n"
                f'      write_file("output{j}.bin", (const char*)y.data(), y.size() * sizeof(float)); print_argmax("output{j}", y.data(), y.size(), {last}); }}'
            )
        else:
            save.append(
                f"    {{ {p}.sync(XCL_BO_SYNC_BO_FROM_DEVICE); std::vector<float> y({x['elements']}); const {x['ctype']}* a = {p}.map<{x['ctype']}*>();\n"
                f"      for (size_t i = 0; i < y.size(); ++i) y[i] = (float)a[i];\n"
                f'      write_file("output{j}.bin", (const char*){p}.map<char*>(), {x["elements"]} * sizeof({x["ctype"]})); print_argmax("output{j}", y.data(), y.size(), {last}); }}'
            )
    return _fragment("host_inputs.cpp.in", n_inputs=len(kernel.inputs), load="\n".join(load), run_args=run_args, save="\n".join(save))
