"""Loading and checking an ONNX file before lowering: every failure is one clear line.

Dynamic dimensions are bound here (`--dim NAME=VALUE`), so everything after
import sees static shapes; ONNX's own shape inference then runs on a
weight-free skeleton of the graph to catch inconsistent models early.
"""

from __future__ import annotations

import os

import numpy as np
import onnx
from google.protobuf.message import DecodeError
from onnx import helper, shape_inference

from nscc.errors import NsccError
from nscc.frontend.onnx_file import ExternalDataError, WireError, read_onnx

MIN_OPSET, MAX_OPSET = 13, 21
# Newer opsets keep the semantics of the ops we lower (they add types or
# whole new ops; the conformance tests check it), so every opset this onnx
# release knows is accepted; anything older than 13 is upgraded first.
ACCEPTED_MAX_OPSET = onnx.defs.onnx_opset_version()


def load(path: str, with_weights: bool = True) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """The graph (weights stripped) and the initializers as arrays, each read once."""
    if not os.path.exists(path):
        raise NsccError(f"{path}: no such file", "check the model path")
    if os.path.isdir(path):
        raise NsccError(f"{path}: is a directory, not an ONNX file", "pass the .onnx file itself")
    try:
        model, arrays = read_onnx(path, with_weights)
    except ExternalDataError as e:
        raise NsccError(f"{path}: {e}", "external data must be a regular file inside the model's folder, as onnx.save writes it") from None
    except (WireError, DecodeError, RuntimeError, ValueError) as e:
        raise NsccError(f"{path}: not a valid ONNX model ({e})", "is the file complete and really .onnx? re-export it") from None
    except FileNotFoundError as e:
        raise NsccError(f"{path}: external weight data missing ({e.filename})", "keep the .onnx.data file next to the model") from None
    except KeyError as e:
        raise NsccError(f"{path}: an external tensor lacks its {e} entry", "re-export the model") from None
    if not model.graph.node and not model.graph.output:
        raise NsccError(f"{path}: not a valid ONNX model (no graph)", "is the file complete and really .onnx? re-export it")
    _check_single_assignment(model, path)
    return upgrade(model, path), arrays


def _check_single_assignment(model: onnx.ModelProto, path: str) -> None:
    """Every value is defined once (onnxruntime refuses models that break this; without the
    check the last writer would win), and no tensor has a negative dimension."""
    seen: dict[str, str] = {}
    g = model.graph
    defs = [(vi.name, "graph input") for vi in g.input] + [(t.name, "initializer") for t in g.initializer]
    initializers = {t.name for t in g.initializer}
    defs = [(n, w) for n, w in defs if not (w == "graph input" and n in initializers)]  # IR < 4 lists initializers as inputs too
    for i, node in enumerate(g.node):
        defs += [(o, f"node {node.name or node.op_type + '#' + str(i)!r}") for o in node.output if o]
    for name, where in defs:
        if name in seen:
            raise NsccError(
                f"{path}: value {name!r} is defined twice ({seen[name]} and {where})",
                "every value in an ONNX graph has one definition; re-export the model",
            )
        seen[name] = where
    for t in g.initializer:
        if any(d < 0 for d in t.dims):
            raise NsccError(f"{path}: initializer {t.name!r} has a negative dimension {list(t.dims)}", "re-export the model")


def opset_of(model: onnx.ModelProto) -> int:
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            return o.version
    return 1


def upgrade(model: onnx.ModelProto, path: str) -> onnx.ModelProto:
    opset = opset_of(model)
    if opset > ACCEPTED_MAX_OPSET:
        raise NsccError(
            f"{path}: opset {opset} is newer than nscc knows ({MIN_OPSET}-{ACCEPTED_MAX_OPSET})",
            f"export with opset_version between {MIN_OPSET} and {MAX_OPSET}",
        )
    if opset >= MIN_OPSET:
        return model
    from onnx import version_converter

    try:
        return version_converter.convert_version(model, MIN_OPSET)
    except Exception as e:  # the converter raises bare RuntimeErrors of many kinds
        raise NsccError(
            f"{path}: opset {opset} model could not be upgraded to opset {MIN_OPSET} ({str(e).splitlines()[0][:120]})",
            f"export with opset_version between {MIN_OPSET} and {MAX_OPSET}",
        ) from None


def graph_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    inits = {t.name for t in model.graph.initializer}
    return [vi for vi in model.graph.input if vi.name not in inits]


def bind_dims(model: onnx.ModelProto, dims: dict[str, int], path: str) -> dict[str, tuple[int, ...]]:
    """Static shape of every graph input; dynamic ones from `dims`."""
    names = _dynamic_dims(model)
    unknown = sorted(set(dims) - names)
    if unknown:
        raise NsccError(
            f"{path}: --dim {unknown[0]} names no dynamic dimension of the model",
            ("its dynamic dimensions are " + ", ".join(sorted(names))) if names else "the model's inputs are all static: drop --dim",
        )
    shapes: dict[str, tuple[int, ...]] = {}
    for vi in graph_inputs(model):
        t = vi.type
        if not t.HasField("tensor_type"):
            raise NsccError(f"{path}: input '{vi.name}' is not a tensor", "nscc compiles tensor-in, tensor-out models")
        shape = []
        for axis, d in enumerate(t.tensor_type.shape.dim):
            if d.HasField("dim_value") and d.dim_value > 0:
                shape.append(d.dim_value)
                continue
            key = d.dim_param if d.HasField("dim_param") and d.dim_param else f"{vi.name}.{axis}"
            if key not in dims:
                raise NsccError(
                    f"{path}: input '{vi.name}' has dynamic dimension {axis} ('{key}') with no value",
                    f"bind it with --dim {key}=VALUE",
                )
            shape.append(int(dims[key]))
        shapes[vi.name] = tuple(shape)
    return shapes


def _dynamic_dims(model: onnx.ModelProto) -> set[str]:
    out = set()
    for vi in graph_inputs(model):
        for axis, d in enumerate(vi.type.tensor_type.shape.dim):
            if not (d.HasField("dim_value") and d.dim_value > 0):
                out.add(d.dim_param if d.HasField("dim_param") and d.dim_param else f"{vi.name}.{axis}")
    return out


def check_shapes(model: onnx.ModelProto, input_shapes: dict[str, tuple[int, ...]], path: str) -> None:
    """ONNX shape inference in strict mode on a skeleton: weights become typed inputs."""
    g = model.graph
    small = [t for t in g.initializer if _numel(t.dims) <= 64]
    big = [t for t in g.initializer if _numel(t.dims) > 64]
    inputs = [helper.make_tensor_value_info(n, _elem(model, n), s) for n, s in input_shapes.items()]
    inputs += [helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in big]
    skel_graph = helper.make_graph(list(g.node), g.name or "main", inputs, list(g.output), initializer=small)
    skel = helper.make_model(skel_graph, opset_imports=list(model.opset_import), ir_version=model.ir_version)
    skel.functions.extend(model.functions)
    for name, shape in input_shapes.items():
        _check_size(f"input '{name}'", shape, path)
    try:
        # Shapes first, without values: a ConstantOfShape or Range of 2^40 elements must be
        # refused before value propagation (data_prop) would materialise it.
        _check_sizes(shape_inference.infer_shapes(skel, check_type=True, strict_mode=True), path)
        shape_inference.infer_shapes(skel, check_type=True, strict_mode=True, data_prop=True)
    except (shape_inference.InferenceError, onnx.checker.ValidationError, RuntimeError) as e:
        msg = " ".join(str(e).split())
        if "Unsupported op" in msg or "No Op registered" in msg or "is not a registered function" in msg:
            return  # unknown ops are reported, all at once, by the importer
        raise NsccError(f"{path}: the model's shapes are inconsistent: {msg[:300]}", "check the input shapes and --dim values") from None


# The most elements one tensor may have; `--max-elements` raises it. Beyond it a model is
# more likely hostile or mis-bound (--dim) than real: 2^31 floats are 8 GiB.
MAX_ELEMENTS = 1 << 31


def _check_size(what: str, shape, path: str) -> None:
    if _numel(shape) > MAX_ELEMENTS:
        raise NsccError(
            f"{path}: {what} would have {_numel(shape):,} elements (shape {list(shape)}), over the limit of {MAX_ELEMENTS:,}",
            "check --dim values; raise the limit with --max-elements N if the model really needs it",
        )


def _check_sizes(inferred: onnx.ModelProto, path: str) -> None:
    for vi in [*inferred.graph.value_info, *inferred.graph.output]:
        dims = vi.type.tensor_type.shape.dim
        if vi.type.HasField("tensor_type") and dims and all(d.HasField("dim_value") for d in dims):
            _check_size(f"value '{vi.name}'", [d.dim_value for d in dims], path)


def _numel(dims) -> int:
    n = 1
    for d in dims:
        n *= d
    return n


def _elem(model: onnx.ModelProto, name: str) -> int:
    for vi in model.graph.input:
        if vi.name == name:
            return vi.type.tensor_type.elem_type
    return onnx.TensorProto.FLOAT
