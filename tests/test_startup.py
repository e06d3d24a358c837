"""Start-up stays light: ``import accelsim`` and the cheap CLI commands load none of the heavy dependencies.

Each check runs a fresh interpreter (a module imported by an earlier test would hide a regression)
and asserts on the modules loaded, not on wall time; the times are measured by
``benchmarks/bench_startup.py``. The public names still resolve on first use.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import accelsim

HEAVY = ("numba", "scipy.optimize", "networkx", "pandas", "matplotlib")


def loaded_after(code: str) -> list[str]:
    """The HEAVY modules present in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport sys as _s, json as _j\nprint(_j.dumps(sorted(m for m in {HEAVY!r} if m in _s.modules)))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_import_accelsim_loads_no_heavy_dependency():
    assert loaded_after("import accelsim") == []


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["list", "archs"]])
def test_light_cli_commands_load_no_heavy_dependency(argv):
    code = (
        "import contextlib, io\n"
        "from accelsim.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        f"    rc = main({argv!r})\n"
        "assert rc == 0 and out.getvalue(), (rc, out.getvalue())\n"
    )
    assert loaded_after(code) == []


def test_a_small_simulate_loads_only_numba():
    # the systolic run needs its kernels, but not networkx (the layer graph is plain dicts), pandas or matplotlib
    assert loaded_after("import accelsim\naccelsim.simulate('edge-32x32', 'lenet-300-100')") == ["numba"]


def test_the_probe_sees_a_heavy_import():
    # the check above can fail: importing the compressed formats loads the Numba kernels
    assert "numba" in loaded_after("import accelsim.compress")


def test_version_prints_the_package_version():
    proc = subprocess.run([sys.executable, "-m", "accelsim", "--version"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"accelsim {accelsim.__version__}"


def test_lazy_public_names_resolve_to_their_implementations():
    from accelsim.compress.recipe import load_recipe
    from accelsim.hw.registry import load_arch
    from accelsim.simulate import simulate
    from accelsim.workload.graph import LayerGraph
    from accelsim.workload.zoo import load_workload

    assert accelsim.simulate is simulate  # the function, although the submodule of that name is imported
    assert accelsim.load_arch is load_arch
    assert accelsim.load_workload is load_workload
    assert accelsim.LayerGraph is LayerGraph
    assert accelsim.load_recipe is load_recipe
    assert callable(accelsim.compress) and accelsim.compress.__name__ == "accelsim.compress"
    for name in accelsim.__all__:
        assert getattr(accelsim, name) is not None
    with pytest.raises(AttributeError):
        accelsim.no_such_name  # noqa: B018


def test_simulate_stays_the_function_when_the_submodule_is_imported_first():
    code = (
        "import accelsim.simulate as _m, sys\n"  # binds the submodule on the package first
        "import accelsim\n"
        "assert callable(accelsim.simulate) and accelsim.simulate is sys.modules['accelsim.simulate'].simulate\n"
        "from accelsim import simulate\n"
        "assert simulate is accelsim.simulate\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_kernel_cache_cold_reads_the_numba_cache_folders(tmp_path, monkeypatch):
    import os

    from accelsim import runtime

    pkg = tmp_path / "pkg"
    (pkg / "hw" / "gpu").mkdir(parents=True)
    src = pkg / "hw" / "gpu" / "_kernels.py"
    src.write_text("# kernels\n")
    cache = tmp_path / "cache"
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(cache))
    assert runtime.kernel_cache_cold("gpu", package_dir=str(pkg))  # nothing cached yet
    folder = cache / runtime._cache_subpath(str(src))
    folder.mkdir(parents=True)
    tag = f"py{sys.version_info[0]}{sys.version_info[1]}"
    index = folder / f"_kernels.group_max-10.{tag}.nbi"
    index.write_bytes(b"")
    os.utime(src, (1_000_000, 1_000_000))
    assert not runtime.kernel_cache_cold("gpu", package_dir=str(pkg))  # an index newer than the source
    assert not runtime.kernel_cache_cold(["gpu", "no-such-family"], package_dir=str(pkg))
    os.utime(src, None)
    os.utime(index, (1_000_000, 1_000_000))
    assert runtime.kernel_cache_cold("gpu", package_dir=str(pkg))  # the source was edited since
    (folder / f"_kernels.other-20.{tag}.nbi").write_bytes(b"")
    assert not runtime.kernel_cache_cold("gpu", package_dir=str(pkg))


def test_kernel_cache_cold_imports_nothing_heavy():
    assert loaded_after("from accelsim.runtime import kernel_cache_cold\nkernel_cache_cold()") == []
