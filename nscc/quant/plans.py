"""What layers become: plans, thresholds and weight quantization, decided apart from the rewrite.

`spike-conversion` builds each linear layer from a `LinearPlan` (its
activation operand, float weight and bias), an activation threshold theta
(`choose_clip` on calibration statistics, or the one a trained quantizer
fixes), and `quantize_layer`'s integer weights, decode scale and corrected
bias. `bit-allocation` calls the same functions, so that what it measures is
what is built; the choices it makes are recorded on each linear op
(`BITS_ATTR`, `LEVELS_ATTR`, `GROUP_ATTR`) and read back by `layer_choice`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatch
from typing import Generic, NamedTuple, TypeVar

import numpy as np
from xdsl.dialects.builtin import FloatAttr, IntegerAttr, StringAttr
from xdsl.ir import Operation, SSAValue

from nscc.arrays import column_blocks
from nscc.calibration import TensorStats
from nscc.errors import NsccError, printable
from nscc.ir import nn
from nscc.ir.constants import source_weight
from nscc.ir.signature import LAYER_ATTR
from nscc.ir.weights import WeightStore
from nscc.quant.quantize import Hessian, Quantized, quantize
from nscc.semantics.folding import constant_value

CODING_ATTR = "nscc.spike_coding"
BITS_ATTR = "nscc.weight_bits"  # per-layer choices, set by `bit-allocation`


def bits_attr(bits: float):
    """A weight width as the IR shows it: `4 : i64`, or `1.58` for ternary."""
    from xdsl.dialects.builtin import FloatAttr, IntegerAttr, f64, i64

    return IntegerAttr(int(bits), i64) if float(bits).is_integer() else FloatAttr(float(bits), f64)


def read_bits(op: Operation) -> float | None:
    """The width `bits_attr` recorded on an op, if any."""
    a = op.attributes.get(BITS_ATTR)
    return float(a.value.data) if isinstance(a, FloatAttr | IntegerAttr) else None


LEVELS_ATTR = "nscc.levels"
GROUP_ATTR = "nscc.group_size"
CODINGS = ("thermometer", "bitplane", "ternary")
THRESHOLDS = ("output", "max", "percentile", "mse")
GRANULARITIES = ("auto", "per-tensor", "per-channel")
ROUNDINGS = ("gptq", "nearest")

T = TypeVar("T")


@dataclass
class Decisions(Generic[T]):
    """Decisions an analysis made for ops, keyed by layer name (`nscc.layer`, or the
    stored weight's name), for a pattern to apply. Where two ops share a name, the
    one made for the same operands is theirs."""

    table: dict[str, list[tuple[tuple[SSAValue, ...], T]]] = field(default_factory=dict)

    def add(self, key: str, operands: Sequence[SSAValue], decision: T) -> None:
        self.table.setdefault(key, []).append((tuple(operands), decision))

    def get(self, key: str, operands: Sequence[SSAValue]) -> T | None:
        entries = self.table.get(key, [])
        if len(entries) == 1:
            return entries[0][1]
        return next((d for ops, d in entries if len(ops) == len(operands) and all(a is b for a, b in zip(ops, operands))), None)

    def drop(self, key: str, operands: Sequence[SSAValue]) -> None:
        """Forgets a decision once applied: calibration samples are the largest part of one."""
        entries = self.table.get(key, [])
        kept = [(ops, d) for ops, d in entries if not (len(ops) == len(operands) and all(a is b for a, b in zip(ops, operands)))]
        if len(entries) == 1:
            kept = []
        if kept:
            self.table[key] = kept
        else:
            self.table.pop(key, None)

    def for_linear(self, op: Operation, weights: WeightStore) -> tuple[LinearPlan, T] | None:
        """A linear op's plan and the decision filed for it, or None."""
        plan = linear_plan(op, weights)
        decision = None if plan is None else self.get(layer_name(plan.name), [plan.x])
        return None if decision is None else (plan, decision)

    def __bool__(self) -> bool:
        return bool(self.table)


@dataclass
class LinearPlan:
    """What one linear op becomes: its activation operand, float weight [K, N] (or OIHW), bias."""

    op: Operation
    x: SSAValue
    weight: np.ndarray
    bias: np.ndarray | None
    full_bias: np.ndarray | None  # a Gemm C that is not a per-column vector
    name: str
    conv: bool = False

    def __post_init__(self) -> None:
        for what, a in (("weights", self.weight), ("bias", self.bias), ("bias", self.full_bias)):
            if a is not None and a.size and not (np.isfinite(a).all() and np.abs(a).max() <= 1e30):
                raise NsccError(
                    f"layer {printable(self.name)!r}: its {what} hold NaN, Inf or values beyond 1e30, which no integer can stand for",
                    "check the model's weights (they must be finite numbers)",
                )


def _name(op: Operation, weight: SSAValue, fallback: str) -> str:
    """`layer.weight`: from the exporter's layer name, else the stored weight's name."""
    layer = op.attributes.get(LAYER_ATTR)
    if isinstance(layer, StringAttr):
        return layer.data + ".weight"
    return source_weight(weight) or fallback


def linear_plan(op: Operation, weights: WeightStore, index: int | str = "", memo: dict | None = None) -> LinearPlan | None:
    """The plan for a linear op with constant weights, or None if it is not one.

    `index` numbers layers that have neither a layer name nor a stored weight
    (`linear3`, `conv0`). `memo` is `constant_value`'s, shared by a caller that plans
    many ops of one module: telling that an activation is not constant folds its
    whole history, once per memo."""
    memo = {} if memo is None else memo
    if isinstance(op, nn.MatMulOp):
        w = constant_value(op.rhs, weights, memo)
        if w is None or w.ndim != 2 or constant_value(op.lhs, weights, memo) is not None:
            return None
        name = _name(op, op.rhs, f"linear{index}")
        return LinearPlan(op, op.lhs, w.astype(np.float32, copy=False), None, None, name)  # the stored array, not a copy
    if isinstance(op, nn.GemmOp):
        if op.trans_a or constant_value(op.a, weights, memo) is not None:
            return None
        w = constant_value(op.b, weights, memo)
        if w is None:
            return None
        w = (w.T if op.trans_b else w).astype(np.float32, copy=False)
        if op.alpha.value.data != 1.0:
            w = w * np.float32(op.alpha.value.data)
        bias = full = None
        if op.c is not None:
            c = constant_value(op.c, weights, memo)
            if c is None:
                return None
            c = c.astype(np.float32) * np.float32(op.beta.value.data)
            n = w.shape[1]
            if c.size == 1 or c.shape in ((n,), (1, n)):
                bias = np.broadcast_to(c.reshape(-1), (n,)).copy()
            else:
                full = c
        name = _name(op, op.b, f"linear{index}")
        return LinearPlan(op, op.a, w, bias, full, name)
    if isinstance(op, nn.ConvOp):
        w = constant_value(op.weight, weights, memo)
        if w is None or constant_value(op.input, weights, memo) is not None:
            return None
        bias = None
        if op.bias is not None:
            bias = constant_value(op.bias, weights, memo)
            if bias is None:
                return None
            bias = bias.astype(np.float32)
        name = _name(op, op.weight, f"conv{index}")
        return LinearPlan(op, op.input, w.astype(np.float32, copy=False), bias, None, name, conv=True)
    return None


def decision_key(op: Operation, weights: WeightStore) -> str | None:
    """The name a linear op's decisions are filed under (`Decisions`): its layer name,
    without the numbering of anonymous layers (those `Decisions` tells apart by operands)."""
    plan = linear_plan(op, weights)
    return None if plan is None else layer_name(plan.name)


class TrainedQuantizer(NamedTuple):
    source: SSAValue  # what the quantizer reads
    theta: np.ndarray
    levels: int  # D: counts lie in [0, D], or [-D, D] when signed
    signed: bool
    top: int  # the largest count: D, or D - 1 for a two's-complement range [-D, D - 1]


def trained_quantizer(x: SSAValue, weights: WeightStore) -> TrainedQuantizer | None:
    """Recognises an activation quantizer the model was trained with ("integer training"):

        y = mul(round(clip(div(x, theta), lo, hi)), theta),  lo = 0, -hi or -hi - 1,

    the I-LIF / QCFS function in the form torch exports it, and a QONNX `Quant` with
    zero point 0 as the frontend lowers it (lo = -hi - 1: Brevitas' signed activations).
    Encoding x with that theta and range gives exactly the counts the trained model
    computes, so the spiking model needs no calibration there. Asked for other levels
    than the model was trained with, the pass keeps the trained clipping range D * theta
    and divides it into the new levels."""
    mul = x.owner
    if not isinstance(mul, nn.MulOp):
        return None
    for rounded, scale in ((mul.lhs, mul.rhs), (mul.rhs, mul.lhs)):
        rnd = rounded.owner
        theta = constant_value(scale, weights)
        if not isinstance(rnd, nn.RoundOp) or theta is None:
            continue
        clip = rnd.input.owner
        if not isinstance(clip, nn.ClipOp) or clip.max is None or clip.min is None:
            continue
        hi, lo = clip.max.value.data, clip.min.value.data
        if hi != int(hi) or hi < 1 or lo not in (0.0, -hi, -hi - 1):
            continue
        div = clip.input.owner
        if not isinstance(div, nn.DivOp):
            continue
        divisor = constant_value(div.rhs, weights)
        if divisor is None or divisor.shape != theta.shape or not np.array_equal(divisor, theta):
            continue
        levels = int(max(hi, -lo))
        if levels > 32767:  # 16-bit activations: more levels than counts hold; calibrate instead
            return None
        return TrainedQuantizer(div.lhs, theta.astype(np.float32), levels, lo < 0, int(hi))
    return None


# Ops whose outputs are never negative.
_NON_NEGATIVE = (nn.ReluOp, nn.SigmoidOp, nn.SoftmaxOp, nn.AbsOp, nn.HardSigmoidOp)


def non_negative(x: SSAValue, weights: WeightStore) -> bool:
    """Structurally >= 0, looked through reshapes: a ReLU, sigmoid, softmax or abs, a clip
    at or above 0, or a trained spike quantizer with unsigned counts and positive theta."""
    op = x.owner
    while isinstance(op, nn.ReshapeOp):
        x, op = op.input, op.input.owner
    if isinstance(op, nn.ClipOp):
        return op.min is not None and float(op.min.value.data) >= 0
    if isinstance(op, _NON_NEGATIVE):
        return True
    q = trained_quantizer(x, weights)
    return q is not None and not q.signed and bool(np.all(q.theta > 0))


def rewritable_input(op: nn.MatMulOp, layers: tuple[str, ...], weights: WeightStore) -> tuple[str, SSAValue, np.ndarray] | None:
    """(layer name, activation, weight) of a linear layer an exact input rewrite may touch
    (`online-hadamard`, `token-scale`): named by one of the `layers` globs, constant weights,
    a computed input, and not a trained quantizer's counts (what the model was trained on)."""
    layer = op.attributes.get(LAYER_ATTR)
    if not isinstance(layer, StringAttr) or not any(fnmatch(layer.data, g) for g in layers):
        return None
    w = constant_value(op.rhs, weights)
    if w is None or constant_value(op.lhs, weights) is not None or trained_quantizer(op.lhs, weights) is not None:
        return None
    return layer.data, op.lhs, w


def encoder_input(x: SSAValue, signed: bool) -> SSAValue:
    """What an encoder should read: clip(., 0, D) already is a relu, so an unsigned
    encoder reads through one (the relu then stays float only if something else uses it)."""
    return x.owner.input if not signed and isinstance(x.owner, nn.ReluOp) else x


def layer_name(weight_name: str) -> str:
    return weight_name.removesuffix(".weight")


def choose_clip(stats: TensorStats, method: str, percentile: float, per_channel: bool, levels: int, signed: bool) -> np.ndarray:
    """The clipping magnitude c (theta = c / D), a scalar array or one per channel."""
    if method == "max":
        c = stats.absmax if per_channel else np.float32(stats.absmax_tensor())
    elif method == "percentile":
        c = stats.percentile(percentile, per_channel)
    else:
        c = _mse_clip(stats, per_channel, levels, signed)
    c = np.asarray(c, np.float32)
    fallback = np.float32(stats.absmax_tensor() or 1.0)
    return np.where(c > 0, c, fallback).astype(np.float32)


def _mse_clip(stats: TensorStats, per_channel: bool, levels: int, signed: bool) -> np.ndarray:
    x = stats.sample  # rows x channels
    top = stats.absmax if per_channel else np.float32(stats.absmax_tensor())
    lo = -levels if signed else 0
    best_err, best = None, None
    for frac in np.linspace(0.05, 1.0, 40):
        c = np.maximum(top * frac, 1e-12)
        theta = c / levels
        q = np.clip(np.rint(x / theta), lo, levels) * theta
        err = ((x - q) ** 2).mean(axis=0) if per_channel else np.float32(((x - q) ** 2).mean())
        if best is None:
            best_err, best = err, np.broadcast_to(c, np.shape(err)).copy()
        else:
            better = err < best_err
            best = np.where(better, c, best)
            best_err = np.where(better, err, best_err)
    return best


def layer_choice(op: Operation, bits: float, levels: int, group: int) -> tuple[float, int, int]:
    """(weight bits, levels D, group size) for one layer: what `bit-allocation`
    recorded on it, else the given defaults (the pass options)."""
    b, d, g = read_bits(op), op.attributes.get(LEVELS_ATTR), op.attributes.get(GROUP_ATTR)
    return (
        b if b is not None else bits,
        d.value.data if isinstance(d, IntegerAttr) else levels,
        g.value.data if isinstance(g, IntegerAttr) else group,
    )


def goes_negative(stats: TensorStats) -> bool:
    """Whether calibration shows an activation negative (beyond rounding noise): it then needs signed counts."""
    return bool(stats.min < -1e-6 * max(stats.absmax_tensor(), 1e-30))


def calibrated_theta(
    stats: TensorStats,
    levels: int,
    method: str,
    percentile: float,
    granularity: str,
    signed: bool,
    plan: LinearPlan | None = None,
    bits: float = 8,
) -> np.ndarray:
    """theta = c / D, c the clipping magnitude: `choose_clip`'s, or with method "output"
    the candidate (`output_candidates`) that changes the layer's output least
    (`output_error`).

    `granularity` auto: per channel for matrix products (the outlier channels of
    transformers), per tensor for convolutions (whose integer islands then cross
    pooling layers); with "output", matrix products try both kinds."""
    if granularity == "auto" and plan is not None and plan.conv:
        granularity = "per-tensor"
    elif granularity == "auto" and method != "output":
        granularity = "per-channel"
    if method == "output":
        cands = output_candidates(stats, levels, percentile, granularity, signed)
        thetas = [(c / levels).astype(np.float32) for c in cands]
        if plan is None or len(thetas) == 1:
            theta = thetas[0]
        else:
            errs = [output_error(plan, stats.sample, t, signed, levels, bits) for t in thetas]
            theta = thetas[int(np.argmin(errs))]
        clip = theta * levels
    else:
        clip = choose_clip(stats, method, percentile, granularity != "per-tensor", levels, signed)
        if clip.ndim and plan is not None:
            floor = channel_floor(stats, levels, percentile, signed, plan, bits)
            clip = np.maximum(clip, np.float32(floor * stats.percentile(percentile)))
    if not np.isfinite(clip).all():
        raise NsccError(
            "an encoder's calibrated range is not finite: the activations it sees hold NaN or Inf on the calibration data",
            "check the weights before that layer and the --calib data",
        )
    return (clip / levels).astype(np.float32)


FLOORS = (0.0, 0.125, 0.25, 0.5, 1.0)


def channel_floor(stats: TensorStats, levels: int, percentile: float, signed: bool, plan: LinearPlan, bits: float = 8) -> float:
    """How far per-channel clips are raised towards the tensor's: the ratio (of `FLOORS`)
    whose thresholds, fitted on half the calibration rows, encode the other half best.

    A channel that stays small on the calibration text gets a small clip, and new text
    that drives it harder is clipped there: on SmolLM2 at D=255 that alone costs 10%
    perplexity on unseen text while the calibration text is reproduced exactly. A
    floor prevents it at the price of resolution, which D=255 can pay and D=15 cannot,
    so the held-out rows decide."""
    x = stats.sample
    if len(x) < 32:
        return 0.0
    order = np.random.default_rng(0).permutation(len(x))
    fit, held = np.abs(x[order[::2]]), x[order[1::2]]
    per_channel, tensor = np.percentile(fit, percentile, axis=0), float(np.percentile(fit, percentile)) or 1.0
    errs = []
    for f in FLOORS:
        c = np.maximum(per_channel, f * tensor)
        c = np.where(c > 0, c, tensor)
        errs.append(output_error(plan, held, (c / levels).astype(np.float32), signed, levels, bits))
    return FLOORS[int(np.argmin(errs))]


def output_candidates(stats: TensorStats, levels: int, percentile: float, granularity: str, signed: bool) -> list[np.ndarray]:
    """Clipping magnitudes worth measuring, per tensor and per channel as `granularity` allows.

    Neither kind wins everywhere. Per tensor, least squares suits the evenly spread
    inputs a rotation leaves, the percentile keeps rare huge values. Per channel, each
    channel's range is folded into its weight row, so a channel 1000x the others
    leaves the other rows of an 8-bit column at zero: between the two, SmoothQuant's
    migration c_k^a * c^(1-a) (a = 1/2, 3/4) splits the range between the encoder and
    the weights."""
    out = []
    tensor = choose_clip(stats, "percentile", percentile, False, levels, signed)
    if granularity != "per-channel":
        out += [tensor, choose_clip(stats, "mse", percentile, False, levels, signed)]
    if granularity != "per-tensor":
        pc = choose_clip(stats, "percentile", percentile, True, levels, signed)
        out += [pc, choose_clip(stats, "mse", percentile, True, levels, signed)]
        out += [(pc.astype(np.float64) ** a * float(tensor) ** (1 - a)).astype(np.float32) for a in (0.5, 0.75)]
    return out


def output_error(
    plan: LinearPlan, x: np.ndarray, theta: np.ndarray, signed: bool, levels: int, bits: float = 8, columns: int = 256
) -> float:
    """How much the layer's output changes on the sample rows `x` when they are encoded with
    theta and theta is folded into weights rounded to `bits` per output column: the mean
    squared error over up to `columns` output columns (an even spread). For a convolution,
    each input channel's squared encoding error weighted by its weights' energy."""
    th = theta if theta.ndim else np.float32(theta)
    n = layer_counts(x, theta, signed, levels)
    if plan.conv:
        err = x - n * th
        w = plan.weight.astype(np.float64)
        group = plan.op.group.value.data
        energy = (w**2).sum(axis=(2, 3)).reshape(group, w.shape[0] // group, -1).sum(axis=1).reshape(-1)
        return float(((err.astype(np.float64) ** 2).mean(axis=0) * energy).sum())
    w = plan.weight
    cols = np.linspace(0, w.shape[1] - 1, min(columns, w.shape[1])).astype(np.int64)
    wc = w[:, cols]
    folded = wc * (theta[:, None] if theta.ndim else theta)
    qmax = 2 ** (max(2, int(np.ceil(bits))) - 1) - 1
    scale = np.abs(folded).max(axis=0, keepdims=True) / qmax
    scale[scale == 0] = 1
    wq = np.rint(folded / scale) * scale
    return float(((x @ wc - n @ wq).astype(np.float64) ** 2).mean())


def relevelled_theta(theta: np.ndarray, trained_levels: int, levels: int) -> np.ndarray:
    """A trained quantizer's theta for another level count: the trained clipping range
    D * theta kept, divided into the new levels."""
    return (theta * np.float32(trained_levels / levels)).astype(np.float32)


def folded_weight(plan: LinearPlan, theta: np.ndarray) -> np.ndarray:
    """The weight with the input threshold folded in, as [K, N] (a conv's OIHW as [C/g*kh*kw, M])."""
    if plan.conv:
        w = plan.weight  # M, C/g, kh, kw
        if theta.ndim:
            m, cg = w.shape[:2]
            group = plan.op.group.value.data
            per_out = theta.reshape(group, cg)[np.arange(m) // (m // group)]  # M, C/g
            w = w * per_out[:, :, None, None]
        else:
            w = w * theta
        return w.reshape(len(w), -1).T
    return plan.weight * (theta[:, None] if theta.ndim else theta)


def quantize_layer(
    plan: LinearPlan,
    theta: np.ndarray,
    signed: bool,
    levels: int,
    bits: float,
    group: int,
    sample: np.ndarray | None,
    bias_correction: bool,
    rounding: str = "gptq",
    hessian: Hessian | None = None,
) -> tuple[Quantized, np.ndarray | None, int]:
    """What a layer's weights become: integer weights [K, N] (a conv's to be
    transposed back to OIHW), the bias to decode with, and the decode axis.

    With a calibration `sample` of the layer's input (rows x channels), the
    bias is corrected (`bias_correction`), and with `rounding=gptq` the weights
    of linear layers below 8 bits are rounded with error feedback from the
    counts' Gram matrix (`hessian`, when the caller has it for several widths);
    else weight rows are weighted by E[n_k^2] in the clip search.
    `bit-allocation` calls this too, so that what it measures is what is built."""
    importance = gram = None
    if sample is not None and not plan.conv:
        n = layer_counts(sample, theta, signed, levels)
        importance = (n.astype(np.float64) ** 2).mean(axis=0) + 1e-6
        if rounding == "gptq":
            gram = hessian if hessian is not None else Hessian.of(n)
    # with error feedback the clip is searched on the weights alone: GPTQ already weighs
    # the rounding errors by the inputs, and weighting the clip too makes it worse
    w = folded_weight(plan, theta)
    quant = quantize(w, bits, 0 if plan.conv else group, None if gram is not None else importance, gram=gram)
    if quant.group_scale is not None:  # group scales only where they beat one scale per column
        plain = quantize(w, bits, 0, None if gram is not None else importance, gram=gram)
        if _weight_error(w, plain, importance) <= _weight_error(w, quant, importance):
            quant = plain
    bias = plan.bias
    if bias_correction and sample is not None:
        bias = corrected_bias(plan, theta, signed, levels, sample, quant)
    axis = 1 if plan.conv else len(plan.op.results[0].type.get_shape()) - 1
    return quant, bias, axis


def _weight_error(w: np.ndarray, quant: Quantized, importance: np.ndarray | None) -> float:
    """Squared rounding error, each input row weighted by its mean square count when known.
    A model trained with 8-bit weights per column is reproduced exactly by one scale per
    column, and group scales would only round it again."""
    e = (w - quant.dequantize()).astype(np.float64) ** 2
    return float((e.sum(axis=1) * (1.0 if importance is None else importance)).sum())


def layer_counts(sample: np.ndarray, theta: np.ndarray, signed: bool, levels: int) -> np.ndarray:
    """The counts a layer's calibration rows encode to."""
    th = theta if theta.ndim else np.full(sample.shape[1], theta, np.float32)
    return np.clip(np.rint(sample / th), -levels if signed else 0, levels).astype(np.float32)


def corrected_bias(plan: LinearPlan, theta, signed: bool, levels: int, x: np.ndarray, quant: Quantized) -> np.ndarray:
    """Folds the mean output error of quantization into the bias (bias correction).

    The layer is linear, so its mean output error is the weights applied to
    the mean input, float minus quantized: mean(x) W - mean(n) Wq s, with
    both means over the calibration sample `x` (rows x input channels)."""
    lo = -levels if signed else 0
    th = theta if theta.ndim else np.full(x.shape[1], theta, np.float32)
    n = np.clip(np.rint(x / th), lo, levels)
    mx, mn = x.mean(axis=0, dtype=np.float64), n.mean(axis=0, dtype=np.float64)
    if plan.conv:
        wdq = quant.dequantize().astype(np.float64)  # [K, N], theta folded in
        m, cg = plan.weight.shape[:2]
        group = plan.op.group.value.data
        chan = (np.arange(m) // (m // group))[:, None] * cg + np.arange(cg)[None, :]  # M, C/g input channel
        wd = wdq.T.reshape(plan.weight.shape)
        err = (plan.weight.sum(axis=(2, 3)) * mx[chan]).sum(1) - (wd.sum(axis=(2, 3)) * mn[chan]).sum(1)
    else:
        # float64 a block of columns at a time: mx @ W would copy an LM head to float64 (226 MB)
        err = np.concatenate([mx @ plan.weight[:, b].astype(np.float64) for b in column_blocks(plan.weight.shape[1])])
        err -= quant.left_product(mn)
    base = plan.bias if plan.bias is not None else np.zeros(quant.q.shape[1], np.float32)
    return (base + err).astype(np.float32)


def decay_shift(decay: float) -> int:
    """s with 1 - 2^-s closest to the decay (0 for no decay)."""
    return 0 if decay >= 1.0 else max(1, int(round(-np.log2(1.0 - decay))))
