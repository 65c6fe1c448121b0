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
and returning their new values as two new results
(`nscc.decoding.AttentionToStep`). Both carry `nscc.state = "LAYER.S"` (and
`.z`), the position argument `nscc.position`, and the module
`nscc.decode_length = N`, the positions the function may be called at.
All-zero state is the state before the first token. Softmax attention,
non-causal attention and ops that mix positions are refused, naming the op.

The rewrite lives in the library (`nscc.decoding.decode_step`) because the
interpreter's `Decoder`, below the passes, makes the same function from a
whole-sequence module.
"""

from __future__ import annotations

from dataclasses import dataclass

from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.passes import ModulePass

from nscc.decoding import decode_step
from nscc.ir.context import weights_of


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
        decode_step(op, weights_of(ctx), self.token_input or None, self.seq_axis)
