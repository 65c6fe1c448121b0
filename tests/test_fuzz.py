"""Fuzzing (issue 15): hostile IR text and random ONNX graphs never make nscc print a
traceback, an internal error, or hang. Hypothesis runs a fixed number of derandomized
examples (a seed budget, not a time budget); each has an alarm against hangs."""

import os
import signal
import string

import numpy as np
import onnx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

from nscc.cli import main

ROOT = os.path.join(os.path.dirname(__file__), "..")
SEEDS = [
    open(os.path.join(ROOT, "tests", "ir", f)).read() for f in sorted(os.listdir(os.path.join(ROOT, "tests", "ir"))) if f.endswith(".mlir")
]
BUDGET = settings(max_examples=200, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck), database=None)


def _nscc(args, capsys) -> None:
    """One command in-process: a clean exit code, no internal error, within 60 s."""

    def hang(*_):
        raise TimeoutError("nscc hung")

    old = signal.signal(signal.SIGALRM, hang)
    signal.alarm(60)
    try:
        try:
            rc = main(args)
        except SystemExit as e:  # argparse
            rc = e.code
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
    out, err = capsys.readouterr()
    assert rc in (0, 1, 2), (rc, err[-2000:])
    assert "internal error" not in err and "Traceback" not in err, err[-2000:]
    if rc:
        assert err.strip().startswith("nscc: error:") or err.strip().startswith("nscc "), err[-2000:]


@st.composite
def mutated_ir(draw):
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["delete", "insert", "replace", "swap-number"]))
        if kind == "delete":
            text = text[:i] + text[i + draw(st.integers(1, 12)) :]
        elif kind == "insert":
            text = text[:i] + draw(st.text(string.printable + "<>{}()[]%!#@:,x\x00\x1b", min_size=1, max_size=6)) + text[i:]
        elif kind == "replace":
            text = (
                text[:i]
                + draw(st.sampled_from(["i64", "f32", "!snn.counts<2x2, 3>", "tensor<0xf32>", "-1", "99999999999", '"\\00"', "}"]))
                + text[i + 1 :]
            )
        else:
            text = text[:i] + str(draw(st.integers(-(2**40), 2**40))) + text[i:]
    return text


@pytest.mark.slow
@BUDGET
@given(mutated_ir())
def test_mutated_ir_is_parsed_or_refused_cleanly(tmp_path_factory, capsys, text):
    path = tmp_path_factory.mktemp("ir") / "m.mlir"
    path.write_text(text, errors="replace")
    _nscc(["opt", str(path)], capsys)


# ONNX ops the frontend lowers (and a few it does not), with their input count and attributes.
OPS = {
    "Relu": (1, {}), "Neg": (1, {}), "Exp": (1, {}), "Sqrt": (1, {}), "Sigmoid": (1, {}), "Tanh": (1, {}), "Erf": (1, {}),
    "Add": (2, {}), "Mul": (2, {}), "Sub": (2, {}), "Div": (2, {}), "MatMul": (2, {}), "Pow": (2, {}),
    "Softmax": (1, {"axis": st.integers(-4, 4)}), "Transpose": (1, {"perm": st.permutations([0, 1])}),
    "ReduceSum": (1, {"keepdims": st.integers(0, 1)}), "ReduceMean": (1, {"keepdims": st.integers(0, 1)}),
    "Flatten": (1, {"axis": st.integers(-3, 3)}), "Concat": (2, {"axis": st.integers(-3, 3)}),
    "Gemm": (2, {"transB": st.integers(0, 1), "alpha": st.floats(-2, 2)}), "LeakyRelu": (1, {"alpha": st.floats(-1, 1)}),
    "Clip": (1, {}), "Cast": (1, {"to": st.sampled_from([1, 6, 7, 9, 11])}), "Identity": (1, {}), "Shape": (1, {}),
    "Where": (3, {}), "Gather": (2, {"axis": st.integers(-2, 2)}), "Hardmax": (1, {}), "NonZero": (1, {}),
}  # fmt: skip


@st.composite
def onnx_graph(draw):
    shapes = st.lists(st.integers(0, 5), min_size=0, max_size=3)
    x_shape = draw(shapes)
    vals = [("x", x_shape)]
    nodes, inits = [], []
    for k in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(sorted(OPS)))
        arity, attrs = OPS[op]
        ins = []
        for j in range(arity):
            if vals and draw(st.booleans()):
                ins.append(draw(st.sampled_from(vals))[0])
            else:
                shape = draw(shapes)
                name = f"w{k}_{j}"
                dtype = draw(st.sampled_from([np.float32, np.int64]))
                inits.append(onnx.numpy_helper.from_array(np.ones(shape, dtype), name))
                ins.append(name)
        out = f"v{k}"
        nodes.append(helper.make_node(op, ins, [out], **{a: draw(s) for a, s in attrs.items() if draw(st.booleans())}))
        vals.append((out, None))
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
        [helper.make_tensor_value_info(vals[-1][0], TensorProto.FLOAT, None)],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", draw(st.sampled_from([13, 17, 18])))])


@pytest.mark.slow
@BUDGET
@given(onnx_graph(), st.sampled_from(["opt", "run"]))
def test_random_onnx_graphs_import_run_or_are_refused_cleanly(tmp_path_factory, capsys, model, command):
    d = tmp_path_factory.mktemp("onnx")
    path = d / "m.onnx"
    with open(path, "wb") as f:
        f.write(model.SerializeToString())
    args = ["opt", str(path)]
    if command == "run":
        shape = [max(1, dim.dim_value) for dim in model.graph.input[0].type.tensor_type.shape.dim]
        np.save(d / "x.npy", np.random.default_rng(0).standard_normal(shape).astype(np.float32))
        args = ["run", str(path), "--input", f"x={d / 'x.npy'}"]
    _nscc(args, capsys)
