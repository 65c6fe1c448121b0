"""Which ops run in the programmable logic, and which on the host.

The kernel is integer-only: everything between the encoding of the inputs
(`snn.encode` of a model input, done by the host) and the decoding of the
outputs (`snn.decode` into a returned value, also the host's) must compute on
integers. Integer model inputs (token ids, positions) go to the kernel as they
are. A float op anywhere else is refused, naming it, with the passes that
convert it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects.arith import ConstantOp
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.dialects.func import ReturnOp
from xdsl.ir import BlockArgument, Operation, SSAValue

from nscc.decoding import StateSlot, is_step_function, state_slots
from nscc.errors import NsccError
from nscc.ir import nn, snn
from nscc.ir.signature import LAYER_ATTR, main_function
from nscc.ir.types import np_dtype


def hint(module: ModuleOp) -> str:
    """What to do about a float op in the kernel: the passes the pipeline still lacks, or,
    when it has them all, that the op has no integer form yet."""
    ops = list(module.walk())
    missing = []
    if not any(isinstance(op, snn.SynapseOp | snn.ConvSynapseOp) for op in ops):
        missing.append("spike-conversion")
    if any(isinstance(op, nn.ErfOp | nn.TanhOp | nn.PowOp) for op in ops):
        missing.append("fuse-gelu")
    if any(isinstance(op, snn.DecodeOp) and any(isinstance(u.operation, snn.EncodeOp) for u in op.res.uses) for op in ops):
        missing.append("requant-fusion")
    if any(isinstance(op, nn.LayerNormOp | nn.SoftmaxOp | nn.GeluOp | nn.AddOp) for op in ops) or not any(
        isinstance(op, snn.FixedEncodeOp | snn.FixedLayerNormOp | snn.FixedAddOp | snn.RequantOp) for op in ops
    ):
        missing.append("integer-islands")
    if missing:
        return f"the VCK190 kernel computes on integers only: add {', '.join(missing)} to the pipeline; only input encoding and output decoding run on the host"
    return "this op has no integer form in the kernel yet; docs/targets.md lists the ops the VCK190 kernel implements"


def refuse_float_attention(module: ModuleOp) -> None:
    """Attention still in float has a clear remedy: say so before anything else."""
    for op in module.walk():
        if isinstance(op, nn.AttentionOp):
            raise NsccError(
                f"vck190 target: {where(op)} is softmax attention in float",
                "spike-conversion makes it spiking attention (snn.attention, its default attention=spiking); "
                "or rewrite it with linear-attention",
            )
        if isinstance(op, nn.WindowAttentionOp):
            raise NsccError(
                f"vck190 target: {where(op)} is a sliding-window hybrid in float",
                "spike-conversion makes it integer (snn.window_attention) when it has no padding mask and its attention is spiking",
            )
        if isinstance(op, nn.LinearAttentionOp) and not op.causal:
            raise NsccError(
                f"vck190 target: {where(op)} is bidirectional linear attention in float",
                "spike-conversion makes it integer (snn.linear_attention) when its features are relu or "
                "linear-attention's fitted maps and it has no decay; or keep softmax attention (spiking attention)",
            )


# The float ops the default pipeline turns into integers the kernel runs: linear layers,
# attention and linear attention's fitted feature maps (spike-conversion), norms,
# activations, products and sums, negation and data movement (integer-islands), the
# selections of a padding mask. What else is float stays float, and `preflight` names it
# before calibration starts.
BECOMES_INTEGER = (
    nn.MatMulOp, nn.GemmOp, nn.ConvOp, nn.AttentionOp, nn.LinearAttentionOp, nn.WindowAttentionOp, nn.FeatureMapOp,
    nn.LayerNormOp, nn.RMSNormOp, nn.SoftmaxOp, nn.GeluOp, nn.SiluOp, nn.ReluOp, nn.HadamardOp,
    nn.AddOp, nn.MulOp, nn.NegOp, nn.WhereOp, nn.DivOp,
    nn.ReshapeOp, nn.TransposeOp, nn.SliceOp, nn.BroadcastOp, nn.SplitOp, nn.ConcatOp, nn.MaxPoolOp, nn.AvgPoolOp,
    nn.GatherOp, nn.GatherNDOp, nn.GatherElementsOp, nn.CastOp,
    nn.ClipOp, nn.RoundOp,  # a trained quantizer's clip(round(x / theta)): spike-conversion takes it as the encoder
    nn.AbsOp, nn.ReduceMaxOp,  # token-scale's largest magnitude per token
)  # fmt: skip


def preflight(module: ModuleOp) -> None:
    """Before the passes that calibrate (minutes on an LLM): every op computed from the inputs
    must be one the pipeline can make integer, or already integer; the rest is listed by place."""
    fn = main_function(module)
    constant: set[SSAValue] = set()
    bad = []
    for op in fn.body.block.ops:
        if isinstance(op, ReturnOp):
            continue
        if isinstance(op, nn.WeightOp | ConstantOp) or (op.operands and all(v in constant for v in op.operands)):
            constant.update(op.results)
            continue
        if isinstance(op, snn.SNNOp) or isinstance(op, BECOMES_INTEGER):
            continue
        if all(is_integer(r) for r in op.results) and all(is_integer(v) or v in constant for v in op.operands):
            continue  # integer already (a mask from the inputs): the kernel's own emitters decide
        bad.append(where(op))
    if bad:
        kinds = sorted({b.split("'")[1] for b in bad})
        spelled = {"nn.pow", "nn.sqrt", "nn.reciprocal", "nn.reduce_mean", "nn.sigmoid", "nn.erf", "nn.tanh", "nn.div", "nn.sub"}
        hint = (
            "they look like norms or activations written out: put fuse-gelu,fuse-silu,fuse-rms-norm,fuse-layer-norm "
            "before spike-conversion (leaving -p out applies them)"
            if spelled & set(kinds)
            else "these have no integer form yet (docs/targets.md lists what the kernel runs); --target cpp runs every op"
        )
        raise NsccError(
            f"vck190 target: {len(bad)} op(s) would stay float in the integer-only kernel ({', '.join(kinds)}): "
            + "; ".join(bad[:4])
            + ("; ..." if len(bad) > 4 else ""),
            hint,
        )


def is_integer(v: SSAValue) -> bool:
    t = v.type
    if isinstance(t, snn.CountsType | snn.SpikesType):
        return True
    return np.dtype(np_dtype(t)).kind in "iub"


def where(op: Operation) -> str:
    """The op and its layer; an op without a layer of its own (a float LayerNorm) is placed
    by the nearest layer that reaches it or, failing that, the nearest one before it."""
    layer = op.attributes.get(LAYER_ATTR)
    if isinstance(layer, StringAttr):
        return f"op '{op.name}' (layer {layer.data})"
    weights = [v.owner.sym.data for v in op.operands if isinstance(v.owner, nn.WeightOp)]
    if weights:
        return f"op '{op.name}' (reading weight {weights[0]})"
    seen, todo = set(), [v.owner for v in op.operands if isinstance(v.owner, Operation)]
    while todo and len(seen) < 64:
        src = todo.pop(0)
        if src in seen:
            continue
        seen.add(src)
        a = src.attributes.get(LAYER_ATTR)
        if isinstance(a, StringAttr):
            return f"op '{op.name}' (after layer {a.data})"
        todo += [v.owner for v in src.operands if isinstance(v.owner, Operation)]
    prev = op.prev_op
    while prev is not None and not isinstance(prev.attributes.get(LAYER_ATTR), StringAttr):
        prev = prev.prev_op
    return f"op '{op.name}'" + (f" (after layer {prev.attributes[LAYER_ATTR].data})" if prev is not None else " (before the first layer)")


@dataclass
class Partition:
    ops: list[Operation] = field(default_factory=list)  # the kernel's, in program order
    inputs: list[tuple[SSAValue, int, snn.EncodeOp | None]] = field(default_factory=list)  # value, model input, its encoder
    outputs: list[tuple[SSAValue, int, snn.DecodeOp | snn.FixedDecodeOp | None]] = field(default_factory=list)  # value, model output, its decoder
    # a step function's (decode-step) state: each attention step op with the slots of its S and z
    # (linear attention), K and V (the KV cache of softmax attention) or K, V, P, S and z (a
    # sliding-window hybrid), in argument order; the kernel keeps them in its state port,
    # updated in place
    state: list[tuple] = field(default_factory=list)


def _state(module: ModuleOp, ret: ReturnOp) -> list[tuple]:
    """The step ops that read the state arguments, each returning its new state at the result
    of the same slot (so the state port can be updated in place), in argument order."""
    if not is_step_function(module):
        return []
    slots = {s.arg: s for s in state_slots(module)}
    out = []
    for op in main_function(module).walk():
        if isinstance(op, snn.LinearAttentionStepOp):
            olds, news = (op.state, op.norm), (op.new_state, op.new_norm)
        elif isinstance(op, snn.AttentionStepOp):
            olds, news = (op.k_cache, op.v_cache), (op.new_k_cache, op.new_v_cache)
        elif isinstance(op, snn.WindowAttentionStepOp):
            olds, news = (op.k_cache, op.v_cache, op.p_cache, op.state, op.norm), op.results[1:]
        else:
            continue
        taken = [slots.get(v.index) if isinstance(v, BlockArgument) and v.has_one_use() else None for v in olds]
        if None in taken or any(ret.operands[s.result] is not new or not new.has_one_use() for s, new in zip(taken, news)):
            raise NsccError(
                f"vck190 target: {where(op)} must read its state from the step function's state arguments and return the new state",
                "make the step function with the decode-step pass",
            )
        out.append((op, *taken))
    if sum(len(t) - 1 for t in out) != len(slots):
        raise NsccError(
            "vck190 target: a state argument of the step function is not attention state",
            "make the step function with the decode-step pass",
        )
    return sorted(out, key=lambda t: t[1].arg)


def partition(module: ModuleOp) -> Partition:
    refuse_float_attention(module)
    fn = main_function(module)
    args = list(fn.body.block.args)
    p = Partition()
    ret = fn.body.block.last_op
    assert isinstance(ret, ReturnOp)
    p.state = _state(module, ret)
    state_args = {s.arg for _, *taken in p.state for s in taken}
    state_results = {s.result for _, *taken in p.state for s in taken}
    folded: set[Operation] = set()  # ops of constants only: their values become parameters
    for op in fn.body.block.ops:
        if isinstance(op, nn.WeightOp | ConstantOp | ReturnOp):
            continue
        if op.operands and all(isinstance(v.owner, nn.WeightOp | ConstantOp) or v.owner in folded for v in op.operands):
            folded.add(op)
            continue
        if isinstance(op, snn.EncodeOp) and isinstance(op.input, BlockArgument):
            p.inputs.append((op.res, args.index(op.input), op))
            continue
        if isinstance(op, snn.DecodeOp | snn.FixedDecodeOp) and all(u.operation is ret for u in op.res.uses) and op.res.uses:
            p.outputs.append((op.input, next(u.index for u in op.res.uses), op))
            continue
        if not all(is_integer(r) for r in op.results):
            raise NsccError(f"vck190 target: {where(op)} computes in float inside the kernel", hint(module))
        for v in op.operands:
            if not is_integer(v) and not isinstance(v.owner, nn.WeightOp | ConstantOp) and v.owner not in folded:
                raise NsccError(f"vck190 target: {where(op)} reads a float value inside the kernel", hint(module))
            if isinstance(v, BlockArgument) and v.index not in state_args and all(v is not x for x, _, _ in p.inputs):
                p.inputs.append((v, args.index(v), None))
        p.ops.append(op)
    for j, v in enumerate(ret.operands):
        if j in state_results or isinstance(v.owner, snn.DecodeOp | snn.FixedDecodeOp) and any(d is v.owner for _, _, d in p.outputs):
            continue
        if not is_integer(v) or isinstance(v, BlockArgument):
            raise NsccError(f"vck190 target: output {j} is not computed by the kernel", hint(module))
        p.outputs.append((v, j, None))
    if not any(isinstance(op, snn.SynapseOp | snn.ConvSynapseOp | snn.LifOp | snn.RecurrentLifOp | snn.LeakyIntegrateOp) for op in p.ops):
        raise NsccError(
            "vck190 target: the model has no spiking layers", "run spike-conversion first (e.g. -p spike-conversion,requant-fusion)"
        )
    p.inputs.sort(key=lambda t: t[1])
    return p
