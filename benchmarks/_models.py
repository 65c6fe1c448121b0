"""Benchmark models, exported once and cached under benchmarks/.cache/."""

from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.path.join(HERE, ".cache")
sys.path.insert(0, os.path.join(HERE, "..", "examples"))


def gpt2_small(seq: int = 128) -> str:
    """A GPT-2-small-sized decoder (12 layers, hidden 768, 12 heads, vocab 50257,
    about 124M parameters), random weights, dynamo export at opset 18, static shape."""
    path = os.path.join(CACHE, f"gpt2_small_s{seq}.onnx")
    if os.path.exists(path):
        return path
    import torch
    import torch_models as M

    os.makedirs(CACHE, exist_ok=True)
    torch.manual_seed(0)
    model = M.GPT2(vocab=50257, d=768, layers=12, heads=12, ctx=1024)
    ids = torch.randint(0, 50257, (1, seq))
    print(f"exporting a GPT-2-small-sized model to {path} (once; about 30 s)", file=sys.stderr)
    M.export(model, (ids,), path + ".tmp", ["input_ids"], ["logits"])
    os.replace(path + ".tmp", path)
    return path


def gpt2_small_with_past() -> str:
    """transformers' GPT-2 at GPT-2-small size (random weights) exported as one decoding
    step with a KV cache: input_ids [1, 1] and past_{2l}, past_{2l+1} (layer l's keys and
    values, [1, 12, P, 64], P dynamic) in; logits and present_* (P + 1 positions) out.
    The baseline a user would run for token-by-token generation with onnxruntime."""
    path = os.path.join(CACHE, "gpt2_small_with_past.onnx")
    if os.path.exists(path):
        return path
    import torch
    from transformers import DynamicCache, GPT2Config, GPT2LMHeadModel

    os.makedirs(CACHE, exist_ok=True)
    torch.manual_seed(0)
    cfg = GPT2Config(n_layer=12, n_embd=768, n_head=12, vocab_size=50257, n_positions=1024)
    cfg._attn_implementation = "eager"
    model = GPT2LMHeadModel(cfg).eval()
    n = 2 * cfg.n_layer

    class Step(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.m = model

        def forward(self, input_ids, *past):
            cache = DynamicCache([(past[2 * i], past[2 * i + 1]) for i in range(cfg.n_layer)], config=cfg)
            out = self.m(input_ids=input_ids, past_key_values=cache, use_cache=True)
            return (out.logits, *[t for layer in out.past_key_values.layers for t in (layer.keys, layer.values)])

    past = [torch.zeros(1, 12, 8, 64) for _ in range(n)]
    print(f"exporting transformers' GPT-2 with a KV cache to {path} (once; about 20 s)", file=sys.stderr)
    torch.onnx.export(
        Step(), (torch.zeros((1, 1), dtype=torch.int64), *past), path + ".tmp",
        input_names=["input_ids"] + [f"past_{i}" for i in range(n)],
        output_names=["logits"] + [f"present_{i}" for i in range(n)],
        dynamic_axes={**{f"past_{i}": {2: "past"} for i in range(n)}, **{f"present_{i}": {2: "total"} for i in range(n)}},
        opset_version=18, dynamo=False,
    )  # fmt: skip
    os.replace(path + ".tmp", path)
    return path


def token_batches(n: int, seq: int = 128, vocab: int = 50257, seed: int = 0, name: str = "input_ids") -> list[dict]:
    """n random batches of one sequence of token ids (the benchmarks' stand-in for text)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    return [{name: rng.integers(0, vocab, (1, seq)).astype(np.int64)} for _ in range(n)]


def outputs_and_report(module, weights, feeds: list[dict], output: str, spiking: bool) -> tuple[list, dict]:
    """@main's `output` for every feed, and for a spiking module the spike report's
    totals, non-spiking ops and weight bytes taken in the same interpreter pass."""
    import numpy as np
    from xdsl.interpreter import Interpreter

    from nscc.report import spike_report
    from nscc.semantics.interpreter import run

    if not spiking:
        return [run(module, weights, f)[output] for f in feeds], {}
    captured: list = []

    class Returned(Interpreter.Listener):
        def will_interpret_op(self, op, args) -> None:
            parent = op.parent_op()
            if op.name == "func.return" and getattr(parent, "sym_name", None) is not None and parent.sym_name.data == "main":
                captured.append(np.asarray(args[0]))

    report = spike_report(module, weights, feeds, progress=False, listeners=(lambda i: Returned(),))
    keep = ("totals", "non_spiking_ops", "weight_bytes")
    return captured, {("report_totals" if k == "totals" else k): report[k] for k in keep}
