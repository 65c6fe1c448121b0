"""The multiple-choice knapsack the allocation passes solve: one option per group
(a width per layer, a sparsity per layer, a threshold gain per encoder), least
total predicted error, each resource (bits, synaptic operations, spikes,
weights kept) within its limit. Errors of different layers are taken to add
up, as HAWQ does.

`scipy.optimize.milp` solves it exactly (binary x[g, o], one per group); a
greedy answer stands in only where the solver gives none.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class Infeasible(Exception):
    """No choice meets every limit."""


def choose(costs: Sequence[Sequence[float]], limits: Sequence[tuple[Sequence[Sequence[float]], float]]) -> tuple[list[int], str]:
    """Option index per group and how it was found.

    costs[g][o]: the predicted error of option o of group g; limits: pairs of
    (use[g][o] of one resource, the most that may be used in all)."""
    index = [(g, o) for g, opts in enumerate(costs) for o in range(len(opts))]
    cost = np.array([costs[g][o] for g, o in index], np.float64)
    uses = [np.array([use[g][o] for g, o in index], np.float64) for use, _ in limits]
    caps = [float(cap) for _, cap in limits]
    slack = [1e-9 * max(1.0, abs(cap)) for cap in caps]
    if any(sum(min(u) for u in use) > cap + eps for (use, _), cap, eps in zip(limits, caps, slack)):
        raise Infeasible
    from scipy.optimize import Bounds, LinearConstraint, milp

    one = np.zeros((len(costs), len(index)))
    for j, (g, _) in enumerate(index):
        one[g, j] = 1
    cons = [LinearConstraint(one, 1, 1)] + [LinearConstraint(u[None], -np.inf, cap + eps) for u, cap, eps in zip(uses, caps, slack)]
    scale = max(float(np.abs(cost).max()) if cost.size else 1.0, 1e-30)
    res = milp(cost / scale, constraints=cons, integrality=np.ones(len(cost)), bounds=Bounds(0, 1), options={"time_limit": 60})
    if res.x is not None and res.status in (0, 1):
        picked = dict(index[j] for j in np.flatnonzero(np.rint(res.x) > 0))
        return [picked[g] for g in range(len(costs))], "milp (exact)" if res.status == 0 else "milp (time limit, best found)"
    if res.status == 2:
        raise Infeasible
    return _greedy(costs, [use for use, _ in limits], caps), "greedy (no solver answer)"


def _greedy(costs, uses, caps) -> list[int]:
    """Each group at its least error; then, while a limit is exceeded, the move that
    adds the least error per unit of that resource freed."""
    pick = [int(np.argmin(c)) for c in costs]
    for use, cap in zip(uses, caps):
        while sum(use[g][pick[g]] for g in range(len(costs))) > cap:
            moves = [
                ((costs[g][o] - costs[g][pick[g]]) / (use[g][pick[g]] - use[g][o]), g, o)
                for g in range(len(costs))
                for o in range(len(costs[g]))
                if use[g][o] < use[g][pick[g]]
            ]
            if not moves:
                raise Infeasible
            _, g, o = min(moves)
            pick[g] = o
    return pick
