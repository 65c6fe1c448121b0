"""Runs the IR-in, IR-out tests under tests/filecheck with lit and filecheck, one pytest test per file."""

import os
import re
import shutil
import subprocess
import sys

import pytest

HERE = os.path.join(os.path.dirname(__file__), "filecheck")
BIN = os.path.dirname(sys.executable)


def _files() -> list[str]:
    """The .mlir files lit runs (what lit.cfg's suffixes and excludes select), relative to HERE."""
    out = []
    for root, dirs, names in os.walk(HERE):
        dirs[:] = sorted(d for d in dirs if d != "Output" and not d.startswith("."))
        out += [os.path.relpath(os.path.join(root, n), HERE) for n in names if n.endswith(".mlir") and n != "lit.cfg"]
    return sorted(out)


@pytest.mark.parametrize("name", _files())
def test_filecheck(name: str) -> None:
    lit = shutil.which("lit", path=BIN + os.pathsep + os.environ.get("PATH", ""))
    assert lit, "lit is a test dependency (pip install -e '.[test]')"
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    r = subprocess.run([lit, "-v", os.path.join(HERE, name)], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]
    m = re.search(r"Passed\s*:\s*(\d+)", r.stdout)  # lit ran the test, and it passed (not 0 tests)
    assert m and int(m.group(1)) == 1, r.stdout[-2000:]
