"""Process set-up that must happen before accelsim imports Numba: a writable Numba cache.

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


__all__ = ["ensure_numba_cache"]
