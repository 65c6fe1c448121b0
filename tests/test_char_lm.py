"""The example decoder LM (examples/char_lm), trained for integer spikes at D = 15."""

import os

import numpy as np
import onnxruntime as ort
import pytest

from nscc.calibration import load_calibration
from nscc.driver import apply_pipeline
from nscc.frontend.importer import import_onnx
from nscc.ir import nn, snn
from nscc.report import spike_report
from nscc.semantics.interpreter import run

HERE = os.path.join(os.path.dirname(__file__), "..", "examples", "char_lm")
MODEL = os.path.join(HERE, "model.onnx")


@pytest.fixture(scope="module")
def data():
    ev = np.load(os.path.join(HERE, "eval.npz"))
    return ev["ids"], ev["targets"]


def logits(ctx, module, ids):
    return np.concatenate([run(module, ctx.weights, {"ids": ids[i : i + 8]})["logits"] for i in range(0, len(ids), 8)])


def perplexity(lg, targets):
    lg = lg.astype(np.float64)
    lg = lg - lg.max(-1, keepdims=True)
    logp = lg - np.log(np.exp(lg).sum(-1, keepdims=True))
    return float(np.exp(-np.take_along_axis(logp, targets[..., None], -1).mean()))


def test_float_path_matches_onnxruntime(data):
    """The model rounds (its trained spike quantizers), so a value within an ulp of
    a rounding boundary can land on either side in two correct implementations
    (onnxruntime divides differently from IEEE x / theta): most positions match
    to 1e-4, and the predictions agree."""
    ids, _ = data
    ctx, module = import_onnx(MODEL)
    sess = ort.InferenceSession(MODEL)
    ours = logits(ctx, module, ids)
    theirs = np.concatenate([sess.run(None, {"ids": ids[i : i + 8]})[0] for i in range(0, len(ids), 8)])
    close = np.abs(ours - theirs).max(-1) <= 1e-4 + 1e-4 * np.abs(theirs).max(-1)
    assert close.mean() >= 0.95, close.mean()
    assert (ours.argmax(-1) == theirs.argmax(-1)).mean() >= 0.99


def test_spiking_lm_agrees_with_float_at_d15(data):
    ids, targets = data
    ctx, module = import_onnx(MODEL)
    ref = logits(ctx, module, ids)
    ctx.calibration = load_calibration(os.path.join(HERE, "calib.npz"), module)
    apply_pipeline(ctx, module, "spike-conversion{levels=15}")
    assert not [op for op in module.walk() if isinstance(op, nn.GemmOp)]
    synapses = [op for op in module.walk() if isinstance(op, snn.SynapseOp)]
    assert len(synapses) == 9  # 4 per block x 2 + the head
    got = logits(ctx, module, ids)
    agreement = float((got.argmax(-1) == ref.argmax(-1)).mean())
    assert agreement >= 0.95, agreement
    assert perplexity(got, targets) <= 1.05 * perplexity(ref, targets)
    apply_pipeline(ctx, module, "binary-expand")
    np.testing.assert_array_equal(logits(ctx, module, ids[:8]), got[:8])


def test_fewer_levels_than_trained_keep_the_clipping_range(data):
    ids, targets = data
    ctx, module = import_onnx(MODEL)
    ref = logits(ctx, module, ids[:16])
    apply_pipeline(ctx, module, "spike-conversion{levels=7}")
    enc = [op for op in module.walk() if isinstance(op, snn.EncodeOp)]
    assert enc and all(op.res.type.levels.data == 7 for op in enc)
    got = logits(ctx, module, ids[:16])
    assert 0.6 < float((got.argmax(-1) == ref.argmax(-1)).mean()) < 0.999


def test_integer_islands_keep_agreement_and_leave_only_attention_in_float(data):
    """fuse-gelu, spike conversion, then LayerNorm, softmax, GELU and residual adds in fixed point."""
    ids, targets = data
    ctx, module = import_onnx(MODEL)
    ref = logits(ctx, module, ids)
    apply_pipeline(ctx, module, "fuse-gelu,spike-conversion{levels=15},integer-islands{frac-bits=20}")
    names = {op.name for op in module.walk()}
    assert {"snn.fixed_layer_norm", "snn.fixed_softmax", "snn.fixed_gelu", "snn.fixed_add"} <= names
    assert not names & {"nn.layer_norm", "nn.softmax", "nn.gelu", "nn.tanh", "nn.pow"}
    # what stays real-valued: the attention products (linear-attention's job) and their plumbing
    floats = {op.name for op in module.walk() if op.name.startswith("nn.") and op.name != "nn.weight"}
    assert floats <= {"nn.matmul", "nn.mul", "nn.where", "nn.add", "nn.reshape", "nn.transpose", "nn.split", "nn.gather"}, floats
    got = logits(ctx, module, ids)
    assert float((got.argmax(-1) == ref.argmax(-1)).mean()) >= 0.95
    assert perplexity(got, targets) <= 1.05 * perplexity(ref, targets)


LINEAR = os.path.join(HERE, "linear")


def test_linear_attention_lm_is_raised_and_its_spiking_form_is_matmul_free():
    """The variant trained with nscc's linear attention and integer spikes:
    raise-attention finds both blocks, and the spiking model agrees with the
    float one and has no matrix product left."""
    ev = np.load(os.path.join(LINEAR, "eval.npz"))
    ids, targets = ev["ids"], ev["targets"]
    path = os.path.join(LINEAR, "model.onnx")
    ctx, module = import_onnx(path)
    ref = logits(ctx, module, ids)
    sess = ort.InferenceSession(path)
    theirs = np.concatenate([sess.run(None, {"ids": ids[i : i + 8]})[0] for i in range(0, len(ids), 8)])
    assert (np.abs(ref - theirs).max(-1) <= 1e-4).mean() >= 0.95  # rounding ties aside (see above)
    apply_pipeline(ctx, module, "raise-attention,linear-attention")  # already linear: nothing to fit or rewrite
    assert sum(isinstance(op, nn.LinearAttentionOp) for op in module.walk()) == 2
    assert not any(isinstance(op, nn.FeatureMapOp) for op in module.walk())
    np.testing.assert_allclose(logits(ctx, module, ids[:8]), ref[:8], rtol=1e-5, atol=1e-5)
    apply_pipeline(ctx, module, "spike-conversion{levels=15},binary-expand")
    assert sum(isinstance(op, snn.LinearAttentionOp) for op in module.walk()) == 2
    assert not any(isinstance(op, nn.MatMulOp | nn.GemmOp | nn.LinearAttentionOp) for op in module.walk())
    got = logits(ctx, module, ids)
    assert float((got.argmax(-1) == ref.argmax(-1)).mean()) >= 0.95
    assert perplexity(got, targets) <= 1.05 * perplexity(ref, targets)
    report = spike_report(module, ctx.weights, [{"ids": ids[:8]}], progress=False)
    att = [r for r in report["layers"] if r["op"] == "snn.linear_attention"]
    assert [r["layer"] for r in att] == ["blocks.0.attn", "blocks.1.attn"]
    assert all(r["sops"] > 0 and r["dense_macs"] == 2 * 8 * 4 * 64 * 32 * 32 for r in att)  # batch x heads x tokens x dk x dv
