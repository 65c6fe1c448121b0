"""Token-by-token decoding with a constant-size state: the step function and its runner.

A compiled decoder LM computes a whole sequence at once. With linear attention
(`nn.linear_attention`, or `snn.linear_attention` after spike conversion) every
op is either position-wise along the sequence axis or a recurrence over it, so
the same program can run one token at a time. The `decode-step` pass
(passes/decode_step.py) makes that program explicit:

    @main(tokens [batch, 1], position [1], S_1, z_1, ..., S_n, z_n)
        -> (outputs..., S_1', z_1', ..., S_n', z_n')

`specialize` (here) rebuilds @main for one token: each value's sequence axis
is found by propagation from the token input and set to 1, and constants that
vary along the sequence (a positional table) are read at `position`. The pass
then turns every linear attention into its step op, reading its state from new
arguments and returning the new state. Arguments and results that hold state
carry `nscc.state = "LAYER.S"` (or `.z`), the position argument `nscc.position`,
and the module `nscc.decode_length` (the positions the model was compiled
for); `state_slots` and `decode_length` read them back for the targets.

    dec = Decoder(ctx, module)            # after -p 'raise-attention,...'
    logits = dec.step(token_ids)          # [batch, vocab] for the next position
    ids = dec.generate(prompt_ids, 20)    # greedy

The Decoder holds the state as numpy arrays, passes them in and takes the new
ones back: work and memory per token do not grow with the position.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects.builtin import ArrayAttr, DictionaryAttr, IntegerAttr, IntegerType, ModuleOp, StringAttr, TensorType, UnitAttr, f64, i64
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.interpreter import Interpreter
from xdsl.interpreters.func import FuncFunctions
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.pattern_rewriter import PatternRewriter, PatternRewriteWalker, RewritePattern, op_type_rewrite_pattern

from nscc.errors import NsccError
from nscc.ir import nn, snn
from nscc.ir.signature import LAYER_ATTR, NAME_ATTR, main_function, signature
from nscc.ir.types import np_dtype
from nscc.semantics.folding import constant_value
from nscc.semantics.interpreter import KernelFunctions, StorageFunctions

ATTENTION = (nn.LinearAttentionOp, snn.LinearAttentionOp, snn.AttentionOp, snn.WindowAttentionOp)
ATTENTION_STEP = (nn.LinearAttentionStepOp, snn.LinearAttentionStepOp, snn.AttentionStepOp, snn.WindowAttentionStepOp)
# the ops whose constant operands can be positional tables, broadcast against the sequence
BROADCASTING = (nn.BinaryOp, nn.WhereOp, snn.FixedAddOp, snn.FixedMulOp, snn.FixedDivOp)
STATE_ATTR = "nscc.state"  # on a state argument and the result that returns its next value
POSITION_ATTR = "nscc.position"  # on the position argument
LENGTH_ATTR = "nscc.decode_length"  # on the module: the positions a step function may be called at


def _with_dim(t, axis: int, size: int):
    shape = list(t.get_shape())
    shape[axis] = size
    return type(t)(t.element_type, shape) if isinstance(t, TensorType) else _counts_like(t, shape)


def _counts_like(t, shape):
    if isinstance(t, snn.CountsType):
        return snn.CountsType(shape, t.levels.data, bool(t.signed.data))
    return snn.SpikesType(shape, t.coding.data, bool(t.signed.data))


class _Specializer:
    """Rebuilds @main for one token: sequence axes to 1, positional constants gathered."""

    def __init__(self, module: ModuleOp, weights, seq_input: int, seq_axis: int):
        self.module, self.weights = module, weights
        fn = main_function(module)
        arg = fn.body.block.args[seq_input]
        self.length = arg.type.get_shape()[seq_axis]
        self.axis: dict[SSAValue, int] = {arg: seq_axis}
        self.fn, self.seq_input = fn, seq_input

    def result_axis(self, op: Operation) -> int | None:
        seq = [(v, self.axis[v]) for v in op.operands if v in self.axis]
        if not seq:
            return None
        v, a = seq[0]
        if isinstance(op, nn.ReshapeOp):
            before = math.prod(v.type.get_shape()[:a])
            out = op.res.type.get_shape()
            for i in range(len(out)):
                if math.prod(out[:i]) == before and out[i] == self.length:
                    return i
            raise NsccError("decoding: a reshape mixes the sequence axis with others", "the model is not position-wise")
        if isinstance(op, nn.TransposeOp):
            return list(op.perm.get_values()).index(a)
        if isinstance(op, nn.GatherOp):
            if op.input in self.axis:
                raise NsccError("decoding: a gather indexes along the sequence", "the model is not position-wise")
            return op.axis.value.data + a
        if isinstance(op, snn.ExpandOp):
            return a + 1
        rank = len(v.type.get_shape())
        along = isinstance(op, nn.SplitOp | nn.ConcatOp | nn.SoftmaxOp | nn.CumSumOp) and op.axis.value.data % rank == a
        if along or (isinstance(op, nn.SliceOp) and any(ax % rank == a for ax in op.axes.get_values())):
            raise NsccError(f"decoding: {op.name} works along the sequence axis", "decoding needs position-wise ops and linear attention")
        if isinstance(op, nn.ReduceOp):
            axes = list(op.axes.get_values()) if op.axes is not None else list(range(len(v.type.get_shape())))
            if a in axes:
                raise NsccError(f"decoding: {op.name} reduces over the sequence", "the model is not position-wise")
            return a if op.keepdims else a - sum(1 for x in axes if x < a)
        if isinstance(op, nn.AttentionOp):
            raise NsccError(
                "decoding: float softmax attention has no KV cache",
                "convert it with spike-conversion (spiking attention keeps a KV cache), or run -p raise-attention,linear-attention",
            )
        if isinstance(op, nn.WindowAttentionOp):
            raise NsccError(
                "decoding: float window attention (nn.window_attention) has no step form",
                "convert it with spike-conversion (snn.window_attention decodes on its caches and state)",
            )
        if isinstance(op, ATTENTION) and _whole_sequence(op):
            raise NsccError(
                f"decoding: {op.name} with a mask or without causality sees later positions", "decoding needs causal attention without a mask"
            )
        if isinstance(op, nn.MatMulOp) and op.rhs in self.axis:
            raise NsccError("decoding: a product of two sequence-dependent values outside attention", "run -p raise-attention")
        return a + len(op.results[0].type.get_shape()) - len(v.type.get_shape())

    def build(self) -> FuncOp:
        old = self.fn
        ins = []
        for a in old.body.block.args:
            ins.append(_with_dim(a.type, self.axis[a], 1) if a in self.axis else a.type)
        block = Block(arg_types=[*ins, TensorType(i64, [1])])
        pos = block.args[-1]
        pos.name_hint = "position"
        vmap: dict[SSAValue, SSAValue] = dict(zip(old.body.block.args, block.args))
        for v, new_v in vmap.items():
            new_v.name_hint = v.name_hint
        for op in old.body.block.ops:
            if isinstance(op, ReturnOp):
                block.add_op(ReturnOp(*[vmap[v] for v in op.operands]))
                break
            axis = self.result_axis(op)
            operands = []
            for v in op.operands:
                if v in vmap and v not in self.axis and axis is not None:
                    operands.append(self._positional(v, op, axis, block, vmap, pos))
                else:
                    operands.append(vmap[v])
            result_types = [r.type for r in op.results]
            if axis is not None:
                for r in op.results:
                    rank = len(r.type.get_shape())
                    # attention results end in [tokens, features] (num) or [tokens] (den)
                    self.axis[r] = (
                        (rank - (2 if r is op.results[0] else 1))
                        if isinstance(op, ATTENTION)
                        else axis + rank - len(op.results[0].type.get_shape())
                    )
                result_types = [_with_dim(r.type, self.axis[r], 1) for r in op.results]
            new = type(op).create(
                operands=operands, result_types=result_types, properties=dict(op.properties), attributes=dict(op.attributes)
            )
            block.add_op(new)
            for r, new_r in zip(op.results, new.results):
                vmap[r], new_r.name_hint = new_r, r.name_hint
        names = {n for n, _, _ in signature(self.module).inputs}
        position = next(n for n in ("position", *(f"position{i}" for i in range(1, len(names) + 2))) if n not in names)
        arg_attrs = [
            *_attr_dicts(old.arg_attrs, len(old.body.block.args)),
            DictionaryAttr({NAME_ATTR: StringAttr(position), POSITION_ATTR: UnitAttr()}),
        ]
        return FuncOp(
            "main",
            ([a.type for a in block.args], [o.type for o in block.last_op.operands]),
            Region([block]),
            arg_attrs=ArrayAttr(arg_attrs),
            res_attrs=ArrayAttr(_attr_dicts(old.res_attrs, len(old.function_type.outputs.data))),
        )

    def _positional(self, v: SSAValue, op: Operation, axis: int, block: Block, vmap, pos) -> SSAValue:
        """A constant operand of a broadcasting elementwise op whose dimension on the sequence axis
        is the sequence (a positional table, RoPE's cos and sin): read at pos. Other constants (a
        weight, a Hadamard factor) are not positional, whatever their sizes."""
        if not isinstance(op, BROADCASTING):
            return vmap[v]
        res_rank = len(op.results[0].type.get_shape())
        rank = len(v.type.get_shape())
        i = axis - (res_rank - rank)
        if not isinstance(v.type, TensorType) or i < 0 or v.type.get_shape()[i] != self.length or self.length == 1:
            return vmap[v]
        if constant_value(v, self.weights) is None:
            raise NsccError("decoding: a computed tensor spans the sequence", "the model is not position-wise")
        g = nn.GatherOp(vmap[v], pos, _with_dim(v.type, i, 1), axis=i)
        block.add_op(g)
        return g.res


def _attr_dicts(attrs: ArrayAttr | None, n: int) -> list[DictionaryAttr]:
    return list(attrs.data) if attrs is not None else [DictionaryAttr({}) for _ in range(n)]


def specialize(module: ModuleOp, weights, token_input: str | None = None, seq_axis: int = 1) -> tuple[int, int]:
    """Rewrites @main in place for one token: inputs (..., tokens [batch, 1], ..., position [1]),
    every sequence axis 1, positional constants read at `position`. Returns (batch, length)."""
    sig = signature(module)
    names = [n for n, _, _ in sig.inputs]
    if token_input is None:
        if len(names) != 1:
            raise NsccError("decoding needs to know which input holds the tokens", "the model has inputs " + ", ".join(names))
        token_input = names[0]
    if token_input not in names:
        raise NsccError(f"decoding: the model has no input '{token_input}'", "its inputs are " + ", ".join(names))
    shape = sig.inputs[names.index(token_input)][1]
    if not 0 <= seq_axis < len(shape):
        raise NsccError(f"decoding: input '{token_input}' has no axis {seq_axis}", f"its shape is {list(shape)}")
    sp = _Specializer(module, weights, names.index(token_input), seq_axis)
    new = sp.build()
    module.body.block.insert_op_before(new, sp.fn)
    module.body.block.erase_op(sp.fn, safe_erase=False)
    return shape[0], shape[seq_axis]


# --- the step function's explicit state ------------------------------------------------------


def cache_type(levels: int):
    """The narrowest integer that holds counts in [-levels, levels]: a KV cache of D = 15 is one byte a count."""
    return IntegerType(8 if levels <= 127 else 16 if levels <= 32767 else 32)


@dataclass
class AttentionToStep(RewritePattern):
    """Attention over the one token -> its step op on state from new arguments of @main
    (linear attention: S and z; softmax attention: the KV cache of `length` positions);
    the new state goes out as new results. Arguments and results in program order."""

    fn: FuncOp
    length: int = 0
    names: set[str] = field(default_factory=set)

    def _name(self, op) -> str:
        layer = op.attributes.get(LAYER_ATTR)
        base = layer.data if isinstance(layer, StringAttr) else "attention"
        name, i = base, 1
        while name in self.names:
            name, i = f"{base}.{i}", i + 1
        self.names.add(name)
        return name

    def _state(self, rewriter: PatternRewriter, op, names: str, step, results) -> None:
        """`op` -> `step`, built on new state arguments; its results past `results` are the new state, returned."""
        rewriter.replace(op, step, results)
        ret = self.fn.get_return_op()
        ret.operands = (*ret.operands, *step.results[len(results) :])
        rewriter.notify_op_modified(ret)
        name = self._name(op)
        marks = [DictionaryAttr({NAME_ATTR: StringAttr(f"{name}.{x}"), STATE_ATTR: StringAttr(f"{name}.{x}")}) for x in names]
        self.fn.arg_attrs = ArrayAttr([*self.fn.arg_attrs.data, *marks])
        self.fn.res_attrs = ArrayAttr([*self.fn.res_attrs.data, *marks])
        self.fn.update_function_type()

    def _kv_cache(self, op: snn.AttentionOp, rewriter: PatternRewriter) -> None:
        block = self.fn.body.block
        n = len(block.args)
        position = next(a for a, d in zip(block.args, self.fn.arg_attrs.data) if POSITION_ATTR in d.data)
        caches = []
        for i, x in enumerate((op.k, op.v)):
            shape = list(x.type.get_shape())
            shape[-2] = self.length
            c = rewriter.insert_block_argument(block, n + i, TensorType(cache_type(x.type.levels.data), shape))
            c.name_hint = "KV"[i]
            caches.append(c)
        step = snn.AttentionStepOp(
            op.q, op.k, op.v, *caches, position,
            multiplier=op.multiplier.value.data, shift=op.shift.value.data, frac_bits=op.frac_bits.value.data,
        )  # fmt: skip
        step.attributes.update(op.attributes)
        self._state(rewriter, op, "KV", step, [step.res])

    def _window(self, op: snn.WindowAttentionOp, rewriter: PatternRewriter) -> None:
        """The window's keys, values and key features at sinks + window slots, and the far sums S, z
        (all per key-value head)."""
        block = self.fn.body.block
        n = len(block.args)
        position = next(a for a, d in zip(block.args, self.fn.arg_attrs.data) if POSITION_ATTR in d.data)
        slots = op.sinks.value.data + op.window.value.data
        state = []
        for i, (x, hint) in enumerate(((op.k, "K"), (op.v, "V"), (op.pk, "P"))):
            shape = list(x.type.get_shape())
            shape[-2] = slots
            state.append(rewriter.insert_block_argument(block, n + i, TensorType(cache_type(x.type.levels.data), shape)))
            state[-1].name_hint = hint
        ks, vs, f = tuple(op.k.type.get_shape()), tuple(op.v.type.get_shape()), op.pq.type.get_shape()[-1]
        state.append(rewriter.insert_block_argument(block, n + 3, TensorType(i64, [*ks[:-2], f, vs[-1]])))
        state.append(rewriter.insert_block_argument(block, n + 4, TensorType(i64, [*ks[:-2], f])))
        state[3].name_hint, state[4].name_hint = "S", "z"
        props = {k: getattr(op, k).value.data for k in ("multiplier", "shift", "frac_bits", "window", "sinks", "factor_shift")}
        step = snn.WindowAttentionStepOp(op.q, op.k, op.v, op.pq, op.pk, op.factor, *state, position, **props)
        step.attributes.update(op.attributes)
        self._state(rewriter, op, "KVPSz", step, [step.res])

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: snn.LinearAttentionOp | nn.LinearAttentionOp | snn.AttentionOp | snn.WindowAttentionOp, rewriter: PatternRewriter) -> None:
        if isinstance(op, snn.AttentionOp):
            return self._kv_cache(op, rewriter)
        if isinstance(op, snn.WindowAttentionOp):
            return self._window(op, rewriter)
        qs, vs = tuple(op.q.type.get_shape()), tuple(op.v.type.get_shape())
        element = i64 if isinstance(op, snn.LinearAttentionOp) else f64
        block = self.fn.body.block
        n = len(block.args)
        state = rewriter.insert_block_argument(block, n, TensorType(element, [*qs[:-2], qs[-1], vs[-1]]))
        norm = rewriter.insert_block_argument(block, n + 1, TensorType(element, [*qs[:-2], qs[-1]]))
        state.name_hint, norm.name_hint = "S", "z"
        if isinstance(op, snn.LinearAttentionOp):
            step = snn.LinearAttentionStepOp(op.q, op.k, op.v, state, norm, decay_shift=op.decay_shift.value.data)
            outs = [step.num, step.den]
        else:
            step = nn.LinearAttentionStepOp(
                op.q, op.k, op.v, state, norm, op.res.type, feature=op.feature.data, decay=op.decay.value.data, normalize=bool(op.normalize)
            )
            outs = [step.res]
        step.attributes.update(op.attributes)
        self._state(rewriter, op, "Sz", step, outs)


def decode_step(module: ModuleOp, weights, token_input: str | None = None, seq_axis: int = 1) -> None:
    """Makes @main the one-token step function in place (the `decode-step` pass): `specialize`,
    then every linear attention -> its step op on explicit state; marks the module."""
    if is_step_function(module):
        raise NsccError("decode-step: the module is a step function already", "run decode-step once")
    _, length = specialize(module, weights, token_input, seq_axis)
    fn = main_function(module)
    taken = {d.data[NAME_ATTR].data for d in (*fn.arg_attrs.data, *fn.res_attrs.data) if NAME_ATTR in d.data}
    PatternRewriteWalker(AttentionToStep(fn, length, taken), apply_recursively=False).rewrite_module(module)
    module.attributes[LENGTH_ATTR] = IntegerAttr(length, i64)


@dataclass(frozen=True)
class StateSlot:
    """One state tensor of a step function: @main's argument `arg` in, its result `result` out."""

    name: str
    arg: int
    result: int
    shape: tuple[int, ...]
    dtype: np.dtype


def is_step_function(module: ModuleOp) -> bool:
    return LENGTH_ATTR in module.attributes


def decode_length(module: ModuleOp) -> int:
    a = module.attributes.get(LENGTH_ATTR)
    if not isinstance(a, IntegerAttr):
        raise NsccError("the module is not a step function", "run the decode-step pass")
    return a.value.data


def _marked(attrs: ArrayAttr | None, key: str) -> dict[int, str]:
    out = {}
    for i, d in enumerate(attrs.data if attrs is not None else ()):
        a = d.data.get(key)
        if a is not None:
            out[i] = a.data if isinstance(a, StringAttr) else ""
    return out


def state_slots(module: ModuleOp) -> list[StateSlot]:
    """The state arguments of a step function, in argument order, each with its result."""
    fn = main_function(module)
    ins, outs = _marked(fn.arg_attrs, STATE_ATTR), _marked(fn.res_attrs, STATE_ATTR)
    res_of = {name: j for j, name in outs.items()}
    slots = []
    for i, name in ins.items():
        t = fn.function_type.inputs.data[i]
        if name not in res_of or fn.function_type.outputs.data[res_of[name]] != t:
            raise NsccError(f"step function: state '{name}' is not returned with its type", "state comes from the decode-step pass")
        slots.append(StateSlot(name, i, res_of[name], tuple(t.get_shape()), np_dtype(t)))
    if len(slots) != len(outs):
        raise NsccError("step function: a state result has no argument", "state comes from the decode-step pass")
    return slots


def position_argument(module: ModuleOp) -> int:
    found = list(_marked(main_function(module).arg_attrs, POSITION_ATTR))
    if len(found) != 1:
        raise NsccError("step function: no position argument", "run the decode-step pass")
    return found[0]


def step_function(ctx, module: ModuleOp, token_input: str | None = None, seq_axis: int = 1) -> ModuleOp:
    """The module itself when it is a step function already, otherwise a copy made one (what `decode-step` does)."""
    if is_step_function(module):
        return module
    step = module.clone()
    decode_step(step, ctx.weights, token_input, seq_axis)
    return step


def has_attention_state(module: ModuleOp) -> bool:
    """Whether the module decodes with state: attention over earlier positions only (a BERT-style
    encoder's attention, softmax or linear, sees the whole sequence and has none)."""
    return any(isinstance(op, ATTENTION + ATTENTION_STEP) and not _whole_sequence(op) for op in module.walk())


def _whole_sequence(op) -> bool:
    """Attention that is not causal, or masked: an encoder's."""
    if isinstance(op, snn.AttentionOp | nn.AttentionOp | nn.LinearAttentionOp):
        return op.causal is None or op.mask is not None
    if isinstance(op, snn.LinearAttentionOp):
        return op.bidirectional is not None or op.mask is not None
    return False


class Decoder:
    """Runs a compiled decoder one token at a time, its state explicit arrays it passes in and takes back."""

    def __init__(self, ctx, module: ModuleOp, token_input: str | None = None, seq_axis: int = 1):
        self.step_module = step_function(ctx, module, token_input, seq_axis)
        self.weights = ctx.weights
        self.slots = state_slots(self.step_module)
        self.length = decode_length(self.step_module)
        sig = signature(self.step_module)
        self.position_arg = position_argument(self.step_module)
        taken = {s.arg for s in self.slots} | {self.position_arg}
        tokens = [i for i in range(len(sig.inputs)) if i not in taken]
        if len(tokens) != 1:
            raise NsccError("decoding: the step function must take one token input", f"it takes {len(tokens)}")
        self.token_arg = tokens[0]
        self.batch = sig.inputs[self.token_arg][1][0]
        self.output = min(set(range(len(sig.outputs))) - {s.result for s in self.slots})
        self.n_args = len(sig.inputs)
        # one interpreter for all steps: the per-token path does no setup
        self.interpreter = Interpreter(self.step_module)
        for functions in (FuncFunctions(), KernelFunctions(), StorageFunctions(self.weights)):
            self.interpreter.register_implementations(functions)
        self.reset()

    def reset(self) -> None:
        self.state = [np.zeros(s.shape, s.dtype) for s in self.slots]
        self.position = 0

    def state_bytes(self) -> int:
        return sum(a.nbytes for a in self.state)

    def step(self, tokens: Sequence[int] | np.ndarray) -> np.ndarray:
        """Feeds one token per batch row; returns the logits for the next position."""
        if self.position >= self.length:
            raise NsccError(
                f"decoding: the model was compiled for {self.length} positions",
                "generate fewer tokens, or import the .onnx again with a longer sequence (--dim)",
            )
        args: list = [None] * self.n_args
        args[self.token_arg] = np.ascontiguousarray(np.broadcast_to(np.asarray(tokens, np.int64).reshape(-1, 1), (self.batch, 1)))
        args[self.position_arg] = np.array([self.position], np.int64)
        for s, a in zip(self.slots, self.state):
            args[s.arg] = a
        with np.errstate(all="ignore"):
            outs = self.interpreter.call_op("main", tuple(args))
        self.last_outputs = tuple(np.asarray(o) for o in outs)  # every result of @main, in order
        self.state = [self.last_outputs[s.result] for s in self.slots]
        self.position += 1
        return self.last_outputs[self.output][:, 0]

    def generate(self, prompt: Sequence[int], n: int) -> list[int]:
        """Greedy continuation of `prompt` (the same for every batch row) by n tokens."""
        self.reset()
        logits = None
        for t in prompt:
            logits = self.step([t])
        out = []
        for _ in range(n):
            nxt = int(np.argmax(logits[0]))
            out.append(nxt)
            logits = self.step([nxt])
        return out
