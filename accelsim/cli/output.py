"""Where a command's text goes: a file (``--out``) or stdout, always ending in one newline.

Also :func:`write_error`, the one-line :class:`~accelsim.errors.AccelsimError` for an output path
the command cannot write (read-only, full, a file where a folder is needed, a folder where a file is).
"""

from __future__ import annotations

import os
import sys

from accelsim.errors import AccelsimError, os_error_reason

def write_error(exc: OSError, out: str | os.PathLike) -> AccelsimError:
    """One line naming the path that failed (``exc.filename``, else ``out``) and why."""
    path = exc.filename if exc.filename else out
    return AccelsimError(f"{os.fspath(path)}: cannot write ({os_error_reason(exc)})")


def write(text: str, out: str | None) -> None:
    """Write ``text`` (plus a final newline when missing) to the file ``out``, or to stdout when None.

    An unwritable ``out`` raises :class:`~accelsim.errors.AccelsimError` naming the file; a file
    left partly written (a full disk) is removed, so no truncated output looks like a result.
    """
    body = text if text.endswith("\n") else text + "\n"
    if not out:
        sys.stdout.write(body)
        return
    try:
        fh = open(out, "w")
    except OSError as exc:
        raise write_error(exc, out) from None
    try:
        with fh:
            fh.write(body)
    except OSError as exc:
        try:
            os.remove(out)
        except OSError:
            pass
        raise write_error(exc, out) from None
