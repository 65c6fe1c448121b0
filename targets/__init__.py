"""Code generation targets, one package each.

A target package exposes `emit(ctx, module, out_dir, source)`, writing its
whole output into `out_dir` (a fresh temporary directory that the driver
renames into place only when `emit` succeeds).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from nscc.errors import NsccError

TARGETS = {
    "interpreter": "the reference numpy interpreter (an IR dump plus weights, run with `nscc run`)",
    "cpp": "C++/OpenMP simulator: a C++17 project (event-driven synapses, bit-exact snn ops), built and run by `nscc run`",
    "vck190": "AMD VCK190 Vitis HLS package (not built yet)",
}
_BUILT = {"interpreter", "cpp"}


def get_target(name: str) -> ModuleType:
    if name not in TARGETS:
        raise NsccError(f"unknown target '{name}'", "choose one of " + ", ".join(TARGETS))
    if name not in _BUILT:
        raise NsccError(f"target '{name}' is not available yet in this version of nscc", "use --target interpreter for now", exit_code=2)
    return importlib.import_module(f"nscc.targets.{name}")
