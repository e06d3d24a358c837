"""One predicted-vs-reference comparison of ``accelsim validate`` and of the tests that share it.

A :class:`Check` has one of three kinds, decided by which verdict fields it carries:

* ``asserted`` (``rel_tol`` set, no ``ok_override``): holds iff ``|predicted / reference - 1| <= rel_tol``;
* ``pass/fail`` (``ok_override`` set): a boolean outcome computed by the area's code (a direction, an
  exact match of every layer, a bound on a derived figure); ``rel_tol``, when also given, is shown
  for information only;
* ``reported`` (neither): a figure shown next to its reference for information. It has **no
  verdict**: ``ok`` is None, and it counts neither as a pass nor as a failure.

A check with a verdict may carry ``known``: the recorded reason why it is known to miss (e.g. a
published figure the model does not reach, with the page that explains it). A known check that fails
has status ``known miss`` and does not fail ``accelsim validate``; one that holds is a plain
``pass`` (:func:`fixed_known` lists them, so that the reason can be removed). ``known`` is a reason,
not a switch: an empty string is refused, and a reported figure cannot carry one.

This module is a bottom layer: the area reproductions (``accelsim/<area>/validation.py``,
``accelsim/hw/<family>/validation.py``) build checks from it without importing ``accelsim.validate``.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

ASSERTED = "asserted"
PASS_FAIL = "pass/fail"
REPORTED = "reported"
KINDS = (ASSERTED, PASS_FAIL, REPORTED)
KNOWN_MISS = "known miss"


@dataclass(frozen=True)
class Check:
    """One comparison: ``predicted`` (in ``unit``) against ``reference`` from ``source``.

    ``rel_tol`` is a relative tolerance (fraction, 0.1 = 10 %); ``ok_override`` a boolean verdict
    computed by the caller. See the module docstring for the kind each combination makes.
    ``known`` is the reason a check with a verdict is known to miss (module docstring).
    """

    area: str
    item: str
    reference: float
    predicted: float
    unit: str = ""
    rel_tol: float | None = None
    source: str = ""
    ok_override: bool | None = None
    known: str | None = None

    def __post_init__(self) -> None:
        # a programming error in an area's reproduction, not user input: hence ValueError
        if self.rel_tol is not None and not self.rel_tol >= 0:
            raise ValueError(f"check '{self.area}: {self.item}': rel_tol must be a fraction >= 0 or None; "
                             f"got {self.rel_tol!r}")
        if self.known is not None:
            if not isinstance(self.known, str) or not self.known.strip():
                raise ValueError(f"check '{self.area}: {self.item}': known must be the reason of the known miss "
                                 f"(a non-empty string) or None; got {self.known!r}")
            if self.kind == REPORTED:
                raise ValueError(f"check '{self.area}: {self.item}': a reported figure has no verdict, so it "
                                 "cannot be a known miss")

    @property
    def kind(self) -> str:
        """``asserted``, ``pass/fail`` or ``reported`` (module docstring)."""
        if self.ok_override is not None:
            return PASS_FAIL
        if self.rel_tol is not None:
            return ASSERTED
        return REPORTED

    @property
    def rel_error(self) -> float:
        """(predicted - reference) / |reference|; 0 when both are 0, inf when only the reference is."""
        if self.reference == 0:
            return 0.0 if self.predicted == 0 else math.inf
        return (self.predicted - self.reference) / abs(self.reference)

    @property
    def ok(self) -> bool | None:
        """The verdict: True / False for asserted and pass/fail checks, None for a reported figure."""
        if self.ok_override is not None:
            return bool(self.ok_override)
        if self.rel_tol is None:
            return None
        return abs(self.rel_error) <= self.rel_tol

    @property
    def failed(self) -> bool:
        """True iff the check has a verdict and it is a failure (a reported figure never fails)."""
        return self.ok is False

    @property
    def new_miss(self) -> bool:
        """True iff the check fails and no known reason is recorded for it (this fails a run)."""
        return self.failed and self.known is None

    @property
    def status(self) -> str:
        """``pass``, ``fail``, ``known miss`` or ``reported``."""
        ok = self.ok
        if ok is None:
            return REPORTED
        if ok:
            return "pass"
        return KNOWN_MISS if self.known is not None else "fail"

    def row(self) -> dict:
        """The check as a flat dict (the JSON of ``accelsim validate --format json``).

        A reported figure has no ``ok`` key (it has no verdict); ``known`` appears only on a check
        that carries a reason.
        """
        out = asdict(self)
        out.pop("ok_override")
        if out["known"] is None:
            out.pop("known")
        out["kind"] = self.kind
        # JSON has no infinity: a nonzero prediction of a zero reference has no relative error (null)
        out["rel_error"] = self.rel_error if math.isfinite(self.rel_error) else None
        if self.kind != REPORTED:
            out["ok"] = self.ok
        out["status"] = self.status
        return out


def summarize(checks) -> dict[str, int]:
    """Counts per kind and verdict: ``asserted``, ``asserted_ok``, ``pass_fail``, ``pass_fail_ok``, ``reported``."""
    checks = list(checks)
    asserted = [c for c in checks if c.kind == ASSERTED]
    pass_fail = [c for c in checks if c.kind == PASS_FAIL]
    return {"asserted": len(asserted), "asserted_ok": sum(bool(c.ok) for c in asserted),
            "pass_fail": len(pass_fail), "pass_fail_ok": sum(bool(c.ok) for c in pass_fail),
            "reported": sum(c.kind == REPORTED for c in checks)}


def all_hold(checks) -> bool:
    """True iff no asserted or pass/fail check fails (reported figures are ignored; a known miss counts
    as a failure here: :func:`no_new_miss` is the verdict of ``accelsim validate``)."""
    return not any(c.failed for c in checks)


def no_new_miss(checks) -> bool:
    """True iff every failing check is a known miss (the exit status of ``accelsim validate``)."""
    return not any(c.new_miss for c in checks)


def fixed_known(checks) -> list:
    """Checks that carry a known-miss reason but hold now (the reason is stale)."""
    return [c for c in checks if c.known is not None and c.ok]


_LAYER_COUNT = re.compile(r"\b\d+( layers\b|-layer\b)")


def check_key(check: Check) -> tuple[str, str]:
    """(area, item) with a count of layers (``(9 layers)``, ``9-layer``) written as ``N``.

    A quick run over fewer layers produces the same check as the full run under this key, so
    :func:`loosened` cannot be dodged by a count in the item's name.
    """
    return check.area, _LAYER_COUNT.sub(r"N\1", check.item)


def loosened(full, quick) -> list[str]:
    """How ``quick`` loosens ``full``: one line per check that has a verdict in the full run but, in
    the quick run, has another kind or another ``rel_tol`` (a check the quick run does not
    produce is not loosened: quick mode samples fewer cases). Empty when quick never loosens."""
    by_key: dict[tuple[str, str], list[Check]] = {}
    for c in quick:
        by_key.setdefault(check_key(c), []).append(c)
    out = []
    for c in full:
        if c.kind == REPORTED:
            continue
        for q in by_key.get(check_key(c), []):
            if q.kind != c.kind or q.rel_tol != c.rel_tol:
                out.append(f"{c.area}: '{c.item}' is {c.kind} (rel_tol {c.rel_tol}) in the full run, "
                           f"{q.kind} (rel_tol {q.rel_tol}) in the quick run as '{q.item}'")
    return out
