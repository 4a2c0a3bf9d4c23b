"""Gold scorers: the simulated human's judgement of a response, `score(texts) -> list[float]`.

Registered by name so tasks are not welded to sentiment. Each scorer is
deterministic and batched (a list in, a list out).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from functools import cache

from pipeline.errors import ConfigError

GoldScorer = Callable[[list[str]], list[float]]
GOLD_SCORERS: dict[str, GoldScorer] = {}


def register(name: str):
    def wrap(fn: GoldScorer) -> GoldScorer:
        if name in GOLD_SCORERS:
            raise ValueError(f"gold scorer {name!r} is already registered")
        GOLD_SCORERS[name] = fn
        return fn

    return wrap


def get_gold_scorer(name: str) -> GoldScorer:
    """A registered scorer by name, or a plug-in by `module:function` (importable from the repository root or installed).

    A plug-in module kept in the repository must also be a dep of the stages that score gold in dvc.yaml
    (preferences, reward_model, the curves, evaluate), so DVC reruns them when it changes.
    """
    if ":" in name:
        return _plugin(name)
    if name not in GOLD_SCORERS:
        raise ConfigError(
            f"annotator.gold: unknown scorer {name!r}; choose from {sorted(GOLD_SCORERS)} or give a plug-in as 'module:function'"
        )
    return GOLD_SCORERS[name]


def _plugin(spec: str) -> GoldScorer:
    module_name, _, attr = spec.partition(":")
    try:
        fn = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as err:
        raise ConfigError(f"annotator.gold: cannot load plug-in {spec!r} ({type(err).__name__}: {err})") from None
    if not callable(fn):
        raise ConfigError(f"annotator.gold: plug-in {spec!r} is not callable; give a function texts -> scores")
    from pipeline.gold_plugin import checked_plugin  # its scores are coerced to float or refused in one line

    return checked_plugin(fn, spec)


@cache
def _vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


@register("vader")
def vader(texts: list[str]) -> list[float]:
    """VADER compound sentiment in [-1, 1] (a lexicon rated by humans): 'continue the prompt positively'."""
    analyzer = _vader()
    return [analyzer.polarity_scores(t)["compound"] for t in texts]


REPETITION_FLOOR, REPETITION_FULL = 0.3, 0.8  # distinct-word share at which quality is 0, and from which it is 1


def repetition_factor(distinct_share: float) -> float:
    """1 for text that does not repeat itself, falling linearly to 0 at REPETITION_FLOOR distinct words."""
    return min(1.0, max(0.0, (distinct_share - REPETITION_FLOOR) / (REPETITION_FULL - REPETITION_FLOOR)))


def fluent_sentiment_score(sentiment: float, fluency: float, distinct_share: float) -> float:
    """quality * (1 + sentiment) - 1 in [-1, 1], quality = fluency * repetition factor.

    Sentiment counts only as far as the text reads as English: fluent text scores its sentiment
    (fluent positive > neutral > negative), and salad or a repeated word scores near -1 whatever
    its words say, as a human judge would have it.
    """
    quality = fluency * repetition_factor(distinct_share)
    return quality * (1.0 + sentiment) - 1.0


@register("fluent_sentiment")
def fluent_sentiment(texts: list[str]) -> list[float]:
    """Positive *and* fluent: VADER compound sentiment gated by n-gram fluency and a repetition factor.

    Fluency is pipeline.fluency's P(real English) from a Kneser-Ney word-trigram model of the
    fortune files, independent of the base policy and of the reward model.
    """
    from pipeline.fluency import distinct_word_share, gold_fluency_model

    model, sentiments = gold_fluency_model(), vader(texts)
    return [fluent_sentiment_score(s, model.fluency(t), distinct_word_share(t)) for s, t in zip(sentiments, texts, strict=True)]


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


def add_gold_scores(records: list[dict], scorer: GoldScorer, normalization: dict) -> None:
    """Add gold_reward and gold_reward_norm (standardised by the base policy's gold statistics) to records.

    Standardising gold the way the proxy is standardised puts both in the same units, so the
    proxy-gold gap reads as "standard deviations of base-policy reward" on both sides.
    """
    mean, std = normalization.get("gold_mean", 0.0), normalization.get("gold_std", 1.0)
    for record, gold in zip(records, scorer([r["response"] for r in records]), strict=True):
        record["gold_reward"] = gold
        record["gold_reward_norm"] = (gold - mean) / std


# The probe set a gold scorer must order as a human would: (name, kind, text). Kinds rank as
# fluent_positive > fluent_neutral > fluent_negative, and every degenerate text below fluent_neutral.
# The degenerate ones include PPO samples from the round-1 default run, which VADER scored 0.95-0.99.
GOLD_PROBES: tuple[tuple[str, str, str], ...] = (
    ("positive", "fluent_positive", "I love this wonderful day, and my friends are happy to be here with me."),
    ("positive gift", "fluent_positive", "She smiled and said it was the best gift she had ever received."),
    ("neutral train", "fluent_neutral", "The train leaves the station at noon and arrives in the city by evening."),
    ("neutral book", "fluent_neutral", "He put the book on the table and walked out of the room."),
    ("negative", "fluent_negative", "I hate this terrible day, and everything I touch turns into a disaster."),
    ("negative war", "fluent_negative", "The war killed thousands of people and left the country in ruins."),
    ("positive-word salad", "degenerate", "like great best better love happy good nice wonderful like love best great"),
    ("one word repeated", "degenerate", " ".join(["like"] * 20)),
    ("another word repeated", "degenerate", " ".join(["love"] * 20)),
    (
        "round-1 PPO sample 0",
        "degenerate",
        ".\n all say like always good ofs like you care children bluck down like you you like, like, eventually",
    ),
    (
        "round-1 PPO sample 1",
        "degenerate",
        "we are hope but men\nexed like never like like pray like money sorryant love someone kind thought away like like",
    ),
    (
        "round-1 PPO sample 2",
        "degenerate",
        "should like great best better ob. walked that love spitted true more gave a easy like like love what little pement",
    ),
    (
        "round-1 PPO sample 3",
        "degenerate",
        'like like young looked like\n spec people sell excellent great good for same best useful like even?" to great earth shouldkn',
    ),
    (
        "round-1 PPO sample 4",
        "degenerate",
        'they original now government important\nPut, ask us like love to be pred better, love "Heose love like like',
    ),
)


def probe_scores(scorer: GoldScorer) -> list[dict]:
    """The scorer's gold on GOLD_PROBES: [{"name", "kind", "text", "gold"}]."""
    golds = scorer([text for _, _, text in GOLD_PROBES])
    return [{"name": n, "kind": k, "text": t, "gold": g} for (n, k, t), g in zip(GOLD_PROBES, golds, strict=True)]


def probe_order_holds(scores: list[dict]) -> bool:
    """fluent positive > fluent neutral > fluent negative (every pair), and every degenerate text < every fluent neutral one."""
    by_kind: dict[str, list[float]] = {}
    for s in scores:
        by_kind.setdefault(s["kind"], []).append(s["gold"])
    pos, neu, neg, bad = (by_kind.get(k, []) for k in ("fluent_positive", "fluent_neutral", "fluent_negative", "degenerate"))
    return bool(pos and neu and neg and bad) and min(pos) > max(neu) and min(neu) > max(neg) and max(bad) < min(neu)
