"""Element types: ONNX, xDSL and numpy names of the same thing."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from onnx import TensorProto
from xdsl.dialects.builtin import (
    IntegerType,
    Signedness,
    TensorType,
    f16,
    f32,
    f64,
    i1,
    i8,
    i16,
    i32,
    i64,
)
from xdsl.ir import Attribute

_ONNX_TO_XDSL: dict[int, Attribute] = {
    TensorProto.FLOAT: f32,
    TensorProto.DOUBLE: f64,
    TensorProto.FLOAT16: f16,
    TensorProto.BOOL: i1,
    TensorProto.INT8: i8,
    TensorProto.INT16: i16,
    TensorProto.INT32: i32,
    TensorProto.INT64: i64,
    TensorProto.UINT8: IntegerType(8, Signedness.UNSIGNED),
    TensorProto.UINT16: IntegerType(16, Signedness.UNSIGNED),
    TensorProto.UINT32: IntegerType(32, Signedness.UNSIGNED),
    TensorProto.UINT64: IntegerType(64, Signedness.UNSIGNED),
}

_NP = {
    f32: np.dtype(np.float32),
    f64: np.dtype(np.float64),
    f16: np.dtype(np.float16),
    i1: np.dtype(np.bool_),
}


def onnx_elem_to_xdsl(elem: int) -> Attribute | None:
    return _ONNX_TO_XDSL.get(elem)


def np_dtype(t: Attribute) -> np.dtype:
    """numpy storage for an element or tensor type; integers narrower than 8 bits use int8.

    Spike counts use the narrowest signed integer holding [-D, D]; binary
    trains use int8 (they hold -1, 0 or 1)."""
    from nscc.ir.snn import CountsType, SpikesType

    if isinstance(t, CountsType):
        return np.dtype(np.int8 if t.levels.data <= 127 else np.int16)
    if isinstance(t, SpikesType):
        return np.dtype(np.int8)
    if isinstance(t, TensorType):
        t = t.element_type
    if t in _NP:
        return _NP[t]
    if isinstance(t, IntegerType):
        w = t.width.data
        size = 8 if w <= 8 else 16 if w <= 16 else 32 if w <= 32 else 64
        unsigned = t.signedness.data == Signedness.UNSIGNED
        return np.dtype(f"{'u' if unsigned else ''}int{size}")
    raise ValueError(f"no numpy dtype for {t}")


def xdsl_elem(dtype: np.dtype) -> Attribute:
    dtype = np.dtype(dtype)
    for k, v in _NP.items():
        if v == dtype:
            return k
    if dtype.kind in "iu":
        return IntegerType(dtype.itemsize * 8, Signedness.UNSIGNED if dtype.kind == "u" else Signedness.SIGNLESS)
    raise ValueError(f"unsupported dtype {dtype}")


def tensor_type(dtype: np.dtype, shape: Sequence[int]) -> TensorType:
    return TensorType(xdsl_elem(dtype), [int(d) for d in shape])
