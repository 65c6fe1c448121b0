"""Pass `rotate-residual`: the residual stream is rotated by a randomised Hadamard matrix, folded into the weights.

    h = embed(ids) + sum W_out(...)      ->  h Q = embed(ids) Q + sum (W_out Q)(...)
    y = rmsnorm(h) * gamma               ->  y' = rmsnorm(h Q)   (= rmsnorm(h) Q)
    z = y W_in                           ->  z = y' (Q^T diag(gamma) W_in)

An exact rewrite (the model computes the same function, up to float
rounding) that removes the outlier channels of pretrained transformers from
every layer that reads the stream: QuaRot's rotation, with SliceGPT's
centring for LayerNorm models (`nscc.quant.rotation` explains both). It is
what makes per-tensor thresholds usable on a pretrained model, and
`spike-conversion` runs it first by default (`rotate=true`); this pass
shows it on its own in IR dumps.

A stream read or written by anything else (a post-norm model, whose
normalised values also feed the residual adds) is left unchanged, and the
reason is printed.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from nscc.errors import NsccError, note
from nscc.ir.context import weights_of
from nscc.quant.rotation import KINDS, rotate_streams


@dataclass(frozen=True)
class RotateResidualPass(ModulePass):
    """Rotates each residual stream by an orthogonal matrix folded into its writers and readers.

    Options: `kind` hadamard (a Hadamard matrix with random signs, where one of the
    stream's width is built: 2^k times a Paley order, e.g. 576, 768, 896, 1536)
    | random (a random orthogonal matrix); `seed` (the random signs or matrix)."""

    name = "rotate-residual"
    kind: str = "hadamard"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise NsccError(f"rotate-residual: kind must be one of {', '.join(KINDS)}", "`nscc passes` lists the options")

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        streams, reasons = rotate_streams(op, weights_of(ctx), self.seed, self.kind)
        for s in streams:
            note(f"rotate-residual: rotated a residual stream of width {s.dim} ({len(s.writers)} writers, {len(s.readers)} normalisations)")
        for r in reasons:
            note(f"rotate-residual: left a stream unrotated: {r}")
