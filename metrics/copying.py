"""Copying of the pretraining corpus: does a response repeat a long word n-gram of it verbatim?

A response that holds 8 consecutive words of a training text was, almost surely, recalled rather
than composed (8-word sequences of new English are rarely found in a corpus this size), so the
share of such responses measures memorisation, which diversity metrics do not see.

Words are lowercased runs of letters and digits (contractions kept whole): a copy that only
changes case, punctuation or line breaks still counts. The corpus index keeps one 64-bit hash per
distinct n-gram in a sorted numpy array, so a corpus of a million words costs 8 MB and a lookup
is a binary search. Hashes are built from per-word hashes (blake2b, stable across processes,
unlike Python's `hash`) combined as a polynomial mod 2**64, vectorised over every window.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

COPY_NGRAM = 8  # words: "a long n-gram" (issue 25); 8 keeps common phrases ("one of the best ...") from counting
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd, so each window position is a bijection of the word hash


def words(text: str) -> list[str]:
    """The lowercased words of text (letters/digits, contractions kept: "Don't!" -> ["don't"])."""
    return _WORD.findall(text.lower())


class _WordHashes:
    """Stable 64-bit hash per word, memoised (texts share most words)."""

    def __init__(self) -> None:
        self.cache: dict[str, int] = {}

    def __call__(self, tokens: list[str]) -> np.ndarray:
        cache = self.cache
        for w in set(tokens).difference(cache):
            cache[w] = int.from_bytes(hashlib.blake2b(w.encode(), digest_size=8).digest(), "little")
        return np.fromiter((cache[w] for w in tokens), dtype=np.uint64, count=len(tokens))


def window_hashes(word_hashes: np.ndarray, n: int) -> np.ndarray:
    """(len - n + 1,) uint64 hashes of every n-word window: sum_j word[i + j] * M**(n - 1 - j) mod 2**64."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    if word_hashes.size < n:
        return np.zeros(0, dtype=np.uint64)
    out = np.zeros(word_hashes.size - n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):  # wrap-around mod 2**64 is the hash
        for j in range(n):
            out = out * _MULTIPLIER + word_hashes[j : j + out.size]
    return out


class CorpusNgramIndex:
    """The set of hashed n-word sequences of a corpus; `copies(text)` says whether text repeats one."""

    def __init__(self, texts: Iterable[str], n: int = COPY_NGRAM) -> None:
        self.n = n
        self._hash = _WordHashes()
        tokens = [words(t) for t in texts]
        lengths = np.array([len(ws) for ws in tokens], dtype=np.int64)
        # one vectorised pass over all texts joined (per-text numpy calls cost seconds on a 10k-entry corpus) ...
        found = window_hashes(self._hash([w for ws in tokens for w in ws]), n)
        # ... keeping only windows that start and end in one text: entries side by side are not a sequence anyone wrote
        ends = np.cumsum(lengths)
        owner = np.repeat(np.arange(lengths.size), lengths)[: found.size]
        inside = np.arange(found.size) + n <= ends[owner] if found.size else np.zeros(0, dtype=bool)
        kept = np.sort(found[inside])
        self.hashes = kept[np.r_[True, kept[1:] != kept[:-1]]] if kept.size else kept  # sorted, for searchsorted

    def __len__(self) -> int:
        return int(self.hashes.size)

    def copied_windows(self, text: str) -> np.ndarray:
        """(windows,) bool: which n-word windows of text occur in the corpus."""
        found = window_hashes(self._hash(words(text)), self.n)
        if not found.size or not self.hashes.size:
            return np.zeros(found.size, dtype=bool)
        pos = np.minimum(np.searchsorted(self.hashes, found), self.hashes.size - 1)
        return self.hashes[pos] == found

    def copies(self, text: str) -> bool:
        """True when text holds at least one n-word sequence of the corpus."""
        return bool(self.copied_windows(text).any())


def copies_corpus(record: Mapping[str, Any], corpus_ngrams: CorpusNgramIndex) -> float:
    """1.0 when the response repeats a long n-gram of the pretraining corpus, else 0.0 (the mean is a share)."""
    return float(corpus_ngrams.copies(str(record["response"])))
