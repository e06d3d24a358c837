"""Where a command's text goes: a file (``--out``) or stdout, always ending in one newline."""

from __future__ import annotations

import sys

from accelsim.errors import AccelsimError


def write(text: str, out: str | None) -> None:
    """Write ``text`` (plus a final newline when missing) to the file ``out``, or to stdout when None.

    An unwritable ``out`` raises :class:`~accelsim.errors.AccelsimError` naming the file.
    """
    if out:
        try:
            with open(out, "w") as fh:
                fh.write(text if text.endswith("\n") else text + "\n")
        except OSError as exc:
            raise AccelsimError(f"{out}: cannot write ({exc.strerror})") from None
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
