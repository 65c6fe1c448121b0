"""snnTorch networks exported to NIR, and snnTorch's own run of a NIR graph: what a user of
that framework hands nscc, and the reference nscc's spikes are compared with.

snnTorch 1.0's exporter needs per-neuron tensors for beta and threshold (a scalar gives
NIR nodes without a shape, which nir's type inference rejects) and a sample without the
batch axis (`ignore_dims=[0]`); docs/interop.md says so too.
"""

from __future__ import annotations

import numpy as np


def _grid(module, bits: int) -> None:
    """Weights and biases on the grid 2^-bits: what a network trained for an integer chip has."""
    import torch

    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.round(p * 2**bits) / 2**bits)


def mlp(seed: int = 0, dyadic: bool = True, beta=(0.875, 0.5, 0.75), gain: float = 3.0):
    """Linear -> Leaky -> Linear -> Synaptic (CubaLIF): 16 inputs, 4 outputs."""
    import snntorch as snn
    import torch

    torch.manual_seed(seed)

    def full(n, v):
        return torch.full((n,), float(v))

    net = torch.nn.Sequential(
        torch.nn.Linear(16, 12),
        snn.Leaky(beta=full(12, beta[0]), threshold=full(12, 1.0), init_hidden=True),
        torch.nn.Linear(12, 4),
        snn.Synaptic(alpha=full(4, beta[1]), beta=full(4, beta[2]), threshold=full(4, 1.0), init_hidden=True, output=True),
    )
    with torch.no_grad():
        net[0].weight.mul_(gain)
        net[2].weight.mul_(gain)
    if dyadic:
        _grid(net, 6)
    return net, (16,)


def cnn(seed: int = 0, dyadic: bool = True, beta=(0.875, 0.5)):
    """Conv2d -> Leaky -> AvgPool2d -> Flatten -> Linear -> Leaky on 1 x 8 x 8 frames."""
    import snntorch as snn
    import torch

    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, (3, 3), padding=(1, 1)),
        snn.Leaky(beta=torch.full((4, 8, 8), beta[0]), threshold=torch.ones(4, 8, 8), init_hidden=True),
        torch.nn.AvgPool2d((2, 2)),
        torch.nn.Flatten(),
        torch.nn.Linear(64, 10),
        snn.Leaky(beta=torch.full((10,), beta[1]), threshold=torch.ones(10), init_hidden=True, output=True),
    )
    with torch.no_grad():
        net[0].weight.mul_(4.0)
        net[4].weight.mul_(6.0)
    if dyadic:
        _grid(net, 6)
    return net, (1, 8, 8)


def rnn(seed: int = 0):
    """Linear -> RLeaky (all-to-all recurrent weights with a bias) -> Linear -> Leaky, with the
    reset NIR can express (to zero, at once): run as it is, it is the reference for its export.
    (snnTorch's own import of the cycle steps it differently.)"""
    import snntorch as snn
    import torch

    torch.manual_seed(seed)
    ones = dict(reset_mechanism="zero", reset_delay=False, init_hidden=True)
    net = torch.nn.Sequential(
        torch.nn.Linear(16, 8),
        snn.RLeaky(beta=torch.full((8,), 0.875), threshold=torch.ones(8), linear_features=8, **ones),
        torch.nn.Linear(8, 4),
        snn.Leaky(beta=torch.full((4,), 0.5), threshold=torch.ones(4), output=True, **ones),
    )
    with torch.no_grad():
        net[0].weight.mul_(3.0)
        net[2].weight.mul_(3.0)
    _grid(net, 6)
    return net, (16,)


def run_network(net, x: np.ndarray) -> np.ndarray:
    """The snnTorch network itself, stepped over the time axis of x (batch 1)."""
    import torch
    from snntorch import utils

    utils.reset(net)
    out = []
    with torch.no_grad():
        for t in range(x.shape[0]):
            y = net(torch.from_numpy(x[t : t + 1]))
            out.append((y[0] if isinstance(y, tuple) else y).numpy().reshape(-1))
    return np.stack(out)


def export(net, shape):
    import torch
    from snntorch.export_nir import export_to_nir

    return export_to_nir(net, torch.zeros(1, *shape), ignore_dims=[0])


def spikes(shape, steps: int, rate: float = 0.3, seed: int = 1) -> np.ndarray:
    return (np.random.default_rng(seed).random((steps, *shape)) < rate).astype(np.float32)


def snntorch_run(graph, x: np.ndarray) -> np.ndarray:
    """snnTorch's import of the NIR graph, stepped over the time axis of x (batch 1)."""
    import copy

    import torch
    from snntorch.import_nir import import_from_nir

    net = import_from_nir(copy.deepcopy(graph))  # it rewrites recurrent cycles in the graph it is given
    state, out = None, []
    with torch.no_grad():
        for t in range(x.shape[0]):
            y, state = net(torch.from_numpy(x[t : t + 1]), state)
            out.append((y[0] if isinstance(y, tuple) else y).numpy())
    return np.concatenate(out).reshape(x.shape[0], -1)
