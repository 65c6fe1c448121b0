"""`bit-allocation`'s candidates: one linear layer at one (width, group, levels), as
spike-conversion would build it, for the pass to measure and choose among."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from xdsl.ir import Operation

from nscc.calibration import TensorStats
from nscc.quant.plans import LinearPlan, calibrated_theta, goes_negative, layer_counts, quantize_layer, relevelled_theta
from nscc.quant.quantize import Hessian


class Options(Protocol):
    """What decides a layer's build, as given to spike-conversion."""

    threshold: str
    percentile: float
    granularity: str
    bias_correction: bool
    rounding: str


@dataclass
class Layer:
    op: Operation
    plan: LinearPlan
    name: str
    params: int
    macs: int
    trained: tuple | None
    stats: TensorStats | None
    pinned: bool = False
    proxy: dict = field(default_factory=dict)  # (bits, D) -> float
    measured: dict = field(default_factory=dict)
    predicted: dict = field(default_factory=dict)
    firing: dict = field(default_factory=dict)  # D -> mean |count|
    cands: list = field(default_factory=list)  # (bits, group, D) this layer can take
    hessians: dict = field(default_factory=dict)  # D -> the GPTQ objective of its counts

    def theta(self, levels: int, options: Options) -> tuple[np.ndarray, bool]:
        if self.trained is not None:
            _, theta, trained_levels, signed, _ = self.trained
            return relevelled_theta(theta, trained_levels, levels), signed
        s = self.stats
        signed = goes_negative(s)
        return calibrated_theta(s, levels, options.threshold, options.percentile, options.granularity, signed, self.plan), signed


class Candidate:
    """What one layer computes at one (bits, D): an override of its kernel."""

    def __init__(self, layer: Layer, bits: float, group: int, levels: int, options: Options):
        p = layer.plan
        theta, signed = layer.theta(levels, options)
        theta = theta.reshape(-1) if theta.size > 1 else theta.reshape(())
        correct = options.bias_correction and layer.trained is None  # as spike-conversion: trained quantizers keep their bias
        sample = layer.stats.sample
        if options.rounding == "gptq" and not p.conv and levels not in layer.hessians:  # one factorisation for every width
            layer.hessians[levels] = Hessian.of(layer_counts(sample, theta, signed, levels))
        quant, bias, _ = quantize_layer(
            p, theta, signed, levels, bits, group, sample, correct, options.rounding, layer.hessians.get(levels)
        )
        self.plan, self.levels, self.signed = p, levels, signed
        self.theta = theta.reshape((-1, 1, 1)) if p.conv and theta.ndim else theta
        self.quant = quant  # integers kept, dequantized per use: a model's worth of candidates stays small
        self.bias = bias

    @property
    def w(self) -> np.ndarray:
        return self.quant.dequantize()  # [K, N], theta folded in

    def counts(self, x: np.ndarray) -> np.ndarray:
        lo = -self.levels if self.signed else 0
        return np.clip(np.rint(np.asarray(x, np.float32) / self.theta), lo, self.levels)

    def __call__(self, args) -> tuple:
        from nscc.semantics.nn import conv_nd, prop

        p, n = self.plan, self.counts(args[0])
        if p.conv:
            op = p.op
            w = self.w.T.reshape(p.weight.shape)
            y = conv_nd(n, w, prop(op, "strides"), prop(op, "pads"), prop(op, "dilations"), prop(op, "group"))
            if self.bias is not None:
                y = y + self.bias.reshape((1, -1) + (1,) * (y.ndim - 2))
        else:
            y = np.matmul(n, self.w)
            if self.bias is not None:
                y = y + self.bias
            if p.full_bias is not None:
                y = y + p.full_bias
        return (y.astype(np.float32),)

    def proxy(self, x: np.ndarray) -> float:
        """Mean squared output error of this layer alone on its sample rows (linear layers)."""
        p = self.plan
        ref = x @ p.weight + (p.bias if p.bias is not None else 0)
        got = self.counts(x) @ self.w + (self.bias if self.bias is not None else 0)
        return float(((ref - got) ** 2).sum(axis=1).mean())
