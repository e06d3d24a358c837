"""docs/tutorial.md runs top to bottom as written (issue 18 item 5).

The tutorial's fenced ``bash`` blocks are executed in order, each with ``bash -e -o pipefail``, in a
fresh directory holding a copy of ``examples/`` (what a clone has beside the installed package), so
every command must exit 0 and no command may depend on an output the tutorial did not make. A block
preceded by ``<!-- tutorial-test: slow -->`` (long sweeps, a Dask cluster, model training) runs only
in the slow test, which also runs the Python blocks; the fast test runs the others (about 20 s).
A static test checks, without running anything, that every ``accelsim`` command line parses, that
each sweep writes its own directory and that outputs stay under ``runs/`` (ignored by .gitignore).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "docs" / "tutorial.md"
SLOW_MARK = "<!-- tutorial-test: slow -->"
FENCE = re.compile(r"^```(\w*)\s*$")


@dataclass
class Block:
    lang: str
    text: str
    slow: bool
    line: int  # 1-based line of the opening fence

    def commands(self) -> list[str]:
        """The command lines (comments and blank lines dropped; a trailing ``&`` splits a line)."""
        out = []
        for raw in self.text.splitlines():
            line = raw.split(" #", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
            out += [part.strip() for part in line.split(" & ") if part.strip().rstrip("&").strip()]
        return [c.rstrip("&").strip() for c in out]


def blocks(path: Path = TUTORIAL) -> list[Block]:
    """Every fenced block of ``path`` with its language and whether the slow mark precedes it."""
    lines = path.read_text().splitlines()
    out, i = [], 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start = i
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        prev = next((lines[k].strip() for k in range(start - 1, -1, -1) if lines[k].strip()), "")
        out.append(Block(m.group(1), "\n".join(lines[start + 1:j]), prev == SLOW_MARK, start + 1))
        i = j + 1
    return out


def shell_blocks(slow: bool | None = None) -> list[Block]:
    return [b for b in blocks() if b.lang == "bash" and (slow is None or b.slow == slow)]


def test_tutorial_has_fast_and_slow_shell_blocks():
    assert shell_blocks(slow=False), "the fast test would run nothing"
    assert shell_blocks(slow=True)
    assert any(b.lang == "python" for b in blocks())


def _accelsim_args(command: str) -> list[str] | None:
    words = shlex.split(command)
    return words[1:] if words and words[0] == "accelsim" else None


def test_every_command_parses_and_writes_its_own_directory():
    """Static: each ``accelsim`` line parses with the real argparse definitions, names files that exist
    (examples) or that an earlier command wrote, and sweeps never share an output directory unless
    resuming; every output goes under runs/, which .gitignore ignores."""
    from accelsim.cli import build_parser

    parser = build_parser()
    sweep_dirs: dict[str, int] = {}
    written: set[str] = set()
    for block in shell_blocks():
        for command in block.commands():
            args = _accelsim_args(command)
            if args is None:
                assert command.split()[0] in ("python", "dask"), f"line {block.line}: unexpected command {command!r}"
                for word in shlex.split(command)[1:]:
                    if word.startswith("examples/"):
                        assert (ROOT / word).exists(), f"line {block.line}: {word} does not exist"
                continue
            try:
                ns = parser.parse_args(args)
            except SystemExit:  # pragma: no cover - the message went to stderr
                pytest.fail(f"docs/tutorial.md line {block.line}: {command!r} does not parse")
            out = getattr(ns, "out", None)
            if out is not None:
                assert out.startswith("runs/"), f"line {block.line}: {command!r} writes outside runs/"
            if ns.command in ("sweep", "report") and not ns.resume:
                assert out not in sweep_dirs, (f"line {block.line}: {out} is written by the sweep at line "
                                               f"{sweep_dirs[out]} too (a second run without --resume fails)")
                sweep_dirs[out] = block.line
                written.add(out)
            if ns.command in ("sweep", "report"):
                assert (ROOT / ns.spec).exists(), f"line {block.line}: {ns.spec} does not exist"
            if ns.command == "plot":
                source = ns.results
                assert source.startswith("runs/") and any(source == w or source.startswith(w + "/") for w in written), \
                    f"line {block.line}: {source} is not written by an earlier command"
            if ns.command == "simulate" and out:
                written.add(out)
    assert "/runs/" in (ROOT / ".gitignore").read_text().split()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fresh_clone(tmp_path: Path) -> Path:
    """A directory with what a clone adds to the installed package: the examples (no generated models)."""
    work = tmp_path / "clone"
    shutil.copytree(ROOT / "examples", work / "examples",
                    ignore=shutil.ignore_patterns("models", "runs", "__pycache__", "*.pyc"))
    return work


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.pop("ACCELSIM_DEBUG", None)
    return env


def _run_block(block: Block, work: Path, timeout: float, port: int | None = None) -> None:
    """Run one block with bash -e in ``work``; background jobs (``&``) are killed when it ends."""
    text = block.text
    if port is not None:
        text = text.replace("8786", str(port))
    log = work / f"block-{block.line}.log"
    script = "set -e -o pipefail\n" + text + "\n"
    with open(log, "w") as fh:
        proc = subprocess.Popen(["bash", "-c", script], cwd=work, env=_env(), stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            rc = None
        finally:
            try:
                os.killpg(proc.pid, signal.SIGTERM)  # the block's background jobs (a Dask scheduler, workers)
            except ProcessLookupError:
                pass
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    output = log.read_text()[-3000:]
    assert rc == 0, f"docs/tutorial.md block at line {block.line} {'timed out' if rc is None else f'exited {rc}'}:\n{output}"


def test_tutorial_fast_blocks_run(tmp_path):
    """The blocks without the slow mark, in order, each command exiting 0; outputs only under runs/."""
    work = _fresh_clone(tmp_path)
    for block in shell_blocks(slow=False):
        _run_block(block, work, timeout=300)
    assert (work / "runs" / "quick" / "results.csv").exists()
    assert (work / "runs" / "quick" / "pareto.png").stat().st_size > 0
    left = {p.name for p in work.iterdir()} - {"examples", "runs"} - {p.name for p in work.glob("block-*.log")}
    assert not left, f"the tutorial wrote outside runs/: {sorted(left)}"


@pytest.mark.slow
def test_tutorial_runs_top_to_bottom(tmp_path):
    """Every shell block in order (the Dask block needs the dask extra), then the Python blocks."""
    work = _fresh_clone(tmp_path)
    for block in shell_blocks():
        if "dask " in block.text:
            pytest.importorskip("distributed")
        _run_block(block, work, timeout=1800, port=_free_port())
    python = "\n\n".join(b.text for b in blocks() if b.lang == "python")
    (work / "tutorial_api.py").write_text(python)
    proc = subprocess.run([sys.executable, "tutorial_api.py"], cwd=work, env=_env(), capture_output=True, text=True,
                          timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (work / "runs" / "mbv2" / "report.md").exists()
    assert (work / "runs" / "api" / "results.csv").exists()
