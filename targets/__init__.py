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
    "vck190": "AMD VCK190 package: Vitis HLS kernel, packed weights, XRT host, v++ configs, C-simulation testbench and estimates",
}


def get_target(name: str) -> ModuleType:
    if name not in TARGETS:
        raise NsccError(f"unknown target '{name}'", "choose one of " + ", ".join(TARGETS))
    return importlib.import_module(f"nscc.targets.{name}")
