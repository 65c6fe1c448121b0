"""The reference interpreter target.

`nscc compile --target interpreter -o OUT/` writes the compiled IR
(`OUT/model.mlir`), its weights (`OUT/model.weights.npz`) and a manifest of
the inputs and outputs (`OUT/manifest.json`); `nscc run OUT/` executes it.
"""

from __future__ import annotations

import json
import os

from xdsl.dialects.builtin import ModuleOp

from nscc.errors import NsccError
from nscc.ir.context import NsccContext
from nscc.ir.signature import signature
from nscc.ir.textio import write_module
from nscc.targets import INTEGER_PIPELINE

DEFAULT_PIPELINE = INTEGER_PIPELINE  # the program the C++ targets run; -p '' keeps the float model

MODULE_FILE = "model.mlir"
MANIFEST_FILE = "manifest.json"

__all__ = ["DEFAULT_PIPELINE", "emit", "run", "signature", "MODULE_FILE"]


def __getattr__(name: str):
    # `run` is the interpreter itself: loaded when asked for, so that commands which only
    # read or write IR (`nscc opt`, a compile to another target) start half a second sooner.
    if name == "run":
        from nscc.semantics.interpreter import run

        return run
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def emit(ctx: NsccContext, module: ModuleOp, out_dir: str, source: str) -> list[str]:
    write_module(ctx, module, os.path.join(out_dir, MODULE_FILE))
    sig = signature(module)
    manifest = {
        "target": "interpreter",
        "source": os.path.basename(source),
        "inputs": [{"name": n, "shape": list(s), "dtype": str(d)} for n, s, d in sig.inputs],
        "outputs": [{"name": n, "shape": list(s), "dtype": str(d)} for n, s, d in sig.outputs],
    }
    with open(os.path.join(out_dir, MANIFEST_FILE), "w") as f:
        json.dump(manifest, f, indent=2)
    return sorted(os.listdir(out_dir))


DESCRIPTION = "the reference numpy interpreter (an IR dump plus weights, run with `nscc run`)"


def summary(out_dir: str) -> list[str]:
    return []


def recognizes(path: str) -> bool:
    """The interpreter's output is IR, which the driver reads like any model."""
    return False


def input_names(path: str) -> list[str]:
    return run_built(path)


def run_built(path: str, inputs=None):
    raise NsccError(f"{path} holds IR, not a built program", f"run it with `nscc run {path}`")


def generate_built(path: str, prompt=None, n=None):
    return run_built(path)
