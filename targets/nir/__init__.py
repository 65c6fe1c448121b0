"""`nscc export --format nir`: a rate-coded spiking program as a NIR graph.

The program nscc's spike conversion makes (`snn.encode` -> `snn.synapse` or
`snn.conv_synapse` -> `snn.decode` or `snn.requant` -> ...) is a network of
integrate-and-fire neurons run for D time steps: the count an encoder emits
is what a soft-reset IF neuron fires in D steps. NIR has IF neurons, but only
with reset to a value. The export therefore maps

* each encoder to an `IF` layer with `v_threshold` = theta (theta * D for a
  model input, which the graph receives whole every step), `r` = 1,
  `v_reset` = 0;
* each synapse with its decode to an `Affine` (or `Conv2d`) of the real
  weights `W * scale` and the bias spread over the steps (`bias / D`), plus
  theta / (2 D) per step where a requantization rounds (its half);
* average pooling of currents to `SumPool2d` with the 1/k^2 folded into the
  next threshold, flattening to `Flatten`, and a decoded output to `Output`:
  the logits are the sum of its D steps.

Reset to zero loses what a spike does not spend (nscc's neurons keep it):
an IF neuron fed c per step with threshold theta fires once every
ceil(theta / c) steps instead of c / theta times a step. docs/interop.md
gives the bound and the measured agreement. Signed counts (ternary
neurons) would need two populations of opposite sign and are refused, as
are max pooling, integer islands and attention, which NIR has no nodes for.
"""

from __future__ import annotations

import math
import os
import tempfile

import numpy as np
from xdsl.dialects.builtin import ModuleOp
from xdsl.dialects.func import ReturnOp
from xdsl.ir import Operation, SSAValue

from nscc.errors import NsccError, printable
from nscc.ir import nn, snn
from nscc.ir.signature import main_function, signature
from nscc.semantics.folding import constant_value
from nscc.semantics.nn import prop


def _per_output(theta: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    """The thresholds as one per output of the layer before (axis 0 of a sample), or None."""
    flat = theta.reshape(shape[0], -1)
    return flat[:, 0] if np.all(flat == flat[:, :1]) else None


def _where(op: Operation) -> str:
    layer = op.attributes.get("nscc.layer")
    return f"op '{op.name}'" + (f" (layer {printable(layer.data, 80)})" if layer is not None else "")


class _Value:
    """A value of the program as the NIR graph holds it: the node that computes it, and what it is."""

    def __init__(self, key: str, kind: str, shape: tuple[int, ...], divisor: float = 1.0, relu: bool = False):
        self.key, self.kind, self.shape = key, kind, shape  # kind: "current" (per step), "spikes" or "acc" (awaiting its scale)
        self.divisor = divisor  # the current is the real value times 1 / divisor (a pooled sum)
        self.relu = relu
        self.synapse = None  # for "acc": (the op, its input value)


def export_nir(ctx, module: ModuleOp, path: str) -> dict:
    """Writes the module's spiking program as a NIR graph to `path` (atomically); returns what it wrote."""
    try:
        import nir
    except ImportError:
        raise NsccError("nscc export --format nir needs the `nir` package", "pip install 'nscc[nir]'") from None
    graph, steps = _Exporter(ctx.weights, module).run(nir)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".nscc-", suffix=".nir", dir=directory)
    os.close(fd)
    try:
        nir.write(tmp, graph)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return {"nodes": len(graph.nodes), "steps": steps}


class _Exporter:
    def __init__(self, store, module: ModuleOp):
        self.store, self.module = store, module
        self.nodes: dict = {}
        self.edges: list[tuple[str, str]] = []
        self.values: dict[SSAValue, _Value] = {}
        self.window: int | None = None
        self.names: set[str] = set()

    def refuse(self, op: Operation, why: str, hint: str) -> NsccError:
        return NsccError(f"export to NIR: {_where(op)}: {why}", hint)

    def const(self, op: Operation, v: SSAValue, what: str) -> np.ndarray:
        a = constant_value(v, self.store)
        if a is None:
            raise self.refuse(op, f"its {what} is computed, not a constant", "export the program spike-conversion made")
        return np.asarray(a, np.float64)

    def key(self, op: Operation, kind: str) -> str:
        layer = op.attributes.get("nscc.layer")
        base = f"{kind}_{printable(layer.data, 40)}" if layer is not None else kind
        base = "".join(c if c.isalnum() or c in "_.-" else "_" for c in base)
        name, i = base, 1
        while name in self.names:
            i += 1
            name = f"{base}_{i}"
        self.names.add(name)
        return name

    def add(self, key: str, node, *sources: str) -> str:
        self.nodes[key] = node
        self.edges.extend((s, key) for s in sources)
        return key

    def value(self, op: Operation, v: SSAValue) -> _Value:
        if v not in self.values:
            raise self.refuse(op, "it reads a value the export could not map", "export the program spike-conversion made")
        return self.values[v]

    def run(self, nir):
        self.nir = nir
        fn = main_function(self.module)
        sig = signature(self.module)
        for (name, shape, _), arg in zip(sig.inputs, fn.body.block.args):
            per_sample = tuple(shape[1:])
            key = "".join(c if c.isalnum() or c in "_.-" else "_" for c in printable(name, 40)) or "input"
            self.names.add(key)
            self.add(key, nir.Input(input_type=np.array(per_sample)))
            self.values[arg] = _Value(key, "input", per_sample)
        for op in fn.body.block.ops:
            self.lower(op)
        if self.window is None:
            raise NsccError("export to NIR: the program has no spiking layers", "make it spike first: -p spike-conversion")
        graph = nir.NIRGraph(nodes=self.nodes, edges=self.edges, metadata={"source": "nscc", "steps": self.window})
        return graph, self.window

    # --- ops -----------------------------------------------------------------------
    def lower(self, op: Operation) -> None:
        nir = self.nir
        if isinstance(op, nn.WeightOp) or (not op.operands and not isinstance(op, ReturnOp)):
            return
        if isinstance(op, snn.EncodeOp):
            return self.encode(op)
        if isinstance(op, snn.SynapseOp | snn.ConvSynapseOp):
            x = self.value(op, op.input)
            if x.kind != "spikes":
                raise self.refuse(op, "its input is not the spikes of an encoder", "export the program spike-conversion made")
            acc = _Value("", "acc", tuple(op.res.type.get_shape()[1:]))
            acc.synapse = (op, x)
            self.values[op.res] = acc
            return
        if isinstance(op, snn.DecodeOp):
            return self.weights(op, op.input, self.const(op, op.scale, "scale"), op.bias, None)
        if isinstance(op, snn.RequantOp):
            if not isinstance(op.res.type, snn.CountsType):
                raise self.refuse(
                    op, "it requantizes into an integer island, which NIR cannot express", "export programs without integer-islands"
                )
            self.check_counts(op, op.res.type)
            m = self.const(op, op.multiplier, "multiplier") * 2.0 ** -prop(op, "shift")
            # counts = ((acc << f) + B) * m: a count's worth of acc is m 2^f, of the bias m
            return self.weights(op, op.input, m * 2.0 ** (prop(op, "bias_frac") or 0), op.bias, op.res.type, m)
        if isinstance(op, nn.ReluOp):
            x = self.value(op, op.input)
            if x.kind != "current":
                raise self.refuse(op, "it rectifies something other than a current", "ReLU belongs between a layer and its encoder")
            y = _Value(x.key, "current", x.shape, x.divisor, True)
            self.values[op.res] = y
            return
        if isinstance(op, nn.AvgPoolOp):
            return self.pool(op)
        if isinstance(op, nn.ReshapeOp):
            return self.flatten(op)
        if isinstance(op, ReturnOp):
            for i, v in enumerate(op.operands):
                x = self.value(op, v)
                if x.kind not in ("current", "spikes") or x.relu or x.divisor != 1:
                    raise self.refuse(op, f"output {i} is not a layer's output", "return a decoded layer")
                key = self.key(op, f"output{i}" if len(op.operands) > 1 else "output")
                self.add(key, nir.Output(output_type=np.array(x.shape)), x.key)
            return
        if isinstance(op, nn.GemmOp | nn.MatMulOp | nn.ConvOp):
            raise self.refuse(op, "it is a float layer; NIR export takes the spiking program", "make it spike first: -p spike-conversion")
        why = {
            nn.MaxPoolOp: "NIR has no max pooling",
            snn.AttentionOp: "NIR has no attention",
            snn.LinearAttentionOp: "NIR has no attention",
        }.get(type(op), "NIR has no node for it")
        raise self.refuse(op, why, "export CNNs and MLPs whose layers are synapses, ReLU, average pooling and flattening")

    def check_counts(self, op: Operation, t: snn.CountsType) -> None:
        if t.signed.data:
            raise self.refuse(
                op, "its counts are signed (ternary neurons); NIR's IF neurons fire one sign", "convert with unsigned encoders"
            )
        if self.window is None:
            self.window = t.levels.data
        if t.levels.data != self.window:
            raise self.refuse(
                op,
                f"its window D={t.levels.data} differs from the first layer's D={self.window}; a NIR graph runs one clock",
                "use one level count",
            )

    def encode(self, op: snn.EncodeOp) -> None:
        nir = self.nir
        self.check_counts(op, op.res.type)
        x = self.value(op, op.input)
        if x.kind not in ("current", "input"):
            raise self.refuse(op, "it encodes something other than a current or a model input", "export the program spike-conversion made")
        theta = np.broadcast_to(self.const(op, op.theta, "threshold"), (1, *x.shape)).reshape(x.shape)
        # a model input arrives whole every step; a layer's current is 1/D of its total a step
        theta = theta * (self.window if x.kind == "input" else 1) * x.divisor
        layer = self.nodes.get(x.key)
        only_reader = op.input.has_one_use() and (not isinstance(op.input.owner, nn.ReluOp) or op.input.owner.input.has_one_use())
        if isinstance(layer, nir.Affine | nir.Conv2d) and only_reader and x.divisor == 1 and _per_output(theta, x.shape) is not None:
            # reset to zero scales with the membrane: threshold theta on c fires as threshold 1 on c / theta,
            # and readers that take one threshold a layer (snnTorch) can read it
            t = _per_output(theta, x.shape)
            layer.weight = (layer.weight / t.reshape(-1, *([1] * (layer.weight.ndim - 1)))).astype(np.float32)
            layer.bias = (layer.bias / t).astype(np.float32)
            theta = np.ones(x.shape)
        key = self.key(op, "if")
        n = x.shape
        self.add(key, nir.IF(r=np.ones(n), v_threshold=theta.astype(np.float32), v_reset=np.zeros(n)), x.key)
        self.values[op.res] = _Value(key, "spikes", x.shape)

    def weights(
        self, op: Operation, acc_v: SSAValue, scale: np.ndarray, bias_v, counts: snn.CountsType | None, bias_scale: np.ndarray | None = None
    ) -> None:
        """A synapse and its decode (real currents) or requant (counts: an IF of threshold 1 after it)."""
        nir = self.nir
        acc = self.value(op, acc_v)
        if acc.kind != "acc":
            raise self.refuse(op, "it does not read a synapse", "export the program spike-conversion made")
        syn, x = acc.synapse
        if len(x.shape) != (1 if isinstance(syn, snn.SynapseOp) else 3):
            raise self.refuse(
                syn, f"its input has per-sample shape {x.shape}; NIR's layers take vectors and images", "export MLPs and CNNs"
            )
        d = self.window
        bias = self.const(op, bias_v, "bias") if bias_v is not None else np.zeros(1)
        axis = prop(op, "axis") % len(acc_v.type.get_shape())
        w = self.const(syn, syn.weight, "weights")
        if isinstance(syn, snn.SynapseOp):
            if axis != len(acc_v.type.get_shape()) - 1:
                raise self.refuse(op, "its scales are not per output", "export the program spike-conversion made")
            if syn.group_scale is not None:
                m = self.const(syn, syn.group_scale, "group scales")
                w = w * np.repeat(m, w.shape[0] // m.shape[0], axis=0)
            n_out = w.shape[1]
            s = np.broadcast_to(scale.reshape(-1), (n_out,))
            b = np.broadcast_to(bias.reshape(-1), (n_out,)) * (
                np.broadcast_to(bias_scale.reshape(-1), (n_out,)) if counts is not None else 1
            )
            weight = (w * s[None, :]).T
        else:
            if axis != 1:
                raise self.refuse(op, "its scales are not per output channel", "export the program spike-conversion made")
            n_out = w.shape[0]
            s = np.broadcast_to(scale.reshape(-1), (n_out,))
            b = np.broadcast_to(bias.reshape(-1), (n_out,)) * (
                np.broadcast_to(bias_scale.reshape(-1), (n_out,)) if counts is not None else 1
            )
            weight = w * s.reshape(-1, *([1] * (w.ndim - 1)))
        per_step = b / d + (0.5 / d if counts is not None else 0.0)  # a requant rounds half up: half a threshold
        key = self.key(syn, "affine" if isinstance(syn, snn.SynapseOp) else "conv")
        if isinstance(syn, snn.SynapseOp):
            node = nir.Affine(weight=weight.astype(np.float32), bias=per_step.astype(np.float32))
        else:
            pads = list(prop(syn, "pads"))
            nd = w.ndim - 2
            if nd != 2 or pads[:nd] != pads[nd:]:
                raise self.refuse(syn, "NIR's Conv2d takes 2-D convolutions with symmetric padding", "pad symmetrically")
            node = nir.Conv2d(
                input_shape=np.array(x.shape[1:]),
                weight=weight.astype(np.float32),
                stride=np.array(prop(syn, "strides")),
                padding=np.array(pads[:nd]),
                dilation=np.array(prop(syn, "dilations")),
                groups=int(prop(syn, "group")),
                bias=per_step.astype(np.float32),
            )
        self.add(key, node, x.key)
        shape = tuple(op.res.type.get_shape()[1:])
        if counts is None:
            self.values[op.res] = _Value(key, "current", shape)
            return
        fire = self.key(op, "if")
        self.add(fire, nir.IF(r=np.ones(shape), v_threshold=np.ones(shape, np.float32), v_reset=np.zeros(shape)), key)
        self.values[op.res] = _Value(fire, "spikes", shape)

    def pool(self, op: nn.AvgPoolOp) -> None:
        nir = self.nir
        x = self.value(op, op.input)
        if x.kind != "current" or x.relu:
            raise self.refuse(op, "it pools a rectified value; NIR pools linearly", "pool before the ReLU (Conv -> AvgPool -> ReLU)")
        k, st, pads = list(prop(op, "kernel")), list(prop(op, "strides")), list(prop(op, "pads"))
        if len(k) != 2 or pads[:2] != pads[2:] or any(pads):
            raise self.refuse(op, "NIR's pooling here takes 2-D windows without padding", "pool without padding")
        key = self.key(op, "sumpool")
        self.add(key, nir.SumPool2d(kernel_size=np.array(k), stride=np.array(st), padding=np.array([0, 0])), x.key)
        self.values[op.res] = _Value(key, "current", tuple(op.res.type.get_shape()[1:]), x.divisor * math.prod(k))

    def flatten(self, op: nn.ReshapeOp) -> None:
        nir = self.nir
        x = self.value(op, op.input)
        shape = tuple(op.res.type.get_shape()[1:])
        if x.kind == "acc":
            raise self.refuse(op, "it flattens integer accumulators (requant-fusion's form)", "export the program before requant-fusion")
        if op.input.type.get_shape()[0] != op.res.type.get_shape()[0] or len(shape) != 1 or x.kind not in ("current", "spikes"):
            raise self.refuse(op, "only flattening each sample is supported", "reshape within the ONNX model")
        key = self.key(op, "flatten")
        self.add(key, nir.Flatten(input_type={"input": np.array(x.shape)}, start_dim=0, end_dim=-1), x.key)
        self.values[op.res] = _Value(key, x.kind, shape, x.divisor, x.relu)
