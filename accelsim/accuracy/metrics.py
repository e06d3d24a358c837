"""Quality metrics of a compressed model, accumulated batch by batch.

* ``top1`` / ``top5`` (classifiers): fraction of samples whose label is among the 1 / 5 largest
  logits (outputs ``(batch, classes)``).
* ``perplexity`` (language models): ``exp`` of the mean next-token cross entropy (natural log) over
  every labelled token (outputs ``(batch, seq, vocab)``, labels ``(batch, seq)``).
* ``kl`` (any model): mean over samples (tokens) of ``KL(p_dense || p_compressed)`` in nats, the
  softmax of the dense model's logits against the compressed model's, on the same inputs.
* a callable ``fn(outputs, labels) -> float | {name: float}`` on all outputs concatenated (labels None
  without labels): anything else.

Result keys are ``accuracy.<name>`` (``accuracy.top1``, ``accuracy.perplexity``, ...).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from accelsim.accuracy.base import AccuracyError, first_line

BUILTIN = ("top1", "top5", "perplexity", "kl")
LABELLED = ("top1", "top5", "perplexity")
PREFIX = "accuracy."


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z.astype(np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


class Accumulator:
    """Running sums of the requested metrics; :meth:`result` gives ``{accuracy.<name>: value}``."""

    def __init__(self, metrics: list[Any], source: str):
        self.metrics = metrics
        self.source = source
        self.n = 0
        self.hits = {1: 0, 5: 0}
        self.nll = 0.0
        self.tokens = 0
        self.kl = 0.0
        self.kl_n = 0
        self.outputs: list[np.ndarray] = []
        self.labels: list[np.ndarray] = []
        self.custom = [m for m in metrics if callable(m)]

    def add(self, out: np.ndarray, y: np.ndarray | None, dense: np.ndarray | None) -> None:
        names = [m for m in self.metrics if isinstance(m, str)]
        if any(m in ("top1", "top5") for m in names):
            if out.ndim != 2:
                raise AccuracyError(f"{self.source}: top-k accuracy needs outputs (batch, classes); the model gave {list(out.shape)}")
            if y.ndim != 1:
                raise AccuracyError(f"{self.source}: top-k accuracy needs one label per sample (a 1-D array of class "
                                    f"ids); a batch of {len(y)} samples has labels of shape {list(y.shape)}")
            if y.size and (y.min() < 0 or y.max() >= out.shape[1]):
                raise AccuracyError(f"{self.source}: labels must be in [0, {out.shape[1] - 1}] for a model of "
                                    f"{out.shape[1]} classes; got {int(y.min())}..{int(y.max())}")
            order = np.argsort(-out, axis=1, kind="stable")[:, :5]
            self.hits[1] += int(np.sum(order[:, 0] == y))
            self.hits[5] += int(np.sum(np.any(order == y[:, None], axis=1)))
        if "perplexity" in names:
            if out.ndim != y.ndim + 1 or out.shape[:-1] != y.shape:
                raise AccuracyError(f"{self.source}: perplexity needs outputs (batch, seq, vocab) for labels "
                                    f"{list(y.shape)}; the model gave {list(out.shape)}")
            if y.size and (y.min() < 0 or y.max() >= out.shape[-1]):
                raise AccuracyError(f"{self.source}: token ids must be in [0, {out.shape[-1] - 1}] for a vocabulary "
                                    f"of {out.shape[-1]}; got up to {int(y.max())}")
            logp = _log_softmax(out)
            self.nll -= float(np.take_along_axis(logp, y[..., None], axis=-1).sum())
            self.tokens += int(y.size)
        if "kl" in names:
            if dense is None or dense.shape != out.shape:
                raise AccuracyError(f"{self.source}: the dense and compressed models give outputs of different shapes")
            lp, lq = _log_softmax(dense), _log_softmax(out)
            kl = (np.exp(lp) * (lp - lq)).sum(axis=-1)
            self.kl += float(kl.sum())
            self.kl_n += int(kl.size)
        if self.custom:
            self.outputs.append(out)
            if y is not None:
                self.labels.append(y)
        self.n += len(out)

    def result(self) -> dict[str, float]:
        res: dict[str, float] = {}
        for m in self.metrics:
            if m == "top1":
                res[PREFIX + "top1"] = self.hits[1] / max(self.n, 1)
            elif m == "top5":
                res[PREFIX + "top5"] = self.hits[5] / max(self.n, 1)
            elif m == "perplexity":
                res[PREFIX + "perplexity"] = math.exp(self.nll / max(self.tokens, 1))
            elif m == "kl":
                res[PREFIX + "kl"] = self.kl / max(self.kl_n, 1)
        for fn in self.custom:
            res.update(_call(fn, np.concatenate(self.outputs), np.concatenate(self.labels) if self.labels else None,
                             self.source))
        return res


def _call(fn: Callable, outputs: np.ndarray, labels: np.ndarray | None, source: str) -> dict[str, float]:
    name = getattr(fn, "__name__", type(fn).__name__)
    try:
        value = fn(outputs, labels)
    except Exception as exc:  # noqa: BLE001 - a user's metric: one line naming it
        raise AccuracyError(f"{source}: metric '{name}' raised {first_line(exc)}") from None
    items = value.items() if isinstance(value, dict) else [(name, value)]
    out = {}
    for k, v in items:
        try:
            out[PREFIX + str(k)] = float(v)
        except (TypeError, ValueError):
            raise AccuracyError(f"{source}: metric '{name}' must return a number or a mapping of numbers; "
                                f"got {type(v).__name__} for '{k}'") from None
        if not math.isfinite(out[PREFIX + str(k)]):  # (a NaN would pass into tables and fronts as a result)
            raise AccuracyError(f"{source}: metric '{name}' returned {out[PREFIX + str(k)]} for '{k}'; expected a "
                                "finite number")
    return out


def check_metrics(metrics: Any) -> list[Any]:
    """The metric list (a name, a callable, or a list of them); AccuracyError for an unknown name."""
    items = list(metrics) if isinstance(metrics, (list, tuple)) else [metrics]
    if not items:
        raise AccuracyError(f"metrics must name at least one of {', '.join(BUILTIN)} or be a callable; got []")
    for m in items:
        if not callable(m) and m not in BUILTIN:
            raise AccuracyError(f"unknown metric {m!r}; known: {', '.join(BUILTIN)} (or a callable(outputs, labels))")
    return items


__all__ = ["BUILTIN", "LABELLED", "PREFIX", "Accumulator", "check_metrics"]
