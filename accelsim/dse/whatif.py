"""What-if: which conclusions of a sweep flip when the modelling constants move by +-f.

A sweep's conclusions (the Pareto front, the best point and the top-k order of each objective, per
workload and batch) rest on constants the models take from their configs and technology tables,
most of them estimates: GPU kernel launch overhead, sustained efficiencies, and the DRAM and SRAM
energy per access. :func:`what_if` re-evaluates the sweep's points with each constant scaled by
``1 - f`` and ``1 + f`` in turn (one constant at a time, every other constant at its value) and
compares the conclusions with the unperturbed sweep.

Constants (:data:`CONSTANTS`) are moved only through the config overrides a spec already uses
(``arch.<key>`` settings), never by editing a model:

- ``launch_overhead``: ``launch_overhead_us`` (GPU);
- ``compute_efficiency``: ``efficiency.simt``, ``efficiency.tensor``, ``efficiency.sparse_tensor``
  (GPU; clipped at 1.0, the largest valid value);
- ``dram_efficiency``: ``efficiency.dram`` (GPU; clipped at 1.0);
- ``dram_energy``: ``energy.dram_pj_per_bit`` (GPU); for families that price energy from a
  technology table (``tech``: systolic, EIE, ...) a copy of that table with every DRAM
  ``pj_per_bit`` scaled, written under ``folder`` and named by ``arch.tech``;
- ``sram_energy``: ``energy.smem_pj_per_byte`` and ``energy.l2_pj_per_byte`` (GPU); for tech-table
  families a copy with every SRAM energy fit point scaled (so the fitted SRAM read and write
  energies scale by the same factor).

A point whose family a constant does not touch keeps its unperturbed row. Conclusions per group
(:func:`accelsim.report.pareto.groups`, default workload and batch): ``Pareto front`` (the set of
points on it), ``best <objective>`` (the top point) and ``top <k> by <objective>`` (the order of the
k best). A conclusion *flips* when the perturbed set, point or order differs from the unperturbed one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from accelsim.errors import SweepError

#: constant -> {family: [config keys]}; "tech" means: the family's technology table (DRAM or SRAM part)
CONSTANTS: dict[str, dict[str, Any]] = {
    "launch_overhead": {"gpu": ["launch_overhead_us"]},
    "compute_efficiency": {"gpu": ["efficiency.simt", "efficiency.tensor", "efficiency.sparse_tensor"]},
    "dram_efficiency": {"gpu": ["efficiency.dram"]},
    "dram_energy": {"gpu": ["energy.dram_pj_per_bit"], "tech": "dram"},
    "sram_energy": {"gpu": ["energy.smem_pj_per_byte", "energy.l2_pj_per_byte"], "tech": "sram"},
}
#: keys whose valid range ends at 1.0 (fractions of a peak)
_CAPPED = ("efficiency.",)
MAX_FRACTION = 0.9


@dataclass(frozen=True)
class WhatIf:
    """The result of :func:`what_if`: ``conclusions`` (one row per constant, change, group and
    conclusion: ``constant, change, group, conclusion, baseline, perturbed, flipped``) and ``runs``
    (the perturbed rows, with ``tag.whatif`` naming the change and ``tag.base_id`` the point)."""

    conclusions: Any
    runs: Any
    fraction: float

    @property
    def flips(self):
        return self.conclusions[self.conclusions["flipped"]]

    def summary(self) -> str:
        c = self.conclusions
        n_flip = int(c["flipped"].sum())
        stable = [k for k, part in c.groupby("constant", sort=False) if not part["flipped"].any()]
        lines = [f"What-if +-{self.fraction:.0%}: {n_flip} of {len(c)} conclusions flip "
                 f"({len(self.runs)} perturbed evaluations)."]
        if stable:
            lines.append(f"No conclusion moves with: {', '.join(stable)}.")
        return "\n".join(lines)


def _get(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = obj[part] if isinstance(obj, Mapping) else getattr(obj, part)
    return obj


def _scaled(key: str, value: float, factor: float) -> float:
    out = float(value) * factor
    if key.startswith(_CAPPED):
        out = min(out, 1.0)
    return out


# --- technology tables ------------------------------------------------------------------------------

def _tech_path(source: str, relative_to: Path | None = None) -> Path:
    from accelsim.paths import TECH_DIR, bundled

    text = str(source)
    if text.endswith((".yaml", ".yml")) or "/" in text or "\\" in text:
        path = Path(text)
        if not path.is_absolute() and relative_to is not None:
            path = relative_to / path
        return path
    found = bundled(TECH_DIR)
    if text not in found:
        raise SweepError(f"what-if: unknown tech table '{text}'")
    return found[text]


def perturbed_tech(source: str, part: str, factor: float, folder: Path, relative_to: Path | None = None) -> Path:
    """A copy of technology table ``source`` with its ``part`` (``dram`` or ``sram``) energies times
    ``factor``, written to ``folder``; a derived table gets a perturbed copy of its base too."""
    import yaml

    from accelsim.config import NumberLoader, read_yaml_file

    path = _tech_path(source, relative_to)
    data = read_yaml_file(path, loader=NumberLoader)
    if not isinstance(data, dict):
        raise SweepError(f"what-if: {path} is not a tech table")
    if "base" in data:
        data["base"] = str(perturbed_tech(str(data["base"]), part, factor, folder, path.parent))
    if part == "dram":
        for entry in (data.get("dram") or {}).values():
            if isinstance(entry, dict) and "pj_per_bit" in entry:
                entry["pj_per_bit"] = float(entry["pj_per_bit"]) * factor
    elif part == "sram" and "base" not in data:
        for key in ("energy_fit_points", "energy_check_points"):
            for point in (data.get("sram") or {}).get(key) or []:
                point["read_pj"] = float(point["read_pj"]) * factor
    name = f"{data.get('name') or path.stem}-{part}-x{factor:g}"
    data["name"] = name
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / f"{name}.yaml"
    out.write_text(yaml.safe_dump(data, sort_keys=False))
    return out.resolve()


# --- the sweep -------------------------------------------------------------------------------------

def perturbations(setting: Mapping[str, Any], family: str, constant: str, factor: float,
                  folder: Path) -> dict[str, Any] | None:
    """The ``arch.*`` overrides that scale ``constant`` by ``factor`` on ``setting``'s config (None when
    the constant does not apply to ``family``)."""
    from accelsim.dse.evaluate import _split, config_for

    spec = CONSTANTS[constant]
    main, overrides = _split(setting)
    config = config_for(main.get("arch"), overrides)
    keys = spec.get(family)
    if keys:
        return {f"arch.{k}": _scaled(k, _get(config, k), factor) for k in keys}
    part = spec.get("tech")
    tech = getattr(config, "tech", None)
    if part and isinstance(tech, str):
        return {"arch.tech": str(perturbed_tech(tech, part, factor, folder))}
    return None


def what_if(spec: Mapping[str, Any], base, fraction: float, folder: str | Path, executor: Any = None,
            group_by: Any = "auto", constants: Sequence[str] | None = None, progress: bool = False) -> WhatIf:
    """Re-run ``spec``'s points with each constant at ``1 -+ fraction`` and compare conclusions with ``base``.

    ``base``: the unperturbed sweep table (``sweep(spec)``); ``folder``: where perturbed tech tables
    are written; ``executor``: as for :func:`accelsim.dse.sweep.sweep`. Only the default evaluator.
    """
    import pandas as pd

    from accelsim.dse.evaluate import SimulateEvaluator
    from accelsim.dse.space import Points, Space, space_from_spec
    from accelsim.dse.sweep import sweep

    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction <= MAX_FRACTION:
        raise SweepError(f"--what-if must be a fraction in (0, {MAX_FRACTION}]; got {fraction!r}")
    if spec.get("evaluate"):
        raise SweepError("--what-if perturbs the bundled models' constants: it needs the default evaluator, "
                         f"not evaluate: {spec['evaluate']}")
    objectives = dict(spec.get("objectives") or {})
    if not objectives:
        raise SweepError("--what-if compares conclusions: the spec needs objectives")
    constants = list(constants or CONSTANTS)
    unknown = [c for c in constants if c not in CONSTANTS]
    if unknown:
        raise SweepError(f"what-if: unknown constant '{unknown[0]}'; known: {', '.join(CONSTANTS)}")
    folder = Path(folder)
    ok = base[base["status"] == "ok"] if "status" in base.columns else base
    family = dict(zip(ok["id"], ok["family"])) if "family" in ok.columns else {}
    points = [p for p in space_from_spec(spec).points(SimulateEvaluator().normalize) if p.id in family]
    settings = []
    for constant in constants:
        for sign in (-1, 1):
            factor = 1.0 + sign * float(fraction)
            label = f"{constant} {sign * fraction:+.0%}"
            for p in points:
                extra = perturbations(p.setting, family[p.id], constant, factor, folder / "tech")
                if extra:
                    settings.append({**p.setting, **extra, "tag.whatif": label, "tag.base_id": p.id})
    if settings:
        runs = sweep(Space(axes=[Points(settings)]), executor=executor, progress=progress)
    else:
        runs = pd.DataFrame(columns=["id", "status", "tag.whatif", "tag.base_id"])
    table = _conclusions(spec, ok, runs, constants, fraction, objectives, group_by)
    return WhatIf(conclusions=table, runs=runs, fraction=float(fraction))


def _perturbed_table(ok, runs, label: str, columns: Sequence[str]):
    """``ok`` with the ``columns`` of each point replaced by its perturbed run under ``label`` (a point
    whose perturbed run failed is dropped; a point the constant does not touch keeps its row)."""
    sub = runs[runs["tag.whatif"] == label] if len(runs) else runs
    if not len(sub):
        return ok
    failed = set(sub.loc[sub["status"] != "ok", "tag.base_id"])
    repl = sub[sub["status"] == "ok"].set_index("tag.base_id")
    rows = ok[~ok["id"].isin(failed)].copy()
    mask = rows["id"].isin(repl.index)
    for col in columns:
        rows.loc[mask, col] = rows.loc[mask, "id"].map(repl[col]).to_numpy()
    return rows


def _conclude(df, objectives: Mapping[str, str], k: int, group_by) -> dict[tuple[str, str], Any]:
    """``{(group label, conclusion): value}``: the front's id set, each objective's best id and top-k ids."""
    from accelsim.report.pareto import group_label, groups, pareto_front, top_k

    out: dict[tuple[str, str], Any] = {}
    for key, part in groups(df, group_by):
        label = group_label(key) or "all"
        front = pareto_front(part, objectives, group_by=None)
        out[(label, "Pareto front")] = frozenset(front["id"])
        for obj, direction in objectives.items():
            best = top_k(part, obj, k=k, direction=direction, group_by=None)
            ids = tuple(best["id"])
            out[(label, f"best {obj}")] = ids[:1]
            out[(label, f"top {k} by {obj}")] = ids
    return out


def _conclusions(spec, ok, runs, constants, fraction, objectives, group_by):
    import pandas as pd

    from accelsim.dse.report import _describe, axis_columns
    from accelsim.report.pareto import group_columns

    k = int(((spec.get("report") or {}).get("top_k")) or 5)
    gcols = group_columns(ok, group_by)
    axes = [a for a in axis_columns(ok, spec) if a not in gcols]

    position = {pid: i for i, pid in enumerate(ok["id"])}

    def name(ids) -> str:  # a front's points in the results table's order, a ranking in its own
        return "; ".join(_describe(ok, i, axes) for i in sorted(ids, key=position.get)) if isinstance(ids, frozenset) \
            else " > ".join(_describe(ok, i, axes) for i in ids)

    base = _conclude(ok, objectives, k, gcols)
    rows = []
    for constant in constants:
        for sign in (-1, 1):
            label = f"{constant} {sign * fraction:+.0%}"
            if len(runs) and label not in set(runs["tag.whatif"]):
                continue
            pert = _conclude(_perturbed_table(ok, runs, label, list(objectives)), objectives, k, gcols)
            for (group, what), value in base.items():
                new = pert.get((group, what), frozenset() if isinstance(value, frozenset) else ())
                flipped = new != value
                if isinstance(value, frozenset) and flipped:
                    added, removed = new - value, value - new
                    change = "; ".join(filter(None, [f"+ {name(frozenset(added))}" if added else "",
                                                     f"- {name(frozenset(removed))}" if removed else ""]))
                else:
                    change = name(new) if flipped else ""
                rows.append({"constant": constant, "change": f"{sign * fraction:+.0%}", "group": group,
                             "conclusion": what, "baseline": name(value), "perturbed": change,
                             "flipped": bool(flipped)})
    return pd.DataFrame(rows, columns=["constant", "change", "group", "conclusion", "baseline", "perturbed", "flipped"])


def write_whatif(result: WhatIf, out: str | Path) -> Path:
    """``out/whatif.md`` (the flipped conclusions, then stable ones by constant), ``whatif.csv`` and
    ``whatif_runs.csv``; returns the markdown path."""
    from accelsim.dse.report import md_table

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    c = result.conclusions
    c.to_csv(out / "whatif.csv", index=False)
    result.runs.to_csv(out / "whatif_runs.csv", index=False)
    md = ["# What-if: modelling constants +-{:.0%}".format(result.fraction), "", result.summary(), "",
          "Each constant is scaled alone (accelsim.dse.whatif.CONSTANTS); a conclusion flips when the Pareto "
          "front, the best point or the top-k order of its group changes.", ""]
    flips = c[c["flipped"]]
    if len(flips):
        md += ["## Conclusions that flip", "", md_table(flips.to_dict("records"),
                                                         ["constant", "change", "group", "conclusion", "baseline",
                                                          "perturbed"]), ""]
    held = c.groupby(["constant", "change"], sort=False)["flipped"].agg(["sum", "count"]).reset_index()
    held.columns = ["constant", "change", "flipped", "conclusions"]
    md += ["## Per constant", "", md_table(held.to_dict("records"), list(held.columns)), ""]
    path = out / "whatif.md"
    path.write_text("\n".join(md))
    return path


__all__ = ["CONSTANTS", "WhatIf", "perturbations", "perturbed_tech", "what_if", "write_whatif"]
