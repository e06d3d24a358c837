"""The error type of accuracy evaluation, and a one-line rendering of foreign exceptions."""

from __future__ import annotations

from accelsim.errors import AccelsimError


class AccuracyError(AccelsimError, ValueError):
    """Evaluating a compressed model failed for a reason the user can fix: data whose shape does not
    match the model, labels missing, a model whose weights cannot be matched to the compressed
    layers, a metric (a user's callable) that raised. The CLI prints it as one line, exit status 2;
    a sweep records the point as failed (``status: error``) and goes on."""


def first_line(exc: BaseException) -> str:
    """``TypeName: first line of the message`` (the message alone for accelsim's own errors)."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else ""
    if isinstance(exc, AccelsimError):
        return line or type(exc).__name__
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


__all__ = ["AccuracyError", "first_line"]
