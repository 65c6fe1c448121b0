"""Pass `fuse-silu`: `x * sigmoid(alpha x)` spelled out becomes one `nn.silu`.

Exporters write SiLU (Llama's and Qwen's SwiGLU gate, transformers' `silu`
and `swish`) as `Sigmoid(x)` times x, and quick_gelu (CLIP) as
`x * sigmoid(1.702 x)`, the factors in either order. The pass expands the
sigmoid's argument and the product after it (`nscc.semantics.algebra`), so
the order and association do not matter; only these two alphas are taken,
since they are the activations models name, and `x * sigmoid(2x)` or a
product with something other than x stays as written. As one op the gate gets
`integer-islands`' `snn.fixed_silu` instead of a float sigmoid and product.
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
from nscc.semantics.algebra import Algebra, monomial, same

ALPHAS = (1.0, 1.702)  # SiLU, quick_gelu
_SILU = {monomial((0, 1), (1, 1)): 1.0}  # x s, s (atom 1) the sigmoid


@dataclass
class FuseSilu(RewritePattern):
    algebra: Algebra

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.SigmoidOp, rewriter: PatternRewriter) -> None:
        found = self.algebra.activation(op, lambda poly: next((a for a in ALPHAS if same(poly, {monomial((0, 1)): a})), None), _SILU)
        if found is not None:
            end, x, alpha = found
            rewriter.replace(end, nn.SiluOp(x, x.type, alpha=alpha))


@dataclass(frozen=True)
class FuseSiluPass(ModulePass):
    """Recognises x * sigmoid(x) (SiLU) and x * sigmoid(1.702 x) (quick_gelu) and replaces them with nn.silu."""

    name = "fuse-silu"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        PatternRewriteWalker(GreedyRewritePatternApplier([FuseSilu(Algebra(weights_of(ctx)))])).rewrite_module(op)
