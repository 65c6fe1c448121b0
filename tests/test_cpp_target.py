"""The C++/OpenMP simulator against the reference interpreter: bit for bit on every snn op,
on random synapses of every width, and on the example models; counters; safety; errors."""

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from test_snn_semantics import ATTENTION, FIXED, hadamard_factors, neuron_program, program  # noqa: F401  (a fixture)

from nscc.driver import apply_pipeline, atomic_output_dir, prepare
from nscc.errors import NsccError
from nscc.frontend.importer import import_onnx
from nscc.ir.textio import parse_module
from nscc.report import spike_report
from nscc.semantics.interpreter import run
from nscc.targets.cpp import build, emit, run_project

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++"), pytest.mark.usefixtures("private_build_cache")]
EX = os.path.join(os.path.dirname(__file__), "..", "examples")


def simulate(ctx, module, inputs, tmp_path, name="p"):
    project = str(tmp_path / name)
    atomic_output_dir(project, lambda d: emit(ctx, module, d, "test"))
    out, counters = run_project(project, inputs)
    return out, counters, project


def test_every_snn_op_is_bit_exact(program, tmp_path):  # noqa: F811  (the imported fixture)
    ctx, module, inputs = program  # the op-by-op program and random inputs of test_snn_semantics
    ref = run(module, ctx.weights, inputs)
    out, _, _ = simulate(ctx, module, inputs, tmp_path)
    assert len(out) == 12
    for k in ref:
        np.testing.assert_array_equal(out[k], ref[k], err_msg=k)
        assert out[k].dtype == ref[k].dtype


@pytest.mark.parametrize("permuted", [False, True])
def test_fixed_point_ops_are_bit_exact(permuted, tmp_path):
    """The Hadamard factor as nscc builds it takes the simulator's fast transform; with its
    columns permuted (still +-1, no longer Sylvester's) the plain product."""
    ctx, module = parse_module(open(FIXED).read(), source=FIXED)
    rng = np.random.default_rng(11)
    ctx.weights.add("gamma", rng.integers(40000, 90000, 16).astype(np.int32))
    ctx.weights.add("beta", rng.integers(-3000, 3000, 16).astype(np.int32))
    ctx.weights.add("mult", rng.integers(100, 5000, 16).astype(np.int32))
    ctx.weights.add("den", np.array([[0], [-5], [777]], np.int32))
    ha, hb = hadamard_factors()
    ctx.weights.add("ha", ha)
    ctx.weights.add("hb", np.ascontiguousarray(hb[:, [3, 0, 6, 1, 7, 2, 5, 4]]) if permuted else hb)
    x = (rng.standard_normal((3, 16)) * 2).astype(np.float32)
    x[0, 0] = np.float32(3.0000002)
    inputs = {"input0": x, "input1": rng.integers(-(2**20), 2**20, (3, 16)).astype(np.int32)}
    ref = run(module, ctx.weights, inputs)
    out, _, _ = simulate(ctx, module, inputs, tmp_path)
    for k in ref:
        np.testing.assert_array_equal(out[k], ref[k], err_msg=k)


def test_stateful_neurons_are_bit_exact(tmp_path):
    """snn.lif and snn.leaky_integrate at their edge parameters: the simulator against the interpreter."""
    ctx, module, inputs = neuron_program()
    ref = run(module, ctx.weights, inputs)
    out, _, _ = simulate(ctx, module, inputs, tmp_path)
    for k in ref:
        np.testing.assert_array_equal(out[k], ref[k], err_msg=k)


def test_spiking_attention_and_its_kv_cache_step_are_bit_exact(tmp_path):
    """Grouped-query heads, causal, an additive mask with a query that sees nothing, and a
    decoding step that writes the KV cache: the simulator against the interpreter."""
    ctx, module = parse_module(open(ATTENTION).read(), source=ATTENTION)
    ctx.weights.add("one", np.array(1.0, np.float32))
    rng = np.random.default_rng(3)
    counts = [(1, 4, 5, 8), (1, 2, 5, 8), (1, 2, 5, 3)]
    inputs = {f"input{i}": rng.integers(-15, 16, s).astype(np.int8) for i, s in enumerate(counts)}
    inputs["input3"] = rng.integers(-3000, 3000, (1, 1, 5, 5)).astype(np.int32)
    inputs["input3"][0, 0, 1, :] = -(2**31)
    inputs["input4"] = rng.integers(-15, 16, (1, 2, 6, 8)).astype(np.int8)
    inputs["input5"] = rng.integers(-15, 16, (1, 2, 6, 3)).astype(np.int8)
    inputs["input6"] = np.array([2])
    ref = run(module, ctx.weights, inputs)
    out, _, _ = simulate(ctx, module, inputs, tmp_path)
    for k in ref:
        np.testing.assert_array_equal(out[k], ref[k], err_msg=k)


@pytest.mark.parametrize("seed", range(12))
def test_random_synapses_of_every_width_are_bit_exact(seed, tmp_path):
    """Widths 2..8 (ternary included), odd column counts, signed and unsigned counts,
    group scales, pruned rows and columns, counts and binary trains. Seeds 6 and up are
    wider, with more rows than one block of the VNNI kernel takes, groups of whole tile
    rows, and counts past a byte (the portable kernel)."""
    rng = np.random.default_rng(100 + seed)
    bits = [2, 3, 4, 5, 8, 2, 4, 8, 2, 6, 4, 8][seed]
    ternary = seed in (5, 8)
    if seed < 6:
        m, n = int(rng.integers(1, 6)), int(rng.integers(1, 40))
        groups, g = int(rng.integers(1, 4)), int(rng.integers(1, 24))
    else:
        m, n = int(rng.integers(5, 19)), int(rng.integers(65, 200))
        groups, g = int(rng.integers(1, 4)), 4 * int(rng.integers(1, 12)) + (seed == 9)
    k = groups * g
    levels = int(rng.choice([1, 3, 7, 15, 31, 127] if seed < 11 else [255]))
    signed = bool(seed % 2)
    sig = ", signed" if signed else ""
    tb = max(1, levels.bit_length())
    gs_decl = f'%gs = nn.weight "gs" : tensor<{groups}x{n}xi8>' if seed % 3 == 0 else ""
    gs_use, gs_ty = (", %gs", f", tensor<{groups}x{n}xi8>") if gs_decl else ("", "")
    cnt = f"!snn.counts<{m}x{k}, {levels}{sig}>"
    spk = f"!snn.spikes<{tb}x{m}x{k}, bitplane{sig}>"
    text = f"""builtin.module {{
  func.func @main(%x: tensor<{m}x{k}xf32>) -> (tensor<{m}x{n}xi32>, tensor<{m}x{n}xi32>) {{
    %t = nn.weight "t" : tensor<f32>
    %c = snn.encode %x, %t : (tensor<{m}x{k}xf32>, tensor<f32>) -> {cnt}
    %s = snn.expand %c : ({cnt}) -> {spk}
    %w = nn.weight "w" : tensor<{k}x{n}xi{bits}>
    {gs_decl}
    %0 = snn.synapse %c, %w{gs_use} {{acc_bits = 32 : i64}} : ({cnt}, tensor<{k}x{n}xi{bits}>{gs_ty}) -> tensor<{m}x{n}xi32>
    %1 = snn.synapse %s, %w{gs_use} {{acc_bits = 32 : i64}} : ({spk}, tensor<{k}x{n}xi{bits}>{gs_ty}) -> tensor<{m}x{n}xi32>
    func.return %0, %1 : tensor<{m}x{n}xi32>, tensor<{m}x{n}xi32>
  }}
}}"""
    ctx, module = parse_module(text)
    ctx.weights.add("t", np.array(0.25, np.float32))
    lo, hi = (-1, 1) if ternary else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    w = rng.integers(lo, hi + 1, (k, n)).astype(np.int8)
    w[rng.random((k, n)) < 0.4] = 0
    w[rng.integers(0, k, max(1, k // 4))] = 0  # pruned input rows
    ctx.weights.add("w", w)
    if gs_decl:
        ctx.weights.add("gs", rng.integers(1, 128, (groups, n)).astype(np.int8))
    x = (rng.standard_normal((m, k)) * levels * 0.3).astype(np.float32)
    ref = run(module, ctx.weights, {"input0": x})
    out, _, _ = simulate(ctx, module, {"input0": x}, tmp_path)
    for key in ref:
        np.testing.assert_array_equal(out[key], ref[key])


@pytest.mark.parametrize("case", range(5))
def test_synapses_of_whole_sequences_are_bit_exact_in_both_integer_kernels(case, tmp_path, monkeypatch):
    """Batches of 16 rows or more take the AMX kernel where the CPU has it, the VNNI kernel
    otherwise or with NSCC_NO_AMX set: both against the interpreter. Rows past a 32-row block,
    inputs past a 64-input step, columns past a 32-column half, group scales of whole steps
    (AMX) and of 48 inputs (VNNI even on AMX). The last case is worth several threads and has
    three column blocks: with two threads or more, AMX splits each block's rows, the last
    split two rows long."""
    rng = np.random.default_rng(200 + case)
    bits, m, k, n, g = [(4, 16, 64, 32, None), (8, 45, 200, 150, None), (2, 70, 256, 97, 128), (4, 33, 144, 70, 48), (8, 130, 2048, 192, None)][case]
    groups = k // g if g else 0
    gs_decl = f'%gs = nn.weight "gs" : tensor<{groups}x{n}xi8>' if g else ""
    gs_use, gs_ty = (", %gs", f", tensor<{groups}x{n}xi8>") if g else ("", "")
    cnt = f"!snn.counts<{m}x{k}, 127, signed>"
    text = f"""builtin.module {{
  func.func @main(%x: tensor<{m}x{k}xf32>) -> tensor<{m}x{n}xi32> {{
    %t = nn.weight "t" : tensor<f32>
    %c = snn.encode %x, %t : (tensor<{m}x{k}xf32>, tensor<f32>) -> {cnt}
    %w = nn.weight "w" : tensor<{k}x{n}xi{bits}>
    {gs_decl}
    %0 = snn.synapse %c, %w{gs_use} {{acc_bits = 32 : i64}} : ({cnt}, tensor<{k}x{n}xi{bits}>{gs_ty}) -> tensor<{m}x{n}xi32>
    func.return %0 : tensor<{m}x{n}xi32>
  }}
}}"""
    ctx, module = parse_module(text)
    ctx.weights.add("t", np.array(0.25, np.float32))
    w = rng.integers(-(2 ** (bits - 1)), 2 ** (bits - 1), (k, n)).astype(np.int8)
    w[rng.integers(0, k, k // 8)] = 0
    ctx.weights.add("w", w)
    if g:
        ctx.weights.add("gs", rng.integers(1, 128, (groups, n)).astype(np.int8))
    x = (rng.standard_normal((m, k)) * 20).astype(np.float32)
    x[:, rng.random(k) < 0.2] = 0  # silent inputs
    ref = run(module, ctx.weights, {"input0": x})["output0"]
    assert np.abs(ref).max() > 2**12  # sums far past what a byte or sign error would leave alone
    out, _, _ = simulate(ctx, module, {"input0": x}, tmp_path, "amx")
    np.testing.assert_array_equal(out["output0"], ref)
    monkeypatch.setenv("NSCC_NO_AMX", "1")
    out, _, _ = simulate(ctx, module, {"input0": x}, tmp_path, "vnni")
    np.testing.assert_array_equal(out["output0"], ref)


@pytest.mark.parametrize("p, q", [(12, 8), (9, 16), (20, 64), (8, 4), (10, 2), (12, 32), (36, 16), (12, 128), (3, 16)])
def test_fast_hadamard_over_many_blocks_is_bit_exact(p, q, tmp_path):
    """Where q is a multiple of 16 the simulator sums in wrapping int32 lanes: once for a row
    below 2^31 / (p q), in two parts above (a row at each side of that bound, and one at
    int32's limits), a's columns with zeros apart. Elsewhere, eight blocks or more take the
    transposed transform in double: columns eight, four and one at a time, and the
    transform's levels three, two and one a sweep."""
    from nscc.quant.hadamard import sylvester

    rng = np.random.default_rng(p * q)
    rows, n = 4, p * q
    text = f"""builtin.module {{
  func.func @main(%x: tensor<{rows}x{n}xi32>) -> tensor<{rows}x{n}xi32> {{
    %a = nn.weight "a" : tensor<{p}x{p}xi8>
    %b = nn.weight "b" : tensor<{q}x{q}xi8>
    %0 = snn.fixed_hadamard %x, %a, %b {{multiplier = 37837 : i64, shift = 24 : i64}} : (tensor<{rows}x{n}xi32>, tensor<{p}x{p}xi8>, tensor<{q}x{q}xi8>) -> tensor<{rows}x{n}xi32>
    func.return %0 : tensor<{rows}x{n}xi32>
  }}
}}"""
    ctx, module = parse_module(text)
    a = rng.choice([-1, 1], (p, p))
    a[:, 1] = rng.integers(-1, 2, p)  # one column with zeros
    ctx.weights.add("a", a.astype(np.int8))
    ctx.weights.add("b", (rng.choice([-1, 1], (q, 1)) * sylvester(q)).astype(np.int8))
    x = rng.integers(-(2**31), 2**31, (rows, n), dtype=np.int64).astype(np.int32)
    x[0, :p] = -(2**31)
    limit = 2**31 // n
    x[1] = rng.integers(-(2**12), 2**12, n)  # sums that the output's shift does not saturate
    x[2] = rng.integers(-(limit - 1), limit, n)
    x[2, 3] = -(limit - 1)  # the largest row summed at once
    x[3] = x[2]
    x[3, 5] = limit  # the smallest summed in two parts
    ref = run(module, ctx.weights, {"input0": x})["output0"]
    assert len(np.unique(ref[1])) > n // 4
    out, _, _ = simulate(ctx, module, {"input0": x}, tmp_path)
    np.testing.assert_array_equal(out["output0"], ref)


def test_whole_sequence_attention_on_every_kernel_path_is_bit_exact(tmp_path):
    """snn.attention over a whole sequence: the keys packed for VNNI where a key head serves
    16 queries or more (offsets for signed queries, dk not a multiple of 4, a sequence not
    a multiple of 16), the values' weighted sums in float where they stay below 2^24, and
    the plain loops otherwise; counts at their types' limits. One program, one build."""
    cases = [
        # levels of q, k, v (negative: signed), S, H, G, dk, dv, frac_bits, causal
        (-127, -127, -127, 37, 4, 1, 10, 7, 16, True),  # scores by vpdpbusd (offset queries), p . v in float
        (255, -127, 255, 21, 2, 2, 12, 5, 22, False),  # unsigned queries, p . v in int64 (2^22 shares)
        (-15, 15, -15, 5, 2, 1, 8, 3, 12, True),  # too few queries for the packed keys; unsigned keys
        (-15, -15, -15, 19, 2, 1, 8, 70, 16, False),  # values past one block of 64 columns, an odd number of keys
        (-15, -15, 15, 1, 2, 2, 8, 70, 16, True),  # one query per key head: unsigned byte values weighed as read
    ]
    rng = np.random.default_rng(5)
    args, body, results, inputs = [], [], [], {}
    for c, (lq, lk, lv, S, H, G, dk, dv, f, causal) in enumerate(cases):
        shapes = {"q": (1, H, S, dk), "k": (1, G, S, dk), "v": (1, G, S, dv)}
        levels = {"q": lq, "k": lk, "v": lv}
        tys = {}
        for n, shape in shapes.items():
            dims = "x".join(map(str, shape))
            tys[n] = f"!snn.counts<{dims}, {abs(levels[n])}{', signed' if levels[n] < 0 else ''}>"
            args.append(f"%{n}{c}: tensor<{dims}xf32>")
            body.append(f"%{n}n{c} = snn.encode %{n}{c}, %t : (tensor<{dims}xf32>, tensor<f32>) -> {tys[n]}")
            x = rng.integers(min(levels[n], 0), abs(levels[n]) + 1, shape).astype(np.float32)
            x.reshape(-1)[:4] = [min(levels[n], 0), abs(levels[n]), abs(levels[n]), min(levels[n], 0)]
            inputs[f"input{len(inputs)}"] = x
        out_ty = f"tensor<1x{H}x{S}x{dv}xi64>"
        attrs = f"multiplier = 12345678 : i64, shift = 27 : i64, frac_bits = {f} : i64{', causal' if causal else ''}"
        body.append(f"%a{c} = snn.attention %qn{c}, %kn{c}, %vn{c} {{{attrs}}} : ({tys['q']}, {tys['k']}, {tys['v']}) -> {out_ty}")
        results.append((f"%a{c}", out_ty, f))
    text = f"""builtin.module {{
  func.func @main({", ".join(args)}) -> ({", ".join(t for _, t, _ in results)}) {{
    %t = nn.weight "one" : tensor<f32>
    {chr(10).join("    " + b for b in body).strip()}
    func.return {", ".join(r for r, _, _ in results)} : {", ".join(t for _, t, _ in results)}
  }}
}}"""
    ctx, module = parse_module(text)
    ctx.weights.add("one", np.array(1.0, np.float32))
    ref = run(module, ctx.weights, inputs)
    for i, (_, _, f) in enumerate(results):
        assert np.abs(ref[f"output{i}"]).max() > 2**f  # shares of large values: not an all-zero output
    out, _, _ = simulate(ctx, module, inputs, tmp_path)
    for k in ref:
        np.testing.assert_array_equal(out[k], ref[k], err_msg=k)


def test_fixed_silu_of_int32_extremes_is_bit_exact(tmp_path):
    """snn.fixed_silu divides in double up to 25 fraction bits (2 2^2f + 2^f + e < 2^53) in a
    loop that vectorises, and in int64 past them: inputs at int32's limits and near 0, the last
    three of 67 past the eight-at-a-time loop."""
    rng = np.random.default_rng(25)
    fs, alphas = [16, 25, 26], [1073741824, 1827508584]
    ops = [(f, a) for f in fs for a in alphas]
    ty = "tensor<4x67xi32>"
    lines = [f"%{i} = snn.fixed_silu %x {{frac_bits = {f} : i64, alpha = {a} : i64}} : ({ty}) -> {ty}" for i, (f, a) in enumerate(ops)]
    text = f"""builtin.module {{
  func.func @main(%x: {ty}) -> ({", ".join([ty] * len(ops))}) {{
    {chr(10).join("    " + ln for ln in lines).strip()}
    func.return {", ".join(f"%{i}" for i in range(len(ops)))} : {", ".join([ty] * len(ops))}
  }}
}}"""
    ctx, module = parse_module(text)
    x = rng.integers(-(2**31), 2**31, (4, 67), dtype=np.int64).astype(np.int32)
    x[0, :4] = [-(2**31), 2**31 - 1, 0, -1]
    x[1] = np.arange(-33, 34) * 2**12  # around 0, at the scale of 16 fraction bits
    x[2] = rng.integers(-(2**28), 2**28, 67)
    ref = run(module, ctx.weights, {"input0": x})
    out, _, _ = simulate(ctx, module, {"input0": x}, tmp_path)
    for k in ref:
        np.testing.assert_array_equal(out[k], ref[k], err_msg=k)


def test_requantization_of_int32_extremes_is_bit_exact(tmp_path):
    """snn.requant of int32 sums by int32 multipliers and biases, channels last, to int32 and
    to counts: the simulator's vpmuldq rows (a m + b m) against the interpreter's (a + b) m,
    at int32's limits, with a channel count that leaves a tail past the 8-lane groups."""
    rng = np.random.default_rng(18)
    m, n = 5, 19
    ti, tc = f"tensor<{m}x{n}xi32>", f"!snn.counts<{m}x{n}, 15, signed>"
    lines, tys = [], []
    for i, shift in enumerate([0, 18, 40]):
        lines.append(f"%r{i} = snn.requant %a, %mq, %bq {{shift = {shift} : i64, axis = 1 : i64}} : ({ti}, tensor<{n}xi32>, tensor<{n}xi32>) -> {ti}")
        lines.append(f"%c{i} = snn.requant %a, %mq {{shift = {shift + 8} : i64, axis = 1 : i64}} : ({ti}, tensor<{n}xi32>) -> {tc}")
        tys += [ti, tc]
    names = ", ".join(ln.split(" = ")[0] for ln in lines)
    text = f"""builtin.module {{
  func.func @main(%a: {ti}) -> ({", ".join(tys)}) {{
    %mq = nn.weight "mq" : tensor<{n}xi32>
    %bq = nn.weight "bq" : tensor<{n}xi32>
    {chr(10).join("    " + ln for ln in lines).strip()}
    func.return {names} : {", ".join(tys)}
  }}
}}"""
    ctx, module = parse_module(text)
    lim = [-(2**31), 2**31 - 1]
    mq = rng.integers(-(2**31), 2**31, n, dtype=np.int64).astype(np.int32)
    bq = rng.integers(-(2**31), 2**31, n, dtype=np.int64).astype(np.int32)
    mq[:3], bq[:3] = [lim[0], lim[1], 3], [lim[0], lim[1], -1]
    mq[3:9], bq[3:9] = rng.integers(-(2**16), 2**16, 6), rng.integers(-(2**10), 2**10, 6)  # channels that do not saturate
    ctx.weights.add("mq", mq)
    ctx.weights.add("bq", bq)
    a = rng.integers(-(2**31), 2**31, (m, n), dtype=np.int64).astype(np.int32)
    a[0, :3], a[1, :3] = lim + [0], lim[::-1] + [1]
    a[2] = rng.integers(-(2**12), 2**12, n)  # sums the shift does not saturate
    ref = run(module, ctx.weights, {"input0": a})
    assert all(len(np.unique(ref[f"output{i}"])) > 5 for i in (0, 2))
    out, _, _ = simulate(ctx, module, {"input0": a}, tmp_path)
    for k in ref:
        np.testing.assert_array_equal(out[k], ref[k], err_msg=k)


@pytest.mark.parametrize("f", [0, 16, 20])
def test_fixed_division_of_int32_extremes_is_bit_exact(f, tmp_path):
    """snn.fixed_div of int32 operands at up to 20 fraction bits divides in double (exact
    there by the bound 2 a 2^f + b < 2^53): quotients at int32's limits, ties, divisors of
    one and of 2^31 - 1, and the zero and negative divisors that give 0. One divisor a row
    (per-token scales) multiplies by its reciprocal and corrects the quotient: the rows past
    the sixth put the dividend one below, at and one above where the quotient steps, over
    divisors of every magnitude."""
    rng = np.random.default_rng(f)
    rows = 6 + 3 * 24
    text = f"""builtin.module {{
  func.func @main(%a: tensor<{rows}x64xi32>, %b: tensor<{rows}x1xi32>) -> tensor<{rows}x64xi32> {{
    %0 = snn.fixed_div %a, %b {{frac_bits = {f} : i64}} : (tensor<{rows}x64xi32>, tensor<{rows}x1xi32>) -> tensor<{rows}x64xi32>
    func.return %0 : tensor<{rows}x64xi32>
  }}
}}"""
    ctx, module = parse_module(text)
    a = rng.integers(-(2**31), 2**31, (rows, 64), dtype=np.int64)
    a[:, :4] = [-(2**31), 2**31 - 1, 1, -1]
    a[4] = np.arange(-32, 32)  # over 2: every other quotient a tie
    b = np.concatenate([[1, 2**31 - 1, 0, -7, 2, rng.integers(1, 2**20)], 2 ** rng.uniform(0, 31, 72)]).astype(np.int64)[:, None]
    # the quotient floor((2 a 2^f + b) / 2b) steps where 2 a 2^f = (2k - 1) b: a at that point's floor, -1, +1
    k = rng.integers(-(2**31), 2**31, (rows, 64)) // np.maximum(b, 1) * 2**-f
    step = np.floor(((2 * k - 1) * b) / 2 ** (f + 1)).astype(np.int64)
    a[6:] = np.clip(step[6:] + np.repeat([-1, 0, 1], 24)[:, None], -(2**31), 2**31 - 1)
    inputs = {"input0": a.astype(np.int32), "input1": b.astype(np.int32)}
    ref = run(module, ctx.weights, inputs)["output0"]
    out, _, project = simulate(ctx, module, inputs, tmp_path)
    np.testing.assert_array_equal(out["output0"], ref)
    assert "fixed_div_rows(" in open(os.path.join(project, "model.cpp")).read()


@pytest.mark.parametrize("op, f, r", [("layer_norm", 16, 4), ("rms_norm", 23, 4), ("layer_norm", 20, 5)])
def test_fixed_norms_of_extreme_rows_are_bit_exact(op, f, r, tmp_path):
    """snn.fixed_layer_norm and snn.fixed_rms_norm divide each row by its one deviation
    through its reciprocal, eight values at a time and the last five of 69 alone: rows at
    int32's limits, constant rows (deviation from epsilon alone), rows of one outlier, ties."""
    rng = np.random.default_rng(f + r)
    n, rows = 69, 12
    beta = op == "layer_norm"
    args = "%x, %g, %b" if beta else "%x, %g"
    types = f"tensor<{rows}x{n}xi32>, tensor<{n}xi32>" + (f", tensor<{n}xi32>" if beta else "")
    text = f"""builtin.module {{
  func.func @main(%x: tensor<{rows}x{n}xi32>) -> tensor<{rows}x{n}xi32> {{
    %g = nn.weight "g" : tensor<{n}xi32>
    %b = nn.weight "b" : tensor<{n}xi32>
    %0 = snn.fixed_{op} {args} {{frac_bits = {f} : i64, axis = 1 : i64, var_shift = {r} : i64, epsilon = 3 : i64}} : ({types}) -> tensor<{rows}x{n}xi32>
    func.return %0 : tensor<{rows}x{n}xi32>
  }}
}}"""
    ctx, module = parse_module(text)
    ctx.weights.add("g", rng.integers(-(2**20), 2**20, n).astype(np.int32))
    ctx.weights.add("b", rng.integers(-(2**31), 2**31, n, dtype=np.int64).astype(np.int32))
    x = rng.integers(-(2**31), 2**31, (rows, n), dtype=np.int64)
    x[1] = 2**31 - 1
    x[2] = -(2**31)
    x[3] = 7
    x[4] = 0
    x[4, 5] = 2**31 - 1  # one outlier
    x[5] = np.arange(n) - n // 2
    x[6:] = rng.integers(-(2**12), 2**12, (rows - 6, n))
    inputs = {"input0": x.astype(np.int32)}
    ref = run(module, ctx.weights, inputs)["output0"]
    out, _, _ = simulate(ctx, module, inputs, tmp_path)
    np.testing.assert_array_equal(out["output0"], ref)


def test_fixed_products_and_sums_with_broadcasts_are_bit_exact(tmp_path):
    """snn.fixed_mul and snn.fixed_add on their own (not after a synapse), as RoPE and the
    norms' scales use them: eight int32 at a time where both operands' innermost axis is
    contiguous or broadcast (rows of 19: two vectors and a scalar remainder; a transposed
    operand is copied first); products past 32 bits and sums that saturate."""
    t = "tensor<3x5x19xi32>"
    text = f"""builtin.module {{
  func.func @main(%x: {t}, %y: {t}, %col: tensor<3x5x1xi32>, %row: tensor<19xi32>, %tr: tensor<3x19x5xi32>) -> ({t}, {t}, {t}, {t}, {t}) {{
    %0 = snn.fixed_mul %x, %y {{frac_bits = 16 : i64}} : ({t}, {t}) -> {t}
    %1 = snn.fixed_add %x, %y : ({t}, {t}) -> {t}
    %2 = snn.fixed_mul %x, %col {{frac_bits = 12 : i64}} : ({t}, tensor<3x5x1xi32>) -> {t}
    %3 = snn.fixed_mul %row, %x {{frac_bits = 3 : i64}} : (tensor<19xi32>, {t}) -> {t}
    %p = nn.transpose %tr {{perm = array<i64: 0, 2, 1>}} : (tensor<3x19x5xi32>) -> {t}
    %4 = snn.fixed_add %col, %p : (tensor<3x5x1xi32>, {t}) -> {t}
    func.return %0, %1, %2, %3, %4 : {t}, {t}, {t}, {t}, {t}
  }}
}}"""
    ctx, module = parse_module(text)
    rng = np.random.default_rng(19)
    def ints(bits, *shape):  # values of up to `bits` bits, a few at int32's limits
        v = rng.integers(-(2**bits), 2**bits, shape).astype(np.int32)
        v.flat[rng.choice(v.size, max(1, v.size // 20), replace=False)] = rng.choice([-(2**31), 2**31 - 1], max(1, v.size // 20))
        return v

    inputs = {"input0": ints(20, 3, 5, 19), "input1": ints(20, 3, 5, 19), "input2": ints(14, 3, 5, 1), "input3": ints(12, 19), "input4": ints(30, 3, 19, 5)}
    inputs["input1"][0, 0] = inputs["input0"][0, 0] = -(2**31)  # the one product that saturates upward
    ref = run(module, ctx.weights, inputs)
    assert all(len(np.unique(r)) > 200 for r in ref.values())  # not all saturated
    out, _, project = simulate(ctx, module, inputs, tmp_path)
    for name in ref:
        np.testing.assert_array_equal(out[name], ref[name], err_msg=name)
    src = open(os.path.join(project, "model.cpp")).read()
    assert src.count("for_each_index8<") == 3 and src.count("v8::fixed_add(a, b)") == 2


@pytest.mark.parametrize("m", [1, 8, 40])  # the kernel paths: a decoded token's VNNI, VNNI by six rows, AMX past a 32-row block
def test_per_element_ops_after_a_synapse_run_in_its_epilogue(m, tmp_path):
    """The per-element ops right after a synapse (requantization, a row's or a column's scale,
    the residual add, the decode to float: the LM head's chain and each layer's) run on the
    sums as the kernel finishes them, in one lambda: the sums never reach the arena, the
    residual is updated in place and the logits go straight to the output. A chain whose
    sums are read twice is not fused. Bit-exact with the interpreter on every kernel path,
    eight sums at a time (AVX-512) and in the scalar loop for the last four of 100 columns,
    with products past 32 bits that saturate and a chain that ends in counts."""
    k, n = 64, 100
    cnt = f"!snn.counts<{m}x{k}, 15, signed>"
    t32 = f"tensor<{m}x{n}xi32>"
    cnt2 = f"!snn.counts<{m}x{n}, 15, signed>"
    text = f"""builtin.module {{
  func.func @main(%x: tensor<{m}x{k}xf32>, %r: tensor<{m}x1xi32>, %res: {t32}) -> (tensor<{m}x{n}xf32>, {t32}, {t32}, {cnt2}) {{
    %t = nn.weight "t" : tensor<f32>
    %c = snn.encode %x, %t : (tensor<{m}x{k}xf32>, tensor<f32>) -> {cnt}
    %w = nn.weight "w" : tensor<{k}x{n}xi4>
    %s = snn.synapse %c, %w {{acc_bits = 32 : i64}} : ({cnt}, tensor<{k}x{n}xi4>) -> {t32}
    %mq = nn.weight "mq" : tensor<{n}xi32>
    %q = snn.requant %s, %mq {{shift = 4 : i64, axis = 1 : i64}} : ({t32}, tensor<{n}xi32>) -> {t32}
    %y = snn.fixed_mul %q, %r {{frac_bits = 12 : i64}} : ({t32}, tensor<{m}x1xi32>) -> {t32}
    %o = snn.fixed_decode %y {{frac_bits = 12 : i64}} : ({t32}) -> tensor<{m}x{n}xf32>
    %s2 = snn.synapse %c, %w {{acc_bits = 32 : i64}} : ({cnt}, tensor<{k}x{n}xi4>) -> {t32}
    %bq = nn.weight "bq" : tensor<{n}xi32>
    %q2 = snn.requant %s2, %mq, %bq {{shift = 9 : i64, axis = 1 : i64, bias_frac = 3 : i64}} : ({t32}, tensor<{n}xi32>, tensor<{n}xi32>) -> {t32}
    %g = nn.weight "g" : tensor<{n}xi32>
    %y2 = snn.fixed_mul %g, %q2 {{frac_bits = 10 : i64}} : (tensor<{n}xi32>, {t32}) -> {t32}
    %z = snn.fixed_add %res, %y2 : ({t32}, {t32}) -> {t32}
    %s3 = snn.synapse %c, %w {{acc_bits = 32 : i64}} : ({cnt}, tensor<{k}x{n}xi4>) -> {t32}
    %q3 = snn.requant %s3, %mq {{shift = 4 : i64, axis = 1 : i64}} : ({t32}, tensor<{n}xi32>) -> {t32}
    %d = snn.fixed_add %s3, %q3 : ({t32}, {t32}) -> {t32}
    %s4 = snn.synapse %c, %w {{acc_bits = 32 : i64}} : ({cnt}, tensor<{k}x{n}xi4>) -> {t32}
    %m4 = nn.weight "m4" : tensor<1xi32>
    %q4 = snn.requant %s4, %m4 {{shift = 6 : i64, axis = 1 : i64}} : ({t32}, tensor<1xi32>) -> {cnt2}
    func.return %o, %z, %d, %q4 : tensor<{m}x{n}xf32>, {t32}, {t32}, {cnt2}
  }}
}}"""
    ctx, module = parse_module(text)
    rng = np.random.default_rng(5)
    ctx.weights.add("t", np.array(0.25, np.float32))
    ctx.weights.add("w", rng.integers(-8, 8, (k, n)).astype(np.int8))
    mq = rng.integers(1000, 5000, n).astype(np.int32)
    mq[::3] = rng.integers(2**28, 2**31 - 1, len(mq[::3]))  # past int32 before the shift: the requant clamps
    ctx.weights.add("mq", mq)
    ctx.weights.add("m4", np.array([77], np.int32))
    ctx.weights.add("bq", rng.integers(-(2**20), 2**20, n).astype(np.int32))
    ctx.weights.add("g", rng.integers(-3000, 3000, n).astype(np.int32))
    inputs = {
        "input0": rng.standard_normal((m, k)).astype(np.float32),
        "input1": rng.integers(1000, 9000, (m, 1)).astype(np.int32),
        "input2": rng.integers(-(2**31), 2**31 - 1, (m, n), dtype=np.int64).astype(np.int32),  # the adds saturate
    }
    ref = run(module, ctx.weights, inputs)
    out, _, project = simulate(ctx, module, inputs, tmp_path)
    for name in ref:
        np.testing.assert_array_equal(out[name], ref[name], err_msg=name)
    src = open(os.path.join(project, "model.cpp")).read()
    assert src.count("synapse_with<int32_t>(") == 3 and src.count("  synapse(") == 1
    assert len(re.findall(r"(?<!:)requant\(", src)) == 1 and "fixed_decode(" not in src  # only the chain read twice runs on its own
    assert src.count("v8::store(o + c, ") == 3  # every fused chain has its vector form
    assert f"float* o = out0 + r * {n};" in src and f"int32_t* o = out1 + r * {n};" in src
    assert f"fixed_mul_value(x1, in1[{'0' if m == 1 else 'r * 1'}], 12)" in src  # a row's scale (one row: one value)
    assert re.search(r"fixed_mul_value\(v\d+\[c\], x1, 10\)", src)  # a column's, as the first operand


@pytest.fixture(scope="module")
def digits_inputs():
    return {"image": np.load(os.path.join(EX, "digits_mlp", "digits.npy"))}


def test_a_reshape_is_a_view_that_no_later_op_overwrites_while_it_is_read(tmp_path):
    """nn.reshape shares its operand's buffer, copying nothing. The second nn.neg is its
    operand's last reader, which would let it run in place, but the view is read after it."""
    text = """builtin.module {
  func.func @main(%a: tensor<2x3xf32>) -> (tensor<3x2xf32>, tensor<2x3xf32>) {
    %x = nn.neg %a : (tensor<2x3xf32>) -> tensor<2x3xf32>
    %y = nn.reshape %x : (tensor<2x3xf32>) -> tensor<3x2xf32>
    %z = nn.neg %x : (tensor<2x3xf32>) -> tensor<2x3xf32>
    %w = nn.relu %y : (tensor<3x2xf32>) -> tensor<3x2xf32>
    %u = nn.relu %z : (tensor<2x3xf32>) -> tensor<2x3xf32>
    func.return %w, %u : tensor<3x2xf32>, tensor<2x3xf32>
  }
}"""
    ctx, module = parse_module(text, source="reshape.mlir")
    a = np.array([[1, -2, 3], [-4, 5, -6]], np.float32)
    out, _, project = simulate(ctx, module, {"input0": a}, tmp_path)
    np.testing.assert_array_equal(out["output0"], np.maximum(-a, 0).reshape(3, 2))
    np.testing.assert_array_equal(out["output1"], np.maximum(a, 0))
    assert "memcpy" not in open(os.path.join(project, "model.cpp")).read().split("void run(")[1]


def test_integer_mlp_is_bit_exact_with_counters_equal_to_the_report(digits_inputs, tmp_path):
    ctx, module = prepare(
        os.path.join(EX, "digits_mlp", "model.onnx"), {"batch": 16}, None, "spike-conversion{weight-bits=4},requant-fusion"
    )
    ref = run(module, ctx.weights, digits_inputs)
    out, counters, _ = simulate(ctx, module, digits_inputs, tmp_path)
    np.testing.assert_array_equal(out["logits"], ref["logits"])
    report = spike_report(module, ctx.weights, [digits_inputs], progress=False)
    assert [c["sops"] for c in counters["layers"]] == [r["sops"] for r in report["layers"]]
    events = [round(r["firing_rate"] * sum(r["count_histogram"].values())) for r in report["layers"]]
    assert [c["events"] for c in counters["layers"]] == events


@pytest.mark.parametrize("pipeline", ["spike-conversion", "spike-conversion,requant-fusion,integer-islands"])
def test_cnn_is_bit_exact(pipeline, tmp_path):
    """Float pooling between the layers, and integer pooling (max, and average as round_div)."""
    import digits

    path = digits.export(digits.cnn(), str(tmp_path / "cnn.onnx"), True, 50)
    ctx, module = import_onnx(path)
    xtr, xte, _, _ = digits.data()
    ctx.calibration = digits.batches(xtr[:200], 50, True)
    apply_pipeline(ctx, module, pipeline)
    feed = digits.batches(xte, 50, True)[0]
    ref = run(module, ctx.weights, feed)
    out, counters, _ = simulate(ctx, module, feed, tmp_path)
    np.testing.assert_array_equal(out["logits"], ref["logits"])
    report = spike_report(module, ctx.weights, [feed], progress=False)
    assert [c["sops"] for c in counters["layers"]] == [r["sops"] for r in report["layers"]]


LINEAR_LM = os.path.join(EX, "char_lm", "linear")


@pytest.fixture(scope="module")
def linear_lm():
    """The linear-attention example LM, 4-bit, integer islands: integer from input encoding to output decoding."""
    return prepare(
        os.path.join(LINEAR_LM, "model.onnx"), {}, os.path.join(LINEAR_LM, "calib.npz"),
        "raise-attention,linear-attention{measure=false},fuse-gelu,spike-conversion{weight-bits=4},requant-fusion,integer-islands",
    )  # fmt: skip


def test_linear_attention_lm_with_integer_islands_is_bit_exact(linear_lm, tmp_path):
    ctx, module = linear_lm
    lm = LINEAR_LM
    feed = {"ids": np.load(os.path.join(lm, "eval.npz"))["ids"][:8]}
    ref = run(module, ctx.weights, feed)
    out, counters, _ = simulate(ctx, module, feed, tmp_path)
    np.testing.assert_array_equal(out["logits"], ref["logits"])
    report = spike_report(module, ctx.weights, [feed], progress=False)
    sim = {c["layer"]: c for c in counters["layers"]}
    for r in report["layers"]:
        if r["op"] == "snn.synapse":
            assert sim[r["layer"]]["sops"] == r["sops"]


def test_float_islands_stay_within_the_documented_tolerance(tmp_path):
    """LayerNorm, softmax and attention products in float: the simulator's order of
    additions differs from numpy's, so a count at a rounding boundary may differ."""
    lm = os.path.join(EX, "char_lm")
    ctx, module = prepare(
        os.path.join(lm, "model.onnx"), {}, os.path.join(lm, "calib.npz"), "spike-conversion{weight-bits=3},sparsity-pruning{sparsity=0.3}"
    )
    ids = np.load(os.path.join(lm, "eval.npz"))["ids"][:8]
    ref = run(module, ctx.weights, {"ids": ids})["logits"]
    out, _, _ = simulate(ctx, module, {"ids": ids}, tmp_path)
    got = out["logits"]
    assert (got.argmax(-1) == ref.argmax(-1)).mean() >= 0.99
    close = np.abs(got - ref).max(-1) <= 1e-3 * np.abs(ref).max(-1) + 1e-4
    assert close.mean() >= 0.95


def test_names_from_the_model_never_reach_the_cpp_unescaped(tmp_path):
    from hostile_names import EVIL, hostile_module

    ctx, module = hostile_module()
    x = np.ones((2, 4), np.float32)
    out, counters, project = simulate(ctx, module, {"input0": x}, tmp_path)
    np.testing.assert_array_equal(out["output0"], run(module, ctx.weights, {"input0": x})["output0"])
    for name in os.listdir(project):
        if name.endswith((".cpp", ".hpp")):
            src = open(os.path.join(project, name)).read()
            assert "system(" not in src and "eight */" not in src
    syn = next(op for op in module.walk() if op.name == "snn.synapse")
    assert counters["layers"][0]["layer"] == syn.attributes["nscc.layer"].data == EVIL


def test_build_is_cached_and_a_failed_build_names_the_file(tmp_path, digits_inputs):
    ctx, module = prepare(os.path.join(EX, "digits_mlp", "model.onnx"), {"batch": 16}, None, "spike-conversion")
    project = str(tmp_path / "p")
    atomic_output_dir(project, lambda d: emit(ctx, module, d, "test"))
    exe = build(project)
    stamp = os.stat(exe).st_mtime_ns
    assert build(project) == exe and os.stat(exe).st_mtime_ns == stamp
    with open(os.path.join(project, "model.cpp"), "a") as f:
        f.write("\nthis is not C++;\n")
    with pytest.raises(NsccError, match=r"build failed: model\.cpp:\d+"):
        build(project)


def test_cli_compile_and_run_agree_with_the_interpreter(tmp_path, digits_inputs):
    model = os.path.join(EX, "digits_mlp", "model.onnx")
    image = os.path.join(EX, "digits_mlp", "digits.npy")
    out = tmp_path / "sim"
    pipe = "spike-conversion,requant-fusion"
    env = {**os.environ}

    def nscc(*args):
        r = subprocess.run([sys.executable, "-m", "nscc", *map(str, args)], capture_output=True, text=True, env=env)
        assert "Traceback" not in r.stderr, r.stderr
        return r

    r = nscc("compile", model, "--target", "cpp", "--dim", "batch=16", "-p", pipe, "-o", out)
    assert r.returncode == 0, r.stderr
    assert json.load(open(out / "manifest.json"))["target"] == "cpp"
    r = nscc("run", out, "--input", f"image={image}", "--output", tmp_path / "sim.npz", "--counters", tmp_path / "c.json")
    assert r.returncode == 0, r.stderr
    r = nscc("run", model, "--dim", "batch=16", "-p", pipe, "--input", f"image={image}", "--output", tmp_path / "ref.npz")
    np.testing.assert_array_equal(np.load(tmp_path / "sim.npz")["logits"], np.load(tmp_path / "ref.npz")["logits"])
    assert len(json.load(open(tmp_path / "c.json"))["layers"]) == 3
    r = nscc(
        "run", model, "--target", "cpp", "--dim", "batch=16", "-p", pipe, "--input", f"image={image}", "--output", tmp_path / "sim2.npz"
    )
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "sim2.npz")["logits"], np.load(tmp_path / "ref.npz")["logits"])
    bad = np.zeros((3, 64), np.float32)
    np.save(tmp_path / "bad.npy", bad)
    r = nscc("run", out, "--input", f"image={tmp_path / 'bad.npy'}")
    assert r.returncode != 0 and "shape" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_an_op_the_simulator_lacks_is_one_clear_error(tmp_path):
    """Every op has an emitter (tests/test_cpp_every_op.py); float16 has no C++17 type."""
    ty = "tensor<2x4xf16>"
    ops = "\n".join(f'    %{i + 1} = nn.relu %{i} {{nscc.layer = "layer{i}"}} : ({ty}) -> {ty}' for i in range(3))
    ctx, module = parse_module(f"builtin.module {{\n  func.func @main(%0: {ty}) -> {ty} {{\n{ops}\n    func.return %3 : {ty}\n  }}\n}}")
    with pytest.raises(NsccError, match=r"cpp target: 3 op\(s\) of 1 kind\(s\) are not supported: nn.relu \(element type float16\)") as e:
        simulate(ctx, module, {}, tmp_path)
    assert len(e.value.lines) == 3 and all("nn.relu" in line and "(layer" in line and "float16" in line for line in e.value.lines)


def test_token_by_token_decoding_matches_the_interpreter(linear_lm, tmp_path):
    from nscc.decoding import Decoder
    from nscc.targets.cpp import generate_project

    ctx, module = linear_lm
    lm = LINEAR_LM
    project = str(tmp_path / "p")
    atomic_output_dir(project, lambda d: emit(ctx, module, d, os.path.join(lm, "model.onnx")))
    assert json.load(open(os.path.join(project, "manifest.json")))["decoder"]
    prompt = [5, 6, 7, 8, 9, 10]
    ids, info = generate_project(project, prompt, 25)
    assert ids == Decoder(ctx, module).generate(prompt, 25)
    assert info["generated_tokens"] == 25 and info["generate_seconds"] > 0
    with pytest.raises(NsccError, match="positions"):
        generate_project(project, prompt, 100)
    r = subprocess.run(
        [sys.executable, "-m", "nscc", "run", project, "--generate", "5", "--prompt", "The "], capture_output=True, text=True
    )
    assert r.returncode == 0 and "text: 'The " in r.stdout, r.stderr
