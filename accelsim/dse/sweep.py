"""``accelsim.sweep``: evaluate every point of a design space, resumably, on any executor.

Order of work: build the space (:mod:`accelsim.dse.space`), validate every point with the
evaluator's ``validate`` (nothing runs if any point is invalid; the error lists the problems,
each naming its key), open the store (:mod:`accelsim.dse.store`; with ``resume`` the finished
ids are skipped), run the remaining points on the executor (:mod:`accelsim.dse.executors`),
writing each result as it arrives, then rewrite the table in point order and return it.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any, Callable

from accelsim.dse.evaluate import LAYER_METRICS, SimulateEvaluator, cache_key
from accelsim.dse.executors import DEFAULT_TIMEOUT_S, execute
from accelsim.dse.space import as_space
from accelsim.dse.store import as_store
from accelsim.errors import SweepError

MAX_LISTED = 4  # problems quoted in a validation error (the count says how many in all)


def resolve_evaluate(spec_value: Any, detail: bool) -> Callable:
    """The evaluator named in a spec (``module:function``), else the simulate evaluator."""
    if spec_value is None:
        return SimulateEvaluator(detail=detail)
    if not isinstance(spec_value, str) or ":" not in spec_value:
        raise SweepError(f"evaluate must be 'package.module:function'; got {spec_value!r}")
    module_name, _, attr = spec_value.partition(":")
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise SweepError(f"evaluate: cannot import {spec_value} ({type(exc).__name__}: {exc})") from None
    if isinstance(obj, type):
        obj = obj()
    if not callable(obj):
        raise SweepError(f"evaluate: {spec_value} is not callable")
    return obj


def renumber(points, normalize: Callable) -> list:
    """Points with normalized settings (ids recomputed; a point that becomes a duplicate is dropped)."""
    from accelsim.dse.space import Point, point_id

    out, seen = [], set()
    for p in points:
        setting = normalize(p.setting)
        pid = point_id(setting)
        if pid not in seen:
            seen.add(pid)
            out.append(Point(len(out), pid, setting, p.source))
    return out


def validate_points(points, evaluate: Callable, label: str) -> None:
    """Raise one SweepError if any point is invalid (every distinct problem counted, a few quoted)."""
    check = getattr(evaluate, "validate", None)
    if not callable(check):
        return
    problems: dict[str, None] = {}
    for p in points:
        for problem in check(p.setting) or ():
            problems[f"{p.source}: {problem}" if p.source not in ("space", "spec") else problem] = None
    if problems:
        listed = list(problems)
        more = f" (and {len(listed) - MAX_LISTED} more)" if len(listed) > MAX_LISTED else ""
        raise SweepError(f"{label}: " + "; ".join(listed[:MAX_LISTED]) + more)


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
):
    """Evaluate every point of ``space``; return one row per point (a ``pandas.DataFrame``).

    ``space``: a :class:`~accelsim.dse.space.Space` / ``Union``, a spec mapping or a spec YAML path.
    ``evaluate``: a callable ``setting -> mapping of metrics | NetworkResult`` (optionally with a
    ``validate(setting) -> list[str]`` method); default: simulate the point with accelsim.
    ``executor``: None (serial), an int (local worker processes), any ``concurrent.futures``
    executor, a ``distributed.Client`` or a ``tcp://HOST:PORT`` scheduler address.
    ``store``: a directory (append-only ``results.csv``, see :mod:`accelsim.dse.store`) or None.
    ``resume``: skip points whose id is already in the store. ``progress``: a tqdm bar on a terminal.
    ``detail``: also record per-layer rows (``layers.csv``; ``result.attrs["layers"]``).
    Rows hold ``id``, ``status`` (ok | error), ``error``, the setting keys and the metrics.
    """
    space, spec, label = as_space(space)
    if detail is None:
        detail = spec.get("detail", False)
    if not isinstance(detail, bool):
        raise SweepError(f"{label}: detail must be true or false; got {detail!r}")
    if evaluate is None:
        evaluate = resolve_evaluate(spec.get("evaluate"), detail)
    elif not callable(evaluate):
        raise SweepError(f"evaluate must be callable; got {type(evaluate).__name__}")
    points = space.points()
    normalize = getattr(evaluate, "normalize", None)
    if callable(normalize):
        points = renumber(points, normalize)
    validate_points(points, evaluate, label)

    setting_keys: dict[str, None] = {}
    for p in points:
        setting_keys.update(dict.fromkeys(p.setting))
    metrics = list(getattr(evaluate, "columns", ()) or ())
    columns = ["id", "status", "error", *setting_keys, *[m for m in metrics if m not in setting_keys]]
    layer_columns = list(LAYER_METRICS) if detail else None

    st = as_store(store)
    finished = st.open(columns, layer_columns, resume)
    todo = [p for p in points if p.id not in finished]
    by_id = {p.id: p for p in points}
    bar = _progress_bar(len(points), len(points) - len(todo), progress)

    def on_outcome(outcome) -> None:
        pid, status, error, row, layers = outcome
        if status == "crash":
            p = by_id[pid]
            raise SweepError(f"{label}: evaluating point {pid} {p.setting} failed: {error}")
        st.append(pid, {"status": status, "error": error, **by_id[pid].setting, **row}, layers)
        if bar is not None:
            bar.update(1)

    try:
        execute(evaluate, [(p.id, p.setting) for p in todo], executor, on_outcome, cache_key_for(evaluate), timeout)
    finally:
        if bar is not None:
            bar.close()
        st.close()
    order = [p.id for p in points]
    st.finalize(order)
    df = st.frame(order)
    if len(df) and "id" in df.columns:
        df = df[df["id"].isin(set(order))].reset_index(drop=True)
    if detail:
        from accelsim.dse.store import join_points

        df.attrs["layers"] = join_points(st.layer_frame(order), df)
    return df


def cache_key_for(evaluate: Callable) -> Callable:
    """Points with equal keys go in the same task (the default evaluator's compressed-graph cache)."""
    return getattr(evaluate, "cache_key", None) or cache_key


def _progress_bar(total: int, done: int, progress: bool):
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return None
    # disable=None: tqdm hides itself when stderr is not a terminal
    return tqdm(total=total, initial=done, unit="pt", desc="sweep", disable=None, file=sys.stderr, dynamic_ncols=True)
