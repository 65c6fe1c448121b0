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

from xdsl.dialects.builtin import (
    DenseArrayBase,
    FloatAttr,
    IntegerAttr,
    StringAttr,
    TensorType,
)
from xdsl.ir import Dialect
from xdsl.irdl import (
    IRDLOperation,
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
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException


class NNOp(IRDLOperation):
    """Common syntax: operands, then properties as an attribute dictionary."""

    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "operands attr-dict `:` functional-type(operands, results)"
    traits = traits_def(Pure())


def _shape(value) -> tuple[int, ...]:
    return tuple(value.type.get_shape())


class UnaryOp(NNOp):
    input = operand_def(TensorType)
    res = result_def(TensorType)

    def verify_(self) -> None:
        if _shape(self.input) != _shape(self.res):
            raise VerifyException(f"{self.name}: result shape must equal input shape")


class BinaryOp(NNOp):
    """Elementwise with numpy/ONNX multidirectional broadcasting."""

    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    res = result_def(TensorType)

    def verify_(self) -> None:
        import numpy as np

        try:
            out = np.broadcast_shapes(_shape(self.lhs), _shape(self.rhs))
        except ValueError:
            raise VerifyException(
                f"{self.name}: operand shapes {_shape(self.lhs)} and {_shape(self.rhs)} do not broadcast"
            ) from None
        if tuple(out) != _shape(self.res):
            raise VerifyException(f"{self.name}: result shape must be {tuple(out)}")


# --- weights -----------------------------------------------------------------


@irdl_op_definition
class WeightOp(IRDLOperation):
    """A tensor stored out of line, in the module's weight store, by name."""

    name = "nn.weight"
    sym = prop_def(StringAttr)
    res = result_def()
    traits = traits_def(Pure())
    assembly_format = "$sym attr-dict `:` type($res)"


# --- elementwise -----------------------------------------------------------------


def _declare(base: type[NNOp], op_name: str, doc: str | None = None) -> type[NNOp]:
    """Declares `nn.foo_bar` as class FooBarOp(base) with the given docstring."""
    cls_name = "".join(p.title() for p in op_name.split(".")[1].split("_")) + "Op"
    return irdl_op_definition(type(cls_name, (base,), {"name": op_name, "__doc__": doc or base.__doc__}))


def _unary(op_name: str, doc: str) -> type[UnaryOp]:
    return _declare(UnaryOp, op_name, doc)


NegOp = _unary("nn.neg", "-x")
AbsOp = _unary("nn.abs", "|x|")
SqrtOp = _unary("nn.sqrt", "sqrt(x)")
ReciprocalOp = _unary("nn.reciprocal", "1/x")
ExpOp = _unary("nn.exp", "e^x")
LogOp = _unary("nn.log", "ln(x)")
ErfOp = _unary("nn.erf", "the Gauss error function")
TanhOp = _unary("nn.tanh", "tanh(x)")
SigmoidOp = _unary("nn.sigmoid", "1/(1+e^-x)")
ReluOp = _unary("nn.relu", "max(x, 0)")
SinOp = _unary("nn.sin", "sin(x)")
CosOp = _unary("nn.cos", "cos(x)")
FloorOp = _unary("nn.floor", "floor(x)")
CeilOp = _unary("nn.ceil", "ceil(x)")
RoundOp = _unary("nn.round", "round half to even")
SignOp = _unary("nn.sign", "sign(x)")
NotOp = _unary("nn.not", "logical not")
IsNanOp = _unary("nn.isnan", "x != x")
SoftplusOp = _unary("nn.softplus", "ln(1+e^x)")
CastOp = _unary("nn.cast", "element type conversion to the result's element type (ONNX Cast)")


@irdl_op_definition
class GeluOp(UnaryOp):
    """x * Phi(x); `approximate = "tanh"` selects the tanh formula."""

    name = "nn.gelu"
    approximate = prop_def(StringAttr)


@irdl_op_definition
class LeakyReluOp(UnaryOp):
    name = "nn.leaky_relu"
    alpha = prop_def(FloatAttr)


@irdl_op_definition
class EluOp(UnaryOp):
    name = "nn.elu"
    alpha = prop_def(FloatAttr)


@irdl_op_definition
class HardSigmoidOp(UnaryOp):
    name = "nn.hard_sigmoid"
    alpha = prop_def(FloatAttr)
    beta = prop_def(FloatAttr)


@irdl_op_definition
class ClipOp(UnaryOp):
    """min(max(x, min), max); a missing bound is unbounded."""

    name = "nn.clip"
    min = opt_prop_def(FloatAttr)
    max = opt_prop_def(FloatAttr)


@irdl_op_definition
class SoftmaxOp(UnaryOp):
    name = "nn.softmax"
    axis = prop_def(IntegerAttr)


@irdl_op_definition
class LogSoftmaxOp(UnaryOp):
    name = "nn.log_softmax"
    axis = prop_def(IntegerAttr)


@irdl_op_definition
class CumSumOp(UnaryOp):
    name = "nn.cumsum"
    axis = prop_def(IntegerAttr)
    exclusive = prop_def(IntegerAttr)
    reverse = prop_def(IntegerAttr)


@irdl_op_definition
class TriluOp(UnaryOp):
    """Keeps the upper (upper=1) or lower triangle from diagonal k, zeroes the rest."""

    name = "nn.trilu"
    upper = prop_def(IntegerAttr)
    k = prop_def(IntegerAttr)


def _binary(op_name: str, doc: str) -> type[BinaryOp]:
    return _declare(BinaryOp, op_name, doc)


AddOp = _binary("nn.add", "a + b")
SubOp = _binary("nn.sub", "a - b")
MulOp = _binary("nn.mul", "a * b")
DivOp = _binary("nn.div", "a / b (integers: truncating)")
PowOp = _binary("nn.pow", "a ** b")
MinOp = _binary("nn.min", "elementwise minimum")
MaxOp = _binary("nn.max", "elementwise maximum")
EqualOp = _binary("nn.equal", "a == b")
LessOp = _binary("nn.less", "a < b")
LessEqualOp = _binary("nn.less_equal", "a <= b")
GreaterOp = _binary("nn.greater", "a > b")
GreaterEqualOp = _binary("nn.greater_equal", "a >= b")
AndOp = _binary("nn.and", "logical and")
OrOp = _binary("nn.or", "logical or")
XorOp = _binary("nn.xor", "logical xor")


@irdl_op_definition
class ModOp(BinaryOp):
    """Remainder with the sign of the divisor; `fmod = 1` gives C fmod (sign of the dividend)."""

    name = "nn.mod"
    fmod = prop_def(IntegerAttr)


@irdl_op_definition
class WhereOp(NNOp):
    name = "nn.where"
    cond = operand_def(TensorType)
    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    res = result_def(TensorType)


# --- linear algebra ------------------------------------------------------------


@irdl_op_definition
class MatMulOp(NNOp):
    """numpy.matmul: batched, broadcasting, 1-D operands promoted as in numpy."""

    name = "nn.matmul"
    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    res = result_def(TensorType)

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
    trans_a = prop_def(IntegerAttr)
    trans_b = prop_def(IntegerAttr)


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
    causal = prop_def(IntegerAttr)

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
        out_t = phi(q_t) S_t / (phi(q_t) . z_t + 1e-6)   (without the division if normalize = 0)

    causal = 0 sums over the whole sequence instead (lambda unused). The
    recurrent form costs O(1) per token; whole sequences may be computed in
    the equivalent parallel form phi(q) phi(k)^T (masked, decayed) v."""

    name = "nn.linear_attention"
    q = operand_def(TensorType)
    k = operand_def(TensorType)
    v = operand_def(TensorType)
    res = result_def(TensorType)
    feature = prop_def(StringAttr)
    decay = prop_def(FloatAttr)
    normalize = prop_def(IntegerAttr)
    causal = prop_def(IntegerAttr)

    def verify_(self) -> None:
        if self.feature.data not in ("relu", "elu1"):
            raise VerifyException("nn.linear_attention: feature must be relu or elu1")
        if not 0.0 < self.decay.value.data <= 1.0:
            raise VerifyException("nn.linear_attention: decay must be in (0, 1]")


# --- normalisation ---------------------------------------------------------------


@irdl_op_definition
class LayerNormOp(NNOp):
    """(x - mean) / sqrt(var + epsilon) * scale + bias over the axes from `axis` on."""

    name = "nn.layer_norm"
    input = operand_def(TensorType)
    scale = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    res = result_def(TensorType)
    axis = prop_def(IntegerAttr)
    epsilon = prop_def(FloatAttr)


@irdl_op_definition
class RMSNormOp(NNOp):
    """x / sqrt(mean(x^2) + epsilon) * scale over the axes from `axis` on."""

    name = "nn.rms_norm"
    input = operand_def(TensorType)
    scale = operand_def(TensorType)
    res = result_def(TensorType)
    axis = prop_def(IntegerAttr)
    epsilon = prop_def(FloatAttr)


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


# --- reductions and pooling --------------------------------------------------------


class ReduceOp(NNOp):
    """Reduction over `axes` (all axes when absent); `keepdims` keeps them as size 1."""

    input = operand_def(TensorType)
    res = result_def(TensorType)
    axes = opt_prop_def(DenseArrayBase)
    keepdims = prop_def(IntegerAttr)


def _reduce(op_name: str) -> type[ReduceOp]:
    return _declare(ReduceOp, op_name)


ReduceMeanOp = _reduce("nn.reduce_mean")
ReduceSumOp = _reduce("nn.reduce_sum")
ReduceMaxOp = _reduce("nn.reduce_max")
ReduceMinOp = _reduce("nn.reduce_min")
ReduceProdOp = _reduce("nn.reduce_prod")
ReduceSumSquareOp = _reduce("nn.reduce_sum_square")
ReduceL2Op = _reduce("nn.reduce_l2")


@irdl_op_definition
class ArgMaxOp(NNOp):
    name = "nn.argmax"
    input = operand_def(TensorType)
    res = result_def(TensorType)
    axis = prop_def(IntegerAttr)
    keepdims = prop_def(IntegerAttr)
    select_last_index = prop_def(IntegerAttr)


@irdl_op_definition
class ArgMinOp(NNOp):
    name = "nn.argmin"
    input = operand_def(TensorType)
    res = result_def(TensorType)
    axis = prop_def(IntegerAttr)
    keepdims = prop_def(IntegerAttr)
    select_last_index = prop_def(IntegerAttr)


class PoolOp(NNOp):
    input = operand_def(TensorType)
    res = result_def(TensorType)
    kernel = prop_def(DenseArrayBase)
    strides = prop_def(DenseArrayBase)
    pads = prop_def(DenseArrayBase)
    dilations = prop_def(DenseArrayBase)
    ceil_mode = prop_def(IntegerAttr)


@irdl_op_definition
class MaxPoolOp(PoolOp):
    """Max over each window; padding never wins."""

    name = "nn.max_pool"


@irdl_op_definition
class AvgPoolOp(PoolOp):
    """Mean over each window; padded cells count only if `count_include_pad`."""

    name = "nn.avg_pool"
    count_include_pad = prop_def(IntegerAttr)


# --- data movement ------------------------------------------------------------


@irdl_op_definition
class ReshapeOp(NNOp):
    """Row-major reshape to the result type's shape."""

    name = "nn.reshape"
    input = operand_def(TensorType)
    res = result_def(TensorType)

    def verify_(self) -> None:
        import math

        if math.prod(_shape(self.input)) != math.prod(_shape(self.res)):
            raise VerifyException("nn.reshape: element counts differ")


@irdl_op_definition
class TransposeOp(NNOp):
    name = "nn.transpose"
    input = operand_def(TensorType)
    res = result_def(TensorType)
    perm = prop_def(DenseArrayBase)

    def verify_(self) -> None:
        perm = self.perm.get_values()
        ins = _shape(self.input)
        if sorted(perm) != list(range(len(ins))):
            raise VerifyException(f"nn.transpose: {list(perm)} is not a permutation of rank {len(ins)}")
        if tuple(ins[p] for p in perm) != _shape(self.res):
            raise VerifyException("nn.transpose: result shape does not match the permutation")


@irdl_op_definition
class BroadcastOp(NNOp):
    """Broadcast to the result type's shape (ONNX Expand, shape already resolved)."""

    name = "nn.broadcast"
    input = operand_def(TensorType)
    res = result_def(TensorType)


@irdl_op_definition
class ConcatOp(NNOp):
    name = "nn.concat"
    inputs = var_operand_def(TensorType)
    res = result_def(TensorType)
    axis = prop_def(IntegerAttr)


@irdl_op_definition
class SplitOp(NNOp):
    name = "nn.split"
    input = operand_def(TensorType)
    outs = var_result_def(TensorType)
    axis = prop_def(IntegerAttr)

    def verify_(self) -> None:
        ins = _shape(self.input)
        axis = self.axis.value.data
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


@irdl_op_definition
class GatherOp(NNOp):
    """numpy.take along `axis`; negative indices count from the end."""

    name = "nn.gather"
    input = operand_def(TensorType)
    indices = operand_def(TensorType)
    res = result_def(TensorType)
    axis = prop_def(IntegerAttr)


@irdl_op_definition
class GatherElementsOp(NNOp):
    name = "nn.gather_elements"
    input = operand_def(TensorType)
    indices = operand_def(TensorType)
    res = result_def(TensorType)
    axis = prop_def(IntegerAttr)


@irdl_op_definition
class GatherNDOp(NNOp):
    name = "nn.gather_nd"
    input = operand_def(TensorType)
    indices = operand_def(TensorType)
    res = result_def(TensorType)
    batch_dims = prop_def(IntegerAttr)


@irdl_op_definition
class TileOp(NNOp):
    name = "nn.tile"
    input = operand_def(TensorType)
    res = result_def(TensorType)
    repeats = prop_def(DenseArrayBase)


@irdl_op_definition
class PadOp(NNOp):
    """Pads begin/end per axis; mode constant (with `value`), reflect or edge."""

    name = "nn.pad"
    input = operand_def(TensorType)
    res = result_def(TensorType)
    pads = prop_def(DenseArrayBase)
    mode = prop_def(StringAttr)
    value = prop_def(FloatAttr)


@irdl_op_definition
class RangeOp(NNOp):
    """start, start+delta, ... below limit; the operands are scalars."""

    name = "nn.range"
    start = operand_def(TensorType)
    limit = operand_def(TensorType)
    delta = operand_def(TensorType)
    res = result_def(TensorType)


NN = Dialect(
    "nn",
    [
        WeightOp,
        NegOp, AbsOp, SqrtOp, ReciprocalOp, ExpOp, LogOp, ErfOp, TanhOp, SigmoidOp, ReluOp,
        SinOp, CosOp, FloorOp, CeilOp, RoundOp, SignOp, NotOp, IsNanOp, SoftplusOp, CastOp,
        GeluOp, LeakyReluOp, EluOp, HardSigmoidOp, ClipOp, SoftmaxOp, LogSoftmaxOp, CumSumOp, TriluOp,
        AddOp, SubOp, MulOp, DivOp, PowOp, ModOp, MinOp, MaxOp, EqualOp, LessOp, LessEqualOp,
        GreaterOp, GreaterEqualOp, AndOp, OrOp, XorOp, WhereOp,
        MatMulOp, GemmOp, ConvOp, AttentionOp, LinearAttentionOp,
        LayerNormOp, RMSNormOp, BatchNormOp,
        ReduceMeanOp, ReduceSumOp, ReduceMaxOp, ReduceMinOp, ReduceProdOp, ReduceSumSquareOp, ReduceL2Op,
        ArgMaxOp, ArgMinOp, MaxPoolOp, AvgPoolOp,
        ReshapeOp, TransposeOp, BroadcastOp, ConcatOp, SplitOp, SliceOp, GatherOp, GatherElementsOp,
        GatherNDOp, TileOp, PadOp, RangeOp,
    ],  # fmt: skip
    [],
)
