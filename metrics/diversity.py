"""Diversity of a set of responses: distinct-n, EAD and self-BLEU (Kirk et al. 2023).

Plain functions take one set (token id lists, or texts for self-BLEU). The
index classes take a set once and then score any multiset of it, given as
multiplicities, which is what a bootstrap draw is; they give the same numbers
as the plain functions at multiplicity 1.

This file imports only numpy and sacrebleu: the Hugging Face `evaluate` module
in evaluate_modules/diversity loads it through a symlink, outside the package.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Sequence

import numpy as np
from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a

BLEU_ORDER = 4  # sacrebleu's default max n-gram order


def ngrams(tokens: Sequence[Hashable], n: int) -> list[tuple[Hashable, ...]]:
    """The contiguous n-grams of tokens, in order (empty when len(tokens) < n)."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(responses: Sequence[Sequence[Hashable]], n: int = 1) -> float:
    """Distinct-n (Li et al. 2016): unique n-grams / total n-grams over the set (0 without n-grams)."""
    grams = [g for r in responses for g in ngrams(r, n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def expected_distinct(total: int, vocab_size: int) -> float:
    """V * (1 - ((V - 1) / V) ** C): expected number of distinct items in C uniform draws from V."""
    if vocab_size < 1:
        raise ValueError(f"vocab_size must be >= 1, got {vocab_size}")
    if total == 0:
        return 0.0
    if vocab_size == 1:
        return 1.0
    # expm1/log1p: (1 - 1/V) ** C loses every digit in plain floats when V is large
    return -vocab_size * math.expm1(total * math.log1p(-1.0 / vocab_size))


def ead_from_counts(unique: int, total: int, vocab_size: int) -> float:
    """EAD = unique / (V * (1 - ((V - 1) / V) ** C)); 0 without n-grams."""
    return unique / expected_distinct(total, vocab_size) if total else 0.0


def ead(responses: Sequence[Sequence[Hashable]], vocab_size: int, n: int = 1) -> float:
    """Expectation-adjusted distinct n-grams (Liu et al. 2022, used by Kirk et al. 2023).

    EAD = U / (V * (1 - ((V - 1) / V) ** C)), with U the unique and C the total
    n-grams of the set and V the vocabulary size: distinct-n divides by C,
    which penalises long or large sets; EAD divides by the number of distinct
    tokens C uniform draws from the vocabulary would give. For n > 1 V stays
    the token vocabulary, as in the authors' code, so values are only
    comparable for the same n.
    """
    grams = [g for r in responses for g in ngrams(r, n)]
    return ead_from_counts(len(set(grams)), len(grams), vocab_size)


def self_bleu(texts: Sequence[str]) -> float:
    """Self-BLEU (Zhu et al. 2018): mean sentence BLEU, in [0, 1], of each text against all the others.

    sacrebleu's sentence BLEU (13a tokens, exp smoothing, effective order).
    Lower is more diverse; nan for fewer than two texts.
    """
    return SelfBleuIndex(texts).score(np.ones(len(texts), dtype=np.int64))


# ---------------------------------------------------------------------------- multiset scoring


class NgramIndex:
    """Distinct-n and EAD of any multiset of a fixed set of token-id responses."""

    def __init__(self, responses: Sequence[Sequence[Hashable]], n: int = 1) -> None:
        gram_ids: dict[tuple[Hashable, ...], int] = {}
        docs: list[int] = []
        grams: list[int] = []
        self.totals = np.zeros(len(responses), dtype=np.int64)
        for d, response in enumerate(responses):
            found = ngrams(response, n)
            self.totals[d] = len(found)
            for gram in set(found):
                docs.append(d)
                grams.append(gram_ids.setdefault(gram, len(gram_ids)))
        self.doc = np.asarray(docs, dtype=np.int64)  # (E,) one entry per (response, distinct n-gram)
        self.gram = np.asarray(grams, dtype=np.int64)  # (E,)
        self.n_grams = len(gram_ids)

    def counts(self, mult: np.ndarray) -> tuple[int, int]:
        """(unique, total) n-grams of the multiset holding response i mult[i] times."""
        mult = np.asarray(mult, dtype=np.int64)
        present = self.gram[mult[self.doc] > 0]
        unique = np.count_nonzero(np.bincount(present, minlength=self.n_grams))
        return int(unique), int(mult @ self.totals)

    def distinct(self, mult: np.ndarray) -> float:
        """distinct_n of the multiset."""
        unique, total = self.counts(mult)
        return unique / total if total else 0.0

    def ead(self, mult: np.ndarray, vocab_size: int) -> float:
        """ead of the multiset."""
        return ead_from_counts(*self.counts(mult), vocab_size)


def closest_other_length(lengths: np.ndarray) -> np.ndarray:
    """For each length, the closest length among the others (ties: the shorter), as sacrebleu picks ref_len."""
    values, counts = np.unique(lengths, return_counts=True)
    pos = np.searchsorted(values, lengths)
    lower = np.where(pos > 0, values[np.maximum(pos - 1, 0)], -np.inf)
    upper = np.where(pos + 1 < values.size, values[np.minimum(pos + 1, values.size - 1)], np.inf)
    nearest = np.where(lengths - lower <= upper - lengths, lower, upper)
    # another response of the same length is the closest possible reference
    return np.where(counts[pos] > 1, lengths, nearest).astype(float)


def sentence_bleu_from_stats(correct: np.ndarray, total: np.ndarray, sys_len: np.ndarray, ref_len: np.ndarray) -> np.ndarray:
    """Vectorised sacrebleu BLEU.compute_bleu (exp smoothing, effective order), scaled to [0, 1].

    correct, total: (m, 4) clipped matches and hypothesis n-grams per order.
    """
    has = total > 0  # totals shrink with the order, so the effective order is has.sum(1)
    zero = (correct == 0) & has
    smooth = 2.0 ** np.cumsum(zero, axis=1)  # sacrebleu doubles its divisor at each order without a match
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(correct > 0, correct / total, 1.0 / (smooth * total))
        log_p = np.where(has, np.log(precision), 0.0).sum(1) / np.maximum(has.sum(1), 1)
        brevity = np.where(sys_len < ref_len, np.exp(1.0 - ref_len / sys_len), 1.0)
    return np.where(correct.sum(1) > 0, brevity * np.exp(log_p), 0.0)


class SelfBleuIndex:
    """Self-BLEU of any multiset of a fixed set of texts.

    Each text is scored against the other texts present; copies of itself in a
    multiset are not references (a bootstrap copy is not another response).
    """

    def __init__(self, texts: Sequence[str]) -> None:
        tokenize = Tokenizer13a()
        gram_ids: dict[tuple[str, ...], int] = {}
        rows: list[tuple[int, int, int, int]] = []
        lengths = []
        for d, text in enumerate(texts):
            tokens = tokenize(text.rstrip()).split()  # sacrebleu's preprocessing
            lengths.append(len(tokens))
            found = Counter(g for n in range(1, BLEU_ORDER + 1) for g in ngrams(tokens, n))
            rows += [(gram_ids.setdefault(g, len(gram_ids)), -c, d, len(g) - 1) for g, c in found.items()]
        rows.sort()  # by n-gram, then count descending: the first entries of a group are its top counts
        table = np.array(rows, dtype=np.int64).reshape(-1, 4)
        self.gram, self.count, self.doc, self.order = table[:, 0], -table[:, 1], table[:, 2], table[:, 3]
        self.lengths = np.asarray(lengths, dtype=float)
        self.totals = np.maximum(self.lengths[:, None] - np.arange(BLEU_ORDER)[None, :], 0)  # (D, 4)

    def matches(self, present: np.ndarray) -> np.ndarray:
        """(D, 4) hypothesis n-gram counts clipped by the max count in any other present text."""
        keep = np.flatnonzero(present[self.doc])
        size = self.lengths.size * BLEU_ORDER
        if not keep.size:
            return np.zeros((self.lengths.size, BLEU_ORDER))
        gram, count, doc = self.gram[keep], self.count[keep], self.doc[keep]
        m = np.arange(keep.size)
        start = np.maximum.accumulate(np.where(np.r_[True, gram[1:] != gram[:-1]], m, 0))
        nxt = np.minimum(start + 1, keep.size - 1)
        second = np.where((start + 1 < keep.size) & (gram[nxt] == gram), count[nxt], 0)
        # the best other text holds the top count, unless this text is the top one
        best_other = np.where(doc[start] == doc, second, count[start])
        out = np.bincount(doc * BLEU_ORDER + self.order[keep], weights=np.minimum(count, best_other), minlength=size)
        return out.reshape(-1, BLEU_ORDER)

    def score(self, mult: np.ndarray) -> float:
        """Mean sentence BLEU over the multiset (copies weighted); nan with fewer than two distinct texts."""
        mult = np.asarray(mult, dtype=np.int64)
        present = np.flatnonzero(mult > 0)
        if present.size < 2:
            return float("nan")
        correct = self.matches(mult > 0)[present]
        lengths = self.lengths[present]
        bleu = sentence_bleu_from_stats(correct, self.totals[present], lengths, closest_other_length(lengths))
        return float(mult[present] @ bleu / mult[present].sum())
