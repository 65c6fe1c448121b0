"""`sparsity-pruning` on the example LM: targets met, zeros kept, spikes cut, stored sparse."""

import os
import shutil

import numpy as np
import pytest
from test_char_lm import logits, perplexity

from nscc.calibration import load_calibration
from nscc.driver import apply_pipeline, atomic_output_dir
from nscc.errors import NsccError
from nscc.frontend.importer import import_onnx
from nscc.ir import snn
from nscc.ir.textio import read_module, write_module
from nscc.quant.quantize import gram_error, obs_round
from nscc.report import spike_report
from nscc.semantics.interpreter import run
from nscc.targets.cpp import emit, run_project

LM = os.path.join(os.path.dirname(__file__), "..", "examples", "char_lm")


@pytest.fixture(scope="module")
def data():
    ev = np.load(os.path.join(LM, "eval.npz"))
    ctx, module = import_onnx(os.path.join(LM, "model.onnx"))
    return ev["ids"][:32], ev["targets"][:32], logits(ctx, module, ev["ids"][:32])


def converted(pipeline: str):
    ctx, module = import_onnx(os.path.join(LM, "model.onnx"))
    ctx.calibration = load_calibration(os.path.join(LM, "calib.npz"), module)
    apply_pipeline(ctx, module, pipeline)
    return ctx, module


def weights_by_layer(ctx, module):
    return {
        op.attributes["nscc.layer"].data: ctx.weights[op.weight.owner.sym.data] for op in module.walk() if isinstance(op, snn.SynapseOp)
    }


def test_quantization_zeros_stay_and_the_target_is_met_within_bounded_loss(data):
    ids, targets, ref = data
    ctx0, m0 = converted("spike-conversion{weight-bits=4}")
    before = weights_by_layer(ctx0, m0)
    base = perplexity(logits(ctx0, m0, ids), targets)
    for spread in ("uniform", "measured"):
        ctx, module = converted(f"spike-conversion{{weight-bits=4}},sparsity-pruning{{sparsity=0.2 keep=head spread={spread}}}")
        after = weights_by_layer(ctx, module)
        zeros = size = 0
        for name, w in after.items():
            if name == "head":
                np.testing.assert_array_equal(w, before[name])
                continue
            assert np.all(w[before[name] == 0] == 0)  # what quantized to zero is never revived
            assert w.min() >= -8 and w.max() <= 7  # reconstruction stays within the 4-bit range
            if spread == "uniform":
                assert (w == 0).mean(axis=0).min() >= 0.2 - 1e-9  # the target within every output column
            zeros, size = zeros + np.count_nonzero(w == 0), size + w.size
        assert zeros >= 0.2 * size  # measured spread: layers differ, the total meets the target
        assert perplexity(logits(ctx, module, ids), targets) <= 1.05 * base
    report = ctx.pass_reports["sparsity-pruning"]
    chosen = [r["after"]["weight_sparsity"] for r in report["layers"] if r["layer"] != "head"]
    assert max(chosen) - min(chosen) > 0.05 and report["pruning"]["solver"] == "milp (exact)"


def _layer_problem(seed: int, k: int = 96, n: int = 40, rows: int = 600):
    """Correlated integer counts and integer weights: the layer objective ||n W - n Q||^2."""
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(k, k)) * (rng.random((k, k)) < 0.1) + np.eye(k)
    x = np.clip(np.rint(np.abs(rng.normal(size=(rows, k)) @ mix) * rng.uniform(0.5, 4, k)), 0, 15)
    w = np.clip(np.rint(rng.normal(scale=3, size=(k, n))), -8, 7)
    return x, w, x.T @ x / rows


@pytest.mark.parametrize("seed", range(3))
def test_reconstruction_beats_wanda_and_keeps_quantization_zeros(seed):
    x, w, gram = _layer_problem(seed)
    q = obs_round(w, gram, -8, 7, sparsity=0.5)
    assert q.min() >= -8 and q.max() <= 7 and np.array_equal(q, np.rint(q))
    assert np.all(q[w == 0] == 0)
    assert np.all((q == 0).mean(axis=0) >= 0.5 - 1e-9)
    score = np.abs(w) * np.sqrt(np.diag(gram))[:, None]
    rank = np.argsort(np.argsort(score, axis=0, kind="stable"), axis=0, kind="stable")
    wanda = np.where(rank >= 48, w, 0)
    assert gram_error(w, q, gram) < 0.7 * gram_error(w, wanda, gram)
    # with nothing to prune it is GPTQ's rounding: of float weights, better than to nearest
    wf = w + np.random.default_rng(seed).uniform(-0.5, 0.5, w.shape)
    assert gram_error(wf, obs_round(wf, gram, -8, 7), gram) < gram_error(wf, np.clip(np.rint(wf), -8, 7), gram)


def test_rows_structure_removes_whole_input_channels():
    ctx, module = converted("spike-conversion,sparsity-pruning{sparsity=0.25 structure=rows spread=uniform}")
    for w in weights_by_layer(ctx, module).values():
        dead = ~w.any(axis=1)
        assert dead.mean() >= 0.25 - 1e-9


def test_threshold_tuning_cuts_measured_spikes_to_the_target(data):
    ids, _, ref = data
    ctx0, m0 = converted("spike-conversion")
    ctx, module = converted("spike-conversion,sparsity-pruning{sparsity=0 firing-rate=0.8 max-error=0.05}")
    feeds = [{"ids": ids[i : i + 8]} for i in range(0, 32, 8)]

    rep0 = spike_report(m0, ctx0.weights, feeds, progress=False)
    rep1 = spike_report(module, ctx.weights, feeds, progress=False)
    events0 = sum(r["firing_rate"] * sum(r["count_histogram"].values()) for r in rep0["layers"] if r["op"] == "snn.synapse")
    events1 = sum(r["firing_rate"] * sum(r["count_histogram"].values()) for r in rep1["layers"] if r["op"] == "snn.synapse")
    assert ctx.pass_reports["sparsity-pruning"]["spikes_ratio"] <= 0.8 + 1e-9  # the target, on the calibration sample
    assert events1 <= 0.88 * events0  # held-out text: the model fires differently on what it was not trained on
    got = logits(ctx, module, ids)
    assert float((got.argmax(-1) == ref.argmax(-1)).mean()) >= 0.7


def test_resting_counts_cut_spikes_without_changing_the_output(data):
    """Counts minus a per-channel resting count (the median) feed the synapses and the
    bias takes back what the resting counts added: fewer spikes, the same function."""
    ids, _, _ = data
    ctx0, m0 = converted("spike-conversion")
    ctx, module = converted("spike-conversion,sparsity-pruning{sparsity=0 firing-rate=0.9}")
    assert all(r["gain"] == 1.0 for r in ctx.pass_reports["sparsity-pruning"]["layers"])
    rests = [op for op in module.walk() if isinstance(op, snn.RequantOp) and isinstance(op.input.type, snn.CountsType)]
    assert rests and all(isinstance(op.input.owner, snn.EncodeOp) for op in rests)
    feeds = [{"ids": ids[i : i + 8]} for i in range(0, 32, 8)]
    events0 = sum(
        r["firing_rate"] * sum(r["count_histogram"].values()) for r in spike_report(m0, ctx0.weights, feeds, progress=False)["layers"]
    )
    events1 = sum(
        r["firing_rate"] * sum(r["count_histogram"].values()) for r in spike_report(module, ctx.weights, feeds, progress=False)["layers"]
    )
    assert events1 <= 0.92 * events0
    got, ref = logits(ctx, module, ids), logits(ctx0, m0, ids)
    # exact in integers; the decode's f32 rounding differs, so a count on a rounding edge may flip
    assert (np.abs(got - ref) > 1e-3).any(axis=-1).mean() < 0.03
    assert (got.argmax(-1) == ref.argmax(-1)).mean() >= 0.99


@pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")
@pytest.mark.slow
def test_pruned_model_with_resting_counts_is_bit_exact_in_the_simulator(data, tmp_path):
    ctx, module = converted("spike-conversion{weight-bits=4},sparsity-pruning{sparsity=0.5 firing-rate=0.7},requant-fusion")
    feed = {"ids": data[0][:8]}
    project = str(tmp_path / "p")
    atomic_output_dir(project, lambda d: emit(ctx, module, d, "test"))
    out, _ = run_project(project, feed)
    np.testing.assert_array_equal(out["logits"], run(module, ctx.weights, feed)["logits"])


def test_pruned_weights_are_stored_as_bitmasks_and_load_back_equal(tmp_path):
    ctx, module = converted("spike-conversion{weight-bits=4},sparsity-pruning{sparsity=0.6 spread=uniform}")
    path = str(tmp_path / "m.mlir")
    write_module(ctx, module, path)
    ctx2, back = read_module(path)
    raw = np.load(tmp_path / "m.weights.npz")
    for op in back.walk():
        if isinstance(op, snn.SynapseOp):
            name = op.weight.owner.sym.data
            np.testing.assert_array_equal(ctx2.weights[name], ctx.weights[name])
            assert raw[name].nbytes < ctx.weights[name].size * 4 // 8  # smaller than dense 4-bit packing
            assert op.attributes["nscc.weight_sparsity"].value.data >= 0.6 - 1e-9


def test_bad_options_and_order_are_clear_errors():
    with pytest.raises(NsccError, match="sparsity must be"):
        converted("spike-conversion,sparsity-pruning{sparsity=1.5}")
    with pytest.raises(NsccError, match="spread must be one of measured, uniform"):
        converted("spike-conversion,sparsity-pruning{spread=wide}")
    with pytest.raises(NsccError, match="rounding must be one of gptq, nearest"):
        converted("spike-conversion{rounding=up}")
    with pytest.raises(NsccError, match="no spiking layers to prune"):
        converted("sparsity-pruning")
