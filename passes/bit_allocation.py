"""Pass `bit-allocation`: a weight width and a spike level count D per layer, under a budget.

Layers differ in how much quantization hurts the model: the last layers of
an LM, or a projection whose inputs have a few large channels, lose more at
3 bits than others lose at 2. The pass measures that and spends the bits
where they matter (HAWQ's mixed precision, with GPTQ/OWQ's layer objective
as the cheap proxy, as NSLLM and SpikeLLM allocate precision and timesteps).

Sensitivity is hierarchical:
  * proxy, per layer and candidate (width b, levels D): the mean squared
    output error of that layer alone on its calibration inputs,
    E||x W - (n_D Wq_b s + bias')||^2, summed over output channels; the
    GPTQ/OWQ objective, which weights each channel's error by the inputs it
    meets (their Gram matrix), with the encoder's rounding to D levels in it.
  * measured: the change of the model's final output (KL divergence of its
    scores, or relative MSE) when only that layer is quantized, on a few
    calibration batches. When every candidate fits in `max-probes` forward
    runs all are measured; otherwise the widest-error candidate of each layer
    is, and its measured/proxy ratio scales the layer's other proxies.
Errors of different layers are taken to add up (HAWQ), which turns the choice
into a multiple-choice knapsack, solved exactly by `scipy.optimize.milp`:
minimise the sum of predicted errors subject to the average bits per weight
(and, optionally, a budget of synaptic operations). Pinned layers (the LM
head and embeddings by default) keep `pin-bits` and the largest D.

The pass only annotates each linear op (`nscc.weight_bits`, `nscc.levels`);
`spike-conversion` builds them so. It prints its table on stderr and keeps it
for `--report`, with the error it predicted for the whole allocation against
the error measured with every layer quantized at once.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from fnmatch import fnmatch

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import IntegerAttr, ModuleOp, i64
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import PatternRewriter, PatternRewriteWalker, RewritePattern, op_type_rewrite_pattern

from nscc.calibration import calibration_of, collect
from nscc.errors import NsccError
from nscc.ir import nn
from nscc.ir.context import weights_of
from nscc.ir.weights import WeightStore
from nscc.progress import progress_bar
from nscc.quant import knapsack
from nscc.quant.allocation import Candidate, Layer
from nscc.quant.plans import (
    BITS_ATTR,
    GRANULARITIES,
    GROUP_ATTR,
    LEVELS_ATTR,
    ROUNDINGS,
    THRESHOLDS,
    Decisions,
    bits_attr,
    decision_key,
    layer_name,
    linear_plan,
    trained_quantizer,
)
from nscc.quant.quantize import stored_bits, valid_width
from nscc.quant.rotation import rotate_streams
from nscc.quant.sensitivity import METRICS as SENSITIVITY_METRICS
from nscc.quant.sensitivity import Probe, metric_of

METRICS = ("auto", *SENSITIVITY_METRICS)


@dataclass
class RecordChoice(RewritePattern):
    """Records the (bits, group, levels) chosen for a linear layer on its op, as
    `nscc.weight_bits`, `nscc.group_size` and `nscc.levels`, for spike-conversion."""

    choices: Decisions[tuple]
    store: WeightStore

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.MatMulOp | nn.GemmOp | nn.ConvOp, rewriter: PatternRewriter) -> None:
        found = self.choices.for_linear(op, self.store)
        if found is None:
            return
        b, g, d = found[1]
        op.attributes[BITS_ATTR] = bits_attr(b)
        op.attributes[GROUP_ATTR] = IntegerAttr(int(g), i64)
        op.attributes[LEVELS_ATTR] = IntegerAttr(int(d), i64)
        rewriter.notify_op_modified(op)


@dataclass(frozen=True)
class BitAllocationPass(ModulePass):
    """Chooses a weight width and a level count D per linear layer under an average-bits budget.

    Options: `bits` the budget, average bits per weight over all allocated layers
    (group scales count: 8 bits per group, ternary 1.6: five per byte);
    `widths` candidate widths (1.58 is ternary); `groups` candidate group sizes
    (0: one scale per output channel; linear layers whose inputs they divide);
    `levels` candidate D; `sops` a budget of synaptic operations as a
    fraction of those at the largest D (0: none); `pin` layer names or globs kept
    at `pin-bits` and the largest D; `metric` kl | mse | auto (KL when the model
    ends in a linear layer, its scores);
    `threshold`, `percentile`, `granularity`, `bias-correction`, `rounding`, `rotate` as
    given to spike-conversion (they decide what a layer becomes); `probe-batches`
    calibration batches per measurement; `max-probes` forward runs allowed for
    measuring every candidate (beyond it, one per layer calibrates the proxy);
    `refine` forward runs spent after the knapsack on measured swaps (one layer a
    width up, another a width down, within the budget), because the layers'
    errors do not add up exactly.

    The measurements run in `apply` (they need the whole model); the choice of each
    layer, by layer name, is recorded on its op by the pattern `RecordChoice`.
    """

    name = "bit-allocation"
    bits: int | float = 4
    widths: tuple[int | float, ...] = (1.58, 2, 3, 4, 5, 6, 8)
    levels: tuple[int, ...] = (15,)
    sops: int | float = 0.0
    pin: tuple[str, ...] = ("*head*", "*embed*", "*wte*", "*classifier*")
    pin_bits: int | float = 8
    metric: str = "auto"
    groups: tuple[int, ...] = (0,)
    threshold: str = "percentile"
    percentile: float = 99.99
    granularity: str = "auto"
    bias_correction: bool = True
    rounding: str = "gptq"
    rotate: bool = False
    probe_batches: int = 2
    max_probes: int = 64
    calib_batches: int = 8
    refine: int = 24

    def __post_init__(self) -> None:
        checks = [
            (self.bits > 0, "bits must be positive"),
            (len(self.widths) >= 1 and all(valid_width(b) for b in self.widths), "widths must be 1.58 (ternary) or integers in [2, 16]"),
            (len(self.levels) >= 1 and all(1 <= d <= 32767 for d in self.levels), "levels must be in [1, 32767]"),
            (valid_width(self.pin_bits), "pin-bits must be 1.58 or an integer in [2, 16]"),
            (0 <= self.sops, "sops must be a fraction >= 0 (0: no budget)"),
            (self.metric in METRICS, f"metric must be one of {', '.join(METRICS)}"),
            (self.threshold in THRESHOLDS, f"threshold must be one of {', '.join(THRESHOLDS)}"),
            (self.granularity in GRANULARITIES, f"granularity must be one of {', '.join(GRANULARITIES)}"),
            (self.rounding in ROUNDINGS, f"rounding must be one of {', '.join(ROUNDINGS)}"),
            (all(g >= 0 for g in self.groups) and len(self.groups) >= 1, "groups must be sizes >= 0 (0: per output channel)"),
            (
                self.probe_batches >= 1 and self.max_probes >= 0 and self.refine >= 0,
                "probe-batches must be >= 1, max-probes and refine >= 0",
            ),
        ]
        for ok, msg in checks:
            if not ok:
                raise NsccError(f"bit-allocation: {msg}", "`nscc passes` lists the options")

    @staticmethod
    def weight_bits(b: float, group: int = 0) -> float:
        """Stored bits per weight, with the group scales' share."""
        return stored_bits(b) + (8.0 / group if group else 0.0)

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        store = weights_of(ctx)
        if self.rotate:  # measure the layers spike-conversion will build
            rotate_streams(op, store)
        layers = self._layers(op, store)
        if not layers:
            raise NsccError(
                "bit-allocation: the module has no linear layers with constant weights", "run it on the model before spike-conversion"
            )
        stats = collect(
            op,
            store,
            calibration_of(ctx, op, self.calib_batches),
            {L.op: [(0, 1 if L.plan.conv else len(L.plan.x.type.get_shape()) - 1)] for L in layers},
        )
        for L in layers:
            L.stats = stats[L.plan.x]
        metric = self._metric(op)
        measure = Probe(op, store, ctx.calibration[: self.probe_batches], metric)

        built: dict[tuple, Candidate] = {}

        def candidate(L: Layer, c: tuple) -> Candidate:  # each (layer, choice) is quantized once
            if (L.name, c) not in built:
                built[(L.name, c)] = Candidate(L, *c, self)
            return built[(L.name, c)]

        dmax = max(self.levels)
        cands = [
            (float(b), int(g), int(d)) for b in sorted(set(self.widths)) for g in sorted(set(self.groups)) for d in sorted(set(self.levels))
        ]
        free = [L for L in layers if not L.pinned]
        for L in free:
            k = L.plan.weight.shape[0]
            L.cands = [c for c in cands if c[1] == 0 or (not L.plan.conv and c[1] < k and k % c[1] == 0)]
        for L in progress_bar(free, "bit allocation: proxies", unit="layer"):
            for d in sorted(set(self.levels)):
                theta, signed = L.theta(d, self)
                L.firing[d] = float(np.abs(np.clip(np.rint(L.stats.sample / theta.reshape(-1)), -d if signed else 0, d)).mean())
            if not L.plan.conv:
                for c in L.cands:
                    L.proxy[c] = candidate(L, c).proxy(L.stats.sample)
        measure_all = sum(len(L.cands) for L in free) <= self.max_probes
        jobs = [(L, c) for L in free for c in (L.cands if measure_all or L.plan.conv else [min(L.cands)])]
        for L, c in progress_bar(jobs, "bit allocation: measuring layers", unit="probe"):
            L.measured[c] = measure({L.op: candidate(L, c)})
        for L in free:
            if len(L.measured) == len(L.cands):
                L.predicted = dict(L.measured)
                continue
            probe = min(L.cands)  # the narrowest: the largest, least noisy error
            alpha = L.measured[probe] / L.proxy[probe] if L.proxy[probe] > 0 else 0.0
            L.predicted = {c: alpha * L.proxy[c] for c in L.cands}
        choice, solver = self._solve(layers, free, dmax)
        measured_total = measure({L.op: candidate(L, choice[L.name]) for L in layers})
        # Errors of layers do not quite add up; the widest uniform allocation that fits
        # the budget is measured too, and kept if it is better, so the pass never does
        # worse than uniform quantization at the same budget.
        uniform = self._widest_uniform(layers, free, dmax)
        knapsack = {"predicted_error": sum(L.predicted[choice[L.name]] for L in free), "measured_error": measured_total, "solver": solver}
        check = None
        if uniform is not None and uniform != choice:
            err = measure({L.op: candidate(L, uniform[L.name]) for L in layers})
            check = {"bits": next(uniform[L.name][0] for L in free), "measured_error": err, "kept": err < measured_total}
            if err < measured_total:
                choice, measured_total, solver = uniform, err, solver + "; uniform measured better, kept"
        start = measured_total
        choice, measured_total, swaps, runs = self._refine(layers, free, choice, measured_total, measure, candidate)
        if swaps:
            solver += f"; {swaps} measured swap(s) kept"
        decisions: Decisions[tuple] = Decisions()
        for L in layers:
            decisions.add(decision_key(L.op, store), [L.plan.x], choice[L.name])
        PatternRewriteWalker(RecordChoice(decisions, store), apply_recursively=False).rewrite_module(op)
        report = self._report(layers, choice, solver, metric, measure_all, measured_total)
        report["knapsack"], report["uniform_check"] = knapsack, check
        report["refine"] = {"runs": runs, "kept": swaps, "start_error": start, "error": measured_total}
        ctx.pass_reports[self.name] = report
        _print(report)

    # -- steps --------------------------------------------------------------------------

    def _layers(self, op: ModuleOp, store) -> list[Layer]:
        out = []
        linear = [o for o in op.walk() if isinstance(o, nn.MatMulOp | nn.GemmOp | nn.ConvOp)]
        for i, o in enumerate(linear):
            plan = linear_plan(o, store, i)
            if plan is None:
                continue
            name = layer_name(plan.name)
            params = int(plan.weight.size)
            out_elems = math.prod(o.results[0].type.get_shape())
            macs = out_elems * (int(np.prod(plan.weight.shape[1:])) if plan.conv else plan.weight.shape[0])
            pinned = any(fnmatch(name, pat) for pat in self.pin)
            out.append(Layer(o, plan, name, params, macs, trained_quantizer(plan.x, store), None, pinned))
        return out

    def _metric(self, op: ModuleOp) -> str:
        return self.metric if self.metric != "auto" else metric_of(op)

    def _widest_uniform(self, layers: list[Layer], free: list[Layer], dmax: int) -> dict | None:
        """Every free layer at the widest width (per channel, largest D) that fits the budget."""
        total = sum(L.params for L in layers)
        pinned = sum(L.params * self.weight_bits(self.pin_bits) for L in layers if L.pinned)
        for b in sorted({float(w) for w in self.widths}, reverse=True):
            if any((b, 0, dmax) not in L.predicted for L in free):
                continue
            if pinned + sum(L.params for L in free) * self.weight_bits(b) <= self.bits * total + 1e-6:
                if self.sops and self.sops < 1:  # all at the largest D spends every synaptic operation
                    return None
                out = {L.name: (float(self.pin_bits), 0, dmax) for L in layers if L.pinned}
                out.update({L.name: (b, 0, dmax) for L in free})
                return out
        return None

    def _refine(self, layers: list[Layer], free: list[Layer], choice: dict, err: float, measure, candidate) -> tuple[dict, float, int, int]:
        """Local search on the measured error: move one layer a width up and another a width
        down (same group and D) within the budget, most promising first by the predicted
        errors; keep a swap when the measured error falls; `refine` runs at most."""
        if not self.refine or len(free) < 2 or self.sops or err <= 1e-12:  # nothing measurable left to gain
            return choice, err, 0, 0
        total = sum(L.params for L in layers)

        def size(cfg) -> float:
            return sum(L.params * self.weight_bits(cfg[L.name][0], cfg[L.name][1]) for L in layers)

        def step(L, c, up: bool):
            same = sorted((x for x in L.cands if x[1:] == c[1:]), key=lambda x: x[0])
            i = same.index(c) + (1 if up else -1)
            return same[i] if 0 <= i < len(same) else None

        kept, runs, tried, out_of_runs = 0, 0, set(), False
        ticks = iter(progress_bar(range(self.refine), "bit allocation: measured swaps", unit="run"))
        while not out_of_runs:
            moves = []
            for A in free:
                up = step(A, choice[A.name], True)
                for B in free:
                    down = step(B, choice[B.name], False) if B is not A else None
                    if up is None or down is None:
                        continue
                    cfg = {**choice, A.name: up, B.name: down}
                    key = tuple(sorted(cfg.items()))
                    if key in tried or size(cfg) > self.bits * total + 1e-6:
                        continue
                    gain = A.predicted[choice[A.name]] - A.predicted[up] - (B.predicted[down] - B.predicted[choice[B.name]])
                    moves.append((gain, key, cfg))
            better = False
            for _, key, cfg in sorted(moves, key=lambda m: -m[0]):
                if next(ticks, None) is None:
                    out_of_runs = True
                    break
                tried.add(key)
                runs += 1
                e = measure({L.op: candidate(L, cfg[L.name]) for L in layers})
                if e < err:
                    choice, err, kept, better = cfg, e, kept + 1, True
                    break
            if not better:
                break
        return choice, err, kept, runs

    def _solve(self, layers: list[Layer], free: list[Layer], dmax: int):
        """Multiple-choice knapsack: one candidate per free layer, least predicted error."""
        total = sum(L.params for L in layers)
        pinned_bits = sum(L.params * self.weight_bits(self.pin_bits) for L in layers if L.pinned)
        budget = self.bits * total - pinned_bits
        least = sum(L.params * min(self.weight_bits(b, g) for b, g, _ in L.cands) for L in free)
        if budget < least - 1e-6:
            raise NsccError(
                f"bit-allocation: a budget of {self.bits} bits per weight is below the least possible {(pinned_bits + least) / total:.3f} (pinned layers at {self.pin_bits} bits)",
                "raise bits=, lower pin-bits=, or add a narrower width to widths=",
            )
        choice = {L.name: (float(self.pin_bits), 0, dmax) for L in layers if L.pinned}
        if not free:
            return choice, "none (all layers pinned)"
        limits = [([[L.params * self.weight_bits(c[0], c[1]) for c in L.cands] for L in free], budget)]
        if self.sops:
            limits.append(
                ([[L.macs * L.firing[c[2]] for c in L.cands] for L in free], self.sops * sum(L.macs * L.firing[dmax] for L in free))
            )
        try:
            picked, solver = knapsack.choose([[L.predicted[c] for c in L.cands] for L in free], limits)
        except knapsack.Infeasible:
            raise NsccError(
                f"bit-allocation: no allocation meets sops={self.sops} within the bit budget",
                "raise sops= or bits=, or add smaller levels=",
            ) from None
        for L, i in zip(free, picked):
            choice[L.name] = L.cands[i]
        return choice, solver

    def _report(self, layers, choice, solver, metric, measure_all, measured_total) -> dict:
        def key(c):
            return f"{c[0]:g}b/{'g' + str(c[1]) if c[1] else 'channel'}/D{c[2]}"

        rows = []
        for L in layers:
            b, g, d = choice[L.name]
            rows.append(
                {
                    "layer": L.name,
                    "params": L.params,
                    "bits": b,
                    "group": g,
                    "levels": d,
                    "pinned": L.pinned,
                    "bytes": math.ceil(L.params * self.weight_bits(b, g) / 8),
                    "sensitivity": {key(c): v for c, v in L.predicted.items()} or None,
                    "proxy": {key(c): v for c, v in L.proxy.items()} or None,
                    "measured": {key(c): v for c, v in L.measured.items()} or None,
                    "predicted_error": None if L.pinned else L.predicted[(b, g, d)],
                    "firing_rate": L.firing.get(d),
                    "firing_rates": {str(k): v for k, v in L.firing.items()} or None,
                    "macs": L.macs,
                }
            )
        total = sum(L.params for L in layers)
        avg = sum(L.params * self.weight_bits(choice[L.name][0], choice[L.name][1]) for L in layers) / total
        return {
            "budget_bits": self.bits,
            "average_bits": avg,
            "metric": metric,
            "solver": solver,
            "sensitivity": "measured for every candidate" if measure_all else "proxy scaled by one measured probe per layer",
            "predicted_error": sum(r["predicted_error"] or 0.0 for r in rows),
            "measured_error": measured_total,
            "weight_bytes": sum(r["bytes"] for r in rows),
            "fp16_bytes": 2 * total,
            "layers": rows,
        }


def _print(report: dict) -> None:
    stream = sys.stderr  # looked up per call: the stream of the moment, not of import time
    stream.write(f"nscc: bit-allocation ({report['metric']}, {report['sensitivity']}; {report['solver']})\n")
    head = f"  {'layer':30} {'params':>9} {'bits':>5} {'group':>6} {'D':>4} {'pred. error':>12} {'bytes':>10}"
    stream.write(head + "\n")
    for r in report["layers"]:
        pe = "pinned" if r["pinned"] else f"{r['predicted_error']:.4g}"
        stream.write(
            f"  {r['layer'][:30]:30} {r['params']:9d} {r['bits']:5g} {r['group'] or '-':>6} {r['levels']:4d} {pe:>12} {r['bytes']:10d}\n"
        )
    stream.write(
        f"  average {report['average_bits']:.3f} bits/weight (budget {report['budget_bits']}); "
        f"{report['weight_bytes']} bytes vs {report['fp16_bytes']} fp16 ({report['fp16_bytes'] / max(report['weight_bytes'], 1):.1f}x); "
        f"{report['metric']} predicted {report['predicted_error']:.4g}, measured {report['measured_error']:.4g}\n"
    )
