"""The xDSL context nscc works in: our dialects, plus the module's weight store.

Passes receive only `(ctx, module)`, so the weight store travels on the
context: a pass reads and adds weights through `weights_of(ctx)`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields

import numpy as np
from xdsl.context import Context
from xdsl.dialects.arith import Arith
from xdsl.dialects.builtin import Builtin
from xdsl.dialects.func import Func

from nscc.errors import NsccError
from nscc.ir.nn import NN
from nscc.ir.snn import SNN
from nscc.ir.weights import WeightStore


@dataclass
class NsccContext(Context):
    weights: WeightStore = field(default_factory=WeightStore)
    # Calibration batches given with --calib (model input name -> array), or None:
    # passes that need statistics then fall back to nscc.calibration's default.
    calibration: list[dict[str, np.ndarray]] | None = None
    # What analysis passes found (bit-allocation's table, sparsity-pruning's
    # before/after), by pass name; `--report` writes it beside the spike report.
    pass_reports: dict[str, dict] = field(default_factory=dict)

    def clone(self) -> NsccContext:
        """xDSL's clone (apply_to_clone, pipelines that try a pass) keeps nscc's context:
        the clone shares the frozen arrays, and what a pass adds to it stays in it."""
        base = super().clone()
        return NsccContext(
            **{f.name: getattr(base, f.name) for f in fields(Context)},
            weights=self.weights.copy(),
            calibration=self.calibration,
            pass_reports=copy.deepcopy(self.pass_reports),
        )


def make_context() -> NsccContext:
    ctx = NsccContext()
    for dialect in (Builtin, Func, Arith, NN, SNN):
        ctx.load_dialect(dialect)
    return ctx


def weights_of(ctx: Context) -> WeightStore:
    if not isinstance(ctx, NsccContext):
        raise NsccError(
            "this pass needs nscc's context (weights live there)",
            "run it through `nscc opt`, or build the context with nscc.ir.make_context()",
        )
    return ctx.weights
