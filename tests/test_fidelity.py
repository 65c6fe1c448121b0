"""spike-conversion measures what it did: one line of fidelity against the float model,
a warning naming where the error grows when it is far, and the figures in --report."""

import json
import os
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(__file__), "..")
LM = os.path.join(ROOT, "examples", "char_lm")


def _opt(pipeline, *extra):
    args = [sys.executable, "-m", "nscc", "opt", os.path.join(LM, "model.onnx"), "--calib", os.path.join(LM, "calib.npz"), "-p", pipeline]
    return subprocess.run(args + list(extra), capture_output=True, text=True)


def test_a_faithful_conversion_says_so_in_one_line():
    r = _opt("spike-conversion{levels=15}")
    assert r.returncode == 0, r.stderr
    (line,) = [ln for ln in r.stderr.splitlines() if "spike-conversion" in ln]
    assert line.startswith("nscc: note: spike-conversion: relative output error") and "top-1 agreement 100.0%" in line


def test_a_destructive_conversion_is_a_warning_naming_the_layers(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "nscc", "compile", os.path.join(LM, "model.onnx"), "--calib", os.path.join(LM, "calib.npz"),
         "-p", "spike-conversion{levels=2}", "-o", str(tmp_path / "o"), "--report", str(tmp_path / "r.json")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    (line,) = [ln for ln in r.stderr.splitlines() if "spike-conversion" in ln]
    assert line.startswith("nscc: warning: spike-conversion changed the model's function") and "the error grows most in blocks." in line
    fid = json.load(open(tmp_path / "r.json"))["passes"]["spike-conversion"]["fidelity"]
    assert fid["top1"] < 0.9 and fid["batches"] == 2 and len(fid["layers"]) >= 9


def test_measure_batches_0_skips_the_measurement():
    r = _opt("spike-conversion{levels=15 measure-batches=0}")
    assert r.returncode == 0 and "spike-conversion" not in r.stderr, r.stderr
