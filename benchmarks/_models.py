"""Benchmark models, exported once and cached under benchmarks/.cache/."""

from __future__ import annotations

import os
import re
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


LLAMA_1P5B = dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=24, num_attention_heads=32,
                  num_key_value_heads=8, vocab_size=32000)  # fmt: skip


def llama_1p5b(seq: int = 64) -> str:
    """A 1.57B-parameter Llama-architecture decoder (NSLLM's class): transformers'
    LlamaForCausalLM with LLAMA_1P5B's shape, dynamo export at opset 18, static shape,
    weights as external data (6.3 GB of float32).

    The weights are random ternary values with half of them zero, {-a, 0, +a} with
    a = sqrt(2 / fan-in): the class of weights NSLLM runs. transformers would first
    need the whole float model in memory, so the export is made with one decoder layer
    shared by all 24 (transformers' graph, one layer's weights), and the external data
    is then written tensor by tensor with each layer's own random values."""
    path = os.path.join(CACHE, f"llama_1p5b_s{seq}.onnx")
    if os.path.exists(path):
        return path
    import numpy as np
    import onnx
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM
    from transformers.models.llama.modeling_llama import LlamaDecoderLayer, LlamaRMSNorm, LlamaRotaryEmbedding

    os.makedirs(CACHE, exist_ok=True)
    cfg = LlamaConfig(**LLAMA_1P5B, max_position_embeddings=max(seq, 2048), tie_word_embeddings=False)
    cfg._attn_implementation = "eager"
    with torch.device("meta"):
        model = LlamaForCausalLM(cfg)
    layer = LlamaDecoderLayer(cfg, 0)
    model.model.layers = torch.nn.ModuleList([layer] * cfg.num_hidden_layers)
    model.model.embed_tokens = torch.nn.Embedding(cfg.vocab_size, cfg.hidden_size)
    model.model.norm = LlamaRMSNorm(cfg.hidden_size)
    model.model.rotary_emb = LlamaRotaryEmbedding(cfg)
    model.lm_head = torch.nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)
    model.eval()

    class Logits(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.m = model

        def forward(self, input_ids):
            return self.m(input_ids=input_ids, use_cache=False).logits

    tmp = path + ".shared.onnx"
    print(f"exporting a 1.5B Llama-architecture model to {path} (once; a few minutes)", file=sys.stderr)
    torch.onnx.export(Logits(), (torch.zeros((1, seq), dtype=torch.int64),), tmp, input_names=["input_ids"],
                      output_names=["logits"], opset_version=18, dynamo=True, external_data=True)  # fmt: skip
    del model, layer

    proto = onnx.load(tmp, load_external_data=False)
    rng = np.random.default_rng(0)
    # The shared layer's weights reach each layer through its own Transpose (or MatMul):
    # the k-th consumer, in the graph's order, is layer k, which gets a tensor of its own.
    # The exporter merged the layers' identical Transposes: one per layer again, in the
    # order of the MatMuls they feed.
    nodes = list(proto.graph.node)
    inits = {t.name for t in proto.graph.initializer}
    readers: dict[str, list] = {}
    for n in nodes:
        for i, x in enumerate(n.input):
            readers.setdefault(x, []).append((n, i))
    order = []
    for n in nodes:
        order.append(n)
        if n.op_type == "Transpose" and n.input[0] in inits and len(readers.get(n.output[0], [])) > 1:
            for k, (r, i) in enumerate(readers[n.output[0]][1:], 1):
                clone = onnx.NodeProto()
                clone.CopyFrom(n)
                clone.name, clone.output[0] = f"{n.name}_{k}", f"{n.output[0]}_{k}"
                r.input[i] = clone.output[0]
                order.append(clone)
    del proto.graph.node[:]
    proto.graph.node.extend(order)
    uses: dict[str, list] = {}
    for n in proto.graph.node:
        for i, x in enumerate(n.input):
            if (n.op_type, i) in (("MatMul", 1), ("Gather", 0), ("Transpose", 0)):
                uses.setdefault(x, []).append((n, i))
    weights = set()
    for t in list(proto.graph.initializer):
        if t.name not in uses or len(t.dims) != 2:
            continue
        weights.add(t.name)
        for k, (n, i) in enumerate(uses[t.name][1:], 1):
            copy = proto.graph.initializer.add()
            copy.CopyFrom(t)
            copy.name = re.sub(r"layers\.\d+\.", f"layers.{k}.", t.name) if "layers." in t.name else f"{t.name}.{k}"
            n.input[i] = copy.name
            weights.add(copy.name)
        if "layers." in t.name:
            uses[t.name][0][0].input[uses[t.name][0][1]] = t.name = re.sub(r"layers\.\d+\.", "layers.0.", t.name)
            weights.add(t.name)
    data_name = os.path.basename(path) + ".data"
    with open(os.path.join(CACHE, data_name + ".tmp"), "wb") as out:
        for t in proto.graph.initializer:
            if t.data_location != onnx.TensorProto.EXTERNAL:
                continue
            arr = onnx.numpy_helper.to_array(t, base_dir=CACHE)
            if t.name in weights and arr.ndim == 2:
                # MatMul weights are [fan-in, fan-out]; the embedding is [vocab, hidden].
                a = np.float32(0.02 * np.sqrt(2) if arr.shape[0] == cfg.vocab_size else np.sqrt(2 / arr.shape[0]))
                arr = np.array([0, 0, a, -a], np.float32)[rng.integers(0, 4, arr.shape, dtype=np.int8)]
            out.seek(-out.tell() % 4096, 1)
            offset = out.tell()
            out.write(np.ascontiguousarray(arr).tobytes())
            del t.external_data[:]
            for k, v in (("location", data_name), ("offset", str(offset)), ("length", str(arr.nbytes))):
                t.external_data.add(key=k, value=v)
    onnx.save(proto, path + ".tmp")
    os.replace(os.path.join(CACHE, data_name + ".tmp"), os.path.join(CACHE, data_name))
    os.replace(path + ".tmp", path)
    for f in os.listdir(CACHE):
        if f.startswith(os.path.basename(tmp)):
            os.remove(os.path.join(CACHE, f))
    return path
