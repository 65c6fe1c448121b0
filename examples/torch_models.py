"""Small real architectures in torch, used by the examples, the tests and the benchmarks.

They follow the published designs closely enough that their exports contain
what real exports contain: GPT-2 (learned positions, LayerNorm, tanh GELU,
fused QKV, causal mask), Llama (RMSNorm, rotary embeddings, grouped-query
attention, SiLU-gated MLP), BERT (bidirectional attention with a padding
mask, erf GELU, pooler), an MLP and a CNN with batch norm.
"""

from __future__ import annotations

import math
import os

import torch
from torch import nn
from torch.nn import functional as F

torch.set_num_threads(1)  # torch with 2 threads is pathologically slow on these VMs


class CausalSelfAttention(nn.Module):
    def __init__(self, d: int, heads: int, ctx: int):
        super().__init__()
        self.h, self.d = heads, d
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.register_buffer("mask", torch.tril(torch.ones(ctx, ctx)).view(1, 1, ctx, ctx), persistent=False)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(self.d, dim=2)
        q, k, v = (z.view(b, t, self.h, c // self.h).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.mask[:, :, :t, :t] == 0, float("-inf"))
        y = F.softmax(att, dim=-1) @ v
        return self.proj(y.transpose(1, 2).contiguous().view(b, t, c))


class LinearSelfAttention(nn.Module):
    """Causal linear attention, as nscc's `linear-attention` pass defines it:
    phi = relu, decay lambda, normalised; written in the parallel form
    (phi(q) phi(k)^T masked by lambda^(t-s) for s <= t) for training and export.
    `features` is the hook where integer-spike training quantizes phi(q), phi(k), v."""

    def __init__(self, d: int, heads: int, ctx: int, decay: float = 1.0):
        super().__init__()
        self.h, self.d = heads, d
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        t = torch.arange(ctx)
        gap = (t[:, None] - t[None, :]).float()
        mask = torch.where(gap >= 0, decay ** gap.clamp_min(0), torch.zeros(()))
        self.register_buffer("decay_mask", mask, persistent=False)
        self.features = nn.Identity()

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(self.d, dim=2)
        q, k, v = (z.view(b, t, self.h, c // self.h).transpose(1, 2) for z in (q, k, v))
        q, k, v = self.features((F.relu(q), F.relu(k), v))
        att = (q @ k.transpose(-2, -1)) * self.decay_mask[:t, :t]
        y = (att @ v) / (att.sum(-1, keepdim=True) + 1e-6)
        return self.proj(y.transpose(1, 2).contiguous().view(b, t, c))


class GPT2Block(nn.Module):
    def __init__(self, d, heads, ctx, attention: str = "softmax", decay: float = 1.0):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.attn = CausalSelfAttention(d, heads, ctx) if attention == "softmax" else LinearSelfAttention(d, heads, ctx, decay)
        self.fc, self.out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.out(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))


class GPT2(nn.Module):
    def __init__(self, vocab=256, d=64, layers=2, heads=4, ctx=64, attention: str = "softmax", decay: float = 1.0):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(ctx, d)
        self.blocks = nn.ModuleList(GPT2Block(d, heads, ctx, attention, decay) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        self.head.weight = self.wte.weight

    def forward(self, ids):
        pos = torch.arange(ids.shape[1], device=ids.device)
        x = self.wte(ids) + self.wpe(pos)
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.ln_f(x))


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.eps, self.weight = eps, nn.Parameter(torch.ones(d))

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


class LlamaAttention(nn.Module):
    def __init__(self, d, heads, kv_heads, ctx):
        super().__init__()
        self.h, self.kv, self.hd = heads, kv_heads, d // heads
        self.q = nn.Linear(d, d, bias=False)
        self.k = nn.Linear(d, kv_heads * self.hd, bias=False)
        self.v = nn.Linear(d, kv_heads * self.hd, bias=False)
        self.o = nn.Linear(d, d, bias=False)
        inv = 1.0 / (10000 ** (torch.arange(0, self.hd, 2).float() / self.hd))
        freqs = torch.outer(torch.arange(ctx).float(), inv)
        emb = torch.cat((freqs, freqs), dim=-1)
        self.register_buffer("cos", emb.cos(), persistent=False)
        self.register_buffer("sin", emb.sin(), persistent=False)

    def forward(self, x):
        b, t, _ = x.shape
        q = self.q(x).view(b, t, self.h, self.hd).transpose(1, 2)
        k = self.k(x).view(b, t, self.kv, self.hd).transpose(1, 2)
        v = self.v(x).view(b, t, self.kv, self.hd).transpose(1, 2)
        cos, sin = self.cos[:t], self.sin[:t]
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        rep = self.h // self.kv
        k = k[:, :, None].expand(b, self.kv, rep, t, self.hd).reshape(b, self.h, t, self.hd)
        v = v[:, :, None].expand(b, self.kv, rep, t, self.hd).reshape(b, self.h, t, self.hd)
        att = q @ k.transpose(-2, -1) / math.sqrt(self.hd)
        causal = torch.triu(torch.full((t, t), float("-inf")), diagonal=1)
        y = F.softmax(att + causal, dim=-1) @ v
        return self.o(y.transpose(1, 2).reshape(b, t, -1))


class LlamaBlock(nn.Module):
    def __init__(self, d, heads, kv_heads, ctx, hidden):
        super().__init__()
        self.n1, self.n2 = RMSNorm(d), RMSNorm(d)
        self.attn = LlamaAttention(d, heads, kv_heads, ctx)
        self.gate, self.up = nn.Linear(d, hidden, bias=False), nn.Linear(d, hidden, bias=False)
        self.down = nn.Linear(hidden, d, bias=False)

    def forward(self, x):
        x = x + self.attn(self.n1(x))
        h = self.n2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Llama(nn.Module):
    def __init__(self, vocab=256, d=64, layers=2, heads=4, kv_heads=2, ctx=64, hidden=176):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList(LlamaBlock(d, heads, kv_heads, ctx, hidden) for _ in range(layers))
        self.norm = RMSNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)

    def forward(self, ids):
        x = self.embed(ids)
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.norm(x))


class BertLayer(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.h = heads
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.ln1, self.ln2 = nn.LayerNorm(d, eps=1e-12), nn.LayerNorm(d, eps=1e-12)
        self.fc, self.out = nn.Linear(d, 4 * d), nn.Linear(4 * d, d)

    def forward(self, x, ext_mask):
        b, t, d = x.shape
        hd = d // self.h

        def heads(z):
            return z.view(b, t, self.h, hd).permute(0, 2, 1, 3)

        q, k, v = heads(self.q(x)), heads(self.k(x)), heads(self.v(x))
        att = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(hd) + ext_mask
        y = torch.matmul(att.softmax(-1), v).permute(0, 2, 1, 3).reshape(b, t, d)
        x = self.ln1(x + self.o(y))
        return self.ln2(x + self.out(F.gelu(self.fc(x))))


class Bert(nn.Module):
    def __init__(self, vocab=256, d=64, layers=2, heads=4, ctx=64, types=2):
        super().__init__()
        self.tok, self.pos, self.typ = nn.Embedding(vocab, d), nn.Embedding(ctx, d), nn.Embedding(types, d)
        self.ln = nn.LayerNorm(d, eps=1e-12)
        self.layers = nn.ModuleList(BertLayer(d, heads) for _ in range(layers))
        self.pool = nn.Linear(d, d)

    def forward(self, ids, attention_mask):
        t = ids.shape[1]
        pos = torch.arange(t).unsqueeze(0)
        x = self.ln(self.tok(ids) + self.pos(pos) + self.typ(torch.zeros_like(ids)))
        ext = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * -10000.0
        for layer in self.layers:
            x = layer(x, ext)
        return x, torch.tanh(self.pool(x[:, 0]))


class MLP(nn.Module):
    def __init__(self, d_in=64, hidden=128, d_out=10):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_in, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, d_out))

    def forward(self, x):
        return self.net(x)


class CNN(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1, groups=2), nn.BatchNorm2d(32), nn.ReLU(), nn.AvgPool2d(2),
        )  # fmt: skip
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(32 * 2 * 2, 32), nn.ReLU(), nn.Linear(32, classes))

    def forward(self, x):
        return self.head(self.features(x))


def randomize_norms(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial batch-norm statistics and norm weights, so that they matter."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
        if isinstance(m, nn.BatchNorm2d | nn.LayerNorm | RMSNorm) and getattr(m, "weight", None) is not None:
            with torch.no_grad():
                m.weight.copy_(1 + 0.1 * torch.randn(m.weight.shape, generator=g))
    return model


def export(
    model: nn.Module, args: tuple, path: str, input_names, output_names, dynamic: dict | None = None, dynamo: bool = True, opset: int = 18
) -> str:
    """torch.onnx.export with the settings that give clean graphs (see research notes)."""
    import warnings

    model.eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        if dynamo:
            torch.onnx.export(
                model, args, path, dynamo=True, opset_version=opset, input_names=input_names, output_names=output_names,
                dynamic_shapes=dynamic, external_data=False, verbose=False,
            )  # fmt: skip
        else:
            axes = None
            if dynamic:
                axes = {name: {ax: str(dim) for ax, dim in spec.items()} for name, spec in dynamic.items()}
            torch.onnx.export(
                model, args, path, dynamo=False, opset_version=opset, input_names=input_names, output_names=output_names,
                dynamic_axes=axes, do_constant_folding=False,
            )  # fmt: skip
    assert os.path.exists(path)
    return path
