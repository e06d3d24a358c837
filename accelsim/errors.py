"""One exception hierarchy for everything a user can get wrong.

Every error a user can cause (bad config, bad workload file, unknown name, unsupported layer) is an
:class:`AccelsimError`. The CLI turns any of them into one line on stderr and exit status 2; the
API lets them propagate typed. Messages name the file (when there is one), the field and what was
expected, e.g. ``arch_configs/eie/eie.yaml: pe.index_bits must be an int in [1, 16]; got 0``.
"""

from __future__ import annotations


class AccelsimError(Exception):
    """Base class of every user-facing accelsim error."""


class ConfigError(AccelsimError, ValueError):
    """A hardware config, recipe, sweep spec or override is invalid.

    ``problems`` holds every problem found, so one run reports them all.
    """

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = list(problems) if problems else [message]


class WorkloadError(AccelsimError, ValueError):
    """A workload (zoo entry, YAML, SCALE-Sim CSV, ONNX, torch module) is malformed or inconsistent."""


class ShapeError(WorkloadError):
    """Tensor shapes do not agree between a layer and its producers."""


class UnsupportedLayerError(WorkloadError):
    """An importer met an operator it has no converter for."""

    def __init__(self, node: str, op_type: str, source: str = ""):
        where = f"{source}: " if source else ""
        super().__init__(f"{where}node '{node}' has unsupported op type '{op_type}'")
        self.node = node
        self.op_type = op_type


def close_names(name: str, known, n: int = 3) -> list[str]:
    """At most ``n`` of ``known`` that ``name`` probably meant, best first: the same name in another
    case, then the names it begins (``a100`` -> ``a100-40gb``, ``a100-80gb``; case-insensitive,
    sorted), then :func:`difflib.get_close_matches` as written and in lower case."""
    import difflib

    names = [str(k) for k in known]
    low = str(name).lower()
    out = [k for k in names if k.lower() == low]
    if low:
        out += sorted(k for k in names if k.lower().startswith(low))
    out += difflib.get_close_matches(str(name), names, n=n)
    lowered: dict[str, str] = {}
    for k in names:
        lowered.setdefault(k.lower(), k)
    out += [lowered[k] for k in difflib.get_close_matches(low, list(lowered), n=n)]
    return list(dict.fromkeys(out))[:n]


def misspelling_of(name: str, keys) -> str | None:
    """The first of ``keys`` (a mapping's keys) that is probably ``name`` misspelled (``ops`` for a missing
    ``op``), or None: for a message naming a missing field and the key meant as it."""
    return next((k for k in keys if isinstance(k, str) and k != name and close_names(k, [name], n=1)), None)


def interrupted(exc: BaseException) -> KeyboardInterrupt | None:
    """The KeyboardInterrupt ``exc`` is or was caused by (true), else None: Ctrl-C (or the command line's
    SIGTERM, a KeyboardInterrupt too) arriving while a compiled (Numba) kernel runs surfaces as a
    ``SystemError`` ("returned a result with an exception set") whose cause is the interrupt."""
    seen = 0
    while exc is not None and seen < 16:
        if isinstance(exc, KeyboardInterrupt):
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


class UnknownNameError(AccelsimError, KeyError):
    """A bundled name (arch, workload, recipe, family) does not exist."""

    def __init__(self, kind: str, name: str, known: list[str] | tuple[str, ...] = ()):
        hint = ""
        if known:
            close = close_names(name, known)
            hint = f"; did you mean {', '.join(close)}?" if close else f"; known: {', '.join(sorted(known))}"
        message = f"unknown {kind} '{name}'{hint}"
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


class CompressionError(AccelsimError, ValueError):
    """A compression transform cannot be applied to the given tensor or layer."""


class SimulationError(AccelsimError, ValueError):
    """A hardware model cannot run the given layer on the given config (e.g. missing compression step)."""


class ModelNotAvailableError(SimulationError):
    """No hardware model is registered yet for a config family."""


class SweepError(AccelsimError, ValueError):
    """A design-space sweep spec or run failed validation."""


class ArgumentError(AccelsimError, TypeError):
    """A public API function called with arguments its signature does not take (a misspelled keyword, a
    missing or extra argument). A TypeError too, as Python's own would be."""


def api_arguments(fn):
    """Decorate a public API function: a call its signature cannot bind raises :class:`ArgumentError`
    naming the function and, for a misspelled keyword, the keywords it meant. The call itself is not
    slowed: the signature is consulted only after a TypeError, and a TypeError raised inside the
    function (its arguments bound) propagates unchanged."""
    import functools
    import inspect

    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except TypeError:
            try:
                signature.bind(*args, **kwargs)
            except TypeError as bind_exc:
                name = wrapper.__qualname__.split(".")[-1]  # (read now: a callable module renames its __call__)
                raise ArgumentError(_argument_message(name, signature, kwargs, bind_exc)) from None
            raise  # the arguments bind: the function's own TypeError

    return wrapper


def _argument_message(name: str, signature, kwargs: dict, exc: TypeError) -> str:
    keywords = [p.name for p in signature.parameters.values()
                if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"]
    unknown = [k for k in kwargs if k not in signature.parameters]
    if unknown:
        close = close_names(unknown[0], keywords, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return f"{name}() got an unknown keyword argument {unknown[0]!r}{hint} (it takes {', '.join(keywords)})"
    return f"{name}(): {exc} (it takes {', '.join(keywords)})"


_OS_REASONS = {
    "ENOSPC": "no space left on the device",
    "EDQUOT": "disk quota exceeded",
    "EROFS": "read-only file system",
    "EACCES": "permission denied",
    "EPERM": "permission denied",
    "EISDIR": "is a directory",
    "ENOTDIR": "a parent is not a directory",
    "ENOENT": "its directory does not exist",
    "EEXIST": "a file is in the way",
}


def os_error_reason(exc: OSError) -> str:
    """A short reason for a failed file operation: ``no space left on the device``, ``read-only file
    system``, ... (the system's own text for anything else)."""
    import errno

    name = errno.errorcode.get(exc.errno or 0, "")
    return _OS_REASONS.get(name) or exc.strerror or str(exc) or type(exc).__name__


__all__ = [
    "AccelsimError",
    "ArgumentError",
    "CompressionError",
    "ConfigError",
    "ModelNotAvailableError",
    "ShapeError",
    "SimulationError",
    "SweepError",
    "UnknownNameError",
    "UnsupportedLayerError",
    "WorkloadError",
    "close_names",
    "interrupted",
    "misspelling_of",
    "os_error_reason",
]

