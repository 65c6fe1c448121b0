"""Attention transfer (nscc.quant.attention_transfer): fitted feature maps follow softmax
attention better than relu on data they were not fitted on, hybrids are chosen exactly,
and a missing torch is one line."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from nscc.errors import NsccError
from nscc.quant import attention_transfer as T


def _softmax_layer(batches: int = 8, heads: int = 2, n: int = 24, d: int = 8, seed: int = 0) -> T.AttentionData:
    """q and k drawn around a few shared directions, as trained attention is: peaked, content-based."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((4, d)) * 2.0
    pick = rng.integers(0, 4, (batches, heads, n))
    q = (centers[pick] + 0.3 * rng.standard_normal((batches, heads, n, d))).astype(np.float32)
    k = (centers[rng.integers(0, 4, (batches, heads, n))] + 0.3 * rng.standard_normal((batches, heads, n, d))).astype(np.float32)
    v = rng.standard_normal((batches, heads, n, d)).astype(np.float32)
    return T.AttentionData(q, k, v, None, 1.0 / np.sqrt(d), True)


def test_fitted_maps_beat_relu_on_held_out_batches():
    data = _softmax_layer()
    r = T.fit(data, feature_dim=8, steps=60)
    assert r.weight.shape == (2, 8, 8) and r.weight.dtype == np.float32
    assert r.error < 0.6 * r.naive_error  # measured on the held-out quarter
    # the map as nn.feature_map computes it: non-negative, each half a distribution
    phi = T.phi(data.q, "hedgehog", r.weight)
    assert phi.shape == (*data.q.shape[:-1], 16) and (phi >= 0).all()
    np.testing.assert_allclose(phi[..., :8].sum(-1), 1.0, rtol=1e-5)


def _sink_heavy_layer(batches: int = 8, heads: int = 2, n: int = 24, d: int = 8, seed: int = 1) -> T.AttentionData:
    """Attention as pretrained LLMs have it: much of it on the first key (an attention sink),
    the rest on the last few keys; content barely matters."""
    rng = np.random.default_rng(seed)
    q = (rng.standard_normal((batches, heads, n, d)) * 0.3).astype(np.float32)
    k = (rng.standard_normal((batches, heads, n, d)) * 0.3).astype(np.float32)
    q[..., 0] = 3.0  # every query meets the sink's and the recent keys' first coordinate
    k[..., 0] = 0.0
    k[:, :, 0, 0] = 3.0
    k[..., 1:, 0] = np.linspace(-3.0, 2.0, n - 1)  # later keys a little closer: recency
    v = rng.standard_normal((batches, heads, n, d)).astype(np.float32)
    return T.AttentionData(q, k, v, None, 1.0, True)


def test_a_sliding_window_with_sinks_follows_sink_heavy_attention_better():
    """The first key and the last few are where this attention looks: softmax there, fitted
    linear attention elsewhere (nn.window_attention) errs far less than all-linear."""
    data = _sink_heavy_layer()
    plain = T.fit(data, feature_dim=8, steps=60)
    hybrid = T.fit(data, feature_dim=8, steps=60, window=4, sinks=1)
    assert hybrid.factor is not None and hybrid.factor.shape == (2,) and (hybrid.factor > 0).all()
    assert plain.factor is None
    assert hybrid.error < 0.5 * plain.error


def test_window_attention_is_softmax_attention_where_every_key_is_near():
    """nn.window_attention's softmax part is nn.attention's: with the window (or the sinks)
    covering every key the linear part and its factor do not matter."""
    from nscc.semantics.nn import attention_weights, window_attention_weights

    data = _softmax_layer(batches=2, n=6)
    pq = T.phi(data.q, "relu")
    ref = attention_weights(data.q, data.k, data.scale, None, True)
    for window, sinks in ((6, 0), (1, 6)):
        got = window_attention_weights(data.q, data.k, pq, pq, np.array([5.0, 9.0], np.float32), data.scale, window, sinks)
        np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
    # a key beyond the window and the sinks is weighed linearly: r (phi(q) . phi(k)) against exp(s - max)
    got = window_attention_weights(data.q, data.k, pq, pq, np.array([0.0, 0.0], np.float32), data.scale, 2, 1)
    assert (got[..., 5, 1:4] == 0).all() and (got[..., 5, [0, 4, 5]] > 0).all()


def test_padding_masked_keys_are_not_fitted_or_measured():
    data = _softmax_layer(batches=4)
    mask = np.zeros((4, 1, 1, data.k.shape[-2]), np.float32)
    mask[..., -5:] = -1e4
    masked = T.AttentionData(data.q, data.k, data.v * 1.0, mask, data.scale, False)
    before = T.error(masked, "relu")
    masked.v[..., -5:, :] = 1e6  # hidden keys' values must not matter
    assert T.error(masked, "relu") == pytest.approx(before)


def test_softmax_layers_are_the_worst_linear_ones_within_the_limits():
    errors, lin, soft = [0.1, 0.5, 0.3, 0.4], [10, 10, 10, 10], [100, 100, 100, 100]
    keep, how = T.choose_softmax(errors, lin, soft, softmax_layers=2, budget=None)
    assert keep == [False, True, False, True] and "milp" in how
    keep, _ = T.choose_softmax(errors, lin, soft, softmax_layers=None, budget=130)  # room for one
    assert keep == [False, True, False, False]
    assert T.choose_softmax(errors, lin, soft, None, None)[0] == [False] * 4
    with pytest.raises(NsccError, match="no choice of softmax layers fits a state budget of 39 bytes"):
        T.choose_softmax(errors, lin, soft, softmax_layers=None, budget=39)


def test_without_torch_the_fit_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(NsccError, match="fits feature maps with torch, which is not installed") as e:
        T.fit(_softmax_layer(batches=2), 8, 5)
    assert "nscc[train]" in e.value.hint and "feature=relu" in e.value.hint


def test_the_pass_reports_each_layers_choice_error_and_state(tmp_path, capfd):
    """On a GPT-2-style export: one layer keeps softmax attention (the one whose linear
    form errs more), the other gets a fitted map; the notes and --report say which."""
    import torch
    import torch_models as M

    from nscc.driver import apply_pipeline
    from nscc.frontend.importer import import_onnx
    from nscc.ir import nn

    ids = torch.randint(0, 256, (1, 16))
    path = M.export(M.GPT2(), (ids,), str(tmp_path / "g.onnx"), ["ids"], ["logits"])
    ctx, module = import_onnx(path)
    apply_pipeline(ctx, module, "raise-attention,linear-attention{fit-steps=20 softmax-layers=1 measure=false}")
    rep = ctx.pass_reports["linear-attention"]["layers"]
    assert [r["softmax"] for r in rep].count(True) == 1
    soft = next(r for r in rep if r["softmax"])
    lin = next(r for r in rep if not r["softmax"])
    # the choice follows how far the model's output moves with each layer alone linear
    assert soft["moved"] >= lin["moved"] > 0 and soft["state_bytes"] == soft["kv_bytes"] > lin["state_bytes"] == lin["linear_bytes"]
    assert sum(isinstance(op, nn.AttentionOp) for op in module.walk()) == 1
    assert sum(isinstance(op, nn.FeatureMapOp) for op in module.walk()) == 2
    err = capfd.readouterr().err
    assert f"{soft['layer']}: softmax, KV cache" in err and f"{lin['layer']}: linear, state" in err
    assert "1 layer(s) linear, 1 softmax (milp (exact))" in err
