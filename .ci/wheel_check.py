"""CI: nscc installed from a wheel (not editable) runs the README's main command
and compiles a VCK190 package whose C simulation passes.

Run with the interpreter of a venv that has only the wheel installed, from the
checkout's root (the examples are read from there, nscc from site-packages)."""

import os
import re
import subprocess
import sys
import tempfile

import nscc

ROOT = os.getcwd()
assert os.path.abspath(nscc.__file__).startswith(sys.prefix + os.sep), f"nscc imported from outside the wheel's venv: {nscc.__file__}"
bin_dir = os.path.dirname(sys.executable)
env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ["PATH"])


def sh(cmd: str) -> str:
    print("+", cmd, flush=True)
    r = subprocess.run(["bash", "-c", cmd], cwd=ROOT, env=env, capture_output=True, text=True)
    print(r.stdout[-2000:], r.stderr[-2000:], sep="\n", flush=True)
    if r.returncode:
        sys.exit(f"wheel check: `{cmd}` exited {r.returncode}")
    return r.stdout


readme = open(os.path.join(ROOT, "README.md")).read()
section = readme.split("## Two commands")[1].split("\n## ")[0]
(main,) = [c for c in re.findall(r"```sh\n(.*?)\n```", section, re.S) if c.startswith("nscc compile")]
fpga = readme.split("## On the FPGA")[1].split("\n## ")[0]
(vck,) = re.findall(r"```sh\n(.*?)\n```", fpga, re.S)
with tempfile.TemporaryDirectory(prefix="nscc-wheel-") as tmp:
    out = sh(main.replace("build/", tmp + "/"))
    assert "argmax" in out, "the main command printed no prediction"
    out = sh(re.sub(r"\s+#.*", "", vck.replace("build/", tmp + "/")))  # the comment quotes csim's result
    m = re.search(r"csim: (\d+) passed, (\d+) failed", out)
    assert m and int(m.group(1)) > 0 and m.group(2) == "0", "make csim did not pass"
print("wheel check: the README's main command and a VCK190 csim pass from a wheel install")
