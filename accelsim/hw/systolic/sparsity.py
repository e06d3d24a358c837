"""Zero-skipping on the real weight pattern, fold by fold (docs/models/systolic.md §4.4)."""

from __future__ import annotations

import numpy as np

from accelsim.errors import SimulationError
from accelsim.hw.systolic import _kernels as K
from accelsim.workload.layers import Conv2d

DF_CODE = {"os": 0, "ws": 1, "is": 2}


def unit_masks(layer, weight_matrix: np.ndarray, n_units: int) -> list[np.ndarray]:
    """Non-zero masks ``(filters, WIN)`` of each unit in SCALE-Sim's window order ``(kh, kw, c)``."""
    nz = np.asarray(weight_matrix) != 0
    expected = layer.weight_matrix_shape
    if nz.ndim != 2 or (expected is not None and nz.shape != tuple(expected)):
        raise SimulationError(
            f"layer '{layer.name}': weight matrix has shape {list(nz.shape)}, expected {list(expected or ())} "
            "(rows = outputs, columns = reduction inputs)")
    rows = nz.shape[0] // n_units
    masks = []
    for g in range(n_units):
        m = nz[g * rows:(g + 1) * rows]
        if isinstance(layer, Conv2d):
            cg = layer.in_channels // layer.groups
            kh, kw = layer.kernel
            m = m.reshape(rows, cg, kh, kw).transpose(0, 2, 3, 1).reshape(rows, kh * kw * cg)
        masks.append(np.ascontiguousarray(m))
    return masks


def reduce_mask(mask: np.ndarray, geom_full, geom_run) -> np.ndarray:
    """OR-reduce a mask to a packed / shortened reduction (a packed step is non-zero if any part is)."""
    if geom_full.win == geom_run.win:
        return mask
    nf = mask.shape[0]
    if geom_full.C > 1 or geom_full.FH * geom_full.FW == 1:
        c0, c1 = geom_full.C, geom_run.C
        m = mask.reshape(nf, geom_full.FH * geom_full.FW, c0)
        pad = c1 * (-(-c0 // c1)) - c0
        f = -(-c0 // c1)
        m = np.concatenate([m, np.zeros((nf, m.shape[1], pad), bool)], axis=2) if pad else m
        m = m.reshape(nf, m.shape[1], c1, f).any(axis=3)
        return np.ascontiguousarray(m.reshape(nf, -1))
    # one channel (GEMM form, a one-channel convolution, a depthwise unit): packed along each filter row
    w0, w1, fh = geom_full.FW, geom_run.FW, geom_full.FH
    f = -(-w0 // w1)
    pad = w1 * f - w0
    m = mask.reshape(nf, fh, w0)
    m = np.concatenate([m, np.zeros((nf, fh, pad), bool)], axis=2) if pad else m
    return np.ascontiguousarray(m.reshape(nf, fh, w1, f).any(axis=3).reshape(nf, fh * w1))


def skipped_compute_cycles(config, layer, weight_matrix, geom_full, geom_run, n_units) -> dict:
    """Stall-free compute cycles summed over all units with zero-skipping, and what was skipped."""
    tot = np.zeros(5, np.int64)
    for mask in unit_masks(layer, weight_matrix, n_units):
        mask = reduce_mask(mask, geom_full, geom_run)
        tot += K.skip_zero_fold_cycles(DF_CODE[config.dataflow], config.rows, config.cols, geom_run.npx, mask)
    return {"compute_cycles": int(tot[0]), "dense_compute_cycles": int(tot[1]), "folds_skipped": int(tot[2]),
            "steps_streamed": int(tot[3]), "steps_dense": int(tot[4])}
