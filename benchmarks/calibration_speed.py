"""Calibration and spike conversion at GPT-2-small scale (about 124M parameters).

Calibrates on 32 samples of 128 tokens (issue 3's goal: within 60 s on 2
cores, with a progress bar on a terminal), converts every linear layer, and
times one forward pass of the float model in onnxruntime and of the spiking
model in the interpreter, in the same run.

    python benchmarks/calibration_speed.py [--samples 32] [--seq 128]
"""

from __future__ import annotations

import argparse
import os
import time

from _models import gpt2_small, token_batches


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    a = ap.parse_args()

    import onnxruntime as ort

    from nscc.calibration import collect
    from nscc.driver import apply_pipeline
    from nscc.frontend.importer import import_onnx
    from nscc.ir import nn, snn
    from nscc.semantics.interpreter import run

    path = gpt2_small(a.seq)
    batches = token_batches(a.samples, a.seq)

    t = time.perf_counter()
    ctx, module = import_onnx(path)
    t_import = time.perf_counter() - t

    targets = {op: [(0, len(op.operands[0].type.get_shape()) - 1)] for op in module.walk() if isinstance(op, nn.MatMulOp | nn.GemmOp)}
    t = time.perf_counter()
    stats = collect(module, ctx.weights, batches, targets)
    t_cal = time.perf_counter() - t
    print(f"calibration: {a.samples} samples x {a.seq} tokens, {len(stats)} tensors watched: {t_cal:.1f} s   (goal <= 60 s)")

    ctx.calibration = batches
    t = time.perf_counter()
    apply_pipeline(ctx, module, "spike-conversion{levels=15}")
    t_conv = time.perf_counter() - t
    n_syn = sum(isinstance(op, snn.SynapseOp) for op in module.walk())
    print(f"spike-conversion (calibration included): {t_conv:.1f} s, {n_syn} spiking layers; import {t_import:.1f} s")

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = os.cpu_count() or 1
    sess = ort.InferenceSession(path, opts)
    sess.run(None, batches[0])
    t = time.perf_counter()
    sess.run(None, batches[0])
    t_ort = time.perf_counter() - t
    run(module, ctx.weights, batches[0])
    t = time.perf_counter()
    run(module, ctx.weights, batches[0])
    t_snn = time.perf_counter() - t
    print(
        f"one forward, S={a.seq}: onnxruntime float {t_ort * 1e3:.0f} ms; interpreter spiking {t_snn * 1e3:.0f} ms ({t_snn / t_ort:.1f}x)"
    )


if __name__ == "__main__":
    main()
