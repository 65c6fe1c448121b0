"""spike-conversion and binary-expand on real, trained models."""

import os
import subprocess
import sys

import digits
import numpy as np
import pytest
import torch
import torch_models as M

from nscc.driver import apply_pipeline
from nscc.errors import NsccError
from nscc.frontend.importer import import_onnx
from nscc.ir import nn, snn
from nscc.report import spike_report
from nscc.semantics.interpreter import run

BATCH = 50


def accuracy(ctx, module, image: bool) -> float:
    _, xte, _, yte = digits.data()
    feeds = digits.batches(xte, BATCH, image)
    pred = np.concatenate([run(module, ctx.weights, f)["logits"].argmax(1) for f in feeds])
    return float((pred == yte[: len(pred)]).mean())


@pytest.fixture(scope="module", params=["mlp", "cnn"])
def trained(request, tmp_path_factory):
    image = request.param == "cnn"
    model = digits.cnn() if image else digits.mlp()
    path = digits.export(model, str(tmp_path_factory.mktemp("digits") / f"{request.param}.onnx"), image, BATCH)
    return request.param, path, image


def convert(path, image, pipeline):
    xtr = digits.data()[0]
    ctx, module = import_onnx(path)
    float_acc = accuracy(ctx, module, image)
    ctx.calibration = digits.batches(xtr[:500], BATCH, image)
    apply_pipeline(ctx, module, pipeline)
    return ctx, module, float_acc


def test_spiking_accuracy_within_one_point_at_d15(trained):
    name, path, image = trained
    ctx, module, float_acc = convert(path, image, "spike-conversion{levels=15}")
    linear = [op for op in module.walk() if isinstance(op, nn.MatMulOp | nn.GemmOp | nn.ConvOp)]
    assert not linear, f"{name}: linear ops left: {[o.name for o in linear]}"
    assert any(isinstance(op, snn.ConvSynapseOp) for op in module.walk()) == image
    spike_acc = accuracy(ctx, module, image)
    assert float_acc > 0.95
    assert spike_acc >= float_acc - 0.01, (name, float_acc, spike_acc)


def test_coarser_levels_cost_accuracy_monotonically_enough(trained):
    """D = 3 is a 2-bit activation: it must still classify, and not beat D = 15 by much."""
    name, path, image = trained
    acc = {}
    for d in (3, 15):
        ctx, module, _ = convert(path, image, f"spike-conversion{{levels={d}}}")
        acc[d] = accuracy(ctx, module, image)
    assert acc[3] > 0.5 and acc[15] >= acc[3] - 0.02, acc


@pytest.mark.parametrize("coding", ["thermometer", "bitplane", "ternary"])
def test_counts_and_binary_forms_are_bit_identical_on_a_trained_model(trained, coding):
    name, path, image = trained
    ctx, module, _ = convert(path, image, f"spike-conversion{{levels=7 coding={coding}}}")
    feeds = digits.batches(digits.data()[1], BATCH, image)[:2]
    counts_out = [run(module, ctx.weights, f)["logits"] for f in feeds]
    apply_pipeline(ctx, module, "binary-expand")
    assert any(isinstance(op, snn.ExpandOp) for op in module.walk())
    for f, ref in zip(feeds, counts_out):
        np.testing.assert_array_equal(run(module, ctx.weights, f)["logits"], ref)


def test_gpt2_export_converts_and_binary_form_is_identical(tmp_path):
    """A transformer: signed inputs after LayerNorm, Gemm/MatMul weights, the tied head through a transpose."""
    torch.manual_seed(0)
    ids = torch.randint(0, 256, (1, 16))
    path = M.export(M.GPT2(), (ids,), str(tmp_path / "gpt2.onnx"), ["ids"], ["logits"])
    ctx, module = import_onnx(path)
    rng = np.random.default_rng(0)
    ctx.calibration = [{"ids": rng.integers(0, 256, (1, 16))} for _ in range(4)]
    feed = {"ids": ids.numpy()}
    ref = run(module, ctx.weights, feed)["logits"]
    apply_pipeline(ctx, module, "spike-conversion{levels=15 granularity=per-channel}")
    encodes = [op for op in module.walk() if isinstance(op, snn.EncodeOp)]
    assert any(op.res.type.signed.data for op in encodes), "LayerNorm outputs are signed"
    layers = {op.attributes["nscc.layer"].data for op in module.walk() if isinstance(op, snn.SynapseOp)}
    assert {"blocks.0.attn.qkv", "blocks.1.out", "head"} <= layers, layers  # head: the tied, transposed embedding
    left = [op for op in module.walk() if isinstance(op, nn.MatMulOp)]
    assert all(op.rhs.owner is not None and not isinstance(op.rhs.owner, nn.WeightOp) for op in left)  # only activation x activation
    got = run(module, ctx.weights, feed)["logits"]
    assert np.corrcoef(got.ravel(), ref.ravel())[0, 1] > 0.99
    apply_pipeline(ctx, module, "binary-expand{coding=bitplane}")
    np.testing.assert_array_equal(run(module, ctx.weights, feed)["logits"], got)


@pytest.mark.parametrize("options", ["threshold=max", "threshold=mse", "granularity=per-channel", "threshold=mse granularity=per-channel"])
def test_threshold_methods_keep_accuracy(trained, options):
    name, path, image = trained
    ctx, module, float_acc = convert(path, image, f"spike-conversion{{levels=15 {options}}}")
    assert accuracy(ctx, module, image) >= float_acc - 0.03


def test_report_counts_events_independently(trained):
    name, path, image = trained
    ctx, module, _ = convert(path, image, "spike-conversion{levels=15 granularity=per-tensor}")
    feeds = ctx.calibration[:2]
    report = spike_report(module, ctx.weights, feeds, progress=False)
    first = module.body.block.ops.first.body.block.ops
    enc = next(op for op in module.walk() if isinstance(op, snn.EncodeOp))
    theta = float(ctx.weights[enc.theta.owner.sym.data])
    x = np.concatenate([f["image"] for f in feeds])
    counts = np.clip(np.rint(x.astype(np.float32) / np.float32(theta)), 0, 15)
    row = report["layers"][0]
    assert row["firing_rate"] == pytest.approx(counts.mean())
    assert row["levels"] == 15 and row["theta"] == pytest.approx(theta)
    assert report["totals"]["sops"] == sum(r["sops"] for r in report["layers"])
    if not image:
        w = ctx.weights[next(op for op in module.walk() if isinstance(op, snn.SynapseOp)).weight.owner.sym.data]
        assert row["sops"] == int(counts.reshape(-1, 64).sum(0) @ (w != 0).sum(1))  # one addition per non-zero weight reached
        assert row["sops"] <= int(counts.sum()) * 128 and row["dense_macs"] == x.size * 128
    assert first is not None


def test_bad_options_are_clear_errors(trained):
    _, path, image = trained
    ctx, module = import_onnx(path)
    for spec, msg in [
        ("spike-conversion{levels=-1}", "levels"),
        ("spike-conversion{coding=morse}", "coding"),
        ("binary-expand{coding=x}", "coding"),
    ]:
        with pytest.raises(NsccError, match=msg):
            apply_pipeline(ctx, module, spec)


def nscc(*args):
    r = subprocess.run([sys.executable, "-m", "nscc", *map(str, args)], capture_output=True, text=True)
    assert "Traceback" not in r.stderr, r.stderr
    return r


def test_cli_compile_with_calibration_and_report(trained, tmp_path):
    name, path, image = trained
    xtr = digits.data()[0][:200]
    np.savez(tmp_path / "calib.npz", image=xtr.reshape(-1, 1, 8, 8) if image else xtr)
    r = nscc(
        "compile",
        path,
        "-o",
        tmp_path / "out",
        "-p",
        "spike-conversion,binary-expand",
        "--calib",
        tmp_path / "calib.npz",
        "--report",
        tmp_path / "r.json",
    )
    assert r.returncode == 0, r.stderr
    assert "SOPs" in r.stdout and "non-spiking ops" in r.stdout
    import json

    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["layers"] and all(0 < layer["firing_rate"] for layer in rep["layers"])
    assert "warning" not in r.stderr


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"pixels": np.zeros((4, 64), np.float32)}, "'pixels' is not a model input"),
        ({"image": np.zeros((4, 63), np.float32)}, "needs [N, "),
        ({"image": np.zeros((4, 64), np.int64)}, "dtype int64"),
        ({"image": np.zeros((0, 64), np.float32)}, "holds no samples"),
    ],
)
def test_bad_calibration_data(tmp_path, arrays, message):
    path = digits.export(digits.mlp(), str(tmp_path / "m.onnx"), False, BATCH)
    np.savez(tmp_path / "c.npz", **arrays)
    r = nscc("opt", path, "-p", "spike-conversion", "--calib", tmp_path / "c.npz")
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("nscc: error")]
    assert r.returncode == 1 and len(lines) == 1 and message in lines[0], r.stderr


def test_missing_calibration_warns_and_uses_documented_default(tmp_path):
    path = digits.export(digits.mlp(), str(tmp_path / "m.onnx"), False, BATCH)
    r = nscc("opt", path, "-p", "spike-conversion")
    assert r.returncode == 0
    assert "warning: no --calib data" in r.stderr and "snn.synapse" in r.stdout
    assert os.path.exists(path)


def test_requant_fusion_makes_the_mlp_integer_between_input_and_output(trained):
    name, path, image = trained
    ctx, module, _ = convert(path, image, "spike-conversion{levels=15}")
    feeds = digits.batches(digits.data()[1], BATCH, image)
    before = [run(module, ctx.weights, f)["logits"] for f in feeds]
    acc_before = accuracy(ctx, module, image)
    apply_pipeline(ctx, module, "requant-fusion")
    requants = [op for op in module.walk() if isinstance(op, snn.RequantOp)]
    assert requants
    decodes = [op for op in module.walk() if isinstance(op, snn.DecodeOp)]
    if not image:  # MLP: one encode in, one decode out, integers between
        assert len(decodes) == 1 and len(requants) == 2
        assert {op.name for op in module.walk() if op.name.startswith("nn.")} == {"nn.weight"}
    after = [run(module, ctx.weights, f)["logits"] for f in feeds]
    assert abs(accuracy(ctx, module, image) - acc_before) <= 0.005
    same = np.mean([np.allclose(a, b, atol=1e-4) for x, y in zip(before, after) for a, b in zip(x, y)])
    assert same >= 0.95, same


def test_requant_equals_encode_of_decode_almost_everywhere():
    """The fixed-point requantization against the float path it replaces, on random accumulators."""
    from nscc.ir.textio import parse_module

    text = """builtin.module {
  func.func @main(%acc: tensor<64x32xi32>) -> (!snn.counts<64x32, 15>) {
    %s = nn.weight "s" : tensor<32xf32>
    %b = nn.weight "b" : tensor<32xf32>
    %t = nn.weight "t" : tensor<f32>
    %y = snn.decode %acc, %s, %b {axis = 1 : i64} : (tensor<64x32xi32>, tensor<32xf32>, tensor<32xf32>) -> tensor<64x32xf32>
    %r = nn.relu %y : (tensor<64x32xf32>) -> tensor<64x32xf32>
    %n = snn.encode %r, %t : (tensor<64x32xf32>, tensor<f32>) -> !snn.counts<64x32, 15>
    func.return %n : !snn.counts<64x32, 15>
  }
}"""
    rng = np.random.default_rng(3)
    ctx, module = parse_module(text)
    ctx.weights.add("s", (rng.random(32) * 1e-3 + 1e-4).astype(np.float32))
    ctx.weights.add("b", rng.standard_normal(32).astype(np.float32))
    ctx.weights.add("t", np.array(0.05, np.float32))
    acc = rng.integers(-20000, 20000, (64, 32)).astype(np.int32)
    ref = run(module, ctx.weights, {"input0": acc})["output0"]
    apply_pipeline(ctx, module, "requant-fusion")
    assert [op.name for op in module.walk() if op.name.startswith("snn.")] == ["snn.requant"]
    got = run(module, ctx.weights, {"input0": acc})["output0"]
    diff = np.abs(got.astype(int) - ref.astype(int))
    assert diff.max() <= 1 and (diff == 0).mean() >= 0.99


def test_stateful_neurons_stream_a_static_input_and_converge():
    """Rate-coded streaming: the image repeated for T steps through IF neurons with soft
    reset; the time-averaged logits classify like the float model once T is large enough."""
    model = digits.mlp()
    xtr, xte, _, yte = digits.data()
    n = 150
    accs = {}
    for steps in (4, 32):
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            path = digits.export(model, os.path.join(tmp, "m.onnx"), False, steps)
            ctx, module = import_onnx(path)
            float_pred = np.array(
                [run(module, ctx.weights, {"image": np.repeat(xte[i : i + 1], steps, 0)})["logits"][0].argmax() for i in range(n)]
            )
            ctx.calibration = digits.batches(xtr[:512], steps, False)
            apply_pipeline(ctx, module, "spike-conversion{levels=15},stateful-neurons")
        neurons = [op for op in module.walk() if isinstance(op, snn.NeuronOp)]
        assert len(neurons) == 3 and not any(isinstance(op, snn.EncodeOp) for op in module.walk())
        assert all(op.res.type.levels.data == 1 for op in neurons)
        pred = np.array(
            [run(module, ctx.weights, {"image": np.repeat(xte[i : i + 1], steps, 0)})["logits"].mean(0).argmax() for i in range(n)]
        )
        accs[steps] = float((pred == yte[:n]).mean())
        float_acc = float((float_pred == yte[:n]).mean())
    assert accs[32] >= float_acc - 0.02, (accs, float_acc)
    assert accs[4] < accs[32]  # fewer steps, coarser rates: the latency-accuracy trade-off


@pytest.mark.parametrize("width", [1.58, 2, 3, 4])
def test_low_bit_weights_are_packed_in_dumps_and_run_exactly(trained, width, tmp_path):
    """Ternary/i2/i3/i4 weights: the .npz holds them packed (bits per weight), they load back
    equal, the program computes the same, and the report counts the packed bytes."""
    from nscc.ir.textio import read_module, write_module

    name, path, image = trained
    ctx, module, _ = convert(path, image, f"spike-conversion{{levels=15 weight-bits={width} group-size=0}}")
    bits = 2 if width == 1.58 else width
    lo, hi = (-1, 1) if width == 1.58 else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    feed = digits.batches(digits.data()[1], BATCH, image)[0]
    before = run(module, ctx.weights, feed)["logits"]
    dump = str(tmp_path / "m.mlir")
    write_module(ctx, module, dump)
    ctx2, back = read_module(dump)
    qnames = [op.sym.data for op in back.walk() if isinstance(op, nn.WeightOp) and op.sym.data.endswith(f".q{bits}")]
    assert qnames
    for q in qnames:
        np.testing.assert_array_equal(ctx2.weights[q], ctx.weights[q])
        assert ctx.weights[q].min() == lo and ctx.weights[q].max() == hi
    np.testing.assert_array_equal(run(back, ctx2.weights, feed)["logits"], before)
    total = sum(ctx.weights[q].size for q in qnames)
    raw = np.load(tmp_path / "m.weights.npz")
    per_weight = 1.6 if width == 1.58 else bits  # ternary: five weights per byte
    dense = sum((ctx.weights[q].size + 4) // 5 if width == 1.58 else (ctx.weights[q].size * bits + 7) // 8 for q in qnames)
    stored = sum(raw[q].nbytes for q in qnames)  # a layer with many zeros may take the smaller bitmask form
    assert dense * 0.75 < stored <= dense
    report = spike_report(module, ctx.weights, [feed], progress=False)
    assert report["weight_bytes"]["packed"] == stored
    assert report["weight_bytes"]["fp16_over_packed"] == pytest.approx(2 * total / stored)
    assert report["weight_bytes"]["fp16_over_packed"] >= 16 / per_weight - 0.01
