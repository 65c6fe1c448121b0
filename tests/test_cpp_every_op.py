"""The C++ simulator runs every op the frontend lowers: each nn and snn op has an emitter,
the ONNX conformance cases the interpreter passes give the interpreter's outputs on the
simulator too (integers exactly, floats within the conformance tolerance), and so do
hand-made programs of the ops no case reaches and small transformers exports."""

from __future__ import annotations

import inspect
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from test_cpp_target import simulate
from xdsl.dialects.builtin import ArrayAttr, DictionaryAttr, ModuleOp, StringAttr
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.ir import Block, Region
from xdsl.irdl import IRDLOperation

from nscc.driver import atomic_output_dir
from nscc.errors import NsccError
from nscc.ir import nn, snn
from nscc.ir.context import make_context
from nscc.ir.signature import NAME_ATTR, main_function, signature
from nscc.ir.textio import parse_module
from nscc.semantics.interpreter import run
from nscc.targets.cpp import emit, run_project
from nscc.targets.cpp.codegen import EMITTERS, check_supported

RTOL, ATOL = 1e-4, 1e-5  # the conformance suite's float tolerance (tests/onnx_node_cases.py)


needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="needs g++")
pytestmark = pytest.mark.usefixtures("private_build_cache")


def op_classes():
    for dialect in (nn, snn):
        for _, cls in inspect.getmembers(dialect, inspect.isclass):
            if issubclass(cls, IRDLOperation) and cls.__module__ == dialect.__name__ and isinstance(getattr(cls, "name", None), str):
                yield cls


def test_every_nn_and_snn_op_has_a_cpp_emitter():
    missing = sorted(c.name for c in op_classes() if c not in EMITTERS)
    assert not missing, f"ops the cpp target cannot emit: {', '.join(missing)} (give each an emitter in targets/cpp/codegen.py)"


def merge(programs):
    """Many (ctx, module, feeds) as one module whose @main runs them all side by side:
    inputs, outputs and weights prefixed `cI.`; returns (ctx, module, feeds)."""
    ctx = make_context()
    block, feeds = Block(), {}
    arg_attrs, res_attrs, results = [], [], []
    for i, (c, m, f) in enumerate(programs):
        fn, sig = main_function(m), signature(m)
        vmap = {}
        for a, (name, _, _) in zip(fn.body.block.args, sig.inputs):
            vmap[a] = block.insert_arg(a.type, len(block.args))
            arg_attrs.append(DictionaryAttr({NAME_ATTR: StringAttr(f"c{i}.{name}")}))
            feeds[f"c{i}.{name}"] = f[name]
        for op in fn.body.block.ops:
            if isinstance(op, ReturnOp):
                results += [vmap[v] for v in op.operands]
                res_attrs += [DictionaryAttr({NAME_ATTR: StringAttr(f"c{i}.{name}")}) for name, _, _ in sig.outputs]
                continue
            new = op.clone(value_mapper=vmap)
            if isinstance(new, nn.WeightOp):
                new.properties["sym"] = StringAttr(ctx.weights.add(f"c{i}.{new.sym.data}", c.weights[new.sym.data]))
            block.add_op(new)
    block.add_op(ReturnOp(*results))
    types = ([a.type for a in block.args], [v.type for v in results])
    fn = FuncOp("main", types, Region(block), arg_attrs=ArrayAttr(arg_attrs), res_attrs=ArrayAttr(res_attrs))
    return ctx, ModuleOp([fn]), feeds


def assert_close(got, ref, what):
    assert got.shape == ref.shape and got.dtype == ref.dtype, (what, got.shape, ref.shape, got.dtype, ref.dtype)
    if ref.dtype.kind in "fc":
        np.testing.assert_allclose(got.astype(np.float64), ref.astype(np.float64), rtol=RTOL, atol=ATOL, equal_nan=True, err_msg=what)
    else:
        np.testing.assert_array_equal(got, ref, err_msg=what)


def conformance_programs():
    """(name, ctx, module, feeds) for each data set of every conformance case the interpreter
    passes, and the reasons the simulator refuses the others (element types it lacks)."""
    import onnx_node_cases as oc

    programs, refused = [], []
    for case in oc.our_cases():
        if oc.run_case(case)[0] != "pass":
            continue
        for _, ctx, module, feeds, _ in oc.imported(case):
            try:
                check_supported(list(main_function(module).body.block.ops))
            except NsccError as e:
                refused.append((case.name, e.message))
                continue
            programs.append((case.name, ctx, module, feeds))
    return programs, refused


@needs_gxx
@pytest.mark.slow
def test_conformance_cases_match_the_interpreter(tmp_path, monkeypatch):
    """Every case in a few merged programs. Built at -O0: the C++ of ~950 programs takes
    150 s at -O3 and 26 s at -O0, and what it computes does not depend on the optimisation
    level (-ffp-contract=off either way); the other tests here build at the usual flags."""
    from nscc.targets import cpp

    programs, refused = conformance_programs()
    assert len(programs) > 900
    assert all(re.search(r"element type b?float16", why) for _, why in refused), refused
    monkeypatch.setattr(cpp, "CXXFLAGS", cpp.CXXFLAGS.replace("-O3", "-O0"))
    parts = [programs[: len(programs) // 2], programs[len(programs) // 2 :]]
    merged = [merge([p[1:] for p in part]) for part in parts]
    projects = []
    for n, (ctx, module, _) in enumerate(merged):
        projects.append(str(tmp_path / f"p{n}"))
        atomic_output_dir(projects[-1], lambda d, ctx=ctx, module=module: emit(ctx, module, d, "conformance"))
    with ThreadPoolExecutor(len(projects)) as pool:  # the builds, side by side
        list(pool.map(cpp.build, projects))
    bad = []
    for part, (ctx, module, feeds), project in zip(parts, merged, projects):
        ref = run(module, ctx.weights, feeds)
        out = run_project(project, feeds)[0]
        for k in ref:
            try:
                assert_close(out[k], ref[k], k)
            except AssertionError as e:
                bad.append(f"{part[int(k.split('.')[0][1:])][0]}: {str(e).strip().splitlines()[0]}")
    assert not bad, "\n".join(bad)


# Ops and forms no conformance case reaches (range, silu, linear attention with and without a
# padding mask, feature maps, integer reductions and scans, wide pads, fully masked attention
# rows, double precision...).
HANDMADE = """builtin.module {
  func.func @main(%f: tensor<2x3x4x8xf32>, %i: tensor<2x3x4xi32>, %j: tensor<2x3x4xi32>, %s0: tensor<f32>, %s1: tensor<f32>,
                  %t0: tensor<i64>, %t1: tensor<i64>, %k: tensor<2x3x6x8xf32>, %v: tensor<1x3x6x5xf32>,
                  %sq: tensor<2x3x2x8xf32>, %sk: tensor<2x3x2x8xf32>, %sv: tensor<2x3x2x5xf32>, %st: tensor<2x3x8x5xf64>, %nm: tensor<2x3x8xf64>,
                  %m: tensor<2x1x4x6xf32>, %d: tensor<3x5xf64>, %c: tensor<3xf64>, %g: tensor<2x3x4xi64>, %h: tensor<2x5x2xi64>,
                  %cx: tensor<1x4x9xf32>, %nan: tensor<2x6xf32>, %u: tensor<5xui32>)
      -> (tensor<2x3x4x8xf32>, tensor<2x3x4x8xf32>, tensor<7xf32>, tensor<5xi64>, tensor<2x3x4x5xf32>, tensor<2x3x4x5xf32>,
          tensor<2x3x2x5xf32>, tensor<2x3x8x5xf64>, tensor<2x3x8xf64>, tensor<2x3x4xi32>, tensor<2x3x4xi8>, tensor<2x3x4xi32>, tensor<2x3x4xi32>,
          tensor<2x3x1xi64>, tensor<3x4xi64>, tensor<1x3x1xi32>, tensor<1x3x1xi32>, tensor<3xi32>, tensor<1x1x1xi32>, tensor<2x3x1xi32>,
          tensor<2x4xf32>, tensor<2x3x4x1xf32>, tensor<2x3x4x8xf32>, tensor<3x5xf64>, tensor<2x9x10xi32>, tensor<5x4x11xi32>, tensor<2x5x6xi32>,
          tensor<4x3x12xi32>, tensor<2x3x4xi32>, tensor<2x5x8xf32>, tensor<2x3x4xi32>, tensor<3x3xf64>, tensor<5x5xf64>, tensor<2x3x4x8xf32>,
          tensor<2x3x4x8xf32>, tensor<2x3x4x8xf32>, tensor<1x6x4xf32>, tensor<2x3xf32>, tensor<3x5xf64>, tensor<3x5xf64>, tensor<3x5xf64>,
          tensor<3x5xf64>, tensor<2x6xi1>, tensor<2xf32>, tensor<2x1xi64>, tensor<5xui32>, tensor<5xui16>, tensor<5xui32>,
          tensor<2x3x4x10xf32>, tensor<2x3x4x5xf32>, tensor<2x3x4x5xf32>, !snn.counts<2x3x6, 31>, tensor<2x3x4x5xf32>, tensor<2x3x4x5xf32>) {
    %silu = nn.silu %f {alpha = 1.000000e+00 : f64} : (tensor<2x3x4x8xf32>) -> tensor<2x3x4x8xf32>
    %quick = nn.silu %f {alpha = 1.702000e+00 : f64} : (tensor<2x3x4x8xf32>) -> tensor<2x3x4x8xf32>
    %r1 = nn.range %s0, %s0, %s1 : (tensor<f32>, tensor<f32>, tensor<f32>) -> tensor<7xf32>
    %r2 = nn.range %t0, %t0, %t1 : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<5xi64>
    %la1 = nn.linear_attention %f, %k, %v {feature = "relu", decay = 9.000000e-01 : f64, normalize, causal} : (tensor<2x3x4x8xf32>, tensor<2x3x6x8xf32>, tensor<1x3x6x5xf32>) -> tensor<2x3x4x5xf32>
    %la2 = nn.linear_attention %f, %k, %v {feature = "elu1", decay = 1.000000e+00 : f64} : (tensor<2x3x4x8xf32>, tensor<2x3x6x8xf32>, tensor<1x3x6x5xf32>) -> tensor<2x3x4x5xf32>
    %so, %ss, %sz = nn.linear_attention_step %sq, %sk, %sv, %st, %nm {feature = "elu1", decay = 9.500000e-01 : f64, normalize} : (tensor<2x3x2x8xf32>, tensor<2x3x2x8xf32>, tensor<2x3x2x5xf32>, tensor<2x3x8x5xf64>, tensor<2x3x8xf64>) -> (tensor<2x3x2x5xf32>, tensor<2x3x8x5xf64>, tensor<2x3x8xf64>)
    %cs = nn.cumsum %i {axis = 1 : i64, exclusive, reverse} : (tensor<2x3x4xi32>) -> tensor<2x3x4xi32>
    %i8 = nn.cast %i : (tensor<2x3x4xi32>) -> tensor<2x3x4xi8>
    %cs8 = nn.cumsum %i8 {axis = -1 : i64} : (tensor<2x3x4xi8>) -> tensor<2x3x4xi8>
    %mod = nn.mod %i, %j : (tensor<2x3x4xi32>, tensor<2x3x4xi32>) -> tensor<2x3x4xi32>
    %fmod = nn.mod %i, %j {fmod} : (tensor<2x3x4xi32>, tensor<2x3x4xi32>) -> tensor<2x3x4xi32>
    %amax = nn.argmax %i {axis = 2 : i64, keepdims, select_last_index} : (tensor<2x3x4xi32>) -> tensor<2x3x1xi64>
    %amin = nn.argmin %i {axis = 0 : i64} : (tensor<2x3x4xi32>) -> tensor<3x4xi64>
    %rsum = nn.reduce_sum %i {axes = array<i64: 0, 2>, keepdims} : (tensor<2x3x4xi32>) -> tensor<1x3x1xi32>
    %rprod = nn.reduce_prod %j {axes = array<i64: 0, -1>, keepdims} : (tensor<2x3x4xi32>) -> tensor<1x3x1xi32>
    %rmax = nn.reduce_max %i {axes = array<i64: 2, 0>} : (tensor<2x3x4xi32>) -> tensor<3xi32>
    %rmin = nn.reduce_min %i {keepdims} : (tensor<2x3x4xi32>) -> tensor<1x1x1xi32>
    %rmean = nn.reduce_mean %i {axes = array<i64: 2>, keepdims} : (tensor<2x3x4xi32>) -> tensor<2x3x1xi32>
    %rl2 = nn.reduce_l2 %f {axes = array<i64: 1, 3>} : (tensor<2x3x4x8xf32>) -> tensor<2x4xf32>
    %rss = nn.reduce_sum_square %f {axes = array<i64: -1>, keepdims} : (tensor<2x3x4x8xf32>) -> tensor<2x3x4x1xf32>
    %att = nn.attention %f, %k, %k, %m {scale = 3.500000e-01 : f64, causal} : (tensor<2x3x4x8xf32>, tensor<2x3x6x8xf32>, tensor<2x3x6x8xf32>, tensor<2x1x4x6xf32>) -> tensor<2x3x4x8xf32>
    %attd = nn.attention %d, %d, %d {scale = 5.000000e-01 : f64} : (tensor<3x5xf64>, tensor<3x5xf64>, tensor<3x5xf64>) -> tensor<3x5xf64>
    %reflect = nn.pad %i {pads = array<i64: 0, 4, 5, 0, 2, 1>, mode = "reflect", value = 0.000000e+00 : f64} : (tensor<2x3x4xi32>) -> tensor<2x9x10xi32>
    %wrap = nn.pad %i {pads = array<i64: 1, 0, 7, 2, 1, 0>, mode = "wrap", value = 0.000000e+00 : f64} : (tensor<2x3x4xi32>) -> tensor<5x4x11xi32>
    %const = nn.pad %i {pads = array<i64: 0, 1, 1, 0, 1, 1>, mode = "constant", value = 2.500000e+00 : f64} : (tensor<2x3x4xi32>) -> tensor<2x5x6xi32>
    %tile = nn.tile %i {repeats = array<i64: 2, 1, 3>} : (tensor<2x3x4xi32>) -> tensor<4x3x12xi32>
    %ge = nn.gather_elements %i, %g {axis = 1 : i64} : (tensor<2x3x4xi32>, tensor<2x3x4xi64>) -> tensor<2x3x4xi32>
    %gnd = nn.gather_nd %f, %h {batch_dims = 1 : i64} : (tensor<2x3x4x8xf32>, tensor<2x5x2xi64>) -> tensor<2x5x8xf32>
    %tril = nn.trilu %i {k = -1 : i64} : (tensor<2x3x4xi32>) -> tensor<2x3x4xi32>
    %gemm = nn.gemm %d, %d, %c {alpha = 5.000000e-01 : f64, beta = 2.000000e+00 : f64, trans_b} : (tensor<3x5xf64>, tensor<3x5xf64>, tensor<3xf64>) -> tensor<3x3xf64>
    %gemm2 = nn.gemm %d, %d {alpha = 1.000000e+00 : f64, beta = 1.000000e+00 : f64, trans_a} : (tensor<3x5xf64>, tensor<3x5xf64>) -> tensor<5x5xf64>
    %w1 = nn.weight "w1" : tensor<1xf32>
    %w8 = nn.weight "w8" : tensor<1x8xf32>
    %w3 = nn.weight "w3" : tensor<3xf32>
    %var = nn.weight "var" : tensor<3xf32>
    %rms = nn.rms_norm %f, %w1 {axis = -1 : i64, epsilon = 1.000000e-05 : f64} : (tensor<2x3x4x8xf32>, tensor<1xf32>) -> tensor<2x3x4x8xf32>
    %ln = nn.layer_norm %f, %w8, %w1 {axis = 3 : i64, epsilon = 1.000000e-05 : f64} : (tensor<2x3x4x8xf32>, tensor<1x8xf32>, tensor<1xf32>) -> tensor<2x3x4x8xf32>
    %bn = nn.batch_norm %f, %w3, %w3, %w3, %var {epsilon = 1.000000e-05 : f64} : (tensor<2x3x4x8xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>, tensor<3xf32>) -> tensor<2x3x4x8xf32>
    %cw = nn.weight "cw" : tensor<6x2x3xf32>
    %conv = nn.conv %cx, %cw {strides = array<i64: 2>, pads = array<i64: 1, 2>, dilations = array<i64: 2>, group = 2 : i64} : (tensor<1x4x9xf32>, tensor<6x2x3xf32>) -> tensor<1x6x4xf32>
    %bc = nn.broadcast %s0 : (tensor<f32>) -> tensor<2x3xf32>
    %elu = nn.elu %d {alpha = 7.000000e-01 : f64} : (tensor<3x5xf64>) -> tensor<3x5xf64>
    %hs = nn.hard_sigmoid %d {alpha = 2.000000e-01 : f64, beta = 5.000000e-01 : f64} : (tensor<3x5xf64>) -> tensor<3x5xf64>
    %sp = nn.softplus %d : (tensor<3x5xf64>) -> tensor<3x5xf64>
    %lsm = nn.log_softmax %d {axis = 0 : i64} : (tensor<3x5xf64>) -> tensor<3x5xf64>
    %isnan = nn.isnan %nan : (tensor<2x6xf32>) -> tensor<2x6xi1>
    %nmax = nn.reduce_max %nan {axes = array<i64: 1>} : (tensor<2x6xf32>) -> tensor<2xf32>
    %namax = nn.argmax %nan {axis = 1 : i64, keepdims} : (tensor<2x6xf32>) -> tensor<2x1xi64>
    %uadd = nn.add %u, %u : (tensor<5xui32>, tensor<5xui32>) -> tensor<5xui32>
    %u16 = nn.cast %u : (tensor<5xui32>) -> tensor<5xui16>
    %umod = nn.mod %u, %u : (tensor<5xui32>, tensor<5xui32>) -> tensor<5xui32>
    %lm = nn.weight "lm" : tensor<2x1x4x6xf32>
    %fw = nn.weight "fw" : tensor<3x8x5xf32>
    %fm = nn.feature_map %f, %fw : (tensor<2x3x4x8xf32>, tensor<3x8x5xf32>) -> tensor<2x3x4x10xf32>
    %la3 = nn.linear_attention %f, %k, %v, %lm {feature = "relu", decay = 9.000000e-01 : f64, normalize, causal} : (tensor<2x3x4x8xf32>, tensor<2x3x6x8xf32>, tensor<1x3x6x5xf32>, tensor<2x1x4x6xf32>) -> tensor<2x3x4x5xf32>
    %la4 = nn.linear_attention %f, %k, %v, %lm {feature = "elu1", decay = 1.000000e+00 : f64} : (tensor<2x3x4x8xf32>, tensor<2x3x6x8xf32>, tensor<1x3x6x5xf32>, tensor<2x1x4x6xf32>) -> tensor<2x3x4x5xf32>
    %fk = nn.feature_map %k, %fw : (tensor<2x3x6x8xf32>, tensor<3x8x5xf32>) -> tensor<2x3x6x10xf32>
    %wr = nn.weight "wr" : tensor<3xf32>
    %wa1 = nn.window_attention %f, %k, %v, %fm, %fk, %wr {scale = 3.500000e-01 : f64, window = 2 : i64, sinks = 1 : i64} : (tensor<2x3x4x8xf32>, tensor<2x3x6x8xf32>, tensor<1x3x6x5xf32>, tensor<2x3x4x10xf32>, tensor<2x3x6x10xf32>, tensor<3xf32>) -> tensor<2x3x4x5xf32>
    %wa2 = nn.window_attention %f, %k, %v, %fm, %fk, %wr, %lm {scale = 3.500000e-01 : f64, window = 3 : i64, sinks = 0 : i64} : (tensor<2x3x4x8xf32>, tensor<2x3x6x8xf32>, tensor<1x3x6x5xf32>, tensor<2x3x4x10xf32>, tensor<2x3x6x10xf32>, tensor<3xf32>, tensor<2x1x4x6xf32>) -> tensor<2x3x4x5xf32>
    %rm = nn.weight "rm" : tensor<1xi32>
    %cn = snn.requant %i, %rm {shift = 2 : i64, axis = 2 : i64} : (tensor<2x3x4xi32>, tensor<1xi32>) -> !snn.counts<2x3x4, 15, signed>
    %sw = nn.weight "sw" : tensor<2x4x3xi8>
    %sm = nn.weight "sm" : tensor<2xi64>
    %sfm = snn.feature_map %cn, %sw, %sm {shift = 14 : i64, frac_bits = 16 : i64, divisor = 2048 : i64} : (!snn.counts<2x3x4, 15, signed>, tensor<2x4x3xi8>, tensor<2xi64>) -> !snn.counts<2x3x6, 31>
    func.return %silu, %quick, %r1, %r2, %la1, %la2, %so, %ss, %sz, %cs, %cs8, %mod, %fmod, %amax, %amin, %rsum, %rprod, %rmax, %rmin, %rmean,
                %rl2, %rss, %att, %attd, %reflect, %wrap, %const, %tile, %ge, %gnd, %tril, %gemm, %gemm2, %rms, %ln, %bn, %conv, %bc, %elu, %hs, %sp,
                %lsm, %isnan, %nmax, %namax, %uadd, %u16, %umod, %fm, %la3, %la4, %sfm, %wa1, %wa2
        : tensor<2x3x4x8xf32>, tensor<2x3x4x8xf32>, tensor<7xf32>, tensor<5xi64>, tensor<2x3x4x5xf32>, tensor<2x3x4x5xf32>,
          tensor<2x3x2x5xf32>, tensor<2x3x8x5xf64>, tensor<2x3x8xf64>, tensor<2x3x4xi32>, tensor<2x3x4xi8>, tensor<2x3x4xi32>, tensor<2x3x4xi32>,
          tensor<2x3x1xi64>, tensor<3x4xi64>, tensor<1x3x1xi32>, tensor<1x3x1xi32>, tensor<3xi32>, tensor<1x1x1xi32>, tensor<2x3x1xi32>,
          tensor<2x4xf32>, tensor<2x3x4x1xf32>, tensor<2x3x4x8xf32>, tensor<3x5xf64>, tensor<2x9x10xi32>, tensor<5x4x11xi32>, tensor<2x5x6xi32>,
          tensor<4x3x12xi32>, tensor<2x3x4xi32>, tensor<2x5x8xf32>, tensor<2x3x4xi32>, tensor<3x3xf64>, tensor<5x5xf64>, tensor<2x3x4x8xf32>,
          tensor<2x3x4x8xf32>, tensor<2x3x4x8xf32>, tensor<1x6x4xf32>, tensor<2x3xf32>, tensor<3x5xf64>, tensor<3x5xf64>, tensor<3x5xf64>,
          tensor<3x5xf64>, tensor<2x6xi1>, tensor<2xf32>, tensor<2x1xi64>, tensor<5xui32>, tensor<5xui16>, tensor<5xui32>,
          tensor<2x3x4x10xf32>, tensor<2x3x4x5xf32>, tensor<2x3x4x5xf32>, !snn.counts<2x3x6, 31>, tensor<2x3x4x5xf32>, tensor<2x3x4x5xf32>
  }
}"""


def handmade():
    ctx, module = parse_module(HANDMADE)
    rng = np.random.default_rng(17)
    ctx.weights.add("w1", np.array([1.5], np.float32))
    ctx.weights.add("w8", rng.standard_normal((1, 8)).astype(np.float32))
    ctx.weights.add("w3", rng.standard_normal(3).astype(np.float32))
    ctx.weights.add("var", rng.random(3).astype(np.float32) + 0.5)
    ctx.weights.add("cw", rng.standard_normal((6, 2, 3)).astype(np.float32))
    ctx.weights.add("fw", rng.standard_normal((3, 8, 5)).astype(np.float32))
    lm = np.where(rng.random((2, 1, 4, 6)) < 0.3, -np.inf, rng.standard_normal((2, 1, 4, 6))).astype(np.float32)
    lm[:, :, :, 0], lm[1, 0, 3, 1:] = 0.5, -10000.0
    lm[0, 0, 2] = -np.inf  # a query whose keys are all hidden gets 0
    ctx.weights.add("lm", lm)
    ctx.weights.add("rm", np.ones(1, np.int32))
    ctx.weights.add("wr", np.array([0.5, 2.0, 7.0], np.float32))
    ctx.weights.add("sw", rng.integers(-128, 128, (2, 4, 3)).astype(np.int8))
    ctx.weights.add("sm", rng.integers(300_000, 900_000, 2).astype(np.int64))  # logits of a few units at 16 fraction bits
    mask = np.where(rng.random((2, 1, 4, 6)) < 0.3, -np.inf, rng.standard_normal((2, 1, 4, 6))).astype(np.float32)
    mask[1, 0, 2] = -np.inf  # a row with nothing to attend: 0
    nan = rng.standard_normal((2, 6)).astype(np.float32)
    nan[1, [2, 4]] = np.nan
    j = rng.integers(-5, 6, (2, 3, 4)).astype(np.int32)
    j[0, 0, :2] = [0, -1]  # x % 0 is 0, as numpy's
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)
    feeds = {
        "input0": f32(2, 3, 4, 8), "input1": rng.integers(-100, 100, (2, 3, 4)).astype(np.int32) // 10 * 10, "input2": j,
        "input3": np.array(-1.25, np.float32), "input4": np.array(0.75, np.float32), "input5": np.array(-7), "input6": np.array(3),
        "input7": f32(2, 3, 6, 8), "input8": f32(1, 3, 6, 5), "input9": f32(2, 3, 2, 8), "input10": f32(2, 3, 2, 8),
        "input11": f32(2, 3, 2, 5), "input12": rng.random((2, 3, 8, 5)), "input13": rng.random((2, 3, 8)) + 1, "input14": mask,
        "input15": rng.standard_normal((3, 5)) * 3, "input16": rng.standard_normal(3), "input17": rng.integers(-3, 3, (2, 3, 4)),
        "input18": rng.integers(-3, 3, (2, 5, 2)), "input19": f32(1, 4, 9), "input20": nan,
        "input21": np.array([1, 7, 4000000000, 65537, 3], np.uint32),
    }  # fmt: skip
    return ctx, module, feeds


@needs_gxx
@pytest.mark.slow
def test_ops_no_conformance_case_reaches_match_the_interpreter(tmp_path):
    ctx, module, feeds = handmade()
    ref = run(module, ctx.weights, feeds)
    out = simulate(ctx, module, feeds, tmp_path)[0]
    assert len(out) == len(ref) == 54
    for k in ref:
        assert_close(out[k], ref[k], k)


FUSED = "raise-attention,fuse-rms-norm,fuse-silu,fuse-gelu,fuse-layer-norm"  # nn.attention, rms_norm, silu, gelu, layer_norm


@needs_gxx
@pytest.mark.slow
@pytest.mark.parametrize("family", ["llama", "gpt2", "bert"])
def test_transformers_exports_compile_and_run_as_the_interpreter_does(family, tmp_path):
    """`nscc compile MODEL.onnx --target cpp` of a small transformers export in float, as
    exported (-p '', no passes) and with the ops raised and fused, gives the interpreter's
    outputs. (Without -p the target applies its integer default pipeline: tests/test_families.py.)"""
    import hf_models

    from nscc.driver import prepare

    model = hf_models.export(family, str(tmp_path / f"{family}.onnx"))
    feeds = {"ids": hf_models.token_batches(1, 3)[0]}
    for n, pipeline in enumerate(["", FUSED]):
        out = tmp_path / f"sim{n}"
        args = ["compile", model, "--target", "cpp", "-o", str(out), "-p", pipeline]
        r = subprocess.run([sys.executable, "-m", "nscc", *args], capture_output=True, text=True, check=False)
        assert r.returncode == 0, r.stderr
        ctx, module = prepare(model, {}, None, pipeline or None)
        if pipeline:
            assert {"nn.attention", "nn.softmax"} & {op.name for op in module.walk()} == {"nn.attention"}
        assert_close(run_project(str(out), feeds)[0]["out"], run(module, ctx.weights, feeds)["out"], f"{family} {pipeline}")


@needs_gxx
@pytest.mark.slow
def test_float_linear_attention_lm_runs_and_decodes_as_the_interpreter_does(tmp_path):
    """A float linear-attention decoder: the whole-sequence program (nn.linear_attention) and
    the token-by-token one (nn.linear_attention_step, state in f64) agree with the interpreter."""
    from nscc.decoding import Decoder
    from nscc.driver import prepare
    from nscc.targets.cpp import generate_project

    lm = os.path.join(os.path.dirname(__file__), "..", "examples", "char_lm", "linear")
    ctx, module = prepare(os.path.join(lm, "model.onnx"), {}, None, "raise-attention,linear-attention{measure=false}")
    assert "nn.linear_attention" in {op.name for op in module.walk()}
    project = str(tmp_path / "p")
    atomic_output_dir(project, lambda d: emit(ctx, module, d, os.path.join(lm, "model.onnx")))
    feed = {"ids": np.load(os.path.join(lm, "eval.npz"))["ids"][:8]}
    assert_close(run_project(project, feed)[0]["logits"], run(module, ctx.weights, feed)["logits"], "logits")
    prompt = [5, 6, 7, 8, 9, 10]
    assert generate_project(project, prompt, 25)[0] == Decoder(ctx, module).generate(prompt, 25)


def encoder_linear_attention_program(seed: int):
    """snn.linear_attention of encoders on random counts: bidirectional with and without a padding
    mask, causal with a mask, masks broadcast over heads, over the batch, per key only, of
    every shape, an input or a constant; entries at the boundary -32 * 2^F (hidden) and one above it (seen), -2^31, a
    query that sees no key; q and k unsigned or signed counts of 15 to 127 levels, a rank-2 form.
    A synapse reads one of the counts (the VCK190 kernel wants one)."""
    rng = np.random.default_rng(seed)
    cases = [  # (levels, q and k signed, lead axes, heads, positions, dk, dv, bidirectional, mask shape, frac_bits)
        (31, False, (2,), 3, 5, 6, 4, True, (2, 1, 5, 5), 16),
        (15, True, (2,), 2, 4, 3, 5, True, None, 0),
        (15, True, (1,), 2, 5, 4, 3, False, (5, 5), 8),
        (31, False, (), None, 6, 4, 2, True, (6,), 12),
        (127, True, (2,), 3, 4, 5, 3, True, (2, 3, 4, 4), 16),
    ]
    args, body, results, weights, feeds = [], [], [], {"one": np.ones(1, np.int32)}, []
    body.append('%one = nn.weight "one" : tensor<1xi32>')

    def counts(name, shape, levels, signed):
        xs = "x".join(map(str, shape))
        ct = f"!snn.counts<{xs}, {levels}{', signed' if signed else ''}>"
        args.append(f"%{name}: tensor<{xs}xi32>")
        body.append(f"%c{name} = snn.requant %{name}, %one {{shift = 0 : i64, axis = 0 : i64}} : (tensor<{xs}xi32>, tensor<1xi32>) -> {ct}")
        x = rng.integers(-levels - 3 if signed else -3, levels + 4, shape)
        x[rng.random(shape) < 0.3] = 0
        feeds.append(x.astype(np.int32))
        return ct

    for i, (lv, signed, lead, h, s, dk, dv, bidir, mshape, f) in enumerate(cases):
        heads = (*lead, h) if h else lead
        cq = counts(f"q{i}", (*heads, s, dk), lv, signed)
        ck = counts(f"k{i}", (*heads, s, dk), lv, signed)
        cv = counts(f"v{i}", (*heads, s, dv), 15, True)
        operands, types = f"%cq{i}, %ck{i}, %cv{i}", f"{cq}, {ck}, {cv}"
        if mshape is not None:
            ms = "x".join(map(str, mshape))
            if h is None:  # a constant mask (the kernel's parameters)
                body.append(f'%m{i} = nn.weight "m{i}" : tensor<{ms}xi32>')
            else:
                args.append(f"%m{i}: tensor<{ms}xi32>")
            operands, types = operands + f", %m{i}", types + f", tensor<{ms}xi32>"
            hidden = -(32 << f)
            m = rng.integers(hidden - (8 << f), 2 << f, mshape)
            pick = rng.random(mshape)
            m[pick < 0.15], m[(pick >= 0.15) & (pick < 0.3)] = hidden, hidden + 1  # the boundary: hidden, seen
            m[(pick >= 0.3) & (pick < 0.4)] = -(2**31)  # a padding mask's fill
            m[(pick >= 0.4) & (pick < 0.5)] = 0
            if len(mshape) > 1:
                m[(0,) * (len(mshape) - 2) + (1,)] = -(2**31)  # a query that sees no key
            if h is None:
                weights[f"m{i}"] = m.astype(np.int32)
            else:
                feeds.append(m.astype(np.int32))
        props = "decay_shift = 0 : i64" + (", bidirectional" if bidir else "") + (f", frac_bits = {f} : i64" if mshape else "")
        num, den = "x".join(map(str, (*heads, s, dv))), "x".join(map(str, (*heads, s)))
        body.append(f"%n{i}, %d{i} = snn.linear_attention {operands} {{{props}}} : ({types}) -> (tensor<{num}xi64>, tensor<{den}xi64>)")
        results += [(f"%n{i}", f"tensor<{num}xi64>"), (f"%d{i}", f"tensor<{den}xi64>")]
    body.append('%w = nn.weight "w" : tensor<5x2xi8>')
    body.append(
        "%o = snn.synapse %cv1, %w {acc_bits = 32 : i64} : (!snn.counts<2x2x4x5, 15, signed>, tensor<5x2xi8>) -> tensor<2x2x4x2xi32>"
    )
    weights["w"] = rng.integers(-4, 5, (5, 2)).astype(np.int8)
    results.append(("%o", "tensor<2x2x4x2xi32>"))
    return (*module_of(args, body, results, weights), {f"input{j}": x for j, x in enumerate(feeds)})


def module_of(args: list[str], body: list[str], results: list[tuple[str, str]], weights: dict):
    """(ctx, module) of a hand-written @main: its argument declarations, its lines, its results
    as (value, type) and the weights its nn.weight ops name."""
    rtypes = [t for _, t in results]
    text = (
        "builtin.module {\n"
        f"  func.func @main({', '.join(args)}) -> ({', '.join(rtypes)}) {{\n"
        + "".join(f"    {ln}\n" for ln in body)
        + f"    func.return {', '.join(r for r, _ in results)} : {', '.join(rtypes)}\n  }}\n}}"
    )
    ctx, module = parse_module(text)
    for k, v in weights.items():
        ctx.weights.add(k, v)
    return ctx, module


@needs_gxx
def test_encoder_linear_attention_on_random_counts_is_bit_exact(tmp_path):
    """Bidirectional and masked snn.linear_attention (the quadratic form, hidden pairs dropped)
    give the interpreter's num and den; a query that sees no key gets 0 in both."""
    ctx, module, feeds = encoder_linear_attention_program(5)
    ref = run(module, ctx.weights, feeds)
    out = simulate(ctx, module, feeds, tmp_path)[0]
    assert len(out) == len(ref) == 11
    for k in ref:
        assert_close(out[k], ref[k], k)
    assert not ref["output0"][0, :, 1].any() and not ref["output1"][0, :, 1].any() and ref["output1"].all(axis=-1).any()  # no key seen
