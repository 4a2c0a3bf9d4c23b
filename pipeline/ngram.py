"""An interpolated Kneser-Ney n-gram model over any token sequences (words, word classes).

Why by hand: the gold judge must be deterministic, offline and cheap on CPU, and no installed
library ships a smoothed n-gram model. One class serves every order and vocabulary.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

BOS = "<s>"


class KneserNey:
    """Interpolated Kneser-Ney (Chen & Goodman 1998, one discount); lower orders use continuation counts.

    The unigram level is add-alpha smoothed so an unseen token keeps a small, finite probability.
    """

    def __init__(self, sequences: Iterable[Sequence[str]], order: int, discount: float = 0.75, alpha: float = 0.5):
        if order < 1:
            raise ValueError(f"order must be >= 1, got {order}")
        self.order, self.discount = order, discount
        counts: list[Counter] = [Counter() for _ in range(order + 1)]
        for seq in sequences:
            padded = [BOS] * (order - 1) + list(seq)
            for i in range(order - 1, len(padded)):
                counts[order][tuple(padded[i - order + 1 : i + 1])] += 1
        for k in range(order - 1, 0, -1):  # continuation counts: distinct left extensions
            for gram in counts[k + 1]:
                counts[k][gram[1:]] += 1
        self.counts = counts
        self.context_total: list[Counter] = [Counter() for _ in range(order + 1)]
        self.context_types: list[Counter] = [Counter() for _ in range(order + 1)]
        for k in range(2, order + 1):
            for gram, n in counts[k].items():
                self.context_total[k][gram[:-1]] += n
                self.context_types[k][gram[:-1]] += 1
        unigrams = {gram[0]: n for gram, n in counts[1].items()}
        denominator = sum(unigrams.values()) + alpha * (len(unigrams) + 1)
        self.unigram = {w: (n + alpha) / denominator for w, n in unigrams.items()}
        self.unknown = alpha / denominator

    def unigram_prob(self, token: str) -> float:
        return self.unigram.get(token, self.unknown)

    def prob(self, history: Sequence[str], token: str) -> float:
        """p(token | last order-1 tokens of history), history padded with BOS on the left."""
        padded = (BOS,) * (self.order - 1) + tuple(history)
        return self._prob(padded[len(padded) - (self.order - 1) :], token)

    def _prob(self, context: tuple, token: str) -> float:
        """p(token | context), context exactly order-1 tokens long."""
        d, p = self.discount, self.unigram.get(token, self.unknown)
        for k in range(2, self.order + 1):
            ctx = context[self.order - k :]
            if n := self.context_total[k].get(ctx, 0):
                p = max(self.counts[k].get((*ctx, token), 0) - d, 0) / n + d * self.context_types[k][ctx] / n * p
        return p

    def log_probs(self, tokens: Sequence[str], context: Sequence[str] = ()) -> list[float]:
        """log p of each token given the ones before it, the first ones conditioned on `context`."""
        h = self.order - 1
        seq = (BOS,) * h + tuple(context) + tuple(tokens)
        start = h + len(context)
        return [math.log(self._prob(seq[i - h : i], seq[i])) for i in range(start, len(seq))]
