"""Token-by-token decoding with a constant-size state (linear attention)."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch_models as M

from nscc.decoding import Decoder, decode_length, state_slots
from nscc.driver import apply_pipeline
from nscc.errors import NsccError
from nscc.frontend.importer import import_onnx
from nscc.ir import snn
from nscc.ir.signature import signature
from nscc.semantics.interpreter import run

pytestmark = pytest.mark.slow  # torch exports

LINEAR = os.path.join(os.path.dirname(__file__), "..", "examples", "char_lm", "linear")


def test_spiking_lm_decodes_token_by_token_exactly():
    """Each step's logits equal the whole-sequence logits at that position, bit for bit,
    and the attention state does not grow."""
    ids = np.load(os.path.join(LINEAR, "eval.npz"))["ids"][:8]
    ctx, module = import_onnx(os.path.join(LINEAR, "model.onnx"))
    apply_pipeline(ctx, module, "raise-attention,spike-conversion,binary-expand")
    full = run(module, ctx.weights, {"ids": ids})["logits"]
    dec = Decoder(ctx, module)
    sizes = []
    for t in range(ids.shape[1]):
        np.testing.assert_array_equal(dec.step(ids[:, t]), full[:, t])
        sizes.append(dec.state_bytes())
    assert len(set(sizes)) == 1 and sizes[0] > 0


def test_decode_step_function_token_by_token_equals_the_whole_sequence():
    """The decode-step pass's function, run on the interpreter with its state passed in
    and taken back by name, gives the whole-sequence logits at every position, bit for bit."""
    ids = np.load(os.path.join(LINEAR, "eval.npz"))["ids"][:8]
    ctx, module = import_onnx(os.path.join(LINEAR, "model.onnx"))
    apply_pipeline(ctx, module, "raise-attention,spike-conversion")
    full = run(module, ctx.weights, {"ids": ids})["logits"]
    step = module.clone()
    apply_pipeline(ctx, step, "decode-step")
    slots = state_slots(step)
    assert decode_length(step) == 64 and [s.name for s in slots] == [
        "blocks.0.attn.S",
        "blocks.0.attn.z",
        "blocks.1.attn.S",
        "blocks.1.attn.z",
    ]
    assert not any(isinstance(op, snn.LinearAttentionOp) for op in step.walk())
    state = {s.name: np.zeros(s.shape, s.dtype) for s in slots}
    for t in range(16):
        out = run(step, ctx.weights, {"ids": ids[:, t : t + 1], "position": np.array([t]), **state})
        np.testing.assert_array_equal(out["logits"][:, 0], full[:, t])
        state = {s.name: out[s.name] for s in slots}


def test_decode_step_on_float_and_spiking_attention_in_one_module():
    """tests/filecheck/decode_step.mlir's module: both step ops against the whole sequence."""
    from nscc.ir.textio import parse_module

    text = open(os.path.join(os.path.dirname(__file__), "filecheck", "decode_step.mlir")).read()
    ctx, module = parse_module(text)
    ids = np.array([[3, 1, 4, 1]])
    full = run(module, ctx.weights, {"ids": ids})
    dec = Decoder(ctx, module)
    fn_outputs = [n for n, _, _ in signature(dec.step_module).outputs]
    for t in range(4):
        dec.step(ids[:, t])
        out = dict(zip(fn_outputs, dec.last_outputs))
        np.testing.assert_allclose(out["out"][:, :, 0], full["out"][:, :, t], rtol=1e-5)
        np.testing.assert_array_equal(out["num"][:, :, 0], full["num"][:, :, t])
        np.testing.assert_array_equal(out["den"][:, :, 0], full["den"][:, :, t])
    with pytest.raises(NsccError, match="compiled for 4 positions"):
        dec.step([0])


def test_float_linear_attention_decodes_like_the_whole_sequence(tmp_path):
    torch.manual_seed(0)
    ids = torch.randint(0, 256, (1, 24))
    path = M.export(M.GPT2(attention="linear", decay=0.9), (ids,), str(tmp_path / "la.onnx"), ["ids"], ["logits"])
    ctx, module = import_onnx(path)
    apply_pipeline(ctx, module, "raise-attention")
    full = run(module, ctx.weights, {"ids": ids.numpy()})["logits"]
    dec = Decoder(ctx, module)
    steps = np.stack([dec.step(ids.numpy()[:, t]) for t in range(24)], 1)
    np.testing.assert_allclose(steps, full, rtol=1e-4, atol=1e-4)
    # greedy generation continues the prompt with the model's own argmax
    out = dec.generate(ids[0, :5].tolist(), 3)
    ref = run(module, ctx.weights, {"ids": np.concatenate([ids.numpy()[:, :5], np.zeros((1, 19), np.int64)], 1)})["logits"]
    assert out[0] == int(ref[0, 4].argmax())


def nscc(*args):
    r = subprocess.run([sys.executable, "-m", "nscc", *map(str, args)], capture_output=True, text=True)
    assert "Traceback" not in r.stderr, r.stderr
    return r


def test_cli_generate_and_its_errors(tmp_path):
    model = os.path.join(LINEAR, "model.onnx")
    r = nscc("run", model, "-p", "raise-attention,spike-conversion", "--generate", "8", "--prompt", "The ")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.split("generated ids: ")[1].split("\n")[0].split(",")) == 8 and "text: 'The " in r.stdout
    r = nscc("run", model, "-p", "raise-attention", "--generate", "100", "--prompt-ids", "1,2")
    assert r.returncode == 1 and "exceeds the 64 positions" in r.stderr
    softmax = os.path.join(LINEAR, "..", "model.onnx")
    r = nscc("run", softmax, "-p", "raise-attention", "--generate", "3", "--prompt-ids", "1,2")
    assert r.returncode == 1 and "linear-attention" in r.stderr


def test_compile_with_an_explicit_decode_step_for_the_simulator(tmp_path):
    root = os.path.join(os.path.dirname(__file__), "..", "examples", "char_lm", "linear")
    out = tmp_path / "lm"
    args = ["compile", os.path.join(root, "model.onnx"), "-t", "cpp", "--calib", os.path.join(root, "calib.npz"), "-o", str(out)]
    r = subprocess.run(
        [sys.executable, "-m", "nscc", *args, "-p", "raise-attention,linear-attention,spike-conversion,decode-step"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    assert "--generate" in r.stdout
    r = subprocess.run(
        [sys.executable, "-m", "nscc", "run", str(out), "--generate", "5", "--prompt-ids", "1,2,3"], capture_output=True, text=True
    )
    assert r.returncode == 0 and "generated ids" in r.stdout, r.stderr


def test_a_weight_as_long_as_the_sequence_is_not_a_positional_table():
    """A Hadamard factor (or any weight) whose size equals the sequence length is not read at the
    position; RoPE-like tables of a broadcasting op are."""
    from nscc.ir.textio import parse_module

    text = """builtin.module {
  func.func @main(%ids: tensor<1x4xi64> {nscc.name = "ids"}) -> (tensor<1x4x4xf32> {nscc.name = "out"}) {
    %emb = nn.weight "emb" : tensor<16x4xf32>
    %e = nn.gather %emb, %ids {axis = 0 : i64} : (tensor<16x4xf32>, tensor<1x4xi64>) -> tensor<1x4x4xf32>
    %a = nn.weight "a" : tensor<1x1xi8>
    %b = nn.weight "b" : tensor<4x4xi8>
    %r = nn.hadamard %e, %a, %b : (tensor<1x4x4xf32>, tensor<1x1xi8>, tensor<4x4xi8>) -> tensor<1x4x4xf32>
    %pos = nn.weight "pos" : tensor<4x4xf32>
    %o = nn.mul %r, %pos : (tensor<1x4x4xf32>, tensor<4x4xf32>) -> tensor<1x4x4xf32>
    func.return %o : tensor<1x4x4xf32>
  }
}"""
    ctx, module = parse_module(text)
    rng = np.random.default_rng(0)
    ctx.weights.add("emb", rng.standard_normal((16, 4)).astype(np.float32))
    ctx.weights.add("a", np.ones((1, 1), np.int8))
    ctx.weights.add("b", np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]], np.int8))
    ctx.weights.add("pos", rng.standard_normal((4, 4)).astype(np.float32))
    ids = np.array([[3, 1, 4, 1]])
    whole = run(module, ctx.weights, {"ids": ids})["out"]
    dec = Decoder(ctx, module)
    for t in range(4):
        np.testing.assert_allclose(dec.step([ids[0, t]]), whole[:, t], rtol=1e-6)
