"""Pass `fuse-gelu`: GELU spelled out in elementwise ops becomes one `nn.gelu`.

Exporters write GELU as arithmetic: the tanh form
`0.5 x (1 + tanh(0.7978845608 (x + 0.044715 x^3)))` (GPT-2) and the erf form
`0.5 x (1 + erf(x / 1.41421356))` (BERT), with the products associated and
the cube written (`Pow(x, 3)` or `x * x * x`) in whichever order the
exporter chose. Recognising them gives later passes one op to work on:
`integer-islands` turns `nn.gelu` into the integer `snn.fixed_gelu`, and the
report counts one activation instead of eight arithmetic ops.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)

from nscc.ir import nn
from nscc.ir.context import weights_of
from nscc.ir.weights import WeightStore
from nscc.semantics.folding import constant_value


def _users(value: SSAValue) -> list[Operation]:
    return [u.operation for u in value.uses]


@dataclass
class _Matcher:
    store: WeightStore

    def scalar(self, value: SSAValue) -> float | None:
        c = constant_value(value, self.store)
        return float(c.reshape(-1)[0]) if c is not None and c.size == 1 else None

    def is_const(self, value: SSAValue, expected: float, rel: float = 1e-4) -> bool:
        c = self.scalar(value)
        return c is not None and abs(c - expected) <= rel * abs(expected)

    def split(self, op: Operation | None, cls, expected: float) -> SSAValue | None:
        """For `cls(c, v)` or `cls(v, c)` with c == expected, the other operand v."""
        if not isinstance(op, cls):
            return None
        a, b = op.operands
        if self.is_const(a, expected):
            return b
        if self.is_const(b, expected):
            return a
        return None

    def is_cube_of(self, value: SSAValue, x: SSAValue) -> bool:
        op = value.owner
        if isinstance(op, nn.PowOp):
            return op.lhs is x and self.is_const(op.rhs, 3.0)
        if isinstance(op, nn.MulOp):
            for a, b in ((op.lhs, op.rhs), (op.rhs, op.lhs)):
                sq = b.owner
                if a is x and isinstance(sq, nn.MulOp) and sq.lhs is x and sq.rhs is x:
                    return True
        return False

    def finish(self, one_plus: SSAValue, x: SSAValue) -> Operation | None:
        """The op computing 0.5 * x * one_plus (either association), or None."""
        for user in _users(one_plus):
            if not isinstance(user, nn.MulOp):
                continue
            other = user.rhs if user.lhs is one_plus else user.lhs
            if self.split(other.owner, nn.MulOp, 0.5) is x:  # (0.5 * x) * (1 + t): transformers' gelu_new, dynamo
                return user
            if self.is_const(other, 0.5):  # (0.5 * (1 + t)) * x
                for u2 in _users(user.results[0]):
                    if isinstance(u2, nn.MulOp) and x in (u2.lhs, u2.rhs) and user.results[0] in (u2.lhs, u2.rhs):
                        return u2
            if other is x:  # (x * (1 + t)) * 0.5
                for u2 in _users(user.results[0]):
                    if self.split(u2, nn.MulOp, 0.5) is user.results[0]:
                        return u2
        return None


@dataclass
class FuseTanhGelu(RewritePattern):
    m: _Matcher

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.TanhOp, rewriter: PatternRewriter) -> None:
        inner = self.m.split(op.input.owner, nn.MulOp, float(np.sqrt(2 / np.pi)))
        add = inner.owner if inner is not None else None
        if not isinstance(add, nn.AddOp):
            return
        for x, cubic in ((add.lhs, add.rhs), (add.rhs, add.lhs)):
            cube = self.m.split(cubic.owner, nn.MulOp, 0.044715)
            if cube is None or not self.m.is_cube_of(cube, x):
                continue
            for user in _users(op.res):
                one_plus = self.m.split(user, nn.AddOp, 1.0)
                if one_plus is op.res:
                    end = self.m.finish(user.results[0], x)
                    if end is not None:
                        gelu = nn.GeluOp(x, end.results[0].type, approximate=nn.GeluApproximation.TANH)
                        rewriter.replace(end, gelu)
                        return


@dataclass
class FuseErfGelu(RewritePattern):
    m: _Matcher

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.ErfOp, rewriter: PatternRewriter) -> None:
        scaled = op.input.owner
        x = None
        if isinstance(scaled, nn.DivOp) and self.m.is_const(scaled.rhs, float(np.sqrt(2))):
            x = scaled.lhs
        elif isinstance(scaled, nn.MulOp):
            x = self.m.split(scaled, nn.MulOp, float(1 / np.sqrt(2)))
        if x is None:
            return
        for user in _users(op.res):
            if self.m.split(user, nn.AddOp, 1.0) is op.res:
                end = self.m.finish(user.results[0], x)
                if end is not None:
                    gelu = nn.GeluOp(x, end.results[0].type, approximate=nn.GeluApproximation.NONE)
                    rewriter.replace(end, gelu)
                    return


@dataclass(frozen=True)
class FuseGeluPass(ModulePass):
    """Recognises GELU written as tanh or erf arithmetic and replaces it with nn.gelu."""

    name = "fuse-gelu"

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        m = _Matcher(weights_of(ctx))
        PatternRewriteWalker(GreedyRewritePatternApplier([FuseTanhGelu(m), FuseErfGelu(m)])).rewrite_module(op)
