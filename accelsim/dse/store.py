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

    results.csv    id, status, error, inputs_hash, <setting keys...>, <metric columns...>, extra
    layers.csv     id, <per-layer columns...>, extra      (only with per-layer detail)
    results.parquet                                      (final export, optional)
    results.stale.csv, layers.stale.csv                  (rows moved aside on resume, if any)
    sweep.lock                                           (the writer's lock; holds its pid)
    provenance.json                                      (version, git revision, command, spec of each run)

One writer at a time: a sweep holds an exclusive ``fcntl.flock`` on ``sweep.lock`` for its whole
run (released by the OS when the process exits or crashes; the file itself stays). ``inputs_hash``
fingerprints what a row was computed from (the content of every file the point names and the
accelsim version, see :func:`accelsim.dse.sweep.inputs_hash`); on ``resume`` a row whose id is
not a point of the current space, or whose ``inputs_hash`` differs from the point's current one,
is moved to ``results.stale.csv`` (its layer rows to ``layers.stale.csv``) and the point runs
again. A row with an empty ``inputs_hash`` (written before fingerprints were recorded) is kept. So that
nothing is lost or kept half, resume also moves aside and runs again a finished point whose row holds a
NaN, infinite or negative metric (:func:`metric_problem`; a sweep never stores one: an evaluator's such
value fails its point) and one whose per-layer rows are incomplete (:func:`incomplete_layers`: a torn
``layers.csv``, fewer rows than its ``num_layers``), and refuses a header that lacks a column of the sweep
(one line naming the first, expected vs found).

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

from accelsim.errors import SweepError, os_error_reason

RESULTS = "results.csv"
LAYERS = "layers.csv"
PARQUET = "results.parquet"
STALE = "results.stale.csv"
LAYERS_STALE = "layers.stale.csv"
LOCK = "sweep.lock"
FIXED = ("id", "status", "error")
INPUTS = "inputs_hash"  # bookkeeping column: not part of the tables returned to callers
#: metric cells every finished point and every per-layer row holds (a sweep writes one for each): empty, the
#: row was edited or cut and cannot be drawn or kept
REQUIRED = ("latency_s", "energy_j")


def encode(value: Any) -> str:
    """A cell: '' for None, repr for floats (exact round trip), JSON for lists and mappings."""
    kind = type(value)  # the common cells first (exact types: bool, NumPy scalars and subclasses go below)
    if kind is float:
        return repr(value) if math.isfinite(value) else ""
    if kind is int:
        return str(value)
    if kind is str:
        return value.replace("\r", " ").replace("\n", " ")
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


def nonnegative_metric(key: str) -> bool:
    """Whether column ``key`` is a metric that cannot be negative (:data:`accelsim.dse.evaluate.NONNEGATIVE`)."""
    from accelsim.dse.evaluate import NONNEGATIVE, NONNEGATIVE_PREFIXES

    return key in NONNEGATIVE or key.startswith(NONNEGATIVE_PREFIXES)


def metric_problem(values: Mapping[str, Any], skip: Iterable[str] = ()) -> str | None:
    """The first metric of a result row (or per-layer row) that a table must not hold, as one line: a number
    that is NaN or infinite (any column), or negative where the column cannot be (a latency, an energy, a count:
    :data:`accelsim.dse.evaluate.NONNEGATIVE`); None when the row is sound. ``skip``: columns not checked (the
    point's setting)."""
    skip = set(skip)
    for key, value in values.items():
        if key in skip:
            continue
        if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
            value = value.item()  # a NumPy scalar
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if not math.isfinite(value):
            return f"{key} must be a finite number; got {value!r}"
        if value < 0 and nonnegative_metric(str(key)):
            return f"{key} must be >= 0; got {value!r}"
    return None


def cell_problem(key: str, text: str) -> str | None:
    """:func:`metric_problem` of one stored cell (``nan``, ``inf`` or a negative number written into a table)."""
    if not text or (text[0] not in "+-.0123456789nNiI" and not nonnegative_metric(key)):
        return None
    try:
        value = float(text)
    except ValueError:
        if nonnegative_metric(key):  # text in a built-in metric column ('abc'): the point would be dropped silently
            return f"{key} must be a number; got {text!r}"
        return None
    return metric_problem({key: value})


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


def _fit_cells(rows: list[list[str]], n: int) -> list[list[str]]:
    """Malformed rows fitted to a header of ``n`` cells for a stale table: missing cells empty, extra ones joined
    into the last (nothing of the row lost)."""
    return [r + [""] * (n - len(r)) if len(r) < n else r[:n - 1] + [",".join(r[n - 1:])] for r in rows]


def _malformed(path: Path, dropped: list[list[str]]) -> list[list[str]]:
    """The lines :func:`read_table` dropped from ``path`` less a torn last line (its newline missing: a row cut by a
    crash mid-write, which goes silently: its point runs again): rows whose cells do not match the header."""
    if not dropped:
        return dropped
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, 2)
            torn = size > 0 and fh.seek(size - 1) >= 0 and fh.read(1) != b"\n"
    except OSError:
        torn = False
    return dropped[:-1] if torn else dropped


def _header_only(path: Path) -> bool:
    """Whether a results table holds its header and nothing else (no row, not even a torn one)."""
    try:
        header, rows, dropped = read_table(path)
    except SweepError:
        return False
    return bool(header) and not rows and not dropped


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """(header, complete rows) of a store CSV; a torn or malformed trailing line is dropped."""
    header, rows, _ = read_table(path)
    return header, rows


def read_table(path: Path) -> tuple[list[str], list[list[str]], list[list[str]]]:
    """(header, complete rows, dropped lines) of a store CSV. Dropped: the cells (as far as they go) of a torn
    last line (no newline at the end: cut by a crash or by hand) and of lines whose cell count is not the
    header's; a caller that must lose nothing (resume) treats their points as unfinished."""
    try:
        data = path.read_text()
    except FileNotFoundError:
        return [], [], []
    except (OSError, UnicodeDecodeError) as exc:
        raise SweepError(f"{path}: cannot read the results table ({exc})") from None
    lines = data.split("\n")
    torn = None
    if lines and lines[-1] == "":
        lines.pop()
    elif lines:
        torn = lines.pop()  # no newline at the end: the last row was torn by a crash
    if not lines:
        return [], [], []
    header = next(csv.reader([lines[0]]))
    if header[: len(FIXED)] != list(FIXED) and header[:1] != ["id"]:
        raise SweepError(f"{path}: not an accelsim sweep table (header starts with {header[:3]})")
    rows, dropped = [], []
    for row in csv.reader(lines[1:]):
        (rows if len(row) == len(header) else dropped).append(row)
    if torn is not None:
        try:
            dropped.append(next(csv.reader([torn]), []))
        except csv.Error:
            dropped.append([torn.split(",", 1)[0]])
    return header, rows, dropped


def frame_from_text(text: str, order: Sequence[str] | None = None):
    """Parse store CSV text into a DataFrame: ``extra`` expanded, rows in ``order`` (ids) when given."""
    import pandas as pd

    if not text.strip():
        return pd.DataFrame()
    df = pd.read_csv(io.StringIO(text), keep_default_na=False, na_values=[""], dtype={"id": str, "error": str},
                     low_memory=False)  # whole columns typed at once: no mixed-type chunks (DtypeWarning)
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


def _fresh_layout(header: list[str], rows: list[list[str]], layout: Sequence[str] | None):
    """``(header, rows)`` in the column order a fresh run writes (``layout``, then the promoted ``extra`` keys sorted by
    name, then ``extra``), so that a resumed table is byte-identical to a fresh one: columns a resumed folder kept
    from an earlier spec or a hand edit are put back in order, and those left empty in every row (a grid axis
    removed) dropped."""
    if not layout or not header or header[-1] != "extra":
        return header, rows
    pos = {c: i for i, c in enumerate(header)}
    base = [c for c in layout if c != "extra" and c in pos]
    laid = set(layout)
    rest = sorted(c for c in header[:-1] if c not in laid and any(r[pos[c]] for r in rows))
    target = base + rest + ["extra"]
    if target == header:
        return header, rows
    return target, [[r[pos[c]] for c in target] for r in rows]


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
        try:
            with open(tmp, "w", newline="") as fh:
                fh.write(_line(header))
                for row in rows:
                    fh.write(_line(row))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
            self.fh = open(self.path, "a", newline="")
        except OSError as exc:
            try:
                tmp.unlink(missing_ok=True)  # (a table path that is a folder: the rewrite is left behind)
            except OSError:
                pass
            raise _write_error(self.path, exc) from None

    def append(self, lines: Sequence[str]) -> None:
        try:
            self.fh.write("".join(lines))
            self.fh.flush()  # in the kernel now: survives a SIGKILL of this process
            now = time.monotonic()
            if self.fsync and now - self.synced >= FSYNC_INTERVAL_S:  # on the disk: survives a power loss
                os.fsync(self.fh.fileno())
                self.synced = now
        except OSError as exc:
            raise _write_error(self.path, exc) from None

    def close(self) -> None:
        if self.fh is not None:
            fh, self.fh = self.fh, None
            try:
                fh.flush()
                if self.fsync:
                    os.fsync(fh.fileno())
            except OSError as exc:
                raise _write_error(self.path, exc) from None
            finally:
                fh.close()


def _write_error(path: Path, exc: OSError) -> SweepError:
    """One line for a table that cannot be written (read-only, full, a folder in the way, ...)."""
    return SweepError(f"{path}: cannot write ({os_error_reason(exc)})")


def row_problem(header: Sequence[str], row: Sequence[str], skip: Iterable[str] = ()) -> str | None:
    """:func:`metric_problem` of a stored row: its metric cells and the values of its ``extra`` cell (the
    bookkeeping columns, the columns in ``skip`` and the built-in text columns are not read), and an empty cell in
    a column of :data:`REQUIRED`."""
    from accelsim.dse.evaluate import TEXT_METRICS

    skip = set(skip) | set(FIXED) | {INPUTS, "extra"} | set(TEXT_METRICS)
    for col, cell in zip(header, row):
        if col not in skip:
            problem = cell_problem(col, cell) if cell or col not in REQUIRED else f"{col} is empty"
            if problem:
                return problem
    if header and header[-1] == "extra" and row[-1]:
        try:
            extra = json.loads(row[-1])
        except ValueError:
            return "extra is not JSON"
        if isinstance(extra, dict):
            return metric_problem({k: v for k, v in extra.items() if k not in skip})
    return None


def _reorder(header_old: Sequence[str], header_new: Sequence[str], rows: Iterable[list[str]]) -> list[list[str]]:
    pos = {c: i for i, c in enumerate(header_old)}
    return [[row[pos[c]] if c in pos else "" for c in header_new] for row in rows]


def _place_inputs(header: list[str]) -> list[str]:
    """``header`` with the ``inputs_hash`` column right after ``id, status, error`` (tables written
    before the column existed get it there too, so old and new stores share one layout)."""
    if INPUTS not in header or header[: len(FIXED)] != list(FIXED):
        return header
    rest = [c for c in header[len(FIXED):] if c != INPUTS]
    return [*FIXED, INPUTS, *rest]


def _mkdir(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SweepError(f"{directory}: cannot create the results directory ({exc.strerror})") from None


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


class CsvStore:
    """Sweep results in a directory (see module docstring). ``fsync=False``: never fsync rows."""

    def __init__(self, directory: str | os.PathLike, fsync: bool = True, parquet: bool = True):
        self.dir = Path(directory)
        self.fsync = fsync
        self.parquet = parquet
        self.results = _Table(self.dir / RESULTS, fsync)
        self.layers = _Table(self.dir / LAYERS, fsync)
        self.finished: set[str] = set()
        self.notes: list[str] = []  # one-line messages for the user (rows moved aside, rows kept unchecked)
        self._lock = None
        #: set by the sweep when its evaluator records per-layer rows: on resume, a finished ok point
        #: without any layer row (written by a run without detail) is moved aside and runs again
        self.need_layers = False
        #: set by the sweep: the columns of the points' settings, not read as metrics on resume (a tag may be any
        #: number or text)
        self.setting_columns: frozenset[str] = frozenset()
        self._created = not self.dir.exists()  # a run that fails with nothing written removes what it made
        self._appended = 0

    # --- one writer at a time ----------------------------------------------------------------------
    def lock(self, wait: bool = False, on_wait=None) -> None:
        """Take the exclusive lock of the folder (``sweep.lock``) for this run.

        Held: a SweepError naming the folder and the holder's pid, or with ``wait`` block until it
        is free (``on_wait(message)`` is called once first). The OS releases the lock when this
        process exits or crashes; :meth:`unlock` releases it earlier. Without ``fcntl`` (Windows)
        there is no lock.
        """
        if self._lock is not None:
            return
        try:
            import fcntl
        except ImportError:  # pragma: no cover - no flock on this platform
            return
        path = self.dir / LOCK
        told = False
        while True:
            _mkdir(self.dir)
            try:
                fh = open(path, "a+")
            except OSError as exc:
                raise SweepError(f"{path}: cannot open the lock file ({exc.strerror})") from None
            try:
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = _lock_holder(fh)
                    if not wait:
                        raise SweepError(f"{self.dir}: another sweep (pid {holder}) is writing to this folder; "
                                         f"wait for it (--wait) or choose another --out") from None
                    if on_wait is not None and not told:
                        on_wait(f"{self.dir}: waiting for the sweep of pid {holder} to finish")
                        told = True
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
                if not _same_file(fh, path):
                    # the holder removed the lock file as it gave up (a run that finished no point leaves no
                    # folder): this lock is on a file no one else opens; lock the file at the path instead
                    fh.close()
                    continue
                fh.seek(0)
                fh.truncate()
                fh.write(f"{os.getpid()}\n")
                fh.flush()
            except OSError as exc:
                fh.close()
                raise SweepError(f"{path}: cannot lock the results folder ({exc.strerror})") from None
            except BaseException:
                fh.close()
                raise
            self._lock = fh
            return

    def unlock(self) -> None:
        """Release the folder's lock (the file stays: removing it would let two writers lock two files)."""
        if self._lock is None:
            return
        import fcntl

        try:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_UN)
        finally:
            self._lock.close()
            self._lock = None

    # --- the tables ----------------------------------------------------------------------------------
    def open(self, columns: Sequence[str], layer_columns: Sequence[str] | None, resume: bool,
             inputs: Mapping[str, str] | None = None) -> set[str]:
        """Prepare for appending; return the ids already finished (resume) or raise if results exist.

        ``inputs``: point id -> its current ``inputs_hash`` (None: every stored row is kept). On
        resume, stored rows whose id is not in ``inputs``, whose non-empty ``inputs_hash`` differs,
        or that repeat an id (every copy, when the copies differ), are moved to ``results.stale.csv`` (one note in
        :attr:`notes`); so are
        finished rows holding a NaN, infinite or negative metric (:func:`metric_problem`) and points whose
        per-layer rows are incomplete (:func:`incomplete_layers`): they run again. A header that lacks a column
        of this sweep while rows would be kept is a SweepError naming the first such column.
        """
        _mkdir(self.dir)
        path = self.dir / RESULTS
        # the layouts a fresh run of these columns writes (finalize puts a resumed table back in them)
        self._layouts = {RESULTS: _place_inputs(merge_header([], columns)),
                         LAYERS: merge_header([], ["id", *(layer_columns or [])])}
        if path.is_dir():
            raise SweepError(f"{path} is a folder, where the results table goes; remove it or choose another --out")
        if path.exists() and not resume and not _header_only(path):  # (a header alone: a run killed before its
            # first point finished, which could not clean up: nothing to lose, the same command runs again)
            raise SweepError(f"{path} already exists; resume the sweep (--resume) or choose another output directory")
        old_header, rows, dropped = read_table(path) if resume else ([], [], [])
        dropped = _malformed(path, dropped)
        hpos = old_header.index(INPUTS) if INPUTS in old_header else None
        keep: dict[str, list[str]] = {}
        stale: list[list[str]] = []
        other = changed = repeated = unchecked = 0
        conflicting: set[str] = set()
        for row in rows:
            pid = row[0]
            stored = row[hpos] if hpos is not None else ""
            if pid in keep:
                repeated += 1
                if row != keep[pid]:  # two different rows for one point: neither can be trusted, it runs again
                    conflicting.add(pid)
            elif inputs is not None and pid not in inputs:
                other += 1
            elif inputs is not None and stored and stored != inputs[pid]:
                changed += 1
            else:
                unchecked += inputs is not None and not stored
                keep[pid] = row
                continue
            stale.append(row)
        for pid in conflicting:
            stale.append(keep.pop(pid))
            repeated += 1
        if keep:  # rows kept under a header that lacks a column of this sweep would keep that column empty
            self._check_header(path, old_header, columns)
        header = _place_inputs(merge_header(old_header, columns))
        bad = self._bad_metrics(old_header, keep)
        if dropped:  # rows whose cells do not match the header (edited by hand, or damaged): copied aside, run again
            self._move_aside(STALE, old_header, _fit_cells(dropped, len(old_header)))
            self.notes.append(f"{path}: moved {_plural(len(dropped), 'malformed row')} (cells not matching the header) "
                              f"to {self.dir / STALE}; those points run again if they are in this sweep")
        if stale:  # first copied aside, then dropped from the table: a crash in between loses nothing
            self._move_aside(STALE, old_header, stale)
            why = [f"{n} {what}" for n, what in ((other, "not a point of this sweep"),
                                                 (changed, "computed from inputs that have changed since"),
                                                 (repeated, "repeating an id")) if n]
            self.notes.append(f"{path}: moved {_plural(len(stale), 'row')} ({', '.join(why)}) to {self.dir / STALE}; "
                              f"those points run again if they are in this sweep")
        if bad:
            self._move_aside(STALE, old_header, [keep.pop(pid) for pid in bad])
            pid, problem = next(iter(bad.items()))
            self.notes.append(f"{path}: {_plural(len(bad), 'finished point')} held a metric a result cannot have "
                              f"(point {pid}: {problem}); moved to {self.dir / STALE}, they run again")
        if unchecked:
            self.notes.append(f"{path}: kept {_plural(unchecked, 'row')} written without an {INPUTS} "
                              f"(older accelsim): their inputs cannot be checked")
        lpath = self.dir / LAYERS
        lold, lrows, ldropped = read_table(lpath) if resume else ([], [], [])
        # a point without layer rows: the bare check below when the evaluator declares its detail, else its count
        empty = layer_columns is not None and not self.need_layers
        incomplete = incomplete_layers(old_header, keep, lold, lrows, ldropped, empty) if lold else {}
        malformed = _malformed(lpath, ldropped)
        if malformed and lold:  # copied aside as the results' malformed rows are (their points are incomplete)
            self._move_aside(LAYERS_STALE, lold, _fit_cells(malformed, len(lold)))
        if incomplete:
            records = layer_columns is not None  # this run writes per-layer rows: the points run again
            if records:
                self._move_aside(STALE, old_header, [keep.pop(pid) for pid in incomplete])
            pid, why = next(iter(incomplete.items()))
            self.notes.append(f"{lpath}: {_plural(len(incomplete), 'finished point')} had incomplete per-layer rows "
                              f"(point {pid}: {why}); " + (f"moved to {self.dir / STALE}, they run again" if records else
                                                           f"their layer rows moved to {self.dir / LAYERS_STALE}"))
        if self.need_layers and layer_columns is not None:
            with_layers = {r[0] for r in lrows}
            bare = [pid for pid, row in keep.items() if row[1] == "ok" and pid not in with_layers]
            if bare:  # rows without the per-layer detail this run records: those points run again
                self._move_aside(STALE, old_header, [keep.pop(pid) for pid in bare])
                self.notes.append(f"{path}: {_plural(len(bare), 'finished point')} had no per-layer rows "
                                  f"(written without detail, or cut off); moved to {self.dir / STALE}, they run again")
        self.results.start(header, _reorder(old_header, header, keep.values()) if old_header else [])
        self.finished = set(keep)
        if layer_columns is not None or lpath.exists():
            stale_ids = ({r[0] for r in stale} | set(bad) | set(incomplete)) - (self.finished - set(incomplete))
            moved = [r for r in lrows if r[0] in stale_ids]
            if moved:
                self._move_aside(LAYERS_STALE, lold, moved)
            # rows of unfinished points are re-run; those of an incomplete point were moved aside
            lrows = [r for r in lrows if r[0] in self.finished and r[0] not in incomplete]
            lheader = merge_header(lold, ["id", *(layer_columns or [])])
            self.layers.start(lheader, _reorder(lold, lheader, lrows) if lold else [])
        return set(self.finished)

    def _check_header(self, path: Path, old: Sequence[str], columns: Sequence[str]) -> None:
        """Refuse a stored header that lacks a column of this sweep (renamed, deleted): one line naming the first
        such column, what the file has in its place, and the way out. A table written before ``inputs_hash``
        existed (an older accelsim) is checked for its setting columns only."""
        legacy = INPUTS not in old
        ref = [c for c in columns if not (legacy and c == INPUTS)]  # the columns in the order a sweep writes them
        known = set(columns)
        for pos, col in enumerate(ref):
            if col in old or (legacy and col not in FIXED and col not in self.setting_columns):
                continue
            found = old[pos] if pos < len(old) and old[pos] not in known else None
            given = f"has {found!r} there" if found is not None else "has no such column"
            raise SweepError(f"{path}: the header does not match this sweep's columns: column {pos + 1} should be "
                             f"{col!r}, the file {given}; restore the header, or run without --resume into "
                             f"another --out folder")

    def _bad_metrics(self, header: Sequence[str], keep: Mapping[str, list[str]]) -> dict[str, str]:
        """Finished points (id -> the problem) whose stored row holds a NaN, infinite or negative metric
        (:func:`metric_problem`: written into the table by hand or by another program; a sweep never stores one)."""
        return {pid: problem for pid, row in keep.items()
                if row[1:2] == ["ok"] and (problem := row_problem(header, row, self.setting_columns))}

    def _move_aside(self, name: str, header: Sequence[str], rows: Sequence[list[str]]) -> None:
        """Add ``rows`` (of a table with ``header``) to the stale table ``name`` (atomic rewrite)."""
        table = _Table(self.dir / name, self.fsync)
        old_header, old_rows = read_rows(table.path)
        merged = merge_header(old_header, header)
        table.start(merged, _reorder(old_header, merged, old_rows) + _reorder(header, merged, rows))
        table.close()

    def discard_if_empty(self) -> None:
        """After a failed run: remove ``results.csv`` and ``layers.csv`` when they hold no row (a header
        alone would make the retry fail with 'already exists'), and the folder when this run created it
        and nothing else is in it (its lock file and provenance record included)."""
        self.close()
        if _table_rows(self.results.path):
            return  # finished points are results: kept for --resume
        for table in (self.results, self.layers):
            if _table_rows(table.path) == 0:  # a header alone; a file that is no table of ours stays
                _remove(table.path)
        if getattr(self, "record_new", False):  # this run's record of a run that finished nothing
            _remove(self.dir / "provenance.json")
        if self._created and not (self.dir / RESULTS).exists():
            for name in (LOCK, "provenance.json"):
                _remove(self.dir / name)
            try:
                self.dir.rmdir()  # only when empty
            except OSError:
                pass

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
            header, rows = _fresh_layout(header, rows, getattr(self, "_layouts", {}).get(table.path.name))
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

    def frame(self, order: Sequence[str] | None = None, with_inputs: bool = False):
        return load_results(self.dir, order, with_inputs=with_inputs)

    def layer_frame(self, order: Sequence[str] | None = None):
        return load_layers(self.dir, order, with_settings=False)


def incomplete_layers(header: Sequence[str], keep: Mapping[str, list[str]], lheader: Sequence[str],
                      lrows: Sequence[list[str]], dropped: Sequence[list[str]], empty: bool = False) -> dict[str, str]:
    """Finished points (id -> why) of a results table (``header``; ``keep``: id -> row) whose per-layer rows in
    ``layers.csv`` (:func:`read_table`: ``lheader``, ``lrows``, ``dropped``) are incomplete: a layer row of theirs
    cut off (the torn last line, or a line of the wrong cell count); when any line was cut off, every point
    without a layer row (its rows may have gone with the cut: the tables are in point order); fewer or more
    layer rows than the point's ``num_layers`` (none at all only with ``empty``: otherwise a point without
    rows was written without detail); or a layer row holding a NaN, infinite or negative metric
    (:func:`row_problem`)."""
    out: dict[str, str] = {}
    ids = [pid for pid, row in keep.items() if row[1:2] == ["ok"]]
    for cells in dropped:
        if len(cells) >= 2:  # the id cell is whole
            if cells[0] in keep:
                out.setdefault(cells[0], "a layer row cut off or malformed")
        elif cells and cells[0]:  # cut inside the id: any point whose id starts so
            for pid in ids:
                if pid.startswith(cells[0]):
                    out.setdefault(pid, "a layer row cut off")
    counts: dict[str, int] = {}
    for r in lrows:
        counts[r[0]] = counts.get(r[0], 0) + 1
    if dropped:
        for pid in ids:
            if pid not in counts:
                out.setdefault(pid, "no layer row left after a cut-off line")
    if "num_layers" in header:
        pos = header.index("num_layers")
        for pid in ids:
            n, have = keep[pid][pos], counts.get(pid, 0)
            if n.isdigit() and (have or empty) and have != int(n):
                out.setdefault(pid, f"{have} layer rows of its {int(n)} layers")
    skip = {"id", "layer", "op"}
    for r in lrows:
        if r[0] in keep and r[0] not in out:
            problem = row_problem(lheader, r, skip)
            if problem:
                out[r[0]] = f"layer {r[lheader.index('layer')] if 'layer' in lheader else '?'}: {problem}"
    return out


def check_stored(directory: str | os.PathLike, layers: bool = False) -> None:
    """Refuse, in one line, a stored sweep a figure or report must not be drawn from: a row cut off or of the wrong
    cell count (:func:`read_table`'s dropped lines: a crash, an edit, or a sweep still writing), a finished row
    holding a NaN, infinite or negative built-in metric or an empty required one (:func:`row_problem`; a table
    edited by hand or by another program), and with ``layers`` a finished point whose per-layer rows are
    incomplete (:func:`incomplete_layers`: a ``layers.csv`` cut off). ``--resume`` recomputes them all."""
    directory = Path(directory)
    path = directory / RESULTS
    header, rows, dropped = read_table(path)
    if dropped:
        cells = dropped[0]
        which = f"the row of point {cells[0]}" if len(cells) > 1 else "a row"
        raise SweepError(f"{path}: {which} is cut off or malformed ({len(cells)} of {len(header)} cells); run the "
                         f"sweep again with --resume to recompute it (or let a running sweep finish)")
    keep = {r[0]: r for r in rows}
    skip = [c for c in header if not nonnegative_metric(c)]  # a tag or a custom column may be any number
    for pid, row in keep.items():
        problem = row_problem(header, row, skip) if row[1:2] == ["ok"] else None
        if problem:
            raise SweepError(f"{path}: point {pid}: {problem}; a result cannot hold it: run the sweep again with "
                             f"--resume to recompute the point")
    if layers and (directory / LAYERS).exists():
        incomplete = incomplete_layers(header, keep, *read_table(directory / LAYERS))
        if incomplete:
            pid, why = next(iter(incomplete.items()))
            more = f" (and {len(incomplete) - 1} more points)" if len(incomplete) > 1 else ""
            raise SweepError(f"{directory / LAYERS}: the per-layer rows of point {pid} are incomplete ({why}){more}; "
                             f"run the sweep again with --resume to complete them")


class MemoryStore:
    """The same encoding as :class:`CsvStore`, kept in memory (a sweep without a store)."""

    def __init__(self):
        self.header: list[str] = []
        self.lheader: list[str] = []
        self.rows: dict[str, str] = {}
        self.lrows: dict[str, list[str]] = {}
        self.finished: set[str] = set()

    def open(self, columns, layer_columns, resume, inputs=None) -> set[str]:
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

    def frame(self, order=None, with_inputs: bool = False):
        df = _frame_of_lines(self.header, list(self.rows.values()), order)
        return df if with_inputs else _drop_inputs(df)

    def layer_frame(self, order=None):
        if not self.lrows:
            return None
        return _frame_of_lines(self.lheader, [line for pid in self.lrows for line in self.lrows[pid]], order)


def _frame_of_lines(header: list[str], lines: list[str], order):
    rows = list(csv.reader([line.rstrip("\n") for line in lines]))
    header, rows = promote(header, rows)
    return frame_from_text(_line(header) + "".join(_line(r) for r in rows), order)


def _table_rows(path: Path) -> int | None:
    """The rows a store table holds (0 for a header alone or no file); None for a path that is no table to read
    (a folder in its place, another program's CSV): not this run's, never removed."""
    try:
        return len(read_rows(path)[1])
    except (OSError, SweepError):
        return None


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError:  # a read-only folder: the run's own error says more
        pass


def _same_file(fh, path: Path) -> bool:
    """Whether the open file ``fh`` is still the file at ``path`` (not removed or replaced since it was opened)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fh.fileno())
    return (mine.st_dev, mine.st_ino) == (st.st_dev, st.st_ino)


def _lock_holder(fh) -> str:
    """The pid written in a held lock file ('unknown' while its holder has not written it yet)."""
    try:
        fh.seek(0)
        text = fh.read().strip()
    except OSError:
        text = ""
    return text if text.isdigit() else "unknown"


def _drop_inputs(df):
    return df.drop(columns=[INPUTS]) if INPUTS in df.columns else df


def _results_path(path: str | os.PathLike) -> Path:
    path = Path(path)
    return path / RESULTS if path.is_dir() else path


def load_results(path: str | os.PathLike, order: Sequence[str] | None = None, with_inputs: bool = False):
    """The results table of a store directory (or a results CSV / Parquet file) as a DataFrame.

    The bookkeeping column ``inputs_hash`` is left out unless ``with_inputs``."""
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
    df = frame_from_text(_line(header) + "".join(_line(r) for r in rows) if header else "", order)
    return df if with_inputs else _drop_inputs(df)


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
        if not os.fspath(store).strip():  # Path("") is the working directory: its files would be written there
            raise SweepError(f"the results folder (store, --out) must be a non-empty path; got {os.fspath(store)!r}")
        return CsvStore(store)
    if hasattr(store, "open") and hasattr(store, "append") and hasattr(store, "finalize"):
        return store
    raise SweepError(f"store must be a directory path or a store object; got {type(store).__name__}")
