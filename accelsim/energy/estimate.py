"""Price action counts with an energy reference table (ERT); sum component areas.

An ERT maps each action key ``(component, action, variant)`` to ``(energy_pj, category)``, built
once by a hardware model from its config and a :class:`~accelsim.energy.tables.TechTable`.
:func:`estimate` multiplies every count by its energy (docs/models/energy.md, "Estimate")::

    E_total [J] = sum_k count_k * e_k [pJ] * 1e-12  +  static_power_w * seconds

Categories are free-form strings (compute, register, sram, dram, noc, ...); static energy goes to
the ``static`` category and component.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from accelsim.energy.actions import ActionCounts, ActionKey
from accelsim.errors import SimulationError

PJ = 1e-12
STATIC = "static"


@dataclass(frozen=True)
class EnergyBreakdown:
    """Energy of one run (joules), by category and by component; ``total_j`` is their common sum."""

    by_category: Mapping[str, float]
    by_component: Mapping[str, float] = field(default_factory=dict)
    total_j: float = 0.0

    def __add__(self, other: "EnergyBreakdown") -> "EnergyBreakdown":
        if not isinstance(other, EnergyBreakdown):
            return NotImplemented
        return EnergyBreakdown(
            _merge(self.by_category, other.by_category),
            _merge(self.by_component, other.by_component),
            self.total_j + other.total_j,
        )

    def __radd__(self, other):
        if other == 0:  # sum() starts from 0
            return self
        return self.__add__(other)

    def fractions(self) -> dict[str, float]:
        """Share of each category in the total (0 when the total is 0)."""
        if self.total_j == 0:
            return {k: 0.0 for k in self.by_category}
        return {k: v / self.total_j for k, v in self.by_category.items()}

    def to_dict(self) -> dict:
        return {"total_j": self.total_j, "by_category": dict(self.by_category), "by_component": dict(self.by_component)}


def _merge(a: Mapping[str, float], b: Mapping[str, float]) -> dict[str, float]:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0.0) + v
    return out


class EnergyTable(Mapping[ActionKey, tuple[float, str]]):
    """A read-only energy reference table ``{action key: (energy_pj, category)}``.

    The same mapping as the dict it is built from, with every entry's energy checked once, here:
    :func:`estimate` then prices an action with a valid entry without checking it again. Entries
    that are malformed or negative / non-finite are kept as given and raise in :func:`estimate`,
    exactly as with a plain dict, when an action that uses them is counted.
    """

    __slots__ = ("_entries", "_checked", "_categories")

    def __init__(self, entries: Mapping[ActionKey, tuple[float, str]] | Iterable[tuple[ActionKey, tuple[float, str]]] = ()):
        self._entries: dict = dict(entries)
        checked: dict = {}
        for key, entry in self._entries.items():
            try:
                energy_pj, category = entry
            except (TypeError, ValueError):
                continue
            if isinstance(energy_pj, (int, float)) and math.isfinite(energy_pj) and energy_pj >= 0:
                checked[key] = (float(energy_pj), category)
        self._checked = checked
        self._categories = False  # not computed yet

    def categories(self) -> frozenset | None:
        """The set of every entry's category (its second item), computed once (the table is read-only);
        None when an entry is not a pair or its category cannot be hashed (the caller then checks each entry)."""
        if self._categories is False:
            cats = set()
            try:
                for entry in self._entries.values():
                    if not isinstance(entry, (tuple, list)) or len(entry) != 2:
                        cats = None
                        break
                    cats.add(entry[1])
            except TypeError:  # an unhashable category
                cats = None
            self._categories = None if cats is None else frozenset(cats)
        return self._categories

    def __getitem__(self, key):
        return self._entries[key]

    def get(self, key, default=None):
        return self._entries.get(key, default)

    def __contains__(self, key) -> bool:
        return key in self._entries

    def __iter__(self):
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"EnergyTable({self._entries!r})"


def _key_text(key: ActionKey) -> str:
    return ".".join(key) if isinstance(key, tuple) else repr(key)


def estimate(
    counts: ActionCounts | Mapping[ActionKey, float],
    ert: Mapping[ActionKey, tuple[float, str]],
    static_power_w: float = 0.0,
    seconds: float = 0.0,
) -> EnergyBreakdown:
    """Energy (J) of ``counts`` priced by ``ert`` plus ``static_power_w * seconds``.

    Raises :class:`SimulationError` naming the key for an action with no ERT entry, a negative or
    non-finite count, or a negative / non-finite energy, static power or duration.
    """
    by_component: dict[str, float] = {}
    by_category, total = _price(counts, ert, static_power_w, seconds, by_component)
    return EnergyBreakdown(by_category, by_component, total)


def estimate_by_category(
    counts: ActionCounts | Mapping[ActionKey, float],
    ert: Mapping[ActionKey, tuple[float, str]],
    static_power_w: float = 0.0,
    seconds: float = 0.0,
) -> tuple[dict[str, float], float]:
    """``(by_category, total_j)`` of :func:`estimate` (the same values, the same order, the same errors)
    without the breakdown by component: what :meth:`accelsim.hw.base.HardwareModel.simulate` reads when no
    power cap or ``finish_extra`` needs the whole :class:`EnergyBreakdown` (the by-component sums cost a
    third of the pricing of a small layer)."""
    return _price(counts, ert, static_power_w, seconds, None)


def _price(counts, ert, static_power_w, seconds, by_component: dict[str, float] | None) -> tuple[dict[str, float], float]:
    """The loop of :func:`estimate`: ``(by_category, total_j)``, and the sums by component into ``by_component``
    when given."""
    # The common case (plain floats, positive finite counts, (float, category) entries) is accepted
    # by one chained comparison; anything else goes through the full checks of _check_*, which
    # raise the errors or hand back the same values, so results and messages do not depend on it.
    if not (type(static_power_w) is float and 0.0 <= static_power_w < _INF):
        _check_static("static_power_w", static_power_w)
    if not (type(seconds) is float and 0.0 <= seconds < _INF):
        _check_static("seconds", seconds)
    by_category: dict[str, float] = {}
    total = 0.0
    get_category = by_category.get
    get_component = None if by_component is None else by_component.get
    items = counts.items()  # ActionCounts.items() is its dict's own view
    checked = ert._checked.get if type(ert) is EnergyTable else _no_entry
    for key, count in items:
        if not (type(count) is float and 0.0 < count < _INF):
            _check_count(key, count)
            if count == 0:
                continue
            count = float(count)
        entry = checked(key)
        if entry is not None:  # an EnergyTable entry, checked when the table was built
            energy_pj, category = entry
        else:
            entry = ert.get(key)
            if type(entry) is tuple and len(entry) == 2 and type(entry[0]) is float and 0.0 <= entry[0] < _INF:
                energy_pj, category = entry
            else:
                energy_pj, category = _check_entry(key, entry, ert)
        joules = count * energy_pj * PJ
        by_category[category] = get_category(category, 0.0) + joules
        if get_component is not None:
            by_component[key[0]] = get_component(key[0], 0.0) + joules
        total += joules
    static = float(static_power_w) * float(seconds)
    if static > 0:
        by_category[STATIC] = by_category.get(STATIC, 0.0) + static
        if by_component is not None:
            by_component[STATIC] = by_component.get(STATIC, 0.0) + static
        total += static
    return by_category, total


_INF = math.inf


def _no_entry(key) -> None:
    return None


def _check_static(what: str, v) -> None:
    if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
        raise SimulationError(f"energy estimate: {what} must be a finite number >= 0; got {v!r}")


def _check_count(key, count) -> None:
    """Raise for a count that is not a finite number >= 0."""
    if not (isinstance(count, (int, float)) and math.isfinite(count)):
        raise SimulationError(f"energy estimate: count of {_key_text(key)} must be a finite number; got {count!r}")
    if count < 0:
        raise SimulationError(f"energy estimate: count of {_key_text(key)} is negative ({count})")


def _check_entry(key, entry, ert) -> tuple[float, str]:
    """``(energy_pj as float, category)`` of an ERT entry; raise for a missing or malformed one."""
    if entry is None:
        same = sorted(_key_text(k) for k in ert if isinstance(k, tuple) and k[:1] == key[:1])
        hint = f"; the ERT prices {', '.join(same)}" if same else ""
        raise SimulationError(f"energy estimate: no ERT entry for action {_key_text(key)}{hint}")
    try:
        energy_pj, category = entry
    except (TypeError, ValueError):
        raise SimulationError(
            f"energy estimate: ERT entry for {_key_text(key)} must be (energy_pj, category); got {entry!r}"
        ) from None
    if not (isinstance(energy_pj, (int, float)) and math.isfinite(energy_pj) and energy_pj >= 0):
        raise SimulationError(
            f"energy estimate: ERT energy of {_key_text(key)} must be a finite number >= 0 pJ; got {energy_pj!r}"
        )
    return float(energy_pj), category


@dataclass(frozen=True)
class AreaBreakdown:
    """Area (mm^2) by component and in total."""

    by_component: Mapping[str, float]
    total_mm2: float

    def to_dict(self) -> dict:
        return {"total_mm2": self.total_mm2, "by_component": dict(self.by_component)}


def estimate_area(components: Mapping[str, float] | Iterable[tuple[str, float]], count: Mapping[str, int] | None = None) -> AreaBreakdown:
    """Sum component areas (mm^2). ``count`` optionally multiplies a component (e.g. 64 PEs).

    Entries with the same name are added. Negative / non-finite areas or counts raise SimulationError.
    """
    items = components.items() if isinstance(components, Mapping) else components
    by_component: dict[str, float] = {}
    for name, area in items:
        if not (isinstance(area, (int, float)) and math.isfinite(area) and area >= 0):
            raise SimulationError(f"area estimate: area of {name} must be a finite number >= 0 mm^2; got {area!r}")
        n = 1 if count is None else count.get(name, 1)
        if not (isinstance(n, (int, float)) and math.isfinite(n) and n >= 0):
            raise SimulationError(f"area estimate: count of {name} must be a finite number >= 0; got {n!r}")
        by_component[name] = by_component.get(name, 0.0) + float(area) * n
    return AreaBreakdown(by_component, sum(by_component.values()))


__all__ = ["AreaBreakdown", "EnergyBreakdown", "EnergyTable", "estimate", "estimate_area"]
