"""Local sweep workers die with their driver: SIGKILL of the parent alone leaves no worker running."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX process semantics")

DRIVER = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path

    from accelsim.dse.sweep import sweep

    PIDS = Path(sys.argv[1])
    if sys.argv[2] == "poll":  # no PR_SET_PDEATHSIG (as on macOS): the watchdog thread must do it
        import accelsim.dse.executors as executors
        executors._pdeathsig = lambda: False

    def slow(setting):
        (PIDS / str(os.getpid())).touch()
        time.sleep(120)  # far longer than the test waits
        return {"v": setting["x"]}

    sweep({"grid": {"x": [1, 2, 3, 4]}}, evaluate=slow, executor=2, progress=False)
    """
)


def _running(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie (an orphaned zombie waits for init to reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True


def _wait(predicate, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.mark.parametrize("mechanism", ["pdeathsig", "poll"])
def test_sigkill_of_the_driver_ends_its_workers(tmp_path, mechanism):
    script = tmp_path / "driver.py"
    script.write_text(DRIVER)
    pids_dir = tmp_path / "pids"
    pids_dir.mkdir()
    proc = subprocess.Popen([sys.executable, str(script), str(pids_dir), mechanism], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    workers: list[int] = []
    try:
        assert _wait(lambda: len(list(pids_dir.iterdir())) >= 2, 60), proc.stderr.read().decode() if proc.poll() is not None else "workers did not start"
        workers = [int(p.name) for p in pids_dir.iterdir()]
        assert proc.pid not in workers and all(_running(w) for w in workers)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert _wait(lambda: not any(_running(w) for w in workers), 5), f"workers {workers} still running 5 s after the driver died"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for w in workers:  # never leave a sleeping worker behind, even when the test fails
            if _running(w):
                os.kill(w, signal.SIGKILL)
