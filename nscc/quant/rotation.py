"""Residual-stream rotation (QuaRot / SliceGPT): an exact rewrite that spreads outliers before encoding.

A pre-norm transformer keeps a residual stream h, a sum of embeddings and
the outputs of linear layers, which is read only through normalisations:

    h = embed(ids) + sum_l W_out,l(...)        y = norm(h) * gamma (+ beta)  ->  linear layers

Rotating every row of h by one orthogonal Q changes nothing the model
computes: RMSNorm only sees |h|, which Q keeps, so norm(h Q) = norm(h) Q, and
once gamma and beta are folded into the linear layers that read y
(W <- diag(gamma) W, b <- b + beta W), Q^T folds into them too
(W <- Q^T W). The layers that write the stream take Q on their outputs
(W <- W Q, b <- b Q) and the embedding table on its rows. LayerNorm becomes
RMSNorm once the stream's rows have zero mean, which centring every writer
guarantees (W <- W (I - 11^T/d)), as SliceGPT does.

The point for spiking: a few channels of h hold values hundreds of times
larger than the rest ("massive activations"), so a threshold set for them
leaves every other channel with a level or two, and one set for the rest
clips them. With Q a randomised Hadamard matrix, a row whose energy sits in
one channel comes out flat, and the normalised inputs of every layer that
reads the stream are spread evenly over its channels.

`find_streams` decides (it only reads the IR); `rotate_streams` applies the
decision through rewrite patterns. A stream that is read or written by
anything other than the ops above is left alone, and the reason is returned.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects.builtin import IntegerAttr, ModuleOp, StringAttr, TensorType, f32, i64
from xdsl.ir import Operation, SSAValue
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
)
from xdsl.transforms.dead_code_elimination import RemoveUnusedOperations

from nscc.ir import nn
from nscc.ir.constants import new_weight, source_weight
from nscc.ir.signature import LAYER_ATTR
from nscc.ir.weights import WeightStore
from nscc.quant.hadamard import rotation
from nscc.quant.plans import linear_plan
from nscc.semantics.folding import constant_value

KINDS = ("hadamard", "random")
ROTATED_ATTR = "nscc.rotated"  # on the module once its streams are rotated: rotating again would only cost time


@dataclass
class Reader:
    """A normalisation reading the stream, and the linear layers reading its output."""

    norm: Operation  # nn.rms_norm, nn.layer_norm, or the nn.mul(h, 1/rms) of a spelled-out RMSNorm
    scale_mul: Operation | None  # the nn.mul by gamma after a spelled-out RMSNorm
    gamma: np.ndarray
    beta: np.ndarray | None
    linears: list[Operation]
    scale_index: int = 0  # which operand of scale_mul is the normalised value


@dataclass
class Stream:
    """One residual stream of width `dim`: who writes it and who reads it."""

    dim: int
    writers: list[Operation] = field(default_factory=list)  # linear ops whose outputs enter it
    tables: list[nn.GatherOp] = field(default_factory=list)  # embedding lookups
    constants: list[tuple[Operation, int]] = field(default_factory=list)  # (add, operand index) of constants added in
    readers: list[Reader] = field(default_factory=list)
    centre: bool = False  # LayerNorm readers: rows must be made mean-zero
    values: set[SSAValue] = field(default_factory=set)


class Known:
    """Constant values of a module's operands, each evaluated once (a stream value's
    whole history is asked about, and folding it again for every question is quadratic)."""

    def __init__(self, weights: WeightStore):
        self.weights = weights
        self.memo: dict = {}

    def value(self, v: SSAValue) -> np.ndarray | None:
        return constant_value(v, self.weights, self.memo)

    def plan(self, op: Operation):
        if op not in self.memo:
            self.memo[op] = linear_plan(op, self.weights, memo=self.memo)
        return self.memo[op]


class NotRotatable(Exception):
    """Why a stream cannot be rotated: one line naming the op."""


def _last_axis_reduce(op: Operation, x: SSAValue) -> bool:
    if not isinstance(op, nn.ReduceMeanOp | nn.ReduceSumOp) or op.keepdims is None:
        return False
    rank = len(x.type.get_shape())
    axes = op.axes.get_values() if op.axes is not None else tuple(range(rank))
    return [a % rank for a in axes] == [rank - 1]


def _square_of(op: Operation | None, x: SSAValue, store: Known) -> bool:
    if isinstance(op, nn.PowOp) and op.lhs is x:
        e = store.value(op.rhs)
        return e is not None and e.size == 1 and float(e.reshape(-1)[0]) == 2.0
    return isinstance(op, nn.MulOp) and op.lhs is x and op.rhs is x


def _row_statistic(v: SSAValue, x: SSAValue, store: Known, depth: int = 0) -> bool:
    """Whether v depends on x only through sum(x^2) over the last axis, which Q keeps."""
    if depth > 12:
        return False
    if store.value(v) is not None:
        return store.value(v).size == 1
    op = v.owner
    if isinstance(op, nn.ReduceMeanOp | nn.ReduceSumOp) and _last_axis_reduce(op, x):
        return _square_of(op.input.owner, x, store)
    if isinstance(op, nn.SqrtOp | nn.ReciprocalOp):
        return _row_statistic(op.input, x, store, depth + 1)
    if isinstance(op, nn.AddOp | nn.MulOp | nn.DivOp | nn.SubOp | nn.MaxOp):
        return all(_row_statistic(o, x, store, depth + 1) for o in (op.lhs, op.rhs))
    return False


def _statistic_use(user: Operation, x: SSAValue, store: Known) -> bool:
    """x^2 feeding only last-axis reductions: the norm's statistic."""
    return _square_of(user, x, store) and all(_last_axis_reduce(u.operation, x) for u in user.results[0].uses)


def _spelled_norm(user: Operation, x: SSAValue, store: Known) -> bool:
    """x * r or x / r with r a row statistic of x: RMSNorm without its gamma."""
    if isinstance(user, nn.MulOp):
        other = user.rhs if user.lhs is x else user.lhs if user.rhs is x else None
    elif isinstance(user, nn.DivOp) and user.lhs is x:
        other = user.rhs
    else:
        return False
    return other is not None and other is not x and other.type.get_shape()[-1:] == (1,) and _row_statistic(other, x, store)


def _linear_reader(op: Operation, x: SSAValue, store: Known) -> bool:
    plan = store.plan(op)
    return plan is not None and not plan.conv and plan.x is x and plan.full_bias is None


def _vector(v: SSAValue, dim: int, store: Known) -> np.ndarray | None:
    c = store.value(v)
    if c is None or c.size not in (1, dim) or (c.ndim and c.shape[-1] != dim and c.size != 1):
        return None
    return np.broadcast_to(c.reshape(-1), (dim,)).astype(np.float64)


def _keeps_rows(op: Operation, dim: int) -> bool:
    """A reshape that only regroups rows: the channel axis is last before and after."""
    return isinstance(op, nn.ReshapeOp) and op.input.type.get_shape()[-1:] == (dim,) and op.res.type.get_shape()[-1:] == (dim,)


def _reader(user: Operation, x: SSAValue, dim: int, store: Known) -> Reader:
    """The normalisation `user` of stream value x, with gamma, beta and the linear layers after it."""
    where = f"{user.name} reading the residual stream"
    if isinstance(user, nn.RMSNormOp | nn.LayerNormOp):
        if user.axis.value.data % len(x.type.get_shape()) != len(x.type.get_shape()) - 1:
            raise NotRotatable(f"{where} normalises over more than the last axis")
        gamma = _vector(user.scale, dim, store)
        beta = _vector(user.bias, dim, store) if isinstance(user, nn.LayerNormOp) and user.bias is not None else None
        if gamma is None or (isinstance(user, nn.LayerNormOp) and user.bias is not None and beta is None):
            raise NotRotatable(f"{where} has a scale or bias that is not a constant vector")
        out, scale_mul, index = user.res, None, 0
    else:
        out, gamma, beta, scale_mul, index = user.results[0], np.ones(dim), None, None, 0
        uses = list(out.uses)
        if len(uses) == 1 and isinstance(uses[0].operation, nn.MulOp):
            m = uses[0].operation
            g = _vector(m.operands[1 - uses[0].index], dim, store)
            if g is not None:
                gamma, scale_mul, out, index = g, m, m.res, uses[0].index
    linears: list[Operation] = []
    todo = [out]
    while todo:  # through reshapes that keep the channel axis (torch's Conv1D flattens rows)
        v = todo.pop()
        for u in v.uses:
            op = u.operation
            if _keeps_rows(op, dim):
                todo.append(op.results[0])
            elif _linear_reader(op, v, store):
                linears.append(op)
            else:
                raise NotRotatable(f"the normalised stream is read by {op.name}, not only by linear layers with constant weights")
    if not linears:
        raise NotRotatable(f"{where} feeds nothing")
    return Reader(user, scale_mul, gamma, beta, list(dict.fromkeys(linears)), index)


def _trace(seed: SSAValue, store: Known) -> Stream:
    """The stream `seed` (a normalisation's input) belongs to; NotRotatable if any op touching it does not fit."""
    shape = seed.type.get_shape()
    dim = shape[-1]
    stream = Stream(dim)
    seen = stream.values
    todo = [seed]
    while todo:
        v = todo.pop()
        if v in seen:
            continue
        seen.add(v)
        if not isinstance(v.type, TensorType) or v.type.element_type != f32 or v.type.get_shape()[-1:] != (dim,):
            raise NotRotatable(f"a value of type {v.type} joins the residual stream of width {dim}")
        op = v.owner
        if not isinstance(op, Operation):
            raise NotRotatable("the residual stream starts at a graph input")
        if isinstance(op, nn.AddOp):
            for i, o in enumerate(op.operands):
                if store.value(o) is not None:
                    stream.constants.append((op, i))
                else:
                    todo.append(o)
        elif _keeps_rows(op, dim):
            todo.append(op.input)
        elif isinstance(op, nn.GatherOp):
            table = store.value(op.input)
            if table is None or table.ndim != 2 or op.axis.value.data != 0:
                raise NotRotatable("the residual stream starts at a gather that is not an embedding lookup")
            stream.tables.append(op)
        elif store.plan(op) is not None and not store.plan(op).conv and store.plan(op).full_bias is None:
            stream.writers.append(op)
        else:
            raise NotRotatable(f"{op.name} writes the residual stream")
        for use in v.uses:
            user = use.operation
            if _keeps_rows(user, dim):
                todo.append(user.res)
            elif isinstance(user, nn.AddOp):
                todo.append(user.res)
                todo.extend(o for o in user.operands if store.value(o) is None)
            elif isinstance(user, nn.RMSNormOp | nn.LayerNormOp) or _spelled_norm(user, v, store):
                if all(r.norm is not user for r in stream.readers):
                    stream.readers.append(_reader(user, v, dim, store))
            elif not _statistic_use(user, v, store):
                raise NotRotatable(f"{user.name} reads the residual stream")
    stream.writers = list(dict.fromkeys(stream.writers))
    stream.tables = list(dict.fromkeys(stream.tables))
    stream.constants = list(dict.fromkeys(stream.constants))
    if not stream.readers:
        raise NotRotatable("nothing normalises the residual stream")
    kinds = {isinstance(r.norm, nn.LayerNormOp) for r in stream.readers}
    if len(kinds) > 1:
        raise NotRotatable("the residual stream is read by both LayerNorm and RMSNorm")
    stream.centre = kinds == {True}
    return stream


def find_streams(module: ModuleOp, weights: WeightStore | Known) -> tuple[list[Stream], list[str]]:
    """The rotatable residual streams of a module, and why the others are not."""
    store = weights if isinstance(weights, Known) else Known(weights)
    seeds: list[SSAValue] = []
    for op in module.walk():
        if isinstance(op, nn.RMSNormOp | nn.LayerNormOp):
            seeds.append(op.input)
        elif isinstance(op, nn.MulOp | nn.DivOp):
            for x in (op.lhs, op.rhs):
                if isinstance(x.type, TensorType) and len(x.type.get_shape()) and _spelled_norm(op, x, store):
                    seeds.append(x)
    streams, reasons, covered = [], [], set()
    for s in dict.fromkeys(seeds):
        if s in covered:
            continue
        try:
            st = _trace(s, store)
        except NotRotatable as e:
            reasons.append(str(e))
            continue
        covered |= st.values
        streams.append(st)
    return streams, list(dict.fromkeys(reasons))


# -------------------------------------------------------------------- rewrite


@dataclass
class LinearChange:
    """What rotation does to one linear layer: y = x W + b becomes x W' + b'."""

    gamma: np.ndarray | None = None  # input side: W <- Q_in^T diag(gamma) W, b <- b + beta W
    beta: np.ndarray | None = None
    q_in: np.ndarray | None = None
    q_out: np.ndarray | None = None  # output side: W <- W C Q_out, b <- b C Q_out
    centre: bool = False


def _centred(a: np.ndarray) -> np.ndarray:
    return a - a.mean(axis=-1, keepdims=True)


def _keep_attrs(old: Operation, new: Operation) -> None:
    """The layer's name and the choices passes recorded on it (`bit-allocation`'s) stay."""
    new.attributes.update(old.attributes)


@dataclass
class RotateLinear(RewritePattern):
    changes: dict[Operation, LinearChange]
    store: WeightStore
    known: Known

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        ch = self.changes.pop(op, None)
        if ch is None:
            return
        plan = self.known.plan(op)  # decided before the rewrite; its activation is operand 0 now
        x = op.operands[0]
        w = plan.weight.astype(np.float64)
        b = None if plan.bias is None else plan.bias.astype(np.float64)
        if ch.beta is not None:
            b = (0 if b is None else b) + ch.beta @ w
        if ch.gamma is not None:
            w = ch.gamma[:, None] * w
        if ch.q_in is not None:
            w = ch.q_in.T @ w
        if ch.q_out is not None:
            if ch.centre:
                w, b = _centred(w), None if b is None else _centred(b)
            w = w @ ch.q_out
            b = None if b is None else b @ ch.q_out
        layer = op.attributes.get(LAYER_ATTR)
        name = f"{layer.data}.weight" if isinstance(layer, StringAttr) else source_weight(op.operands[1]) or "rotated.weight"
        wop = new_weight(self.store, name, w.astype(np.float32))
        new: list[Operation] = [wop]
        out_type = op.results[0].type
        if isinstance(op, nn.GemmOp):
            bop = None if b is None else new_weight(self.store, f"{name}.bias", b.astype(np.float32))
            mm = nn.GemmOp(x, wop.res, None if bop is None else bop.res, out_type)
            new += [bop, mm] if bop is not None else [mm]
        else:
            mm = nn.MatMulOp(x, wop.res, out_type)
            new.append(mm)
            if b is not None:
                bop = new_weight(self.store, f"{name}.bias", b.astype(np.float32))
                new += [bop, nn.AddOp(mm.res, bop.res, out_type)]
        _keep_attrs(op, mm)
        rewriter.replace(op, new, [new[-1].results[0]])


@dataclass
class RotateTable(RewritePattern):
    """An embedding lookup reads rotated (and centred) rows."""

    tables: dict[Operation, tuple[np.ndarray, bool]]
    store: WeightStore

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        found = self.tables.pop(op, None)
        if found is None:
            return
        q, centre = found
        t = constant_value(op.input, self.store).astype(np.float64)
        t = (_centred(t) if centre else t) @ q
        w = new_weight(self.store, source_weight(op.input) or "embedding", t.astype(np.float32))
        g = nn.GatherOp(w.res, op.indices, op.res.type, axis=0)
        rewriter.replace(op, [w, g])


@dataclass
class RotateConstant(RewritePattern):
    """A constant added into the stream (a position table, say) is rotated (and centred) too."""

    constants: dict[Operation, list[tuple[int, np.ndarray, bool]]]
    store: WeightStore

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        found = self.constants.pop(op, None)
        if found is None:
            return
        operands = list(op.operands)
        new: list[Operation] = []
        for i, q, centre in found:
            c = constant_value(operands[i], self.store).astype(np.float64)
            c = (_centred(c) if centre else c) @ q
            w = new_weight(self.store, source_weight(operands[i]) or "stream.constant", c.astype(np.float32))
            new.append(w)
            operands[i] = w.res
        add = nn.AddOp(operands[0], operands[1], op.res.type)
        rewriter.replace(op, [*new, add])


@dataclass
class UnscaleNorm(RewritePattern):
    """The normalisation loses gamma and beta (folded into its readers); a LayerNorm of a
    centred stream becomes an RMSNorm; a spelled-out RMSNorm loses its multiply by gamma."""

    norms: dict[Operation, int | None]  # the gamma multiply: the index of its normalised operand
    store: WeightStore

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if op not in self.norms:
            return
        keep = self.norms.pop(op)
        if keep is not None:  # the gamma multiply
            rewriter.replace(op, [], [op.operands[keep]])
            return
        dim = op.input.type.get_shape()[-1]
        ones = new_weight(self.store, "norm.unit_scale", np.ones(dim, np.float32))
        norm = nn.RMSNormOp(op.input, ones.res, op.res.type, axis=op.axis.value.data, epsilon=op.epsilon.value.data)
        rewriter.replace(op, [ones, norm])


def rotate_streams(module: ModuleOp, store: WeightStore, seed: int = 0, kind: str = "hadamard") -> tuple[list[Stream], list[str]]:
    """Rotates every residual stream `find_streams` finds; returns them and why others were left."""
    if ROTATED_ATTR in module.attributes:
        return [], []
    known = Known(store)
    streams, reasons = find_streams(module, known)
    if not streams:
        return streams, reasons
    module.attributes[ROTATED_ATTR] = IntegerAttr(len(streams), i64)
    changes: dict[Operation, LinearChange] = {}
    tables: dict[Operation, tuple[np.ndarray, bool]] = {}
    constants: dict[Operation, list] = {}
    norms: dict[Operation, bool] = {}
    for i, st in enumerate(streams):
        q = rotation(st.dim, seed + i, kind)
        for r in st.readers:
            for op in r.linears:
                ch = changes.setdefault(op, LinearChange())
                ch.gamma, ch.beta, ch.q_in = r.gamma, r.beta, q
            if r.scale_mul is not None:
                norms[r.scale_mul] = r.scale_index
            if isinstance(r.norm, nn.RMSNormOp | nn.LayerNormOp):
                norms[r.norm] = None
        for op in st.writers:
            ch = changes.setdefault(op, LinearChange())
            ch.q_out, ch.centre = q, st.centre
        for op in st.tables:
            tables[op] = (q, st.centre)
        for op, idx in st.constants:
            constants.setdefault(op, []).append((idx, q, st.centre))
    patterns = [
        RotateLinear(changes, store, known),
        RotateTable(tables, store),
        RotateConstant(constants, store),
        UnscaleNorm(norms, store),
    ]
    PatternRewriteWalker(GreedyRewritePatternApplier(patterns), apply_recursively=False).rewrite_module(module)
    PatternRewriteWalker(RemoveUnusedOperations()).rewrite_module(module)  # the weights replaced
    return streams, reasons
