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
