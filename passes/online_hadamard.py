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

Options: `layers`, globs of the layer names to rotate (default: the inputs that
do not come out of a norm in the Llama, GPT-2 and BERT families: the attention
outputs' and the MLPs' output projections and the LM head);
`seed` of the random signs. A layer whose input width has no Hadamard matrix
built here is left as it is and named.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatch

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import PatternRewriter, PatternRewriteWalker, RewritePattern, op_type_rewrite_pattern

from nscc.errors import note
from nscc.ir import nn
from nscc.ir.constants import new_weight
from nscc.ir.context import weights_of
from nscc.ir.signature import LAYER_ATTR
from nscc.ir.weights import WeightStore
from nscc.quant.hadamard import kronecker_factors
from nscc.semantics.folding import constant_value
from nscc.semantics.nn import hadamard_sum

DEFAULT_LAYERS = ("*o_proj", "*attn.c_proj", "*attention.output.dense", "*lm_head", "*down_proj", "*mlp.c_proj", "*[!n].output.dense")


@dataclass
class RotateInput(RewritePattern):
    store: WeightStore
    layers: tuple[str, ...]
    seed: int
    skipped: list[str]

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.MatMulOp, rewriter: PatternRewriter) -> None:
        layer = op.attributes.get(LAYER_ATTR)
        if not isinstance(layer, StringAttr) or not any(fnmatch(layer.data, g) for g in self.layers):
            return
        if isinstance(op.lhs.owner, nn.HadamardOp):  # rotated already
            return
        w = constant_value(op.rhs, self.store)
        if w is None or w.ndim != 2 or constant_value(op.lhs, self.store) is not None:
            return
        n = w.shape[0]
        factors = kronecker_factors(n, self.seed)
        if factors is None:
            self.skipped.append(f"{layer.data} ({n} inputs)")
            return
        a, b = factors
        r = hadamard_sum(np.eye(n), a, b) / np.sqrt(n)  # row i: the rotation of the i-th unit vector
        wa = new_weight(self.store, f"{layer.data}.hadamard_a", a)
        wb = new_weight(self.store, f"{layer.data}.hadamard_b", b)
        rot = nn.HadamardOp(op.lhs, wa.res, wb.res)
        folded = (r.T @ w.astype(np.float64)).astype(w.dtype)
        ww = new_weight(self.store, f"{layer.data}.weight_rotated", folded)
        mm = nn.MatMulOp(rot.res, ww.res, op.res.type)
        mm.attributes.update(op.attributes)
        # names for readers of the IR: the layer's output keeps its own
        for v, hint in ((wa.res, "hadamard_a"), (wb.res, "hadamard_b"), (rot.res, "rotated"), (ww.res, "weight_rotated"), (mm.res, op.res.name_hint)):
            v.name_hint = hint
        rewriter.replace(op, [wa, wb, rot, ww, mm])


@dataclass(frozen=True)
class OnlineHadamardPass(ModulePass):
    """Rotates the inputs of the chosen linear layers by a randomised Hadamard matrix (nn.hadamard)
    and folds its transpose into their weights: the same function, with inputs that quantize to
    few spike levels far better.

    Options: `layers` (globs of layer names; default the inputs no norm produced: o_proj,
    attn.c_proj, attention.output.dense, down_proj, mlp.c_proj, output.dense, lm_head), `seed`
    (the random signs). The MLP outputs need `token-scale` after it (its docstring says why)."""

    name = "online-hadamard"
    layers: tuple[str, ...] = DEFAULT_LAYERS
    seed: int = 0

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        skipped: list[str] = []
        PatternRewriteWalker(RotateInput(weights_of(ctx), tuple(self.layers), self.seed, skipped), apply_recursively=False).rewrite_module(op)
        if skipped:
            note(f"online-hadamard: no Hadamard matrix of the input width of {', '.join(skipped[:4])}{', ...' if len(skipped) > 4 else ''}; left as they are")
