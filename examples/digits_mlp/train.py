"""Trains the bundled example: an MLP on scikit-learn's 8x8 digits (shipped with
scikit-learn, no download), exported to ONNX next to this file.

    pip install -e '.[examples]'  &&  python examples/digits_mlp/train.py

Writes model.onnx, digits.npy (16 test images, batch first), labels.npy and
calib.npz (256 training images, for `--calib`).
"""

import os

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))


def data():
    """The 1,797 digits, scaled to [0, 1], split 75/25 with stratification."""
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    return train_test_split(x, y, test_size=0.25, stratify=y, random_state=0)


def train(model: nn.Module, epochs: int, image: bool = False) -> nn.Module:
    """Adam, batch 64, cross-entropy; `image` reshapes inputs to 1x8x8 for CNNs."""
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


def main() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    model = train(nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10)), 60)
    _, xte, _, yte = data()
    with torch.no_grad():
        acc = (model(torch.from_numpy(xte)).argmax(1).numpy() == yte).mean()
    print(f"test accuracy {acc:.3f}")
    batch = torch.from_numpy(xte[:16])
    torch.onnx.export(
        model, (batch,), os.path.join(HERE, "model.onnx"), dynamo=False, opset_version=18,
        input_names=["image"], output_names=["logits"], dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}},
    )  # fmt: skip
    np.save(os.path.join(HERE, "digits.npy"), xte[:16])
    np.save(os.path.join(HERE, "labels.npy"), yte[:16].astype(np.int64))
    write_calibration()


def write_calibration() -> None:
    xtr, _, _, _ = data()
    np.savez(os.path.join(HERE, "calib.npz"), image=xtr[:256])


if __name__ == "__main__":
    main()
