"""Fixed point: integer multipliers with a shift, and real values as int32 at 2^-F."""

from __future__ import annotations

import numpy as np

from nscc.errors import NsccError

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


def fixed_point(ratio: np.ndarray, max_bits: int) -> tuple[np.ndarray, int]:
    """Integer multipliers M and one shift k with M / 2^k ~ ratio, M < 2^max_bits."""
    top = float(np.max(np.abs(ratio)))
    if top <= 0:
        return np.zeros_like(ratio, np.int64), 0
    k = max_bits - 1 - int(np.floor(np.log2(top)))
    k = int(np.clip(k, 0, 62))
    m = np.rint(ratio * 2.0**k).astype(np.int64)
    if np.max(np.abs(m)) >= 2**max_bits:
        raise NsccError(
            "requant-fusion: a requantization multiplier does not fit", "the layer scales differ too widely; lower multiplier-bits"
        )
    return m, k


def saturate_i32(values: np.ndarray) -> np.ndarray:
    """Rounded values clipped into int32."""
    return np.clip(values, INT32_MIN, INT32_MAX).astype(np.int32)


# Elements converted at a time: float64 temporaries of a whole embedding table were the
# conversion's peak memory on an LLM (five 226 MB copies for SmolLM2's).
_CHUNK = 1 << 20


def to_fixed(values: np.ndarray, frac_bits: int) -> np.ndarray:
    """Real values as int32 fixed point with `frac_bits` fraction bits (round to nearest even, saturating)."""
    a = np.asarray(values)
    out = np.empty(a.shape, np.int32)
    flat, dst = a.reshape(-1), out.reshape(-1)
    for start in range(0, flat.size, _CHUNK):
        part = flat[start : start + _CHUNK].astype(np.float64)
        part *= 2.0**frac_bits
        np.rint(part, out=part)
        np.clip(part, INT32_MIN, INT32_MAX, out=part)
        dst[start : start + _CHUNK] = part
    return out


def per_channel(theta: np.ndarray, axis: int, channels: int, x_shape) -> np.ndarray | None:
    """theta as one value per channel on `axis`, or None if it varies along another axis."""
    t = np.asarray(theta, np.float64)
    if t.size == 1:
        return np.full(channels, float(t.reshape(-1)[0]))
    full = np.broadcast_to(t, tuple(x_shape)) if t.ndim <= len(x_shape) else None
    if full is None:
        return None
    moved = np.moveaxis(full, axis, -1).reshape(-1, channels)
    if not np.all(moved == moved[0]):
        return None
    return moved[0]
