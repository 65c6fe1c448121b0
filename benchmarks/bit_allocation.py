"""Mixed precision against uniform quantization, pruning curves, and allocation at scale (issue 5).

  * example LM (examples/char_lm) and a BERT-style encoder (trained here for
    90 s as a masked character model on the same corpus): output KL and
    perplexity against the float model, uniform weights at 4 and 3 bits
    against `bit-allocation` at the same average (with the default pins, and
    with none);
  * pruning curve on the LM: weight sparsity 0..0.5 and spike targets;
  * packed weight bytes against fp16;
  * with --gpt2: bit allocation of a GPT-2-small-sized model (goal: within
    3 minutes on 2 cores; a progress bar on a terminal).

Writes benchmarks/out/bit_allocation.json and, with matplotlib, bit_allocation.png.

    python benchmarks/bit_allocation.py [--gpt2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "examples"), os.path.join(HERE, "..", "examples", "char_lm")]

from nscc.calibration import load_calibration  # noqa: E402
from nscc.driver import apply_pipeline  # noqa: E402
from nscc.frontend.importer import import_onnx  # noqa: E402
from nscc.quant.sensitivity import output_error  # noqa: E402
from nscc.report import spike_report  # noqa: E402
from nscc.semantics.interpreter import run  # noqa: E402

OUT = os.path.join(HERE, "out")
LM = os.path.join(HERE, "..", "examples", "char_lm")
WIDTHS = "widths=1.58,2,3,4,5,6,8"


def perplexity(lg, targets) -> float:
    lg = lg.astype(np.float64) - lg.max(-1, keepdims=True)
    logp = lg - np.log(np.exp(lg).sum(-1, keepdims=True))
    return float(np.exp(-np.take_along_axis(logp, targets[..., None], -1).mean()))


class Case:
    """A model, its calibration batches, evaluation feeds and the float reference outputs."""

    def __init__(self, path: str, calib: list, feeds: list, output: str, targets=None):
        self.path, self.calib, self.feeds, self.output, self.targets = path, calib, feeds, output, targets
        ctx, m = import_onnx(path)
        self.ref = np.concatenate([run(m, ctx.weights, f)[output] for f in feeds])

    def build(self, pipeline: str):
        ctx, m = import_onnx(self.path)
        ctx.calibration = self.calib
        t = time.perf_counter()
        apply_pipeline(ctx, m, pipeline)
        return ctx, m, time.perf_counter() - t

    def score(self, pipeline: str) -> dict:
        ctx, m, dt = self.build(pipeline)
        got = np.concatenate([run(m, ctx.weights, f)[self.output] for f in self.feeds])
        out = {"pipeline": pipeline, "kl": output_error(self.ref, got, "kl"), "seconds": dt}
        if self.targets is not None:
            out["ppl"] = perplexity(got, self.targets)
        alloc = ctx.pass_reports.get("bit-allocation")
        if alloc:
            out["average_bits"] = alloc["average_bits"]
            out["allocation"] = {r["layer"]: [r["bits"], r["group"], r["levels"]] for r in alloc["layers"]}
        prune = ctx.pass_reports.get("sparsity-pruning")
        if prune:
            rep = spike_report(m, ctx.weights, self.feeds[:4], progress=False)
            out["weight_sparsity"] = prune["weight_sparsity"]
            out["events"] = sum(r["firing_rate"] * sum(r["count_histogram"].values()) for r in rep["layers"])
            out["sops"] = rep["totals"]["sops"]
        return out


def lm_case() -> Case:
    ev = np.load(os.path.join(LM, "eval.npz"))
    path = os.path.join(LM, "model.onnx")
    ctx, m = import_onnx(path)
    calib = load_calibration(os.path.join(LM, "calib.npz"), m)
    feeds = [{"ids": ev["ids"][i : i + 8]} for i in range(0, len(ev["ids"]), 8)]
    return Case(path, calib, feeds, "logits", ev["targets"])


def bert_case(tmp: str) -> Case:
    """A BERT-style encoder (examples/torch_models.Bert plus a character head), trained as a masked model."""
    import torch
    import torch_models as M
    from train import corpus

    torch.manual_seed(0)
    torch.set_num_threads(1)
    text = corpus()
    chars = sorted(set(text))
    ids = np.array([chars.index(c) for c in text[:400_000]], np.int64)
    vocab, mask_id, ctx_len = len(chars) + 1, len(chars), 64

    class Encoder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = M.Bert(vocab=vocab, d=128, layers=2, heads=4, ctx=ctx_len)
            self.head = torch.nn.Linear(128, vocab)

        def forward(self, x, attention_mask):
            return self.head(self.bert(x, attention_mask)[0])

    model = Encoder()
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    rng = np.random.default_rng(0)

    def batch(n):
        starts = rng.integers(0, len(ids) - ctx_len, n)
        y = np.stack([ids[s : s + ctx_len] for s in starts])
        masked = rng.random(y.shape) < 0.15
        return np.where(masked, mask_id, y), y, masked

    t = time.perf_counter()
    while time.perf_counter() - t < 90:
        x, y, masked = batch(32)
        logits = model(torch.tensor(x), torch.ones(x.shape, dtype=torch.int64))
        loss = torch.nn.functional.cross_entropy(logits[torch.tensor(masked)], torch.tensor(y[masked]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    print(f"BERT-style encoder trained for 90 s, masked-character loss {loss.item():.3f}", file=sys.stderr)
    path = os.path.join(tmp, "bert.onnx")
    M.export(
        model,
        (torch.zeros((8, ctx_len), dtype=torch.int64), torch.ones((8, ctx_len), dtype=torch.int64)),
        path,
        ["ids", "attention_mask"],
        ["logits"],
    )
    ones = np.ones((8, ctx_len), np.int64)
    calib = [{"ids": batch(8)[0], "attention_mask": ones} for _ in range(4)]
    feeds = [{"ids": batch(8)[0], "attention_mask": ones} for _ in range(8)]
    return Case(path, calib, feeds, "logits")


def compare(case: Case, name: str) -> list[dict]:
    rows = []
    for bits in (4, 3):
        uniform = case.score(f"spike-conversion{{weight-bits={bits}}}")
        nearest = case.score(f"spike-conversion{{weight-bits={bits} rounding=nearest}}")
        ppl = f" (ppl {nearest['ppl']:.3f} -> {uniform['ppl']:.3f})" if "ppl" in uniform else ""
        print(f"{name} {bits} bits uniform: KL rounded to nearest {nearest['kl']:.4f}, GPTQ {uniform['kl']:.4f}{ppl}")
        for pins in ("", " pin=none"):
            mixed = case.score(f"bit-allocation{{bits={bits} {WIDTHS}{pins} probe-batches=4}},spike-conversion")
            gain = 1 - mixed["kl"] / uniform["kl"]
            extra = f", ppl {uniform['ppl']:.3f} vs {mixed['ppl']:.3f}" if "ppl" in uniform else ""
            print(
                f"{name} {bits} bits{pins or ' (pins)'}: KL uniform {uniform['kl']:.4f}, allocated {mixed['kl']:.4f} ({100 * gain:+.1f}% lower; "
                f"{100 * (1 - mixed['kl'] / nearest['kl']):+.1f}% below uniform to nearest){extra}"
            )
            rows.append(
                {
                    "model": name,
                    "bits": bits,
                    "pins": not pins,
                    "uniform": uniform,
                    "nearest": nearest,
                    "mixed": mixed,
                    "kl_reduction": gain,
                }
            )
    return rows


def pruning(case: Case) -> list[dict]:
    """Weight sparsity (each layer its measured share, and all alike), spike targets, both at once;
    every figure against the dense 8-bit spiking model, on the held-out text."""
    rows = []
    base = case.score("spike-conversion,sparsity-pruning{sparsity=0}")
    for s in (0.1, 0.2, 0.3, 0.4, 0.5):
        rows.append(case.score(f"spike-conversion,sparsity-pruning{{sparsity={s}}}"))
    for f in (0.95, 0.9, 0.8, 0.7, 0.65):
        rows.append(case.score(f"spike-conversion,sparsity-pruning{{sparsity=0 firing-rate={f} max-error=0.05}}"))
    rows.append(case.score("spike-conversion,sparsity-pruning{sparsity=0.5 spread=uniform}"))
    rows.append(case.score("spike-conversion,sparsity-pruning{sparsity=0.5 firing-rate=0.7 max-error=0.05}"))
    print(f"LM pruning (dense spiking: ppl {base['ppl']:.3f}, {base['events']:.4g} spikes, {base['sops']:.4g} SOPs):")
    for r in rows:
        print(
            f"  {r['pipeline'].split(',')[1]:70} sparsity {r['weight_sparsity']:.2f}  ppl {r['ppl']:.3f} ({100 * (r['ppl'] / base['ppl'] - 1):+.1f}%)  "
            f"spikes x{r['events'] / base['events']:.2f}  SOPs x{r['sops'] / base['sops']:.2f}"
        )
    return [base] + rows


def packed_bytes(case: Case) -> dict:
    ctx, m, _ = case.build("spike-conversion{weight-bits=4}")
    wb = spike_report(m, ctx.weights, case.feeds[:1], progress=False)["weight_bytes"]
    print(f"LM at 4 bits: {wb['packed']} bytes packed vs {wb['fp16']} fp16 ({wb['fp16_over_packed']:.2f}x smaller)")
    return wb


def gpt2(seq: int = 128) -> dict:
    from _models import gpt2_small, token_batches

    path = gpt2_small(seq)
    ctx, m = import_onnx(path)
    ctx.calibration = token_batches(8, seq)
    t = time.perf_counter()
    apply_pipeline(ctx, m, "bit-allocation{bits=4 probe-batches=1}")
    dt = time.perf_counter() - t
    rep = ctx.pass_reports["bit-allocation"]
    print(
        f"GPT-2-small-sized bit allocation: {dt:.1f} s (goal <= 180 s), {len(rep['layers'])} layers, {rep['sensitivity']}, {rep['solver']}"
    )
    return {"seconds": dt, "layers": len(rep["layers"]), "average_bits": rep["average_bits"]}


def plot(results: dict, path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    for r in results["compare"]:
        label = f"{r['model']} {r['bits']}b{'' if r['pins'] else ' no pins'}"
        ax[0].bar([label + " uni", label + " mix"], [r["uniform"]["kl"], r["mixed"]["kl"]])
    ax[0].set_ylabel("KL to float")
    ax[0].tick_params(axis="x", rotation=80)
    prune = results["pruning"]
    base = prune[0]
    ax[1].plot([r["weight_sparsity"] for r in prune[1:6]], [r["ppl"] for r in prune[1:6]], "o-", label="weight sparsity")
    ax[1].plot([1 - r["events"] / base["events"] for r in prune[6:11]], [r["ppl"] for r in prune[6:11]], "s-", label="spike reduction")
    ax[1].axhline(base["ppl"] * 1.05, ls=":", c="gray", label="+5% ppl")
    ax[1].set_xlabel("fraction removed")
    ax[1].set_ylabel("LM perplexity")
    ax[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gpt2", action="store_true", help="also time bit allocation on a GPT-2-small-sized model")
    a = ap.parse_args()
    import tempfile

    os.makedirs(OUT, exist_ok=True)
    lm = lm_case()
    results = {"compare": compare(lm, "LM")}
    with tempfile.TemporaryDirectory() as tmp:
        results["compare"] += compare(bert_case(tmp), "BERT")
    results["pruning"] = pruning(lm)
    results["packed"] = packed_bytes(lm)
    if a.gpt2:
        results["gpt2"] = gpt2()
    with open(os.path.join(OUT, "bit_allocation.json"), "w") as f:
        json.dump(results, f, indent=2)
    plot(results, os.path.join(OUT, "bit_allocation.png"))


if __name__ == "__main__":
    main()
