"""A user who can write neither the package folder nor their home still imports the Numba kernels:
``accelsim.runtime.ensure_numba_cache`` points ``NUMBA_CACHE_DIR`` to a private temporary folder."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import accelsim
from accelsim import runtime

PACKAGE = Path(accelsim.__file__).resolve().parent


@pytest.fixture
def blocked(tmp_path, monkeypatch):
    """No writable cache anywhere Numba looks: HOME, XDG_CACHE_HOME and NUMBA_CACHE_DIR lie under a
    regular file (unwritable even for root), and a fake package whose ``__pycache__`` is a file."""
    wall = tmp_path / "a-file"
    wall.write_text("")
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__pycache__").mkdir()
    (pkg / "sub" / "__pycache__").write_text("")  # a file where Numba would make a folder
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setenv("HOME", str(wall / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(wall / "numba"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    import numba.core.config as config  # ensure_numba_cache also sets an imported Numba's setting

    monkeypatch.setattr(config, "CACHE_DIR", config.CACHE_DIR)  # restored after the test
    return pkg, tmp


def test_fallback_is_a_private_temporary_folder(blocked, monkeypatch):
    pkg, tmp = blocked
    chosen = runtime.ensure_numba_cache(str(pkg))
    assert chosen == str(tmp / f"{runtime.FALLBACK_PREFIX}-{os.getuid()}")
    assert os.environ["NUMBA_CACHE_DIR"] == chosen
    assert stat.S_IMODE(os.stat(chosen).st_mode) & 0o077 == 0
    import numba.core.config  # imported (by the fixture) before: its setting follows too

    assert runtime.ensure_numba_cache(str(pkg)) is None  # now configured and writable: left alone
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(pkg / "sub" / "__pycache__" / "x"))  # unwritable again
    assert runtime.ensure_numba_cache(str(pkg)) == chosen == numba.core.config.CACHE_DIR


def test_a_folder_someone_else_can_write_is_not_reused(blocked):
    pkg, tmp = blocked
    squatted = tmp / f"{runtime.FALLBACK_PREFIX}-{os.getuid()}"
    squatted.mkdir()
    squatted.chmod(0o777)
    chosen = runtime.ensure_numba_cache(str(pkg))
    assert chosen is not None and Path(chosen) != squatted and Path(chosen).parent == tmp
    assert stat.S_IMODE(os.stat(chosen).st_mode) & 0o077 == 0


@pytest.mark.parametrize("writable", ["numba_cache_dir", "home", "package"])
def test_nothing_changes_when_numba_has_a_writable_place(blocked, tmp_path, monkeypatch, writable):
    pkg, _ = blocked
    if writable == "numba_cache_dir":
        monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "mine"))
    elif writable == "home":
        monkeypatch.setenv("HOME", str(tmp_path))
    else:
        (pkg / "sub" / "__pycache__").unlink()
    before = os.environ["NUMBA_CACHE_DIR"]
    assert runtime.ensure_numba_cache(str(pkg)) is None
    assert os.environ["NUMBA_CACHE_DIR"] == before


def _read_only_mounts_work() -> bool:
    if not sys.platform.startswith("linux") or shutil.which("unshare") is None or shutil.which("mount") is None:
        return False
    flags = ["-m"] if os.geteuid() == 0 else ["-r", "-m"]
    probe = subprocess.run(["unshare", *flags, "sh", "-c", "mount -o bind,ro / / 2>/dev/null || mount -o bind,ro /tmp /tmp"],
                           capture_output=True, timeout=30)
    return probe.returncode == 0


@pytest.mark.skipif(not _read_only_mounts_work(), reason="needs a private mount namespace (unshare) for read-only mounts")
def test_import_with_a_read_only_package_and_home(tmp_path):
    """The real failure: the package folder and HOME mounted read-only, no NUMBA_CACHE_DIR; without
    the fallback ``import accelsim.compress`` raised ``RuntimeError: cannot cache function``."""
    home = tmp_path / "home"
    home.mkdir()
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "XDG_CACHE_HOME")}
    env.update(HOME=str(home), TMPDIR=str(tmp))
    probe = ("import os, accelsim.compress, numba.core.config as c; "
             "print(os.environ.get('NUMBA_CACHE_DIR'), c.CACHE_DIR)")
    script = (f"mount -o bind,ro {PACKAGE} {PACKAGE} && mount -o bind,ro {home} {home} && "
              f"touch {PACKAGE}/__pycache__/x 2>/dev/null && exit 99; "  # the mount must really be read-only
              f"cd {home} && exec {sys.executable} -c \"{probe}\"")
    flags = ["-m"] if os.geteuid() == 0 else ["-r", "-m"]
    proc = subprocess.run(["unshare", *flags, "sh", "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    env_dir, numba_dir = proc.stdout.split()
    assert env_dir == numba_dir and Path(env_dir).parent == tmp and Path(env_dir).name.startswith(runtime.FALLBACK_PREFIX)
