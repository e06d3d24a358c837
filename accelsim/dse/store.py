"""Crash-safe on-disk sweep results: append-only CSV, one row per finished point.

Why CSV and not Parquet: a Parquet file is written whole (its footer indexes the row groups), so
recording each finished point would mean rewriting the file, and a process killed mid-write
leaves no readable table. An append-only CSV row is written to the kernel (``flush``) as soon as its
point finishes, so a SIGKILL of the sweep loses nothing already finished; ``fsync`` to the disk
follows at most every :data:`FSYNC_INTERVAL_S` and on close, so a power loss costs at most the
last second of rows while a sweep of fast points does not wait on the disk for every row. A torn
last line (no newline) is recognized and dropped on ``resume``. When the sweep completes, the table is rewritten once in
point order (atomically: temp file + rename), so serial, parallel, distributed and resumed runs
of the same space leave byte-identical ``results.csv`` files; a ``results.parquet`` copy is
exported then when pyarrow is installed.

Layout of a store directory::

    results.csv    id, status, error, <setting keys...>, <metric columns...>, extra
    layers.csv     id, <per-layer columns...>, extra      (only with per-layer detail)
    results.parquet                                      (final export, optional)

``status`` is ``ok`` or ``error`` (the one-line message in ``error``: a point the hardware cannot
run is a result, not a crash). ``extra`` holds, as JSON, values whose columns were not known
when the header was written (e.g. an energy category only one family reports); readers expand
it into columns. For a point, its layer rows are written before its results row, so a point
counts as finished only when all its data is on disk.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from accelsim.errors import SweepError

RESULTS = "results.csv"
LAYERS = "layers.csv"
PARQUET = "results.parquet"
FIXED = ("id", "status", "error")


def encode(value: Any) -> str:
    """A cell: '' for None, repr for floats (exact round trip), JSON for lists and mappings."""
    if value is None:
        return ""
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ""
    if isinstance(value, (int, str)):
        return str(value).replace("\r", " ").replace("\n", " ")
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def _line(cells: Sequence[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue()


def encode_row(header: Sequence[str], values: Mapping[str, Any]) -> str:
    """One CSV line for ``header``; keys missing from the header go to the ``extra`` JSON cell."""
    known = set(header)
    extra = {k: v for k, v in values.items() if k not in known and v is not None}
    cells = [encode(values.get(col)) for col in header[:-1]]
    cells.append(json.dumps(extra, sort_keys=True, separators=(",", ":"), default=str) if extra else "")
    return _line(cells)


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """(header, complete rows) of a store CSV; a torn or malformed trailing line is dropped."""
    try:
        data = path.read_text()
    except FileNotFoundError:
        return [], []
    except (OSError, UnicodeDecodeError) as exc:
        raise SweepError(f"{path}: cannot read the results table ({exc})") from None
    lines = data.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    elif lines:
        lines.pop()  # no newline at the end: the last row was torn by a crash
    if not lines:
        return [], []
    header = next(csv.reader([lines[0]]))
    if header[: len(FIXED)] != list(FIXED) and header[:1] != ["id"]:
        raise SweepError(f"{path}: not an accelsim sweep table (header starts with {header[:3]})")
    rows = []
    for row in csv.reader(lines[1:]):
        if len(row) == len(header):
            rows.append(row)
    return header, rows


def frame_from_text(text: str, order: Sequence[str] | None = None):
    """Parse store CSV text into a DataFrame: ``extra`` expanded, rows in ``order`` (ids) when given."""
    import pandas as pd

    if not text.strip():
        return pd.DataFrame()
    df = pd.read_csv(io.StringIO(text), keep_default_na=False, na_values=[""], dtype={"id": str, "error": str})
    if "extra" in df.columns:
        extras = [json.loads(x) if isinstance(x, str) and x else {} for x in df["extra"]]
        df = df.drop(columns=["extra"])
        keys: dict[str, None] = {}
        for e in extras:
            keys.update(dict.fromkeys(e))
        for key in keys:
            if key not in df.columns:
                df[key] = [e.get(key) for e in extras]
    if order is not None and "id" in df.columns and len(df):
        rank = {pid: i for i, pid in enumerate(order)}
        df = df.assign(_rank=[rank.get(pid, len(rank)) for pid in df["id"]])
        df = df.sort_values("_rank", kind="stable").drop(columns="_rank").reset_index(drop=True)
    return df


def promote(header: Sequence[str], rows: Sequence[list[str]]) -> tuple[list[str], list[list[str]]]:
    """Move every key found in ``extra`` cells into its own column (new columns sorted by name).

    The result depends only on the set of rows, not on which point was written first, so tables
    of the same space written by different runs are identical.
    """
    header = list(header)
    if not header or header[-1] != "extra":
        return header, [list(r) for r in rows]
    extras = [json.loads(r[-1]) if r[-1] else {} for r in rows]
    new = sorted({k for e in extras for k in e} - set(header))
    out_header = header[:-1] + new + ["extra"]
    pos = {c: i for i, c in enumerate(out_header)}
    out_rows = []
    for row, extra in zip(rows, extras):
        cells = list(row[:-1]) + [""] * len(new) + [""]
        for key, value in extra.items():
            cells[pos[key]] = encode(value)
        out_rows.append(cells)
    return out_header, out_rows


def merge_header(old: Sequence[str], new: Sequence[str]) -> list[str]:
    cols = [c for c in old if c != "extra"]
    cols += [c for c in new if c not in cols and c != "extra"]
    return cols + ["extra"]


FSYNC_INTERVAL_S = 1.0


class _Table:
    """One append-only CSV table (results or layers)."""

    def __init__(self, path: Path, fsync: bool):
        self.path = path
        self.fsync = fsync
        self.header: list[str] = []
        self.fh = None
        self.synced = 0.0

    def start(self, header: list[str], rows: Iterable[list[str]]) -> None:
        """Atomically rewrite the table with ``header`` and the surviving ``rows``; open for append."""
        self.header = header
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        with open(tmp, "w", newline="") as fh:
            fh.write(_line(header))
            for row in rows:
                fh.write(_line(row))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        self.fh = open(self.path, "a", newline="")

    def append(self, lines: Sequence[str]) -> None:
        self.fh.write("".join(lines))
        self.fh.flush()  # in the kernel now: survives a SIGKILL of this process
        now = time.monotonic()
        if self.fsync and now - self.synced >= FSYNC_INTERVAL_S:  # on the disk: survives a power loss
            os.fsync(self.fh.fileno())
            self.synced = now

    def close(self) -> None:
        if self.fh is not None:
            self.fh.flush()
            if self.fsync:
                os.fsync(self.fh.fileno())
            self.fh.close()
            self.fh = None


def _reorder(header_old: Sequence[str], header_new: Sequence[str], rows: Iterable[list[str]]) -> list[list[str]]:
    pos = {c: i for i, c in enumerate(header_old)}
    return [[row[pos[c]] if c in pos else "" for c in header_new] for row in rows]


class CsvStore:
    """Sweep results in a directory (see module docstring). ``fsync=False``: never fsync rows."""

    def __init__(self, directory: str | os.PathLike, fsync: bool = True, parquet: bool = True):
        self.dir = Path(directory)
        self.fsync = fsync
        self.parquet = parquet
        self.results = _Table(self.dir / RESULTS, fsync)
        self.layers = _Table(self.dir / LAYERS, fsync)
        self.finished: set[str] = set()

    def open(self, columns: Sequence[str], layer_columns: Sequence[str] | None, resume: bool) -> set[str]:
        """Prepare for appending; return the ids already finished (resume) or raise if results exist."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SweepError(f"{self.dir}: cannot create the results directory ({exc.strerror})") from None
        path = self.dir / RESULTS
        if path.exists() and not resume:
            raise SweepError(f"{path} already exists; resume the sweep (--resume) or choose another output directory")
        old_header, rows = read_rows(path) if resume else ([], [])
        seen: dict[str, list[str]] = {}
        for row in rows:
            seen.setdefault(row[0], row)  # a duplicate id cannot occur, but never keep two
        header = merge_header(old_header, columns)
        self.results.start(header, _reorder(old_header, header, seen.values()) if old_header else [])
        self.finished = set(seen)
        if layer_columns is not None or (self.dir / LAYERS).exists():
            lold, lrows = read_rows(self.dir / LAYERS) if resume else ([], [])
            lrows = [r for r in lrows if r[0] in self.finished]  # rows of unfinished points are re-run
            lheader = merge_header(lold, ["id", *(layer_columns or [])])
            self.layers.start(lheader, _reorder(lold, lheader, lrows) if lold else [])
        return set(self.finished)

    def append(self, pid: str, values: Mapping[str, Any], layer_rows: Sequence[Mapping[str, Any]] | None) -> None:
        if layer_rows and self.layers.fh is not None:
            self.layers.append([encode_row(self.layers.header, {"id": pid, **r}) for r in layer_rows])
        self.results.append([encode_row(self.results.header, {"id": pid, **values})])
        self.finished.add(pid)

    def finalize(self, order: Sequence[str]) -> None:
        """Close, then rewrite both tables in point order (ids not in ``order`` last) and export Parquet."""
        self.close()
        rank = {pid: i for i, pid in enumerate(order)}
        for table in (self.results, self.layers):
            if not table.path.exists():
                continue
            header, rows = promote(*read_rows(table.path))
            rows.sort(key=lambda r: rank.get(r[0], len(rank)))  # stable: layer order kept within a point
            table.start(header, rows)
            table.close()
        if self.parquet:
            self.export_parquet(order)

    def export_parquet(self, order: Sequence[str] | None = None) -> Path | None:
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            return None
        df = self.frame(order)
        out = self.dir / PARQUET
        tmp = out.with_suffix(".parquet.tmp")
        df.to_parquet(tmp, index=False)
        os.replace(tmp, out)
        return out

    def close(self) -> None:
        self.results.close()
        self.layers.close()

    def frame(self, order: Sequence[str] | None = None):
        return load_results(self.dir, order)

    def layer_frame(self, order: Sequence[str] | None = None):
        return load_layers(self.dir, order, with_settings=False)


class MemoryStore:
    """The same encoding as :class:`CsvStore`, kept in memory (a sweep without a store)."""

    def __init__(self):
        self.header: list[str] = []
        self.lheader: list[str] = []
        self.rows: dict[str, str] = {}
        self.lrows: dict[str, list[str]] = {}
        self.finished: set[str] = set()

    def open(self, columns, layer_columns, resume) -> set[str]:
        self.header = merge_header([], columns)
        self.lheader = merge_header([], ["id", *(layer_columns or [])])
        return set()

    def append(self, pid, values, layer_rows) -> None:
        if layer_rows:
            self.lrows[pid] = [encode_row(self.lheader, {"id": pid, **r}) for r in layer_rows]
        self.rows[pid] = encode_row(self.header, {"id": pid, **values})
        self.finished.add(pid)

    def finalize(self, order) -> None:
        pass

    def close(self) -> None:
        pass

    def frame(self, order=None):
        return _frame_of_lines(self.header, list(self.rows.values()), order)

    def layer_frame(self, order=None):
        if not self.lrows:
            return None
        return _frame_of_lines(self.lheader, [line for pid in self.lrows for line in self.lrows[pid]], order)


def _frame_of_lines(header: list[str], lines: list[str], order):
    rows = list(csv.reader([line.rstrip("\n") for line in lines]))
    header, rows = promote(header, rows)
    return frame_from_text(_line(header) + "".join(_line(r) for r in rows), order)


def _results_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path / RESULTS if path.is_dir() else path


def load_results(path: str | os.PathLike, order: Sequence[str] | None = None):
    """The results table of a store directory (or a results CSV / Parquet file) as a DataFrame."""
    import pandas as pd

    path = _results_path(path)
    if path.suffix == ".parquet":
        try:
            return pd.read_parquet(path)
        except Exception as exc:  # pyarrow raises several types
            raise SweepError(f"{path}: cannot read the Parquet table ({type(exc).__name__}: {exc})") from None
    if not path.exists():
        raise SweepError(f"{path}: no sweep results here (expected {RESULTS})")
    header, rows = read_rows(path)
    return frame_from_text(_line(header) + "".join(_line(r) for r in rows) if header else "", order)


def load_layers(path: str | os.PathLike, order: Sequence[str] | None = None, with_settings: bool = True):
    """Per-layer rows of a store directory, joined with each point's settings and totals columns."""
    path = Path(path)
    directory = path if path.is_dir() else path.parent
    lpath = directory / LAYERS
    if not lpath.exists():
        raise SweepError(f"{lpath}: no per-layer results (run the sweep with 'detail: true')")
    header, rows = read_rows(lpath)
    layers = frame_from_text(_line(header) + "".join(_line(r) for r in rows) if header else "", order)
    if not with_settings or layers.empty:
        return layers
    return join_points(layers, load_results(directory / RESULTS))


def join_points(layers, results):
    """Per-layer rows with their point's columns (settings and totals not already per layer)."""
    if layers is None or layers.empty:
        return layers
    keep = [c for c in results.columns if c not in layers.columns or c == "id"]
    return layers.merge(results[keep], on="id", how="left")


def as_store(store: Any):
    """None -> MemoryStore; a path -> CsvStore; a store object as is."""
    if store is None:
        return MemoryStore()
    if isinstance(store, (str, os.PathLike)):
        return CsvStore(store)
    if hasattr(store, "open") and hasattr(store, "append") and hasattr(store, "finalize"):
        return store
    raise SweepError(f"store must be a directory path or a store object; got {type(store).__name__}")
