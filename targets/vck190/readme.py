"""The package's README.md (templates/README.md.in): what was built, how to build and
check it, the estimates. It claims only what nscc did: `nscc compile` builds nothing."""

from __future__ import annotations

import json
import os

from nscc.targets import render
from nscc.targets.vck190.hls import WORD_BYTES, container_bits

TEMPLATE = os.path.join(os.path.dirname(__file__), "templates", "README.md.in")


def _weights(report: dict) -> str:
    """The packed weights against fp16, with the padding said: a small or narrow layer still
    takes a whole 512-bit word per row, and every layer starts on a 4 KiB boundary."""
    w, layers = report["weights"], report["estimate"]["layers"]
    packed, fp16 = w["packed_bytes"], w["fp16_bytes"]
    if not layers:
        return "The model has no synapse weights."
    rows = sum(lay["k"] * lay["words_per_row"] * WORD_BYTES for lay in layers)
    data = sum(lay["k"] * -(-lay["n"] * container_bits(lay["bits"]) // 8) for lay in layers)
    return (
        f"Weights are packed in 512-bit words: {packed:,} bytes, {100 * packed / fp16:.0f}% of fp16's {fp16:,} bytes;\n"
        f"{packed - data:,} of them are padding ({rows - data:,} filling rows out to whole words, {packed - rows:,} aligning layers to 4 KiB).\n"
        + (
            "All the weights live in URAM (copied there once, by a call with mode 1)."
            if w["resident_bytes"] == rows
            else "They stream from DDR on every call."
            if w["resident_bytes"] == 0
            else f"{w['resident_bytes']:,} bytes of rows live in URAM (copied there once, by a call with mode 1), the rest stream from DDR on every call."
        )
    )


def _other_ops(estimate: dict, most: int = 5) -> str:
    """The op kinds besides the synapses that cost the most cycles (report.json has them all)."""
    rows = list(estimate.get("other_ops", {}).items())
    text = ", ".join(f"{op} x{r['count']} {r['cycles']:,} cycles" for op, r in rows[:most])
    return (text + (f", and {len(rows) - most} more kinds" if len(rows) > most else "")) or "nothing"


def readme(report: dict) -> str:
    e, decoder = report["estimate"], report["decoder"]
    r, cap = e["resources"], e["capacity"]
    a = e["assumptions"]
    unit = "tokens/s" if decoder else "calls/s"
    return render(
        TEMPLATE,
        source=json.dumps(report["source"])[1:-1],
        part=report["part"],
        weights=_weights(report),
        calls="It decodes one token per call and keeps the linear-attention state in device memory between calls."
        if decoder
        else "One call runs one batch.",
        board_args=" --prompt-ids 1,2,3 --generate 32" if decoder else "",
        board_does="generates tokens, printing tokens per second"
        if decoder
        else "reports mismatches; `--input FILE` per input port runs your own data",
        clock_mhz=f"{a['clock_mhz']:.0f}",
        ddr_gb_s=a["ddr_gb_s"],
        port_efficiency=f"{a['port_efficiency']:.0%}",
        cycles=f"{e['cycles_per_call']:,}",
        latency_ms=f"{e['latency_ms']:.3f}",
        rate=f"{e.get('tokens_per_s', e['calls_per_s']):.1f}",
        unit=unit,
        memory_bound=f"{e.get('memory_bound_tokens_per_s', e['memory_bound_calls_per_s']):.1f}",
        two_bank_bound=f"{e.get('two_bank_bound_tokens_per_s', e['two_bank_bound_calls_per_s']):.1f}",
        other_ops=_other_ops(e),
        # NSLLM's figure is a decoder's: quoted for decoders only
        comparison=f"\nFor comparison, NSLLM's MatMul-free spiking LLM decodes {a['nsllm_tokens_per_s']} tokens/s on the VCK190."
        if decoder
        else "",
        resources="\n".join(f"| {k} | {r[k]:,} | {cap[k]:,} | {100 * r[k] / cap[k]:.1f}% |" for k in cap),
    )
