"""The ONNX node conformance cases, run through nscc's frontend and interpreter.

The onnx wheel ships the cases as generators; `collect_testcases` builds each
case's one-node model with its input and expected output arrays. A case is
"ours" when every op in its graph is one nscc lowers. Run this file directly
for the per-op passed/total table:  python tests/onnx_node_cases.py
"""

from __future__ import annotations

import collections
import functools
import warnings

import numpy as np
import onnx

from nscc.errors import NsccError
from nscc.frontend.importer import import_onnx
from nscc.frontend.onnx_ops import LOWERINGS
from nscc.semantics.interpreter import run

RTOL, ATOL = 1e-4, 1e-5


@functools.cache
def all_cases():
    from onnx.backend.test.case.node import collect_testcases

    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return collect_testcases(None)


def op_types(case) -> set[str]:
    return {n.op_type for n in case.model.graph.node}


@functools.cache
def _schema_names() -> dict[str, str]:
    return {sch.name.lower(): sch.name for sch in onnx.defs.get_all_schemas()}


def target_op(case) -> str:
    """The op a case is about, from its name; `Op (expanded)` for a function body spelled out."""
    nodes = case.model.graph.node
    if len(nodes) == 1:
        return nodes[0].op_type
    base = case.name.removeprefix("test_").split("_expanded")[0]
    parts = base.split("_")
    for k in range(len(parts), 0, -1):
        op = _schema_names().get("".join(parts[:k]).lower())
        if op:
            return f"{op} (expanded)" if "_expanded" in case.name else op
    return f"{base} (graph)"


def our_cases():
    """Cases whose graphs use only ops nscc lowers and whose data are plain tensors."""
    out = []
    for c in all_cases():
        if not op_types(c) <= set(LOWERINGS):
            continue
        if any(n.domain not in ("", "ai.onnx") for n in c.model.graph.node):
            continue
        if not all(vi.type.HasField("tensor_type") for vi in list(c.model.graph.input) + list(c.model.graph.output)):
            continue
        out.append(c)
    return out


# Inputs at these positions configure the op (a shape, axes, bounds). In the
# conformance cases they are graph inputs with fixed data; in a real model they
# are constants, which is the form nscc compiles, so the harness freezes them.
CONFIG_INPUTS = {
    "Reshape": {1}, "Slice": {1, 2, 3, 4}, "Split": {1}, "Squeeze": {1}, "Unsqueeze": {1}, "Tile": {1},
    "Trilu": {1}, "Expand": {1}, "Pad": {1, 2, 3}, "CumSum": {1}, "Clip": {1, 2}, "Range": {0, 1, 2},
    "ConstantOfShape": {0}, "ReduceMean": {1}, "ReduceSum": {1}, "ReduceMax": {1}, "ReduceMin": {1},
    "ReduceProd": {1}, "ReduceSumSquare": {1}, "ReduceL2": {1},
}  # fmt: skip


def freeze_config_inputs(model: onnx.ModelProto, feeds: dict) -> tuple[onnx.ModelProto, dict]:
    frozen = {
        node.input[i]
        for node in model.graph.node
        for i in CONFIG_INPUTS.get(node.op_type, ())
        if i < len(node.input) and node.input[i] in feeds
    }
    if not frozen:
        return model, feeds
    m = onnx.ModelProto()
    m.CopyFrom(model)
    keep = [vi for vi in m.graph.input if vi.name not in frozen]
    del m.graph.input[:]
    m.graph.input.extend(keep)
    m.graph.initializer.extend(onnx.numpy_helper.from_array(np.asarray(feeds[n]), n) for n in sorted(frozen))
    return m, {k: v for k, v in feeds.items() if k not in frozen}


def _array(a) -> np.ndarray:
    return onnx.numpy_helper.to_array(a) if isinstance(a, onnx.TensorProto) else np.asarray(a)


def imported(case):
    """Each data set of a case, imported: (model, ctx, module, feeds, expected), configuration inputs frozen."""
    original = case.model
    for inputs, expected in case.data_sets:
        real = [vi for vi in original.graph.input if vi.name not in {t.name for t in original.graph.initializer}]
        model, feeds = freeze_config_inputs(original, {vi.name: _array(a) for vi, a in zip(real, inputs)})
        real = [vi for vi in real if vi.name in feeds]
        ctx, module = import_onnx(model, dims=_dims_from(real, feeds), name=case.name)
        yield model, ctx, module, feeds, expected


def run_case(case) -> tuple[str, str]:
    """('pass' | 'unsupported' | 'mismatch' | 'crash', detail)."""
    try:
        results = [(model, expected, run(module, ctx.weights, feeds)) for model, ctx, module, feeds, expected in imported(case)]
    except NsccError as e:
        return "unsupported", e.message
    except Exception as e:  # noqa: BLE001 -- a crash is what this harness reports
        return "crash", f"{type(e).__name__}: {e}"
    for model, expected, got in results:
        for vi, exp in zip(model.graph.output, expected):
            exp = _array(exp)
            g = got[vi.name]
            if g.shape != exp.shape:
                return "mismatch", f"{vi.name}: shape {g.shape} != {exp.shape}"
            if exp.dtype.kind in "fc":
                # a few cases store rounded expectations and say so in their own tolerance
                rtol, atol = max(RTOL, case.rtol or 0), max(ATOL, case.atol or 0)
                ok = np.allclose(g.astype(np.float64), exp.astype(np.float64), rtol=rtol, atol=atol, equal_nan=True)
            else:
                ok = np.array_equal(g, exp)
            if not ok:
                return "mismatch", f"{vi.name}: max |diff| {np.max(np.abs(g.astype(np.float64) - exp.astype(np.float64)))}"
    return "pass", ""


def _dims_from(real, feeds) -> dict[str, int]:
    dims = {}
    for vi in real:
        for axis, d in enumerate(vi.type.tensor_type.shape.dim):
            if not d.dim_value:
                key = d.dim_param or f"{vi.name}.{axis}"
                dims[key] = feeds[vi.name].shape[axis]
    return dims


def table() -> dict[str, collections.Counter]:
    per_op: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for c in our_cases():
        status, _ = run_case(c)
        per_op[target_op(c)][status] += 1
    return per_op


if __name__ == "__main__":
    rows = table()
    total = collections.Counter()
    print(f"{'op':24} {'passed':>7} / {'total':<6} notes")
    for op in sorted(rows):
        r = rows[op]
        total.update(r)
        n = sum(r.values())
        notes = ", ".join(f"{k} {v}" for k, v in sorted(r.items()) if k != "pass")
        print(f"{op:24} {r['pass']:>7} / {n:<6} {notes}")
    print(
        f"{'all':24} {total['pass']:>7} / {sum(total.values()):<6} "
        + ", ".join(f"{k} {v}" for k, v in sorted(total.items()) if k != "pass")
    )
