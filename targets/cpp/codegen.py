"""IR -> C++: one straight-line function over statically shaped buffers.

Every SSA value of @main becomes a pointer `vN` (into a buffer `bN` the
program owns, into the mapped weight file, or to an input); buffers are freed
after their last use. Names from the model never appear in the C++: values
are numbered, weights are addressed by their index in the weight file, and
layer names reach the counters only as escaped string literals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects.arith import ConstantOp
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.dialects.func import ReturnOp
from xdsl.ir import Operation, SSAValue

from nscc.errors import NsccError
from nscc.ir import nn, snn
from nscc.ir.constants import dense_value
from nscc.ir.signature import LAYER_ATTR, main_function, signature
from nscc.ir.types import np_dtype
from nscc.optable import OpTable
from nscc.semantics import fixed
from nscc.semantics.nn import prop
from nscc.targets.layout import broadcast_strides, channel_layout, plan_arena, strided_views

C_TYPES = {
    np.dtype(np.float32): "float",
    np.dtype(np.float64): "double",
    np.dtype(np.int8): "int8_t",
    np.dtype(np.int16): "int16_t",
    np.dtype(np.int32): "int32_t",
    np.dtype(np.int64): "int64_t",
    np.dtype(np.uint8): "uint8_t",
    np.dtype(np.bool_): "uint8_t",
}

UNARY_C = {
    nn.NegOp: "-a",
    nn.AbsOp: "std::abs(a)",
    nn.SqrtOp: "std::sqrt(a)",
    nn.ReciprocalOp: "T(1) / a",
    nn.ExpOp: "T(fast_exp(float(a)))",
    nn.LogOp: "std::log(a)",
    nn.ErfOp: "std::erf(a)",
    nn.TanhOp: "T(fast_tanh(float(a)))",
    nn.SigmoidOp: "T(1) / (T(1) + T(fast_exp(float(-a))))",
    nn.ReluOp: "std::max(a, T(0))",
    nn.FloorOp: "std::floor(a)",
    nn.CeilOp: "std::ceil(a)",
    nn.RoundOp: "std::nearbyint(a)",
    nn.SignOp: "T((a > T(0)) - (a < T(0)))",
    nn.NotOp: "T(!a)",
}
BINARY_C = {
    nn.AddOp: "a + b",
    nn.SubOp: "a - b",
    nn.MulOp: "a * b",
    nn.DivOp: "a / b",
    nn.MinOp: "std::min(a, b)",
    nn.MaxOp: "std::max(a, b)",
    nn.EqualOp: "a == b",
    nn.LessOp: "a < b",
    nn.LessEqualOp: "a <= b",
    nn.GreaterOp: "a > b",
    nn.GreaterEqualOp: "a >= b",
    nn.AndOp: "a && b",
    nn.OrOp: "a || b",
    nn.XorOp: "bool(a) != bool(b)",
}


def c_string(s: str) -> str:
    """A C++ string literal holding s, every byte outside [A-Za-z0-9_. ] escaped."""
    out = []
    for b in s.encode():
        ch = chr(b)
        out.append(ch if ch.isalnum() and b < 128 or ch in "_. /-" else f'\\x{b:02x}""')
    return '"' + "".join(out) + '"'


def _shape(v: SSAValue) -> tuple[int, ...]:
    return tuple(v.type.get_shape())


def _ctype(v: SSAValue) -> str:
    return C_TYPES[np_dtype(v.type)]


def _arr(vals: Sequence[int]) -> str:
    return "{" + ", ".join(str(int(v)) for v in vals) + "}"


@dataclass
class WeightEntry:
    array: np.ndarray
    bits: int = 0  # > 0: packed signed integers of this width (synapse weights)
    blocked: bool = False  # 2/4-bit synapse weights in 64-column blocks (nscc_runtime.hpp)


@dataclass
class Program:
    """The generated model source, the weight file entries, and what main.cpp needs to know."""

    source: str
    weights: list[WeightEntry]
    entry_of: dict
    inputs: list[tuple[str, tuple[int, ...], np.dtype]]
    outputs: list[tuple[str, tuple[int, ...], np.dtype]]
    layers: list[str]
    length: int = 0  # a decoder's positions


@dataclass
class _Gen:
    module: ModuleOp
    weights_store: object
    lines: list[str] = field(default_factory=list)
    init: list[str] = field(default_factory=list)
    members: list[str] = field(default_factory=list)
    names: dict = field(default_factory=dict)
    buffers: dict = field(default_factory=dict)  # value -> buffer name (owned)
    entries: list[WeightEntry] = field(default_factory=list)
    entry_of: dict = field(default_factory=dict)
    layers: list[str] = field(default_factory=list)
    counter: int = 0
    op_index: int = 0
    coding: str = "thermometer"  # the module's spike coding, for synapse event counters

    def fresh(self, prefix: str = "v") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def ref(self, v: SSAValue) -> str:
        return self.names[v]

    def alloc(self, v: SSAValue) -> str:
        """A buffer in the model's arena; its offset is planned once all lifetimes are known."""
        name = self.fresh()
        nbytes = max(1, math.prod(_shape(v))) * np.dtype(np_dtype(v.type)).itemsize
        self.lines.append(f"  {_ctype(v)}* {name} = reinterpret_cast<{_ctype(v)}*>(arena.data() + @OFFSET{name}@);")
        self.names[v], self.buffers[v] = name, [self.op_index, self.op_index, nbytes]
        return name

    def entry(self, array: np.ndarray, bits: int, source: SSAValue, blocked: bool = False) -> int:
        """The weight file index of an array; a stored weight (or an equal constant) is written once,
        however many programs of the project use it."""
        owner = source.owner
        if isinstance(owner, nn.WeightOp):
            key = ("w", owner.sym.data, array.dtype.str)
        else:
            import hashlib

            key = ("c", hashlib.sha1(array.tobytes()).hexdigest(), array.shape, array.dtype.str)
        key = (key, bits, blocked)
        if key in self.entry_of:
            return self.entry_of[key]
        self.entries.append(WeightEntry(np.ascontiguousarray(array), bits, blocked))
        self.entry_of[key] = len(self.entries) - 1
        return len(self.entries) - 1

    def weight_array(self, v: SSAValue) -> np.ndarray | None:
        owner = v.owner
        if isinstance(owner, nn.WeightOp):
            return self.weights_store[owner.sym.data]
        if isinstance(owner, ConstantOp):
            return dense_value(owner)
        return None


def generate(module: ModuleOp, weights, coding: str, struct: str = "Model", shared: "Program | None" = None) -> Program:
    """C++ for @main as `struct`. `shared`: a program of the same project whose weight
    file entries this one extends. The struct keeps nothing between calls: a step
    function's state (decode-step) is arguments and results of run() like any other."""
    g = _Gen(module, weights, coding=coding)
    if shared is not None:
        g.entries, g.entry_of = shared.weights, shared.entry_of
    fn = main_function(module)
    sig = signature(module)
    for i, (arg, (name, shape, dtype)) in enumerate(zip(fn.body.block.args, sig.inputs)):
        g.names[arg] = f"in{i}"
    ops = list(fn.body.block.ops)
    check_supported(ops)
    last_use: dict[SSAValue, int] = {}
    for i, op in enumerate(ops):
        for v in op.operands:
            last_use[v] = i
    outputs = []
    for i, op in enumerate(ops):
        if isinstance(op, ReturnOp):
            outputs = list(op.operands)
            break
        g.op_index = i
        _emit_op(g, op)
    for v, life in g.buffers.items():
        life[1] = max(life[0], last_use.get(v, life[0]))
    offsets, arena = plan_arena({g.names[v]: tuple(life) for v, life in g.buffers.items()})
    g.lines = [_fill_offsets(ln, offsets) for ln in g.lines]
    g.members.append(
        f"std::vector<uint8_t> arena = std::vector<uint8_t>({max(arena, 64)});  // every intermediate value, lifetimes overlaid"
    )
    for j, v in enumerate(outputs):
        g.lines.append(f"  std::memcpy(out{j}, {g.ref(v)}, sizeof({_ctype(v)}) * {max(1, math.prod(_shape(v)))});")
    ins = ", ".join(f"const {C_TYPES[np.dtype(d)]}* in{i}" for i, (_, _, d) in enumerate(sig.inputs))
    outs = ", ".join(f"{C_TYPES[np.dtype(d)]}* out{j}" for j, (_, _, d) in enumerate(sig.outputs))
    src = [
        "",
        f"struct {struct} {{",
        "  const nscc::Weights& W;",
        *[f"  {m}" for m in g.members],
        f"  nscc::LayerCounter counters[{max(1, len(g.layers))}] = {{{', '.join('{' + c_string(n) + '}' for n in g.layers)}}};",
        f"  static constexpr int n_layers = {len(g.layers)};",
        f"  explicit {struct}(const nscc::Weights& w) : W(w) {{",
        *g.init,
        "  }",
        f"  void run({', '.join(x for x in (ins, outs) if x)}) {{",
        "    using namespace nscc;",
        *["  " + ln for ln in g.lines],
        "  }",
        "};",
        "",
    ]
    return Program("\n".join(src), g.entries, g.entry_of, list(sig.inputs), list(sig.outputs), g.layers)


def _fill_offsets(line: str, offsets: dict[str, int]) -> str:
    if "@OFFSET" not in line:
        return line
    import re

    return re.sub(r"@OFFSET(\w+)@", lambda m: str(offsets[m.group(1)]), line)


def _unsupported(op: Operation, why: str = "") -> NsccError:
    layer = op.attributes.get(LAYER_ATTR)
    where = f" (layer {layer.data})" if isinstance(layer, StringAttr) else ""
    return NsccError(
        f"cpp target: op '{op.name}'{where} is not supported{': ' + why if why else ''}",
        "run this model with --target interpreter, or convert that op away with a pass",
    )


# One emitter per op kind, in the manner of hls4ml's per-layer templates: the table
# says which ops this target accepts (checked for the whole module before emitting).
EMITTERS = OpTable()
_emits = EMITTERS


def check_supported(ops: Sequence[Operation]) -> None:
    """Every op the target cannot emit, reported at once, before anything is written."""
    bad = [op for op in ops if not isinstance(op, ReturnOp) and type(op) not in EMITTERS]
    if bad:
        kinds = sorted({op.name for op in bad})
        first = _unsupported(bad[0])
        raise NsccError(
            f"cpp target: {len(bad)} op(s) of {len(kinds)} kind(s) are not supported: {', '.join(kinds)}",
            first.hint,
            lines=[_unsupported(op).message for op in bad[:10]] if len(bad) > 1 else None,
            exit_code=2,
        )


def _emit_op(g: _Gen, op: Operation) -> None:
    emit = EMITTERS.get(type(op))
    if emit is None:
        raise _unsupported(op)
    emit(g, op)


@_emits(nn.WeightOp, ConstantOp)
def _emit_weight(g: _Gen, op: Operation) -> None:
    L = g.lines
    arr = g.weight_array(op.results[0])
    uses_synapse = any(isinstance(u.operation, snn.SynapseOp) and u.operation.weight is op.results[0] for u in op.results[0].uses)
    other = any(not (isinstance(u.operation, snn.SynapseOp) and u.operation.weight is op.results[0]) for u in op.results[0].uses)
    if other or not uses_synapse:
        idx = g.entry(arr.astype(np_dtype(op.results[0].type), copy=False), 0, op.results[0])
        name = g.fresh()
        L.append(f"  const {_ctype(op.results[0])}* {name} = W.ptr<{_ctype(op.results[0])}>({idx});")
        g.names[op.results[0]] = name


@_emits(snn.EncodeOp)
def _emit_encode(g: _Gen, op: Operation) -> None:
    L = g.lines
    out = g.alloc(op.res)
    t = op.res.type
    c, inner = channel_layout(_shape(op.input), _shape(op.theta))
    L.append(f"  encode({g.ref(op.input)}, {g.ref(op.theta)}, {math.prod(_shape(op.input))}, {c}, {inner}, {t.lo}, {t.hi}, {out});")


@_emits(snn.ExpandOp)
def _emit_expand(g: _Gen, op: Operation) -> None:
    L = g.lines
    out = g.alloc(op.res)
    st = op.res.type
    L.append(
        f"  expand({g.ref(op.input)}, {math.prod(_shape(op.input))}, {st.slots}, {'true' if st.coding.data == 'bitplane' else 'false'}, {out});"
    )


@_emits(snn.DecodeOp)
def _emit_decode(g: _Gen, op: Operation) -> None:
    L = g.lines
    out = g.alloc(op.res)
    c, inner = channel_layout(_shape(op.input), _shape(op.scale), prop(op, "axis"))
    bias = g.ref(op.bias) if op.bias is not None else "nullptr"
    L.append(f"  decode({g.ref(op.input)}, {g.ref(op.scale)}, {bias}, {math.prod(_shape(op.input))}, {c}, {inner}, {out});")


@_emits(snn.RequantOp)
def _emit_requant(g: _Gen, op: Operation) -> None:
    L = g.lines
    out = g.alloc(op.res)
    t = op.res.type
    lo, hi = (t.lo, t.hi) if isinstance(t, snn.CountsType) else (-(2**31), 2**31 - 1)
    c, inner = channel_layout(_shape(op.input), _shape(op.multiplier), prop(op, "axis"))
    bias = g.ref(op.bias) if op.bias is not None else f"({_ctype(op.multiplier)}*)nullptr"
    L.append(
        f"  requant({g.ref(op.input)}, {g.ref(op.multiplier)}, {bias}, {math.prod(_shape(op.input))}, {c}, {inner}, {prop(op, 'shift')}, "
        f"int64_t({lo}), int64_t({hi}), {out});"
    )


@_emits(snn.NeuronOp)
def _emit_neuron(g: _Gen, op: Operation) -> None:
    L = g.lines
    out = g.alloc(op.res)
    shape = _shape(op.input)
    signed = "true" if op.res.type.signed.data else "false"
    L.append(
        f"  neuron({g.ref(op.input)}, {shape[0]}, {math.prod(shape[1:])}, {prop(op, 'threshold')}, {prop(op, 'leak_shift')}, {signed}, {out});"
    )


@_emits(snn.FixedEncodeOp, snn.FixedDecodeOp, snn.FixedGeluOp)
def _emit_fixed_encode(g: _Gen, op: Operation) -> None:
    L = g.lines
    out = g.alloc(op.res)
    fn = {snn.FixedEncodeOp: "fixed_encode", snn.FixedDecodeOp: "fixed_decode", snn.FixedGeluOp: "fixed_gelu"}[type(op)]
    f = prop(op, "frac_bits")
    consts = "".join(f"{c}LL, " for c in fixed.gelu_constants(f)) if isinstance(op, snn.FixedGeluOp) else ""
    L.append(f"  {fn}({g.ref(op.input)}, {math.prod(_shape(op.input))}, {f}, {consts}{out});")


@_emits(snn.FixedAddOp)
def _emit_fixed_add(g: _Gen, op: Operation) -> None:
    return _elementwise(g, op, "fixed_add_value(a, b)")


@_emits(snn.FixedDivOp)
def _emit_fixed_div(g: _Gen, op: Operation) -> None:
    return _elementwise(g, op, f"fixed_div_value(a, b, {prop(op, 'frac_bits')})")


@_emits(snn.FixedLayerNormOp, snn.FixedRmsNormOp)
def _emit_fixed_layer_norm(g: _Gen, op: Operation) -> None:
    L = g.lines
    out = g.alloc(op.res)
    shape = _shape(op.input)
    axis = prop(op, "axis") % len(shape)
    n = math.prod(shape[axis:])
    beta = g.ref(op.beta) if isinstance(op, snn.FixedLayerNormOp) else "nullptr"
    L.append(
        f"  fixed_layer_norm({g.ref(op.input)}, {g.ref(op.gamma)}, {beta}, {math.prod(shape) // n}, {n}, {prop(op, 'frac_bits')}, "
        f"{prop(op, 'var_shift')}, int64_t({prop(op, 'epsilon')}), {out});"
    )


@_emits(snn.FixedSiluOp)
def _emit_fixed_silu(g: _Gen, op: Operation) -> None:
    out = g.alloc(op.res)
    f = prop(op, "frac_bits")
    consts = ", ".join(f"{c}LL" for c in fixed.softmax_constants(f))
    g.lines.append(f"  fixed_silu({g.ref(op.input)}, {math.prod(_shape(op.input))}, {f}, {prop(op, 'alpha')}LL, {consts}, {out});")


@_emits(snn.FixedMulOp)
def _emit_fixed_mul(g: _Gen, op: Operation) -> None:
    return _elementwise(g, op, f"fixed_mul_value(a, b, {prop(op, 'frac_bits')})")


@_emits(snn.FixedSoftmaxOp, nn.SoftmaxOp)
def _emit_fixed_softmax(g: _Gen, op: Operation) -> None:
    L = g.lines
    out = g.alloc(op.res)
    shape = _shape(op.input)
    axis = prop(op, "axis") % len(shape)
    outer, n, inner = math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1 :])
    if isinstance(op, snn.FixedSoftmaxOp):
        f = prop(op, "frac_bits")
        consts = ", ".join(f"{c}LL" for c in fixed.softmax_constants(f))
        L.append(f"  fixed_softmax({g.ref(op.input)}, {outer}, {n}, {inner}, {f}, {consts}, {out});")
    else:
        _float_only(op)
        L.append(f"  softmax({g.ref(op.input)}, {outer}, {n}, {inner}, {out});")


@_emits(*BINARY_C)
def _emit_binary(g: _Gen, op: Operation) -> None:
    return _elementwise(g, op, BINARY_C[type(op)])


@_emits(nn.PowOp)
def _emit_pow(g: _Gen, op: Operation) -> None:
    e = g.weight_array(op.rhs)
    if e is not None and e.size == 1 and float(e.reshape(-1)[0]) in (1.0, 2.0, 3.0, 0.5):
        expr = {1.0: "a", 2.0: "a * a", 3.0: "a * a * a", 0.5: "std::sqrt(a)"}[float(e.reshape(-1)[0])]
        return _elementwise(g, op, expr, unary=True)
    return _elementwise(g, op, "std::pow(a, b)")


@_emits(*UNARY_C)
def _emit_unary(g: _Gen, op: Operation) -> None:
    return _elementwise(g, op, UNARY_C[type(op)], unary=True)


@_emits(nn.WhereOp)
def _emit_where(g: _Gen, op: Operation) -> None:
    return _elementwise(g, op, "a ? b : c", ternary=True)


@_emits(nn.GeluOp)
def _emit_gelu(g: _Gen, op: Operation) -> None:
    _float_only(op)
    if prop(op, "approximate") == "tanh":
        expr = "T(0.5) * a * (T(1) + T(fast_tanh(float(T(0.7978845608028654) * (a + T(0.044715) * a * a * a)))))"
    else:
        expr = "T(0.5) * a * (T(1) + std::erf(a * T(0.7071067811865476)))"
    return _elementwise(g, op, expr, unary=True)


@_emits(nn.ClipOp)
def _emit_clip(g: _Gen, op: Operation) -> None:
    lo, hi = prop(op, "min"), prop(op, "max")
    expr = "a"
    if lo is not None:
        expr = f"std::max({expr}, T({lo!r}))"
    if hi is not None:
        expr = f"std::min({expr}, T({hi!r}))"
    return _elementwise(g, op, expr, unary=True)


@_emits(nn.CastOp)
def _emit_cast(g: _Gen, op: Operation) -> None:
    src, dst = np_dtype(op.input.type), np_dtype(op.res.type)
    expr = "T(a != 0)" if dst == np.bool_ else ("T(std::trunc(a))" if dst.kind in "iu" and src.kind == "f" else "T(a)")
    return _elementwise(g, op, expr, unary=True)


@_emits(nn.ReshapeOp)
def _emit_reshape(g: _Gen, op: Operation) -> None:
    L = g.lines
    out = g.alloc(op.results[0])
    L.append(f"  std::memcpy({out}, {g.ref(op.operands[0])}, sizeof({_ctype(op.results[0])}) * {math.prod(_shape(op.results[0]))});")


@_emits(nn.TransposeOp, nn.SplitOp, nn.SliceOp)
def _emit_transpose(g: _Gen, op: Operation) -> None:
    for res, strides, offset in strided_views(op):
        _strided_copy(g, op.operands[0], res, strides, offset)


@_emits(nn.ConcatOp)
def _emit_concat(g: _Gen, op: Operation) -> None:
    L = g.lines
    out = g.alloc(op.res)
    shape = _shape(op.res)
    axis = prop(op, "axis") % len(shape)
    outer, inner = math.prod(shape[:axis]), math.prod(shape[axis + 1 :])
    at = 0
    for v in op.inputs:
        n = _shape(v)[axis] * inner
        L.append(
            f"  for (int64_t o = 0; o < {outer}; ++o) std::memcpy({out} + o * {shape[axis] * inner} + {at}, {g.ref(v)} + o * {n}, sizeof({_ctype(v)}) * {n});"
        )
        at += n


@_emits(nn.GatherOp)
def _emit_gather(g: _Gen, op: Operation) -> None:
    L = g.lines
    table, idx = op.input, op.indices
    t_shape = _shape(table)
    axis = prop(op, "axis") % len(t_shape)
    out = g.alloc(op.res)
    nidx = max(1, math.prod(_shape(idx)))
    ind = g.ref(idx)
    if np_dtype(idx.type) != np.int64:
        tmp = g.fresh()
        L.append(f"  std::vector<int64_t> {tmp}({g.ref(idx)}, {g.ref(idx)} + {nidx});")
        ind = f"{tmp}.data()"
    L.append(
        f"  gather({g.ref(table)}, {ind}, {math.prod(t_shape[:axis])}, {t_shape[axis]}, {math.prod(t_shape[axis + 1 :])}, {nidx}, {out});"
    )


@_emits(nn.LayerNormOp)
def _emit_layer_norm(g: _Gen, op: Operation) -> None:
    L = g.lines
    _float_only(op)
    out = g.alloc(op.res)
    shape = _shape(op.input)
    axis = prop(op, "axis") % len(shape)
    n = math.prod(shape[axis:])
    bias = g.ref(op.bias) if op.bias is not None else "nullptr"
    L.append(
        f"  layer_norm({g.ref(op.input)}, {g.ref(op.scale)}, {bias}, {math.prod(shape) // n}, {n}, {float(prop(op, 'epsilon'))!r}f, {out});"
    )


@_emits(nn.MaxPoolOp, nn.AvgPoolOp)
def _emit_max_pool(g: _Gen, op: Operation) -> None:
    L = g.lines
    shape, oshape = _shape(op.operands[0]), _shape(op.results[0])
    kernel = list(prop(op, "kernel"))
    if len(shape) != 4 or any(d != 1 for d in prop(op, "dilations") or [1, 1]) or len(op.results) != 1:
        raise _unsupported(op, "only 2-D pooling without dilation")
    out = g.alloc(op.results[0])
    s, p = list(prop(op, "strides")), list(prop(op, "pads"))
    is_max = "true" if isinstance(op, nn.MaxPoolOp) else "false"
    cp = "true" if isinstance(op, nn.AvgPoolOp) and prop(op, "count_include_pad") else "false"
    L.append(
        f"  pool2d({g.ref(op.operands[0])}, {shape[0]}, {shape[1]}, {shape[2]}, {shape[3]}, {kernel[0]}, {kernel[1]}, {s[0]}, {s[1]}, "
        f"{p[0]}, {p[1]}, {oshape[2]}, {oshape[3]}, {is_max}, {cp}, {out});"
    )
    return


def _float_only(op: Operation) -> None:
    if np_dtype(op.results[0].type) != np.float32:
        raise _unsupported(op, "only float32 here")


def _elementwise(g: _Gen, op: Operation, expr: str, unary: bool = False, ternary: bool = False) -> None:
    res = op.results[0]
    out = g.alloc(res)
    oshape = _shape(res) or (1,)
    total = math.prod(oshape)
    n_in = 1 if unary else 3 if ternary else 2
    ins = list(op.operands[:n_in])
    strides = [broadcast_strides(_shape(v) or (1,), oshape) for v in ins]
    T = _ctype(res)
    types = [_ctype(v) for v in ins]
    if all(_shape(v) == _shape(res) for v in ins):  # the common case: no index arithmetic
        args = "; ".join(f"{t} {n} = {g.ref(v)}[i]" for t, n, v in zip(types, "abc", ins))
        g.lines.append(
            f"  {{ using T = {T};\n#pragma omp parallel for schedule(static) if (parallel_worth({total}))\n    for (int64_t i = 0; i < {total}; ++i) {{ {args}; {out}[i] = (T)({expr}); }} }}"
        )
        return
    sv = [g.fresh("s") for _ in ins]
    decl = " ".join(f"static const int64_t {n}[] = {_arr(s)};" for n, s in zip(sv, strides))
    getters = "; ".join(f"{t} {n} = {g.ref(v)}[o{n}]" for t, n, v in zip(types, "abc", ins))
    ptrs = ", ".join(sv + ["nullptr"] * (3 - len(sv)))
    g.lines.append(
        f"  {{ using T = {T}; {decl} Index ix{{{len(oshape)}, {_arr(oshape)}}};\n"
        f"    for_each_index(ix, {total}, {ptrs}, [&](int64_t i, int64_t oa, int64_t ob, int64_t oc) {{ (void)ob; (void)oc; {getters}; {out}[i] = (T)({expr}); }}); }}"
    )


def _strided_copy(g: _Gen, src: SSAValue, dst: SSAValue, strides: Sequence[int], offset: int) -> None:
    out = g.alloc(dst)
    shape = _shape(dst) or (1,)
    s = g.fresh("s")
    g.lines.append(
        f"  {{ static const int64_t {s}[] = {_arr(strides)}; Index ix{{{len(shape)}, {_arr(shape)}}}; "
        f"copy_strided({g.ref(src)} + {offset}, ix, {math.prod(shape)}, {s}, {out}); }}"
    )


@_emits(nn.MatMulOp)
def _matmul(g: _Gen, op: nn.MatMulOp) -> None:
    _float_only(op)
    a, b = _shape(op.lhs), _shape(op.rhs)
    if len(a) < 2 or len(b) < 2:
        raise _unsupported(op, "vector operands")
    out_shape = _shape(op.res)
    batch_shape = out_shape[:-2]
    batch = math.prod(batch_shape)
    m, k, n = a[-2], a[-1], b[-1]
    sa = broadcast_strides(a[:-2] or (1,), batch_shape or (1,))
    sb = broadcast_strides(b[:-2] or (1,), batch_shape or (1,))
    offs_a, offs_b = [], []
    for z in np.ndindex(*(batch_shape or (1,))):
        offs_a.append(sum(i * s for i, s in zip(z, sa)) * m * k)
        offs_b.append(sum(i * s for i, s in zip(z, sb)) * k * n)
    out = g.alloc(op.res)
    oa, ob = g.fresh("o"), g.fresh("o")
    g.lines.append(
        f"  {{ static const int64_t {oa}[] = {_arr(offs_a)}; static const int64_t {ob}[] = {_arr(offs_b)}; "
        f"matmul({g.ref(op.lhs)}, {g.ref(op.rhs)}, {batch}, {oa}, {ob}, {m}, {k}, {n}, {out}); }}"
    )


def _counter(g: _Gen, op: Operation) -> str:
    layer = op.attributes.get(LAYER_ATTR)
    g.layers.append(layer.data if isinstance(layer, StringAttr) else op.name)
    return f"&counters[{len(g.layers) - 1}]"


@_emits(snn.SynapseOp)
def _synapse(g: _Gen, op: snn.SynapseOp) -> None:
    w = g.weight_array(op.weight)
    if w is None:
        raise _unsupported(op, "weights must be constant")
    bits = op.weight.type.element_type.width.data
    if bits > 8:
        raise _unsupported(op, "weights wider than 8 bits")
    layout = 0 if bits == 8 else 1 if bits in (2, 4) else 2
    idx = g.entry(w, 0 if bits == 8 else bits, op.weight, blocked=layout == 1)
    nnz = g.entry(np.count_nonzero(w, axis=1).astype(np.int32), 0, op.weight)  # per row: pruned rows are skipped, SOPs counted
    sw = g.fresh("syn")
    g.members.append(f"nscc::SynapseWeights {sw};")
    gs_ptr, group = "nullptr", 0
    if op.group_scale is not None:
        gs = g.weight_array(op.group_scale)
        gi = g.entry(gs.astype(np.int8), 0, op.group_scale)
        gs_ptr, group = f"W.ptr<int8_t>({gi})", w.shape[0] // gs.shape[0]
    it = op.input.type
    max_count = sum(it.slot_weights()) if isinstance(it, snn.SpikesType) else it.levels.data
    exact = w.shape[0] * max_count * (1 << (bits - 1)) < (1 << 24)
    g.init.append(
        f"    {sw} = nscc::SynapseWeights{{W.ptr<uint8_t>({idx}), {bits}, {layout}, {w.shape[0]}, {w.shape[1]}, {gs_ptr}, {group}, "
        f"{'true' if exact else 'false'}, W.ptr<int32_t>({nnz})}};"
    )
    g.init.append(f"    nscc::synapse_prepare({sw});")
    x = g.ref(op.input)
    ctr = _counter(g, op)
    if isinstance(it, snn.SpikesType):
        sh = _shape(op.input)
        n = math.prod(sh[1:])
        tmp, sl = g.fresh(), g.fresh("sw")
        g.lines.append(
            f"  std::vector<int32_t> {tmp}({n}); {{ static const int {sl}[] = {_arr(it.slot_weights())}; slots_to_counts({x}, {sh[0]}, {n}, {sl}, {tmp}.data()); }}"
        )
        x, rows = f"{tmp}.data()", n // w.shape[0]
        bitplane = it.coding.data == "bitplane"
    else:
        rows = math.prod(_shape(op.input)) // w.shape[0]
        bitplane = g.coding == "bitplane"
    out = g.alloc(op.res)
    g.lines.append(f"  synapse({x}, {rows}, {sw}, {'true' if bitplane else 'false'}, {out}, {ctr});")


@_emits(snn.ConvSynapseOp)
def _conv_synapse(g: _Gen, op: snn.ConvSynapseOp) -> None:
    w = g.weight_array(op.weight)
    if w is None:
        raise _unsupported(op, "weights must be constant")
    xs, os_ = _shape(op.input), _shape(op.res)
    if len(xs) != 4 or isinstance(op.input.type, snn.SpikesType):
        raise _unsupported(op, "2-D convolutions over counts only")
    idx = g.entry(w.astype(np.int8), 0, op.weight)
    s, p, d = list(prop(op, "strides")), list(prop(op, "pads")), list(prop(op, "dilations"))
    ctr = _counter(g, op)
    out = g.alloc(op.res)
    g.lines.append(
        f"  conv_synapse({g.ref(op.input)}, {xs[0]}, {xs[1]}, {xs[2]}, {xs[3]}, W.ptr<int8_t>({idx}), {w.shape[0]}, {w.shape[2]}, {w.shape[3]}, "
        f"{s[0]}, {s[1]}, {p[0]}, {p[1]}, {d[0]}, {d[1]}, {prop(op, 'group')}, {os_[2]}, {os_[3]}, {'true' if g.coding == 'bitplane' else 'false'}, {out}, {ctr});"
    )


@_emits(snn.LinearAttentionOp, snn.LinearAttentionStepOp)
def _linear_attention(g: _Gen, op) -> None:
    qs, vs = _shape(op.q), _shape(op.v)
    heads, t, dk, dv = math.prod(qs[:-2]), qs[-2], qs[-1], vs[-1]
    ctr = _counter(g, op)
    num, den = g.alloc(op.num), g.alloc(op.den)
    st_t = "int64_t"
    if isinstance(op, snn.LinearAttentionStepOp):  # from the state arguments into the new state, updated there
        state, norm = g.alloc(op.new_state), g.alloc(op.new_norm)
        st_t = _ctype(op.new_state)
        g.lines.append(f"  std::memcpy({state}, {g.ref(op.state)}, sizeof({st_t}) * {math.prod(_shape(op.state))});")
        g.lines.append(f"  std::memcpy({norm}, {g.ref(op.norm)}, sizeof({st_t}) * {math.prod(_shape(op.norm))});")
    else:  # the whole sequence from zero state
        state, norm = f"({st_t}*)nullptr", f"({st_t}*)nullptr"
    g.lines.append(
        f"  linear_attention({g.ref(op.q)}, {g.ref(op.k)}, {g.ref(op.v)}, {heads}, {t}, {dk}, {dv}, {prop(op, 'decay_shift')}, {state}, {norm}, {num}, {den}, {ctr});"
    )
