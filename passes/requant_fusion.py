"""Pass `requant-fusion`: decode, an optional ReLU and the next encode become one integer requantization.

After `spike-conversion`, consecutive spiking layers meet in real numbers:

    acc --snn.decode--> y = acc * s + b --nn.relu--> --snn.encode--> clip(round(y / theta), lo, D)

That is a per-channel affine map of an integer followed by rounding, which
integer hardware computes as `snn.requant`: n = clip(((acc + B) * M + 2^(k-1)) >> k, lo, D)
with M / 2^k = s / theta and B = round(b / s). The ReLU disappears into the
lower clip bound when the counts are unsigned. What remains real-valued is
only where the model needs it (the network's input and output, and islands
such as normalisation), so an MLP or a chain of convolutions runs in
integers from its first encode to its last decode.

The fixed-point form rounds differently from the float path only when a
value sits within about 2^-(k-20) of a rounding boundary, so the two agree
almost everywhere; tests bound the difference on real models.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, TensorType
from xdsl.ir import SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)

from nscc.errors import NsccError
from nscc.ir import nn, snn
from nscc.ir.constants import new_weight
from nscc.ir.context import weights_of
from nscc.ir.weights import WeightStore
from nscc.quant.fixed import fixed_point, per_channel
from nscc.semantics.folding import constant_value
from nscc.semantics.nn import prop


def accumulator_bound(acc: SSAValue, store: WeightStore) -> int:
    """The largest |acc| a synapse with constant weights can sum (fan-in x largest count x
    largest weight, per column), else its type's range."""
    syn = acc.owner
    if isinstance(syn, snn.SynapseOp | snn.ConvSynapseOp):
        w = constant_value(syn.weight, store)
        t = syn.input.type
        if w is not None and isinstance(t, snn.CountsType) and getattr(syn, "group_scale", None) is None:
            w = np.abs(w.astype(np.int64))
            per_out = w.sum(axis=0) if isinstance(syn, snn.SynapseOp) else w.reshape(w.shape[0], -1).sum(axis=1)
            return int(per_out.max(initial=0)) * max(t.levels.data, 1)
    return 2 ** (acc.type.element_type.width.data - 1)


@dataclass
class FuseRequant(RewritePattern):
    store: WeightStore
    multiplier_bits: int

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: snn.EncodeOp, rewriter: PatternRewriter) -> None:
        ct: snn.CountsType = op.res.type
        owner, pool, flat = op.input.owner, None, None
        for _ in range(4):  # a relu, a max pooling and a flattening between, in that order or another
            if isinstance(owner, nn.ReluOp) and not ct.signed.data:  # relu + signed counts is not a clip: leave it
                owner = owner.input.owner
            elif isinstance(owner, nn.MaxPoolOp) and pool is None and owner.res.has_one_use():
                pool, owner = owner, owner.input.owner
            elif isinstance(owner, nn.ReshapeOp) and flat is None and owner.res.has_one_use():
                flat, owner = owner, owner.input.owner
        if not isinstance(owner, snn.DecodeOp):
            return
        dec = owner
        acc_type = dec.input.type
        rank = len(acc_type.get_shape())
        axis = dec.axis.value.data % rank
        channels = acc_type.get_shape()[axis]
        if (pool is not None or flat is not None) and (axis != 1 or (pool is not None and rank != 4)):
            return  # pooling commutes with the requantization only across positions of one channel
        if flat is not None:
            rows, per_sample = flat.res.type.get_shape()[0], flat.res.type.get_shape()[1:]
            if rows != acc_type.get_shape()[0] or len(per_sample) != 1:
                return  # only flattening each sample: channel c then owns a run of positions
        scale = constant_value(dec.scale, self.store)
        theta = constant_value(op.theta, self.store)
        bias = constant_value(dec.bias, self.store) if dec.bias is not None else None
        if scale is None or theta is None or (dec.bias is not None and bias is None):
            return
        scale_c = np.broadcast_to(scale.astype(np.float64).reshape(-1), (channels,))
        bias_c = np.broadcast_to(bias.astype(np.float64).reshape(-1), (channels,)) if bias is not None else None
        if flat is not None:  # a channel's constants repeat over its positions of the flattened sample
            positions = flat.res.type.get_shape()[1] // channels
            scale_c = np.repeat(scale_c, positions)
            bias_c = np.repeat(bias_c, positions) if bias_c is not None else None
            channels, axis = len(scale_c), 1
        theta_c = per_channel(theta, axis, channels, op.input.type.get_shape())
        if theta_c is None:
            return
        if np.any(scale_c <= 0) or np.any(theta_c <= 0):
            return
        mult, shift = fixed_point(scale_c / theta_c, self.multiplier_bits)
        new = []

        def weight(name, arr):
            w = new_weight(self.store, name, arr)
            new.append(w)
            return w.res

        base = dec.scale.owner.sym.data.removesuffix(".scale") if isinstance(dec.scale.owner, nn.WeightOp) else "requant"
        m = weight(f"{base}.multiplier", mult.astype(np.int32))
        acc = dec.input
        if pool is not None:  # every step from acc to counts never decreases: max pool the integers
            props = {k: prop(pool, k) for k in ("kernel", "strides", "pads", "dilations")}
            pooled = nn.MaxPoolOp(
                acc, TensorType(acc.type.element_type, pool.res.type.get_shape()), **props, ceil_mode=pool.ceil_mode is not None
            )
            new.append(pooled)
            acc = pooled.res
        if flat is not None:
            reshaped = nn.ReshapeOp(acc, TensorType(acc.type.element_type, flat.res.type.get_shape()))
            new.append(reshaped)
            acc = reshaped.res
        operands = [acc, m]
        frac = 0
        if bias is not None:
            in_acc = bias_c / scale_c
            frac = snn.requant_bias_frac(in_acc, accumulator_bound(dec.input, self.store), int(np.abs(mult).max()), shift)
            b = np.rint(in_acc * 2.0**frac)
            operands.append(weight(f"{base}.ibias", np.clip(b, -(2**31), 2**31 - 1).astype(np.int32)))
        else:
            operands.append(None)
        req = snn.RequantOp(*operands, ct, shift=shift + frac, axis=axis, bias_frac=frac)
        new.append(req)
        rewriter.replace(op, new)


@dataclass(frozen=True)
class RequantFusionPass(ModulePass):
    """Fuses decode -> (relu) -> encode between spiking layers into integer snn.requant."""

    name = "requant-fusion"
    multiplier_bits: int = 24

    def __post_init__(self) -> None:
        if not 8 <= self.multiplier_bits <= 31:
            raise NsccError("requant-fusion: multiplier-bits must be in [8, 31]", "24 keeps (acc + bias) * M inside 64 bits")

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(GreedyRewritePatternApplier([FuseRequant(weights_of(ctx), self.multiplier_bits)])).rewrite_module(op)
