"""NIR export: nscc's spiking digits MLP and CNN as NIR graphs, read back by a reference reader
(which, with nscc's own neurons, must reproduce nscc's logits) and by Norse (NIR's reset to
zero: the approximation docs/interop.md bounds); what NIR cannot express is refused by name."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

nir = pytest.importorskip("nir")

from nir_reader import simulate

from nscc.driver import export_model, prepare
from nscc.errors import NsccError
from nscc.semantics.interpreter import run

EX = os.path.join(os.path.dirname(__file__), "..", "examples", "digits_mlp")
MLP = os.path.join(EX, "model.onnx")
CALIB = os.path.join(EX, "calib.npz")
SAMPLES = 200


def held_out_digits():
    from digits_mlp import train

    _, x, _, y = train.data()
    return x[:SAMPLES], y[:SAMPLES]


def nscc_logits(model: str, calib: str, x: np.ndarray, batch: int, dims) -> np.ndarray:
    ctx, module = prepare(model, dims, calib, "spike-conversion")
    return np.concatenate([run(module, ctx.weights, {"image": x[i : i + batch]})["logits"] for i in range(0, len(x), batch)])


def read_back(graph, x: np.ndarray, nscc_neurons: bool) -> np.ndarray:
    steps = int(graph.metadata["steps"])
    return np.stack([simulate(graph, s, steps, nscc_neurons).reshape(-1) for s in x])


def norse_logits(graph, x: np.ndarray) -> np.ndarray:
    """Norse's reading of the graph (IAF: reset to zero), one sample at a time (its Flatten keeps no batch axis)."""
    import torch
    from norse.torch import from_nir

    out = []
    with torch.no_grad():
        for s in x:
            net, state, total = from_nir(graph), None, 0
            for _ in range(int(graph.metadata["steps"])):
                y, state = net(torch.from_numpy(s[None]).float(), state)
                total = total + y
            out.append(np.asarray(total).reshape(-1))
    return np.stack(out)


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    return float((a.argmax(1) == b.argmax(1)).mean())


def test_the_digits_mlp_exports_to_a_graph_that_reproduces_nscc_and_reads_in_norse(tmp_path):
    x, y = held_out_digits()
    ref = nscc_logits(MLP, CALIB, x, 50, {"batch": 50})
    path = str(tmp_path / "mlp.nir")
    info = export_model(MLP, path, None, {"batch": 1}, CALIB)
    graph = nir.read(path)
    assert info == {"nodes": 8, "steps": 15}
    assert [type(graph.nodes[k]).__name__ for k in ("if", "affine_0", "if_2")] == ["IF", "Affine", "IF"]
    soft = read_back(graph, x, nscc_neurons=True)
    assert agreement(soft, ref) >= 0.99 and np.abs(soft - ref).mean() < 0.1 * np.abs(ref).mean()
    zero = read_back(graph, x, nscc_neurons=False)
    acc_nscc, acc_zero = float((ref.argmax(1) == y).mean()), float((zero.argmax(1) == y).mean())
    assert acc_nscc >= 0.95 and acc_zero >= 0.93 and agreement(zero, ref) >= 0.92  # measured: 0.975, 0.960, 0.945
    pytest.importorskip("norse")
    np.testing.assert_allclose(norse_logits(graph, x[:20]), zero[:20], rtol=1e-4, atol=1e-3)


@pytest.mark.slow
def test_a_digits_cnn_with_average_pooling_exports_and_reads_in_norse(tmp_path):
    """Conv -> AvgPool -> ReLU twice, then two Linear layers: average pooling of currents is NIR's
    SumPool2d with 1/k^2 in the next threshold; flattening, NIR's Flatten."""
    import digits
    import torch
    from torch import nn

    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.AvgPool2d(2), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1), nn.AvgPool2d(2), nn.ReLU(),
        nn.Flatten(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10),
    )  # fmt: skip
    model = digits.export(digits.train(net, 30, image=True), str(tmp_path / "cnn.onnx"), True)
    xtr, _, _, _ = digits.data()
    calib = str(tmp_path / "calib.npz")
    np.savez(calib, image=xtr[:100].reshape(-1, 1, 8, 8))
    x, y = held_out_digits()
    x = x.reshape(-1, 1, 8, 8)
    ref = nscc_logits(model, calib, x, 50, {})
    path = str(tmp_path / "cnn.nir")
    export_model(model, path, None, {}, calib)
    graph = nir.read(path)
    kinds = {type(n).__name__ for n in graph.nodes.values()}
    assert {"Conv2d", "SumPool2d", "Flatten", "Affine", "IF"} <= kinds
    sub = np.arange(0, SAMPLES, 2)
    soft = read_back(graph, x[sub], nscc_neurons=True)
    assert agreement(soft, ref[sub]) >= 0.95
    zero = read_back(graph, x[sub], nscc_neurons=False)
    assert float((ref.argmax(1) == y).mean()) >= 0.85 and agreement(zero, ref[sub]) >= 0.6  # measured: 0.91, 0.735
    pytest.importorskip("norse")
    np.testing.assert_allclose(norse_logits(graph, x[sub][:10]), zero[:10], rtol=1e-4, atol=1e-3)


def test_what_nir_cannot_express_is_refused_by_name(tmp_path):
    import digits
    import torch
    from torch import nn

    out = str(tmp_path / "x.nir")
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 10))
    cnn = digits.export(net, str(tmp_path / "cnn.onnx"), True, batch=10)
    calib = str(tmp_path / "calib.npz")
    np.savez(calib, image=np.random.default_rng(0).random((20, 1, 8, 8)).astype(np.float32))
    with pytest.raises(NsccError, match=r"op 'nn.max_pool'.*: NIR has no max pooling"):
        export_model(cnn, out, None, {}, calib)
    centred = str(tmp_path / "centred.npz")
    np.savez(centred, image=np.load(CALIB)["image"] - 0.5)
    with pytest.raises(NsccError, match=r"signed \(ternary neurons\)"):
        export_model(MLP, out, None, {"batch": 1}, centred)
    with pytest.raises(NsccError, match="it is a float layer; NIR export takes the spiking program"):
        export_model(MLP, out, "", {"batch": 1}, CALIB)
    assert sorted(os.listdir(tmp_path)) == ["calib.npz", "centred.npz", "cnn.onnx"]  # no half-written export


def test_a_requantized_program_exports_with_threshold_one_neurons(tmp_path):
    x, _ = held_out_digits()
    ref = nscc_logits(MLP, CALIB, x[:50], 50, {"batch": 50})
    path = str(tmp_path / "mlp.nir")
    export_model(MLP, path, "spike-conversion,requant-fusion", {"batch": 1}, CALIB)
    graph = nir.read(path)
    soft = read_back(graph, x[:50], nscc_neurons=True)
    assert agreement(soft, ref) >= 0.98


def test_the_cli_exports_and_refuses_a_directory(tmp_path):
    out = tmp_path / "m.nir"
    args = [sys.executable, "-m", "nscc", "export", MLP, "--format", "nir", "--dim", "batch=1", "--calib", CALIB]
    r = subprocess.run([*args, "-o", str(out)], capture_output=True, text=True)
    assert r.returncode == 0 and "exported" in r.stdout and out.exists(), r.stderr
    r = subprocess.run([*args, "-o", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode != 0 and "is a directory" in r.stderr and "Traceback" not in r.stderr
