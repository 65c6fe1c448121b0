"""Users' passes: a plugin file (--load-pass-plugin) and an installed package (entry point)."""

import os
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from nscc.cli import main

PLUGIN = os.path.join(os.path.dirname(__file__), "..", "examples", "custom_pass", "merge_reshapes.py")


@pytest.fixture
def chained(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 6])
    s1 = onnx.numpy_helper.from_array(np.array([6, 4], np.int64), "s1")
    s2 = onnx.numpy_helper.from_array(np.array([4, 6], np.int64), "s2")
    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("Reshape", ["r", "s1"], ["a"]),
        helper.make_node("Reshape", ["a", "s2"], ["b"]),
        helper.make_node("Neg", ["b"], ["y"]),
    ]
    g = helper.make_graph(nodes, "g", [x], [y], [s1, s2])
    p = tmp_path / "chain.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)]), p)
    return p


def test_plugin_pass_rewrites_and_keeps_results(tmp_path, chained, capsys):
    out = tmp_path / "after.mlir"
    assert main(["opt", str(chained), "--load-pass-plugin", PLUGIN, "-p", "example-merge-reshapes", "-o", str(out)]) == 0
    text = out.read_text()
    assert text.count("nn.reshape") == 1
    assert "(tensor<2x3x4xf32>) -> tensor<4x6xf32>" in text
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    assert main(["run", str(out), "--input", f"x={tmp_path / 'x.npy'}", "--output", str(tmp_path / "o.npz")]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "o.npz")["y"], -np.maximum(x, 0).reshape(4, 6))
    capsys.readouterr()
    assert main(["passes", "--load-pass-plugin", PLUGIN]) == 0
    assert "example-merge-reshapes: Merges chains of nn.reshape" in capsys.readouterr().out


def test_print_ir_after_all_and_dump_dir(tmp_path, chained, capsys):
    dump = tmp_path / "dump"
    spec = "example-merge-reshapes,cse"
    assert main(["opt", str(chained), "--load-pass-plugin", PLUGIN, "-p", spec, "--print-ir-after-all", "--dump-ir-dir", str(dump)]) == 0
    out = capsys.readouterr().out
    assert "IR Dump After example-merge-reshapes (1)" in out and "IR Dump After cse (2)" in out
    assert sorted(os.listdir(dump)) == ["01-example-merge-reshapes.mlir", "02-cse.mlir", "ir-dumps.weights.npz"]  # weights once, shared
    from nscc.ir.textio import read_module

    for f in ("01-example-merge-reshapes.mlir", "02-cse.mlir"):
        read_module(str(dump / f))  # each dump reads back with its weights
    # a second run replaces its own earlier dumps' weights, but never a file it did not write
    assert main(["opt", str(chained), "--load-pass-plugin", PLUGIN, "-p", spec, "--dump-ir-dir", str(dump)]) == 0
    capsys.readouterr()
    other = tmp_path / "other"
    other.mkdir()
    (other / "ir-dumps.weights.npz").write_text("mine")
    assert main(["opt", str(chained), "--load-pass-plugin", PLUGIN, "-p", spec, "--dump-ir-dir", str(other)]) == 1
    assert (other / "ir-dumps.weights.npz").read_text() == "mine"
    assert main(["opt", str(chained), "--load-pass-plugin", PLUGIN, "-p", spec, "--print-ir-after", "cse"]) == 0
    out = capsys.readouterr().out
    assert "After cse" in out and "After example-merge-reshapes" not in out


def test_entry_point_package_registers_a_pass(tmp_path, chained, monkeypatch, capsys):
    """An installed distribution declaring `nscc.passes` is picked up by name."""
    pkg = tmp_path / "site"
    (pkg / "mypasses").mkdir(parents=True)
    (pkg / "mypasses" / "__init__.py").write_text(
        open(PLUGIN).read().replace("@register_pass\n", "").replace("example-merge-reshapes", "pkg-merge-reshapes")
    )
    dist = pkg / "mypasses-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: mypasses\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[nscc.passes]\npkg-merge-reshapes = mypasses:MergeReshapesPass\n")
    monkeypatch.syspath_prepend(str(pkg))
    assert main(["opt", str(chained), "-p", "pkg-merge-reshapes"]) == 0
    assert capsys.readouterr().out.count("nn.reshape") == 1
    sys.modules.pop("mypasses", None)
