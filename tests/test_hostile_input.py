"""Hostile input and data loss (issue 15): nscc never reads outside the model, never
deletes a user's folder, and answers bad input with one line and a non-zero exit."""

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..")
MLP = os.path.join(ROOT, "examples", "digits_mlp", "model.onnx")


def nscc(*args, cwd=None):
    r = subprocess.run([sys.executable, "-m", "nscc", *args], capture_output=True, text=True, cwd=cwd)
    assert "Traceback" not in r.stderr, r.stderr
    return r


@pytest.fixture
def workdir(tmp_path):
    shutil.copy(MLP, tmp_path / "model.onnx")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "thesis.tex").write_text("years of work")
    return tmp_path


@pytest.mark.parametrize("out", [".", "", "notes", "MODELDIR", "PARENT"])
def test_output_never_replaces_a_users_folder(workdir, out):
    out = {"MODELDIR": str(workdir), "PARENT": str(workdir.parent)}.get(out, out)
    r = nscc("compile", "model.onnx", "--dim", "batch=1", "-o", out, cwd=workdir)
    assert r.returncode != 0
    assert len(r.stderr.strip().splitlines()) == 1
    assert "nscc will not replace" in r.stderr or "-o is empty" in r.stderr
    assert (workdir / "notes" / "thesis.tex").read_text() == "years of work"
    assert (workdir / "model.onnx").exists()


def test_an_earlier_output_is_replaced_and_leftovers_of_a_killed_run_are_removed(workdir):
    assert nscc("compile", "model.onnx", "--dim", "batch=1", "-o", "out", cwd=workdir).returncode == 0
    assert (workdir / "out" / ".nscc-output").exists()
    dead = workdir / ".out.tmp-999999999-abc"  # no such process
    dead.mkdir()
    r = nscc("compile", "model.onnx", "--dim", "batch=2", "-o", "out", cwd=workdir)
    assert r.returncode == 0, r.stderr
    assert not dead.exists()
    assert "2x64" in (workdir / "out" / "model.mlir").read_text()
    assert sorted(p for p in os.listdir(workdir) if p.startswith(".out")) == []
