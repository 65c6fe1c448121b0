"""QONNX and QDQ import: Brevitas networks trained at 4 bits spike in nscc with their trained
scales, ranges and integers, without calibration, and equal QONNX's own executor; the
integer program reaches the VCK190 kernel."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

pytest.importorskip("brevitas")
pytest.importorskip("qonnx")

import brevitas_models as B

from nscc.driver import compile_model, prepare
from nscc.errors import NsccError
from nscc.frontend.importer import import_onnx
from nscc.ir import snn
from nscc.ir.signature import signature
from nscc.quant.quantize import quantize, trained_grid
from nscc.semantics.interpreter import run

SAMPLES = 200


@pytest.fixture(scope="module")
def digits():
    from digits_mlp import train

    _, x, _, y = train.data()
    return x[:SAMPLES], y[:SAMPLES]


@pytest.fixture(scope="module")
def brevitas_mlp(tmp_path_factory):
    net, shape = B.mlp()
    return B.export(net, shape, str(tmp_path_factory.mktemp("qonnx") / "mlp.onnx"), batch=50), shape


@pytest.fixture(scope="module")
def brevitas_cnn(tmp_path_factory):
    net, shape = B.cnn()
    return B.export(net, shape, str(tmp_path_factory.mktemp("qonnx") / "cnn.onnx"), batch=50), shape


def nscc_outputs(path: str, x: np.ndarray, pipeline: str) -> np.ndarray:
    ctx, module = prepare(path, {}, None, pipeline)
    name = signature(module).outputs[0][0]
    return np.concatenate([run(module, ctx.weights, {"input": x[i : i + 50]})[name] for i in range(0, len(x), 50)])


@pytest.mark.parametrize("family", ["brevitas_mlp", "brevitas_cnn"])
def test_a_brevitas_network_spikes_exactly_as_the_qonnx_executor_computes(family, digits, request):
    """Float import: the same floats, up to the order of float32 sums (numpy's BLAS and
    onnxruntime pick their kernels by CPU: equal on some machines, an ulp apart on others).
    Spiking, with and without requant-fusion: every count the same (a count off would move a
    logit by a quantizer step, ~0.01-0.1); what is left is the float rounding of the last decode."""
    path, shape = request.getfixturevalue(family)
    x, y = digits
    x = x.reshape(-1, *shape)
    ref = B.qonnx_run(path, x)
    assert np.abs(nscc_outputs(path, x, "") - ref).max() <= 1e-6 * np.abs(ref).max()
    for pipe in ("spike-conversion", "spike-conversion,requant-fusion"):
        out = nscc_outputs(path, x, pipe)
        assert np.abs(out - ref).max() <= 1e-5 * np.abs(ref).max(), pipe
    assert (ref.argmax(1) == y).mean() >= 0.9


def test_trained_quantizers_set_every_encoder_and_keep_the_integers(brevitas_cnn, capsys):
    """No calibration decides anything: the input encoder has Brevitas' two's-complement range,
    the ReLUs' encoders [0, 15], and the weights are the trained 4-bit integers; pooling and
    flattening run on the integer accumulators."""
    path, _ = brevitas_cnn
    ctx, module = prepare(path, {}, None, "spike-conversion,requant-fusion")
    err = capsys.readouterr().err
    assert "no --calib data; measuring fidelity" in err and "warning" not in err  # random data decides nothing here
    types = [op.res.type for op in module.walk() if isinstance(op, snn.EncodeOp | snn.RequantOp)]
    assert [(t.levels.data, t.lo, t.hi) for t in types] == [(8, -8, 7), (15, 0, 15), (15, 0, 15)]
    names = [op.name for op in module.walk() if op.name.startswith(("snn.", "nn.")) and op.name != "nn.weight"]
    assert names == [
        "snn.encode", "snn.conv_synapse", "nn.max_pool", "snn.requant", "snn.conv_synapse", "nn.reshape", "snn.requant",
        "snn.synapse", "snn.decode",
    ]  # fmt: skip
    for op in module.walk():
        if isinstance(op, snn.SynapseOp | snn.ConvSynapseOp):
            w = ctx.weights[op.weight.owner.sym.data]
            assert np.abs(w).max() <= 7


def test_weights_on_a_trained_grid_keep_their_integers():
    rng = np.random.default_rng(0)
    k = rng.integers(-7, 8, (32, 6))
    per_tensor = (k * np.float32(0.0371)).astype(np.float32)
    q = quantize(per_tensor, 4)
    assert np.array_equal(q.dequantize(), per_tensor) and np.abs(q.q).max() <= 7
    per_column = (k * np.float32([0.5, 0.01, 3.0, 0.2, 1e-3, 7.0])).astype(np.float32)
    assert trained_grid(per_column, -8, 7) is not None
    assert np.array_equal(quantize(per_column, 4).dequantize(), per_column)
    assert trained_grid(rng.standard_normal((32, 6)).astype(np.float32), -8, 7) is None


def qdq_mlp(path: str) -> str:
    """x -> Q/DQ (int8, zero point 0) -> MatMul with a Q/DQ'd weight -> Relu -> Q/DQ (uint8) -> MatMul,
    the weights int8 on one scale. The hidden scale is not a multiple of sx * sw: with 0.03
    some sums would fall exactly on a rounding tie, which the integer form rounds exactly and a
    float32 reference rounds by its summation order, differently on different CPUs."""
    rng = np.random.default_rng(1)
    w1 = rng.standard_normal((16, 12)).astype(np.float32) * 0.3
    w2 = rng.standard_normal((12, 4)).astype(np.float32) * 0.3
    inits = [
        numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(w2, "w2"),
        numpy_helper.from_array(np.array(0.05, np.float32), "sx"), numpy_helper.from_array(np.array(0, np.int8), "zx"),
        numpy_helper.from_array(np.array(0.02, np.float32), "sw"), numpy_helper.from_array(np.array(0, np.int8), "zw"),
        numpy_helper.from_array(np.array(0.0307, np.float32), "sh"), numpy_helper.from_array(np.array(0, np.uint8), "zh"),
    ]  # fmt: skip
    nodes = [
        helper.make_node("QuantizeLinear", ["x", "sx", "zx"], ["xq"]),
        helper.make_node("DequantizeLinear", ["xq", "sx", "zx"], ["xd"]),
        helper.make_node("QuantizeLinear", ["w1", "sw", "zw"], ["w1q"]),
        helper.make_node("DequantizeLinear", ["w1q", "sw", "zw"], ["w1d"]),
        helper.make_node("MatMul", ["xd", "w1d"], ["h"]),
        helper.make_node("Relu", ["h"], ["hr"]),
        helper.make_node("QuantizeLinear", ["hr", "sh", "zh"], ["hq"]),
        helper.make_node("DequantizeLinear", ["hq", "sh", "zh"], ["hd"]),
        helper.make_node("QuantizeLinear", ["w2", "sw", "zw"], ["w2q"]),
        helper.make_node("DequantizeLinear", ["w2q", "sw", "zw"], ["w2d"]),
        helper.make_node("MatMul", ["hd", "w2d"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "qdq", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [8, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [8, 4])], inits,
    )  # fmt: skip
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)]), path)
    return path


def test_quantize_dequantize_pairs_are_trained_quantizers(tmp_path):
    """Against ONNX's reference evaluator: onnxruntime fuses the pairs into integer kernels that
    round differently from the operators' definitions."""
    from onnx.reference import ReferenceEvaluator

    path = qdq_mlp(str(tmp_path / "qdq.onnx"))
    x = (np.random.default_rng(2).standard_normal((8, 16)) * 3).astype(np.float32)
    ref = ReferenceEvaluator(path).run(None, {"x": x})[0]
    ctx, module = import_onnx(path)
    np.testing.assert_allclose(run(module, ctx.weights, {"x": x})["y"], ref, rtol=0, atol=1e-5)
    ctx, module = prepare(path, {}, None, "spike-conversion")
    types = [op.res.type for op in module.walk() if isinstance(op, snn.EncodeOp)]
    assert [(t.levels.data, t.lo, t.hi) for t in types] == [(128, -128, 127), (255, 0, 255)]
    np.testing.assert_allclose(run(module, ctx.weights, {"x": x})["y"], ref, rtol=0, atol=1e-5)


def test_bad_quantizers_are_one_line_naming_the_node(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])
    s = helper.make_tensor_value_info("s", TensorProto.FLOAT, [])
    consts = [numpy_helper.from_array(np.array(v, np.float32), n) for n, v in (("z", 0.0), ("one", 1.0), ("b4", 4.0), ("b24", 24.0))]
    cases = [
        (helper.make_node("Quant", ["x", "s", "z", "b24"], ["y"], domain="qonnx.custom_op.general", name="q0"), [x, s], "scale"),
        (helper.make_node("Quant", ["x", "z", "z", "b24"], ["y"], domain="qonnx.custom_op.general", name="q1"), [x], "bit width"),
        (helper.make_node("Quant", ["x", "one", "z", "b4"], ["y"], domain="qonnx.custom_op.general", rounding_mode="SIDEWAYS", name="q2"),
         [x], "rounding mode"),
    ]  # fmt: skip
    for node, inputs, match in cases:
        graph = helper.make_graph([node], "g", inputs, [y], consts)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19), helper.make_opsetid("qonnx.custom_op.general", 1)])
        path = str(tmp_path / f"{node.name}.onnx")
        onnx.save(model, path)
        with pytest.raises(NsccError, match=rf"node '{node.name}' \(Quant\).*{match}") as e:
            import_onnx(path)
        assert "\n" not in str(e.value)


@pytest.mark.slow
@pytest.mark.parametrize("family", ["brevitas_mlp", "brevitas_cnn"])
def test_a_brevitas_network_passes_csim_without_calibration(family, digits, tmp_path, request):
    """`nscc compile model.onnx --target vck190` with no --calib: the default pipeline, every
    quantizer trained, and the kernel's C simulation equals the interpreter on the digits."""
    from test_vck190_target import assert_csim_passes

    path, shape = request.getfixturevalue(family)
    x, _ = digits
    calib = str(tmp_path / "digits.npz")
    np.savez(calib, input=x[:50].reshape(-1, *shape))
    pkg = str(tmp_path / "pkg")
    compile_model(path, "vck190", pkg, None, {}, calib)
    assert assert_csim_passes(pkg) == 50 * 10
    assert os.path.exists(os.path.join(pkg, "kernel"))
