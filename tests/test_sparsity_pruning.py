"""`sparsity-pruning` on the example LM: targets met, zeros kept, spikes cut, stored sparse."""

import os

import numpy as np
import pytest
from test_char_lm import logits, perplexity

from nscc.calibration import load_calibration
from nscc.driver import apply_pipeline
from nscc.errors import NsccError
from nscc.frontend.importer import import_onnx
from nscc.ir import snn
from nscc.ir.textio import read_module, write_module
from nscc.report import spike_report

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
    return {op.attributes["nscc.layer"].data: ctx.weights[op.weight.owner.sym.data] for op in module.walk() if isinstance(op, snn.SynapseOp)}


def test_quantization_zeros_stay_and_the_target_is_met_within_bounded_loss(data):
    ids, targets, ref = data
    ctx0, m0 = converted("spike-conversion{weight-bits=4}")
    before = weights_by_layer(ctx0, m0)
    ctx, module = converted("spike-conversion{weight-bits=4},sparsity-pruning{sparsity=0.2 keep=head}")
    after = weights_by_layer(ctx, module)
    for name, w in after.items():
        if name == "head":
            np.testing.assert_array_equal(w, before[name])
            continue
        assert np.all(w[before[name] == 0] == 0)  # what quantized to zero is never revived
        assert np.all((w == before[name]) | (w == 0))  # pruning only removes
        per_column = (w == 0).mean(axis=0)
        assert per_column.min() >= 0.2 - 1e-9  # Wanda: the target within every output column
    base = perplexity(logits(ctx0, m0, ids), targets)
    assert perplexity(logits(ctx, module, ids), targets) <= 1.05 * base


def test_rows_structure_removes_whole_input_channels():
    ctx, module = converted("spike-conversion,sparsity-pruning{sparsity=0.25 structure=rows}")
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
    assert events1 <= 0.85 * events0  # the target, measured on data the pass did not see
    got = logits(ctx, module, ids)
    assert float((got.argmax(-1) == ref.argmax(-1)).mean()) >= 0.7


def test_pruned_weights_are_stored_as_bitmasks_and_load_back_equal(tmp_path):
    ctx, module = converted("spike-conversion{weight-bits=4},sparsity-pruning{sparsity=0.6}")
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
    with pytest.raises(NsccError, match="no spiking layers to prune"):
        converted("sparsity-pruning")
