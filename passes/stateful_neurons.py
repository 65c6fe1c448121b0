"""Pass `stateful-neurons`: spike encoders become stateful IF/LIF neurons over time.

`spike-conversion` encodes each activation on its own: n = clip(round(x / theta), lo, D)
counts per time step, nothing carried over. For a model that streams in time
(its leading axis is time: frames, samples, or a static input repeated for T
steps as in rate-coded ANN-to-SNN conversion) this pass replaces every encoder
by an integer neuron that integrates x_t / (D theta) into a membrane and
fires one spike per step when it reaches 1, with soft reset (`snn.neuron`,
threshold 2^F on a current in fixed point): what a step does not spend is
kept for the next. The threshold is the whole clipping range D * theta, as in
rate-coded conversion, so one spike per step can express the largest input;
the decodes after it scale by D accordingly. Over T steps the spike count
follows the integral of the input, so time-averaged outputs converge to the
converted model's as T grows; `leak-shift` > 0 makes the neurons leaky (LIF,
decay 1 - 2^-k).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
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

from nscc.errors import NsccError
from nscc.ir import nn, snn
from nscc.ir.constants import new_weight
from nscc.ir.context import weights_of
from nscc.ir.weights import WeightStore
from nscc.semantics.folding import constant_value


@dataclass
class EncoderToNeuron(RewritePattern):
    """An encoder that only feeds synapses whose decodes have constant scales -> x / (D theta)
    in fixed point into a stateful `snn.neuron`; each of those decodes -> the same decode
    with its scale times D."""

    store: WeightStore
    frac_bits: int
    leak_shift: int

    def _decodes(self, op: snn.EncodeOp) -> list[snn.DecodeOp] | None:
        """The decodes that read the synapses this encoder feeds, if that is all it feeds."""
        out = []
        for use in op.res.uses:
            syn = use.operation
            if not isinstance(syn, snn.SynapseOp | snn.ConvSynapseOp):
                return None
            for u2 in syn.res.uses:
                if not isinstance(u2.operation, snn.DecodeOp) or constant_value(u2.operation.scale, self.store) is None:
                    return None
                out.append(u2.operation)
        return out

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: snn.EncodeOp, rewriter: PatternRewriter) -> None:
        x = op.input
        shape = list(x.type.get_shape())
        theta = constant_value(op.theta, self.store)
        decodes = self._decodes(op)
        if len(shape) < 2 or theta is None or decodes is None:
            return  # no time axis to stream over, or consumers this pass does not know
        levels = op.res.type.levels.data
        for dec in decodes:  # one spike per step stands for D counts: the decodes scale by D
            scale = constant_value(dec.scale, self.store) * np.float32(levels)
            w = new_weight(self.store, "neuron.scale", scale.astype(np.float32))
            scaled = snn.DecodeOp(dec.input, w.res, dec.bias, dec.res.type, axis=dec.axis.value.data)
            scaled.attributes.update(dec.attributes)
            rewriter.replace(dec, [w, scaled])
        full = new_weight(self.store, "neuron.threshold", (theta * np.float32(levels)).astype(np.float32))
        ratio = nn.DivOp(x, full.res, x.type)
        current = snn.FixedEncodeOp(ratio.res, frac_bits=self.frac_bits)
        spikes = snn.NeuronOp(
            current.res, snn.CountsType(shape, 1, bool(op.res.type.signed.data)), threshold=1 << self.frac_bits, leak_shift=self.leak_shift
        )
        rewriter.replace(op, [full, ratio, current, spikes])


@dataclass(frozen=True)
class StatefulNeuronsPass(ModulePass):
    """Replaces spike encoders by stateful IF/LIF neurons along the leading (time) axis.

    Why: a model that streams in time then carries what a step does not spend over to
    the next, one spike per step, as rate-coded ANN-to-SNN conversion does.
    Options: `leak-shift` k (0: IF; k > 0: LIF with decay 1 - 2^-k); `frac-bits` F of
    the membrane current (threshold 2^F)."""

    name = "stateful-neurons"
    leak_shift: int = 0
    frac_bits: int = 16

    def __post_init__(self) -> None:
        if not 0 <= self.leak_shift <= 30:
            raise NsccError("stateful-neurons: leak-shift must be in [0, 30]", "0 is the IF neuron; k gives decay 1 - 2^-k")
        if not 4 <= self.frac_bits <= 24:
            raise NsccError("stateful-neurons: frac-bits must be in [4, 24]", "16 resolves currents to 2^-16 of a spike")

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        pattern = EncoderToNeuron(weights_of(ctx), self.frac_bits, self.leak_shift)
        PatternRewriteWalker(GreedyRewritePatternApplier([pattern])).rewrite_module(op)
