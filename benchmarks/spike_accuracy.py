"""Spiking fidelity against the float model, for D = 3, 7, 15 (issue 3's curves).

  * digits MLP and CNN (trained here on scikit-learn's digits): test accuracy;
  * the example char LM (examples/char_lm): next-token top-1 agreement with the
    float model and perplexity, plus the spike report at D = 15.

Also times onnxruntime on the float LM in the same run, as the reference cost.
Writes benchmarks/out/spike_accuracy.json and, with matplotlib, spike_accuracy.png.

    python benchmarks/spike_accuracy.py
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(HERE, "..", "tests"), os.path.join(HERE, "..", "examples")]

from nscc.calibration import load_calibration  # noqa: E402
from nscc.driver import apply_pipeline  # noqa: E402
from nscc.frontend.importer import import_onnx  # noqa: E402
from nscc.report import print_table, spike_report  # noqa: E402
from nscc.semantics.interpreter import run  # noqa: E402

LEVELS = (3, 7, 15)
OUT = os.path.join(HERE, "out")
LM = os.path.join(HERE, "..", "examples", "char_lm")


def digits_curve(kind: str, tmp: str) -> dict:
    import digits

    image = kind == "cnn"
    model = digits.cnn() if image else digits.mlp()
    path = digits.export(model, os.path.join(tmp, f"{kind}.onnx"), image, 50)
    xtr, xte, _, yte = digits.data()
    feeds = digits.batches(xte, 50, image)
    labels = yte[: len(feeds) * 50]

    def acc(ctx, m):
        pred = np.concatenate([run(m, ctx.weights, f)["logits"].argmax(1) for f in feeds])
        return float((pred == labels).mean())

    ctx, m = import_onnx(path)
    out = {"float": acc(ctx, m)}
    for d in LEVELS:
        ctx, m = import_onnx(path)
        ctx.calibration = digits.batches(xtr[:500], 50, image)
        apply_pipeline(ctx, m, f"spike-conversion{{levels={d}}}")
        out[d] = acc(ctx, m)
    return out


def lm_curve() -> tuple[dict, dict]:
    model = os.path.join(LM, "model.onnx")
    ev = np.load(os.path.join(LM, "eval.npz"))
    ids, targets = ev["ids"], ev["targets"]

    def logits(ctx, m):
        return np.concatenate([run(m, ctx.weights, {"ids": ids[i : i + 8]})["logits"] for i in range(0, len(ids), 8)])

    def ppl(lg):
        lg = lg.astype(np.float64) - lg.max(-1, keepdims=True)
        logp = lg - np.log(np.exp(lg).sum(-1, keepdims=True))
        return float(np.exp(-np.take_along_axis(logp, targets[..., None], -1).mean()))

    import onnxruntime as ort

    sess = ort.InferenceSession(model)
    t = time.perf_counter()
    ort_logits = np.concatenate([sess.run(None, {"ids": ids[i : i + 8]})[0] for i in range(0, len(ids), 8)])
    t_ort = time.perf_counter() - t
    ctx, m = import_onnx(model)
    ref = logits(ctx, m)
    out = {"float_ppl": ppl(ref), "ort_max_abs_diff": float(np.abs(ref - ort_logits).max()), "ort_seconds": t_ort}
    report = {}
    for d in LEVELS:
        ctx, m = import_onnx(model)
        ctx.calibration = load_calibration(os.path.join(LM, "calib.npz"), m)
        apply_pipeline(ctx, m, f"spike-conversion{{levels={d}}}")
        t = time.perf_counter()
        lg = logits(ctx, m)
        out[d] = {"agreement": float((lg.argmax(-1) == ref.argmax(-1)).mean()), "ppl": ppl(lg), "seconds": time.perf_counter() - t}
        if d == 15:
            report = spike_report(m, ctx.weights, ctx.calibration, progress=False)
    return out, report


def main() -> None:
    import tempfile

    os.makedirs(OUT, exist_ok=True)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("mlp", "cnn"):
            results[kind] = digits_curve(kind, tmp)
            r = results[kind]
            print(
                f"digits {kind}: float {r['float']:.4f}  "
                + "  ".join(f"D={d}: {r[d]:.4f} ({100 * (r[d] - r['float']):+.2f} pt)" for d in LEVELS)
            )
    lm, report = lm_curve()
    results["char_lm"] = lm
    print(f"char LM: float perplexity {lm['float_ppl']:.4f} (nscc vs onnxruntime max |diff| {lm['ort_max_abs_diff']:.1e})")
    for d in LEVELS:
        r = lm[d]
        print(
            f"  D={d:2d}: top-1 agreement {r['agreement']:.4f}, perplexity {r['ppl']:.4f} ({100 * (r['ppl'] / lm['float_ppl'] - 1):+.2f}%)"
        )
    print("\nspike report, char LM at D=15:")
    print_table(report)
    results["char_lm_report_d15"] = report
    with open(os.path.join(OUT, "spike_accuracy.json"), "w") as f:
        json.dump(results, f, indent=2, default=str)
    _plot(results)


def _plot(results: dict) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib not installed: no plot)")
        return
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for kind in ("mlp", "cnn"):
        r = results[kind]
        axes[0].plot(LEVELS, [100 * r[d] for d in LEVELS], "o-", label=f"{kind} spiking")
        axes[0].axhline(100 * r["float"], ls="--", lw=0.8, color=axes[0].lines[-1].get_color(), label=f"{kind} float")
    axes[0].set(title="digits: test accuracy", xlabel="levels D", ylabel="%", xticks=LEVELS)
    axes[0].legend(fontsize=7)
    lm = results["char_lm"]
    axes[1].plot(LEVELS, [100 * lm[d]["agreement"] for d in LEVELS], "o-")
    axes[1].set(title="char LM: top-1 agreement with float", xlabel="levels D", ylabel="%", xticks=LEVELS)
    layers = results["char_lm_report_d15"]["layers"]
    axes[2].barh([r["layer"] for r in layers], [r["firing_rate"] for r in layers])
    axes[2].set(title="char LM, D=15: spikes per input element", xlabel="mean |count|")
    axes[2].invert_yaxis()
    fig.tight_layout()
    path = os.path.join(OUT, "spike_accuracy.png")
    fig.savefig(path, dpi=110)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
