"""Element types: ONNX, xDSL and numpy names of the same thing."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from onnx import TensorProto
from xdsl.dialects.builtin import (
    DenseArrayBase,
    FloatAttr,
    IntegerAttr,
    IntegerType,
    Signedness,
    StringAttr,
    TensorType,
    UnitAttr,
    f16,
    f32,
    f64,
    i1,
    i8,
    i16,
    i32,
    i64,
)
from xdsl.ir import Attribute, Operation, SSAValue

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


# --- op builders: Python values to properties -----------------------------------------


def value_type(v: SSAValue | Operation) -> Attribute:
    """The type of an operand given as a value or as the op defining it."""
    return SSAValue.get(v).type


def init_op(op: Operation, operands: Sequence, result_types: Sequence, **props) -> None:
    """The body of an op builder: operands (None for an absent optional one), result
    types, and properties from Python values (see `property_attrs`)."""
    from xdsl.irdl import IRDLOperation

    IRDLOperation.__init__(op, operands=operands, result_types=result_types, properties=property_attrs(type(op), **props))


def property_attrs(op_cls: type, **values) -> dict[str, Attribute]:
    """Properties of `op_cls` from Python values, converted by each property's declared kind:
    int -> i64 IntegerAttr, float -> f64 FloatAttr, str (or StrEnum) -> StringAttr,
    sequence of ints -> i64 DenseArrayBase, bool -> UnitAttr when true (absent when
    false). None leaves an optional property out; attributes pass through unchanged."""
    defs = op_cls.get_irdl_definition().properties
    out: dict[str, Attribute] = {}
    for name, v in values.items():
        if v is None or isinstance(v, Attribute):
            if v is not None:
                out[name] = v
            continue
        bases = defs[name].constr.get_bases() or set()
        if UnitAttr in bases:
            if v:
                out[name] = UnitAttr()
        elif IntegerAttr in bases:
            out[name] = IntegerAttr(int(v), i64)
        elif FloatAttr in bases:
            out[name] = FloatAttr(float(v), f64)
        elif StringAttr in bases:
            out[name] = StringAttr(str(v.value if hasattr(v, "value") else v))
        elif DenseArrayBase in bases:
            out[name] = DenseArrayBase.from_list(i64, [int(x) for x in v])
        else:
            raise TypeError(f"{op_cls.name}: cannot make property {name} of {v!r}")
    return out
