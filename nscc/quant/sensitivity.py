"""Measured sensitivity: how far the model's final output moves when one layer changes.

Both allocation passes (`bit-allocation`, `sparsity-pruning`) run the model
on a few calibration batches with single ops overridden (the interpreter's
`overrides`) and compare the output with the unchanged model's: KL
divergence of the scores when the model ends in a linear layer, else the
relative mean squared error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation

from nscc.ir.weights import WeightStore

METRICS = ("kl", "mse")


def metric_of(module: ModuleOp) -> str:
    """KL when the model's first output is scores (a linear layer's, float or decoded from a
    synapse, through reshapes, transposes and a bias), else relative MSE."""
    from nscc.ir import nn, snn
    from nscc.ir.signature import main_function

    ret = main_function(module).body.block.last_op
    v = ret.operands[0].owner if ret.operands else None
    while isinstance(v, nn.ReshapeOp | nn.TransposeOp | nn.AddOp) and v.operands:
        if isinstance(v, nn.AddOp) and not isinstance(v.operands[0].owner, nn.MatMulOp | snn.DecodeOp):
            break
        v = v.operands[0].owner
    return "kl" if isinstance(v, nn.MatMulOp | nn.GemmOp | snn.DecodeOp) else "mse"


_KL_ROWS = 16


def _log_softmax(x: np.ndarray) -> np.ndarray:
    z = x.astype(np.float64)
    z -= z.max(-1, keepdims=True)
    z -= np.log(np.exp(z).sum(-1, keepdims=True))
    return z


def output_error(ref: np.ndarray, out: np.ndarray, metric: str) -> float:
    if metric == "kl":  # a block of rows at a time: an LM's logits are 50 MB a window in float64
        a, b = ref.reshape(-1, ref.shape[-1]), out.reshape(-1, ref.shape[-1])
        total = 0.0
        for i in range(0, len(a), _KL_ROWS):
            la = _log_softmax(a[i : i + _KL_ROWS])
            lb = _log_softmax(b[i : i + _KL_ROWS])
            total += float((np.exp(la) * (la - lb)).sum())
        return total / max(len(a), 1)
    r = ref.astype(np.float64)
    return float(((out - r) ** 2).mean() / max((r**2).mean(), 1e-30))


class Probe:
    """The model's first output on `feeds`, and its error under overrides."""

    def __init__(self, module: ModuleOp, weights: WeightStore, feeds: list[Mapping[str, np.ndarray]], metric: str):
        from nscc.semantics.interpreter import run

        self.module, self.weights, self.feeds, self.metric, self._run = module, weights, feeds, metric, run
        self.refs = [run(module, weights, f) for f in feeds]
        self.output = next(iter(self.refs[0]))

    def __call__(self, overrides: Mapping[Operation, Callable]) -> float:
        return float(
            np.mean(
                [
                    output_error(ref[self.output], self._run(self.module, self.weights, f, overrides=overrides)[self.output], self.metric)
                    for f, ref in zip(self.feeds, self.refs)
                ]
            )
        )
