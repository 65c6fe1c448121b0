"""Pass `fuse-layer-norm`: LayerNorm spelled out in elementwise ops becomes one `nn.layer_norm`.

ONNX has LayerNormalization from opset 17 and the frontend imports it as
`nn.layer_norm`; torch's exporters at older opsets, and models that write the
norm by hand (`w * (x - m) / sqrt(var + eps) + b`), give `ReduceMean`, `Sub`,
`Pow(d, 2)` or `d * d`, a second `ReduceMean`, `Add` eps, `Sqrt`, `Div` (or a
product by its reciprocal), gamma and beta, gamma before or after the
division. The pass anchors on a keepdims mean over trailing axes, finds the
biased variance of the deviation from it and the square root of that plus
eps, and expands the ops after the root (`nscc.semantics.algebra`) to find
`(x - mean) * gamma / sqrt(var + eps) + beta`, eps from the graph. A
variance that is not the mean square deviation from the same mean (unbiased,
other axes), or a gamma or beta that is not a per-channel constant, stays as
written. As one op the norm gets `integer-islands`' `snn.fixed_layer_norm`.
"""

from __future__ import annotations

from dataclasses import dataclass

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
from nscc.semantics.algebra import Algebra, Expansion, channel_constant, close, factor, monomial, norm_axis, same

_VARIANCE = {monomial((0, 2)): 1.0, monomial((0, 1), (1, 1)): -2.0, monomial((1, 2)): 1.0}  # (x - mean)^2, mean atom 1


def _affine(e: Expansion, power: int) -> tuple[float, int | None, int | None] | None:
    """For e == c * (x - mean) * r^power * gamma + beta (atoms x, mean, r, then the constants):
    c and the atom indices of gamma and beta (None where absent), else None."""
    groups: dict = {}
    for m, c in e.poly.items():
        core, rest = factor(m, 3)
        if any(k != 1 for _, k in rest) or len(rest) > 1 or core in groups:
            return None
        groups[core] = (c, rest[0][0] if rest else None)
    x, mean = groups.pop(monomial((0, 1), (2, power)), None), groups.pop(monomial((1, 1), (2, power)), None)
    beta = groups.pop((), None)
    if x is None or mean is None or x[1] != mean[1] or not close(mean[0], -x[0]) or groups:
        return None
    if beta is not None and (beta[1] is None or not close(beta[0], 1.0)):
        return None
    return x[0], x[1], beta[1] if beta is not None else None


@dataclass
class FuseLayerNorm(RewritePattern):
    algebra: Algebra

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.ReduceMeanOp, rewriter: PatternRewriter) -> None:
        axis = norm_axis(op)
        if axis is None:
            return
        var = self._variance(op)
        root = self.algebra.root(var.res) if var is not None else None
        if root is None:
            return
        r, power, eps = root
        x = op.input
        fits = [
            (end, f, e.atoms) for end, e in self.algebra.ends(r, [x, op.res, r], channel_constant(x, axis), 5) if (f := _affine(e, power))
        ]
        if not fits:
            return
        # the fit that takes in most of gamma and beta, the nearest of those: the whole norm
        end, (c, gamma, beta), atoms = max(fits, key=lambda fit: (fit[1][1] is not None) + (fit[1][2] is not None))
        new, scale = self.algebra.scale(atoms[gamma] if gamma is not None else None, c, x, axis)
        bias = atoms[beta] if beta is not None else None
        rewriter.replace(end, [*new, nn.LayerNormOp(x, scale, bias, x.type, axis=axis, epsilon=eps)])

    def _variance(self, op: nn.ReduceMeanOp) -> nn.ReduceMeanOp | None:
        """The mean of (x - mean(x))^2 over the same axes among the ops after the mean."""
        for c in self.algebra.consumers(op.res, 3):
            for use in c.results[0].uses:
                u = use.operation
                if isinstance(u, nn.ReduceMeanOp) and u.axes == op.axes and u.keepdims is not None and u.input.type == op.input.type:
                    e = self.algebra.expand(u.input, [op.input, op.res])
                    if e is not None and same(e.poly, _VARIANCE):
                        return u
        return None


@dataclass(frozen=True)
class FuseLayerNormPass(ModulePass):
    """Recognises LayerNorm written as mean, variance, sqrt, division and affine and replaces it with nn.layer_norm."""

    name = "fuse-layer-norm"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(GreedyRewritePatternApplier([FuseLayerNorm(Algebra(weights_of(ctx)))])).rewrite_module(op)
