"""Memory layouts both C++ targets share: broadcast strides, strided views of data
movement ops, per-channel vectors over a flat index, and buffer packing."""

from __future__ import annotations

import math
from collections.abc import Sequence

from xdsl.ir import Operation, SSAValue

from nscc.ir import nn
from nscc.semantics.nn import prop


def _shape(v: SSAValue) -> tuple[int, ...]:
    return tuple(v.type.get_shape())


def broadcast_strides(in_shape: Sequence[int], out_shape: Sequence[int]) -> list[int]:
    """Strides of an input, right-aligned to the output, 0 where it broadcasts."""
    nd = len(out_shape)
    shape = [1] * (nd - len(in_shape)) + list(in_shape)
    strides, acc = [0] * nd, 1
    for d in range(nd - 1, -1, -1):
        strides[d] = acc if shape[d] != 1 else 0
        acc *= shape[d]
    return strides


def mask_strides(mask: Sequence[int], lead: Sequence[int], scores: Sequence[int]) -> tuple[int, int, int, int] | None:
    """Strides of an attention mask over (batch entries flattened, heads, queries, keys), the
    scores being [*lead, heads, queries, keys]; None when the mask broadcasts over some of the
    batch axes only (the kernels index the batch entries as one flat axis)."""
    lead = tuple(lead)
    full = (*lead, *scores)
    m = (1,) * (len(full) - len(mask)) + tuple(mask)
    ml, rest = m[: len(lead)], m[len(lead) :]
    if any(d != 1 for d in ml) and ml != lead:
        return None
    st = broadcast_strides(rest, scores)
    return (0 if all(d == 1 for d in ml) else math.prod(rest), *st)


def strided_views(op: Operation) -> list[tuple[SSAValue, list[int], int]]:
    """For a transpose, split or slice: each result with the input strides (elements) and the
    offset at which it reads its input; both code generators copy through these views."""
    in_shape = _shape(op.operands[0])
    strides = [math.prod(in_shape[d + 1 :]) for d in range(len(in_shape))]
    if isinstance(op, nn.TransposeOp):
        return [(op.res, [strides[p] for p in prop(op, "perm")], 0)]
    if isinstance(op, nn.SplitOp):
        axis, start, out = prop(op, "axis") % len(in_shape), 0, []
        for r in op.outs:
            out.append((r, strides, start * strides[axis]))
            start += _shape(r)[axis]
        return out
    step, offset = list(strides), 0
    for st, en, ax, sp in zip(prop(op, "starts"), prop(op, "ends"), prop(op, "axes"), prop(op, "steps")):
        ax %= len(in_shape)
        dim = in_shape[ax]
        st = st + dim if st < 0 else st
        st = min(max(st, 0), dim - 1 if sp < 0 else dim)
        offset += st * strides[ax]
        step[ax] = strides[ax] * sp
    return [(op.res, step, offset)]


def plan_arena(buffers: dict[str, tuple[int, int, int]], align: int = 64) -> tuple[dict[str, int], int]:
    """Offsets for buffers given as name -> (first op, last op, bytes): two buffers share
    bytes only if their lifetimes do not overlap. Largest first, lowest free offset."""
    placed: list[tuple[int, int, int, int]] = []  # (offset, end, first, last)
    offsets, top = {}, 0
    for name, (first, last, size) in sorted(buffers.items(), key=lambda kv: -kv[1][2]):
        size = (size + align - 1) // align * align
        busy = sorted((o, e) for o, e, f, lst in placed if not (lst < first or last < f))
        at = 0
        for o, e in busy:
            if at + size <= o:
                break
            at = max(at, e)
        placed.append((at, at + size, first, last))
        offsets[name] = at
        top = max(top, at + size)
    return offsets, top


def channel_layout(v_shape: Sequence[int], c_shape: Sequence[int], axis: int | None = None) -> tuple[int, int]:
    """(C, inner) for a per-channel vector applied to a tensor: channel of element i is (i / inner) % C."""
    size = math.prod(c_shape) if c_shape else 1
    if size == 1:
        return 1, 1
    if axis is None:  # right-aligned broadcast of a shape with one non-1 dim
        nd = len(v_shape)
        dims = [1] * (nd - len(c_shape)) + list(c_shape)
        axis = next(d for d in range(nd) if dims[d] != 1)
    axis %= len(v_shape)
    return size, math.prod(v_shape[axis + 1 :])
