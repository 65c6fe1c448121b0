"""Every op prints and parses back to an equal module, weights included."""

import numpy as np
import onnx_node_cases as oc
import pytest

from nscc.errors import NsccError
from nscc.frontend.importer import import_onnx
from nscc.ir.nn import NN
from nscc.ir.textio import module_text, parse_module, read_module, write_module

# Ops the frontend only emits for large tensors (smaller ones fold at import),
# and ops that passes raise.
EXTRA = """builtin.module {
  func.func @main(%a: tensor<i64>, %b: tensor<i64>, %c: tensor<i64>, %q: tensor<2x3x4xf32>, %s: tensor<2x4x4xf64>, %n: tensor<2x4xf64>) -> (tensor<70000xi64>, tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x4x4xf64>, tensor<2x4xf64>, tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>) {
    %0 = nn.range %a, %b, %c : (tensor<i64>, tensor<i64>, tensor<i64>) -> tensor<70000xi64>
    %1 = nn.attention %q, %q, %q {scale = 5.000000e-01 : f64, causal} : (tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
    %2 = nn.linear_attention %q, %q, %q {feature = "elu1", decay = 9.000000e-01 : f64, normalize, causal} : (tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
    %3, %4, %5 = nn.linear_attention_step %q, %q, %q, %s, %n {feature = "relu", decay = 9.000000e-01 : f64, normalize} : (tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x4x4xf64>, tensor<2x4xf64>) -> (tensor<2x3x4xf32>, tensor<2x4x4xf64>, tensor<2x4xf64>)
    %6 = nn.silu %q {alpha = 1.702000e+00 : f64} : (tensor<2x3x4xf32>) -> tensor<2x3x4xf32>
    %h = arith.constant dense<[[1, 1], [1, -1]]> : tensor<2x2xi8>
    %7 = nn.hadamard %q, %h, %h : (tensor<2x3x4xf32>, tensor<2x2xi8>, tensor<2x2xi8>) -> tensor<2x3x4xf32>
    %w = arith.constant dense<5.000000e-01> : tensor<2x4x2xf32>
    %8 = nn.feature_map %q, %w : (tensor<2x3x4xf32>, tensor<2x4x2xf32>) -> tensor<2x3x4xf32>
    %r = arith.constant dense<1.000000e+00> : tensor<2xf32>
    %9 = nn.window_attention %q, %q, %q, %8, %8, %r {scale = 5.000000e-01 : f64, window = 2 : i64, sinks = 1 : i64} : (tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2xf32>) -> tensor<2x3x4xf32>
    func.return %0, %1, %2, %3, %4, %5, %6, %7, %8, %9 : tensor<70000xi64>, tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x4x4xf64>, tensor<2x4xf64>, tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>, tensor<2x3x4xf32>
  }
}"""


def roundtrip(module) -> None:
    text = module_text(module)
    _, again = parse_module(text)
    assert module_text(again) == text
    assert again.is_structurally_equivalent(module)
    generic = module_text(module, generic=True)
    _, again = parse_module(generic)
    assert again.is_structurally_equivalent(module)


@pytest.mark.slow
def test_every_nn_op_round_trips():
    seen = set()
    for case in oc.our_cases():
        real = [vi for vi in case.model.graph.input if vi.name not in {t.name for t in case.model.graph.initializer}]
        inputs, _ = case.data_sets[0]
        model, feeds = oc.freeze_config_inputs(case.model, {vi.name: oc._array(a) for vi, a in zip(real, inputs)})
        try:
            _, module = import_onnx(model, dims=oc._dims_from([vi for vi in real if vi.name in feeds], feeds), name=case.name)
        except NsccError:
            continue
        roundtrip(module)
        seen |= {op.name for op in module.walk()}
    _, extra = parse_module(EXTRA)
    roundtrip(extra)
    seen |= {op.name for op in extra.walk()}
    missing = {op.name for op in NN.operations} - seen
    assert not missing, f"nn ops never round-tripped: {sorted(missing)}"


def test_dump_with_weights_parses_back_to_the_same_program(tmp_path):
    import torch
    import torch_models as M

    path = M.export(M.randomize_norms(M.Llama()), (torch.randint(0, 256, (1, 8)),), str(tmp_path / "llama.onnx"), ["ids"], ["logits"])
    ctx, module = import_onnx(path)
    dump = str(tmp_path / "llama.mlir")
    write_module(ctx, module, dump)
    ctx2, back = read_module(dump)
    assert back.is_structurally_equivalent(module)
    names = {op.sym.data for op in module.walk() if op.name == "nn.weight"}
    assert names and names <= set(ctx2.weights)
    for n in names:
        np.testing.assert_array_equal(ctx2.weights[n], ctx.weights[n])
    # the terminal form carries no weight bytes: a few hundred bytes per op at most
    assert len(module_text(module)) < 400 * sum(1 for _ in module.walk())


def test_dump_without_its_weight_file_is_a_clear_error(tmp_path):
    import os

    import torch
    import torch_models as M

    path = M.export(M.MLP(), (torch.randn(2, 64),), str(tmp_path / "mlp.onnx"), ["x"], ["y"], dynamo=False)
    ctx, module = import_onnx(path)
    dump = str(tmp_path / "mlp.mlir")
    write_module(ctx, module, dump)
    os.unlink(str(tmp_path / "mlp.weights.npz"))
    with pytest.raises(NsccError, match="weight file not found"):
        read_module(dump)
