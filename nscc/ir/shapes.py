"""Shape arithmetic that the verifiers, the semantics and the frontend agree on."""

from __future__ import annotations


def slice_for(dim: int, start: int, end: int, step: int) -> slice:
    """ONNX Slice bounds (negative, out of range, INT_MAX) as a Python slice."""
    if start < 0:
        start += dim
    if end < 0:
        end += dim
    if step > 0:
        start, end = min(max(start, 0), dim), min(max(end, 0), dim)
        return slice(start, end, step)
    start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
    return slice(start, None if end < 0 else end, step)
