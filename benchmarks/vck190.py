"""VCK190 package: compile time, C simulation, and the analytical estimates.

* example linear-attention char LM (4-bit, integer islands): package, csim
  against the reference interpreter, estimated tokens/s and resources;
* GPT-2-small-sized decoder with linear attention (random weights, 124M
  parameters, 4-bit): `nscc compile --target vck190` end to end (goal <= 60 s
  on 2 cores), estimated tokens/s next to NSLLM's 161.8 and the memory
  bandwidth bound for the same weight bytes, resources against the VC1902.

    python benchmarks/vck190.py [--skip-gpt2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
PIPE = "raise-attention,linear-attention{measure=false},fuse-gelu,spike-conversion{levels=15 weight-bits=4},requant-fusion,integer-islands"


def compile_package(model: str, out: str, extra: list[str]) -> float:
    t = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-m", "nscc", "compile", model, "--target", "vck190", "-p", PIPE, "-o", out, *extra],
        capture_output=True,
        text=True,
    )
    if r.returncode:
        sys.exit(r.stderr)
    return time.perf_counter() - t


def show(name: str, pkg: str, seconds: float) -> dict:
    rep = json.load(open(os.path.join(pkg, "report.json")))
    e = rep["estimate"]
    batch = rep["kernel"]["inputs"][0]["shape"][0] if rep["decoder"] else 1
    tok = e["calls_per_s"] * batch
    bound = e["memory_bound_calls_per_s"] * batch
    bound2 = e["two_bank_bound_calls_per_s"] * batch
    res = ", ".join(f"{k} {v:,} ({100 * e['utilisation'][k]:.1f}%)" for k, v in e["resources"].items())
    print(f"{name}: package in {seconds:.1f} s")
    print(f"  estimate at {e['assumptions']['clock_mhz']:.0f} MHz: {e['latency_ms']:.3f} ms per call (batch {batch}) = {tok:.1f} tokens/s; NSLLM 161.8 tokens/s; "
          f"bandwidth bound for the same {e['weight_bytes_per_call'] / 1e6:.2f} MB per call: {bound:.1f} tokens/s from DDR alone ({e['assumptions']['ddr_gb_s']} GB/s), "
          f"{bound2:.1f} from DDR and LPDDR ({e['assumptions']['ddr_gb_s'] + e['assumptions']['lpddr_gb_s']} GB/s)")  # fmt: skip
    print(f"  resources: {res}; fits: {e['fits']}")
    print(
        f"  weights {rep['weights']['packed_bytes'] / 1e6:.2f} MB packed vs {rep['weights']['fp16_bytes'] / 1e6:.2f} MB fp16 ({rep['weights']['ratio_vs_fp16']:.2f}x)"
    )
    return {
        "name": name,
        "compile_s": seconds,
        "tokens_per_s": tok,
        "bound_tokens_per_s": bound,
        **{k: e[k] for k in ("latency_ms", "fits", "resources")},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-gpt2", action="store_true")
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        lm = os.path.join(ROOT, "examples", "char_lm", "linear")
        pkg = os.path.join(tmp, "lm")
        s = compile_package(os.path.join(lm, "model.onnx"), pkg, ["--calib", os.path.join(lm, "calib.npz")])
        rows.append(show("example linear char LM", pkg, s))
        r = subprocess.run(["make", "-s", "csim"], cwd=pkg, capture_output=True, text=True)
        print("  " + (r.stdout.strip().splitlines() or ["csim: no output"])[-1])
        if not a.skip_gpt2:
            import numpy as np
            import torch

            sys.path.insert(0, os.path.join(ROOT, "examples"))
            import torch_models as M

            seq = 128
            path = os.path.join(tmp, "gpt2_linear.onnx")
            torch.manual_seed(0)
            M.export(
                M.GPT2(vocab=50257, d=768, layers=12, heads=12, ctx=seq, attention="linear"),
                (torch.zeros((1, seq), dtype=torch.int64),),
                path,
                ["input_ids"],
                ["logits"],
            )
            calib = os.path.join(tmp, "calib.npz")
            np.savez(calib, input_ids=np.random.default_rng(0).integers(0, 50257, (4, seq)))
            pkg = os.path.join(tmp, "gpt2")
            s = compile_package(path, pkg, ["--calib", calib])
            rows.append(show("GPT-2-small-sized linear-attention decoder (124M, 4-bit)", pkg, s))
            print(f"  goal: package in <= 60 s: {'met' if s <= 60 else 'NOT met'}")
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
