"""Error cost of the integer ops of the Llama family on real activations (SmolLM2-135M).

The float model (attention raised, SiLU and RMSNorm fused) runs on calibration text;
the inputs of every RMSNorm, SiLU, RoPE table product and attention softmax are
captured, and each op's integer form (docs/semantics.md, frac-bits F = 16, the
default of integer-islands) is compared with the float op on them:

    relative error = ||integer - float|| / ||float||, and the largest absolute error

    python benchmarks/integer_ops.py [--windows 2]

Needs the bench extra, as benchmarks/pretrained_llm.py.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
from xdsl.dialects.builtin import TensorType, i32
from xdsl.interpreter import Interpreter
from xdsl.ir import Block

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pretrained_llm as P  # noqa: E402

from nscc.driver import prepare  # noqa: E402
from nscc.ir import nn, snn  # noqa: E402
from nscc.quant.fixed import to_fixed  # noqa: E402
from nscc.semantics.fixed import ALPHA_BITS, GAMMA_BITS  # noqa: E402
from nscc.semantics.folding import constant_value  # noqa: E402
from nscc.semantics.interpreter import run  # noqa: E402
from nscc.semantics.snn import SNN_KERNELS as KERNELS  # noqa: E402

F = 16


def _args(*shapes):
    return Block(arg_types=[TensorType(i32, list(s)) for s in shapes]).args


def int_rms_norm(x: np.ndarray, gamma: np.ndarray, eps: float) -> np.ndarray:
    n = x.shape[-1]
    r = snn.ln_var_shift(n)
    a = _args(x.shape, (n,))
    op = snn.FixedRmsNormOp(a[0], a[1], frac_bits=F, axis=x.ndim - 1, var_shift=r, epsilon=max(1, round(eps * 2.0 ** (2 * (F - r)))))
    g = np.rint(np.broadcast_to(gamma.astype(np.float64), (n,)) * 2.0**GAMMA_BITS).astype(np.int32)
    return KERNELS[type(op)](op, [to_fixed(x, F), g])[0] * 2.0**-F


def int_silu(x: np.ndarray) -> np.ndarray:
    op = snn.FixedSiluOp(_args(x.shape)[0], frac_bits=F, alpha=1 << ALPHA_BITS)
    return KERNELS[type(op)](op, [to_fixed(x, F)])[0] * 2.0**-F


def int_softmax(x: np.ndarray) -> np.ndarray:
    op = snn.FixedSoftmaxOp(_args(x.shape)[0], frac_bits=F, axis=x.ndim - 1)
    return KERNELS[type(op)](op, [to_fixed(np.maximum(x, -1e30), F)])[0] * 2.0**-F


def int_mul(x: np.ndarray, table: np.ndarray) -> np.ndarray:
    shape = np.broadcast_shapes(x.shape, table.shape)
    a = _args(x.shape, table.shape)
    op = snn.FixedMulOp(a[0], a[1], TensorType(i32, list(shape)), frac_bits=F)
    return KERNELS[type(op)](op, [to_fixed(x, F), to_fixed(table, F)])[0] * 2.0**-F


class Capture(Interpreter.Listener):
    def __init__(self, store):
        self.store, self.got = store, {"RMSNorm": [], "SiLU": [], "RoPE product": [], "softmax (attention)": []}

    def will_interpret_op(self, op, args) -> None:
        if isinstance(op, nn.RMSNormOp):
            self.got["RMSNorm"].append((np.array(args[0]), np.array(args[1]), op.epsilon.value.data))
        elif isinstance(op, nn.SiluOp):
            self.got["SiLU"].append((np.array(args[0]),))
        elif isinstance(op, nn.AttentionOp):
            q, k = np.asarray(args[0], np.float64), np.asarray(args[1], np.float64)
            s = op.scale.value.data * q @ np.swapaxes(k, -1, -2)
            n = s.shape[-1]
            self.got["softmax (attention)"].append((np.where(np.tril(np.ones((n, n), bool)), s, -np.inf),))
        elif isinstance(op, nn.MulOp):
            for x, t in ((0, 1), (1, 0)):
                table = constant_value(op.operands[t], self.store)
                if table is not None and table.ndim >= 2 and table.shape[-2] > 1 and constant_value(op.operands[x], self.store) is None:
                    self.got["RoPE product"].append((np.array(args[x]), table))


FLOAT = {
    "RMSNorm": lambda x, g, eps: x / np.sqrt((x.astype(np.float64) ** 2).mean(-1, keepdims=True) + eps) * g,
    "SiLU": lambda x: x / (1 + np.exp(-x.astype(np.float64))),
    "RoPE product": lambda x, t: x.astype(np.float64) * t,
    "softmax (attention)": lambda s: np.exp(s - s.max(-1, keepdims=True)) / np.exp(s - s.max(-1, keepdims=True)).sum(-1, keepdims=True),
}
INTEGER = {"RMSNorm": int_rms_norm, "SiLU": int_silu, "RoPE product": int_mul, "softmax (attention)": int_softmax}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--windows", type=int, default=2)
    a = ap.parse_args()
    P._check_deps()
    model = P.export_model(128)
    calib_ids, _ = P.prose_windows(128, 16)
    ctx, module = prepare(model, {}, None, "raise-attention,fuse-gelu,fuse-silu,fuse-rms-norm")
    cap = Capture(ctx.weights)
    for i in range(a.windows):
        run(module, ctx.weights, {"input_ids": calib_ids[i : i + 1]}, listeners=(cap,))
    print(f"{P.MODEL}, {a.windows} windows of 128 tokens, F = {F} fraction bits")
    print(f"{'op':22} {'instances':>9} {'relative error':>15} {'max |error|':>12} {'max |float|':>12}")
    for name, items in cap.got.items():
        num = den = 0.0
        worst = top = 0.0
        for args in items:
            ref = FLOAT[name](*args)
            got = INTEGER[name](*args)
            d = got - ref
            num, den = num + float((d**2).sum()), den + float((ref**2).sum())
            worst, top = max(worst, float(np.abs(d).max())), max(top, float(np.abs(ref).max()))
        print(f"{name:22} {len(items):9d} {np.sqrt(num / max(den, 1e-30)):15.2e} {worst:12.3e} {top:12.3e}")


if __name__ == "__main__":
    main()
