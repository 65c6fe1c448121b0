"""Pass `spike-conversion`: linear layers become integer spike counting.

Every linear op whose weights are constant (`nn.matmul` by a weight,
`nn.gemm`, `nn.conv`) is rewritten into

    x --snn.encode--> counts n = clip(round(x / theta), lo, D)
      --snn.synapse--> acc = sum_k n_k * Wq[k, j]          (integers, additions only)
      --snn.decode--> y = acc * s[j] + bias[j]            (the bias once, at decoding)

the I-LIF / QCFS form of "integer training, binary inference": a neuron
that fires up to D spikes per window, encoded by their count. theta comes
from calibration (`--calib`): the largest magnitude, a percentile of it, or
the clipping value of least squared error, per tensor or per input channel.
The input threshold is folded into the weights before they are quantized per
output channel (`weight-bits`, 8 by default), so the accumulator is exact
and one scale per output channel decodes it. Inputs that calibration shows
negative (after LayerNorm, say) get signed counts in [-D, D].

What stays real-valued: products of two activations (attention scores,
`linear-attention` rewrites those), normalisation, softmax, activation
functions and residual adds. The report lists them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatch

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import FloatAttr, IntegerAttr, IntegerType, ModuleOp, StringAttr, TensorType, f32, f64, i64
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)

from nscc.calibration import TensorStats, calibration_of, collect
from nscc.errors import NsccError
from nscc.ir import nn, snn
from nscc.ir.constants import constant_value, new_weight, source_weight
from nscc.ir.context import weights_of
from nscc.ir.signature import LAYER_ATTR
from nscc.ir.weights import WeightStore
from nscc.quantize import Hessian, Quantized, quantize, storage_bits, valid_width

CODING_ATTR = "nscc.spike_coding"
BITS_ATTR = "nscc.weight_bits"  # per-layer choices, set by `bit-allocation`
LEVELS_ATTR = "nscc.levels"
GROUP_ATTR = "nscc.group_size"
CODINGS = ("thermometer", "bitplane", "ternary")
THRESHOLDS = ("max", "percentile", "mse")
GRANULARITIES = ("per-tensor", "per-channel")
ROUNDINGS = ("gptq", "nearest")


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


def _name(op: Operation, weight: SSAValue, fallback: str) -> str:
    """`layer.weight`: from the exporter's layer name, else the stored weight's name."""
    layer = op.attributes.get(LAYER_ATTR)
    if isinstance(layer, StringAttr):
        return layer.data + ".weight"
    return source_weight(weight) or fallback


def linear_plan(op: Operation, weights: WeightStore, index: int) -> LinearPlan | None:
    """The plan for a linear op with constant weights, or None if it is not one."""
    memo: dict = {}
    if isinstance(op, nn.MatMulOp):
        w = constant_value(op.rhs, weights, memo)
        if w is None or w.ndim != 2 or constant_value(op.lhs, weights, memo) is not None:
            return None
        name = _name(op, op.rhs, f"linear{index}")
        return LinearPlan(op, op.lhs, w.astype(np.float32), None, None, name)
    if isinstance(op, nn.GemmOp):
        if op.trans_a.value.data or constant_value(op.a, weights, memo) is not None:
            return None
        w = constant_value(op.b, weights, memo)
        if w is None:
            return None
        w = (w.T if op.trans_b.value.data else w).astype(np.float32) * np.float32(op.alpha.value.data)
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
        return LinearPlan(op, op.input, w.astype(np.float32), bias, None, name, conv=True)
    return None


def trained_quantizer(x: SSAValue, weights: WeightStore) -> tuple[SSAValue, np.ndarray, int, bool] | None:
    """Recognises an activation quantizer the model was trained with ("integer training"):

        y = mul(round(clip(div(x, theta), lo, D)), theta),  lo = 0 or -D,

    the I-LIF / QCFS function in the form torch exports it. Returns (x, theta,
    D, signed): encoding x with that theta and D gives exactly the counts the
    trained model computes, so the spiking model needs no calibration there.
    Asked for other levels than the model was trained with, the pass keeps
    the trained clipping range D * theta and divides it into the new levels."""
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
        if hi != int(hi) or hi < 1 or lo not in (0.0, -hi):
            continue
        div = clip.input.owner
        if not isinstance(div, nn.DivOp):
            continue
        divisor = constant_value(div.rhs, weights)
        if divisor is None or divisor.shape != theta.shape or not np.array_equal(divisor, theta):
            continue
        return div.lhs, theta.astype(np.float32), int(hi), lo < 0
    return None


def encoder_input(x: SSAValue, signed: bool) -> SSAValue:
    """What an encoder should read: clip(., 0, D) already is a relu, so an unsigned
    encoder reads through one (the relu then stays float only if something else uses it)."""
    return x.owner.input if not signed and isinstance(x.owner, nn.ReluOp) else x


def _layer_name(weight_name: str) -> str:
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


def layer_choice(op: Operation, options: "SpikeConversionPass") -> tuple[float, int, int]:
    """(weight bits, levels D, group size) for one layer: what `bit-allocation`
    annotated on it, else the pass options."""
    bits, levels, group = (op.attributes.get(a) for a in (BITS_ATTR, LEVELS_ATTR, GROUP_ATTR))
    return (
        float(bits.value.data) if isinstance(bits, FloatAttr) else options.weight_bits,
        levels.value.data if isinstance(levels, IntegerAttr) else options.levels,
        group.value.data if isinstance(group, IntegerAttr) else options.group_size,
    )


@dataclass
class ConvertLinear(RewritePattern):
    """Applies the precomputed plans; encodes each activation once per level count for all its consumers."""

    plans: dict[Operation, LinearPlan]
    thetas: dict[tuple[SSAValue, int], tuple[np.ndarray, bool, TensorStats | None]]
    trained: dict[SSAValue, tuple[SSAValue, np.ndarray, int, bool]]
    options: "SpikeConversionPass"
    store: WeightStore
    samples: dict[SSAValue, np.ndarray]  # calibration rows of each linear op's input
    encoded: dict[tuple[SSAValue, int], SSAValue] = field(default_factory=dict)

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.MatMulOp | nn.GemmOp | nn.ConvOp, rewriter: PatternRewriter) -> None:
        plan = self.plans.pop(op, None)
        if plan is None:
            return
        o = self.options
        bits, levels, group = layer_choice(op, o)
        new_ops: list[Operation] = []
        source = plan.x
        if plan.x in self.trained:
            source, theta, trained_levels, signed = self.trained[plan.x]
            stats = None
            if trained_levels != levels:  # keep the trained clipping range, spend fewer (or more) levels on it
                theta = (theta * np.float32(trained_levels / levels)).astype(np.float32)
        else:
            theta, signed, stats = self.thetas[(plan.x, levels)]

        def weight(name: str, array: np.ndarray, elem=None) -> SSAValue:
            w = new_weight(self.store, name, array, elem)
            new_ops.append(w)
            return w.res

        counts = self.encoded.get((plan.x, levels))
        if counts is None:
            x_shape = tuple(source.type.get_shape())
            theta_arr = theta.reshape((-1, 1, 1)) if plan.conv and theta.ndim == 1 else theta
            th = weight(f"{_layer_name(plan.name)}.theta", theta_arr, f32)
            enc = snn.EncodeOp.build(operands=[encoder_input(source, signed), th], result_types=[snn.CountsType(x_shape, levels, signed)])
            new_ops.append(enc)
            counts = self.encoded[(plan.x, levels)] = enc.res
        theta = theta.reshape(-1) if theta.size > 1 else theta.reshape(())

        # a trained quantizer's layer keeps its bias: the model learned it with these counts
        correct = o.bias_correction and plan.x not in self.trained
        quant, bias, axis = quantize_layer(plan, theta, signed, levels, bits, group, self.samples.get(plan.x), correct, o.rounding)
        wq = quant.q if not plan.conv else quant.q.T.reshape(plan.weight.shape)
        qw = weight(f"{plan.name}.q{storage_bits(bits)}", wq, IntegerType(storage_bits(bits)))
        acc_type = TensorType(IntegerType(o.acc_bits), list(op.results[0].type.get_shape()))
        acc_bits = IntegerAttr(o.acc_bits, i64)
        if plan.conv:
            syn = snn.ConvSynapseOp.build(
                operands=[counts, qw], result_types=[acc_type],
                properties={"strides": op.strides, "pads": op.pads, "dilations": op.dilations, "group": op.group, "acc_bits": acc_bits},
            )  # fmt: skip
        else:
            gs = [] if quant.group_scale is None else [weight(f"{_layer_name(plan.name)}.group_scale", quant.group_scale, IntegerType(8))]
            syn = snn.SynapseOp.build(operands=[counts, qw, gs], result_types=[acc_type], properties={"acc_bits": acc_bits})
        syn.attributes[LAYER_ATTR] = StringAttr(_layer_name(plan.name))
        syn.attributes[BITS_ATTR] = FloatAttr(float(bits), f64)
        new_ops.append(syn)
        sc = weight(f"{_layer_name(plan.name)}.scale", quant.scale, f32)
        bias = weight(f"{_layer_name(plan.name)}.bias", bias, f32) if bias is not None else None
        dec = snn.DecodeOp.build(
            operands=[syn.res, sc, [] if bias is None else bias],
            result_types=[op.results[0].type],
            properties={"axis": IntegerAttr(axis, i64)},
        )
        new_ops.append(dec)
        if plan.full_bias is not None:
            fb = weight(f"{_layer_name(plan.name)}.bias", plan.full_bias, f32)
            new_ops.append(nn.AddOp.build(operands=[dec.res, fb], result_types=[op.results[0].type]))
        rewriter.replace(op, new_ops)


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
    plan: LinearPlan, theta: np.ndarray, signed: bool, levels: int, bits: float, group: int, sample: np.ndarray | None,
    bias_correction: bool, rounding: str = "gptq", hessian: Hessian | None = None,
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
    quant = quantize(folded_weight(plan, theta), bits, 0 if plan.conv else group, None if gram is not None else importance, gram=gram)
    bias = plan.bias
    if bias_correction and sample is not None:
        bias = corrected_bias(plan, theta, signed, levels, sample, quant)
    axis = 1 if plan.conv else len(plan.op.results[0].type.get_shape()) - 1
    return quant, bias, axis


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
    wdq = quant.dequantize().astype(np.float64)  # [K, N], theta folded in
    if plan.conv:
        m, cg = plan.weight.shape[:2]
        group = plan.op.group.value.data
        chan = (np.arange(m) // (m // group))[:, None] * cg + np.arange(cg)[None, :]  # M, C/g input channel
        wd = wdq.T.reshape(plan.weight.shape)
        err = (plan.weight.sum(axis=(2, 3)) * mx[chan]).sum(1) - (wd.sum(axis=(2, 3)) * mn[chan]).sum(1)
    else:
        err = mx @ plan.weight - mn @ wdq
    base = plan.bias if plan.bias is not None else np.zeros(wdq.shape[1], np.float32)
    return (base + err).astype(np.float32)


def decay_shift(decay: float) -> int:
    """s with 1 - 2^-s closest to the decay (0 for no decay)."""
    return 0 if decay >= 1.0 else max(1, int(round(-np.log2(1.0 - decay))))


@dataclass
class ConvertLinearAttention(RewritePattern):
    """nn.linear_attention (relu features) -> encoded q, k, v -> snn.linear_attention -> rescale."""

    thetas: dict
    levels: int
    store: WeightStore

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.LinearAttentionOp, rewriter: PatternRewriter) -> None:
        if (op, 0) not in self.thetas or not op.causal.value.data:
            return
        new: list[Operation] = []
        counts, th = [], []
        for i in range(3):
            theta, signed, source = self.thetas[(op, i)]
            w = new_weight(self.store, "attention.theta", np.array(theta, np.float32))
            enc = snn.EncodeOp.build(
                operands=[encoder_input(source, signed), w.res], result_types=[snn.CountsType(source.type.get_shape(), self.levels, signed)]
            )
            new += [w, enc]
            counts.append(enc.res)
            th.append(theta)
        vshape = list(op.v.type.get_shape())
        la = snn.LinearAttentionOp.build(
            operands=counts,
            result_types=[TensorType(i64, vshape), TensorType(i64, vshape[:-1])],
            properties={"decay_shift": IntegerAttr(decay_shift(op.decay.value.data), i64)},
        )
        if LAYER_ATTR in op.attributes:
            la.attributes[LAYER_ATTR] = op.attributes[LAYER_ATTR]
        new.append(la)
        f32_out = op.res.type
        num = nn.CastOp.build(operands=[la.num], result_types=[f32_out])
        new.append(num)
        if op.normalize.value.data:
            den_in = nn.ReshapeOp.build(operands=[la.den], result_types=[TensorType(i64, vshape[:-1] + [1])])
            den = nn.CastOp.build(operands=[den_in.res], result_types=[TensorType(f32, vshape[:-1] + [1])])
            eps = new_weight(self.store, "attention.eps", np.array(1e-6 / (th[0] * th[1]), np.float32))
            den_eps = nn.AddOp.build(operands=[den.res, eps.res], result_types=[den.res.type])
            ratio = nn.DivOp.build(operands=[num.res, den_eps.res], result_types=[f32_out])
            scale = new_weight(self.store, "attention.scale", np.array(th[2], np.float32))
            out = nn.MulOp.build(operands=[ratio.res, scale.res], result_types=[f32_out])
            new += [den_in, den, eps, den_eps, ratio, scale, out]
        else:
            scale = new_weight(self.store, "attention.scale", np.array(th[0] * th[1] * th[2], np.float32))
            out = nn.MulOp.build(operands=[num.res, scale.res], result_types=[f32_out])
            new += [scale, out]
        rewriter.replace(op, new)


@dataclass(frozen=True)
class SpikeConversionPass(ModulePass):
    """Turns linear layers into integer spike counting: encode, synaptic accumulation, decode.

    Options: `levels` D (counts in [0, D], or [-D, D] for inputs that go negative);
    `coding` thermometer | bitplane | ternary (ternary forces signed counts; the
    binary form itself is chosen by `binary-expand`); `threshold` max | percentile |
    mse, with `percentile`; `granularity` per-tensor | per-channel (thresholds per
    input channel, folded into the weights); `weight-bits` 1.58 (ternary) or 2..16;
    `group-size` (0: one scale per output channel; g: per g input rows, integer
    group multipliers, linear layers only); `acc-bits`;
    `bias-correction` (fold the mean quantization error into the bias);
    `rounding` gptq | nearest (below 8 bits, GPTQ's error-feedback rounding
    from the calibration Gram matrix, or each weight to its nearest);
    `keep-dense` layer names or globs to leave dense (e.g. `keep-dense=head`);
    `calib-batches` (random batches when no --calib data is given).
    Layers annotated by `bit-allocation` (`nscc.weight_bits`, `nscc.levels`)
    keep their own width and D.
    """

    name = "spike-conversion"
    levels: int = 15
    coding: str = "thermometer"
    threshold: str = "percentile"
    percentile: float = 99.99
    granularity: str = "per-tensor"
    weight_bits: int | float = 8
    group_size: int = 0
    acc_bits: int = 32
    calib_batches: int = 8
    bias_correction: bool = True
    rounding: str = "gptq"
    keep_dense: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        checks = [
            (1 <= self.levels <= 32767, "levels must be in [1, 32767]"),
            (self.coding in CODINGS, f"coding must be one of {', '.join(CODINGS)}"),
            (self.threshold in THRESHOLDS, f"threshold must be one of {', '.join(THRESHOLDS)}"),
            (0 < self.percentile <= 100, "percentile must be in (0, 100]"),
            (self.granularity in GRANULARITIES, f"granularity must be one of {', '.join(GRANULARITIES)}"),
            (valid_width(self.weight_bits), "weight-bits must be 1.58 (ternary) or an integer in [2, 16]"),
            (self.group_size >= 0, "group-size must be 0 (per output channel) or a positive row count"),
            (self.acc_bits in (16, 32, 64), "acc-bits must be 16, 32 or 64"),
            (self.calib_batches >= 1, "calib-batches must be at least 1"),
            (self.rounding in ROUNDINGS, f"rounding must be one of {', '.join(ROUNDINGS)}"),
        ]
        for ok, msg in checks:
            if not ok:
                raise NsccError(f"spike-conversion: {msg}", "`nscc passes` lists the options")

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        store = weights_of(ctx)
        linear = [o for o in op.walk() if isinstance(o, nn.MatMulOp | nn.GemmOp | nn.ConvOp)]
        plans = {}
        for i, o in enumerate(linear):
            plan = linear_plan(o, store, i)
            if plan is not None and not any(fnmatch(_layer_name(plan.name), pat) for pat in self.keep_dense):
                plans[o] = plan
        op.attributes[CODING_ATTR] = StringAttr(self.coding)
        trained = {p.x: q for p in plans.values() if (q := trained_quantizer(p.x, store)) is not None}
        targets = {o: [(0, 1 if p.conv else len(p.x.type.get_shape()) - 1)] for o, p in plans.items()}
        stats = {}
        if targets:
            stats = collect(op, store, calibration_of(ctx, op, self.calib_batches), targets)
        per_channel = self.granularity == "per-channel"
        thetas = {}
        for o, p in plans.items():
            levels = layer_choice(o, self)[1]
            if (p.x, levels) in thetas or p.x in trained:
                continue
            s = stats[p.x]
            signed = self.coding == "ternary" or s.min < -1e-6 * max(s.absmax_tensor(), 1e-30)
            clip = choose_clip(s, self.threshold, self.percentile, per_channel, levels, signed)
            thetas[(p.x, levels)] = ((clip / levels).astype(np.float32), signed, s)
        for o, p in plans.items():
            group = layer_choice(o, self)[2]
            if not p.conv and group and p.weight.shape[0] % group:
                raise NsccError(
                    f"spike-conversion: group-size {group} does not divide the {p.weight.shape[0]} inputs of layer '{_layer_name(p.name)}'",
                    "pick a group size that divides every layer's input width, or group-size=0",
                )
        # Linear attention: phi(q) = relu(q) and phi(k) are unsigned counts (the clip at
        # 0 is the relu), v signed where it goes negative; one threshold per tensor,
        # since per-feature thresholds of q and k would not factor out of q . k.
        attention = [o for o in op.walk() if isinstance(o, nn.LinearAttentionOp) and o.feature.data == "relu"]
        la_thetas = {}
        for o in attention:  # operands the model was trained to quantize keep their trained thresholds
            for i, value in enumerate(o.operands):
                tq = trained_quantizer(value, store)
                if tq is not None and tq[1].size == 1 and (i == 2 or not tq[3]):
                    src, theta, levels, signed = tq
                    la_thetas[(o, i)] = (float(theta.reshape(-1)[0]) * levels / self.levels, signed, src)
        la_targets = {
            o: [(i, len(o.operands[i].type.get_shape()) - 1) for i in range(3) if (o, i) not in la_thetas] for o in attention
        }
        la_targets = {o: t for o, t in la_targets.items() if t}
        if la_targets:
            stats.update(collect(op, store, calibration_of(ctx, op, self.calib_batches), la_targets))
        for o in attention:
            for i, value in enumerate(o.operands):
                if (o, i) in la_thetas:
                    continue
                s = stats[value]
                signed = i == 2 and s.min < 0
                clip = choose_clip(s, self.threshold, self.percentile, False, self.levels, signed)
                la_thetas[(o, i)] = (float(clip / self.levels), signed, value)
        samples = {p.x: stats[p.x].sample for p in plans.values()}
        patterns = [ConvertLinear(plans, thetas, trained, self, store, samples), ConvertLinearAttention(la_thetas, self.levels, store)]
        PatternRewriteWalker(GreedyRewritePatternApplier(patterns)).rewrite_module(op)
