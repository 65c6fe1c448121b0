"""NIR graph to an `snn` module: a spiking network over a time axis, in integers.

NIR (the Neuromorphic Intermediate Representation, the `nir` package) is how
snnTorch, Norse, Sinabs, Rockpool, Lava and Spyx exchange spiking networks.
Its neurons are continuous-time ODEs; nscc discretises them once, here, with
the rule of `docs/interop.md`:

* LIF, LI, CubaLIF, CubaLI: forward Euler with step `dt`. A membrane decays
  by beta = 1 - dt/tau per step and takes (dt/tau) * (v_leak + R I) in, which
  is how snnTorch and Norse step them.
* IF and I (the integrator) add R I per step, without dt: the convention of
  the exporters (snnTorch, Sinabs), for which an IF neuron is a counter.
* Spiking is strict (v > v_threshold) and resets to v_reset, as NIR says.

Every value that reaches a neuron is an affine image of an integer tensor:
`real = acc * scale + bias`, with `acc` what a synapse summed and `scale` per
output channel. A neuron layer chooses F fraction bits (as many as keep its
largest current, threshold and reset inside int32, at most 24), requantizes
the current to units of 2^-F, and runs `snn.lif` on it with thresholds,
resets and decays as integers. Weights are stored exactly when they sit on a
power-of-two grid of at most 16 bits per output row (what a network trained
for such a chip has), and are otherwise rounded to that grid: 16-bit
weights, relative error at most 2^-16 of the row's largest.

The model's input is a spike train, f32 [T, *shape] of 0 and 1, encoded into
`!snn.counts<T x shape, 1>`; its outputs are f32 [T, *shape]: spikes, or an
integrator's membrane. T is `--dim time=T`.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np
from xdsl.builder import Builder
from xdsl.dialects.builtin import ArrayAttr, DictionaryAttr, IntegerType, ModuleOp, StringAttr, TensorType, f32, i32
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.ir import Block, Region, SSAValue
from xdsl.rewriter import InsertPoint

from nscc.errors import NsccError, note, printable
from nscc.ir import nn, snn
from nscc.ir.constants import new_weight
from nscc.ir.context import NsccContext, make_context
from nscc.ir.signature import LAYER_ATTR, NAME_ATTR

DEFAULT_DT = 1e-4
"""snnTorch's export convention (tau = dt / (1 - beta) with dt = 1e-4); Norse uses 1e-3: pass --dt."""
DEFAULT_STEPS = 100
WEIGHT_BITS = 16
MAX_FRAC_BITS = 24
TIME_DIM = "time"

NODE_KINDS = (
    "Input", "Output", "Affine", "Linear", "Conv1d", "Conv2d", "Flatten", "SumPool2d", "AvgPool2d", "Scale",
    "Threshold", "IF", "LIF", "LI", "I", "CubaLIF", "CubaLI", "Delay",
)  # fmt: skip


@dataclass
class Spikes:
    """Counts [T, *shape] of one spike per step (or, after pooling, a small count)."""

    value: SSAValue
    shape: tuple[int, ...]

    @property
    def levels(self) -> int:
        return self.value.type.levels.data


@dataclass
class Current:
    """The real value acc * scale + bias, acc an integer tensor [T, *shape] in [lo, hi];
    scale and bias broadcast against `shape`."""

    value: SSAValue
    shape: tuple[int, ...]
    scale: np.ndarray
    bias: np.ndarray
    lo: int
    hi: int


def read_graph(path: str):
    """The NIR graph in a file, or a one-line error."""
    try:
        import nir
    except ImportError:
        raise NsccError(f"{path}: reading NIR needs the `nir` package", "pip install 'nscc[nir]'") from None
    if not os.path.isfile(path):
        raise NsccError(f"{path}: no such file", "give the path of a .nir file (nir.write writes one)")
    try:
        graph = nir.read(path)
    except Exception as e:  # h5py and nir raise many kinds for a bad file
        raise NsccError(
            f"{path}: not a NIR file nscc can read ({type(e).__name__}: {printable(str(e), 200)})", "write it with nir.write"
        ) from None
    if not isinstance(graph, nir.NIRGraph):
        raise NsccError(f"{path}: the file holds a single {type(graph).__name__} node, not a graph", "wrap it in nir.NIRGraph")
    return graph


def import_nir(source, dims: dict[str, int] | None = None, dt: float | None = None, name: str = "<model>") -> tuple[NsccContext, ModuleOp]:
    """A .nir file (or an in-memory nir.NIRGraph) as an snn module over `dims['time']` steps."""
    path = source if isinstance(source, str) else name
    graph = read_graph(source) if isinstance(source, str) else source
    dims = dict(dims or {})
    if TIME_DIM not in dims:
        note(f"{printable(path, 200)}: no --dim {TIME_DIM}=T given: the program runs {DEFAULT_STEPS} steps")
    steps = dims.pop(TIME_DIM, DEFAULT_STEPS)
    if dims:
        raise NsccError(f"--dim {next(iter(dims))}: a NIR model has one dimension to bind, '{TIME_DIM}'", f"--dim {TIME_DIM}=T")
    if not 1 <= steps <= 1 << 16:
        raise NsccError(f"--dim {TIME_DIM}={steps}: a NIR model runs for 1 to 65536 steps", f"e.g. --dim {TIME_DIM}=100")
    if dt is None:
        dt = float(np.asarray(graph.metadata.get("dt", DEFAULT_DT))) if isinstance(graph.metadata, dict) else DEFAULT_DT
    if not (math.isfinite(dt) and dt > 0):
        raise NsccError(f"--dt {dt}: the time step must be a positive number of seconds", "e.g. --dt 1e-4 (snnTorch) or 1e-3 (Norse)")
    imp = _Importer(graph, path, steps, dt)
    module = imp.run()
    try:
        module.verify()
    except Exception as e:
        raise NsccError(f"{path}: imported IR does not verify: {str(e).splitlines()[0]}", "please report this model to nscc") from None
    return imp.ctx, module


def _label(key: str, node) -> str:
    return f"node '{printable(str(key), 80)}' ({type(node).__name__})"


def _arr(x, dtype=np.float64) -> np.ndarray:
    return np.asarray(x.detach().numpy() if hasattr(x, "detach") else x, dtype=dtype)


def _tuple(x, n: int) -> tuple[int, ...]:
    a = np.atleast_1d(_arr(x, np.int64)).reshape(-1)
    return tuple(int(v) for v in (np.repeat(a, n) if a.size == 1 else a))


def dyadic_rows(w: np.ndarray, extra: np.ndarray | None = None, bits: int = WEIGHT_BITS) -> tuple[np.ndarray, np.ndarray, bool]:
    """Each row of w (and its entry of `extra`, a bias) as integers times 2^e[row], |int| < 2^(bits-1):
    the coarsest grid on which the row is exact when there is one, else the finest that fits.
    Returns (integers, e per row, exact)."""
    rows = w.reshape(w.shape[0], -1).astype(np.float64)
    if extra is not None:
        rows = np.concatenate([rows, extra.reshape(-1, 1).astype(np.float64)], axis=1)
    top = np.abs(rows).max(axis=1)
    limit = (1 << (bits - 1)) - 1
    finest = np.where(top > 0, np.ceil(np.log2(np.maximum(top, 1e-300) / limit)), 0).astype(np.int64)
    mant, ex = np.frexp(rows)  # rows = mant * 2^ex, |mant| in [0.5, 1): the lowest set bit of mant * 2^53
    m = np.abs(np.ldexp(mant, 53)).astype(np.int64)
    m1 = np.where(m != 0, m, 1)
    low = np.where(m != 0, ex - 53 + np.rint(np.log2(m1 & -m1)).astype(np.int64), np.iinfo(np.int64).max)
    coarsest = np.where(top > 0, low.min(axis=1), 0)
    e = np.maximum(coarsest, finest)
    q = np.rint(rows / np.ldexp(1.0, e)[:, None])
    exact = bool(np.all(q * np.ldexp(1.0, e)[:, None] == rows))
    q = np.clip(q, -limit, limit).astype(np.int64)
    return q, e, exact


def _storage_bits(q: np.ndarray) -> int:
    top = int(np.abs(q).max()) if q.size else 0
    return 8 if top <= 127 else 16


def _channels(shape: tuple[int, ...], *arrays) -> tuple[int, list[np.ndarray]] | None:
    """Arrays that broadcast against `shape` as one vector each along one common axis (the
    axis, and the vectors; one value each when all are uniform), or None when one of them
    varies along another axis too."""
    full = [np.broadcast_to(a, shape).astype(np.float64) for a in arrays]
    axes = {_varying_axis(a, shape) for a in full} - {None}
    if -1 in axes or len(axes) > 1:
        return None
    if not axes:
        return 0, [a.reshape(-1)[:1] for a in full]
    (ax,) = axes
    sel = tuple(slice(None) if d == ax else 0 for d in range(len(shape)))
    return ax, [a[sel].reshape(-1) for a in full]


def _varying_axis(a: np.ndarray, shape: tuple[int, ...]) -> int | None:
    """The one axis of `shape` along which broadcast(a, shape) varies: None when it is uniform,
    -1 when it varies along several."""
    full = np.broadcast_to(a, shape)
    axes = [d for d in range(len(shape)) if shape[d] > 1 and not np.all(full == full.take([0], axis=d))]
    if not axes:
        return None
    return axes[0] if len(axes) == 1 else -1


class _Importer:
    def __init__(self, graph, path: str, steps: int, dt: float):
        self.graph, self.path, self.steps, self.dt = graph, path, steps, dt
        self.ctx = make_context()
        self.store = self.ctx.weights
        self.block = Block()
        self.b = Builder(InsertPoint.at_end(self.block))
        self.key = ""
        self.node = None

    # --- errors and constants -------------------------------------------------
    def error(self, msg: str, hint: str) -> NsccError:
        return NsccError(f"{self.path}: {_label(self.key, self.node)}: {msg}", hint)

    def const(self, name: str, a: np.ndarray, elem=None) -> SSAValue:
        return self.b.insert(new_weight(self.store, f"{self.key}.{name}", a, elem)).res

    def i32s(self, name: str, a: np.ndarray, collapse: bool = True) -> SSAValue:
        """An i32 constant; one value when all are equal and `collapse`."""
        a = np.asarray(a)
        flat = a.reshape(-1)
        if collapse and flat.size and np.all(flat == flat[0]):
            flat = flat[:1]
        if flat.size and (flat.min() < -(2**31) or flat.max() >= 2**31):
            raise self.error(f"{name} does not fit in 32 bits at this resolution", "report this model to nscc")
        return self.const(name, flat.astype(np.int32))

    def tag(self, v: SSAValue) -> SSAValue:
        v.owner.attributes[LAYER_ATTR] = StringAttr(str(self.key))
        return v

    # --- the walk ---------------------------------------------------------------
    def run(self) -> ModuleOp:
        import nir

        self.passthrough: set[str] = set()
        nodes, edges = self._flatten(self.graph, "")
        self.graph_nodes = nodes
        for key, node in nodes.items():
            self.key, self.node = key, node
            kind = type(node).__name__
            if kind not in NODE_KINDS:
                raise self.error("this node kind has no integer form in nscc", f"supported: {', '.join(NODE_KINDS)}")
        preds: dict[str, list[str]] = {k: [] for k in nodes}
        for src, dst in edges:
            for end in (src, dst):
                if end not in nodes:
                    raise NsccError(
                        f"{self.path}: an edge names node '{printable(str(end), 80)}', which the graph lacks",
                        "the graph is malformed; re-export it",
                    )
            preds[dst].append(src)
        self.recurrent = self._recurrent_pairs(nodes, preds, edges)
        order = self._topological(nodes, preds)
        values: dict[str, Spikes | Current] = {}
        args, arg_names, results, result_names = [], [], [], []
        recurrent_weights = {id(w) for w in self.recurrent.values()}
        for key in order:
            node = nodes[key]
            self.key, self.node = key, node
            kind = type(node).__name__
            if id(node) in recurrent_weights:
                continue  # lowered with the neurons it feeds back into
            if key in self.passthrough:  # a nested graph's own input or output
                if not preds[key]:
                    raise self.error("nothing feeds this nested graph", "connect it, or remove it")
                values[key] = self.fan_in([values[p] for p in preds[key]])
                continue
            if kind == "Input":
                shape = self._input_shape(key, node, edges)
                arg = self.block.insert_arg(TensorType(f32, [self.steps, *shape]), len(args))
                args.append(arg)
                arg_names.append(str(key))
                values[key] = self.encode(arg, shape)
                continue
            if not preds[key]:
                raise self.error("nothing feeds this node", "connect it, or remove it")
            x = self.fan_in([values[p] for p in preds[key]])
            if kind == "Output":
                results.append(self.output(x))
                result_names.append(str(key))
                continue
            values[key] = getattr(self, f"lower_{kind.lower()}")(node, x)
        if not args:
            raise NsccError(f"{self.path}: the graph has no Input node", "add nir.Input nodes for the network's inputs")
        if not results:
            raise NsccError(f"{self.path}: the graph has no Output node", "add nir.Output nodes for what the network returns")
        self.b.insert(ReturnOp(*results))

        def names(ns):
            return ArrayAttr([DictionaryAttr({NAME_ATTR: StringAttr(x)}) for x in ns])

        fn = FuncOp(
            "main",
            ([a.type for a in args], [r.type for r in results]),
            region=Region([self.block]),
            arg_attrs=names(arg_names),
            res_attrs=names(result_names),
        )
        return ModuleOp([fn])

    def _flatten(self, graph, prefix: str) -> tuple[dict, list]:
        """Nested graphs (snnTorch writes a recurrent layer as one) inlined: a subgraph's nodes
        take its name as a prefix, and its Input and Output become pass-through nodes that
        its outer edges end and start at."""
        import nir

        nodes, edges, ends = {}, [], {}
        for key, node in graph.nodes.items():
            name = f"{prefix}{key}"
            if not isinstance(node, nir.NIRGraph):
                nodes[name] = node
                continue
            sub_nodes, sub_edges = self._flatten(node, f"{name}.")
            ins = [k for k, n in sub_nodes.items() if isinstance(n, nir.Input)]
            outs = [k for k, n in sub_nodes.items() if isinstance(n, nir.Output)]
            if len(ins) != 1 or len(outs) != 1:
                self.key, self.node = name, node
                raise self.error("a nested graph with other than one input and one output", "flatten the graph")
            self.passthrough.update((ins[0], outs[0]))
            ends[name] = (ins[0], outs[0])
            nodes.update(sub_nodes)
            edges += sub_edges
        for src, dst in graph.edges:
            src, dst = f"{prefix}{src}", f"{prefix}{dst}"
            edges.append((ends[src][1] if src in ends else src, ends[dst][0] if dst in ends else dst))
        return nodes, edges

    def _recurrent_pairs(self, nodes, preds, edges) -> dict:
        """LIF or IF neurons with a weight layer that reads only them and feeds only them back
        (snnTorch's RLeaky exports so): {neuron key: weight node}. Their two edges leave the
        graph, and the neuron becomes one snn.recurrent_lif."""
        import nir

        succ: dict[str, list[str]] = {k: [] for k in nodes}
        for src, dst in edges:
            succ[src].append(dst)
        pairs = {}
        for k, node in nodes.items():
            if not isinstance(node, nir.LIF | nir.IF):
                continue
            for r in preds[k]:
                if isinstance(nodes[r], nir.Affine | nir.Linear) and preds[r] == [k] and succ[r] == [k]:
                    pairs[k] = nodes[r]
                    preds[k].remove(r)
                    preds[r].remove(k)
                    break
        return pairs

    def _topological(self, nodes, preds) -> list[str]:
        order, state = [], {}

        for root in nodes:
            stack = [(root, False)]
            while stack:
                key, done = stack.pop()
                if done:
                    state[key] = 2
                    order.append(key)
                    continue
                if state.get(key) == 2:
                    continue
                if state.get(key) == 1:
                    continue
                state[key] = 1
                stack.append((key, True))
                for p in preds[key]:
                    if state.get(p) == 1:
                        self.key, self.node = key, nodes[key]
                        raise self.error(
                            f"it closes a cycle through '{printable(str(p), 80)}' (a recurrent connection)",
                            "nscc imports one recurrent form: a LIF or IF and an Affine or Linear that reads only those neurons and feeds only them back",
                        )
                    if state.get(p) != 2:
                        stack.append((p, False))
        return order

    def _input_shape(self, key: str, node, edges) -> tuple[int, ...]:
        """The input's shape for one step. Some exporters (Norse) keep a batch axis of 1 in
        it: that axis goes when the layers it feeds take one axis less."""
        import nir

        shape = self._shape(node.input_type)
        ranks = {nir.Affine: 1, nir.Linear: 1, nir.Conv1d: 2, nir.Conv2d: 3, nir.SumPool2d: 3, nir.AvgPool2d: 3}
        wanted = {ranks.get(type(self.graph_nodes[dst])) for src, dst in edges if src == key} - {None}
        if len(shape) > 1 and shape[0] == 1 and wanted == {len(shape) - 1}:
            return shape[1:]
        return shape

    def _shape(self, types) -> tuple[int, ...]:
        if not isinstance(types, dict) or len(types) != 1:
            raise self.error("its type has no single shape", "re-export with a known input shape")
        shape = tuple(int(d) for d in np.atleast_1d(np.asarray(next(iter(types.values())))).reshape(-1))
        if not shape or any(d < 1 for d in shape):
            raise self.error(f"its shape {shape} is not static", "give the input a known shape")
        return shape

    # --- value forms ----------------------------------------------------------------
    def encode(self, arg: SSAValue, shape: tuple[int, ...]) -> Spikes:
        one = self.const("spike", np.ones(1, np.float32))
        op = self.b.insert(snn.EncodeOp(arg, one, snn.CountsType([self.steps, *shape], 1)))
        return Spikes(op.res, shape)

    def as_current(self, x: Spikes | Current) -> Current:
        if isinstance(x, Current):
            return x
        one = self.const("one", np.ones(1, np.int32))
        t = TensorType(i32, [self.steps, *x.shape])
        op = self.b.insert(snn.RequantOp(x.value, one, None, t, shift=0, axis=0))
        return Current(op.res, x.shape, np.ones(1), np.zeros(1), 0, x.levels)

    def as_spikes(self, x: Spikes | Current) -> tuple[Spikes, np.ndarray, np.ndarray]:
        """Counts a synapse can read, and the per-element (scale, bias) they stand for."""
        if isinstance(x, Spikes):
            return x, np.ones(x.shape), np.zeros(x.shape)
        if x.lo < -32767 or x.hi > 32767:
            raise self.error("its input is an unbounded sum, not spikes", "put a neuron between two weight layers")
        one = self.const("one", np.ones(1, np.int32))
        t = snn.CountsType([self.steps, *x.shape], max(x.hi, -x.lo, 1), x.lo < 0)
        op = self.b.insert(snn.RequantOp(x.value, one, None, t, shift=0, axis=0))
        return Spikes(op.res, x.shape), np.broadcast_to(x.scale, x.shape), np.broadcast_to(x.bias, x.shape)

    def fan_in(self, xs: list[Spikes | Current]) -> Spikes | Current:
        """NIR sums what arrives at a node. Currents of one scale add as integers."""
        if len(xs) == 1:
            return xs[0]
        cs = [self.as_current(x) for x in xs]
        first = cs[0]
        if any(c.shape != first.shape for c in cs):
            raise self.error("its inputs have different shapes", "the graph is malformed; re-export it")
        if any(not np.array_equal(np.broadcast_to(c.scale, c.shape), np.broadcast_to(first.scale, first.shape)) for c in cs):
            raise self.error("it sums inputs of different scales", "give the layers that meet here the same weight grid")
        acc = first.value
        for c in cs[1:]:
            acc = self.b.insert(snn.FixedAddOp(acc, c.value)).res
        bias = sum(np.broadcast_to(c.bias, c.shape) for c in cs)
        return Current(acc, first.shape, first.scale, bias, sum(c.lo for c in cs), sum(c.hi for c in cs))

    # --- weight layers ------------------------------------------------------------
    def lower_linear(self, node, x) -> Current:
        return self._affine(node, x, None)

    def lower_affine(self, node, x) -> Current:
        return self._affine(node, x, _arr(node.bias))

    def _affine(self, node, x, bias: np.ndarray | None) -> Current:
        w = _arr(node.weight)
        if not np.all(np.isfinite(w)) or (bias is not None and not np.all(np.isfinite(bias))):
            raise self.error("its weights or bias hold a NaN or an infinity", "re-export the layer")
        if w.ndim != 2:
            raise self.error(f"weight of shape {w.shape} is not [out, in]", "re-export the layer")
        n_out, n_in = w.shape
        if x.shape != (n_in,):
            raise self.error(f"its input has shape {x.shape}, the weight takes [{n_in}]", "add a Flatten before it")
        spikes, s_in, b_in = self.as_spikes(x)
        b = np.zeros(n_out) if bias is None else bias.reshape(-1)
        b = b + w @ b_in.reshape(-1)
        w = w * s_in.reshape(1, -1)
        q, e, _ = dyadic_rows(w, b)
        wq, bq = q[:, :-1], q[:, -1]
        bits = _storage_bits(wq)
        weight = self.const("weight", wq.T.astype(np.int8 if bits == 8 else np.int16), IntegerType(bits))
        bound = int(np.abs(wq).sum(axis=1).max()) * spikes.levels if wq.size else 0
        acc = self.tag(self.b.insert(snn.SynapseOp(spikes.value, weight, acc_bits=32)).res)
        scale = np.ldexp(1.0, e)
        return Current(acc, (n_out,), scale, bq * scale, -bound, bound)

    def lower_conv1d(self, node, x) -> Current:
        return self._conv(node, x, 1)

    def lower_conv2d(self, node, x) -> Current:
        return self._conv(node, x, 2)

    def _conv(self, node, x, nd: int) -> Current:
        w = _arr(node.weight)
        if not np.all(np.isfinite(w)) or (node.bias is not None and not np.all(np.isfinite(_arr(node.bias)))):
            raise self.error("its weights or bias hold a NaN or an infinity", "re-export the layer")
        groups = int(node.groups)
        if w.ndim != nd + 2 or len(x.shape) != nd + 1 or x.shape[0] != w.shape[1] * groups:
            raise self.error(f"weight {w.shape} (groups {groups}) does not fit its input {x.shape}", "re-export the layer")
        spikes, s_in, b_in = self.as_spikes(x)
        if np.any(b_in != 0) or _varying_axis(s_in, x.shape) not in (None, 0):
            raise self.error("it reads a scaled or shifted value", "put a neuron before a convolution")
        s_c = np.broadcast_to(s_in, x.shape).reshape(x.shape[0], -1)[:, 0]
        og, cg = w.shape[0] // groups, w.shape[1]
        w = w * s_c.reshape(groups, cg)[np.arange(w.shape[0]) // og].reshape(w.shape[0], cg, *([1] * nd))
        stride, dilation = _tuple(node.stride, nd), _tuple(node.dilation, nd)
        pad = self._pads(node.padding, nd, w.shape[2:], dilation, x.shape[1:])
        bias = _arr(node.bias).reshape(-1) if node.bias is not None else np.zeros(w.shape[0])
        if bias.size == 1:
            bias = np.repeat(bias, w.shape[0])
        q, e, _ = dyadic_rows(w, bias)
        wq, bq = q[:, :-1].reshape(w.shape), q[:, -1]
        bits = _storage_bits(wq)
        out_sp = [(x.shape[1 + i] + pad[i] + pad[i + nd] - dilation[i] * (w.shape[2 + i] - 1) - 1) // stride[i] + 1 for i in range(nd)]
        if any(o < 1 for o in out_sp):
            raise self.error("the kernel is larger than its padded input", "check the layer's padding")
        shape = (w.shape[0], *out_sp)
        weight = self.const("weight", wq.astype(np.int8 if bits == 8 else np.int16), IntegerType(bits))
        t = TensorType(i32, [self.steps, *shape])
        op = snn.ConvSynapseOp(spikes.value, weight, t, strides=stride, pads=pad, dilations=dilation, group=groups, acc_bits=32)
        acc = self.tag(self.b.insert(op).res)
        bound = int(np.abs(wq).reshape(w.shape[0], -1).sum(axis=1).max()) * spikes.levels
        scale = np.ldexp(1.0, e).reshape(-1, *([1] * nd))
        return Current(acc, shape, scale, bq.reshape(-1, *([1] * nd)) * scale, -bound, bound)

    def _pads(self, padding, nd, kernel, dilation, spatial) -> list[int]:
        if isinstance(padding, str):
            if padding == "valid":
                return [0] * (2 * nd)
            if padding == "same":
                total = [dilation[i] * (kernel[i] - 1) for i in range(nd)]
                return [t // 2 for t in total] + [t - t // 2 for t in total]
            raise self.error(f"padding '{printable(padding, 20)}' is not 'same', 'valid' or numbers", "re-export the layer")
        p = _tuple(padding, nd)
        return [*p, *p] if len(p) == nd else list(p)

    def _pool(self, node, x, average: bool) -> Current:
        spikes, s_in, b_in = self.as_spikes(x)
        if len(x.shape) != 3:
            raise self.error(f"2-D pooling needs [C, H, W] input, got {x.shape}", "add the channel axis")
        if np.any(b_in != 0) or _varying_axis(s_in, x.shape) is not None:
            raise self.error("it pools a scaled or shifted value", "pool spikes")
        k, stride = _tuple(node.kernel_size, 2), _tuple(node.stride, 2)
        pad = self._pads(node.padding, 2, k, (1, 1), x.shape[1:])
        c = x.shape[0]
        ones = self.const("window", np.ones((c, 1, *k), np.int8), IntegerType(2))
        out_sp = [(x.shape[1 + i] + pad[i] + pad[i + 2] - k[i]) // stride[i] + 1 for i in range(2)]
        shape = (c, *out_sp)
        t = TensorType(i32, [self.steps, *shape])
        op = snn.ConvSynapseOp(spikes.value, ones, t, strides=stride, pads=pad, dilations=(1, 1), group=c, acc_bits=32)
        acc = self.tag(self.b.insert(op).res)
        window = k[0] * k[1]
        s = float(np.broadcast_to(s_in, x.shape).reshape(-1)[0]) / (window if average else 1)
        lo = -window * spikes.levels if spikes.value.type.signed.data else 0
        return Current(acc, shape, np.full(1, s), np.zeros(1), lo, window * spikes.levels)

    def lower_sumpool2d(self, node, x) -> Current:
        return self._pool(node, x, False)

    def lower_avgpool2d(self, node, x) -> Current:
        return self._pool(node, x, True)

    # --- shape and scale ------------------------------------------------------------
    def lower_flatten(self, node, x) -> Current:
        c = self.as_current(x)
        rank = len(c.shape)
        start, end = int(node.start_dim), int(node.end_dim)
        if not (-rank <= start < rank and -rank <= end < rank):
            raise self.error(f"dims {node.start_dim}..{node.end_dim} are not axes of its input {c.shape}", "flatten the per-step axes")
        start, end = start % rank, end % rank
        if not start <= end:
            raise self.error(f"dims {node.start_dim}..{node.end_dim} are not axes of its input {c.shape}", "flatten the per-step axes")
        shape = (*c.shape[:start], math.prod(c.shape[start : end + 1]), *c.shape[end + 1 :])
        op = self.b.insert(nn.ReshapeOp(c.value, TensorType(i32, [self.steps, *shape])))
        scale = np.broadcast_to(c.scale, c.shape).reshape(shape)
        bias = np.broadcast_to(c.bias, c.shape).reshape(shape)
        return Current(op.res, shape, scale, bias, c.lo, c.hi)

    def lower_scale(self, node, x) -> Current:
        c = self.as_current(x)
        s = _arr(node.scale)
        try:
            np.broadcast_shapes(s.shape, c.shape)
        except ValueError:
            raise self.error(f"scale of shape {s.shape} does not fit its input {c.shape}", "re-export the layer") from None
        return Current(c.value, c.shape, c.scale * s, c.bias * s, c.lo, c.hi)

    def lower_delay(self, node, x) -> Spikes | Current:
        d = np.rint(_arr(node.delay) / self.dt)
        if d.size == 0 or np.any(d != d.reshape(-1)[0]) or d.reshape(-1)[0] < 0:
            raise self.error("only one non-negative delay for every neuron is supported", "split the layer by delay")
        steps = int(min(d.reshape(-1)[0], self.steps))
        if steps == 0:
            return x
        c = self.as_current(x)
        t = TensorType(i32, [self.steps - steps, *c.shape])
        head = self.b.insert(nn.SliceOp(c.value, t, starts=[0], ends=[self.steps - steps], axes=[0], steps=[1])).res
        zeros = self.const("silence", np.zeros((steps, *c.shape), np.int32))
        joined = self.b.insert(nn.ConcatOp([zeros, head], TensorType(i32, [self.steps, *c.shape]), axis=0)).res
        delayed = Current(joined, c.shape, c.scale, c.bias, min(c.lo, 0), max(c.hi, 0))
        return self.as_spikes(delayed)[0] if isinstance(x, Spikes) else delayed

    # --- neurons -------------------------------------------------------------------------
    def _param(self, node, name: str, shape) -> np.ndarray:
        v = getattr(node, name, None)
        if v is None:
            raise self.error(f"it has no {name}", "re-export the node")
        a = _arr(v)
        if not np.all(np.isfinite(a)):
            raise self.error(f"{name} holds a NaN or an infinity", "re-export the node")
        try:
            return np.broadcast_to(a.reshape(a.shape) if a.size != 1 else a.reshape(()), shape)
        except ValueError:
            raise self.error(f"{name} of shape {a.shape} does not fit its input {shape}", "give one value per neuron") from None

    def _decay(self, beta: np.ndarray) -> np.ndarray:
        if np.any(~np.isfinite(beta)) or np.any(beta < 0) or np.any(beta > 1):
            raise self.error(
                f"its decay per step 1 - dt/tau is {float(beta.min()):.4g}, outside [0, 1]",
                "tau must be at least dt: pass the exporter's dt with --dt",
            )
        return np.rint(beta * (1 << snn.DECAY_BITS)).astype(np.int64)

    def _fixed(self, c: Current, gain: np.ndarray, offset: np.ndarray, f: int) -> SSAValue:
        """round((c * gain + offset) * 2^f) as i32: one snn.requant, per channel of one axis."""
        shape = c.shape
        found = _channels(shape, c.scale * gain, c.bias * gain + offset)
        if found is None:
            raise self.error(
                "its time constants or resistances vary within a channel", "use one value per channel (per output of the layer before)"
            )
        ax, (m, a) = found
        if np.any(m == 0):
            raise self.error("a resistance or weight scale is zero", "remove the dead neurons")
        real = m * (1 << f)  # fixed-point units per unit of acc
        # NIR's parameters are often float32 quotients (tau = dt / (1 - beta), r = tau / dt): a
        # product within float32's error of an integer is that integer, so exact scales stay exact
        near = np.rint(real)
        real = np.where((near != 0) & (np.abs(real - near) <= np.abs(real) * 2.0**-20), near, real)
        shift = int(np.clip(30 - np.ceil(np.log2(np.abs(real).max())), 0, 62))
        while (
            shift > 0
            and np.all(np.ldexp(real, shift) == np.rint(np.ldexp(real, shift)))
            and np.all(np.ldexp(real, shift - 1) == np.rint(np.ldexp(real, shift - 1)))
        ):
            shift -= 1  # the smallest exact shift, so that exact scales stay exact
        mult_q = np.rint(np.ldexp(real, shift)).astype(np.int64)
        # the offset (bias, v_leak, a recurrent bias) in units of acc with `frac` fraction bits below
        # one (snn.requant's bias_frac): as many as keep ((acc << frac) + bias) * mult in 63 bits
        in_acc = a / m
        frac = snn.requant_bias_frac(in_acc, max(abs(c.lo), abs(c.hi)), int(np.abs(mult_q).max()), shift) if np.any(in_acc) else 0
        bias_q = np.rint(in_acc * 2.0**frac).astype(np.int64)
        if np.any(np.abs(mult_q) >= 2**31) or np.any(np.abs(bias_q) >= 2**31):
            raise self.error("its current does not fit 32 bits", "report this model to nscc")
        t = TensorType(i32, [self.steps, *shape])
        # a target reads the multiplier and the bias with one channel index: same length
        per_channel = bool(np.any(bias_q != bias_q[0])) or bool(np.any(mult_q != mult_q[0]))
        if per_channel:
            mult_q, bias_q = (np.broadcast_to(v, (max(mult_q.size, bias_q.size),)) for v in (mult_q, bias_q))
        bias_v = self.i32s("offset", bias_q, not per_channel) if np.any(bias_q) else None
        frac = frac if bias_v is not None else 0
        op = snn.RequantOp(c.value, self.i32s("gain", mult_q, not per_channel), bias_v, t, shift=shift + frac, axis=ax + 1, bias_frac=frac)
        return self.b.insert(op).res

    def _frac_bits(self, c: Current, gain: np.ndarray, offset: np.ndarray, *levels: np.ndarray, extra: np.ndarray | float = 0.0) -> int:
        """The most fraction bits (at most 24) that keep a step's current (and `extra` on top of it)
        and the levels in int32."""
        amp = max(abs(c.lo), abs(c.hi)) * np.abs(np.broadcast_to(c.scale * gain, c.shape)) + np.abs(
            np.broadcast_to(c.bias * gain + offset, c.shape)
        )
        amp = amp + extra
        top = max([float(amp.max())] + [float(np.abs(v).max()) for v in levels] + [1e-12])
        return int(np.clip(np.floor(np.log2((2**31 - 1) / 2 / top)), 0, MAX_FRAC_BITS))

    def _lif(self, c: Current, beta, gain, offset, threshold, reset) -> Spikes:
        shape = c.shape
        rec = self.recurrent.get(self.key)
        w_rec = extra = None
        if rec is not None:  # gain * (W s_{t-1} + b): the bias is a constant current, W a row of integers a spike
            w_rec = _arr(rec.weight)
            if len(shape) != 1 or w_rec.shape != (shape[0], shape[0]):
                raise self.error(f"its recurrent weights {w_rec.shape} do not fit its {shape} neurons", "re-export the layer")
            g = np.broadcast_to(gain, shape).astype(np.float64)
            if getattr(rec, "bias", None) is not None:
                offset = offset + g * _arr(rec.bias).reshape(-1)
            extra = np.abs(w_rec).sum(axis=1) * np.abs(g)
        f = self._frac_bits(c, gain, offset, threshold, reset, extra=0.0 if extra is None else extra)
        current = self._fixed(c, gain, offset, f)
        decay = self.i32s("decay", self._decay(np.broadcast_to(beta, shape)))
        th = self.i32s("threshold", np.rint(np.broadcast_to(threshold, shape) * (1 << f)).astype(np.int64))
        rs = self.i32s("reset", np.rint(np.broadcast_to(reset, shape) * (1 << f)).astype(np.int64))
        if w_rec is not None:
            wq = np.rint((w_rec * np.broadcast_to(gain, shape).reshape(-1, 1)).T * (1 << f)).astype(np.int64)
            if np.abs(wq).max(initial=0) >= 2**31:
                raise self.error("its recurrent weights do not fit 32 bits", "report this model to nscc")
            op = self.b.insert(snn.RecurrentLifOp(current, self.const("recurrent", wq.astype(np.int32)), decay, th, rs))
        else:
            op = self.b.insert(snn.LifOp(current, decay, th, rs))
        self.tag(op.res)
        return Spikes(op.res, shape)

    def _integrate(self, c: Current, beta, gain, offset) -> Current:
        f = self._frac_bits(c, gain, offset)
        # the membrane itself must stay in int32 too: its steady state is the current / (1 - beta)
        headroom = 1.0 / max(float(1 - np.max(beta)), 1.0 / self.steps)
        f = max(0, f - int(np.ceil(np.log2(max(headroom, 1.0)))))
        current = self._fixed(c, gain, offset, f)
        decay = self.i32s("decay", self._decay(np.broadcast_to(beta, c.shape)))
        op = self.b.insert(snn.LeakyIntegrateOp(current, decay))
        self.tag(op.res)
        top = max(abs(c.lo), abs(c.hi)) * float(np.abs(np.broadcast_to(c.scale * gain, c.shape)).max())
        top += float(np.abs(np.broadcast_to(c.bias * gain + offset, c.shape)).max())
        span = int(min(2**31 - 1, np.ceil(top * (1 << f) * headroom) + 1))
        return Current(op.res, c.shape, np.full(1, 2.0**-f), np.zeros(1), -span, span)

    def _euler(self, node, shape, tau_name: str = "tau"):
        tau = self._param(node, tau_name, shape)
        r = self._param(node, "r", shape)
        v_leak = self._param(node, "v_leak", shape)
        if not np.all(np.isfinite(tau)) or np.any(tau <= 0):
            raise self.error(f"{tau_name} must be a positive number of seconds", "re-export the node")
        k = self.dt / tau
        return 1 - k, k * r, k * v_leak

    def lower_lif(self, node, x) -> Spikes:
        c = self.as_current(x)
        beta, gain, offset = self._euler(node, c.shape)
        return self._lif(c, beta, gain, offset, self._param(node, "v_threshold", c.shape), self._param(node, "v_reset", c.shape))

    def lower_if(self, node, x) -> Spikes:
        c = self.as_current(x)
        r = self._param(node, "r", c.shape)
        return self._lif(c, np.ones(1), r, np.zeros(1), self._param(node, "v_threshold", c.shape), self._param(node, "v_reset", c.shape))

    def lower_threshold(self, node, x) -> Spikes:
        c = self.as_current(x)
        return self._lif(c, np.zeros(1), np.ones(1), np.zeros(1), self._param(node, "threshold", c.shape), np.zeros(1))

    def lower_li(self, node, x) -> Current:
        c = self.as_current(x)
        beta, gain, offset = self._euler(node, c.shape)
        return self._integrate(c, beta, gain, offset)

    def lower_i(self, node, x) -> Current:
        c = self.as_current(x)
        return self._integrate(c, np.ones(1), self._param(node, "r", c.shape), np.zeros(1))

    def _synaptic(self, node, x) -> Current:
        c = self.as_current(x)
        tau_syn = self._param(node, "tau_syn", c.shape)
        w_in = self._param(node, "w_in", c.shape)
        k = self.dt / tau_syn
        return self._integrate(c, 1 - k, k * w_in, np.zeros(1))

    def lower_cubalif(self, node, x) -> Spikes:
        syn = self._synaptic(node, x)
        beta, gain, offset = self._euler(node, syn.shape, "tau_mem")
        return self._lif(syn, beta, gain, offset, self._param(node, "v_threshold", syn.shape), self._param(node, "v_reset", syn.shape))

    def lower_cubali(self, node, x) -> Current:
        syn = self._synaptic(node, x)
        beta, gain, offset = self._euler(node, syn.shape, "tau_mem")
        return self._integrate(syn, beta, gain, offset)

    # --- outputs -----------------------------------------------------------------------
    def output(self, x: Spikes | Current) -> SSAValue:
        c = self.as_current(x)
        found = _channels(c.shape, c.scale, c.bias)
        if found is None:
            raise self.error("the value it returns has a scale per element", "return the spikes of a neuron layer")
        ax, (s, b) = found
        t = TensorType(f32, [self.steps, *c.shape])
        bias_v = self.const("out_bias", b.astype(np.float32)) if np.any(b) else None
        op = snn.DecodeOp(c.value, self.const("out_scale", s.astype(np.float32)), bias_v, t, axis=ax + 1)
        return self.b.insert(op).res
