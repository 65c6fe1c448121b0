"""Runs a module with xDSL's Interpreter over the numpy kernels of nscc.semantics.

Every op of every IR level runs as one vectorized numpy kernel; the kernels
are the golden semantics that the C++ simulator and the HLS kernel must
reproduce (docs/semantics.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects.arith import ConstantOp
from xdsl.dialects.builtin import ModuleOp
from xdsl.dialects.func import FuncOp
from xdsl.interpreter import Interpreter, InterpreterFunctions, impl, register_impls
from xdsl.interpreters.func import FuncFunctions
from xdsl.ir import Operation

from nscc.errors import NsccError
from nscc.ir import nn
from nscc.ir.constants import dense_value
from nscc.ir.signature import signature
from nscc.ir.textio import weight_names
from nscc.ir.weights import WeightStore
from nscc.semantics.nn import KERNELS
from nscc.semantics.snn import SNN_KERNELS


def _kernel_functions() -> type[InterpreterFunctions]:
    """One InterpreterFunctions class with an @impl for every kernel."""
    namespace = {}
    for op_type, kern in {**KERNELS, **SNN_KERNELS}.items():

        def run(self, interpreter, op, args, kern=kern):
            return kern(op, args)

        namespace["run_" + op_type.name.replace(".", "_")] = impl(op_type)(run)  # op names are unique, class names need not be
    return register_impls(type("KernelFunctions", (InterpreterFunctions,), namespace))


KernelFunctions = _kernel_functions()


@register_impls
@dataclass
class StorageFunctions(InterpreterFunctions):
    """Weights from the store; inline constants from their dense bytes."""

    weights: Mapping[str, np.ndarray] = field(default_factory=dict)

    @impl(nn.WeightOp)
    def run_weight(self, interpreter, op: nn.WeightOp, args):
        return (self.weights[op.sym.data],)

    @impl(ConstantOp)
    def run_constant(self, interpreter, op: ConstantOp, args):
        return (dense_value(op),)


def _overriding(overrides: Mapping[Operation, Callable]) -> InterpreterFunctions:
    """Kernels that defer to `overrides[op](args)` for the listed ops, of their op types."""
    namespace = {}
    for op_type in {type(op) for op in overrides}:
        kern = {**KERNELS, **SNN_KERNELS}[op_type]

        def run_op(self, interpreter, op, args, kern=kern):
            fn = overrides.get(op)
            return fn(args) if fn is not None else kern(op, args)

        namespace["run_" + op_type.name.replace(".", "_")] = impl(op_type)(run_op)
    return register_impls(type("OverridingFunctions", (InterpreterFunctions,), namespace))()


class _ReleaseDead(Interpreter.Listener):
    """Drops each value of @main once its last user has run: the interpreter would keep
    every intermediate of the whole program until the end (hundreds of megabytes for a
    135M-parameter LLM's window). The values live in the interpreter's current scope,
    which xDSL (pinned) keeps in `Interpreter._ctx`; without it nothing is dropped."""

    def __init__(self, block) -> None:
        last: dict = {}
        for op in block.ops:
            for v in op.operands:
                last[v] = op
        self.dead: dict = {}
        for v, op in last.items():
            self.dead.setdefault(op, []).append(v)
        self.interp: Interpreter | None = None

    def did_interpret_op(self, op, results) -> None:
        scope = getattr(self.interp, "_ctx", None)
        for v in self.dead.get(op, ()):
            if scope is not None and v in scope:
                scope[v] = None


def run(
    module: ModuleOp,
    weights: WeightStore,
    inputs: Mapping[str, np.ndarray],
    listeners: tuple = (),
    overrides: Mapping[Operation, Callable] | None = None,
) -> dict[str, np.ndarray]:
    """Runs @main on named inputs (checked against the signature); returns named outputs.

    `listeners` are xDSL `Interpreter.Listener`s that watch every op (calibration
    and the spike report use them). `overrides` replace the kernel of single ops
    by a function of their arguments (sensitivity probes quantize one layer so)."""
    sig = signature(module)
    args = []
    for name, shape, dtype in sig.inputs:
        if name not in inputs:
            raise NsccError(f"missing input '{name}' (shape {list(shape)}, {dtype})", f"pass it with --input {name}=FILE.npy")
        a = np.asarray(inputs[name])
        if tuple(a.shape) != shape:
            raise NsccError(
                f"input '{name}' has shape {list(a.shape)}, the model expects {list(shape)}",
                "bind dynamic dimensions with --dim NAME=VALUE",
            )
        if a.dtype != dtype:
            if not np.can_cast(a.dtype, dtype, "same_kind"):
                raise NsccError(f"input '{name}' has dtype {a.dtype}, the model expects {dtype}", "convert the array before saving it")
            a = a.astype(dtype)
        args.append(a)
    extra = set(inputs) - {n for n, _, _ in sig.inputs}
    if extra:
        raise NsccError(f"unknown input '{sorted(extra)[0]}'", "the model's inputs are " + ", ".join(n for n, _, _ in sig.inputs))
    missing = [n for n in weight_names(module) if n not in weights]
    if missing:
        raise NsccError(
            f"weight '{missing[0]}' has no data ({len(missing)} missing)",
            "IR printed to the terminal names its weights only; write dumps with `nscc opt -o FILE.mlir` to keep them",
        )
    main = next((o for o in module.walk() if isinstance(o, FuncOp) and o.sym_name.data == "main"), None)
    release = _ReleaseDead(main.body.block) if main is not None and main.body.blocks else None
    interp = Interpreter(module, listeners=tuple(listeners) + ((release,) if release is not None else ()))
    if release is not None:
        release.interp = interp
    interp.register_implementations(FuncFunctions())
    interp.register_implementations(KernelFunctions())
    interp.register_implementations(StorageFunctions(weights))
    if overrides:
        interp.register_implementations(_overriding(overrides), override=True)
    with np.errstate(all="ignore"):
        results = interp.call_op("main", tuple(args))
    return {name: np.asarray(r) for (name, _, _), r in zip(sig.outputs, results)}
