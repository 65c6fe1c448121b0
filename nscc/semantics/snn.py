"""numpy kernels for the `snn` dialect, exactly as docs/semantics.md states them.

Integer results are exact. Matrix products of integers run through float64
BLAS only when the op's static bound proves every partial sum is an integer
below 2^53 (so float64 represents it exactly); otherwise through int64.
"""

from __future__ import annotations

import math
import weakref

import numpy as np

from nscc.errors import NsccError
from nscc.ir import snn
from nscc.ir.types import np_dtype
from nscc.optable import OpTable
from nscc.semantics import fixed
from nscc.semantics.nn import conv_nd, hadamard_sum, prop, window_attention_parts

SNN_KERNELS = OpTable()
EXACT_F64 = 1 << 53


kernel = SNN_KERNELS  # @kernel(snn.EncodeOp) registers a kernel


EXACT_F32 = 1 << 24
_converted: dict[int, tuple] = {}


_CACHE_ELEMENTS = 1 << 16  # larger weights are converted per use: float copies of a 135M model are 540 MB


def _as(w: np.ndarray, dtype) -> np.ndarray:
    """`w` in `dtype`, converted once per stored weight (weights are immutable); weights
    above `_CACHE_ELEMENTS` are converted per use, which costs little beside the product."""
    if w.flags.writeable or w.dtype == dtype or w.size > _CACHE_ELEMENTS:  # no caching
        return w.astype(dtype, copy=False)
    key = (id(w), np.dtype(dtype).str)
    hit = _converted.get(key)
    if hit is not None and hit[0]() is w:
        return hit[1]
    out = w.astype(dtype)
    _converted[key] = (weakref.ref(w), out)
    return out


def _int_matmul(a: np.ndarray, b: np.ndarray, bound: int) -> np.ndarray:
    """a @ b over integers, exact; `bound` is a proven bound on every |partial sum|.

    BLAS in float32 (or float64) represents every partial sum exactly below
    2^24 (2^53), so the result is the exact integer product."""
    if bound < EXACT_F32:
        return np.matmul(a.astype(np.float32), _as(b, np.float32)).astype(np.int64)
    if bound < EXACT_F64:
        return np.matmul(a.astype(np.float64), _as(b, np.float64)).astype(np.int64)
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


def group_weighted(w: np.ndarray, m: np.ndarray) -> np.ndarray:
    """W[k, j] * m[group of k, j]: summing groups apart and weighting each by its
    multiplier equals one sum over these integer weights (distributivity)."""
    key = (id(w), id(m), "grouped")
    hit = _converted.get(key)
    if hit is not None and hit[0]() is w:
        return hit[1]
    out = (w.reshape(len(m), -1, w.shape[1]).astype(np.int32) * m[:, None, :].astype(np.int32)).reshape(w.shape)
    if not w.flags.writeable:
        _converted[key] = (weakref.ref(w), out)
    return out


@kernel(snn.SynapseOp)
def _synapse(op, args):
    x, w = args[:2]
    it = op.input.type
    k = w.shape[0]
    bound = k * _max_abs(it) * _max_abs(op.weight.type)
    if len(args) > 2:
        w = group_weighted(w, args[2])
        bound *= 127
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
    t = op.res.type
    if len(args) > 2:
        acc = (acc << (prop(op, "bias_frac") or 0)) + _channel(args[2].astype(np.int64), axis, acc.ndim)
    y = acc * _channel(mult, axis, acc.ndim)
    y = _round_shift(y, shift)
    if isinstance(t, snn.CountsType):
        return (np.clip(y, t.lo, t.hi).astype(np_dtype(t)),)
    return (_saturate(y, np_dtype(t)),)


# --- fixed point ----------------------------------------------------------------

I32 = np.iinfo(np.int32)


def _round_shift(a: np.ndarray, k: int) -> np.ndarray:
    """(a + 2^(k-1)) >> k: division by 2^k rounding half up (arithmetic shift)."""
    return (a + (1 << (k - 1))) >> k if k > 0 else a


def _round_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """floor((2a + b) / 2b) for b > 0: division rounding half up."""
    return (2 * a + b) // (2 * b)


def _saturate(a: np.ndarray, dtype=np.int32) -> np.ndarray:
    info = np.iinfo(dtype)
    return np.clip(a, info.min, info.max).astype(dtype)


def isqrt(n: np.ndarray) -> np.ndarray:
    """Exact floor square root of non-negative int64 values below 2^62."""
    s = np.floor(np.sqrt(n.astype(np.float64))).astype(np.int64)
    for _ in range(2):  # float64 is off by at most one here; two corrections settle it
        s = np.where(s * s > n, s - 1, s)
        s = np.where((s + 1) * (s + 1) <= n, s + 1, s)
    return s


@kernel(snn.FixedEncodeOp)
def _fixed_encode(op, args):
    f = prop(op, "frac_bits")
    v = np.rint(args[0].astype(np.float64) * float(1 << f))
    return (_saturate(np.nan_to_num(v, nan=0.0, posinf=I32.max, neginf=I32.min)),)


@kernel(snn.FixedDecodeOp)
def _fixed_decode(op, args):
    f = prop(op, "frac_bits")
    return ((args[0].astype(np.float64) * 2.0**-f).astype(np.float32),)


@kernel(snn.FixedAddOp)
def _fixed_add(op, args):
    return (_saturate(args[0].astype(np.int64) + args[1].astype(np.int64)),)


@kernel(snn.FixedDivOp)
def _fixed_div(op, args):
    a, b = np.broadcast_arrays(args[0].astype(np.int64), args[1].astype(np.int64))
    pos = b > 0
    q = _round_div(a << prop(op, "frac_bits"), np.where(pos, b, 1))
    return (_saturate(np.where(pos, q, 0)),)


def _normalized(op, x: np.ndarray, center: bool) -> np.ndarray:
    """Steps 1-4 of snn.fixed_layer_norm (centred) and snn.fixed_rms_norm (not): y at F bits."""
    f, axis = prop(op, "frac_bits"), prop(op, "axis") % x.ndim
    axes = tuple(range(axis, x.ndim))
    n = np.int64(np.prod([x.shape[a] for a in axes]))
    d = x - _round_div(x.sum(axis=axes, keepdims=True), n) if center else x
    r = prop(op, "var_shift")
    e = _round_shift(d, r)
    var = _round_div((e * e).sum(axis=axes, keepdims=True), n) + prop(op, "epsilon")
    sigma = np.maximum(isqrt(var), 1)
    return _round_div(d << (f - r), sigma)  # (F + F - r) - (F - r) = F fraction bits


@kernel(snn.FixedLayerNormOp)
def _fixed_layer_norm(op, args):
    x, gamma, beta = (a.astype(np.int64) for a in args)
    return (_saturate(_round_shift(_normalized(op, x, True) * gamma, fixed.GAMMA_BITS) + beta),)


@kernel(snn.FixedRmsNormOp)
def _fixed_rms_norm(op, args):
    x, gamma = (a.astype(np.int64) for a in args)
    return (_saturate(_round_shift(_normalized(op, x, False) * gamma, fixed.GAMMA_BITS)),)


@kernel(snn.FixedHadamardOp)
def _fixed_hadamard(op, args):
    x, a, b = (v.astype(np.int64) for v in args)
    if np.abs(a).max(initial=0) > 1 or np.abs(b).max(initial=0) > 1:
        raise NsccError("snn.fixed_hadamard: the factors must hold -1, 0 and 1", "they come from the online-hadamard pass")
    return (_saturate(_round_shift(hadamard_sum(x, a, b) * prop(op, "multiplier"), prop(op, "shift"))),)


@kernel(snn.FixedMulOp)
def _fixed_mul(op, args):
    a, b = (v.astype(np.int64) for v in args)
    return (_saturate(_round_shift(a * b, prop(op, "frac_bits"))),)


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


def _per_neuron(param: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A scalar or one value per neuron, as int64 of the neurons' shape."""
    p = param.astype(np.int64).reshape(-1)
    return np.broadcast_to(p if p.size > 1 else p[0], (math.prod(shape),)).reshape(shape)


def _decay(v: np.ndarray, a: np.ndarray) -> np.ndarray:
    return _round_shift(v * a, snn.DECAY_BITS)


def _fire(current: np.ndarray, decay, threshold, reset, weight: np.ndarray | None = None) -> np.ndarray:
    """snn.lif over [T, *S], and with `weight` snn.recurrent_lif: last step's spikes add their rows."""
    shape = current.shape[1:]
    a, theta, r = (_per_neuron(p, shape) for p in (decay, threshold, reset))
    w = None if weight is None else weight.astype(np.int64)
    v = np.zeros(shape, np.int64)
    s = np.zeros(shape, np.bool_)
    out = np.zeros(current.shape, np.int8)
    for t in range(current.shape[0]):  # time is sequential; neurons are vectorized
        v = _decay(v, a) + current[t] + (0 if w is None else w[s].sum(axis=0))
        s = v > theta
        v = np.where(s, r, v)
        out[t] = s
    return out


@kernel(snn.LifOp)
def _lif(op, args):
    return (_fire(*args),)


@kernel(snn.RecurrentLifOp)
def _recurrent_lif(op, args):
    current, weight, *params = args
    return (_fire(current, *params, weight=weight),)


@kernel(snn.LeakyIntegrateOp)
def _leaky_integrate(op, args):
    current, decay = args
    a = _per_neuron(decay, current.shape[1:])
    v = np.zeros(current.shape[1:], np.int64)
    out = np.zeros(current.shape, np.int32)
    for t in range(current.shape[0]):
        v = _decay(v, a) + current[t]
        out[t] = np.clip(v, -(2**31), 2**31 - 1)
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
    q, k, v = args[:3]
    s = prop(op, "decay_shift")
    n, dk = q.shape[-2], q.shape[-1]
    bound = n * dk * _max_abs(op.q.type) * _max_abs(op.k.type) * _max_abs(op.v.type)
    if len(args) > 3 or op.bidirectional is not None:
        if bound >= EXACT_F64:
            raise NsccError("snn.linear_attention: the sums may exceed 2^53", "fewer positions or levels")
        visible = np.ones((n, k.shape[-2]), bool)
        if op.bidirectional is None:
            visible = np.tril(visible)
        if len(args) > 3:
            visible = visible & (args[3].astype(np.int64) > -(fixed.SOFTMAX_MIN << prop(op, "frac_bits")))
        scores = np.where(visible, _int_matmul(q, np.swapaxes(k, -1, -2), bound), 0)
        num = _int_matmul(scores, v, bound)
        den = scores.sum(axis=-1)
    elif s == 0 and bound < EXACT_F64:
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


def _exp(t: np.ndarray, f: int) -> np.ndarray:
    """e^t at f fraction bits for t <= 0 (at f bits): base 2, integer part a shift, fraction a quadratic."""
    t = np.maximum(t, -(fixed.SOFTMAX_MIN << f))
    log2e, c1, c2 = fixed.softmax_constants(f)
    u = _round_shift(t * log2e, fixed.LOG2E_BITS)  # t * log2(e), <= 0
    z = (-u) >> f
    fr = (-u) & ((1 << f) - 1)
    p = (1 << f) - _round_shift(fr * c1, f) + _round_shift(_round_shift(fr * fr, f) * c2, f)
    return p >> np.minimum(z, 62)


@kernel(snn.FixedSoftmaxOp)
def _fixed_softmax(op, args):
    x = args[0].astype(np.int64)
    f, axis = prop(op, "frac_bits"), prop(op, "axis")
    e = _exp(x - x.max(axis=axis, keepdims=True), f)
    total = e.sum(axis=axis, keepdims=True)
    return (_saturate(_round_div(e << f, np.maximum(total, 1))),)


@kernel(snn.FeatureMapOp)
def _feature_map(op, args):
    x, w, mult = args
    f, levels, div = prop(op, "frac_bits"), op.res.type.levels.data, prop(op, "divisor")
    bound = x.shape[-1] * _max_abs(op.input.type) * _max_abs(op.weight.type)
    a = _int_matmul(x.astype(np.int64), w.astype(np.int64), bound)  # [..., H, S, d] @ [H, d, f]
    t = _round_shift(a * mult.astype(np.int64)[:, None, None], prop(op, "shift"))
    out = []
    for z in (t, -t):
        e = _exp(z - z.max(axis=-1, keepdims=True), f)
        p = _saturate(_round_div(e << f, np.maximum(e.sum(axis=-1, keepdims=True), 1))).astype(np.int64)
        out.append(np.minimum(_round_div(p, np.int64(div)), levels))
    return (np.concatenate(out, axis=-1).astype(np_dtype(op.res.type)),)


HIDDEN = -(1 << 30)  # an additive mask entry at or below this hides the key


def _attend(op, q, k, v, visible: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """snn.attention's arithmetic (docs/semantics.md) on q [..., H, S, dk] and keys and values
    [..., KVH, T, d]; `visible` [..., S, T] says which keys each query may see."""
    f = prop(op, "frac_bits")
    g = q.shape[-3] // k.shape[-3]
    k, v = np.repeat(k, g, axis=-3), np.repeat(v, g, axis=-3)
    dk = q.shape[-1]
    s = _int_matmul(q, np.swapaxes(k, -1, -2), dk * _max_abs(op.q.type) * _max_abs(op.k.type))
    t = _round_shift(s * prop(op, "multiplier"), prop(op, "shift"))
    if mask is not None:
        mask = mask.astype(np.int64)
        visible = visible & (mask > HIDDEN)
        t = t + mask
    visible = np.broadcast_to(visible, t.shape)
    m = np.where(visible, t, np.iinfo(np.int64).min).max(axis=-1, keepdims=True)
    e = np.where(visible, _exp(np.where(visible, t - m, 0), f), 0)
    total = e.sum(axis=-1, keepdims=True)
    p = np.where(total > 0, _saturate(_round_div(e << f, np.maximum(total, 1))), 0)
    return _int_matmul(p, v, k.shape[-2] * (1 << f) * _max_abs(op.v.type))


@kernel(snn.AttentionOp)
def _attention(op, args):
    q, k, v = args[:3]
    n, t = q.shape[-2], k.shape[-2]
    visible = np.ones((n, t), bool)
    if op.causal is not None:
        visible = np.tril(visible)
    return (_attend(op, q, k, v, visible, args[3] if len(args) > 3 else None),)


@kernel(snn.AttentionStepOp)
def _attention_step(op, args):
    q, k, v, kc, vc, pos = args
    p = int(pos.reshape(-1)[0])
    n = kc.shape[-2]
    if not 0 <= p < n:
        raise NsccError(f"snn.attention_step: position {p} is outside the cache of {n} positions", "decode at most N tokens")
    kc, vc = kc.copy(), vc.copy()
    kc[..., p, :], vc[..., p, :] = k[..., 0, :], v[..., 0, :]
    visible = (np.arange(n) <= p)[None, :]
    return (_attend(op, q, kc, vc, visible, None), kc, vc)


@kernel(snn.WindowAttentionOp)
def _window_attention(op, args):
    q, k, v, pq, pk, r = (a.astype(np.int64) for a in args)
    g = q.shape[-3] // k.shape[-3]
    k, v, pk = (np.repeat(x, g, axis=-3) for x in (k, v, pk))
    n, m = q.shape[-2], k.shape[-2]
    near, far = window_attention_parts(n, m, prop(op, "window"), prop(op, "sinks"))
    bound = pq.shape[-1] * _max_abs(op.pq.type) * _max_abs(op.pk.type)
    lin = np.where(far, _int_matmul(pq, np.swapaxes(pk, -1, -2), bound), 0)
    far_num = _int_matmul(lin, v, m * bound * _max_abs(op.v.type))
    return (_window_mix(op, q, k, v, near, far_num, lin.sum(axis=-1), r, m * bound),)


def _window_mix(op, q, k, v, near, far_num, far_den, r, far_bound: int) -> np.ndarray:
    """snn.window_attention's output from its near keys (k, v with q's heads) and its far
    sums (far_den bounded by far_bound): the arithmetic both the op and its step share."""
    f, fs = prop(op, "frac_bits"), prop(op, "factor_shift")
    rmax = max(int(np.abs(r).max()) if r.size else 0, 1)
    if far_bound * (_max_abs(op.v.type) + 1) * rmax >= 1 << 62:
        raise NsccError(f"{op.name}: the far sums times the factor may exceed 2^62", "fewer positions or levels")
    t = _int_matmul(q, np.swapaxes(k, -1, -2), q.shape[-1] * _max_abs(op.q.type) * _max_abs(op.k.type))
    t = _round_shift(t * prop(op, "multiplier"), prop(op, "shift"))
    top = np.where(near, t, np.iinfo(np.int64).min).max(axis=-1, keepdims=True)
    e = np.where(near, _exp(np.where(near, t - top, 0), f), 0)
    rh = r.reshape(-1, 1, 1)
    num = _int_matmul(e, v, k.shape[-2] * (1 << f) * _max_abs(op.v.type)) + _round_shift(rh * far_num, fs)
    den = e.sum(axis=-1) + _round_shift(rh[..., 0] * far_den, fs)
    return _round_div(num << f, np.maximum(den, 1)[..., None])


@kernel(snn.WindowAttentionStepOp)
def _window_attention_step(op, args):
    q, k, v, pq, pk, r, kc, vc, pc, state, norm, pos = args
    p = int(pos.reshape(-1)[0])
    window, sinks = prop(op, "window"), prop(op, "sinks")
    kc, vc, pc = kc.copy(), vc.copy(), pc.copy()
    state, norm = state.astype(np.int64), norm.astype(np.int64)
    g = q.shape[-3] // k.shape[-3]
    old = p - window
    if old >= sinks:  # the key leaving the window joins the far sums of its key-value head
        slot = sinks + old % window
        pk_old = pc[..., slot, :].astype(np.int64)
        state = state + pk_old[..., :, None] * vc[..., slot, :].astype(np.int64)[..., None, :]
        norm = norm + pk_old
    slot = p if p < sinks else sinks + p % window
    kc[..., slot, :], vc[..., slot, :], pc[..., slot, :] = k[..., 0, :], v[..., 0, :], pk[..., 0, :]
    near = [j if j < sinks else sinks + j % window for j in range(min(sinks, p + 1))]
    near += [sinks + j % window for j in range(max(sinks, p - window + 1), p + 1)]
    keys, values = (np.repeat(c[..., near, :].astype(np.int64), g, axis=-3) for c in (kc, vc))
    pq64 = pq.astype(np.int64)
    far_num = np.einsum("...sf,...fd->...sd", pq64, np.repeat(state, g, axis=-3))
    far_den = np.einsum("...sf,...f->...s", pq64, np.repeat(norm, g, axis=-2))
    bound = (p + 1) * pq.shape[-1] * _max_abs(op.pq.type) * _max_abs(op.pk.type)
    out = _window_mix(op, q.astype(np.int64), keys, values, np.ones((1, len(near)), bool), far_num, far_den, r.astype(np.int64), bound)
    return (out, kc, vc, pc, state.astype(np_dtype(op.new_state.type)), norm.astype(np_dtype(op.new_norm.type)))


@kernel(snn.FixedSiluOp)
def _fixed_silu(op, args):
    x = args[0].astype(np.int64)
    f = prop(op, "frac_bits")
    xs = _round_shift(x * prop(op, "alpha"), fixed.ALPHA_BITS)
    s = _round_div(np.int64(1) << (2 * f), (1 << f) + _exp(-np.abs(xs), f))  # sigmoid(|xs|)
    sig = np.where(xs >= 0, s, (1 << f) - s)
    return (_saturate(_round_shift(x * sig, f)),)


@kernel(snn.FixedGeluOp)
def _fixed_gelu(op, args):
    x = args[0].astype(np.int64)
    f = prop(op, "frac_bits")
    inv_sqrt2, b, a = fixed.gelu_constants(f)
    xs = _round_shift(x * inv_sqrt2, fixed.INV_SQRT2_BITS)  # x / sqrt(2)
    w = np.minimum(np.abs(xs), b) - b
    erf = _round_shift(_round_shift(w * w, f) * a, f) + (1 << f)
    erf = np.sign(xs) * erf
    return (_saturate(_round_shift(x * ((1 << f) + erf), f + 1)),)
