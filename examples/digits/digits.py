"""A small CNN on scikit-learn's bundled digits (8x8 grey images, 10 classes; nothing is downloaded).

``python examples/digits/digits.py --out examples/digits/models`` trains one model per seed (a few
seconds each on two cores) and writes, per seed ``s``: ``cnn-s<s>.onnx`` (the ONNX export accelsim
imports and onnxruntime evaluates), ``cnn-s<s>.pt`` (the state dict, for recovery fine-tunes), and
once: ``test.npz`` / ``train.npz`` (``x`` float32 ``(n, 1, 8, 8)`` in [0, 1], ``y`` int64 labels).
The split is fixed (``random_state=0``, 25 % test); a seed changes the weight initialization and
the order of the training batches.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

SEEDS = (0, 1, 2)


def data_split():
    """(x_train, y_train, x_test, y_test): digits scaled to [0, 1], shape (n, 1, 8, 8), fixed split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images / 16.0).astype(np.float32)[:, None]
    y = d.target.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    return xtr, ytr, xte, yte


def build():
    """conv 3x3 (1 -> 16) - relu - conv 3x3 (16 -> 32) - relu - maxpool 2 - flatten - fc 512 -> 64 - relu - fc 64 -> 10."""
    import torch.nn as nn

    class DigitsCNN(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
            self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
            self.pool = nn.MaxPool2d(2)
            self.fc1 = nn.Linear(32 * 4 * 4, 64)
            self.fc2 = nn.Linear(64, 10)
            self.relu = nn.ReLU()

        def forward(self, x):
            x = self.relu(self.conv1(x))
            x = self.pool(self.relu(self.conv2(x)))
            x = x.flatten(1)
            return self.fc2(self.relu(self.fc1(x)))

    return DigitsCNN()


def train(seed: int, xtr, ytr, epochs: int = 15, lr: float = 3e-3, batch: int = 64):
    import torch

    torch.manual_seed(seed)
    net = build()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    loss_fn = torch.nn.CrossEntropyLoss()
    x, y = torch.from_numpy(xtr), torch.from_numpy(ytr)
    gen = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), batch):
            idx = order[i:i + batch]
            loss = loss_fn(net(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return net.eval()


def export_onnx(net, path: Path) -> None:
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.zeros(1, 1, 8, 8),), str(path), dynamo=False, opset_version=17,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})


def main(argv=None) -> int:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).parent / "models"))
    ap.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # tiny model: more threads only contend
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    xtr, ytr, xte, yte = data_split()
    np.savez(out / "train.npz", x=xtr, y=ytr)
    np.savez(out / "test.npz", x=xte, y=yte)
    for seed in args.seeds:
        t0 = time.perf_counter()
        net = train(seed, xtr, ytr)
        with torch.no_grad():
            acc = float((net(torch.from_numpy(xte)).argmax(1).numpy() == yte).mean())
        torch.save(net.state_dict(), out / f"cnn-s{seed}.pt")
        export_onnx(net, out / f"cnn-s{seed}.onnx")
        print(f"seed {seed}: test top-1 {acc:.4f} ({time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
