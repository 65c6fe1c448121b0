"""A float nn module run by torch, differentiable in chosen weights: what distillation trains.

The numpy kernels of `nscc.semantics.nn` are the meaning of every op; this is a
mirror of the float ones that a float language model is made of (after
`raise-attention` and `linear-attention`), so that gradients reach the feature
maps and norms that `nscc.quant.distill` tunes. It is checked against the
interpreter on transformers exports (`tests/test_distill.py`). An op it does not
mirror is a one-line error naming it, before anything runs.

torch comes from the optional extra `nscc[train]`; the compiler core does not import this.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping

import numpy as np
from xdsl.dialects.arith import ConstantOp
from xdsl.dialects.builtin import ModuleOp
from xdsl.dialects.func import FuncOp, ReturnOp
from xdsl.ir import Operation

from nscc.errors import NsccError
from nscc.ir import nn
from nscc.ir.constants import dense_value
from nscc.ir.shapes import slice_for
from nscc.semantics.nn import KERNELS, out_shape, prop, window_attention_parts


def require_torch(what: str):
    try:
        import torch
    except ImportError:
        raise NsccError(f"{what} needs torch, which is not installed", "pip install 'nscc[train]'") from None
    return torch


def _mirrors(torch) -> dict[type[Operation], Callable]:
    F = torch.nn.functional
    unary = {
        nn.NegOp: torch.neg, nn.AbsOp: torch.abs, nn.SqrtOp: torch.sqrt, nn.ReciprocalOp: torch.reciprocal,
        nn.ExpOp: torch.exp, nn.LogOp: torch.log, nn.ErfOp: torch.erf, nn.TanhOp: torch.tanh,
        nn.SigmoidOp: torch.sigmoid, nn.ReluOp: torch.relu, nn.SinOp: torch.sin, nn.CosOp: torch.cos,
        nn.SoftplusOp: F.softplus,
    }  # fmt: skip
    binary = {
        nn.AddOp: torch.add, nn.SubOp: torch.sub, nn.MulOp: torch.mul, nn.DivOp: torch.div,
        nn.PowOp: torch.pow, nn.MinOp: torch.minimum, nn.MaxOp: torch.maximum,
    }  # fmt: skip
    m: dict[type[Operation], Callable] = {}
    for t, fn in unary.items():
        m[t] = lambda op, a, fn=fn: fn(a[0])
    for t, fn in binary.items():
        m[t] = lambda op, a, fn=fn: fn(a[0], a[1])

    def reduce(fn):
        return lambda op, a: fn(a[0], dim=list(prop(op, "axes")), keepdim=bool(prop(op, "keepdims")))

    def slice_(op, a):
        x = a[0]
        sel = [slice(None)] * x.dim()
        for s, e, ax, st in zip(prop(op, "starts"), prop(op, "ends"), prop(op, "axes"), prop(op, "steps")):
            sel[ax] = slice_for(x.shape[ax], s, e, st)
        if any(s.step is not None and s.step < 0 for s in sel):
            raise NsccError(f"{op.name} with a negative step is not mirrored in torch", "distillation supports forward slices")
        return x[tuple(sel)]

    def gemm(op, a):
        x, w = a[0], a[1]
        x = x.T if prop(op, "trans_a") else x
        w = w.T if prop(op, "trans_b") else w
        y = (x @ w) * prop(op, "alpha")
        return y + a[2] * prop(op, "beta") if len(a) > 2 else y

    def gelu(op, a):
        return F.gelu(a[0], approximate="tanh" if prop(op, "approximate") == "tanh" else "none")

    def hedgehog(op, a):
        z = a[0] @ a[1]
        return torch.cat([torch.softmax(z, -1), torch.softmax(-z, -1)], -1)

    def linear_attention(op, a):
        f = prop(op, "feature")
        pq, pk = (torch.relu(x) if f == "relu" else torch.where(x > 0, x + 1, torch.exp(x)) for x in a[:2])
        s = pq @ pk.transpose(-1, -2)
        n, t = s.shape[-2:]
        if prop(op, "causal"):
            gap = torch.arange(n)[:, None] + (t - n) - torch.arange(t)[None, :]
            s = s * torch.where(gap >= 0, prop(op, "decay") ** gap.clamp(min=0).to(s.dtype), torch.zeros((), dtype=s.dtype))
        if len(a) > 3:
            mask = a[3].expand_as(s)
            top = mask.amax(-1, keepdim=True)
            s = s * torch.exp(mask - torch.where(torch.isfinite(top), top, torch.zeros_like(top)))
        out = s @ a[2]
        return out / (s.sum(-1, keepdim=True) + 1e-6) if prop(op, "normalize") else out

    def window_attention(op, a):
        q, k, v, pq, pk, r = a[:6]
        near, far = (torch.from_numpy(x) for x in window_attention_parts(q.shape[-2], k.shape[-2], prop(op, "window"), prop(op, "sinks")))
        s = (q @ k.transpose(-1, -2)) * prop(op, "scale")
        if len(a) > 6:
            s = s + a[6]
        s = s.masked_fill(~near, -math.inf)
        top = s.amax(-1, keepdim=True)
        e = torch.exp(s - torch.where(torch.isfinite(top), top, torch.zeros_like(top)))
        pk = pk.repeat_interleave(pq.shape[-3] // pk.shape[-3], dim=-3)
        lin = (pq @ pk.transpose(-1, -2)) * r.view(-1, 1, 1) * far.to(s.dtype)
        if len(a) > 6:
            mask = a[6].expand_as(lin)
            mtop = mask.amax(-1, keepdim=True)
            lin = lin * torch.exp(mask - torch.where(torch.isfinite(mtop), mtop, torch.zeros_like(mtop)))
        e = e + lin
        return (e / (e.sum(-1, keepdim=True) + 1e-6)) @ v

    def attention(op, a):
        s = (a[0] @ a[1].transpose(-1, -2)) * prop(op, "scale")
        if len(a) > 3:
            s = s + a[3]
        if prop(op, "causal"):
            n, t = s.shape[-2:]
            s = s.masked_fill(torch.ones(n, t, dtype=torch.bool).triu(1), -math.inf)
        return torch.softmax(s, -1).nan_to_num(0.0) @ a[2]

    def norm(op, a, rms: bool):
        x = a[0]
        dims = list(range(prop(op, "axis") % x.dim(), x.dim()))
        d = x if rms else x - x.mean(dims, keepdim=True)
        y = d / torch.sqrt((d * d).mean(dims, keepdim=True) + prop(op, "epsilon")) * a[1]
        return y + a[2] if len(a) > 2 else y

    def gather(op, a):
        return torch.index_select(a[0], prop(op, "axis"), a[1].reshape(-1).long()).reshape(out_shape(op))

    def split(op, a):
        axis = prop(op, "axis")
        return tuple(torch.split(a[0], [r.type.get_shape()[axis] for r in op.results], dim=axis))

    m.update({
        nn.MatMulOp: lambda op, a: a[0] @ a[1],
        nn.GemmOp: gemm,
        nn.ReshapeOp: lambda op, a: a[0].reshape(out_shape(op)),
        nn.TransposeOp: lambda op, a: a[0].permute(prop(op, "perm")),
        nn.BroadcastOp: lambda op, a: a[0].expand(out_shape(op)),
        nn.ConcatOp: lambda op, a: torch.cat(list(a), prop(op, "axis")),
        nn.SplitOp: split,
        nn.SliceOp: slice_,
        nn.GatherOp: gather,
        nn.SoftmaxOp: lambda op, a: torch.softmax(a[0], prop(op, "axis")),
        nn.LogSoftmaxOp: lambda op, a: torch.log_softmax(a[0], prop(op, "axis")),
        nn.ReduceMeanOp: reduce(torch.mean), nn.ReduceSumOp: reduce(torch.sum),
        nn.ReduceMaxOp: reduce(torch.amax), nn.ReduceMinOp: reduce(torch.amin),
        nn.GeluOp: gelu,
        nn.SiluOp: lambda op, a: a[0] * torch.sigmoid(a[0] * prop(op, "alpha")),
        nn.AttentionOp: attention,
        nn.LinearAttentionOp: linear_attention,
        nn.WindowAttentionOp: window_attention,
        nn.FeatureMapOp: hedgehog,
        nn.LayerNormOp: lambda op, a: norm(op, a, False),
        nn.RMSNormOp: lambda op, a: norm(op, a, True),
    })  # fmt: skip
    return m


class TorchModule:
    """@main of `module` as a torch function of its inputs; the weights named in
    `trainable` are leaf tensors with gradients (`self.params`), the others constants.

    The matrices named in `adapters` (right operands of nn.matmul, [in, out]) get a
    low-rank update W + A B (LoRA): A [in, r] and B [r, out], B starting at 0, in
    `self.params` under the keys (name, "A") and (name, "B"); `folded()` gives W + A B."""

    def __init__(self, module: ModuleOp, weights: Mapping[str, np.ndarray], trainable=(), adapters=(), rank: int = 8, seed: int = 0) -> None:
        torch = require_torch("distillation")
        self.torch = torch
        main = next((o for o in module.walk() if isinstance(o, FuncOp) and o.sym_name.data == "main"), None)
        if main is None:
            raise NsccError("the module has no @main function", "distillation runs a whole model")
        self.block = main.body.block
        mirrors = _mirrors(torch)
        self.plan: list[tuple[Operation, Callable | None]] = []
        for o in self.block.ops:
            if isinstance(o, nn.WeightOp | ConstantOp | ReturnOp):
                self.plan.append((o, None))
            elif type(o) in mirrors:
                self.plan.append((o, mirrors[type(o)]))
            elif type(o) in KERNELS:
                self.plan.append((o, self._numpy_kernel(KERNELS[type(o)])))
            else:
                raise NsccError(f"distillation: op {o.name} has no torch mirror", "distill before spike-conversion, on a float model")
        self.params: dict = {n: torch.nn.Parameter(torch.from_numpy(np.array(weights[n], np.float32))) for n in trainable}
        gen = torch.Generator().manual_seed(seed)
        for n in adapters:
            d_in, d_out = weights[n].shape
            self.params[(n, "A")] = torch.nn.Parameter(torch.randn(d_in, rank, generator=gen) / d_in**0.5)
            self.params[(n, "B")] = torch.nn.Parameter(torch.zeros(rank, d_out))
        self.adapted = set(adapters)
        self._weights = weights
        last: dict = {}
        for o in self.block.ops:
            for v in o.operands:
                last[v] = o
        self._dead: dict = {}
        for v, o in last.items():
            self._dead.setdefault(o, []).append(v)

    def folded(self) -> dict[str, np.ndarray]:
        """The trained weights as arrays: each trainable one, and W + A B for each adapted W."""
        out = {n: p.detach().numpy().copy() for n, p in self.params.items() if isinstance(n, str)}
        for n in self.adapted:
            ab = (self.params[(n, "A")] @ self.params[(n, "B")]).detach().numpy()
            out[n] = (np.asarray(self._weights[n], np.float32) + ab).astype(np.float32)
        return out

    def _numpy_kernel(self, kernel: Callable) -> Callable:
        """The interpreter's own kernel, for ops off the gradients' path (masks, indices)."""

        def run(op, args):
            if any(a.requires_grad for a in args):
                raise NsccError(f"distillation: op {op.name} has no torch mirror and is on the path of the tuned weights",
                                "tune only weights whose paths run through float arithmetic")  # fmt: skip
            return tuple(self._tensor(y) for y in kernel(op, tuple(a.numpy() for a in args)))

        return run

    def _tensor(self, a: np.ndarray):
        """The array as a tensor, sharing its memory where it can (a float32 weight stays one
        copy however many mirrors read it); the mirrors never write into their inputs."""
        a = np.asarray(a)
        if a.dtype.kind == "f" and a.dtype != np.float32:
            a = a.astype(np.float32)
        if not a.flags.c_contiguous:
            a = np.ascontiguousarray(a)
        with warnings.catch_warnings():  # stored weights are read-only arrays; torch warns that it cannot protect them
            warnings.simplefilter("ignore", UserWarning)
            return self.torch.from_numpy(a)

    def __call__(self, inputs: list[np.ndarray]) -> list:
        env: dict = {arg: self._tensor(x) for arg, x in zip(self.block.args, inputs)}
        outputs = []
        for o, fn in self.plan:
            if isinstance(o, nn.WeightOp):
                name = o.sym.data
                if name in self.params:
                    env[o.res] = self.params[name]
                else:
                    env[o.res] = self._tensor(self._weights[name])
                continue
            if isinstance(o, ConstantOp):
                env[o.result] = self._tensor(dense_value(o))
                continue
            args = [env[v] for v in o.operands]
            if isinstance(o, ReturnOp):
                outputs = args
                break
            w = o.rhs.owner if isinstance(o, nn.MatMulOp) else None
            if isinstance(w, nn.WeightOp) and w.sym.data in self.adapted:
                n = w.sym.data
                y = args[0] @ args[1] + (args[0] @ self.params[(n, "A")]) @ self.params[(n, "B")]
            else:
                y = fn(o, args)
            for r, t in zip(o.results, y if isinstance(y, tuple) else (y,)):
                env[r] = t
            for v in self._dead.get(o, ()):
                env.pop(v, None)
        return outputs

