"""Pass `fuse-gelu`: GELU spelled out in elementwise ops becomes one `nn.gelu`.

Exporters write GELU as arithmetic: the erf form `0.5 x (1 + erf(x / sqrt 2))`
(BERT, torch's `nn.GELU()`; the argument as `x / 1.4142` or `x * 0.7071`), the
tanh form `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))` (GPT-2's gelu_new,
gelu_pytorch_tanh, `nn.GELU('tanh')`; the cube as `Pow(x, 3)` or `x * x * x`)
and gelu_fast's factored `tanh(sqrt(2/pi) x (1 + 0.044715 x x))`, with the
products associated and the half taken (or `/ 2`) wherever the exporter chose.
Rather than enumerate spellings, the pass expands what the erf's or tanh's
argument and the products after it compute (`nscc.semantics.algebra`) and
compares that with the formula, constants included: every spelling of GELU
is recognised, and a different constant is not GELU and stays. Recognising
them gives later passes one op to work on: `integer-islands` turns `nn.gelu`
into the integer `snn.fixed_gelu`, and the report counts one activation
instead of eight arithmetic ops.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)

from nscc.ir import nn
from nscc.ir.context import weights_of
from nscc.semantics.algebra import Algebra, monomial, same

_C = float(np.sqrt(2 / np.pi))
# The erf's or tanh's argument as a polynomial in x (atom 0), and the approximation it means.
_ARGUMENT = {
    nn.ErfOp: ({monomial((0, 1)): float(1 / np.sqrt(2))}, nn.GeluApproximation.NONE),
    nn.TanhOp: ({monomial((0, 1)): _C, monomial((0, 3)): _C * 0.044715}, nn.GeluApproximation.TANH),
}
_GELU = {monomial((0, 1)): 0.5, monomial((0, 1), (1, 1)): 0.5}  # 0.5 x + 0.5 x t, t (atom 1) the erf or tanh


@dataclass
class FuseGelu(RewritePattern):
    algebra: Algebra

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.ErfOp | nn.TanhOp, rewriter: PatternRewriter) -> None:
        argument, approximate = _ARGUMENT[type(op)]
        found = self.algebra.activation(op, lambda poly: approximate if same(poly, argument) else None, _GELU)
        if found is not None:
            end, x, _ = found
            rewriter.replace(end, nn.GeluOp(x, x.type, approximate=approximate))


@dataclass(frozen=True)
class FuseGeluPass(ModulePass):
    """Recognises GELU written as tanh or erf arithmetic and replaces it with nn.gelu."""

    name = "fuse-gelu"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(GreedyRewritePatternApplier([FuseGelu(Algebra(weights_of(ctx)))])).rewrite_module(op)
