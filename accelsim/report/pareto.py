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
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from accelsim.errors import SweepError

DIRECTIONS = ("min", "max")


def _check_objectives(df, objectives: Mapping[str, str]) -> dict[str, str]:
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


def pareto_front(df, objectives: Mapping[str, str]):
    """The non-dominated rows of ``df`` for ``objectives`` (column -> "min" | "max"), in table order."""
    objectives = _check_objectives(df, objectives)
    cols = list(objectives)
    valid = _valid(df, cols)
    sub = df[valid]
    if sub.empty:
        return sub.copy()
    vals = np.column_stack([
        sub[c].astype(float).to_numpy() * (1.0 if d == "min" else -1.0) for c, d in objectives.items()
    ])
    return sub[pareto_mask(vals)].copy()


def top_k(df, objective: str, k: int = 10, direction: str = "min"):
    """The ``k`` best rows by ``objective`` (ties keep table order)."""
    _check_objectives(df, {objective: direction})
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise SweepError(f"k must be an int >= 1; got {k!r}")
    sub = df[_valid(df, [objective])]
    return sub.sort_values(objective, ascending=(direction == "min"), kind="stable").head(k).copy()


def sensitivity(df, objectives: Sequence[str] | Mapping[str, str], axes: Sequence[str], log: bool = False):
    """Main effect of each axis on each objective (see module docstring); most influential first.

    Returns a DataFrame with columns ``objective, axis, effect, levels, best_value`` (best_value: the
    axis value whose group mean is lowest, or highest for a "max" objective) and ``rank``
    (1 = moves the objective most).
    """
    import pandas as pd

    objectives = _check_objectives(df, objectives)
    missing = [a for a in axes if a not in df.columns]
    if missing:
        raise SweepError(f"sensitivity axis '{missing[0]}' is not a column of the results")
    rows = []
    for obj, direction in objectives.items():
        sub = df[_valid(df, [obj])]
        values = sub[obj].astype(float)
        if log:
            values = np.log10(values.where(values > 0))
        ref = abs(values.mean()) if not log else 1.0
        for axis in axes:
            keys = sub[axis].map(lambda v: repr(v) if isinstance(v, (list, dict)) else v)
            # rows where the axis does not apply (another family in a union) are left out
            means = values.groupby(keys, dropna=True).mean().dropna()
            if len(means) < 2 or not ref:
                effect = 0.0
            else:
                effect = float((means.max() - means.min()) / ref)
            best = (means.idxmin() if direction == "min" else means.idxmax()) if len(means) else None
            rows.append({"objective": obj, "axis": axis, "effect": effect, "levels": int(len(means)), "best_value": best})
    out = pd.DataFrame(rows, columns=["objective", "axis", "effect", "levels", "best_value"])
    if out.empty:
        out["rank"] = []
        return out
    out["rank"] = out.groupby("objective")["effect"].rank(ascending=False, method="first").astype(int)
    return out.sort_values(["objective", "rank"], kind="stable").reset_index(drop=True)


def varying_axes(df, candidates: Sequence[str]) -> list[str]:
    """The candidate columns that take more than one value in ``df`` (the axes of a sweep)."""
    out = []
    for col in candidates:
        if col in df.columns and df[col].astype(str).nunique(dropna=False) > 1:
            out.append(col)
    return out


__all__ = ["DIRECTIONS", "pareto_front", "pareto_mask", "sensitivity", "top_k", "varying_axes"]
