"""Pass `binary-expand`: spike counts become binary spike trains before accumulation.

"Integer training, binary inference": after `spike-conversion` a synapse adds
n copies of a weight for a count n. This pass spells each count out as
binary slots (`snn.expand`), thermometer (D slots, slot t fires when n > t)
or bit planes (log2(D+1) slots of weight 2^t), so that every synaptic event
is a single addition of a weight, the form event-driven hardware executes.
By the semantics of `snn.synapse` the accumulators are bit-identical to the
counts form; tests check it on random inputs and on real models.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.ir import SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import PatternRewriter, PatternRewriteWalker, RewritePattern, op_type_rewrite_pattern
from xdsl.rewriter import InsertPoint

from nscc.errors import NsccError
from nscc.ir import snn

CODING_ATTR = "nscc.spike_coding"


@dataclass
class ExpandSynapseInput(RewritePattern):
    coding: str
    expanded: dict[SSAValue, SSAValue] = field(default_factory=dict)

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: snn.SynapseOp | snn.ConvSynapseOp, rewriter: PatternRewriter) -> None:
        counts = op.input
        if not isinstance(counts.type, snn.CountsType):
            return
        spikes = self.expanded.get(counts)
        if spikes is None:
            ct = counts.type
            st = snn.SpikesType((snn.slots_for(ct.levels.data, self.coding),) + ct.get_shape(), self.coding, bool(ct.signed.data))
            exp = snn.ExpandOp(counts, st)
            rewriter.insert(exp, InsertPoint.before(op))
            spikes = self.expanded[counts] = exp.res
        op.operands = [spikes, *op.operands[1:]]
        rewriter.notify_op_modified(op)


@dataclass(frozen=True)
class BinaryExpandPass(ModulePass):
    """Spells spike counts out as binary trains (thermometer or bit planes) before synapses."""

    name = "binary-expand"
    coding: str = "auto"

    def __post_init__(self) -> None:
        if self.coding not in ("auto", "thermometer", "bitplane"):
            raise NsccError("binary-expand: coding must be auto, thermometer or bitplane", "auto takes the coding spike-conversion chose")

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        coding = self.coding
        if coding == "auto":
            chosen = op.attributes.get(CODING_ATTR)
            coding = chosen.data if isinstance(chosen, StringAttr) else "thermometer"
            coding = "thermometer" if coding == "ternary" else coding  # ternary: signed thermometer slots
        PatternRewriteWalker(ExpandSynapseInput(coding), apply_recursively=False).rewrite_module(op)
        op.attributes[CODING_ATTR] = StringAttr(coding)
