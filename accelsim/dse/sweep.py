"""``accelsim.sweep``: evaluate every point of a design space, resumably, on any executor.

Order of work: build the space (:mod:`accelsim.dse.space`), validate every point with the
evaluator's ``validate`` (nothing runs if any point is invalid; the error lists the problems,
each naming its key), fingerprint every point's inputs (:func:`inputs_hash`), lock the store's
folder (one writer at a time), open the store (:mod:`accelsim.dse.store`; with ``resume`` the
finished ids with unchanged inputs are skipped, rows of other spaces or changed inputs are moved
aside), run the remaining points on the executor (:mod:`accelsim.dse.executors`), writing each
result as it arrives, then rewrite the table in point order, check that it holds every point
exactly once (:func:`check_complete`) and return it.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import sys
from pathlib import Path
from collections import Counter
from typing import Any, Callable, Mapping, Sequence

from accelsim.dse.evaluate import LAYER_METRICS, SimulateEvaluator, cache_key
from accelsim.dse.executors import DEFAULT_TIMEOUT_S, WorkerLost, check_executor, execute
from accelsim.dse.space import as_space
from accelsim.dse.store import INPUTS, as_store
from accelsim.errors import SweepError, api_arguments

MAX_LISTED = 4  # problems quoted in a validation error (the count says how many in all)
MAX_IDS = 8  # point ids quoted in a completeness error


def inputs_hash(evaluate: Callable, setting: Mapping[str, Any], named: str | None = None) -> str:
    """What a point's row is computed from, beyond its setting: 16 hex digits of SHA-256 over the
    accelsim version and ``evaluate.fingerprint(setting)`` (the default evaluator: content hashes of
    the arch, workload, recipe and baseline files the setting names). Evaluators without a
    ``fingerprint`` method are fingerprinted by the accelsim version and ``named``, the spec's
    ``evaluate: module:function`` (a spec naming another function runs its points again on resume; an
    edit of the function's body is not seen; a callable passed to :func:`sweep` has no name here)."""
    from accelsim._version import __version__

    fingerprint = getattr(evaluate, "fingerprint", None)
    extra = fingerprint(setting) if callable(fingerprint) else ({"evaluate": named} if named else None)
    text = json.dumps([__version__, extra], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def check_complete(ids: Sequence[str], order: Sequence[str], where: str) -> None:
    """Raise a SweepError unless ``ids`` (a table's id column) holds every id of ``order`` exactly once
    and nothing else; the message counts and quotes the missing, repeated and foreign ids."""
    counts = Counter(ids)
    wanted = set(order)
    missing = [pid for pid in order if pid not in counts]
    repeated = [pid for pid, n in counts.items() if n > 1]
    foreign = [pid for pid in counts if pid not in wanted]
    parts = []
    for what, found in (("missing", missing), ("duplicated", repeated), ("not points of this sweep", foreign)):
        if found:
            more = f" and {len(found) - MAX_IDS} more" if len(found) > MAX_IDS else ""
            parts.append(f"{len(found)} {what} ({', '.join(found[:MAX_IDS])}{more})")
    if parts:
        raise SweepError(f"{where}: the results table does not hold each of the {len(order)} points exactly once: "
                         + "; ".join(parts) + "; run the sweep again with --resume")


TRUSTED_EVALUATE_MODULES = ("accelsim",)  # a spec's evaluate may name these packages without --allow-code


def _trusted(module_name: str) -> bool:
    return any(module_name == m or module_name.startswith(m + ".") for m in TRUSTED_EVALUATE_MODULES)


def resolve_evaluate(spec_value: Any, detail: bool, allow_code: bool = False) -> Callable:
    """The evaluator named in a spec (``module:function``), else the simulate evaluator.

    Naming a function imports its module, which runs that module's code: a spec is a program, not
    just data. Only modules of :data:`TRUSTED_EVALUATE_MODULES` (accelsim itself) are imported unless
    ``allow_code`` is true (``accelsim sweep --allow-code``, ``sweep(..., allow_code=True)``); any
    other module is refused with a :class:`SweepError` before anything is imported.
    """
    if spec_value is None:
        return SimulateEvaluator(detail=detail)
    if not isinstance(spec_value, str):  # a mapping: the accuracy of each point's compressed model
        from accelsim.dse.accuracy import AccuracyEvaluator

        return AccuracyEvaluator(fields=spec_value, detail=detail)
    if not isinstance(spec_value, str) or ":" not in spec_value:
        raise SweepError(f"evaluate must be 'package.module:function'; got {spec_value!r}")
    module_name, _, attr = spec_value.partition(":")
    if not module_name or module_name.startswith(".") or not attr.isidentifier():
        raise SweepError(f"evaluate must be 'package.module:function' (an absolute module, one name); got {spec_value!r}")
    if not allow_code and not _trusted(module_name):
        raise SweepError(f"evaluate: {spec_value} is outside accelsim and importing it runs its code; "
                         "pass --allow-code (API: sweep(..., allow_code=True)) if you trust this spec")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise SweepError(f"evaluate: cannot import {spec_value} ({type(exc).__name__}: {exc})") from None
    if isinstance(obj, type):
        obj = obj()
    if not callable(obj):
        raise SweepError(f"evaluate: {spec_value} is not callable")
    return obj


def check_objectives(spec: Mapping[str, Any], source: str) -> None:
    """A spec's objective columns checked before the sweep runs (a typo must not surface only after
    hours): with the built-in evaluator each must be one of its columns or ``energy.<category>``;
    their shape and min / max were checked with the spec (``dse.space.SpecFields``)."""
    import difflib

    from accelsim.dse.evaluate import METRICS

    if spec.get("evaluate") is not None:  # another evaluator's columns are known only from its rows
        return
    for col in spec.get("objectives") or {}:
        if col not in METRICS and not str(col).startswith("energy."):
            close = difflib.get_close_matches(str(col), METRICS, n=3, cutoff=0.5)
            hint = f"did you mean {', '.join(close)}?" if close else f"columns: {', '.join(METRICS)}"
            raise SweepError(f"{source}: objectives.{col}: not a result column; {hint}")


#: column prefixes a built-in evaluator's rows may add beyond its declared columns
EXTRA_COLUMN_PREFIXES = ("energy.", "accuracy.", "dense_accuracy.")


def planned_columns(space: Any) -> list[str] | None:
    """The results columns a sweep of ``space`` (a Space, spec mapping or spec path) will have, for a
    check before any point runs (``--group-by`` naming a column the table will not have); None when a
    spec names its own evaluator (its columns are known only from its rows). Columns starting with
    :data:`EXTRA_COLUMN_PREFIXES` may also appear."""
    from accelsim.dse.evaluate import METRICS

    space, spec, _ = as_space(space)
    evaluate = spec.get("evaluate")
    if isinstance(evaluate, str):
        return None
    normalize = SimulateEvaluator().normalize  # the built-in evaluators' defaults (batch, seed)
    setting_keys: dict[str, None] = {}
    seen: set[tuple[str, ...]] = set()  # the settings' key lists: a grid has one, whatever its size
    for setting, _ in space.settings():
        keys = tuple(setting)
        if keys not in seen:
            seen.add(keys)
            setting_keys.update(dict.fromkeys(normalize(setting)))
    return ["id", "status", "error", *setting_keys, *[m for m in METRICS if m not in setting_keys]]


def check_group_by(space: Any, group_by: Any, label: str = "--group-by") -> None:
    """Refuse, before a sweep runs, a ``group_by`` (``auto``, ``none``, a comma-separated string or a
    list) naming a column the results will not have (:func:`planned_columns`)."""
    from accelsim.report.pareto import AUTO

    if group_by is None or (isinstance(group_by, str) and group_by.strip().lower() in (AUTO, "none")):
        return
    cols = ([c.strip() for c in group_by.split(",") if c.strip()] if isinstance(group_by, str)
            else [str(c) for c in group_by])
    known = planned_columns(space)
    if known is None:
        return
    for col in cols:
        if col not in known and not col.startswith(EXTRA_COLUMN_PREFIXES):
            from accelsim.errors import close_names

            close = close_names(col, known)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise SweepError(f"{label}: '{col}' is not a column of the results{hint}")


#: the ``report`` options that name a results column: (section, field)
REPORT_COLUMN_FIELDS = (("pareto", "x"), ("pareto", "y"), ("pareto", "color"), ("tradeoff", "group"),
                        ("tradeoff", "ratio"))


def report_column_problem(spec: Mapping[str, Any], columns: Sequence[str] | None, ids: Sequence[str] | None,
                          source: str) -> str | None:
    """The first ``report`` option of ``spec`` that names a column not in ``columns`` (or an empty name), or a
    ``breakdown_point`` not in ``ids``, as one line naming ``source`` and the field; None when all hold. A
    None ``columns`` / ``ids`` is not checked (another evaluator's columns are known only from its rows)."""
    from accelsim.errors import close_names

    report = spec.get("report") if isinstance(spec, Mapping) else None
    if not isinstance(report, Mapping):
        return None
    for section, key in REPORT_COLUMN_FIELDS:
        options = report.get(section)
        value = options.get(key) if isinstance(options, Mapping) else None
        if value is None:
            continue
        field = f"{source}: report.{section}.{key}"
        if not isinstance(value, str) or not value.strip():
            return f"{field} must name a results column; got {value!r}"
        if columns is not None and value not in columns and not value.startswith(EXTRA_COLUMN_PREFIXES):
            close = close_names(value, list(columns))
            hint = f"did you mean {', '.join(close)}?" if close else f"columns: {', '.join(map(str, columns))}"
            return f"{field}: '{value}' is not a column of the results; {hint}"
    point = report.get("breakdown_point")
    if point is not None and ids is not None and str(point) not in ids:
        close = close_names(str(point), list(ids))
        hint = f"; did you mean {', '.join(close)}?" if close else f"; the sweep has {len(ids)} points"
        return f"{source}: report.breakdown_point: no point '{point}'{hint}"
    return None


def check_report_options(space: Any, source: str) -> None:
    """Refuse, before a sweep runs, ``report`` options naming a column the results will not have
    (:func:`planned_columns`) or a ``breakdown_point`` that is not one of the sweep's points."""
    parsed, spec, _ = as_space(space)
    report = spec.get("report")
    wants_point = isinstance(report, Mapping) and report.get("breakdown_point") is not None
    ids = [p.id for p in parsed.points()] if wants_point else None
    problem = report_column_problem(spec, planned_columns(space), ids, source)  # (the spec: its evaluator)
    if problem:
        raise SweepError(problem)


def run_settings(points, label: str) -> dict[str, dict[str, Any]]:
    """``{point id: the setting the evaluator runs}`` for points whose setting has a knob
    (:mod:`accelsim.hw.knobs`: one DRAM bandwidth split across the per-stream keys); the others run
    their setting as is. A knob that cannot apply is one SweepError naming the point's source."""
    from accelsim.dse.knobs import expand_setting, has_knob
    from accelsim.errors import AccelsimError

    out: dict[str, dict[str, Any]] = {}
    problems: dict[str, None] = {}
    for p in points:
        if has_knob(p.setting):
            try:
                out[p.id] = expand_setting(p.setting, where=p.source if p.source not in ("space", "spec") else "point")
            except AccelsimError as exc:
                problems[str(exc).splitlines()[0]] = None
    if problems:
        listed = list(problems)
        more = f" (and {len(listed) - MAX_LISTED} more)" if len(listed) > MAX_LISTED else ""
        raise SweepError(f"{label}: " + "; ".join(listed[:MAX_LISTED]) + more)
    return out


#: points from which checking them before a sweep shows its own progress (about 0.1 ms a point: 10,000 take a second)
CHECK_PROGRESS_POINTS = 20_000


def validate_points(points, evaluate: Callable, label: str, runs: Mapping[str, Mapping[str, Any]] | None = None,
                    progress: bool = False) -> None:
    """Raise one SweepError if any point is invalid (every distinct problem counted, a few quoted);
    ``runs``: the expanded settings of points with knobs (:func:`run_settings`); ``progress``: a bar (``check``)
    while checking at least :data:`CHECK_PROGRESS_POINTS` points (a grid of a million takes minutes)."""
    check = getattr(evaluate, "validate", None)
    if not callable(check):
        return
    runs = runs or {}
    problems: dict[str, None] = {}
    bar = _progress_bar(len(points), 0, progress and len(points) >= CHECK_PROGRESS_POINTS, "check")
    step = max(1, len(points) // 1000)
    try:
        for i, p in enumerate(points):
            for problem in check(runs.get(p.id, p.setting)) or ():
                problems[f"{p.source}: {problem}" if p.source not in ("space", "spec") else problem] = None
            if bar is not None and (i + 1) % step == 0:
                bar.update(step)
        if bar is not None:
            bar.update(len(points) % step)
    finally:
        if bar is not None:
            bar.close()
    if problems:
        listed = list(problems)
        more = f" (and {len(listed) - MAX_LISTED} more)" if len(listed) > MAX_LISTED else ""
        raise SweepError(f"{label}: " + "; ".join(listed[:MAX_LISTED]) + more)


@api_arguments
def sweep(
    space: Any,
    evaluate: Callable | None = None,
    executor: Any = None,
    store: Any = None,
    resume: bool = False,
    progress: bool = True,
    *,
    detail: bool | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    wait: bool = False,
    allow_code: bool = False,
    on_start: Callable[[], Any] | None = None,
):
    """Evaluate every point of ``space``; return one row per point (a ``pandas.DataFrame``).

    ``space``: a :class:`~accelsim.dse.space.Space` / ``Union``, a spec mapping or a spec YAML path.
    ``evaluate``: a callable ``setting -> mapping of metrics | NetworkResult`` (optionally with a
    ``validate(setting) -> list[str]`` method); default: simulate the point with accelsim.
    ``executor``: None (serial), an int (local worker processes, 1 .. 4 x ``os.cpu_count()``:
    :func:`~accelsim.dse.executors.max_workers`), any ``concurrent.futures``
    executor, a ``distributed.Client`` or a ``tcp://HOST:PORT`` scheduler address.
    ``store``: a directory (append-only ``results.csv``, see :mod:`accelsim.dse.store`) or None.
    ``resume``: skip points whose id is already in the store. ``progress``: a tqdm bar on a terminal.
    ``detail``: also record per-layer rows (``layers.csv``; ``result.attrs["layers"]``).
    ``wait``: when another sweep holds the store's folder, wait for it instead of raising, then resume from its
    table (as ``resume``).
    ``allow_code``: let the spec's ``evaluate: module:function`` import a module outside accelsim
    (that runs its code; refused by default, see :func:`resolve_evaluate`). An ``evaluate`` callable
    passed here is the caller's own code and is not gated.
    ``on_start``: called once, after every point was validated and the store opened (a refused resume is
    one error line and nothing else), before the first point runs; not called when none is left to run
    (the command line's cold-cache notice).
    Rows hold ``id``, ``status`` (ok | error), ``error``, the setting keys and the metrics (the
    store's ``inputs_hash`` column is bookkeeping, left out of the returned table).
    After the run the table must hold every point exactly once, else a SweepError lists the ids.
    An inline recipe shows as its name in ``recipe`` (the mapping in ``recipe_spec``, :func:`named_setting`);
    a knob (``arch.dram.bandwidth_gbps``, :mod:`accelsim.hw.knobs`) keeps its column and the keys it
    expands to are added. A run that fails before any point is stored removes the empty tables (and the
    folder when it created it), so running it again needs no ``resume``; with ``resume`` and per-layer
    ``detail``, finished points without layer rows run again.
    """
    for name, value in (("resume", resume), ("progress", progress)):
        if not isinstance(value, bool):
            raise SweepError(f"{name} must be True or False; got {value!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout < float("inf"):
        raise SweepError(f"timeout must be a positive number of seconds; got {timeout!r}")
    check_executor(executor)  # before the store is opened
    space, spec, label = as_space(space)
    if evaluate is None:  # an evaluator given here has columns of its own
        check_objectives(spec, label)
        if not resume:  # a resumed table may hold the columns of an earlier run's evaluator
            # the report's options, refused before any point runs (``accelsim report`` reads them after it)
            check_report_options(spec, label)
            report = spec.get("report")
            check_group_by(spec, report.get("group_by") if isinstance(report, Mapping) else None,
                           f"{label}: report.group_by")
    if detail is None:
        detail = spec.get("detail", False)
    if not isinstance(detail, bool):
        raise SweepError(f"{label}: detail must be true or false; got {detail!r}")
    named = None  # the spec's evaluate: module:function, part of each point's inputs_hash
    if evaluate is None:
        if isinstance(spec.get("evaluate"), str):
            named = spec["evaluate"]
        try:
            evaluate = resolve_evaluate(spec.get("evaluate"), detail, allow_code)
        except SweepError as exc:  # named with the spec file, as its other problems are
            text = str(exc)
            if label in ("spec", "space") or text.startswith(label):
                raise
            raise SweepError(f"{label}: {text}") from None
    elif not callable(evaluate):
        raise SweepError(f"evaluate must be callable; got {type(evaluate).__name__}")
    normalize = getattr(evaluate, "normalize", None)
    try:  # (numbered once, normalized as they are: ids of the settings the evaluator runs)
        points = space.points(normalize) if callable(normalize) else space.points()
    except SweepError as exc:  # name the spec file, as every other spec problem does
        text = str(exc)
        if label not in ("spec", "space") and not text.startswith(label):
            text = f"{label}: " + (text[len("spec: "):] if text.startswith("spec: ") else text)
        raise SweepError(text) from None
    runs = run_settings(points, label)  # knobs (arch.dram.bandwidth_gbps, ...) expanded for the evaluator
    validate_points(points, evaluate, label, runs, progress)

    setting_keys: dict[str, None] = {}
    for p in points:
        setting_keys.update(dict.fromkeys(p.setting))
    metrics = list(getattr(evaluate, "columns", ()) or ())
    columns = ["id", "status", "error", INPUTS, *setting_keys, *[m for m in metrics if m not in setting_keys]]
    layer_columns = list(LAYER_METRICS) if detail else None
    hashes = {p.id: inputs_hash(evaluate, p.setting, named) for p in points}

    st = as_store(store)
    lock = getattr(st, "lock", None)
    if callable(lock):
        waited = []

        def on_wait(message: str) -> None:
            waited.append(True)
            _note(message)

        lock(wait=wait, on_wait=on_wait)
        resume = resume or bool(waited)  # it waited for another sweep of the folder: it goes on from that one's table
    ok = False
    try:
        if getattr(st, "dir", None) is not None:  # version, git revision, command, spec copy (issue 17)
            from accelsim.report.provenance import STORE_FILE, append_run_record

            st.record_new = not (Path(st.dir) / STORE_FILE).exists()  # removed again if the run finishes nothing
            append_run_record(st.dir, spec, label)
        if detail and hasattr(st, "need_layers"):  # resume re-runs finished points that lack per-layer rows
            st.need_layers = bool(getattr(evaluate, "detail", False))
        if hasattr(st, "setting_columns"):  # resume reads the other columns as metrics (NaN, inf, negative)
            st.setting_columns = frozenset(setting_keys)
        out = _run(st, points, hashes, columns, layer_columns, resume, evaluate, executor, progress, timeout,
                   detail, label, runs, on_start)
        ok = True
        return out
    finally:
        # a run that failed before any point finished leaves nothing behind: cleared while it still holds the lock
        # (after it, a sweep waiting on the folder may already be writing there; the lock file it removes sends
        # that waiter to the new one, accelsim.dse.store.CsvStore.lock)
        discard = getattr(st, "discard_if_empty", None)
        try:
            if not ok and callable(discard):
                discard()
        finally:
            unlock = getattr(st, "unlock", None)
            if callable(unlock):
                unlock()


def _note(message: str) -> None:
    """A one-line message to the user (stderr), e.g. rows moved aside on resume."""
    sys.stderr.write(f"accelsim: {message}\n")
    sys.stderr.flush()


def _open(st, columns, layer_columns, resume: bool, hashes: dict[str, str]) -> set[str]:
    """``st.open`` with the points' input hashes when the store takes them (custom stores may not)."""
    try:
        takes = "inputs" in inspect.signature(st.open).parameters
    except (TypeError, ValueError):
        takes = False
    return st.open(columns, layer_columns, resume, inputs=hashes) if takes else st.open(columns, layer_columns, resume)


def _run(st, points, hashes, columns, layer_columns, resume, evaluate, executor, progress, timeout, detail, label,
         runs=None, on_start=None):
    """The sweep proper, with the store's folder locked (see :func:`sweep`)."""
    finished = _open(st, columns, layer_columns, resume, hashes)
    for message in getattr(st, "notes", ()):
        _note(message)
    todo = [p for p in points if p.id not in finished]
    if resume and progress and len(todo) < len(points):  # (progress off, --quiet: nothing but problems)
        _note(f"{label}: resuming: {len(points) - len(todo)} of {len(points)} points already done, {len(todo)} to run")
    if on_start is not None and todo:  # the store accepted the run and there is work (the cold-cache notice)
        on_start()
    by_id = {p.id: p for p in points}
    bar = _progress_bar(len(points), len(points) - len(todo), progress)
    done = [0]  # points stored by this run
    folder = getattr(st, "dir", None)
    saved = lambda: len(points) - len(todo) + done[0]  # noqa: E731 (points in the store now)

    def on_outcome(outcome) -> None:
        pid, status, error, row, layers = outcome
        if status == "crash":
            p = by_id[pid]
            raise SweepError(f"{label}: evaluating point {pid} {p.setting} failed: {error}")
        setting = named_setting(by_id[pid].setting)
        ran = (runs or {}).get(pid)
        if ran:  # a knob's point: its column stays, the per-stream keys it set are added
            setting.update({k: v for k, v in ran.items() if k not in setting})
        st.append(pid, {"status": status, "error": error, INPUTS: hashes[pid], **setting, **row}, layers)
        done[0] += 1
        if bar is not None:
            bar.update(1)

    try:
        execute(evaluate, [(p.id, (runs or {}).get(p.id, p.setting)) for p in todo], executor, on_outcome,
                cache_key_for(evaluate), timeout, getattr(evaluate, "affinity_key", None))
    except WorkerLost as exc:
        raise SweepError(f"{label}: {exc} ({saved()} of {len(points)} points saved"
                         f"{f' in {folder}' if folder else ''})") from None
    except KeyboardInterrupt:  # Ctrl-C, SIGTERM on the command line: what is kept, where (not under --quiet)
        if progress and saved() and folder:
            _note(f"{label}: stopped with {saved()} of {len(points)} points saved in {folder}; the same command with "
                  f"--resume runs the rest")
        raise
    finally:
        if bar is not None:
            bar.close()
        st.close()
    order = [p.id for p in points]
    st.finalize(order)
    df = st.frame(order)
    check_complete([str(x) for x in df["id"]] if "id" in df.columns else [], order, getattr(st, "dir", label))
    if INPUTS in df.columns:  # a custom store's frame may keep the bookkeeping column
        df = df.drop(columns=[INPUTS])
    if detail:
        from accelsim.dse.store import join_points

        df.attrs["layers"] = join_points(st.layer_frame(order), df)
    return df


#: setting keys that may hold an inline mapping (a recipe written in the spec): the table shows its name
NAMED_KEYS = ("recipe", "baseline")


def named_setting(setting: Mapping[str, Any]) -> dict[str, Any]:
    """``setting`` as its row shows it: an inline recipe (or baseline) mapping with a ``name`` becomes
    that name in the ``recipe`` column, and the full mapping goes to ``recipe_spec`` (``baseline_spec``),
    so legends and tables read ``magnitude-2-share4``, not a line of JSON."""
    out = dict(setting)
    for key in NAMED_KEYS:
        value = out.get(key)
        if isinstance(value, Mapping) and isinstance(value.get("name"), str) and value.get("name"):
            out[key] = value["name"]
            out[f"{key}_spec"] = dict(value)
    return out


def cache_key_for(evaluate: Callable) -> Callable:
    """Points with equal keys go in the same task (the default evaluator's compressed-graph cache)."""
    return getattr(evaluate, "cache_key", None) or cache_key


#: seconds between two plain progress lines when stderr is not a terminal
PLAIN_PROGRESS_S = 30.0


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class PlainProgress:
    """Progress for a log, a pipe or a CI job: ``sweep: 40/108 points, 1m12s, about 1m30s left`` on
    ``stream`` at most every ``interval`` seconds (nothing for a sweep that ends sooner), and one
    closing line when any was written. Same ``update`` / ``close`` as a tqdm bar."""

    def __init__(self, total: int, done: int, stream=None, interval: float | None = None, desc: str = "sweep"):
        import time

        self.total, self.done, self.start_done, self.desc = total, done, done, desc
        self.stream = stream or sys.stderr
        self.interval = PLAIN_PROGRESS_S if interval is None else interval
        self.start = self.last = time.monotonic()
        self.lines = 0

    def update(self, n: int = 1) -> None:
        import time

        self.done += n
        now = time.monotonic()
        if now - self.last >= self.interval:
            self.last = now
            self._write(now)

    def _write(self, now: float, final: bool = False) -> None:
        elapsed = now - self.start
        ran = self.done - self.start_done
        text = f"{self.desc}: {self.done}/{self.total} points, {_clock(elapsed)}"
        if not final and ran > 0 and self.done < self.total:
            text += f", about {_clock(elapsed / ran * (self.total - self.done))} left"
        try:
            self.stream.write(text + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass
        self.lines += 1

    def close(self) -> None:
        import time

        if self.lines:
            self._write(time.monotonic(), final=True)


def _columns() -> int:
    """The width of the terminal on stderr (0 when it has none: a pty opened without a size draws no bar)."""
    import os

    try:
        return os.get_terminal_size(sys.stderr.fileno()).columns
    except (OSError, ValueError, AttributeError):
        return 0


def _progress_bar(total: int, done: int, progress: bool, desc: str = "sweep"):
    """A tqdm bar when stderr is a terminal with a size, else :class:`PlainProgress` (None when
    ``progress`` is off); ``desc`` names the stage (``sweep``, or ``check`` while points are validated)."""
    if not progress:
        return None
    if not sys.stderr.isatty() or _columns() <= 0:  # a log, a pipe, or a terminal without a size (a bare pty)
        return PlainProgress(total, done, desc=desc)
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return PlainProgress(total, done, desc=desc)
    return tqdm(total=total, initial=done, unit="pt", desc=desc, file=sys.stderr, dynamic_ncols=True)
