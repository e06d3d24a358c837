"""Where a result comes from: accelsim's version and git revision, the input files and their hashes,
the command, the seed and whether it could change anything, where the weights and the activation
densities came from.

:func:`provenance` builds the ``provenance`` block of a :class:`~accelsim.report.results.NetworkResult`
(its JSON and the table's header); :func:`weight_source`, :func:`activation_source` and
:func:`seed_effect` are the pieces, also used by sweeps for their per-point columns.
"""

from __future__ import annotations

import functools
import hashlib
import json
import platform
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any, Mapping

from accelsim._version import __version__

_PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # the checkout holding accelsim/ (when installed editable)


@functools.lru_cache(maxsize=1)
def git_revision() -> dict[str, Any]:
    """``{"revision": 40 hex digits or None, "dirty": bool or None}`` of the checkout accelsim runs
    from; both None when it is not a git checkout or git is not installed (an installed wheel)."""
    if not (_PACKAGE_ROOT / ".git").exists():
        return {"revision": None, "dirty": None}
    try:
        rev = subprocess.run(["git", "-C", str(_PACKAGE_ROOT), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5)
        if rev.returncode != 0:
            return {"revision": None, "dirty": None}
        status = subprocess.run(["git", "-C", str(_PACKAGE_ROOT), "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return {"revision": None, "dirty": None}
    dirty = bool(status.stdout.strip()) if status.returncode == 0 else None
    return {"revision": rev.stdout.strip() or None, "dirty": dirty}


@functools.lru_cache(maxsize=256)
def _digest_cached(path: str, stamp: tuple) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_digest(path: str | Path | None) -> str | None:
    """SHA-256 of a file's content (hex), None when ``path`` is not a readable file."""
    if not path:
        return None
    p = Path(path)
    try:
        st = p.stat()
        if not p.is_file():
            return None
        return _digest_cached(str(p.resolve()), (st.st_mtime_ns, st.st_size))
    except OSError:
        return None


def source_entry(path: str | Path | None) -> dict[str, Any] | None:
    """``{"path": ..., "sha256": ...}`` of an input file, None for an inline or in-memory input."""
    digest = file_digest(path)
    return None if digest is None else {"path": str(path), "sha256": digest}


def command_line() -> str:
    """This process's command line (the ``accelsim ...`` command, or the Python script calling the API)."""
    argv = list(sys.argv) or ["python"]
    if argv[0].endswith(("accelsim", "__main__.py")):
        argv[0] = "accelsim"
    return shlex.join(argv)


def _weighted(graph) -> list[str]:
    return [layer.name for layer in graph.layers if layer.has_weights]


def weight_source(graph, seed: int, compressed: bool, statistics: bool = False) -> str:
    """Where the weight values come from: ``synthesized he_normal seed 0``, ``loaded from <file>
    (sha256 <12 digits>)``, both with layer counts when mixed, or ``none (...)`` when no values are
    needed (a dense run prices shapes and densities, not values; the statistics path of a compression
    recipe prices shapes and stored formats without synthesizing any weight)."""
    weighted = _weighted(graph)
    loaded = [n for n in weighted if n in graph.weights]
    # a checkpoint attached to a Hugging Face config (--weights) holds the values, not the config file
    checkpoint = (getattr(graph, "metadata", None) or {}).get("hf", {}).get("weights_source")
    source = checkpoint or getattr(graph, "source", None)
    where = str(source) if source else graph.name
    digest = file_digest(source)
    file_text = f"loaded from {where}" + (f" (sha256 {digest[:12]})" if digest else "")
    if not weighted:
        return "none (no layer has weights)"
    if not compressed:
        return file_text if loaded else "none (dense run: costs follow from shapes and densities)"
    if not loaded:
        if statistics:
            return "none (statistics path: costs follow from shapes and stored formats; no weight synthesized)"
        return f"synthesized he_normal seed {seed}"
    if len(loaded) == len(weighted):
        return file_text
    return (f"{len(loaded)} of {len(weighted)} layers {file_text}; "
            f"{len(weighted) - len(loaded)} synthesized he_normal seed {seed}")


def activation_source(graph) -> str:
    """Where the activation densities come from: what the graph's ``metadata["activation_density_source"]``
    says (set by whatever measured them, e.g. a calibration run), else the workload file (``n of m
    layers``) or the default 1.0."""
    said = (getattr(graph, "metadata", None) or {}).get("activation_density_source")
    if said:
        return str(said)
    given = getattr(graph, "activation_density", {}) or {}
    n_compute = len(graph.compute_layers())
    if not given:
        return "1.0 everywhere (none given)"
    where = str(graph.source) if getattr(graph, "source", "") else graph.name
    return f"{len(given)} of {n_compute} layers from {where}; the others 1.0"


def _random_steps(recipe: Mapping[str, Any] | None) -> list[str]:
    """The pipeline steps of a recipe dict (``CompressedGraph.recipe``: steps as ``op(param=value, ...)``
    strings, or as ``{op: params}`` mappings) that draw random numbers."""
    out = []
    for i, step in enumerate((recipe or {}).get("pipeline", []) or []):
        if isinstance(step, str):  # the summary form of CompressedGraph.recipe: "prune(method=random, ...)"
            if "method=random" in step or "init=random" in step:
                out.append(f"pipeline[{i}].{step}")
            continue
        if not isinstance(step, Mapping):
            continue
        for op, params in step.items():
            params = params if isinstance(params, Mapping) else {}
            if op == "prune" and params.get("method") == "random":
                out.append(f"pipeline[{i}].prune (method random)")
            elif op == "share" and params.get("init") == "random":
                out.append(f"pipeline[{i}].share (init random)")
    return out


def seed_effect(graph, recipe: Mapping[str, Any] | None) -> tuple[bool, str]:
    """(whether ``seed`` can change the result, why). The seed feeds weight synthesis (layers
    without loaded weights, compressed runs only) and the random steps of the recipe (random
    pruning, random k-means initialisation); nothing else."""
    if recipe is None:
        return False, "a dense run uses no random numbers"
    if recipe.get("statistics"):
        return False, "the statistics path prices shapes and stored formats; it draws no random numbers"
    synthesized = [n for n in _weighted(graph) if n not in graph.weights]
    random_steps = _random_steps(recipe)
    reasons = []
    if synthesized:
        reasons.append(f"{len(synthesized)} layers get synthesized weights")
    if random_steps:
        reasons.append("random steps: " + ", ".join(random_steps))
    if reasons:
        return True, "; ".join(reasons)
    return False, "every weight is loaded from the workload and the recipe has no random step"


def provenance(arch: Mapping[str, Any], arch_source: Any, graph, recipe: Mapping[str, Any] | None,
               recipe_source: Any, seed: int, baseline: Mapping[str, Any] | None = None,
               command: str | None = None) -> dict[str, Any]:
    """The ``provenance`` block of a result (see the module docstring); the arch and recipe specs
    themselves are in the result's ``arch`` and ``recipe``."""
    git = git_revision()
    matters, why = seed_effect(graph, recipe)
    out = {
        "accelsim_version": __version__,
        "git_revision": git["revision"],
        "git_dirty": git["dirty"],
        "python": platform.python_version(),
        "command": command if command is not None else command_line(),
        "arch_file": source_entry(arch_source) if isinstance(arch_source, (str, Path)) else None,
        "workload_file": source_entry(getattr(graph, "source", None)),
        "recipe_file": source_entry(recipe_source) if isinstance(recipe_source, (str, Path)) else None,
        "seed": seed,
        "seed_matters": matters,
        "seed_note": why,
        "weights": weight_source(graph, seed, recipe is not None, bool((recipe or {}).get("statistics"))),
        "activation_density": activation_source(graph),
    }
    if baseline:
        out["baseline"] = dict(baseline)
    return out




STORE_FILE = "provenance.json"


def run_record(spec: Any, label: str, command: str | None = None) -> dict[str, Any]:
    """One sweep run's provenance: version, git revision, command line, start time (UTC), the spec's
    file and SHA-256 when it is one, and a copy of the spec itself."""
    import datetime

    git = git_revision()
    spec_file = source_entry(label) if isinstance(label, str) and label not in ("spec", "space") else None
    try:
        spec_copy = json.loads(json.dumps(spec, default=str)) if spec else None
    except (TypeError, ValueError):
        spec_copy = str(spec)
    return {
        "accelsim_version": __version__,
        "git_revision": git["revision"],
        "git_dirty": git["dirty"],
        "python": platform.python_version(),
        "command": command if command is not None else command_line(),
        "started_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "spec_file": spec_file,
        "spec": spec_copy,
    }


def append_run_record(directory: str | Path, spec: Any, label: str) -> Path | None:
    """Add this run's :func:`run_record` to ``<directory>/provenance.json`` (``{"runs": [...]}``, one
    entry per run or resume, oldest first; written atomically). Returns the path, or None when the
    folder cannot be written (the sweep's own writes report that)."""
    import os
    import tempfile

    path = Path(directory) / STORE_FILE
    runs: list = []
    try:
        old = json.loads(path.read_text())
        if isinstance(old, dict) and isinstance(old.get("runs"), list):
            runs = old["runs"]
    except (OSError, ValueError):
        pass
    runs.append(run_record(spec, label))
    try:
        fd, tmp = tempfile.mkstemp(dir=str(path.parent), prefix=".provenance.", suffix=".tmp")
    except OSError:
        return None
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump({"runs": runs}, fh, indent=1, default=str)
        os.replace(tmp, path)
    except OSError as exc:  # the folder is writable, the record is not (provenance.json a folder, a full disk)
        Path(tmp).unlink(missing_ok=True)
        import warnings

        warnings.warn(f"{path}: this run is not recorded ({exc.strerror or type(exc).__name__})", stacklevel=2)
        return None
    return path


__all__ = ["STORE_FILE", "activation_source", "append_run_record", "command_line", "file_digest", "git_revision",
           "provenance", "run_record", "seed_effect", "source_entry", "weight_source"]
