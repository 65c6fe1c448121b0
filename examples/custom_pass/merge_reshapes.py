"""An example of a user's own nscc pass, loaded without touching nscc:

    nscc opt model.onnx --load-pass-plugin examples/custom_pass/merge_reshapes.py \
        -p example-merge-reshapes --print-ir-after-all

It is an ordinary xDSL ModulePass driven by a RewritePattern; `@register_pass`
makes it visible to `-p` and to `nscc passes`.
"""

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

from nscc import register_pass
from nscc.ir.nn import ReshapeOp


class MergeReshapes(RewritePattern):
    """reshape(reshape(x)) -> reshape(x); a reshape to the same shape disappears."""

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: ReshapeOp, rewriter: PatternRewriter) -> None:
        if op.input.type == op.res.type:
            rewriter.replace_all_uses_with(op.res, op.input)
            rewriter.erase_op(op)
            return
        inner = op.input.owner
        if isinstance(inner, ReshapeOp):
            rewriter.replace(op, ReshapeOp.build(operands=[inner.input], result_types=[op.res.type]))


@register_pass
@dataclass(frozen=True)
class MergeReshapesPass(ModulePass):
    """Merges chains of nn.reshape and drops reshapes that change nothing."""

    name = "example-merge-reshapes"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        # the greedy applier also erases the inner reshapes that became dead
        PatternRewriteWalker(GreedyRewritePatternApplier([MergeReshapes()])).rewrite_module(op)
