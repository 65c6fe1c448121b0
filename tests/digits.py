"""scikit-learn's 8x8 digits (shipped inside the package: no download), and
an MLP and a CNN trained on them in a few seconds, exported to ONNX."""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch_models as M
from digits_mlp import train as _example
from torch import nn

data = functools.cache(_example.data)
train = _example.train


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return train(nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10)), 40, image=False)


def cnn() -> nn.Module:
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Linear(32 * 2 * 2, 64), nn.ReLU(), nn.Linear(64, 10),
    )  # fmt: skip
    return train(net, 30, image=True)


def export(model: nn.Module, path: str, image: bool, batch: int = 50) -> str:
    x = torch.zeros((batch, 1, 8, 8) if image else (batch, 64))
    return M.export(model, (x,), path, ["image"], ["logits"], dynamo=False)


def batches(x: np.ndarray, batch: int, image: bool) -> list[dict[str, np.ndarray]]:
    x = x.reshape(-1, 1, 8, 8) if image else x
    n = len(x) - len(x) % batch
    return [{"image": x[i : i + batch]} for i in range(0, n, batch)]
