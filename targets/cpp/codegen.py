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

from nscc.decoding import is_step_function
from nscc.errors import NsccError
from nscc.ir import nn, snn
from nscc.ir.constants import dense_value
from nscc.ir.signature import LAYER_ATTR, main_function, signature
from nscc.ir.types import np_dtype
from nscc.optable import OpTable
from nscc.quant.hadamard import is_signed_sylvester
from nscc.semantics import fixed
from nscc.semantics.nn import prop
from nscc.targets.layout import broadcast_strides, channel_layout, mask_strides, plan_arena, strided_views

C_TYPES = {
    np.dtype(np.float32): "float",
    np.dtype(np.float64): "double",
    np.dtype(np.int8): "int8_t",
    np.dtype(np.int16): "int16_t",
    np.dtype(np.int32): "int32_t",
    np.dtype(np.int64): "int64_t",
    np.dtype(np.uint8): "uint8_t",
    np.dtype(np.uint16): "uint16_t",
    np.dtype(np.uint32): "uint32_t",
    np.dtype(np.uint64): "uint64_t",
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
    nn.SinOp: "std::sin(a)",
    nn.CosOp: "std::cos(a)",
    nn.IsNanOp: "T(a != a)",
    nn.SoftplusOp: "std::max(a, T(0)) + std::log1p(std::exp(-std::abs(a)))",
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


def _c_float(x: float) -> str:
    """A C++ double literal (the element type's T(...) around it rounds as numpy's asarray does)."""
    x = float(x)
    return "NAN" if math.isnan(x) else ("INFINITY" if x > 0 else "-INFINITY") if math.isinf(x) else repr(x)


def _c_bool(x) -> str:
    return "true" if x else "false"


# Unary ops with parameters: the expression, from the op's properties.
UNARY_PARAM_C = {
    nn.SiluOp: lambda op: f"a / (T(1) + T(fast_exp(float(-a * T({_c_float(prop(op, 'alpha'))})))))",
    nn.LeakyReluOp: lambda op: f"a >= T(0) ? a : T(a * T({_c_float(prop(op, 'alpha'))}))",
    nn.EluOp: lambda op: f"a > T(0) ? a : T(T({_c_float(prop(op, 'alpha'))}) * std::expm1(a))",
    nn.HardSigmoidOp: lambda op: (
        f"std::min(std::max(T(a * T({_c_float(prop(op, 'alpha'))}) + T({_c_float(prop(op, 'beta'))})), T(0)), T(1))"
    ),
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


def tile_bits(bits: int) -> int:
    """The stored width of `bits`-bit synapse weights: 2, 4 or 8."""
    return 2 if bits <= 2 else 4 if bits <= 4 else 8


@dataclass
class WeightEntry:
    array: np.ndarray
    bits: int = 0  # > 0: synapse weights, stored as tiles at this width (2, 4 or 8; runtime/nscc_synapse.hpp)


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
    buffers: dict = field(default_factory=dict)  # value -> [first op, last op, bytes] of the arena buffer it owns
    # value in the arena -> the value owning its buffer (itself, one it was computed over in place, or one it views)
    root: dict = field(default_factory=dict)
    root_last: dict = field(default_factory=dict)  # buffer owner -> the last op reading any value held in that buffer
    last_use: dict = field(default_factory=dict)  # value -> index of the last op that reads it
    direct: dict = field(default_factory=dict)  # value -> the output parameter it is written into
    entries: list[WeightEntry] = field(default_factory=list)
    entry_of: dict = field(default_factory=dict)
    layers: list[str] = field(default_factory=list)
    counter: int = 0
    op_index: int = 0
    ops: list = field(default_factory=list)  # @main's ops, in order
    done: set = field(default_factory=set)  # ops emitted ahead of their turn (fused into a synapse's epilogue)
    coding: str = "thermometer"  # the module's spike coding, for synapse event counters

    def fresh(self, prefix: str = "v") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def ref(self, v: SSAValue) -> str:
        return self.names[v]

    def alloc(self, v: SSAValue, over: SSAValue | None = None) -> str:
        """A buffer in the model's arena; its offset is planned once all lifetimes are known. A
        value that is only returned is written straight into the caller's output instead: the
        LM head's logits, the largest activation of a language model, are then held once.

        `over`: an operand the op reads only at the element it writes, of v's shape and C type.
        If this op is its last reader, v is computed in place over it: a chain of per-element
        ops after the LM head (requantization, the token scale) then holds one logits-sized
        buffer, not one per op."""
        if v in self.direct:
            self.names[v] = self.direct[v]
            return self.direct[v]
        if (
            over is not None
            and over in self.root
            and self.root_last[self.root[over]] == self.op_index  # no value in that buffer is read later (a view of it included)
            and _shape(over) == _shape(v)
            and _ctype(over) == _ctype(v)
        ):
            return self.share(v, over)
        name = self.fresh()
        nbytes = max(1, math.prod(_shape(v))) * np.dtype(np_dtype(v.type)).itemsize
        self.lines.append(f"  {_ctype(v)}* {name} = reinterpret_cast<{_ctype(v)}*>(arena.data() + @OFFSET{name}@);")
        self.names[v], self.buffers[v], self.root[v] = name, [self.op_index, self.op_index, nbytes], v
        self.root_last[v] = self.last_use.get(v, self.op_index)
        return name

    def share(self, v: SSAValue, holder: SSAValue) -> str:
        """v is held in the arena buffer of `holder` (computed over it in place, or a view of it):
        the buffer lives until the last reader of either."""
        owner = self.root[v] = self.root[holder]
        self.root_last[owner] = max(self.root_last[owner], self.last_use.get(v, self.op_index))
        self.names[v] = self.names[holder]
        return self.names[v]

    def entry(self, array: np.ndarray, bits: int, source: SSAValue) -> int:
        """The weight file index of an array; a stored weight (or an equal constant) is written once,
        however many programs of the project use it."""
        owner = source.owner
        if isinstance(owner, nn.WeightOp):
            key = ("w", owner.sym.data, array.dtype.str)
        else:
            import hashlib

            key = ("c", hashlib.sha1(array.tobytes()).hexdigest(), array.shape, array.dtype.str)
        key = (key, bits)
        if key in self.entry_of:
            return self.entry_of[key]
        self.entries.append(WeightEntry(np.ascontiguousarray(array), bits))
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
    ops = g.ops = list(fn.body.block.ops)
    check_supported(ops)
    ret = ops[-1]
    if isinstance(ret, ReturnOp) and not is_step_function(module):  # a step's state may be updated in place by its caller
        returned = list(ret.operands)
        g.direct = {
            v: f"out{j}"
            for j, v in enumerate(returned)
            if isinstance(v.owner, Operation) and returned.count(v) == 1 and all(u.operation is ret for u in v.uses)
        }
    for i, op in enumerate(ops):
        for v in op.operands:
            g.last_use[v] = i
    outputs = []
    for i, op in enumerate(ops):
        if isinstance(op, ReturnOp):
            outputs = list(op.operands)
            break
        if op in g.done:
            continue
        g.op_index = i
        _emit_op(g, op)
    for v, owner in g.root.items():
        life = g.buffers[owner]
        life[1] = max(life[1], g.last_use.get(v, life[0]))
    offsets, arena = plan_arena({g.names[v]: tuple(life) for v, life in g.buffers.items()})
    g.lines = [_fill_offsets(ln, offsets) for ln in g.lines]
    g.members.append(
        f"nscc::aligned_vector<uint8_t> arena = nscc::aligned_vector<uint8_t>({max(arena, 64)});  // every intermediate value, lifetimes overlaid"
    )
    for j, v in enumerate(outputs):
        if g.names.get(v) != f"out{j}":  # computed in place already otherwise
            g.lines.append(f"  std::memcpy(out{j}, {g.ref(v)}, sizeof({_ctype(v)}) * {math.prod(_shape(v))});")  # 0 for an empty one
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


def _why_unsupported(op: Operation) -> str | None:
    """None if the target emits op; else why not ('' when it has no emitter)."""
    if type(op) not in EMITTERS:
        return ""
    for v in (*op.operands, *op.results):
        try:
            dt = np_dtype(v.type)
        except ValueError:
            return f"element type {v.type}"
        if dt not in C_TYPES:
            return f"element type {dt}"
    return None


def check_supported(ops: Sequence[Operation]) -> None:
    """Every op the target cannot emit, reported at once, before anything is written."""
    bad = [(op, why) for op in ops if not isinstance(op, ReturnOp) for why in [_why_unsupported(op)] if why is not None]
    if bad:
        kinds = sorted({op.name + (f" ({why})" if why else "") for op, why in bad})
        first = _unsupported(*bad[0])
        raise NsccError(
            f"cpp target: {len(bad)} op(s) of {len(kinds)} kind(s) are not supported: {', '.join(kinds)}",
            first.hint,
            lines=[_unsupported(op, why).message for op, why in bad[:10]] if len(bad) > 1 else None,
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
    out = g.alloc(op.res, over=op.input)
    t = op.res.type
    lo, hi = (t.lo, t.hi) if isinstance(t, snn.CountsType) else (-(2**31), 2**31 - 1)
    c, inner = channel_layout(_shape(op.input), _shape(op.multiplier), prop(op, "axis"))
    bias = g.ref(op.bias) if op.bias is not None else f"({_ctype(op.multiplier)}*)nullptr"
    L.append(
        f"  requant({g.ref(op.input)}, {g.ref(op.multiplier)}, {bias}, {prop(op, 'bias_frac') or 0}, {math.prod(_shape(op.input))}, {c}, {inner}, "
        f"{prop(op, 'shift')}, "
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


@_emits(snn.LifOp, snn.LeakyIntegrateOp)
def _emit_lif(g: _Gen, op: Operation) -> None:
    out = g.alloc(op.res)
    shape = _shape(op.input)
    params = [op.decay] + ([op.threshold, op.reset] if isinstance(op, snn.LifOp) else [])
    args = "".join(f"{g.ref(p)}, {math.prod(_shape(p))}, " for p in params)
    fn = "lif" if isinstance(op, snn.LifOp) else "leaky_integrate"
    g.lines.append(f"  {fn}({g.ref(op.input)}, {shape[0]}, {math.prod(shape[1:])}, {args}{out});")


@_emits(snn.RecurrentLifOp)
def _emit_recurrent_lif(g: _Gen, op: snn.RecurrentLifOp) -> None:
    out = g.alloc(op.res)
    t, n = _shape(op.input)
    args = "".join(f"{g.ref(p)}, {math.prod(_shape(p))}, " for p in (op.decay, op.threshold, op.reset))
    g.lines.append(f"  recurrent_lif({g.ref(op.input)}, {t}, {n}, {g.ref(op.weight)}, {args}{out});")


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
    return _elementwise(g, op, _fixed_binary(op, "a", "b"), vector=_fixed_binary_v8(op))


def _fixed_binary(op: Operation, a: str, b: str) -> str:
    """The C expression of snn.fixed_mul or snn.fixed_add on `a` and `b`: one spelling for the
    op's own loop and for a synapse epilogue that computes it."""
    if isinstance(op, snn.FixedMulOp):
        return f"fixed_mul_value({a}, {b}, {prop(op, 'frac_bits')})"
    return f"fixed_add_value({a}, {b})"


def _fixed_binary_v8(op: Operation) -> str:
    """The same on eight pairs `a`, `b` in v8 lanes: fixed-point values are int32 (the
    verifier's rule), so that a product is one vpmuldq."""
    if isinstance(op, snn.FixedMulOp):
        return f"v8::fixed_mul(v8::mul(a, b), {prop(op, 'frac_bits')})"
    return "v8::fixed_add(a, b)"


@_emits(snn.FixedDivOp)
def _emit_fixed_div(g: _Gen, op: Operation) -> None:
    f = prop(op, "frac_bits")
    small = f <= 20 and all(np_dtype(v.type) == np.int32 for v in op.operands)  # runtime: the quotient is exact in double
    a, b = op.operands
    shape = _shape(op.results[0])
    per_row = _epilogue_operand(b, shape) if shape else None
    if small and per_row in ((0, 0), (1, 0)):  # one divisor a row, or one for all (a has the result's shape: the verifier's rule)
        out = g.alloc(op.results[0], over=a)
        g.lines.append(f"  fixed_div_rows({g.ref(a)}, {g.ref(b)}, {per_row[0]}, {math.prod(shape[:-1])}, {shape[-1]}, {f}, {out});")
        return
    return _elementwise(g, op, f"fixed_div_value{'_small' if small else ''}(a, b, {f})")


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
    return _elementwise(g, op, _fixed_binary(op, "a", "b"), vector=_fixed_binary_v8(op))


@_emits(snn.FixedSoftmaxOp, nn.SoftmaxOp, nn.LogSoftmaxOp)
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
        L.append(f"  softmax({g.ref(op.input)}, {outer}, {n}, {inner}, {out}, {_c_bool(isinstance(op, nn.LogSoftmaxOp))});")


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


@_emits(*UNARY_C, *UNARY_PARAM_C)
def _emit_unary(g: _Gen, op: Operation) -> None:
    expr = UNARY_C[type(op)] if type(op) in UNARY_C else UNARY_PARAM_C[type(op)](op)
    return _elementwise(g, op, expr, unary=True)


@_emits(nn.ModOp)
def _emit_mod(g: _Gen, op: Operation) -> None:
    return _elementwise(g, op, f"mod_value(T(a), T(b), {_c_bool(prop(op, 'fmod'))})")


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
        expr = f"std::max({expr}, T({_c_float(lo)}))"
    if hi is not None:
        expr = f"std::min({expr}, T({_c_float(hi)}))"
    return _elementwise(g, op, expr, unary=True)


@_emits(nn.CastOp)
def _emit_cast(g: _Gen, op: Operation) -> None:
    src, dst = np_dtype(op.input.type), np_dtype(op.res.type)
    expr = "T(a != 0)" if dst == np.bool_ else ("T(std::trunc(a))" if dst.kind in "iu" and src.kind == "f" else "T(a)")
    return _elementwise(g, op, expr, unary=True)


@_emits(nn.ReshapeOp)
def _emit_reshape(g: _Gen, op: Operation) -> None:
    src, res = op.operands[0], op.results[0]
    if src in g.root and res not in g.direct:  # the same bytes: a view of its operand's arena buffer
        g.share(res, src)
        return
    out = g.alloc(res)
    g.lines.append(f"  std::memcpy({out}, {g.ref(src)}, sizeof({_ctype(res)}) * {math.prod(_shape(res))});")


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
    ind = _int64_indices(g, idx)
    L.append(
        f"  gather({g.ref(table)}, {ind}, {math.prod(t_shape[:axis])}, {t_shape[axis]}, {math.prod(t_shape[axis + 1 :])}, {nidx}, {out});"
    )


def _int64_indices(g: _Gen, idx: SSAValue) -> str:
    """A pointer to the indices as int64 (copied if they are of another type)."""
    if np_dtype(idx.type) == np.int64:
        return g.ref(idx)
    tmp = g.fresh()
    g.lines.append(f"  std::vector<int64_t> {tmp}({g.ref(idx)}, {g.ref(idx)} + {max(1, math.prod(_shape(idx)))});")
    return f"{tmp}.data()"


@_emits(nn.LayerNormOp)
def _emit_layer_norm(g: _Gen, op: Operation) -> None:
    L = g.lines
    _float_only(op)
    out = g.alloc(op.res)
    shape = _shape(op.input)
    axis = prop(op, "axis") % len(shape)
    n = math.prod(shape[axis:])
    scale, bias = _norm_param(g, op, op.scale, axis), _norm_param(g, op, op.bias, axis)
    L.append(
        f"  layer_norm({g.ref(op.input)}, {scale}, {bias}, {math.prod(shape) // n}, {n}, {_ctype(op.res)}({_c_float(prop(op, 'epsilon'))}), {out});"
    )


def _norm_param(g: _Gen, op: Operation, v: SSAValue | None, axis: int) -> str:
    """A norm's scale or bias as n values, one per position of the axes from `axis` on: the
    operand itself, or (one that broadcasts over those axes) a copy of it spread out to n."""
    if v is None:
        return "nullptr"
    shape = _shape(op.operands[0])
    ps = (1,) * (len(shape) - len(_shape(v))) + _shape(v)
    if any(d != 1 for d in ps[:axis]):
        raise _unsupported(op, "a scale or bias that varies over the leading axes")
    if ps[axis:] == shape[axis:]:
        return g.ref(v)
    tmp = g.fresh()
    g.lines.append(f"  std::vector<{_ctype(v)}> {tmp}({max(1, math.prod(shape[axis:]))});")
    _strided_into(g, g.ref(v), f"{tmp}.data()", shape[axis:], broadcast_strides(ps[axis:], shape[axis:]))
    return f"{tmp}.data()"


@_emits(nn.MaxPoolOp, nn.AvgPoolOp)
def _emit_pool(g: _Gen, op: Operation) -> None:
    shape = _shape(op.operands[0])
    nd = len(shape) - 2
    if nd > 3 or len(op.results) != 1:
        raise _unsupported(op, "more than three spatial axes")
    pads = prop(op, "pads")
    vals = [shape[2:], prop(op, "kernel"), prop(op, "strides"), pads[:nd], pads[nd:], prop(op, "dilations"), _shape(op.results[0])[2:]]
    sp, k, st, pb, pe, dl, os_ = _spatial_arrays(g, nd, vals, [1, 1, 1, 0, 0, 1, 1])
    out = g.alloc(op.results[0])
    is_max = _c_bool(isinstance(op, nn.MaxPoolOp))
    cp = _c_bool(isinstance(op, nn.AvgPoolOp) and prop(op, "count_include_pad"))
    g.lines.append(
        f"  pool({g.ref(op.operands[0])}, {shape[0] * shape[1]}, {sp}, {k}, {st}, {pb}, {pe}, {dl}, {os_}, {is_max}, {cp}, {out});"
    )


def _spatial_arrays(g: _Gen, nd: int, values: Sequence[Sequence[int]], fills: Sequence[int]) -> list[str]:
    """Per-axis parameters of an op over nd <= 3 spatial axes as static arrays of three (the
    missing leading axes filled in: size 1, stride 1, pad 0...); their names."""
    names = [g.fresh("c") for _ in values]
    arrays = [_arr([fill] * (3 - nd) + list(v)) for v, fill in zip(values, fills)]
    g.lines.append("  " + " ".join(f"static const int64_t {n}[] = {a};" for n, a in zip(names, arrays)))
    return names


def _float_only(op: Operation) -> None:
    if np_dtype(op.results[0].type) not in (np.float32, np.float64):
        raise _unsupported(op, "only float32 and float64 here")


def _elementwise(g: _Gen, op: Operation, expr: str, unary: bool = False, ternary: bool = False, vector: str | None = None) -> None:
    """`expr` of a, b, c per element, the operands broadcast to the result. `vector`: the
    binary op's v8 form (eight elements as int64 lanes), taken where the innermost axis is
    contiguous or broadcast in both operands."""
    res = op.results[0]
    n_in = 1 if unary else 3 if ternary else 2
    ins = list(op.operands[:n_in])
    out = g.alloc(res, over=next((v for v in ins if _shape(v) == _shape(res)), None))  # read at the written index
    oshape = _shape(res) or (1,)
    total = math.prod(oshape)
    strides = [broadcast_strides(_shape(v) or (1,), oshape) for v in ins]
    T = _ctype(res)
    types = [_ctype(v) for v in ins]
    if all(_shape(v) == _shape(res) for v in ins):  # the common case: no index arithmetic
        args = "; ".join(f"{t} {n} = {g.ref(v)}[i]" for t, n, v in zip(types, "abc", ins))
        scalar = f"for (int64_t i = {{}}; i < {total}; ++i) {{{{ {args}; {out}[i] = (T)({expr}); }}}}"
        loop = f"#pragma omp parallel for schedule(static) if (parallel_elements({total}))\n    {scalar.format(0)}"
        if vector is not None and total >= 8:
            loads = " ".join(f"const v8::V {n} = v8::load({g.ref(v)} + i);" for n, v in zip("ab", ins))
            loop = (
                f"#if NSCC_V8\n#pragma omp parallel for schedule(static) if (parallel_elements({total}))\n"
                f"    for (int64_t i = 0; i < {total // 8 * 8}; i += 8) {{ {loads} v8::store({out} + i, {vector}); }}\n"
                f"    {scalar.format(total // 8 * 8)}\n#else\n{loop}\n#endif"
            )
        g.lines.append(f"  {{ using T = {T};\n{loop}\n  }}")
        return
    sv = [g.fresh("s") for _ in ins]
    decl = " ".join(f"static const int64_t {n}[] = {_arr(s)};" for n, s in zip(sv, strides))
    getters = "; ".join(f"{t} {n} = {g.ref(v)}[o{n}]" for t, n, v in zip(types, "abc", ins))
    ptrs = ", ".join(sv + ["nullptr"] * (3 - len(sv)))
    inner = [st[-1] if st[-1] in (0, 1) else -1 for st in strides] + [0] * (3 - len(strides))
    f = f"[&](int64_t i, int64_t oa, int64_t ob, int64_t oc) {{ (void)ob; (void)oc; {getters}; {out}[i] = (T)({expr}); }}"
    call = f"for_each_index<{', '.join(map(str, inner))}>(ix, {total}, {ptrs}, {f});"
    if vector is not None and min(inner[:2]) >= 0:
        loads = " ".join(
            f"const v8::V {n} = {f'v8::load({g.ref(v)} + o{n})' if st else f'v8::set1((int64_t){g.ref(v)}[o{n}])'};" for n, v, st in zip("ab", ins, inner)
        )
        fv = f"[&](int64_t i, int64_t oa, int64_t ob) {{ {loads} v8::store({out} + i, {vector}); }}"
        call = f"#if NSCC_V8\n    for_each_index8<{inner[0]}, {inner[1]}>(ix, {total}, {sv[0]}, {sv[1]}, {f}, {fv});\n#else\n    {call}\n#endif"
    else:
        call = f"    {call}"
    g.lines.append(f"  {{ using T = {T}; {decl} Index ix{{{len(oshape)}, {_arr(oshape)}}};\n{call}\n  }}")


def _strided_copy(g: _Gen, src: SSAValue, dst: SSAValue, strides: Sequence[int], offset: int, shape: Sequence[int] | None = None) -> None:
    """dst from src read at `strides` from `offset`, over dst's shape (or `shape`, of the same size)."""
    out = g.alloc(dst)
    _strided_into(g, f"{g.ref(src)} + {offset}", out, shape or _shape(dst), strides)


def _strided_into(g: _Gen, src: str, out: str, shape: Sequence[int], strides: Sequence[int]) -> None:
    shape, strides = (tuple(shape), list(strides)) if shape else ((1,), [0])
    s = g.fresh("s")
    g.lines.append(
        f"  {{ static const int64_t {s}[] = {_arr(strides)}; Index ix{{{len(shape)}, {_arr(shape)}}}; "
        f"copy_strided({src}, ix, {math.prod(shape)}, {s}, {out}); }}"
    )


@_emits(nn.MatMulOp)
def _matmul(g: _Gen, op: nn.MatMulOp) -> None:
    _float_only(op)
    a, b = _shape(op.lhs), _shape(op.rhs)
    a, b = (1,) + a if len(a) == 1 else a, b + (1,) if len(b) == 1 else b  # numpy's promotion of vectors
    batch_shape = tuple(np.broadcast_shapes(a[:-2], b[:-2]))
    m, k, n = a[-2], a[-1], b[-1]
    out = g.alloc(op.res)
    oa, ob = _batch_offsets(g, [(a[:-2], m * k), (b[:-2], k * n)], batch_shape)
    g.lines.append(f"  matmul({g.ref(op.lhs)}, {g.ref(op.rhs)}, {max(1, math.prod(batch_shape))}, {oa}, {ob}, {m}, {k}, {n}, {out});")


def _batch_offsets(g: _Gen, operands: Sequence[tuple[Sequence[int], int]], batch_shape: Sequence[int]) -> list[str]:
    """For operands given as (leading shape, elements per matrix), broadcast over batch_shape:
    the names of static arrays of each one's offset at every batch entry."""
    names = []
    for lead, block in operands:
        st = broadcast_strides(tuple(lead) or (1,), tuple(batch_shape) or (1,))
        offs = [sum(i * s for i, s in zip(z, st)) * block for z in np.ndindex(*(tuple(batch_shape) or (1,)))]
        names.append(g.fresh("o"))
        g.lines.append(f"  static const int64_t {names[-1]}[] = {_arr(offs)};")
    return names


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
    stored = tile_bits(bits)
    idx = g.entry(w, stored, op.weight)
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
    g.init.append(
        f"    {sw} = nscc::SynapseWeights{{W.ptr<uint8_t>({idx}), {stored}, {w.shape[0]}, {w.shape[1]}, {gs_ptr}, {group}, "
        f"{max_count}, W.ptr<int32_t>({nnz})}};"
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
    chain = _epilogue_chain(g, op)
    if not chain:
        out = g.alloc(op.res)
        g.lines.append(f"  synapse({x}, {rows}, {sw}, {'true' if bitplane else 'false'}, {out}, {ctr});")
        return
    _fused_synapse(g, op, chain, f"synapse_with<{_ctype(op.res)}>({x}, {rows}, {sw}, {'true' if bitplane else 'false'}, {ctr}, ")


# Per-element ops a synapse's epilogue computes, on the sums of one row r and columns c.
_EPILOGUE_OPS = (snn.RequantOp, snn.FixedMulOp, snn.FixedAddOp, snn.FixedDecodeOp)


def _epilogue_operand(v: SSAValue, shape: Sequence[int]) -> tuple[int, int] | None:
    """(row stride, column stride) of an operand broadcast to a [rows, N] view of `shape`, or None
    where its broadcast is not one of: the whole array, a row's value, a column's, one value."""
    strides = broadcast_strides(_shape(v) or (1,), shape)
    col = strides[-1]
    lead = [(st, n) for st, n in zip(strides[:-1], shape[:-1]) if n != 1]
    if all(st == 0 for st, _ in lead):
        return 0, col
    per_row = 1 if col == 0 else shape[-1]  # a row's value, or the whole array
    acc = per_row
    for st, n in reversed(lead):  # contiguous over the leading dims, as a flat row index
        if st != acc:
            return None
        acc *= n
    return per_row, col


def _epilogue_chain(g: _Gen, syn: snn.SynapseOp) -> list[Operation]:
    """The per-element ops right after a synapse that its epilogue can compute: each reads the
    previous one's result, its only reader, at the element it writes, over channels last;
    weights and constants between them are emitted first. Empty where the sums are needed as they are."""
    shape = _shape(syn.res)
    if not shape:
        return []
    chain: list[Operation] = []
    cur = syn.res
    for op in g.ops[g.op_index + 1 :]:
        if isinstance(op, (nn.WeightOp, ConstantOp)):
            continue
        uses = list(cur.uses)
        if not isinstance(op, _EPILOGUE_OPS) or len(uses) != 1 or uses[0].operation is not op:
            break
        if _shape(op.results[0]) != shape:
            break
        if isinstance(op, snn.RequantOp):
            c, inner = channel_layout(shape, _shape(op.multiplier), prop(op, "axis"))
            if op.input is not cur or inner != 1 or c not in (1, shape[-1]):
                break
        elif isinstance(op, (snn.FixedMulOp, snn.FixedAddOp)):
            other = op.operands[1] if op.operands[0] is cur else op.operands[0]
            if other is cur or _epilogue_operand(other, shape) is None:
                break
        chain.append(op)
        cur = op.results[0]
        if isinstance(op, snn.FixedDecodeOp):
            break
    return chain


def _operand_index(v: SSAValue, shape: Sequence[int]) -> str:
    """The index of v's element at row r, column c of the [rows, N] view of `shape`."""
    rs, cs = _epilogue_operand(v, shape)
    return " + ".join(t for t in (f"r * {rs}" if rs else "", "c" if cs else "") if t) or "0"


def _operand_at(g: _Gen, v: SSAValue, shape: Sequence[int]) -> str:
    """v's element at row r, column c of the [rows, N] view of `shape`."""
    return f"{g.ref(v)}[{_operand_index(v, shape)}]"


def _fused_synapse(g: _Gen, syn: snn.SynapseOp, chain: list[Operation], call: str) -> None:
    """`call` (a synapse_with(...) up to its epilogue) with the chain's ops as that epilogue: a
    lambda over one row's run of sums, each op's C expression on the previous one's value."""
    shape = _shape(syn.res)
    last = chain[-1]
    start, end = g.op_index, g.ops.index(last)
    for op in g.ops[start + 1 : end]:  # the weights the chain reads
        if isinstance(op, (nn.WeightOp, ConstantOp)):
            _emit_op(g, op)
            g.done.add(op)
    g.done.update(chain)
    body = [f"const int64_t c = j0 + j; {_ctype(syn.res)} x0 = v[j];"]
    cur, prev, over = syn.res, "x0", None
    for k, op in enumerate(chain, 1):
        T = _ctype(op.results[0])
        if isinstance(op, snn.RequantOp):
            t = op.res.type
            lo, hi = (t.lo, t.hi) if isinstance(t, snn.CountsType) else (-(2**31), 2**31 - 1)
            c = "c" if math.prod(_shape(op.multiplier)) > 1 else "0"  # the bias shares the multiplier's layout
            val = f"(int64_t){prev} * {1 << (prop(op, 'bias_frac') or 0)}" if prop(op, "bias_frac") else f"(int64_t){prev}"
            bias = f" + (int64_t){g.ref(op.bias)}[{c}]" if op.bias is not None else ""
            expr = f"requant_value({val}{bias}, (int64_t){g.ref(op.multiplier)}[{c}], {prop(op, 'shift')}, int64_t({lo}), int64_t({hi}))"
        elif isinstance(op, snn.FixedDecodeOp):
            expr = f"(double){prev} * {math.ldexp(1.0, -prop(op, 'frac_bits'))!r}"  # a power of two: exact in decimal
        else:
            first = op.operands[0] is cur
            other = op.operands[1] if first else op.operands[0]
            a_, b_ = (prev, _operand_at(g, other, shape)) if first else (_operand_at(g, other, shape), prev)
            expr = _fixed_binary(op, a_, b_)
            if op is last and _shape(other) == shape:
                over = other  # the residual: read and written at the same element, last
        body.append(f"{T} x{k} = ({T})({expr});")
        cur, prev = op.results[0], f"x{k}"
    g.op_index = end  # for alloc's test that the last op is the residual's last reader
    out = g.alloc(last.results[0], over=over)
    g.op_index = start
    if last.results[0] in g.buffers:
        g.buffers[last.results[0]][0] = start  # written while the synapse runs, not at the last op
    vec = _vector_chain(g, syn, chain, shape)
    g.lines.append(
        f"  {call}[&](int64_t r, int64_t j0, int64_t n, const auto* v) {{\n"
        f"    {_ctype(last.results[0])}* o = {out} + r * {shape[-1]};\n    int64_t j8 = 0;\n"
        + (f"#if NSCC_V8\n    if constexpr (sizeof(*v) == 4)\n      for (; j8 + 8 <= n; j8 += 8) {{ const int64_t j = j8; {' '.join(vec)} }}\n#endif\n" if vec else "")
        + f"#pragma omp simd\n    for (int64_t j = j8; j < n; ++j) {{ {' '.join(body)} o[c] = {prev}; }} }});"
    )


def _int_bits(v: SSAValue) -> int | None:
    """The width of v's signed integer elements, None for any other element type."""
    dt = np.dtype(np_dtype(v.type))
    return dt.itemsize * 8 if dt.kind == "i" else None


def _vector_chain(g: _Gen, syn: snn.SynapseOp, chain: list[Operation], shape: Sequence[int]) -> list[str] | None:
    """The chain's statements on eight int32 sums at a time, in nscc_runtime.hpp's v8 helpers
    (int64 lanes), ending with the store; None where an op or operand has no vector form (the
    scalar loop then does all). Each value carries whether it fits in 32 bits, so that its
    products take vpmuldq."""

    def operand(v: SSAValue, index: str, per_column: bool) -> str:  # eight columns' values, or one value eight times
        return f"v8::load({g.ref(v)} + {index})" if per_column else f"v8::set1((int64_t){g.ref(v)}[{index}])"

    def cast(val: str, lo: int, hi: int, bits: int) -> str:  # a C cast of [lo, hi] to `bits` bits
        return val if bits == 64 or (-(2 ** (bits - 1)) <= lo and hi < 2 ** (bits - 1)) else f"v8::wrap({val}, {bits})"

    bits0 = _int_bits(syn.res)
    if bits0 is None:
        return None
    stmts = [f"const int64_t c = j0 + j; v8::V y0 = {cast('v8::load(v + j)', -(2**31), 2**31 - 1, bits0)};"]
    cur, prev, fits = syn.res, "y0", True  # fits: the value is within int32
    for k, op in enumerate(chain, 1):
        if isinstance(op, snn.FixedDecodeOp):
            if _ctype(op.results[0]) != "float":
                return None
            stmts.append(f"const __m512d y{k} = v8::decode({prev}, {math.ldexp(1.0, -prop(op, 'frac_bits'))!r});")
            prev = f"y{k}"
            break
        bits = _int_bits(op.results[0])
        if bits is None:
            return None
        if isinstance(op, snn.RequantOp):
            t = op.res.type
            lo, hi = (t.lo, t.hi) if isinstance(t, snn.CountsType) else (-(2**31), 2**31 - 1)
            per_column = math.prod(_shape(op.multiplier)) > 1  # the bias shares the multiplier's layout
            c = "c" if per_column else "0"
            if (_int_bits(op.multiplier) or 64) > 32 or (op.bias is not None and (_int_bits(op.bias) or 64) > 32):
                return None
            mv = operand(op.multiplier, c, per_column)
            am = f"v8::{'mul' if fits else 'mul64'}({prev}, m)"
            bm = f"v8::mul({operand(op.bias, c, per_column)}, m)" if op.bias is not None else "v8::set1(0)"
            expr = f"v8::requant({am}, {bm}, {prop(op, 'bias_frac') or 0}, {prop(op, 'shift')}, int64_t({lo}), int64_t({hi}))"
            stmts.append(f"v8::V y{k}; {{ const v8::V m = {mv}; y{k} = {cast(expr, lo, hi, bits)}; }}")
            fits = bits <= 32 or (-(2**31) <= lo and hi < 2**31)
        else:
            other = op.operands[1] if op.operands[0] is cur else op.operands[0]
            cs = _epilogue_operand(other, shape)[1]
            ob = _int_bits(other)
            if ob is None or cs not in (0, 1):
                return None
            ov = operand(other, _operand_index(other, shape), cs == 1)
            if isinstance(op, snn.FixedMulOp):
                mul = "mul" if fits and ob <= 32 else "mul64"
                expr = f"v8::fixed_mul(v8::{mul}({prev}, {ov}), {prop(op, 'frac_bits')})"  # a product: the operands' order is moot
            else:
                expr = f"v8::fixed_add({prev}, {ov})"
            stmts.append(f"const v8::V y{k} = {cast(expr, -(2**31), 2**31 - 1, bits)};")
            fits = True
        cur, prev = op.results[0], f"y{k}"
    stmts.append(f"v8::store(o + c, {prev});")
    return stmts


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
    elif op.mask is not None or op.bidirectional is not None:  # encoders: the quadratic form, hidden pairs dropped
        return _linear_attention_visible(g, op, num, den, ctr)
    else:  # the whole sequence from zero state
        state, norm = f"({st_t}*)nullptr", f"({st_t}*)nullptr"
    g.lines.append(
        f"  linear_attention({g.ref(op.q)}, {g.ref(op.k)}, {g.ref(op.v)}, {heads}, {t}, {dk}, {dv}, {prop(op, 'decay_shift')}, {state}, {norm}, {num}, {den}, {ctr});"
    )


def _linear_attention_visible(g: _Gen, op: snn.LinearAttentionOp, num: str, den: str, ctr: str) -> None:
    qs = _shape(op.q)
    lead, h = (qs[:-3], qs[-3]) if len(qs) > 2 else ((), 1)
    s, dk, dv = qs[-2], qs[-1], _shape(op.v)[-1]
    mask, strides, f = "(const int32_t*)nullptr", (0, 0, 0, 0), 0
    if op.mask is not None:
        mask, strides, f = g.ref(op.mask), mask_strides(_shape(op.mask), lead, (h, s, s)), prop(op, "frac_bits")
        if strides is None:
            raise _unsupported(op, "a mask broadcast over some of the batch axes only")
    limit = s if op.bidirectional is not None else 0
    g.lines.append(
        f"  linear_attention_visible({g.ref(op.q)}, {g.ref(op.k)}, {g.ref(op.v)}, {mask}, {', '.join(map(str, strides))}, {math.prod(lead)}, {h}, "
        f"{s}, {dk}, {dv}, {limit}, {f}, {num}, {den}, {ctr});"
    )


@_emits(nn.HadamardOp, snn.FixedHadamardOp)
def _emit_hadamard(g: _Gen, op: Operation) -> None:
    shape = _shape(op.input)
    p, q = _shape(op.a)[0], _shape(op.b)[0]
    out = g.alloc(op.res)
    rows = math.prod(shape) // (p * q)
    args = f"{g.ref(op.input)}, {g.ref(op.a)}, {g.ref(op.b)}, {rows}, {p}, {q}"
    if isinstance(op, snn.FixedHadamardOp):
        b = g.weight_array(op.b)
        # exact integers: the fast transform's order of sums changes nothing, and its sums of at most
        # p q terms of |x| <= 2^31 stay exact in double below 2^53
        fast = b is not None and is_signed_sylvester(b) and p * q < 2**22
        g.lines.append(f"  fixed_hadamard({args}, {'true' if fast else 'false'}, {prop(op, 'multiplier')}LL, {prop(op, 'shift')}, {out});")
        return
    _float_only(op)
    t = _ctype(op.res)
    g.lines.append(f"  hadamard<{t}>({args}, false, {out}, [](const {t} v) {{ return v / std::sqrt({t}({p * q})); }});")


@_emits(snn.AttentionOp, snn.AttentionStepOp)
def _spiking_attention(g: _Gen, op) -> None:
    qs, ks, vs = _shape(op.q), _shape(op.k), _shape(op.v)
    outer, (h, s, dk), (gk, t, dv) = math.prod(qs[:-3]), qs[-3:], (ks[-3], ks[-2], vs[-1])
    ctr = _counter(g, op)
    out = g.alloc(op.res)
    f = prop(op, "frac_bits")
    consts = ", ".join(f"{c}LL" for c in fixed.softmax_constants(f))
    mask, strides = "(const int32_t*)nullptr", [0, 0, 0, 0]
    if isinstance(op, snn.AttentionStepOp):
        t = _shape(op.k_cache)[-2]
        pos = f"{g.ref(op.position)}[0]"
        g.lines.append(f"  if ({pos} < 0 || {pos} >= {t}) throw std::runtime_error(\"attention step: position outside the KV cache\");")
        keys, values = g.alloc(op.new_k_cache), g.alloc(op.new_v_cache)
        g.lines.append(f"  kv_cache_write({g.ref(op.k_cache)}, {g.ref(op.k)}, {outer * gk}, {t}, {dk}, {pos}, {keys});")
        g.lines.append(f"  kv_cache_write({g.ref(op.v_cache)}, {g.ref(op.v)}, {outer * gk}, {t}, {dv}, {pos}, {values});")
        limit = pos
    else:
        keys, values = g.ref(op.k), g.ref(op.v)
        limit = "0" if op.causal is not None else str(t)
        if op.mask is not None:
            mask, strides = g.ref(op.mask), mask_strides(_shape(op.mask), qs[:-3], (h, s, t))
            if strides is None:
                raise _unsupported(op, "a mask broadcast over some of the batch axes only")
    g.lines.append(
        f"  spiking_attention({g.ref(op.q)}, {keys}, {values}, {mask}, {', '.join(map(str, strides))}, {outer}, {h}, {gk}, {s}, {t}, {dk}, {dv}, "
        f"{prop(op, 'multiplier')}LL, {prop(op, 'shift')}, {f}, {limit}, {consts}, {out}, {ctr});"
    )


@_emits(snn.WindowAttentionOp)
def _spiking_window_attention(g: _Gen, op: snn.WindowAttentionOp) -> None:
    qs, ks, vs = _shape(op.q), _shape(op.k), _shape(op.v)
    outer, (h, s, dk), (gk, t, dv), f = math.prod(qs[:-3]), qs[-3:], (ks[-3], ks[-2], vs[-1]), _shape(op.pq)[-1]
    ctr = _counter(g, op)
    out = g.alloc(op.res)
    fb = prop(op, "frac_bits")
    consts = ", ".join(f"{c}LL" for c in fixed.softmax_constants(fb))
    g.lines.append(
        f"  spiking_window_attention({g.ref(op.q)}, {g.ref(op.k)}, {g.ref(op.v)}, {g.ref(op.pq)}, {g.ref(op.pk)}, {g.ref(op.factor)}, {outer}, {h}, {gk}, {s}, "
        f"{t}, {dk}, {dv}, {f}, {prop(op, 'multiplier')}LL, {prop(op, 'shift')}, {fb}, {prop(op, 'window')}, {prop(op, 'sinks')}, "
        f"{prop(op, 'factor_shift')}, {consts}, {out}, {ctr});"
    )


@_emits(snn.WindowAttentionStepOp)
def _spiking_window_attention_step(g: _Gen, op: snn.WindowAttentionStepOp) -> None:
    qs, ks, vs = _shape(op.q), _shape(op.k), _shape(op.v)
    outer, h, dk, gk, dv, f = math.prod(qs[:-3]), qs[-3], qs[-1], ks[-3], vs[-1], _shape(op.pq)[-1]
    ctr = _counter(g, op)
    out = g.alloc(op.res)
    news = [g.alloc(r) for r in op.results[1:]]
    fb = prop(op, "frac_bits")
    consts = ", ".join(f"{c}LL" for c in fixed.softmax_constants(fb))
    pos = f"{g.ref(op.position)}[0]"
    g.lines.append(f"  if ({pos} < 0) throw std::runtime_error(\"window attention step: negative position\");")
    ins = ", ".join(g.ref(x) for x in (op.q, op.k, op.v, op.pq, op.pk, op.factor, op.k_cache, op.v_cache, op.p_cache, op.state, op.norm))
    g.lines.append(
        f"  spiking_window_attention_step({ins}, {pos}, {outer}, {h}, {gk}, {dk}, {dv}, {f}, {prop(op, 'window')}, {prop(op, 'sinks')}, "
        f"{prop(op, 'multiplier')}LL, {prop(op, 'shift')}, {fb}, {prop(op, 'factor_shift')}, {consts}, {out}, {', '.join(news)}, {ctr});"
    )


# --- the remaining nn ops: reductions, normalisation, linear algebra, attention, data movement


def _merged(dims: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """(size, stride) axes with size-1 axes dropped and neighbours that are one run merged;
    [(1, 0)] when none is left."""
    out: list[tuple[int, int]] = []
    for n, st in dims:
        if n == 1:
            continue
        if out and out[-1][1] == st * n:
            out[-1] = (out[-1][0] * n, st)
        else:
            out.append((n, st))
    return out or [(1, 0)]


def _index(g: _Gen, dims: Sequence[tuple[int, int]]) -> tuple[str, str]:
    """An Index over (size, stride) axes and its static strides array: their names."""
    ix, s = g.fresh("ix"), g.fresh("s")
    g.lines.append(
        f"  static const int64_t {s}[] = {_arr([st for _, st in dims])}; const Index {ix}{{{len(dims)}, {_arr([n for n, _ in dims])}}};"
    )
    return ix, s


REDUCE_KIND = {
    nn.ReduceSumOp: 0,
    nn.ReduceMeanOp: 1,
    nn.ReduceMaxOp: 2,
    nn.ReduceMinOp: 3,
    nn.ReduceProdOp: 4,
    nn.ReduceSumSquareOp: 5,
    nn.ReduceL2Op: 6,
}


@_emits(*REDUCE_KIND)
def _emit_reduce(g: _Gen, op: Operation) -> None:
    shape = _shape(op.input)
    axes = prop(op, "axes")
    axes = sorted({a % len(shape) for a in axes}) if axes is not None and shape else list(range(len(shape)))
    strides = [math.prod(shape[d + 1 :]) for d in range(len(shape))]
    kept = _merged([(shape[d], strides[d]) for d in range(len(shape)) if d not in axes])
    red = _merged([(shape[d], strides[d]) for d in axes])
    out = g.alloc(op.res)
    (kix, ks), (rix, rs) = _index(g, kept), _index(g, red)
    n_out, n_red = math.prod(n for n, _ in kept), math.prod(shape[d] for d in axes)
    g.lines.append(f"  reduce({g.ref(op.input)}, {kix}, {ks}, {n_out}, {rix}, {rs}, {n_red}, {REDUCE_KIND[type(op)]}, {out});")


def _axis_layout(shape: Sequence[int], axis: int) -> tuple[int, int, int]:
    """(outer, n, inner) around one axis of a row-major shape."""
    axis %= max(1, len(shape))
    return math.prod(shape[:axis]), shape[axis] if shape else 1, math.prod(shape[axis + 1 :])


@_emits(nn.ArgMaxOp, nn.ArgMinOp)
def _emit_arg(g: _Gen, op: Operation) -> None:
    outer, n, inner = _axis_layout(_shape(op.input), prop(op, "axis"))
    out = g.alloc(op.res)
    is_max, last = _c_bool(isinstance(op, nn.ArgMaxOp)), _c_bool(prop(op, "select_last_index"))
    g.lines.append(f"  arg_reduce({g.ref(op.input)}, {outer}, {n}, {inner}, {is_max}, {last}, {out});")


@_emits(nn.CumSumOp)
def _emit_cumsum(g: _Gen, op: Operation) -> None:
    outer, n, inner = _axis_layout(_shape(op.input), prop(op, "axis"))
    out = g.alloc(op.res)
    flags = f"{_c_bool(prop(op, 'exclusive'))}, {_c_bool(prop(op, 'reverse'))}"
    g.lines.append(f"  cumsum({g.ref(op.input)}, {outer}, {n}, {inner}, {flags}, {out});")


@_emits(nn.TriluOp)
def _emit_trilu(g: _Gen, op: Operation) -> None:
    shape = _shape(op.input)
    if len(shape) < 2:
        raise _unsupported(op, "an input of rank below 2")
    out = g.alloc(op.res)
    n, m = shape[-2:]
    g.lines.append(f"  trilu({g.ref(op.input)}, {math.prod(shape[:-2])}, {n}, {m}, {prop(op, 'k')}, {_c_bool(prop(op, 'upper'))}, {out});")


@_emits(nn.RMSNormOp)
def _emit_rms_norm(g: _Gen, op: Operation) -> None:
    _float_only(op)
    shape = _shape(op.input)
    axis = prop(op, "axis") % len(shape)
    n = math.prod(shape[axis:])
    scale = _norm_param(g, op, op.scale, axis)
    out = g.alloc(op.res)
    eps = f"{_ctype(op.res)}({_c_float(prop(op, 'epsilon'))})"
    g.lines.append(f"  rms_norm({g.ref(op.input)}, {scale}, {math.prod(shape) // n}, {n}, {eps}, {out});")


@_emits(nn.BatchNormOp)
def _emit_batch_norm(g: _Gen, op: Operation) -> None:
    _float_only(op)
    shape = _shape(op.input)
    out = g.alloc(op.res)
    outer, c, inner = _axis_layout(shape, 1) if len(shape) > 1 else (1, shape[0], 1)
    args = ", ".join(g.ref(v) for v in (op.input, op.scale, op.bias, op.mean, op.var))
    eps = f"{_ctype(op.var)}({_c_float(prop(op, 'epsilon'))})"
    g.lines.append(f"  batch_norm({args}, {outer}, {c}, {inner}, {eps}, {out});")


@_emits(nn.GemmOp)
def _emit_gemm(g: _Gen, op: Operation) -> None:
    a, b = _shape(op.a), _shape(op.b)
    m, k = a[::-1] if prop(op, "trans_a") else a
    n = b[0] if prop(op, "trans_b") else b[1]
    T = _ctype(op.res)
    out = g.alloc(op.res)
    c, sc = "nullptr", g.fresh("s")
    beta = prop(op, "beta")
    if op.c is not None and beta != 0.0:
        c = g.ref(op.c)
        cs = _shape(op.c)
        g.lines.append(f"  static const int64_t {sc}[] = {_arr(broadcast_strides(cs, (m, n)))};")
    else:
        g.lines.append(f"  static const int64_t {sc}[] = {{0, 0}};")
    g.lines.append(
        f"  gemm({g.ref(op.a)}, {g.ref(op.b)}, (const {T}*){c}, {sc}, {m}, {k}, {n}, {_c_bool(prop(op, 'trans_a'))}, "
        f"{_c_bool(prop(op, 'trans_b'))}, {T}({_c_float(prop(op, 'alpha'))}), {T}({_c_float(beta)}), {out});"
    )


@_emits(nn.ConvOp)
def _emit_conv(g: _Gen, op: Operation) -> None:
    x, w = _shape(op.input), _shape(op.weight)
    nd = len(x) - 2
    if nd > 3:
        raise _unsupported(op, "more than three spatial axes")
    pads = prop(op, "pads")
    vals = [x[2:], w[2:], prop(op, "strides"), pads[:nd], prop(op, "dilations"), _shape(op.res)[2:]]
    sp, kk, st, pd, dl, os_n = _spatial_arrays(g, nd, vals, [1, 1, 1, 0, 1, 1])
    out = g.alloc(op.res)
    bias = g.ref(op.bias) if op.bias is not None else f"({_ctype(op.res)}*)nullptr"
    g.lines.append(
        f"  conv({g.ref(op.input)}, {g.ref(op.weight)}, {bias}, {x[0]}, {x[1]}, {sp}, {w[0]}, {kk}, {st}, {pd}, {dl}, {prop(op, 'group')}, {os_n}, {out});"
    )


def _compute_type(v: SSAValue) -> str:
    """At least float: the C type attention computes in (double for double operands)."""
    return "double" if np_dtype(v.type) == np.float64 else "float"


def _qkv_batches(g: _Gen, op: Operation) -> tuple[tuple[int, ...], int, int, int, int, list[str]]:
    """q [..., S, dk], k [..., L, dk], v [..., L, dv], their leading axes broadcast to the
    result's: (batch shape, S, L, dk, dv, the names of q's, k's and v's offset arrays)."""
    q, k, v = _shape(op.q), _shape(op.k), _shape(op.v)
    batch_shape, (s, dk), (l_, dv) = _shape(op.res)[:-2], q[-2:], v[-2:]
    return batch_shape, s, l_, dk, dv, _batch_offsets(g, [(q[:-2], s * dk), (k[:-2], l_ * dk), (v[:-2], l_ * dv)], batch_shape)


@_emits(nn.AttentionOp)
def _emit_attention(g: _Gen, op: Operation) -> None:
    batch_shape, s, l_, dh, dv, (qo, ko, vo) = _qkv_batches(g, op)
    out = g.alloc(op.res)
    mask, mo, msi, msj = _score_mask(g, op, batch_shape, s, l_, qo)
    ct = _compute_type(op.q)
    g.lines.append(
        f"  attention({g.ref(op.q)}, {g.ref(op.k)}, {g.ref(op.v)}, {mask}, {max(1, math.prod(batch_shape))}, {qo}, {ko}, {vo}, {mo}, {msi}, {msj}, "
        f"{s}, {l_}, {dh}, {dv}, {ct}({_c_float(prop(op, 'scale'))}), {_c_bool(prop(op, 'causal'))}, {out});"
    )


def _score_mask(g: _Gen, op: Operation, batch_shape: Sequence[int], s: int, l_: int, unused: str) -> tuple[str, str, int, int]:
    """The additive mask of attention scores [..., S, L] (broadcast to them): its pointer, the
    name of its offset array over the batch and its row and column strides; a null pointer
    (and `unused` as the offsets) without one."""
    if op.mask is None:
        return "(float*)nullptr", unused, 0, 0
    mshape = (1,) * (len(batch_shape) + 2 - len(_shape(op.mask))) + _shape(op.mask)
    (mo,) = _batch_offsets(g, [(mshape[:-2], mshape[-2] * mshape[-1])], batch_shape)
    msi, msj = broadcast_strides(mshape[-2:], (s, l_))
    return g.ref(op.mask), mo, msi, msj


@_emits(nn.LinearAttentionOp)
def _emit_linear_attention_float(g: _Gen, op: Operation) -> None:
    _float_only(op)
    batch_shape, n, m, dk, dv, (qo, ko, vo) = _qkv_batches(g, op)
    out = g.alloc(op.res)
    mask, mo, msi, msj = _score_mask(g, op, batch_shape, n, m, qo)
    flags = f"{_c_bool(prop(op, 'feature') == 'elu1')}, {_c_float(prop(op, 'decay'))}, {_c_bool(prop(op, 'causal'))}, {_c_bool(prop(op, 'normalize'))}"
    g.lines.append(
        f"  linear_attention_float({g.ref(op.q)}, {g.ref(op.k)}, {g.ref(op.v)}, {mask}, {math.prod(_shape(op.q))}, {math.prod(_shape(op.k))}, "
        f"{max(1, math.prod(batch_shape))}, "
        f"{qo}, {ko}, {vo}, {mo}, {msi}, {msj}, {n}, {m}, {dk}, {dv}, {flags}, {out});"
    )


@_emits(nn.WindowAttentionOp)
def _emit_window_attention_float(g: _Gen, op: nn.WindowAttentionOp) -> None:
    _float_only(op)
    batch_shape, n, m, dk, dv, (qo, ko, vo) = _qkv_batches(g, op)
    f, pks = _shape(op.pq)[-1], _shape(op.pk)
    pqo, ro = _batch_offsets(g, [(_shape(op.pq)[:-2], n * f), (_shape(op.factor), 1)], batch_shape)
    # pk on key-value heads: batch entry (outer, h) reads pk's head h // (H / G)
    heads, groups = batch_shape[-1], pks[-3]
    lead = broadcast_strides(tuple(pks[:-3]) or (1,), tuple(batch_shape[:-1]) or (1,))
    offs = [(sum(i * st for i, st in zip(z[:-1], lead)) * groups + z[-1] // (heads // groups)) * m * f for z in np.ndindex(*batch_shape)]
    pko = g.fresh("o")
    g.lines.append(f"  static const int64_t {pko}[] = {_arr(offs)};")
    out = g.alloc(op.res)
    mask, mo, msi, msj = _score_mask(g, op, batch_shape, n, m, qo)
    g.lines.append(
        f"  window_attention_float({g.ref(op.q)}, {g.ref(op.k)}, {g.ref(op.v)}, {g.ref(op.pq)}, {g.ref(op.pk)}, {g.ref(op.factor)}, {mask}, "
        f"{max(1, math.prod(batch_shape))}, {qo}, {ko}, {vo}, {pqo}, {pko}, {ro}, {mo}, {msi}, {msj}, {n}, {m}, {dk}, {dv}, {f}, "
        f"{_compute_type(op.q)}({_c_float(prop(op, 'scale'))}), {prop(op, 'window')}, {prop(op, 'sinks')}, {out});"
    )


def _feature_map_shape(op: Operation) -> tuple[int, int, int, int, int]:
    """x [..., H, S, d] and w [H, d, f]: (outer, H, S, d, f)."""
    xs, (h, d, f) = _shape(op.input), _shape(op.weight)
    return math.prod(xs[:-3]), h, xs[-2], d, f


@_emits(nn.FeatureMapOp)
def _emit_feature_map_float(g: _Gen, op: nn.FeatureMapOp) -> None:
    _float_only(op)
    outer, h, s, d, f = _feature_map_shape(op)
    out = g.alloc(op.res)
    g.lines.append(
        f"  feature_map_float<{_compute_type(op.input)}>({g.ref(op.input)}, {g.ref(op.weight)}, {outer}, {h}, {s}, {d}, {f}, {out});"
    )


@_emits(snn.FeatureMapOp)
def _emit_feature_map(g: _Gen, op: snn.FeatureMapOp) -> None:
    outer, h, s, d, f = _feature_map_shape(op)
    ctr = _counter(g, op)
    out = g.alloc(op.res)
    fb = prop(op, "frac_bits")
    consts = ", ".join(f"{c}LL" for c in fixed.softmax_constants(fb))
    g.lines.append(
        f"  feature_map({g.ref(op.input)}, {g.ref(op.weight)}, {g.ref(op.multiplier)}, {outer}, {h}, {s}, {d}, {f}, {prop(op, 'shift')}, {fb}, "
        f"{prop(op, 'divisor')}LL, {op.res.type.levels.data}LL, {consts}, {out}, {ctr});"
    )


@_emits(nn.LinearAttentionStepOp)
def _emit_linear_attention_step_float(g: _Gen, op: Operation) -> None:
    q, v = _shape(op.q), _shape(op.v)
    out, state, norm = g.alloc(op.res), g.alloc(op.new_state), g.alloc(op.new_norm)
    ct = _compute_type(op.state)
    g.lines.append(
        f"  linear_attention_step_float({g.ref(op.q)}, {g.ref(op.k)}, {g.ref(op.v)}, {g.ref(op.state)}, {g.ref(op.norm)}, {math.prod(q[:-2])}, "
        f"{q[-2]}, {q[-1]}, {v[-1]}, {_c_bool(prop(op, 'feature') == 'elu1')}, {ct}({_c_float(prop(op, 'decay'))}), "
        f"{_c_bool(prop(op, 'normalize'))}, {out}, {state}, {norm});"
    )


@_emits(nn.BroadcastOp)
def _emit_broadcast(g: _Gen, op: Operation) -> None:
    _strided_copy(g, op.input, op.res, broadcast_strides(_shape(op.input), _shape(op.res)), 0)


@_emits(nn.TileOp)
def _emit_tile(g: _Gen, op: Operation) -> None:
    """numpy.tile as a strided view: each axis d of the input becomes (repeats[d], d) with stride 0 on the first."""
    reps, shape = list(prop(op, "repeats")), list(_shape(op.input))
    nd = max(len(reps), len(shape))
    reps, shape = [1] * (nd - len(reps)) + reps, [1] * (nd - len(shape)) + shape
    strides = [math.prod(shape[d + 1 :]) for d in range(nd)]
    dims = _merged([x for d in range(nd) for x in ((reps[d], 0), (shape[d], strides[d]))])
    _strided_copy(g, op.input, op.res, [st for _, st in dims], 0, [n for n, _ in dims])


PAD_MODE = {"constant": 0, "reflect": 1, "edge": 2, "wrap": 3}


@_emits(nn.PadOp)
def _emit_pad(g: _Gen, op: Operation) -> None:
    shape, oshape = _shape(op.input) or (1,), _shape(op.res) or (1,)
    pads = prop(op, "pads")
    out = g.alloc(op.res)
    b = g.fresh("s")
    g.lines.append(
        f"  {{ static const int64_t {b}[] = {_arr(pads[: len(shape)] or [0])}; const Index in{{{len(shape)}, {_arr(shape)}}}, ix{{{len(oshape)}, {_arr(oshape)}}};\n"
        f"    pad({g.ref(op.input)}, in, ix, {b}, {PAD_MODE[prop(op, 'mode')]}, {_ctype(op.res)}({_c_float(prop(op, 'value'))}), {math.prod(oshape)}, {out}); }}"
    )


@_emits(nn.GatherElementsOp)
def _emit_gather_elements(g: _Gen, op: Operation) -> None:
    x, idx, res = _shape(op.input), _shape(op.indices), _shape(op.res)
    axis = prop(op, "axis") % len(x)
    sx = broadcast_strides(x, res)
    sx[axis] = 0
    ind = _int64_indices(g, op.indices)
    out = g.alloc(op.res)
    ix, s1 = _index(g, list(zip(res, sx)))
    s2 = g.fresh("s")
    g.lines.append(f"  static const int64_t {s2}[] = {_arr(broadcast_strides(idx, res))};")
    g.lines.append(
        f"  gather_elements({g.ref(op.input)}, {ind}, {max(1, math.prod(idx))}, {ix}, {math.prod(res)}, {s1}, {s2}, {x[axis]}, {math.prod(x[axis + 1 :])}, {out});"
    )


@_emits(nn.GatherNDOp)
def _emit_gather_nd(g: _Gen, op: Operation) -> None:
    x, idx = _shape(op.input), _shape(op.indices)
    b, m = prop(op, "batch_dims"), _shape(op.indices)[-1]
    nb = math.prod(x[:b])
    n_tuples = math.prod(idx[b:-1])
    dims = x[b : b + m]
    strides = [math.prod(x[d + 1 :]) for d in range(b, b + m)]
    ind = _int64_indices(g, op.indices)
    out = g.alloc(op.res)
    sd, ss = g.fresh("s"), g.fresh("s")
    g.lines.append(f"  static const int64_t {sd}[] = {_arr(list(dims) or [1])}; static const int64_t {ss}[] = {_arr(strides or [0])};")
    g.lines.append(
        f"  gather_nd({g.ref(op.input)}, {ind}, {nb}, {n_tuples}, {m}, {sd}, {ss}, {math.prod(x[b:])}, {math.prod(x[b + m :])}, {out});"
    )


@_emits(nn.RangeOp)
def _emit_range(g: _Gen, op: Operation) -> None:
    out = g.alloc(op.res)
    s = "double" if np_dtype(op.res.type).kind == "f" else "int64_t"
    g.lines.append(f"  arange({s}({g.ref(op.start)}[0]), {s}({g.ref(op.delta)}[0]), {math.prod(_shape(op.res))}, {out});")
