"""Trains the example decoder LM: a character-level GPT-2-style model on English
prose found offline (Python's own documentation, `pydoc_data.topics`, part of
the standard library), then exports it to ONNX beside this file.

    pip install -e '.[examples]'  &&  python examples/char_lm/train.py   # about 3 minutes on 2 cores
    python examples/char_lm/train.py --attention linear --out examples/char_lm/linear   # the linear-attention variant

Writes:
  model.onnx   input `ids` int64 [8, 64] -> `logits` float32 [8, 64, vocab]
  vocab.json   the characters, index = token id
  calib.npz    32 training windows for calibration (`--calib`)
  eval.npz     64 held-out windows (`ids`) and their next characters (`targets`)
"""

from __future__ import annotations

import json
import math
import os
import sys
import time

import numpy as np
import torch
from torch.nn import functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from torch_models import GPT2, LinearSelfAttention, export  # noqa: E402

CTX, BATCH_EXPORT = 64, 8
CONFIG = dict(d=128, layers=2, heads=4, ctx=CTX)
LEVELS = 15  # the spike levels D the model is trained for


WEIGHT_BITS = 8  # the integer weights nscc will use (symmetric, per output channel)


def _ste_round(v):
    return v + (torch.round(v) - v).detach()


class IntegerSpikes(torch.nn.Module):
    """A linear layer's input and weights as nscc will run them ("integer training").

    Input: theta * round(clip(x / theta, -D, D)), one learned threshold per
    input channel (LSQ, rounding passed straight through backwards): the
    I-LIF spike count times its threshold. Weights: the integers nscc
    derives, round(W * theta / s) with s the per-output-channel scale, so
    that training sees the same arithmetic as the spiking model. The export
    keeps the input quantizer (Div, Clip, Round, Mul before each linear
    layer, which spike-conversion recognises and encodes with these exact
    thresholds) and bakes the weights."""

    def __init__(self, features: int, levels: int, unsigned: bool = False):
        super().__init__()
        self.levels, self.unsigned = levels, unsigned
        self.log_theta = torch.nn.Parameter(torch.zeros(features))
        self.ready = False

    def theta(self, x=None):
        if not self.ready and x is not None:  # start from the 99.9th percentile of the first batch
            with torch.no_grad():
                flat = x.detach().abs().reshape(-1, x.shape[-1] if len(self.log_theta) > 1 else 1)
                q = torch.quantile(flat[:4096].float(), 0.999, dim=0)
                self.log_theta.copy_(torch.log(q.clamp_min(1e-3) / self.levels))
            self.ready = True
        return self.log_theta.exp()

    def inputs(self, x):
        theta = self.theta(x)
        v = torch.clamp(x / theta, 0 if self.unsigned else -self.levels, self.levels)
        return (_ste_round(v) if self.training else torch.round(v)) * theta

    def weights(self, w):
        theta = self.theta()
        wt = w * theta
        qmax = 2 ** (WEIGHT_BITS - 1) - 1
        s = wt.detach().abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / qmax
        return _ste_round(wt / s) * s / theta


class AttentionSpikes(torch.nn.Module):
    """phi(q), phi(k) (non-negative) and v of linear attention as spike counts times one
    threshold each (per tensor: per-feature thresholds would not factor out of q . k)."""

    def __init__(self, levels: int):
        super().__init__()
        self.q, self.k = IntegerSpikes(1, levels, unsigned=True), IntegerSpikes(1, levels, unsigned=True)
        self.v = IntegerSpikes(1, levels)

    def forward(self, qkv):
        q, k, v = qkv
        return self.q.inputs(q), self.k.inputs(k), self.v.inputs(v)


def attach_integer_spikes(model: torch.nn.Module, levels: int) -> None:
    for m in list(model.modules()):
        if isinstance(m, torch.nn.Linear):
            m.spikes = IntegerSpikes(m.in_features, levels)
            m.forward = lambda x, m=m: F.linear(m.spikes.inputs(x), m.spikes.weights(m.weight), m.bias)
        if isinstance(m, LinearSelfAttention):
            m.features = AttentionSpikes(levels)


def bake_weights(model: torch.nn.Module) -> None:
    """Before export: each linear layer keeps its input quantizer and gets its
    integer-derived weights as a plain (untied) parameter."""
    for m in model.modules():
        if isinstance(m, torch.nn.Linear):
            with torch.no_grad():
                m.weight = torch.nn.Parameter(m.spikes.weights(m.weight).clone())
            m.forward = lambda x, m=m: F.linear(m.spikes.inputs(x), m.weight, m.bias)


def corpus() -> str:
    from pydoc_data.topics import topics

    return "\n\n".join(topics[k] for k in sorted(topics))


def windows(ids: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    starts = rng.integers(0, len(ids) - CTX - 1, n)
    x = np.stack([ids[s : s + CTX] for s in starts])
    y = np.stack([ids[s + 1 : s + CTX + 1] for s in starts])
    return x, y


def main(steps: int = 1500, batch: int = 32, attention: str = "softmax", decay: float = 1.0, out: str = HERE) -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)  # torch's 2-thread eager mode is pathologically slow on small VMs
    text = corpus()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    ids = np.array([stoi[c] for c in text], np.int64)
    split = int(0.9 * len(ids))
    train_ids, val_ids = ids[:split], ids[split:]
    model = GPT2(vocab=len(chars), attention=attention, decay=decay, **CONFIG)
    with torch.no_grad():
        model.wte.weight.mul_(0.1)  # the head is tied to the embedding: keep the first logits small
    attach_integer_spikes(model, LEVELS)
    model(torch.from_numpy(windows(train_ids, batch, np.random.default_rng(9))[0]))  # initialise thresholds
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.01)
    rng = np.random.default_rng(0)
    t0 = time.time()
    for step in range(steps):
        lr = 3e-3 * 0.5 * (1 + math.cos(math.pi * step / steps))
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = windows(train_ids, batch, rng)
        logits = model(torch.from_numpy(x))
        loss = F.cross_entropy(logits.reshape(-1, len(chars)), torch.from_numpy(y).reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 250 == 0 or step == steps - 1:
            print(f"step {step:5d}  loss {loss.item():.3f}  ({time.time() - t0:.0f} s)", flush=True)
    model.eval()
    bake_weights(model)
    vx, vy = windows(val_ids, 64, np.random.default_rng(1))
    with torch.no_grad():
        val = F.cross_entropy(model(torch.from_numpy(vx)).reshape(-1, len(chars)), torch.from_numpy(vy).reshape(-1)).item()
    print(f"validation loss {val:.3f} nats/char, perplexity {math.exp(val):.2f}")
    os.makedirs(out, exist_ok=True)
    export(model, (torch.from_numpy(vx[:BATCH_EXPORT]),), os.path.join(out, "model.onnx"), ["ids"], ["logits"], dynamo=True)
    with open(os.path.join(out, "vocab.json"), "w") as f:
        json.dump(chars, f)
    cx, _ = windows(train_ids, 32, np.random.default_rng(2))
    np.savez(os.path.join(out, "calib.npz"), ids=cx)
    np.savez(os.path.join(out, "eval.npz"), ids=vx, targets=vy)


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="train the example character LM")
    ap.add_argument("--attention", choices=["softmax", "linear"], default="softmax", help="linear: nscc's linear attention (relu features)")
    ap.add_argument("--decay", type=float, default=1.0, help="linear attention decay lambda")
    ap.add_argument("--out", default=HERE, help="where to write the model and data")
    a = ap.parse_args()
    main(attention=a.attention, decay=a.decay, out=a.out)
