"""Pass `fuse-rms-norm`: RMSNorm spelled out in elementwise ops becomes one `nn.rms_norm`.

Exporters write Llama's, Qwen2's, Mistral's and T5's RMSNorm
(`x * rsqrt(mean(x^2, -1) + eps) * weight`) as arithmetic around a
`ReduceMean`: the square as `Pow(x, 2)` or `x * x`, rsqrt as
`Reciprocal(Sqrt(.))` (dynamo), `Div(1, Sqrt(.))` (legacy exporter) or
`Div(x, Sqrt(.))`, gamma on either side, Gemma's `(1 + weight)` as a folded
constant. The pass anchors on a keepdims mean over trailing axes, expands
what its input and the products after the square root compute
(`nscc.semantics.algebra`) and compares that with the formula, taking eps
from the graph; the axes become the norm's `axis`. A mean of something other
than a square, a mean over leading axes, or a product with a non-constant or a
per-token factor stays as written. A mean of `a - mean(a)` squared is a
LayerNorm and left to `fuse-layer-norm`. As one op the norm gets
`integer-islands`' `snn.fixed_rms_norm` (integer mean square and square
root) instead of six float ops.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import SSAValue
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
from nscc.semantics.algebra import Algebra, channel_constant, factor, monomial, norm_axis, same


def _centred(x: SSAValue, mean: nn.ReduceMeanOp) -> bool:
    """x = a - mean(a) over the same axes: a LayerNorm's deviation."""
    sub = x.owner
    m = sub.rhs.owner if isinstance(sub, nn.SubOp) else None
    return isinstance(m, nn.ReduceMeanOp) and m.input is sub.lhs and m.axes == mean.axes


@dataclass
class FuseRmsNorm(RewritePattern):
    algebra: Algebra

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.ReduceMeanOp, rewriter: PatternRewriter) -> None:
        axis = norm_axis(op)
        x = next((v for v, p in self.algebra.variables(op.input) if same(p, {monomial((0, 2)): 1.0})), None)
        root = self.algebra.root(op.res) if axis is not None and x is not None else None
        if root is None or x.type != op.input.type or _centred(x, op):
            return
        r, power, eps = root
        fits = []
        for end, e in self.algebra.ends(r, [x, r], channel_constant(x, axis)):
            if len(e.poly) != 1:
                continue
            ((m, c),) = e.poly.items()
            core, gamma = factor(m, 2)
            if core == monomial((0, 1), (1, power)) and len(gamma) <= 1 and all(k == 1 for _, k in gamma):
                fits.append((end, c, e.atoms[gamma[0][0]] if gamma else None))
        if fits:
            end, c, gamma = max(fits, key=lambda fit: fit[2] is not None)  # the nearest that takes gamma in, if any does
            new, scale = self.algebra.scale(gamma, c, x, axis)
            rewriter.replace(end, [*new, nn.RMSNormOp(x, scale, x.type, axis=axis, epsilon=eps)])


@dataclass(frozen=True)
class FuseRmsNormPass(ModulePass):
    """Recognises RMSNorm written as mean-square, sqrt and products and replaces it with nn.rms_norm."""

    name = "fuse-rms-norm"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(GreedyRewritePatternApplier([FuseRmsNorm(Algebra(weights_of(ctx)))])).rewrite_module(op)
