"""Linear attention on a pretrained LLM, naive and with attention transfer (issue 18).

SmolLM2-135M-Instruct (30 layers), the text and windows of `pretrained_llm.py`
(calibration and evaluation windows from disjoint topics). For each fraction of
layers that keep softmax attention (0, 1/8, 1/4, 1/2 of them, rounded) it
compiles `raise-attention,linear-attention{...}` five ways:

- naive: `feature=relu`, the untrained rewrite (the layers kept softmax are
  the ones whose relu form errs most);
- transfer: the default, Hedgehog feature maps fitted per layer on the
  calibration windows;
- distilled: transfer, then 100 steps of end-to-end distillation;
- window, window-distilled: the same as sliding-window hybrids
  (`window=16`, 4 sinks; `--window`);

first with everything else float, then (`--spiking`) inside the default integer
pipeline at D=15. For each point it prints perplexity on the evaluation windows
against float, top-1 agreement with float, the decoding state at 2,048
positions that the pass reports (against the full KV cache), and the
conversion time (load + fit + rewrite; the fit dominates).

Each point runs in a fresh worker process of `pretrained_llm.py`. Writes
benchmarks/out/linear_attention.json and linear_attention.png.

Measured (64 calibration, 16 evaluation windows, float 23.43; float attention
elsewhere): naive all-linear 2,485 (106x), with attention transfer 56.4 (2.41x,
conversion with the fit 323 s on 2 cores); transfer with 1/8 and 1/4 of the
layers softmax 43.6 and 37.6 (chosen by local error; the pass now chooses by
how far the model's output moves, which took naive relu at 1/2 from 1,902 to
104). Distilled (100 steps, 200 s of the conversion): all-linear 40.65 (1.73x),
an eighth softmax 33.94 (1.45x; transfer alone 39.59 with the output probe),
a quarter 28.52 (1.22x), half 25.19 (1.08x; transfer alone 26.54). Sliding-window
hybrids (window 16, 4 sinks, the keys' maps per key-value head): no softmax layer
27.47 (1.17x), a quarter 24.65 (+5.2%); distilled 26.49 (1.13x) and 23.78 (+1.5%). Decoding state at 2,048 positions: 17.1 MiB all-linear (int64 S
and z per query head), 6.15 MiB with windows (S and z per key-value head), against
22.5 MiB of spiking KV cache. Spiking at D=15 elsewhere (--spiking): all-linear
188.4 (8.0x) after transfer; window hybrids 30.34 (1.29x), a quarter softmax 26.88
(1.15x). A full run of all 12 points takes about 1.5 hours; runs of a few points
(--only, --fractions) add up in the JSON.

    pip install -e '.[bench]'
    python benchmarks/linear_attention.py                 # 16 evaluation, 64 calibration windows; float elsewhere
    python benchmarks/linear_attention.py --spiking       # spiking at D=15 elsewhere
    python benchmarks/linear_attention.py --only distilled --fractions 0 0.25
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import pretrained_llm as P  # noqa: E402

LAYERS = 30
FRACTIONS = (0.0, 0.125, 0.25, 0.5)
_STATE = re.compile(r"decoding state ([\d.]+ [KM]iB) at (\d+) positions, against ([\d.]+ [KM]iB)")


KINDS = ("naive", "transfer", "distilled", "window", "window-distilled")


def pipelines(spiking: bool, fractions=FRACTIONS, transfer_options: str = "", distill_steps: int = 100, window: int = 16) -> list[tuple[str, str, float]]:
    out = []
    distill = f"distill-steps={distill_steps} "
    hybrid = f"{transfer_options}window={window} "
    for frac in fractions:
        k = round(LAYERS * frac)
        kinds = (("naive", "feature=relu "), ("transfer", transfer_options), ("distilled", transfer_options + distill),
                 ("window", hybrid), ("window-distilled", hybrid + distill))  # fmt: skip
        for name, opts in kinds:
            la = f"raise-attention,linear-attention{{{opts}softmax-layers={k} measure=false}}"
            if spiking:
                la = P._default("levels=15").replace("raise-attention,", la + ",", 1)
            out.append((name, la, frac))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--windows", type=int, default=16, help="evaluation windows")
    ap.add_argument("--calib-windows", type=int, default=64, help="calibration windows (the maps' fit improves with more text)")
    ap.add_argument("--spiking", action="store_true", help="inside the default integer pipeline at D=15")
    ap.add_argument("--only", choices=KINDS, nargs="+", help="the kinds of points to run (default: all)")
    ap.add_argument("--distill-steps", type=int, default=100, help="steps of the distilled points")
    ap.add_argument("--window", type=int, default=16, help="softmax keys beside the linear state at the window points (and 4 sinks)")
    ap.add_argument("--fractions", type=float, nargs="+", default=FRACTIONS, help="fractions of softmax layers")
    ap.add_argument("--transfer-options", default="", help="linear-attention options of the transfer points, e.g. 'feature-dim=128 '")
    a = ap.parse_args()
    P._check_deps()
    n = a.windows
    model, calibf, evalf, reff, ref = P.held_out_files(n, calib_n=a.calib_windows)
    print(f"{P.MODEL}: float perplexity {ref['ppl']:.2f} on {n} evaluation windows; {a.calib_windows} calibration windows", flush=True)
    rows = []
    for name, pipe, frac in pipelines(a.spiking, a.fractions, a.transfer_options, a.distill_steps, a.window):
        if a.only and name not in a.only:
            continue
        out = os.path.join(P.CACHE, "linear_attention_result.json")
        cmd = [sys.executable, os.path.join(HERE, "pretrained_llm.py"), "--worker", model, calibf, pipe, evalf, reff, out]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        sys.stderr.write("".join(line + "\n" for line in proc.stderr.splitlines() if "softmax (" in line or "distillation" in line or "error" in line.lower()))
        if proc.returncode != 0:
            print(f"  {name} {frac}: FAILED\n{proc.stderr[-2000:]}", flush=True)
            continue
        with open(out) as f:
            r = json.load(f)
        m = _STATE.search(proc.stderr)
        r.update(kind=name, softmax_fraction=frac, window=a.window if name.startswith("window") else 0, state=m.group(1) if m else "?", kv_cache=m.group(3) if m else "?")
        rows.append(r)
        print(f"  {name:9s} softmax {frac:5.3f}: perplexity {r['ppl']:10.2f} ({r['ppl'] / ref['ppl']:7.2f}x float), top-1 "
              f"{100 * r['agreement']:5.1f}%, state {r['state']} at 2048 (KV cache {r['kv_cache']}), "
              f"conversion {r['convert_seconds']:.0f} s", flush=True)  # fmt: skip
    summary = {"model": P.MODEL, "windows": n, "calib_windows": a.calib_windows, "spiking": a.spiking, "float_ppl": ref["ppl"], "results": rows}
    os.makedirs(P.OUT, exist_ok=True)
    stem = "linear_attention_spiking" if a.spiking else "linear_attention"
    summary["results"] = _merged(os.path.join(P.OUT, f"{stem}.json"), summary)
    with open(os.path.join(P.OUT, f"{stem}.json"), "w") as f:
        json.dump(summary, f, indent=2)
    _plot(summary, os.path.join(P.OUT, f"{stem}.png"))


def _merged(path: str, new: dict) -> list[dict]:
    """The new points, and the earlier run's other points when it measured the same setting
    (so that runs of a few points with --only or --fractions add up to the whole curve)."""
    try:
        with open(path) as f:
            old = json.load(f)
    except (OSError, ValueError):
        return new["results"]
    if any(old.get(k) != new[k] for k in ("model", "windows", "calib_windows", "spiking")):
        return new["results"]
    done = {(r["kind"], r["softmax_fraction"]) for r in new["results"]}
    return [r for r in old["results"] if (r["kind"], r["softmax_fraction"]) not in done] + new["results"]


def _plot(s: dict, path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    for kind in KINDS:
        pts = sorted((r["softmax_fraction"], r["ppl"]) for r in s["results"] if r["kind"] == kind)
        if pts:
            ax.plot(*zip(*pts), marker="o", label=kind)
    ax.axhline(s["float_ppl"], color="gray", ls="--", label="float")
    ax.axhline(1.5 * s["float_ppl"], color="gray", ls=":", label="aims: 1.5x, 1.1x float")
    ax.axhline(1.1 * s["float_ppl"], color="gray", ls=":")
    ax.set(xlabel="fraction of layers with softmax attention", ylabel="perplexity", yscale="log",
           title=f"{s['model']}: linear attention{' (spiking, D=15)' if s['spiking'] else ''}")  # fmt: skip
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot: {path}")


if __name__ == "__main__":
    main()
