import os

import pytest
from hypothesis import settings

# deterministic property tests: the same examples on every run and machine, no example database
settings.register_profile("accelsim", derandomize=True, database=None)
settings.load_profile("accelsim")

os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", ".numba_cache"))


@pytest.fixture
def run_cli(capsys):
    """Run the CLI in-process; returns (exit_code, stdout, stderr)."""
    from accelsim.cli import main

    def _run(*argv):
        code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return _run
