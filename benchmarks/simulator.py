"""The C++/OpenMP simulator against onnxruntime, in one process, on the same cores (issue 6).

* example LM (examples/char_lm, softmax attention, D = 15, 8-bit weights):
  whole-sequence tokens per second, simulator vs onnxruntime on the float model;
* linear-attention example LM: token-by-token decoding, the simulator's
  constant-state decoder vs onnxruntime recomputing the prefix (the export has
  no KV cache);
* a GPT-2-small-sized spiking model (4-bit weights, D = 15; 12 layers, hidden
  768, vocab 50257, random weights): whole sequence of 128 tokens, and decoding
  with its linear-attention variant;
* the memory-bandwidth bound for decoding: packed weight bytes per token over
  a measured copy bandwidth, and how close the simulator comes;
* the simulator's peak memory against its weight file.

  python benchmarks/simulator.py [--skip-gpt2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "examples")]
EX = os.path.join(HERE, "..", "examples")
OUT = os.path.join(HERE, "out")


def ort_session(path: str):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = os.cpu_count() or 2
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def ort_time(sess, feed: dict, repeat: int = 5) -> float:
    sess.run(None, feed)
    best = 1e30
    for _ in range(repeat):
        t = time.perf_counter()
        sess.run(None, feed)
        best = min(best, time.perf_counter() - t)
    return best


def run_measured(args: list[str]) -> tuple[float, int]:
    """Runs a command; returns (wall seconds, its peak RSS in bytes).

    Measured by /usr/bin/time: the rusage of a child forked from this (large)
    Python process would count the parent's pages it held before exec."""
    t = time.perf_counter()
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        r = subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", rss.name, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        wall = time.perf_counter() - t
        if r.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {r.stderr[-500:]}")
        return wall, int(rss.read().split()[-1]) * 1024


def compile_project(ctx, module, source: str, where: str) -> str:
    from nscc.driver import atomic_output_dir
    from nscc.targets.cpp import build, emit

    project = os.path.join(where, "project")
    atomic_output_dir(project, lambda d: emit(ctx, module, d, source))
    t = time.perf_counter()
    build(project)
    print(f"  (C++ build {time.perf_counter() - t:.1f} s)", file=sys.stderr)
    return project


def sim_whole(project: str, feed: dict, repeat: int = 5) -> tuple[float, int]:
    """Best wall time of one forward inside the simulator, and the peak RSS of the process."""
    from nscc.targets.cpp import MANIFEST_FILE, WEIGHTS_FILE, build

    exe = build(project)
    manifest = json.load(open(os.path.join(project, MANIFEST_FILE)))
    with tempfile.TemporaryDirectory() as tmp:
        args = [exe, os.path.join(project, WEIGHTS_FILE)]
        for i, spec in enumerate(manifest["inputs"]):
            np.save(os.path.join(tmp, f"in{i}.npy"), np.array(feed[spec["name"]], dtype=spec["dtype"], order="C"))
            args += ["--input", os.path.join(tmp, f"in{i}.npy")]
        for j in range(len(manifest["outputs"])):
            args += ["--output", os.path.join(tmp, f"out{j}.npy")]
        args += ["--counters", os.path.join(tmp, "c.json"), "--repeat", str(repeat)]
        _, rss = run_measured(args)
        return json.load(open(os.path.join(tmp, "c.json")))["seconds"], rss


def sim_decode(project: str, prompt: list[int], n: int) -> tuple[float, int]:
    """Seconds per generated token, and the peak RSS."""
    from nscc.targets.cpp import WEIGHTS_FILE, build

    exe = build(project)
    with tempfile.TemporaryDirectory() as tmp:
        np.save(os.path.join(tmp, "p.npy"), np.asarray(prompt, np.int64))
        args = [
            exe,
            os.path.join(project, WEIGHTS_FILE),
            "--generate",
            str(n),
            "--prompt-ids",
            os.path.join(tmp, "p.npy"),
            "--output",
            os.path.join(tmp, "o.npy"),
            "--counters",
            os.path.join(tmp, "c.json"),
        ]
        _, rss = run_measured(args)
        info = json.load(open(os.path.join(tmp, "c.json")))
        return info["generate_seconds"] / n, rss


def copy_bandwidth() -> float:
    """Bytes per second of a large memory copy (read + write counted once: what streaming weights costs)."""
    a = np.ones(64 << 20, np.float32)
    b = np.empty_like(a)
    best = 1e30
    for _ in range(5):
        t = time.perf_counter()
        np.copyto(b, a)
        best = min(best, time.perf_counter() - t)
    return a.nbytes / best


def synapse_bytes(project: str) -> int:
    """Packed bytes of the synapse weights: what one decoded token must read at least once."""
    size = 0
    with open(os.path.join(project, "model.cpp")) as f:
        src = f.read().split("struct StepModel")[0]
    import re

    for bits, k, n in re.findall(r"SynapseWeights\{W\.ptr<uint8_t>\(\d+\), (\d+), \d+, (\d+), (\d+),", src):
        size += (int(k) * int(n) * int(bits) + 7) // 8
    return size


def line(name: str, sim_s: float, ort_s: float, tokens: int) -> dict:
    r = {"case": name, "sim_tokens_per_s": tokens / sim_s, "ort_tokens_per_s": tokens / ort_s, "speedup": ort_s / sim_s}
    print(f"{name:58} sim {r['sim_tokens_per_s']:10.1f} tok/s   onnxruntime {r['ort_tokens_per_s']:10.1f} tok/s   x{r['speedup']:.2f}")
    return r


def char_lm(tmp: str) -> list[dict]:
    from nscc.driver import prepare

    lm = os.path.join(EX, "char_lm")
    ids = np.load(os.path.join(lm, "eval.npz"))["ids"][:8]
    ctx, module = prepare(os.path.join(lm, "model.onnx"), {}, os.path.join(lm, "calib.npz"), "spike-conversion")
    project = compile_project(ctx, module, os.path.join(lm, "model.onnx"), os.path.join(tmp, "lm"))
    sim_s, _ = sim_whole(project, {"ids": ids})
    ort_s = ort_time(ort_session(os.path.join(lm, "model.onnx")), {"ids": ids})
    rows = [line("char LM, whole sequence (8 x 64 tokens)", sim_s, ort_s, ids.size)]

    lin = os.path.join(lm, "linear")
    ctx, module = prepare(
        os.path.join(lin, "model.onnx"), {}, os.path.join(lin, "calib.npz"),
        "raise-attention,linear-attention{measure=false},spike-conversion,requant-fusion,integer-islands",
    )  # fmt: skip
    project = compile_project(ctx, module, os.path.join(lin, "model.onnx"), os.path.join(tmp, "lin"))
    per_token, _ = sim_decode(project, [5, 6, 7, 8], 50)
    sess = ort_session(os.path.join(lin, "model.onnx"))
    lin_ids = np.load(os.path.join(lin, "eval.npz"))["ids"][:8]
    ort_tok = ort_time(sess, {"ids": lin_ids})  # the static export recomputes the whole window for each new token
    rows.append(line("linear char LM, decoding (batch 8, 1 token per step)", per_token, ort_tok, 8))
    return rows


def gpt2(tmp: str) -> list[dict]:
    import torch
    import torch_models as M
    from _models import gpt2_small, token_batches

    from nscc.driver import apply_pipeline
    from nscc.frontend.importer import import_onnx

    seq = 128
    path = gpt2_small(seq)
    calib = token_batches(4, seq)
    (feed,) = token_batches(1, seq, seed=1)
    ctx, module = import_onnx(path)
    ctx.calibration = calib
    t = time.perf_counter()
    apply_pipeline(ctx, module, "spike-conversion{levels=15 weight-bits=4}")
    print(f"  (GPT-2-small spike conversion {time.perf_counter() - t:.1f} s)", file=sys.stderr)
    project = compile_project(ctx, module, path, os.path.join(tmp, "g"))
    sim_s, rss = sim_whole(project, feed, repeat=3)
    ort_s = ort_time(ort_session(path), feed, repeat=3)
    wbytes = os.path.getsize(os.path.join(project, "weights.bin"))
    rows = [line("GPT-2-small-sized, 4-bit D=15, whole sequence (128 tokens)", sim_s, ort_s, seq)]
    rows[-1].update({"peak_rss": rss, "weight_file_bytes": wbytes, "rss_over_weights": rss / wbytes})
    print(f"  peak memory {rss / 1e6:.0f} MB against a {wbytes / 1e6:.0f} MB weight file ({rss / wbytes:.2f}x; goal <= 1.2x)")
    del ctx, module

    # decoding: the same architecture with linear attention (random weights: only speed is measured)
    lin = os.path.join(tmp, "gpt2_linear.onnx")
    torch.manual_seed(0)
    M.export(
        M.GPT2(vocab=50257, d=768, layers=12, heads=12, ctx=seq, attention="linear"),
        (torch.zeros((1, seq), dtype=torch.int64),),
        lin,
        ["input_ids"],
        ["logits"],
    )
    ctx, module = import_onnx(lin)
    ctx.calibration = calib
    apply_pipeline(ctx, module, "raise-attention,linear-attention{measure=false},spike-conversion{levels=15 weight-bits=4}")
    project = compile_project(ctx, module, lin, os.path.join(tmp, "gl"))
    per_token, rss = sim_decode(project, [1, 2, 3, 4], 32)
    # onnxruntime without a KV cache: one forward of the prefix per token; at position 64 on average
    dyn = os.path.join(tmp, "gpt2_soft_dyn.onnx")
    torch.manual_seed(0)
    seq_dim = torch.export.Dim("seq", min=2, max=seq)
    M.export(
        M.GPT2(vocab=50257, d=768, layers=12, heads=12, ctx=seq),
        (torch.zeros((1, 64), dtype=torch.int64),),
        dyn,
        ["input_ids"],
        ["logits"],
        dynamic={"ids": {1: seq_dim}},
    )
    ort_tok = ort_time(ort_session(dyn), token_batches(1, 64, seed=2)[0], repeat=3)
    rows.append(line("GPT-2-small-sized, 4-bit D=15, decoding (position ~64)", per_token, ort_tok, 1))
    bw = copy_bandwidth()
    per_token_bytes = synapse_bytes(project)
    bound = per_token_bytes / bw
    print(
        f"  bandwidth bound: {per_token_bytes / 1e6:.1f} MB of packed synapse weights per token / {bw / 1e9:.1f} GB/s copy = {1e3 * bound:.2f} ms; "
        f"simulator {1e3 * per_token:.2f} ms ({bound / per_token:.0%} of the bound)"
    )
    rows[-1].update(
        {
            "bytes_per_token": per_token_bytes,
            "copy_bandwidth": bw,
            "bound_s": bound,
            "fraction_of_bound": bound / per_token,
            "peak_rss": rss,
        }
    )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skip-gpt2", action="store_true")
    a = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("NSCC_CACHE", os.path.join(tmp, "cache"))
        rows = char_lm(tmp)
        if not a.skip_gpt2:
            rows += gpt2(tmp)
    with open(os.path.join(OUT, "simulator.json"), "w") as f:
        json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
