"""The fuse passes on what torch and transformers really export: each activation and
norm, from both exporters, becomes its one op with nothing elementary left over,
and computes what onnxruntime computes; and on whole tiny transformers models."""

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch_models as M
from transformers.activations import ACT2FN
from transformers.models.gemma.modeling_gemma import GemmaRMSNorm
from transformers.models.llama.modeling_llama import LlamaRMSNorm
from transformers.models.qwen2.modeling_qwen2 import Qwen2RMSNorm

from nscc.driver import apply_pipeline
from nscc.frontend.importer import import_onnx
from nscc.ir import nn
from nscc.semantics.interpreter import run

FUSE = "fuse-gelu,fuse-silu,fuse-rms-norm,fuse-layer-norm"
# what the passes take in: none may be left in a whole model
ELEMENTARY = (nn.PowOp, nn.SigmoidOp, nn.ErfOp, nn.TanhOp, nn.ReduceMeanOp, nn.SqrtOp, nn.ReciprocalOp)
D = 16


class Act(torch.nn.Module):
    def __init__(self, f):
        super().__init__()
        self.f = f

    def forward(self, x):
        return self.f(x)


class HandLayerNorm(torch.nn.Module):
    """LayerNorm as a model might write it: gamma applied before the division."""

    def __init__(self):
        super().__init__()
        self.w, self.b = torch.nn.Parameter(torch.randn(D)), torch.nn.Parameter(torch.randn(D))

    def forward(self, x):
        m = x.mean(-1, keepdim=True)
        v = ((x - m) ** 2).mean(-1, keepdim=True)
        return self.w * (x - m) / torch.sqrt(v + 1e-5) + self.b


def _norm(cls):
    norm = cls(D)
    norm.weight.data = torch.randn(D)
    return norm


def _torch_layer_norm():
    norm = torch.nn.LayerNorm(D)
    norm.weight.data, norm.bias.data = torch.randn(D), torch.randn(D)
    return norm


CASES = {
    "torch-gelu": (lambda: torch.nn.GELU(), nn.GeluOp),
    "torch-gelu-tanh": (lambda: torch.nn.GELU(approximate="tanh"), nn.GeluOp),
    **{f"act-{a}": (lambda a=a: Act(ACT2FN[a]), nn.GeluOp) for a in ("gelu", "gelu_new", "gelu_fast", "gelu_pytorch_tanh")},
    **{f"act-{a}": (lambda a=a: Act(ACT2FN[a]), nn.SiluOp) for a in ("quick_gelu", "silu")},
    "llama-rms-norm": (lambda: _norm(LlamaRMSNorm), nn.RMSNormOp),
    "qwen2-rms-norm": (lambda: _norm(Qwen2RMSNorm), nn.RMSNormOp),
    "gemma-rms-norm": (lambda: _norm(GemmaRMSNorm), nn.RMSNormOp),
    "hand-layer-norm": (lambda: HandLayerNorm(), nn.LayerNormOp),
}


def _fused(path: str, feeds: dict[str, np.ndarray]):
    ctx, module = import_onnx(path)
    apply_pipeline(ctx, module, FUSE)
    got = run(module, ctx.weights, feeds)
    ref = ort.InferenceSession(path).run(None, feeds)
    return module, list(got.values()), ref


@pytest.mark.parametrize("dynamo", [True, False], ids=["dynamo-18", "legacy-17"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_export_fuses_to_one_op(tmp_path, name, dynamo):
    make, fused = CASES[name]
    torch.manual_seed(0)
    x = 3 * torch.randn(2, 5, D)
    path = M.export(make(), (x,), str(tmp_path / f"{name}.onnx"), ["x"], ["y"], dynamo=dynamo, opset=18 if dynamo else 17)
    module, got, ref = _fused(path, {"x": x.numpy()})
    ops = [op for op in module.walk() if isinstance(op, nn.NNOp)]
    assert [type(op) for op in ops] == [fused], [op.name for op in ops]
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-5, atol=1e-5)


def test_layer_norm_from_an_old_opset(tmp_path):
    """Before opset 17 torch writes nn.LayerNorm out; it comes back as one nn.layer_norm."""
    x = torch.randn(2, 5, D)
    path = M.export(_torch_layer_norm(), (x,), str(tmp_path / "ln.onnx"), ["x"], ["y"], dynamo=False, opset=16)
    module, got, ref = _fused(path, {"x": x.numpy()})
    assert [type(op) for op in module.walk() if isinstance(op, nn.NNOp)] == [nn.LayerNormOp]
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("family", ["llama", "qwen2", "gpt2", "bert"])
def test_tiny_transformers_keep_no_elementary_ops(tmp_path, family):
    import hf_models

    path = hf_models.export(family, str(tmp_path / f"{family}.onnx"))
    module, got, ref = _fused(path, {"ids": hf_models.token_batches(1, 0)[0]})
    left = sorted({op.name for op in module.walk() if isinstance(op, ELEMENTARY)})
    assert not left, f"{family}: {left} left after {FUSE}"
    fused = {type(op) for op in module.walk()}
    assert {"llama": {nn.RMSNormOp, nn.SiluOp}, "qwen2": {nn.RMSNormOp, nn.SiluOp}, "gpt2": {nn.GeluOp}, "bert": {nn.GeluOp}}[
        family
    ] <= fused
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-4, atol=1e-4 * float(np.abs(ref[0]).max()))
