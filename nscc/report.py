"""The spike report: per layer the levels D, theta, firing rate, synaptic
operations against dense MACs, and estimated energy, with whole-model totals.

Everything is measured by running the compiled module on the calibration
inputs and counting, for each synapse, the events its input carries:
|n| per element for thermometer counts or trains, popcount(|n|) for bit
planes. A synaptic operation (SOP) is one addition of a weight, so a layer's
SOPs are its events times the non-zero weights each event reaches. Energy follows the
45 nm convention of the SNN literature (Horowitz, ISSCC 2014): a dense layer
costs MACs x E_MAC, a spiking one SOPs x E_AC.
"""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from collections.abc import Mapping

import numpy as np
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.interpreter import Interpreter
from xdsl.ir import Operation

from nscc.errors import printable
from nscc.ir import nn, snn
from nscc.ir.signature import LAYER_ATTR
from nscc.quant.plans import read_bits
from nscc.semantics.snn import HIDDEN

# pJ per operation, 45 nm
ENERGY = {"fp32": {"mac": 4.6, "ac": 0.9}, "int8": {"mac": 0.23, "ac": 0.03}}
CODING_ATTR = "nscc.spike_coding"


def _popcount(a: np.ndarray) -> np.ndarray:
    a = np.abs(a.astype(np.int64))
    out = np.zeros_like(a)
    while a.any():
        out += a & 1
        a >>= 1
    return out


class _Events(Interpreter.Listener):
    def __init__(self, coding: str, layers: dict, inputs: dict):
        self.coding, self.layers, self.inputs = coding, layers, inputs

    def will_interpret_op(self, op: Operation, args) -> None:
        if isinstance(op, snn.EncodeOp):  # the real values a spiking layer receives
            x = np.asarray(args[0], np.float64)
            rec = self.inputs.setdefault(op, {"min": np.inf, "max": -np.inf, "sample": []})
            rec["min"], rec["max"] = min(rec["min"], float(x.min())), max(rec["max"], float(x.max()))
            flat = x.reshape(-1)
            rec["sample"].append(flat[:: max(1, flat.size // 4096)])
            return
        if isinstance(op, snn.LinearAttentionOp | snn.LinearAttentionStepOp):
            self._attention(op, args)
            return
        if isinstance(op, snn.AttentionOp | snn.AttentionStepOp):
            self._softmax_attention(op, args)
            return
        if not isinstance(op, snn.SynapseOp | snn.ConvSynapseOp):
            return
        x, w = args[0], args[1]
        t = op.input.type
        if isinstance(t, snn.SpikesType):
            per_elem = np.abs(x).sum(axis=0)  # events per input element, over slots
            elems = x[0].size
        else:
            per_elem = _popcount(x) if self.coding == "bitplane" else np.abs(x.astype(np.int64))
            elems = x.size
        events = int(per_elem.sum())
        if isinstance(op, snn.SynapseOp):  # a spike costs one addition per non-zero weight in its row
            per_input = per_elem.reshape(-1, w.shape[0]).sum(axis=0)
            sops = int(per_input @ np.count_nonzero(w, axis=1))
            macs = elems * w.shape[1]
        else:
            from nscc.semantics.nn import conv_nd, prop

            ones = (w != 0).astype(np.float64)
            sops = int(
                round(
                    conv_nd(
                        per_elem.astype(np.float64), ones, prop(op, "strides"), prop(op, "pads"), prop(op, "dilations"), prop(op, "group")
                    ).sum()
                )
            )
            out_elems = math.prod(op.res.type.get_shape())
            macs = out_elems * math.prod(w.shape[1:])
        rec = self.layers[op]
        counts = x if not isinstance(t, snn.SpikesType) else None
        if counts is not None:
            values, freq = np.unique(counts, return_counts=True)
            for v, c in zip(values.tolist(), freq.tolist()):
                rec["histogram"][int(v)] = rec["histogram"].get(int(v), 0) + int(c)
        rec["events"] += events
        rec["elements"] += elems
        rec["sops"] += sops
        rec["macs"] += macs
        rec["nonzero"] += int(np.count_nonzero(per_elem))

    def _attention(self, op, args) -> None:
        """Linear attention on counts: each spike of k adds a v row to the state (and 1 to
        the normaliser), each spike of q adds a state row to the output; a decay adds a
        shift-and-subtract per state element and token. Dense: 2 dk dv MACs per token."""
        q, k = (np.abs(a.astype(np.int64)) for a in args[:2])
        if self.coding == "bitplane":
            q, k = _popcount(q), _popcount(k)
        dv = args[2].shape[-1]
        n, dk = q.shape[-2], q.shape[-1]
        heads = int(np.prod(q.shape[:-2]))
        rec = self.layers[op]
        rec["events"] += int(q.sum() + k.sum())
        rec["elements"] += q.size + k.size
        rec["nonzero"] += int(np.count_nonzero(q) + np.count_nonzero(k))
        rec["sops"] += int(k.sum() * (dv + 1) + q.sum() * (dv + 1)) + (heads * n * dk * (dv + 1) if op.decay_shift.value.data else 0)
        rec["macs"] += 2 * heads * n * dk * dv
        for a in (args[0], args[1]):
            values, freq = np.unique(a, return_counts=True)
            for v, c in zip(values.tolist(), freq.tolist()):
                rec["histogram"][int(v)] = rec["histogram"].get(int(v), 0) + int(c)


    def _softmax_attention(self, op, args) -> None:
        """Spiking softmax attention: each spike of q adds a key's count for every key the query
        sees, each spike of v adds that key's probability for every query that sees it. Dense:
        dk + dv MACs per visible (query, key) pair."""
        q, k, v = args[:3]
        h, g = q.shape[-3], k.shape[-3]
        if isinstance(op, snn.AttentionStepOp):
            p = int(np.asarray(args[5]).reshape(-1)[0])
            k, v = args[3].copy(), args[4].copy()
            k[..., p, :], v[..., p, :] = args[1][..., 0, :], args[2][..., 0, :]
            visible = (np.arange(k.shape[-2]) <= p)[None, :]
        else:
            n, t = q.shape[-2], k.shape[-2]
            visible = np.tril(np.ones((n, t), bool)) if op.causal is not None else np.ones((n, t), bool)
            if op.mask is not None:
                visible = visible & (np.asarray(args[3]) > HIDDEN)
        visible = np.broadcast_to(visible, (*q.shape[:-1], k.shape[-2]))
        qa, va = (np.abs(a.astype(np.int64)) for a in (q, v))
        if self.coding == "bitplane":
            qa, va = _popcount(qa), _popcount(va)
        per_key = np.repeat(va.sum(axis=-1), h // g, axis=-2)  # spikes of each key's value, per query head
        rec = self.layers[op]
        rec["sops"] += int((qa.sum(axis=-1) * visible.sum(axis=-1)).sum() + (per_key * visible.sum(axis=-2)).sum())
        rec["macs"] += int(visible.sum()) * (q.shape[-1] + v.shape[-1])
        rec["events"] += int(qa.sum() + va.sum())
        rec["elements"] += q.size + v.size
        rec["nonzero"] += int(np.count_nonzero(qa) + np.count_nonzero(va))


def spike_report(module: ModuleOp, weights, batches, progress: bool = True, listeners: tuple = (), desc: str = "measuring spikes") -> dict:
    """Runs the module on `batches` and measures every spiking layer; `listeners(i)`
    are called with the batch index and give more Interpreter listeners for that run
    (the analysis records spike trains in the same pass)."""
    from nscc.progress import progress_bar
    from nscc.semantics.interpreter import run

    chosen = module.attributes.get(CODING_ATTR)
    coding = chosen.data if isinstance(chosen, StringAttr) else "thermometer"
    synapses = [
        op
        for op in module.walk()
        if isinstance(op, snn.SynapseOp | snn.ConvSynapseOp | snn.LinearAttentionOp | snn.LinearAttentionStepOp | snn.AttentionOp | snn.AttentionStepOp)
    ]
    layers = {op: {"events": 0, "elements": 0, "sops": 0, "macs": 0, "nonzero": 0, "histogram": {}} for op in synapses}
    inputs: dict = {}
    for i, feed in enumerate(progress_bar(batches, desc, enabled=progress)):
        run(module, weights, feed, listeners=(_Events(coding, layers, inputs), *(make(i) for make in listeners)))
    rows = []
    for op in synapses:
        rec = layers[op]
        enc = _encoder(op)
        ct = enc.res.type if enc is not None else _counts_type(op)
        theta = weights[enc.theta.owner.sym.data] if enc is not None and isinstance(enc.theta.owner, nn.WeightOp) else None
        name = op.attributes.get(LAYER_ATTR)
        rows.append(
            {
                "layer": name.data if isinstance(name, StringAttr) else op.name,
                "op": op.name,
                "levels": ct.levels.data if ct else None,
                "signed": bool(ct.signed.data) if ct else None,
                "theta": None
                if theta is None
                else (float(theta.reshape(-1)[0]) if theta.size == 1 else {"min": float(theta.min()), "max": float(theta.max())}),
                "weight_bits": _weight_bits(op),
                "weight_sparsity": _sparsity(op, weights),
                "firing_rate": rec["events"] / rec["elements"] if rec["elements"] else 0.0,
                "active_fraction": rec["nonzero"] / rec["elements"] if rec["elements"] else 0.0,
                "sops": rec["sops"],
                "dense_macs": rec["macs"],
                "energy_pj": {k: {"dense": rec["macs"] * e["mac"], "spiking": rec["sops"] * e["ac"]} for k, e in ENERGY.items()},
                "count_histogram": dict(sorted(rec["histogram"].items())),
                "input": _input_stats(inputs.get(enc)),
            }
        )
    islands = Counter(op.name for op in module.walk() if op.name.startswith("nn.") and op.name != "nn.weight")
    spiking_weights = {op.weight for op in synapses if hasattr(op, "weight")}
    elements = [math.prod(w.type.get_shape()) for w in spiking_weights]
    packed = sum(_stored_bytes(w, weights) for w in spiking_weights)
    packed += sum(_stored_bytes(op.group_scale, weights) for op in synapses if getattr(op, "group_scale", None) is not None)
    tot_sops = sum(r["sops"] for r in rows)
    tot_macs = sum(r["dense_macs"] for r in rows)
    return {
        "coding": coding,
        "batches": len(batches),
        "energy_convention": "45 nm, Horowitz ISSCC 2014: fp32 MAC 4.6 pJ / AC 0.9 pJ; int8 MAC 0.23 pJ / AC 0.03 pJ; per inference batch",
        "layers": rows,
        "totals": {
            "sops": tot_sops,
            "dense_macs": tot_macs,
            "sops_per_mac": tot_sops / tot_macs if tot_macs else 0.0,
            "mean_firing_rate": (sum(r["firing_rate"] * r["dense_macs"] for r in rows) / tot_macs) if tot_macs else 0.0,
            "energy_pj": {k: {"dense": tot_macs * e["mac"], "spiking": tot_sops * e["ac"]} for k, e in ENERGY.items()},
        },
        "non_spiking_ops": dict(sorted(islands.items())),
        "weight_bytes": {
            "packed": packed,
            "fp16": 2 * sum(elements),
            "fp32": 4 * sum(elements),
            "fp16_over_packed": 2 * sum(elements) / packed if packed else 0.0,
        },
    }


def _weight_bits(op: Operation) -> float | None:
    if not hasattr(op, "weight"):
        return None
    bits = read_bits(op)  # 1.58 for ternary, where spike-conversion said so
    return bits if bits is not None else float(op.weight.type.element_type.width.data)


def _sparsity(op: Operation, weights) -> float | None:
    w = op.weight.owner if hasattr(op, "weight") else None
    if not isinstance(w, nn.WeightOp):
        return None
    a = weights[w.sym.data]
    return 1.0 - np.count_nonzero(a) / max(a.size, 1)


def _stored_bytes(value, weights) -> int:
    """Bytes of a weight in the packed weight file (dense, ternary or bitmask form, the smallest)."""
    from nscc.ir.weights import packed_size

    bits = value.type.element_type.width.data
    owner = value.owner
    if isinstance(owner, nn.WeightOp) and 1 < bits < 8:
        return packed_size(weights[owner.sym.data], bits)
    return (math.prod(value.type.get_shape()) * bits + 7) // 8


def _input_stats(rec: dict | None) -> dict | None:
    """min, max, percentiles and a histogram of what the layer's encoder received."""
    if rec is None:
        return None
    x = np.concatenate(rec["sample"])
    counts, edges = np.histogram(x, bins=32)
    return {
        "min": rec["min"],
        "max": rec["max"],
        "abs_p99": float(np.percentile(np.abs(x), 99)),
        "abs_p99.9": float(np.percentile(np.abs(x), 99.9)),
        "histogram": {"counts": counts.tolist(), "edges": [float(e) for e in edges]},
    }


def _counts_type(op: Operation) -> snn.CountsType | None:
    """The counts a layer reads when no encoder made them (a requant did)."""
    v = op.operands[0]
    if isinstance(v.owner, snn.ExpandOp):
        v = v.owner.input
    return v.type if isinstance(v.type, snn.CountsType) else None


def _encoder(op: Operation) -> snn.EncodeOp | None:
    v = op.operands[0]
    while v is not None:
        owner = v.owner
        if isinstance(owner, snn.EncodeOp):
            return owner
        if isinstance(owner, snn.ExpandOp):
            v = owner.input
            continue
        return None
    return None


def _per_batch(x: float, batches: int) -> float:
    return x / max(batches, 1)


def print_table(report: Mapping, stream=None) -> None:
    stream = stream or sys.stdout  # looked up at call time: tests and callers may swap it
    n = report["batches"]
    stream.write(f"spiking layers (coding {report['coding']}; per inference, mean over {n} calibration batches)\n")
    head = f"{'layer':32} {'D':>4} {'theta':>10} {'rate':>6} {'SOPs':>12} {'dense MACs':>12} {'SOP/MAC':>8} {'E fp32 (uJ)':>14}"
    stream.write(head + "\n" + "-" * len(head) + "\n")
    for r in report["layers"]:
        th = r["theta"]
        ths = "-" if th is None else (f"{th:.4g}" if isinstance(th, float) else f"{th['min']:.2g}..{th['max']:.2g}")
        d = d_notation(r["levels"], r["signed"])
        e = r["energy_pj"]["fp32"]
        stream.write(
            f"{printable(r['layer'], 32):32} {d:>4} {ths:>10} {r['firing_rate']:6.3f} {_per_batch(r['sops'], n):12.4g} "
            f"{_per_batch(r['dense_macs'], n):12.4g} {r['sops'] / max(r['dense_macs'], 1):8.3f} "
            f"{_per_batch(e['spiking'], n) / 1e6:6.3g} / {_per_batch(e['dense'], n) / 1e6:<6.3g}\n"
        )
    t = report["totals"]
    e32, e8 = t["energy_pj"]["fp32"], t["energy_pj"]["int8"]
    stream.write(
        f"total: {_per_batch(t['sops'], n):.4g} SOPs vs {_per_batch(t['dense_macs'], n):.4g} dense MACs ({t['sops_per_mac']:.3f} SOP/MAC); "
        f"energy fp32 {_per_batch(e32['spiking'], n) / 1e6:.4g} uJ vs {_per_batch(e32['dense'], n) / 1e6:.4g} uJ dense "
        f"({e32['dense'] / max(e32['spiking'], 1e-30):.1f}x), int8 {_per_batch(e8['spiking'], n) / 1e6:.4g} vs {_per_batch(e8['dense'], n) / 1e6:.4g} uJ\n"
    )
    wb = report["weight_bytes"]
    if wb["packed"]:
        stream.write(
            f"spiking-layer weights: {wb['packed']} bytes packed vs {wb['fp16']} in fp16 ({wb['fp16_over_packed']:.1f}x smaller)\n"
        )
    islands = ", ".join(f"{k} x{v}" for k, v in report["non_spiking_ops"].items())
    stream.write(f"non-spiking ops: {islands or 'none'}\n")
    stream.write(LEGEND)


def d_notation(levels: int, signed: bool) -> str:
    """Spike levels as every table shows them: 15, or ±15 for signed counts."""
    return f"{'±' if signed else ''}{levels}"


LEGEND = (
    "legend: D spike levels per window (±D: signed counts); theta the encoder's threshold (min..max over channels; "
    "'-' where the layer reads counts an earlier layer encoded); rate spikes per neuron and slot; "
    "SOPs synaptic operations (a spike times a non-zero weight); E fp32 estimated energy at fp32, spiking layer / the same layer dense\n"
)


def write_json(report: Mapping, path: str) -> None:
    from nscc.errors import NsccError

    try:
        with open(path, "w") as f:
            json.dump(report, f, indent=2)
    except OSError as e:
        raise NsccError(f"{path}: cannot write the report ({e.strerror})", "choose a writable --report path") from None
