"""Process set-up that must happen before accelsim imports Numba: a writable Numba cache, and a cheap
check whether that cache is cold (:func:`kernel_cache_cold`, so the CLI can say it is compiling).

A bottom-layer module: it imports nothing from accelsim (and nothing heavy), and the package's
``__init__`` calls :func:`ensure_numba_cache` once, before any accelsim module imports Numba.

The Numba kernels are compiled with ``cache=True``. Numba stores that cache in ``$NUMBA_CACHE_DIR``
when it is set and writable, else in the ``__pycache__`` folder next to each kernel file, else in the
user-wide cache folder (``$XDG_CACHE_HOME/numba`` or ``~/.cache/numba``); when none of them is
writable, *defining* a cached kernel raises ``RuntimeError: cannot cache function ...`` and the
import of ``accelsim.compress`` (or any hardware model) fails. That happens to a user of a
read-only install (a system site-packages, a container image) whose home is not writable either.
Then :func:`ensure_numba_cache` points ``NUMBA_CACHE_DIR`` to a private folder in the temporary
directory: kernels compile as before and the cache lives there instead. Results do not change.
"""

from __future__ import annotations

import os
import stat
import sys

FALLBACK_PREFIX = "accelsim-numba-cache"


def _can_create(path: str) -> bool:
    """True when ``path`` is a writable directory, or could be created (its nearest existing ancestor
    is a writable directory). ``os.access`` answers for read-only file systems too."""
    path = os.path.abspath(path)
    while not os.path.exists(path):
        parent = os.path.dirname(path)
        if parent == path:
            return False
        path = parent
    return os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)


def _user_cache_dir() -> str:
    """Numba's user-wide cache folder on Linux and other POSIX systems (appdirs' rule)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "numba")


def _in_tree_writable(package_dir: str) -> bool:
    """True when every ``__pycache__`` folder of the package (where Numba caches next to the source
    files) is writable or can be created."""
    for root, dirs, _files in os.walk(package_dir):
        dirs[:] = [d for d in dirs if d != "__pycache__" and not d.startswith(".")]
        if not _can_create(os.path.join(root, "__pycache__")):
            return False
    return True


def _private_dir(path: str) -> bool:
    """True when ``path`` is a directory owned by this user that nobody else can write (a cache
    folder others could write would let them plant compiled code)."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    owner_ok = not hasattr(os, "getuid") or st.st_uid == os.getuid()
    return stat.S_ISDIR(st.st_mode) and owner_ok and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _fallback_dir() -> str | None:
    """``<tmp>/accelsim-numba-cache-<uid>`` (created private, reused across runs), or a fresh private
    temporary folder when that name is taken by someone else; None when no temporary folder works."""
    import tempfile

    try:
        tmp = tempfile.gettempdir()
    except OSError:  # no usable temporary directory at all
        return None
    uid = os.getuid() if hasattr(os, "getuid") else 0
    path = os.path.join(tmp, f"{FALLBACK_PREFIX}-{uid}")
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    except OSError:
        pass
    if _private_dir(path) and os.access(path, os.W_OK | os.X_OK):
        return path
    try:
        return tempfile.mkdtemp(prefix=f"{FALLBACK_PREFIX}-")
    except OSError:
        return None


def ensure_numba_cache(package_dir: str | None = None) -> str | None:
    """Set ``NUMBA_CACHE_DIR`` to a writable fallback when Numba would find no writable cache folder.

    Returns the folder it set, or None when nothing was needed (or nothing writable exists: Numba
    then reports its own error). A ``NUMBA_CACHE_DIR`` the user set and can write is never changed.
    Cheap when nothing is needed: a few ``os.access`` calls, no file is written, nothing imported.
    ``package_dir``: the folder of the package whose kernels Numba caches (default: accelsim's).
    """
    configured = os.environ.get("NUMBA_CACHE_DIR")
    if configured and _can_create(configured):
        return None
    if _can_create(_user_cache_dir()):
        return None
    if _in_tree_writable(package_dir or os.path.dirname(os.path.abspath(__file__))):
        return None
    fallback = _fallback_dir()
    if fallback is None:
        return None
    os.environ["NUMBA_CACHE_DIR"] = fallback
    config = sys.modules.get("numba.core.config")
    if config is not None:  # Numba was imported before accelsim: its settings were read already
        config.CACHE_DIR = fallback
    return fallback


# --- is the kernel cache cold? ------------------------------------------------------------------
#: the files holding cached Numba kernels, by what uses them (paths relative to the package folder);
#: ``compress`` serves every family whose recipe prunes, shares or encodes
KERNEL_FILES = {
    "compress": ("compress/_kernels.py",),
    "eie": ("hw/eie/_kernels.py", "compress/_kernels.py"),
    "gpu": ("hw/gpu/_kernels.py",),
    "systolic": ("hw/systolic/_kernels.py", "hw/systolic/_ifmap_fit.py", "hw/systolic/_group_reuse.py",
                 "hw/systolic/analytic.py", "hw/systolic/_batch_kernels.py"),
    "npu": ("hw/systolic/_kernels.py", "hw/systolic/_ifmap_fit.py", "hw/systolic/_group_reuse.py",
            "hw/systolic/analytic.py", "hw/systolic/_batch_kernels.py"),  # its matrix unit
}


def _cache_subpath(py_file: str) -> str:
    """Numba's folder name for a source file's kernels inside a cache root (``<parent>_<sha1 of
    the parent path>``, as ``numba.core.caching._CacheLocator.get_suitable_cache_subpath``)."""
    import hashlib

    parent = os.path.dirname(os.path.abspath(py_file))
    return "_".join([os.path.split(parent)[-1], hashlib.sha1(parent.encode()).hexdigest()])


def _cache_folders(py_file: str) -> list[str]:
    """Where Numba keeps the kernels of ``py_file``: ``$NUMBA_CACHE_DIR/<subpath>`` when that is set,
    else the ``__pycache__`` folder next to the file, or the user-wide cache folder."""
    configured = os.environ.get("NUMBA_CACHE_DIR")
    if configured:
        return [os.path.join(configured, _cache_subpath(py_file))]
    return [os.path.join(os.path.dirname(py_file), "__pycache__"),
            os.path.join(_user_cache_dir(), _cache_subpath(py_file))]


def _has_fresh_index(py_file: str) -> bool:
    """True when a Numba index file (``<module>.<kernel>-<line>.py<XY>.nbi``) of ``py_file`` exists
    that was written after the file was last modified."""
    try:
        source_mtime = os.stat(py_file).st_mtime
    except OSError:
        return True  # no such file: nothing to compile
    stem = os.path.splitext(os.path.basename(py_file))[0] + "."
    tag = f".py{sys.version_info[0]}{sys.version_info[1]}.nbi"
    for folder in _cache_folders(py_file):
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        for name in names:
            if name.startswith(stem) and name.endswith(tag):
                try:
                    if os.stat(os.path.join(folder, name)).st_mtime >= source_mtime:
                        return True
                except OSError:
                    continue
    return False


def kernel_cache_cold(families=None, package_dir: str | None = None) -> bool:
    """True when the first simulation will compile Numba kernels: some kernel file of ``families``
    (keys of :data:`KERNEL_FILES`; default: all) has no cached kernel written since its last edit
    (after installation, an upgrade or a kernel edit). A cold cache costs seconds once per kernel
    file (``accelsim simulate`` announces it); later runs load the compiled code.

    Cheap and import-free (no Numba): a few ``os.listdir`` / ``os.stat`` calls on the folders where
    Numba caches (``$NUMBA_CACHE_DIR``, ``__pycache__`` next to the kernels, the user-wide cache).
    A heuristic on file times: a file touched without change reads as cold (Numba itself compares
    content hashes and reuses its cache), and a kernel never run before in a file whose other
    kernels are cached reads as warm. Unknown family names are ignored.
    """
    base = package_dir or os.path.dirname(os.path.abspath(__file__))
    names = KERNEL_FILES if families is None else [f for f in ([families] if isinstance(families, str) else families)
                                                    if f in KERNEL_FILES]
    files = {rel for fam in names for rel in KERNEL_FILES[fam]}
    return not all(_has_fresh_index(os.path.join(base, rel)) for rel in sorted(files))


__all__ = ["KERNEL_FILES", "ensure_numba_cache", "kernel_cache_cold"]
