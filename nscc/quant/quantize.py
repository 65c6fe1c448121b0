"""Integer weight quantizers: ternary (1.58-bit) and 2..16-bit, per output channel or per group.

A weight matrix w [K, N] (input rows, output columns) becomes integers q and
one float scale per column, w ~ q * s. At b bits q takes the whole two's
complement range [-2^(b-1), 2^(b-1) - 1]; "1.58 bits" is ternary, q in
{-1, 0, 1} (BitNet b1.58), stored as i2.

Per group (`group` input rows share a scale), the group scales are integer
multiples m[g, j] in [1, 127] of the column scale, so the synaptic sum stays
one integer per column: acc_j = sum_g m[g, j] * sum_{k in g} n_k q[k, j]
(`snn.synapse` with a group-scale operand, docs/semantics.md).

Below 8 bits the clipping value is searched per column (or group) for the
least squared error, weighted by the input's mean square when the caller
knows it (the diagonal of the calibration Gram matrix, as AWQ/OWQ weight
columns by activation size); at 8 bits and above the absolute maximum is used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nscc.arrays import column_blocks

TERNARY = 1.58
GROUP_SCALE_MAX = 127
_SEARCH_ROWS = 256  # rows sampled for the clip search; the quantization itself uses all


def valid_width(bits: float) -> bool:
    return bits == TERNARY or (float(bits).is_integer() and 2 <= bits <= 16)


def storage_bits(bits: float) -> int:
    """Bits of the integer type that holds the weight (ternary: i2)."""
    return 2 if bits == TERNARY else int(bits)


def stored_bits(bits: float) -> float:
    """Bits per weight in the packed weight file: ternary packs five to a byte."""
    return 1.6 if bits == TERNARY else float(bits)


def q_range(bits: float) -> tuple[int, int]:
    if bits == TERNARY:
        return -1, 1
    b = int(bits)
    return -(1 << (b - 1)), (1 << (b - 1)) - 1


@dataclass
class Quantized:
    q: np.ndarray  # [K, N] integers (int8 up to 8 bits, else int16/int32)
    scale: np.ndarray  # [N] float32
    group_scale: np.ndarray | None = None  # [K / group, N] int8 in [1, 127]
    bits: float = 8

    def left_product(self, v: np.ndarray) -> np.ndarray:
        """v @ dequantize() for v [K] (float64), a block of columns at a time: an LM
        head's float copy alone is hundreds of megabytes."""
        out = np.empty(self.q.shape[1], np.float64)
        for b in column_blocks(self.q.shape[1]):
            w = self.q[:, b].astype(np.float64)
            if self.group_scale is not None:
                g = len(self.q) // len(self.group_scale)
                w *= np.repeat(self.group_scale[:, b].astype(np.float64), g, axis=0)
            out[b] = (v @ w) * self.scale[b]
        return out

    def dequantize(self) -> np.ndarray:
        w = self.q.astype(np.float32)
        if self.group_scale is not None:
            g = len(self.q) // len(self.group_scale)
            w = w * np.repeat(self.group_scale.astype(np.float32), g, axis=0)
        return w * self.scale


def _int_dtype(bits: float):
    b = storage_bits(bits)
    return np.int8 if b <= 8 else np.int16 if b <= 16 else np.int32


def _clip_scale(w: np.ndarray, bits: float, importance: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """Per-column scale of least (importance-weighted) squared error; w is [K, N]."""
    lo, hi = q_range(bits)
    top = np.concatenate([np.abs(w[:, b]).max(axis=0) for b in column_blocks(w.shape[1])])
    if storage_bits(bits) >= 8:
        return top / hi
    rows = rng.choice(len(w), _SEARCH_ROWS, replace=False) if len(w) > _SEARCH_ROWS else slice(None)
    imp = None if importance is None else importance[rows][:, None]
    best = None
    for blk in column_blocks(w.shape[1]):  # an LM head's search is 20 passes over it
        ws, tb = w[rows, blk], top[blk]
        best_err = bj = None
        for frac in np.geomspace(0.08, 1.0, 20):
            sc = np.maximum(tb * frac, 1e-30) / hi
            e = (ws - np.clip(np.rint(ws / sc), lo, hi) * sc) ** 2
            err = (e if imp is None else e * imp).sum(axis=0)
            if bj is None:
                best_err, bj = err, sc
            else:
                better = err < best_err
                bj, best_err = np.where(better, sc, bj), np.where(better, err, best_err)
        best = np.empty(w.shape[1], bj.dtype) if best is None else best
        best[blk] = bj
    return best


def trained_grid(w: np.ndarray, lo: int, hi: int) -> np.ndarray | None:
    """Per column, a step s with every weight an integer multiple k s, k in [lo, hi], when there
    is one: weights a model was trained to quantize (QONNX, QuantizeLinear) keep their integers
    exactly, with no search. The steps tried are the tensor's smallest nonzero |w| (one scale
    a tensor) and each column's (one a channel); a quotient within float32's error of an
    integer counts as that integer. Checked a block of columns at a time, stopping at the
    first block off the grid: a pretrained LM head is refused in its first block, with no
    temporaries of its size (they were a conversion's peak memory)."""
    n = w.shape[1]
    blocks = column_blocks(n)
    col_min = np.empty(n, np.float32)
    for b in blocks:
        a = np.abs(w[:, b])
        col_min[b] = np.where(a > 0, a, np.inf).min(axis=0)
    if not np.isfinite(col_min).any():
        return None
    for step in (np.full(n, col_min.min()), col_min):
        step = np.where(np.isfinite(step), step, 1.0).astype(np.float32)
        if all(_on_grid(w[:, b] / step[b], lo, hi) for b in blocks):
            return step
    return None


def _on_grid(k: np.ndarray, lo: int, hi: int) -> bool:
    r = np.rint(k)
    return bool(np.all(np.abs(k - r) <= 1e-4) and r.min() >= lo and r.max() <= hi)


def quantize(
    w: np.ndarray,
    bits: float,
    group: int = 0,
    importance: np.ndarray | None = None,
    seed: int = 0,
    gram: "np.ndarray | Hessian | None" = None,
) -> Quantized:
    """Quantizes w [K, N] per output column (group=0) or per `group` input rows.

    With the inputs' second moment `gram` [K, K], below 8 bits and per column,
    the integers come from GPTQ's rounding with error feedback (`obs_round`)
    instead of each to its nearest: the layer's output, not each weight, is
    kept close."""
    if not valid_width(bits):
        raise ValueError(f"weight width {bits}: use 1.58 (ternary) or an integer in [2, 16]")
    w = np.asarray(w, np.float32)
    rng = np.random.default_rng(seed)
    lo, hi = q_range(bits)
    k, n = w.shape
    if group and group < k:
        if k % group:
            raise ValueError(f"group size {group} does not divide the {k} input rows")
        gw = w.reshape(k // group, group, n)
        gs = _clip_scale(gw.transpose(1, 0, 2).reshape(group, -1), bits, None, rng).reshape(k // group, n)  # per (group, column)
        col = np.maximum(gs.max(axis=0), 1e-30) / GROUP_SCALE_MAX
        m = np.clip(np.rint(gs / col), 1, GROUP_SCALE_MAX)
        eff = np.repeat(m * col, group, axis=0)
        if gram is not None and storage_bits(bits) < 8:
            q = obs_round(w, gram, lo, hi, scale=eff, dtype=_int_dtype(bits))
        else:
            q = np.clip(np.rint(w / eff), lo, hi).astype(_int_dtype(bits))
        return Quantized(q, col.astype(np.float32), m.astype(np.int8), bits)
    on_grid = trained_grid(w, lo, hi)
    if on_grid is not None:
        return Quantized(np.rint(w / on_grid).astype(_int_dtype(bits)), on_grid, None, bits)
    s = _clip_scale(w, bits, importance, rng)
    s = np.where(s > 0, s, 1.0).astype(np.float32)
    if gram is not None and storage_bits(bits) < 8:
        q = obs_round(w / s, gram, lo, hi, dtype=_int_dtype(bits), overwrite=True)
    else:  # a block of columns at a time, for the same reason as `left_product`
        q = np.empty(w.shape, _int_dtype(bits))
        for b in column_blocks(n):
            q[:, b] = np.clip(np.rint(w[:, b] / s[b]), lo, hi)
    return Quantized(q, s, None, bits)


def gram_error(w: np.ndarray, wq: np.ndarray, gram: np.ndarray) -> float:
    """Mean squared output error of replacing w by wq for inputs with second moment `gram`:
    E||x (w - wq)||^2 = tr(E^T G E) / N, G = E[x^T x] (the GPTQ/OWQ layer objective)."""
    e = (w - wq).astype(np.float32)
    return float(np.einsum("kn,kn->", e, gram.astype(np.float32) @ e)) / e.shape[1]


class Hessian:
    """A layer objective's second moment G = E[x^T x] [K, K] and, computed once for
    every width it serves, GPTQ's upper Cholesky factor U of (G + damping)^-1."""

    def __init__(self, gram: np.ndarray):
        self.gram = np.array(gram, np.float32)
        self.dead = np.diag(self.gram) <= 0  # an input that never fires
        self._u: np.ndarray | None = None

    @classmethod
    def of(cls, x: np.ndarray) -> "Hessian":
        x = np.asarray(x, np.float32)
        return cls(x.T @ x / max(len(x), 1))

    @property
    def u(self) -> np.ndarray:
        if self._u is None:
            h = self.gram.copy()
            h[self.dead, self.dead] = 1.0
            self._u = _inverse_cholesky(h)
        return self._u


def obs_round(
    w: np.ndarray,
    gram: "np.ndarray | Hessian",
    lo: int,
    hi: int,
    sparsity: float = 0.0,
    keep: np.ndarray | None = None,
    block: int = 32,
    scale: np.ndarray | None = None,
    dtype=np.int64,
    overwrite: bool = False,
) -> np.ndarray:
    """Integers q for w [K, N] (w ~ q * scale, scale [K, N] or 1) that keep the layer's output
    n @ w for inputs with second moment `gram` [K, K]: GPTQ's rounding with
    error feedback, and SparseGPT's pruning when `sparsity` > 0.

    Input rows are taken in order; each row is rounded (or zeroed), and its
    error, scaled by the inverse Hessian's Cholesky row, is spread over the rows
    not yet taken, so those absorb what the rounding and pruning lost (the
    optimal brain surgeon update). The zeros are chosen per column by
    w^2 / [H^-1]_kk^2, least first: a weight that quantized to zero scores
    nothing, so those go first. `keep` [K, N] bool, if given, fixes the mask
    instead (structured pruning). Loops over rows, not elements: K steps of
    O(K N), the updates batched per `block` rows. The integers come back as `dtype`, written
    row by row (an LM head's int64 copy alone was 226 MB). `overwrite`: w is the caller's
    float32 temporary, updated in place instead of copied."""
    w = w if overwrite and w.dtype == np.float32 and w.flags.writeable and w.flags.c_contiguous else np.array(w, np.float32)
    k, n = w.shape
    sc = np.broadcast_to(np.float32(1.0) if scale is None else np.asarray(scale, np.float32), (k, n))
    hess = gram if isinstance(gram, Hessian) else Hessian(gram)
    w[hess.dead] = 0.0  # its weight reaches nothing
    u = hess.u
    if keep is None and sparsity > 0:  # per column, the least w^2 / [H^-1]_kk^2 go; quantization zeros score nothing
        score = (w / sc) ** 2 / np.diag(u)[:, None] ** 2
        rank = np.argsort(np.argsort(score, axis=0, kind="stable"), axis=0, kind="stable")
        keep = rank >= int(round(sparsity * k))
    keep = w != 0 if keep is None else keep & (w != 0)  # a weight that quantized to zero stays zero
    q = np.zeros((k, n), dtype)
    for b0 in range(0, k, block):
        b1 = min(b0 + block, k)
        wb, ub, mask = w[b0:b1], u[b0:b1, b0:b1], keep[b0:b1]
        err = np.zeros_like(wb)
        for i in range(b1 - b0):
            qi = np.where(mask[i], np.clip(np.rint(wb[i] / sc[b0 + i]), lo, hi), 0.0)
            e = (wb[i] - qi * sc[b0 + i]) / ub[i, i]
            wb[i + 1 :] -= np.outer(ub[i, i + 1 :], e)
            err[i] = e
            q[b0 + i] = qi
        ut = u[b0:b1, b1:].T
        for c in column_blocks(n):  # the update a block of columns at a time: no [K, N] temporary
            w[b1:, c] -= ut @ err[:, c]
    return q


def _inverse_cholesky(h: np.ndarray) -> np.ndarray:
    """Upper U with U^T U = (H + damping)^-1, GPTQ's 1% of the mean diagonal (more if
    H is still not positive definite). With J the order reversal, J H J = L L^T gives
    H = R R^T for the upper R = J L J, so U = R^-1: one Cholesky factorisation and one
    triangular inverse, in float32."""
    from scipy.linalg import LinAlgError, cholesky, lapack

    k = len(h)
    for damp in (0.01, 0.1, 1.0):
        hd = np.array(h[::-1, ::-1], np.float32)
        hd[np.diag_indices(k)] += damp * max(float(np.diag(h).mean()), 1e-12)
        try:
            low = cholesky(hd, lower=True, check_finite=False)
        except LinAlgError:
            continue
        inv, info = lapack.strtri(low, lower=1)
        if not info:
            return np.ascontiguousarray(inv[::-1, ::-1])
    raise ValueError("the calibration Gram matrix is not positive definite even with damping")
