"""`nscc analyze`: what a spiking model's neurons do, measured on data.

Runs the compiled spiking model on the given inputs once (with the spike
report's counters in the same pass) and records, for every synaptic layer,
the spike counts its input neurons emit. A neuron is one input channel of a
layer (one element of the encoder's last axis); a step is one token (or
pixel) of one sample. Per layer it gives firing rates, the entropy of the
count distribution against its maximum log2(D + 1), the entropy rate of the
binary trains (block entropies and Lempel-Ziv), and with labels the
normalized mutual information between the stimulus label and the responses,
next to its chance level (labels shuffled between samples). Energy and
memory come from the spike report. `write` renders plots, report.html and
analysis.json.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fnmatch import fnmatch

import numpy as np
from xdsl.dialects.builtin import ModuleOp, StringAttr
from xdsl.interpreter import Interpreter

from nscc.analysis import metrics
from nscc.errors import NsccError
from nscc.ir import snn
from nscc.ir.signature import LAYER_ATTR

CODING_ATTR = "nscc.spike_coding"


@dataclass
class LayerRecord:
    name: str
    levels: int
    signed: bool
    neurons: int
    sample: np.ndarray  # indices of the neurons kept for trains and NMI
    hist: np.ndarray | None = None
    abs_sum: np.ndarray | None = None
    steps: int = 0
    kept: list = field(default_factory=list)  # per batch: [batch, steps, kept neurons] counts


class _Recorder(Interpreter.Listener):
    def __init__(self, layers: dict, tokens: dict):
        self.layers, self.tokens = layers, tokens

    def will_interpret_op(self, op, args) -> None:
        rec = self.layers.get(op)
        if rec is None:
            return
        x = np.asarray(args[0])
        t = op.operands[0].type
        if isinstance(t, snn.SpikesType):  # binary trains: back to the counts they spell
            w = np.array(t.slot_weights(), np.int64).reshape((-1,) + (1,) * (x.ndim - 1))
            x = (x.astype(np.int64) * w).sum(axis=0)
        if isinstance(op, snn.ConvSynapseOp):  # NCHW: neurons are channels, steps are pixels
            x = np.moveaxis(x, 1, -1)
        b = x.shape[0]
        c = x.reshape(b, -1, x.shape[-1]).astype(np.int16)
        flat = c.reshape(-1, c.shape[-1])
        h = metrics.count_histogram(flat, rec.levels)
        rec.hist = h if rec.hist is None else rec.hist + h
        s = np.abs(flat.astype(np.int64)).sum(axis=0)
        rec.abs_sum = s if rec.abs_sum is None else rec.abs_sum + s
        rec.steps += len(flat)
        rec.kept.append(c[:, :, rec.sample])


def analyze(
    module: ModuleOp, weights, batches: list, labels: np.ndarray | None = None, layers: tuple[str, ...] = (), neurons: int = 256
) -> dict:
    """Measures every synaptic layer (or those matching `layers`) on `batches`; `labels`
    gives one stimulus label per sample (in the order of the batches' rows)."""
    from nscc.report import spike_report

    chosen = module.attributes.get(CODING_ATTR)
    coding = chosen.data if isinstance(chosen, StringAttr) else "thermometer"
    records: dict = {}
    for op in module.walk():
        if not isinstance(op, snn.SynapseOp | snn.ConvSynapseOp):
            continue
        name = op.attributes.get(LAYER_ATTR)
        name = name.data if isinstance(name, StringAttr) else f"{op.name}#{len(records)}"
        if layers and not any(fnmatch(name, pat) for pat in layers):
            continue
        t = op.operands[0].type
        if isinstance(t, snn.SpikesType):
            levels, signed = sum(t.slot_weights()), bool(t.signed.data)
        else:
            levels, signed = t.levels.data, bool(t.signed.data)
        n = t.get_shape()[1 if isinstance(op, snn.ConvSynapseOp) and not isinstance(t, snn.SpikesType) else -1]
        if isinstance(op, snn.ConvSynapseOp) and isinstance(t, snn.SpikesType):
            n = t.get_shape()[2]
        sample = np.unique(np.linspace(0, n - 1, min(n, neurons)).astype(np.int64))
        records[op] = LayerRecord(name, levels, signed, n, sample)
    if not records:
        raise NsccError(
            "analyze: the model has no spiking layers" + (" matching --layers" if layers else ""),
            "compile it with -p spike-conversion (or widen --layers)",
        )
    report = spike_report(module, weights, batches, listeners=(lambda i: _Recorder(records, {}),), desc="recording spikes")
    batch = next(iter(batches[0].values())).shape[0] if batches else 0
    n_samples = batch * len(batches)
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        if len(labels) < 1:
            raise NsccError("analyze: --labels is empty", "give one label per calibration sample")
        labels = labels[np.arange(n_samples) % len(labels)]  # the batches wrap around the samples the same way
    by_name = {r["layer"]: r for r in report["layers"]}
    out_layers = []
    for rec in records.values():
        kept = np.concatenate(rec.kept)  # [samples, steps, kept]
        s, t, k = kept.shape
        trains = _spell(kept, rec.levels, coding)  # [samples * kept, steps * slots]
        row = {
            "layer": rec.name,
            "levels": rec.levels,
            "signed": rec.signed,
            "neurons": rec.neurons,
            "steps": rec.steps,
            "firing_rate": float(rec.abs_sum.sum() / max(rec.steps * rec.neurons, 1)),
            "firing_rate_per_neuron": (rec.abs_sum / max(rec.steps, 1)).tolist(),
            "entropy_bits": float(metrics.count_entropy(rec.hist).mean()),
            "entropy_per_neuron": metrics.count_entropy(rec.hist).tolist(),
            "entropy_max_bits": math.log2((2 if rec.signed else 1) * rec.levels + 1),
            "layer_entropy_bits": float(metrics.count_entropy(rec.hist.sum(axis=0))),
            "entropy_rate_bits_per_slot": metrics.entropy_rate(trains),
            "lempel_ziv": float(np.mean([metrics.lempel_ziv(tr) for tr in trains[:: max(1, len(trains) // 16)]])),
            "count_histogram": {str(v - rec.levels): int(c) for v, c in enumerate(rec.hist.sum(axis=0)) if c},
            "spikes": {
                k: v
                for k, v in by_name.get(rec.name, {}).items()
                if k in ("sops", "dense_macs", "energy_pj", "weight_bits", "weight_sparsity", "theta")
            },
        }
        if labels is not None:
            x = np.repeat(labels[:s], t)
            y = kept.reshape(s * t, k)
            nmi = metrics.nmi(x, y)
            chance = metrics.nmi_chance(labels[:s], y, repeat=t)
            row.update({"nmi": float(nmi.mean()), "nmi_max": float(nmi.max()), "nmi_chance": chance, "nmi_per_neuron": nmi.tolist()})
        out_layers.append(row)
    result = {
        "coding": coding,
        "samples": n_samples,
        "labels": None if labels is None else {str(v): int(c) for v, c in zip(*np.unique(labels, return_counts=True))},
        "layers": out_layers,
        "totals": report["totals"],
        "energy_convention": report["energy_convention"],
        "weight_bytes": report["weight_bytes"],
        "raster": {r.name: np.concatenate(r.kept)[0, :, : min(64, len(r.sample))].tolist() for r in records.values()},
    }
    return result


def _spell(kept: np.ndarray, levels: int, coding: str) -> np.ndarray:
    """Counts [samples, steps, neurons] as binary trains [samples * neurons, steps * slots]."""
    mag = np.abs(kept.astype(np.int64))
    if coding == "bitplane":
        slots = np.arange(max(1, int(levels).bit_length()))
        fired = (mag[..., None] >> slots) & 1
    else:
        slots = np.arange(levels)
        fired = mag[..., None] >= slots + 1
    s, t, k, d = fired.shape
    return fired.transpose(0, 2, 1, 3).reshape(s * k, t * d).astype(np.uint8)
