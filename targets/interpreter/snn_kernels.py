"""numpy kernels for the `snn` dialect, exactly as docs/semantics.md states them."""

from __future__ import annotations

SNN_KERNELS: dict = {}
