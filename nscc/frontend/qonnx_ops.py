"""Quantizers a model was trained with: QONNX's `Quant`, `BipolarQuant` and `Trunc` (as
Brevitas exports them) and ONNX's `QuantizeLinear` / `DequantizeLinear` pairs.

On a constant (weights) a quantizer is evaluated here, with QONNX's arithmetic, into the
float weights it stands for: integer multiples of its scale, which spike-conversion
recognises and keeps as they are (`nscc.quant.quantize.trained_grid`). On an activation
with zero point 0 and round-half-even it becomes

    mul(round(clip(div(x, scale), lo, hi)), scale)

which is the trained-quantizer pattern (`nscc.quant.plans.trained_quantizer`): the
encoder of the next spiking layer takes its scale as threshold and its integer range as
levels, with no calibration. Other quantizers of activations (other rounding modes, a
zero point, bipolar signs, truncation) are lowered to the same float arithmetic as the
QONNX executor's, so the float model stays exact, and their encoders are calibrated.
"""

from __future__ import annotations

import numpy as np

from nscc.frontend.importer import Node
from nscc.frontend.onnx_ops import lowers
from nscc.ir import nn

QONNX_DOMAINS = ("qonnx.custom_op.general", "finn.custom_op.general", "onnx.brevitas")
QONNX_OPS = ("Quant", "BipolarQuant", "Trunc")

_ROUNDING = {
    "ROUND": np.round, "HALF_EVEN": np.round, "CEIL": np.ceil, "FLOOR": np.floor, "DOWN": np.fix,
    "UP": lambda x: np.sign(x) * np.ceil(np.abs(x)),
    "HALF_UP": lambda x: np.sign(x) * np.floor(np.abs(x) + 0.5),
    "HALF_DOWN": lambda x: np.sign(x) * np.ceil(np.abs(x) - 0.5),
}  # fmt: skip


def int_range(signed: bool, narrow: bool, bits: int) -> tuple[int, int]:
    """QONNX's min_int and max_int."""
    if signed:
        return -(2 ** (bits - 1)) + int(narrow), 2 ** (bits - 1) - 1
    return 0, 2**bits - 1 - int(narrow)


def _rounding(n: Node, key: str = "rounding_mode"):
    mode = str(n.attr(key, "ROUND")).upper()
    if mode not in _ROUNDING:
        raise n.error(f"rounding mode '{mode[:20]}' is not one QONNX defines", "ROUND, FLOOR, CEIL, UP, DOWN, HALF_UP or HALF_DOWN")
    return mode


def _f32(n: Node, i: int, what: str) -> np.ndarray:
    return np.asarray(n.const(i, what), np.float32)


def _bits(n: Node, i: int) -> int:
    b = n.const(i, "bit width")
    if b.size != 1 or float(b.reshape(-1)[0]) != int(b.reshape(-1)[0]) or not 1 <= int(b.reshape(-1)[0]) <= 16:
        raise n.error(f"bit width {b.reshape(-1)[:1]} is not an integer in [1, 16]", "nscc takes trained widths of 1 to 16 bits")
    return int(b.reshape(-1)[0])


def _fake_quant(n: Node, x, scale: np.ndarray, zp: np.ndarray, lo: int, hi: int, mode: str, clip_first: bool = True):
    """(round(clip(x / scale + zp, lo, hi)) - zp) * scale in f32, as the QONNX executor computes it,
    on a constant or as nn ops."""
    if isinstance(x, np.ndarray):
        y = x.astype(np.float32) / scale + zp
        y = _ROUNDING[mode](np.clip(y, lo, hi) if clip_first else y)
        if not clip_first:
            y = np.clip(y, lo, hi)
        return [((y - zp) * scale).astype(np.float32)]
    shape = n.shape(0)
    out = (np.dtype(np.float32), shape)
    (y,) = n.emit(nn.DivOp, [x, scale], out)
    if np.any(zp):
        (y,) = n.emit(nn.AddOp, [y, zp], out)
    if clip_first:
        (y,) = n.emit(nn.ClipOp, [y], out, min=float(lo), max=float(hi))
    (y,) = n.emit(_rounding_op(n, mode, y), [y], out) if mode in ("ROUND", "HALF_EVEN", "FLOOR", "CEIL") else _general_rounding(n, y, mode)
    if not clip_first:
        (y,) = n.emit(nn.ClipOp, [y], out, min=float(lo), max=float(hi))
    if np.any(zp):
        (y,) = n.emit(nn.SubOp, [y, zp], out)
    return n.emit(nn.MulOp, [y, scale], out)


def _rounding_op(n: Node, mode: str, _y):
    return {"ROUND": nn.RoundOp, "HALF_EVEN": nn.RoundOp, "FLOOR": nn.FloorOp, "CEIL": nn.CeilOp}[mode]


def _general_rounding(n: Node, y, mode: str):
    """UP, DOWN, HALF_UP, HALF_DOWN: sign(y) * f(|y|), in nn ops."""
    out = (np.dtype(np.float32), n.shape(0))
    (a,) = n.emit(nn.AbsOp, [y], out)
    if mode in ("HALF_UP", "HALF_DOWN"):
        (a,) = n.emit(nn.AddOp if mode == "HALF_UP" else nn.SubOp, [a, np.array(0.5, np.float32)], out)
    (a,) = n.emit(nn.FloorOp if mode in ("DOWN", "HALF_UP") else nn.CeilOp, [a], out)
    (s,) = n.emit(nn.SignOp, [y], out)
    return n.emit(nn.MulOp, [s, a], out)


@lowers("Quant")
def _quant(n: Node):
    scale, zp, bits = _f32(n, 1, "scale"), _f32(n, 2, "zero point"), _bits(n, 3)
    signed, narrow = bool(n.attr("signed", 1)), bool(n.attr("narrow", 0))
    mode = _rounding(n)
    x = n.input(0)
    if bits == 1 and signed:  # QONNX's executor reads a signed 1-bit Quant as bipolar: sign of x / scale + zp
        return _bipolar_int(n, x, scale, zp)
    lo, hi = int_range(signed, narrow, bits)
    return _fake_quant(n, x, scale, zp, lo, hi, mode)


def _bipolar(n: Node, x, scale: np.ndarray):
    if isinstance(x, np.ndarray):
        return [(np.where(x.astype(np.float32) >= 0, np.float32(1), np.float32(-1)) * scale).astype(np.float32)]
    out = (np.dtype(np.float32), n.shape(0))
    (ge,) = n.emit(nn.GreaterEqualOp, [x, np.array(0, np.float32)], (np.dtype(np.bool_), n.shape(0)))
    (pm,) = n.emit(nn.WhereOp, [ge, np.array(1, np.float32), np.array(-1, np.float32)], out)
    return n.emit(nn.MulOp, [pm, scale], out)


def _bipolar_int(n: Node, x, scale: np.ndarray, zp: np.ndarray):
    """(where(x / scale + zp >= 0, 1, -1) - zp) * scale, as QONNX's IntQuant at 1 signed bit."""
    if isinstance(x, np.ndarray):
        y = np.where(x.astype(np.float32) / scale + zp >= 0, np.float32(1), np.float32(-1))
        return [((y - zp) * scale).astype(np.float32)]
    out = (np.dtype(np.float32), n.shape(0))
    (d,) = n.emit(nn.DivOp, [x, scale], out)
    if np.any(zp):
        (d,) = n.emit(nn.AddOp, [d, zp], out)
    (pm,) = _bipolar(n, d, np.array(1, np.float32))
    if np.any(zp):
        (pm,) = n.emit(nn.SubOp, [pm, zp], out)
    return n.emit(nn.MulOp, [pm, scale], out)


@lowers("BipolarQuant")
def _bipolar_quant(n: Node):
    return _bipolar(n, n.input(0), _f32(n, 1, "scale"))


@lowers("Trunc")
def _trunc(n: Node):
    """Trunc (v1: scale, zero point, input and output bit widths), as Brevitas' TruncAvgPool
    exports it: round(x / scale + zp) / 2^(in - out), then the rounding mode, rescaled."""
    if n.n_inputs != 5:
        raise n.error(
            "only QONNX's Trunc with five inputs (x, scale, zero point, input and output bit widths) is supported", "re-export it"
        )
    scale, zp = _f32(n, 1, "scale"), _f32(n, 2, "zero point")
    shift = _bits(n, 3) - _bits(n, 4)
    mode = _rounding(n)
    x = n.input(0)
    step = np.array(2.0**shift, np.float32)
    if isinstance(x, np.ndarray):
        y = np.round(x.astype(np.float32) / scale + zp) / step
        return [((_ROUNDING[mode](y) - zp) * scale).astype(np.float32)]
    out = (np.dtype(np.float32), n.shape(0))
    (y,) = n.emit(nn.DivOp, [x, scale], out)
    if np.any(zp):
        (y,) = n.emit(nn.AddOp, [y, zp], out)
    (y,) = n.emit(nn.RoundOp, [y], out)
    (y,) = n.emit(nn.DivOp, [y, step], out)
    (y,) = n.emit(_rounding_op(n, mode, y), [y], out) if mode in ("ROUND", "HALF_EVEN", "FLOOR", "CEIL") else _general_rounding(n, y, mode)
    if np.any(zp):
        (y,) = n.emit(nn.SubOp, [y, zp], out)
    return n.emit(nn.MulOp, [y, scale], out)


def _axis_shaped(n: Node, a: np.ndarray, axis_attr: int) -> np.ndarray:
    """A per-axis scale or zero point of Quantize/DequantizeLinear, shaped to broadcast."""
    if a.size == 1:
        return a.reshape(())
    rank = len(n.shape(0))
    axis = axis_attr % rank
    shape = [1] * rank
    shape[axis] = a.size
    return a.reshape(shape)


@lowers("QuantizeLinear")
def _quantize_linear(n: Node):
    """saturate(round(x / scale) + zp), the int8 / uint8 integers, kept as f32 (a DequantizeLinear
    reads them as the pair's trained quantizer; other readers see f32, not the integer type)."""
    scale = _axis_shaped(n, _f32(n, 1, "scale"), n.attr("axis", 1))
    zp_arr = n.const(2, "zero point") if n.has_input(2) else np.zeros((), np.uint8)
    dtype = zp_arr.dtype
    if dtype not in (np.int8, np.uint8):
        raise n.error(f"quantizing to {dtype} is not supported", "int8 or uint8")
    zp = _axis_shaped(n, zp_arr.astype(np.float32), n.attr("axis", 1))
    info = np.iinfo(dtype)
    lo, hi = int(info.min), int(info.max)
    # ONNX rounds then saturates; with zp = 0 rounding and clipping commute (integer bounds)
    (y,) = _fake_quant_int(n, n.input(0), scale, zp, lo, hi)
    return [y]


def _fake_quant_int(n: Node, x, scale, zp, lo, hi):
    """round(x / scale) + zp saturated: the integer as an f32 (ONNX's QuantizeLinear)."""
    if isinstance(x, np.ndarray):
        return [np.clip(np.round(x.astype(np.float32) / scale) + zp, lo, hi).astype(np.float32)]
    out = (np.dtype(np.float32), n.shape(0))
    (y,) = n.emit(nn.DivOp, [x, scale], out)
    if np.any(zp):
        (y,) = n.emit(nn.RoundOp, [y], out)
        (y,) = n.emit(nn.AddOp, [y, zp], out)
        return n.emit(nn.ClipOp, [y], out, min=float(lo), max=float(hi))
    (y,) = n.emit(nn.ClipOp, [y], out, min=float(lo), max=float(hi))
    return n.emit(nn.RoundOp, [y], out)


@lowers("DequantizeLinear")
def _dequantize_linear(n: Node):
    scale = _axis_shaped(n, _f32(n, 1, "scale"), n.attr("axis", 1))
    zp = _axis_shaped(n, n.const(2, "zero point").astype(np.float32), n.attr("axis", 1)) if n.has_input(2) else np.zeros((), np.float32)
    x = n.input(0)
    if isinstance(x, np.ndarray):
        return [((x.astype(np.float32) - zp) * scale).astype(np.float32)]
    out = (np.dtype(np.float32), n.shape(0))
    if n.dtype(0) != np.float32:
        (x,) = n.emit(nn.CastOp, [x], out)
    if np.any(zp):
        (x,) = n.emit(nn.SubOp, [x, zp], out)
    return n.emit(nn.MulOp, [x, scale], out)
