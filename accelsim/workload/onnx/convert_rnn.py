"""Converters for recurrent ops: LSTM and GRU become one ``LSTMCell`` / ``GRUCell`` per direction.

Gates are reordered to PyTorch's order (LSTM ``i o f c`` -> ``i f g o``, GRU ``z r h`` -> ``r z n``), the
two bias vectors summed into one bias column, and ``Y`` / ``Y_h`` get their ONNX shapes through
``Reshape`` / ``Slice`` / ``Concat`` layers.
"""

from __future__ import annotations

import numpy as np

from accelsim.workload import layers as L
from accelsim.workload.onnx.convert_shape import _slice_axis
from accelsim.workload.onnx.importer import Importer, Node, Value, register


# ONNX gate order -> PyTorch order (blocks of hidden_size rows)
_GATE_ORDER = {"LSTM": [0, 2, 3, 1], "GRU": [1, 0, 2]}  # LSTM iofc -> ifgo (c = g); GRU zrh -> rzn


@register("LSTM", "GRU")
def _convert_rnn(imp: Importer, node: Node) -> None:
    x = imp.activation(node, 0)
    w, r = imp.const(node, 1, "W"), imp.const(node, 2, "R")
    b = imp.optional_const(node, 3, "B")
    if node.op_type == "LSTM" and imp.optional(node, 7) is not None:
        raise imp.unsupported(node, "peephole weights (input P) are not supported")
    hidden = int(node.attrs["hidden_size"])
    direction = node.attrs.get("direction", "forward")
    layout = int(node.attrs.get("layout", 0))
    dirs = 2 if direction == "bidirectional" else 1
    gates = 4 if node.op_type == "LSTM" else 3
    if len(x.shape) != 3 or w.shape != (dirs, gates * hidden, x.shape[2]) or r.shape != (dirs, gates * hidden, hidden):
        raise imp.error(node, f"weights W {list(w.shape)} / R {list(r.shape)} do not match input {list(x.shape)}, "
                              f"hidden_size {hidden}, direction {direction}")
    if b is not None and b.shape != (dirs, 2 * gates * hidden):
        raise imp.error(node, f"bias B has shape {list(b.shape)}; expected {[dirs, 2 * gates * hidden]}")
    if layout == 0 and x.batched:
        raise imp.error(node, "layout 0 expects (seq, batch, input); the batch axis of this input is axis 0")
    time_axis = 1 if layout else 0  # full-shape axis of the sequence
    cls = L.LSTMCell if node.op_type == "LSTM" else L.GRUCell
    order = _GATE_ORDER[node.op_type]
    cells = []
    for d in range(dirs):
        blocks = lambda m: np.concatenate([m[g * hidden:(g + 1) * hidden] for g in order], axis=0)  # noqa: E731
        parts = [blocks(w[d]), blocks(r[d])]
        if b is not None:
            bias = blocks(b[d, : gates * hidden].reshape(-1, 1)) + blocks(b[d, gates * hidden:].reshape(-1, 1))
            parts.append(bias)
        suffix = "" if d == 0 else "/reverse"
        cell = imp.add(node, cls, [x], suffix=suffix, hidden_size=hidden, bias=b is not None)
        imp.set_weight(node, cell.name, np.concatenate(parts, axis=1))
        full = (*x.shape[:-1], hidden)
        cells.append(Value(full, cell.name, x.batched))
    seq = x.shape[time_axis]
    # Y: (seq, dirs, batch, hidden) for layout 0, (batch, seq, dirs, hidden) for layout 1
    y_consumed = len(node.outputs) > 0 and node.outputs[0] and imp.consumers.get(node.outputs[0], 0) + (node.outputs[0] in imp.graph_outputs)
    if y_consumed:
        dir_axis = time_axis + 1
        per_dir = []
        for d, cell in enumerate(cells):
            shape = list(cell.shape)
            shape.insert(dir_axis, 1)
            per_dir.append(imp.reshape_to(node, cell, tuple(shape), index=0, suffix=f"/y{d}"))
        if dirs == 2:
            layer = imp.add(node, L.Concat, per_dir, suffix="/y", axis=imp.local_axis(node, per_dir[0], dir_axis))
            imp.out(node, layer, batched=per_dir[0].batched)
    # Y_h (and Y_c): (dirs, batch, hidden) for layout 0, (batch, dirs, hidden) for layout 1
    for out_index in (1, 2):
        if out_index >= len(node.outputs) or not node.outputs[out_index]:
            continue
        name = node.outputs[out_index]
        if not imp.consumers.get(name) and name not in imp.graph_outputs:
            continue
        if out_index == 2 and node.op_type == "LSTM" and len(node.outputs) > 1 and node.outputs[1] in imp.values:
            imp.values[name] = imp.values[node.outputs[1]]  # the cell state has the hidden state's shape
            continue
        finals = []
        for d, cell in enumerate(cells):
            step = seq - 1 if d == 0 else 0
            last = _slice_axis(imp, node, cell, time_axis, step, step + 1, suffix=f"/h{d}")
            shape = list(last.shape)
            del shape[time_axis]
            shape.insert(1 if layout else 0, 1)  # the direction axis
            finals.append(imp.reshape_to(node, last, tuple(shape), index=out_index, suffix=f"/h{d}"))
        if dirs == 2:
            axis = 1 if layout else 0
            if not all(f.batched for f in finals):
                finals = [imp.unbatched(node, f) for f in finals]
            layer = imp.add(node, L.Concat, finals, suffix="/h", axis=imp.local_axis(node, finals[0], axis))
            imp.out(node, layer, batched=finals[0].batched, index=out_index)
