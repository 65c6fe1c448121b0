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
from fnmatch import fnmatch

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.passes import ModulePass
from xdsl.ir import SSAValue
from xdsl.pattern_rewriter import PatternRewriter, PatternRewriteWalker, RewritePattern, op_type_rewrite_pattern

from nscc.errors import note
from nscc.ir import nn
from nscc.ir.constants import new_weight
from nscc.ir.context import weights_of
from nscc.ir.signature import LAYER_ATTR
from nscc.ir.weights import WeightStore
from nscc.quant.hadamard import kronecker_factors
from nscc.quant.plans import trained_quantizer
from nscc.semantics.folding import constant_value
from nscc.semantics.nn import hadamard_sum

DEFAULT_LAYERS = ("*",)
# Ops whose outputs are never negative, looked through reshapes: their inputs stay unrotated.
_NON_NEGATIVE = (nn.ReluOp, nn.SigmoidOp, nn.SoftmaxOp, nn.AbsOp, nn.HardSigmoidOp)
# Columns folded at a time: float64 copies of an LM head were a conversion's peak memory.
_FOLD_ELEMENTS = 1 << 21


def non_negative(x: SSAValue) -> bool:
    op = x.owner
    while isinstance(op, nn.ReshapeOp):
        op = op.input.owner
    if isinstance(op, nn.ClipOp):
        return op.min is not None and float(op.min.value.data) >= 0
    return isinstance(op, _NON_NEGATIVE)


def fold_rotation(r: np.ndarray, w: np.ndarray) -> np.ndarray:
    """R^T W in w's dtype, a block of columns at a time."""
    out = np.empty(w.shape, w.dtype)
    step = max(1, _FOLD_ELEMENTS // max(1, w.shape[0]))
    rt = r.T
    for c in range(0, w.shape[1], step):
        out[:, c : c + step] = rt @ w[:, c : c + step].astype(np.float64)
    return out


@dataclass
class RotateInput(RewritePattern):
    store: WeightStore
    layers: tuple[str, ...]
    seed: int
    skipped: list[str]
    # input -> its rotation: q, k and v (gate and up) read one stream and share it
    rotated: dict[SSAValue, SSAValue] = field(default_factory=dict)

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.MatMulOp, rewriter: PatternRewriter) -> None:
        layer = op.attributes.get(LAYER_ATTR)
        if not isinstance(layer, StringAttr) or not any(fnmatch(layer.data, g) for g in self.layers):
            return
        if isinstance(op.lhs.owner, nn.HadamardOp):  # rotated already
            return
        x = op.lhs
        w = constant_value(op.rhs, self.store)
        if w is None or w.ndim != 2 or constant_value(x, self.store) is not None:
            return
        if non_negative(x) or trained_quantizer(x, self.store) is not None:
            return
        n = w.shape[0]
        factors = kronecker_factors(n, self.seed)
        if factors is None:
            self.skipped.append(f"{layer.data} ({n} inputs)")
            return
        a, b = factors
        r = hadamard_sum(np.eye(n), a, b) / np.sqrt(n)  # row i: the rotation of the i-th unit vector
        new: list = []
        if x not in self.rotated:
            wa = new_weight(self.store, f"{layer.data}.hadamard_a", a)
            wb = new_weight(self.store, f"{layer.data}.hadamard_b", b)
            rot = nn.HadamardOp(x, wa.res, wb.res)
            for v, hint in ((wa.res, "hadamard_a"), (wb.res, "hadamard_b"), (rot.res, "rotated")):
                v.name_hint = hint
            new = [wa, wb, rot]
            self.rotated[x] = rot.res
        ww = new_weight(self.store, f"{layer.data}.weight_rotated", fold_rotation(r, w))
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
