"""What a small elementwise subgraph computes, as a polynomial over chosen values.

Exporters spell one formula in many ways: `0.5 * x * (1 + t)` associated
either way round, `x / 2` for `0.5 * x`, `x * x * x` or `Pow(x, 3)`, the
constant on the left or the right, `1 / sqrt(v)` or `Reciprocal(Sqrt(v))`.
Expanded into a sum of monomials over a few chosen values (the atoms: the
activation's input, the erf or tanh it feeds, a norm's square root) they all
come out the same, so a pass that recognises an operator compares one
expansion with the formula instead of enumerating the spellings.

A monomial is a tuple of (atom index, exponent) pairs sorted by index, with
negative exponents for division by a single-term expression; a polynomial maps
monomials to their coefficients. Scalar constants become coefficients; a
constant of more than one element can join the atoms where the caller allows
it (a norm's gamma and beta), and anything else stops the expansion.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects.arith import ConstantOp
from xdsl.ir import BlockArgument, Operation, SSAValue

from nscc.ir import nn
from nscc.ir.constants import new_weight, source_weight
from nscc.ir.types import np_dtype
from nscc.ir.weights import WeightStore
from nscc.semantics.folding import constant_value

Monomial = tuple[tuple[int, int], ...]
Poly = dict[Monomial, float]

ARITHMETIC = (nn.AddOp, nn.SubOp, nn.MulOp, nn.DivOp, nn.NegOp, nn.ReciprocalOp, nn.PowOp)
_MAX_POWER = 4  # norms square and GELU cubes; a bound keeps expansions small


def monomial(*factors: tuple[int, int]) -> Monomial:
    return tuple(sorted(f for f in factors if f[1] != 0))


def _mul(p: Poly, q: Poly) -> Poly:
    out: Poly = {}
    for m1, c1 in p.items():
        for m2, c2 in q.items():
            exps = dict(m1)
            for i, e in m2:
                exps[i] = exps.get(i, 0) + e
            key = monomial(*exps.items())
            out[key] = out.get(key, 0.0) + c1 * c2
    return out


def _add(p: Poly, q: Poly, sign: float = 1.0) -> Poly:
    out = dict(p)
    for m, c in q.items():
        out[m] = out.get(m, 0.0) + sign * c
    return out


def _inverse(p: Poly) -> Poly | None:
    """1 / p, for a single nonzero term only: dividing by a sum is no polynomial."""
    if len(p) != 1:
        return None
    ((m, c),) = p.items()
    return {tuple((i, -e) for i, e in m): 1.0 / c} if c != 0 else None


def _power(p: Poly, n: int) -> Poly | None:
    base = _inverse(p) if n < 0 else p
    if base is None:
        return None
    out: Poly = {(): 1.0}
    for _ in range(abs(n)):
        out = _mul(out, base)
    return out


def close(a: float, b: float, rel: float = 1e-4) -> bool:
    """a == b but for float32 rounding of exported constants (and of their products)."""
    return abs(a - b) <= rel * abs(b)


def same(p: Poly, target: Poly, rel: float = 1e-4) -> bool:
    """p == target, the coefficients within `rel` (exported constants are rounded to float32)."""
    scale = max((abs(c) for c in p.values()), default=0.0)
    terms = {m: c for m, c in p.items() if abs(c) > 1e-9 * scale}
    if terms.keys() != target.keys():
        return False
    return all(close(terms[m], c, rel) for m, c in target.items())


@dataclass
class Expansion:
    """A polynomial and the atoms its monomials index (the given ones, then any constants taken in)."""

    poly: Poly
    atoms: list[SSAValue]


def _users(value: SSAValue) -> list[Operation]:
    return [u.operation for u in value.uses]


@dataclass
class Algebra:
    """Expansions over one module; `store` holds the weights, and one memo serves every fold."""

    store: WeightStore
    _memo: dict = field(default_factory=dict)

    def constant(self, value: SSAValue) -> np.ndarray | None:
        """The value's array if it is a weight, an inline constant, or an op over those
        (Gemma's `1 + weight`); anything deeper is taken as computed, without folding the
        model upstream of it."""
        if not _shallow_constant(value, 2):
            return None
        return constant_value(value, self.store, self._memo)

    def scalar(self, value: SSAValue) -> float | None:
        c = self.constant(value)
        return float(c.reshape(-1)[0]) if c is not None and c.size == 1 else None

    def expand(
        self, value: SSAValue, atoms: Sequence[SSAValue], free: Callable[[SSAValue], bool] | None = None, budget: int = 48
    ) -> Expansion | None:
        """`value` as a polynomial in `atoms` through the arithmetic ops between them, or None
        where it depends on something else. `free` admits other constants as atoms."""
        run = _Run(self, list(atoms), free, budget)
        poly = run.poly(value)
        return None if poly is None else Expansion(poly, run.atoms)

    def variables(self, value: SSAValue, depth: int = 4) -> Iterator[tuple[SSAValue, Poly]]:
        """Each non-constant x that `value` is computed from by arithmetic alone (nearest
        first), with `value` as a polynomial in x; x itself comes first, as x ** 1."""
        seen, frontier = {value}, [value]
        for _ in range(depth + 1):
            nxt = []
            for v in frontier:
                if self.constant(v) is None:
                    e = self.expand(value, [v])
                    if e is not None:
                        yield v, e.poly
                if isinstance(v.owner, ARITHMETIC):
                    for o in v.owner.operands:
                        if o not in seen:
                            seen.add(o)
                            nxt.append(o)
            frontier = nxt

    def activation(self, inner: Operation, argument: Callable[[Poly], object], whole: Poly) -> tuple[Operation, SSAValue, object] | None:
        """For the erf, tanh or sigmoid `inner` inside an activation of some x: the x whose
        polynomial `argument` accepts as inner's argument (answering what it means, e.g.
        alpha), and the nearest op after inner computing `whole` over (x, inner), as
        (that op, x, the answer); None if there is no such pair."""
        for x, poly in self.variables(inner.operands[0]):
            meaning = argument(poly)
            if meaning is not None:
                for end, e in self.ends(inner.results[0], [x, inner.results[0]]):
                    if same(e.poly, whole):
                        return end, x, meaning
        return None

    def ends(
        self, value: SSAValue, atoms: Sequence[SSAValue], free: Callable[[SSAValue], bool] | None = None, depth: int = 4
    ) -> Iterator[tuple[Operation, Expansion]]:
        """The arithmetic ops after `value` whose result has atoms[0]'s type, nearest first,
        each with its result expanded over `atoms`: the candidates for the last op of a
        spelled-out operator of atoms[0]."""
        for op in self.consumers(value, depth):
            if op.results[0].type == atoms[0].type:
                e = self.expand(op.results[0], atoms, free)
                if e is not None:
                    yield op, e

    def consumers(self, value: SSAValue, depth: int = 4) -> list[Operation]:
        """The arithmetic ops that compute from `value` within `depth` steps, nearest first:
        where the end of a spelled-out operator may be."""
        out: list[Operation] = []
        frontier = [value]
        for _ in range(depth):
            nxt = []
            for v in frontier:
                for op in _users(v):
                    if isinstance(op, ARITHMETIC) and op not in out:
                        out.append(op)
                        nxt.append(op.results[0])
            frontier = nxt
        return out

    def root(self, mean: SSAValue) -> tuple[SSAValue, int, float] | None:
        """A norm's `sqrt(mean + eps)` after `mean`: the value r, the exponent the norm takes
        it to (-1 for Sqrt or Pow 0.5, 1 for Pow -0.5, i.e. rsqrt) and eps from the graph."""
        for v in [mean] + [op.results[0] for op in self.consumers(mean, 2)]:
            e = self.expand(v, [mean])
            eps = e.poly.get((), 0.0) if e is not None else -1.0
            if eps < 0 or v.type != mean.type or not same(e.poly, {monomial((0, 1)): 1.0} | ({(): eps} if eps else {})):
                continue
            for op in _users(v):
                if isinstance(op, nn.SqrtOp):
                    return op.res, -1, eps
                half = self.scalar(op.rhs) if isinstance(op, nn.PowOp) and op.lhs is v else None
                if half in (0.5, -0.5):
                    return op.res, -1 if half > 0 else 1, eps
        return None

    def scale(self, gamma: SSAValue | None, coefficient: float, x: SSAValue, axis: int) -> tuple[list[Operation], SSAValue]:
        """A norm's scale operand: gamma itself, or a new weight over the normalised axes
        holding coefficient * gamma (coefficient alone without gamma), so that the fused
        norm's scale always broadcasts to them as `integer-islands` expects."""
        shape = tuple(x.type.get_shape())[axis:]
        if gamma is not None and abs(coefficient - 1.0) <= 1e-6 and len(gamma.type.get_shape()) <= len(shape):
            return [], gamma
        g = self.constant(gamma) if gamma is not None else np.ones((), np.float32)
        g = g.reshape(g.shape[max(0, g.ndim - len(shape)) :])  # leading ones (channel_constant admits no more)
        dtype = np_dtype(x.type.get_element_type())
        name = (source_weight(gamma) if gamma is not None else None) or "norm"
        w = new_weight(self.store, f"{name}.scale", (np.broadcast_to(g, shape) * coefficient).astype(dtype))
        return [w], w.res


def factor(m: Monomial, k: int) -> tuple[Monomial, Monomial]:
    """A monomial split into its part over the first k atoms and the rest (constants taken in)."""
    return tuple(f for f in m if f[0] < k), tuple(f for f in m if f[0] >= k)


def norm_axis(op: nn.ReduceOp) -> int | None:
    """The first axis of a keepdims reduction over a trailing run of axes (what a norm's
    `axis` means), else None."""
    rank = len(op.input.type.get_shape())
    axes = sorted(op.axes.get_values()) if op.axes is not None else list(range(rank))
    if op.keepdims is None or not axes or axes != list(range(axes[0], rank)):
        return None
    return axes[0]


def channel_constant(x: SSAValue, axis: int) -> Callable[[SSAValue], bool]:
    """Admits constants that vary along x's normalised axes at most (a norm's gamma and beta)."""
    norm = tuple(x.type.get_shape())[axis:]

    def admits(value: SSAValue) -> bool:
        shape = list(value.type.get_shape())
        while shape and shape[0] == 1:
            shape.pop(0)
        return len(shape) <= len(norm) and all(a in (1, b) for a, b in zip(shape[::-1], norm[::-1]))

    return admits


def _shallow_constant(value: SSAValue, depth: int) -> bool:
    """Whether `value` is a weight, an inline constant or an nn op over those within `depth`
    steps: the only values worth folding here, since folding an activation would evaluate
    the model upstream of it for nothing."""
    if isinstance(value, BlockArgument):
        return False
    owner = value.owner
    if isinstance(owner, nn.WeightOp | ConstantOp):
        return True
    return (
        depth > 0 and isinstance(owner, nn.NNOp) and bool(owner.operands) and all(_shallow_constant(o, depth - 1) for o in owner.operands)
    )


@dataclass
class _Run:
    algebra: Algebra
    atoms: list[SSAValue]
    free: Callable[[SSAValue], bool] | None
    budget: int
    memo: dict = field(default_factory=dict)

    def poly(self, value: SSAValue) -> Poly | None:
        if value in self.memo:
            return self.memo[value]
        result = self._poly(value)
        self.memo[value] = result
        return result

    def _atom(self, value: SSAValue) -> Poly:
        if value not in self.atoms:
            self.atoms.append(value)
        return {((self.atoms.index(value), 1),): 1.0}

    def _poly(self, value: SSAValue) -> Poly | None:
        if value in self.atoms:
            return self._atom(value)
        c = self.algebra.constant(value)
        if c is not None:
            if c.size == 1:
                return {(): float(c.reshape(-1)[0])}
            return self._atom(value) if self.free is not None and self.free(value) else None
        op = value.owner
        if not isinstance(op, ARITHMETIC) or self.budget <= 0:
            return None
        self.budget -= 1
        if isinstance(op, nn.PowOp):
            n = self.algebra.scalar(op.rhs)
            base = self.poly(op.lhs)
            if base is None or n is None or n != round(n) or abs(n) > _MAX_POWER:
                return None
            return _power(base, int(n))
        args = [self.poly(o) for o in op.operands]
        if any(a is None for a in args):
            return None
        if isinstance(op, nn.AddOp | nn.SubOp):
            return _add(args[0], args[1], -1.0 if isinstance(op, nn.SubOp) else 1.0)
        if isinstance(op, nn.MulOp):
            return _mul(args[0], args[1])
        if isinstance(op, nn.NegOp):
            return {m: -c for m, c in args[0].items()}
        inv = _inverse(args[-1])  # Div's divisor, Reciprocal's operand
        if inv is None or np_dtype(value.type.get_element_type()).kind != "f":  # integer division floors
            return None
        return inv if isinstance(op, nn.ReciprocalOp) else _mul(args[0], inv)
