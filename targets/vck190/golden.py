"""Golden vectors: the values at the kernel's boundary while the reference interpreter runs.

A decoder with linear attention is run token by token by the Decoder, with its
state passed in and taken back (its decode-step function is what the kernel
implements, the state arguments its state port); any other model runs one batch. The
share of non-zero input counts of every synapse is recorded as well: the
estimator's firing.
"""

from __future__ import annotations

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.interpreter import Interpreter

from nscc.ir.context import NsccContext
from nscc.ir.signature import signature
from nscc.targets.vck190.partition import partition, refuse_float_attention

TB_STEPS = 8


class _Capture(Interpreter.Listener):
    """Records the values at the kernel's boundary while the interpreter runs."""

    def __init__(self, values, synapses=()):
        self.want = {id(v): i for i, v in enumerate(values)}
        self.got: dict[int, np.ndarray] = {}
        self.synapses = {op: j for j, op in enumerate(synapses)}
        self.active: dict[int, list[float]] = {}

    def will_interpret_op(self, op, args) -> None:
        j = self.synapses.get(op)
        if j is not None:  # the share of input rows the kernel fetches (non-zero counts)
            x = np.asarray(args[0])
            a = self.active.setdefault(j, [0.0, 0.0])
            a[0] += np.count_nonzero(x)
            a[1] += x.size

    def did_interpret_op(self, op, results) -> None:
        for r, val in zip(op.results, results):
            i = self.want.get(id(r))
            if i is not None:
                self.got[i] = np.array(val)


def program(ctx: NsccContext, module: ModuleOp):
    """The module the kernel runs (a decoder's one-token step) and golden (inputs, outputs) per call."""
    from nscc.calibration import calibration_of
    from nscc.decoding import Decoder, has_attention_state, is_step_function

    refuse_float_attention(module)
    sig = signature(module)
    if is_step_function(module) or (has_attention_state(module) and len(sig.inputs) == 1):
        # the kernel is the decode-step function; its state arguments are the state port, not vectors
        dec = Decoder(ctx, module)
        part = partition(dec.step_module)
        token_input = signature(dec.step_module).inputs[dec.token_arg][0]
        # a step function's calibration data (if any) is still the whole sequence's
        batch = (ctx.calibration or [{}])[0] if is_step_function(module) else calibration_of(ctx, module, 1)[0]
        ids = np.asarray(batch[token_input]) if token_input in batch else np.zeros((dec.batch, dec.length), np.int64)
        values = [v for v, _, _ in part.inputs] + [v for v, _, _ in part.outputs]
        cap = _Capture(values, _synapses(part))
        dec.interpreter.listeners = (cap,)
        steps = []
        for t in range(min(TB_STEPS, dec.length, ids.shape[1])):
            args: list = [None] * dec.n_args
            args[dec.token_arg] = np.ascontiguousarray(ids[:, t : t + 1].astype(np.int64))
            args[dec.position_arg] = np.array([t], np.int64)
            cap.got.clear()
            dec.step(ids[:, t])
            steps.append(_split(part, cap.got, args))
        return dec.step_module, part, steps, True, dec, cap
    part = partition(module)
    batch = calibration_of(ctx, module, 1)[0]
    from nscc.semantics.interpreter import run

    values = [v for v, _, _ in part.inputs] + [v for v, _, _ in part.outputs]
    cap = _Capture(values, _synapses(part))
    args = tuple(np.asarray(batch[n]).astype(d) for n, _, d in sig.inputs)
    run(module, ctx.weights, {n: a for (n, _, _), a in zip(sig.inputs, args)}, listeners=(cap,))
    return module, part, [_split(part, cap.got, args)], False, None, cap


def _synapses(part):
    from nscc.ir import snn

    return [op for op in part.ops if isinstance(op, snn.SynapseOp)]


def _split(part, got, args):
    n_in = len(part.inputs)
    ins = [got[i] if enc is not None else args[arg] for i, (_, arg, enc) in enumerate(part.inputs)]
    outs = [got[n_in + j] for j in range(len(part.outputs))]
    return ins, outs
