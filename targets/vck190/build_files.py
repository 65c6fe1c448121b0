"""The files Vitis builds the package with: HLS config, v++ link and package configs, the
Makefile (templates/hls_config.cfg.in, system.cfg.in, package.cfg.in, Makefile.in)."""

from __future__ import annotations

import os

from nscc.targets import render
from nscc.targets.vck190.hls import Kernel

TEMPLATES = os.path.join(os.path.dirname(__file__), "templates")


def hls_config() -> str:
    return render(os.path.join(TEMPLATES, "hls_config.cfg.in"))


def system_cfg(kernel: Kernel) -> str:
    ports = (["state"] if kernel.state_words else []) + [x["port"] for x in kernel.inputs + kernel.outputs]
    return render(os.path.join(TEMPLATES, "system.cfg.in"), ports="\n".join(f"sp=nscc_top_1.{p}:LPDDR" for p in ports))


def package_cfg(vectors: list[str]) -> str:
    return render(os.path.join(TEMPLATES, "package.cfg.in"), vectors="\n".join(f"sd_file=tb/vectors/{v}" for v in vectors))


def makefile() -> str:
    return render(os.path.join(TEMPLATES, "Makefile.in"))
