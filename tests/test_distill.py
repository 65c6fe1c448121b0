"""End-to-end distillation (`linear-attention{distill-steps}`, nscc.quant.distill): the torch
mirror computes what the interpreter computes, the tuning brings a linearised transformers
model closer to its softmax self on text it did not see, and a stopped run resumes."""

from __future__ import annotations

import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import hf_models as H  # noqa: E402

from nscc.driver import apply_pipeline  # noqa: E402
from nscc.errors import NsccError  # noqa: E402
from nscc.frontend.importer import import_onnx  # noqa: E402
from nscc.ir.context import weights_of  # noqa: E402
from nscc.ir.signature import signature  # noqa: E402
from nscc.quant import distill as D  # noqa: E402
from nscc.quant.sensitivity import output_error  # noqa: E402
from nscc.quant.torch_eval import TorchModule  # noqa: E402
from nscc.semantics.interpreter import run  # noqa: E402


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    return H.export("llama", str(tmp_path_factory.mktemp("llama") / "m.onnx"))


def _feeds(n: int, seed: int) -> list[dict]:
    return [{"ids": ids} for ids in H.token_batches(n, seed)]


def _linearised(path: str, calib: list[dict], options: str = ""):
    ctx, m = import_onnx(path)
    ctx.calibration = calib
    apply_pipeline(ctx, m, f"raise-attention,linear-attention{{fit-steps=40 measure=false {options}}}")
    return ctx, m


def _teacher_and_student(path: str, calib: list[dict]):
    """The float module (raised), the linearised one, and one store holding both's weights."""
    ctx, m = _linearised(path, calib)
    fctx, fm = import_onnx(path)
    apply_pipeline(fctx, fm, "raise-attention")
    store = weights_of(ctx)
    for k, a in weights_of(fctx).items():
        if k not in store:
            store.add(k, a)
    return fm, m, store


@pytest.mark.parametrize("family", ["llama", "qwen2", "gpt2", "bert"])
def test_the_torch_mirror_computes_what_the_interpreter_does(family, tmp_path):
    path = H.export(family, str(tmp_path / "m.onnx"), batch=2 if family == "bert" else 1)
    ctx, m = import_onnx(path)
    pipe = "raise-attention" if family == "bert" else "raise-attention,linear-attention{fit-steps=5 measure=false}"
    ctx.calibration = [{"ids": b} for b in H.token_batches(4, 3)] if family != "bert" else None
    apply_pipeline(ctx, m, pipe)
    ids = H.token_batches(1, 5)[0]
    feed = {"ids": ids} if family != "bert" else {"ids": np.repeat(ids, 2, 0), "mask": np.array([[1] * H.SEQ, [1] * 9 + [0] * 7])}
    names = [n for n, _, _ in signature(m).inputs]
    ref = next(iter(run(m, weights_of(ctx), feed).values()))
    with torch.no_grad():
        out = TorchModule(m, weights_of(ctx))([feed[n] for n in names])[0].numpy()
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4 * float(np.abs(ref).max()))


def test_the_torch_mirror_computes_sliding_window_hybrids_as_the_interpreter_does(llama):
    ctx, m = _linearised(llama, _feeds(4, 3), "window=5 sinks=2")
    assert sum(o.name == "nn.window_attention" for o in m.walk()) == 2
    ids = H.token_batches(1, 5)[0]
    ref = next(iter(run(m, weights_of(ctx), {"ids": ids}).values()))
    with torch.no_grad():
        out = TorchModule(m, weights_of(ctx))([ids])[0].numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4 * float(np.abs(ref).max()))
    assert any(n.endswith("window_factor") for n in D.tunable(m, weights_of(ctx)))  # distillation tunes the balance too


def test_distillation_brings_a_linearised_model_closer_to_softmax_on_unseen_text(llama):
    """The tuned model's output is nearer the softmax model's on windows it never saw
    than attention transfer's alone, and the pass swapped the tuned weights in."""
    calib, unseen = _feeds(16, 1), _feeds(6, 9)
    fctx, fm = import_onnx(llama)
    ref = [run(fm, weights_of(fctx), f)["out"] for f in unseen]

    def error(ctx, m):
        return np.mean([output_error(r, run(m, weights_of(ctx), f)["out"], "kl") for r, f in zip(ref, unseen)])

    plain = error(*_linearised(llama, calib))
    ctx, m = _linearised(llama, calib, "distill-steps=60")
    tuned = error(ctx, m)
    assert tuned < 0.8 * plain, (tuned, plain)
    rep = ctx.pass_reports["linear-attention"]["distillation"]
    assert rep["steps"] == 60 and rep["held_out_after"] < rep["held_out_before"] and rep["metric"] == "kl"
    names = [o.sym.data for o in m.walk() if o.name == "nn.weight"]
    assert any(n.endswith(".feature_map_1") for n in names) and not any(n.endswith(".feature_map") for n in names)


def test_a_stopped_distillation_resumes_where_it_stopped(llama, tmp_path):
    calib = _feeds(16, 1)
    fm, m, store = _teacher_and_student(llama, calib)
    ck = str(tmp_path / "tune.npz")
    whole = D.distill(fm, m, store, calib, 60, progress=False)
    D.distill(fm, m, store, calib, 40, checkpoint=ck, progress=False)
    resumed = D.distill(fm, m, store, calib, 60, checkpoint=ck, progress=False)
    assert resumed.steps == 20 and whole.steps == 60
    assert resumed.after == whole.after < whole.before
    for n, a in whole.weights.items():
        np.testing.assert_array_equal(resumed.weights[n], a)
    other = [{"ids": b["ids"][:, ::-1].copy()} for b in calib]
    with pytest.raises(NsccError, match="belongs to another model, text or option set"):
        D.distill(fm, m, store, other, 60, checkpoint=ck, progress=False)


def test_without_torch_distillation_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(NsccError, match="needs torch, which is not installed") as e:
        D.distill(None, None, {}, [], 1)
    assert "nscc[train]" in e.value.hint


def test_a_rate_that_overshoots_is_halved_from_the_best_weights(llama):
    """At a rate far too high every step makes the model worse; going back to the best
    weights at half the rate, the tuning still ends better than it started."""
    calib = _feeds(16, 1)
    fm, m, store = _teacher_and_student(llama, calib)
    got = D.distill(fm, m, store, calib, 160, lr=0.05, progress=False)
    assert got.after < got.before


def test_the_untrained_rewrite_is_distilled_through_its_projections(llama):
    """feature=relu has no maps: the norms and the low-rank updates of the projections train."""
    ctx, m = _linearised(llama, _feeds(16, 1), "feature=relu distill-steps=20")
    rep = ctx.pass_reports["linear-attention"]["distillation"]
    assert rep["held_out_after"] < rep["held_out_before"]
    names = {o.sym.data for o in m.walk() if o.name == "nn.weight"}
    assert not any(n.endswith(".feature_map") or n.endswith(".feature_map_1") for n in names)
    assert sum(n.endswith("_1") for n in names) >= 2 * 4  # q, k, v, o of both layers at least
