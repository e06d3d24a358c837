"""An output path a command cannot write is one ``accelsim: error:`` line and exit status 2, never a
traceback or an internal error: a file where a folder is needed, a folder where a file is, a
read-only file system and a full disk (ENOSPC, simulated by failing the write)."""

from __future__ import annotations

import builtins
import errno
import os

import pytest

import accelsim.cli.output as output

SIMULATE = ["simulate", "--arch", "edge-32x32", "--workload", "lenet5"]
COMPRESS = ["compress", "--workload", "lenet5", "--recipe", "int8"]
SPEC = "name: tiny\nbase: {workload: lenet5, arch: edge-32x32}\ngrid:\n  recipe: [int8]\n"


def _one_line(code, out, err, *needles):
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("accelsim: error: "), err
    assert "internal error" not in err and "Traceback" not in err
    for needle in needles:
        assert needle in err, err


class _FullDisk:
    """A file object whose writes fail as on a full disk (after the file was created)."""

    def __init__(self, real):
        self.real = real

    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def __getattr__(self, name):
        return getattr(self.real, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.real.close()


def _failing_open(target_dir, mode_of_failure, prefix=""):
    """``open`` that fails writes under ``target_dir`` (to files whose name starts with ``prefix``):
    'full' (ENOSPC on write) or 'readonly' (EROFS on open)."""
    real_open = builtins.open
    target = os.path.abspath(target_dir)

    def fake(file, mode="r", *args, **kwargs):
        writing = any(c in mode for c in "wax+")
        path = os.path.abspath(os.fspath(file)) if isinstance(file, (str, os.PathLike)) else ""
        if writing and path.startswith(target) and os.path.basename(path).startswith(prefix):
            if mode_of_failure == "readonly":
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), os.fspath(file))
            return _FullDisk(real_open(file, mode, *args, **kwargs))
        return real_open(file, mode, *args, **kwargs)

    return fake


@pytest.mark.parametrize("argv", [SIMULATE, COMPRESS], ids=["simulate", "compress"])
def test_text_output_paths(argv, tmp_path, run_cli):
    a_file = tmp_path / "a-file"
    a_file.write_text("keep me")
    _one_line(*run_cli(*argv, "--out", a_file / "x.txt"), f"{a_file / 'x.txt'}: cannot write", "not a directory")
    _one_line(*run_cli(*argv, "--out", tmp_path), f"{tmp_path}: cannot write (is a directory)")
    _one_line(*run_cli(*argv, "--out", tmp_path / "no" / "x.txt"), "its directory does not exist")
    assert a_file.read_text() == "keep me"


@pytest.mark.parametrize("argv", [SIMULATE, COMPRESS], ids=["simulate", "compress"])
@pytest.mark.parametrize("failure, reason", [("full", "no space left on the device"), ("readonly", "read-only file system")])
def test_text_output_full_or_read_only(argv, failure, reason, tmp_path, run_cli, monkeypatch):
    monkeypatch.setattr(output, "open", _failing_open(tmp_path, failure), raising=False)
    out = tmp_path / "result.txt"
    _one_line(*run_cli(*argv, "--out", out), f"{out}: cannot write ({reason})")
    assert not out.exists()  # no truncated result left behind


def test_write_error_falls_back_to_the_given_path():
    err = output.write_error(OSError(errno.ENOSPC, "No space left on device"), "runs/x")
    assert str(err) == "runs/x: cannot write (no space left on the device)"
    assert str(output.write_error(OSError("odd"), "y")) == "y: cannot write (odd)"


@pytest.fixture
def results(tmp_path, run_cli):
    spec = tmp_path / "tiny.yaml"
    spec.write_text(SPEC)
    code, _, err = run_cli("sweep", spec, "--out", tmp_path / "good", "--quiet")
    assert code == 0, err
    return spec, tmp_path / "good"


@pytest.mark.parametrize("command", ["sweep", "report"])
def test_sweep_and_report_out_folder(command, results, tmp_path, run_cli, monkeypatch):
    spec, _ = results
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    _one_line(*run_cli(command, spec, "--out", a_file, "--quiet"), str(a_file))
    _one_line(*run_cli(command, spec, "--out", a_file / "sub", "--quiet"), str(a_file / "sub"))
    import accelsim.dse.store as store

    full = tmp_path / "full"  # the results table cannot be written
    monkeypatch.setattr(store, "open", _failing_open(full, "full", prefix="results"), raising=False)
    _one_line(*run_cli(command, spec, "--out", full, "--quiet"), str(full), "cannot write (no space left on the device)")
    ro = tmp_path / "ro"
    monkeypatch.setattr(store, "open", _failing_open(ro, "readonly", prefix="results"), raising=False)
    _one_line(*run_cli(command, spec, "--out", ro, "--quiet"), str(ro), "cannot write (read-only file system)")
    for failure in ("full", "readonly"):  # any file of the folder (the lock too): still one line naming it
        where = tmp_path / f"all-{failure}"
        monkeypatch.setattr(store, "open", _failing_open(where, failure), raising=False)
        _one_line(*run_cli(command, spec, "--out", where, "--quiet"), str(where))


def test_report_markdown_on_a_full_disk(results, tmp_path, run_cli, monkeypatch):
    import pathlib

    spec, _ = results

    def full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pathlib.Path, "write_text", full)
    _one_line(*run_cli("report", spec, "--out", tmp_path / "rep", "--quiet"),
              f"{tmp_path / 'rep'}: cannot write (no space left on the device)")


def test_plot_out(results, tmp_path, run_cli, monkeypatch):
    _, good = results
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    _one_line(*run_cli("plot", good, "--kind", "pareto", "--out", a_file / "x.png"), f"{a_file / 'x.png'}: cannot write")
    (tmp_path / "dir.png").mkdir()
    _one_line(*run_cli("plot", good, "--kind", "pareto", "--out", tmp_path / "dir.png"), f"{tmp_path / 'dir.png'}: cannot write")
    from matplotlib.figure import Figure

    for code_, text in ((errno.ENOSPC, "No space left on device"), (errno.EROFS, "Read-only file system")):
        def failing_savefig(self, *args, _code=code_, **kwargs):
            raise OSError(_code, os.strerror(_code))

        monkeypatch.setattr(Figure, "savefig", failing_savefig)
        _one_line(*run_cli("plot", good, "--kind", "pareto", "--out", tmp_path / "p.png"), f"{tmp_path / 'p.png'}: cannot write ({text})")
