"""How far a rewrite moved a model: measured on calibration batches, against the module before it.

A conversion that keeps its structure but loses the function is the worst kind of
failure (a pretrained LLM's perplexity 259x its float value, with no complaint).
Passes that change a model's numbers measure it here and say so in one line; far
from the original, the line becomes a warning that names the layers whose error
grows most, where a user should look first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.interpreter import Interpreter

from nscc.ir import nn, snn
from nscc.ir.signature import LAYER_ATTR
from nscc.quant.sensitivity import output_error

LINEAR = (nn.MatMulOp, nn.GemmOp, nn.ConvOp)


@dataclass
class Fidelity:
    batches: int
    rel_error: float  # ||y - y_float|| / ||y_float||, mean over outputs and batches
    top1: float | None  # agreement of argmax over the last axis (score outputs)
    kl: float | None  # mean KL(softmax(float) || softmax(converted)) per position (score outputs)
    layers: dict[str, float] = field(default_factory=dict)  # layer -> relative error of its output
    held_out: bool = False  # measured on batches the conversion did not calibrate on

    def worst_layers(self, n: int = 3) -> list[str]:
        """The layers whose relative error grows most over the layer before them."""
        names, prev, growth = list(self.layers), 0.0, {}
        for name in names:
            growth[name] = self.layers[name] - prev
            prev = self.layers[name]
        return sorted(growth, key=growth.get, reverse=True)[:n]

    def far(self) -> bool:
        return (self.top1 is not None and self.top1 < 0.9) or self.rel_error > 0.25

    def line(self, what: str, against: str = "against the float model") -> str:
        text = f"{what}: relative output error {self.rel_error:.3g}"
        if self.top1 is not None:
            text += f", top-1 agreement {100 * self.top1:.1f}%, KL {self.kl:.3g}"
        return text + f" {against} (on {self.batches} {'held-out ' if self.held_out else ''}calibration batches)"

    def as_dict(self) -> dict:
        return {
            "batches": self.batches,
            "held_out": self.held_out,
            "rel_error": self.rel_error,
            "top1": self.top1,
            "kl": self.kl,
            "layers": self.layers,
        }


def _layer_of(op) -> str | None:
    """The layer whose output `op` computes: a float linear op, or the decode of a synapse."""
    if isinstance(op, LINEAR):
        layer = op.attributes.get(LAYER_ATTR)
    elif isinstance(op, snn.DecodeOp) and isinstance(op.input.owner, snn.SynapseOp | snn.ConvSynapseOp):
        layer = op.input.owner.attributes.get(LAYER_ATTR)
    else:
        return None
    return layer.data if isinstance(layer, StringAttr) else None


class _Capture(Interpreter.Listener):
    """Each layer's output in the model before (float32: a large model's layers add up)."""

    def __init__(self) -> None:
        self.got: dict[str, np.ndarray] = {}

    def did_interpret_op(self, op, results) -> None:
        layer = _layer_of(op)
        if layer is not None:
            self.got[layer] = np.asarray(results[0], np.float32)


class _Compare(Interpreter.Listener):
    """Each layer's relative error in the model after, against the captured outputs, as it runs."""

    def __init__(self, reference: dict[str, np.ndarray]) -> None:
        self.reference = reference
        self.err: dict[str, float] = {}

    def did_interpret_op(self, op, results) -> None:
        layer = _layer_of(op)
        x = self.reference.get(layer) if layer is not None else None
        if x is not None and np.shape(results[0]) == x.shape:
            y = np.asarray(results[0], np.float32)
            self.err[layer] = float(np.linalg.norm(x - y) / max(float(np.linalg.norm(x)), 1e-30))


def _relative(x: np.ndarray, y: np.ndarray) -> float:
    xf = np.asarray(x).astype(np.float32, copy=False)
    d = xf - np.asarray(y).astype(np.float32, copy=False)
    return float(np.sqrt(np.sum(d * d, dtype=np.float64)) / max(np.sqrt(np.sum(xf * xf, dtype=np.float64)), 1e-30))


@dataclass
class Reference:
    """The model's outputs and each layer's output on some batches, taken before a rewrite:
    the rewrite may then free the weights that computed them."""

    batches: list[dict[str, np.ndarray]]
    outputs: list[dict[str, np.ndarray]]
    layers: list[dict[str, np.ndarray]]


def reference(before: ModuleOp, weights, batches: list[dict[str, np.ndarray]]) -> Reference:
    from nscc.semantics.interpreter import run

    outputs, layers = [], []
    for feed in batches:
        cap = _Capture()
        outputs.append(run(before, weights, feed, listeners=(cap,)))
        layers.append(cap.got)
    return Reference(list(batches), outputs, layers)


def measure(before: ModuleOp, after: ModuleOp, weights, batches: list[dict[str, np.ndarray]]) -> Fidelity:
    return compare(reference(before, weights, batches), after, weights)


def compare(ref: Reference, after: ModuleOp, weights) -> Fidelity:
    from nscc.semantics.interpreter import run

    errs, agree, kls, total = [], 0, [], 0
    layer_err: dict[str, list[float]] = {}
    for feed, a, got in zip(ref.batches, ref.outputs, ref.layers):
        cmp = _Compare(got)
        b = run(after, weights, feed, listeners=(cmp,))
        for name in a:
            x, y = a[name], b[name]  # float32 logits of an LM: no float64 copies of them
            errs.append(_relative(x, y))
            if x.ndim >= 2 and x.shape[-1] > 1 and np.isfinite(x).all() and np.isfinite(y).all():
                agree += int((x.argmax(-1) == y.argmax(-1)).sum())
                total += x[..., 0].size
                kls.append(output_error(x, y, "kl"))
        for layer, e in cmp.err.items():
            layer_err.setdefault(layer, []).append(e)
    return Fidelity(
        len(ref.batches),
        float(np.mean(errs)) if errs else 0.0,
        agree / total if total else None,
        float(np.mean(kls)) if kls else None,
        {k: float(np.mean(v)) for k, v in layer_err.items()},
    )
