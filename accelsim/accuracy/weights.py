"""The weights a compressed model is evaluated with: the effective matrices the hardware models saw,
put back into the shape of the user's original layers.

``CompressedLayer.weight_matrix`` is the ``(N * groups, K)`` matrix a hardware model multiplies by:
pruned entries are exact zeros, quantized / shared values are dequantized (codebook values, uniform
levels times their scale). :func:`effective_weights` maps every layer of the ORIGINAL graph that has
weights to one array in that layer's weight layout (PyTorch: ``(out, in, kh, kw)`` / ``(out, in)``):

* a layer the recipe kept (compressed in place, or left dense): its effective matrix, reshaped -
  the same float32 values, bit for bit;
* a layer replaced by graph steps: the product of its replacements' effective matrices -
  ``svd``: ``U @ V``; ``tucker2``: ``sum_ab U_out[n,a] core[a,b,h,w] U_in[b,c]``;
  ``depthwise_separable``: ``pw[n,c] * dw[c,h,w]`` (computed in float64, stored in the layer's dtype);
* a layer whose output channels (rows) and / or input channels (columns) were removed by
  ``channel_prune``: its effective matrix scattered back at the kept rows / columns, zeros elsewhere.
  Zero columns in every consumer make the removed channels contribute nothing, exactly as in the
  shrunk graph. The kept indices are recomputed from the original weights as ``channel_prune`` chose
  them (the ``k/n kept`` and norm of the layer's transform label, the same stable ranking), and
  checked against the shapes.

Biases are never changed by compression and are left as the model has them.
"""

from __future__ import annotations

import re
from typing import Mapping

import numpy as np

from accelsim.accuracy.base import AccuracyError
from accelsim.compress.compressed import CompressedGraph
from accelsim.compress.prune import channel_scores
from accelsim.workload.graph import LayerGraph
from accelsim.workload.layers import Conv2d, Flatten, Input, Linear

_CHANNEL = re.compile(r"^channel_prune:(l1|l2)\((\d+)/(\d+) kept\)$")
SUFFIXES = {"svd": (".svd_u", ".svd_v"), "tucker2": (".tk_out", ".tk_core", ".tk_in"), "dws": (".pw", ".dw")}


def _matrix(cg: CompressedGraph, name: str) -> np.ndarray:
    cl = cg.layers.get(name)
    if cl is None or cl.weight_matrix is None:
        raise AccuracyError(f"layer '{name}' of the compressed graph has no effective weight matrix "
                            "(compress a graph with weights attached)")
    return np.asarray(cl.weight_matrix)


def _channel_selection(cg: CompressedGraph, graph: LayerGraph) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(kept output rows, kept input channels) per original layer, as ``channel_prune`` chose them."""
    keep: dict[str, np.ndarray] = {}
    for cl in cg:
        for label in cl.transforms:
            m = _CHANNEL.match(label)
            if not m:
                continue
            norm, k, n = m.group(1), int(m.group(2)), int(m.group(3))
            if cl.name not in graph.weights:
                raise AccuracyError(f"layer '{cl.name}' was channel-pruned but the original graph has no weights for it")
            scores = channel_scores(graph.weights[cl.name], norm)
            if scores.size != n:
                raise AccuracyError(f"layer '{cl.name}': channel_prune kept {k}/{n} channels but the original layer has {scores.size}")
            keep[cl.name] = np.sort(np.argsort(-scores, kind="stable")[:k])
    in_sel: dict[str, np.ndarray] = {}
    sel: dict[str, np.ndarray | None] = {}
    for layer in graph.layers:  # the propagation rules of accelsim.compress.structured
        if isinstance(layer, Input):
            sel[layer.name] = None
            continue
        inputs = graph.inputs_of(layer.name)
        s = sel.get(inputs[0]) if inputs else None
        out = None
        if isinstance(layer, Conv2d) and layer.is_depthwise and s is not None:
            in_sel[layer.name] = s
            out = s
        elif isinstance(layer, (Conv2d, Linear)):
            if s is not None:
                in_sel[layer.name] = s
            out = keep.get(layer.name)
        elif isinstance(layer, Flatten) and s is not None:
            spatial = int(np.prod(layer.input_shape[1:])) if len(layer.input_shape) > 1 else 1
            out = (s[:, None] * spatial + np.arange(spatial)[None, :]).ravel()
        else:
            out = s
        sel[layer.name] = out
    return keep, in_sel


def effective_weights(cg: CompressedGraph, graph: LayerGraph) -> dict[str, np.ndarray]:
    """Original layer name -> the weight array (the layer's own weight shape and dtype) that the
    compressed model computes with; see the module docstring. ``graph`` is the dense graph that was
    compressed (its layer shapes, and its weights for ``channel_prune``)."""
    out: dict[str, np.ndarray] = {}
    keep = in_sel = None
    for layer in graph.layers:
        if not layer.has_weights or layer.weight_shape is None:
            continue
        name, shape = layer.name, tuple(layer.weight_shape)
        if name in cg.layers:
            m = _matrix(cg, name)
            if m.size == int(np.prod(shape)):
                out[name] = m.reshape(shape)
                continue
            if keep is None:
                keep, in_sel = _channel_selection(cg, graph)
            out[name] = _scatter(name, m, shape, keep.get(name), in_sel.get(name), layer)
        elif all(name + s in cg.layers for s in SUFFIXES["svd"]):
            u, v = (_matrix(cg, name + s) for s in SUFFIXES["svd"])
            out[name] = (u.astype(np.float64) @ v.astype(np.float64)).astype(u.dtype).reshape(shape)
        elif all(name + s in cg.layers for s in SUFFIXES["tucker2"]):
            uo, core, ui = (_matrix(cg, name + s) for s in SUFFIXES["tucker2"])
            r_out, r_in = uo.shape[1], ui.shape[0]
            core4 = core.astype(np.float64).reshape(r_out, r_in, *shape[2:])
            w = np.einsum("na,abhw,bc->nchw", uo.astype(np.float64), core4, ui.astype(np.float64))
            out[name] = w.astype(uo.dtype)
        elif all(name + s in cg.layers for s in SUFFIXES["dws"]):
            pw, dw = (_matrix(cg, name + s) for s in SUFFIXES["dws"])
            w = pw.astype(np.float64)[:, :, None, None] * dw.astype(np.float64).reshape(dw.shape[0], 1, *shape[2:])[None, :, 0]
            out[name] = w.astype(pw.dtype).reshape(shape)
        else:
            raise AccuracyError(f"layer '{name}' of the original graph has no counterpart in the compressed graph "
                                "(was it compressed from another graph?)")
    return out


def _scatter(name: str, m: np.ndarray, shape: tuple[int, ...], rows: np.ndarray | None, cols: np.ndarray | None,
             layer) -> np.ndarray:
    """The shrunk matrix ``m`` of a channel-pruned layer put back at its kept rows / input channels."""
    n_out = shape[0]
    depthwise = isinstance(layer, Conv2d) and layer.is_depthwise
    if depthwise:  # rows follow the input selection, one input channel per row
        rows, cols = cols, None
    r = np.arange(n_out) if rows is None else rows
    c = np.arange(shape[1]) if cols is None else cols
    inner = shape[2:]
    expect = (len(r), len(c) * int(np.prod(inner)) if inner else len(c))
    if tuple(m.shape) != expect:
        raise AccuracyError(f"layer '{name}': the compressed matrix is {list(m.shape)} but the recomputed channel "
                            f"selection gives {list(expect)}; the graph is not the one that was compressed")
    w = np.zeros(shape, dtype=m.dtype)
    w[np.ix_(r, c)] = m.reshape(len(r), len(c), *inner)
    return w


def layer_weights(graph: LayerGraph) -> Mapping[str, np.ndarray]:
    """The dense graph's weights by layer name (what the model's parameters are matched against)."""
    return {layer.name: graph.weights[layer.name] for layer in graph.layers
            if layer.has_weights and layer.name in graph.weights}


__all__ = ["effective_weights", "layer_weights"]
