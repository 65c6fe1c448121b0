"""Brevitas networks trained on the digits at 4-bit weights and activations ("integer training"),
exported to QONNX: what a FINN or hls4ml user hands nscc. Brevitas' defaults: signed
two's-complement inputs ([-8, 7]), narrow signed weights ([-7, 7]), unsigned ReLUs ([0, 15])."""

from __future__ import annotations

import numpy as np


def _train(net, x: np.ndarray, y: np.ndarray, epochs: int, seed: int = 0):
    import torch

    torch.manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y).long()
    net.train()
    for _ in range(epochs):
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 64):
            idx = perm[i : i + 64]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx]).backward()
            opt.step()
    net.eval()
    return net


def mlp(bits: int = 4, epochs: int = 15):
    import brevitas.nn as qnn
    import torch
    from digits_mlp import train

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        qnn.QuantIdentity(bit_width=bits, return_quant_tensor=True),
        qnn.QuantLinear(64, 64, bias=True, weight_bit_width=bits, return_quant_tensor=True),
        qnn.QuantReLU(bit_width=bits, return_quant_tensor=True),
        qnn.QuantLinear(64, 32, bias=True, weight_bit_width=bits, return_quant_tensor=True),
        qnn.QuantReLU(bit_width=bits, return_quant_tensor=True),
        qnn.QuantLinear(32, 10, bias=True, weight_bit_width=bits),
    )
    x, _, y, _ = train.data()
    return _train(net, x, y, epochs), (64,)


def cnn(bits: int = 4, epochs: int = 10):
    import brevitas.nn as qnn
    import torch
    from digits_mlp import train

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        qnn.QuantIdentity(bit_width=bits, return_quant_tensor=True),
        qnn.QuantConv2d(1, 8, 3, padding=1, weight_bit_width=bits, return_quant_tensor=True),
        qnn.QuantReLU(bit_width=bits, return_quant_tensor=True),
        torch.nn.MaxPool2d(2),
        qnn.QuantConv2d(8, 16, 3, padding=1, weight_bit_width=bits, return_quant_tensor=True),
        qnn.QuantReLU(bit_width=bits, return_quant_tensor=True),
        torch.nn.Flatten(),
        qnn.QuantLinear(16 * 4 * 4, 10, bias=True, weight_bit_width=bits),
    )
    x, _, y, _ = train.data()
    return _train(net, x.reshape(-1, 1, 8, 8), y, epochs), (1, 8, 8)


def export(net, shape, path: str, batch: int = 1) -> str:
    import torch
    from brevitas.export import export_qonnx

    export_qonnx(net, input_t=torch.zeros(batch, *shape), export_path=path)
    return path


def qonnx_run(path: str, x: np.ndarray) -> np.ndarray:
    """QONNX's own executor, one batch of the exported size at a time."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    model = ModelWrapper(path)
    name, out = model.graph.input[0].name, model.graph.output[0].name
    batch = model.graph.input[0].type.tensor_type.shape.dim[0].dim_value or 1
    return np.concatenate([execute_onnx(model, {name: x[i : i + batch]})[out] for i in range(0, len(x), batch)])
