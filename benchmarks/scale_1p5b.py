"""Scale: a 1.5B-parameter Llama-architecture export to a VCK190 package on this machine.

The model is transformers' LlamaForCausalLM at 1.57B parameters (hidden 2048, 24
layers, 32 query and 8 key-value heads, MLP 8192, vocabulary 32,000), random ternary
weights with half of them zero (NSLLM's class), exported by dynamo with external data
(`_models.llama_1p5b`, built once into benchmarks/.cache/, 6.3 GB).

Measures, in one run:

* `nscc compile --target vck190` of it with ternary weights: wall time (aim <= 10
  minutes on 2 cores) and peak RSS of the compiler's process (aim <= 1.5x the ONNX
  file with its external data);
* the package's estimate: tokens/s next to NSLLM's 161.8, the share of the
  memory-bandwidth bounds, resources against the VC1902 and whether it fits.

    python benchmarks/scale_1p5b.py [--seq 64] [--calib-rows 2]

Needs torch and transformers (pip install -e '.[bench]') to build the model once.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
from _models import CACHE, LLAMA_1P5B, llama_1p5b

HERE = os.path.dirname(os.path.abspath(__file__))
NSLLM_TOKENS_S = 161.8
# Ternary weights are on their grid already: a Hadamard rotation would take them off it.
PIPELINE = (
    "raise-attention,fuse-silu,fuse-rms-norm,token-scale,spike-conversion{weight-bits=1.58},requant-fusion,integer-islands"
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seq", type=int, default=64, help="positions compiled for (the KV cache's length)")
    ap.add_argument("--calib-rows", type=int, default=2, help="calibration sequences")
    a = ap.parse_args()

    model = llama_1p5b(a.seq)
    data = model + ".data"
    onnx_bytes = os.path.getsize(model) + os.path.getsize(data)
    calib = os.path.join(CACHE, f"llama_1p5b_calib_s{a.seq}_n{a.calib_rows}.npz")
    rng = np.random.default_rng(1)
    np.savez(calib, input_ids=rng.integers(0, LLAMA_1P5B["vocab_size"], (a.calib_rows, a.seq)))
    out = os.path.join(HERE, "out", "llama_1p5b_vck190")
    # The page cache may hold the weights from the export: drop nothing, but say so.
    print(f"model: {model} ({onnx_bytes / 1e9:.2f} GB with its external data)", flush=True)

    t = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-m", "nscc", "compile", model, "--target", "vck190", "--calib", calib, "-o", out, "-p", PIPELINE],
        stderr=subprocess.PIPE,
        text=True,
    )
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    if r.returncode:
        sys.exit(r.stderr[-3000:])
    for line in r.stderr.splitlines():
        if line.startswith("nscc:") or "relative output error" in line:
            print("  " + line)
    with open(os.path.join(out, "report.json")) as f:
        rep = json.load(f)
    e = rep["estimate"]
    share1 = e["tokens_per_s"] / e["memory_bound_tokens_per_s"]
    share2 = e["tokens_per_s"] / e["two_bank_bound_tokens_per_s"]
    print(f"compile: {seconds / 60:.1f} min (aim <= 10); peak RSS {peak / 1e9:.2f} GB = {peak / onnx_bytes:.2f}x the ONNX file (aim <= 1.5x)")
    print(
        f"estimate at {e['assumptions']['clock_mhz']:.0f} MHz: {e['tokens_per_s']:.1f} tokens/s (NSLLM {NSLLM_TOKENS_S}); "
        f"{100 * share1:.0f}% of the DDR bound ({e['memory_bound_tokens_per_s']:.1f}), "
        f"{100 * share2:.0f}% of the DDR + LPDDR bound ({e['two_bank_bound_tokens_per_s']:.1f})"
    )
    print(f"weights {rep['weights']['packed_bytes'] / 1e6:,.0f} MB packed; fits the VC1902: {e['fits']}; "
          + ", ".join(f"{k} {100 * v:.1f}%" for k, v in e["utilisation"].items()))  # fmt: skip
    summary = {
        "model": os.path.basename(model),
        "onnx_bytes": onnx_bytes,
        "compile_s": seconds,
        "peak_rss_bytes": peak,
        "peak_over_onnx": peak / onnx_bytes,
        "pipeline": PIPELINE,
        "estimate": e,
        "weights": rep["weights"],
    }
    with open(os.path.join(HERE, "out", "scale_1p5b.json"), "w") as f:
        json.dump(summary, f, indent=1, default=str)


if __name__ == "__main__":
    main()
