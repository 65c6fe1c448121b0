"""numpy kernels for the `snn` dialect, exactly as docs/semantics.md states them.

Integer results are exact. Matrix products of integers run through float64
BLAS only when the op's static bound proves every partial sum is an integer
below 2^53 (so float64 represents it exactly); otherwise through int64.
"""

from __future__ import annotations

import math

import numpy as np
from xdsl.ir import Operation

from nscc.ir import snn
from nscc.ir.types import np_dtype
from nscc.targets.interpreter.nn_kernels import conv_nd, prop

SNN_KERNELS: dict = {}
EXACT_F64 = 1 << 53


def kernel(op_type):
    def reg(fn):
        SNN_KERNELS[op_type] = fn
        return fn

    return reg


def _int_matmul(a: np.ndarray, b: np.ndarray, bound: int) -> np.ndarray:
    """a @ b over integers, exact; `bound` is a proven bound on every |partial sum|."""
    if bound < EXACT_F64:
        return np.rint(np.matmul(a.astype(np.float64), b.astype(np.float64))).astype(np.int64)
    return np.matmul(a.astype(np.int64), b.astype(np.int64))


def _max_abs(t) -> int:
    if isinstance(t, snn.CountsType):
        return t.levels.data
    if isinstance(t, snn.SpikesType):
        return 1
    et = t.element_type
    return 1 << (et.width.data - 1)


def _channel(v: np.ndarray, axis: int, ndim: int) -> np.ndarray:
    """A per-channel vector shaped to broadcast along `axis` of an ndim array."""
    if v.ndim == 0:
        return v
    shape = [1] * ndim
    shape[axis % ndim] = -1
    return v.reshape(shape)


@kernel(snn.EncodeOp)
def _encode(op, args):
    x, theta = args
    t: snn.CountsType = op.res.type
    q = np.divide(x.astype(np.float32), theta.astype(np.float32))
    q = np.nan_to_num(q, nan=0.0, posinf=t.hi, neginf=t.lo)
    n = np.clip(np.rint(q), t.lo, t.hi)
    return (n.astype(np_dtype(t)),)


@kernel(snn.ExpandOp)
def _expand(op, args):
    (n,) = args
    st: snn.SpikesType = op.res.type
    mag, sign = np.abs(n.astype(np.int32)), np.sign(n).astype(np.int8)
    slots = np.arange(st.slots).reshape((-1,) + (1,) * n.ndim)
    if st.coding.data == "thermometer":
        fired = mag[None] >= slots + 1
    else:  # bitplane
        fired = ((mag[None] >> slots) & 1).astype(bool)
    return ((fired * sign[None]).astype(np.int8),)


def _weighted_slots(op_input_type, x: np.ndarray):
    """Yields (slot weight, 2-D-contractable array) for counts or binary trains."""
    if isinstance(op_input_type, snn.SpikesType):
        for w, s in zip(op_input_type.slot_weights(), x):
            yield w, s
    else:
        yield 1, x


@kernel(snn.SynapseOp)
def _synapse(op, args):
    x, w = args
    it = op.input.type
    k = w.shape[0]
    bound = k * _max_abs(it) * _max_abs(op.weight.type)
    acc = None
    for weight, s in _weighted_slots(it, x):
        part = _int_matmul(s, w, bound)
        acc = part * weight if acc is None else acc + part * weight
    return (acc.astype(np_dtype(op.res.type)),)


@kernel(snn.ConvSynapseOp)
def _conv_synapse(op, args):
    x, w = args
    it = op.input.type
    bound = math.prod(w.shape[1:]) * _max_abs(it) * _max_abs(op.weight.type)
    assert bound < EXACT_F64, "conv_synapse bound exceeds exact float64 range"
    acc = None
    wf = w.astype(np.float64)
    for weight, s in _weighted_slots(it, x):
        part = conv_nd(s.astype(np.float64), wf, prop(op, "strides"), prop(op, "pads"), prop(op, "dilations"), prop(op, "group"))
        part = np.rint(part).astype(np.int64)
        acc = part * weight if acc is None else acc + part * weight
    return (acc.astype(np_dtype(op.res.type)),)


@kernel(snn.DecodeOp)
def _decode(op, args):
    acc, scale = args[0], args[1]
    axis = prop(op, "axis")
    y = acc.astype(np.float32) * _channel(scale.astype(np.float32), axis, acc.ndim)
    if len(args) > 2:
        y = y + _channel(args[2].astype(np.float32), axis, acc.ndim)
    return (y.astype(np.float32),)


@kernel(snn.RequantOp)
def _requant(op, args):
    acc, mult = args[0].astype(np.int64), args[1].astype(np.int64)
    axis, shift = prop(op, "axis"), prop(op, "shift")
    t: snn.CountsType = op.res.type
    if len(args) > 2:
        acc = acc + _channel(args[2].astype(np.int64), axis, acc.ndim)
    y = acc * _channel(mult, axis, acc.ndim)
    if shift:
        y = (y + (1 << (shift - 1))) >> shift
    return (np.clip(y, t.lo, t.hi).astype(np_dtype(t)),)


@kernel(snn.NeuronOp)
def _neuron(op, args):
    (current,) = args
    theta, leak = prop(op, "threshold"), prop(op, "leak_shift")
    signed = bool(op.res.type.signed.data)
    v = np.zeros(current.shape[1:], np.int64)
    out = np.zeros(current.shape, np.int8)
    for t in range(current.shape[0]):  # time is sequential; neurons are vectorized
        if leak:
            v = v - (v >> leak)
        v = v + current[t]
        s = (v >= theta).astype(np.int8)
        if signed:
            s = s - (v <= -theta).astype(np.int8)
        v = v - s.astype(np.int64) * theta
        out[t] = s
    return (out,)


def _la_scan(q, k, v, s, state, norm):
    """Sequential form: exact for every decay; returns (num, den, state, norm)."""
    q64, k64, v64 = (a.astype(np.int64) for a in (q, k, v))
    n = q.shape[-2]
    num = np.zeros(v.shape, np.int64)
    den = np.zeros(v.shape[:-1], np.int64)
    for t in range(n):  # tokens are sequential; heads and features are vectorized
        if s:
            state = state - (state >> s)
            norm = norm - (norm >> s)
        kt, vt, qt = k64[..., t, :], v64[..., t, :], q64[..., t, :]
        state = state + kt[..., :, None] * vt[..., None, :]
        norm = norm + kt
        num[..., t, :] = np.einsum("...k,...kv->...v", qt, state)
        den[..., t] = np.einsum("...k,...k->...", qt, norm)
    return num, den, state, norm


@kernel(snn.LinearAttentionOp)
def _linear_attention(op, args):
    q, k, v = args
    s = prop(op, "decay_shift")
    n, dk = q.shape[-2], q.shape[-1]
    bound = n * dk * _max_abs(op.q.type) * _max_abs(op.k.type) * _max_abs(op.v.type)
    if s == 0 and bound < EXACT_F64:
        # Without decay the recurrence is a masked product: same integers, vectorized.
        scores = _int_matmul(q, np.swapaxes(k, -1, -2), bound)
        scores = np.tril(scores)
        num = _int_matmul(scores, v, bound)
        den = scores.sum(axis=-1)
    else:
        zeros_s = np.zeros(q.shape[:-2] + (dk, v.shape[-1]), np.int64)
        num, den, _, _ = _la_scan(q, k, v, s, zeros_s, np.zeros(q.shape[:-2] + (dk,), np.int64))
    return (num.astype(np_dtype(op.num.type)), den.astype(np_dtype(op.den.type)))


@kernel(snn.LinearAttentionStepOp)
def _linear_attention_step(op, args):
    q, k, v, state, norm = args
    s = prop(op, "decay_shift")
    num, den, state, norm = _la_scan(q, k, v, s, state.astype(np.int64), norm.astype(np.int64))
    return (
        num.astype(np_dtype(op.num.type)),
        den.astype(np_dtype(op.den.type)),
        state.astype(np_dtype(op.new_state.type)),
        norm.astype(np_dtype(op.new_norm.type)),
    )


def run_snn(op: Operation, *args):
    """Runs one snn op on numpy values (for tests and passes)."""
    return SNN_KERNELS[type(op)](op, args)
