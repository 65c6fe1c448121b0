"""Hedgehog's feature map of linear attention (`linear-attention`, its default feature=hedgehog,
then `spike-conversion`: `snn.feature_map`) on the C++ simulator and in the VCK190 kernel, bit
for bit against the interpreter: a tiny Llama made linear (the whole sequence on the
simulator), the same as a hybrid (one layer keeps softmax attention and its KV cache, one is
linear with S/z state) decoding token by token on the interpreter, the simulator and the
kernel's C simulation, and the op alone on random counts. The float forms (`nn.feature_map`,
`nn.linear_attention` with a padding mask) are in tests/test_cpp_every_op.py."""

from __future__ import annotations

import json
import shutil

import hf_models
import numpy as np
import pytest
from test_cpp_every_op import module_of
from test_cpp_target import simulate
from test_vck190_target import assert_csim_passes, assert_program_passes_csim
from test_vck190_target import package as vck190_package

from nscc.decoding import Decoder, position_argument, state_slots
from nscc.driver import atomic_output_dir, prepare
from nscc.ir.signature import signature
from nscc.semantics.interpreter import run
from nscc.targets.cpp import emit, generate_project, run_project
from nscc.targets.vck190.partition import preflight

pytestmark = [
    pytest.mark.skipif(shutil.which("g++") is None or shutil.which("make") is None, reason="needs g++ and make"),
    pytest.mark.usefixtures("private_build_cache"),
]
LINEAR = "raise-attention,linear-attention{fit-steps=30},fuse-silu,fuse-rms-norm,spike-conversion,requant-fusion,integer-islands"
HYBRID = LINEAR.replace("fit-steps=30", "fit-steps=30 softmax-layers=1") + ",decode-step"


@pytest.fixture(scope="module")
def llama(tmp_path_factory):
    d = tmp_path_factory.mktemp("llama")
    return hf_models.export("llama", str(d / "llama.onnx")), hf_models.write_calib(str(d / "calib.npz"), 8)


def read(path: str) -> str:
    with open(path) as f:
        return f.read()


def op_names(module) -> list[str]:
    return [op.name for op in module.walk()]


@pytest.mark.slow
def test_linear_llama_runs_on_the_simulator_as_the_interpreter_does(llama, tmp_path):
    model, calib = llama
    ctx, module = prepare(model, {}, calib, LINEAR)
    names = op_names(module)
    assert names.count("snn.feature_map") == 4 and names.count("snn.linear_attention") == 2 and "nn.feature_map" not in names
    feeds = {"ids": np.load(calib)["ids"][:1]}
    ref = run(module, ctx.weights, feeds)
    out = simulate(ctx, module, feeds, tmp_path)[0]
    for k in ref:
        np.testing.assert_array_equal(out[k], ref[k], err_msg=k)


@pytest.mark.slow
def test_hybrid_llama_decodes_alike_on_the_interpreter_the_simulator_and_in_csim(llama, tmp_path):
    """One layer softmax (snn.attention_step on its KV cache), one linear (snn.feature_map, then
    snn.linear_attention_step on S and z): 8 steps give the same logits and state on the
    interpreter and the simulator, the same greedy tokens, and pass the kernel's C simulation
    (its golden vectors are the interpreter's). The VCK190 preflight takes nn.feature_map."""
    model, calib = llama
    ctx, module = prepare(model, {}, calib, HYBRID, preflight=preflight)
    names = op_names(module)
    assert names.count("snn.feature_map") == 2 and "snn.linear_attention_step" in names and "snn.attention_step" in names

    project = str(tmp_path / "cpp")
    decode_alike(ctx, module, project, np.load(calib)["ids"][:1], 8)

    pkg = vck190_package(ctx, module, tmp_path, "vck190")
    assert "nscc::feature_map<" in read(f"{pkg}/kernel/nscc_kernel.cpp")
    assert assert_csim_passes(pkg) == 8 * hf_models.VOCAB  # the logits of 8 steps
    # the estimate: per feature map H S d f = 4 x 1 x 16 x 16 count x weight additions, and the softmaxes
    fm = json.loads(read(f"{pkg}/report.json"))["estimate"]["other_ops"]["snn.feature_map"]
    assert fm["count"] == 2 and 2 * 4 * 16 * 16 < fm["cycles"] < 2 * 4 * 16 * 16 * 2
    assert "snn.feature_map x2" in read(f"{pkg}/README.md")


def decode_alike(ctx, module, project: str, ids: np.ndarray, steps: int) -> list[np.ndarray]:
    """The step function emitted for the simulator into `project`, then `steps` tokens of `ids`
    from zero state on the interpreter and the simulator: the same results (logits and state)
    at every step, the state carried; then the same greedy tokens. Returns each step's logits."""
    atomic_output_dir(project, lambda d: emit(ctx, module, d, "model.onnx"))
    sig = signature(module)
    slots, pos = state_slots(module), position_argument(module)
    (tokens,) = [i for i in range(len(sig.inputs)) if i != pos and i not in {s.arg for s in slots}]
    state = {s.arg: np.zeros(s.shape, s.dtype) for s in slots}
    logits = []
    for t in range(steps):
        feeds = {sig.inputs[tokens][0]: ids[:, t : t + 1], sig.inputs[pos][0]: np.array([t], np.int64)}
        feeds.update({sig.inputs[a][0]: v for a, v in state.items()})
        ref = run(module, ctx.weights, feeds)
        out = run_project(project, feeds)[0]
        for k in ref:
            np.testing.assert_array_equal(out[k], ref[k], err_msg=f"step {t}: {k}")
        state = {s.arg: ref[sig.outputs[s.result][0]] for s in slots}
        logits.append(ref[sig.outputs[0][0]])
    prompt = [1, 2, 3]
    assert generate_project(project, prompt, 6)[0] == Decoder(ctx, module).generate(prompt, 6)
    return logits


def feature_map_program(seed: int):
    """snn.feature_map on random counts: signed and unsigned, 15 and 127 levels, several shifts,
    divisors and fraction bits (saturated counts, shares below one count), GQA-shaped heads and
    a batch axis; each result also read by a synapse (the VCK190 kernel wants one)."""
    rng = np.random.default_rng(seed)
    cases = [  # (levels, signed, shift, frac_bits, divisor, heads, positions, d, f)
        (15, True, 12, 16, 1, 2, 3, 8, 4),
        (15, False, 18, 16, 4369, 2, 3, 8, 8),
        (127, True, 20, 16, 517, 4, 2, 16, 16),
        (127, False, 0, 12, 33, 1, 5, 6, 3),
        (127, True, 7, 8, 2, 3, 1, 5, 7),
    ]
    args, body, results, weights, feeds = [], [], [], {}, {}
    for i, (lv, signed, shift, fb, div, h, s, d, f) in enumerate(cases):
        xs = f"2x{h}x{s}x{d}"
        cnt = f"!snn.counts<{xs}, {lv}{', signed' if signed else ''}>"
        phi = f"!snn.counts<2x{h}x{s}x{2 * f}, {lv}>"
        args.append(f"%x{i}: tensor<{xs}xi32>")
        body += [
            f'%m{i} = nn.weight "m{i}" : tensor<1xi32>',
            f"%c{i} = snn.requant %x{i}, %m{i} {{shift = 0 : i64, axis = 3 : i64}} : (tensor<{xs}xi32>, tensor<1xi32>) -> {cnt}",
            f'%w{i} = nn.weight "w{i}" : tensor<{h}x{d}x{f}xi8>',
            f'%k{i} = nn.weight "k{i}" : tensor<{h}xi64>',
            (
                f"%p{i} = snn.feature_map %c{i}, %w{i}, %k{i} {{shift = {shift} : i64, frac_bits = {fb} : i64, divisor = {div} : i64}} "
                f": ({cnt}, tensor<{h}x{d}x{f}xi8>, tensor<{h}xi64>) -> {phi}"
            ),
            f'%s{i} = nn.weight "s{i}" : tensor<{2 * f}x3xi8>',
            f"%o{i} = snn.synapse %p{i}, %s{i} {{acc_bits = 32 : i64}} : ({phi}, tensor<{2 * f}x3xi8>) -> tensor<2x{h}x{s}x3xi32>",
        ]
        results += [(f"%p{i}", phi), (f"%o{i}", f"tensor<2x{h}x{s}x3xi32>")]
        w = rng.integers(-128, 128, (h, d, f))
        w[0, 0] = 127  # the weights' extremes, and a silent row
        w[-1, -1] = -128
        w[0, -1] = 0
        weights.update(
            {f"m{i}": np.ones(1, np.int32), f"w{i}": w.astype(np.int8), f"s{i}": rng.integers(-4, 5, (2 * f, 3)).astype(np.int8)}
        )
        # logits of a few units at frac_bits: the multiplier ~ 2^(shift + frac_bits) / (8 d levels)
        scale = 2.0 ** (shift + fb) / (d * lv * 8)
        weights[f"k{i}"] = np.maximum(1, scale * rng.uniform(0.2, 4.0, h)).astype(np.int64)
        x = rng.integers(-lv - 3, lv + 4, (2, h, s, d))
        x[rng.random(x.shape) < 0.3] = 0
        x[0, 0, 0] = 0  # a silent position: uniform shares
        feeds[f"input{i}"] = x.astype(np.int32)
    return (*module_of(args, body, results, weights), feeds)


def test_feature_map_on_random_counts_is_bit_exact_on_the_simulator(tmp_path):
    ctx, module, feeds = feature_map_program(3)
    ref = run(module, ctx.weights, feeds)
    phis = [ref[k] for k in sorted(ref) if ref[k].shape[-1] != 3]
    assert any((p == 0).any() for p in phis) and any((p == 15).any() for p in phis) and any((p == 127).any() for p in phis)
    out, counters, _ = simulate(ctx, module, feeds, tmp_path)
    for k in ref:
        assert out[k].dtype == ref[k].dtype
        np.testing.assert_array_equal(out[k], ref[k], err_msg=k)
    fm = [row for row in counters["layers"] if row["layer"] == "snn.feature_map"]
    assert len(fm) == 5 and all(row["events"] > 0 and row["sops"] > row["events"] for row in fm)


@pytest.mark.slow
def test_feature_map_on_random_counts_is_bit_exact_in_csim(tmp_path):
    assert_program_passes_csim(*feature_map_program(4), tmp_path)
