"""Pass `linear-attention`: softmax attention becomes linear attention, O(N) in the sequence.

Each `nn.attention` (from `raise-attention`, which must come first in the
pipeline: a module with attention written out and no `nn.attention` is an
error that says so) becomes `nn.linear_attention`:
softmax(q k^T) is replaced by a feature map phi (relu, or elu + 1) on q and
k, so that the causal form is a recurrence on a constant-size state,

    S_t = lambda S_{t-1} + phi(k_t)^T v_t,  z_t = lambda z_{t-1} + phi(k_t),
    o_t = phi(q_t) S_t / (phi(q_t) . z_t)

and decoding needs O(1) work and memory per token instead of a growing KV
cache. After spike conversion phi(q), phi(k) and v are spike counts and the
update and readout are accumulations (`snn.linear_attention`).

A model trained with softmax computes a different function once rewritten.
The pass measures what it changed, on the calibration inputs (or the
documented random default), and prints it: relative output error and, for a
vector of scores per position, top-1 agreement. A model trained with linear
attention (examples) loses nothing. Attention with a padding mask is left
alone and reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)

from nscc import fidelity
from nscc.calibration import calibration_of
from nscc.errors import NsccError, note
from nscc.ir import nn
from nscc.ir.context import weights_of
from nscc.ir.signature import LAYER_ATTR
from nscc.ir.weights import WeightStore
from nscc.semantics.folding import constant_value


@dataclass
class ToLinear(RewritePattern):
    options: "LinearAttentionPass"
    skipped: list[str] = field(default_factory=list)

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.AttentionOp, rewriter: PatternRewriter) -> None:
        if op.mask is not None:
            layer = op.attributes.get(LAYER_ATTR)
            self.skipped.append(layer.data if isinstance(layer, StringAttr) else "?")
            return
        o = self.options
        new = nn.LinearAttentionOp(
            op.q, op.k, op.v, op.res.type, feature=o.feature, decay=o.decay, normalize=o.normalize, causal=op.causal is not None
        )
        new.attributes.update(op.attributes)
        rewriter.replace(op, new)


@dataclass(frozen=True)
class LinearAttentionPass(ModulePass):
    """Rewrites softmax attention (nn.attention) into linear attention with a recurrent state.

    Why: linear attention is O(N) in the sequence and decodes with a constant-size
    state instead of a KV cache, and after spike-conversion its update and readout
    are accumulations of counts. Needs `raise-attention` before it.
    Options: `feature` relu | elu1 (phi); `decay` lambda in (0, 1]; `normalize`
    (divide by phi(q) . z); `measure` (print how far the outputs moved)."""

    name = "linear-attention"
    feature: str = "relu"
    decay: float = 1.0
    normalize: bool = True
    measure: bool = True

    def __post_init__(self) -> None:
        if self.feature not in ("relu", "elu1"):
            raise NsccError("linear-attention: feature must be relu or elu1", "relu keeps phi(q), phi(k) spikeable (non-negative)")
        if not 0.0 < self.decay <= 1.0:
            raise NsccError("linear-attention: decay must be in (0, 1]", "1.0 is plain linear attention; < 1 forgets old tokens")

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        _require_raised(op, weights_of(ctx))
        before = op.clone() if self.measure else None
        pattern = ToLinear(self)
        PatternRewriteWalker(GreedyRewritePatternApplier([pattern])).rewrite_module(op)
        for layer in dict.fromkeys(pattern.skipped):  # the walker may visit a skipped op more than once
            note(f"linear-attention left attention with a padding mask in '{layer}'")
        if before is not None and any(isinstance(o, nn.LinearAttentionOp) for o in op.walk()):
            fid = fidelity.measure(before, op, weights_of(ctx), calibration_of(ctx, op)[:8])
            note(fid.line("linear-attention changed the model's function", "with softmax attention"))


def _require_raised(module: ModuleOp, store: WeightStore) -> None:
    """Attention must be one op (`raise-attention`) for this pass to see it: a module with
    products of two activations and no attention op has it written out."""
    ops = list(module.walk())
    if any(isinstance(o, nn.AttentionOp | nn.LinearAttentionOp) for o in ops):
        return
    if any(isinstance(o, nn.MatMulOp) and constant_value(o.lhs, store) is None and constant_value(o.rhs, store) is None for o in ops):
        raise NsccError(
            "linear-attention: the module's attention is not raised (no nn.attention op, but products of two activations);"
            " put raise-attention before linear-attention in the pipeline",
            "-p 'raise-attention,linear-attention,...'",
        )
