"""Real torch exports through `nscc run` against onnxruntime (1e-4)."""

import os

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch_models as M

from nscc.cli import main

pytestmark = pytest.mark.slow  # torch exports

torch.manual_seed(0)
IDS = torch.randint(0, 256, (1, 16))
MASK = torch.cat([torch.ones(1, 12, dtype=torch.long), torch.zeros(1, 4, dtype=torch.long)], 1)

CASES = {
    "gpt2": (lambda: M.GPT2(), (IDS,), ["ids"], ["logits"], True),
    "gpt2-legacy": (lambda: M.GPT2(), (IDS,), ["ids"], ["logits"], False),
    "llama": (lambda: M.randomize_norms(M.Llama()), (IDS,), ["ids"], ["logits"], True),
    "llama-legacy": (lambda: M.randomize_norms(M.Llama()), (IDS,), ["ids"], ["logits"], False),
    "bert": (lambda: M.randomize_norms(M.Bert()), (IDS, MASK), ["ids", "attention_mask"], ["hidden", "pooled"], True),
    "mlp": (lambda: M.MLP(), (torch.randn(8, 64),), ["x"], ["y"], True),
    "cnn": (lambda: M.randomize_norms(M.CNN()), (torch.randn(4, 1, 8, 8),), ["x"], ["y"], True),
    "cnn-legacy": (lambda: M.randomize_norms(M.CNN()), (torch.randn(4, 1, 8, 8),), ["x"], ["y"], False),
}


def _run_cli(tmp_path, model_path, feeds, extra=()):
    args = ["run", str(model_path)]
    for name, a in feeds.items():
        np.save(tmp_path / f"{name}.npy", a)
        args += ["--input", f"{name}={tmp_path / f'{name}.npy'}"]
    out = tmp_path / "out.npz"
    assert main(args + ["--output", str(out), *extra]) == 0
    return dict(np.load(out))


@pytest.mark.parametrize("name", list(CASES))
def test_export_matches_onnxruntime(tmp_path, name):
    make, args, ins, outs, dynamo = CASES[name]
    torch.manual_seed(1)
    model = make()
    path = M.export(model, args, str(tmp_path / f"{name}.onnx"), ins, outs, dynamo=dynamo)
    feeds = {n: a.numpy() for n, a in zip(ins, args)}
    got = _run_cli(tmp_path, path, feeds)
    ref = ort.InferenceSession(path).run(None, feeds)
    for o, r in zip(outs, ref):
        np.testing.assert_allclose(got[o], r, rtol=1e-4, atol=1e-4, err_msg=f"{name}:{o}")
    # and torch agrees too, so neither side is trivially wrong
    with torch.no_grad():
        t = model.eval()(*args)
    t = t if isinstance(t, tuple) else (t,)
    np.testing.assert_allclose(got[outs[0]], t[0].numpy(), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("dynamo", [True, False])
def test_dynamic_sequence_length_is_bound_from_inputs_and_dim(tmp_path, dynamo):
    """A dynamic-length export: `run` binds the length from the input; `--dim` binds it explicitly."""
    model = M.GPT2()
    seq = torch.export.Dim("seq", min=2, max=64)
    path = M.export(model, (IDS,), str(tmp_path / "dyn.onnx"), ["ids"], ["logits"], dynamic={"ids": {1: seq}}, dynamo=dynamo)
    sess = ort.InferenceSession(path)
    for t in (5, 16):
        ids = torch.randint(0, 256, (1, t)).numpy()
        got = _run_cli(tmp_path, path, {"ids": ids})
        np.testing.assert_allclose(got["logits"], sess.run(None, {"ids": ids})[0], rtol=1e-4, atol=1e-4)
    dim_name = [d.dim_param for d in __import__("onnx").load(path).graph.input[0].type.tensor_type.shape.dim][1]
    ids = torch.randint(0, 256, (1, 7)).numpy()
    got = _run_cli(tmp_path, path, {"ids": ids}, extra=["--dim", f"{dim_name}=7"])
    np.testing.assert_allclose(got["logits"], sess.run(None, {"ids": ids})[0], rtol=1e-4, atol=1e-4)


def test_external_data_model(tmp_path):
    """torch's default writes weights to MODEL.onnx.data; nscc reads them from there."""
    import warnings

    model = M.MLP().eval()
    x = torch.randn(8, 64)
    path = str(tmp_path / "ext.onnx")
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), path, dynamo=True, opset_version=18, input_names=["x"], output_names=["y"], external_data=True)
    assert os.path.exists(path + ".data") and os.path.getsize(path) < os.path.getsize(path + ".data")
    got = _run_cli(tmp_path, path, {"x": x.numpy()})
    np.testing.assert_allclose(got["y"], ort.InferenceSession(path).run(None, {"x": x.numpy()})[0], rtol=1e-4, atol=1e-4)
    # the weights stay in the file, mapped (a model larger than memory is paged, not loaded), and read-only
    from nscc.frontend.onnx_file import read_onnx

    _, arrays = read_onnx(path)
    big = [a for a in arrays.values() if a.nbytes >= 4096]
    assert big and all(isinstance(a, np.memmap) and a.filename == os.path.realpath(path + ".data") for a in big)
    assert not any(a.flags.writeable for a in big)
    os.unlink(path + ".data")
    assert main(["run", path, "--input", f"x={tmp_path / 'x.npy'}"]) == 1


def test_old_opset_model_is_upgraded(tmp_path):
    """Opset 11 (from an older exporter) is converted to opset 13 on import."""
    model = M.randomize_norms(M.CNN()).eval()
    x = torch.randn(2, 1, 8, 8)
    path = M.export(model, (x,), str(tmp_path / "old.onnx"), ["x"], ["y"], dynamo=False, opset=11)
    got = _run_cli(tmp_path, path, {"x": x.numpy()})
    np.testing.assert_allclose(got["y"], ort.InferenceSession(path).run(None, {"x": x.numpy()})[0], rtol=1e-4, atol=1e-4)
