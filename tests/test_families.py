"""Transformers' GPT-2, Llama (RoPE, GQA, SwiGLU), Qwen2 (q/k/v biases) and BERT (a padded
batch) on every target with the default pipeline: exported as users export them (random
weights with planted outliers, eager attention, dynamo opset 18, static shapes), compiled
with no -p, the C++ simulator equal to the interpreter bit for bit, and the VCK190
package's C simulation passing (8 decoding steps with the KV cache, or the padded batch)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.dirname(__file__))
import hf_models  # noqa: E402

from nscc.driver import compile_model, prepare  # noqa: E402
from nscc.ir import nn, snn  # noqa: E402
from nscc.semantics.interpreter import run  # noqa: E402
from nscc.targets import INTEGER_PIPELINE  # noqa: E402
from nscc.targets.cpp import run_project  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("g++") is None or shutil.which("make") is None, reason="needs g++ and make"),
    pytest.mark.usefixtures("private_build_cache"),
]
FAMILIES = ["gpt2", "llama", "qwen2", "bert"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    d = tmp_path_factory.mktemp("families")
    out = {}
    for fam in FAMILIES:
        batch = 2 if fam == "bert" else 1
        path = hf_models.export(fam, str(d / f"{fam}.onnx"), batch=batch)
        out[fam] = (path, hf_models.write_calib(str(d / f"{fam}_calib.npz"), n=8 * batch, mask=fam == "bert"))
    return out


@pytest.mark.parametrize("family", FAMILIES)
def test_default_pipeline_is_integer_on_every_target(family, exported, tmp_path, capsys):
    model, calib = exported[family]
    ctx, module = prepare(model, {}, calib, INTEGER_PIPELINE)
    ops = list(module.walk())
    # integers from the embedding to the output: no float op is left but the output's decode
    float_ops = {o.name for o in ops if isinstance(o, nn.NNOp) and not isinstance(o, nn.WeightOp) and any(
        "f32" in str(r.type) for r in o.results)}  # fmt: skip
    assert not float_ops, float_ops
    assert any(isinstance(o, snn.AttentionOp) for o in ops)
    data = dict(np.load(calib))
    batch = 2 if family == "bert" else 1
    feeds = {k: v[:batch] for k, v in data.items()}
    ref = run(module, ctx.weights, feeds)

    cpp = str(tmp_path / "cpp")
    compile_model(model, "cpp", cpp, None, {}, calib)
    out, _ = run_project(cpp, feeds)
    for k in ref:
        np.testing.assert_array_equal(out[k], ref[k], err_msg=f"{family}: {k}")

    pkg = str(tmp_path / "vck190")
    compile_model(model, "vck190", pkg, None, {}, calib)
    assert "no -p given: the vck190 target applies its default pipeline" in capsys.readouterr().err
    r = subprocess.run(["make", "-s", "-B", "csim"], cwd=pkg, capture_output=True, text=True)
    m = re.search(r"csim: (\d+) passed, 0 failed \((\d+) steps?\)", r.stdout)
    assert r.returncode == 0 and m, r.stdout + r.stderr
    assert int(m.group(2)) == (1 if family == "bert" else 8)
    if family == "bert":  # the padded row: its golden output was computed with the mask
        assert (data["mask"][:2] == 0).any()
