"""Random mutations of bundled inputs: every loader answers with a result or an AccelsimError, never a
traceback of another type, and what loads runs to finite, non-negative figures.

Each example takes one bundled file (an arch config of every family, a workload, recipes, sweep specs),
changes up to three of its values (a leaf replaced by a hostile value, a key removed, a key added),
writes it back as YAML and loads it through the public API.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import accelsim
from accelsim.errors import AccelsimError

ROOT = Path(__file__).resolve().parents[1]
ARCHS = sorted((ROOT / "arch_configs").glob("*/*.yaml"))
ARCHS = [p for p in ARCHS if p.parent.name != "tech"]
RECIPES = [ROOT / "workloads" / "recipes" / f"{n}.yaml" for n in ("2of4-int8", "deep-compression-lenet300", "svd-25",
                                                                 "w4a16", "channel50")]
SPECS = [ROOT / "examples" / n for n in ("sweep-quick.yaml", "magnitude-density.yaml", "eie-pe-queue.yaml")]
WORKLOADS = [ROOT / "workloads" / n for n in ("lenet-300-100.yaml", "lenet5.yaml")]

TINY_WORKLOAD = {"name": "tiny", "inputs": {"data": [64]},
                 "layers": [{"name": "fc1", "op": "linear", "out_features": 16}, {"name": "act", "op": "relu"}]}

PLAUSIBLE = st.one_of(st.integers(1, 4096), st.floats(1e-3, 1e4), st.sampled_from([1, 2, 3, 4, 7, 8, 16, 64, 1e9]))
HOSTILE = st.one_of(
    PLAUSIBLE, PLAUSIBLE, PLAUSIBLE,  # values of the right kind, often accepted: the model then has to run them
    st.integers(-(10**30), 10**30),
    st.sampled_from([0, -1, 1, 2**31, 2**63, 10**18, 10**30, 0.5, -0.5, 1e-300, 1e300]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.none(),
    st.booleans(),
    st.text(max_size=6),
    st.sampled_from(["", "auto", "%(x)s", "\u00ff\u2603", "1e9", "nan", "-inf"]),
    st.lists(st.integers(-2, 2), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(-2, 2), max_size=2),
)
FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))


def _places(node, path=()):
    """Every (path, node) of a parsed YAML document, containers included."""
    yield path, node
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _places(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _places(v, (*path, i))


def _mutate(data, draw) -> object:
    for _ in range(draw(st.integers(1, 3))):
        places = [p for p, _ in _places(data) if p]
        if not places:
            break
        path = draw(st.sampled_from(places))
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        op = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if op == "replace":
            parent[path[-1]] = draw(HOSTILE)
        elif op == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=6))] = draw(HOSTILE)
        else:
            parent.append(draw(HOSTILE))
    return data


def _write(data) -> Path:
    fd, name = tempfile.mkstemp(suffix=".yaml")
    with os.fdopen(fd, "w") as fh:
        yaml.safe_dump(data, fh, allow_unicode=True)
    return Path(name)


def _finite_totals(result) -> None:
    tot = result.total
    for key in ("cycles", "latency_s", "energy_j", "dram_read_bytes", "dram_write_bytes", "macs"):
        value = tot[key]
        assert math.isfinite(value) and value >= 0, f"total {key} = {value!r}"


def _mutated(paths, data_strategy):
    path = data_strategy.draw(st.sampled_from(paths))
    data = yaml.safe_load(path.read_text())
    return path, _mutate(data, data_strategy.draw)


_TINY: list[Path] = []


def _tiny_workload() -> str:
    if not _TINY:
        fd, name = tempfile.mkstemp(suffix=".yaml")
        with os.fdopen(fd, "w") as fh:
            yaml.safe_dump(TINY_WORKLOAD, fh)
        _TINY.append(Path(name))
    return str(_TINY[0])


def _arch(path: Path) -> None:
    """Load, then run a one-layer workload: totals finite and non-negative."""
    _finite_totals(accelsim.simulate(accelsim.load_arch(path), _tiny_workload(), batch=1))


def _workload(path: Path) -> None:
    graph = accelsim.load_workload(path)
    assert graph.total_macs >= 0 and graph.total_params >= 0


def _recipe(path: Path) -> None:
    accelsim.load_recipe(str(path))


def _spec(path: Path) -> None:
    """Expand the space and check its first points, as a sweep does before anything runs."""
    from accelsim.dse.evaluate import SimulateEvaluator
    from accelsim.dse.space import as_space

    evaluator = SimulateEvaluator()
    for point in as_space(str(path))[0].points()[:3]:
        problems = evaluator.validate(evaluator.normalize(point.setting))
        assert all(isinstance(p, str) and p for p in problems)


KINDS = {"arch": (ARCHS, _arch), "workload": (WORKLOADS, _workload), "recipe": (RECIPES, _recipe),
         "spec": (SPECS, _spec)}


@pytest.mark.parametrize("kind", list(KINDS))
@FUZZ
@given(data=st.data())
def test_mutated_inputs_run_or_say_why(kind, data):
    """A result, or an AccelsimError (one line): never another exception type."""
    paths, check = KINDS[kind]
    _, mutated = _mutated(paths, data)
    path = _write(mutated)
    try:
        check(path)
    except AccelsimError as exc:
        assert str(exc) and "\n" not in str(exc).strip()
    finally:
        path.unlink()


@pytest.mark.parametrize("path", ARCHS + RECIPES + SPECS + WORKLOADS, ids=lambda p: p.name)
def test_the_unmutated_files_load(path):
    """The fuzzed files themselves are valid: a mutation, not the file, is what a refusal is about."""
    if path in ARCHS:  # loading is the point here (engines such as EIE refuse the dense tiny workload)
        accelsim.load_arch(path)
        return
    check = next(check for paths, check in KINDS.values() if path in paths)
    check(path)
