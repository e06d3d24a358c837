import os

import pytest
from hypothesis import settings

# deterministic property tests: the same examples on every run and machine, no example database
settings.register_profile("accelsim", derandomize=True, database=None)
settings.load_profile("accelsim")

os.environ.setdefault("NUMBA_CACHE_DIR", os.path.join(os.path.dirname(__file__), "..", ".numba_cache"))


@pytest.fixture
def run_cli(capsys):
    """Run the CLI in-process; returns (exit_code, stdout, stderr). The cold-cache notice is left out of
    stderr: whether this test is the first to compile a kernel depends on the test order (a clean checkout
    compiles in whichever test comes first); tests/test_cli_feedback.py checks the notice itself."""
    from accelsim.cli import main
    from accelsim.cli.feedback import NOTICE

    def _run(*argv):
        code = main([str(a) for a in argv])
        captured = capsys.readouterr()
        return code, captured.out, captured.err.replace(NOTICE, "")

    return _run


def swept(directory, spec: str, out: str = "r"):
    """Write ``spec`` to ``directory/s.yaml`` and run it quietly into ``directory/out`` (asserting exit 0); returns
    ``directory`` (a module fixture's shared sweep)."""
    from accelsim.cli import main

    (directory / "s.yaml").write_text(spec)
    assert main(["sweep", str(directory / "s.yaml"), "--out", str(directory / out), "--quiet"]) == 0
    return directory
