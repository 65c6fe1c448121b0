"""Constants in the IR: inline `arith.constant` arrays, and weights named in the store.

Evaluating pure ops over constants needs the ops' semantics:
`nscc.semantics.folding.constant_value` does that.
"""

from __future__ import annotations

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
    from xdsl.dialects.builtin import TensorType

    from nscc.ir.types import xdsl_elem

    key = store.add(name, array)
    elem = element_type if element_type is not None else xdsl_elem(array.dtype)
    return nn.WeightOp(key, TensorType(elem, list(array.shape)))
