"""SCALE-Sim 3.0.0 topology CSVs <-> LayerGraph.

Reading follows SCALE-Sim 3.0.0 (``scalesim/topology_utils.py``, ``load_arrays_conv`` /
``load_arrays_gemm``) line by line, so a file means here exactly what it means to SCALE-Sim:

* the first line is a header and is always skipped; lines that are blank after stripping are
  skipped;
* every row is split on ``,`` and its **last field is dropped**, so rows must end with a trailing
  comma (without it the stride column, or ``K`` in GEMM format, is lost);
* conv rows: ``name, ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters, stride[, N:M]``.
  No padding is ever applied and the output size is ``E = ceil((H - FH + s) / s)``, reproduced by
  ``Conv2d(..., padding=0, ceil_mode=True, bias=False)``;
* a conv row whose name contains ``DP`` (case-sensitive) is depthwise: SCALE-Sim replaces it by
  ``channels`` layers named ``<name>Channel_<i>``, each with **one** input channel and the row's
  ``num_filters`` filters (so a depthwise row should say ``num_filters = 1`` per channel, or the
  channel multiplier). Each expanded layer is reproduced as its own ``Conv2d`` with those shapes;
* GEMM rows (``-i gemm``): ``name, M, N, K[, N:M]``. SCALE-Sim simulates them as a conv with an
  ``M x K`` ifmap, a ``1 x K`` filter, one channel and ``N`` filters, i.e. ``M`` output pixels,
  window ``K``: here a ``Linear`` with input ``(M, K)`` and ``N`` outputs, GEMM view ``(M, N, K)``;
* the optional ``N:M`` column (default ``1:1``) is kept per layer in
  ``graph.metadata["scalesim_sparsity"]`` (name -> ``(n, m)``).

SCALE-Sim layers are independent (not chained): each becomes its own graph input feeding one
layer, in file order (``graph.metadata["scalesim_layers"]`` lists the layer names in SCALE-Sim's
LayerID order). Where SCALE-Sim would accept a file silently but the values make no sense
(zero or negative dimensions, an ``N:M`` with ``N > M``) this reader raises
:class:`~accelsim.errors.WorkloadError` naming the file, line and column; so does everything
SCALE-Sim itself rejects (missing columns, non-integers, a filter larger than the ifmap).
Duplicate names, which SCALE-Sim allows, get a ``#<k>`` suffix (with a warning).

:func:`save_scalesim_topology` writes the conv / linear / recurrent layers of any graph as a
conv-format (or GEMM-format) CSV whose SCALE-Sim reading has the same per-layer GEMM view and MACs
as the graph; see its docstring and ``docs/importers.md`` for the conversions.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from accelsim.config import read_text_file
from accelsim.errors import AccelsimError, SimulationError, WorkloadError
from accelsim.workload.graph import MAX_LAYERS, LayerGraph
from accelsim.workload.layers import Conv2d, GRUCell, Input, Layer, Linear, LSTMCell

CONV_COLUMNS = ("Layer name", "IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width", "Channels",
                "Num Filter", "Strides")
GEMM_COLUMNS = ("Layer", "M", "N", "K")
SPARSITY_COLUMN = "Sparsity"
#: graph layers one row becomes (its ``<name>:ifmap`` input and the layer; a DP row this many per channel)
LAYERS_PER_ROW = 2
#: rows a topology may hold: a graph's ``MAX_LAYERS`` / ``LAYERS_PER_ROW`` (a DP row counts once per channel)
MAX_ROWS = MAX_LAYERS // LAYERS_PER_ROW
#: duplicate-name renames warned one by one; the rest are counted in one closing warning
MAX_RENAME_WARNINGS = 5


def _read_lines(path: Path) -> list[str]:
    """The lines of a topology CSV (UTF-8, BOM and CRLF accepted; other bytes a WorkloadError)."""
    return read_text_file(path, WorkloadError, "a SCALE-Sim topology .csv").splitlines()


def is_gemm_header(header: str) -> bool:
    """True when a topology header names the GEMM columns (``<name>, M, N, K``, letters in any order).

    SCALE-Sim itself reads GEMM rows as ``name, M, N, K`` whatever the header says; the header only
    tells this reader which format the file is in.
    """
    fields = [f.strip().upper() for f in header.split(",")]
    return len(fields) >= 4 and sorted(fields[1:4]) == ["K", "M", "N"]


def _int_field(value: str, where: str, column: str) -> int:
    text = value.strip()
    try:
        number = int(text)
    except ValueError:
        raise WorkloadError(f"{where}, column '{column}': expected an integer; got {text!r}") from None
    if number <= 0:
        raise WorkloadError(f"{where}, column '{column}': must be a positive integer; got {number}")
    if number > 2**63 - 1:  # the models count in int64
        raise WorkloadError(f"{where}, column '{column}': must be a positive integer within int64 (<= 2^63 - 1); "
                            f"got {number}")
    return number


def _sparsity_field(value: str, where: str) -> tuple[int, int]:
    text = value.strip()
    parts = text.split(":")
    if len(parts) != 2:
        raise WorkloadError(f"{where}, column '{SPARSITY_COLUMN}': expected N:M (e.g. 2:4); got {text!r}")
    try:
        n, m = int(parts[0]), int(parts[1])
    except ValueError:
        raise WorkloadError(f"{where}, column '{SPARSITY_COLUMN}': expected N:M with integers; got {text!r}") from None
    if not 1 <= n <= m:
        raise WorkloadError(f"{where}, column '{SPARSITY_COLUMN}': need 1 <= N <= M in N:M; got {text!r}")
    return n, m


def _split_row(row: str, where: str, columns: tuple[str, ...]) -> list[str]:
    """SCALE-Sim's split: on ',' with the last field dropped; checks the column count."""
    fields = row.split(",")
    dropped = fields[-1].strip()
    elems = fields[:-1]
    need = len(columns)
    if len(elems) < need:
        hint = " (SCALE-Sim drops the last field of every row, so rows must end with a trailing comma)" if dropped else ""
        if len(elems) == 4 and need == 8:  # (name, M, N, K: what SCALE-Sim's -i gemm reads)
            hint += ("; a GEMM row (name, M, N, K)? a GEMM topology's header names its columns M, N, K (or pass "
                     "gemm=True to load_scalesim_topology)")
        raise WorkloadError(
            f"{where}: expected {need} columns ({', '.join(columns)}) plus an optional N:M sparsity; "
            f"got {len(elems)}{hint}"
        )
    if len(elems) > need + 1:
        raise WorkloadError(f"{where}: expected at most {need + 1} columns; got {len(elems)}")
    if dropped:
        warnings.warn(f"{where}: field {dropped!r} after the last comma is ignored, as SCALE-Sim does "
                      "(end rows with a trailing comma)", stacklevel=4)
    if not elems[0].strip():
        raise WorkloadError(f"{where}, column '{columns[0]}': layer name is empty")
    return elems


def load_scalesim_topology(path: str | Path, gemm: bool | None = None) -> LayerGraph:
    """Read a SCALE-Sim 3.0.0 topology CSV (conv or GEMM format) into a LayerGraph.

    Parameters
    ----------
    path : str or Path
        The topology ``.csv``.
    gemm : bool or None
        True for the GEMM format (SCALE-Sim's ``-i gemm``), False for the conv format; None
        detects it from the header (``<name>, M, N, K``).

    Returns
    -------
    LayerGraph
        One graph input and one ``Conv2d`` (conv format) or ``Linear`` (GEMM format) per
        SCALE-Sim layer, in SCALE-Sim's LayerID order; no weights.

    Raises
    ------
    WorkloadError
        Missing or unreadable file, wrong column count, a non-integer, zero or negative dimension,
        a filter larger than the ifmap, a malformed ``N:M``; the message names file, line and column.
    """
    path = Path(path)
    lines = _read_lines(path)
    if not lines:
        raise WorkloadError(f"{path}: empty file; expected a header line and one row per layer")
    if gemm is None:
        gemm = is_gemm_header(lines[0])
    graph = LayerGraph(path.stem, str(path))
    graph.metadata["scalesim_format"] = "gemm" if gemm else "conv"
    graph.metadata["scalesim_sparsity"] = {}
    graph.metadata["scalesim_layers"] = []
    seen: dict[str, int] = {}
    renamed = [0]  # duplicate names renamed: the first MAX_RENAME_WARNINGS warned one by one, the rest counted
    rows = sum(1 for raw in lines[1:] if raw.strip())
    if rows * LAYERS_PER_ROW > MAX_LAYERS:  # counted before any row is read or built
        raise WorkloadError(
            f"{path}: {rows:,} rows; each row becomes {LAYERS_PER_ROW} graph layers (its ifmap input and the layer) "
            f"and a graph holds at most {MAX_LAYERS:,}, so a topology has at most {MAX_ROWS:,} rows")

    def add(layer_name: str, where: str, build) -> None:
        count = seen.get(layer_name, 0)
        seen[layer_name] = count + 1
        if count:
            new = f"{layer_name}#{count + 1}"
            while new in seen:  # a row named like a renamed one ('X', 'X#2', 'X'): the next unused suffix
                count += 1
                new = f"{layer_name}#{count + 1}"
            seen[layer_name] = count + 1
            seen[new] = 1
            renamed[0] += 1
            if renamed[0] <= MAX_RENAME_WARNINGS:
                warnings.warn(f"{where}: duplicate layer name '{layer_name}' renamed to '{new}'", stacklevel=3)
            layer_name = new
        input_name = f"{layer_name}:ifmap"
        try:
            layer, shape = build(layer_name, input_name)  # (a shape whose MACs overflow int64 is refused here)
            graph.add(Input(name=input_name, shape=shape))
            graph.add(layer, [input_name])
        except AccelsimError as exc:
            raise WorkloadError(f"{where}: {graph.unsourced(exc)}") from None
        graph.metadata["scalesim_layers"].append(layer_name)
        graph.metadata["scalesim_sparsity"][layer_name] = sparsity

    for lineno, raw in enumerate(lines[1:], start=2):
        row = raw.strip()
        if not row:
            continue
        where = f"{path}: line {lineno}"
        if gemm:
            elems = _split_row(row, where, GEMM_COLUMNS)
            name = elems[0].strip()
            m, n, k = (_int_field(elems[i], where, GEMM_COLUMNS[i]) for i in (1, 2, 3))
            sparsity = _sparsity_field(elems[4], where) if len(elems) > 4 else (1, 1)

            def build(layer_name, input_name, m=m, n=n, k=k):
                return Linear(name=layer_name, input_shapes=((m, k),), out_features=n, bias=False), (m, k)

            add(name, where, build)
            continue

        elems = _split_row(row, where, CONV_COLUMNS)
        name = elems[0].strip()
        h, w, fh, fw, c, k, s = (_int_field(elems[i], where, CONV_COLUMNS[i]) for i in range(1, 8))
        sparsity = _sparsity_field(elems[8], where) if len(elems) > 8 else (1, 1)
        if fh > h:
            raise WorkloadError(f"{where}, column 'Filter Height': filter height {fh} is larger than IFMAP height {h}")
        if fw > w:
            raise WorkloadError(f"{where}, column 'Filter Width': filter width {fw} is larger than IFMAP width {w}")

        def build(layer_name, input_name, channels, h=h, w=w, fh=fh, fw=fw, k=k, s=s):
            conv = Conv2d(name=layer_name, input_shapes=((channels, h, w),), out_channels=k, kernel=(fh, fw),
                          stride=(s, s), padding=0, bias=False, ceil_mode=True)
            return conv, (channels, h, w)

        if "DP" in name:
            # SCALE-Sim's depthwise convention: one single-channel layer per channel, same filters.
            if len(graph) + LAYERS_PER_ROW * c > MAX_LAYERS:  # refused before building any of them
                raise WorkloadError(
                    f"{where}, column 'Channels': a DP row expands to one layer per channel; {c} channels "
                    f"exceed the {MAX_LAYERS} layers a graph holds")
            for ch in range(c):
                add(f"{name}Channel_{ch}", where, lambda ln, inn: build(ln, inn, 1))
        else:
            add(name, where, lambda ln, inn, c=c: build(ln, inn, c))

    if not graph.metadata["scalesim_layers"]:
        raise WorkloadError(f"{path}: no layers (only a header line); expected one row per layer")
    if renamed[0] > MAX_RENAME_WARNINGS:
        warnings.warn(f"{path}: {renamed[0] - MAX_RENAME_WARNINGS:,} more duplicate layer names renamed "
                      f"({renamed[0]:,} in all; each repeat of a name gets '#2', '#3', ...)", stacklevel=2)
    return graph


# --- writing -------------------------------------------------------------------------------------

def _conv_rows(layer: Conv2d) -> list[tuple[str, int, int, int, int, int, int, int]]:
    """Conv-format rows whose SCALE-Sim reading reproduces ``layer``'s GEMM view and MACs."""
    if layer.dilation != (1, 1):
        raise WorkloadError(f"layer '{layer.name}': SCALE-Sim has no dilation; cannot write dilation {list(layer.dilation)}")
    if layer.stride[0] != layer.stride[1]:
        raise WorkloadError(f"layer '{layer.name}': SCALE-Sim uses one stride for both directions; got {list(layer.stride)}")
    c, _, _ = layer.input_shape
    _, ho, wo = layer.output_shape
    kh, kw = layer.kernel
    s = layer.stride[0]
    # Pre-pad, then trim to the rows/columns the windows actually reach, so that SCALE-Sim's
    # ceil((H - FH + s) / s) equals the layer's own output size whatever the rounding mode.
    h = (ho - 1) * s + kh
    w = (wo - 1) * s + kw
    if layer.groups == 1:
        return [(layer.name, h, w, kh, kw, c, layer.out_channels, s)]
    per_group_out = layer.out_channels // layer.groups
    if layer.is_depthwise:
        # SCALE-Sim's DP convention: C single-channel layers with (multiplier) filters each.
        return [(_dp_name(layer.name), h, w, kh, kw, c, per_group_out, s)]
    return [(f"{layer.name}_g{g}", h, w, kh, kw, c // layer.groups, per_group_out, s) for g in range(layer.groups)]


def _dp_name(name: str) -> str:
    return name if "DP" in name else f"{name}_DP"


def _safe_name(name: str) -> str:
    # a non-depthwise layer must not trigger SCALE-Sim's 'DP' expansion; commas split fields
    return name.replace("DP", "Dp").replace(",", ";")


def _gemm_rows(layer: Layer) -> list[tuple[str, int, int, int]]:
    g = layer.gemm(1)
    if g.groups == 1:
        return [(_safe_name(layer.name), g.m, g.n, g.k)]
    return [(_safe_name(f"{layer.name}_g{i}"), g.m, g.n, g.k) for i in range(g.groups)]


def scalesim_rows(graph: LayerGraph, gemm: bool = False) -> list[tuple]:
    """The topology rows :func:`save_scalesim_topology` writes (name first, then the integer columns)."""
    rows: list[tuple] = []
    for layer in graph.compute_layers():
        if isinstance(layer, Conv2d) and not gemm:
            for row in _conv_rows(layer):
                name = row[0] if layer.is_depthwise else _safe_name(row[0])
                rows.append((name, *row[1:]))
        elif isinstance(layer, Conv2d):
            rows.extend(_gemm_rows(layer))
        elif isinstance(layer, (Linear, LSTMCell, GRUCell)):
            g = layer.gemm(1)
            if gemm:
                rows.append((_safe_name(layer.name), g.m, g.n, g.k))
            else:
                # M tokens / steps as an M x 1 ifmap of K channels, 1x1 filter, N filters
                rows.append((_safe_name(layer.name), g.m, 1, 1, 1, g.k, g.n, 1))
    if not rows:
        raise WorkloadError(f"workload '{graph.name}' has no conv, linear or recurrent layers to write as a SCALE-Sim topology")
    return rows


def save_scalesim_topology(graph: LayerGraph, path: str | Path, gemm: bool = False) -> Path:
    """Write the conv / linear / recurrent layers of ``graph`` as a SCALE-Sim 3.0.0 topology CSV.

    Conv format (default): a ``Conv2d`` becomes one row with its ifmap pre-padded (``H + 2p``)
    and trimmed to the rows the windows reach (``(Ho - 1) * s + kh``), so SCALE-Sim's
    ``ceil`` output size equals the layer's own output size; a depthwise conv becomes one row
    named ``<name>_DP`` (SCALE-Sim expands it into per-channel layers, ``num_filters`` = channel
    multiplier); any other grouped conv becomes one row per group ``<name>_g<i>``. A ``Linear``,
    ``LSTMCell`` or ``GRUCell`` with GEMM view ``(M, N, K)`` becomes an ``M x 1`` ifmap of ``K``
    channels with ``N`` 1x1 filters. GEMM format (``gemm=True``): rows ``name, M, N, K`` (one per
    group). N:M sparsity from ``graph.metadata["scalesim_sparsity"]`` is written when any layer
    has one other than ``1:1``. Other layers (pooling, element-wise, attention matmuls) are not
    written. Dilated convs and unequal strides raise :class:`WorkloadError`. Returns the path.
    """
    rows = scalesim_rows(graph, gemm)
    sparsity = graph.metadata.get("scalesim_sparsity", {}) or {}
    with_sparsity = any(tuple(v) != (1, 1) for v in sparsity.values())
    header = list(GEMM_COLUMNS if gemm else CONV_COLUMNS) + ([SPARSITY_COLUMN] if with_sparsity else [])
    lines = [", ".join(header) + ","]
    for row in rows:
        fields = [str(v) for v in row]
        if with_sparsity:
            n, m = sparsity.get(row[0], (1, 1))
            fields.append(f"{n}:{m}")
        lines.append(", ".join(fields) + ",")
    path = Path(path)
    try:
        path.write_text("\n".join(lines) + "\n")
    except OSError as exc:
        raise WorkloadError(f"{path}: cannot write ({exc.strerror})") from None
    return path


# workloads/scalesim/<file>: (zoo workload, GEMM format); regenerate with
# ``python -m accelsim.cli.scalesim_topology --bundled``
BUNDLED = {
    "resnet18.csv": ("resnet18", False),
    "resnet50.csv": ("resnet50", False),
    "alexnet.csv": ("alexnet", False),
    "vgg16.csv": ("vgg16", False),
    "mobilenet-v1.csv": ("mobilenet-v1", False),
    "bert-base-gemm.csv": ("bert-base", True),
    "eie-benchmarks-gemm.csv": ("eie-benchmarks", True),
}


def check_topology_sparsity(config, metadata) -> None:
    """SCALE-Sim's own sparse mapping (``SparsitySupport: true`` with N:M ratios in a topology's Sparsity column,
    ``metadata["scalesim_sparsity"]``) is not modelled: refused in one line rather than run dense (SCALE-Sim's
    numbers differ). Configs without a ``sparsity.support`` field (other families) pass. It lives beside the reader
    of that column, so neither caller imports a hardware family for it."""
    ratios = metadata.get("scalesim_sparsity") or {}
    sparse = [name for name, nm in ratios.items() if nm and nm[0] != nm[1]]
    if sparse and getattr(getattr(config, "sparsity", None), "support", False):
        n, m = ratios[sparse[0]][:2]
        raise SimulationError(
            f"arch '{config.name}' sets sparsity.support (SCALE-Sim SparsitySupport) and the topology gives layer "
            f"'{sparse[0]}' an N:M ratio of {n}:{m}: SCALE-Sim's sparse mapping is not modelled; turn SparsitySupport "
            "off, or prune with a recipe (an N:M prune step) on an arch whose sparsity.nm runs it")


__all__ = ["BUNDLED", "load_scalesim_topology", "save_scalesim_topology", "scalesim_rows", "is_gemm_header",
           "check_topology_sparsity"]
