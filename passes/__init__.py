"""nscc's passes, one per file. Each is an xDSL ModulePass whose `name` is its file's
name with dashes (`passes/fuse_gelu.py` holds `fuse-gelu`).

A pass module is imported only when its pass is asked for: `nscc opt -p fuse-gelu`
should not pay for calibration, the interpreter and scipy that `bit-allocation` needs.
"""

from __future__ import annotations

import importlib
import pkgutil

from xdsl.passes import ModulePass

PASS_NAMES = tuple(sorted(m.name.replace("_", "-") for m in pkgutil.iter_modules(__path__)))


def load(name: str) -> type[ModulePass]:
    """The pass class called `name` (a key of PASS_NAMES), importing its module."""
    module = importlib.import_module(f"{__name__}.{name.replace('-', '_')}")
    for value in vars(module).values():
        if isinstance(value, type) and issubclass(value, ModulePass) and getattr(value, "name", None) == name:
            return value
    raise ImportError(f"{module.__name__} defines no ModulePass named {name!r}")
