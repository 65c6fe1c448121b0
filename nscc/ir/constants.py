"""Values known at compile time: weights, inline constants, and pure ops over them.

Passes that quantize weights need the float array behind an operand even when
the frontend left a data-movement op on it (the transposed embedding of a
tied LM head): `constant_value` evaluates such chains with the interpreter's
kernels, so the pass sees exactly what the program would compute.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from xdsl.dialects.arith import ConstantOp
from xdsl.dialects.builtin import DenseIntOrFPElementsAttr
from xdsl.ir import BlockArgument, SSAValue

from nscc.ir import nn
from nscc.ir.types import np_dtype


def dense_value(op: ConstantOp) -> np.ndarray:
    """The array of an inline `arith.constant` (a read-only view of its bytes)."""
    from nscc.errors import NsccError

    value = op.value
    if not isinstance(value, DenseIntOrFPElementsAttr):
        raise NsccError(f"arith.constant of {value} is not supported", "nscc holds tensors inline only as dense elements")
    t = value.get_type()
    return np.frombuffer(value.data.data, np_dtype(t)).reshape(t.get_shape())


def constant_value(value: SSAValue, weights: Mapping[str, np.ndarray], _memo: dict | None = None) -> np.ndarray | None:
    """The array `value` always holds, or None if it depends on the inputs."""
    memo = {} if _memo is None else _memo
    if value in memo:
        return memo[value]
    result = None
    owner = value.owner
    if isinstance(value, BlockArgument):
        result = None
    elif isinstance(owner, nn.WeightOp):
        result = weights.get(owner.sym.data)
    elif isinstance(owner, ConstantOp):
        result = dense_value(owner)
    else:
        from nscc.semantics.nn import KERNELS

        kern = KERNELS.get(type(owner))
        if kern is not None:
            args = [constant_value(o, weights, memo) for o in owner.operands]
            if all(a is not None for a in args):
                result = kern(owner, tuple(args))[owner.results.index(value)]
    memo[value] = result
    return result


def source_weight(value: SSAValue) -> str | None:
    """The name of the stored weight a constant chain starts from, for naming derived weights."""
    seen = 0
    while value is not None and seen < 16:
        owner = value.owner
        if isinstance(owner, nn.WeightOp):
            return owner.sym.data
        if isinstance(value, BlockArgument) or not owner.operands:
            return None
        value = owner.operands[0]
        seen += 1
    return None


def new_weight(store, name: str, array: np.ndarray, element_type=None) -> nn.WeightOp:
    """Stores `array` (under `name`, made unique) and returns the op that names it.

    The element type defaults to the array's; pass e.g. IntegerType(4) when the
    values are narrower than their numpy storage."""
    from xdsl.dialects.builtin import StringAttr, TensorType

    from nscc.ir.types import xdsl_elem

    key = store.add(name, array)
    elem = element_type if element_type is not None else xdsl_elem(array.dtype)
    return nn.WeightOp.build(properties={"sym": StringAttr(key)}, result_types=[TensorType(elem, list(array.shape))])
