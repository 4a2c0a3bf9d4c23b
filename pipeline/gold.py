"""Gold scorers: the simulated human's judgement of a response, `score(texts, prompts=None) -> list[float]`.

Registered by name so tasks are not welded to sentiment. Each scorer is deterministic and
batched (a list in, a list out); `prompts`, when given, are what each response continues (a
plug-in `texts -> scores` never sees them). Call them through `score_gold`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache

from pipeline.errors import ConfigError
from pipeline.plugins import load_callable

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


def score_gold(scorer: GoldScorer, responses: list[str], prompts: list[str] | None = None) -> list[float]:
    """Gold of each response, read as a continuation of its prompt by scorers that take `prompts`."""
    if prompts is not None and getattr(scorer, "reads_prompts", False):
        return scorer(responses, prompts=prompts)
    return scorer(responses)


def _plugin(spec: str) -> GoldScorer:
    fn = load_callable(spec, "annotator.gold", "; give a function texts -> scores")
    from pipeline.gold_plugin import checked_plugin  # its scores are coerced to float or refused in one line

    return checked_plugin(fn, spec)


@cache
def _vader():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def vader_lexicon() -> dict[str, float]:
    """VADER's word valences (about 7,500 words rated by humans, -4 to 4)."""
    return _vader().lexicon


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


def readable_sentiment_components(texts: list[str], prompts: list[str] | None = None) -> list[dict]:
    """Per text: VADER sentiment, fluency (readability: P(English | prompt)), repetition factor, and the gold they make."""
    from pipeline.fluency import distinct_word_share
    from pipeline.readability import gold_readability

    model, sentiments = gold_readability(), vader(texts)
    out = []
    for text, prompt, sentiment in zip(texts, prompts or [""] * len(texts), sentiments, strict=True):
        readability, share = model.score(text, prompt), distinct_word_share(text)
        gold = fluent_sentiment_score(sentiment, readability, share)
        out.append({"sentiment": sentiment, "fluency": readability, "repetition": repetition_factor(share), "gold": gold})
    return out


@register("readable_sentiment")
def readable_sentiment(texts: list[str], prompts: list[str] | None = None) -> list[float]:
    """Positive *and* readable English (the default gold): quality * (1 + sentiment) - 1, quality = readability * repetition.

    Readability is pipeline.readability's P(the response reads as English after its prompt): syntax
    over a part-of-speech skeleton, bounded word coherence, unknown words and sentiment-word density,
    calibrated against hard negatives on fortune text the base policy never trains on.
    """
    return [c["gold"] for c in readable_sentiment_components(texts, prompts)]


readable_sentiment.reads_prompts = True  # type: ignore[attr-defined]


@register("smollm2_sentiment")
def smollm2_sentiment(texts: list[str], prompts: list[str] | None = None) -> list[float]:
    """The independent judge: SmolLM2-135M per-word SLOR fluency with the same sentiment (pipeline.lm_judge;
    `make smollm2` first; about 20 texts/s on a 2-core CPU, for GPU profiles and bench/gold_agreement.py)."""
    return [c["gold"] for c in _smollm2_components(texts, prompts)]


smollm2_sentiment.reads_prompts = True  # type: ignore[attr-defined]


def _smollm2_components(texts: list[str], prompts: list[str] | None = None) -> list[dict]:
    from pipeline.lm_judge import smollm2_components

    return smollm2_components(texts, prompts)


# scorers whose parts the report shows per policy and along the curves
GOLD_COMPONENTS: dict[str, Callable[..., list[dict]]] = {
    "readable_sentiment": readable_sentiment_components,
    "smollm2_sentiment": _smollm2_components,
}


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


def components_of(scorer: GoldScorer) -> Callable[..., list[dict]] | None:
    """The function giving a registered scorer's parts (sentiment, fluency, repetition, gold), if it has one."""
    name = next((n for n, fn in GOLD_SCORERS.items() if fn is scorer), None)
    return GOLD_COMPONENTS.get(name) if name else None


GOLD_PARTS = ("sentiment", "fluency", "repetition")  # record fields gold_<part>, where the scorer has parts


def add_gold_scores(records: list[dict], scorer: GoldScorer, normalization: dict) -> None:
    """Add gold_reward and gold_reward_norm (standardised by the base policy's gold statistics) to records,
    and gold_sentiment / gold_fluency / gold_repetition where the scorer has parts, so a report shows which moved.

    Standardising gold the way the proxy is standardised puts both in the same units, so the
    proxy-gold gap reads as "standard deviations of base-policy reward" on both sides.
    """
    mean, std = normalization.get("gold_mean", 0.0), normalization.get("gold_std", 1.0)
    responses, prompts = [r["response"] for r in records], [r.get("prompt", "") for r in records]
    if parts := components_of(scorer):
        for record, part in zip(records, parts(responses, prompts), strict=True):
            record |= {f"gold_{k}": part[k] for k in GOLD_PARTS} | {"gold_reward": part["gold"]}
    else:
        for record, gold in zip(records, score_gold(scorer, responses, prompts), strict=True):
            record["gold_reward"] = gold
    for record in records:
        record["gold_reward_norm"] = (record["gold_reward"] - mean) / std


# The probe set a gold scorer must order as a human would: (name, kind, text), from pipeline.gold_probes.
def _probe_names() -> tuple[tuple[str, str, str], ...]:
    from pipeline.gold_probes import PROBES

    seen: dict[str, int] = {}
    out = []
    for kind, text in PROBES:
        seen[kind] = seen.get(kind, 0) + 1
        out.append((f"{kind.replace('_', ' ')} {seen[kind]}", kind, text))
    return tuple(out)


GOLD_PROBES: tuple[tuple[str, str, str], ...] = _probe_names()


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
