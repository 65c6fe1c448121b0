"""Decisions for spiking softmax attention: which tensors to encode, and with which thresholds.

`spike-conversion` turns `nn.attention` into `snn.attention` over spike counts
of q, k and v (docs/semantics.md). Two decisions live here.

* **Grouped-query attention.** Exporters write Llama's `repeat_kv` as
  reshape [b, kvh, 1, T, d] -> broadcast [b, kvh, g, T, d] -> reshape
  [b, kvh g, T, d]. `kv_source` looks through it, so that the keys and values
  are encoded (and, when decoding, cached) once per key-value head, not g times.

* **Thresholds of q and k.** A threshold per feature of q and of k does not
  factor out of q . k unless the products theta_q[d] theta_k[d] are one
  constant C. So each feature pair gets thresholds on the geometric middle of
  its two ranges (SmoothQuant's migration with alpha = 1/2, done in the
  thresholds rather than in the weights):

      theta_q[d] = sqrt(C a_q[d] / a_k[d]),  theta_k[d] = sqrt(C a_k[d] / a_q[d]),
      C = max_d a_q[d] a_k[d] / D^2

  with a_q, a_k the clipping ranges of each feature. No feature clips, and
  C is at most the per-tensor product max a_q max a_k / D^2. The rotary
  features of pretrained Llamas differ by two orders of magnitude, which a
  threshold per tensor spends most of D on. v has a threshold per feature:
  each output feature is decoded with its own scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from xdsl.ir import SSAValue

from nscc.ir import nn
from nscc.quant.fixed import fixed_point

FRAC_BITS = 16  # fraction bits of the attention probabilities and of the output accumulator


def kv_source(value: SSAValue) -> tuple[SSAValue, int]:
    """(the key or value tensor before `repeat_kv`, the group size g); (value, 1) when
    `value` is not a head repetition."""
    r2 = value.owner
    if not isinstance(r2, nn.ReshapeOp) or not isinstance(r2.input.owner, nn.BroadcastOp):
        return value, 1
    b = r2.input.owner
    r1 = b.input.owner
    if not isinstance(r1, nn.ReshapeOp):
        return value, 1
    src = r1.input
    s, mid, big, out = (tuple(v.type.get_shape()) for v in (src, r1.res, b.res, r2.res))
    if len(s) < 3 or len(mid) != len(s) + 1:
        return value, 1
    h = len(s) - 2  # [..., kvh, T, d] -> [..., kvh, 1, T, d] -> [..., kvh, g, T, d] -> [..., kvh g, T, d]
    g = big[h]
    ok = mid == (*s[:h], 1, *s[h:]) and big == (*s[:h], g, *s[h:]) and out == (*s[: h - 1], s[h - 1] * g, *s[h:])
    return (src, g) if ok else (value, 1)


@dataclass(frozen=True)
class AttentionCode:
    """The thresholds of one attention's operands and its logit scale in integers."""

    theta_q: np.ndarray  # [dk]
    theta_k: np.ndarray  # [dk]
    theta_v: np.ndarray  # [dv]
    signed: tuple[bool, bool, bool]
    multiplier: int
    shift: int


def attention_code(clip_q: np.ndarray, clip_k: np.ndarray, clip_v: np.ndarray, signed, levels: int, scale: float) -> AttentionCode:
    """Thresholds from each operand's per-feature clipping ranges (see the module's docstring),
    and the multiplier and shift that turn q . k of counts into scale * q . k at FRAC_BITS."""
    floor = np.float64(1e-12)
    aq = np.maximum(np.asarray(clip_q, np.float64).reshape(-1), floor)
    ak = np.maximum(np.asarray(clip_k, np.float64).reshape(-1), floor)
    # a tiny feature of one side would get a huge threshold on the other: bound the ratio
    aq = np.maximum(aq, aq.max() * 1e-3)
    ak = np.maximum(ak, ak.max() * 1e-3)
    c = float((aq * ak).max()) / levels**2
    theta_q = np.sqrt(c * aq / ak)
    theta_k = np.sqrt(c * ak / aq)
    theta_v = np.maximum(np.asarray(clip_v, np.float64).reshape(-1), floor) / levels
    mult, shift = fixed_point(np.array([scale * c * 2.0**FRAC_BITS]), 24)
    return AttentionCode(
        theta_q.astype(np.float32), theta_k.astype(np.float32), theta_v.astype(np.float32), tuple(signed), int(mult[0]), int(shift)
    )
