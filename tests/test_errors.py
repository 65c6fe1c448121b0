"""Bad input ends in one clear error line and a non-zero exit, never a traceback
or a half-written output directory."""

import os
import subprocess
import sys

import numpy as np
import onnx
import pytest
import torch_models as M
from onnx import TensorProto, helper


def nscc(*args, cwd=None):
    r = subprocess.run([sys.executable, "-m", "nscc", *map(str, args)], capture_output=True, text=True, cwd=cwd)
    assert "Traceback" not in r.stderr, r.stderr
    return r


def one_error_line(r) -> str:
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode != 0
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("nscc: error: "), lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    d = tmp_path_factory.mktemp("mlp")
    import torch

    return M.export(M.MLP(), (torch.randn(2, 64),), str(d / "mlp.onnx"), ["x"], ["y"], dynamo=False)


def _model(tmp_path, nodes, inputs, outputs, inits=(), name="m.onnx", opset=18):
    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    p = tmp_path / name
    onnx.save(m, p)
    return p


def test_truncated_file(tmp_path, mlp):
    data = open(mlp, "rb").read()
    bad = tmp_path / "cut.onnx"
    bad.write_bytes(data[: len(data) // 3])
    line = one_error_line(nscc("compile", bad, "-o", tmp_path / "out"))
    assert "cut.onnx" in line and "hint:" in line
    assert not (tmp_path / "out").exists()


def test_file_that_is_not_onnx(tmp_path):
    bad = tmp_path / "notes.onnx"
    bad.write_text("this is not a model\n" * 20)
    line = one_error_line(nscc("opt", bad))
    assert "notes.onnx" in line and "not a valid ONNX model" in line


def test_unsupported_ops_are_all_listed_with_node_and_opset(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
    nodes = [
        helper.make_node("Relu", ["x"], ["a"], name="ok_relu"),
        helper.make_node("Hardmax", ["a"], ["b"], name="weird_1"),
        helper.make_node("LpNormalization", ["b"], ["y"], name="weird_2"),
    ]
    p = _model(tmp_path, nodes, [x], [y])
    r = nscc("compile", p, "-o", tmp_path / "out")
    assert r.returncode == 2
    err = r.stderr
    assert "Hardmax" in err and "weird_1" in err and "LpNormalization" in err and "weird_2" in err
    assert "opset 18" in err
    lines = [ln for ln in err.splitlines() if "unsupported op" in ln]
    assert len(lines) == 2
    assert not (tmp_path / "out").exists()


def test_dynamic_dimension_without_value(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])
    p = _model(tmp_path, [helper.make_node("Relu", ["x"], ["y"])], [x], [y])
    line = one_error_line(nscc("compile", p, "-o", tmp_path / "out"))
    assert "'batch'" in line and "--dim batch=" in line
    assert nscc("compile", p, "-o", tmp_path / "out", "--dim", "batch=4").returncode == 0
    assert (tmp_path / "out" / "model.mlir").exists()


def test_bad_dim_flag(tmp_path, mlp):
    r = nscc("compile", mlp, "-o", tmp_path / "out", "--dim", "batch=zero")
    assert r.returncode == 2 and "NAME=VALUE" in r.stderr or "positive integer" in r.stderr


def test_unknown_flag_and_target(tmp_path, mlp):
    r = nscc("compile", mlp, "-o", tmp_path / "out", "--frobnicate")
    assert r.returncode == 2 and "unrecognized arguments" in r.stderr
    r = nscc("compile", mlp, "-o", tmp_path / "out", "--target", "gpu")
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_a_float_model_for_the_fpga_is_one_error_naming_the_op(tmp_path, mlp):
    r = nscc("compile", mlp, "-o", tmp_path / "out", "--target", "vck190", "-p", "raise-attention")
    assert one_error_line(r) and "vck190 target: op 'nn." in r.stderr and "integer-islands" in r.stderr and r.returncode != 0
    assert not (tmp_path / "out").exists()


def test_without_p_the_fpga_target_says_which_pipeline_it_applies(tmp_path, mlp):
    r = nscc("compile", mlp, "-o", tmp_path / "out", "--target", "vck190")
    assert r.returncode == 0, r.stderr
    from nscc.targets.vck190 import DEFAULT_PIPELINE

    assert f"no -p given: the vck190 target applies its default pipeline -p '{DEFAULT_PIPELINE}'" in r.stderr
    assert "no --calib data" in r.stderr and (tmp_path / "out" / "kernel" / "nscc_kernel.cpp").exists()


def test_an_op_without_an_integer_form_is_named_before_calibration(tmp_path):
    """A tanh the fpga cannot take is refused before spike-conversion calibrates (which the
    note of its fidelity line would show)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((4, 4), np.float32), "w")
    g = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["h"]), helper.make_node("Tanh", ["h"], ["y"])],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])], [w],
    )  # fmt: skip
    path = tmp_path / "tanh.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
    r = nscc("compile", path, "-o", tmp_path / "out", "--target", "vck190")
    lines = r.stderr.strip().splitlines()
    line = lines[-1]
    assert r.returncode != 0 and line.startswith("nscc: error: ") and "Traceback" not in r.stderr and "no -p given" in lines[0]
    assert "would stay float in the integer-only kernel (nn.tanh)" in line and "op 'nn.tanh'" in line
    assert "spike-conversion:" not in r.stderr and not (tmp_path / "out").exists()


def test_missing_input_file(tmp_path, mlp):
    line = one_error_line(nscc("run", mlp, "--input", f"x={tmp_path / 'nope.npy'}"))
    assert "nope.npy" in line and "not found" in line


def test_wrong_input_shape(tmp_path, mlp):
    np.save(tmp_path / "x.npy", np.zeros((2, 65), np.float32))
    line = one_error_line(nscc("run", mlp, "--input", f"x={tmp_path / 'x.npy'}"))
    assert "'x'" in line and "[2, 65]" in line and "[2, 64]" in line


def test_missing_and_unknown_inputs(tmp_path, mlp):
    line = one_error_line(nscc("run", mlp))
    assert "missing input 'x'" in line and "--input x=" in line
    np.save(tmp_path / "x.npy", np.zeros((2, 64), np.float32))
    line = one_error_line(nscc("run", mlp, "--input", f"x={tmp_path / 'x.npy'}", "--input", f"z={tmp_path / 'x.npy'}"))
    assert "unknown input 'z'" in line


def test_unwritable_output_path(tmp_path, mlp):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a directory")
    line = one_error_line(nscc("compile", mlp, "-o", blocker / "out"))
    assert "cannot write" in line and "hint:" in line
    line = one_error_line(nscc("opt", mlp, "-o", blocker / "x.mlir"))
    assert "cannot write" in line


def test_inconsistent_shapes_name_the_node(tmp_path):
    a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 5])
    w = onnx.numpy_helper.from_array(np.zeros((4, 5), np.float32), "w")
    p = _model(tmp_path, [helper.make_node("MatMul", ["a", "w"], ["y"], name="mm0")], [a], [y], [w])
    line = one_error_line(nscc("opt", p))
    assert "mm0" in line or "MatMul" in line


def test_bad_pipeline(tmp_path, mlp):
    line = one_error_line(nscc("opt", mlp, "-p", "no-such-pass"))
    assert "no-such-pass" in line and "nscc passes" in line


def test_failed_emit_leaves_no_output_directory(tmp_path, mlp, monkeypatch):
    """A target that fails half-way leaves neither OUT/ nor temporary directories."""
    import nscc.targets.interpreter as tgt
    from nscc.driver import compile_model
    from nscc.errors import NsccError

    def broken_emit(ctx, module, out_dir, source):
        open(os.path.join(out_dir, "half.txt"), "w").write("partial")
        raise NsccError("simulated failure")

    monkeypatch.setattr(tgt, "emit", broken_emit)
    out = tmp_path / "build" / "out"
    with pytest.raises(NsccError):
        compile_model(mlp, "interpreter", str(out), None, {})
    assert not out.exists()
    assert os.listdir(tmp_path / "build") == []


def test_existing_output_is_replaced_only_on_success(tmp_path, mlp):
    out = tmp_path / "out"
    assert nscc("compile", mlp, "-o", out).returncode == 0
    before = sorted(os.listdir(out))
    r = nscc("compile", tmp_path / "missing.onnx", "-o", out)
    assert r.returncode != 0
    assert sorted(os.listdir(out)) == before


def test_long_names_keep_their_distinguishing_end_and_stay_escaped():
    from nscc.errors import printable

    names = [f"model.layers.slice(None, 24, None).{i}.mlp.down_proj" for i in (3, 13)]
    shown = [printable(n, 32) for n in names]
    assert all(len(s) == 32 for s in shown)
    assert shown[0] != shown[1] and shown[1].endswith("13.mlp.down_proj") and shown[1].startswith("model.")
    hostile = printable("\x1b[2J" * 50, 20)
    assert "\x1b" not in hostile and len(hostile) == 20
