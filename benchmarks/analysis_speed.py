"""`nscc analyze` at GPT-2-small scale: 32 samples of 128 tokens (issue 8's goal: within 2 minutes).

Converts a GPT-2-small-sized model (random weights, 12 layers, hidden 768) to
spikes (calibrated on 4 samples, timed apart), then times the analysis
(recording every synaptic layer, all metrics, energy) and the rendering of
the plots and report.

    python benchmarks/analysis_speed.py [--samples 32]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np
from _models import gpt2_small, token_batches


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, default=32)
    a = ap.parse_args()
    from nscc.analysis import analyze
    from nscc.analysis.render import write
    from nscc.driver import apply_pipeline
    from nscc.frontend.importer import import_onnx

    seq = 128
    path = gpt2_small(seq)
    rng = np.random.default_rng(0)
    ctx, module = import_onnx(path)
    ctx.calibration = token_batches(4, seq)
    t = time.perf_counter()
    apply_pipeline(ctx, module, "spike-conversion{weight-bits=4}")
    print(f"spike conversion: {time.perf_counter() - t:.1f} s")
    batches = token_batches(a.samples, seq, seed=1)
    labels = rng.integers(0, 2, a.samples)
    t = time.perf_counter()
    result = analyze(module, ctx.weights, batches, labels)
    t_an = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        write(result, tmp, "gpt2_small")
        t_w = time.perf_counter() - t
    print(
        f"analysis of {a.samples} samples x {seq} tokens, {len(result['layers'])} layers: {t_an:.1f} s, plots and report {t_w:.1f} s; total {t_an + t_w:.1f} s (goal <= 120 s)"
    )


if __name__ == "__main__":
    main()
