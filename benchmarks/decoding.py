"""Per-token decoding cost against the position (issue 4's benchmark).

A GPT-2-style decoder (2 layers, hidden 128, 4 heads, 2,048+ positions, random
weights) with nscc's linear attention is decoded token by token on the
interpreter (float and spiking, D = 15); the same architecture with softmax
attention runs in onnxruntime, which without a KV cache recomputes the prefix
for every new token. Printed: milliseconds per token around position 256 and
2,048 and their ratio (goal: nscc at most 1.3x), onnxruntime's growth over the
same positions, and the state memory (nscc's constant attention state against
the KV cache a softmax model would hold).

    python benchmarks/decoding.py [--positions 2048]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "examples"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--positions", type=int, default=2048)
    a = ap.parse_args()
    import onnxruntime as ort
    import torch
    import torch_models as M

    from nscc.decoding import Decoder
    from nscc.driver import apply_pipeline
    from nscc.frontend.importer import import_onnx

    n, early = a.positions, 256
    cfg = dict(vocab=256, d=128, layers=2, heads=4, ctx=n + 8)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 256, (1, n)).astype(np.int64)
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        lin = M.export(
            M.GPT2(attention="linear", decay=0.99, **cfg), (torch.from_numpy(ids),), os.path.join(tmp, "lin.onnx"), ["ids"], ["logits"]
        )
        seq = torch.export.Dim("seq", min=2, max=n + 8)
        soft = M.export(
            M.GPT2(**cfg), (torch.from_numpy(ids[:, :64]),), os.path.join(tmp, "soft.onnx"), ["ids"], ["logits"], dynamic={"ids": {1: seq}}
        )

        print(f"decoding {n} tokens; ms per token averaged over 32 tokens ending at each position")
        for label, pipeline in (
            ("nscc float linear attention", "raise-attention"),
            ("nscc spiking (D=15) linear attention", "raise-attention,spike-conversion"),
        ):
            ctx, module = import_onnx(lin)
            ctx.calibration = [{"ids": rng.integers(0, 256, (1, n)).astype(np.int64)}]
            apply_pipeline(ctx, module, pipeline)
            dec = Decoder(ctx, module)
            times, states = [], {}
            for t in range(n):
                t0 = time.perf_counter()
                dec.step(ids[:, t])
                times.append(time.perf_counter() - t0)
                if t + 1 in (early, n):
                    states[t + 1] = dec.state_bytes()
            at = {p: 1e3 * float(np.mean(times[p - 32 : p])) for p in (early, n)}
            print(
                f"  {label}: {at[early]:.2f} ms at {early}, {at[n]:.2f} ms at {n}: ratio {at[n] / at[early]:.2f} (goal <= 1.3); "
                f"state {states[early]} B at {early}, {states[n]} B at {n}"
            )

        sess = ort.InferenceSession(soft)
        per = {}
        for p in (early, n):
            x = ids[:, :p]
            sess.run(None, {"ids": x})
            t0 = time.perf_counter()
            for _ in range(3):
                sess.run(None, {"ids": x})
            per[p] = 1e3 * (time.perf_counter() - t0) / 3
        kv = 2 * cfg["layers"] * cfg["d"] * 4  # keys and values, float32, per position
        print(
            f"  onnxruntime softmax, next token by recomputing the prefix: {per[early]:.2f} ms at {early}, {per[n]:.2f} ms at {n}: "
            f"grows {per[n] / per[early]:.1f}x; a KV cache would hold {kv * early} B at {early}, {kv * n} B at {n}"
        )


if __name__ == "__main__":
    main()
