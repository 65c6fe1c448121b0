"""`nscc analyze`: every measure against values known by hand on synthetic trains, then the CLI."""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from nscc.analysis import metrics

EX = os.path.join(os.path.dirname(__file__), "..", "examples", "char_lm")


def h2(p: float) -> float:
    return -(p * math.log2(p) + (1 - p) * math.log2(1 - p))


def test_firing_rate_and_count_entropy_by_hand():
    counts = np.array([[0, 3, 1], [2, 3, 1], [0, 3, 1], [2, 3, 1]])  # neuron 0: 0/2 half each, 1: constant, 2: constant
    np.testing.assert_allclose(metrics.firing_rate(counts), [1.0, 3.0, 1.0])
    hist = metrics.count_histogram(counts, 3)
    assert hist.shape == (3, 7) and hist[0, 3] == 2 and hist[0, 5] == 2
    np.testing.assert_allclose(metrics.count_entropy(hist), [1.0, 0.0, 0.0])
    uniform = np.arange(16).reshape(-1, 1)  # every count of D = 15 once: log2(16) = 4 bits
    assert metrics.count_entropy(metrics.count_histogram(uniform, 15))[0] == pytest.approx(4.0)


def test_entropy_rate_of_a_poisson_and_a_periodic_train():
    rng = np.random.default_rng(0)
    for p in (0.1, 0.3, 0.5):
        bernoulli = (rng.random((64, 4096)) < p).astype(np.uint8)  # i.i.d. slots: h = H(p)
        assert metrics.entropy_rate(bernoulli) == pytest.approx(h2(p), abs=0.01)
        assert metrics.lempel_ziv(bernoulli[0]) == pytest.approx(h2(p), abs=0.12)
    periodic = np.tile(np.array([1, 0, 0, 1, 0], np.uint8), (8, 400))  # deterministic: h = 0
    assert metrics.entropy_rate(periodic) == pytest.approx(0.0, abs=1e-3)
    assert metrics.lempel_ziv(periodic[0]) < 0.05
    assert metrics.block_entropies(periodic, 3)[0] == pytest.approx(h2(0.4))  # H(1): 40% ones


def test_mutual_information_and_nmi_by_hand():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 2, 20000)
    identical = x[:, None]
    independent = rng.integers(0, 2, (20000, 1))
    noisy = np.where(rng.random(20000) < 0.1, 1 - x, x)[:, None]  # a binary symmetric channel, error 0.1
    assert metrics.nmi(x, identical)[0] == pytest.approx(1.0)
    assert metrics.nmi(x, independent)[0] == pytest.approx(0.0, abs=2e-4)
    i, hy, hx = metrics.mutual_information(x, noisy)
    assert i[0] == pytest.approx(1 - h2(0.1), abs=0.01) and hx == pytest.approx(1.0, abs=1e-3)
    assert metrics.nmi(x, np.zeros((20000, 1), np.int64))[0] == 0.0  # a silent neuron carries nothing
    assert metrics.nmi_chance(x, noisy) < 0.01


@pytest.mark.slow
def test_analyze_the_example_lm_with_stimulus_labels(tmp_path):
    out = tmp_path / "an"
    args = [
        sys.executable, "-m", "nscc", "analyze", os.path.join(EX, "model.onnx"), "-p", "spike-conversion",
        "--calib", os.path.join(EX, "stimuli.npz"), "--labels", os.path.join(EX, "stimuli_labels.npy"),
        "--raster", "blocks.1.*", "--steps", "2:10", "-o", out,
    ]  # fmt: skip
    r = subprocess.run(list(map(str, args)), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    files = set(os.listdir(out))
    assert {"analysis.json", "report.html", "layers.png", "raster.png", "histograms.png", "energy.png"} <= files
    res = json.load(open(out / "analysis.json"))
    assert res["samples"] == 16 and res["labels"] == {"0": 8, "1": 8}
    assert len(res["layers"]) == 9
    for row in res["layers"]:
        assert 0 < row["firing_rate"] <= row["levels"]
        assert 0 <= row["entropy_bits"] <= row["entropy_max_bits"] + 1e-9
        assert 0 <= row["nmi"] <= 1 and 0 <= row["nmi_chance"] <= 1
        assert row["spikes"]["sops"] > 0
    html = open(out / "report.html").read()
    assert "blocks.0.fc" in html and "layers.png" in html
    r = subprocess.run(
        list(map(str, args[:-2] + ["--labels", os.path.join(EX, "calib.npz"), "-o", tmp_path / "bad"])), capture_output=True, text=True
    )
    assert r.returncode != 0 and "labels" in r.stderr and "Traceback" not in r.stderr and not (tmp_path / "bad").exists()


def test_bad_raster_options_are_one_clear_error(tmp_path):
    base = [
        sys.executable,
        "-m",
        "nscc",
        "analyze",
        os.path.join(EX, "model.onnx"),
        "-p",
        "spike-conversion",
        "--calib",
        os.path.join(EX, "stimuli.npz"),
    ]
    for extra, msg in ((["--steps", "9:3"], "--steps"), (["--raster", "no.such.layer"], "--raster")):
        r = subprocess.run(base + extra + ["-o", str(tmp_path / "x")], capture_output=True, text=True)
        assert r.returncode != 0 and msg in r.stderr and "Traceback" not in r.stderr
        assert not (tmp_path / "x").exists()
