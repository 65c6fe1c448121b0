"""Values known at compile time: weights, inline constants, and pure `nn` ops over them.

Passes that quantize weights need the float array behind an operand even when
the frontend left a data-movement op on it (the transposed embedding of a
tied LM head): `constant_value` evaluates such chains through xDSL's
interpreter with the semantics' own kernels, so the pass sees exactly what the
program would compute.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

import numpy as np
from xdsl.dialects.arith import ConstantOp
from xdsl.dialects.builtin import ModuleOp
from xdsl.interpreter import Interpreter
from xdsl.ir import BlockArgument, SSAValue

from nscc.ir import nn
from nscc.ir.constants import dense_value
from nscc.semantics.interpreter import KernelFunctions
from nscc.semantics.nn import KERNELS


@cache
def _folder() -> Interpreter:
    interp = Interpreter(ModuleOp([]))
    interp.register_implementations(KernelFunctions())
    return interp


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
    elif type(owner) in KERNELS:  # the nn ops; spiking ops are never folded
        args = [constant_value(o, weights, memo) for o in owner.operands]
        if all(a is not None for a in args):
            with np.errstate(all="ignore"):
                result = _folder().run_op(owner, tuple(args))[owner.results.index(value)]
    memo[value] = result
    return result
