"""Sliding-window hybrids (`linear-attention{window sinks}`) once spiking: snn.window_attention
over whole sequences and snn.window_attention_step on constant-size state agree bit for bit
on the interpreter and the C++ simulator, token by token against the whole sequence, on a
transformers Llama export, and the step in the VCK190 kernel's C simulation."""

from __future__ import annotations

import json
import shutil

import hf_models
import numpy as np
import pytest
from test_cpp_target import simulate
from test_feature_map_targets import decode_alike
from test_vck190_target import assert_csim_passes
from test_vck190_target import package as vck190_package

from nscc.decoding import state_slots
from nscc.driver import prepare
from nscc.errors import NsccError
from nscc.semantics.interpreter import run
from nscc.targets.vck190.partition import partition, preflight

pytestmark = [
    pytest.mark.skipif(shutil.which("g++") is None or shutil.which("make") is None, reason="needs g++ and make"),
    pytest.mark.usefixtures("private_build_cache"),
    pytest.mark.slow,  # C++ builds: the fast loop has the op's semantics in test_snn_semantics.py
]
pytest.importorskip("torch")
WINDOW = ("raise-attention,linear-attention{fit-steps=30 window=3 sinks=2 measure=false},fuse-silu,fuse-rms-norm,"
          "spike-conversion{measure-batches=0},requant-fusion,integer-islands")  # fmt: skip


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    d = tmp_path_factory.mktemp("llama")
    return hf_models.export("llama", str(d / "llama.onnx")), hf_models.write_calib(str(d / "calib.npz"), 8)


def test_window_llama_runs_on_the_simulator_as_the_interpreter_does(llama, tmp_path):
    model, calib = llama
    ctx, module = prepare(model, {}, calib, WINDOW)
    names = [o.name for o in module.walk()]
    assert names.count("snn.window_attention") == 2 and names.count("snn.feature_map") == 4
    assert not any(n in names for n in ("nn.window_attention", "nn.feature_map", "nn.attention"))
    feeds = {"ids": np.load(calib)["ids"][:1]}
    ref = run(module, ctx.weights, feeds)
    out = simulate(ctx, module, feeds, tmp_path)[0]
    for k in ref:
        np.testing.assert_array_equal(out[k], ref[k], err_msg=k)


def test_a_float_window_llama_runs_on_the_simulator_as_the_interpreter_does(llama, tmp_path):
    """nn.window_attention in float, the key features on the 2 key-value heads of 4 query heads."""
    model, calib = llama
    ctx, module = prepare(model, {}, calib, WINDOW.split(",fuse-silu")[0])
    (wa,) = {tuple(o.pk.type.get_shape()) for o in module.walk() if o.name == "nn.window_attention"}
    assert wa[-3] == 2
    feeds = {"ids": np.load(calib)["ids"][:1]}
    ref = run(module, ctx.weights, feeds)
    out = simulate(ctx, module, feeds, tmp_path)[0]
    for k in ref:
        np.testing.assert_allclose(out[k], ref[k], rtol=1e-4, atol=1e-4 * float(np.abs(ref[k]).max()), err_msg=k)


def test_window_llama_decodes_as_the_whole_sequence_on_the_interpreter_and_the_simulator(llama, tmp_path):
    """16 steps with a window of 3 and 2 sinks: keys leave the window into S and z from step 5
    on; every step's logits equal the whole sequence's at that position, on both targets, with
    the same state. The state does not grow with the positions."""
    model, calib = llama
    ctx, whole = prepare(model, {}, calib, WINDOW)
    ids = np.load(calib)["ids"][:1]
    full = next(iter(run(whole, ctx.weights, {"ids": ids}).values()))
    ctx, module = prepare(model, {}, calib, WINDOW + ",decode-step")
    assert [o.name for o in module.walk()].count("snn.window_attention_step") == 2
    slots = state_slots(module)
    assert sorted(s.name.rsplit(".", 1)[1] for s in slots) == sorted("KVPSz" * 2)
    steps = decode_alike(ctx, module, str(tmp_path / "cpp"), ids, ids.shape[1])
    for t, logits in enumerate(steps):
        np.testing.assert_array_equal(logits[:, 0], full[:, t], err_msg=f"step {t} against the whole sequence")


def test_a_mixed_llama_decodes_in_the_vck190_kernels_c_simulation(llama, tmp_path):
    """One layer keeps softmax attention and its KV cache, one is a window hybrid: the step
    function as the VCK190 kernel, both states (the KV cache; the caches of sinks + window slots
    and S, z) in the state port, 8 steps (keys leave the window from step 5) against the
    interpreter's golden vectors in `make csim`."""
    model, calib = llama
    pipe = WINDOW.replace("sinks=2", "sinks=2 softmax-layers=1") + ",decode-step"
    ctx, module = prepare(model, {}, calib, pipe, preflight=preflight)
    pkg = vck190_package(ctx, module, tmp_path, "vck190")
    kernel = open(f"{pkg}/kernel/nscc_kernel.cpp").read()
    assert "nscc::window_attention_step<" in kernel and "nscc::attention_step<" in kernel
    assert assert_csim_passes(pkg) == 8 * hf_models.VOCAB  # the logits of 8 steps
    state = json.load(open(f"{pkg}/weights/weights.json"))["state"]["arguments"]
    assert sorted(sorted(k for k in x if len(k) == 1) for x in state) == sorted([sorted("KV"), sorted("KVPSz")])


def test_a_window_hybrid_left_in_float_is_refused_for_the_vck190_in_one_line(llama):
    model, calib = llama
    ctx, module = prepare(model, {}, calib, WINDOW.replace("measure-batches=0", "measure-batches=0 attention=float"))
    assert "nn.window_attention" in [o.name for o in module.walk()]
    with pytest.raises(NsccError, match=r"nn\.window_attention.*sliding-window hybrid in float") as e:
        partition(module)
    assert "spike-conversion" in e.value.hint
