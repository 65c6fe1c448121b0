"""Pass `integer-islands`: the non-spiking islands in fixed point, integers only.

After `spike-conversion` the ops between spiking layers (LayerNorm, softmax,
GELU, residual adds, ReLU, and the reshapes around them) still compute in
float. This pass carries them over to fixed point, a tensor<...xi32> `v`
standing for v * 2^-F (`frac-bits`, 16), in the manner of I-BERT:

* `snn.decode` of an accumulator becomes `snn.requant` to fixed point;
* `nn.layer_norm`, `nn.softmax`, `nn.gelu` become `snn.fixed_layer_norm`,
  `snn.fixed_softmax`, `snn.fixed_gelu` (integer mean, variance and square
  root; a base-2 exponential from a quadratic and a shift; I-BERT's erf);
* the Llama family's `nn.rms_norm`, `nn.silu` (after `fuse-rms-norm`,
  `fuse-silu`) become `snn.fixed_rms_norm`, `snn.fixed_silu`; a product with a
  fixed-point operand that is not a per-channel scale (the SwiGLU gate, RoPE's
  cos and sin tables) becomes `snn.fixed_mul`, and RoPE's `nn.neg` a product by -1;
* `online-hadamard`'s `nn.hadamard` becomes `snn.fixed_hadamard`; `token-scale`'s
  largest magnitude per token is an integer abs and maximum, its division `snn.fixed_div`;
* `nn.add` becomes the saturating `snn.fixed_add`, `nn.relu`, pooling
  (max exact, average `round_div`) and data movement ops work on the
  integers unchanged;
* `snn.encode` of a fixed-point value becomes `snn.requant` to counts;
* linear attention's normalisation `num / (den + eps)` becomes
  `snn.fixed_div` of the integers, a product with a constant a
  `snn.requant`, and an embedding table read by an island a fixed-point table,
  so that a linear-attention decoder is integer from token ids to logits
  accumulators (what the VCK190 kernel needs).

Where a float op still needs a converted value (the products of two
activations, until `linear-attention` removes them) a `snn.fixed_decode`
hands it over; a float value entering an island gets a `snn.fixed_encode`.
Each op family is one pattern (`ISLAND_PATTERNS`). A converted op is
replaced by its fixed-point form followed by a `snn.fixed_decode` to float,
so every consumer still type-checks; an island op reading a decode takes the
integers before it, and decodes (and constants) nobody reads any more are
removed by dead-code elimination after the walk.

The fixed-point functions approximate the float ones (LayerNorm within
about 3e-3, softmax 6e-4, GELU 2e-2 on unit-scale inputs); their integer
semantics are exact and written in docs/semantics.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import IntegerType, ModuleOp, StringAttr, TensorType, i32
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.transforms.dead_code_elimination import RemoveUnusedOperations

from nscc.errors import NsccError
from nscc.ir import nn, snn
from nscc.ir.constants import new_weight, source_weight
from nscc.ir.context import weights_of
from nscc.ir.signature import LAYER_ATTR
from nscc.ir.types import np_dtype
from nscc.ir.weights import WeightStore
from nscc.quant.fixed import fixed_point, saturate_i32, to_fixed
from nscc.semantics.fixed import ALPHA_BITS, GAMMA_BITS
from nscc.semantics.folding import constant_value

MOVEMENT = (nn.ReshapeOp, nn.TransposeOp, nn.SliceOp, nn.BroadcastOp, nn.SplitOp, nn.ConcatOp, nn.MaxPoolOp, nn.AvgPoolOp)
ISLAND = (
    nn.LayerNormOp, nn.RMSNormOp, nn.SoftmaxOp, nn.GeluOp, nn.SiluOp, nn.HadamardOp, nn.AddOp, nn.ReluOp, nn.MulOp, nn.NegOp,
    nn.AbsOp, nn.ReduceMaxOp, nn.DivOp, snn.EncodeOp, *MOVEMENT,
)  # fmt: skip  # what reads fixed point


def _stem(source: Operation | SSAValue) -> str:
    """The layer or weight a new integer table derives from: an op's layer name or a weight
    it reads directly, a value's source weight, else the value's SSA name."""
    if isinstance(source, Operation):
        layer = source.attributes.get(LAYER_ATTR)
        if isinstance(layer, StringAttr):
            return layer.data
        names = [v.owner.sym.data for v in source.operands if isinstance(v.owner, nn.WeightOp)]
        value = source.results[0] if source.results else None
    else:
        names, value = [n for n in (source_weight(source),) if n], source
    if names:
        base, _, last = names[0].rpartition(".")
        return base if base and last in ("weight", "bias", "scale", "theta") else names[0]
    return value.name_hint if value is not None and value.name_hint else "island"


def _i32(value: SSAValue) -> TensorType:
    return TensorType(i32, list(value.type.get_shape()))


def _feeds_island(value: SSAValue) -> bool:
    return any(isinstance(u.operation, ISLAND) for u in value.uses)


@dataclass
class FixedPattern(RewritePattern):
    """What the island patterns share: the weight store, F, and the fixed-point form of a value."""

    store: WeightStore
    frac_bits: int

    def weight(self, new: list[Operation], source: Operation | SSAValue, what: str, arr: np.ndarray) -> SSAValue:
        """A new weight named after what it came from (`ln_f.fixed_gamma`, `wte.fixed_table`),
        so that the IR after this pass still says which layer each integer table serves."""
        w = new_weight(self.store, f"{_stem(source)}.fixed_{what}", arr)
        new.append(w)
        return w.res

    def fixed(self, value: SSAValue) -> SSAValue | None:
        """The fixed-point form this pass already made of a float value: the integers a
        `snn.fixed_decode` reads, or an encoding of the same value, else None."""
        owner = value.owner
        if isinstance(owner, snn.FixedDecodeOp) and owner.frac_bits.value.data == self.frac_bits:
            return owner.input
        for use in value.uses:
            enc = use.operation
            if isinstance(enc, snn.FixedEncodeOp) and enc.frac_bits.value.data == self.frac_bits:
                return enc.res
        return None

    def as_fixed(self, new: list[Operation], value: SSAValue) -> SSAValue:
        """The fixed-point form of a float operand, made at the boundary if need be."""
        v = self.fixed(value)
        if v is not None:
            return v
        const = constant_value(value, self.store)
        if const is not None:
            return self.weight(new, value, "const", to_fixed(const, self.frac_bits))
        enc = snn.FixedEncodeOp(value, frac_bits=self.frac_bits)
        new.append(enc)
        return enc.res

    def emit(self, rewriter: PatternRewriter, op: Operation, new: list[Operation], fixed_op: Operation) -> None:
        """Replaces `op` by `fixed_op` (after the ops in `new`), with a decode of each result
        for the float consumers; decodes left unread are removed after the walk."""
        decodes = [snn.FixedDecodeOp(r, old.type, frac_bits=self.frac_bits) for old, r in zip(op.results, fixed_op.results)]
        rewriter.replace(op, [*new, fixed_op, *decodes], [d.res for d in decodes])

    def requant(self, x: SSAValue, mult: SSAValue, bias: SSAValue | None, shift: int, axis: int, result_type) -> snn.RequantOp:
        return snn.RequantOp(x, mult, bias, result_type, shift=shift, axis=axis)


class DecodeToRequant(FixedPattern):
    """`snn.decode` of an accumulator that an island reads -> `snn.requant` to fixed point
    (the model's outputs stay float)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: snn.DecodeOp, rewriter: PatternRewriter) -> None:
        if not _feeds_island(op.res):
            return
        scale = constant_value(op.scale, self.store)
        bias = constant_value(op.bias, self.store) if op.bias is not None else None
        if scale is None or (op.bias is not None and bias is None):
            return
        rank = len(op.input.type.get_shape())
        axis = op.axis.value.data % rank
        channels = op.input.type.get_shape()[axis]
        s = np.broadcast_to(scale.astype(np.float64).reshape(-1), (channels,))
        mult, shift = fixed_point(s * 2.0**self.frac_bits, 24)
        new: list[Operation] = []
        operands = [self.weight(new, op, "multiplier", mult.astype(np.int32))]
        if bias is not None:
            b = np.rint(np.broadcast_to(bias.astype(np.float64).reshape(-1), (channels,)) / s)
            operands.append(self.weight(new, op, "bias", saturate_i32(b)))
        else:
            operands.append(None)
        self.emit(rewriter, op, new, self.requant(op.input, *operands, shift, axis, _i32(op.res)))


class LayerNormToFixed(FixedPattern):
    """`nn.layer_norm` with constant scale and bias -> `snn.fixed_layer_norm` (integer mean,
    variance and square root; gamma at 2^-GAMMA_BITS)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.LayerNormOp, rewriter: PatternRewriter) -> None:
        f = self.frac_bits
        gamma = constant_value(op.scale, self.store)
        beta = constant_value(op.bias, self.store) if op.bias is not None else np.zeros(1, np.float32)
        if gamma is None or beta is None:
            return
        norm_shape = tuple(op.input.type.get_shape())[op.axis.value.data :]
        g = np.rint(np.broadcast_to(gamma.astype(np.float64), norm_shape) * 2.0**GAMMA_BITS).astype(np.int32)
        b = to_fixed(np.broadcast_to(beta.astype(np.float64), norm_shape), f)
        r = snn.ln_var_shift(int(np.prod(norm_shape)))
        eps = max(1, int(round(op.epsilon.value.data * 2.0 ** (2 * (f - r)))))
        new: list[Operation] = []
        x = self.as_fixed(new, op.input)
        gw, bw = self.weight(new, op, "gamma", g), self.weight(new, op, "beta", b)
        fixed_ln = snn.FixedLayerNormOp(x, gw, bw, _i32(op.res), frac_bits=f, axis=op.axis.value.data, var_shift=r, epsilon=eps)
        self.emit(rewriter, op, new, fixed_ln)


class RmsNormToFixed(FixedPattern):
    """`nn.rms_norm` with a constant scale -> `snn.fixed_rms_norm` (Llama's norm: integer
    mean square and square root; gamma at 2^-GAMMA_BITS)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.RMSNormOp, rewriter: PatternRewriter) -> None:
        f = self.frac_bits
        gamma = constant_value(op.scale, self.store)
        if gamma is None:
            return
        norm_shape = tuple(op.input.type.get_shape())[op.axis.value.data :]
        g = np.rint(np.broadcast_to(gamma.astype(np.float64), norm_shape) * 2.0**GAMMA_BITS).astype(np.int32)
        r = snn.ln_var_shift(int(np.prod(norm_shape)))
        eps = max(1, int(round(op.epsilon.value.data * 2.0 ** (2 * (f - r)))))
        new: list[Operation] = []
        x = self.as_fixed(new, op.input)
        gw = self.weight(new, op, "gamma", g)
        self.emit(rewriter, op, new, snn.FixedRmsNormOp(x, gw, _i32(op.res), frac_bits=f, axis=op.axis.value.data, var_shift=r, epsilon=eps))


class SiluToFixed(FixedPattern):
    """`nn.silu` -> `snn.fixed_silu` (softmax's base-2 exponential, one rounding division)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.SiluOp, rewriter: PatternRewriter) -> None:
        alpha = round(op.alpha.value.data * 2.0**ALPHA_BITS)
        if not 0 < alpha < 1 << 31:
            return
        new: list[Operation] = []
        x = self.as_fixed(new, op.input)
        self.emit(rewriter, op, new, snn.FixedSiluOp(x, _i32(op.res), frac_bits=self.frac_bits, alpha=alpha))


class HadamardToFixed(FixedPattern):
    """`nn.hadamard` (from `online-hadamard`) -> `snn.fixed_hadamard`: the +-1 factors as
    integers, additions exact in int64, 1 / sqrt(n) one 16-bit multiplier and a shift."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.HadamardOp, rewriter: PatternRewriter) -> None:
        a, b = constant_value(op.a, self.store), constant_value(op.b, self.store)
        if a is None or b is None or np.abs(a).max() > 1 or np.abs(b).max() > 1:
            return
        new: list[Operation] = []
        x = self.as_fixed(new, op.input)
        fa, fb = self.weight(new, op.a, "factor", a.astype(np.int8)), self.weight(new, op.b, "factor", b.astype(np.int8))
        mult, shift = fixed_point(np.array([1.0 / np.sqrt(a.shape[0] * b.shape[0])]), 16)
        self.emit(rewriter, op, new, snn.FixedHadamardOp(x, fa, fb, _i32(op.res), multiplier=int(mult[0]), shift=shift))


class SoftmaxToFixed(FixedPattern):
    """`nn.softmax` -> `snn.fixed_softmax` (a base-2 exponential from a quadratic and a shift)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.SoftmaxOp, rewriter: PatternRewriter) -> None:
        new: list[Operation] = []
        x = self.as_fixed(new, op.input)
        self.emit(rewriter, op, new, snn.FixedSoftmaxOp(x, _i32(op.res), frac_bits=self.frac_bits, axis=op.axis.value.data))


class GeluToFixed(FixedPattern):
    """`nn.gelu` -> `snn.fixed_gelu` (I-BERT's erf)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.GeluOp, rewriter: PatternRewriter) -> None:
        new: list[Operation] = []
        x = self.as_fixed(new, op.input)
        self.emit(rewriter, op, new, snn.FixedGeluOp(x, _i32(op.res), frac_bits=self.frac_bits))


class AddToFixed(FixedPattern):
    """A residual `nn.add` with an operand already in fixed point -> the saturating `snn.fixed_add`."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.AddOp, rewriter: PatternRewriter) -> None:
        if self.fixed(op.lhs) is None and self.fixed(op.rhs) is None:
            return
        new: list[Operation] = []
        a = self.as_fixed(new, op.lhs)
        b = self.as_fixed(new, op.rhs)
        self.emit(rewriter, op, new, snn.FixedAddOp(a, b, _i32(op.res)))


class ReluToFixed(FixedPattern):
    """`nn.relu` of a fixed-point value works on the integers unchanged."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.ReluOp, rewriter: PatternRewriter) -> None:
        x = self.fixed(op.input)
        if x is not None:
            self.emit(rewriter, op, [], nn.ReluOp(x, _i32(op.res)))


class MovementToFixed(FixedPattern):
    """Data movement and pooling (max exact, average `round_div`) of fixed-point values, on the integers."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if not isinstance(op, MOVEMENT) or not op.operands or (isinstance(op, nn.MaxPoolOp) and len(op.results) > 1):
            return
        operands = [self.fixed(v) for v in op.operands]
        if any(v is None for v in operands):
            return
        results = [_i32(r) for r in op.results]
        if isinstance(op, nn.ConcatOp):
            new = nn.ConcatOp(operands, results[0], axis=op.axis.value.data)
        elif isinstance(op, nn.SplitOp):
            new = nn.SplitOp(operands[0], results, axis=op.axis.value.data)
        else:  # one input, one result; the properties (perm, slice bounds, pooling window) carry over as they are
            new = type(op)(operands[0], results[0], **op.properties)
        self.emit(rewriter, op, [], new)


class EncodeToRequant(FixedPattern):
    """`snn.encode` of a fixed-point value -> `snn.requant` to counts (theta per tensor or per last-axis channel)."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: snn.EncodeOp, rewriter: PatternRewriter) -> None:
        x = self.fixed(op.input)
        theta = constant_value(op.theta, self.store) if x is not None else None
        if theta is None:
            return
        shape = tuple(op.input.type.get_shape())
        t = np.asarray(theta, np.float64)
        if t.size == 1:
            axis, per = len(shape) - 1, np.full(shape[-1], float(t.reshape(-1)[0]))
        elif t.ndim == 1 and t.shape[0] == shape[-1]:
            axis, per = len(shape) - 1, t
        else:
            return
        mult, shift = fixed_point(2.0**-self.frac_bits / per, 24)
        new: list[Operation] = []
        m = self.weight(new, op, "encode_multiplier", mult.astype(np.int32))
        rewriter.replace(op, [*new, self.requant(x, m, None, shift, axis, op.res.type)])


class DivToFixed(FixedPattern):
    """Linear attention's normalisation `num / (den + eps)` of integers cast to float
    (0 <= eps < 1) -> `snn.fixed_div` of the integers."""

    def _integer_source(self, value: SSAValue) -> SSAValue | None:
        """The integer tensor a float value was cast from, looking through `+ eps` (0 <= eps < 1)."""
        owner = value.owner
        if isinstance(owner, nn.AddOp):
            for a, b in ((owner.lhs, owner.rhs), (owner.rhs, owner.lhs)):
                c = constant_value(b, self.store)
                if c is not None and c.size == 1 and 0 <= float(c.reshape(-1)[0]) < 1:
                    return self._integer_source(a)
            return None
        if isinstance(owner, nn.CastOp) and np.dtype(np_dtype(owner.input.type)).kind == "i":
            return owner.input
        return None

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.DivOp, rewriter: PatternRewriter) -> None:
        if isinstance(op.lhs.type.element_type, IntegerType):
            return
        num, den = self._integer_source(op.lhs), self._integer_source(op.rhs)
        if num is None or den is None:
            return
        self.emit(rewriter, op, [], snn.FixedDivOp(num, den, _i32(op.res), frac_bits=self.frac_bits))


class MulToRequant(FixedPattern):
    """A fixed-point value times a constant (per tensor or per last-axis channel; linear
    attention's value scale) -> `snn.requant`."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.MulOp, rewriter: PatternRewriter) -> None:
        fl, fr = self.fixed(op.lhs), self.fixed(op.rhs)
        if fl is None and fr is None:
            return
        fx, other = (fl, op.rhs) if fl is not None else (fr, op.lhs)
        c = constant_value(other, self.store)
        shape = tuple(op.res.type.get_shape())
        if c is None or tuple(fx.type.get_shape()) != shape or c.size not in (1, shape[-1]) or (c.size > 1 and c.shape[-1] != c.size):
            return
        mult, shift = fixed_point(np.broadcast_to(c.astype(np.float64).reshape(-1), (shape[-1],)), 24)
        new: list[Operation] = []
        m = self.weight(new, other, "multiplier", mult.astype(np.int32))
        self.emit(rewriter, op, new, self.requant(fx, m, None, shift, len(shape) - 1, _i32(op.res)))


class MulToFixed(FixedPattern):
    """A product with a fixed-point operand that `MulToRequant` leaves (two activations, as
    in the SwiGLU gate; a constant table, as RoPE's cos and sin) -> `snn.fixed_mul`."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.MulOp, rewriter: PatternRewriter) -> None:
        if self.fixed(op.lhs) is None and self.fixed(op.rhs) is None:
            return
        new: list[Operation] = []
        a, b = self.as_fixed(new, op.lhs), self.as_fixed(new, op.rhs)
        self.emit(rewriter, op, new, snn.FixedMulOp(a, b, _i32(op.res), frac_bits=self.frac_bits))


class TokenPeakToFixed(FixedPattern):
    """`token-scale`'s largest magnitude per token, `nn.reduce_max(nn.abs(x))` of a fixed-point
    x: the same ops on the integers (exact; |-2^31| wraps, as numpy's does)."""

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if not isinstance(op, nn.AbsOp | nn.ReduceMaxOp):
            return
        x = self.fixed(op.input)
        if x is not None:
            self.emit(rewriter, op, [], type(op).create(operands=[x], result_types=[_i32(op.res)], properties=dict(op.properties)))


class FixedDivToFixed(FixedPattern):
    """A quotient of two fixed-point values (`token-scale`'s x / m, m >= 2^-F) -> `snn.fixed_div`."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.DivOp, rewriter: PatternRewriter) -> None:
        a, b = self.fixed(op.lhs), self.fixed(op.rhs)
        if a is None or b is None:
            return
        self.emit(rewriter, op, [], snn.FixedDivOp(a, b, _i32(op.res), frac_bits=self.frac_bits))


class NegToFixed(FixedPattern):
    """`nn.neg` of a fixed-point value (RoPE's rotate_half) -> `snn.fixed_mul` by -1,
    which saturates -2^31 instead of wrapping."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.NegOp, rewriter: PatternRewriter) -> None:
        x = self.fixed(op.input)
        if x is None:
            return
        new: list[Operation] = []
        minus_one = self.weight(new, op, "minus_one", np.full((1,), -(1 << self.frac_bits), np.int32))
        self.emit(rewriter, op, new, snn.FixedMulOp(x, minus_one, _i32(op.res), frac_bits=self.frac_bits))


class SelectToFixed(FixedPattern):
    """The fixed-point encoding of `nn.where(cond, a, b)` with constant a and b (the padding
    mask of an encoder, from the attention_mask input) -> `nn.where` of their fixed-point
    forms: the selection on integers, so that the mask needs no float op."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: snn.FixedEncodeOp, rewriter: PatternRewriter) -> None:
        sel = op.input.owner
        if not isinstance(sel, nn.WhereOp):
            return
        a, b = constant_value(sel.lhs, self.store), constant_value(sel.rhs, self.store)
        if a is None or b is None:
            return
        f = op.frac_bits.value.data
        new: list[Operation] = []
        fa, fb = self.weight(new, sel.lhs, "const", to_fixed(a, f)), self.weight(new, sel.rhs, "const", to_fixed(b, f))
        rewriter.replace(op, [*new, nn.WhereOp(sel.cond, fa, fb, op.res.type)])


class GatherToFixed(FixedPattern):
    """An embedding table (a constant float `nn.gather` input) that an island reads -> a fixed-point table."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.GatherOp, rewriter: PatternRewriter) -> None:
        if not _feeds_island(op.res):
            return
        table = constant_value(op.input, self.store)
        if table is None or table.dtype.kind != "f":
            return
        new: list[Operation] = []
        t = self.weight(new, op.input, "table", to_fixed(table, self.frac_bits))
        gather = nn.GatherOp(t, op.indices, _i32(op.res), axis=op.axis.value.data)
        self.emit(rewriter, op, new, gather)


ISLAND_PATTERNS = (
    DecodeToRequant, LayerNormToFixed, RmsNormToFixed, HadamardToFixed, SoftmaxToFixed, GeluToFixed, SiluToFixed, AddToFixed,
    DivToFixed, FixedDivToFixed, TokenPeakToFixed, MulToRequant, MulToFixed, NegToFixed, GatherToFixed, ReluToFixed,
    MovementToFixed, EncodeToRequant, SelectToFixed,
)  # fmt: skip


@dataclass(frozen=True)
class IntegerIslandsPass(ModulePass):
    """Carries LayerNorm, softmax, GELU, adds and ReLU over to fixed point (I-BERT style integers).

    One pattern per op family (`ISLAND_PATTERNS`), applied in one forward walk
    (each op once, so that an op sees its operands already converted), then
    dead-code elimination of what the float ops no longer read.
    Option: `frac-bits` F in [8, 24] (16: residual streams up to 2^15 in int32)."""

    name = "integer-islands"
    frac_bits: int = 16

    def __post_init__(self) -> None:
        if not 8 <= self.frac_bits <= 24:
            raise NsccError("integer-islands: frac-bits must be in [8, 24]", "16 keeps residual streams up to 2^15 in int32")

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        store = weights_of(ctx)
        patterns = [p(store, self.frac_bits) for p in ISLAND_PATTERNS]
        PatternRewriteWalker(GreedyRewritePatternApplier(patterns), apply_recursively=False).rewrite_module(op)
        PatternRewriteWalker(RemoveUnusedOperations()).rewrite_module(op)
