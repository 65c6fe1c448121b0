"""The `snn` dialect: spiking, MatMul-free operations with exact integer semantics.

Values in this dialect are integers. Spike counts (`!snn.counts`) are what a
neuron emits over a window of D timesteps, as one integer in [0, D] (or
[-D, D] when signed); binary trains (`!snn.spikes`) spell a count out as slots
of 0/1 (or -1/0/+1) spikes. Synaptic accumulation adds integer weights for
spikes and never multiplies two activations: that is the MatMul-free core.
Weights are builtin integer tensors whose element width is the weight bit
width (`tensor<64x128xi4>`); their scales are ordinary f32 weights consumed by
`snn.decode`, and their integer requantization constants by `snn.requant`.

`docs/semantics.md` is the normative definition of every op; the reference
interpreter (`nscc.semantics.snn`) implements it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from xdsl.dialects.builtin import (
    ArrayAttr,
    DenseArrayBase,
    IntAttr,
    IntegerAttr,
    IntegerType,
    StringAttr,
    TensorType,
    UnitAttr,
    f32,
    i32,
    i64,
)
from xdsl.ir import Attribute, Dialect, Operation, ParametrizedAttribute, SSAValue, TypeAttribute
from xdsl.irdl import (
    IRDLOperation,
    ParsePropInAttrDict,
    irdl_attr_definition,
    irdl_op_definition,
    operand_def,
    opt_operand_def,
    opt_prop_def,
    prop_def,
    result_def,
    traits_def,
)
from xdsl.parser import AttrParser
from xdsl.printer import Printer
from xdsl.traits import Pure
from xdsl.utils.exceptions import VerifyException

from nscc.ir.types import init_op, value_type

Value = SSAValue | Operation
"""An operand: a value, or the (single-result) op defining it."""

CODINGS = ("thermometer", "bitplane", "rate")


def _dims(shape: Sequence[int]) -> ArrayAttr[IntAttr]:
    return ArrayAttr([IntAttr(int(d)) for d in shape])


@irdl_attr_definition
class CountsType(ParametrizedAttribute, TypeAttribute):
    """Integer spike counts: `!snn.counts<4x8, 15>` holds values in [0, 15];
    `!snn.counts<4x8, 15, signed>` holds values in [-15, 15]. `max` lowers the top:
    `!snn.counts<4x8, 8, signed, max 7>` holds [-8, 7], the range of a two's-complement
    quantizer a model was trained with (Brevitas' signed activations)."""

    name = "snn.counts"
    shape: ArrayAttr[IntAttr]
    levels: IntAttr
    signed: IntAttr
    top: IntAttr

    def __init__(self, shape: Sequence[int], levels: int, signed: bool = False, top: int | None = None):
        super().__init__(_dims(shape), IntAttr(levels), IntAttr(int(signed)), IntAttr(0 if top is None or top == levels else top))

    def get_shape(self) -> tuple[int, ...]:
        return tuple(d.data for d in self.shape.data)

    @property
    def lo(self) -> int:
        return -self.levels.data if self.signed.data else 0

    @property
    def hi(self) -> int:
        return self.top.data or self.levels.data

    def verify(self) -> None:
        if not 1 <= self.levels.data <= 2**15 - 1:
            raise VerifyException("snn.counts: levels must be in [1, 32767]")
        if self.signed.data not in (0, 1):
            raise VerifyException("snn.counts: signed is 0 or 1")
        if not 0 <= self.top.data < self.levels.data or (self.top.data and not self.signed.data):
            raise VerifyException("snn.counts: max must be below the levels, and only signed counts have one")

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_dimension_list(self.get_shape())
            printer.print_string(f", {self.levels.data}")
            if self.signed.data:
                printer.print_string(", signed")
            if self.top.data:
                printer.print_string(f", max {self.top.data}")

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> list[Attribute]:
        with parser.in_angle_brackets():
            dims = parser.parse_dimension_list()
            parser.parse_punctuation(",")
            levels = parser.parse_integer(allow_negative=False, allow_boolean=False)
            signed = top = 0
            while parser.parse_optional_punctuation(",") is not None:
                if parser.parse_optional_keyword("signed") is not None:
                    signed = 1
                else:
                    parser.parse_keyword("max")
                    top = parser.parse_integer(allow_negative=False, allow_boolean=False)
        return [_dims(dims), IntAttr(levels), IntAttr(signed), IntAttr(top)]


@irdl_attr_definition
class SpikesType(ParametrizedAttribute, TypeAttribute):
    """Binary spike trains with a leading slot axis: `!snn.spikes<15x4x8, thermometer>`.

    Slot t carries weight 1 (thermometer, rate) or 2^t (bitplane) when the
    train is summed back into a count; signed trains hold -1/0/+1.
    """

    name = "snn.spikes"
    shape: ArrayAttr[IntAttr]
    coding: StringAttr
    signed: IntAttr

    def __init__(self, shape: Sequence[int], coding: str, signed: bool = False):
        super().__init__(_dims(shape), StringAttr(coding), IntAttr(int(signed)))

    def get_shape(self) -> tuple[int, ...]:
        return tuple(d.data for d in self.shape.data)

    @property
    def slots(self) -> int:
        return self.get_shape()[0]

    def slot_weights(self) -> list[int]:
        return [1 << t for t in range(self.slots)] if self.coding.data == "bitplane" else [1] * self.slots

    def verify(self) -> None:
        if self.coding.data not in CODINGS:
            raise VerifyException(f"snn.spikes: coding must be one of {', '.join(CODINGS)}")
        if len(self.shape.data) < 1 or self.shape.data[0].data < 1:
            raise VerifyException("snn.spikes: the leading slot axis must be at least 1")

    def print_parameters(self, printer: Printer) -> None:
        with printer.in_angle_brackets():
            printer.print_dimension_list(self.get_shape())
            printer.print_string(f", {self.coding.data}")
            if self.signed.data:
                printer.print_string(", signed")

    @classmethod
    def parse_parameters(cls, parser: AttrParser) -> list[Attribute]:
        with parser.in_angle_brackets():
            dims = parser.parse_dimension_list()
            parser.parse_punctuation(",")
            coding = parser.parse_identifier()
            signed = parser.parse_optional_punctuation(",") is not None
            if signed:
                parser.parse_keyword("signed")
        return [_dims(dims), StringAttr(coding), IntAttr(int(signed))]


def slots_for(levels: int, coding: str) -> int:
    """Slots needed to spell counts up to `levels` in a coding."""
    return levels if coding in ("thermometer", "rate") else max(1, levels.bit_length())


def _int_width(t: Attribute) -> int:
    if isinstance(t, TensorType) and isinstance(t.element_type, IntegerType):
        return t.element_type.width.data
    raise VerifyException(f"expected an integer tensor, got {t}")


def _activation_bound(t: Attribute) -> tuple[int, int]:
    """(largest |value| of one input element, how many slots it spans)."""
    if isinstance(t, CountsType):
        return t.levels.data, 1
    if isinstance(t, SpikesType):
        return max(t.slot_weights()), t.slots
    raise VerifyException(f"expected !snn.counts or !snn.spikes, got {t}")


def check_accumulator(op_name: str, fan_in: int, act_type: Attribute, weight_bits: int, acc_bits: int, group_max: int = 1) -> None:
    """Static overflow check: the worst-case |sum| must fit the signed accumulator."""
    act_max, _ = _activation_bound(act_type)
    if isinstance(act_type, SpikesType):
        act_max = sum(act_type.slot_weights())  # all slots firing spell the largest count
    worst = fan_in * act_max * (1 << (weight_bits - 1)) * group_max
    if worst > (1 << (acc_bits - 1)) - 1:
        raise VerifyException(
            f"{op_name}: accumulator of {acc_bits} bits can overflow "
            f"(fan-in {fan_in} x activation {act_max} x weight {1 << (weight_bits - 1)} = {worst}); "
            "use fewer levels, fewer weight bits or a wider accumulator"
        )


def _shape(v) -> tuple[int, ...]:
    return tuple(v.type.get_shape())


def _check_axis(op: Operation, axis: int, rank: int) -> None:
    if not -max(rank, 1) <= axis < max(rank, 1):
        raise VerifyException(f"{op.name}: axis {axis} is out of range for rank {rank}")


def _check_channel(op: Operation, vec, what: str) -> None:
    """A per-channel operand: a scalar, or one value per channel of `axis` of the input."""
    x, axis = _shape(op.input), op.axis.value.data
    _check_axis(op, axis, len(x))
    s = _shape(vec)
    if math.prod(s) not in (1, x[axis]):
        raise VerifyException(f"{op.name}: {what} must be a scalar or have {x[axis]} values (axis {axis}), got shape {s}")


def _i32_like(v: Value, shape=None) -> TensorType:
    return TensorType(i32, list(value_type(v).get_shape() if shape is None else shape))


class SNNOp(IRDLOperation):
    """Builders take the operands (None for an absent optional one), then the result
    type(s) where they cannot be derived, then the properties as keyword arguments."""

    irdl_options = (ParsePropInAttrDict(),)
    assembly_format = "operands attr-dict `:` functional-type(operands, results)"
    traits = traits_def(Pure())


@irdl_op_definition
class EncodeOp(SNNOp):
    """Real values to spike counts: n = clip(round_even(x / theta), lo, D).

    theta broadcasts against x (a scalar, or one threshold per channel of the
    last axis)."""

    name = "snn.encode"
    input = operand_def(TensorType)
    theta = operand_def(TensorType)
    res = result_def(CountsType)

    def __init__(self, input: Value, theta: Value, result_type: CountsType):
        init_op(self, [input, theta], [result_type])

    def verify_(self) -> None:
        if tuple(self.input.type.get_shape()) != self.res.type.get_shape():
            raise VerifyException("snn.encode: result shape must equal input shape")


@irdl_op_definition
class ExpandOp(SNNOp):
    """Spike counts to binary trains (thermometer or bit planes); lossless."""

    name = "snn.expand"
    input = operand_def(CountsType)
    res = result_def(SpikesType)

    def __init__(self, input: Value, result_type: SpikesType):
        init_op(self, [input], [result_type])

    def verify_(self) -> None:
        ct, st = self.input.type, self.res.type
        if st.get_shape()[1:] != ct.get_shape():
            raise VerifyException("snn.expand: result shape must be [slots] + input shape")
        if st.coding.data == "rate":
            raise VerifyException("snn.expand: coding must be thermometer or bitplane")
        if st.slots != slots_for(ct.levels.data, st.coding.data):
            raise VerifyException(
                f"snn.expand: {st.coding.data} coding of {ct.levels.data} levels needs "
                f"{slots_for(ct.levels.data, st.coding.data)} slots, not {st.slots}"
            )
        if st.signed.data != ct.signed.data:
            raise VerifyException("snn.expand: signedness of counts and spikes must agree")


@irdl_op_definition
class SynapseOp(SNNOp):
    """Synaptic accumulation, acc[..., j] = sum_k n[..., k] * W[k, j].

    Over binary trains the sum also runs over slots with their weights. Only
    additions of weights for spikes: the MatMul-free operation. With a
    group-scale operand m [K/g, N] (integers in [1, 127]) each group of g
    input rows is summed apart and weighted: acc[..., j] = sum_G m[G, j] *
    sum_{k in G} n[..., k] * W[k, j]."""

    name = "snn.synapse"
    input = operand_def(CountsType | SpikesType)
    weight = operand_def(TensorType)
    group_scale = opt_operand_def(TensorType)
    res = result_def(TensorType)
    acc_bits = prop_def(IntegerAttr)

    def __init__(
        self, input: Value, weight: Value, group_scale: Value | None = None, result_type: Attribute | None = None, *, acc_bits: int
    ):
        if result_type is None:  # input[:-1] + [weight columns], acc_bits wide
            it = value_type(input)
            xs = it.get_shape()[1:] if isinstance(it, SpikesType) else it.get_shape()
            result_type = TensorType(IntegerType(int(acc_bits)), [*xs[:-1], value_type(weight).get_shape()[1]])
        init_op(self, [input, weight, group_scale], [result_type], acc_bits=acc_bits)

    def verify_(self) -> None:
        it = self.input.type
        xs = it.get_shape()[1:] if isinstance(it, SpikesType) else it.get_shape()
        ws = tuple(self.weight.type.get_shape())
        if len(ws) != 2 or xs[-1] != ws[0]:
            raise VerifyException(f"snn.synapse: input {xs} does not contract with weight {ws}")
        if tuple(self.res.type.get_shape()) != xs[:-1] + (ws[1],):
            raise VerifyException("snn.synapse: result shape must be input[:-1] + [weight columns]")
        if _int_width(self.res.type) != self.acc_bits.value.data:
            raise VerifyException("snn.synapse: result element width must equal acc_bits")
        group_max = 1
        if self.group_scale is not None:
            gs = tuple(self.group_scale.type.get_shape())
            if _int_width(self.group_scale.type) != 8 or len(gs) != 2 or gs[1] != ws[1] or gs[0] < 1 or ws[0] % gs[0]:
                raise VerifyException(f"snn.synapse: group scale must be i8 of shape [groups dividing {ws[0]}, {ws[1]}], got {gs}")
            group_max = 127
        check_accumulator(self.name, ws[0], it, _int_width(self.weight.type), self.acc_bits.value.data, group_max)


@irdl_op_definition
class ConvSynapseOp(SNNOp):
    """Synaptic accumulation of a convolution (NCHW counts, OIHW integer weights)."""

    name = "snn.conv_synapse"
    input = operand_def(CountsType | SpikesType)
    weight = operand_def(TensorType)
    res = result_def(TensorType)
    strides = prop_def(DenseArrayBase)
    pads = prop_def(DenseArrayBase)
    dilations = prop_def(DenseArrayBase)
    group = prop_def(IntegerAttr)
    acc_bits = prop_def(IntegerAttr)

    def __init__(
        self,
        input: Value,
        weight: Value,
        result_type: Attribute,
        *,
        strides: Sequence[int],
        pads: Sequence[int],
        dilations: Sequence[int],
        group: int = 1,
        acc_bits: int,
    ):
        init_op(self, [input, weight], [result_type], strides=strides, pads=pads, dilations=dilations, group=group, acc_bits=acc_bits)

    def verify_(self) -> None:
        ws = tuple(self.weight.type.get_shape())
        if _int_width(self.res.type) != self.acc_bits.value.data:
            raise VerifyException("snn.conv_synapse: result element width must equal acc_bits")
        check_accumulator(self.name, math.prod(ws[1:]), self.input.type, _int_width(self.weight.type), self.acc_bits.value.data)


@irdl_op_definition
class DecodeOp(SNNOp):
    """Accumulator back to real values: y = f32(acc) * scale + bias, per channel on `axis`."""

    name = "snn.decode"
    input = operand_def(TensorType)
    scale = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    res = result_def(TensorType)
    axis = prop_def(IntegerAttr)

    def __init__(self, input: Value, scale: Value, bias: Value | None, result_type: Attribute, *, axis: int):
        init_op(self, [input, scale, bias], [result_type], axis=axis)

    def verify_(self) -> None:
        if not isinstance(self.input.type.element_type, IntegerType):
            raise VerifyException(f"snn.decode: input must be an integer accumulator, got {self.input.type}")
        if _shape(self.res) != _shape(self.input):
            raise VerifyException("snn.decode: result shape must equal input shape")
        _check_channel(self, self.scale, "scale")
        if self.bias is not None:
            _check_channel(self, self.bias, "bias")


def requant_bias_frac(bias_in_acc, acc_bound: int, mult: int, shift: int) -> int:
    """The `bias_frac` of an snn.requant whose bias is `bias_in_acc` units of acc (real numbers):
    as many fraction bits as keep ((acc << f) + bias) * mult inside 63 bits, the bias inside
    int32 and shift + f at most 62; at most 31. Rounding a bias to whole units of acc moves every
    rounding boundary by up to half a unit, which for trained quantizers (a few units of acc a
    count) changes counts far from any tie."""
    import numpy as np

    biggest = int(np.abs(np.asarray(bias_in_acc, np.float64)).max(initial=0)) + 1
    room = 62 - max(acc_bound, biggest, 1).bit_length() - max(mult, 1).bit_length()
    return int(max(0, min(31, room, 30 - biggest.bit_length(), 62 - shift)))


@irdl_op_definition
class RequantOp(SNNOp):
    """Accumulator (or counts) to the next layer's counts, or to a fixed-point tensor, integers only:
    clip((((acc << bias_frac) + bias) * multiplier + 2^(shift-1)) >> shift, lo, hi), with [lo, hi]
    the count range, or the integer range of the result's element type. `bias_frac` (0 when
    absent) gives the bias fraction bits below one unit of acc. On counts, multiplier 1 and
    bias -r take a resting count r off (`sparsity-pruning`)."""

    name = "snn.requant"
    input = operand_def(TensorType | CountsType)
    multiplier = operand_def(TensorType)
    bias = opt_operand_def(TensorType)
    res = result_def(CountsType | TensorType)
    shift = prop_def(IntegerAttr)
    axis = prop_def(IntegerAttr)
    bias_frac = opt_prop_def(IntegerAttr)

    def __init__(
        self, input: Value, multiplier: Value, bias: Value | None, result_type: Attribute, *, shift: int, axis: int, bias_frac: int = 0
    ):
        init_op(self, [input, multiplier, bias], [result_type], shift=shift, axis=axis, bias_frac=bias_frac or None)

    def verify_(self) -> None:
        if tuple(self.input.type.get_shape()) != self.res.type.get_shape():
            raise VerifyException("snn.requant: result shape must equal input shape")
        if not 0 <= self.shift.value.data <= 62:
            raise VerifyException("snn.requant: shift must be in [0, 62]")
        if self.bias_frac is not None and not (1 <= self.bias_frac.value.data <= 31 and self.bias is not None):
            raise VerifyException("snn.requant: bias_frac must be in [1, 31], and only with a bias")
        _check_channel(self, self.multiplier, "multiplier")
        if self.bias is not None:
            _check_channel(self, self.bias, "bias")


@irdl_op_definition
class NeuronOp(SNNOp):
    """Stateful integer IF/LIF neuron with soft reset, over the leading time axis.

    v <- v - (v >> leak_shift) + I_t   (no leak when leak_shift = 0)
    s_t = [v >= threshold] (- [v <= -threshold] when signed);  v <- v - s_t * threshold

    The result is a rate-coded train (`!snn.spikes<T x S, rate>`, slots summed
    by a synapse) or, for a model that streams in time, one spike per step as
    counts of level 1 (`!snn.counts<T x S, 1>`, the time axis kept)."""

    name = "snn.neuron"
    input = operand_def(TensorType)
    res = result_def(SpikesType | CountsType)
    threshold = prop_def(IntegerAttr)
    leak_shift = prop_def(IntegerAttr)

    def __init__(self, input: Value, result_type: Attribute, *, threshold: int, leak_shift: int = 0):
        init_op(self, [input], [result_type], threshold=threshold, leak_shift=leak_shift)

    def verify_(self) -> None:
        t = self.res.type
        if tuple(self.input.type.get_shape()) != t.get_shape():
            raise VerifyException("snn.neuron: spikes must have the input's shape (time first)")
        if isinstance(t, SpikesType) and t.coding.data != "rate":
            raise VerifyException("snn.neuron: a neuron emits rate-coded trains")
        if isinstance(t, CountsType) and t.levels.data != 1:
            raise VerifyException("snn.neuron: a neuron emits at most one spike per step (levels 1)")
        if self.threshold.value.data <= 0:
            raise VerifyException("snn.neuron: threshold must be positive")


DECAY_BITS = 16
"""Fraction bits of the per-neuron decay of `snn.lif` and `snn.leaky_integrate`: a = round(beta * 2^16)."""


def _check_neuron_params(op: Operation, *params: tuple[str, SSAValue]) -> None:
    """Per-neuron parameters of a stateful op over [T, S...]: i32, a scalar or one value per neuron of S."""
    x = _shape(op.input)
    _check_i32(op, op.input)
    if not x or not 1 <= x[0] <= 1 << 16:
        raise VerifyException(f"{op.name}: the leading time axis must have 1 to 65536 steps")
    for what, v in params:
        if not isinstance(v.type, TensorType) or v.type.element_type != i32:
            raise VerifyException(f"{op.name}: {what} must be an i32 tensor, got {v.type}")
        if math.prod(_shape(v)) not in (1, math.prod(x[1:])):
            raise VerifyException(f"{op.name}: {what} must be a scalar or have one value per neuron ({math.prod(x[1:])}), got shape {_shape(v)}")


@irdl_op_definition
class LifOp(SNNOp):
    """Leaky integrate-and-fire neuron with reset to a value, over the leading time axis
    (NIR's LIF, IF and Threshold, discretised). Per step and neuron i:

    v <- round_shift(v * decay[i], 16) + I_t;  s_t = [v > threshold[i]];  v <- reset[i] where s_t

    Unlike `snn.neuron` (the rate-coding converter's neuron: soft reset, fires at v >= threshold,
    leak by a shift), this is the neuron spiking frameworks export: strict threshold, reset to
    a value, any decay at 16 fraction bits."""

    name = "snn.lif"
    input = operand_def(TensorType)
    decay = operand_def(TensorType)
    threshold = operand_def(TensorType)
    reset = operand_def(TensorType)
    res = result_def(CountsType)

    def __init__(self, input: Value, decay: Value, threshold: Value, reset: Value):
        t = value_type(input)
        init_op(self, [input, decay, threshold, reset], [CountsType(t.get_shape(), 1)])

    def verify_(self) -> None:
        _check_neuron_params(self, ("decay", self.decay), ("threshold", self.threshold), ("reset", self.reset))
        if _shape(self.res) != _shape(self.input) or self.res.type.levels.data != 1 or self.res.type.signed.data:
            raise VerifyException("snn.lif: the result is one unsigned spike per step and neuron: !snn.counts<T x S, 1>")


@irdl_op_definition
class RecurrentLifOp(SNNOp):
    """`snn.lif` whose neurons also feed each other, one step later (NIR's LIF <-> Affine cycle,
    snnTorch's RLeaky): v <- round_shift(v * decay[i], 16) + I_t + sum_j s_{t-1}[j] * W[j, i].
    The sum adds a weight row per neuron that fired: still no multiplication of activations."""

    name = "snn.recurrent_lif"
    input = operand_def(TensorType)
    weight = operand_def(TensorType)
    decay = operand_def(TensorType)
    threshold = operand_def(TensorType)
    reset = operand_def(TensorType)
    res = result_def(CountsType)

    def __init__(self, input: Value, weight: Value, decay: Value, threshold: Value, reset: Value):
        t = value_type(input)
        init_op(self, [input, weight, decay, threshold, reset], [CountsType(t.get_shape(), 1)])

    def verify_(self) -> None:
        _check_neuron_params(self, ("decay", self.decay), ("threshold", self.threshold), ("reset", self.reset))
        x = _shape(self.input)
        if len(x) != 2:
            raise VerifyException("snn.recurrent_lif: the input is [T, N]: time, then one axis of neurons")
        if _shape(self.weight) != (x[1], x[1]) or self.weight.type.element_type != i32:
            raise VerifyException(f"snn.recurrent_lif: the recurrent weights are tensor<{x[1]}x{x[1]}xi32>, got {self.weight.type}")
        if _shape(self.res) != x or self.res.type.levels.data != 1 or self.res.type.signed.data:
            raise VerifyException("snn.recurrent_lif: the result is one unsigned spike per step and neuron: !snn.counts<T x N, 1>")


@irdl_op_definition
class LeakyIntegrateOp(SNNOp):
    """Leaky integrator over the leading time axis (NIR's LI and Integrator, and the synaptic
    current of CubaLIF): v <- round_shift(v * decay[i], 16) + I_t, and y_t = v saturated to i32."""

    name = "snn.leaky_integrate"
    input = operand_def(TensorType)
    decay = operand_def(TensorType)
    res = result_def(TensorType)

    def __init__(self, input: Value, decay: Value):
        init_op(self, [input, decay], [_i32_like(input)])

    def verify_(self) -> None:
        _check_neuron_params(self, ("decay", self.decay))
        _check_i32(self, self.res)
        if _shape(self.res) != _shape(self.input):
            raise VerifyException("snn.leaky_integrate: result shape must equal input shape")


# --- fixed point: the integer form of non-spiking islands -------------------------
# A fixed-point value is a tensor<...xi32> v standing for v * 2^-frac_bits.


def ln_var_shift(n: int) -> int:
    """The smallest shift r with n * (2^(32 - r))^2 <= 2^63: deviations of int32 values are below 2^32."""
    return max(0, math.ceil((math.log2(max(n, 1)) + 1) / 2))


def _check_frac_bits(op: Operation) -> None:
    if not 0 <= op.frac_bits.value.data <= 30:
        raise VerifyException(f"{op.name}: frac_bits must be in [0, 30]")


def _check_i32(op: Operation, *values) -> None:
    for v in values:
        if v.type.element_type != i32:
            raise VerifyException(f"{op.name}: fixed-point values are i32 tensors, got {v.type}")


def _check_broadcast(op: Operation) -> None:
    """An elementwise op of two fixed-point tensors (snn.fixed_add, snn.fixed_mul): i32 operands
    that broadcast (numpy rules) to the result's shape."""
    import numpy as np

    _check_i32(op, op.lhs, op.rhs, op.res)
    try:
        out = tuple(np.broadcast_shapes(_shape(op.lhs), _shape(op.rhs)))
    except ValueError:
        raise VerifyException(f"{op.name}: operand shapes {_shape(op.lhs)} and {_shape(op.rhs)} do not broadcast") from None
    if out != _shape(op.res):
        raise VerifyException(f"{op.name}: result shape must be {out}")


class _FixedUnary(SNNOp):
    input = operand_def(TensorType)
    res = result_def(TensorType)
    frac_bits = prop_def(IntegerAttr)

    def __init__(self, input: Value, result_type: Attribute | None = None, **props):
        init_op(self, [input], [result_type or _i32_like(input)], **props)

    def verify_(self) -> None:
        if tuple(self.input.type.get_shape()) != tuple(self.res.type.get_shape()):
            raise VerifyException(f"{self.name}: result shape must equal input shape")
        _check_frac_bits(self)
        if not isinstance(self, FixedEncodeOp):
            _check_i32(self, self.input)
        if not isinstance(self, FixedDecodeOp):
            _check_i32(self, self.res)


@irdl_op_definition
class FixedEncodeOp(_FixedUnary):
    """Real to fixed point: v = sat32(round_even(x * 2^F))."""

    name = "snn.fixed_encode"

    def __init__(self, input: Value, result_type: Attribute | None = None, *, frac_bits: int):
        super().__init__(input, result_type, frac_bits=frac_bits)


@irdl_op_definition
class FixedDecodeOp(_FixedUnary):
    """Fixed point to real: y = f32(v * 2^-F)."""

    name = "snn.fixed_decode"

    def __init__(self, input: Value, result_type: Attribute | None = None, *, frac_bits: int):
        super().__init__(input, result_type or TensorType(f32, list(value_type(input).get_shape())), frac_bits=frac_bits)


@irdl_op_definition
class FixedAddOp(SNNOp):
    """Saturating addition of two fixed-point tensors of the same F (broadcasting)."""

    name = "snn.fixed_add"
    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    res = result_def(TensorType)

    def __init__(self, lhs: Value, rhs: Value, result_type: Attribute | None = None):
        init_op(self, [lhs, rhs], [result_type or _i32_like(lhs)])

    def verify_(self) -> None:
        _check_broadcast(self)


@irdl_op_definition
class FixedDivOp(SNNOp):
    """The ratio of two integers in fixed point: sat32(round_div(a * 2^F, b)), 0 where
    b <= 0 (b broadcasts; linear attention's num / den, den counts the keys seen)."""

    name = "snn.fixed_div"
    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    res = result_def(TensorType)
    frac_bits = prop_def(IntegerAttr)

    def __init__(self, lhs: Value, rhs: Value, result_type: Attribute | None = None, *, frac_bits: int):
        init_op(self, [lhs, rhs], [result_type or _i32_like(lhs)], frac_bits=frac_bits)

    def verify_(self) -> None:
        _check_frac_bits(self)
        _check_i32(self, self.res)
        a, b = _shape(self.lhs), _shape(self.rhs)
        if len(b) > len(a) or any(y not in (1, x) for x, y in zip(a[::-1], b[::-1])):
            raise VerifyException(f"snn.fixed_div: the divisor {b} must broadcast to the dividend {a}")
        if _shape(self.res) != a:
            raise VerifyException("snn.fixed_div: result shape must equal the dividend's")


def _verify_norm(op: Operation, params: Sequence[SSAValue]) -> None:
    """What snn.fixed_layer_norm and snn.fixed_rms_norm share: the axis, parameters that
    broadcast, and a var_shift that keeps the sum of squares inside 64 bits."""
    shape = tuple(op.input.type.get_shape())
    _check_axis(op, op.axis.value.data, len(shape))
    _check_frac_bits(op)
    _check_i32(op, op.input, op.res)
    for p in params:
        ps = _shape(p)
        if len(ps) > len(shape) or any(y not in (1, x) for x, y in zip(shape[::-1], ps[::-1])):
            what = "gamma and beta" if len(params) > 1 else "gamma"
            raise VerifyException(f"{op.name}: {what} must broadcast to the input shape {shape}, got {ps}")
    if _shape(op.res) != shape:
        raise VerifyException(f"{op.name}: result shape must equal input shape")
    n = math.prod(shape[op.axis.value.data :])
    r = op.var_shift.value.data
    if not 0 <= r <= op.frac_bits.value.data or n * (1 << (2 * (32 - r))) > (1 << 63):
        raise VerifyException(f"{op.name}: var_shift {r} lets the sum of {n} squares overflow 64 bits (needs >= {ln_var_shift(n)})")


@irdl_op_definition
class FixedLayerNormOp(SNNOp):
    """Integer LayerNorm over the axes from `axis` on (see docs/semantics.md): mean,
    variance of the deviations shifted right by `var_shift` (chosen so that the
    int64 sum of squares cannot overflow), integer square root, rounding
    division, then gamma (16 fraction bits) and beta (F fraction bits)."""

    name = "snn.fixed_layer_norm"
    input = operand_def(TensorType)
    gamma = operand_def(TensorType)
    beta = operand_def(TensorType)
    res = result_def(TensorType)
    axis = prop_def(IntegerAttr)
    frac_bits = prop_def(IntegerAttr)
    var_shift = prop_def(IntegerAttr)
    epsilon = prop_def(IntegerAttr)

    def __init__(
        self,
        input: Value,
        gamma: Value,
        beta: Value,
        result_type: Attribute | None = None,
        *,
        frac_bits: int,
        axis: int,
        var_shift: int,
        epsilon: int,
    ):
        init_op(
            self,
            [input, gamma, beta],
            [result_type or _i32_like(input)],
            frac_bits=frac_bits,
            axis=axis,
            var_shift=var_shift,
            epsilon=epsilon,
        )

    def verify_(self) -> None:
        _verify_norm(self, (self.gamma, self.beta))


@irdl_op_definition
class FixedRmsNormOp(SNNOp):
    """Integer RMSNorm over the axes from `axis` on: fixed_layer_norm without the mean
    (and without beta): mean square of the values shifted right by `var_shift`,
    integer square root, rounding division, then gamma (16 fraction bits)."""

    name = "snn.fixed_rms_norm"
    input = operand_def(TensorType)
    gamma = operand_def(TensorType)
    res = result_def(TensorType)
    axis = prop_def(IntegerAttr)
    frac_bits = prop_def(IntegerAttr)
    var_shift = prop_def(IntegerAttr)
    epsilon = prop_def(IntegerAttr)

    def __init__(
        self, input: Value, gamma: Value, result_type: Attribute | None = None, *, frac_bits: int, axis: int, var_shift: int, epsilon: int
    ):
        init_op(self, [input, gamma], [result_type or _i32_like(input)], frac_bits=frac_bits, axis=axis, var_shift=var_shift, epsilon=epsilon)

    def verify_(self) -> None:
        _verify_norm(self, (self.gamma,))


@irdl_op_definition
class FixedSiluOp(_FixedUnary):
    """Integer x * sigmoid(alpha x): the sigmoid from softmax's base-2 exponential and one
    rounding division; `alpha` is alpha at 30 fraction bits (2^30 for SiLU)."""

    name = "snn.fixed_silu"
    alpha = prop_def(IntegerAttr)

    def __init__(self, input: Value, result_type: Attribute | None = None, *, frac_bits: int, alpha: int = 1 << 30):
        super().__init__(input, result_type, frac_bits=frac_bits, alpha=alpha)

    def verify_(self) -> None:
        super().verify_()
        if not 0 < self.alpha.value.data < (1 << 31):
            raise VerifyException("snn.fixed_silu: alpha must be in (0, 2^31) (alpha in (0, 2) at 30 fraction bits)")


@irdl_op_definition
class FixedMulOp(SNNOp):
    """The product of two fixed-point tensors of the same F: sat32(round_shift(a b, F)),
    broadcasting (the SwiGLU gate, RoPE's cos and sin tables)."""

    name = "snn.fixed_mul"
    lhs = operand_def(TensorType)
    rhs = operand_def(TensorType)
    res = result_def(TensorType)
    frac_bits = prop_def(IntegerAttr)

    def __init__(self, lhs: Value, rhs: Value, result_type: Attribute | None = None, *, frac_bits: int):
        init_op(self, [lhs, rhs], [result_type or _i32_like(lhs)], frac_bits=frac_bits)

    def verify_(self) -> None:
        _check_frac_bits(self)
        _check_broadcast(self)


@irdl_op_definition
class FixedHadamardOp(SNNOp):
    """nn.hadamard on fixed point: sat32(round_shift(vec(a^T X b) * multiplier, shift)), the
    sum exact in int64 (a and b hold -1, 0, 1), multiplier / 2^shift ~ 1 / sqrt(p q)."""

    name = "snn.fixed_hadamard"
    input = operand_def(TensorType)
    a = operand_def(TensorType)
    b = operand_def(TensorType)
    res = result_def(TensorType)
    multiplier = prop_def(IntegerAttr)
    shift = prop_def(IntegerAttr)

    def __init__(self, input: Value, a: Value, b: Value, result_type: Attribute | None = None, *, multiplier: int, shift: int):
        init_op(self, [input, a, b], [result_type or _i32_like(input)], multiplier=multiplier, shift=shift)

    def verify_(self) -> None:
        from nscc.ir.nn import check_hadamard

        _check_i32(self, self.input, self.res)
        check_hadamard(self, self.input, self.a, self.b)
        if not 0 < self.multiplier.value.data < (1 << 16) or self.shift.value.data < 0:
            raise VerifyException("snn.fixed_hadamard: needs 0 < multiplier < 2^16 and shift >= 0 (the int64 sum times it cannot overflow)")


@irdl_op_definition
class FixedSoftmaxOp(_FixedUnary):
    """Integer softmax: base-2 exponent split into integer and fraction, a quadratic
    for 2^-f, a shift for the integer part, a rounding division by the sum."""

    name = "snn.fixed_softmax"
    axis = prop_def(IntegerAttr)

    def __init__(self, input: Value, result_type: Attribute | None = None, *, frac_bits: int, axis: int):
        super().__init__(input, result_type, frac_bits=frac_bits, axis=axis)

    def verify_(self) -> None:
        super().verify_()
        _check_axis(self, self.axis.value.data, len(_shape(self.input)))


@irdl_op_definition
class FixedGeluOp(_FixedUnary):
    """Integer GELU with the I-BERT polynomial for erf."""

    name = "snn.fixed_gelu"

    def __init__(self, input: Value, result_type: Attribute | None = None, *, frac_bits: int):
        super().__init__(input, result_type, frac_bits=frac_bits)


def _num_den_types(v: Value) -> list[TensorType]:
    """i64 numerator [..., dv] and denominator [...] of linear attention over values v."""
    vs = list(value_type(v).get_shape())
    return [TensorType(i64, vs), TensorType(i64, vs[:-1])]


class _LinearAttention(SNNOp):
    def _check(self, q, k, v, num, den) -> None:
        qs, ks, vs = (tuple(x.type.get_shape()) for x in (q, k, v))
        if qs != ks or qs[:-1] != vs[:-1]:
            raise VerifyException(f"{self.name}: q {qs}, k {ks} and v {vs} disagree")
        if tuple(num.type.get_shape()) != vs or tuple(den.type.get_shape()) != vs[:-1]:
            raise VerifyException(f"{self.name}: outputs must be v's shape and v's shape without its last axis")
        if self.decay_shift.value.data < 0:
            raise VerifyException(f"{self.name}: decay_shift must be >= 0")


def _check_mask(op: Operation, scores: tuple[int, ...]) -> None:
    """An attention mask must broadcast (numpy rules) to the scores [..., S, T]."""
    import numpy as np

    try:
        ok = tuple(np.broadcast_shapes(_shape(op.mask), scores)) == scores
    except ValueError:
        ok = False
    if not ok:
        raise VerifyException(f"{op.name}: the mask {_shape(op.mask)} must broadcast to the scores {scores}")


@irdl_op_definition
class LinearAttentionOp(_LinearAttention):
    """Causal linear attention over a whole sequence (axis -2), integers only.

    S_t = S_{t-1} - (S_{t-1} >> s) + k_t^T v_t,  z_t = z_{t-1} - (z_{t-1} >> s) + k_t
    num_t = q_t S_t,  den_t = q_t . z_t   (no decay when s = 0)

    `bidirectional` sums over every position instead (encoders); a `mask` (i32 at
    `frac_bits`, broadcast to [..., S, T]) drops the terms of keys it hides: those at or
    below -32 * 2^F, where the integer softmax's exponential is 0. Both need s = 0."""

    name = "snn.linear_attention"
    q = operand_def(CountsType)
    k = operand_def(CountsType)
    v = operand_def(CountsType)
    mask = opt_operand_def(TensorType)
    num = result_def(TensorType)
    den = result_def(TensorType)
    decay_shift = prop_def(IntegerAttr)
    bidirectional = opt_prop_def(UnitAttr)
    frac_bits = opt_prop_def(IntegerAttr)

    def __init__(self, q: Value, k: Value, v: Value, mask: Value | None = None, *, decay_shift: int = 0,
                 bidirectional: bool = False, frac_bits: int | None = None):  # fmt: skip
        props = {"frac_bits": frac_bits} if frac_bits is not None else {}
        init_op(self, [q, k, v, mask], _num_den_types(v), decay_shift=decay_shift, bidirectional=bidirectional, **props)

    def verify_(self) -> None:
        self._check(self.q, self.k, self.v, self.num, self.den)
        if (self.mask is not None or self.bidirectional is not None) and self.decay_shift.value.data:
            raise VerifyException("snn.linear_attention: a mask or bidirectional attention needs decay_shift = 0")
        if self.mask is not None:
            _check_i32(self, self.mask)
            if self.frac_bits is None:
                raise VerifyException("snn.linear_attention: a mask needs frac_bits")
            _check_mask(self, (*_shape(self.q)[:-1], _shape(self.k)[-2]))


@irdl_op_definition
class LinearAttentionStepOp(_LinearAttention):
    """One decoding step of `snn.linear_attention` on a constant-size state (S, z)."""

    name = "snn.linear_attention_step"
    q = operand_def(CountsType)
    k = operand_def(CountsType)
    v = operand_def(CountsType)
    state = operand_def(TensorType)
    norm = operand_def(TensorType)
    num = result_def(TensorType)
    den = result_def(TensorType)
    new_state = result_def(TensorType)
    new_norm = result_def(TensorType)
    decay_shift = prop_def(IntegerAttr)

    def __init__(self, q: Value, k: Value, v: Value, state: Value, norm: Value, *, decay_shift: int = 0):
        init_op(self, [q, k, v, state, norm], [*_num_den_types(v), value_type(state), value_type(norm)], decay_shift=decay_shift)

    def verify_(self) -> None:
        self._check(self.q, self.k, self.v, self.num, self.den)
        qs, vs = tuple(self.q.type.get_shape()), tuple(self.v.type.get_shape())
        if tuple(self.state.type.get_shape()) != qs[:-2] + (qs[-1], vs[-1]):
            raise VerifyException("snn.linear_attention_step: state must be [..., dk, dv]")
        if tuple(self.norm.type.get_shape()) != qs[:-2] + (qs[-1],):
            raise VerifyException("snn.linear_attention_step: norm must be [..., dk]")
        if self.state.type != self.new_state.type or self.norm.type != self.new_norm.type:
            raise VerifyException("snn.linear_attention_step: new state types must equal the old")


def _check_attention(op: Operation, q, k, v) -> tuple[int, ...]:
    """q [..., H, S, dk], k [..., KVH, T, dk], v [..., KVH, T, dv] with KVH dividing H (grouped-query
    attention: head h reads key-value head h // (H / KVH)); returns the result shape [..., H, S, dv]."""
    qs, ks, vs = _shape(q), _shape(k), _shape(v)
    if len(qs) < 3 or len(ks) != len(qs) or len(vs) != len(qs):
        raise VerifyException(f"{op.name}: q, k and v must be [..., heads, positions, features], got {qs}, {ks}, {vs}")
    if qs[:-3] != ks[:-3] or ks[:-1] != vs[:-1] or qs[-1] != ks[-1]:
        raise VerifyException(f"{op.name}: q {qs}, k {ks} and v {vs} disagree")
    if ks[-3] < 1 or qs[-3] % ks[-3]:
        raise VerifyException(f"{op.name}: the {ks[-3]} key-value heads must divide the {qs[-3]} query heads")
    if op.shift.value.data < 0 or op.multiplier.value.data <= 0 or op.multiplier.value.data >= 1 << 31:
        raise VerifyException(f"{op.name}: the logit scale needs 0 < multiplier < 2^31 and shift >= 0")
    _check_frac_bits(op)
    return (*qs[:-1], vs[-1])


@irdl_op_definition
class AttentionOp(SNNOp):
    """Softmax attention of spike counts, integers only (see docs/semantics.md):

        s = q . k (counts, no multiplier arrays), t = round_shift(s * multiplier, shift) (+ mask),
        p = integer softmax of t over the keys a query may see (F fraction bits),
        out = sum_j p_j v_j (int64: the value counts weighted by p, F fraction bits)

    Grouped-query: k and v may have fewer heads than q. `causal` hides keys j > i;
    `mask` is additive at F fraction bits, and entries at or below -2^30 hide the key."""

    name = "snn.attention"
    q = operand_def(CountsType)
    k = operand_def(CountsType)
    v = operand_def(CountsType)
    mask = opt_operand_def(TensorType)
    res = result_def(TensorType)
    multiplier = prop_def(IntegerAttr)
    shift = prop_def(IntegerAttr)
    frac_bits = prop_def(IntegerAttr)
    causal = opt_prop_def(UnitAttr)

    def __init__(
        self, q: Value, k: Value, v: Value, mask: Value | None = None, *, multiplier: int, shift: int, frac_bits: int, causal: bool = False
    ):
        shape = (*value_type(q).get_shape()[:-1], value_type(v).get_shape()[-1])
        init_op(self, [q, k, v, mask], [TensorType(i64, shape)], multiplier=multiplier, shift=shift, frac_bits=frac_bits, causal=causal)

    def verify_(self) -> None:
        out = _check_attention(self, self.q, self.k, self.v)
        if _shape(self.res) != out or self.res.type.element_type != i64:
            raise VerifyException(f"snn.attention: the result must be tensor<{'x'.join(map(str, out))}xi64>")
        if self.mask is not None:
            _check_i32(self, self.mask)
            _check_mask(self, (*out[:-1], _shape(self.k)[-2]))


@irdl_op_definition
class WindowAttentionOp(SNNOp):
    """`nn.window_attention` on spike counts, integers only (see docs/semantics.md): causal,
    softmax over the near keys of query i (gap g = i + T - S - j with 0 <= g < window, or
    g >= 0 and j < sinks), linear over the other keys j with g >= 0 (far):

        t_ij = round_shift((q_i . k_j) * multiplier, shift),  e_ij = exp(t_ij - max_near t_ij) (F bits)
        N_i = sum_near e_ij v_j + round_shift(factor[h] * sum_far (pq_i . pk_j) v_j, factor_shift)
        D_i = sum_near e_ij + round_shift(factor[h] * sum_far pq_i . pk_j, factor_shift)
        out_i = round_div(N_i * 2^F, D_i)   (int64: value counts, F fraction bits)

    q [..., H, S, dk], k and v [..., KVH, T, d] (grouped-query as snn.attention), pq [..., H, S, f]
    and pk [..., KVH, T, f] the feature maps' counts (the keys' on key-value heads too), factor
    [H] int64. The far sums are exact integers, so decoding may keep them as a running state
    (sum pk v^T and sum pk), once per key-value head."""

    name = "snn.window_attention"
    q = operand_def(CountsType)
    k = operand_def(CountsType)
    v = operand_def(CountsType)
    pq = operand_def(CountsType)
    pk = operand_def(CountsType)
    factor = operand_def(TensorType)
    res = result_def(TensorType)
    multiplier = prop_def(IntegerAttr)
    shift = prop_def(IntegerAttr)
    frac_bits = prop_def(IntegerAttr)
    window = prop_def(IntegerAttr)
    sinks = prop_def(IntegerAttr)
    factor_shift = prop_def(IntegerAttr)

    def __init__(
        self, q: Value, k: Value, v: Value, pq: Value, pk: Value, factor: Value,
        *, multiplier: int, shift: int, frac_bits: int, window: int, sinks: int, factor_shift: int,
    ):  # fmt: skip
        shape = (*value_type(q).get_shape()[:-1], value_type(v).get_shape()[-1])
        init_op(self, [q, k, v, pq, pk, factor], [TensorType(i64, shape)], multiplier=multiplier, shift=shift, frac_bits=frac_bits,
                window=window, sinks=sinks, factor_shift=factor_shift)  # fmt: skip

    def verify_(self) -> None:
        _check_window_attention(self)


def _check_window_attention(op: Operation) -> None:
    """snn.window_attention's operands and properties (its step's too)."""
    out = _check_attention(op, op.q, op.k, op.v)
    if _shape(op.res) != out or op.res.type.element_type != i64:
        raise VerifyException(f"{op.name}: the result must be tensor<{'x'.join(map(str, out))}xi64>")
    qs, ks, pq, pk = _shape(op.q), _shape(op.k), _shape(op.pq), _shape(op.pk)
    if qs[-2] > ks[-2]:
        raise VerifyException(f"{op.name}: {qs[-2]} queries but {ks[-2]} keys")
    if pq[:-1] != qs[:-1] or pk != (*ks[:-1], pq[-1]):
        raise VerifyException(f"{op.name}: features {pq} and {pk} must be [..., H, S, f] and [..., KVH, T, f] (q {qs}, k {ks})")
    if op.pq.type.signed.data or op.pk.type.signed.data:
        raise VerifyException(f"{op.name}: the feature counts are unsigned")
    if _shape(op.factor) != (qs[-3],) or op.factor.type.element_type != i64:
        raise VerifyException(f"{op.name}: the factor must be tensor<{qs[-3]}xi64>, one per query head")
    if op.window.value.data < 1 or op.sinks.value.data < 0 or not 0 <= op.factor_shift.value.data <= 62:
        raise VerifyException(f"{op.name}: window must be >= 1, sinks >= 0 and factor_shift in [0, 62]")


@irdl_op_definition
class WindowAttentionStepOp(SNNOp):
    """One decoding step of `snn.window_attention` on constant-size state: caches of the keys,
    values and key features at C = sinks + window slots (position j < sinks at slot j, any other
    at sinks + j % window), and the far sums S = sum pk^T v [..., KVH, f, dv] and z = sum pk
    [..., KVH, f] (int64), all per key-value head. At `position` p the key p - window, if it is not a sink, leaves the
    window: its slot's pk and v join S and z; then k, v and pk are written at p's slot, and q
    attends as snn.window_attention's query p does (see docs/semantics.md)."""

    name = "snn.window_attention_step"
    q = operand_def(CountsType)
    k = operand_def(CountsType)
    v = operand_def(CountsType)
    pq = operand_def(CountsType)
    pk = operand_def(CountsType)
    factor = operand_def(TensorType)
    k_cache = operand_def(TensorType)
    v_cache = operand_def(TensorType)
    p_cache = operand_def(TensorType)
    state = operand_def(TensorType)
    norm = operand_def(TensorType)
    position = operand_def(TensorType)
    res = result_def(TensorType)
    new_k_cache = result_def(TensorType)
    new_v_cache = result_def(TensorType)
    new_p_cache = result_def(TensorType)
    new_state = result_def(TensorType)
    new_norm = result_def(TensorType)
    multiplier = prop_def(IntegerAttr)
    shift = prop_def(IntegerAttr)
    frac_bits = prop_def(IntegerAttr)
    window = prop_def(IntegerAttr)
    sinks = prop_def(IntegerAttr)
    factor_shift = prop_def(IntegerAttr)

    def __init__(self, q: Value, k: Value, v: Value, pq: Value, pk: Value, factor: Value, k_cache: Value, v_cache: Value, p_cache: Value,
                 state: Value, norm: Value, position: Value, *, multiplier: int, shift: int, frac_bits: int, window: int, sinks: int,
                 factor_shift: int):  # fmt: skip
        shape = (*value_type(q).get_shape()[:-1], value_type(v).get_shape()[-1])
        caches = [value_type(x) for x in (k_cache, v_cache, p_cache, state, norm)]
        init_op(self, [q, k, v, pq, pk, factor, k_cache, v_cache, p_cache, state, norm, position], [TensorType(i64, shape), *caches],
                multiplier=multiplier, shift=shift, frac_bits=frac_bits, window=window, sinks=sinks, factor_shift=factor_shift)  # fmt: skip

    def verify_(self) -> None:
        _check_window_attention(self)
        qs, ks, vs, pq = _shape(self.q), _shape(self.k), _shape(self.v), _shape(self.pq)
        if qs[-2] != 1 or ks[-2] != 1:
            raise VerifyException("snn.window_attention_step: q, k, v, pq and pk hold one position")
        slots = self.sinks.value.data + self.window.value.data
        want = {"k_cache": (*ks[:-2], slots, ks[-1]), "v_cache": (*vs[:-2], slots, vs[-1]), "p_cache": (*ks[:-2], slots, pq[-1]),
                "state": (*ks[:-2], pq[-1], vs[-1]), "norm": (*ks[:-2], pq[-1])}  # fmt: skip
        for name, shape in want.items():
            if _shape(getattr(self, name)) != shape:
                raise VerifyException(f"snn.window_attention_step: {name} must be {list(shape)}, got {list(_shape(getattr(self, name)))}")
        for c, x in ((self.k_cache, self.k), (self.v_cache, self.v), (self.p_cache, self.pk)):
            t = c.type.element_type
            if not isinstance(t, IntegerType) or (1 << (t.width.data - 1)) <= x.type.levels.data:
                raise VerifyException(f"snn.window_attention_step: a cache of {t} cannot hold counts up to {x.type.levels.data}")
        if self.state.type.element_type != i64 or self.norm.type.element_type != i64:
            raise VerifyException("snn.window_attention_step: state and norm are int64")
        for new, old in zip(self.results[1:], (self.k_cache, self.v_cache, self.p_cache, self.state, self.norm)):
            if new.type != old.type:
                raise VerifyException("snn.window_attention_step: the new state must have the state's types")
        if _shape(self.position) != (1,) or self.position.type.element_type != i64:
            raise VerifyException("snn.window_attention_step: position must be tensor<1xi64>")


@irdl_op_definition
class AttentionStepOp(SNNOp):
    """One decoding step of `snn.attention` (causal) with a KV cache: the token's k and v are
    written at `position` of the caches, and q attends to positions 0..position of them.
    Returns the output and the new caches ([..., KVH, N, d], counts as integers)."""

    name = "snn.attention_step"
    q = operand_def(CountsType)
    k = operand_def(CountsType)
    v = operand_def(CountsType)
    k_cache = operand_def(TensorType)
    v_cache = operand_def(TensorType)
    position = operand_def(TensorType)
    res = result_def(TensorType)
    new_k_cache = result_def(TensorType)
    new_v_cache = result_def(TensorType)
    multiplier = prop_def(IntegerAttr)
    shift = prop_def(IntegerAttr)
    frac_bits = prop_def(IntegerAttr)

    def __init__(self, q: Value, k: Value, v: Value, k_cache: Value, v_cache: Value, position: Value, *, multiplier: int, shift: int, frac_bits: int):
        shape = (*value_type(q).get_shape()[:-1], value_type(v).get_shape()[-1])
        init_op(
            self,
            [q, k, v, k_cache, v_cache, position],
            [TensorType(i64, shape), value_type(k_cache), value_type(v_cache)],
            multiplier=multiplier,
            shift=shift,
            frac_bits=frac_bits,
        )

    def verify_(self) -> None:
        out = _check_attention(self, self.q, self.k, self.v)
        if _shape(self.q)[-2] != 1 or _shape(self.k)[-2] != 1:
            raise VerifyException("snn.attention_step: q, k and v hold one position")
        ks, vs = _shape(self.k), _shape(self.v)
        kc, vc = _shape(self.k_cache), _shape(self.v_cache)
        if kc[:-2] != ks[:-2] or kc[-1] != ks[-1] or vc[:-2] != vs[:-2] or vc[-1] != vs[-1] or kc[-2] != vc[-2]:
            raise VerifyException(f"snn.attention_step: the caches {kc}, {vc} must be k's and v's shapes with N positions")
        for c, x in ((self.k_cache, self.k), (self.v_cache, self.v)):
            t = c.type.element_type
            if not isinstance(t, IntegerType) or (1 << (t.width.data - 1)) <= x.type.levels.data:
                raise VerifyException(f"snn.attention_step: a cache of {t} cannot hold counts up to {x.type.levels.data}")
        if self.new_k_cache.type != self.k_cache.type or self.new_v_cache.type != self.v_cache.type:
            raise VerifyException("snn.attention_step: the new caches must have the caches' types")
        if _shape(self.position) != (1,) or self.position.type.element_type != i64:
            raise VerifyException("snn.attention_step: position must be tensor<1xi64>")
        if _shape(self.res) != out or self.res.type.element_type != i64:
            raise VerifyException(f"snn.attention_step: the result must be tensor<{'x'.join(map(str, out))}xi64>")


@irdl_op_definition
class FeatureMapOp(SNNOp):
    """`nn.feature_map` on spike counts, integers only (see docs/semantics.md): per head h,

        a = x[..., h, :, :] . w[h]  (counts times integer weights),
        t = round_shift(a * multiplier[h], shift)  (the logits at F fraction bits),
        p = integer softmax of t over the f features, and of -t,
        out = min(levels, round_div(p, divisor)) for both, concatenated: counts [..., H, S, 2f]."""

    name = "snn.feature_map"
    input = operand_def(CountsType)
    weight = operand_def(TensorType)
    multiplier = operand_def(TensorType)
    res = result_def(CountsType)
    shift = prop_def(IntegerAttr)
    frac_bits = prop_def(IntegerAttr)
    divisor = prop_def(IntegerAttr)

    def __init__(self, input: Value, weight: Value, multiplier: Value, *, levels: int, shift: int, frac_bits: int, divisor: int):
        x, w = value_type(input), value_type(weight)
        out = CountsType((*x.get_shape()[:-1], 2 * w.get_shape()[-1]), levels, False)
        init_op(self, [input, weight, multiplier], [out], shift=shift, frac_bits=frac_bits, divisor=divisor)

    def verify_(self) -> None:
        from nscc.ir.nn import check_feature_map

        check_feature_map(self, _shape(self.input), _shape(self.weight), _shape(self.res))
        if not isinstance(self.weight.type.element_type, IntegerType):
            raise VerifyException("snn.feature_map: the weights must be integers")
        if _shape(self.multiplier) != (_shape(self.weight)[0],) or self.multiplier.type.element_type != i64:
            raise VerifyException(f"snn.feature_map: the multiplier must be tensor<{_shape(self.weight)[0]}xi64>, one per head")
        if self.res.type.signed.data:
            raise VerifyException("snn.feature_map: the result counts are unsigned")
        _check_frac_bits(self)
        if not 0 <= self.shift.value.data <= 62 or self.divisor.value.data < 1:
            raise VerifyException("snn.feature_map: shift must be in [0, 62] and divisor >= 1")


SNN = Dialect(
    "snn",
    [
        EncodeOp,
        ExpandOp,
        SynapseOp,
        ConvSynapseOp,
        DecodeOp,
        RequantOp,
        NeuronOp,
        LifOp,
        RecurrentLifOp,
        LeakyIntegrateOp,
        LinearAttentionOp,
        LinearAttentionStepOp,
        AttentionOp,
        AttentionStepOp,
        WindowAttentionOp,
        WindowAttentionStepOp,
        FeatureMapOp,
        FixedEncodeOp,
        FixedDecodeOp,
        FixedAddOp,
        FixedDivOp,
        FixedLayerNormOp,
        FixedRmsNormOp,
        FixedSiluOp,
        FixedMulOp,
        FixedHadamardOp,
        FixedSoftmaxOp,
        FixedGeluOp,
    ],  # fmt: skip
    [CountsType, SpikesType],
)
