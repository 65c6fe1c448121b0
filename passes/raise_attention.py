"""Pass `raise-attention`: spelled-out softmax attention becomes one `nn.attention`.

Exporters write attention as its arithmetic, in their own orders:

    scores = matmul(q, kT)             kT a transpose of the keys
    scores = scores * c | scores / c   the 1/sqrt(d) scale (or none)
    scores = where(mask, -inf, scores) | scores + M | scores + padding_mask
    out    = matmul(softmax(scores, axis=-1), v)

with the causal mask built from Trilu, Where, Equal or Range and folded to a
constant at import. The pass anchors on each softmax, peels scale and masks
off its input back to the product of two activations, checks that a constant
mask is exactly causal (-inf, or at most -1e4, strictly above the diagonal,
0 elsewhere), and replaces the block by `nn.attention` with its scale,
causality and any remaining additive (padding) mask. Head count and the
multi-head reshapes stay visible around it: q, k, v are [batch, heads, S, d].

A softmax it cannot match (another use of softmax, or an attention form it
does not know) is reported on stderr by layer name, never skipped silently;
`linear-attention` works on what this pass raised.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.ir import SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)
from xdsl.rewriter import InsertPoint

from nscc.errors import note
from nscc.ir import nn
from nscc.ir.context import weights_of
from nscc.ir.signature import LAYER_ATTR
from nscc.ir.weights import WeightStore
from nscc.quant.plans import non_negative
from nscc.semantics.folding import constant_value

MASKED = -1e4  # additive values at or below this mean "masked"


def _causal(masked: np.ndarray, n: int, m: int) -> bool:
    """Whether a boolean `masked` pattern (broadcast over leading axes) is exactly j > i."""
    want = np.triu(np.ones((n, m), bool), 1)
    flat = np.broadcast_to(masked, masked.shape[:-2] + (n, m)).reshape(-1, n, m)
    return bool(np.all(flat == want))


@dataclass
class RaiseAttention(RewritePattern):
    store: WeightStore
    unmatched: list[str] = field(default_factory=list)

    def _reject(self, op, why: str) -> None:
        layer = op.attributes.get(LAYER_ATTR)
        name = layer.data if isinstance(layer, StringAttr) else "?"
        self.unmatched.append(f"softmax in '{name}': {why}")

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.SoftmaxOp, rewriter: PatternRewriter) -> None:
        shape = tuple(op.input.type.get_shape())
        if op.axis.value.data % len(shape) != len(shape) - 1:
            return self._reject(op, "not over the last axis")
        users = [u.operation for u in op.res.uses]
        if len(users) != 1 or not isinstance(users[0], nn.MatMulOp) or users[0].lhs is not op.res:
            return self._reject(op, "its result is not only multiplied by values")
        pv = users[0]
        n, m = shape[-2:]
        scale, causal, mask, scaled = 1.0, False, None, False
        value = op.input
        while True:
            owner = value.owner
            if isinstance(owner, nn.MulOp | nn.DivOp):
                rhs, lhs = constant_value(owner.rhs, self.store), constant_value(owner.lhs, self.store)
                c, other = (rhs, owner.lhs) if rhs is not None else (lhs, owner.rhs)
                if c is None or c.size != 1 or (isinstance(owner, nn.DivOp) and other is not owner.lhs):
                    return self._reject(op, "scores scaled by a non-constant")
                scaled = True
                c = float(c.reshape(-1)[0])
                scale *= c if isinstance(owner, nn.MulOp) else 1.0 / c
                value = other
            elif isinstance(owner, nn.WhereOp):
                cond = constant_value(owner.cond, self.store)
                a, b = constant_value(owner.lhs, self.store), constant_value(owner.rhs, self.store)
                if cond is None or (a is None) == (b is None):
                    return self._reject(op, "a data-dependent where() on the scores")
                fill, value, masked = (a, owner.rhs, cond) if a is not None else (b, owner.lhs, ~cond)
                if fill.size != 1 or float(fill.reshape(-1)[0]) > MASKED or not _causal(masked, n, m) or causal:
                    return self._reject(op, "a where() mask that is not causal")
                causal = True
            elif isinstance(owner, nn.AddOp):
                for mval, rest in ((owner.rhs, owner.lhs), (owner.lhs, owner.rhs)):
                    c = constant_value(mval, self.store)
                    if c is not None and not np.any(c):  # an export without attention_mask adds zeros
                        value = rest
                        break
                    if c is not None:
                        masked = c <= MASKED
                        if causal or not _causal(masked, n, m) or np.any(c[~masked] != 0):
                            return self._reject(op, "an additive constant mask that is not causal")
                        causal, value = True, rest
                        break
                else:  # a padding mask computed from the inputs: keep it, additively
                    if mask is not None:
                        return self._reject(op, "two data-dependent masks")
                    if scaled:  # peeled backwards: this add came before the scale, nn.attention adds after
                        return self._reject(op, "a padding mask added before the scale")
                    if self._leads_to_scores(owner.lhs):
                        value, mask = owner.lhs, owner.rhs
                    elif self._leads_to_scores(owner.rhs):
                        value, mask = owner.rhs, owner.lhs
                    else:
                        return self._reject(op, "neither side of an add leads to q @ k^T")
            elif isinstance(owner, nn.MatMulOp):
                break
            else:
                return self._reject(op, f"scores come from {owner.name if owner else 'an input'}, not q @ k^T")
        qk = value.owner
        q, kt = qk.lhs, qk.rhs
        if constant_value(q, self.store) is not None or constant_value(kt, self.store) is not None:
            return self._reject(op, "the scores multiply by a constant: not attention")
        k = self._keys(kt, rewriter, qk)
        att = nn.AttentionOp(q, k, pv.rhs, mask, pv.res.type, scale=scale, causal=causal)
        if LAYER_ATTR in pv.attributes:
            att.attributes[LAYER_ATTR] = pv.attributes[LAYER_ATTR]
        rewriter.replace(pv, att)

    def _leads_to_scores(self, value: SSAValue, depth: int = 6) -> bool:
        """Whether `value` is q @ k^T, possibly scaled or masked on the way."""
        for _ in range(depth):
            owner = value.owner
            if isinstance(owner, nn.MatMulOp):
                return constant_value(owner.rhs, self.store) is None and constant_value(owner.lhs, self.store) is None
            if isinstance(owner, nn.MulOp | nn.DivOp | nn.AddOp):
                value = owner.lhs if constant_value(owner.lhs, self.store) is None else owner.rhs
            elif isinstance(owner, nn.WhereOp):
                value = owner.rhs if constant_value(owner.lhs, self.store) is not None else owner.lhs
            else:
                return False
        return False

    def _keys(self, kt: SSAValue, rewriter: PatternRewriter, before) -> SSAValue:
        """k from k^T: undo the transpose that made it, or add one."""
        rank = len(kt.type.get_shape())
        owner = kt.owner
        if isinstance(owner, nn.TransposeOp):
            perm = list(owner.perm.get_values())
            perm[-1], perm[-2] = perm[-2], perm[-1]
            src = owner.input
            if perm == list(range(rank)):
                return src
        else:
            perm, src = list(range(rank - 2)) + [rank - 1, rank - 2], kt
        t = nn.TransposeOp(src, perm=perm)
        rewriter.insert(t, InsertPoint.before(before))
        return t.res


@dataclass
class RaiseLinearAttention(RewritePattern):
    """Linear attention written out, as a model trained for it exports it:

        A = (phi_q @ phi_k^T) * M,  out = (A @ v) / (rowsum(A) + 1e-6)

    with phi_q, phi_k non-negative (relu, or spike quantizers clipping at 0) and M the
    causal decay mask lambda^(t-s); raised to nn.linear_attention."""

    store: WeightStore
    keys: RaiseAttention

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.DivOp, rewriter: PatternRewriter) -> None:
        num, den = op.lhs.owner, op.rhs.owner
        if not isinstance(num, nn.MatMulOp) or not isinstance(den, nn.AddOp):
            return
        eps_sum = [(constant_value(x, self.store), y) for x, y in ((den.lhs, den.rhs), (den.rhs, den.lhs))]
        eps, rowsum = next(((c, y) for c, y in eps_sum if c is not None and c.size == 1), (None, None))
        if eps is None or abs(float(eps.reshape(-1)[0]) - 1e-6) > 1e-9 or not isinstance(rowsum.owner, nn.ReduceSumOp):
            return
        a = num.lhs
        rs = rowsum.owner
        rank = len(a.type.get_shape())
        if rs.input is not a or rs.axes is None or list(rs.axes.get_values()) != [rank - 1] or not rs.keepdims:
            return
        masked = a.owner
        if not isinstance(masked, nn.MulOp):
            return
        for scores, mval in ((masked.lhs, masked.rhs), (masked.rhs, masked.lhs)):
            mask = constant_value(mval, self.store)
            if mask is not None and isinstance(scores.owner, nn.MatMulOp):
                break
        else:
            return
        n, m = a.type.get_shape()[-2:]
        mask = np.broadcast_to(mask, mask.shape[:-2] + (n, m)).reshape(-1, n, m)[0].astype(np.float64)
        decay = float(mask[1, 0]) if n > 1 else 1.0
        from nscc.semantics.nn import linear_attention_weights

        if not 0 < decay <= 1 or not np.allclose(mask, linear_attention_weights(n, m, decay, True, np.float64), rtol=1e-5, atol=1e-7):
            return
        qk = scores.owner
        if not non_negative(qk.lhs, self.store):
            return
        k_value = self.keys._keys(qk.rhs, rewriter, qk)
        if not non_negative(k_value, self.store) and not (
            isinstance(qk.rhs.owner, nn.TransposeOp) and non_negative(qk.rhs.owner.input, self.store)
        ):
            return
        la = nn.LinearAttentionOp(
            qk.lhs, k_value, num.rhs, op.res.type, feature=nn.FeatureMap.RELU, decay=decay, normalize=True, causal=True
        )
        if LAYER_ATTR in num.attributes:
            la.attributes[LAYER_ATTR] = num.attributes[LAYER_ATTR]
        rewriter.replace(op, la)


@dataclass(frozen=True)
class RaiseAttentionPass(ModulePass):
    """Finds attention blocks (softmax, or linear as trained) and raises each to one op."""

    name = "raise-attention"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        pattern = RaiseAttention(weights_of(ctx))
        linear = RaiseLinearAttention(weights_of(ctx), pattern)
        PatternRewriteWalker(GreedyRewritePatternApplier([pattern, linear])).rewrite_module(op)
        for line in dict.fromkeys(pattern.unmatched):
            note(f"raise-attention left a {line}")
