"""raise-attention on real exports: every attention block found, the function unchanged."""

import numpy as np
import pytest
import torch
import torch_models as M

from nscc.driver import apply_pipeline
from nscc.frontend.importer import import_onnx
from nscc.ir import nn, snn
from nscc.semantics.interpreter import run

pytestmark = pytest.mark.slow  # torch exports

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
    assert all(bool(op.causal) == bool(causal) for op in att)
    assert all((op.mask is not None) == (not causal) for op in att)  # BERT keeps its padding mask
    assert all(op.scale.value.data == pytest.approx(0.25) for op in att)  # 1/sqrt(16)
    assert all(op.q.type.get_shape()[1] == 4 for op in att)  # heads
    left = [
        op for op in module.walk() if isinstance(op, nn.MatMulOp) and op.rhs.owner is not None and not isinstance(op.rhs.owner, nn.WeightOp)
    ]
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


@pytest.mark.parametrize("feature, decay, normalize", [("relu", 1.0, 1), ("elu1", 0.9, 1), ("relu", 0.75, 0)])
def test_linear_attention_parallel_form_equals_the_recurrence(feature, decay, normalize):
    """The interpreter's parallel (masked) form against the recurrence S_t = l S + phi(k)^T v."""
    from nscc.ir.textio import parse_module

    text = f"""builtin.module {{
  func.func @main(%q: tensor<2x7x4xf32>, %k: tensor<2x7x4xf32>, %v: tensor<2x7x3xf32>) -> tensor<2x7x3xf32> {{
    %0 = nn.linear_attention %q, %k, %v {{feature = "{feature}", decay = {decay} : f64{", normalize" if normalize else ""}, causal}} : (tensor<2x7x4xf32>, tensor<2x7x4xf32>, tensor<2x7x3xf32>) -> tensor<2x7x3xf32>
    func.return %0 : tensor<2x7x3xf32>
  }}
}}"""
    ctx, module = parse_module(text)
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal(s).astype(np.float32) for s in ((2, 7, 4), (2, 7, 4), (2, 7, 3)))
    got = run(module, ctx.weights, {"input0": q, "input1": k, "input2": v})["output0"]

    def phi(x):
        x = x.astype(np.float64)
        return np.maximum(x, 0) if feature == "relu" else np.where(x > 0, x + 1, np.exp(x))

    for b in range(2):
        S, z = np.zeros((4, 3)), np.zeros(4)
        for t in range(7):
            S = decay * S + np.outer(phi(k[b, t]), v[b, t])
            z = decay * z + phi(k[b, t])
            o = phi(q[b, t]) @ S
            if normalize:
                o = o / (phi(q[b, t]) @ z + 1e-6)
            np.testing.assert_allclose(got[b, t], o, rtol=1e-4, atol=1e-5)


def test_linear_attention_pass_reports_what_it_changed(tmp_path, capfd):
    path = M.export(M.GPT2(), (IDS,), str(tmp_path / "g.onnx"), ["ids"], ["logits"])
    ctx, module = import_onnx(path)
    apply_pipeline(ctx, module, "raise-attention,linear-attention{feature=elu1 decay=0.9}")
    lin = [op for op in module.walk() if isinstance(op, nn.LinearAttentionOp)]
    assert len(lin) == 2 and all(op.causal and op.decay.value.data == 0.9 for op in lin)
    assert not any(isinstance(op, nn.AttentionOp | nn.SoftmaxOp) for op in module.walk())
    err = capfd.readouterr().err
    assert "linear-attention changed the model's function: relative output error" in err and "top-1 agreement" in err
    run(module, ctx.weights, {"ids": IDS.numpy()})


def test_linear_attention_rewrites_padding_masked_attention(tmp_path):
    """An encoder's attention with a padding mask becomes bidirectional linear attention in
    which the padded keys add nothing: changing the padded tokens leaves the others' outputs."""
    path = M.export(M.Bert(), (IDS, MASK), str(tmp_path / "b.onnx"), ["ids", "attention_mask"], ["hidden", "pooled"])
    ctx, module = import_onnx(path)
    apply_pipeline(ctx, module, "raise-attention,linear-attention{fit-steps=20 measure=false}")
    lin = [op for op in module.walk() if isinstance(op, nn.LinearAttentionOp)]
    assert len(lin) == 2 and all(op.mask is not None and not op.causal for op in lin)
    assert not any(isinstance(op, nn.AttentionOp) for op in module.walk())
    other = IDS.clone()
    other[0, 12:] = (other[0, 12:] + 1) % 256
    a, b = (run(module, ctx.weights, {"ids": i.numpy(), "attention_mask": MASK.numpy()})["hidden"] for i in (IDS, other))
    assert np.isfinite(a).all()
    np.testing.assert_allclose(a[:, :12], b[:, :12], rtol=1e-5, atol=1e-5)
    assert not np.allclose(a[:, 12:], b[:, 12:])


def test_spiking_encoder_linear_attention_drops_padded_keys_exactly(tmp_path):
    """Spike-converted, the encoder's linear attention is snn.linear_attention over the whole
    sequence (bidirectional) with the padding mask as integers: the padded tokens leave the
    other positions' outputs bit for bit."""
    path = M.export(M.Bert(), (IDS, MASK), str(tmp_path / "b.onnx"), ["ids", "attention_mask"], ["hidden", "pooled"])
    ctx, module = import_onnx(path)
    apply_pipeline(ctx, module, "raise-attention,linear-attention{fit-steps=20 measure=false},spike-conversion{measure-batches=0},integer-islands")
    lin = [op for op in module.walk() if isinstance(op, snn.LinearAttentionOp)]
    assert len(lin) == 2 and all(op.mask is not None and op.bidirectional is not None for op in lin)
    assert not any(isinstance(op, nn.LinearAttentionOp | nn.AttentionOp | nn.FeatureMapOp) for op in module.walk())
    other = IDS.clone()
    other[0, 12:] = (other[0, 12:] + 7) % 256
    a, b = (run(module, ctx.weights, {"ids": i.numpy(), "attention_mask": MASK.numpy()})["hidden"] for i in (IDS, other))
    np.testing.assert_array_equal(a[:, :12], b[:, :12])


@pytest.mark.parametrize("decay", [1.0, 0.875])
def test_spiking_linear_attention_makes_gpt2_matmul_free(tmp_path, decay):
    """linear-attention then spike-conversion: q, k, v become counts, attention becomes
    snn.linear_attention, and no matrix product of any kind is left."""
    from nscc.ir import snn

    path = M.export(M.GPT2(), (IDS,), str(tmp_path / "g.onnx"), ["ids"], ["logits"])
    ctx, module = import_onnx(path)
    apply_pipeline(ctx, module, f"raise-attention,linear-attention{{decay={decay} measure=false}}")
    ref = run(module, ctx.weights, {"ids": IDS.numpy()})["logits"]
    rng = np.random.default_rng(0)
    ctx.calibration = [{"ids": rng.integers(0, 256, (1, 16))} for _ in range(4)]
    apply_pipeline(ctx, module, "spike-conversion{granularity=per-channel},binary-expand")
    la = [op for op in module.walk() if isinstance(op, snn.LinearAttentionOp)]
    assert len(la) == 2 and all(op.decay_shift.value.data == (0 if decay == 1.0 else 3) for op in la)
    assert all(not op.q.type.signed.data and not op.k.type.signed.data for op in la)  # relu features are unsigned counts
    assert not any(isinstance(op, nn.MatMulOp | nn.GemmOp | nn.LinearAttentionOp) for op in module.walk())
    got = run(module, ctx.weights, {"ids": IDS.numpy()})["logits"]
    assert np.corrcoef(got.ravel(), ref.ravel())[0, 1] > 0.99


def test_onnx_attention_op_from_an_sdpa_export(tmp_path):
    """torch's scaled_dot_product_attention exported at opset 23 is one ONNX Attention node;
    it imports as nn.attention and matches onnxruntime."""
    import onnx
    import onnxruntime as ort

    class SDPA(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.qkv = torch.nn.Linear(32, 96)

        def forward(self, x):
            b, t, _ = x.shape
            q, k, v = (z.view(b, t, 4, 8).transpose(1, 2) for z in self.qkv(x).split(32, -1))
            return torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, 32)

    x = torch.randn(2, 10, 32)
    path = M.export(SDPA(), (x,), str(tmp_path / "sdpa.onnx"), ["x"], ["y"], opset=23)
    if "Attention" not in {n.op_type for n in onnx.load(path).graph.node}:
        pytest.skip("this torch exports sdpa without the Attention op")
    ctx, module = import_onnx(path)
    att = [op for op in module.walk() if isinstance(op, nn.AttentionOp)]
    assert len(att) == 1 and att[0].causal
    got = run(module, ctx.weights, {"x": x.numpy()})["y"]
    np.testing.assert_allclose(got, ort.InferenceSession(path).run(None, {"x": x.numpy()})[0], rtol=1e-4, atol=1e-5)


def test_an_encoder_with_linear_attention_is_not_a_decoder(tmp_path):
    """Bidirectional linear attention has no decoding state: the targets treat the module as
    whole-sequence, and decode-step refuses it by name."""
    from nscc.decoding import has_attention_state
    from nscc.errors import NsccError

    path = M.export(M.Bert(), (IDS, MASK), str(tmp_path / "b.onnx"), ["ids", "attention_mask"], ["hidden", "pooled"])
    ctx, module = import_onnx(path)
    apply_pipeline(ctx, module, "raise-attention,linear-attention{feature=relu measure=false},spike-conversion{measure-batches=0}")
    assert not has_attention_state(module)
    with pytest.raises(NsccError, match="snn.linear_attention with a mask or without causality"):
        apply_pipeline(ctx, module, "decode-step{token-input=ids}")
