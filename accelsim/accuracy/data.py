"""Evaluation data: an ``.npz`` of inputs and labels, a token file, or any iterable of batches.

A :class:`Dataset` is a list of ``(inputs, labels)`` batches of NumPy arrays (``labels`` None when
the data has none: enough for the KL divergence to the dense model and for a user's metric).

* ``.npz`` (:func:`load_npz`): arrays ``x`` (inputs, batch axis first) and ``y`` (integer labels, one
  per sample); other key names with ``inputs=`` / ``labels=``.
* token file (:func:`load_tokens`): a 1-D array of token ids (``.npy``, an ``.npz`` with ``tokens``,
  or a text file of whitespace-separated integers), cut into sequences of ``seq_len + 1`` tokens:
  inputs ``seq[:-1]``, labels (the next tokens) ``seq[1:]``.
* an iterable of batches (Python API, :func:`from_batches`): ``(x, y)`` pairs, ``{"x": ..., "y": ...}``
  mappings or bare inputs; torch tensors are converted to NumPy.
"""

from __future__ import annotations

import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from accelsim.accuracy.base import AccuracyError

DEFAULT_BATCH = 256


@dataclass(frozen=True)
class Dataset:
    """Batches of ``(inputs, labels or None)``; ``source`` names where they came from in messages."""

    batches: tuple[tuple[np.ndarray, np.ndarray | None], ...]
    source: str = "<batches>"

    @property
    def has_labels(self) -> bool:
        return all(y is not None for _, y in self.batches)

    @property
    def n_samples(self) -> int:
        return sum(len(x) for x, _ in self.batches)

    def require_labels(self, what: str) -> None:
        if not self.has_labels:
            raise AccuracyError(f"{self.source}: labels missing: {what} needs labels "
                                "(an .npz needs a 'y' array; batches: (x, y) pairs)")

    def labels(self) -> np.ndarray:
        return np.concatenate([y for _, y in self.batches])


def _numpy(a: Any, what: str, source: str) -> np.ndarray:
    if hasattr(a, "detach") and hasattr(a, "cpu"):  # a torch tensor
        a = a.detach().cpu().numpy()
    try:
        out = np.asarray(a)
    except Exception as exc:  # noqa: BLE001 - anything not array-like
        raise AccuracyError(f"{source}: {what} is not an array ({type(exc).__name__})") from None
    if out.dtype == object or not (np.issubdtype(out.dtype, np.number) or out.dtype == bool):
        raise AccuracyError(f"{source}: {what} must be numeric; got dtype {out.dtype}")
    return out


def _check_pair(x: np.ndarray, y: np.ndarray | None, where: str) -> None:
    if x.ndim < 1 or len(x) == 0:
        raise AccuracyError(f"{where}: inputs must have a batch axis with at least one sample; got shape {list(x.shape)}")
    if np.iscomplexobj(x):
        raise AccuracyError(f"{where}: inputs must be real numbers; got dtype {x.dtype}")
    if np.issubdtype(x.dtype, np.floating) and not np.all(np.isfinite(x)):
        raise AccuracyError(f"{where}: inputs contain NaN or infinite values")
    if np.issubdtype(x.dtype, np.floating) and x.dtype.itemsize > 4:
        largest = max(abs(float(x.max())), abs(float(x.min())))
        if largest > float(np.finfo(np.float32).max):  # (models read float32: such an input becomes inf there, the metrics NaN)
            raise AccuracyError(f"{where}: inputs hold values beyond float32's range (max |x| = {largest:.3g}); "
                                "the model reads float32")
    if y is None:
        return
    if len(y) != len(x):
        raise AccuracyError(f"{where}: {len(x)} inputs but {len(y)} labels")
    if not np.issubdtype(y.dtype, np.integer):
        if np.issubdtype(y.dtype, np.floating) and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            return
        raise AccuracyError(f"{where}: labels must be integer class ids; got dtype {y.dtype}")


def _split(x: np.ndarray, y: np.ndarray | None, batch_size: int) -> tuple:
    if batch_size < 1:
        raise AccuracyError(f"batch_size must be >= 1; got {batch_size}")
    return tuple((x[i:i + batch_size], None if y is None else y[i:i + batch_size].astype(np.int64))
                 for i in range(0, len(x), batch_size))


def from_arrays(x: Any, y: Any = None, batch_size: int = DEFAULT_BATCH, source: str = "<arrays>") -> Dataset:
    """A dataset of inputs ``x`` (batch axis first) and integer labels ``y`` (or None)."""
    xa = _numpy(x, "inputs", source)
    ya = None if y is None else _numpy(y, "labels", source)
    _check_pair(xa, ya, source)
    return Dataset(_split(xa, ya, batch_size), source)


def load_npz(path: str | Path, inputs: str = "x", labels: str | None = "y", batch_size: int = DEFAULT_BATCH,
             require_labels: bool = True) -> Dataset:
    """Inputs and labels from an ``.npz`` file (keys ``inputs`` / ``labels``)."""
    from accelsim.workload.weights import not_an_array_file

    p = Path(path)
    why = not_an_array_file(p) if p.is_file() else None
    if why:
        raise AccuracyError(f"{p}: {why}")
    try:
        with np.load(p, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise AccuracyError(f"{p}: data file not found") from None
    except ValueError as exc:
        if "allow_pickle" in str(exc):  # an object array: pickled Python objects are not loaded
            raise AccuracyError(f"{p}: holds an object array (pickled Python objects, not loaded); save numeric "
                                "arrays") from None
        raise AccuracyError(f"{p}: not a readable .npz file ({type(exc).__name__})") from None
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:  # (a truncated or corrupt archive)
        raise AccuracyError(f"{p}: not a readable .npz file ({type(exc).__name__})") from None
    keys = ", ".join(sorted(arrays)) or "none"
    if inputs not in arrays:
        raise AccuracyError(f"{p}: no inputs array '{inputs}' (arrays: {keys})")
    y = arrays.get(labels) if labels else None
    if y is None and require_labels:
        raise AccuracyError(f"{p}: labels missing: no array '{labels}' (arrays: {keys})")
    return from_arrays(arrays[inputs], y, batch_size, str(p))


def load_tokens(path: str | Path, seq_len: int, batch_size: int = 8, max_sequences: int | None = None) -> Dataset:
    """Next-token data from a token file: sequences of ``seq_len`` inputs with the following tokens as labels."""
    p = Path(path)
    if seq_len < 1:
        raise AccuracyError(f"{p}: seq_len must be >= 1; got {seq_len}")
    from accelsim.workload.weights import not_an_array_file

    why = not_an_array_file(p, p.suffix) if p.suffix in (".npy", ".npz") and p.is_file() else None
    if why:
        raise AccuracyError(f"{p}: {why}")
    try:
        if p.suffix == ".npy":
            tokens = np.load(p, allow_pickle=False)
        elif p.suffix == ".npz":
            with np.load(p, allow_pickle=False) as f:
                if "tokens" not in f.files:
                    raise AccuracyError(f"{p}: no 'tokens' array (arrays: {', '.join(f.files) or 'none'})")
                tokens = f["tokens"]
        else:
            tokens = np.array(p.read_text().split(), dtype=np.int64)
    except FileNotFoundError:
        raise AccuracyError(f"{p}: token file not found") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise AccuracyError(f"{p}: not a token file (integers) ({type(exc).__name__}: {exc})".splitlines()[0]) from None
    tokens = np.asarray(tokens).ravel()
    if not np.issubdtype(tokens.dtype, np.integer) or (tokens.size and tokens.min() < 0):
        raise AccuracyError(f"{p}: tokens must be non-negative integers")
    n = (tokens.size - 1) // seq_len
    if n < 1:
        raise AccuracyError(f"{p}: {tokens.size} tokens are fewer than one sequence of {seq_len} + 1")
    if max_sequences is not None:
        n = min(n, max_sequences)
    idx = np.arange(n)[:, None] * seq_len + np.arange(seq_len + 1)[None, :]
    seqs = tokens[idx].astype(np.int64)
    return Dataset(_split(seqs[:, :-1], seqs[:, 1:], batch_size), str(p))


def from_batches(batches: Iterable[Any], source: str = "<batches>") -> Dataset:
    """A dataset from an iterable of ``(x, y)`` pairs, ``{"x", "y"}`` mappings or bare inputs."""
    if isinstance(batches, Dataset):
        return batches
    out = []
    try:
        items = list(batches)
    except TypeError:
        raise AccuracyError(f"{source}: data must be an .npz path, a token file or an iterable of batches; "
                            f"got {type(batches).__name__}") from None
    for i, b in enumerate(items):
        where = f"{source}[{i}]"
        if isinstance(b, dict):
            x, y = b.get("x", b.get("inputs")), b.get("y", b.get("labels"))
            if x is None:
                raise AccuracyError(f"{where}: a batch mapping needs 'x' (inputs); got keys {', '.join(map(str, b))}")
        elif isinstance(b, (tuple, list)) and len(b) == 2:
            x, y = b
        else:
            x, y = b, None
        xa = _numpy(x, "inputs", where)
        ya = None if y is None else _numpy(y, "labels", where)
        _check_pair(xa, ya, where)
        out.append((xa, None if ya is None else ya.astype(np.int64)))
    if not out:
        raise AccuracyError(f"{source}: no batches")
    shapes = {x.shape[1:] for x, _ in out}
    if len(shapes) > 1:
        raise AccuracyError(f"{source}: batches have different sample shapes {sorted(map(list, shapes))}")
    return Dataset(tuple(out), source)


def as_dataset(data: Any, batch_size: int = DEFAULT_BATCH, require_labels: bool = False,
               seq_len: int | None = None) -> Dataset:
    """A :class:`Dataset` from a path (``.npz``; a token file when ``seq_len``), or an iterable of batches."""
    if isinstance(data, Dataset):
        return data
    if isinstance(data, (str, Path)):
        if seq_len is not None:
            return load_tokens(data, seq_len, batch_size)
        if Path(data).suffix != ".npz":
            raise AccuracyError(f"{data}: evaluation data must be an .npz of inputs and labels "
                                "(or a token file with seq_len)")
        return load_npz(data, batch_size=batch_size, require_labels=require_labels)
    return from_batches(data)


__all__ = ["Dataset", "as_dataset", "from_arrays", "from_batches", "load_npz", "load_tokens"]
