"""An analytical model of the generated kernel: cycles per call, tokens per
second, and resources against the XCVC1902, from the loops nscc emits.

The model (docs/targets.md gives it in full):
* synapse layer, per input row: the active-row scan (K cycles) runs beside
  the fetch and the accumulation under DATAFLOW, two words a cycle (one from
  each bank), so a layer costs M * max(K, active * WP, bytes / (2 x port
  bandwidth)) + depth cycles, with WP the words per row in each bank and
  `active` the rows holding a non-zero count (measured firing on the golden
  vectors, all rows where none was measured);
* every other op: `passes` pipelined sweeps over its elements at II=1, LANES
  elements a cycle where the loop is lane-parallel (`vector` in its entry);
  (linear attention: one row of S per cycle, the state in and out a word
  per cycle; an encoder's over the whole sequence, as softmax attention, a
  dot product per query and key, then a value column each; a feature map: H * S * d * f count-times-weight additions, then
  per position the softmax of its f logits and of their negation);
* the layers run one after the other; a call ends after the last;
* layers whose weights fit in URAM (in program order, 80% of it) are copied
  there once and cost no DDR traffic; the others stream from DDR.
Resources: lanes * LUT_PER_LANE LUTs per synapse accumulator, FF ~ LUT,
arenas and stream buffers mapped to BRAM36/URAM by their width and depth,
DSP58 for the 64-bit multiplies of the fixed-point ops, plus the m_axi
adapters. The constants are the assumptions printed in report.json; replace
them with a csynth report's figures to recalibrate.
"""

from __future__ import annotations

import math

from nscc.targets.vck190.hls import LANES

VC1902 = {"LUT": 899_840, "FF": 1_799_680, "DSP58": 1_968, "BRAM36": 967, "URAM": 463}
ASSUMPTIONS = {
    "clock_mhz": 300.0,
    "ddr_gb_s": 25.6,  # DDR4-3200 x64 on the VCK190: bank a (even words)
    "lpddr_gb_s": 25.6,  # LPDDR4 on the VCK190 (25-34 GB/s by its preset): bank b (odd words), state and I/O
    "port_efficiency": 0.7,  # long bursts on one 512-bit m_axi port
    "lut_per_lane": 8,  # count x weight product and adder per accumulator lane (Yosys bound ~7.5)
    "ff_per_lut": 1.0,
    "pipeline_depth": 12,  # cycles to fill a pipelined loop
    "axi_port_lut": 1500,
    "axi_port_bram36": 10,
    "dsp_per_fixed_op": 8,
    "lut_per_adder": 64,  # a 64-bit adder or subtractor (the fast Hadamard's sums and butterflies)
    "lut_per_attention_lane": 300,  # a row of S per cycle: two small x int64 products and adds per lane  # 64-bit multiplies in fixed-point LayerNorm, GELU, softmax, division
    "nsllm_tokens_per_s": 161.8,  # NSLLM's MatMul-free spiking LLM on the VCK190, 13.849 W
}


def bram36(width_bits: int, depth: int) -> int:
    """BRAM36 blocks for a width x depth memory: the best of the 36 Kb aspect ratios."""
    shapes = [(72, 512), (36, 1024), (18, 2048), (9, 4096), (4, 8192), (2, 16384), (1, 32768)]
    return min(math.ceil(width_bits / w) * math.ceil(depth / d) for w, d in shapes)


def arena_bram36(width_bits: int, depth: int) -> int:
    """BRAM36 blocks for an arena partitioned cyclically into LANES banks."""
    return LANES * bram36(width_bits, -(-depth // LANES)) if depth else 0


def uram(width_bits: int, depth: int) -> int:
    return math.ceil(width_bits / 72) * math.ceil(depth / 4096)


def estimate(kernel, active: dict[int, float] | None = None, assumptions: dict | None = None) -> dict:
    a = {**ASSUMPTIONS, **(assumptions or {})}
    clock = a["clock_mhz"] * 1e6
    bytes_per_cycle = min(64.0, a["ddr_gb_s"] * 1e9 * a["port_efficiency"] / clock)
    layers, total, weight_bytes, fetched_bytes = [], 0.0, 0, 0
    for i, s in enumerate(kernel.layers):
        frac = (active or {}).get(i, s.live_rows / s.k)
        rows = frac * s.k
        fetched = rows * (s.wa + s.wb) * 64  # two banks, a word from each per cycle
        on_chip = s.resident >= 0  # URAM costs no DDR traffic
        cycles = s.m * max(s.k, rows * s.wa, 0 if on_chip else fetched / (2 * bytes_per_cycle)) + a["pipeline_depth"]
        lanes = 1024 // s.container
        total += cycles
        weight_bytes += 0 if on_chip else s.m * fetched
        fetched_bytes += s.m * fetched
        layers.append(
            {
                "layer": s.name, "index": s.index, "k": s.k, "n": s.n, "rows": s.m, "bits": s.bits, "lanes": lanes, "words_per_row": s.wpr,
                "active_rows": round(rows, 1), "cycles": round(cycles), "bytes_read": round(s.m * fetched), "memory": "URAM (resident)" if on_chip else "DDR (streamed)",
            }
        )  # fmt: skip
    others, by_op = 0.0, {}
    for o in kernel.others:
        # Parameters read as words from the weight banks (`bytes`, over `banks` ports) are
        # traffic like the weights'.
        fetch = o.get("bytes", 0) / (o.get("banks", 1) * bytes_per_cycle)
        cycles = max(o["passes"] * math.ceil(o["elements"] / o.get("vector", 1)), fetch) + a["pipeline_depth"]
        weight_bytes += o.get("bytes", 0)
        fetched_bytes += o.get("bytes", 0)
        others += cycles
        row = by_op.setdefault(o["op"], {"count": 0, "cycles": 0})
        row["count"] += 1
        row["cycles"] += round(cycles)
    total += others
    state_bytes = kernel.state_words * 64
    total += 2 * max(kernel.state_words, state_bytes / bytes_per_cycle)  # linear-attention state in and out, a word per cycle
    seconds = total / clock
    # The synapse hardware is one accumulator array per layer shape (calls are sequential):
    # HLS shares a function instance between calls of the same template arguments.
    shapes = {(s.container, s.wa) for s in kernel.layers}
    lut = sum(1024 // c * a["lut_per_lane"] for c, _ in shapes)
    # An op kind's hardware is one instance, replicated per lane where its loop is lane-parallel.
    kinds: dict[str, int] = {}
    for o in kernel.others:
        kinds[o["op"]] = max(kinds.get(o["op"], 1), o.get("vector", 1))
    multiplying = ("snn.linear_attention", "snn.linear_attention_step", "snn.feature_map")
    dsp = a["dsp_per_fixed_op"] * sum(v for k, v in kinds.items() if k.startswith("snn.fixed") or k in multiplying)
    n_ports = 4 + len(kernel.inputs) + len(kernel.outputs) + (1 if kernel.state_words else 0)
    lut += n_ports * a["axi_port_lut"] + 2000 * sum(kinds.values())
    attention = {(o["dk"], o["dv"]) for o in kernel.others if "dv" in o}
    lut += sum(dv * a["lut_per_attention_lane"] for _, dv in attention)
    lut += sum(q * a["lut_per_attention_lane"] for q in {o["lanes"] for o in kernel.others if "lanes" in o})  # Hadamard columns
    lut += a["lut_per_adder"] * sum(dict(o["adders"] for o in kernel.others if "adders" in o).values())  # one fast Hadamard a shape
    ff = lut * a["ff_per_lut"]
    arena_bits = kernel.arena32 * 32 + kernel.arena64 * 64
    arenas = arena_bram36(32, kernel.arena32) + arena_bram36(64, kernel.arena64)
    bram = n_ports * a["axi_port_bram36"] + arenas + len(shapes) * 2 * 2 * bram36(512, 128)
    bram += sum(dv * bram36(64, dk) for dk, dv in attention)  # S partitioned by column
    res = [s for s in kernel.layers if s.resident >= 0]
    uram_blocks = uram(512, sum(s.k * s.wa for s in res)) + uram(512, sum(s.k * s.wb for s in res)) if res else 0  # two banks
    if bram > 0.6 * VC1902["BRAM36"]:  # big arenas go to URAM
        uram_blocks += LANES * (uram(32, -(-kernel.arena32 // LANES)) + uram(64, -(-kernel.arena64 // LANES)))
        bram -= arenas
    resources = {"LUT": round(lut), "FF": round(ff), "DSP58": dsp, "BRAM36": bram, "URAM": uram_blocks}
    # the bounds if every weight byte a call uses came from device memory at the full
    # bandwidth: of the DDR alone, and of DDR and LPDDR together (the two banks)
    bound_s = (fetched_bytes + 2 * state_bytes) / (a["ddr_gb_s"] * 1e9)
    bound2_s = (fetched_bytes + 2 * state_bytes) / ((a["ddr_gb_s"] + a["lpddr_gb_s"]) * 1e9)
    return {
        "assumptions": a,
        "cycles_per_call": round(total),
        "synapse_cycles": round(total - others),
        "latency_ms": seconds * 1e3,
        "calls_per_s": 1.0 / seconds if seconds else 0.0,
        "weight_bytes_per_call": int(fetched_bytes),
        "ddr_weight_bytes_per_call": int(weight_bytes),
        "state_bytes": int(state_bytes),
        "memory_bound_calls_per_s": 1.0 / bound_s if bound_s else 0.0,
        "two_bank_bound_calls_per_s": 1.0 / bound2_s if bound2_s else 0.0,
        "on_chip_arena_bytes": arena_bits // 8,
        "resources": resources,
        "capacity": VC1902,
        "utilisation": {k: resources[k] / VC1902[k] for k in VC1902},
        "fits": all(resources[k] <= VC1902[k] for k in VC1902),
        "layers": layers,
        "other_ops": dict(sorted(by_op.items(), key=lambda kv: -kv[1]["cycles"])),  # per op kind: how many, their cycles per call
    }


def plot(report: dict, path: str) -> None:
    """report.png: cycles per layer (resident or streamed) and the VC1902's resources in use."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    e = report["estimate"]
    layers = e["layers"]
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4), gridspec_kw={"width_ratios": [3, 1]})
    colors = ["tab:green" if lay["memory"].startswith("URAM") else "tab:blue" for lay in layers]
    ax.bar(range(len(layers)), [lay["cycles"] for lay in layers], color=colors)
    ax.set_xlabel("synapse layer (program order)")
    ax.set_ylabel("cycles per call")
    other = e["cycles_per_call"] - sum(lay["cycles"] for lay in layers)
    ax.set_title(f"{e['cycles_per_call']:,} cycles per call; other ops and state {other:,} (green: URAM, blue: DDR)", fontsize=9)
    names = list(e["utilisation"])
    bx.barh(names, [100 * e["utilisation"][k] for k in names], color="tab:gray")
    bx.set_xlim(0, 100)
    bx.set_xlabel("% of the XCVC1902")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
