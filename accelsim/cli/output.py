"""Where a command's text goes: a file (``--out``) or stdout, always ending in one newline.

Also :func:`write_error`, the one-line :class:`~accelsim.errors.AccelsimError` for an output path
the command cannot write (read-only, full, a file where a folder is needed, a folder where a file is).
"""

from __future__ import annotations

import errno
import os
import stat
import sys

from accelsim.errors import AccelsimError, os_error_reason


def write_error(exc: OSError, out: str | os.PathLike) -> AccelsimError:
    """One line naming the path that failed (``exc.filename``, else ``out``) and why."""
    path = exc.filename if exc.filename else out
    return AccelsimError(f"{os.fspath(path)}: cannot write ({os_error_reason(exc)})")


def _special(path: str) -> bool:
    """Whether ``path`` names an existing file that is not a regular one (a device, a pipe, ``/dev/stdout``)."""
    return os.path.exists(path) and not stat.S_ISREG(os.stat(path).st_mode)


def check_writable(out: str | os.PathLike) -> None:
    """Refuse, before a command runs, an ``--out`` it could not write: a folder, a folder that does not exist, or
    one it may not write into (the command's result would be computed, then lost)."""
    path = os.fspath(out)
    folder = os.path.dirname(os.path.abspath(path)) or "."
    if os.path.isdir(path):
        raise AccelsimError(f"{path}: cannot write (is a directory)")
    if not os.path.isdir(folder):
        what = f"{folder} is not a directory" if os.path.exists(folder) else "its directory does not exist"
        raise AccelsimError(f"{path}: cannot write ({what})")
    if _special(path):
        if not os.access(path, os.W_OK):
            raise AccelsimError(f"{path}: cannot write (permission denied)")
        return  # a device or a pipe: written in place (write)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise AccelsimError(f"{path}: cannot write (permission denied in {folder})")


def write(text: str, out: str | None) -> None:
    """Write ``text`` (plus a final newline when missing) to the file ``out``, or to stdout when None.

    An unwritable ``out`` raises :class:`~accelsim.errors.AccelsimError` naming the file. A regular file (or a new
    one) is written whole or not at all: the text goes to a temporary file beside it, which replaces it once
    written, so a full disk leaves the old file as it was and no truncated output looks like a result. A device,
    a pipe or ``/dev/stdout`` is written in place and never removed (until 2026-12-07 a failed write removed
    whatever ``out`` named: ``--out /dev/full`` run as root deleted the device).
    """
    body = text if text.endswith("\n") else text + "\n"
    if not out:
        sys.stdout.write(body)
        return
    path = os.fspath(out)
    try:
        special = _special(path)
    except OSError as exc:
        raise write_error(exc, out) from None
    if special:
        try:
            with open(path, "w") as fh:
                fh.write(body)
        except OSError as exc:
            raise write_error(exc, out) from None
        return
    target = os.path.realpath(path)  # (a link to a file: the file is replaced, the link kept)
    tmp = os.path.join(os.path.dirname(target), f".{os.path.basename(target)}.{os.getpid()}.tmp")
    try:
        with open(tmp, "x") as fh:
            fh.write(body)
        if os.path.exists(target):
            os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))  # the replaced file's permissions
        os.replace(tmp, target)
    except OSError as exc:
        try:
            os.remove(tmp)
        except OSError:
            pass
        reason = os_error_reason(exc)
        if exc.errno == errno.ENOENT and os.path.isdir(os.path.dirname(target)):  # (/proc: no file can be made there)
            reason = "no file can be created in its directory"
        raise AccelsimError(f"{path}: cannot write ({reason})") from None
