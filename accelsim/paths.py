"""Where bundled data lives: ``arch_configs/``, ``workloads/`` and ``workloads/recipes/``.

The data folders sit at the top of the repository next to the package (install with
``pip install -e .``). ``ACCELSIM_DATA`` overrides the folder that holds them.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_ROOT = Path(os.environ.get("ACCELSIM_DATA", Path(__file__).resolve().parent.parent))
ARCH_DIR = DATA_ROOT / "arch_configs"
WORKLOAD_DIR = DATA_ROOT / "workloads"
RECIPE_DIR = WORKLOAD_DIR / "recipes"
TECH_DIR = ARCH_DIR / "tech"


def bundled(directory: Path, suffixes: tuple[str, ...] = (".yaml", ".yml")) -> dict[str, Path]:
    """Bundled names (file stems) -> paths, searched recursively under ``directory``."""
    if not directory.is_dir():
        return {}
    found: dict[str, Path] = {}
    for path in sorted(directory.rglob("*")):
        if path.suffix in suffixes and path.is_file():
            found.setdefault(path.stem, path)
    return found
