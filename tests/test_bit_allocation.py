"""`bit-allocation`: budgets, pinned layers, exact knapsack, and that what it measures is what is built."""

import itertools
import os

import numpy as np
import pytest

from nscc.calibration import load_calibration
from nscc.driver import apply_pipeline
from nscc.errors import NsccError
from nscc.frontend.importer import import_onnx
from nscc.ir import snn
from nscc.quant import knapsack
from nscc.quant.sensitivity import output_error
from nscc.semantics.interpreter import run

LM = os.path.join(os.path.dirname(__file__), "..", "examples", "char_lm")


def lm():
    ctx, module = import_onnx(os.path.join(LM, "model.onnx"))
    ctx.calibration = load_calibration(os.path.join(LM, "calib.npz"), module)
    return ctx, module


def synapses(module):
    return {op.attributes["nscc.layer"].data: op for op in module.walk() if isinstance(op, snn.SynapseOp | snn.ConvSynapseOp)}


@pytest.fixture(scope="module")
def allocated():
    ctx, module = lm()
    apply_pipeline(ctx, module, "bit-allocation{bits=3 widths=2,3,4,8},spike-conversion")
    return ctx, module, ctx.pass_reports["bit-allocation"]


def test_budget_pins_and_the_built_widths(allocated):
    ctx, module, report = allocated
    assert report["average_bits"] <= 3.0 + 1e-9
    rows = {r["layer"]: r for r in report["layers"]}
    assert rows["head"]["pinned"] and rows["head"]["bits"] == 8
    assert len({r["bits"] for r in rows.values() if not r["pinned"]}) >= 2  # a real mix, not uniform
    for name, syn in synapses(module).items():
        bits = rows[name]["bits"]
        w = ctx.weights[syn.weight.owner.sym.data]
        assert syn.weight.type.element_type.width.data == bits
        assert w.min() >= -(2 ** (bits - 1)) and w.max() <= 2 ** (bits - 1) - 1
        assert syn.input.type.levels.data == rows[name]["levels"]
    params = sum(r["params"] for r in rows.values())
    assert sum(r["params"] * r["bits"] for r in rows.values()) / params == pytest.approx(report["average_bits"])


def test_measured_error_is_that_of_the_built_model(allocated):
    """The pass simulates each layer in float; the integer program must give the same error."""
    ctx, module, report = allocated
    ref_ctx, ref = lm()
    errs = []
    for feed in ctx.calibration[:2]:  # the probe batches
        errs.append(output_error(run(ref, ref_ctx.weights, feed)["logits"], run(module, ctx.weights, feed)["logits"], "kl"))
    assert float(np.mean(errs)) == pytest.approx(report["measured_error"], rel=0.05)


def test_sensitivities_fall_with_width_and_prediction_is_in_range(allocated):
    _, _, report = allocated
    for r in report["layers"]:
        if r["pinned"]:
            continue
        m = r["measured"]
        assert m["2b/channel/D15"] > m["4b/channel/D15"] > m["8b/channel/D15"] - 1e-9
    assert 0.5 < report["predicted_error"] / report["measured_error"] < 2.0


def test_knapsack_is_solved_exactly(tmp_path):
    """On a three-layer MLP, the MILP's choice is the best of all combinations within budget."""
    import digits

    path = digits.export(digits.mlp(), str(tmp_path / "mlp.onnx"), False, 50)
    ctx, module = import_onnx(path)
    ctx.calibration = digits.batches(digits.data()[0][:200], 50, False)
    apply_pipeline(ctx, module, "bit-allocation{bits=3.5 widths=2,3,4,6 pin=none}")
    report = ctx.pass_reports["bit-allocation"]
    rows = report["layers"]
    best = None
    for combo in itertools.product((2.0, 3.0, 4.0, 6.0), repeat=len(rows)):
        if sum(r["params"] * b for r, b in zip(rows, combo)) > 3.5 * sum(r["params"] for r in rows):
            continue
        err = sum(r["sensitivity"][f"{b:g}b/channel/D15"] for r, b in zip(rows, combo))
        best = err if best is None else min(best, err)
    assert report["knapsack"]["predicted_error"] == pytest.approx(best)
    assert report["knapsack"]["solver"] == "milp (exact)"


def test_proxy_path_and_a_spike_budget_pick_fewer_levels():
    ctx, module = lm()
    apply_pipeline(ctx, module, "bit-allocation{bits=4 widths=3,4,8 levels=7,15 sops=0.75 max-probes=0}")
    report = ctx.pass_reports["bit-allocation"]
    assert report["sensitivity"].startswith("proxy")
    free = [r for r in report["layers"] if not r["pinned"]]
    assert all(len(r["measured"]) == 1 for r in free)  # one probe per layer calibrates its proxies
    assert any(r["levels"] == 7 for r in free)
    used = sum(r["macs"] * r["firing_rates"][str(r["levels"])] for r in free)
    full = sum(r["macs"] * r["firing_rates"]["15"] for r in free)
    assert used <= 0.75 * full * (1 + 1e-9)


def test_per_group_candidates_are_built_with_group_scales():
    ctx, module = lm()
    apply_pipeline(ctx, module, "bit-allocation{bits=3.3 widths=3,8 groups=0,32 pin=none},spike-conversion")
    report = ctx.pass_reports["bit-allocation"]
    grouped = [r["layer"] for r in report["layers"] if r["group"]]
    assert grouped
    syn = synapses(module)
    for name in grouped:
        gs = syn[name].group_scale
        assert gs is not None and gs.type.get_shape()[0] == syn[name].weight.type.get_shape()[0] // 32


def test_never_worse_than_uniform_at_the_same_budget():
    """The widest uniform allocation that fits is measured too; the kept one is the better."""
    ctx, module = lm()
    apply_pipeline(ctx, module, "bit-allocation{bits=4 widths=2,3,4,5,6,8 pin=none}")
    report = ctx.pass_reports["bit-allocation"]
    check = report["uniform_check"]
    assert check is not None and check["bits"] == 4
    assert report["measured_error"] <= min(check["measured_error"], report["knapsack"]["measured_error"]) + 1e-12
    kept = {r["bits"] for r in report["layers"]}
    assert (kept == {4.0}) == check["kept"]


def test_measured_swaps_only_lower_the_error_within_the_budget(allocated):
    _, _, report = allocated
    r = report["refine"]
    assert 0 < r["runs"] <= 24 and r["error"] <= r["start_error"] + 1e-12
    assert r["error"] == pytest.approx(report["measured_error"]) and report["average_bits"] <= 3.0 + 1e-9
    assert (r["kept"] > 0) == (r["error"] < r["start_error"])


def test_bad_budgets_and_options_are_one_clear_error():
    ctx, module = lm()
    with pytest.raises(NsccError, match="below the least possible"):
        apply_pipeline(ctx, module, "bit-allocation{bits=1 widths=2,4}")
    with pytest.raises(NsccError, match="widths must be"):
        apply_pipeline(ctx, module, "bit-allocation{widths=1,4}")


@pytest.mark.parametrize("bits", [4, 3])
def test_gptq_rounding_keeps_the_lm_closer_than_rounding_to_nearest(bits):
    """Error feedback from the counts' Gram matrix: the same scales and range, a closer output."""
    ev = np.load(os.path.join(LM, "eval.npz"))
    feed = {"ids": ev["ids"][:8]}
    ref_ctx, ref = import_onnx(os.path.join(LM, "model.onnx"))
    expected = run(ref, ref_ctx.weights, feed)["logits"]
    errs, weights = {}, {}
    for rounding in ("gptq", "nearest"):
        ctx, module = lm()
        apply_pipeline(ctx, module, f"spike-conversion{{weight-bits={bits} rounding={rounding}}}")
        errs[rounding] = output_error(expected, run(module, ctx.weights, feed)["logits"], "kl")
        weights[rounding] = {name: ctx.weights[op.weight.owner.sym.data] for name, op in synapses(module).items()}
    assert errs["gptq"] < 0.6 * errs["nearest"]
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    for name, w in weights["gptq"].items():
        assert w.min() >= lo and w.max() <= hi
        assert not np.array_equal(w, weights["nearest"][name])  # the rounding moved, not just the error


@pytest.mark.parametrize("seed", range(4))
def test_multiple_choice_knapsack_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    groups = [int(rng.integers(2, 5)) for _ in range(5)]
    costs = [list(rng.random(g)) for g in groups]
    uses = [list(rng.integers(1, 10, g).astype(float)) for g in groups]
    spikes = [list(rng.random(g)) for g in groups]
    cap, cap2 = 0.6 * sum(max(u) for u in uses), 0.7 * sum(max(s) for s in spikes)
    best = None
    for combo in itertools.product(*[range(g) for g in groups]):
        if sum(u[i] for u, i in zip(uses, combo)) <= cap and sum(s[i] for s, i in zip(spikes, combo)) <= cap2:
            c = sum(cost[i] for cost, i in zip(costs, combo))
            best = c if best is None else min(best, c)
    if best is None:
        with pytest.raises(knapsack.Infeasible):
            knapsack.choose(costs, [(uses, cap), (spikes, cap2)])
        return
    picked, solver = knapsack.choose(costs, [(uses, cap), (spikes, cap2)])
    assert solver == "milp (exact)"
    assert sum(cost[i] for cost, i in zip(costs, picked)) == pytest.approx(best)
    with pytest.raises(knapsack.Infeasible):
        knapsack.choose(costs, [(uses, 0.5 * sum(min(u) for u in uses))])
    greedy = knapsack._greedy(costs, [uses], [cap])  # the fallback meets the limit too
    assert sum(u[i] for u, i in zip(uses, greedy)) <= cap
