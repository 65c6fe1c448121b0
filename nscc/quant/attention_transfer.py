"""Attention transfer: feature maps fitted so that linear attention follows a
pretrained model's softmax attention, and the choice of which layers keep softmax.

A model trained with softmax attention computes something else once its
attention is linear: relu(q) . relu(k) is not exp(q . k / sqrt(d)). Hedgehog
(Zhang et al., ICLR 2024) and LoLCATs fit, per head, a small map

    phi(x) = [softmax(x W), softmax(-x W)]

so that the normalised products phi(q_i) . phi(k_j) reproduce the softmax
weights of that layer on calibration text. The fit is layer-local: it reads the
float model's q, k (and the padding mask) at each attention op, trains only W,
and minimises the cross-entropy between the softmax weights and the linear ones,
as Hedgehog does. Nothing else in the model changes.

The fit needs torch (the optional extra `nscc[train]`); the compiler core does not.

Which layers stay softmax is a decision of the same kind as a width per layer:
each layer's measured error as linear attention against the decoding state it
saves, solved exactly by `nscc.quant.knapsack`.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.interpreter import Interpreter
from xdsl.ir import Operation

from nscc.errors import NsccError
from nscc.ir import nn
from nscc.quant.knapsack import Infeasible, choose

HIDDEN_MASK = -1e4  # an additive mask entry at or below this hides the key (BERT uses -10000 or the dtype's min)


@dataclass
class AttentionData:
    """What one attention op saw on the calibration batches: q and k with one head per
    query head ([B, H, S, d]), v, and the additive mask broadcast to [B, 1 or H, S or 1, S]."""

    q: np.ndarray
    k: np.ndarray
    v: np.ndarray
    mask: np.ndarray | None
    scale: float
    causal: bool


@dataclass
class FitResult:
    weight: np.ndarray  # [H, d, f], float32
    error: float  # relative error of the attention output, linear against softmax, on the data
    naive_error: float  # the same for relu features, the untrained rewrite
    seconds: float
    factor: np.ndarray | None = None  # [H], the linear part's weight against the window's (nn.window_attention)
    key_weight: np.ndarray | None = None  # [G, d, f]: with a window, the keys' own map, one per key-value head


class _Grab(Interpreter.Listener):
    def __init__(self, ops: Sequence[Operation]) -> None:
        self.ops = set(ops)
        self.got: dict[Operation, list[list[np.ndarray]]] = {}

    def will_interpret_op(self, op: Operation, args) -> None:
        if op in self.ops:
            self.got.setdefault(op, []).append([np.asarray(a, np.float32) for a in args])


def capture(
    module: ModuleOp, weights, batches: Sequence[dict[str, np.ndarray]], ops: Sequence[nn.AttentionOp]
) -> dict[Operation, AttentionData]:
    """Runs the float module over the batches and keeps each attention op's operands."""
    from nscc.progress import progress_bar
    from nscc.semantics.interpreter import run

    grab = _Grab(ops)
    for feed in progress_bar(list(batches), "attention transfer: reading q, k, v", enabled=True):
        run(module, weights, feed, listeners=(grab,))
    out = {}
    for op, runs in grab.got.items():
        q, k, v = (np.concatenate([np.broadcast_to(r[i], _lead(r[0], r[i])) for r in runs]) for i in range(3))
        mask = None
        if len(runs[0]) > 3:
            mask = np.concatenate([_mask4(r[3], r[0].shape[0]) for r in runs])
        out[op] = AttentionData(q, k, v, mask, op.scale.value.data, op.causal is not None)
    return out


def _mask4(mask: np.ndarray, batch: int) -> np.ndarray:
    """An additive mask broadcastable to [B, H, S, T] as [B, 1 or H, 1 or S, T], each row's largest entry 0."""
    m = mask.reshape((1,) * (4 - mask.ndim) + mask.shape)
    m = m - m.max(axis=-1, keepdims=True)  # only differences within a query's row matter to softmax
    return np.broadcast_to(m, (batch, *m.shape[1:]))


def _lead(q: np.ndarray, x: np.ndarray) -> tuple[int, ...]:
    """x broadcast to q's leading axes (batch, heads), keeping its own last two."""
    return (*q.shape[:-2], *x.shape[-2:])


def _torch():
    try:
        import torch
    except ImportError:
        raise NsccError(
            "linear-attention: attention transfer (feature=hedgehog) fits feature maps with torch, which is not installed",
            "pip install 'nscc[train]', or choose the untrained rewrite with linear-attention{feature=relu}",
        ) from None
    return torch


def fit(data: AttentionData, feature_dim: int, steps: int, lr: float = 0.01, seed: int = 0, batch: int = 12, window: int = 0, sinks: int = 0,
        kv_heads: int = 0) -> FitResult:  # fmt: skip
    """Fits W [H, d, f] so that phi(q) phi(k)^T, normalised over the visible keys,
    reproduces softmax(scale q k^T + mask) on the captured batches. With `window` (and
    `sinks`), the form fitted is nn.window_attention's: softmax over the last `window` keys
    and the first `sinks`, and phi(q) phi(k)^T weighed by a factor r per head (fitted too)
    for the others. That form's keys get their own map, one per key-value head (`kv_heads`
    of them, grouped-query attention), so that decoding keeps the far sums once per
    key-value head rather than once per query head.

    The loss is Hedgehog's cross-entropy between the two attention weights. A quarter
    of the batches (with four or more) is held out: the fit stops where the held-out
    output error is least, and that error is the one reported. The maps overfit
    quickly: on SmolLM2 with 12 windows of 128 tokens, 300 steps bring the fitted
    windows' error to 0.2 while held-out windows stay at 0.5-0.6 (reached by
    about 30 steps). More calibration text is what helps (48 windows: 0.44-0.54), so
    each step reads `batch` batches drawn at random, and the cost of a step does not
    grow with the text."""
    torch = _torch()
    start = time.perf_counter()
    torch.manual_seed(seed)
    batches = int(np.prod(data.q.shape[:-3]))
    held = batches // 4 if batches >= 4 else 0
    train, test = _rows(data, slice(0, batches - held)), _rows(data, slice(batches - held, batches)) if held else None
    q, k, keep, target = _torch_data(torch, train)
    heads, d = q.shape[-3], q.shape[-1]
    eye = torch.eye(d, feature_dim) if feature_dim <= d else torch.randn(d, feature_dim) / d**0.5
    w = torch.nn.Parameter(eye.repeat(heads, 1, 1).contiguous())
    hybrid = bool(window or sinks)
    groups = kv_heads or heads
    wk = torch.nn.Parameter(eye.repeat(groups, 1, 1).contiguous()) if hybrid else w
    keepf = keep.float()
    n, m = q.shape[-2], k.shape[-2]
    gap = torch.arange(n)[:, None] + (m - n) - torch.arange(m)[None, :]
    near = ((gap < window) | (torch.arange(m)[None, :] < sinks)) & keep
    far = (~near & keep).float()

    def parts(rows, pick):
        """exp(s - the window's max) on the window, phi(q) . phi(k) on the older keys."""
        zq, zk = q[rows] @ w, k[rows] @ wk.repeat_interleave(heads // groups, 0)
        pq = torch.cat([torch.softmax(zq, -1), torch.softmax(-zq, -1)], -1)
        pk = torch.cat([torch.softmax(zk, -1), torch.softmax(-zk, -1)], -1)
        s = ((q[rows] @ k[rows].transpose(-1, -2)) * data.scale).masked_fill(~near[pick], -torch.inf)
        return torch.exp(s - s.amax(-1, keepdim=True).nan_to_num(0.0, neginf=0.0)), (pq @ pk.transpose(-1, -2)) * far[pick]

    # the two parts' balance starts where the older keys' products have softmax's mean there:
    # from log r = 0 the fit spends most of its steps finding the scale
    log_r = torch.nn.Parameter(torch.zeros(heads))
    if hybrid:
        with torch.no_grad():
            rows = torch.arange(min(q.shape[0], batch))
            pick = rows if keepf.shape[0] > 1 else slice(None)
            _, lin = parts(rows, pick)
            s = (q[rows] @ k[rows].transpose(-1, -2)) * data.scale
            top = s.masked_fill(~near[pick], -torch.inf).amax(-1, keepdim=True).nan_to_num(0.0, neginf=0.0)
            want = (torch.exp((s - top).clamp(max=60.0)) * far[pick]).sum((0, 2, 3))
            log_r.copy_(torch.log(want.clamp(min=1e-30) / lin.sum((0, 2, 3)).clamp(min=1e-30)))
    opt = torch.optim.Adam([w, wk, log_r] if hybrid else [w], lr=lr)
    measured = test or train
    ref = reference(measured)  # once: every held-out check compares with it

    def current():
        if not hybrid:
            return w.detach().numpy().copy(), None, None
        return w.detach().numpy().copy(), log_r.detach().exp().numpy().astype(np.float32), wk.detach().numpy().copy()

    def held_out(cur):
        return error(test, "hedgehog", cur[0], ref, window=window, sinks=sinks, factor=cur[1], key_weight=cur[2])

    best = (held_out(current()) if test else np.inf, current())
    draw = torch.Generator().manual_seed(seed)
    for step in range(1, steps + 1):
        rows = torch.randperm(q.shape[0], generator=draw)[:batch]
        pick = rows if keepf.shape[0] > 1 else slice(None)
        opt.zero_grad()
        if hybrid:
            sm, lin = parts(rows, pick)
            a = sm + lin * log_r.exp().view(-1, 1, 1)
        else:
            zq, zk = q[rows] @ w, k[rows] @ w
            pq = torch.cat([torch.softmax(zq, -1), torch.softmax(-zq, -1)], -1)
            pk = torch.cat([torch.softmax(zk, -1), torch.softmax(-zk, -1)], -1)
            a = (pq @ pk.transpose(-1, -2)) * keepf[pick]
        a = a / (a.sum(-1, keepdim=True) + 1e-6)
        loss = -(target[rows] * torch.log(a + 1e-8)).sum(-1).mean()
        loss.backward()
        opt.step()
        if test and (step % 10 == 0 or step == steps):
            cur = current()
            e = held_out(cur)
            if e < best[0]:
                best = (e, cur)
    weight, factor, key_weight = best[1] if test else current()
    weight = weight.astype(np.float32)
    key_weight = None if key_weight is None else key_weight.astype(np.float32)
    err = error(measured, "hedgehog", weight, ref, window=window, sinks=sinks, factor=factor, key_weight=key_weight)
    return FitResult(weight, err, error(measured, "relu", None, ref), time.perf_counter() - start, factor, key_weight)


def _rows(data: AttentionData, rows: slice) -> AttentionData:
    """The batches `rows` of the captured data (batch axis first)."""
    flat = [None if x is None else x.reshape(-1, *x.shape[-3:])[rows] for x in (data.q, data.k, data.v, data.mask)]
    return AttentionData(*flat, data.scale, data.causal)


def _torch_data(torch, data: AttentionData):
    """q, k, the visible pairs and the softmax weights to fit, as torch tensors."""
    from nscc.semantics.nn import attention_weights

    q, k = (torch.from_numpy(np.ascontiguousarray(a, np.float32)) for a in (data.q, data.k))
    keep = torch.from_numpy(visible(data))
    target = torch.from_numpy(np.ascontiguousarray(attention_weights(data.q, data.k, data.scale, data.mask, data.causal), np.float32))
    return q, k, keep, target


def phi(x: np.ndarray, feature: str, weight: np.ndarray | None = None) -> np.ndarray:
    """The feature map of `nn.linear_attention` (relu, elu1) or of `nn.feature_map` (hedgehog)."""
    from nscc.semantics.nn import feature_map, hedgehog

    return hedgehog(x, weight) if feature == "hedgehog" else feature_map(x, feature)


def visible(data: AttentionData) -> np.ndarray:
    """[B, 1 or H, S, T]: which keys each query sees (causal, and not hidden by the mask)."""
    n, m = data.q.shape[-2], data.k.shape[-2]
    keep = np.ones((1, 1, n, m), bool)
    if data.causal:
        keep = np.tril(keep, m - n)
    if data.mask is not None:
        keep = keep & (data.mask > HIDDEN_MASK)
    return keep


def reference(data: AttentionData) -> np.ndarray:
    """The layer's softmax attention output on the captured batches, as nn.attention computes it."""
    from nscc.semantics.nn import attention_weights

    q, k, v = (x.reshape(-1, *x.shape[-3:]) for x in (data.q, data.k, data.v))
    return np.matmul(attention_weights(q, k, data.scale, data.mask, data.causal), v)


def error(data: AttentionData, feature: str, weight: np.ndarray | None = None, ref: np.ndarray | None = None,
          window: int = 0, sinks: int = 0, factor: np.ndarray | None = None, key_weight: np.ndarray | None = None) -> float:  # fmt: skip
    """Relative error of the layer's attention output with linear attention (feature map
    `feature`, as nn.linear_attention computes it; with `window`, as nn.window_attention
    does) against its softmax attention `ref` (reference(data) when not given), on the
    captured batches."""
    ref = reference(data) if ref is None else ref
    q, k, v = (x.reshape(-1, *x.shape[-3:]) for x in (data.q, data.k, data.v))
    out = _linear(q, k, v, data.mask, data.causal, feature, weight, data.scale, window, sinks, factor, key_weight)
    return float(np.linalg.norm(out - ref) / max(float(np.linalg.norm(ref)), 1e-30))


def _linear(q, k, v, mask, causal, feature, weight, scale=1.0, window=0, sinks=0, factor=None, key_weight=None) -> np.ndarray:
    """k has q's heads (repeated per group): the keys' own map, on key-value heads, is repeated alike."""
    from nscc.semantics.nn import linear_attention, window_attention

    if factor is not None:
        kw = np.repeat(key_weight, weight.shape[0] // key_weight.shape[0], axis=0)
        return window_attention(q, k, v, phi(q, feature, weight), phi(k, feature, kw), factor, scale, window, sinks, mask)
    return linear_attention(phi(q, feature, weight), phi(k, feature, weight), v, 1.0, causal, mask, True)


def linear_in_place(op: nn.AttentionOp, feature: str, weight: np.ndarray | None, window: int = 0, sinks: int = 0,
                    factor: np.ndarray | None = None, key_weight: np.ndarray | None = None):  # fmt: skip
    """A kernel for `op` that computes its linear-attention form instead (the interpreter's
    overrides): the model with that one layer made linear, for measuring its sensitivity."""

    def kernel(args):
        q, k, v = (np.asarray(a, np.float32) for a in args[:3])
        mask = np.asarray(args[3], np.float32) if len(args) > 3 else None
        out = _linear(q, k, v, mask, op.causal is not None, feature, weight, op.scale.value.data, window, sinks, factor, key_weight)
        return (out.astype(np.float32),)

    return kernel


# --- which layers keep softmax -----------------------------------------------------------


def kv_cache_bytes(data_shape_k: Sequence[int], kv_heads: int, context: int) -> int:
    """Bytes of one layer's spiking KV cache at `context` positions: a byte a count, K and V."""
    return 2 * kv_heads * context * int(data_shape_k[-1])


def linear_state_bytes(heads: int, features: int, dv: int) -> int:
    """Bytes of one layer's linear-attention state: S [H, F, dv] and z [H, F], 64-bit integers."""
    return 8 * heads * features * (dv + 1)


def choose_softmax(errors: Sequence[float], linear_bytes: Sequence[int], softmax_bytes: Sequence[int],
                   softmax_layers: int | None, budget: int | None) -> tuple[list[bool], str]:  # fmt: skip
    """True where a layer keeps softmax attention: least summed error of the layers made
    linear, with at most `softmax_layers` softmax layers and/or at most `budget` bytes of
    decoding state in all."""
    costs = [[e, 0.0] for e in errors]  # option 0: linear, 1: softmax
    limits = []
    if softmax_layers is not None:
        limits.append(([[0, 1] for _ in errors], softmax_layers))
    if budget is not None:
        limits.append(([[lb, sb] for lb, sb in zip(linear_bytes, softmax_bytes)], budget))
    if not limits:
        return [False] * len(errors), "all linear"
    try:
        picked, how = choose(costs, limits)
    except Infeasible:
        raise NsccError(
            f"linear-attention: no choice of softmax layers fits a state budget of {budget} bytes",
            f"all-linear attention needs {sum(linear_bytes)} bytes; raise state-budget",
        ) from None
    return [p == 1 for p in picked], how
