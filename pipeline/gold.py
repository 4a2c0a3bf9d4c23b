"""Gold scorers: the simulated human's judgement of a response, `score(texts) -> list[float]`.

Registered by name so tasks are not welded to sentiment. Each scorer is
deterministic and batched (a list in, a list out).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

from pipeline.config import ConfigError

GoldScorer = Callable[[list[str]], list[float]]
GOLD_SCORERS: dict[str, GoldScorer] = {}


def register(name: str):
    def wrap(fn: GoldScorer) -> GoldScorer:
        GOLD_SCORERS[name] = fn
        return fn

    return wrap


def get_gold_scorer(name: str) -> GoldScorer:
    if name not in GOLD_SCORERS:
        raise ConfigError(f"annotator.gold: unknown scorer {name!r}; choose from {sorted(GOLD_SCORERS)}")
    return GOLD_SCORERS[name]


@cache
def _vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


@register("vader")
def vader(texts: list[str]) -> list[float]:
    """VADER compound sentiment in [-1, 1] (a lexicon rated by humans): 'continue the prompt positively'."""
    analyzer = _vader()
    return [analyzer.polarity_scores(t)["compound"] for t in texts]


_WORD = re.compile(r"[A-Za-z']+")


@register("formality")
def formality(texts: list[str]) -> list[float]:
    """A style score, not a sentiment: long words and no shouting or exclamations read as formal.

    Mean word length mapped to [-1, 1] around 4.5 letters, minus 0.25 per '!' and per all-caps word (capped).
    Texts with no words score -1.
    """
    scores = []
    for text in texts:
        words = _WORD.findall(text)
        if not words:
            scores.append(-1.0)
            continue
        mean_len = sum(len(w) for w in words) / len(words)
        shouting = text.count("!") + sum(1 for w in words if len(w) > 1 and w.isupper())
        scores.append(max(-1.0, min(1.0, (mean_len - 4.5) / 2.5) - 0.25 * min(shouting, 4)))
    return scores
