"""Recovery: a short fine-tune of a compressed torch model with its mask and quantization grid held fixed.

ShrinkBench (Blalock et al., MLSys 2020) reports pruned accuracy with and without fine-tuning. Here
the start point is the evaluated compressed model (:mod:`accelsim.accuracy.weights`); each layer the
recipe changed is trained under two constraints, re-applied after every optimizer step:

* mask: weights that are zero in the effective matrix stay exactly zero (gradients masked too);
* grid: in a quantized / shared layer (the recipe set ``weight_bits`` or a codebook) every kept
  weight is snapped to the nearest value of the layer's grid - the distinct values of its effective
  matrix (per output row for per-channel quantization: a row's scale is its own). Levels do not
  move; weights move between the levels the compressed layer uses.

Low-rank substitutions (``svd``, ``tucker2``, ``depthwise_separable``) are refused: a dense fine-tune
would leave the factorized form. Loss: cross entropy on ``(x, y)`` batches (classifiers, or next-token
language models with outputs ``(batch, seq, vocab)``), Adam.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from accelsim.accuracy.base import AccuracyError
from accelsim.accuracy.data import as_dataset
from accelsim.accuracy.weights import SUFFIXES
from accelsim.compress.compressed import CompressedGraph


def _grid(cl) -> tuple[np.ndarray | list[np.ndarray], bool] | None:
    """The layer's value grid (one sorted array, or one per row when per-channel), or None."""
    if cl is None or (cl.weight_bits is None and cl.codebook_size is None):
        return None
    m = np.asarray(cl.weight_matrix)
    # per-channel scales (the recipe's transform labels say so) or a per-row codebook: one grid per row
    per_row = any(t.endswith("-per-channel") for t in cl.transforms) or (
        cl.view.codebook_table is not None and np.ndim(cl.view.codebook_table) == 2)
    if per_row:
        return [np.unique(row) for row in m], True
    return np.unique(m), False


def _snap(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    idx = np.clip(np.searchsorted(grid, values), 1, len(grid) - 1) if len(grid) > 1 else np.zeros(values.shape, int)
    if len(grid) == 1:
        return np.full_like(values, grid[0])
    lo, hi = grid[idx - 1], grid[idx]
    return np.where(values - lo <= hi - values, lo, hi)


def finetune(backend, cg: CompressedGraph, eff: Mapping[str, np.ndarray], *, data: Any, epochs: int = 1,
             lr: float = 1e-3, seed: int = 0, batch_size: int = 64, num_threads: int = 1) -> Any:
    """A fine-tuned copy of ``backend.module`` started from the effective weights ``eff`` (see module doc);
    ``num_threads`` torch threads while training (1: small models gain nothing from more)."""
    import torch

    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise AccuracyError(f"recovery.epochs must be an int >= 0; got {epochs!r}")
    if not isinstance(lr, (int, float)) or not lr > 0:
        raise AccuracyError(f"recovery.lr must be a number > 0; got {lr!r}")
    for name in eff:
        if name not in cg.layers and any(name + s[0] in cg.layers for s in SUFFIXES.values()):
            raise AccuracyError(f"recovery: layer '{name}' was replaced by a low-rank / separable form; "
                                "fine-tuning it dense would undo that")
    train = as_dataset(data, batch_size=batch_size)
    train.require_labels("recovery (fine-tuning)")
    net = backend.with_weights(eff)
    params = dict(net.named_parameters())
    constraints = []
    for name, w in eff.items():
        cl = cg.layers.get(name)
        if cl is None or not cl.is_compressed and not np.any(w == 0):
            continue
        p = params[backend.binding[name]]
        mask = torch.from_numpy(np.ascontiguousarray(w != 0)).reshape(p.shape)
        grid = _grid(cl)
        constraints.append((p, mask, grid, w.shape))
    threads = torch.get_num_threads()
    torch.set_num_threads(int(num_threads))  # small models: more threads only contend (with Numba's too)
    try:
        return _train(net, constraints, train, epochs, lr, seed)
    finally:
        torch.set_num_threads(threads)


def _train(net, constraints, train, epochs: int, lr: float, seed: int):
    import torch

    gen = torch.Generator().manual_seed(int(seed))
    torch.manual_seed(int(seed))
    opt = torch.optim.Adam(net.parameters(), lr=float(lr))
    loss_fn = torch.nn.CrossEntropyLoss()
    net.train()
    batches = list(train.batches)
    for _ in range(epochs):
        for i in torch.randperm(len(batches), generator=gen).tolist():
            x, y = batches[i]
            xt = torch.from_numpy(np.ascontiguousarray(x))
            xt = xt.float() if xt.is_floating_point() else xt
            out = net(xt)
            yt = torch.from_numpy(y)
            loss = loss_fn(out.reshape(-1, out.shape[-1]), yt.reshape(-1))
            opt.zero_grad()
            loss.backward()
            for p, mask, _, _ in constraints:
                if p.grad is not None:
                    p.grad.mul_(mask)
            opt.step()
            with torch.no_grad():
                for p, mask, grid, shape in constraints:
                    p.mul_(mask)
                    if grid is not None:
                        v = p.detach().cpu().numpy().reshape(shape[0], -1)
                        g, per_row = grid
                        snapped = np.stack([_snap(r, gr) for r, gr in zip(v, g)]) if per_row else _snap(v, g)
                        snapped = np.where(mask.numpy().reshape(v.shape), snapped, 0)
                        p.copy_(torch.from_numpy(snapped.astype(v.dtype)).reshape(p.shape))
    net.eval()
    return net


__all__ = ["finetune"]
