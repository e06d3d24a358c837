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

_EMPTY: tuple = ()


def is_action_key(key) -> bool:
    """True for a ``(component, action, variant)`` tuple of strings."""
    if type(key) is tuple and len(key) == 3:
        a, b, c = key
        if type(a) is str and type(b) is str and type(c) is str:  # the common case, without isinstance
            return True
    return isinstance(key, tuple) and len(key) == 3 and all(isinstance(k, str) for k in key)


class ActionCounts(Mapping[ActionKey, float]):
    """An immutable-by-convention mapping ``(component, action, variant) -> count``; addable.

    Every count is stored as a ``float``; zero counts are dropped and equal keys add up in the
    order given. :meth:`from_pairs` builds the same object from keys a model made itself (no
    per-key type check); the constructor checks every key.
    """

    __slots__ = ("_counts",)

    def __init__(self, counts: Mapping[ActionKey, float] | Iterable[tuple[ActionKey, float]] = _EMPTY):
        self._counts: dict[ActionKey, float] = {}
        if counts is _EMPTY:
            return
        items = counts.items() if isinstance(counts, Mapping) else counts
        out = self._counts
        for key, value in items:
            if not is_action_key(key):
                raise TypeError(f"action key must be (component, action, variant) strings; got {key!r}")
            if value:
                out[key] = out.get(key, 0.0) + float(value)

    @classmethod
    def from_pairs(cls, keys: Iterable[ActionKey], values: Iterable[float]) -> "ActionCounts":
        """``ActionCounts(zip(keys, values))`` for keys known to be ``(str, str, str)`` tuples.

        For trusted callers (a model's own precomputed keys): the keys are not checked; the
        values are treated exactly as by the constructor (floats, zeros dropped, equal keys added
        in order).
        """
        return cls._trusted(zip(keys, values))

    @classmethod
    def _trusted(cls, items: Iterable[tuple[ActionKey, float]]) -> "ActionCounts":
        """The constructor without the key check (keys already known to be valid)."""
        self = cls.__new__(cls)
        out: dict[ActionKey, float] = {}
        get = out.get
        for key, value in items:
            if value:
                out[key] = get(key, 0.0) + float(value)
        self._counts = out
        return self

    @classmethod
    def _of_dict(cls, counts: dict) -> "ActionCounts":
        """An ActionCounts holding ``counts`` itself: for a caller whose dict already has valid keys, each
        once, and nonzero float values (what the constructor would store)."""
        self = cls.__new__(cls)
        self._counts = counts
        return self

    # the dict's own views: same contents and order as the Mapping mixins, without a __getitem__ per key
    def items(self):
        return self._counts.items()

    def keys(self):
        return self._counts.keys()

    def values(self):
        return self._counts.values()

    def __getitem__(self, key: ActionKey) -> float:
        return self._counts.get(key, 0.0)

    def __iter__(self) -> Iterator[ActionKey]:
        return iter(self._counts)

    def __len__(self) -> int:
        return len(self._counts)

    def __add__(self, other: "ActionCounts") -> "ActionCounts":
        if not isinstance(other, ActionCounts):
            return NotImplemented
        return ActionCounts._trusted(list(self._counts.items()) + list(other._counts.items()))

    def __radd__(self, other):
        if other == 0:  # sum() starts from 0
            return self
        return self.__add__(other)

    def scaled(self, factor: float) -> "ActionCounts":
        return ActionCounts._trusted([(k, v * factor) for k, v in self._counts.items()])

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
