"""Pass `online-hadamard`: rotate the inputs of chosen linear layers by a randomised Hadamard matrix.

A linear layer y = x W is the same function as y = (x R)(R^T W) for any
orthogonal R. With R a Hadamard matrix (QuaRot's online rotation) the input
x R spreads every outlier channel over all channels, so the few levels of a
spike count (D = 15) are spent on a flat, Gaussian-like distribution instead
of a heavy tail. Measured per layer on SmolLM2-135M at D = 15, the output
error of an o_proj falls from 12% to 8%, of the lm_head from 7% to 3.5%, of a
down_proj from 20% to 9%, and to 5% with `token-scale` after it.

The MLP's output projection (down_proj, GPT-2's mlp.c_proj, BERT's
output.dense) needs `token-scale` too: its input carries the attention sink's
massive activation, one token hundreds of times larger in a few channels; a
rotation alone spreads that token into every channel, every static threshold
is set by it, and the model gets worse (perplexity 48.7 against 38.9
unrotated). Divided by its own largest magnitude, each token fits the
thresholds (32.2 with both; float 26.8; docs/spiking.md has the table).

The rotation is done on the activation, in the layer's input, and folded into
the weight: the pass inserts `nn.hadamard` (R = A (x) B with random row signs,
a Paley block times a Sylvester matrix, `nscc.quant.hadamard.kronecker_factors`:
n (p + q) additions a row, not n^2) and replaces W by R^T W. It is exact in
float. `integer-islands` makes the rotation `snn.fixed_hadamard` (additions
and one rescaling of fixed-point values), so it is integer on every target.

By default every linear layer's input is rotated, the norms' outputs too: a
norm bounds each token's mean square, but a post-norm BERT's LayerNorm output
keeps a few channels up to 28 on a few tokens, and all-MiniLM-L6-v2's mean
embedding cosine at D = 15 rose from 0.984 to 0.991 once q, k, v and the
FFN's input were rotated as well; SmolLM2-135M's perplexity at D = 15 from
+13.1% to +10.1% over float (docs/spiking.md). Layers that read one input
share one rotation. Two kinds of input are left alone: counts a trained
quantizer produced (what the model was trained on), and inputs known to be
non-negative (a ReLU's, a softmax's), which a rotation would make signed and
dense: twice the spikes for no clipping gained.

Options: `layers`, globs of the layer names to rotate (default `*`); `seed`
of the random signs. A layer whose input width has no Hadamard matrix built
here is left as it is, and named when `layers` chose it by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import PatternRewriter, PatternRewriteWalker, RewritePattern, op_type_rewrite_pattern

from nscc.arrays import column_blocks
from nscc.errors import note
from nscc.ir import nn
from nscc.ir.constants import new_weight
from nscc.ir.context import weights_of
from nscc.ir.weights import WeightStore
from nscc.quant.hadamard import kronecker_factors
from nscc.quant.plans import non_negative, rewritable_input
from nscc.semantics.nn import hadamard_sum

DEFAULT_LAYERS = ("*",)


def fold_rotation(r: np.ndarray, w: np.ndarray) -> np.ndarray:
    """R^T W in w's dtype, a block of columns at a time (no float64 copy of an LM head)."""
    out = np.empty(w.shape, w.dtype)
    for b in column_blocks(w.shape[1]):
        out[:, b] = r.T @ w[:, b].astype(np.float64)
    return out


@dataclass
class RotateInput(RewritePattern):
    store: WeightStore
    layers: tuple[str, ...]
    seed: int
    skipped: list[str]
    # input -> its rotation: q, k and v (gate and up) read one stream and share it
    rotated: dict[SSAValue, SSAValue] = field(default_factory=dict)
    # width -> (factors, the dense rotation): built once per width, not once per layer
    rotations: dict[int, tuple] = field(default_factory=dict)

    def _rotation(self, n: int) -> tuple | None:
        if n not in self.rotations:
            factors = kronecker_factors(n, self.seed)
            # row i of the dense form: the rotation of the i-th unit vector
            self.rotations[n] = None if factors is None else (*factors, hadamard_sum(np.eye(n), *factors) / np.sqrt(n))
        return self.rotations[n]

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.MatMulOp, rewriter: PatternRewriter) -> None:
        found = rewritable_input(op, self.layers, self.store)
        if found is None or isinstance(op.lhs.owner, nn.HadamardOp):  # or rotated already
            return
        layer, x, w = found
        if w.ndim != 2 or non_negative(x, self.store):
            return
        n = w.shape[0]
        rotation = self._rotation(n)
        if rotation is None:
            self.skipped.append(f"{layer} ({n} inputs)")
            return
        a, b, r = rotation
        new: list = []
        if x not in self.rotated:
            wa = new_weight(self.store, f"{layer}.hadamard_a", a)
            wb = new_weight(self.store, f"{layer}.hadamard_b", b)
            rot = nn.HadamardOp(x, wa.res, wb.res)
            for v, hint in ((wa.res, "hadamard_a"), (wb.res, "hadamard_b"), (rot.res, "rotated")):
                v.name_hint = hint
            new = [wa, wb, rot]
            self.rotated[x] = rot.res
        ww = new_weight(self.store, f"{layer}.weight_rotated", fold_rotation(r, w))
        mm = nn.MatMulOp(self.rotated[x], ww.res, op.res.type)
        mm.attributes.update(op.attributes)
        # names for readers of the IR: the layer's output keeps its own
        ww.res.name_hint, mm.res.name_hint = "weight_rotated", op.res.name_hint
        old = op.rhs.owner
        rewriter.replace(op, [*new, ww, mm])
        if isinstance(old, nn.WeightOp) and not old.res.uses:  # the unrotated weight: its array is freed after the pass
            rewriter.erase(old)


@dataclass(frozen=True)
class OnlineHadamardPass(ModulePass):
    """Rotates the inputs of the chosen linear layers by a randomised Hadamard matrix (nn.hadamard)
    and folds its transpose into their weights: the same function, with inputs that quantize to
    few spike levels far better.

    Options: `layers` (globs of layer names; default every linear layer with constant weights
    whose input may be negative and is not a trained quantizer's), `seed` (the random signs).
    The MLP outputs need `token-scale` after it (its docstring says why)."""

    name = "online-hadamard"
    layers: tuple[str, ...] = DEFAULT_LAYERS
    seed: int = 0

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        skipped: list[str] = []
        PatternRewriteWalker(RotateInput(weights_of(ctx), tuple(self.layers), self.seed, skipped), apply_recursively=False).rewrite_module(op)
        if skipped and tuple(self.layers) != DEFAULT_LAYERS:
            note(f"online-hadamard: no Hadamard matrix of the input width of {', '.join(skipped[:4])}{', ...' if len(skipped) > 4 else ''}; left as they are")
