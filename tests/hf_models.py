"""Small transformers models with random weights, exported as users export them, and with
planted outliers: what pretrained models look like to a quantizer.

Pretrained transformers carry a few residual channels hundreds of times larger than
the rest and huge values on a few tokens (the attention sinks). Random weights have
neither, so `plant_outliers` puts them in: a few embedding channels scaled up, one
token with a massive value in one channel, and the norms' gamma raising those
channels again, as trained models do.
"""

from __future__ import annotations

import os

import numpy as np
import torch

SEQ = 16
VOCAB = 256


def _config(family: str):
    import transformers as tf

    common = dict(vocab_size=VOCAB, max_position_embeddings=64)
    if family == "llama":
        return tf.LlamaConfig(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                              num_key_value_heads=2, tie_word_embeddings=False, **common)  # fmt: skip
    if family == "qwen2":
        return tf.Qwen2Config(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
                              num_key_value_heads=2, **common)  # fmt: skip
    if family == "gpt2":
        return tf.GPT2Config(n_embd=64, n_layer=2, n_head=4, vocab_size=VOCAB, n_positions=64, tie_word_embeddings=False)
    if family == "bert":
        return tf.BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, **common)
    raise ValueError(family)


def plant_outliers(model, family: str, channels=(3,), scale: float = 100.0, sink_token: int = 0) -> None:
    """Scales a few residual channels up, gives one token a massive value, and lets the
    norms' gamma boost the same channels (in place, under no_grad)."""
    with torch.no_grad():
        emb = model.get_input_embeddings().weight
        emb[:, list(channels)] *= scale
        emb[sink_token, channels[0]] = 10.0 * emb[:, channels[0]].abs().max()
        for name, p in model.named_parameters():
            if p.ndim == 1 and ("norm" in name or "ln_" in name or "LayerNorm" in name) and name.endswith("weight"):
                p[list(channels)] *= 4.0


def build(family: str, outliers: bool = True, seed: int = 0):
    import transformers as tf

    torch.manual_seed(seed)
    cfg = _config(family)
    cfg._attn_implementation = "eager"
    cls = tf.BertModel if family == "bert" else tf.AutoModelForCausalLM
    model = cls(cfg) if family == "bert" else cls.from_config(cfg)
    model.eval()
    if outliers:
        plant_outliers(model, family)
    return model


class _Out(torch.nn.Module):
    def __init__(self, m, family):
        super().__init__()
        self.m, self.family = m, family

    def forward(self, ids, mask=None):
        if self.family == "bert":
            return self.m(input_ids=ids, attention_mask=mask).last_hidden_state
        return self.m(input_ids=ids, use_cache=False).logits


def export(family: str, path: str, outliers: bool = True, batch: int = 1) -> str:
    """The model as torch's dynamo exporter writes it (opset 18, static [batch, SEQ] ids);
    BERT with an attention_mask input too when batch > 1 (a padded batch)."""
    model = build(family, outliers)
    ids = torch.zeros((batch, SEQ), dtype=torch.int64)
    args, names = (ids,), ["ids"]
    if family == "bert" and batch > 1:
        args, names = (ids, torch.ones((batch, SEQ), dtype=torch.int64)), ["ids", "mask"]
    with torch.no_grad():
        torch.onnx.export(_Out(model, family).eval(), args, path, dynamo=True, opset_version=18,
                          input_names=names, output_names=["out"], external_data=False)  # fmt: skip
    return path


def token_batches(n: int, seed: int) -> np.ndarray:
    """n windows of random token ids, each starting with the sink token 0 (as a BOS would)."""
    ids = np.random.default_rng(seed).integers(1, VOCAB, (n, 1, SEQ)).astype(np.int64)
    ids[:, 0, 0] = 0
    return ids


def write_calib(path: str, n: int = 8, seed: int = 1, mask: bool = False) -> str:
    """n windows of ids (and, for a masked BERT, an attention mask that pads every other
    row after a random length)."""
    ids = token_batches(n, seed).reshape(n, SEQ)
    if not mask:
        np.savez(path, ids=ids)
        return path
    m = np.ones((n, SEQ), np.int64)
    lengths = np.random.default_rng(seed).integers(SEQ // 4, SEQ, n)
    for i in range(1, n, 2):
        m[i, lengths[i] :] = 0
    np.savez(path, ids=ids, mask=m)
    return path


if __name__ == "__main__":  # export all four into a folder, to look at them
    out = os.environ.get("OUT", "/tmp/hf_models")
    os.makedirs(out, exist_ok=True)
    for fam in ("llama", "qwen2", "gpt2", "bert"):
        print(export(fam, os.path.join(out, f"{fam}.onnx")))
