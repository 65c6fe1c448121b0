"""numpy kernels for the `nn` dialect: the reference meaning of each op.

Each kernel takes the op (for its properties and result types) and the numpy
values of its operands, and returns a tuple with one array per result. The
frontend folds constant subgraphs with these same kernels, so import-time
folding and run-time execution cannot disagree.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.special import erf as _erf
from xdsl.dialects.builtin import DenseArrayBase, FloatAttr, IntegerAttr, StringAttr, UnitAttr
from xdsl.ir import Operation

from nscc.errors import NsccError
from nscc.ir import nn
from nscc.ir.shapes import slice_for
from nscc.ir.types import np_dtype
from nscc.optable import OpTable

Kernel = Callable[[Operation, tuple], tuple]
KERNELS: OpTable = OpTable()


def prop(op: Operation, name: str, default=None):
    """A property as a plain Python value; a flag (UnitAttr) is a bool, False when absent."""
    a = op.properties.get(name)
    if a is None:
        if default is None and _is_flag(type(op), name):
            return False
        return default
    if isinstance(a, UnitAttr):
        return True
    if isinstance(a, IntegerAttr):
        return a.value.data
    if isinstance(a, FloatAttr):
        return a.value.data
    if isinstance(a, StringAttr):
        return a.data
    if isinstance(a, DenseArrayBase):
        return tuple(a.get_values())
    raise TypeError(f"unexpected property {name} = {a}")


def _is_flag(op_cls: type[Operation], name: str) -> bool:
    d = op_cls.get_irdl_definition().properties.get(name) if hasattr(op_cls, "get_irdl_definition") else None
    return d is not None and UnitAttr in (d.constr.get_bases() or ())


def out_dtype(op: Operation, i: int = 0) -> np.dtype:
    return np_dtype(op.results[i].type)


def out_shape(op: Operation, i: int = 0) -> tuple[int, ...]:
    return tuple(op.results[i].type.get_shape())


kernel = KERNELS  # @kernel(nn.AddOp, ...) registers a kernel


def _typed(op: Operation, y) -> tuple:
    return (np.asarray(y).astype(out_dtype(op), copy=False),)


# --- elementwise ---------------------------------------------------------------

_UNARY = {
    nn.NegOp: np.negative,
    nn.AbsOp: np.abs,
    nn.SqrtOp: np.sqrt,
    nn.ReciprocalOp: np.reciprocal,
    nn.ExpOp: np.exp,
    nn.LogOp: np.log,
    nn.ErfOp: _erf,
    nn.TanhOp: np.tanh,
    nn.SigmoidOp: lambda x: 1 / (1 + np.exp(-x)),
    nn.ReluOp: lambda x: np.maximum(x, np.zeros((), x.dtype)),
    nn.SinOp: np.sin,
    nn.CosOp: np.cos,
    nn.FloorOp: np.floor,
    nn.CeilOp: np.ceil,
    nn.RoundOp: np.rint,
    nn.SignOp: np.sign,
    nn.NotOp: np.logical_not,
    nn.IsNanOp: np.isnan,
    nn.SoftplusOp: lambda x: np.logaddexp(np.zeros((), x.dtype), x),
}

for _op, _fn in _UNARY.items():
    KERNELS[_op] = lambda op, args, fn=_fn: _typed(op, fn(args[0]))


def _int_div(a, b):
    q = np.floor_divide(a, b)
    return q + ((q < 0) & (q * b != a))  # truncate toward zero, as C and ONNX do


def _pow(a, b):
    # Small constant exponents (x^2 in norms, x^3 in tanh-GELU) by multiplication:
    # powf is ~20x slower and x*x is the same correctly rounded square.
    if b.size == 1 and a.dtype.kind == "f":
        e = float(b.reshape(-1)[0])
        if e == 2.0:
            return a * a
        if e == 3.0:
            return a * a * a
        if e == 0.5:
            return np.sqrt(a)
        if e == 1.0:
            return a
    return np.power(a, b)


_BINARY = {
    nn.AddOp: np.add,
    nn.SubOp: np.subtract,
    nn.MulOp: np.multiply,
    nn.DivOp: lambda a, b: _int_div(a, b) if a.dtype.kind in "iu" else np.divide(a, b),
    nn.PowOp: lambda a, b: _pow(a, b),
    nn.MinOp: np.minimum,
    nn.MaxOp: np.maximum,
    nn.EqualOp: np.equal,
    nn.LessOp: np.less,
    nn.LessEqualOp: np.less_equal,
    nn.GreaterOp: np.greater,
    nn.GreaterEqualOp: np.greater_equal,
    nn.AndOp: np.logical_and,
    nn.OrOp: np.logical_or,
    nn.XorOp: np.logical_xor,
}

for _op, _fn in _BINARY.items():
    KERNELS[_op] = lambda op, args, fn=_fn: _typed(op, fn(args[0], args[1]))


@kernel(nn.ModOp)
def _mod(op, args):
    a, b = args
    return _typed(op, np.fmod(a, b) if prop(op, "fmod") else np.mod(a, b))


@kernel(nn.CastOp)
def _cast(op, args):
    (x,) = args
    to = out_dtype(op)
    if to == np.bool_:
        return (x != 0,)
    if to.kind in "iu" and x.dtype.kind == "f":
        x = np.trunc(x)
    return (x.astype(to),)


@kernel(nn.GeluOp)
def _gelu(op, args):
    (x,) = args
    if prop(op, "approximate") == "tanh":
        c = np.asarray(math.sqrt(2 / math.pi), x.dtype)
        return _typed(op, 0.5 * x * (1 + np.tanh(c * (x + np.asarray(0.044715, x.dtype) * x * x * x))))
    return _typed(op, 0.5 * x * (1 + _erf(x * np.asarray(1 / math.sqrt(2), x.dtype))))


@kernel(nn.SiluOp)
def _silu(op, args):
    (x,) = args
    return _typed(op, x / (1 + np.exp(-x * np.asarray(prop(op, "alpha"), x.dtype))))


def hadamard_sum(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """vec(a^T X b) over x's last axis viewed as p x q (row-major), in x's dtype."""
    p, q = a.shape[0], b.shape[0]
    xv = x.reshape(*x.shape[:-1], p, q)
    return (np.swapaxes(a, 0, 1).astype(x.dtype) @ xv @ b.astype(x.dtype)).reshape(x.shape)


@kernel(nn.HadamardOp)
def _hadamard(op, args):
    x, a, b = args
    return _typed(op, hadamard_sum(x, a, b) / np.asarray(math.sqrt(a.shape[0] * b.shape[0]), x.dtype))


@kernel(nn.LeakyReluOp)
def _leaky(op, args):
    (x,) = args
    return _typed(op, np.where(x >= 0, x, x * np.asarray(prop(op, "alpha"), x.dtype)))


@kernel(nn.EluOp)
def _elu(op, args):
    (x,) = args
    return _typed(op, np.where(x > 0, x, np.asarray(prop(op, "alpha"), x.dtype) * np.expm1(x)))


@kernel(nn.HardSigmoidOp)
def _hard_sigmoid(op, args):
    (x,) = args
    y = x * np.asarray(prop(op, "alpha"), x.dtype) + np.asarray(prop(op, "beta"), x.dtype)
    return _typed(op, np.clip(y, 0, 1))


@kernel(nn.ClipOp)
def _clip(op, args):
    (x,) = args
    lo, hi = prop(op, "min"), prop(op, "max")
    y = x
    if lo is not None:
        y = np.maximum(y, np.asarray(lo).astype(x.dtype))
    if hi is not None:
        y = np.minimum(y, np.asarray(hi).astype(x.dtype))
    return _typed(op, y)


@kernel(nn.SoftmaxOp)
def _softmax(op, args):
    (x,) = args
    axis = prop(op, "axis")
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return _typed(op, e / e.sum(axis=axis, keepdims=True))


@kernel(nn.LogSoftmaxOp)
def _log_softmax(op, args):
    (x,) = args
    axis = prop(op, "axis")
    s = x - x.max(axis=axis, keepdims=True)
    return _typed(op, s - np.log(np.exp(s).sum(axis=axis, keepdims=True)))


@kernel(nn.CumSumOp)
def _cumsum(op, args):
    (x,) = args
    axis = prop(op, "axis")
    if prop(op, "reverse"):
        x = np.flip(x, axis)
    y = np.cumsum(x, axis=axis, dtype=x.dtype)
    if prop(op, "exclusive"):
        y = y - x
    if prop(op, "reverse"):
        y = np.flip(y, axis)
    return _typed(op, y)


@kernel(nn.TriluOp)
def _trilu(op, args):
    (x,) = args
    k = prop(op, "k")
    return _typed(op, np.triu(x, k) if prop(op, "upper") else np.tril(x, k))


@kernel(nn.WhereOp)
def _where(op, args):
    return _typed(op, np.where(*args))


# --- linear algebra ----------------------------------------------------------------


@kernel(nn.MatMulOp)
def _matmul(op, args):
    return _typed(op, np.matmul(args[0], args[1]))


@kernel(nn.GemmOp)
def _gemm(op, args):
    a, b = args[0], args[1]
    if prop(op, "trans_a"):
        a = a.T
    if prop(op, "trans_b"):
        b = b.T
    y = a @ b
    alpha, beta = prop(op, "alpha"), prop(op, "beta")
    if alpha != 1.0:
        y = y * np.asarray(alpha, y.dtype)
    if len(args) > 2 and beta != 0.0:
        c = args[2]
        y = y + (c if beta == 1.0 else c * np.asarray(beta, c.dtype))
    return _typed(op, y)


def windows(x: np.ndarray, kernel: tuple, strides: tuple, dilations: tuple) -> np.ndarray:
    """Sliding windows over the trailing spatial axes: (N, C, *out, *kernel), a view."""
    nd = len(kernel)
    span = tuple((k - 1) * d + 1 for k, d in zip(kernel, dilations))
    axes = tuple(range(x.ndim - nd, x.ndim))
    w = np.lib.stride_tricks.sliding_window_view(x, span, axis=axes)
    sel = (slice(None),) * (x.ndim - nd)
    sel += tuple(slice(None, None, s) for s in strides)
    sel += tuple(slice(None, None, d) for d in dilations)
    return w[sel]


def conv_nd(x: np.ndarray, w: np.ndarray, strides, pads, dilations, group: int, acc_dtype=None) -> np.ndarray:
    """Grouped N-d cross-correlation, NC* layout, explicit begin/end pads."""
    nd = w.ndim - 2
    pad_width = [(0, 0), (0, 0)] + [(pads[i], pads[i + nd]) for i in range(nd)]
    xp = np.pad(x, pad_width) if any(pads) else x
    win = windows(xp, w.shape[2:], strides, dilations)  # N, C, *out, *k
    n, c = x.shape[:2]
    m = w.shape[0]
    cg, mg = c // group, m // group
    out_sp = win.shape[2 : 2 + nd]
    outs = []
    for g in range(group):
        wg = w[g * mg : (g + 1) * mg]  # mg, cg, *k
        xg = win[:, g * cg : (g + 1) * cg]  # N, cg, *out, *k
        # contract channels and kernel: result N, *out, mg
        y = np.tensordot(xg, wg, axes=([1] + list(range(2 + nd, 2 + 2 * nd)), list(range(1, 2 + nd))))
        outs.append(np.moveaxis(y, -1, 1))
    y = outs[0] if group == 1 else np.concatenate(outs, axis=1)
    assert y.shape[2:] == out_sp
    return y


@kernel(nn.ConvOp)
def _conv(op, args):
    x, w = args[0], args[1]
    y = conv_nd(x, w, prop(op, "strides"), prop(op, "pads"), prop(op, "dilations"), prop(op, "group"))
    if len(args) > 2:
        y = y + args[2].reshape((1, -1) + (1,) * (y.ndim - 2))
    return _typed(op, y)


@kernel(nn.AttentionOp)
def _attention(op, args):
    mask = args[3] if len(args) > 3 else None
    p = attention_weights(args[0], args[1], prop(op, "scale"), mask, bool(prop(op, "causal")))
    return _typed(op, np.matmul(p, args[2].astype(p.dtype, copy=False)))


def attention_weights(q: np.ndarray, k: np.ndarray, scale: float, mask: np.ndarray | None, causal: bool) -> np.ndarray:
    """nn.attention's softmax weights [..., S, T]: softmax(q k^T scale + mask), causal
    upper-left aligned as ONNX, a row with nothing to attend all 0; at least float32
    inside, as onnxruntime does for float16 attention."""
    ct = np.promote_types(q.dtype, np.float32)
    s = np.matmul(q.astype(ct, copy=False), np.swapaxes(k.astype(ct, copy=False), -1, -2)) * np.asarray(scale, ct)
    if mask is not None:
        s = s + mask.astype(ct, copy=False)
    if causal:
        n, m = s.shape[-2:]
        s = np.where(np.triu(np.ones((n, m), bool), 1), np.asarray(-np.inf, ct), s)
    top = s.max(axis=-1, keepdims=True)
    e = np.exp(s - np.where(np.isfinite(top), top, 0))
    total = e.sum(axis=-1, keepdims=True)
    return np.where(total > 0, e / np.where(total > 0, total, 1), 0)


def feature_map(x: np.ndarray, feature: str) -> np.ndarray:
    if feature == "relu":
        return np.maximum(x, np.zeros((), x.dtype))
    return np.where(x > 0, x + 1, np.exp(x)).astype(x.dtype)  # elu(x) + 1


def linear_attention_weights(n: int, m: int, decay: float, causal: bool, dtype) -> np.ndarray | None:
    """The [n, m] mask of the parallel form: decay^(t-s) for s <= t (aligned at the end), else 0."""
    if not causal:
        return None
    t = np.arange(n)[:, None] + (m - n)
    s = np.arange(m)[None, :]
    gap = t - s
    return np.where(gap >= 0, np.power(decay, np.maximum(gap, 0)), 0).astype(dtype)


@kernel(nn.LinearAttentionOp)
def _linear_attention(op, args):
    f = prop(op, "feature")
    mask = args[3] if len(args) > 3 else None
    out = linear_attention(
        feature_map(args[0], f), feature_map(args[1], f), args[2], prop(op, "decay"), bool(prop(op, "causal")), mask, bool(prop(op, "normalize"))
    )  # fmt: skip
    return _typed(op, out)


def linear_attention(pq, pk, v, decay: float, causal: bool, mask: np.ndarray | None, normalize: bool) -> np.ndarray:
    """nn.linear_attention's parallel form from the feature-mapped q and k."""
    scores = np.matmul(pq, np.swapaxes(pk, -1, -2))
    w = linear_attention_weights(scores.shape[-2], scores.shape[-1], decay, causal, scores.dtype)
    if w is not None:
        scores = scores * w
    if mask is not None:
        m = np.broadcast_to(mask.astype(scores.dtype), scores.shape)
        top = m.max(axis=-1, keepdims=True)
        top = np.where(np.isfinite(top), top, 0)  # a query whose keys are all hidden gets 0, as softmax's does
        scores = scores * np.exp(m - top)  # softmax's weighing by exp(mask), up to a constant per query
    out = np.matmul(scores, v)
    if normalize:
        out = out / (scores.sum(axis=-1, keepdims=True) + np.asarray(1e-6, out.dtype))
    return out


@kernel(nn.WindowAttentionOp)
def _window_attention(op, args):
    q, k, v, pq, pk, r = args[:6]
    mask = args[6] if len(args) > 6 else None
    return _typed(op, window_attention(q, k, v, pq, pk, r, prop(op, "scale"), prop(op, "window"), prop(op, "sinks"), mask))


def window_attention(q, k, v, pq, pk, r, scale: float, window: int, sinks: int, mask: np.ndarray | None = None) -> np.ndarray:
    """nn.window_attention in the parallel form: the weights of both parts, then one product."""
    p = window_attention_weights(q, k, pq, pk, r, scale, window, sinks, mask)
    return np.matmul(p, v.astype(np.float32, copy=False)).astype(np.float32)


def window_attention_weights(q, k, pq, pk, r, scale: float, window: int, sinks: int, mask: np.ndarray | None = None) -> np.ndarray:
    """nn.window_attention's normalised weights [..., S, T] (float32)."""
    f32 = np.float32
    near, far = window_attention_parts(q.shape[-2], k.shape[-2], window, sinks)
    s = np.matmul(q.astype(f32, copy=False), np.swapaxes(k.astype(f32, copy=False), -1, -2)) * f32(scale)
    if mask is not None:
        s = s + mask.astype(f32, copy=False)
    s = np.where(near, s, f32(-np.inf))
    top = s.max(axis=-1, keepdims=True)
    a = np.exp(s - np.where(np.isfinite(top), top, 0))
    pk = np.repeat(pk, pq.shape[-3] // pk.shape[-3], axis=-3)  # key-value heads to query heads
    lin = np.matmul(pq.astype(f32, copy=False), np.swapaxes(pk.astype(f32, copy=False), -1, -2))
    lin = lin * np.asarray(r, f32).reshape(-1, 1, 1) * far
    if mask is not None:
        mk = np.broadcast_to(mask.astype(f32), lin.shape)
        mtop = mk.max(axis=-1, keepdims=True)
        lin = lin * np.exp(mk - np.where(np.isfinite(mtop), mtop, 0))
    a = a + lin
    return a / (a.sum(axis=-1, keepdims=True) + f32(1e-6))


def window_attention_parts(n: int, m: int, window: int, sinks: int) -> tuple[np.ndarray, np.ndarray]:
    """[n, m] masks of nn.window_attention: the keys softmax weighs (the last `window`
    before each query, and the first `sinks`), and the older ones it reads linearly."""
    gap = np.arange(n)[:, None] + (m - n) - np.arange(m)[None, :]
    near = (gap >= 0) & ((gap < window) | (np.arange(m)[None, :] < sinks))
    return near, (gap >= 0) & ~near


@kernel(nn.FeatureMapOp)
def _feature_map(op, args):
    x, w = args
    ct = np.promote_types(x.dtype, np.float32)
    return _typed(op, hedgehog(x.astype(ct, copy=False), w.astype(ct, copy=False)))


def hedgehog(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """nn.feature_map's phi: [softmax(x w_h), softmax(-x w_h)] per head ([..., H, S, d] @ [H, d, f])."""
    z = np.matmul(x, w)
    return np.concatenate([softmax_last(z), softmax_last(-z)], axis=-1)


def softmax_last(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@kernel(nn.LinearAttentionStepOp)
def _linear_attention_step(op, args):
    """The recurrent form, token after token, from the state (S, z) given."""
    q, k, v, state, norm = args
    ct = np.promote_types(state.dtype, np.float32)
    f, lam = prop(op, "feature"), prop(op, "decay")
    pq, pk = feature_map(q.astype(ct), f), feature_map(k.astype(ct), f)
    v, s, z = v.astype(ct), state.astype(ct), norm.astype(ct)
    out = np.empty(v.shape, ct)
    for t in range(q.shape[-2]):
        s = lam * s + pk[..., t, :, None] * v[..., t, None, :]
        z = lam * z + pk[..., t, :]
        o = np.einsum("...k,...kv->...v", pq[..., t, :], s)
        if prop(op, "normalize"):
            o = o / ((pq[..., t, :] * z).sum(-1)[..., None] + 1e-6)
        out[..., t, :] = o
    return (out.astype(out_dtype(op, 0)), s.astype(out_dtype(op, 1)), z.astype(out_dtype(op, 2)))


# --- normalisation -------------------------------------------------------------------


def _norm_axes(x: np.ndarray, axis: int) -> tuple[int, ...]:
    axis = axis % x.ndim
    return tuple(range(axis, x.ndim))


@kernel(nn.LayerNormOp)
def _layer_norm(op, args):
    x, scale = args[0], args[1]
    axes = _norm_axes(x, prop(op, "axis"))
    mean = x.mean(axis=axes, keepdims=True)
    d = x - mean
    var = (d * d).mean(axis=axes, keepdims=True)
    y = d / np.sqrt(var + np.asarray(prop(op, "epsilon"), x.dtype)) * scale
    if len(args) > 2:
        y = y + args[2]
    return _typed(op, y)


@kernel(nn.RMSNormOp)
def _rms_norm(op, args):
    x, scale = args
    axes = _norm_axes(x, prop(op, "axis"))
    ms = (x * x).mean(axis=axes, keepdims=True)
    return _typed(op, x / np.sqrt(ms + np.asarray(prop(op, "epsilon"), x.dtype)) * scale)


@kernel(nn.BatchNormOp)
def _batch_norm(op, args):
    x, scale, bias, mean, var = args
    shape = (1, -1) + (1,) * (x.ndim - 2)
    inv = scale / np.sqrt(var + np.asarray(prop(op, "epsilon"), var.dtype))
    return _typed(op, (x - mean.reshape(shape)) * inv.reshape(shape) + bias.reshape(shape))


# --- reductions and pooling ----------------------------------------------------------


def _reduce_with(fn, empty_value=None):
    def run(op, args):
        (x,) = args
        axes = prop(op, "axes")
        keep = bool(prop(op, "keepdims"))
        if x.size == 0 and empty_value is not None:
            shape = out_shape(op)
            return (np.full(shape, empty_value(x.dtype), out_dtype(op)),)
        return _typed(op, fn(x, axis=axes, keepdims=keep))

    return run


def _lowest(dt):
    return -np.inf if dt.kind == "f" else False if dt.kind == "b" else np.iinfo(dt).min


def _highest(dt):
    return np.inf if dt.kind == "f" else True if dt.kind == "b" else np.iinfo(dt).max


KERNELS[nn.ReduceMeanOp] = _reduce_with(np.mean)
KERNELS[nn.ReduceSumOp] = _reduce_with(np.sum)
KERNELS[nn.ReduceMaxOp] = _reduce_with(np.max, _lowest)
KERNELS[nn.ReduceMinOp] = _reduce_with(np.min, _highest)
KERNELS[nn.ReduceProdOp] = _reduce_with(np.prod)
KERNELS[nn.ReduceSumSquareOp] = _reduce_with(lambda x, axis, keepdims: np.sum(x * x, axis=axis, keepdims=keepdims))
KERNELS[nn.ReduceL2Op] = _reduce_with(lambda x, axis, keepdims: np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims)))


def _arg(fn):
    def run(op, args):
        (x,) = args
        axis = prop(op, "axis") % x.ndim
        if prop(op, "select_last_index"):
            idx = x.shape[axis] - 1 - fn(np.flip(x, axis), axis=axis)
        else:
            idx = fn(x, axis=axis)
        if prop(op, "keepdims"):
            idx = np.expand_dims(idx, axis)
        return (idx.astype(np.int64),)

    return run


KERNELS[nn.ArgMaxOp] = _arg(np.argmax)
KERNELS[nn.ArgMinOp] = _arg(np.argmin)


def pool_output_size(size: int, k: int, s: int, d: int, pb: int, pe: int, ceil_mode: bool) -> int:
    span = (k - 1) * d + 1
    num = size + pb + pe - span
    out = (-(-num // s) if ceil_mode else num // s) + 1
    if ceil_mode and (out - 1) * s >= size + pb:  # the last window may not start in the end padding
        out -= 1
    return out


def _pool(op, x, fill):
    kernel_ = prop(op, "kernel")
    strides, pads, dil = prop(op, "strides"), prop(op, "pads"), prop(op, "dilations")
    nd = len(kernel_)
    sp = x.shape[2:]
    outs = [pool_output_size(sp[i], kernel_[i], strides[i], dil[i], pads[i], pads[i + nd], prop(op, "ceil_mode")) for i in range(nd)]
    # extra end padding so ceil-mode windows fit; it never counts as data
    extra = [max(0, (outs[i] - 1) * strides[i] + (kernel_[i] - 1) * dil[i] + 1 - (sp[i] + pads[i] + pads[i + nd])) for i in range(nd)]
    pw = [(0, 0), (0, 0)] + [(pads[i], pads[i + nd] + extra[i]) for i in range(nd)]
    xp = np.pad(x, pw, constant_values=fill)
    win = windows(xp, kernel_, strides, dil)[(slice(None), slice(None)) + tuple(slice(0, o) for o in outs)]
    return win, pw, extra, outs


@kernel(nn.MaxPoolOp)
def _max_pool(op, args):
    (x,) = args
    win, *_ = _pool(op, x, _lowest(x.dtype))
    nd = len(prop(op, "kernel"))
    return _typed(op, win.max(axis=tuple(range(-nd, 0))))


@kernel(nn.AvgPoolOp)
def _avg_pool(op, args):
    (x,) = args
    nd = len(prop(op, "kernel"))
    win, pw, extra, outs = _pool(op, x, 0)
    axes = tuple(range(-nd, 0))
    total = win.sum(axis=axes)
    # how many cells of each window count: real cells, plus explicit pads if asked
    ones = np.ones((1, 1) + x.shape[2:], x.dtype)
    if prop(op, "count_include_pad"):
        ones = np.pad(ones, [(0, 0), (0, 0)] + [(a, b - e) for (a, b), e in zip(pw[2:], extra)], constant_values=1)
        ones = np.pad(ones, [(0, 0), (0, 0)] + [(0, e) for e in extra])
    else:
        ones = np.pad(ones, pw)
    cnt = windows(ones, prop(op, "kernel"), prop(op, "strides"), prop(op, "dilations"))
    cnt = cnt[(slice(None), slice(None)) + tuple(slice(0, o) for o in outs)].sum(axis=axes)
    if np.dtype(x.dtype).kind in "iu":  # fixed point: round_div(sum, count), exact
        total, cnt = total.astype(np.int64), cnt.astype(np.int64)
        return _typed(op, (2 * total + cnt) // (2 * cnt))
    return _typed(op, total / cnt)


# --- data movement -------------------------------------------------------------------


@kernel(nn.ReshapeOp)
def _reshape(op, args):
    return (args[0].reshape(out_shape(op)),)


@kernel(nn.TransposeOp)
def _transpose(op, args):
    return (np.transpose(args[0], prop(op, "perm")),)


@kernel(nn.BroadcastOp)
def _broadcast(op, args):
    return (np.broadcast_to(args[0], out_shape(op)),)


@kernel(nn.ConcatOp)
def _concat(op, args):
    return _typed(op, np.concatenate(args, axis=prop(op, "axis")))


@kernel(nn.SplitOp)
def _split(op, args):
    (x,) = args
    axis = prop(op, "axis")
    sizes = [r.type.get_shape()[axis] for r in op.results]
    return tuple(np.split(x, np.cumsum(sizes)[:-1], axis=axis))


@kernel(nn.SliceOp)
def _slice(op, args):
    (x,) = args
    sel = [slice(None)] * x.ndim
    for s, e, a, st in zip(prop(op, "starts"), prop(op, "ends"), prop(op, "axes"), prop(op, "steps")):
        sel[a] = slice_for(x.shape[a], s, e, st)
    return (x[tuple(sel)],)


@kernel(nn.GatherOp)
def _gather(op, args):
    x, idx = args
    axis = prop(op, "axis")
    n = x.shape[axis]
    bad = (idx < -n) | (idx >= n)
    if bad.any():  # ONNX leaves it undefined; every target refuses it the same way
        raise NsccError(
            f"gather index {int(idx[bad].flat[0])} is out of range for an axis of {n}", "token ids must be below the vocabulary size"
        )
    return (np.take(x, idx.astype(np.int64), axis=axis),)


@kernel(nn.GatherElementsOp)
def _gather_elements(op, args):
    x, idx = args
    axis = prop(op, "axis")
    idx = np.where(idx < 0, idx + x.shape[axis], idx)
    return (np.take_along_axis(x, idx.astype(np.int64), axis=axis),)


@kernel(nn.GatherNDOp)
def _gather_nd(op, args):
    x, idx = args
    b = prop(op, "batch_dims")
    idx = idx.astype(np.int64)
    m = idx.shape[-1]
    batch_shape = x.shape[:b]
    nb = int(np.prod(batch_shape)) if b else 1
    xb = x.reshape((nb,) + x.shape[b:])
    ib = idx.reshape((nb, -1, m))
    ib = np.where(ib < 0, ib + np.array(x.shape[b : b + m]), ib)
    batch = np.arange(nb)[:, None]
    y = xb[(batch,) + tuple(ib[..., j] for j in range(m))]
    return (y.reshape(out_shape(op)),)


@kernel(nn.TileOp)
def _tile(op, args):
    return (np.tile(args[0], prop(op, "repeats")),)


@kernel(nn.PadOp)
def _pad(op, args):
    (x,) = args
    pads = prop(op, "pads")
    r = x.ndim
    width = [(pads[i], pads[i + r]) for i in range(r)]
    mode = prop(op, "mode")
    if mode == "constant":
        return _typed(op, np.pad(x, width, constant_values=np.asarray(prop(op, "value")).astype(x.dtype)))
    return (np.pad(x, width, mode={"reflect": "reflect", "edge": "edge", "wrap": "wrap"}[mode]),)


@kernel(nn.RangeOp)
def _range(op, args):
    start, limit, delta = (a.item() for a in args)
    n = out_shape(op)[0]
    return _typed(op, start + delta * np.arange(n))


def range_length(start, limit, delta) -> int:
    return max(int(math.ceil((limit - start) / delta)), 0)
