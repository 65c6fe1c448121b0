"""Scale of the foundation on a GPT-2-small-sized export (about 124M parameters).

Measures, in one run on this machine:
  * import (ONNX -> IR) plus printing the IR with weights elided: time, and
    peak memory growth over the process's baseline, against the ONNX file size;
  * the interpreter's forward pass against onnxruntime's, same input, same process.
Goals (issue 2): import + print <= 20 s, peak <= 2x the file; forward <= 3x onnxruntime.

    python benchmarks/import_scale.py [--seq 128] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time

import numpy as np
from _models import gpt2_small


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def measure_import(path: str) -> None:
    """Runs in a fresh process so that its peak memory is its own."""
    import nscc.frontend.importer as imp  # noqa: F401 -- imports before the baseline
    from nscc.ir.textio import module_text

    base = rss_mb()
    t0 = time.perf_counter()
    ctx, module = imp.import_onnx(path)
    t1 = time.perf_counter()
    text = module_text(module)
    t2 = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n_ops = sum(1 for _ in module.walk())
    params = sum(a.size for a in ctx.weights.values())
    print(f"IMPORT {t1 - t0:.2f} {t2 - t1:.2f} {peak - base:.0f} {n_ops} {len(text)} {params}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--_child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a._child:
        measure_import(a._child)
        return

    path = gpt2_small(a.seq)
    size_mb = os.path.getsize(path) / 2**20
    out = subprocess.run([sys.executable, __file__, "--_child", path], capture_output=True, text=True, check=True).stdout
    t_import, t_print, peak, n_ops, n_chars, params = out.split("IMPORT ")[1].split()
    t_total = float(t_import) + float(t_print)
    print(f"model: {path} ({size_mb:.0f} MB, {int(params) / 1e6:.1f}M parameters, {n_ops} ops in the IR)")
    print(
        f"import {float(t_import):.2f} s + print {float(t_print):.2f} s = {t_total:.2f} s   (goal <= 20 s)   IR text {int(n_chars) / 1024:.0f} kB"
    )
    print(f"peak memory growth {float(peak):.0f} MB = {float(peak) / size_mb:.2f}x the ONNX file   (goal <= 2x)")

    import onnxruntime as ort

    from nscc.frontend.importer import import_onnx
    from nscc.semantics.interpreter import run

    ids = np.random.default_rng(0).integers(0, 50257, (1, a.seq)).astype(np.int64)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = os.cpu_count() or 1
    sess = ort.InferenceSession(path, opts)
    ctx, module = import_onnx(path)

    def best(fn):
        fn()
        times = []
        for _ in range(a.repeat):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times)

    t_ort = best(lambda: sess.run(None, {"input_ids": ids}))
    t_nscc = best(lambda: run(module, ctx.weights, {"input_ids": ids}))
    ref = sess.run(None, {"input_ids": ids})[0]
    got = run(module, ctx.weights, {"input_ids": ids})["logits"]
    print(
        f"forward, S={a.seq}: onnxruntime {t_ort * 1e3:.0f} ms, nscc interpreter {t_nscc * 1e3:.0f} ms, ratio {t_nscc / t_ort:.2f}x   (goal <= 3x); max |diff| {np.abs(got - ref).max():.2e}"
    )


if __name__ == "__main__":
    main()
