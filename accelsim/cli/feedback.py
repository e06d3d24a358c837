"""Feedback on long work for the command line: the cold-cache notice and a heartbeat (issue 18 item 2).

- :func:`kernels_cold`: whether the Numba kernels a run needs have no up-to-date on-disk cache, so
  the first call compiles them (several seconds). It only looks at file names and times: every
  kernel module must have at least one Numba index file (``<module>.<function>-<line>.py<ver>.nbi``)
  no older than the module where Numba caches (:func:`accelsim.runtime.kernel_cache_cold`). A stale or
  partial cache can still make a run compile a kernel; the notice is about the common case, the first run
  after an install.
- :func:`announce_compiles`: the one line ``accelsim: compiling kernels (first run only) ...`` on stderr when
  Numba really starts compiling (``accelsim simulate``); :func:`compile_notice` says it up front from
  :func:`kernels_cold` (sweeps, whose points may compile in worker processes).
- :class:`Heartbeat`: while a long simulation runs, the elapsed time on stderr: one line rewritten in
  place on a terminal (after :data:`TTY_DELAY_S`), a plain line every :data:`PLAIN_INTERVAL_S`
  otherwise (logs, pipes, CI), nothing for work shorter than that.
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path
from typing import Iterable

from accelsim.runtime import KERNEL_FILES, kernel_cache_cold

PACKAGE = Path(__file__).resolve().parent.parent
TTY_DELAY_S = 3.0  # a terminal sees the elapsed time after this long
PLAIN_INTERVAL_S = 30.0  # a log gets one line this often


def kernels_cold(families: Iterable[str] | None = None, compress: bool = True) -> bool:
    """Whether a run on ``families`` (None: all of them) would compile kernels first: the kernel files of
    :data:`accelsim.runtime.KERNEL_FILES` checked by :func:`accelsim.runtime.kernel_cache_cold` (see the module doc);
    ``compress``: the run also compresses, so the compression kernels count."""
    names = [str(f) for f in (KERNEL_FILES if families is None else families) if str(f) != "compress"]
    return kernel_cache_cold(names + (["compress"] if compress else []), package_dir=str(PACKAGE))


NOTICE = "accelsim: compiling kernels (first run only; several seconds, cached for later runs)\n"


def compile_notice(families: Iterable[str] | None = None, compress: bool = True, stream=None) -> bool:
    """Write the one-line notice to stderr when :func:`kernels_cold`; return whether it was written
    (sweeps: their points may compile in worker processes, so the parent says it up front)."""
    if not kernels_cold(families, compress):
        return False
    stream = stream or sys.stderr
    stream.write(NOTICE)
    stream.flush()
    return True


def announce_compiles(stream=None):
    """Write the notice when Numba starts compiling the first kernel in this process, and only then: Numba's
    ``numba:compile`` event fires on a cache miss, never for a kernel loaded from its cache, so the line is
    exact (no guess from file times) and bad input, refused before any kernel runs, prints nothing else.
    Returns a function that stops listening. Imports Numba: for commands that simulate."""
    from numba.core import event

    class _FirstCompile(event.Listener):
        said = False

        def on_start(self, _event) -> None:
            if not self.said:
                self.said = True
                out = stream or sys.stderr
                out.write(NOTICE)
                out.flush()

        def on_end(self, _event) -> None:
            pass

    listener = _FirstCompile()
    event.register("numba:compile", listener)
    return lambda: event.unregister("numba:compile", listener)


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


class Heartbeat:
    """Context manager: the elapsed time of ``what`` on stderr while the block runs (see the module doc)."""

    def __init__(self, what: str, stream=None, tty: bool | None = None, interval: float | None = None):
        self.what = what
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.interval = interval if interval is not None else (1.0 if self.tty else PLAIN_INTERVAL_S)
        self.delay = TTY_DELAY_S if self.tty else self.interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._shown = False
        self.lines = 0

    def _run(self, start: float) -> None:
        if self._stop.wait(self.delay):
            return
        while True:
            text = f"{self.what}: {_clock(time.monotonic() - start)}"
            try:
                if self.tty:
                    self.stream.write(f"\r{text} ")
                else:
                    self.stream.write(f"accelsim: {text} so far\n")
                self.stream.flush()
            except (OSError, ValueError):
                return
            self._shown = True
            self.lines += 1
            if self._stop.wait(self.interval):
                return

    def __enter__(self) -> "Heartbeat":
        self._thread = threading.Thread(target=self._run, args=(time.monotonic(),), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._shown and self.tty:
            try:
                self.stream.write("\r\033[K")  # clear the line for what comes next
                self.stream.flush()
            except (OSError, ValueError):
                pass


__all__ = ["Heartbeat", "announce_compiles", "compile_notice", "kernels_cold"]
