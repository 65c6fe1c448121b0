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

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatch

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import IntegerType, ModuleOp, StringAttr, TensorType, f32, i64
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)

from nscc import fidelity
from nscc.arrays import RELEASE_BYTES, release_memory, trim_heap
from nscc.calibration import calibration_of, collect
from nscc.errors import NsccError, note
from nscc.ir import nn, snn
from nscc.ir.constants import new_weight
from nscc.ir.context import weights_of
from nscc.ir.signature import LAYER_ATTR
from nscc.ir.weights import WeightStore
from nscc.quant.attention import FRAC_BITS as ATTENTION_FRAC_BITS
from nscc.quant.attention import AttentionCode, attention_code, kv_source
from nscc.quant.fixed import fixed_point
from nscc.quant.plans import (
    BITS_ATTR,
    CODING_ATTR,
    CODINGS,
    GRANULARITIES,
    LEVELS_ATTR,
    ROUNDINGS,
    THRESHOLDS,
    Decisions,
    bits_attr,
    calibrated_theta,
    choose_clip,
    decay_shift,
    decision_key,
    encoder_input,
    goes_negative,
    layer_choice,
    layer_name,
    linear_plan,
    quantize_layer,
    relevelled_theta,
    trained_quantizer,
)
from nscc.quant.quantize import GROUP_SCALE_MAX, q_range, storage_bits, trained_grid, valid_width
from nscc.quant.rotation import rotate_streams
from nscc.semantics.folding import constant_value
from nscc.semantics.nn import prop

LINEAR = (nn.MatMulOp, nn.GemmOp, nn.ConvOp)

DEFAULT_LEVELS = 15


@dataclass
class PoolBeforeQuantizer(RewritePattern):
    """max_pool(quantize(y)) -> quantize(max_pool(y)), and the same for a reshape, for a trained
    quantizer with positive thresholds (one a tensor, or for pooling one a channel, axis 1): a
    rounding that never decreases commutes with a max, and any elementwise map with a reshape.
    The quantizer then sits right before the next layer, which encodes with its threshold
    (Brevitas and QONNX CNNs quantize after the ReLU, then pool and flatten)."""

    store: WeightStore

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.MaxPoolOp | nn.ReshapeOp, rewriter: PatternRewriter) -> None:
        tq = trained_quantizer(op.input, self.store)
        mul = op.input.owner
        if tq is None or not op.input.has_one_use() or np.any(tq.theta <= 0):
            return
        t = tq.theta
        per_channel = t.ndim == len(op.input.type.get_shape()) - 1 and all(d == 1 for d in t.shape[1:])
        if t.size > 1 and (isinstance(op, nn.ReshapeOp) or not per_channel):
            return  # a threshold that varies inside a window, or that a reshape would move
        if isinstance(op, nn.ReshapeOp) and t.ndim > 0:
            return  # a [1, 1, 1, 1] threshold would broadcast the reshaped value back to its old rank
        scale = mul.rhs if constant_value(mul.rhs, self.store) is not None else mul.lhs
        rnd = (mul.lhs if scale is mul.rhs else mul.rhs).owner
        clip = rnd.input.owner
        if isinstance(op, nn.MaxPoolOp):
            props = {k: prop(op, k) for k in ("kernel", "strides", "pads", "dilations")}
            moved = nn.MaxPoolOp(tq.source, op.res.type, **props, ceil_mode=op.ceil_mode is not None)
        else:
            moved = nn.ReshapeOp(tq.source, op.res.type)
        div = nn.DivOp(moved.res, scale, op.res.type)
        clipped = nn.ClipOp(div.res, op.res.type, min=clip.min.value.data, max=clip.max.value.data)
        rounded = nn.RoundOp(clipped.res, op.res.type)
        quantized = nn.MulOp(rounded.res, scale, op.res.type)
        rewriter.replace_op(op, [moved, div, clipped, rounded, quantized], [quantized.res])
        for dead in (mul, rnd, clip, clip.input.owner):
            if not any(r.uses for r in dead.results):
                rewriter.erase_op(dead)


@dataclass(frozen=True)
class InputCode:
    """What calibration decided for one layer's input: the layer's name (weights are
    named after it), and its calibration rows; theta and signedness unless a trained
    quantizer fixes them (`trained_quantizer`, read from the IR by the pattern)."""

    name: str
    sample: np.ndarray
    theta: np.ndarray | None = None
    signed: bool = False


@dataclass
class ConvertLinear(RewritePattern):
    """A linear op with constant weights -> encode (shared by the consumers of one
    activation at one level count), synapse, decode; by its plan (`linear_plan`,
    from the op) and the calibration decision filed under its layer name."""

    codes: Decisions[InputCode]
    options: "SpikeConversionPass"
    store: WeightStore
    readers: Counter  # weight name -> nn.weight ops that read it: a float weight goes with its last reader
    freed: int = 0  # bytes of float weights freed since the heap was last trimmed

    def _encoder(self, source: SSAValue, counts: snn.CountsType, theta: np.ndarray) -> SSAValue | None:
        """The counts an earlier layer already encoded from the same value with the same theta."""
        for use in source.uses:
            enc = use.operation
            if isinstance(enc, snn.EncodeOp) and use.index == 0 and enc.res.type == counts:
                t = constant_value(enc.theta, self.store)
                if t is not None and t.shape == theta.shape and np.array_equal(t, theta):
                    return enc.res
        return None

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.MatMulOp | nn.GemmOp | nn.ConvOp, rewriter: PatternRewriter) -> None:
        found = self.codes.for_linear(op, self.store)
        if found is None:
            return
        plan, code = found
        plan.name = code.name
        o = self.options
        bits, levels, group = layer_choice(op, o.weight_bits, o.d, o.group_size)
        new_ops: list[Operation] = []
        trained = trained_quantizer(plan.x, self.store)
        top = None
        if trained is not None:
            source, theta, trained_levels, signed, top = trained
            if not o.levels and LEVELS_ATTR not in op.attributes:  # the trained D, range and threshold as they are
                levels = trained_levels
            elif trained_levels != levels:  # keep the trained clipping range, spend fewer (or more) levels on it
                theta, top = relevelled_theta(theta, trained_levels, levels), None
        else:
            source, theta, signed = plan.x, code.theta, code.signed

        def weight(name: str, array: np.ndarray, elem=None) -> SSAValue:
            w = new_weight(self.store, name, array, elem)
            new_ops.append(w)
            return w.res

        x_shape = tuple(source.type.get_shape())
        theta_arr = theta.reshape((-1, 1, 1)) if plan.conv and theta.ndim == 1 else theta
        counts_type = snn.CountsType(x_shape, levels, signed, top)
        counts = self._encoder(encoder_input(source, signed), counts_type, theta_arr)
        if counts is None:
            th = weight(f"{layer_name(plan.name)}.theta", theta_arr, f32)
            enc = snn.EncodeOp(encoder_input(source, signed), th, counts_type)
            new_ops.append(enc)
            counts = enc.res
        theta = theta.reshape(-1) if theta.size > 1 else theta.reshape(())

        # a trained quantizer's layer keeps its bias: the model learned it with these counts
        correct = o.bias_correction and trained is None
        quant, bias, axis = quantize_layer(plan, theta, signed, levels, bits, group, code.sample, correct, o.rounding)
        wq = quant.q if not plan.conv else quant.q.T.reshape(plan.weight.shape)
        qw = weight(f"{plan.name}.q{storage_bits(bits)}", wq, IntegerType(storage_bits(bits)))
        fan_in = wq.shape[0] if not plan.conv else int(np.prod(wq.shape[1:]))
        acc_bits = o.accumulator_bits(fan_in, levels, bits, quant.group_scale is not None)
        acc_type = TensorType(IntegerType(acc_bits), list(op.results[0].type.get_shape()))
        if plan.conv:
            syn = snn.ConvSynapseOp(
                counts, qw, acc_type,
                strides=op.strides.get_values(), pads=op.pads.get_values(), dilations=op.dilations.get_values(),
                group=op.group.value.data, acc_bits=acc_bits,
            )  # fmt: skip
        else:
            gs = None if quant.group_scale is None else weight(f"{layer_name(plan.name)}.group_scale", quant.group_scale, IntegerType(8))
            syn = snn.SynapseOp(counts, qw, gs, acc_type, acc_bits=acc_bits)
        syn.attributes[LAYER_ATTR] = StringAttr(layer_name(plan.name))
        syn.attributes[BITS_ATTR] = bits_attr(bits)
        new_ops.append(syn)
        sc = weight(f"{layer_name(plan.name)}.scale", quant.scale, f32)
        bias = weight(f"{layer_name(plan.name)}.bias", bias, f32) if bias is not None else None
        dec = snn.DecodeOp(syn.res, sc, bias, op.results[0].type, axis=axis)
        new_ops.append(dec)
        if plan.full_bias is not None:
            fb = weight(f"{layer_name(plan.name)}.bias", plan.full_bias, f32)
            new_ops.append(nn.AddOp(dec.res, fb, op.results[0].type))
        old = op.operands[1].owner
        rewriter.replace(op, new_ops)
        self.codes.drop(layer_name(plan.name), [plan.x])  # its calibration rows: free them as the walk goes
        if isinstance(old, nn.WeightOp) and not old.res.uses:  # the float weight, if nothing else reads it
            name = old.sym.data
            rewriter.erase(old)
            self.readers[name] -= 1
            if self.readers[name] <= 0:
                self.freed += self.store.nbytes_of(name)
                self.store.discard(name)
                if self.freed >= RELEASE_BYTES:  # glibc keeps freed weights of this size in its heap
                    self.freed = 0
                    trim_heap()


def _attention_key(op: Operation) -> str:
    layer = op.attributes.get(LAYER_ATTR)
    return layer.data if isinstance(layer, StringAttr) else ""


def _trained_attention_input(op: nn.LinearAttentionOp, i: int, store: WeightStore, levels: int) -> tuple[float, bool, SSAValue] | None:
    """(theta at `levels`, signed, source) for an operand of linear attention the model
    was trained to quantize: one threshold per tensor, q and k unsigned."""
    tq = trained_quantizer(op.operands[i], store)
    if tq is not None and tq[1].size == 1 and (i == 2 or not tq[3]):
        src, theta, trained_levels, signed, _ = tq
        return float(theta.reshape(-1)[0]) * trained_levels / levels, signed, src
    return None


@dataclass
class ConvertLinearAttention(RewritePattern):
    """nn.linear_attention (relu features) -> encoded q, k, v -> snn.linear_attention -> rescale."""

    codes: Decisions[list]  # per operand, calibrated (theta, signed[, theta of the map's input, signed]) or None (trained)
    levels: int
    store: WeightStore
    attention_levels: int

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.LinearAttentionOp, rewriter: PatternRewriter) -> None:
        code = self.codes.get(_attention_key(op), op.operands) if op.feature.data == "relu" else None
        exact_sum = op.decay.value.data == 1.0  # bidirectional or masked sums have no decayed form
        if code is None or ((op.causal is None or op.mask is not None) and not exact_sum):
            return
        new: list[Operation] = []
        counts, th = [], []
        maps = _feature_maps(op)
        levels = self.attention_levels if maps else self.levels
        for i in range(3):
            if len(code[i] or ()) == 4:
                theta, c = spiking_feature_map(self.store, op.operands[i].owner, code[i], levels, new)
            else:
                theta, signed, source = _trained_attention_input(op, i, self.store, levels) or (*code[i], op.operands[i])
                w = new_weight(self.store, "attention.theta", np.array(theta, np.float32))
                enc = snn.EncodeOp(encoder_input(source, signed), w.res, snn.CountsType(source.type.get_shape(), levels, signed))
                new += [w, enc]
                c = enc.res
            counts.append(c)
            th.append(theta)
        vshape = list(op.v.type.get_shape())
        mask = None
        if op.mask is not None:
            fx = snn.FixedEncodeOp(op.mask, frac_bits=ATTENTION_FRAC_BITS)
            new.append(fx)
            mask = fx.res
        la = snn.LinearAttentionOp(*counts, mask, decay_shift=decay_shift(op.decay.value.data), bidirectional=op.causal is None,
                                   frac_bits=ATTENTION_FRAC_BITS if mask is not None else None)  # fmt: skip
        if LAYER_ATTR in op.attributes:
            la.attributes[LAYER_ATTR] = op.attributes[LAYER_ATTR]
        new.append(la)
        f32_out = op.res.type
        num = nn.CastOp(la.num, f32_out)
        new.append(num)
        if op.normalize:
            den_in = nn.ReshapeOp(la.den, TensorType(i64, vshape[:-1] + [1]))
            den = nn.CastOp(den_in.res, TensorType(f32, vshape[:-1] + [1]))
            eps = new_weight(self.store, "attention.eps", np.array(1e-6 / (th[0] * th[1]), np.float32))
            den_eps = nn.AddOp(den.res, eps.res, den.res.type)
            ratio = nn.DivOp(num.res, den_eps.res, f32_out)
            scale = new_weight(self.store, "attention.scale", np.array(th[2], np.float32))
            out = nn.MulOp(ratio.res, scale.res, f32_out)
            new += [den_in, den, eps, den_eps, ratio, scale, out]
        else:
            scale = new_weight(self.store, "attention.scale", np.array(th[0] * th[1] * th[2], np.float32))
            out = nn.MulOp(num.res, scale.res, f32_out)
            new += [scale, out]
        rewriter.replace(op, new)
        for fm in maps:
            if not fm.res.uses:
                rewriter.erase(fm)


def spiking_feature_map(store: WeightStore, fm: nn.FeatureMapOp, code: tuple, levels: int, new: list[Operation]) -> tuple[float, SSAValue]:
    """nn.feature_map -> its input encoded per feature -> snn.feature_map (the thresholds
    folded into the map's weights, int8 per head, the logit scale one multiplier per head)."""
    theta_phi, _, theta_x, signed = code
    w = constant_value(fm.weight, store).astype(np.float64) * np.asarray(theta_x, np.float64)[None, :, None]
    scale = np.maximum(np.abs(w).max(axis=(1, 2)), 1e-30) / 127.0
    wq = np.clip(np.rint(w / scale[:, None, None]), -127, 127).astype(np.int8)
    mult, shift = fixed_point(scale * 2.0**ATTENTION_FRAC_BITS, 24)
    divisor = max(1, round(theta_phi * 2**ATTENTION_FRAC_BITS))
    name = _attention_key(fm) or "attention"
    tw = new_weight(store, f"{name}.feature_theta", np.asarray(theta_x, np.float32))
    x = fm.input
    enc = snn.EncodeOp(x, tw.res, snn.CountsType(x.type.get_shape(), levels, signed))
    wv = new_weight(store, f"{name}.feature_map.q8", wq, IntegerType(8))
    mv = new_weight(store, f"{name}.feature_map.multiplier", mult.astype(np.int64), i64)
    sfm = snn.FeatureMapOp(enc.res, wv.res, mv.res, levels=levels, shift=shift, frac_bits=ATTENTION_FRAC_BITS, divisor=divisor)
    new += [tw, enc, wv, mv, sfm]
    return divisor / 2.0**ATTENTION_FRAC_BITS, sfm.res


def _feature_maps(op: nn.LinearAttentionOp) -> list[nn.FeatureMapOp]:
    """The fitted maps (`linear-attention{feature=hedgehog}`) that give phi(q) and phi(k)."""
    return [o.owner for o in (op.q, op.k) if isinstance(o.owner, nn.FeatureMapOp)]


def encode_qkv(store: WeightStore, op: nn.AttentionOp | nn.WindowAttentionOp, code: AttentionCode, name: str, levels: int,
               new: list[Operation]) -> list[SSAValue]:  # fmt: skip
    """q, k and v encoded with softmax attention's thresholds (k and v once per key-value head)."""
    counts = []
    for x, theta, signed, what in zip((op.q, op.k, op.v), (code.theta_q, code.theta_k, code.theta_v), code.signed, "qkv"):
        source = kv_source(x)[0] if what != "q" else x
        w = new_weight(store, f"{name}.{what}_theta", theta, f32)
        enc = snn.EncodeOp(encoder_input(source, signed), w.res, snn.CountsType(source.type.get_shape(), levels, signed))
        new += [w, enc]
        counts.append(enc.res)
    return counts


def decoded(store: WeightStore, op: Operation, att: Operation, name: str, theta_v: np.ndarray) -> list[Operation]:
    """`att` (an integer attention of F fraction bits in units of v's counts), named `name`,
    then decoded by v's thresholds times 2^-F into `op`'s float result."""
    att.attributes[LAYER_ATTR] = StringAttr(name)
    scale = new_weight(store, f"{name}.scale", theta_v * np.float32(2.0**-ATTENTION_FRAC_BITS), f32)
    return [att, scale, snn.DecodeOp(att.res, scale.res, None, op.res.type, axis=len(op.res.type.get_shape()) - 1)]


@dataclass
class ConvertSoftmaxAttention(RewritePattern):
    """nn.attention -> q, k, v encoded as counts (k and v once per key-value head) ->
    snn.attention (integer scores, integer softmax, counts weighted by the
    probabilities) -> decode by the value thresholds."""

    codes: Decisions[AttentionCode]
    store: WeightStore
    levels: int

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.AttentionOp, rewriter: PatternRewriter) -> None:
        code = self.codes.get(_attention_key(op), op.operands)
        if code is None:
            return
        new: list[Operation] = []
        name = _attention_key(op) or "attention"
        counts = encode_qkv(self.store, op, code, name, self.levels, new)
        mask = None
        if op.mask is not None:
            fx = snn.FixedEncodeOp(op.mask, frac_bits=ATTENTION_FRAC_BITS)
            new.append(fx)
            mask = fx.res
        att = snn.AttentionOp(
            *counts, mask, multiplier=code.multiplier, shift=code.shift, frac_bits=ATTENTION_FRAC_BITS, causal=op.causal is not None
        )
        rewriter.replace(op, [*new, *decoded(self.store, op, att, name, code.theta_v)])


@dataclass(frozen=True)
class WindowCode:
    """What calibration decided for one nn.window_attention: the softmax part's thresholds
    and logit scale, and each feature map's (theta of phi, theta per feature of its input)."""

    attention: AttentionCode
    maps: tuple[tuple, tuple]  # (theta_phi, None, theta_x, signed_x) for pq and pk, as linear attention's


@dataclass
class ConvertWindowAttention(RewritePattern):
    """nn.window_attention -> q, k, v encoded as snn.attention's, the feature maps as
    snn.feature_map -> snn.window_attention (the linear part's factor one multiplier per
    head, in units of the softmax part's exp) -> decode by the value thresholds."""

    codes: Decisions[WindowCode]
    store: WeightStore
    levels: int

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.WindowAttentionOp, rewriter: PatternRewriter) -> None:
        code = self.codes.get(_attention_key(op), op.operands)
        maps = [op.pq.owner, op.pk.owner]
        r = constant_value(op.factor, self.store)
        if code is None or op.mask is not None or r is None or not all(isinstance(m, nn.FeatureMapOp) for m in maps):
            return
        c, new = code.attention, []
        name = _attention_key(op) or "attention"
        counts = encode_qkv(self.store, op, c, name, self.levels, new)
        theta_phi = []
        for fm, mc in zip(maps, code.maps):
            theta, cnt = spiking_feature_map(self.store, fm, mc, self.levels, new)
            theta_phi.append(theta)
            counts.append(cnt)
        # phi(q) . phi(k) = theta_pq theta_pk (counts' product); the softmax part's exp is 1 at 2^F
        mult, fshift = fixed_point(np.asarray(r, np.float64) * theta_phi[0] * theta_phi[1] * 2.0**ATTENTION_FRAC_BITS, 24)
        fw = new_weight(self.store, f"{name}.window_factor.multiplier", mult.astype(np.int64), i64)
        att = snn.WindowAttentionOp(*counts, fw.res, multiplier=c.multiplier, shift=c.shift, frac_bits=ATTENTION_FRAC_BITS,
                                    window=prop(op, "window"), sinks=prop(op, "sinks"), factor_shift=fshift)  # fmt: skip
        rewriter.replace(op, [*new, fw, *decoded(self.store, op, att, name, c.theta_v)])
        for fm in maps:
            if not fm.res.uses:
                rewriter.erase(fm)


@dataclass(frozen=True)
class SpikeConversionPass(ModulePass):
    """Turns linear layers into integer spike counting: encode, synaptic accumulation, decode.

    Options: `levels` D (counts in [0, D], or [-D, D] for inputs that go negative; 0, the
    default: 15, and a trained quantizer's own D and range where the model has one);
    `coding` thermometer | bitplane | ternary (ternary forces signed counts; the
    binary form itself is chosen by `binary-expand`); `threshold` percentile | max |
    mse | output (per layer, the candidate that changes its output least), with
    `percentile`; `granularity` auto (the default: per input channel for matrix
    products, folded into the weights, since pretrained transformers' outlier
    channels need it; per tensor for convolutions; with threshold=output matrix
    products try both) | per-channel | per-tensor;
    `rotate` (first rotate the residual streams, as `rotate-residual` does);
    `weight-bits` 1.58 (ternary) or 2..16;
    `group-size` (0: one scale per output channel; g: every g input rows of a
    column get their own scale, an integer multiple 1..127 of the column's, where
    that rounds closer; linear layers only); `acc-bits` (0: 32, or 64 where 32
    could overflow);
    `bias-correction` (fold the mean quantization error into the bias);
    `rounding` gptq | nearest (below 8 bits, GPTQ's error-feedback rounding
    from the calibration Gram matrix, or each weight to its nearest);
    `keep-dense` layer names or globs to leave dense (e.g. `keep-dense=head`, or an
    attention layer's name);
    `attention` spiking | float: softmax attention (`nn.attention`, from
    `raise-attention`) over spike counts of q, k and v with the integer softmax
    (`snn.attention`; thresholds in `nscc.quant.attention`), or left in float; the same
    for sliding-window hybrids (`nn.window_attention`, `snn.window_attention`: the
    window's softmax as snn.attention's, the far keys through snn.feature_map counts);
    `attention-levels` D of q, k and v there (0: `levels` clamped to [31, 127].
    Each halving of D doubles the attention's own error, 27% of its output at 15
    on SmolLM2, 14% at 31, 3.5% at 127; at D = 15 the perplexity is the same from
    31 up and more spikes cost energy; a KV cache holds a byte a count up to 127);
    `calib-batches` (random batches when no --calib data is given);
    `measure-batches` (0: do not measure) calibration batches on which the converted
    model is compared with the float one (held out of calibration when there are at
    least twice as many and two more): one line of fidelity (relative error,
    top-1 agreement and KL of score outputs), a warning naming the layers whose
    error grows most when it is far, and the figures in `--report`.
    Layers annotated by `bit-allocation` (`nscc.weight_bits`, `nscc.levels`)
    keep their own width and D.
    """

    name = "spike-conversion"
    levels: int = 0
    coding: str = "thermometer"
    threshold: str = "percentile"
    percentile: float = 99.99
    granularity: str = "auto"
    weight_bits: int | float = 8
    group_size: int = 0
    acc_bits: int = 0
    calib_batches: int = 8
    bias_correction: bool = True
    rounding: str = "gptq"
    keep_dense: tuple[str, ...] = ()
    measure_batches: int = 2
    rotate: bool = False
    attention: str = "spiking"
    attention_levels: int = 0

    def __post_init__(self) -> None:
        checks = [
            (0 <= self.levels <= 32767, "levels must be 0 (a trained quantizer's own, else 15) or in [1, 32767]"),
            (self.coding in CODINGS, f"coding must be one of {', '.join(CODINGS)}"),
            (self.threshold in THRESHOLDS, f"threshold must be one of {', '.join(THRESHOLDS)}"),
            (0 < self.percentile <= 100, "percentile must be in (0, 100]"),
            (self.granularity in GRANULARITIES, f"granularity must be one of {', '.join(GRANULARITIES)}"),
            (valid_width(self.weight_bits), "weight-bits must be 1.58 (ternary) or an integer in [2, 16]"),
            (self.group_size >= 0, "group-size must be 0 (per output channel) or a positive row count"),
            (self.acc_bits in (0, 16, 32, 64), "acc-bits must be 0 (the narrowest that cannot overflow, 32 or 64), 16, 32 or 64"),
            (self.calib_batches >= 1, "calib-batches must be at least 1"),
            (self.measure_batches >= 0, "measure-batches must be 0 (no measurement) or more"),
            (self.rounding in ROUNDINGS, f"rounding must be one of {', '.join(ROUNDINGS)}"),
            (self.attention in ("spiking", "float"), "attention must be spiking or float"),
            (0 <= self.attention_levels <= 32767, "attention-levels must be 0 (levels within [31, 127]) or in [1, 32767]"),
        ]
        for ok, msg in checks:
            if not ok:
                raise NsccError(f"spike-conversion: {msg}", "`nscc passes` lists the options")

    @property
    def attention_d(self) -> int:
        return self.attention_levels or min(max(self.d, 31), 127)

    @property
    def d(self) -> int:
        """D where no trained quantizer fixes it."""
        return self.levels or DEFAULT_LEVELS

    def accumulator_bits(self, fan_in: int, levels: int, bits: float, grouped: bool) -> int:
        """`acc-bits`, or with 0 the narrowest of 32 and 64 that no input can overflow."""
        if self.acc_bits:
            return self.acc_bits
        worst = fan_in * levels * (1 << (storage_bits(bits) - 1)) * (GROUP_SCALE_MAX if grouped else 1)
        return 32 if worst < 2**31 else 64

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        store = weights_of(ctx)
        op.attributes[CODING_ATTR] = StringAttr(self.coding)
        if self.rotate:
            rotate_streams(op, store)
        PatternRewriteWalker(PoolBeforeQuantizer(store)).rewrite_module(op)
        # every layer's and attention's inputs watched in one pass over the calibration batches
        calibrations = [self._calibrate_linear(op, store), self._calibrate_attention(op, store), self._calibrate_softmax_attention(op),
                        self._calibrate_window_attention(op)]  # fmt: skip
        targets = {o: t for watched, _ in calibrations for o, t in watched.items()}
        stats = collect(op, store, self._batches(ctx, op, self._decides(op, store, calibrations))[0], targets) if targets else {}
        codes, attention, softmax, window = (decide(stats) for _, decide in calibrations)
        del stats
        release_memory(store.nbytes)  # the statistics only the decisions' samples are left of; those go as layers convert
        # the float model's outputs on the measuring batches, taken now: then each float weight
        # can go as its layer converts (SmolLM2 held both sets: 3.1x the ONNX file at the peak)
        ref = self._reference(ctx, op, store) if self.measure_batches and (codes or attention or softmax or window) else None
        readers = Counter(o.sym.data for o in op.walk() if isinstance(o, nn.WeightOp))
        patterns = [
            ConvertLinear(codes, self, store, readers),
            ConvertLinearAttention(attention, self.d, store, self.attention_d),
            ConvertSoftmaxAttention(softmax, store, self.attention_d),
            ConvertWindowAttention(window, store, self.attention_d),
        ]
        PatternRewriteWalker(GreedyRewritePatternApplier(patterns)).rewrite_module(op)
        del patterns, codes, attention, softmax, window  # the calibration samples: the measurement needs the memory
        release_memory(store.nbytes)
        if ref is not None:
            self._report_fidelity(ctx, ref, op, store)

    def _batches(self, ctx: Context, op: ModuleOp, decides: bool = True) -> tuple[list, list]:
        """(calibration batches, held-out batches): with enough data the last
        `measure-batches` are kept out of calibration, so that the fidelity line
        measures text the thresholds were not fitted on (on SmolLM2 the calibration
        text can come out exact while new text loses 10%)."""
        batches = calibration_of(ctx, op, self.calib_batches, decides)
        m = self.measure_batches
        if m and len(batches) >= 2 * m + 2:
            return batches[:-m], batches[-m:]
        return batches, []

    def _reference(self, ctx: Context, op: ModuleOp, store: WeightStore) -> tuple[fidelity.Reference, bool]:
        """The float model's outputs on the held-out batches (else the first calibration ones)."""
        fit, held = self._batches(ctx, op, decides=False)  # only measuring: if no layer was calibrated, say so
        return fidelity.reference(op, store, held or fit[: self.measure_batches]), bool(held)

    def _report_fidelity(self, ctx: Context, ref: tuple[fidelity.Reference, bool], after: ModuleOp, store: WeightStore) -> None:
        fid = fidelity.compare(ref[0], after, store)
        fid.held_out = ref[1]
        reports = getattr(ctx, "pass_reports", None)
        if reports is not None:
            reports.setdefault(self.name, {})["fidelity"] = fid.as_dict()
        if fid.far():
            worst = ", ".join(fid.worst_layers())
            note(
                fid.line("spike-conversion changed the model's function")
                + (f"; the error grows most in {worst}" if worst else "")
                + " (hint: more levels, or keep-dense for those layers)",
                "warning",
            )
        else:
            note(fid.line("spike-conversion"))

    # Each _calibrate_* returns (the operands to watch, by op: collect's targets; the decision
    # from their statistics), so that `apply` runs the model over the batches once for all.

    def _decides(self, op: ModuleOp, store: WeightStore, calibrations: list) -> bool:
        """Whether calibration data will choose anything: not when every layer is linear, reads a
        trained quantizer and has weights on a trained grid (a QONNX model)."""
        if any(watched for watched, _ in calibrations[1:]):
            return True
        for layer in calibrations[0][0]:
            plan = linear_plan(layer, store)
            if plan is None or trained_quantizer(plan.x, store) is None:
                return True
            w = plan.weight.reshape(plan.weight.shape[0], -1).T if plan.conv else plan.weight
            if trained_grid(np.asarray(w, np.float32), *q_range(layer_choice(layer, self.weight_bits, self.d, self.group_size)[0])) is None:
                return True
        return False

    def _calibrate_linear(self, op: ModuleOp, store: WeightStore) -> tuple[dict, Callable[[dict], Decisions[InputCode]]]:
        """Thresholds and calibration rows of every linear layer's input, by layer name."""
        plans, memo = [], {}  # one folding memo for the whole (unchanged) module
        for i, o in enumerate(o for o in op.walk() if isinstance(o, LINEAR)):
            plan = linear_plan(o, store, i, memo)
            if plan is not None and not any(fnmatch(layer_name(plan.name), pat) for pat in self.keep_dense):
                plans.append(plan)
        for p in plans:
            group = layer_choice(p.op, self.weight_bits, self.d, self.group_size)[2]
            if not p.conv and group and p.weight.shape[0] % group:
                raise NsccError(
                    f"spike-conversion: group-size {group} does not divide the {p.weight.shape[0]} inputs of layer '{layer_name(p.name)}'",
                    "pick a group size that divides every layer's input width, or group-size=0",
                )
        targets = {p.op: [(0, 1 if p.conv else len(p.x.type.get_shape()) - 1)] for p in plans}
        return targets, lambda stats: self._decide_linear(plans, stats, store)

    def _decide_linear(self, plans: list, stats: dict, store: WeightStore) -> Decisions[InputCode]:
        codes: Decisions[InputCode] = Decisions()
        for p in plans:
            s = stats[p.x]
            code = InputCode(p.name, s.sample)
            if trained_quantizer(p.x, store) is None:
                bits, levels = layer_choice(p.op, self.weight_bits, self.d, self.group_size)[:2]
                signed = self.coding == "ternary" or goes_negative(s)
                code = InputCode(
                    p.name,
                    s.sample,
                    calibrated_theta(s, levels, self.threshold, self.percentile, self.granularity, signed, p, bits),
                    signed,
                )
            codes.add(decision_key(p.op, store), [p.x], code)
        return codes

    def _calibrate_attention(self, op: ModuleOp, store: WeightStore) -> tuple[dict, Callable[[dict], Decisions[list]]]:
        """Linear attention: phi(q) = relu(q) and phi(k) are unsigned counts (the clip at
        0 is the relu), v signed where it goes negative; one threshold per tensor,
        since per-feature thresholds of q and k would not factor out of q . k. Operands
        the model was trained to quantize keep their trained thresholds (the pattern reads them)."""
        attention = [o for o in op.walk() if isinstance(o, nn.LinearAttentionOp) and o.feature.data == "relu"]
        calibrate = {o: [i for i in range(3) if _trained_attention_input(o, i, store, self.d) is None] for o in attention}
        targets = {o: [(i, len(o.operands[i].type.get_shape()) - 1) for i in idx] for o, idx in calibrate.items() if idx}
        maps = [fm for o in attention for fm in _feature_maps(o)]
        targets.update({fm: [(0, len(fm.input.type.get_shape()) - 1)] for fm in maps})
        return targets, lambda stats: self._decide_attention(attention, calibrate, stats)

    def _decide_attention(self, attention: list, calibrate: dict, stats: dict) -> Decisions[list]:
        """Per operand (theta, signed); behind a fitted feature map (nn.feature_map) the
        thresholds of phi and of the map's input, per feature, at `attention-levels`."""
        codes: Decisions[list] = Decisions()
        for o in attention:
            code: list = [None, None, None]
            levels = self.attention_d if _feature_maps(o) else self.d
            for i in calibrate[o]:
                s = stats[o.operands[i]]
                signed = i == 2 and s.min < 0
                clip = choose_clip(s, self.threshold, self.percentile, False, levels, signed)
                code[i] = (float(clip / levels), signed)
                fm = o.operands[i].owner
                if isinstance(fm, nn.FeatureMapOp):
                    x = stats[fm.input]
                    signed_x = goes_negative(x)
                    clip_x = choose_clip(x, "percentile", self.percentile, True, levels, signed_x)
                    code[i] = (*code[i], clip_x / levels, signed_x)
            codes.add(_attention_key(o), o.operands, code)
        return codes

    def _calibrate_softmax_attention(self, op: ModuleOp) -> tuple[dict, Callable[[dict], Decisions[AttentionCode]]]:
        """Softmax attention: per-feature clipping ranges of q, k and v on the calibration
        batches, turned into thresholds by `nscc.quant.attention.attention_code`."""
        found = []
        if self.attention == "spiking":
            found = [
                o for o in op.walk() if isinstance(o, nn.AttentionOp) and not any(fnmatch(_attention_key(o), p) for p in self.keep_dense)
            ]
        targets = {o: [(i, len(o.operands[i].type.get_shape()) - 1) for i in range(3)] for o in found}
        return targets, lambda stats: self._decide_softmax_attention(found, stats)

    def _calibrate_window_attention(self, op: ModuleOp) -> tuple[dict, Callable[[dict], Decisions[WindowCode]]]:
        """Sliding-window hybrids: q, k and v as softmax attention's, phi(q) and phi(k) one
        threshold each (their product is what the linear part sums), the maps' inputs per feature."""
        found = []
        if self.attention == "spiking":
            found = [o for o in op.walk() if isinstance(o, nn.WindowAttentionOp) and o.mask is None
                     and all(isinstance(x.owner, nn.FeatureMapOp) for x in (o.pq, o.pk))
                     and not any(fnmatch(_attention_key(o), p) for p in self.keep_dense)]  # fmt: skip
        targets = {o: [(i, len(o.operands[i].type.get_shape()) - 1) for i in range(5)] for o in found}
        # the key map reads k before its heads are repeated: its own input's statistics
        targets.update({x.owner: [(0, len(x.owner.input.type.get_shape()) - 1)] for o in found for x in (o.pq, o.pk)
                        if isinstance(x.owner, nn.FeatureMapOp)})  # fmt: skip
        return targets, lambda stats: self._decide_window_attention(found, stats)

    def _decide_window_attention(self, found: list, stats: dict) -> Decisions[WindowCode]:
        codes: Decisions[WindowCode] = Decisions()
        softmax = self._decide_softmax_attention(found, stats)
        d = self.attention_d
        for o in found:
            maps = []
            for phi in (o.pq, o.pk):
                x = phi.owner.input
                clip = choose_clip(stats[phi], self.threshold if self.threshold != "output" else "percentile", self.percentile, False, d, False)
                signed_x = goes_negative(stats[x])
                maps.append((float(clip / d), False, choose_clip(stats[x], "percentile", self.percentile, True, d, signed_x) / d, signed_x))
            codes.add(_attention_key(o), o.operands, WindowCode(softmax.get(_attention_key(o), o.operands), tuple(maps)))
        return codes

    def _decide_softmax_attention(self, found: list, stats: dict) -> Decisions[AttentionCode]:
        codes: Decisions[AttentionCode] = Decisions()
        for o in found:
            s = [stats[o.operands[i]] for i in range(3)]
            signed = tuple(self.coding == "ternary" or goes_negative(x) for x in s)
            d = self.attention_d
            clips = [choose_clip(x, self.threshold if self.threshold != "output" else "percentile", self.percentile, True, d, sg)
                     for x, sg in zip(s, signed)]  # fmt: skip
            codes.add(_attention_key(o), o.operands, attention_code(*clips, signed, d, o.scale.value.data))
        return codes
