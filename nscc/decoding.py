"""Token-by-token decoding with a constant-size state, on the reference interpreter.

A compiled decoder LM computes a whole sequence at once. With linear attention
(`nn.linear_attention`, or `snn.linear_attention` after spike conversion) every
op is either position-wise along the sequence axis or a recurrence over it, so
the same program can run one token at a time: the module is specialised to a
sequence of length 1 (each value's sequence axis found by propagation from the
token input), constants that vary along the sequence (a positional table) are
read at the current position, and each attention op keeps its state (S, z)
between calls. Work and memory per token do not grow with the position.

    dec = Decoder(ctx, module)            # after -p 'raise-attention,...'
    logits = dec.step(token_ids)          # [batch, vocab] for the next position
    ids = dec.generate(prompt_ids, 20)    # greedy
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from xdsl.dialects.builtin import IntegerAttr, ModuleOp, TensorType, i64
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.interpreter import Interpreter, InterpreterFunctions, impl, register_impls
from xdsl.interpreters.func import FuncFunctions
from xdsl.ir import Block, Operation, Region, SSAValue

from nscc.errors import NsccError
from nscc.ir import nn, snn
from nscc.ir.constants import constant_value
from nscc.ir.signature import main_function, signature
from nscc.semantics.nn import feature_map
from nscc.semantics.interpreter import KernelFunctions, StorageFunctions
from nscc.semantics.snn import _la_scan

ATTENTION = (nn.LinearAttentionOp, snn.LinearAttentionOp)


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
        if isinstance(op, nn.SplitOp | nn.ConcatOp | nn.SliceOp | nn.SoftmaxOp | nn.CumSumOp) and _op_axis(op) == a:
            raise NsccError(f"decoding: {op.name} works along the sequence axis", "decoding needs position-wise ops and linear attention")
        if isinstance(op, nn.ReduceOp):
            axes = list(op.axes.get_values()) if op.axes is not None else list(range(len(v.type.get_shape())))
            if a in axes:
                raise NsccError(f"decoding: {op.name} reduces over the sequence", "the model is not position-wise")
            return a if op.keepdims else a - sum(1 for x in axes if x < a)
        if isinstance(op, nn.AttentionOp):
            raise NsccError("decoding: softmax attention needs a growing KV cache", "run -p raise-attention,linear-attention first (or raise-attention on a model trained with it)")
        if isinstance(op, nn.MatMulOp) and op.rhs in self.axis:
            raise NsccError("decoding: a product of two sequence-dependent values outside attention", "run -p raise-attention")
        return a + len(op.results[0].type.get_shape()) - len(v.type.get_shape())

    def build(self) -> ModuleOp:
        old = self.fn
        ins = []
        for i, a in enumerate(old.body.block.args):
            ins.append(_with_dim(a.type, self.axis[a], 1) if a in self.axis else a.type)
        block = Block(arg_types=[*ins, TensorType(i64, [1])])
        pos = block.args[-1]
        vmap: dict[SSAValue, SSAValue] = dict(zip(old.body.block.args, block.args))
        for op in old.body.block.ops:
            if isinstance(op, ReturnOp):
                outs = [vmap[v] for v in op.operands]
                block.add_op(ReturnOp(*outs))
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
                    self.axis[r] = (rank - (2 if r is op.results[0] else 1)) if isinstance(op, ATTENTION) else axis + rank - len(op.results[0].type.get_shape())
                result_types = [_with_dim(r.type, self.axis[r], 1) for r in op.results]
            new = type(op).create(operands=operands, result_types=result_types, properties=dict(op.properties), attributes=dict(op.attributes))
            block.add_op(new)
            vmap.update(zip(op.results, new.results))
        out_types = [o.type for o in block.last_op.operands]
        fn = FuncOp("main", ([a.type for a in block.args], out_types), Region([block]))
        return ModuleOp([fn])

    def _positional(self, v: SSAValue, op: Operation, axis: int, block: Block, vmap, pos) -> SSAValue:
        """A constant operand whose dimension on the sequence axis is the sequence: read at pos."""
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


def _op_axis(op: Operation) -> int | None:
    a = op.properties.get("axis")
    return a.value.data if isinstance(a, IntegerAttr) else None


@register_impls
class _StatefulAttention(InterpreterFunctions):
    """Linear attention for one token, its state kept between calls (constant size)."""

    def __init__(self):
        self.state: dict[Operation, tuple] = {}

    @impl(nn.LinearAttentionOp)
    def run_float(self, interpreter, op, args):
        q, k, v = (a.astype(np.float64) for a in args)
        f = op.feature.data
        pq, pk = feature_map(q, f), feature_map(k, f)
        lam = op.decay.value.data
        s, z = self.state.get(op, (np.zeros(q.shape[:-2] + (q.shape[-1], v.shape[-1])), np.zeros(q.shape[:-2] + (q.shape[-1],))))
        s = lam * s + np.swapaxes(pk, -1, -2) @ v
        z = lam * z + pk[..., 0, :]
        self.state[op] = (s, z)
        out = pq @ s
        if op.normalize:
            out = out / ((pq[..., 0, :] * z).sum(-1)[..., None, None] + 1e-6)
        return (out.astype(np.float32),)

    @impl(snn.LinearAttentionOp)
    def run_spiking(self, interpreter, op, args):
        q, k, v = args
        dk, dv = q.shape[-1], v.shape[-1]
        s, z = self.state.get(op, (np.zeros(q.shape[:-2] + (dk, dv), np.int64), np.zeros(q.shape[:-2] + (dk,), np.int64)))
        num, den, s, z = _la_scan(q, k, v, op.decay_shift.value.data, s, z)
        self.state[op] = (s, z)
        from nscc.ir.types import np_dtype

        return (num.astype(np_dtype(op.num.type)), den.astype(np_dtype(op.den.type)))

    def state_bytes(self) -> int:
        return sum(a.nbytes for pair in self.state.values() for a in pair)


def step_module(module: ModuleOp, weights, token_input: str | None = None, seq_axis: int = 1) -> tuple[ModuleOp, int, int]:
    """@main specialised to one token: inputs (tokens [batch, 1], position [1]); also (batch, length)."""
    sig = signature(module)
    names = [n for n, _, _ in sig.inputs]
    if token_input is None:
        if len(names) != 1:
            raise NsccError("decoding needs to know which input holds the tokens", "the model has inputs " + ", ".join(names))
        token_input = names[0]
    shape = sig.inputs[names.index(token_input)][1]
    return _Specializer(module, weights, names.index(token_input), seq_axis).build(), shape[0], shape[seq_axis]


def has_attention_state(module: ModuleOp) -> bool:
    return any(isinstance(op, ATTENTION) for op in module.walk())


class Decoder:
    """Runs a compiled decoder one token at a time with constant-size attention state."""

    def __init__(self, ctx, module: ModuleOp, token_input: str | None = None, seq_axis: int = 1):
        self.step_module, self.batch, self.length = step_module(module, ctx.weights, token_input, seq_axis)
        self.weights = ctx.weights
        self.attention = _StatefulAttention()
        self.position = 0
        # one interpreter for all steps: the per-token path does no setup
        self.interpreter = Interpreter(self.step_module)
        for functions in (FuncFunctions(), KernelFunctions(), StorageFunctions(self.weights)):
            self.interpreter.register_implementations(functions)
        self.interpreter.register_implementations(self.attention, override=True)

    def reset(self) -> None:
        self.attention.state.clear()
        self.position = 0

    def step(self, tokens: Sequence[int] | np.ndarray) -> np.ndarray:
        """Feeds one token per batch row; returns the logits for the next position."""
        if self.position >= self.length:
            raise NsccError(f"decoding: the model was compiled for {self.length} positions", "bind a longer sequence with --dim")
        ids = np.broadcast_to(np.asarray(tokens, np.int64).reshape(-1, 1), (self.batch, 1))
        with np.errstate(all="ignore"):
            (out,) = self.interpreter.call_op("main", (np.ascontiguousarray(ids), np.array([self.position], np.int64)))
        self.position += 1
        return np.asarray(out)[:, 0]

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
