"""CACTI-style SRAM scaling laws fitted to published points (docs/models/energy.md, "SRAM").

Energy per access (pJ), capacity ``C`` in bytes, word width ``w`` in bits::

    E_read(C, w)  = e_ref * w * (C / C_ref) ** alpha
    E_write(C, w) = write_read_ratio * E_read(C, w)

Area (um^2), independent of the word width (the cell array dominates)::

    A(C) = a_ref * (C / C_ref) ** gamma

Static power (W): ``P_leak(C) = leakage_w_per_byte * C``.

``(e_ref, alpha)`` and ``(a_ref, gamma)`` are ordinary least-squares fits in log space to the points
listed in the technology YAML; :func:`fit_power_law` does the fit and :class:`FitRow` records each
point's residual so docs and tests can show how well the law reproduces its sources.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from accelsim.errors import ConfigError


@dataclass(frozen=True)
class FitRow:
    """One fit point and what the fitted law predicts for it (same unit as ``reference``)."""

    capacity_bytes: float
    width_bits: float
    reference: float
    predicted: float
    status: str = ""
    source: str = ""

    @property
    def rel_error(self) -> float:
        return (self.predicted - self.reference) / self.reference


def fit_power_law(capacities, values, reference_capacity: float) -> tuple[float, float]:
    """Least-squares ``log(values) = log(coef) + exponent * log(C / C_ref)``; returns ``(coef, exponent)``.

    Needs at least two distinct capacities and positive values (else :class:`ConfigError`).
    """
    c = np.asarray(capacities, dtype=float)
    v = np.asarray(values, dtype=float)
    if c.size != v.size or c.size < 2:
        raise ConfigError("SRAM fit needs at least two points")
    if np.any(c <= 0) or np.any(v <= 0):
        raise ConfigError("SRAM fit points need positive capacities and values")
    if np.unique(c).size < 2:
        raise ConfigError("SRAM fit needs points at two or more distinct capacities")
    x = np.log(c / reference_capacity)
    y = np.log(v)
    design = np.column_stack([np.ones_like(x), x])
    (log_coef, exponent), *_ = np.linalg.lstsq(design, y, rcond=None)
    return float(math.exp(log_coef)), float(exponent)


@dataclass(frozen=True)
class SramModel:
    """Fitted SRAM energy / area / leakage law for one technology node.

    ``energy_pj_per_bit_ref`` (pJ per bit at ``reference_capacity_bytes``), ``alpha`` and
    ``area_um2_ref`` (um^2 at the reference capacity), ``gamma`` come from the fits; the fit rows
    are kept (``energy_fit``, ``area_fit``) with the predictions of this very model.
    """

    reference_capacity_bytes: float
    energy_pj_per_bit_ref: float
    alpha: float
    write_read_ratio: float
    area_um2_ref: float
    gamma: float
    leakage_w_per_byte: float
    energy_fit: tuple[FitRow, ...] = ()
    area_fit: tuple[FitRow, ...] = ()
    energy_check: tuple[FitRow, ...] = ()

    @classmethod
    def fitted(
        cls,
        reference_capacity_bytes: float,
        energy_points: list[dict],
        area_points: list[dict],
        write_read_ratio: float,
        leakage_w_per_byte: float,
        check_points: list[dict] = (),
    ) -> "SramModel":
        """Fit both laws to point dicts (``capacity_bytes``, ``width_bits``, ``read_pj`` / ``area_um2``)."""
        cref = float(reference_capacity_bytes)
        e_ref, alpha = fit_power_law(
            [p["capacity_bytes"] for p in energy_points],
            [p["read_pj"] / p["width_bits"] for p in energy_points],
            cref,
        )
        a_ref, gamma = fit_power_law([p["capacity_bytes"] for p in area_points], [p["area_um2"] for p in area_points], cref)
        model = cls(cref, e_ref, alpha, float(write_read_ratio), a_ref, gamma, float(leakage_w_per_byte))
        return model.with_fit_rows(energy_points, area_points, check_points)

    def with_fit_rows(self, energy_points, area_points, check_points=()) -> "SramModel":
        def rows(points, key, predict):
            return tuple(
                FitRow(
                    float(p["capacity_bytes"]),
                    float(p["width_bits"]),
                    float(p[key]),
                    predict(p),
                    str(p.get("status", "")),
                    str(p.get("source", "")),
                )
                for p in points
            )

        return replace(
            self,
            energy_fit=rows(energy_points, "read_pj", lambda p: self.read_pj(p["capacity_bytes"], p["width_bits"])),
            area_fit=rows(area_points, "area_um2", lambda p: self.area_um2(p["capacity_bytes"])),
            energy_check=rows(check_points, "read_pj", lambda p: self.read_pj(p["capacity_bytes"], p["width_bits"])),
        )

    @staticmethod
    def _check(capacity_bytes: float, width_bits: float | None = None) -> None:
        if not (isinstance(capacity_bytes, (int, float)) and math.isfinite(capacity_bytes) and capacity_bytes > 0):
            raise ConfigError(f"SRAM capacity_bytes must be a number > 0; got {capacity_bytes!r}")
        if width_bits is not None and not (
            isinstance(width_bits, (int, float)) and math.isfinite(width_bits) and width_bits > 0
        ):
            raise ConfigError(f"SRAM width_bits must be a number > 0; got {width_bits!r}")

    def read_pj(self, capacity_bytes: float, width_bits: float) -> float:
        """Energy of one ``width_bits`` read from a ``capacity_bytes`` SRAM (pJ)."""
        self._check(capacity_bytes, width_bits)
        return self.energy_pj_per_bit_ref * width_bits * (capacity_bytes / self.reference_capacity_bytes) ** self.alpha

    def write_pj(self, capacity_bytes: float, width_bits: float) -> float:
        """Energy of one ``width_bits`` write (pJ)."""
        return self.write_read_ratio * self.read_pj(capacity_bytes, width_bits)

    def area_um2(self, capacity_bytes: float) -> float:
        """Macro area (um^2) of a ``capacity_bytes`` SRAM."""
        self._check(capacity_bytes)
        return self.area_um2_ref * (capacity_bytes / self.reference_capacity_bytes) ** self.gamma

    def leakage_w(self, capacity_bytes: float) -> float:
        """Static power (W) of a ``capacity_bytes`` SRAM."""
        self._check(capacity_bytes)
        return self.leakage_w_per_byte * capacity_bytes

    def scaled(self, energy: float, area: float, leakage: float) -> "SramModel":
        """The same law with energy, area and leakage multiplied by node factors (fit rows dropped)."""
        return replace(
            self,
            energy_pj_per_bit_ref=self.energy_pj_per_bit_ref * energy,
            area_um2_ref=self.area_um2_ref * area,
            leakage_w_per_byte=self.leakage_w_per_byte * leakage,
            energy_fit=(),
            area_fit=(),
            energy_check=(),
        )
