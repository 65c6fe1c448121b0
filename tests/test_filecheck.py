"""Runs the IR-in, IR-out tests under tests/filecheck with lit and filecheck."""

import os
import re
import shutil
import subprocess
import sys

HERE = os.path.join(os.path.dirname(__file__), "filecheck")


def test_lit_suite_passes():
    lit = shutil.which("lit", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    assert lit, "lit is a test dependency (pip install -e '.[test]')"
    env = dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    r = subprocess.run([lit, "-v", HERE], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    files = [f for f in os.listdir(HERE) if f.endswith(".mlir")]
    m = re.search(r"Passed\s*:\s*(\d+)", r.stdout)
    assert m and int(m.group(1)) == len(files), r.stdout[-2000:]
