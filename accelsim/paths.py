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

#: the longest file name (one path component) and path the lookups accept, in bytes (Linux's NAME_MAX / PATH_MAX:
#: a longer one makes ``stat`` raise ENAMETOOLONG, which Python 3.11's ``Path.exists`` does not catch)
NAME_MAX = 255
PATH_MAX = 4095


def name_too_long(text: str) -> str | None:
    """Why ``text`` cannot name a file (a component or the whole longer than :data:`NAME_MAX` / :data:`PATH_MAX`
    bytes), or None: what a lookup of a bundled name or path reports before it asks the file system."""
    size = len(text.encode("utf-8", "surrogateescape"))
    if size > PATH_MAX:
        return f"is {size:,} bytes long, a path at most {PATH_MAX:,}"
    longest = max((len(part.encode("utf-8", "surrogateescape")) for part in text.replace("\\", "/").split("/")),
                  default=0)
    if longest > NAME_MAX:
        return f"holds a name of {longest:,} bytes, a file name at most {NAME_MAX}"
    return None


def refuse_long_name(text: str, error: type[Exception], expected: str) -> None:
    """Raise ``error`` (one line: the name's start, :func:`name_too_long`'s reason, ``expected``) where ``text``
    cannot name a file; the check a lookup makes before it asks the file system."""
    why = name_too_long(text)
    if why:
        raise error(f"{text[:40]!r}... {why}; expected {expected}")


def _folder_stamp(directory: Path) -> tuple:
    """Modification times of ``directory`` and every folder below it: they change whenever a file
    is added, removed or renamed anywhere in the tree. The folders last found are checked by one
    ``stat`` each; the tree is walked again only when one of them changed (a new subfolder changes its
    parent's time), so an unchanged tree costs no directory listing."""
    known = _TREES.get(directory)
    if known is not None:
        try:
            if all(os.stat(folder).st_mtime_ns == mtime for folder, mtime in known):
                return known
        except OSError:
            pass
    stamp = []
    todo = [str(directory)]
    while todo:
        folder = todo.pop()
        stamp.append((folder, os.stat(folder).st_mtime_ns))
        with os.scandir(folder) as entries:
            todo.extend(e.path for e in entries if e.is_dir())
    _TREES[directory] = stamp = tuple(sorted(stamp))
    return stamp


#: directory -> the stamp :func:`_folder_stamp` last walked
_TREES: dict[Path, tuple] = {}

_BUNDLED: dict[tuple, tuple[tuple, dict[str, Path]]] = {}


def bundled(directory: Path, suffixes: tuple[str, ...] = (".yaml", ".yml")) -> dict[str, Path]:
    """Bundled names (file stems) -> paths, searched recursively under ``directory``.

    The listing is kept until a folder of the tree changes (a file added, removed or renamed)."""
    if not directory.is_dir():
        return {}
    stamp = _folder_stamp(directory)
    hit = _BUNDLED.get((directory, suffixes))
    if hit is not None and hit[0] == stamp:
        return dict(hit[1])
    found: dict[str, Path] = {}
    for path in sorted(directory.rglob("*")):
        if path.suffix in suffixes and path.is_file():
            found.setdefault(path.stem, path)
    _BUNDLED[(directory, suffixes)] = (stamp, found)
    return dict(found)
