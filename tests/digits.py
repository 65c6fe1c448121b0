"""scikit-learn's 8x8 digits (shipped inside the package: no download), and
an MLP and a CNN trained on them in a few seconds, exported to ONNX."""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import nn

import torch_models as M


@functools.cache
def data():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    return train_test_split(x, y, test_size=0.25, stratify=y, random_state=0)


def train(model: nn.Module, epochs: int, image: bool) -> nn.Module:
    xtr, _, ytr, _ = data()
    torch.manual_seed(0)
    xt = torch.from_numpy(xtr.reshape(-1, 1, 8, 8) if image else xtr)
    yt = torch.from_numpy(ytr)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 64):
            idx = perm[i : i + 64]
            loss = nn.functional.cross_entropy(model(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


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
