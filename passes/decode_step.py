"""Pass `decode-step`: a whole-sequence program becomes its one-token step function, state explicit.

A decoder compiled for a sequence of N tokens, whose ops are position-wise
along the sequence or linear attention (a recurrence over it), is rebuilt to
take one token and return the state the next token needs:

    @main(tokens [b, 1], position [1], S_1, z_1, ..., S_n, z_n) -> (outputs..., S_1', z_1', ..., S_n', z_n')

Every sequence axis becomes 1 and a constant that varies along the sequence
(a positional table) is read at `position` (`nscc.decoding.specialize`).
Then each `snn.linear_attention` becomes `snn.linear_attention_step` and each
causal `nn.linear_attention` becomes `nn.linear_attention_step`, reading S and
z from two new arguments of @main (int64 after spike conversion, f64 before)
and returning their new values as two new results. Both carry
`nscc.state = "LAYER.S"` (and `.z`), the position argument `nscc.position`, and
the module `nscc.decode_length = N`, the positions the function may be called
at. All-zero state is the state before the first token. Softmax attention,
non-causal attention and ops that mix positions are refused, naming the op.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from xdsl.context import Context
from xdsl.dialects.builtin import ArrayAttr, DictionaryAttr, IntegerAttr, ModuleOp, StringAttr, TensorType, f64, i64
from xdsl.dialects.func import FuncOp
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import PatternRewriter, PatternRewriteWalker, RewritePattern, op_type_rewrite_pattern

from nscc.decoding import LENGTH_ATTR, STATE_ATTR, is_step_function, specialize
from nscc.errors import NsccError
from nscc.ir import nn, snn
from nscc.ir.context import weights_of
from nscc.ir.signature import LAYER_ATTR, NAME_ATTR, main_function


@dataclass
class AttentionToStep(RewritePattern):
    """Linear attention over the one token -> its step op on state from new arguments of @main;
    the new state goes out as new results. Arguments and results in program order."""

    fn: FuncOp
    names: set[str] = field(default_factory=set)

    def _name(self, op) -> str:
        layer = op.attributes.get(LAYER_ATTR)
        base = layer.data if isinstance(layer, StringAttr) else "attention"
        name, i = base, 1
        while name in self.names:
            name, i = f"{base}.{i}", i + 1
        self.names.add(name)
        return name

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: snn.LinearAttentionOp | nn.LinearAttentionOp, rewriter: PatternRewriter) -> None:
        qs, vs = tuple(op.q.type.get_shape()), tuple(op.v.type.get_shape())
        element = i64 if isinstance(op, snn.LinearAttentionOp) else f64
        block = self.fn.body.block
        n = len(block.args)
        state = rewriter.insert_block_argument(block, n, TensorType(element, [*qs[:-2], qs[-1], vs[-1]]))
        norm = rewriter.insert_block_argument(block, n + 1, TensorType(element, [*qs[:-2], qs[-1]]))
        state.name_hint, norm.name_hint = "S", "z"
        if isinstance(op, snn.LinearAttentionOp):
            step = snn.LinearAttentionStepOp(op.q, op.k, op.v, state, norm, decay_shift=op.decay_shift.value.data)
            outs = [step.num, step.den]
        else:
            step = nn.LinearAttentionStepOp(
                op.q, op.k, op.v, state, norm, op.res.type, feature=op.feature.data, decay=op.decay.value.data, normalize=bool(op.normalize)
            )
            outs = [step.res]
        step.attributes.update(op.attributes)
        rewriter.replace(op, step, outs)
        ret = self.fn.get_return_op()
        ret.operands = (*ret.operands, step.new_state, step.new_norm)
        rewriter.notify_op_modified(ret)
        name = self._name(op)
        marks = [DictionaryAttr({NAME_ATTR: StringAttr(f"{name}.{x}"), STATE_ATTR: StringAttr(f"{name}.{x}")}) for x in "Sz"]
        self.fn.arg_attrs = ArrayAttr([*self.fn.arg_attrs.data, *marks])
        self.fn.res_attrs = ArrayAttr([*self.fn.res_attrs.data, *marks])
        self.fn.update_function_type()


@dataclass(frozen=True)
class DecodeStepPass(ModulePass):
    """Turns the whole-sequence program into its one-token step function with explicit state.

    Why: a decoder with linear attention then runs token by token in constant work and
    memory, and every target compiles the same function: its state is arguments and
    results (`nscc.state`), not something each runtime keeps on the side.
    Options: `token-input` (the input holding the token ids; default: the only input),
    `seq-axis` (its sequence axis, default 1)."""

    name = "decode-step"
    token_input: str = ""
    seq_axis: int = 1

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        if is_step_function(op):
            raise NsccError("decode-step: the module is a step function already", "run decode-step once")
        _, length = specialize(op, weights_of(ctx), self.token_input or None, self.seq_axis)
        fn = main_function(op)
        taken = {d.data[NAME_ATTR].data for d in (*fn.arg_attrs.data, *fn.res_attrs.data) if NAME_ATTR in d.data}
        PatternRewriteWalker(AttentionToStep(fn, taken), apply_recursively=False).rewrite_module(op)
        op.attributes[LENGTH_ATTR] = IntegerAttr(length, i64)
