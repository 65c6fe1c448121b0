"""Pass `linear-attention`: softmax attention becomes linear attention, O(N) in the sequence.

Each `nn.attention` (from `raise-attention`, which must come first in the
pipeline: a module with attention written out and no `nn.attention` is an
error that says so) becomes `nn.linear_attention`:
softmax(q k^T) is replaced by a feature map phi (relu, or elu + 1) on q and
k, so that the causal form is a recurrence on a constant-size state,

    S_t = lambda S_{t-1} + phi(k_t)^T v_t,  z_t = lambda z_{t-1} + phi(k_t),
    o_t = phi(q_t) S_t / (phi(q_t) . z_t)

and decoding needs O(1) work and memory per token instead of a growing KV
cache. After spike conversion phi(q), phi(k) and v are spike counts and the
update and readout are accumulations (`snn.linear_attention`).

A model trained with softmax computes a different function once rewritten
with a fixed phi. By default the pass therefore fits phi per layer
(attention transfer, Hedgehog's map, `nn.feature_map`), may keep softmax in
the layers whose linear form moves the model's output most (a hybrid), and prints per layer
what it chose, the error it measured and the decoding state it costs. It then
measures what the whole rewrite changed on the calibration inputs (or the
documented random default): relative output error and, for a vector of scores
per position, top-1 agreement. A model trained with relu linear attention
(examples, `feature=relu`) loses nothing. A padding mask carries over: hidden
keys add nothing to the sums.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from xdsl.context import Context
from xdsl.dialects.builtin import ModuleOp, StringAttr, TensorType
from xdsl.ir import Operation
from xdsl.passes import ModulePass
from xdsl.pattern_rewriter import (
    GreedyRewritePatternApplier,
    PatternRewriter,
    PatternRewriteWalker,
    RewritePattern,
    op_type_rewrite_pattern,
)

from nscc import fidelity
from nscc.calibration import calibration_of
from nscc.errors import NsccError, note
from nscc.ir import nn
from nscc.ir.constants import new_weight
from nscc.ir.context import weights_of
from nscc.ir.signature import LAYER_ATTR
from nscc.ir.weights import WeightStore
from nscc.progress import progress_bar
from nscc.quant import attention_transfer as transfer
from nscc.quant.attention import kv_source
from nscc.quant.distill import distill
from nscc.quant.sensitivity import Probe, metric_of
from nscc.semantics.folding import constant_value


@dataclass
class ToLinear(RewritePattern):
    """nn.attention -> (nn.feature_map on q and k) -> nn.linear_attention, for the ops planned linear."""

    options: "LinearAttentionPass"
    maps: dict[Operation, transfer.FitResult | None]  # the fitted map of each op made linear (None: relu or elu1)
    store: WeightStore

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.AttentionOp, rewriter: PatternRewriter) -> None:
        if op not in self.maps:
            return
        o, fitted = self.options, self.maps.pop(op)
        q, k, new = op.q, op.k, []
        layer = op.attributes.get(LAYER_ATTR)
        prefix = layer.data if isinstance(layer, StringAttr) else "attention"
        if fitted is not None:
            weight = new_weight(self.store, f"{prefix}.feature_map", fitted.weight)
            new.append(weight)
            key_weight = weight
            if fitted.key_weight is not None:  # a window's keys have their own map, on the key-value heads
                k = kv_source(k)[0]
                key_weight = new_weight(self.store, f"{prefix}.key_feature_map", fitted.key_weight)
                new.append(key_weight)
            fq, fk = nn.FeatureMapOp(q, weight.res), nn.FeatureMapOp(k, key_weight.res)
            if isinstance(layer, StringAttr):
                fq.attributes[LAYER_ATTR] = fk.attributes[LAYER_ATTR] = layer
            new += [fq, fk]
            q, k = fq.res, fk.res
        if fitted is not None and fitted.factor is not None:
            factor = new_weight(self.store, f"{prefix}.window_factor", fitted.factor)
            la = nn.WindowAttentionOp(op.q, op.k, op.v, q, k, factor.res, op.res.type, scale=op.scale.value.data, window=o.window, sinks=o.sinks, mask=op.mask)
            new.append(factor)
        else:
            la = nn.LinearAttentionOp(
                q, k, op.v, op.res.type, mask=op.mask,
                feature="relu" if fitted is not None else o.feature, decay=o.decay, normalize=o.normalize, causal=op.causal is not None,
            )  # fmt: skip
        la.attributes.update(op.attributes)
        rewriter.replace(op, [*new, la])


@dataclass
class Retuned(RewritePattern):
    """Each nn.weight that distillation tuned reads the tuned array instead (a new weight:
    stored arrays are frozen)."""

    arrays: dict[str, np.ndarray]
    store: WeightStore

    @op_type_rewrite_pattern
    def match_and_rewrite(self, op: nn.WeightOp, rewriter: PatternRewriter) -> None:
        a = self.arrays.get(op.sym.data)
        if a is not None:
            rewriter.replace(op, new_weight(self.store, op.sym.data, a.astype(self.store[op.sym.data].dtype)))


@dataclass(frozen=True)
class LinearAttentionPass(ModulePass):
    """Rewrites softmax attention (nn.attention) into linear attention with a recurrent state.

    Why: linear attention is O(N) in the sequence and decodes with a constant-size
    state instead of a KV cache, and after spike-conversion its update and readout
    are accumulations of counts. Needs `raise-attention` before it.

    A pretrained model's softmax attention is not linear: by default (`feature=hedgehog`)
    each layer gets a feature map phi(x) = [softmax(xW), softmax(-xW)] per head (nn.feature_map),
    with W fitted on the calibration batches so that linear attention reproduces that
    layer's softmax weights (attention transfer, `nscc.quant.attention_transfer`; needs torch).
    `feature=relu | elu1` is the untrained rewrite, for models trained with it.

    Hybrids: `softmax-layers=N` keeps softmax attention (and its KV cache) in the N layers
    whose linear form alone moves the model's output most (measured on held-out calibration batches); `state-budget=B` keeps as many as fit B bytes of decoding
    state at `context` positions. Both are solved exactly (`nscc.quant.knapsack`).
    `window=W` makes the other causal layers sliding-window hybrids (LoLCATs',
    nn.window_attention): softmax over each query's last W keys, the fitted linear
    attention for the older ones; the map and the two parts' balance are fitted together,
    and decoding keeps the last W keys and values beside the linear state. The first `sinks`
    keys (4) stay softmax too: pretrained LLMs attend to them heavily (attention sinks),
    a peak the linear map cannot follow.
    Options: `feature-dim` (f, 0 = the head size), `fit-steps`, `decay` lambda in (0, 1],
    `normalize` (divide by phi(q) . z), `measure` (print how far the outputs moved).

    `distill-steps=N` then tunes the maps and the norms end to end for N steps against the
    float model's outputs on the calibration batches (`nscc.quant.distill`; needs torch):
    the layers' small errors compound, and this is what recovers it. `distill-checkpoint=PATH`
    keeps its state there, so that a stopped run resumes."""

    name = "linear-attention"
    feature: str = "hedgehog"
    feature_dim: int = 0
    fit_steps: int = 300
    softmax_layers: int = 0
    state_budget: int = 0
    window: int = 0
    sinks: int = 4
    context: int = 2048
    decay: float = 1.0
    normalize: bool = True
    measure: bool = True
    distill_steps: int = 0
    distill_checkpoint: str = ""

    def __post_init__(self) -> None:
        if self.feature not in ("hedgehog", "relu", "elu1"):
            raise NsccError(
                "linear-attention: feature must be hedgehog, relu or elu1",
                "hedgehog fits a map to the model's softmax attention; relu keeps phi(q), phi(k) spikeable untrained",
            )
        if not 0.0 < self.decay <= 1.0:
            raise NsccError("linear-attention: decay must be in (0, 1]", "1.0 is plain linear attention; < 1 forgets old tokens")
        if self.window and self.feature != "hedgehog":
            raise NsccError("linear-attention: window needs feature=hedgehog", "the window's softmax and the fitted map's linear part are fitted together")
        if min(self.feature_dim, self.fit_steps, self.distill_steps, self.softmax_layers, self.state_budget, self.window, self.sinks) < 0 or self.context < 1:
            raise NsccError("linear-attention: feature-dim, fit-steps, distill-steps, softmax-layers, state-budget, window and sinks must be >= 0, context >= 1",
                            "0 means the default: the head size, no fit, no distillation, no softmax layers, no budget")  # fmt: skip

    def apply(self, ctx: Context, op: ModuleOp) -> None:
        store = weights_of(ctx)
        _require_raised(op, store)
        found = [o for o in op.walk() if isinstance(o, nn.AttentionOp)]
        if not found:
            return
        before = op.clone() if self.measure or self.distill_steps else None
        maps = self._plan(ctx, op, store, found)
        linear = bool(maps)
        PatternRewriteWalker(GreedyRewritePatternApplier([ToLinear(self, maps, store)])).rewrite_module(op)
        if self.distill_steps and linear:
            got = distill(before, op, store, calibration_of(ctx, op), self.distill_steps, checkpoint=self.distill_checkpoint)
            PatternRewriteWalker(Retuned(got.weights, store)).rewrite_module(op)
            note(f"linear-attention: distillation tuned {len(got.weights)} weights in {got.steps} steps ({got.seconds:.0f} s):"
                 f" held-out {got.metric} {got.before:.4g} -> {got.after:.4g}")  # fmt: skip
            reports = getattr(ctx, "pass_reports", None)
            if reports is not None and self.name in reports:
                reports[self.name]["distillation"] = {"weights": len(got.weights), "steps": got.steps, "seconds": got.seconds,
                                                      "metric": got.metric, "held_out_before": got.before, "held_out_after": got.after}  # fmt: skip
        if self.measure and any(isinstance(o, nn.LinearAttentionOp | nn.WindowAttentionOp) for o in op.walk()):
            fid = fidelity.measure(before, op, store, calibration_of(ctx, op)[:8])
            note(fid.line("linear-attention changed the model's function", "with softmax attention"))

    def _plan(self, ctx: Context, module: ModuleOp, store: WeightStore, found: list[nn.AttentionOp]) -> dict:
        """The ops made linear and their fitted maps; prints the choice per layer."""
        batches = calibration_of(ctx, module)
        data = transfer.capture(module, store, batches, found)
        hybrid = self.softmax_layers > 0 or self.state_budget > 0
        probe = Probe(module, store, batches[-max(1, len(batches) // 4) :][:2], metric_of(module)) if hybrid else None
        rows, maps, causal = [], {}, False
        for o in progress_bar(found, "attention transfer: fitting feature maps", enabled=self.feature == "hedgehog"):
            d = data.pop(o)
            causal = causal or d.causal
            window = self.window if d.causal else 0  # a window is causal: encoders' layers become plain linear
            kv_heads = _kv_heads(o) or d.q.shape[-3]
            if self.feature == "hedgehog":
                sinks = self.sinks if window else 0
                fitted = transfer.fit(d, self.feature_dim or d.q.shape[-1], self.fit_steps, window=window, sinks=sinks, kv_heads=kv_heads)
                maps[o], err, naive = fitted, fitted.error, fitted.naive_error
                mapped = (fitted.weight, window, sinks, fitted.factor, fitted.key_weight)
            else:
                maps[o], err, naive = None, transfer.error(d, self.feature), None
                mapped = (None, 0, 0, None, None)
            # the model with only this layer linear: how far its output moves (the hybrid's cost)
            moved = probe({o: transfer.linear_in_place(o, self.feature, *mapped)}) if probe is not None else None
            features = mapped[0].shape[-1] * 2 if mapped[0] is not None else d.q.shape[-1]
            if window:  # the window's and the sinks' keys, values and key features, and S and z per key-value head
                slots = min(window + sinks, self.context)
                linear = (transfer.linear_state_bytes(kv_heads, features, d.v.shape[-1]) + transfer.kv_cache_bytes(d.k.shape, kv_heads, slots)
                          + kv_heads * slots * features)  # fmt: skip
            else:
                linear = transfer.linear_state_bytes(d.q.shape[-3], features, d.v.shape[-1])
            rows.append(_Row(_layer(o), err, naive, moved, linear, transfer.kv_cache_bytes(d.k.shape, kv_heads, self.context), window, mapped[2]))
        keep, how = transfer.choose_softmax(
            [r.error if r.moved is None else r.moved for r in rows], [r.linear_bytes for r in rows], [r.kv_bytes for r in rows],
            self.softmax_layers or None, self.state_budget or None,
        )  # fmt: skip
        for r, soft in zip(rows, keep):
            r.softmax = soft
            note(f"linear-attention: {r.layer}: {'softmax, KV cache' if soft else 'linear, state' if not r.window else f'window {r.window}, {r.sinks} sinks + linear, state'} {_bytes(r.state)} at {self.context}"
                 f" positions; linear-attention output error {r.error:.3f}" + (f" (relu {r.naive:.3f})" if r.naive is not None else "")
                 + (f"; the model's output moves {r.moved:.3g} ({probe.metric}) with this layer alone linear" if r.moved is not None else ""))  # fmt: skip
        reports = getattr(ctx, "pass_reports", None)
        if reports is not None:
            reports[self.name] = {"feature": self.feature, "context": self.context, "how": how, "layers": [asdict(r) | {"state_bytes": r.state} for r in rows]}
        total = sum(r.state for r in rows)
        n_soft = sum(keep)
        note(f"linear-attention: {len(found) - n_soft} layer(s) linear, {n_soft} softmax ({how}); decoding state"
             f" {_bytes(total)} at {self.context} positions, against {_bytes(sum(r.kv_bytes for r in rows))} of KV cache with softmax everywhere")  # fmt: skip
        if self.feature == "hedgehog" and not self.window and causal:
            note("linear-attention: hint: window=16 keeps softmax over each query's last 16 keys and first 4 (sinks) beside the"
                 " linear state, a state still constant in the context (SmolLM2-135M: 1.17x float perplexity, all-linear 2.41x)")  # fmt: skip
        return {o: maps[o] for o, soft in zip(found, keep) if not soft}


@dataclass
class _Row:
    """One attention layer's measurements and choice (a line of the notes and of --report)."""

    layer: str
    error: float  # its attention output's relative error as linear attention (held-out batches)
    naive: float | None  # the same with relu features
    moved: float | None  # the model's output error with this layer alone linear (hybrids)
    linear_bytes: int
    kv_bytes: int
    window: int = 0  # softmax over this many last keys beside the linear state (0: none)
    sinks: int = 0  # and over this many first ones
    softmax: bool = False

    @property
    def state(self) -> int:
        return self.kv_bytes if self.softmax else self.linear_bytes


def _layer(op: Operation) -> str:
    layer = op.attributes.get(LAYER_ATTR)
    return layer.data if isinstance(layer, StringAttr) else "attention"


def _kv_heads(op: nn.AttentionOp) -> int | None:
    """Key-value heads behind the expanded k (grouped-query attention), when visible."""
    src = kv_source(op.k)[0]
    shape = src.type.get_shape() if isinstance(src.type, TensorType) else ()
    return int(shape[-3]) if len(shape) >= 3 else None


def _bytes(n: int) -> str:
    return f"{n / 2**20:.2f} MiB" if n >= 2**20 else f"{n / 2**10:.1f} KiB"


def _require_raised(module: ModuleOp, store: WeightStore) -> None:
    """Attention must be one op (`raise-attention`) for this pass to see it: a module with
    products of two activations and no attention op has it written out."""
    ops = list(module.walk())
    if any(isinstance(o, nn.AttentionOp | nn.LinearAttentionOp | nn.WindowAttentionOp) for o in ops):
        return
    if any(isinstance(o, nn.MatMulOp) and constant_value(o.lhs, store) is None and constant_value(o.rhs, store) is None for o in ops):
        raise NsccError(
            "linear-attention: the module's attention is not raised (no nn.attention op, but products of two activations);"
            " put raise-attention before linear-attention in the pipeline",
            "-p 'raise-attention,linear-attention,...'",
        )
