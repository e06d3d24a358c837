"""Command-line interface: a thin shell over the API, the top layer of the package.

Every :class:`~accelsim.errors.AccelsimError` (and every argument error) becomes one line on stderr
and exit status 2; no traceback reaches a user for bad input. Each command module registers its
subcommands with an ``add_cli(subparsers)`` function: :mod:`accelsim.cli.core` (``list``, ``stats``,
``simulate``), :mod:`accelsim.cli.show` (``show``), :mod:`accelsim.cli.compress` (``compress``), :mod:`accelsim.validate` (``validate``,
kept next to the reproductions it runs) and :mod:`accelsim.cli.dse` (``sweep``, ``plot``,
``report``). Command code imports downward only (see ``docs/architecture.md``).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import Sequence

from accelsim._version import __version__
from accelsim.errors import AccelsimError, interrupted


_INVALID_CHOICE = re.compile(r"invalid choice: '(?P<value>[^']*)' \(choose from (?P<choices>.*)\)$")


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors are one line and exit status 2; an invalid choice
    (a mistyped subcommand, a bad ``--format``) gains the nearest choices (``did you mean simulate?``)."""

    def error(self, message: str):  # one line, exit 2
        match = _INVALID_CHOICE.search(message)
        if match:
            from accelsim.errors import close_names

            choices = [c.strip().strip("'") for c in match["choices"].split(",")]
            close = close_names(match["value"], choices)
            if close:
                message += f"; did you mean {', '.join(close)}?"
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from accelsim import validate
    from accelsim.cli import accuracy, compress, core, dse, show

    parser = Parser(prog="accelsim", description="What a compressed neural network really costs on real hardware.")
    parser.add_argument("--version", action="version", version=f"accelsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for module in (core, show, compress, accuracy, validate, dse):  # the order of the subcommands in --help
        module.add_cli(sub)
    return parser


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """``warnings.showwarning`` for the command line: ``accelsim: warning: <first line>``, no source line."""
    text = str(message).splitlines()[0] if str(message) else category.__name__
    (file or sys.stderr).write(f"accelsim: warning: {text}\n")


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, ``timeout``, ``docker stop``), raised where the program runs so that it unwinds as on
    Ctrl-C: a sweep removes what it made before any point finished, then ``accelsim: terminated``, exit 143."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def _stopped(stop: KeyboardInterrupt) -> int:
    """``accelsim: interrupted`` and exit 130 for Ctrl-C, ``accelsim: terminated`` and 143 for SIGTERM."""
    term = isinstance(stop, Terminated)
    sys.stderr.write("accelsim: terminated\n" if term else "accelsim: interrupted\n")
    return 143 if term else 130


def main(argv: Sequence[str] | None = None) -> int:
    import signal
    import threading

    previous = None
    if threading.current_thread() is threading.main_thread():  # (signal handlers are set in the main thread only)
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return _main(argv)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main(argv: Sequence[str] | None) -> int:
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # argparse: --help, --version, usage errors (already one line)
            return exc.code if isinstance(exc.code, int) else 2
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return 2
        args.argv = list(sys.argv[1:] if argv is None else argv)  # the command line, for a result's provenance
        if getattr(args, "out_file", False) and getattr(args, "out", None):
            from accelsim.cli.output import check_writable

            check_writable(args.out)  # before the work: a result computed, then lost, is no answer
        import warnings

        with warnings.catch_warnings():  # a warning is one line on stderr, like an error
            warnings.showwarning = _one_line_warning
            return int(args.func(args) or 0)
    except AccelsimError as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        sys.stderr.write(f"accelsim: error: {msg}\n")
        return 2
    except KeyboardInterrupt as exc:
        return _stopped(exc)
    except MemoryError:  # a workload or config too large for this machine: not a bug
        sys.stderr.write("accelsim: error: out of memory: the run needs more memory than this machine has (on a "
                         "systolic array --set memory_model=analytic replays nothing; or a smaller batch)\n")
        return 2
    except BrokenPipeError:
        return 0
    except Exception as exc:  # a bug, not bad input: still one line unless debugging
        stop = interrupted(exc)
        if stop is not None:  # Ctrl-C (SIGTERM) inside a compiled kernel (a SystemError caused by the interrupt)
            return _stopped(stop)
        if os.environ.get("ACCELSIM_DEBUG"):
            raise
        sys.stderr.write(f"accelsim: internal error: {type(exc).__name__}: {exc} (set ACCELSIM_DEBUG=1 for details)\n")
        return 1
