"""Code generation targets, one package each.

A target package exposes `emit(ctx, module, out_dir, source)`, writing its
whole output into `out_dir` (a fresh temporary directory that the driver
renames into place only when `emit` succeeds).
"""

from __future__ import annotations

import importlib
import os
import shutil
from types import ModuleType

from nscc.errors import NsccError
from nscc.semantics import fixed

# The integer helpers both C++ targets include: one written header, one generated from
# nscc.semantics.fixed (docs/semantics.md defines what they compute).
INTEGER_HEADERS = ("nscc_int.h", "nscc_fixed.h")


def write_integer_headers(out_dir: str) -> None:
    shutil.copyfile(os.path.join(os.path.dirname(__file__), "include", "nscc_int.h"), os.path.join(out_dir, "nscc_int.h"))
    with open(os.path.join(out_dir, "nscc_fixed.h"), "w") as f:
        f.write(fixed.header())

TARGETS = {
    "interpreter": "the reference numpy interpreter (an IR dump plus weights, run with `nscc run`)",
    "cpp": "C++/OpenMP simulator: a C++17 project (event-driven synapses, bit-exact snn ops), built and run by `nscc run`",
    "vck190": "AMD VCK190 package: Vitis HLS kernel, packed weights, XRT host, v++ configs, C-simulation testbench and estimates",
}


def get_target(name: str) -> ModuleType:
    if name not in TARGETS:
        raise NsccError(f"unknown target '{name}'", "choose one of " + ", ".join(TARGETS))
    return importlib.import_module(f"nscc.targets.{name}")
