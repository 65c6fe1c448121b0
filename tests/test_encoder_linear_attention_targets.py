"""Encoders' linear attention (`linear-attention` rewrites a BERT's padding-masked attention,
`spike-conversion` makes it `snn.linear_attention` with `bidirectional` and an integer mask) on
the C++ simulator and in the VCK190 kernel, bit for bit against the interpreter: a tiny padded
BERT over its calibration batches (padded rows included) and the op alone on random counts
(the simulator's case is in tests/test_cpp_every_op.py). The causal whole-sequence form stays
refused by the kernel: decoders are compiled token by token."""

from __future__ import annotations

import json
import shutil

import hf_models
import numpy as np
import pytest
from test_cpp_every_op import encoder_linear_attention_program
from test_cpp_target import simulate
from test_vck190_target import assert_csim_passes, assert_program_passes_csim
from test_vck190_target import package as vck190_package

from nscc.driver import prepare
from nscc.errors import NsccError
from nscc.ir import snn
from nscc.ir.textio import parse_module
from nscc.semantics.interpreter import run
from nscc.targets.cpp import run_project
from nscc.targets.vck190.partition import preflight

pytestmark = [
    pytest.mark.skipif(shutil.which("g++") is None or shutil.which("make") is None, reason="needs g++ and make"),
    pytest.mark.usefixtures("private_build_cache"),
]
ENCODER = "raise-attention,linear-attention{fit-steps=20},fuse-gelu,fuse-layer-norm,spike-conversion,requant-fusion,integer-islands"


@pytest.fixture(scope="module")
def bert(tmp_path_factory):
    """The padded BERT (ids and mask, batch 2) made linear and integer, with the VCK190's preflight."""
    d = tmp_path_factory.mktemp("bert")
    model = hf_models.export("bert", str(d / "bert.onnx"), batch=2)
    calib = hf_models.write_calib(str(d / "calib.npz"), 8, mask=True)
    ctx, module = prepare(model, {}, calib, ENCODER, preflight=preflight)
    las = [op for op in module.walk() if isinstance(op, snn.LinearAttentionOp)]
    assert len(las) == 2 and all(op.bidirectional is not None and op.mask is not None for op in las)
    assert not any(isinstance(op, snn.AttentionOp) for op in module.walk())
    data = dict(np.load(calib))
    assert (data["mask"] == 0).any(axis=1)[1::2].all()  # every other row padded
    return ctx, module, [{k: v[i : i + 2] for k, v in data.items()} for i in range(0, 8, 2)]


@pytest.mark.slow
def test_padded_bert_runs_on_the_simulator_as_the_interpreter_does(bert, tmp_path):
    ctx, module, batches = bert
    project = simulate(ctx, module, batches[0], tmp_path)[2]
    for n, feeds in enumerate(batches):
        ref = run(module, ctx.weights, feeds)
        out = run_project(project, feeds)[0]
        for k in ref:
            np.testing.assert_array_equal(out[k], ref[k], err_msg=f"batch {n}: {k}")
    with open(f"{project}/model.cpp") as f:
        assert f.read().count("linear_attention_visible(") == 2


@pytest.mark.slow
def test_padded_bert_passes_csim_with_linear_attention_in_the_kernel(bert, tmp_path):
    """The whole padded batch in one call: the kernel's linear attention over the sequence, its
    golden vectors (the interpreter's, the padded row computed with the mask) met bit for bit."""
    ctx, module, _ = bert
    pkg = vck190_package(ctx, module, tmp_path)
    with open(f"{pkg}/kernel/nscc_kernel.cpp") as f:
        assert f.read().count("nscc::linear_attention<") == 2
    assert assert_csim_passes(pkg) == 2 * hf_models.SEQ * 64  # the last hidden states of both rows
    report = json.load(open(f"{pkg}/report.json"))
    la = report["estimate"]["other_ops"]["snn.linear_attention"]
    # per layer, batch 2 x 4 heads x 16 queries x 16 keys: a 32-feature dot product, then 16 value columns
    assert la["count"] == 2 and la["cycles"] >= 2 * 2 * 4 * 16 * 16 * (32 + 16)
    with open(f"{pkg}/README.md") as f:
        assert "snn.linear_attention x2" in f.read()


@pytest.mark.slow
def test_encoder_linear_attention_on_random_counts_passes_csim(tmp_path):
    """Every mask shape and form of tests/test_cpp_every_op.py's program, in the kernel."""
    assert_program_passes_csim(*encoder_linear_attention_program(6), tmp_path)


CAUSAL = """builtin.module {
  func.func @main(%x: tensor<2x4x3xi32>, %y: tensor<2x4x3xi32>) -> (tensor<2x4x3xi64>, tensor<2x4xi64>, tensor<2x4x2xi32>) {
    %one = nn.weight "one" : tensor<1xi32>
    %c = snn.requant %x, %one {shift = 0 : i64, axis = 0 : i64} : (tensor<2x4x3xi32>, tensor<1xi32>) -> !snn.counts<2x4x3, 15>
    %v = snn.requant %y, %one {shift = 0 : i64, axis = 0 : i64} : (tensor<2x4x3xi32>, tensor<1xi32>) -> !snn.counts<2x4x3, 15>
    %n, %d = snn.linear_attention %c, %c, %v {decay_shift = 0 : i64} : (!snn.counts<2x4x3, 15>, !snn.counts<2x4x3, 15>, !snn.counts<2x4x3, 15>) -> (tensor<2x4x3xi64>, tensor<2x4xi64>)
    %w = nn.weight "w" : tensor<3x2xi8>
    %o = snn.synapse %c, %w {acc_bits = 32 : i64} : (!snn.counts<2x4x3, 15>, tensor<3x2xi8>) -> tensor<2x4x2xi32>
    func.return %n, %d, %o : tensor<2x4x3xi64>, tensor<2x4xi64>, tensor<2x4x2xi32>
  }
}"""


def test_causal_whole_sequence_linear_attention_stays_refused_by_the_kernel(tmp_path):
    """A decoder's form (no mask, not bidirectional) over the whole sequence: the kernel decodes token by token."""
    ctx, module = parse_module(CAUSAL)
    ctx.weights.add("one", np.ones(1, np.int32))
    ctx.weights.add("w", np.ones((3, 2), np.int8))
    ctx.calibration = [{"input0": np.ones((2, 4, 3), np.int32), "input1": np.ones((2, 4, 3), np.int32)}]
    with pytest.raises(NsccError, match="runs causally over the whole sequence") as e:
        vck190_package(ctx, module, tmp_path)
    assert "decode-step" in e.value.hint
