"""A float64 reader of the NIR nodes nscc's export writes (Input, Affine, Conv2d, SumPool2d,
Flatten, IF, Output), stepping one sample: the reference the export is checked against,
with NIR's reset to zero or with nscc's own neuron (reset by subtraction, the membrane
starting at half the threshold), under which the graph must reproduce nscc's program."""

from __future__ import annotations

import nir
import numpy as np
import torch
import torch.nn.functional as F


def simulate(graph, x: np.ndarray, steps: int, nscc_neurons: bool = False) -> np.ndarray:
    """The sum over `steps` of the graph's output for one sample x, fed whole at every step."""
    preds = {k: [] for k in graph.nodes}
    for a, b in graph.edges:
        preds[b].append(a)
    order, seen = [], set()

    def visit(k):
        if k not in seen:
            seen.add(k)
            for p in preds[k]:
                visit(p)
            order.append(k)

    for k in graph.nodes:
        visit(k)
    f64 = torch.float64
    membrane, total = {}, 0.0
    for _ in range(steps):
        val = {}
        for k in order:
            n = graph.nodes[k]
            x_in = sum(val[p] for p in preds[k]) if preds[k] else None
            if isinstance(n, nir.Input):
                val[k] = torch.tensor(x, dtype=f64)
            elif isinstance(n, nir.Affine):
                val[k] = x_in @ torch.tensor(n.weight, dtype=f64).T + torch.tensor(n.bias, dtype=f64)
            elif isinstance(n, nir.Conv2d):
                w, b = torch.tensor(n.weight, dtype=f64), torch.tensor(n.bias, dtype=f64)
                y = F.conv2d(
                    x_in[None], w, b, stride=tuple(n.stride), padding=tuple(n.padding), dilation=tuple(n.dilation), groups=n.groups
                )
                val[k] = y[0]
            elif isinstance(n, nir.SumPool2d):
                k2 = tuple(int(v) for v in n.kernel_size)
                val[k] = F.avg_pool2d(x_in[None], k2, tuple(int(v) for v in n.stride))[0] * (k2[0] * k2[1])
            elif isinstance(n, nir.Flatten):
                val[k] = x_in.reshape(-1)
            elif isinstance(n, nir.IF):
                th = torch.tensor(np.asarray(n.v_threshold), dtype=f64)
                v = membrane.get(k, th / 2 if nscc_neurons else torch.zeros_like(x_in)) + x_in
                s = (v >= th if nscc_neurons else v > th).to(f64)
                membrane[k] = v - s * th if nscc_neurons else v * (1 - s)
                val[k] = s
            elif isinstance(n, nir.Output):
                val[k] = x_in
                total = total + x_in
            else:
                raise ValueError(f"the reference reader does not know {type(n).__name__}")
    return np.asarray(total)
