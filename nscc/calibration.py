"""Calibration: run the float model on sample inputs and keep activation statistics.

Calibration data is one `.npz` (or a folder of them) holding one array per
model input, batch first. The model's own batch size is static, so samples
are run in batches of that size.

Statistics are gathered by the reference interpreter, on exactly the IR
values a pass will convert (no name mapping back to ONNX that could drift
after other passes). Each watched value keeps its min and max, per-channel
absolute maxima, and a sample of rows (tokens or pixels) with the channel
axis last, from which percentiles, histograms and MSE-optimal clipping are
computed.
"""

from __future__ import annotations

import glob
import math
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.interpreter import Interpreter
from xdsl.ir import Operation, SSAValue

from nscc import arrays as array_files
from nscc.errors import NsccError
from nscc.ir import nn
from nscc.ir.signature import signature

MAX_ROWS = 1024  # sampled rows kept per value


@dataclass
class TensorStats:
    """Running statistics of one activation; channels on the last axis of `rows`."""

    min: float = math.inf
    max: float = -math.inf
    absmax: np.ndarray | None = None  # per channel
    rows: list[np.ndarray] = field(default_factory=list)
    n_rows: int = 0
    elements: int = 0

    def update(self, x: np.ndarray, axis: int, rng: np.random.Generator) -> None:
        x = np.asarray(x, np.float32)
        self.min = min(self.min, float(x.min()))
        self.max = max(self.max, float(x.max()))
        self.elements += x.size
        rows = np.moveaxis(x, axis, -1).reshape(-1, x.shape[axis])
        am = np.abs(rows).max(axis=0)
        self.absmax = am if self.absmax is None else np.maximum(self.absmax, am)
        take = min(len(rows), max(1, MAX_ROWS // 4))
        self.rows.append(rows[rng.choice(len(rows), take, replace=False)] if take < len(rows) else rows.copy())
        self.n_rows += len(self.rows[-1])
        if self.n_rows > MAX_ROWS + MAX_ROWS // 4:  # keep memory bounded: thin the sample evenly
            allr = np.concatenate(self.rows)
            self.rows = [allr[rng.choice(len(allr), MAX_ROWS, replace=False)]]
            self.n_rows = MAX_ROWS

    @property
    def sample(self) -> np.ndarray:
        """The sampled rows as one array, joined once: every threshold rule and every
        layer reading this value share it (copies per reader held the sample twice)."""
        if not self.rows:
            return np.zeros((0, 0), np.float32)
        if len(self.rows) > 1:
            self.rows = [np.concatenate(self.rows)]
        return self.rows[0]

    @property
    def signed(self) -> bool:
        return self.min < 0

    def absmax_tensor(self) -> float:
        return float(max(abs(self.min), abs(self.max)))

    def percentile(self, p: float, per_channel: bool = False) -> np.ndarray | float:
        a = np.abs(self.sample)
        return np.percentile(a, p, axis=0) if per_channel else float(np.percentile(a, p))


# --- calibration data -----------------------------------------------------------------


def load_calibration(path: str, module: ModuleOp) -> list[dict[str, np.ndarray]]:
    """Batches for the model's static input shapes, from an .npz or a folder of them."""
    if os.path.isdir(path):
        files = sorted(glob.glob(os.path.join(path, "*.npz")))
        if not files:
            raise NsccError(f"{path}: no .npz files in the calibration folder", "put one .npz per chunk of samples there")
    elif os.path.exists(path):
        files = [path]
    else:
        raise NsccError(f"{path}: calibration data not found", "--calib takes an .npz file or a folder of them")
    sig = signature(module)
    samples: dict[str, list[np.ndarray]] = {n: [] for n, _, _ in sig.inputs}
    for f in files:
        data = array_files.load(f, "save calibration data with numpy.savez(FILE, NAME=ARRAY, ...)")
        arrays = data if isinstance(data, dict) else None
        if arrays is None:
            raise NsccError(
                f"{f}: calibration data must be an .npz holding one array per model input", "numpy.savez(FILE, NAME=ARRAY, ...)"
            )
        unknown = set(arrays) - set(samples)
        if unknown:
            raise NsccError(f"{f}: array '{sorted(unknown)[0]}' is not a model input", "the model's inputs are " + ", ".join(samples))
        for name, shape, dtype in sig.inputs:
            if name not in arrays:
                raise NsccError(
                    f"{f}: no array for model input '{name}'", f"add {name}=ARRAY (shape [N, {', '.join(map(str, shape[1:]))}])"
                )
            a = arrays[name]
            if a.ndim != len(shape) or tuple(a.shape[1:]) != tuple(shape[1:]):
                raise NsccError(
                    f"{f}: '{name}' has shape {list(a.shape)}; the model needs [N, {', '.join(map(str, shape[1:]))}] (batch first)",
                    "bind dynamic dimensions with --dim to match the data",
                )
            if a.shape[0] == 0:
                raise NsccError(f"{f}: '{name}' holds no samples", "calibration needs at least one sample")
            if (a.dtype.kind == "f") != (dtype.kind == "f") or a.dtype.kind not in "fiub":
                raise NsccError(f"{f}: '{name}' has dtype {a.dtype}; the model takes {dtype}", "save the array with the model's input type")
            array_files.check_finite(a, f"{f}: '{name}'", "calibration data must be finite numbers of the inputs' usual range")
            samples[name].append(a.astype(dtype, copy=False))
    return _batches({k: np.concatenate(v) for k, v in samples.items()}, sig)


def _batches(samples: Mapping[str, np.ndarray], sig) -> list[dict[str, np.ndarray]]:
    counts = {len(a) for a in samples.values()}
    if len(counts) != 1:
        raise NsccError("calibration arrays hold different numbers of samples", "give every input the same number of samples")
    n = counts.pop()
    batch = sig.inputs[0][1][0] if sig.inputs and sig.inputs[0][1] else 1
    out = []
    for start in range(0, n, batch):
        idx = np.arange(start, start + batch) % n  # the last batch wraps around rather than padding with zeros
        out.append({k: a[idx] for k, a in samples.items()})
    return out


def default_calibration(module: ModuleOp, batches: int = 8, seed: int = 0, decides: bool = True) -> list[dict[str, np.ndarray]]:
    """Documented default when no data is given: float inputs ~ N(0, 1); integer
    inputs (token ids) uniform over the table they index, else [0, 100). `decides`:
    whether thresholds will be chosen on them (a loud warning) or they only measure
    (a note: a model whose quantizers were all trained needs no data)."""
    sig = signature(module)
    inputs = "float inputs ~ N(0,1), integer inputs uniform over their embedding table"
    if decides:
        print(
            f"nscc: warning: no --calib data; calibrating on {batches} random batches ({inputs}); thresholds may not fit real inputs",
            file=sys.stderr,
        )
    else:
        print(f"nscc: note: no --calib data; measuring fidelity and the report on {batches} random batches ({inputs})", file=sys.stderr)
    rng = np.random.default_rng(seed)
    ranges = _index_ranges(module)
    out = []
    for _ in range(batches):
        feed = {}
        for name, shape, dtype in sig.inputs:
            if dtype.kind == "f":
                feed[name] = rng.standard_normal(shape).astype(dtype)
            elif dtype.kind == "b":
                feed[name] = rng.integers(0, 2, shape).astype(dtype)
            else:
                feed[name] = rng.integers(0, ranges.get(name, 100), shape).astype(dtype)
        out.append(feed)
    return out


def calibration_of(ctx, module: ModuleOp, batches: int = 8, decides: bool = True) -> list[dict[str, np.ndarray]]:
    """The context's calibration batches; without --calib data, the documented random
    default (with its warning), kept on the context so later passes and the report reuse it."""
    if ctx.calibration is None:
        ctx.calibration = default_calibration(module, batches, decides=decides)
    return ctx.calibration


def _index_ranges(module: ModuleOp) -> dict[str, int]:
    from nscc.ir.signature import main_function

    fn = main_function(module)
    sig = signature(module)
    out = {}
    for (name, _, _), arg in zip(sig.inputs, fn.body.block.args):
        for use in arg.uses:
            op = use.operation
            if isinstance(op, nn.GatherOp) and op.indices is arg:
                out[name] = op.input.type.get_shape()[op.axis.value.data]
    return out


# --- collection ----------------------------------------------------------------------


class _Watch(Interpreter.Listener):
    def __init__(self, targets: Mapping[Operation, list[tuple[int, int]]], stats: dict[SSAValue, TensorStats], rng):
        self.targets, self.stats, self.rng = targets, stats, rng
        self.seen: set[SSAValue] = set()

    def will_interpret_op(self, op: Operation, args) -> None:
        for operand, axis in self.targets.get(op, ()):
            value = op.operands[operand]
            if value in self.seen:
                continue
            self.seen.add(value)
            self.stats.setdefault(value, TensorStats()).update(args[operand], axis, self.rng)


def collect(
    module: ModuleOp,
    weights,
    batches: Iterable[Mapping[str, np.ndarray]],
    targets: Mapping[Operation, list[tuple[int, int]]],
    progress: bool = True,
) -> dict[SSAValue, TensorStats]:
    """Statistics of the listed operands of each target op, over all batches.

    `targets` maps an op to [(operand index, channel axis), ...]."""
    from nscc.progress import progress_bar
    from nscc.semantics.interpreter import run

    stats: dict[SSAValue, TensorStats] = {}
    rng = np.random.default_rng(0)
    batches = list(batches)
    for feed in progress_bar(batches, "calibrating", enabled=progress):
        watch = _Watch(targets, stats, rng)
        run(module, weights, feed, listeners=(watch,))
    return stats
