"""The `nn` dialect: tensor-level operations of an imported network.

One op per ONNX operator family, with ONNX semantics, but normalised on the
way in: every shape is static, attributes that ONNX passes as constant inputs
(Reshape's shape, Slice's bounds, reduction axes, Clip's bounds) are
properties, and ops that only re-label a shape (Squeeze, Unsqueeze, Flatten)
become `nn.reshape`. Weights and large constants are `nn.weight` ops naming an
array in the module's weight store (see `nscc.ir.weights`), so the IR never
holds weight bytes.

The numeric meaning of each op is the numpy kernel of the same name in
`nscc.semantics.nn`; `docs/semantics.md` lists them.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from xdsl.dialects.builtin import (
    DenseArrayBase,
    FloatAttr,
    IntegerAttr,
    StringAttr,
    TensorType,
    UnitAttr,
)
from xdsl.ir import Attribute, Dialect, Operation, SSAValue
from xdsl.irdl import (
    AttrSetConstraint,
    IRDLOperation,
    MessageConstraint,
    ParsePropInAttrDict,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
    var_operand_def,
    var_result_def,
)
from xdsl.traits import ConstantLike, Pure
from xdsl.utils.exceptions import VerifyException

from nscc.ir.types import init_op, value_type

Value = SSAValue | Operation
"""An operand: a value, or the (single-result) op defining it."""


def one_of(values: type[StrEnum], what: str) -> MessageConstraint:
    """A string property constrained to the values of an enum; `what` names it in the error."""
    allowed = AttrSetConstraint.get(*(StringAttr(v.value) for v in values))
    return MessageConstraint(allowed, f"{what} must be one of {', '.join(v.value for v in values)}")


class GeluApproximation(StrEnum):
    NONE = "none"
    TANH = "tanh"


class FeatureMap(StrEnum):
    RELU = "relu"
    ELU1 = "elu1"  # elu(x) + 1


class PadMode(StrEnum):
    CONSTANT = "constant"
    REFLECT = "reflect"
    EDGE = "edge"
    WRAP = "wrap"


class NNOp(IRDLOperation):
    """Common syntax: operands, then properties as an attribute dictionary.

    Builders take the operands (None for an absent optional one), then the
    result type(s), then the properties as keyword arguments with Python values."""

    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "operands attr-dict `:` functional-type(operands, results)"
    traits = traits_def(Pure())


def _shape(value) -> tuple[int, ...]:
    return tuple(value.type.get_shape())


def _check_axis(op: Operation, axis: int, rank: int, what: str = "axis") -> None:
    if not -max(rank, 1) <= axis < max(rank, 1):
        raise VerifyException(f"{op.name}: {what} {axis} is out of range for rank {rank}")


def _broadcasts_to(shape: tuple[int, ...], target: tuple[int, ...]) -> bool:
    return len(shape) <= len(target) and all(a in (1, b) for a, b in zip(shape[::-1], target[::-1]))


class UnaryOp(NNOp):
    input = operand_def(TensorType)
    res = result_def(TensorType)

    def __init__(self, input: Value, result_type: Attribute | None = None, **props):
        init_op(self, [input], [result_type or value_type(input)], **props)

    def verify_(self) -> None:
        if _shape(self.input) != _shape(self.res):
            raise VerifyException(f"{self.name}: result shape must equal input shape")


def _broadcast_shape(op: Operation, *values) -> tuple[int, ...]:
    import numpy as np

    shapes = [_shape(v) for v in values]
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise VerifyException(f"{op.name}: operand shapes {' and '.join(map(str, shapes))} do not broadcast") from None


class BinaryOp(NNOp):
    """Elementwise with numpy/ONNX multidirectional broadcasting."""

    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    res = result_def(TensorType)

    def __init__(self, lhs: Value, rhs: Value, result_type: Attribute, **props):
        init_op(self, [lhs, rhs], [result_type], **props)

    def verify_(self) -> None:
        out = _broadcast_shape(self, self.lhs, self.rhs)
        if out != _shape(self.res):
            raise VerifyException(f"{self.name}: result shape must be {out}")


# --- weights -----------------------------------------------------------------


@irdl_op_definition
class WeightOp(IRDLOperation):
    """A tensor stored out of line, in the module's weight store, by name.

    ConstantLike marks it as a constant for xDSL's generic machinery (it is
    never folded, and may be hoisted); its value is not an attribute, so
    `ConstantLike.get_constant_value` has nothing to return: read it with
    `nscc.ir.constants.constant_value` and the weight store."""

    name = "nn.weight"
    sym = prop_def(StringAttr)
    res = result_def()
    traits = traits_def(Pure(), ConstantLike())
    assembly_format = "$sym attr-dict `:` type($res)"

    def __init__(self, sym: str | StringAttr, result_type: Attribute):
        super().__init__(properties={"sym": StringAttr(sym) if isinstance(sym, str) else sym}, result_types=[result_type])


# --- elementwise -----------------------------------------------------------------


@irdl_op_definition
class NegOp(UnaryOp):
    """-x"""

    name = "nn.neg"


@irdl_op_definition
class AbsOp(UnaryOp):
    """|x|"""

    name = "nn.abs"


@irdl_op_definition
class SqrtOp(UnaryOp):
    """sqrt(x)"""

    name = "nn.sqrt"


@irdl_op_definition
class ReciprocalOp(UnaryOp):
    """1/x"""

    name = "nn.reciprocal"


@irdl_op_definition
class ExpOp(UnaryOp):
    """e^x"""

    name = "nn.exp"


@irdl_op_definition
class LogOp(UnaryOp):
    """ln(x)"""

    name = "nn.log"


@irdl_op_definition
class ErfOp(UnaryOp):
    """The Gauss error function."""

    name = "nn.erf"


@irdl_op_definition
class TanhOp(UnaryOp):
    """tanh(x)"""

    name = "nn.tanh"


@irdl_op_definition
class SigmoidOp(UnaryOp):
    """1/(1+e^-x)"""

    name = "nn.sigmoid"


@irdl_op_definition
class ReluOp(UnaryOp):
    """max(x, 0)"""

    name = "nn.relu"


@irdl_op_definition
class SinOp(UnaryOp):
    """sin(x)"""

    name = "nn.sin"


@irdl_op_definition
class CosOp(UnaryOp):
    """cos(x)"""

    name = "nn.cos"


@irdl_op_definition
class FloorOp(UnaryOp):
    """floor(x)"""

    name = "nn.floor"


@irdl_op_definition
class CeilOp(UnaryOp):
    """ceil(x)"""

    name = "nn.ceil"


@irdl_op_definition
class RoundOp(UnaryOp):
    """Round half to even."""

    name = "nn.round"


@irdl_op_definition
class SignOp(UnaryOp):
    """sign(x)"""

    name = "nn.sign"


@irdl_op_definition
class NotOp(UnaryOp):
    """Logical not."""

    name = "nn.not"


@irdl_op_definition
class IsNanOp(UnaryOp):
    """x != x"""

    name = "nn.isnan"


@irdl_op_definition
class SoftplusOp(UnaryOp):
    """ln(1+e^x)"""

    name = "nn.softplus"


@irdl_op_definition
class CastOp(UnaryOp):
    """Element type conversion to the result's element type (ONNX Cast)."""

    name = "nn.cast"


@irdl_op_definition
class GeluOp(UnaryOp):
    """x * Phi(x); `approximate = "tanh"` selects the tanh formula."""

    name = "nn.gelu"
    approximate = prop_def(one_of(GeluApproximation, "nn.gelu: approximate"))

    def __init__(self, input: Value, result_type: Attribute | None = None, *, approximate: str = GeluApproximation.NONE):
        super().__init__(input, result_type, approximate=approximate)


@irdl_op_definition
class SiluOp(UnaryOp):
    """x * sigmoid(alpha * x): SiLU (the SwiGLU gate) at alpha = 1, quick_gelu at 1.702."""

    name = "nn.silu"
    alpha = prop_def(FloatAttr)

    def __init__(self, input: Value, result_type: Attribute | None = None, *, alpha: float = 1.0):
        super().__init__(input, result_type, alpha=alpha)


@irdl_op_definition
class LeakyReluOp(UnaryOp):
    """x if x >= 0 else alpha * x"""

    name = "nn.leaky_relu"
    alpha = prop_def(FloatAttr)

    def __init__(self, input: Value, result_type: Attribute | None = None, *, alpha: float = 0.01):
        super().__init__(input, result_type, alpha=alpha)


@irdl_op_definition
class EluOp(UnaryOp):
    """x if x > 0 else alpha * (e^x - 1)"""

    name = "nn.elu"
    alpha = prop_def(FloatAttr)

    def __init__(self, input: Value, result_type: Attribute | None = None, *, alpha: float = 1.0):
        super().__init__(input, result_type, alpha=alpha)


@irdl_op_definition
class HardSigmoidOp(UnaryOp):
    """clip(alpha * x + beta, 0, 1)"""

    name = "nn.hard_sigmoid"
    alpha = prop_def(FloatAttr)
    beta = prop_def(FloatAttr)

    def __init__(self, input: Value, result_type: Attribute | None = None, *, alpha: float = 0.2, beta: float = 0.5):
        super().__init__(input, result_type, alpha=alpha, beta=beta)


@irdl_op_definition
class ClipOp(UnaryOp):
    """min(max(x, min), max); a missing bound is unbounded."""

    name = "nn.clip"
    min = opt_prop_def(FloatAttr)
    max = opt_prop_def(FloatAttr)

    def __init__(self, input: Value, result_type: Attribute | None = None, *, min: float | None = None, max: float | None = None):
        super().__init__(input, result_type, min=min, max=max)


class _AxisUnaryOp(UnaryOp):
    axis = prop_def(IntegerAttr)

    def __init__(self, input: Value, result_type: Attribute | None = None, *, axis: int):
        super().__init__(input, result_type, axis=axis)

    def verify_(self) -> None:
        super().verify_()
        _check_axis(self, self.axis.value.data, len(_shape(self.input)))


@irdl_op_definition
class SoftmaxOp(_AxisUnaryOp):
    """e^x / sum(e^x) along `axis`."""

    name = "nn.softmax"


@irdl_op_definition
class LogSoftmaxOp(_AxisUnaryOp):
    """x - ln(sum(e^x)) along `axis`."""

    name = "nn.log_softmax"


@irdl_op_definition
class CumSumOp(_AxisUnaryOp):
    """Running sum along `axis`; `exclusive` leaves each element out of its own sum,
    `reverse` sums from the end."""

    name = "nn.cumsum"
    exclusive = opt_prop_def(UnitAttr)
    reverse = opt_prop_def(UnitAttr)

    def __init__(self, input: Value, result_type: Attribute | None = None, *, axis: int, exclusive: bool = False, reverse: bool = False):
        UnaryOp.__init__(self, input, result_type, axis=axis, exclusive=exclusive, reverse=reverse)


@irdl_op_definition
class TriluOp(UnaryOp):
    """Keeps the upper (`upper`) or lower triangle from diagonal k, zeroes the rest."""

    name = "nn.trilu"
    upper = opt_prop_def(UnitAttr)
    k = prop_def(IntegerAttr)

    def __init__(self, input: Value, result_type: Attribute | None = None, *, upper: bool = True, k: int = 0):
        super().__init__(input, result_type, upper=upper, k=k)


@irdl_op_definition
class AddOp(BinaryOp):
    """a + b"""

    name = "nn.add"


@irdl_op_definition
class SubOp(BinaryOp):
    """a - b"""

    name = "nn.sub"


@irdl_op_definition
class MulOp(BinaryOp):
    """a * b"""

    name = "nn.mul"


@irdl_op_definition
class DivOp(BinaryOp):
    """a / b (integers: truncating)"""

    name = "nn.div"


@irdl_op_definition
class PowOp(BinaryOp):
    """a ** b"""

    name = "nn.pow"


@irdl_op_definition
class MinOp(BinaryOp):
    """Elementwise minimum."""

    name = "nn.min"


@irdl_op_definition
class MaxOp(BinaryOp):
    """Elementwise maximum."""

    name = "nn.max"


@irdl_op_definition
class EqualOp(BinaryOp):
    """a == b"""

    name = "nn.equal"


@irdl_op_definition
class LessOp(BinaryOp):
    """a < b"""

    name = "nn.less"


@irdl_op_definition
class LessEqualOp(BinaryOp):
    """a <= b"""

    name = "nn.less_equal"


@irdl_op_definition
class GreaterOp(BinaryOp):
    """a > b"""

    name = "nn.greater"


@irdl_op_definition
class GreaterEqualOp(BinaryOp):
    """a >= b"""

    name = "nn.greater_equal"


@irdl_op_definition
class AndOp(BinaryOp):
    """Logical and."""

    name = "nn.and"


@irdl_op_definition
class OrOp(BinaryOp):
    """Logical or."""

    name = "nn.or"


@irdl_op_definition
class XorOp(BinaryOp):
    """Logical xor."""

    name = "nn.xor"


@irdl_op_definition
class ModOp(BinaryOp):
    """Remainder with the sign of the divisor; `fmod` gives C fmod (sign of the dividend)."""

    name = "nn.mod"
    fmod = opt_prop_def(UnitAttr)

    def __init__(self, lhs: Value, rhs: Value, result_type: Attribute, *, fmod: bool = False):
        super().__init__(lhs, rhs, result_type, fmod=fmod)


@irdl_op_definition
class WhereOp(NNOp):
    """cond ? lhs : rhs, elementwise with broadcasting."""

    name = "nn.where"
    cond = operand_def(TensorType)
    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    res = result_def(TensorType)

    def __init__(self, cond: Value, lhs: Value, rhs: Value, result_type: Attribute):
        init_op(self, [cond, lhs, rhs], [result_type])

    def verify_(self) -> None:
        out = _broadcast_shape(self, self.cond, self.lhs, self.rhs)
        if out != _shape(self.res):
            raise VerifyException(f"nn.where: result shape must be {out}")
        if self.lhs.type.element_type != self.rhs.type.element_type:
            raise VerifyException("nn.where: both branches must have the same element type")


# --- linear algebra ------------------------------------------------------------


@irdl_op_definition
class MatMulOp(NNOp):
    """numpy.matmul: batched, broadcasting, 1-D operands promoted as in numpy."""

    name = "nn.matmul"
    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    res = result_def(TensorType)

    def __init__(self, lhs: Value, rhs: Value, result_type: Attribute):
        init_op(self, [lhs, rhs], [result_type])

    def verify_(self) -> None:
        a, b = _shape(self.lhs), _shape(self.rhs)
        ka = a[-1] if a else None
        kb = (b[-2] if len(b) >= 2 else b[0]) if b else None
        if ka is None or kb is None or ka != kb:
            raise VerifyException(f"nn.matmul: contraction sizes differ ({a} @ {b})")


@irdl_op_definition
class GemmOp(NNOp):
    """alpha * op(A) @ op(B) + beta * C, op() transposing when trans_a / trans_b."""

    name = "nn.gemm"
    a = operand_def(TensorType)
    b = operand_def(TensorType)
    c = opt_operand_def(TensorType)
    res = result_def(TensorType)
    alpha = prop_def(FloatAttr)
    beta = prop_def(FloatAttr)
    trans_a = opt_prop_def(UnitAttr)
    trans_b = opt_prop_def(UnitAttr)

    def __init__(
        self,
        a: Value,
        b: Value,
        c: Value | None,
        result_type: Attribute,
        *,
        alpha: float = 1.0,
        beta: float = 1.0,
        trans_a: bool = False,
        trans_b: bool = False,
    ):
        init_op(self, [a, b, c], [result_type], alpha=alpha, beta=beta, trans_a=trans_a, trans_b=trans_b)

    def verify_(self) -> None:
        a, b = _shape(self.a), _shape(self.b)
        if len(a) != 2 or len(b) != 2:
            raise VerifyException(f"nn.gemm: A {a} and B {b} must be matrices")
        m, k = a[::-1] if self.trans_a else a
        k2, n = b[::-1] if self.trans_b else b
        if k != k2:
            raise VerifyException(f"nn.gemm: contraction sizes differ ({k} and {k2})")
        if _shape(self.res) != (m, n):
            raise VerifyException(f"nn.gemm: result shape must be {(m, n)}")
        if self.c is not None and not _broadcasts_to(_shape(self.c), (m, n)):
            raise VerifyException(f"nn.gemm: C {_shape(self.c)} does not broadcast to {(m, n)}")


@irdl_op_definition
class ConvOp(NNOp):
    """N-d cross-correlation, NCHW, with explicit begin/end pads (ONNX Conv)."""

    name = "nn.conv"
    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    res = result_def(TensorType)
    strides = prop_def(DenseArrayBase)
    pads = prop_def(DenseArrayBase)
    dilations = prop_def(DenseArrayBase)
    group = prop_def(IntegerAttr)

    def __init__(
        self,
        input: Value,
        weight: Value,
        bias: Value | None,
        result_type: Attribute,
        *,
        strides: Sequence[int],
        pads: Sequence[int],
        dilations: Sequence[int],
        group: int = 1,
    ):
        init_op(self, [input, weight, bias], [result_type], strides=strides, pads=pads, dilations=dilations, group=group)

    def verify_(self) -> None:
        x, w = _shape(self.input), _shape(self.weight)
        nd = len(x) - 2
        if nd < 1 or len(w) != len(x):
            raise VerifyException(f"nn.conv: input {x} and weight {w} must both be [N, C, spatial...] of the same rank >= 3")
        strides, pads, dil = self.strides.get_values(), self.pads.get_values(), self.dilations.get_values()
        if len(strides) != nd or len(dil) != nd or len(pads) != 2 * nd:
            raise VerifyException(f"nn.conv: strides and dilations need {nd} entries and pads {2 * nd}")
        group = self.group.value.data
        if group < 1 or x[1] != w[1] * group or w[0] % group:
            raise VerifyException(f"nn.conv: {x[1]} input channels do not fit weight {w} in {group} group(s)")
        if self.bias is not None and _shape(self.bias) != (w[0],):
            raise VerifyException(f"nn.conv: bias must have shape ({w[0]},)")
        out = tuple((x[2 + i] + pads[i] + pads[i + nd] - (w[2 + i] - 1) * dil[i] - 1) // strides[i] + 1 for i in range(nd))
        if _shape(self.res) != (x[0], w[0]) + out:
            raise VerifyException(f"nn.conv: result shape must be {(x[0], w[0]) + out}")


@irdl_op_definition
class AttentionOp(NNOp):
    """Scaled dot-product attention, raised from its spelled-out form:

        s = scale * q @ k^T (+ mask);  s[..., i, j] = -inf for j > i if causal;
        out = softmax(s, axis=-1) @ v

    q, k: [..., S, Dh], v: [..., S, Dv]; the leading axes (batch, heads) broadcast.
    `mask` is additive, broadcastable to the scores (padding masks)."""

    name = "nn.attention"
    q = operand_def(TensorType)
    k = operand_def(TensorType)
    v = operand_def(TensorType)
    mask = opt_operand_def(TensorType)
    res = result_def(TensorType)
    scale = prop_def(FloatAttr)
    causal = opt_prop_def(UnitAttr)

    def __init__(self, q: Value, k: Value, v: Value, mask: Value | None, result_type: Attribute, *, scale: float, causal: bool = False):
        init_op(self, [q, k, v, mask], [result_type], scale=scale, causal=causal)

    def verify_(self) -> None:
        q, k, v = _shape(self.q), _shape(self.k), _shape(self.v)
        if len(q) < 2 or q[-1] != k[-1] or k[-2] != v[-2]:
            raise VerifyException(f"nn.attention: q {q}, k {k}, v {v} do not fit")
        if _shape(self.res)[-2:] != (q[-2], v[-1]):
            raise VerifyException("nn.attention: result must be [..., S_q, Dv]")


@irdl_op_definition
class LinearAttentionOp(NNOp):
    """Linear attention with feature map phi (relu, or elu(x) + 1), decay lambda:

        S_t = lambda S_{t-1} + phi(k_t)^T v_t,  z_t = lambda z_{t-1} + phi(k_t)
        out_t = phi(q_t) S_t / (phi(q_t) . z_t + 1e-6)   (without the division unless normalize)

    Without `causal` the sums run over the whole sequence instead (lambda unused). The
    recurrent form costs O(1) per token; whole sequences may be computed in
    the equivalent parallel form phi(q) phi(k)^T (masked, decayed) v. An additive
    `mask` (padding) weighs the term of query i and key j by exp(mask_ij - max_j mask_ij)
    (0 where the row's largest entry is -inf): softmax's weighing, up to a constant per
    query that `normalize` removes; a key masked with -10000 or -inf adds nothing."""

    name = "nn.linear_attention"
    q = operand_def(TensorType)
    k = operand_def(TensorType)
    v = operand_def(TensorType)
    mask = opt_operand_def(TensorType)
    res = result_def(TensorType)
    feature = prop_def(one_of(FeatureMap, "nn.linear_attention: feature"))
    decay = prop_def(FloatAttr)
    normalize = opt_prop_def(UnitAttr)
    causal = opt_prop_def(UnitAttr)

    def __init__(
        self,
        q: Value,
        k: Value,
        v: Value,
        result_type: Attribute | None = None,
        *,
        feature: str,
        decay: float,
        normalize: bool = True,
        causal: bool = True,
        mask: Value | None = None,
    ):
        init_op(self, [q, k, v, mask], [result_type or value_type(q)], feature=feature, decay=decay, normalize=normalize, causal=causal)

    def verify_(self) -> None:
        if not 0.0 < self.decay.value.data <= 1.0:
            raise VerifyException("nn.linear_attention: decay must be in (0, 1]")


@irdl_op_definition
class WindowAttentionOp(NNOp):
    """Causal attention that is softmax over each query's last `window` keys and first `sinks`
    keys and linear over the others (LoLCATs' sliding-window hybrid). Query i (aligned at the end of
    the keys, as nn.linear_attention's causal form), key j, gap g = i + (T - S) - j:

        W_i = {j : 0 <= g < window, or 0 <= g and j < sinks}   (the keys softmax weighs)
        s_ij = scale q_i . k_j (+ mask_ij)
        a_ij = exp(s_ij - max_{j' in W_i} s_ij')               for j in W_i
        a_ij = r_h (pq_i . pk_j) exp(mask_ij - max_j mask_ij)   for the other j with g >= 0
        out_i = sum_j a_ij v_j / (sum_j a_ij + 1e-6)

    pq, pk are the feature-mapped q and k (nn.feature_map); pk may have fewer heads, G dividing
    H (the key-value heads of grouped-query attention: query head h reads pk's h // (H / G));
    r [H] weighs the linear part per head against the softmax part. The first `sinks` keys
    stay softmax for every query (StreamingLLM's attention sinks): pretrained LLMs put much of
    their attention there, and a linear map cannot reproduce that peak. Decoding needs the sinks' and the last
    `window` keys and values and the linear state of the others: constant in the context."""

    name = "nn.window_attention"
    q = operand_def(TensorType)
    k = operand_def(TensorType)
    v = operand_def(TensorType)
    pq = operand_def(TensorType)
    pk = operand_def(TensorType)
    factor = operand_def(TensorType)
    mask = opt_operand_def(TensorType)
    res = result_def(TensorType)
    scale = prop_def(FloatAttr)
    window = prop_def(IntegerAttr)
    sinks = prop_def(IntegerAttr)

    def __init__(
        self, q: Value, k: Value, v: Value, pq: Value, pk: Value, factor: Value, result_type: Attribute | None = None,
        *, scale: float, window: int, sinks: int = 0, mask: Value | None = None,
    ):  # fmt: skip
        init_op(self, [q, k, v, pq, pk, factor, mask], [result_type or value_type(q)], scale=scale, window=window, sinks=sinks)

    def verify_(self) -> None:
        q, k, v, pq, pk, r = (_shape(x) for x in (self.q, self.k, self.v, self.pq, self.pk, self.factor))
        if self.window.value.data < 1 or self.sinks.value.data < 0:
            raise VerifyException("nn.window_attention: window must be >= 1 and sinks >= 0")
        if len(q) < 3 or q[-1] != k[-1] or k[-2] != v[-2] or q[-2] > k[-2]:
            raise VerifyException(f"nn.window_attention: q {q}, k {k}, v {v} do not fit")
        if pq[:-1] != q[:-1] or len(pk) != len(k) or pk[:-3] != k[:-3] or pk[-2] != k[-2] or q[-3] % pk[-3] or pq[-1] != pk[-1]:
            raise VerifyException(f"nn.window_attention: features {pq}, {pk} must follow q {q} and k {k} (pk on key-value heads)")
        if r != (q[-3],):
            raise VerifyException(f"nn.window_attention: factor must be [{q[-3]}] (one per head), got {list(r)}")
        if _shape(self.res)[-2:] != (q[-2], v[-1]):
            raise VerifyException("nn.window_attention: result must be [..., S_q, Dv]")


@irdl_op_definition
class FeatureMapOp(NNOp):
    """A learned feature map of linear attention (Hedgehog's): per head h,

        z = x[..., h, :, :] @ w[h];   phi = concat(softmax(z, -1), softmax(-z, -1))

    x [..., H, S, d], w [H, d, f], result [..., H, S, 2f]. phi is non-negative, and
    phi(q) . phi(k) is fitted (attention transfer) to follow exp(q . k / sqrt(d))."""

    name = "nn.feature_map"
    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    res = result_def(TensorType)

    def __init__(self, input: Value, weight: Value, result_type: Attribute | None = None):
        if result_type is None:
            x, w = value_type(input), value_type(weight)
            result_type = TensorType(x.get_element_type(), [*x.get_shape()[:-1], 2 * w.get_shape()[-1]])
        init_op(self, [input, weight], [result_type])

    def verify_(self) -> None:
        check_feature_map(self, _shape(self.input), _shape(self.weight), _shape(self.res))


def check_feature_map(op: Operation, x: tuple[int, ...], w: tuple[int, ...], res: tuple[int, ...]) -> None:
    """x [..., H, S, d] and w [H, d, f] give [..., H, S, 2f] (shared by nn and snn)."""
    if len(w) != 3 or len(x) < 3 or x[-3] != w[0] or x[-1] != w[1]:
        raise VerifyException(f"{op.name}: input {x} and weight {w} do not fit ([..., H, S, d] and [H, d, f])")
    if res != (*x[:-1], 2 * w[2]):
        raise VerifyException(f"{op.name}: result must be {(*x[:-1], 2 * w[2])}, got {res}")


@irdl_op_definition
class LinearAttentionStepOp(NNOp):
    """Causal `nn.linear_attention` continued from a state (S, z), one token after another
    (the `decode-step` pass makes it; q, k, v: [..., T, d], usually T = 1):

        S' = lambda S + phi(k_t)^T v_t,  z' = lambda z + phi(k_t),  out_t = phi(q_t) S' / (phi(q_t) . z' + 1e-6)

    state [..., dk, dv] and norm [..., dk] are float (f64 from decode-step); the new
    state and norm have their types. Computed in the wider of the state's type and f32."""

    name = "nn.linear_attention_step"
    q = operand_def(TensorType)
    k = operand_def(TensorType)
    v = operand_def(TensorType)
    state = operand_def(TensorType)
    norm = operand_def(TensorType)
    res = result_def(TensorType)
    new_state = result_def(TensorType)
    new_norm = result_def(TensorType)
    feature = prop_def(one_of(FeatureMap, "nn.linear_attention_step: feature"))
    decay = prop_def(FloatAttr)
    normalize = opt_prop_def(UnitAttr)

    def __init__(
        self,
        q: Value,
        k: Value,
        v: Value,
        state: Value,
        norm: Value,
        result_type: Attribute | None = None,
        *,
        feature: str,
        decay: float,
        normalize: bool = True,
    ):
        types = [result_type or value_type(q), value_type(state), value_type(norm)]
        init_op(self, [q, k, v, state, norm], types, feature=feature, decay=decay, normalize=normalize)

    def verify_(self) -> None:
        q, k, v = _shape(self.q), _shape(self.k), _shape(self.v)
        if len(q) < 2 or q != k or q[:-1] != v[:-1]:
            raise VerifyException(f"nn.linear_attention_step: q {q}, k {k} and v {v} disagree")
        if _shape(self.state) != q[:-2] + (q[-1], v[-1]) or _shape(self.norm) != q[:-2] + (q[-1],):
            raise VerifyException("nn.linear_attention_step: state must be [..., dk, dv] and norm [..., dk]")
        if self.state.type != self.new_state.type or self.norm.type != self.new_norm.type:
            raise VerifyException("nn.linear_attention_step: new state types must equal the old")
        if _shape(self.res) != v:
            raise VerifyException("nn.linear_attention_step: result must be v's shape")
        if not 0.0 < self.decay.value.data <= 1.0:
            raise VerifyException("nn.linear_attention_step: decay must be in (0, 1]")


# --- normalisation ---------------------------------------------------------------


class _NormOp(NNOp):
    def verify_(self) -> None:
        x = _shape(self.input)
        _check_axis(self, self.axis.value.data, len(x))
        for p in (self.scale, getattr(self, "bias", None)):
            if p is not None and not _broadcasts_to(_shape(p), x):
                raise VerifyException(f"{self.name}: scale and bias must broadcast to the input shape {x}, got {_shape(p)}")
        if _shape(self.res) != x:
            raise VerifyException(f"{self.name}: result shape must equal input shape")


@irdl_op_definition
class LayerNormOp(_NormOp):
    """(x - mean) / sqrt(var + epsilon) * scale + bias over the axes from `axis` on."""

    name = "nn.layer_norm"
    input = operand_def(TensorType)
    scale = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    res = result_def(TensorType)
    axis = prop_def(IntegerAttr)
    epsilon = prop_def(FloatAttr)

    def __init__(
        self, input: Value, scale: Value, bias: Value | None, result_type: Attribute | None = None, *, axis: int, epsilon: float = 1e-5
    ):
        init_op(self, [input, scale, bias], [result_type or value_type(input)], axis=axis, epsilon=epsilon)


@irdl_op_definition
class RMSNormOp(_NormOp):
    """x / sqrt(mean(x^2) + epsilon) * scale over the axes from `axis` on."""

    name = "nn.rms_norm"
    input = operand_def(TensorType)
    scale = operand_def(TensorType)
    res = result_def(TensorType)
    axis = prop_def(IntegerAttr)
    epsilon = prop_def(FloatAttr)

    def __init__(self, input: Value, scale: Value, result_type: Attribute | None = None, *, axis: int, epsilon: float = 1e-5):
        init_op(self, [input, scale], [result_type or value_type(input)], axis=axis, epsilon=epsilon)


def check_hadamard(op: Operation, x, a, b) -> None:
    """What nn.hadamard and snn.fixed_hadamard share: square factors whose orders multiply to
    x's last axis."""
    xs, as_, bs = _shape(x), _shape(a), _shape(b)
    if len(as_) != 2 or len(bs) != 2 or as_[0] != as_[1] or bs[0] != bs[1]:
        raise VerifyException(f"{op.name}: the factors must be square matrices, got {as_} and {bs}")
    if not xs or as_[0] * bs[0] != xs[-1]:
        raise VerifyException(f"{op.name}: the factors' orders {as_[0]} x {bs[0]} must multiply to the last axis of {xs}")
    if _shape(op.results[0]) != xs:
        raise VerifyException(f"{op.name}: result shape must equal input shape")


@irdl_op_definition
class HadamardOp(NNOp):
    """An orthogonal rotation of the last axis by a Kronecker product of two +-1 matrices
    (a randomised Hadamard matrix, QuaRot's online rotation): with x's last axis viewed as
    a p x q matrix X (row-major), y = vec(a^T X b) / sqrt(p q)."""

    name = "nn.hadamard"
    input = operand_def(TensorType)
    a = operand_def(TensorType)
    b = operand_def(TensorType)
    res = result_def(TensorType)

    def __init__(self, input: Value, a: Value, b: Value, result_type: Attribute | None = None):
        init_op(self, [input, a, b], [result_type or value_type(input)])

    def verify_(self) -> None:
        check_hadamard(self, self.input, self.a, self.b)


@irdl_op_definition
class BatchNormOp(NNOp):
    """Inference-mode batch normalisation over axis 1."""

    name = "nn.batch_norm"
    input = operand_def(TensorType)
    scale = operand_def(TensorType)
    bias = operand_def(TensorType)
    mean = operand_def(TensorType)
    var = operand_def(TensorType)
    res = result_def(TensorType)
    epsilon = prop_def(FloatAttr)

    def __init__(
        self,
        input: Value,
        scale: Value,
        bias: Value,
        mean: Value,
        var: Value,
        result_type: Attribute | None = None,
        *,
        epsilon: float = 1e-5,
    ):
        init_op(self, [input, scale, bias, mean, var], [result_type or value_type(input)], epsilon=epsilon)


# --- reductions and pooling --------------------------------------------------------


class ReduceOp(NNOp):
    """Reduction over `axes` (all axes when absent); `keepdims` keeps them as size 1."""

    input = operand_def(TensorType)
    res = result_def(TensorType)
    axes = opt_prop_def(DenseArrayBase)
    keepdims = opt_prop_def(UnitAttr)

    def __init__(self, input: Value, result_type: Attribute, *, axes: Sequence[int] | None = None, keepdims: bool = True):
        init_op(self, [input], [result_type], axes=axes, keepdims=keepdims)


@irdl_op_definition
class ReduceMeanOp(ReduceOp):
    name = "nn.reduce_mean"


@irdl_op_definition
class ReduceSumOp(ReduceOp):
    name = "nn.reduce_sum"


@irdl_op_definition
class ReduceMaxOp(ReduceOp):
    name = "nn.reduce_max"


@irdl_op_definition
class ReduceMinOp(ReduceOp):
    name = "nn.reduce_min"


@irdl_op_definition
class ReduceProdOp(ReduceOp):
    name = "nn.reduce_prod"


@irdl_op_definition
class ReduceSumSquareOp(ReduceOp):
    name = "nn.reduce_sum_square"


@irdl_op_definition
class ReduceL2Op(ReduceOp):
    name = "nn.reduce_l2"


class _ArgOp(NNOp):
    """Index (int64) of the extreme value along `axis`; `select_last_index` takes the last of ties."""

    input = operand_def(TensorType)
    res = result_def(TensorType)
    axis = prop_def(IntegerAttr)
    keepdims = opt_prop_def(UnitAttr)
    select_last_index = opt_prop_def(UnitAttr)

    def __init__(self, input: Value, result_type: Attribute, *, axis: int, keepdims: bool = True, select_last_index: bool = False):
        init_op(self, [input], [result_type], axis=axis, keepdims=keepdims, select_last_index=select_last_index)


@irdl_op_definition
class ArgMaxOp(_ArgOp):
    name = "nn.argmax"


@irdl_op_definition
class ArgMinOp(_ArgOp):
    name = "nn.argmin"


class PoolOp(NNOp):
    input = operand_def(TensorType)
    res = result_def(TensorType)
    kernel = prop_def(DenseArrayBase)
    strides = prop_def(DenseArrayBase)
    pads = prop_def(DenseArrayBase)
    dilations = prop_def(DenseArrayBase)
    ceil_mode = opt_prop_def(UnitAttr)

    def __init__(
        self,
        input: Value,
        result_type: Attribute,
        *,
        kernel: Sequence[int],
        strides: Sequence[int],
        pads: Sequence[int],
        dilations: Sequence[int],
        ceil_mode: bool = False,
        **props,
    ):
        init_op(self, [input], [result_type], kernel=kernel, strides=strides, pads=pads, dilations=dilations, ceil_mode=ceil_mode, **props)


@irdl_op_definition
class MaxPoolOp(PoolOp):
    """Max over each window; padding never wins."""

    name = "nn.max_pool"


@irdl_op_definition
class AvgPoolOp(PoolOp):
    """Mean over each window; padded cells count only if `count_include_pad`."""

    name = "nn.avg_pool"
    count_include_pad = opt_prop_def(UnitAttr)


# --- data movement ------------------------------------------------------------


class _ReshapeLike(NNOp):
    input = operand_def(TensorType)
    res = result_def(TensorType)

    def __init__(self, input: Value, result_type: Attribute):
        init_op(self, [input], [result_type])


@irdl_op_definition
class ReshapeOp(_ReshapeLike):
    """Row-major reshape to the result type's shape."""

    name = "nn.reshape"

    def verify_(self) -> None:
        import math

        if math.prod(_shape(self.input)) != math.prod(_shape(self.res)):
            raise VerifyException("nn.reshape: element counts differ")


@irdl_op_definition
class BroadcastOp(_ReshapeLike):
    """Broadcast to the result type's shape (ONNX Expand, shape already resolved)."""

    name = "nn.broadcast"


@irdl_op_definition
class TransposeOp(NNOp):
    """Permutes the axes: result axis i is input axis perm[i]."""

    name = "nn.transpose"
    input = operand_def(TensorType)
    res = result_def(TensorType)
    perm = prop_def(DenseArrayBase)

    def __init__(self, input: Value, result_type: Attribute | None = None, *, perm: Sequence[int]):
        if result_type is None:
            t = value_type(input)
            result_type = TensorType(t.element_type, [t.get_shape()[p] for p in perm])
        init_op(self, [input], [result_type], perm=perm)

    def verify_(self) -> None:
        perm = self.perm.get_values()
        ins = _shape(self.input)
        if sorted(perm) != list(range(len(ins))):
            raise VerifyException(f"nn.transpose: {list(perm)} is not a permutation of rank {len(ins)}")
        if tuple(ins[p] for p in perm) != _shape(self.res):
            raise VerifyException("nn.transpose: result shape does not match the permutation")


@irdl_op_definition
class ConcatOp(NNOp):
    """Joins the inputs along `axis`."""

    name = "nn.concat"
    inputs = var_operand_def(TensorType)
    res = result_def(TensorType)
    axis = prop_def(IntegerAttr)

    def __init__(self, inputs: Sequence[Value], result_type: Attribute, *, axis: int):
        init_op(self, [inputs], [result_type], axis=axis)

    def verify_(self) -> None:
        if not self.inputs:
            raise VerifyException("nn.concat: needs at least one input")
        shapes = [_shape(x) for x in self.inputs]
        rank = len(shapes[0])
        axis = self.axis.value.data
        _check_axis(self, axis, rank)
        axis %= max(rank, 1)
        out = _shape(self.res)
        for s in shapes:
            if len(s) != rank or s[:axis] + s[axis + 1 :] != out[:axis] + out[axis + 1 :]:
                raise VerifyException(f"nn.concat: input {s} does not fit result {out} off axis {axis}")
        if sum(s[axis] for s in shapes) != out[axis]:
            raise VerifyException(f"nn.concat: inputs add up to {sum(s[axis] for s in shapes)} on axis {axis}, not {out[axis]}")


@irdl_op_definition
class SplitOp(NNOp):
    """Cuts the input along `axis` into the results' sizes."""

    name = "nn.split"
    input = operand_def(TensorType)
    outs = var_result_def(TensorType)
    axis = prop_def(IntegerAttr)

    def __init__(self, input: Value, result_types: Sequence[Attribute], *, axis: int):
        init_op(self, [input], [result_types], axis=axis)

    def verify_(self) -> None:
        ins = _shape(self.input)
        axis = self.axis.value.data
        _check_axis(self, axis, len(ins))
        total = sum(_shape(o)[axis] for o in self.outs)
        if total != ins[axis]:
            raise VerifyException(f"nn.split: parts add up to {total}, not {ins[axis]}")


@irdl_op_definition
class SliceOp(NNOp):
    """Strided slice: for each listed axis, start:end:step with ONNX clamping."""

    name = "nn.slice"
    input = operand_def(TensorType)
    res = result_def(TensorType)
    starts = prop_def(DenseArrayBase)
    ends = prop_def(DenseArrayBase)
    axes = prop_def(DenseArrayBase)
    steps = prop_def(DenseArrayBase)

    def __init__(
        self,
        input: Value,
        result_type: Attribute,
        *,
        starts: Sequence[int],
        ends: Sequence[int],
        axes: Sequence[int],
        steps: Sequence[int],
    ):
        init_op(self, [input], [result_type], starts=starts, ends=ends, axes=axes, steps=steps)

    def verify_(self) -> None:
        from nscc.ir.shapes import slice_for

        x = _shape(self.input)
        starts, ends, axes, steps = (a.get_values() for a in (self.starts, self.ends, self.axes, self.steps))
        if not len(starts) == len(ends) == len(axes) == len(steps):
            raise VerifyException("nn.slice: starts, ends, axes and steps must have the same length")
        out = list(x)
        for s, e, a, st in zip(starts, ends, axes, steps):
            _check_axis(self, a, len(x))
            if st == 0:
                raise VerifyException("nn.slice: step 0 is invalid")
            out[a] = len(range(x[a])[slice_for(x[a], s, e, st)])
        if tuple(out) != _shape(self.res):
            raise VerifyException(f"nn.slice: result shape must be {tuple(out)}")


@irdl_op_definition
class GatherOp(NNOp):
    """numpy.take along `axis`; negative indices count from the end."""

    name = "nn.gather"
    input = operand_def(TensorType)
    indices = operand_def(TensorType)
    res = result_def(TensorType)
    axis = prop_def(IntegerAttr)

    def __init__(self, input: Value, indices: Value, result_type: Attribute, *, axis: int):
        init_op(self, [input, indices], [result_type], axis=axis)

    def verify_(self) -> None:
        x, idx = _shape(self.input), _shape(self.indices)
        axis = self.axis.value.data
        _check_axis(self, axis, len(x))
        axis %= max(len(x), 1)
        if _shape(self.res) != x[:axis] + idx + x[axis + 1 :]:
            raise VerifyException(f"nn.gather: result shape must be {x[:axis] + idx + x[axis + 1 :]}")


@irdl_op_definition
class GatherElementsOp(NNOp):
    """numpy.take_along_axis; negative indices count from the end."""

    name = "nn.gather_elements"
    input = operand_def(TensorType)
    indices = operand_def(TensorType)
    res = result_def(TensorType)
    axis = prop_def(IntegerAttr)

    def __init__(self, input: Value, indices: Value, result_type: Attribute, *, axis: int):
        init_op(self, [input, indices], [result_type], axis=axis)


@irdl_op_definition
class GatherNDOp(NNOp):
    """ONNX GatherND: index tuples in the last axis of `indices`, after `batch_dims` shared axes."""

    name = "nn.gather_nd"
    input = operand_def(TensorType)
    indices = operand_def(TensorType)
    res = result_def(TensorType)
    batch_dims = prop_def(IntegerAttr)

    def __init__(self, input: Value, indices: Value, result_type: Attribute, *, batch_dims: int = 0):
        init_op(self, [input, indices], [result_type], batch_dims=batch_dims)


@irdl_op_definition
class TileOp(NNOp):
    """numpy.tile by `repeats`."""

    name = "nn.tile"
    input = operand_def(TensorType)
    res = result_def(TensorType)
    repeats = prop_def(DenseArrayBase)

    def __init__(self, input: Value, result_type: Attribute, *, repeats: Sequence[int]):
        init_op(self, [input], [result_type], repeats=repeats)


@irdl_op_definition
class PadOp(NNOp):
    """Pads begin/end per axis; mode constant (with `value`), reflect, edge or wrap."""

    name = "nn.pad"
    input = operand_def(TensorType)
    res = result_def(TensorType)
    pads = prop_def(DenseArrayBase)
    mode = prop_def(one_of(PadMode, "nn.pad: mode"))
    value = prop_def(FloatAttr)

    def __init__(self, input: Value, result_type: Attribute, *, pads: Sequence[int], mode: str = PadMode.CONSTANT, value: float = 0.0):
        init_op(self, [input], [result_type], pads=pads, mode=mode, value=value)

    def verify_(self) -> None:
        x, pads = _shape(self.input), self.pads.get_values()
        if len(pads) != 2 * len(x):
            raise VerifyException(f"nn.pad: pads needs {2 * len(x)} entries (begins, then ends), got {len(pads)}")
        if any(p < 0 for p in pads):
            raise VerifyException("nn.pad: pads must not be negative")
        out = tuple(d + pads[i] + pads[i + len(x)] for i, d in enumerate(x))
        if out != _shape(self.res):
            raise VerifyException(f"nn.pad: result shape must be {out}")


@irdl_op_definition
class RangeOp(NNOp):
    """start, start+delta, ... below limit; the operands are scalars."""

    name = "nn.range"
    start = operand_def(TensorType)
    limit = operand_def(TensorType)
    delta = operand_def(TensorType)
    res = result_def(TensorType)

    def __init__(self, start: Value, limit: Value, delta: Value, result_type: Attribute):
        init_op(self, [start, limit, delta], [result_type])


NN = Dialect(
    "nn",
    [
        WeightOp,
        NegOp,
        AbsOp,
        SqrtOp,
        ReciprocalOp,
        ExpOp,
        LogOp,
        ErfOp,
        TanhOp,
        SigmoidOp,
        ReluOp,
        SinOp,
        CosOp,
        FloorOp,
        CeilOp,
        RoundOp,
        SignOp,
        NotOp,
        IsNanOp,
        SoftplusOp,
        CastOp,
        GeluOp,
        SiluOp,
        HadamardOp,
        LeakyReluOp,
        EluOp,
        HardSigmoidOp,
        ClipOp,
        SoftmaxOp,
        LogSoftmaxOp,
        CumSumOp,
        TriluOp,
        AddOp,
        SubOp,
        MulOp,
        DivOp,
        PowOp,
        ModOp,
        MinOp,
        MaxOp,
        EqualOp,
        LessOp,
        LessEqualOp,
        GreaterOp,
        GreaterEqualOp,
        AndOp,
        OrOp,
        XorOp,
        WhereOp,
        MatMulOp,
        GemmOp,
        ConvOp,
        AttentionOp,
        LinearAttentionOp,
        WindowAttentionOp,
        FeatureMapOp,
        LinearAttentionStepOp,
        LayerNormOp,
        RMSNormOp,
        BatchNormOp,
        ReduceMeanOp,
        ReduceSumOp,
        ReduceMaxOp,
        ReduceMinOp,
        ReduceProdOp,
        ReduceSumSquareOp,
        ReduceL2Op,
        ArgMaxOp,
        ArgMinOp,
        MaxPoolOp,
        AvgPoolOp,
        ReshapeOp,
        TransposeOp,
        BroadcastOp,
        ConcatOp,
        SplitOp,
        SliceOp,
        GatherOp,
        GatherElementsOp,
        GatherNDOp,
        TileOp,
        PadOp,
        RangeOp,
    ],  # fmt: skip
    [],
)
