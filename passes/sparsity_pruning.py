"""Pass `sparsity-pruning`: zero weights and fewer spikes, each within a measured error.

Runs on the spiking IR, after `spike-conversion` (and before `requant-fusion`
and `binary-expand`), where weights are already integers: that is what makes
it quantization-assisted. A weight that quantized to zero is pruned for free
and counts toward the target; further weights are chosen within each output
column (`unstructured`) or as whole input rows (`rows`, structured: the input
channel's spikes then reach nothing through this layer). SparseGPT's
reconstruction (`obs_round`) zeroes them and moves the remaining integer
weights to make up for them, from the Gram matrix of the input counts;
Wanda's plain mask, |W[k, j]| * ||n_k||, is the fallback a layer keeps when
it leaves the output closer (the narrowest widths, where the updates clip).

Fewer spikes, first for free: each encoder's channels count from a resting
level r (synapses read n - r through an `snn.requant` of counts, the decode
bias gets r W s back), then by threshold tuning: an encoder's threshold
theta grows by a factor g and every synapse it feeds decodes with scale * g,
so the layer computes the same function on a coarser grid and emits about
1/g as many spikes.

Both choices are layer-wise and measured (the hierarchy of bit-allocation):
each candidate's change of the model's output on probe batches, or a
layer-local proxy scaled by one measurement, and a knapsack (`nscc.quant.knapsack`)
picks each layer's sparsity (zeros in all at least the target's) and each
encoder's gain (spikes at most `firing-rate` times those before, no layer's
relative output MSE above `max-error`).

Pruning and tuning shift each layer's mean output; that shift is measured
on the calibration sample and folded into the decode bias (bias correction).
Pruned weight matrices are stored in a bitmask form when that is smaller
(`nscc.ir.weights`); the C++ simulator skips pruned (all-zero) input rows,
and counts a synaptic operation only per non-zero weight.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from fnmatch import fnmatch

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import FloatAttr, IntegerType, ModuleOp, StringAttr, f64
from xdsl.ir import Operation, SSAValue
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)

from nscc.calibration import calibration_of, collect
from nscc.errors import NsccError
from nscc.ir import nn, snn
from nscc.ir.constants import new_weight
from nscc.ir.context import weights_of
from nscc.ir.signature import LAYER_ATTR
from nscc.ir.weights import WeightStore
from nscc.progress import progress_bar
from nscc.quant import knapsack
from nscc.quant.plans import read_bits
from nscc.quant.quantize import Hessian, gram_error, obs_round, q_range
from nscc.quant.sensitivity import Probe, metric_of
from nscc.semantics.snn import SNN_KERNELS, group_weighted

STRUCTURES = ("unstructured", "rows")
SPREADS = ("measured", "uniform")
SPREAD_STEPS = (-0.3, -0.2, -0.1, 0.0, 0.1, 0.2, 0.3)  # candidate sparsities around the target
SPARSITY_ATTR = "nscc.weight_sparsity"
GAINS = (1.0, 1.1, 1.2, 1.35, 1.5, 1.7, 2.0, 2.5, 3.0, 4.0)


@dataclass(eq=False)
class Consumer:
    syn: snn.SynapseOp
    dec: snn.DecodeOp
    name: str
    w: np.ndarray  # [K, N] integers as stored (a conv's OIHW)
    scale: np.ndarray
    bias: np.ndarray
    pruned: np.ndarray | None = None

    @property
    def conv(self) -> bool:
        return isinstance(self.syn, snn.ConvSynapseOp)

    def effective(self, w: np.ndarray) -> np.ndarray:
        """[K, N] integer weights as the synapse applies them (group multipliers in)."""
        if self.conv:
            return w.reshape(len(w), -1).T
        return group_weighted(w, self.gs) if self.gs is not None else w

    gs: np.ndarray | None = None


@dataclass(eq=False)
class Encoder:
    op: snn.EncodeOp
    theta: np.ndarray
    x: np.ndarray  # calibration rows x channels
    consumers: list[Consumer] = field(default_factory=list)
    gain: float = 1.0
    rest: np.ndarray | None = None  # per channel, subtracted from the counts (None: none)

    @property
    def elements(self) -> int:
        """Counts this encoder emits per inference."""
        return math.prod(self.op.res.type.get_shape())

    def counts(self, gain: float = 1.0) -> np.ndarray:
        t: snn.CountsType = self.op.res.type
        th = self.theta.reshape(-1) if self.theta.size > 1 else self.theta.reshape(())
        return np.clip(np.rint(self.x / (th * np.float32(gain))), t.lo, t.hi)

    @property
    def centerable(self) -> bool:
        """Whether a resting count can be taken off: not before a convolution, whose
        zero padding would then stand for the resting count instead of none."""
        return not any(c.conv for c in self.consumers)

    def spikes(self, n: np.ndarray, rest: np.ndarray | None) -> np.ndarray:
        return n if rest is None else n - rest


def resting_counts(n: np.ndarray) -> np.ndarray:
    """Per channel, the integer r to count spikes from: the fewest spikes |n - r| are at
    the median, but a channel that is mostly silent or mostly saturated has its median
    flip between the two on other text; the count nearest zero between the 40th and
    60th percentiles saves nearly as much and does not flip."""
    lo, hi = np.percentile(n, [40, 60], axis=0)
    return np.rint(np.clip(0.0, lo, hi))


def _predict(cands: list[dict]) -> None:
    """`predicted` for each candidate: measured where it was, else its layer-local proxy
    scaled by the ratio measured/proxy of the measured candidates (the hierarchy)."""
    done = [k for k in cands if "measured" in k]
    proxy = sum(k["proxy"] for k in done)
    alpha = sum(k["measured"] for k in done) / proxy if proxy > 0 else 0.0
    for k in cands:
        k["predicted"] = k["measured"] if "measured" in k else alpha * k["proxy"]


def _bits(syn) -> float:
    b = read_bits(syn)
    return 8.0 if b is None else b


def _channel_rows(c: Consumer, k: int) -> np.ndarray:
    """For each row of the [K, N] effective weight, the encoder channel it reads."""
    if not c.conv:
        return np.arange(k)
    m, cg, kh, kw = c.w.shape
    return np.repeat(np.arange(cg), kh * kw)  # group == 1 (checked)


def _rows(c: Consumer) -> int:
    """Input rows (tokens, or output pixels of a conv) one inference sends through the layer."""
    shape = c.syn.res.type.get_shape()
    return math.prod(shape) // shape[1 if c.conv else -1]


@dataclass(frozen=True)
class EncoderChoice:
    """An encoder's tuned threshold (None: unchanged) and resting counts (None: none)."""

    theta: np.ndarray | None
    rest: np.ndarray | None


@dataclass(frozen=True)
class SynapseChoice:
    """A synapse's pruned weights (None: unchanged), their sparsity, and its decode's new
    (scale, bias) (None: unchanged); `layer` names a bias the decode did not have."""

    weight: np.ndarray | None
    sparsity: float
    decode: tuple[np.ndarray, np.ndarray] | None
    layer: str


def _replace_weight(store: WeightStore, old: SSAValue, name: str, array: np.ndarray) -> tuple[nn.WeightOp, Operation]:
    """A new stored weight like `old` (its element type), and the op `old` came from,
    for the caller to erase once nothing reads it."""
    return new_weight(store, name, array, old.type.element_type), old.owner


def _erase_unused(rewriter: PatternRewriter, ops: list[Operation]) -> None:
    for o in ops:
        if o.parent is not None and not any(r.uses for r in o.results):
            rewriter.erase(o)


@dataclass
class TuneEncoder(RewritePattern):
    """`snn.encode` -> the same with threshold theta * gain, and its counts minus the
    resting count r as an `snn.requant` of multiplier 1 and bias -r (exact: the
    result's range holds every difference), which the synapses then read."""

    choices: dict[str, EncoderChoice]
    store: WeightStore

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: snn.EncodeOp, rewriter: PatternRewriter) -> None:
        sym = op.theta.owner.sym.data if isinstance(op.theta.owner, nn.WeightOp) else None
        choice = self.choices.get(sym)
        if choice is None:
            return
        new: list[Operation] = []
        theta, dead = op.theta, []
        if choice.theta is not None:
            w, old = _replace_weight(self.store, op.theta, sym + ".tuned", choice.theta)
            new.append(w)
            theta, dead, sym = w.res, [old], sym + ".tuned"
        enc = snn.EncodeOp(op.input, theta, op.res.type)
        enc.attributes.update(op.attributes)
        new.append(enc)
        out = enc.res
        if choice.rest is not None:
            t: snn.CountsType = op.res.type
            rest = choice.rest.astype(np.int64)
            levels = int(max(t.hi - rest.min(), rest.max() - t.lo))
            name = sym.removesuffix(".tuned").removesuffix(".theta")
            mult = new_weight(self.store, name + ".rest_mult", np.ones(len(rest), np.int32), IntegerType(32))
            bias = new_weight(self.store, name + ".rest", (-rest).astype(np.int32), IntegerType(32))
            req = snn.RequantOp(
                enc.res, mult.res, bias.res, snn.CountsType(t.get_shape(), levels, True), shift=0, axis=len(t.get_shape()) - 1
            )
            new += [mult, bias, req]
            out = req.res
        rewriter.replace(op, new, [out])
        _erase_unused(rewriter, dead)


@dataclass
class PruneSynapse(RewritePattern):
    """A synapse -> the same with its pruned weights (`nscc.weight_sparsity` recorded),
    and its decode -> the same with the scale and the bias that make up for the
    pruning, the gain and the resting counts."""

    choices: dict[str, SynapseChoice]
    store: WeightStore

    def match_and_rewrite(self, op: Operation, rewriter: PatternRewriter) -> None:
        if not isinstance(op, snn.SynapseOp | snn.ConvSynapseOp) or not isinstance(op.weight.owner, nn.WeightOp):
            return
        sym = op.weight.owner.sym.data
        choice = self.choices.get(sym)
        if choice is None:
            return
        dec = next(iter(op.res.uses)).operation
        syn, dead = op.clone(), []
        syn.attributes[SPARSITY_ATTR] = FloatAttr(choice.sparsity, f64)
        new: list[Operation] = []
        if choice.weight is not None:
            w, old = _replace_weight(self.store, op.weight, sym + ".pruned", choice.weight)
            new.append(w)
            syn.operands = [syn.operands[0], w.res, *syn.operands[2:]]
            dead.append(old)
        rewriter.replace(op, [*new, syn])
        if choice.decode is not None:
            scale, bias = choice.decode
            sw, old = _replace_weight(self.store, dec.scale, dec.scale.owner.sym.data + ".tuned", scale)
            dead.append(old)
            if dec.bias is not None:
                bw, old = _replace_weight(self.store, dec.bias, dec.bias.owner.sym.data + ".tuned", bias)
                dead.append(old)
            else:
                bw = new_weight(self.store, choice.layer + ".bias", bias)
            new_dec = snn.DecodeOp(dec.input, sw.res, bw.res, dec.res.type, axis=dec.axis.value.data)
            new_dec.attributes.update(dec.attributes)
            rewriter.replace(dec, [sw, bw, new_dec])
        _erase_unused(rewriter, dead)


@dataclass(frozen=True)
class SparsityPruningPass(ModulePass):
    """Prunes integer synaptic weights and cuts spikes: resting counts, then threshold gains.

    Quantization zeros first, the rest by reconstruction (SparseGPT) or
    Wanda's order, whichever keeps the layer closer; the mean output shift is
    folded into the decode bias. How much each layer loses, and which gain
    each encoder takes, is chosen from measured sensitivities by a knapsack.
    The measurements run in `apply` (they need the whole model); the choices,
    by the stored names of thresholds and weights, are then built by the
    patterns `TuneEncoder` and `PruneSynapse`.

    Options: `sparsity` target fraction of zero weights over the pruned layers;
    `spread` measured (each layer its own sparsity, within 0.3 of the target,
    chosen by the model's measured output error) | uniform (every layer the
    target); `structure` unstructured | rows; `firing-rate` target spikes as a
    fraction of those the converted model emits (1: no tuning); `max-error` the
    largest relative output MSE a threshold gain may give a layer; `keep` layer
    names or globs left as they are (e.g. the LM head); `probe-batches`
    calibration batches per measurement; `max-probes` forward runs allowed per
    stage for measuring every candidate (beyond it, one per layer calibrates
    the layer-local proxy); `calib-batches` (random batches when no --calib
    data is given)."""

    name = "sparsity-pruning"
    sparsity: int | float = 0.5
    spread: str = "measured"
    structure: str = "unstructured"
    firing_rate: int | float = 1.0
    max_error: int | float = 0.01
    keep: tuple[str, ...] = ()
    probe_batches: int = 2
    max_probes: int = 96
    calib_batches: int = 8

    def __post_init__(self) -> None:
        checks = [
            (0.0 <= self.sparsity < 1.0, "sparsity must be in [0, 1)"),
            (self.spread in SPREADS, f"spread must be one of {', '.join(SPREADS)}"),
            (self.structure in STRUCTURES, f"structure must be one of {', '.join(STRUCTURES)}"),
            (0.0 < self.firing_rate <= 1.0, "firing-rate must be in (0, 1]"),
            (self.max_error > 0, "max-error must be positive"),
            (self.probe_batches >= 1 and self.max_probes >= 0, "probe-batches must be >= 1 and max-probes >= 0"),
        ]
        for ok, msg in checks:
            if not ok:
                raise NsccError(f"sparsity-pruning: {msg}", "`nscc passes` lists the options")

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        store = weights_of(ctx)
        encoders = self._encoders(op, store)
        if not encoders:
            raise NsccError(
                "sparsity-pruning: no spiking layers to prune", "run spike-conversion first (and binary-expand only after this pass)"
            )
        calibration_of(ctx, op, self.calib_batches)
        axis = {e.op: 1 if any(c.conv for c in e.consumers) else len(e.op.input.type.get_shape()) - 1 for e in encoders}
        stats = collect(op, store, ctx.calibration, {e.op: [(0, axis[e.op])] for e in encoders})
        for e in encoders:
            e.x = stats[e.op.input].sample
        before = {c.name: self._layer_stats(e, c, c.w, 1.0) for e in encoders for c in e.consumers}
        measure = Probe(op, store, ctx.calibration[: self.probe_batches], metric_of(op))
        pruning = self._prune_all(encoders, measure)
        tuning = self._tune(encoders, measure) if self.firing_rate < 1.0 else None
        overrides = {}
        for e in encoders:
            overrides.update(self._overrides(e, {c: c.pruned for c in e.consumers}, e.gain, e.rest))
        measured = measure(overrides)
        enc_table, syn_table = self._decisions(encoders)
        patterns = [TuneEncoder(enc_table, store), PruneSynapse(syn_table, store)]
        PatternRewriteWalker(GreedyRewritePatternApplier(patterns), apply_recursively=False).rewrite_module(op)
        after = {c.name: self._layer_stats(e, c, c.pruned, e.gain, e.rest) for e in encoders for c in e.consumers}
        report = self._report(before, after, encoders)
        report.update({"metric": measure.metric, "pruning": pruning, "tuning": tuning, "measured_error": measured})
        ctx.pass_reports[self.name] = report
        _print(report)

    # -- choosing ---------------------------------------------------------------------------

    def _prune_all(self, encoders: list[Encoder], measure: Probe) -> dict | None:
        """Pruned weights for every layer: at the target, or each at the sparsity the
        knapsack picks from measured errors, the total zeros at least the target's."""
        free = [(e, c) for e in encoders for c in e.consumers if not self._kept(c)]
        for e in encoders:
            for c in e.consumers:
                c.pruned = c.w
        if not self.sparsity or not free:
            return None
        levels = [self.sparsity]
        if self.spread == "measured":
            levels = sorted({round(min(max(self.sparsity + d, 0.0), 0.95), 6) for d in SPREAD_STEPS})
        cands: dict[str, list] = {}
        for e in progress_bar(encoders, "sparsity-pruning: pruning", unit="encoder"):
            mine = [c for c in e.consumers if not self._kept(c)]
            if not mine:
                continue
            n = e.counts().astype(np.float64)
            gram = n.T @ n / max(len(n), 1)
            cov = gram - np.outer(n.mean(axis=0), n.mean(axis=0))
            norm = np.sqrt(np.diag(gram))  # RMS spike count per input channel
            hessian = Hessian(gram)  # factorised once for every consumer and candidate
            for c in mine:
                ref = self._outputs(e, c, c.w, 1.0, n)
                power = max(float(ref.var(axis=0).mean()), 1e-30)
                cands[c.name] = []
                for s in levels:
                    wp = self._prune(c, norm, hessian, cov, s)
                    d = self._outputs(e, c, wp, 1.0, n) - ref
                    cands[c.name].append({"sparsity": s, "w": wp, "proxy": float(d.var(axis=0).mean()) / power})
        if len(levels) == 1:
            for _, c in free:
                c.pruned = cands[c.name][0]["w"]
            return {"spread": "uniform"}
        measure_all = len(free) * len(levels) <= self.max_probes
        jobs = [(e, c, i) for e, c in free for i in (range(len(levels)) if measure_all else [levels.index(self.sparsity)])]
        for e, c, i in progress_bar(jobs, "sparsity-pruning: measuring layers", unit="probe"):
            cands[c.name][i]["measured"] = measure(self._overrides(e, {c: cands[c.name][i]["w"]}, 1.0, None))
        for _, c in free:
            _predict(cands[c.name])
        size = sum(c.w.size for _, c in free)
        picked, solver = knapsack.choose(
            [[k["predicted"] for k in cands[c.name]] for _, c in free],
            [([[np.count_nonzero(k["w"]) for k in cands[c.name]] for _, c in free], (1.0 - self.sparsity) * size)],
        )
        for (_, c), i in zip(free, picked):
            c.pruned = cands[c.name][i]["w"]
        return {
            "spread": "measured",
            "sensitivity": "measured for every candidate" if measure_all else "proxy scaled by one measured probe per layer",
            "solver": solver,
            "predicted_error": sum(cands[c.name][i]["predicted"] for (_, c), i in zip(free, picked)),
            "layers": {c.name: {f"{k['sparsity']:g}": k.get("measured", k["predicted"]) for k in cands[c.name]} for _, c in free},
        }

    def _tune(self, encoders: list[Encoder], measure: Probe) -> dict:
        """Resting counts, then a threshold gain per encoder: the knapsack's least predicted
        output error with the spikes of all encoders at most `firing-rate` times their
        number before. Taking a resting count off is exact, so every gain comes with one."""
        total0 = sum(float(np.abs(e.counts()).mean()) * e.elements for e in encoders)
        table = []
        for e in encoders:
            ref = [self._outputs(e, c, c.w, 1.0) for c in e.consumers]
            power = [max(float(r.var(axis=0).mean()), 1e-30) for r in ref]
            rows = []
            for g in GAINS:
                n = e.counts(g)
                err = 0.0
                for c, r, p in zip(e.consumers, ref, power):
                    d = self._outputs(e, c, c.pruned, g, n) - r
                    err = max(err, float(d.var(axis=0).mean()) / p)  # the mean goes into the bias
                if g != 1.0 and err > self.max_error:
                    break
                rest = resting_counts(n) if e.centerable else None
                rest = rest if rest is not None and rest.any() else None
                rows.append({"gain": g, "proxy": err, "spikes": float(np.abs(e.spikes(n, rest)).mean()) * e.elements, "rest": rest})
            table.append(rows)
        measure_all = sum(len(rows) for rows in table) <= self.max_probes
        jobs = [(e, rows, i) for e, rows in zip(encoders, table) for i in (range(len(rows)) if measure_all else sorted({0, len(rows) - 1}))]
        for e, rows, i in progress_bar(jobs, "sparsity-pruning: measuring gains", unit="probe"):
            rows[i]["measured"] = measure(self._overrides(e, {c: c.pruned for c in e.consumers}, rows[i]["gain"], rows[i]["rest"]))
        for rows in table:
            _predict(rows)
        costs = [[r["predicted"] for r in rows] for rows in table]
        spikes = [[r["spikes"] for r in rows] for rows in table]
        try:
            picked, solver = knapsack.choose(costs, [(spikes, self.firing_rate * total0)])
        except knapsack.Infeasible:  # as few spikes as max-error allows
            picked, solver = (
                [len(rows) - 1 for rows in table],
                f"target out of reach within max-error={self.max_error}: fewest spikes taken",
            )
        for e, rows, i in zip(encoders, table, picked):
            e.gain, e.rest = rows[i]["gain"], rows[i]["rest"]
        return {
            "sensitivity": "measured for every candidate" if measure_all else "proxy scaled by measured probes per encoder",
            "solver": solver,
            "predicted_error": sum(rows[i]["predicted"] for rows, i in zip(table, picked)),
            "spikes_ratio_predicted": sum(rows[i]["spikes"] for rows, i in zip(table, picked)) / max(total0, 1e-30),
        }

    def _overrides(self, e: Encoder, weights: dict, gain: float, rest: np.ndarray | None) -> dict:
        """Interpreter overrides that run encoder `e` and the given consumers as the
        rewrite would build them: gain, resting count, pruned weights, new decode."""
        out = {}
        if gain != 1.0:
            theta = (e.theta * np.float32(gain)).astype(np.float32)
            out[e.op] = lambda args, op=e.op: SNN_KERNELS[snn.EncodeOp](op, (args[0], theta))
        for c, w in weights.items():
            scale, bias = self._decode_params(e, c, w, gain, rest)
            shifted = (lambda n: n) if rest is None else (lambda n, r=rest.astype(np.int64): n.astype(np.int64) - r)
            out[c.syn] = lambda args, c=c, w=w, f=shifted: SNN_KERNELS[type(c.syn)](c.syn, (f(args[0]), w, *args[2:]))
            out[c.dec] = lambda args, c=c, s=scale, b=bias: SNN_KERNELS[snn.DecodeOp](c.dec, (args[0], s, b))
        return out

    def _decode_params(self, e: Encoder, c: Consumer, w: np.ndarray, gain: float, rest: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """The decode's scale and bias for a layer with weights w behind an encoder at
        `gain` with `rest`: the mean output shift back into the bias, and exactly what
        the resting counts would have added. The layer is linear, so the mean output
        is the output of the mean counts: one row, not the whole sample, per candidate."""
        before = e.counts(1.0).mean(axis=0, keepdims=True)
        after = e.counts(gain).mean(axis=0, keepdims=True) - (0 if rest is None else rest)
        shift = (self._outputs(e, c, c.w, 1.0, before) - self._outputs(e, c, w, gain, after))[0]
        return (c.scale * np.float32(gain)).astype(np.float32), (c.bias + shift).astype(np.float32)

    # -- analysis -------------------------------------------------------------------------

    def _encoders(self, op: ModuleOp, store) -> list[Encoder]:
        out = []
        for enc in op.walk():
            if not isinstance(enc, snn.EncodeOp) or not isinstance(enc.theta.owner, nn.WeightOp):
                continue
            consumers = []
            for use in enc.res.uses:
                syn = use.operation
                if not isinstance(syn, snn.SynapseOp | snn.ConvSynapseOp) or not isinstance(syn.weight.owner, nn.WeightOp):
                    break
                uses = list(syn.res.uses)
                dec = uses[0].operation if len(uses) == 1 else None
                if not isinstance(dec, snn.DecodeOp) or not isinstance(dec.scale.owner, nn.WeightOp):
                    break
                if isinstance(syn, snn.ConvSynapseOp) and syn.group.value.data != 1:
                    break
                if dec.bias is not None and not isinstance(dec.bias.owner, nn.WeightOp):
                    break
                name = syn.attributes.get(LAYER_ATTR)
                n_out = syn.weight.type.get_shape()[0 if isinstance(syn, snn.ConvSynapseOp) else 1]
                bias = store[dec.bias.owner.sym.data] if dec.bias is not None else np.zeros(n_out, np.float32)
                gs = getattr(syn, "group_scale", None)
                consumers.append(
                    Consumer(
                        syn, dec, name.data if isinstance(name, StringAttr) else syn.name,
                        store[syn.weight.owner.sym.data], store[dec.scale.owner.sym.data], np.broadcast_to(bias, (n_out,)).astype(np.float32),
                        gs=store[gs.owner.sym.data] if gs is not None else None,
                    )
                )  # fmt: skip
            else:
                if consumers:
                    out.append(Encoder(enc, store[enc.theta.owner.sym.data], np.zeros((0, 0), np.float32), consumers))
        return out

    def _kept(self, c: Consumer) -> bool:
        return any(fnmatch(c.name, pat) for pat in self.keep)

    def _prune(self, c: Consumer, norm: np.ndarray, hessian: Hessian, cov: np.ndarray, sparsity: float) -> np.ndarray:
        """Zeros the least important weights, quantization zeros (score 0) first: by
        |W| * ||n|| (Wanda), or by SparseGPT's reconstruction (`obs_round`), which also
        moves the remaining weights to make up for the pruned ones."""
        eff = c.effective(c.w).astype(np.float64)  # [K, N]
        k, n = eff.shape
        score = np.abs(eff) * norm[_channel_rows(c, k)][:, None]
        target = math.ceil(sparsity * k - 1e-9)
        if self.structure == "rows":
            drop = np.argsort(score.sum(axis=1), kind="stable")[:target]
            mask = np.ones(k, bool)
            mask[drop] = False
            mask = np.broadcast_to(mask[:, None], eff.shape)
        else:  # Wanda: within each output column
            rank = np.argsort(np.argsort(score, axis=0, kind="stable"), axis=0, kind="stable")
            mask = rank >= target
        wanda = np.where(mask.T.reshape(c.w.shape) if c.conv else mask, c.w, 0).astype(c.w.dtype)
        if c.conv or c.gs is not None:
            return wanda
        # Reconstruction usually wins by far, but at the narrowest widths its updates
        # clip: keep whichever leaves the layer's output closer (the mean goes into the bias).
        lo, hi = q_range(_bits(c.syn))
        obs = obs_round(c.w, hessian, lo, hi, sparsity, mask if self.structure == "rows" else None).astype(c.w.dtype)
        return min((obs, wanda), key=lambda p: gram_error(c.w, p, cov))

    def _outputs(self, e: Encoder, c: Consumer, w: np.ndarray, gain: float, n: np.ndarray | None = None) -> np.ndarray:
        """The layer's decoded output on the sample rows (a conv's as its 1x1 equivalent, taps summed)."""
        n = e.counts(gain) if n is None else n
        eff = c.effective(w).astype(np.float64)
        if c.conv:
            eff = eff.reshape(-1, c.w.shape[2] * c.w.shape[3], eff.shape[1]).sum(axis=1)
        return (n @ eff) * (c.scale.astype(np.float64) * gain)

    def _layer_stats(self, e: Encoder, c: Consumer, w: np.ndarray, gain: float, rest: np.ndarray | None = None) -> dict:
        n = e.spikes(e.counts(gain), rest)
        eff = c.effective(w)
        per_channel_events = np.abs(n).mean(axis=0)  # per input row of the sample
        nnz = np.count_nonzero(eff, axis=1)
        ch = _channel_rows(c, eff.shape[0])
        return {
            "weight_sparsity": 1.0 - np.count_nonzero(w) / w.size,
            "firing_rate": float(np.abs(n).mean()),
            "spikes": float(np.abs(n).mean()) * e.elements,
            "sops_per_row": float((per_channel_events[ch] * nnz).sum()),
            "sops": float((per_channel_events[ch] * nnz).sum()) * _rows(c),
        }

    # -- decisions -----------------------------------------------------------------------------

    def _decisions(self, encoders: list[Encoder]) -> tuple[dict[str, EncoderChoice], dict[str, SynapseChoice]]:
        """What the patterns build, by the stored name of each encoder's threshold and
        each synapse's weights (names the analysis and the rewrite both see)."""
        enc_table, syn_table = {}, {}
        for e in encoders:
            if e.gain != 1.0 or e.rest is not None:
                tuned = (e.theta * np.float32(e.gain)).astype(np.float32) if e.gain != 1.0 else None
                enc_table[e.op.theta.owner.sym.data] = EncoderChoice(tuned, e.rest)
            for c in e.consumers:
                changed = c.pruned is not c.w
                decode = None
                if changed or e.gain != 1.0 or e.rest is not None:
                    decode = self._decode_params(e, c, c.pruned, e.gain, e.rest)
                sparsity = 1.0 - np.count_nonzero(c.pruned) / c.pruned.size
                syn_table[c.syn.weight.owner.sym.data] = SynapseChoice(c.pruned if changed else None, sparsity, decode, c.name)
        return enc_table, syn_table

    def _report(self, before: dict, after: dict, encoders: list[Encoder]) -> dict:
        rows = []
        for e in encoders:
            for c in e.consumers:
                b, a = before[c.name], after[c.name]
                rows.append({"layer": c.name, "gain": e.gain, "before": b, "after": a})
        sb = sum(r["before"]["sops"] for r in rows)
        sa = sum(r["after"]["sops"] for r in rows)
        wz = sum(a.size - np.count_nonzero(a) for a in (c.pruned for e in encoders for c in e.consumers))
        wn = sum(c.pruned.size for e in encoders for c in e.consumers)
        spikes = sum(r["after"]["spikes"] for r in rows) / max(sum(r["before"]["spikes"] for r in rows), 1e-30)
        return {
            "structure": self.structure, "target_sparsity": self.sparsity, "target_firing_rate": self.firing_rate,
            "weight_sparsity": wz / wn, "spikes_ratio": spikes, "sops_ratio": sa / max(sb, 1e-30), "layers": rows,
        }  # fmt: skip


def _print(report: dict) -> None:
    stream = sys.stderr  # looked up per call: the stream of the moment, not of import time
    stream.write(f"nscc: sparsity-pruning ({report['structure']})\n")
    head = f"  {'layer':30} {'sparsity':>17} {'firing rate':>15} {'SOPs':>21} {'gain':>5}"
    stream.write(head + "\n")
    for r in report["layers"]:
        b, a = r["before"], r["after"]
        stream.write(
            f"  {r['layer'][:30]:30} {b['weight_sparsity']:7.3f} -> {a['weight_sparsity']:6.3f} {b['firing_rate']:6.3f} -> {a['firing_rate']:5.3f} "
            f"{b['sops']:9.4g} -> {a['sops']:8.4g} {r['gain']:5.2f}\n"
        )
    stream.write(
        f"  weight sparsity {report['weight_sparsity']:.3f}; spikes x{report['spikes_ratio']:.3f}, synaptic operations x{report['sops_ratio']:.3f} of before"
        " (on the calibration sample)\n"
    )
    chosen = "; ".join(
        f"{k}: {v['solver']}" for k, v in (("sparsity", report["pruning"]), ("gains", report["tuning"])) if v and "solver" in v
    )
    stream.write(
        f"  {report['metric']} of the output against before: {report['measured_error']:.4g}" + (f" ({chosen})" if chosen else "") + "\n"
    )
