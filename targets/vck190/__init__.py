"""The AMD VCK190 target: a Vitis HLS kernel-plus-weights package.

`nscc compile MODEL --target vck190 -o PKG/` writes

    PKG/kernel/nscc_kernel.cpp   the top function nscc_top (m_axi weights, parameters, state, inputs, outputs)
    PKG/kernel/nscc_model.h      sizes and constants of this model
    PKG/kernel/nscc_hls.h        the integer snn ops as HLS functions (DATAFLOW synapses)
    PKG/kernel/nscc_csim_types.h stand-ins for ap_uint / hls::stream in a plain g++ C simulation
    PKG/weights/                 weights.bin (512-bit words), params.bin (int32), host.bin (float32), weights.json
    PKG/tb/                      tb_main.cpp, tb_io.h and the golden vectors of the reference interpreter
    PKG/host/host.cpp            XRT native-API host: loads the weights, runs the vectors, generates tokens
    PKG/cfg/                     hls_config.cfg, system.cfg, package.cfg for v++
    PKG/Makefile                 csim, lint, hls, link, package, host, host-check
    PKG/report.json, README.md   what was built, resource and throughput estimates
    PKG/scripts/hls_lint.py      the synthesizability lint
    PKG/scripts/hls_report.py    after `make hls`: Vitis HLS's latency and resources into report.json

A decoder with linear attention is compiled token by token: the kernel is its
decode-step function, one call takes one token per batch row, and the
function's state arguments are the state port, a device-memory buffer the
kernel updates in place (the new state it returns is written where it was
read), which the host and the testbench keep between calls. An encoder's
linear attention (bidirectional, with a padding mask) runs over the whole
padded batch in one call, as its softmax attention does.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import numpy as np
from xdsl.dialects.builtin import ModuleOp

from nscc.errors import NsccError
from nscc.ir import snn
from nscc.ir.context import NsccContext
from nscc.semantics.folding import constant_value
from nscc.targets import INTEGER_PIPELINE, write_integer_headers
from nscc.targets.vck190 import golden
from nscc.targets.vck190.build_files import hls_config, makefile, package_cfg, system_cfg
from nscc.targets.vck190.estimate import estimate, plot
from nscc.targets.vck190.hls import Kernel, generate
from nscc.targets.vck190.partition import preflight
from nscc.targets.vck190.host import host_source
from nscc.targets.vck190.readme import readme
from nscc.targets.vck190.testbench import tb_io

DEFAULT_PIPELINE = INTEGER_PIPELINE  # the kernel is integer-only

__all__ = ["DEFAULT_PIPELINE", "emit", "preflight"]

HERE = os.path.dirname(__file__)
TEMPLATES = os.path.join(HERE, "templates")


def _host_tables(kernel: Kernel, ctx) -> tuple[bytes, list[dict]]:
    """float32 tables the host needs to encode inputs and decode outputs (host.bin)."""
    blobs, entries, at = [], [], 0

    def put(arr, role, port):
        nonlocal at
        a = np.ascontiguousarray(np.asarray(arr, np.float32).reshape(-1))
        blobs.append(a.tobytes())
        entries.append({"port": port, "role": role, "offset": at, "count": int(a.size)})
        at += a.size

    def table(v):
        arr = constant_value(v, ctx.weights)
        if arr is None:
            raise NsccError(
                "vck190 target: an input's thresholds or an output's scales are computed", "they must be constants of the model"
            )
        return arr

    for x in kernel.inputs:
        if x["encode"] is not None:
            put(table(x["encode"].theta), "theta", x["port"])
    for x in kernel.outputs:
        if isinstance(x["decode"], snn.FixedDecodeOp):
            put(np.array([2.0 ** -x["decode"].frac_bits.value.data]), "scale", x["port"])
        elif x["decode"] is not None:
            put(table(x["decode"].scale), "scale", x["port"])
            if x["decode"].bias is not None:
                put(table(x["decode"].bias), "bias", x["port"])
    return b"".join(blobs), entries


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def emit(ctx: NsccContext, module: ModuleOp, out_dir: str, source: str) -> list[str]:
    program, part, steps, decoder, dec, cap = golden.program(ctx, module)
    kernel = generate(program, ctx.weights, part)
    for d in ("kernel", "weights", "tb/vectors", "host", "cfg", "scripts"):
        os.makedirs(os.path.join(out_dir, d), exist_ok=True)
    w = lambda rel, text: _write(os.path.join(out_dir, rel), text)  # noqa: E731
    w("kernel/nscc_kernel.cpp", kernel.source)
    w("kernel/nscc_model.h", kernel.model_h)
    for name in ("nscc_hls.h", "nscc_csim_types.h"):
        shutil.copyfile(os.path.join(TEMPLATES, name), os.path.join(out_dir, "kernel", name))
    write_integer_headers(os.path.join(out_dir, "kernel"))
    shutil.copyfile(os.path.join(TEMPLATES, "tb_main.cpp"), os.path.join(out_dir, "tb", "tb_main.cpp"))
    shutil.copyfile(os.path.join(HERE, "lint.py"), os.path.join(out_dir, "scripts", "hls_lint.py"))
    shutil.copyfile(os.path.join(HERE, "synthesis_report.py"), os.path.join(out_dir, "scripts", "hls_report.py"))
    w("tb/tb_io.h", tb_io(kernel, len(steps)))
    # golden vectors: what the reference interpreter computed at the kernel's boundary
    for t, (ins, outs) in enumerate(steps):
        for x, a in zip(kernel.inputs, ins):
            _write_bytes(
                os.path.join(out_dir, "tb", "vectors", f"{x['port']}_step{t}.bin"),
                np.asarray(a).astype(x["ctype"].replace("_t", "")).tobytes(),
            )
        for x, a in zip(kernel.outputs, outs):
            _write_bytes(
                os.path.join(out_dir, "tb", "vectors", f"{x['port']}_step{t}.bin"),
                np.asarray(a).astype(x["ctype"].replace("_t", "")).tobytes(),
            )
    host_bin, host_entries = _host_tables(kernel, ctx)
    files = {
        "weights/weights.bin": kernel.weights,
        "weights/weights_b.bin": kernel.weights_b,
        "weights/params.bin": kernel.params.astype("<i4").tobytes(),
        "weights/host.bin": host_bin,
    }
    for rel, data in files.items():
        _write_bytes(os.path.join(out_dir, rel), data)
    layers = [
        {
            "index": i, "layer": s.name, "k": s.k, "n": s.n, "bits": s.bits, "lane_bits": s.container, "lanes_per_word": 512 // s.container,
            "words_per_row": s.wpr, "words_per_row_a": s.wa, "words_per_row_b": s.wb, "offset_words_a": s.offset, "offset_words_b": s.offset_b,
            "order": "row k = input k, lane l of word w = output w*lanes+l; even words w in weights.bin at offset_words_a + k*words_per_row_a + w/2, odd ones in weights_b.bin at offset_words_b + k*words_per_row_b + (w-1)/2",
            "encoding": "two's complement" + (" (ternary -1/0/1)" if s.bits <= 2 else ""), "live_rows": s.live_rows, "nonzero": s.nonzero,
            "sha256": _sha(kernel.weights[s.offset * 64 : (s.offset + s.k * s.wa) * 64] + kernel.weights_b[s.offset_b * 64 : (s.offset_b + s.k * s.wb) * 64]),
            "memory": "URAM" if s.resident >= 0 else "DDR",
            "uram_offset_words": s.resident if s.resident >= 0 else None,
        }
        for i, s in enumerate(kernel.layers)
    ]  # fmt: skip
    manifest = {
        "format": "nscc-vck190-weights/1",
        "word_bytes": 64,
        "files": {rel: {"bytes": len(data), "sha256": _sha(data)} for rel, data in files.items()},
        "synapse_layers": layers,
        "params": {"dtype": "int32", "count": int(kernel.params.size)},
        "host_tables": host_entries,
        "state": {
            "dtype": "linear attention: int64, eight to a 512-bit word, per head S row-major then z; "
                     "KV cache: int8 counts, per key-value head one position row of ceil(d / 64) words, keys then values; "
                     "window attention: its K, V caches of sinks + window slots as a KV cache's, then the key features "
                     "per query head likewise, then S and z as linear attention's",
            "words": kernel.state_words,
            "arguments": kernel.state,  # the step function's state arguments (decode-step) that the port holds, updated in place
        },  # fmt: skip
    }
    w("weights/weights.json", json.dumps(manifest, indent=1) + "\n")
    est = estimate(kernel, {j: a / max(t, 1) for j, (a, t) in cap.active.items()})
    if decoder:  # one call decodes one token for every batch row
        rows = kernel.inputs[0]["elements"]
        est["tokens_per_s"], est["memory_bound_tokens_per_s"] = est["calls_per_s"] * rows, est["memory_bound_calls_per_s"] * rows
        est["two_bank_bound_tokens_per_s"] = est["two_bank_bound_calls_per_s"] * rows
    caches = [x for x in kernel.state if "positions" in x]
    if caches:  # bytes grow with the positions compiled for; the port's words are whole rows of words
        n = caches[0]["positions"]
        per = sum(x["bytes"] for x in caches) / n
        est["kv_cache"] = {"positions": n, "bytes": int(per * n), "bytes_per_position": int(per), "bytes_at_2048": int(per * 2048),
                           "port_bytes": sum(x["words"] for x in caches) * 64}  # fmt: skip
    fp16 = sum(s.k * s.n * 2 for s in kernel.layers)
    packed = len(kernel.weights) + len(kernel.weights_b)
    report = {
        "target": "vck190",
        "part": "xcvc1902-vsva2197-2MP-e-S",
        "source": os.path.basename(source),
        "decoder": decoder,
        "kernel": {
            "top": "nscc_top", "calls": "one token per call" if decoder else "one batch per call", "synapse_layers": len(kernel.layers),
            "other_ops": len(kernel.others), "inputs": [_io(x) for x in kernel.inputs], "outputs": [_io(x) for x in kernel.outputs],
            "arena_int32": kernel.arena32, "arena_int64": kernel.arena64, "state_words": kernel.state_words,
        },
        "weights": {"packed_bytes": packed, "fp16_bytes": fp16, "ratio_vs_fp16": fp16 / packed if packed else 0.0, "resident_bytes": sum((s.wa + s.wb) * s.k * 64 for s in kernel.layers if s.resident >= 0)},
        "estimate": est,
        "tb_steps": len(steps),
    }  # fmt: skip
    w("report.json", json.dumps(report, indent=1) + "\n")
    plot(report, os.path.join(out_dir, "report.png"))
    w("host/host.cpp", host_source(kernel, host_entries, decoder, dec.length if dec else 1, len(steps)))
    w("cfg/hls_config.cfg", hls_config())
    w("cfg/system.cfg", system_cfg(kernel))
    w("cfg/package.cfg", package_cfg(sorted(os.listdir(os.path.join(out_dir, "tb", "vectors")))))
    w("Makefile", makefile())
    w("README.md", readme(report))
    listing = sorted(os.path.relpath(os.path.join(d, f), out_dir) for d, _, fs in os.walk(out_dir) for f in fs)
    w(
        "MANIFEST.json",
        json.dumps({"nscc_package": "vck190", "files": {f: _sha(open(os.path.join(out_dir, f), "rb").read()) for f in listing}}, indent=1)
        + "\n",
    )
    return sorted(os.listdir(out_dir))


def _io(x: dict) -> dict:
    return {
        "port": x["port"],
        "shape": x["shape"],
        "ctype": x["ctype"],
        "host": "encode" if x.get("encode") else "decode" if x.get("decode") else "none",
    }


def _write(path: str, text: str) -> None:
    with open(path, "w", newline="\n") as f:
        f.write(text)


def _write_bytes(path: str, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)


# --- the target interface (targets/__init__.py) ------------------------------------------

DESCRIPTION = "AMD VCK190 package: Vitis HLS kernel, packed weights, XRT host, v++ configs, C-simulation testbench and estimates"


def summary(pkg: str) -> list[str]:
    with open(os.path.join(pkg, "report.json")) as f:
        rep = json.load(f)
    e = rep["estimate"]
    rate = f"{e.get('tokens_per_s', e['calls_per_s']):,.1f} {'tokens' if rep['decoder'] else 'calls'}/s"
    use = ", ".join(f"{k} {100 * v:.1f}%" for k, v in e["utilisation"].items())
    kv = e.get("kv_cache")
    cache = (
        f"; KV cache {kv['bytes']:,} bytes for {kv['positions']} positions ({kv['bytes_per_position']:,} a position, {kv['bytes_at_2048']:,} at 2,048)"
        if kv
        else ""
    )
    return [
        f"estimate at {e['assumptions']['clock_mhz']:.0f} MHz: {e['latency_ms']:.3f} ms per call, {rate}; {use}; fits: {'yes' if e['fits'] else 'NO'}{cache}",
        f"check it with `make -C {pkg} csim` (C simulation against the interpreter's golden vectors); report.json and report.png have the details",
    ]


def recognizes(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "MANIFEST.json")) and os.path.isfile(os.path.join(path, "kernel", "nscc_kernel.cpp"))


def input_names(path: str) -> list[str]:
    return run_built(path)  # it does not run here: say so before any input is read


def run_built(path: str, inputs=None):
    raise NsccError(
        f"{path} is a VCK190 package: it runs on the board",
        f"check it here with `make -C {path} csim` (C simulation against its golden vectors); compile for --target cpp to run inputs here",
    )


def generate_built(path: str, prompt=None, n=None):
    return run_built(path)
