"""ONNX graph to an `nn` module: one `func.func @main`, weights in the store.

Values flow through the import as either numpy arrays (known constants) or
SSA values. A node whose inputs are all constants is evaluated right away
with the interpreter's kernel for the op it lowers to, so shape subgraphs
(Shape -> Gather -> Concat -> Reshape) fold away and every shape is static.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper
from xdsl.builder import Builder
from xdsl.dialects.arith import ConstantOp
from xdsl.dialects.builtin import (
    ArrayAttr,
    BytesAttr,
    DenseIntOrFPElementsAttr,
    DictionaryAttr,
    ModuleOp,
    StringAttr,
)
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.ir import Block, Operation, Region, SSAValue
from xdsl.rewriter import InsertPoint

from nscc.errors import NsccError, UnsupportedError
from nscc.frontend import onnx_model
from nscc.ir import nn
from nscc.ir.context import NsccContext, make_context
from nscc.ir.signature import LAYER_ATTR, NAME_ATTR
from nscc.ir.types import np_dtype, onnx_elem_to_xdsl, tensor_type
from nscc.semantics.nn import KERNELS

Value = np.ndarray | SSAValue

# Folding is for shape subgraphs and small constants. Folding an op on a big
# constant (a Transpose of the embedding, an Expand of a mask to [B, H, S, S])
# would add a second copy to the weight store; those ops stay in the IR.
FOLD_LIMIT = 1 << 16


class Node:
    """One ONNX node being lowered: its inputs, attributes and an emitter."""

    def __init__(self, imp: Importer, node: onnx.NodeProto, index: int):
        self.imp = imp
        self.proto = node
        self.op_type = node.op_type
        self.label = node.name or f"#{index} ({node.op_type})"
        self.attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}

    @property
    def n_inputs(self) -> int:
        return len(self.proto.input)

    def has_input(self, i: int) -> bool:
        return i < len(self.proto.input) and self.proto.input[i] != ""

    def input(self, i: int) -> Value:
        return self.imp.values[self.proto.input[i]]

    def inputs(self) -> list[Value]:
        return [self.input(i) for i in range(self.n_inputs) if self.has_input(i)]

    def attr(self, name: str, default: Any = None) -> Any:
        v = self.attrs.get(name, default)
        return v.decode() if isinstance(v, bytes) else v

    def const(self, i: int, what: str) -> np.ndarray:
        v = self.input(i)
        if not isinstance(v, np.ndarray):
            raise self.error(f"{what} (input {i}) must be a constant", "nscc needs static shapes; bind dynamic dimensions with --dim")
        return v

    def shape(self, i: int) -> tuple[int, ...]:
        return shape_of(self.input(i))

    def dtype(self, i: int) -> np.dtype:
        return dtype_of(self.input(i))

    def error(self, msg: str, hint: str | None = None) -> NsccError:
        return NsccError(f"{self.imp.path}: node '{self.label}' ({self.op_type}): {msg}", hint)

    def emit(self, op_cls: type[Operation], operands: Sequence[Value], outs, **props) -> list[Value]:
        return self.imp.emit(op_cls, operands, outs, props, self.label)

    def layer_name(self) -> str | None:
        """The model's own name for the layer this node belongs to (for reports and weight names).

        torch's dynamo exporter records the module path in the `namespace`
        metadata; the legacy exporter encodes it in the node name."""
        for p in self.proto.metadata_props:
            if p.key == "namespace" and p.value:
                # ": models.GPT2/blocks.0: Block/blocks.0.fc: torch.nn.Linear/linear: aten.linear.default"
                scopes = [part.split(":", 1) for part in p.value.split("/") if ":" in part]
                modules = [path.strip() for path, kind in scopes if path.strip() and not kind.strip().startswith("aten.")]
                return modules[-1] if modules else None
        name = self.proto.name
        if name.startswith("/") and name.count("/") > 1:
            return ".".join(part for part in name.strip("/").split("/")[:-1] if part)
        return name or None


def shape_of(v: Value) -> tuple[int, ...]:
    return tuple(v.shape) if isinstance(v, np.ndarray) else tuple(v.type.get_shape())


def dtype_of(v: Value) -> np.dtype:
    return v.dtype if isinstance(v, np.ndarray) else np_dtype(v.type)


def _build(op_cls: type[Operation], operands: list, result_types: list, props: dict) -> Operation:
    """The op from its builder: operands (None if absent), result type(s), properties."""
    if op_cls is nn.ConcatOp:
        return op_cls(operands, *result_types, **props)
    if op_cls is nn.SplitOp:
        return op_cls(*operands, result_types, **props)
    return op_cls(*operands, *result_types, **props)


def _inline_ok(arr: np.ndarray) -> bool:
    """Small constants print inline when their text round-trips exactly."""
    if arr.size > 8 or arr.dtype not in (np.float32, np.int64, np.int32):
        return False
    if arr.dtype == np.float32:
        # xDSL prints non-finite floats as hex bit patterns that it cannot parse back
        vals = arr.reshape(-1).tolist()
        return bool(np.isfinite(arr).all()) and all(np.float32(float(f"{x:.6e}")) == x for x in vals)
    return True


class Importer:
    def __init__(self, model: onnx.ModelProto, arrays: dict[str, np.ndarray], path: str, input_shapes: dict[str, tuple[int, ...]]):
        self.model = model
        self.arrays = arrays
        self.path = path
        self.opset = onnx_model.opset_of(model)
        self.input_shapes = input_shapes
        self.ctx: NsccContext = make_context()
        self.values: dict[str, Value] = {}
        self.const_names: dict[int, str] = {}
        self.materialized: dict[int, tuple[np.ndarray, SSAValue]] = {}
        self.builder: Builder | None = None

    # -- values -------------------------------------------------------------------------
    def materialize(self, v: Value, name_hint: str = "const") -> SSAValue:
        if not isinstance(v, np.ndarray):
            return v
        key = id(v)
        cached = self.materialized.get(key)
        if cached is not None and cached[0] is v:  # the array itself, not a freed one whose id was reused
            return cached[1]
        try:
            ttype = tensor_type(v.dtype, v.shape)
        except ValueError:
            raise NsccError(
                f"{self.path}: constant '{name_hint}' has unsupported type {v.dtype}", "nscc lowers float16/32/64, integer and bool tensors"
            ) from None
        if _inline_ok(v):
            attr = DenseIntOrFPElementsAttr(ttype, BytesAttr(np.ascontiguousarray(v).tobytes()))
            op: Operation = ConstantOp(attr, ttype)
        else:
            name = self.ctx.weights.add(self.const_names.get(key, name_hint), v)
            op = nn.WeightOp(name, ttype)
        self.builder.insert(op)
        self.materialized[key] = (v, op.results[0])  # holding v keeps its id from being reused
        return op.results[0]

    def emit(self, op_cls, operands: Sequence[Value], outs, props: dict, label: str) -> list[Value]:
        single = isinstance(outs, tuple) and len(outs) == 2 and isinstance(outs[1], tuple | list) and not isinstance(outs[0], tuple)
        outs = [outs] if single else list(outs)
        try:
            result_types = [tensor_type(dt, shape) for dt, shape in outs]
        except ValueError as e:
            raise NsccError(f"{self.path}: node '{label}': {e}", "nscc lowers float16/32/64, integer and bool tensors") from None
        # None stands for an absent optional operand
        present = [o for o in operands if o is not None]
        if all(isinstance(o, np.ndarray) for o in present) and op_cls in KERNELS:
            if sum(math.prod(s) for _, s in outs) <= FOLD_LIMIT:
                return self._fold(op_cls, operands, result_types, props)
        op = _build(op_cls, [None if o is None else self.materialize(o, f"{label}.const") for o in operands], result_types, props)
        self.builder.insert(op)
        return list(op.results)

    def _fold(self, op_cls, operands, result_types, props) -> list[Value]:
        stand_ins = [None if o is None else nn.WeightOp("fold", tensor_type(o.dtype, o.shape)).res for o in operands]
        op = _build(op_cls, stand_ins, result_types, props)
        with np.errstate(all="ignore"):
            outs = KERNELS[op_cls](op, tuple(o for o in operands if o is not None))
        op.drop_all_references()
        return [np.asarray(o) for o in outs]

    # -- the graph ---------------------------------------------------------------------
    def run(self) -> ModuleOp:
        from nscc.frontend.onnx_ops import LOWERINGS
        from nscc.frontend.qonnx_ops import QONNX_DOMAINS, QONNX_OPS

        self.custom = {d: QONNX_OPS for d in QONNX_DOMAINS}
        g = self.model.graph
        nodes = _toposort(g, self.path)
        self._check_supported(nodes, LOWERINGS)

        inputs = onnx_model.graph_inputs(self.model)
        in_types = []
        for vi in inputs:
            elem = onnx_elem_to_xdsl(vi.type.tensor_type.elem_type)
            if elem is None:
                raise UnsupportedError(
                    f"{self.path}: input '{vi.name}' has an unsupported element type", "nscc lowers float32/16, integer and bool inputs"
                )
            in_types.append(tensor_type(np_dtype(elem), self.input_shapes[vi.name]))
        block = Block(arg_types=in_types)
        self.builder = Builder(InsertPoint.at_end(block))
        for vi, arg in zip(inputs, block.args):
            self.values[vi.name] = arg
            arg.name_hint = _ssa_name(vi.name)

        for t in g.initializer:
            arr = self.arrays[t.name]
            self.values[t.name] = arr
            self.const_names[id(arr)] = t.name

        for index, node in enumerate(nodes):
            n = Node(self, node, index)
            missing = [x for x in node.input if x and x not in self.values]
            if missing:
                raise NsccError(
                    f"{self.path}: node '{n.label}' ({n.op_type}) reads '{missing[0]}', which nothing defines",
                    "the graph is malformed; re-export it",
                )
            outs = LOWERINGS[node.op_type](n)
            if node.op_type in ("MatMul", "Gemm", "Conv", "Softmax") and outs and not isinstance(outs[0], np.ndarray):
                layer = n.layer_name()
                if layer and outs[0].owner is not None:
                    outs[0].owner.attributes[LAYER_ATTR] = StringAttr(layer)
            for name, v in zip(node.output, outs):
                if not name:
                    continue
                if v is None:
                    raise UnsupportedError(
                        f"{self.path}: node '{n.label}' ({n.op_type}): output {name!r} is not supported",
                        "only the first output of this op is lowered",
                    )
                self.values[name] = v
                if isinstance(v, np.ndarray):
                    self.const_names.setdefault(id(v), name)

        results = []
        for vi in g.output:
            if vi.name not in self.values:
                raise NsccError(f"{self.path}: graph output '{vi.name}' is never computed", "the graph is malformed; re-export it")
            results.append(self.materialize(self.values[vi.name], vi.name))
        self.builder.insert(ReturnOp(*results))

        def names(ns):  # None when empty: that is how the parser reads `()` back
            return ArrayAttr([DictionaryAttr({NAME_ATTR: StringAttr(x)}) for x in ns]) if ns else None

        fn = FuncOp(
            "main",
            ([a.type for a in block.args], [r.type for r in results]),
            region=Region([block]),
            arg_attrs=names([vi.name for vi in inputs]),
            res_attrs=names([vi.name for vi in g.output]),
        )
        return ModuleOp([fn])

    def _check_supported(self, nodes, lowerings) -> None:
        bad = []
        for index, node in enumerate(nodes):
            custom = node.op_type in self.custom.get(node.domain, ())
            if (node.domain not in ("", "ai.onnx") and not custom) or node.op_type not in lowerings:
                label = node.name or f"#{index}"
                domain = f"{node.domain}." if node.domain not in ("", "ai.onnx") else ""
                bad.append(f"{self.path}: unsupported op {domain}{node.op_type} at node '{label}' (opset {self.opset})")
        if bad:
            raise UnsupportedError(
                f"{self.path}: {len(bad)} node(s) use ops nscc cannot lower; `nscc ops` lists the supported ones",
                None,
                lines=bad,
            )


def _ssa_name(name: str) -> str | None:
    import re

    s = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return s if s and (s[0].isalpha() or s[0] == "_") else None


def _toposort(g: onnx.GraphProto, path: str) -> list[onnx.NodeProto]:
    nodes = list(g.node)
    if _sorted(nodes, g):
        return nodes
    known = {t.name for t in g.initializer} | {vi.name for vi in g.input} | {""}
    order, pending = [], nodes
    while pending:
        rest = []
        for n in pending:
            if _ready(n, known):
                order.append(n)
                known.update(n.output)
            else:
                rest.append(n)
        if len(rest) == len(pending):
            n = rest[0]
            missing = next(x for x in n.input if x not in known)
            raise NsccError(
                f"{path}: node '{n.name or n.op_type}' reads '{missing}', which nothing defines", "the graph is malformed; re-export it"
            )
        pending = rest
    return order


def _ready(n: onnx.NodeProto, known: set[str]) -> bool:
    return all(x in known for x in n.input)


def _sorted(nodes, g) -> bool:
    known = {t.name for t in g.initializer} | {vi.name for vi in g.input} | {""}
    for n in nodes:
        if not _ready(n, known):
            return False
        known.update(n.output)
    return True


def _to_array(t: onnx.TensorProto, path: str) -> np.ndarray:
    try:
        return numpy_helper.to_array(t)
    except Exception as e:  # onnx raises many kinds for bad tensors
        raise NsccError(f"{path}: initializer '{t.name}' cannot be read ({e})", "the model may be truncated") from None


def import_onnx(source: str | onnx.ModelProto, dims: dict[str, int] | None = None, name: str = "<model>") -> tuple[NsccContext, ModuleOp]:
    """Loads, checks and lowers an ONNX file (or an in-memory model). Raises NsccError on bad input."""
    if isinstance(source, onnx.ModelProto):
        path, model = name, onnx_model.upgrade(source, name)
        arrays = {t.name: _to_array(t, path) for t in model.graph.initializer}
    else:
        path = source
        model, arrays = onnx_model.load(source)
    shapes = onnx_model.bind_dims(model, dims or {}, path)
    onnx_model.check_shapes(model, shapes, path)
    imp = Importer(model, arrays, path, shapes)
    module = imp.run()
    try:
        module.verify()
    except Exception as e:  # a lowering produced IR that does not verify: say which
        raise NsccError(f"{path}: imported IR does not verify: {str(e).splitlines()[0]}", "please report this model to nscc") from None
    return imp.ctx, module
