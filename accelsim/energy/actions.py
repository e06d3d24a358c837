"""ActionCounts: what a hardware model did, keyed by (component, action, variant).

Models count, tables price: a model returns counts such as ``("pe", "mac", "int8")``,
``("pe", "mac", "gated")`` or ``("spmat_sram", "read", "64b")``; ``accelsim.energy.estimate``
multiplies them by an energy reference table built from a technology table. Counts are floats so
that expected values (e.g. sampled activation densities) can be represented; they are summed and
scaled exactly as event counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping

ActionKey = tuple[str, str, str]


class ActionCounts(Mapping[ActionKey, float]):
    """An immutable-by-convention mapping ``(component, action, variant) -> count``; addable."""

    __slots__ = ("_counts",)

    def __init__(self, counts: Mapping[ActionKey, float] | Iterable[tuple[ActionKey, float]] = ()):
        self._counts: dict[ActionKey, float] = {}
        items = counts.items() if isinstance(counts, Mapping) else counts
        for key, value in items:
            if not (isinstance(key, tuple) and len(key) == 3 and all(isinstance(k, str) for k in key)):
                raise TypeError(f"action key must be (component, action, variant) strings; got {key!r}")
            if value:
                self._counts[key] = self._counts.get(key, 0.0) + float(value)

    def __getitem__(self, key: ActionKey) -> float:
        return self._counts.get(key, 0.0)

    def __iter__(self) -> Iterator[ActionKey]:
        return iter(self._counts)

    def __len__(self) -> int:
        return len(self._counts)

    def __add__(self, other: "ActionCounts") -> "ActionCounts":
        if not isinstance(other, ActionCounts):
            return NotImplemented
        return ActionCounts(list(self._counts.items()) + list(other._counts.items()))

    def __radd__(self, other):
        if other == 0:  # sum() starts from 0
            return self
        return self.__add__(other)

    def scaled(self, factor: float) -> "ActionCounts":
        return ActionCounts({k: v * factor for k, v in self._counts.items()})

    def by_component(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for (component, _, _), v in self._counts.items():
            out[component] = out.get(component, 0.0) + v
        return out

    def to_dict(self) -> dict[str, float]:
        """Flat ``"component.action.variant" -> count`` (for JSON)."""
        return {".".join(k): v for k, v in sorted(self._counts.items())}

    def __repr__(self) -> str:
        return f"ActionCounts({self.to_dict()})"
