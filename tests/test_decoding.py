"""Token-by-token decoding with a constant-size state (linear attention)."""

import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch_models as M

from nscc.decoding import Decoder
from nscc.driver import apply_pipeline
from nscc.frontend.importer import import_onnx
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
        sizes.append(dec.attention.state_bytes())
    assert len(set(sizes)) == 1 and sizes[0] > 0


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
    assert r.returncode == 1 and "exceed the 64 positions" in r.stderr
    softmax = os.path.join(LINEAR, "..", "model.onnx")
    r = nscc("run", softmax, "-p", "raise-attention", "--generate", "3", "--prompt-ids", "1,2")
    assert r.returncode == 1 and "linear-attention" in r.stderr
