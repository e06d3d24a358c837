"""Analysis of result tables (sweeps): Pareto fronts, top-k and a sensitivity summary.

Plain DataFrame computations used by the figures here (:func:`accelsim.report.plots.pareto_scatter`)
and by :mod:`accelsim.dse` (which re-exports them as :mod:`accelsim.dse.pareto`).

- :func:`pareto_front`: rows not dominated by any other row. Row *a* dominates *b* when *a* is at
  least as good in every objective and strictly better in one (``"min"``: smaller is better,
  ``"max"``: larger is better). Rows with a missing objective value (or ``status != ok``) are
  never on the front. Equal rows are all kept.
- :func:`top_k`: the ``k`` best rows by one objective.
- :func:`sensitivity`: for each objective and each axis, the *main effect*: group the rows by
  the axis value, take the mean objective per group, and report
  ``(max group mean - min group mean) / |mean of the objective|`` (rows where the axis is empty,
  e.g. points of another hardware family in a union, are left out); the axis with the largest
  effect moves that objective most. For objectives spanning orders of magnitude use
  ``log=True`` (effects computed on log10 values, in decades).

Fair comparisons (issue 17): points of different workloads or batch sizes do not compete. All three
functions take ``group_by``: the columns whose values split the table into groups analysed
separately (one front, one top-k list, one set of main effects per group). The default, ``"auto"``,
is :data:`DEFAULT_GROUP_BY` (``workload`` and ``batch``) restricted to the columns that exist and
take more than one value; ``None`` or ``[]`` analyses the table as one group.

Sensitivity is computed only over *balanced* axes: within a group, an axis is balanced when each of
its values occurs with the same settings of the other axes, equally often (a full factorial, or a
union of them in which the axis does not apply to every point). Otherwise its main effect would
mix in the other axes (a batch-8 value that exists only on GPUs would be "best for latency" because
GPUs are fast), so the row has no effect, no rank and a ``note`` saying which other axis it is
confounded with. An axis with one value in a group has effect 0, no rank and the note "one value"; an axis with none
there (swept only in another space of a union) the note "not swept in this group" (it said "one value").
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from accelsim.errors import SweepError, api_arguments

DIRECTIONS = ("min", "max")
#: the columns a front, a top-k list and the main effects are split by unless told otherwise
DEFAULT_GROUP_BY = ("workload", "batch")
AUTO = "auto"
_NONE = "<none>"  # the group / level key of an empty cell


def cell_key(v):
    """A hashable, printable key of a cell (lists and mappings by repr, empty cells as one value)."""
    if v is None or (isinstance(v, float) and v != v):
        return _NONE
    if isinstance(v, (list, dict)):
        return repr(v)
    try:
        import pandas as pd

        if pd.isna(v):
            return _NONE
    except (TypeError, ValueError):
        pass
    return v


def group_columns(df, group_by=AUTO) -> list[str]:
    """The columns ``df`` is grouped by (module docstring): ``"auto"``, None / ``[]`` / ``"none"``
    (no grouping), a list of columns or a comma-separated string of them."""
    if group_by is None:
        return []
    if isinstance(group_by, str):
        if group_by == AUTO:
            return [c for c in DEFAULT_GROUP_BY if c in df.columns and df[c].map(cell_key).nunique() > 1]
        group_by = [] if group_by.strip().lower() == "none" else [p.strip() for p in group_by.split(",") if p.strip()]
    cols = list(group_by)
    missing = [c for c in cols if c not in df.columns]
    if missing:
        import difflib

        close = difflib.get_close_matches(str(missing[0]), [str(c) for c in df.columns], n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise SweepError(f"group_by: '{missing[0]}' is not a column of the results{hint}")
    return cols


def groups(df, group_by=AUTO):
    """``[(key, rows)]``: the groups of ``df`` (:func:`group_columns`) in order of first appearance;
    ``key`` maps each group column to its value (one ``({}, df)`` pair when not grouped)."""
    cols = group_columns(df, group_by)
    if not cols or df.empty:
        return [({}, df)]
    keys = [tuple(cell_key(v) for v in row) for row in df[cols].itertuples(index=False, name=None)]
    order: dict = {}
    for i, k in enumerate(keys):
        order.setdefault(k, []).append(i)
    out = []
    for k, idx in order.items():
        sub = df.iloc[idx]
        first = sub.iloc[0]
        out.append(({c: (None if kk == _NONE else first[c]) for c, kk in zip(cols, k)}, sub))
    return out


def by_group(df, group_by=AUTO):
    """``df``'s rows reordered group by group (groups in order of first appearance; table order within)."""
    import pandas as pd

    parts = groups(df, group_by)
    if len(parts) <= 1:
        return df
    # pandas compares the parts' attrs when concatenating: a sweep's attrs hold a DataFrame (its
    # per-layer rows), whose truth value is an error; the reordered table keeps the original attrs
    out = pd.concat([part.set_axis(part.index, axis=0).pipe(_no_attrs) for _, part in parts])
    out.attrs = dict(df.attrs)
    return out


def _no_attrs(df):
    df = df.copy(deep=False)
    df.attrs = {}
    return df


def group_label(key: Mapping) -> str:
    """``workload=bert-base, batch=8`` (empty for the ungrouped table)."""
    return ", ".join(f"{c}={v}" for c, v in key.items())


def _check_objectives(df, objectives: Mapping[str, str]) -> dict[str, str]:
    import pandas as pd

    if not isinstance(df, pd.DataFrame):
        raise SweepError(f"results must be a pandas DataFrame (a sweep's table, e.g. accelsim.sweep(...) or "
                         f"load_results(DIR)); got {type(df).__name__}")
    if isinstance(objectives, (list, tuple)):
        objectives = {name: "min" for name in objectives}
    if not isinstance(objectives, Mapping) or not objectives:
        raise SweepError("objectives must be a mapping of column -> 'min' or 'max'")
    out = {}
    for col, direction in objectives.items():
        if col not in df.columns:
            import difflib

            close = difflib.get_close_matches(str(col), [str(c) for c in df.columns], n=3, cutoff=0.5)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; columns: {', '.join(map(str, df.columns))}"
            raise SweepError(f"objective '{col}' is not a column of the results{hint}")
        if direction not in DIRECTIONS:
            raise SweepError(f"objective '{col}' direction must be 'min' or 'max'; got {direction!r}")
        values = df[col]
        text = values.notna() & pd.to_numeric(values, errors="coerce").isna()
        if text.any():  # (its rows would all be dropped as invalid: an empty front, in silence)
            first = text.idxmax()
            raise SweepError(f"objective '{col}' must be a numeric column; row {first!r} holds {values[first]!r}")
        out[col] = direction
    return out


def _valid(df, cols: Sequence[str]):
    import pandas as pd

    mask = pd.Series(True, index=df.index)
    if "status" in df.columns:
        mask &= df["status"].fillna("ok") == "ok"
    for col in cols:
        mask &= pd.to_numeric(df[col], errors="coerce").notna()
    return mask


def pareto_mask(values: np.ndarray) -> np.ndarray:
    """Non-dominated rows of an (n, d) array where every objective is minimized."""
    n = values.shape[0]
    keep = np.zeros(n, dtype=bool)
    order = np.lexsort(values.T[::-1])  # by first objective, then the next ones
    front: list[int] = []
    for i in order:
        v = values[i]
        if front:
            f = values[front]
            dominated = np.any(np.all(f <= v, axis=1) & np.any(f < v, axis=1))
            if dominated:
                continue
        front.append(i)
        keep[i] = True
    return keep


@api_arguments
def pareto_front(df, objectives: Mapping[str, str], group_by=AUTO):
    """The non-dominated rows of ``df`` for ``objectives`` (column -> "min" | "max"), in table order.

    With groups (``group_by``, module docstring) a row is on the front when no row *of its group*
    dominates it: one front per (workload, batch) by default.
    """
    objectives = _check_objectives(df, objectives)
    cols = list(objectives)
    valid = _valid(df, cols)
    sub = df[valid]
    if sub.empty:
        return sub.copy()
    keep = np.zeros(len(sub), dtype=bool)
    pos = {label: i for i, label in enumerate(sub.index)} if sub.index.is_unique else None
    for _, part in groups(sub, group_by):
        vals = np.column_stack([
            part[c].astype(float).to_numpy() * (1.0 if d == "min" else -1.0) for c, d in objectives.items()
        ])
        mask = pareto_mask(vals)
        if pos is None:  # duplicate index labels: fall back to positions
            where = np.flatnonzero(sub.index.isin(part.index))
        else:
            where = np.array([pos[label] for label in part.index], dtype=int)
        keep[where[mask]] = True
    return sub[keep].copy()


def top_k(df, objective: str, k: int = 10, direction: str = "min", group_by=AUTO):
    """The ``k`` best rows by ``objective`` (ties keep table order); ``k`` per group with groups,
    groups in order of first appearance."""
    import pandas as pd

    _check_objectives(df, {objective: direction})
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise SweepError(f"k must be an int >= 1; got {k!r}")
    sub = df[_valid(df, [objective])]
    parts = [part.sort_values(objective, ascending=(direction == "min"), kind="stable").head(k)
             for _, part in groups(sub, group_by)]
    if not parts:
        return sub.copy()
    out = pd.concat([_no_attrs(part) for part in parts])  # attrs may hold a DataFrame (by_group)
    out.attrs = dict(df.attrs)
    return out


def _balance(sub, axis: str, others: Sequence[str]) -> str | None:
    """None when ``axis`` is balanced in ``sub`` against ``others`` (module docstring), else why not."""
    from collections import Counter

    rows = sub[sub[axis].map(cell_key) != _NONE]
    levels = rows[axis].map(cell_key)
    if not others:
        counts = Counter(levels)
        return None if len(set(counts.values())) <= 1 else "unbalanced: its values have different numbers of points"
    combos = [tuple(cell_key(v) for v in r) for r in rows[list(others)].itertuples(index=False, name=None)]
    per_level: dict = {}
    for lev, combo in zip(levels, combos):
        per_level.setdefault(lev, Counter())[combo] += 1
    first = next(iter(per_level.values()), Counter())
    if all(c == first for c in per_level.values()):
        return None
    # name the other axis whose values differ between the levels (the confounder); an axis that
    # merely does not apply to a level (another space of a union) is named only when no other is found
    not_applied = None
    for j, other in enumerate(others):
        seen = {lev: {combo[j] for combo in c} for lev, c in per_level.items()}
        union = set().union(*seen.values())
        narrow = [(lev, vals) for lev, vals in seen.items() if vals != union]
        if narrow:
            lev, vals = min(narrow, key=lambda lv: len(lv[1]))
            if vals == {_NONE}:
                not_applied = not_applied or f"unbalanced: {other} does not apply to {axis}={lev} (another space of the union)"
                continue
            shown = sorted(str(v) for v in vals if v != _NONE) + ([_NONE] if _NONE in vals else [])
            text = ", ".join(shown[:3]) + (f", ... ({len(shown)})" if len(shown) > 3 else "")
            return f"unbalanced: {axis}={lev} occurs only with {other} in {{{text}}}"
    return not_applied or "unbalanced: its values occur with the other axes' settings unequally often (failed or missing points?)"


#: the note of an axis with no value in a group (swept only in another space of a union), and with one
_NO_CONTRAST = ("not swept in this group", "one value")


def sensitivity(df, objectives: Sequence[str] | Mapping[str, str], axes: Sequence[str], log: bool = False,
                group_by=AUTO):
    """Main effect of each balanced axis on each objective (see module docstring); most influential first.

    Returns a DataFrame with the group columns (when grouped), ``objective, axis, effect, levels,
    best_value`` (best_value: the axis value whose group mean is lowest, or highest for a "max"
    objective), ``rank`` (1 = moves the objective most, among the balanced axes of the group) and
    ``note`` (why an axis has no effect: unbalanced, or one value only). Axes that are group
    columns are left out.
    """
    import pandas as pd

    objectives = _check_objectives(df, objectives)
    missing = [a for a in axes if a not in df.columns]
    if missing:
        raise SweepError(f"sensitivity axis '{missing[0]}' is not a column of the results")
    gcols = group_columns(df, group_by)
    axes = [a for a in axes if a not in gcols]
    rows = []
    for obj, direction in objectives.items():
        valid = df[_valid(df, [obj])]
        for key, sub in groups(valid, gcols):
            values = sub[obj].astype(float)
            if log:
                values = np.log10(values.where(values > 0))
            ref = abs(values.mean()) if not log else 1.0
            for axis in axes:
                keys = sub[axis].map(lambda v: repr(v) if isinstance(v, (list, dict)) else v)
                # rows where the axis does not apply (another family in a union) are left out
                means = values.groupby(keys, dropna=True).mean().dropna()
                if len(means) >= 2:
                    note = _balance(sub, axis, [a for a in axes if a != axis])
                else:  # (no value: the axis is swept only in another space of a union)
                    note = _NO_CONTRAST[len(means)]
                best = None
                if note is not None and note not in _NO_CONTRAST:
                    effect = float("nan")
                elif len(means) < 2 or not ref:
                    effect = 0.0
                else:
                    effect = float((means.max() - means.min()) / ref)
                if note is None or note == "one value":
                    best = (means.idxmin() if direction == "min" else means.idxmax()) if len(means) else None
                rows.append({**key, "objective": obj, "axis": axis, "effect": effect, "levels": int(len(means)),
                             "best_value": best, "note": note or ""})
    cols = gcols + ["objective", "axis", "effect", "levels", "best_value", "rank", "note"]
    out = pd.DataFrame(rows, columns=[c for c in cols if c != "rank"])
    out["best_value"] = pd.Series([r["best_value"] for r in rows], index=out.index, dtype=object)
    if out.empty:
        return out.reindex(columns=cols)
    by = gcols + ["objective"]
    ranks = []
    for _, part in out.groupby([out[c].map(cell_key) for c in by], sort=False):
        part = part[part["note"] == ""]  # an axis of one value, or unbalanced, moved nothing it could show: no rank
        ranks.append(part["effect"].rank(ascending=False, method="first"))
    rank = pd.concat(ranks).reindex(out.index)
    out["rank"] = pd.Series([None if r != r else int(r) for r in rank], index=out.index, dtype=object)
    out = out[cols]
    order = out.assign(_g=[tuple(cell_key(v) for v in t) for t in out[gcols].itertuples(index=False, name=None)] if gcols
                       else 0, _r=out["rank"].map(lambda r: float("inf") if r is None else r))
    first_seen = {g: i for i, g in reversed(list(enumerate(order["_g"])))}
    order["_gi"] = order["_g"].map(first_seen)
    objs = {o: i for i, o in enumerate(objectives)}
    order["_o"] = order["objective"].map(objs)
    return out.loc[order.sort_values(["_gi", "_o", "_r"], kind="stable").index].reset_index(drop=True)


def varying_axes(df, candidates: Sequence[str]) -> list[str]:
    """The candidate columns that take more than one value in ``df`` (the axes of a sweep)."""
    out = []
    for col in candidates:
        if col in df.columns and df[col].astype(str).nunique(dropna=False) > 1:
            out.append(col)
    return out


__all__ = ["AUTO", "DEFAULT_GROUP_BY", "DIRECTIONS", "by_group", "cell_key", "group_columns", "group_label", "groups", "pareto_front",
           "pareto_mask", "sensitivity", "top_k", "varying_axes"]
