"""End-to-end distillation: the feature maps and norms of a linearised model tuned so
that its outputs follow the float model's, on the calibration text.

Attention transfer fits each layer's feature map alone, against that layer's
softmax attention with the float model's inputs. Each layer's small error then
compounds through the model: on SmolLM2-135M every layer's map is within
0.4-0.5 of its softmax output, and the all-linear model's perplexity is 2.4x
the float one's. LoLCATs closes that gap by training the whole model
afterwards. Here only the maps and the 1-D weights (norm gains, biases) train,
by Adam on the KL divergence between the float model's next-token
distribution and the linear one's (relative squared error for outputs that are
not scores), through a torch mirror of the float ops (`nscc.quant.torch_eval`).

It is bounded (`steps`), shows a progress bar, keeps the weights that did best
on held-out calibration batches, and resumes from a checkpoint file when asked.
Its cost on CPU is that of training the model: a forward pass of the float
model and a forward and backward pass of the linear one per window and step.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import ModuleOp

from nscc.errors import NsccError
from nscc.ir import nn
from nscc.ir.signature import signature
from nscc.quant.sensitivity import metric_of
from nscc.quant.torch_eval import TorchModule, require_torch


@dataclass
class DistillResult:
    weights: dict[str, np.ndarray]  # the tuned arrays, by the names they replace
    before: float  # held-out loss of the linear model before tuning
    after: float  # and of the weights kept
    steps: int  # steps run in this call (a resumed run counts only its own)
    seconds: float
    metric: str


def tunable(module: ModuleOp, store: Mapping[str, np.ndarray]) -> list[str]:
    """The weights distillation trains: every feature map, and every 1-D float weight (the
    norms' gains and the biases), which rescale what the maps see at almost no cost."""
    names = []
    for o in module.walk():
        if isinstance(o, nn.WeightOp) and o.sym.data not in names:
            a = store[o.sym.data]
            users = [u.operation for u in o.res.uses]
            if any(isinstance(u, nn.FeatureMapOp) for u in users) or (a.ndim == 1 and a.size > 1 and a.dtype.kind == "f"):
                names.append(o.sym.data)
    return names


def adaptable(module: ModuleOp, store: Mapping[str, np.ndarray]) -> list[str]:
    """The matrices that get low-rank adapters: every float [in, out] weight that only
    nn.matmul reads as its right operand (the projections of every layer), except the
    one that makes the model's output (an LM head: vocabulary-wide, and what is distilled)."""
    from nscc.ir.signature import main_function

    ret = main_function(module).body.block.last_op
    head = ret.operands[0].owner if ret.operands else None
    while isinstance(head, nn.ReshapeOp | nn.TransposeOp | nn.AddOp):
        head = head.operands[0].owner
    names = []
    for o in module.walk():
        if not isinstance(o, nn.WeightOp) or o.sym.data in names:
            continue
        a = store[o.sym.data]
        users = [u.operation for u in o.res.uses]
        if a.ndim == 2 and a.dtype.kind == "f" and users and head not in users \
                and all(isinstance(u, nn.MatMulOp) and u.rhs is o.res for u in users):  # fmt: skip
            names.append(o.sym.data)
    return names


def distill(
    teacher: ModuleOp,
    student: ModuleOp,
    store: Mapping[str, np.ndarray],
    batches: Sequence[Mapping[str, np.ndarray]],
    steps: int,
    lr: float = 2e-3,
    rank: int = 8,
    per_step: int = 2,
    checkpoint: str = "",
    seed: int = 0,
    progress: bool = True,
) -> DistillResult:
    """Tunes `tunable(student)` so that the student's first output follows the teacher's.

    A quarter of the batches (at most 4) is held out (with fewer than 4 batches, the
    first one is both trained on and measured); every `steps // 8` steps (at least 10) the held-out loss is measured, and the
    weights with the least are the ones returned. Where it has not fallen since the last
    measurement, the tuning goes back to the best weights and halves the rate: the one
    rate that suits SmolLM2 (2e-3) overshoots a MiniLM encoder at once. With `checkpoint`, the state is
    written there (atomically) at each measurement and read back when it matches
    this run, so a stopped run resumes where it stopped."""
    torch = require_torch("distillation (linear-attention{distill-steps})")
    start = time.perf_counter()
    names = [n for n, _, _ in signature(student).inputs]
    metric = metric_of(teacher)
    held = min(4, len(batches) // 4)
    train, test = list(batches[: len(batches) - held]), list(batches[len(batches) - held :]) or list(batches[:1])
    tuned = tunable(student, store)
    adapted = adaptable(student, store) if rank else []
    if not tuned and not adapted:
        raise NsccError("distillation: the model has no feature maps, 1-D weights or projections to tune",
                        "it tunes attention transfer's maps, the norms and low-rank updates of the linear layers")  # fmt: skip
    t = TorchModule(teacher, store)
    s = TorchModule(student, store, trainable=tuned, adapters=adapted, rank=rank, seed=seed)
    params = list(s.params.values())
    opt = torch.optim.Adam(params, lr=lr)

    def feed(b):
        return [np.asarray(b[n]) for n in names]

    def loss_of(ref, out):
        if metric == "kl":
            lt = torch.log_softmax(ref.double(), -1)
            return (lt.exp() * (lt - torch.log_softmax(out.double(), -1))).sum(-1).mean()
        return ((out - ref) ** 2).mean() / (ref**2).mean().clamp_min(1e-30)

    with torch.no_grad():
        refs = [t(feed(b))[0] for b in test]

    def held_out() -> float:
        with torch.no_grad():
            return float(np.mean([float(loss_of(r, s(feed(b))[0])) for b, r in zip(test, refs)]))

    key = _fingerprint(store, tuned + adapted, train, lr, rank, per_step, seed)
    done, before = 0, None
    best = None
    state = _load(checkpoint, key) if checkpoint else None
    if state is not None:
        with torch.no_grad():
            for i, p in enumerate(params):
                p.copy_(torch.from_numpy(state[f"param:{i}"]))
        opt.load_state_dict(_adam_state(torch, state, len(params), opt))
        for g in opt.param_groups:
            g["lr"] = float(state["lr"])
        done, before = int(state["step"]), float(state["before"])
        best = (float(state["best"]), [state[f"best:{i}"] for i in range(len(params))])
    if before is None:
        before = held_out()
        best = (before, [p.detach().numpy().copy() for p in params])
    every = max(10, steps // 8)
    from nscc.progress import progress_bar

    ran = 0
    for step in progress_bar(range(done + 1, steps + 1), f"distillation: tuning {len(tuned)} weights", enabled=progress, unit="step"):
        opt.zero_grad()
        draw = np.random.default_rng([seed, step])  # by step: a resumed run draws what an unbroken one would
        for i in draw.choice(len(train), min(per_step, len(train)), replace=False):
            x = feed(train[i])
            with torch.no_grad():
                ref = t(x)[0]
            (loss_of(ref, s(x)[0]) / per_step).backward()
        opt.step()
        ran += 1
        if step % every == 0 or step == steps:
            e = held_out()
            if e < best[0]:
                best = (e, [p.detach().numpy().copy() for p in params])
            else:  # the steps overshoot (or the text is overfitted): back to the best weights, at half the rate
                with torch.no_grad():
                    for p, b in zip(params, best[1]):
                        p.copy_(torch.from_numpy(b))
                opt.state.clear()
                for g in opt.param_groups:
                    g["lr"] /= 2
            if checkpoint:
                _save(checkpoint, key, step, before, best, params, opt)
    with torch.no_grad():
        for p, b in zip(params, best[1]):
            p.copy_(torch.from_numpy(b))
    return DistillResult(s.folded(), before, best[0], ran, time.perf_counter() - start, metric)


def _fingerprint(store, tuned, train, lr, rank, per_step, seed) -> str:
    """What a checkpoint must match: the tuned weights as they start, the text, the options."""
    h = hashlib.sha256(repr((tuned, lr, rank, per_step, seed)).encode())
    for n in tuned:
        h.update(np.ascontiguousarray(store[n]).tobytes())
    for b in train:
        for k in sorted(b):
            h.update(np.ascontiguousarray(b[k]).tobytes())
    return h.hexdigest()


def _load(path: str, key: str):
    if not os.path.isfile(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            state = {k: z[k] for k in z.files}
    except (OSError, ValueError) as e:
        raise NsccError(f"distillation checkpoint {path} is unreadable ({e})", "delete it to start the tuning afresh") from None
    if str(state.get("key")) != key:
        raise NsccError(f"distillation checkpoint {path} belongs to another model, text or option set",
                        "give another checkpoint path, or delete it to start afresh")  # fmt: skip
    return state


def _save(path: str, key: str, step: int, before: float, best, params, opt) -> None:
    """Parameters by position (names from a model are not file names inside the npz)."""
    arrays = {"key": np.asarray(key), "step": np.asarray(step), "before": np.asarray(before), "best": np.asarray(best[0]),
              "lr": np.asarray(opt.param_groups[0]["lr"])}  # fmt: skip
    for i, p in enumerate(params):
        arrays[f"param:{i}"] = p.detach().numpy()
        arrays[f"best:{i}"] = best[1][i]
        st = opt.state.get(p, {})
        if st:
            arrays[f"adam_m:{i}"] = st["exp_avg"].numpy()
            arrays[f"adam_v:{i}"] = st["exp_avg_sq"].numpy()
            arrays[f"adam_step:{i}"] = np.asarray(float(st["step"]))
    tmp = path + ".tmp.npz"
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def _adam_state(torch, state, n: int, opt) -> dict:
    sd = opt.state_dict()
    for i in range(n):
        if f"adam_m:{i}" in state:
            sd["state"][i] = {
                "step": torch.tensor(float(state[f"adam_step:{i}"])),
                "exp_avg": torch.from_numpy(state[f"adam_m:{i}"]),
                "exp_avg_sq": torch.from_numpy(state[f"adam_v:{i}"]),
            }
    return sd
