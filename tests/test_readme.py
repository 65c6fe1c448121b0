"""The README's main command stays true: it compiles and runs the bundled example."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.join(os.path.dirname(__file__), "..")


@pytest.mark.slow
def test_readme_main_command_runs(tmp_path):
    readme = open(os.path.join(ROOT, "README.md")).read()
    section = readme.split("## Two commands")[1].split("\n## ")[0]
    commands = [c for c in re.findall(r"```sh\n(.*?)\n```", section, re.S) if c.startswith("nscc compile")]
    assert len(commands) == 1, "the README shows one main command"
    cmd = commands[0].replace("build/digits", str(tmp_path / "digits"))
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    r = subprocess.run(["bash", "-c", cmd], cwd=ROOT, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    predicted = [int(v) for v in re.search(r"argmax \[([\d, ]+)\]", r.stdout).group(1).split(",")]
    labels = np.load(os.path.join(ROOT, "examples", "digits_mlp", "labels.npy"))
    assert np.mean(np.array(predicted) == labels) >= 0.9


def test_readme_spiking_command_runs(tmp_path):
    readme = open(os.path.join(ROOT, "README.md")).read()
    section = readme.split("## Making it spike")[1].split("\n## ")[0]
    (cmd,) = [c for c in re.findall(r"```sh\n(.*?)\n```", section, re.S) if c.startswith("nscc compile")]
    cmd = cmd.replace("build/", str(tmp_path) + "/")
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    r = subprocess.run(["bash", "-c", cmd], cwd=ROOT, capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert "SOPs" in r.stdout and (tmp_path / "lm-report.json").exists()
