"""CACTI-style SRAM laws fitted to published points (docs/models/energy.md, section 3).

Energy per access (pJ); capacity ``C`` in bytes, word width ``w`` in bits, ``C_ref`` = 8 kB,
``w_ref`` = 64 bits::

    E_read(C, w)  = e_ref * (w / w_ref) ** beta * (C / C_ref) ** alpha          (S2)
    E_write(C, w) = write_read_ratio * E_read(C, w)                             (S3)

Area (um^2): cell array proportional to capacity, periphery (sense amplifiers, drivers, column
multiplexers) proportional to the word width::

    A(C, w) = a_byte * C + a_bit * w                                             (S4)

Static power (W): ``P_leak(C) = leakage_w_per_byte * C``                          (S5)

``(e_ref, beta, alpha)`` is an ordinary least-squares fit of ``log E`` (:func:`fit_energy_law`);
``(a_byte, a_bit)`` a non-negative least-squares fit of the relative area error
(:func:`fit_area_law`). Fit points come from the technology YAML already normalised to the table's
node; :class:`FitRow` keeps each point with this law's prediction so docs and tests show the residuals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np

from accelsim.errors import ConfigError

REF_CAPACITY_BYTES = 8192.0
REF_WIDTH_BITS = 64.0


@dataclass(frozen=True)
class SramPoint:
    """A published / derived SRAM figure at this table's node: ``value`` is pJ (energy) or um^2 (area).

    ``raw`` and ``node_nm`` record the figure as published when it came from another node.
    """

    capacity_bytes: float
    width_bits: float
    value: float
    status: str = ""
    source: str = ""
    node_nm: float | None = None
    raw: float | None = None


@dataclass(frozen=True)
class FitRow:
    """One point and what the fitted law predicts for it (same unit as ``reference``)."""

    capacity_bytes: float
    width_bits: float
    reference: float
    predicted: float
    status: str = ""
    source: str = ""
    node_nm: float | None = None

    @property
    def rel_error(self) -> float:
        return (self.predicted - self.reference) / self.reference


def _check_points(points: Sequence[SramPoint], what: str) -> None:
    if len(points) < 2:
        raise ConfigError(f"SRAM {what} fit needs at least two points; got {len(points)}")
    for p in points:
        if not all(math.isfinite(x) and x > 0 for x in (p.capacity_bytes, p.width_bits, p.value)):
            raise ConfigError(f"SRAM {what} fit points need positive capacities, widths and values")


def fit_energy_law(points: Sequence[SramPoint]) -> tuple[float, float, float]:
    """Least squares ``log E = log e_ref + beta log(w / w_ref) + alpha log(C / C_ref)``.

    Returns ``(e_ref [pJ], beta, alpha)``. With a single word width (or capacity) among the points,
    ``beta`` is fixed to 1 (energy linear in width) and only ``(e_ref, alpha)`` are fitted (and
    vice versa needs two capacities: otherwise :class:`ConfigError`).
    """
    _check_points(points, "energy")
    c = np.array([p.capacity_bytes for p in points], dtype=float)
    w = np.array([p.width_bits for p in points], dtype=float)
    y = np.log([p.value for p in points])
    if np.unique(c).size < 2:
        raise ConfigError("SRAM energy fit needs points at two or more distinct capacities")
    xc = np.log(c / REF_CAPACITY_BYTES)
    xw = np.log(w / REF_WIDTH_BITS)
    if np.unique(w).size < 2:
        design = np.column_stack([np.ones_like(xc), xc])
        (log_e, alpha), *_ = np.linalg.lstsq(design, y - xw, rcond=None)
        return float(math.exp(log_e)), 1.0, float(alpha)
    design = np.column_stack([np.ones_like(xc), xw, xc])
    (log_e, beta, alpha), *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(math.exp(log_e)), float(beta), float(alpha)


def nnls_by_support(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``argmin ||a x - b||`` over ``x >= 0`` for a few columns, exactly: the optimum is the unconstrained
    least-squares solution on its own support, so the best non-negative one among the least-squares solutions
    on every subset of columns is it (2^n small solves; ``scipy.optimize.nnls`` gives the same and is the test's
    reference, but importing scipy.optimize costs ~0.3 s of every run)."""
    n = a.shape[1]
    if n > 8:
        raise ValueError(f"nnls_by_support enumerates column subsets; {n} columns is too many")
    best, best_res = np.zeros(n), float(np.dot(b, b))
    for mask in range(1, 1 << n):
        cols = [j for j in range(n) if mask >> j & 1]
        x_sub, *_ = np.linalg.lstsq(a[:, cols], b, rcond=None)
        if np.any(x_sub < 0):
            continue
        x = np.zeros(n)
        x[cols] = x_sub
        r = a @ x - b
        res = float(np.dot(r, r))
        if res < best_res:
            best, best_res = x, res
    return best


def fit_area_law(points: Sequence[SramPoint]) -> tuple[float, float]:
    """Non-negative least squares of ``(a_byte * C + a_bit * w) / A - 1``; returns ``(a_byte, a_bit)`` in um^2."""
    _check_points(points, "area")
    a = np.array([[p.capacity_bytes / p.value, p.width_bits / p.value] for p in points], dtype=float)
    a_byte, a_bit = nnls_by_support(a, np.ones(len(points)))
    if a_byte <= 0:
        raise ConfigError("SRAM area fit gives no capacity term; the points need two or more distinct capacities")
    return float(a_byte), float(a_bit)


@dataclass(frozen=True)
class SramModel:
    """Fitted SRAM energy / area / leakage law for one technology node (equations S2-S5)."""

    energy_pj_ref: float
    beta: float
    alpha: float
    write_read_ratio: float
    area_um2_per_byte: float
    area_um2_per_bit_width: float
    leakage_w_per_byte: float
    reference_capacity_bytes: float = REF_CAPACITY_BYTES
    reference_width_bits: float = REF_WIDTH_BITS
    energy_fit: tuple[FitRow, ...] = ()
    area_fit: tuple[FitRow, ...] = ()
    energy_check: tuple[FitRow, ...] = ()
    area_check: tuple[FitRow, ...] = ()

    @classmethod
    def fitted(
        cls,
        energy_points: Sequence[SramPoint],
        area_points: Sequence[SramPoint],
        write_read_ratio: float,
        leakage_w_per_byte: float,
        energy_checks: Sequence[SramPoint] = (),
        area_checks: Sequence[SramPoint] = (),
    ) -> "SramModel":
        e_ref, beta, alpha = fit_energy_law(energy_points)
        a_byte, a_bit = fit_area_law(area_points)
        model = cls(e_ref, beta, alpha, float(write_read_ratio), a_byte, a_bit, float(leakage_w_per_byte))
        return replace(
            model,
            energy_fit=model._rows(energy_points, model.read_pj),
            area_fit=model._rows(area_points, model.area_um2),
            energy_check=model._rows(energy_checks, model.read_pj),
            area_check=model._rows(area_checks, model.area_um2),
        )

    @staticmethod
    def _rows(points: Sequence[SramPoint], predict) -> tuple[FitRow, ...]:
        return tuple(
            FitRow(p.capacity_bytes, p.width_bits, p.value, predict(p.capacity_bytes, p.width_bits), p.status,
                   p.source, p.node_nm)
            for p in points
        )

    @staticmethod
    def check_args(capacity_bytes: float, width_bits: float | None = None) -> None:
        """ConfigError unless the capacity (and width, when given) are finite numbers > 0."""
        for what, v in (("capacity_bytes", capacity_bytes), ("width_bits", width_bits)):
            if what == "width_bits" and v is None:
                continue
            ok = isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)
            if not (ok and math.isfinite(v) and v > 0):
                raise ConfigError(f"SRAM {what} must be a number > 0; got {v!r}")

    def read_pj(self, capacity_bytes: float, width_bits: float) -> float:
        """Energy of one ``width_bits`` read from a ``capacity_bytes`` SRAM (pJ), (S2)."""
        self.check_args(capacity_bytes, width_bits)
        return (
            self.energy_pj_ref
            * (width_bits / self.reference_width_bits) ** self.beta
            * (capacity_bytes / self.reference_capacity_bytes) ** self.alpha
        )

    def write_pj(self, capacity_bytes: float, width_bits: float) -> float:
        """Energy of one ``width_bits`` write (pJ), (S3)."""
        return self.write_read_ratio * self.read_pj(capacity_bytes, width_bits)

    def area_um2(self, capacity_bytes: float, width_bits: float) -> float:
        """Macro area (um^2) of a ``capacity_bytes`` SRAM with a ``width_bits`` port, (S4)."""
        self.check_args(capacity_bytes, width_bits)
        return self.area_um2_per_byte * capacity_bytes + self.area_um2_per_bit_width * width_bits

    def leakage_w(self, capacity_bytes: float) -> float:
        """Static power (W) of a ``capacity_bytes`` SRAM, (S5)."""
        self.check_args(capacity_bytes)
        return self.leakage_w_per_byte * capacity_bytes

    def scaled(self, energy: float, area: float, leakage: float) -> "SramModel":
        """The same law with energy, area and leakage multiplied by node factors (fit rows dropped)."""
        return replace(
            self,
            energy_pj_ref=self.energy_pj_ref * energy,
            area_um2_per_byte=self.area_um2_per_byte * area,
            area_um2_per_bit_width=self.area_um2_per_bit_width * area,
            leakage_w_per_byte=self.leakage_w_per_byte * leakage,
            energy_fit=(),
            area_fit=(),
            energy_check=(),
            area_check=(),
        )
