"""Huffman coding of stored symbols (codebook indices, relative indices) from their frequencies.

Code lengths come from the classic two-smallest merge (``heapq``); codes are canonical (sorted by
length, then symbol), so a decoder needs only one code length per symbol. Bit counts are exact:
``encoded_bits = sum(count[s] * length[s])``; the table costs ``alphabet * ceil(log2(max_len + 1))``
bits (one code length per symbol of the alphabet ``0 .. max symbol``).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from accelsim.errors import CompressionError

__all__ = ["HuffmanCode", "huffman_code_lengths", "canonical_codes", "huffman_encode", "huffman_decode"]


def huffman_code_lengths(counts: np.ndarray) -> np.ndarray:
    """Optimal prefix-code length per symbol (0 for absent symbols; 1 when only one is present)."""
    counts = np.asarray(counts, np.int64)
    if counts.ndim != 1 or np.any(counts < 0):
        raise CompressionError("Huffman counts must be a 1-D array of non-negative integers")
    lengths = np.zeros(counts.size, np.int64)
    present = np.flatnonzero(counts)
    if present.size == 0:
        return lengths
    if present.size == 1:
        lengths[present[0]] = 1
        return lengths
    # heap items: (weight, tie-break id, symbols in the subtree)
    heap = [(int(counts[s]), int(s), [int(s)]) for s in present]
    heapq.heapify(heap)
    next_id = counts.size
    while len(heap) > 1:
        w1, _, s1 = heapq.heappop(heap)
        w2, _, s2 = heapq.heappop(heap)
        merged = s1 + s2
        lengths[merged] += 1
        heapq.heappush(heap, (w1 + w2, next_id, merged))
        next_id += 1
    return lengths


def canonical_codes(lengths: np.ndarray) -> np.ndarray:
    """Canonical code value per symbol (MSB-first integers of ``lengths[s]`` bits; 0 if absent)."""
    lengths = np.asarray(lengths, np.int64)
    codes = np.zeros(lengths.size, np.int64)
    order = sorted((int(lengths[s]), s) for s in range(lengths.size) if lengths[s] > 0)
    code = 0
    prev_len = order[0][0] if order else 0
    for i, (length, s) in enumerate(order):
        if i:
            code = (code + 1) << (length - prev_len)
        codes[s] = code
        prev_len = length
    return codes


@dataclass(frozen=True)
class HuffmanCode:
    """A canonical Huffman code fitted to one symbol stream."""

    counts: np.ndarray
    lengths: np.ndarray

    @classmethod
    def from_symbols(cls, symbols: np.ndarray) -> "HuffmanCode":
        s = np.asarray(symbols)
        if s.size and (not np.issubdtype(s.dtype, np.integer) or s.min() < 0):
            raise CompressionError("Huffman symbols must be non-negative integers")
        counts = np.bincount(s.ravel().astype(np.int64), minlength=1) if s.size else np.zeros(1, np.int64)
        return cls(counts=counts, lengths=huffman_code_lengths(counts))

    @property
    def n_symbols(self) -> int:
        return int(self.counts.sum())

    @property
    def encoded_bits(self) -> int:
        """Exact length of the coded stream in bits."""
        return int(np.dot(self.counts, self.lengths))

    @property
    def table_bits(self) -> int:
        max_len = int(self.lengths.max(initial=0))
        return int(self.lengths.size * max(1, int(np.ceil(np.log2(max_len + 1)))))

    @property
    def codes(self) -> np.ndarray:
        return canonical_codes(self.lengths)


def huffman_encode(symbols: np.ndarray, code: HuffmanCode) -> tuple[np.ndarray, int]:
    """Encode to a packed bit array (MSB-first, ``np.packbits`` layout); returns (bytes, n_bits)."""
    s = np.asarray(symbols, np.int64).ravel()
    if s.size and (s.max() >= code.lengths.size or np.any(code.lengths[s] == 0)):
        raise CompressionError("symbol outside the Huffman code's alphabet")
    lengths = code.lengths[s]
    codes = code.codes[s]
    n_bits = int(lengths.sum())
    max_len = int(code.lengths.max(initial=1))
    # bit j (from the MSB) of every code word, masked to each word's length
    shifts = np.arange(max_len - 1, -1, -1)
    bits = ((codes[:, None] << (max_len - lengths)[:, None]) >> shifts[None, :]) & 1
    valid = np.arange(max_len)[None, :] < lengths[:, None]
    stream = bits[valid].astype(np.uint8)
    return np.packbits(stream), n_bits


def huffman_decode(packed: np.ndarray, n_bits: int, n_symbols: int, code: HuffmanCode) -> np.ndarray:
    """Decode ``n_symbols`` symbols from :func:`huffman_encode`'s output (reference-speed)."""
    bits = np.unpackbits(np.asarray(packed, np.uint8))[:n_bits]
    lookup = {(int(code.lengths[s]), int(c)): s for s, c in enumerate(code.codes) if code.lengths[s] > 0}
    out = np.empty(n_symbols, np.int64)
    val = length = k = 0
    for b in bits:
        val = (val << 1) | int(b)
        length += 1
        sym = lookup.get((length, val))
        if sym is not None:
            out[k] = sym
            k += 1
            val = length = 0
    if k != n_symbols:
        raise CompressionError(f"Huffman stream decoded {k} symbols; expected {n_symbols}")
    return out
