"""One lowering per ONNX operator: ONNX node -> `nn` ops with static shapes.

A lowering reads the node's inputs and attributes (with ONNX's defaults for
the opsets nscc accepts), computes the result types, and emits through
`Node.emit`, which folds the op when its inputs are constants. ONNX inputs
that only carry configuration (shapes, axes, bounds) must be constant and
become properties.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from onnx import numpy_helper

from nscc.frontend.importer import Node, Value, dtype_of, shape_of
from nscc.ir import nn
from nscc.ir.shapes import slice_for
from nscc.ir.types import np_dtype, onnx_elem_to_xdsl
from nscc.semantics.nn import pool_output_size, range_length

LOWERINGS: dict[str, Callable[[Node], list[Value | None]]] = {}
BOOL = np.dtype(np.bool_)


def lowers(*names: str):
    def reg(fn):
        for n in names:
            LOWERINGS[n] = fn
        return fn

    return reg


def _axis(axis: int, rank: int, n: Node) -> int:
    if not -rank <= axis < max(rank, 1):
        raise n.error(f"axis {axis} is out of range for rank {rank}")
    return axis % rank if rank else 0


def _broadcast(n: Node, *shapes) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise n.error(
            f"operand shapes {' and '.join(map(str, shapes))} do not broadcast", "check the input shapes and --dim values"
        ) from None


# --- elementwise ------------------------------------------------------------------

_UNARY = {
    "Neg": nn.NegOp, "Abs": nn.AbsOp, "Sqrt": nn.SqrtOp, "Reciprocal": nn.ReciprocalOp, "Exp": nn.ExpOp,
    "Log": nn.LogOp, "Erf": nn.ErfOp, "Tanh": nn.TanhOp, "Sigmoid": nn.SigmoidOp, "Relu": nn.ReluOp,
    "Sin": nn.SinOp, "Cos": nn.CosOp, "Floor": nn.FloorOp, "Ceil": nn.CeilOp, "Round": nn.RoundOp,
    "Sign": nn.SignOp, "Softplus": nn.SoftplusOp,
}  # fmt: skip


@lowers(*_UNARY)
def _unary(n: Node):
    return n.emit(_UNARY[n.op_type], [n.input(0)], (n.dtype(0), n.shape(0)))


@lowers("Not", "IsNaN")
def _unary_bool(n: Node):
    op = nn.NotOp if n.op_type == "Not" else nn.IsNanOp
    return n.emit(op, [n.input(0)], (BOOL, n.shape(0)))


@lowers("Identity", "Dropout")
def _identity(n: Node):
    if n.op_type == "Dropout" and n.has_input(2) and n.has_input(2) and bool(np.asarray(n.const(2, "training_mode"))):
        raise n.error("training-mode Dropout is not supported", "export the model in eval mode")
    return [n.input(0), None]


@lowers("Gelu")
def _gelu(n: Node):
    return n.emit(nn.GeluOp, [n.input(0)], (n.dtype(0), n.shape(0)), approximate=n.attr("approximate", "none"))


@lowers("LeakyRelu")
def _leaky(n: Node):
    return n.emit(nn.LeakyReluOp, [n.input(0)], (n.dtype(0), n.shape(0)), alpha=n.attr("alpha", 0.01))


@lowers("Elu")
def _elu(n: Node):
    return n.emit(nn.EluOp, [n.input(0)], (n.dtype(0), n.shape(0)), alpha=n.attr("alpha", 1.0))


@lowers("HardSigmoid")
def _hard_sigmoid(n: Node):
    return n.emit(nn.HardSigmoidOp, [n.input(0)], (n.dtype(0), n.shape(0)), alpha=n.attr("alpha", 0.2), beta=n.attr("beta", 0.5))


@lowers("HardSwish")
def _hard_swish(n: Node):
    x, out = n.input(0), (n.dtype(0), n.shape(0))
    (hs,) = n.emit(nn.HardSigmoidOp, [x], out, alpha=1 / 6, beta=0.5)
    return n.emit(nn.MulOp, [x, hs], out)


@lowers("PRelu")
def _prelu(n: Node):
    x, slope = n.input(0), n.input(1)
    shape = _broadcast(n, n.shape(0), n.shape(1))
    (neg,) = n.emit(nn.LessOp, [x, np.zeros((), n.dtype(0))], (BOOL, n.shape(0)))
    (scaled,) = n.emit(nn.MulOp, [x, slope], (n.dtype(0), shape))
    return n.emit(nn.WhereOp, [neg, scaled, x], (n.dtype(0), shape))


@lowers("Clip")
def _clip(n: Node):
    lo = n.attr("min") if n.has_input(1) is False and "min" in n.attrs else None
    hi = n.attr("max") if n.has_input(2) is False and "max" in n.attrs else None
    if n.has_input(1):
        lo = float(n.const(1, "min").item())
    if n.has_input(2):
        hi = float(n.const(2, "max").item())
    return n.emit(nn.ClipOp, [n.input(0)], (n.dtype(0), n.shape(0)), min=lo, max=hi)


@lowers("Softmax", "LogSoftmax")
def _softmax(n: Node):
    axis = _axis(n.attr("axis", -1), len(n.shape(0)), n)
    op = nn.SoftmaxOp if n.op_type == "Softmax" else nn.LogSoftmaxOp
    return n.emit(op, [n.input(0)], (n.dtype(0), n.shape(0)), axis=axis)


@lowers("CumSum")
def _cumsum(n: Node):
    axis = _axis(int(n.const(1, "axis").item()), len(n.shape(0)), n)
    return n.emit(
        nn.CumSumOp,
        [n.input(0)],
        (n.dtype(0), n.shape(0)),
        axis=axis,
        exclusive=bool(n.attr("exclusive", 0)),
        reverse=bool(n.attr("reverse", 0)),
    )


@lowers("Trilu")
def _trilu(n: Node):
    k = int(n.const(1, "k").item()) if n.has_input(1) else 0
    return n.emit(nn.TriluOp, [n.input(0)], (n.dtype(0), n.shape(0)), upper=bool(n.attr("upper", 1)), k=k)


@lowers("Cast", "CastLike")
def _cast(n: Node):
    if n.op_type == "Cast":
        elem = onnx_elem_to_xdsl(n.attr("to"))
        if elem is None:
            raise n.error(f"cast to ONNX type {n.attr('to')} is not supported", "nscc lowers float32/16, integer and bool tensors")
        to = np_dtype(elem)
    else:
        to = n.dtype(1)
    if to == n.dtype(0):
        return [n.input(0)]
    return n.emit(nn.CastOp, [n.input(0)], (to, n.shape(0)))


_BINARY = {
    "Add": nn.AddOp, "Sub": nn.SubOp, "Mul": nn.MulOp, "Div": nn.DivOp, "Pow": nn.PowOp,
    "Equal": nn.EqualOp, "Less": nn.LessOp, "LessOrEqual": nn.LessEqualOp, "Greater": nn.GreaterOp,
    "GreaterOrEqual": nn.GreaterEqualOp, "And": nn.AndOp, "Or": nn.OrOp, "Xor": nn.XorOp,
}  # fmt: skip
_COMPARE = {"Equal", "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "And", "Or", "Xor"}


@lowers(*_BINARY)
def _binary(n: Node):
    shape = _broadcast(n, n.shape(0), n.shape(1))
    dt = BOOL if n.op_type in _COMPARE else n.dtype(0)
    return n.emit(_BINARY[n.op_type], [n.input(0), n.input(1)], (dt, shape))


@lowers("Mod")
def _mod(n: Node):
    shape = _broadcast(n, n.shape(0), n.shape(1))
    return n.emit(nn.ModOp, [n.input(0), n.input(1)], (n.dtype(0), shape), fmod=bool(n.attr("fmod", 0)))


@lowers("Min", "Max", "Sum", "Mean")
def _variadic(n: Node):
    op = {"Min": nn.MinOp, "Max": nn.MaxOp, "Sum": nn.AddOp, "Mean": nn.AddOp}[n.op_type]
    xs = n.inputs()
    acc, shape = xs[0], shape_of(xs[0])
    for x in xs[1:]:
        shape = _broadcast(n, shape, shape_of(x))
        (acc,) = n.emit(op, [acc, x], (n.dtype(0), shape))
    if n.op_type == "Mean" and len(xs) > 1:
        (acc,) = n.emit(nn.DivOp, [acc, np.asarray(len(xs), n.dtype(0))], (n.dtype(0), shape))
    return [acc]


@lowers("Where")
def _where(n: Node):
    shape = _broadcast(n, n.shape(0), n.shape(1), n.shape(2))
    return n.emit(nn.WhereOp, [n.input(0), n.input(1), n.input(2)], (n.dtype(1), shape))


# --- linear algebra --------------------------------------------------------------


def matmul_shape(n: Node, a: tuple, b: tuple) -> tuple[int, ...]:
    if not a or not b:
        raise n.error("MatMul operands must have rank >= 1")
    a2 = (1,) + a if len(a) == 1 else a
    b2 = b + (1,) if len(b) == 1 else b
    if a2[-1] != b2[-2]:
        raise n.error(f"cannot multiply shapes {a} and {b}", "check the input shapes and --dim values")
    batch = _broadcast(n, a2[:-2], b2[:-2])
    out = batch + (a2[-2], b2[-1])
    if len(a) == 1:
        out = out[:-2] + out[-1:]
    if len(b) == 1:
        out = out[:-1]
    return out


@lowers("MatMul")
def _matmul(n: Node):
    return n.emit(nn.MatMulOp, [n.input(0), n.input(1)], (n.dtype(0), matmul_shape(n, n.shape(0), n.shape(1))))


@lowers("Gemm")
def _gemm(n: Node):
    a, b = n.shape(0), n.shape(1)
    ta, tb = bool(n.attr("transA", 0)), bool(n.attr("transB", 0))
    m, k = (a[1], a[0]) if ta else a
    k2, nn_ = (b[1], b[0]) if tb else b
    if k != k2:
        raise n.error(f"cannot multiply shapes {a} and {b} (transA={ta}, transB={tb})")
    ops = [n.input(0), n.input(1), n.input(2) if n.has_input(2) else None]
    if n.has_input(2):
        _broadcast(n, n.shape(2), (m, nn_))
    return n.emit(nn.GemmOp, ops, (n.dtype(0), (m, nn_)), alpha=n.attr("alpha", 1.0), beta=n.attr("beta", 1.0), trans_a=ta, trans_b=tb)


def _auto_pads(n: Node, spatial, kernel, strides, dilations) -> list[int]:
    auto = n.attr("auto_pad", "NOTSET")
    nd = len(kernel)
    if auto in ("NOTSET", ""):
        pads = list(n.attr("pads", [0] * 2 * nd))
        if len(pads) != 2 * nd:
            raise n.error(f"pads has {len(pads)} entries, expected {2 * nd}")
        return pads
    if auto == "VALID":
        return [0] * 2 * nd
    begin, end = [], []
    for size, k, s, d in zip(spatial, kernel, strides, dilations):
        out = -(-size // s)
        total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
        small, big = total // 2, total - total // 2
        begin.append(small if auto == "SAME_UPPER" else big)
        end.append(big if auto == "SAME_UPPER" else small)
    return begin + end


@lowers("Conv")
def _conv(n: Node):
    x, w = n.shape(0), n.shape(1)
    nd = len(x) - 2
    if nd < 1 or len(w) != len(x):
        raise n.error(f"Conv input {x} and weight {w} ranks do not fit")
    kernel = tuple(n.attr("kernel_shape", w[2:]))
    strides = tuple(n.attr("strides", [1] * nd))
    dilations = tuple(n.attr("dilations", [1] * nd))
    group = n.attr("group", 1)
    if x[1] != w[1] * group:
        raise n.error(f"input has {x[1]} channels, weight expects {w[1]} x group {group}")
    pads = _auto_pads(n, x[2:], kernel, strides, dilations)
    out = tuple((x[2 + i] + pads[i] + pads[i + nd] - (kernel[i] - 1) * dilations[i] - 1) // strides[i] + 1 for i in range(nd))
    ops = [n.input(0), n.input(1), n.input(2) if n.has_input(2) else None]
    return n.emit(nn.ConvOp, ops, (n.dtype(0), (x[0], w[0]) + out), strides=strides, pads=tuple(pads), dilations=dilations, group=group)


def _pool(n: Node, op):
    x = n.shape(0)
    nd = len(x) - 2
    kernel = tuple(n.attr("kernel_shape"))
    strides = tuple(n.attr("strides", [1] * nd))
    dilations = tuple(n.attr("dilations", [1] * nd))
    pads = _auto_pads(n, x[2:], kernel, strides, dilations)
    ceil = bool(n.attr("ceil_mode", 0))
    out = tuple(pool_output_size(x[2 + i], kernel[i], strides[i], dilations[i], pads[i], pads[i + nd], ceil) for i in range(nd))
    extra = {"count_include_pad": bool(n.attr("count_include_pad", 0))} if op is nn.AvgPoolOp else {}
    res = n.emit(
        op,
        [n.input(0)],
        (n.dtype(0), x[:2] + out),
        kernel=kernel,
        strides=strides,
        pads=tuple(pads),
        dilations=dilations,
        ceil_mode=ceil,
        **extra,
    )
    return res + [None]


@lowers("MaxPool")
def _max_pool(n: Node):
    if n.attr("storage_order", 0):
        raise n.error("column-major storage_order is not supported")
    return _pool(n, nn.MaxPoolOp)


@lowers("AveragePool")
def _avg_pool(n: Node):
    return _pool(n, nn.AvgPoolOp)


@lowers("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(n: Node):
    x = n.shape(0)
    axes = tuple(range(2, len(x)))
    op = nn.ReduceMeanOp if n.op_type == "GlobalAveragePool" else nn.ReduceMaxOp
    return n.emit(op, [n.input(0)], (n.dtype(0), x[:2] + (1,) * len(axes)), axes=axes, keepdims=True)


# --- normalisation -----------------------------------------------------------------


@lowers("LayerNormalization")
def _layer_norm(n: Node):
    axis = _axis(n.attr("axis", -1), len(n.shape(0)), n)
    eps = n.attr("epsilon", 1e-5)
    ops = [n.input(0), n.input(1), n.input(2) if n.has_input(2) else None]
    (y,) = n.emit(nn.LayerNormOp, ops, (n.dtype(0), n.shape(0)), axis=axis, epsilon=eps)
    if len(n.proto.output) < 2 or not any(n.proto.output[1:]):
        return [y]
    # The statistics outputs (used when training) are spelled out in plain ops.
    x, dt, shape = n.input(0), n.dtype(0), n.shape(0)
    axes = tuple(range(axis, len(shape)))
    stat = shape[:axis] + (1,) * len(axes)
    (mean,) = n.emit(nn.ReduceMeanOp, [x], (dt, stat), axes=axes, keepdims=True)
    (d,) = n.emit(nn.SubOp, [x, mean], (dt, shape))
    (d2,) = n.emit(nn.MulOp, [d, d], (dt, shape))
    (var,) = n.emit(nn.ReduceMeanOp, [d2], (dt, stat), axes=axes, keepdims=True)
    (ve,) = n.emit(nn.AddOp, [var, np.asarray(eps, dt)], (dt, stat))
    (sd,) = n.emit(nn.SqrtOp, [ve], (dt, stat))
    (inv,) = n.emit(nn.ReciprocalOp, [sd], (dt, stat))
    return [y, mean, inv]


@lowers("RMSNormalization")
def _rms_norm(n: Node):
    axis = _axis(n.attr("axis", -1), len(n.shape(0)), n)
    return n.emit(nn.RMSNormOp, [n.input(0), n.input(1)], (n.dtype(0), n.shape(0)), axis=axis, epsilon=n.attr("epsilon", 1e-5))


@lowers("BatchNormalization")
def _batch_norm(n: Node):
    if n.attr("training_mode", 0):
        raise n.error("training-mode BatchNormalization is not supported", "export the model in eval mode")
    ops = [n.input(i) for i in range(5)]
    return n.emit(nn.BatchNormOp, ops, (n.dtype(0), n.shape(0)), epsilon=n.attr("epsilon", 1e-5)) + [None, None]


# --- reductions --------------------------------------------------------------------

_REDUCE = {
    "ReduceMean": nn.ReduceMeanOp, "ReduceSum": nn.ReduceSumOp, "ReduceMax": nn.ReduceMaxOp,
    "ReduceMin": nn.ReduceMinOp, "ReduceProd": nn.ReduceProdOp, "ReduceSumSquare": nn.ReduceSumSquareOp,
    "ReduceL2": nn.ReduceL2Op,
}  # fmt: skip


@lowers(*_REDUCE)
def _reduce(n: Node):
    x = n.shape(0)
    keep = bool(n.attr("keepdims", 1))
    if n.has_input(1):
        axes = [int(a) for a in n.const(1, "axes").reshape(-1)]
    else:
        axes = list(n.attr("axes", []))
    if not axes:
        if n.attr("noop_with_empty_axes", 0):
            return [n.input(0)]
        axes = list(range(len(x)))
    axes = sorted({_axis(a, len(x), n) for a in axes})
    out = tuple(1 if i in axes else d for i, d in enumerate(x)) if keep else tuple(d for i, d in enumerate(x) if i not in axes)
    return n.emit(_REDUCE[n.op_type], [n.input(0)], (n.dtype(0), out), axes=tuple(axes), keepdims=keep)


@lowers("ArgMax", "ArgMin")
def _arg(n: Node):
    x = n.shape(0)
    axis = _axis(n.attr("axis", 0), len(x), n)
    keep = bool(n.attr("keepdims", 1))
    out = tuple(1 if i == axis else d for i, d in enumerate(x)) if keep else x[:axis] + x[axis + 1 :]
    op = nn.ArgMaxOp if n.op_type == "ArgMax" else nn.ArgMinOp
    return n.emit(
        op, [n.input(0)], (np.dtype(np.int64), out), axis=axis, keepdims=keep, select_last_index=bool(n.attr("select_last_index", 0))
    )


# --- shapes and data movement ----------------------------------------------------------


def _reshape_to(n: Node, x: Value, shape: tuple[int, ...]) -> list[Value]:
    if tuple(shape) == shape_of(x):
        return [x]
    return n.emit(nn.ReshapeOp, [x], (dtype_of(x), tuple(shape)))


@lowers("Reshape")
def _reshape(n: Node):
    x = n.shape(0)
    target = [int(d) for d in n.const(1, "shape").reshape(-1)]
    allow_zero = n.attr("allowzero", 0)
    out = [x[i] if d == 0 and not allow_zero else d for i, d in enumerate(target)]
    if out.count(-1) > 1:
        raise n.error(f"shape {target} has more than one -1")
    if -1 in out:
        known = math.prod(d for d in out if d != -1)
        if known == 0 or math.prod(x) % known:
            raise n.error(f"cannot reshape {x} to {target}", "check the input shapes and --dim values")
        out[out.index(-1)] = math.prod(x) // known
    if math.prod(out) != math.prod(x):
        raise n.error(f"cannot reshape {x} ({math.prod(x)} elements) to {tuple(out)}", "check the input shapes and --dim values")
    return _reshape_to(n, n.input(0), tuple(out))


@lowers("Flatten")
def _flatten(n: Node):
    x = n.shape(0)
    axis = n.attr("axis", 1)
    axis = axis + len(x) if axis < 0 else axis
    return _reshape_to(n, n.input(0), (math.prod(x[:axis]), math.prod(x[axis:])))


@lowers("Squeeze")
def _squeeze(n: Node):
    x = n.shape(0)
    axes = [int(a) for a in n.const(1, "axes").reshape(-1)] if n.has_input(1) else n.attr("axes")
    if axes is None:
        axes = [i for i, d in enumerate(x) if d == 1]
    axes = {_axis(a, len(x), n) for a in axes}
    if any(x[a] != 1 for a in axes):
        raise n.error(f"cannot squeeze axes {sorted(axes)} of shape {x}")
    return _reshape_to(n, n.input(0), tuple(d for i, d in enumerate(x) if i not in axes))


@lowers("Unsqueeze")
def _unsqueeze(n: Node):
    x = n.shape(0)
    axes = [int(a) for a in n.const(1, "axes").reshape(-1)] if n.has_input(1) else list(n.attr("axes"))
    rank = len(x) + len(axes)
    axes = sorted(_axis(a, rank, n) for a in axes)
    out, it = [], iter(x)
    for i in range(rank):
        out.append(1 if i in axes else next(it))
    return _reshape_to(n, n.input(0), tuple(out))


@lowers("Transpose")
def _transpose(n: Node):
    x = n.shape(0)
    perm = tuple(n.attr("perm", list(range(len(x)))[::-1]))
    if sorted(perm) != list(range(len(x))):
        raise n.error(f"perm {perm} is not a permutation of rank {len(x)}")
    return n.emit(nn.TransposeOp, [n.input(0)], (n.dtype(0), tuple(x[p] for p in perm)), perm=perm)


@lowers("Expand")
def _expand(n: Node):
    target = tuple(int(d) for d in n.const(1, "shape").reshape(-1))
    shape = _broadcast(n, n.shape(0), target)
    if shape == n.shape(0):
        return [n.input(0)]
    return n.emit(nn.BroadcastOp, [n.input(0)], (n.dtype(0), shape))


@lowers("Concat")
def _concat(n: Node):
    xs = n.inputs()
    shapes = [shape_of(x) for x in xs]
    axis = _axis(n.attr("axis"), len(shapes[0]), n)
    for s in shapes[1:]:
        if len(s) != len(shapes[0]) or any(a != b for i, (a, b) in enumerate(zip(s, shapes[0])) if i != axis):
            raise n.error(f"cannot concatenate shapes {shapes} on axis {axis}")
    out = list(shapes[0])
    out[axis] = sum(s[axis] for s in shapes)
    dt = dtype_of(xs[0])
    if len(xs) == 1:
        return [xs[0]]
    return n.emit(nn.ConcatOp, xs, (dt, tuple(out)), axis=axis)


@lowers("Split")
def _split(n: Node):
    x = n.shape(0)
    axis = _axis(n.attr("axis", 0), len(x), n)
    count = len(n.proto.output)
    if n.has_input(1):
        sizes = [int(s) for s in n.const(1, "split").reshape(-1)]
    elif "split" in n.attrs:
        sizes = list(n.attr("split"))
    else:
        parts = n.attr("num_outputs", count)
        chunk = -(-x[axis] // parts)
        sizes = [min(chunk, x[axis] - i * chunk) for i in range(parts)]
    if sum(sizes) != x[axis] or any(s < 0 for s in sizes):
        raise n.error(f"split sizes {sizes} do not add up to {x[axis]}")
    outs = [(n.dtype(0), x[:axis] + (s,) + x[axis + 1 :]) for s in sizes]
    return n.emit(nn.SplitOp, [n.input(0)], outs, axis=axis)


@lowers("Slice")
def _slice(n: Node):
    x = n.shape(0)
    starts = [int(v) for v in n.const(1, "starts").reshape(-1)]
    ends = [int(v) for v in n.const(2, "ends").reshape(-1)]
    axes = [int(v) for v in n.const(3, "axes").reshape(-1)] if n.has_input(3) else list(range(len(starts)))
    steps = [int(v) for v in n.const(4, "steps").reshape(-1)] if n.has_input(4) else [1] * len(starts)
    if 0 in steps:
        raise n.error("Slice step 0 is invalid")
    axes = [_axis(a, len(x), n) for a in axes]
    out = list(x)
    for s, e, a, st in zip(starts, ends, axes, steps):
        out[a] = len(range(x[a])[slice_for(x[a], s, e, st)])
    clamp = lambda v: int(np.clip(v, -(2**62), 2**62))  # noqa: E731 -- INT64_MAX ends print badly
    return n.emit(
        nn.SliceOp, [n.input(0)], (n.dtype(0), tuple(out)),
        starts=tuple(map(clamp, starts)), ends=tuple(map(clamp, ends)), axes=tuple(axes), steps=tuple(steps),
    )  # fmt: skip


@lowers("Gather")
def _gather(n: Node):
    x, idx = n.shape(0), n.shape(1)
    axis = _axis(n.attr("axis", 0), len(x), n)
    return n.emit(nn.GatherOp, [n.input(0), n.input(1)], (n.dtype(0), x[:axis] + idx + x[axis + 1 :]), axis=axis)


@lowers("GatherElements")
def _gather_elements(n: Node):
    axis = _axis(n.attr("axis", 0), len(n.shape(0)), n)
    return n.emit(nn.GatherElementsOp, [n.input(0), n.input(1)], (n.dtype(0), n.shape(1)), axis=axis)


@lowers("GatherND")
def _gather_nd(n: Node):
    x, idx = n.shape(0), n.shape(1)
    b = n.attr("batch_dims", 0)
    out = idx[:-1] + x[b + idx[-1] :]
    return n.emit(nn.GatherNDOp, [n.input(0), n.input(1)], (n.dtype(0), out), batch_dims=b)


@lowers("Tile")
def _tile(n: Node):
    reps = tuple(int(r) for r in n.const(1, "repeats").reshape(-1))
    return n.emit(nn.TileOp, [n.input(0)], (n.dtype(0), tuple(d * r for d, r in zip(n.shape(0), reps))), repeats=reps)


@lowers("Pad")
def _pad(n: Node):
    x = n.shape(0)
    pads = [int(p) for p in n.const(1, "pads").reshape(-1)] if n.has_input(1) else list(n.attr("pads"))
    value = float(n.const(2, "constant_value").item()) if n.has_input(2) else float(n.attr("value", 0.0))
    if n.has_input(3):
        axes = [_axis(int(a), len(x), n) for a in n.const(3, "axes").reshape(-1)]
        full = [0] * 2 * len(x)
        for i, a in enumerate(axes):
            full[a], full[a + len(x)] = pads[i], pads[i + len(axes)]
        pads = full
    if any(p < 0 for p in pads):
        raise n.error("negative pads are not supported")
    out = tuple(d + pads[i] + pads[i + len(x)] for i, d in enumerate(x))
    return n.emit(nn.PadOp, [n.input(0)], (n.dtype(0), out), pads=tuple(pads), mode=n.attr("mode", "constant"), value=value)


@lowers("Range")
def _range(n: Node):
    start, limit, delta = (n.const(i, name) for i, name in enumerate(("start", "limit", "delta")))
    length = range_length(start.item(), limit.item(), delta.item())
    return n.emit(nn.RangeOp, [start, limit, delta], (n.dtype(0), (length,)))


@lowers("Shape")
def _shape(n: Node):
    x = n.shape(0)
    start, end = n.attr("start", 0), n.attr("end", len(x))
    return [np.array(x[slice(start, end)], np.int64)]


@lowers("Size")
def _size(n: Node):
    return [np.array(math.prod(n.shape(0)), np.int64)]


@lowers("ConstantOfShape")
def _constant_of_shape(n: Node):
    shape = tuple(int(d) for d in n.const(0, "shape").reshape(-1))
    value = n.attrs.get("value")
    fill = numpy_helper.to_array(value).reshape(-1)[0] if value is not None else np.float32(0)
    return [np.full(shape, fill, dtype=fill.dtype)]


@lowers("Constant")
def _constant(n: Node):
    a = n.attrs
    if "value" in a:
        return [numpy_helper.to_array(a["value"])]
    if "value_float" in a:
        return [np.array(a["value_float"], np.float32)]
    if "value_floats" in a:
        return [np.array(a["value_floats"], np.float32)]
    if "value_int" in a:
        return [np.array(a["value_int"], np.int64)]
    if "value_ints" in a:
        return [np.array(a["value_ints"], np.int64)]
    raise n.error("only tensor, float(s) and int(s) constants are supported")


@lowers("Attention")
def _attention(n: Node):
    """ONNX Attention (opset 23): 4-D [B, heads, S, d] or 3-D [B, S, heads * d] inputs,
    grouped-query heads, causal or mask; no KV cache inputs, softcap or extra outputs."""
    if any(n.has_input(i) for i in range(4, n.n_inputs)) or any(n.proto.output[1:]):
        raise n.error("past key/value, padding-length inputs and the present/qk outputs are not supported", "export without a KV cache")
    unknown = set(n.attrs) - {"is_causal", "kv_num_heads", "q_num_heads", "qk_matmul_output_mode", "scale", "softcap", "softmax_precision"}
    if unknown:
        raise n.error(f"attribute {sorted(unknown)[0]} is not supported")
    if n.attr("softcap", 0.0) or n.attr("qk_matmul_output_mode", 0):
        raise n.error("softcap and qk_matmul_output_mode are not supported")
    q, k, v = n.input(0), n.input(1), n.input(2)
    dt = n.dtype(0)
    three_d = len(n.shape(0)) == 3
    if three_d:
        qh, kvh = n.attr("q_num_heads"), n.attr("kv_num_heads")
        if not qh or not kvh:
            raise n.error("3-D inputs need q_num_heads and kv_num_heads")
        q, k, v = (_split_heads(n, x, h) for x, h in ((q, qh), (k, kvh), (v, kvh)))
    qs, ks = shape_of(q), shape_of(k)
    if len(qs) != 4 or qs[1] % ks[1]:
        raise n.error(f"heads of q {qs} and k {ks} do not group")
    rep = qs[1] // ks[1]
    if rep > 1:  # grouped-query attention: repeat each key/value head
        k, v = (_repeat_heads(n, x, rep) for x in (k, v))
    scale = n.attr("scale", None)
    scale = 1.0 / math.sqrt(qs[-1]) if scale is None else scale
    mask = None
    if n.has_input(3):
        mask = n.input(3)
        if dtype_of(mask) == BOOL:  # True attends: an additive 0 / -inf mask
            (mask,) = n.emit(nn.WhereOp, [mask, np.zeros((), dt), np.array(-np.inf, dt)], (dt, shape_of(mask)))
        _broadcast(n, shape_of(mask), qs[:-1] + (shape_of(k)[-2],))
    out_shape = qs[:-1] + (shape_of(v)[-1],)
    (y,) = n.emit(nn.AttentionOp, [q, k, v, mask], (dt, out_shape), scale=float(scale), causal=bool(n.attr("is_causal", 0)))
    if three_d:
        (t,) = n.emit(nn.TransposeOp, [y], (dt, (out_shape[0], out_shape[2], out_shape[1], out_shape[3])), perm=(0, 2, 1, 3))
        (y,) = n.emit(nn.ReshapeOp, [t], (dt, (out_shape[0], out_shape[2], out_shape[1] * out_shape[3])))
    return [y]


def _split_heads(n: Node, x: Value, heads: int) -> Value:
    b, s, hd = shape_of(x)
    (r,) = n.emit(nn.ReshapeOp, [x], (dtype_of(x), (b, s, heads, hd // heads)))
    (t,) = n.emit(nn.TransposeOp, [r], (dtype_of(x), (b, heads, s, hd // heads)), perm=(0, 2, 1, 3))
    return t


def _repeat_heads(n: Node, x: Value, rep: int) -> Value:
    b, h, s, d = shape_of(x)
    (r,) = n.emit(nn.ReshapeOp, [x], (dtype_of(x), (b, h, 1, s, d)))
    (e,) = n.emit(nn.BroadcastOp, [r], (dtype_of(x), (b, h, rep, s, d)))
    (o,) = n.emit(nn.ReshapeOp, [e], (dtype_of(x), (b, h * rep, s, d)))
    return o
