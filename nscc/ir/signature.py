"""A module's entry point: `func.func @main`, and its inputs' and outputs' names.

The frontend records each ONNX input and output name as the `nscc.name`
argument/result attribute, so the names survive passes and dumps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.dialects.func import FuncOp

from nscc.errors import NsccError
from nscc.ir.types import np_dtype

NAME_ATTR = "nscc.name"
# The model's name for the layer an op implements (from the exporter), kept for reports.
LAYER_ATTR = "nscc.layer"


@dataclass
class Signature:
    inputs: list[tuple[str, tuple[int, ...], np.dtype]]
    outputs: list[tuple[str, tuple[int, ...], np.dtype]]


def main_function(module: ModuleOp) -> FuncOp:
    for op in module.body.block.ops:
        if isinstance(op, FuncOp) and op.sym_name.data == "main":
            return op
    raise NsccError("the module has no func.func @main", "nscc modules come from the ONNX frontend")


def signature(module: ModuleOp) -> Signature:
    fn = main_function(module)

    def names(attrs, n, prefix):
        if attrs is None:
            return [f"{prefix}{i}" for i in range(n)]
        out = []
        for i, d in enumerate(attrs.data):
            name = d.data.get(NAME_ATTR)
            out.append(name.data if isinstance(name, StringAttr) else f"{prefix}{i}")
        return out

    ft = fn.function_type
    ins = names(fn.arg_attrs, len(ft.inputs.data), "input")
    outs = names(fn.res_attrs, len(ft.outputs.data), "output")
    return Signature(
        [(n, tuple(t.get_shape()), np_dtype(t)) for n, t in zip(ins, ft.inputs.data)],
        [(n, tuple(t.get_shape()), np_dtype(t)) for n, t in zip(outs, ft.outputs.data)],
    )
