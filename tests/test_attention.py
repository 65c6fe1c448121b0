"""raise-attention on real exports: every attention block found, the function unchanged."""

import numpy as np
import pytest
import torch
import torch_models as M

from nscc.driver import apply_pipeline
from nscc.frontend.importer import import_onnx
from nscc.ir import nn
from nscc.targets.interpreter.runner import run

torch.manual_seed(0)
IDS = torch.randint(0, 256, (1, 16))
MASK = torch.cat([torch.ones(1, 12, dtype=torch.long), torch.zeros(1, 4, dtype=torch.long)], 1)

CASES = {
    "gpt2": (M.GPT2, (IDS,), ["ids"], True, True),
    "gpt2-legacy": (M.GPT2, (IDS,), ["ids"], False, True),
    "llama": (M.Llama, (IDS,), ["ids"], True, True),
    "llama-legacy": (M.Llama, (IDS,), ["ids"], False, True),
    "bert": (M.Bert, (IDS, MASK), ["ids", "attention_mask"], True, False),
    "bert-legacy": (M.Bert, (IDS, MASK), ["ids", "attention_mask"], False, False),
}


@pytest.mark.parametrize("name", list(CASES))
def test_every_attention_block_is_raised(tmp_path, name, capfd):
    make, args, ins, dynamo, causal = CASES[name]
    torch.manual_seed(2)
    outs = ["hidden", "pooled"] if "bert" in name else ["logits"]
    path = M.export(make(), args, str(tmp_path / "m.onnx"), ins, outs, dynamo=dynamo)
    ctx, module = import_onnx(path)
    feeds = {n: a.numpy() for n, a in zip(ins, args)}
    ref = run(module, ctx.weights, feeds)
    apply_pipeline(ctx, module, "raise-attention")
    att = [op for op in module.walk() if isinstance(op, nn.AttentionOp)]
    assert len(att) == 2  # one per layer
    assert not any(isinstance(op, nn.SoftmaxOp) for op in module.walk())
    assert all(op.causal.value.data == causal for op in att)
    assert all((op.mask is not None) == (not causal) for op in att)  # BERT keeps its padding mask
    assert all(op.scale.value.data == pytest.approx(0.25) for op in att)  # 1/sqrt(16)
    assert all(op.q.type.get_shape()[1] == 4 for op in att)  # heads
    left = [op for op in module.walk() if isinstance(op, nn.MatMulOp) and op.rhs.owner is not None and not isinstance(op.rhs.owner, nn.WeightOp)]
    assert not [op for op in left if not isinstance(op.rhs.owner, nn.TransposeOp | nn.WeightOp)]
    got = run(module, ctx.weights, feeds)
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-5, atol=1e-5)
    assert "raise-attention left" not in capfd.readouterr().err


def test_dynamic_length_export_raises_too(tmp_path):
    seq = torch.export.Dim("seq", min=2, max=64)
    path = M.export(M.GPT2(), (IDS,), str(tmp_path / "d.onnx"), ["ids"], ["logits"], dynamic={"ids": {1: seq}})
    ctx, module = import_onnx(path, {"seq": 16})
    ref = run(module, ctx.weights, {"ids": IDS.numpy()})["logits"]
    apply_pipeline(ctx, module, "raise-attention")
    assert sum(isinstance(op, nn.AttentionOp) for op in module.walk()) == 2
    np.testing.assert_allclose(run(module, ctx.weights, {"ids": IDS.numpy()})["logits"], ref, rtol=1e-5, atol=1e-5)
