"""Readability for the default gold: P(a response reads as English), robust to the exploits of n-gram fluency.

Why by hand: the gold must be deterministic, offline, cheap on CPU and independent of the
policy and the reward model; no installed library scores English fluency that way.

What a careful reader checks, as features a handful of words cannot carry (each is a mean or a
share over the response, and every per-token term is clipped):
- syntax: a 4-gram Kneser-Ney model over a *skeleton* of the text, in which function words and
  punctuation stay themselves and every other word becomes its possible parts of speech from
  an English lexicon (lemminflect's, independent of any corpus here), or <unk>. It generalises
  to sentences it never saw ("he VERB the NOUN and VERB the NOUN before the ADJ NOUN") and finds
  salad, name lists and function-word salad improbable;
- word coherence: log p(word | two previous words) - log p(word) under a word-trigram model,
  clipped per word so a memorised rare trigram adds at most WORD_CLIP nats to one word;
- lexicon: the share of lower-case words English does not know (foreign tags, invented words), and
  capitalised names beyond what a sentence carries (lists of names);
- sentiment density beyond what English sentences carry (lists of positive words), and function
  words below what English sentences carry (content-word salad);
each measured on the response as a continuation of the prompt's last words. The features read words and
sentence punctuation only, so text that is mostly runs of dots, tabs and symbols is gated apart: P(English)
is multiplied by a prose factor, 1 while symbols stay within prose's range and 0 when half the characters
are symbols.

A logistic model maps the features to P(real text). It is fitted on text the base policy never
saw: the fortune entries reserved for the gold by content hash (pipeline.corpus.reserved_for_gold,
removed from the policy's corpus), and calibrated on held-out real snippets against hard
negatives of every kind we have seen fool a judge: shuffled words, frequency-weighted salad,
salad spiked with memorised n-grams, positive words injected into real sentences, babble
sampled from word-trigram counts, name and foreign-tag lists, exclamation lists, repetition.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from pipeline.ngram import KneserNey

TOKEN = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?|[.,!?;:]")
SKELETON_ORDER, WORD_ORDER = 4, 3
WORD_CLIP = (-4.0, 2.0)  # nats per word of word coherence: bounds what any one word can add
SKELETON_CLIP = (-6.0, 4.0)
SKELETON_SLOR = True
CALIBRATION_FROM = 0.9  # gold entries with content hash above this calibrate; the rest fit the n-gram models
CONTEXT_TOKENS = SKELETON_ORDER - 1
SENTIMENT_DENSITY_NORMAL = 0.2
NAME_SHARE_NORMAL = 0.2
FUNCTION_SHARE_NORMAL = 0.3  # English sentences are about 40-55% function words; content-word salad has few
# share of a text's visible characters that are neither letters nor apostrophes: up to the first it is prose (the 99th
# percentile of 100-character windows of the gold's fortune entries is 0.19, the median 0.04), from the second it is
# not (a few words between runs of dots, tabs and symbols, "...in...... his", what a small policy learns first)
SYMBOL_SHARE_PROSE, SYMBOL_SHARE_NONE = 0.2, 0.5


def symbol_share(text: str) -> float:
    """Share of the visible characters that are not letters or apostrophes (punctuation, digits, symbols)."""
    visible = [c for c in text if not c.isspace()]
    return sum(not (c.isalpha() or c in "'\u2019") for c in visible) / max(1, len(visible))


def prose_factor(text: str) -> float:
    """1 for text whose symbols are within prose's range, falling linearly to 0 at SYMBOL_SHARE_NONE."""
    excess = (symbol_share(text) - SYMBOL_SHARE_PROSE) / (SYMBOL_SHARE_NONE - SYMBOL_SHARE_PROSE)
    return min(1.0, max(0.0, 1.0 - excess))


# closed-class English words (and contractions): they carry syntax, so the skeleton keeps them
FUNCTION_WORDS = frozenset(
    """a an the this that these those some any no every each either neither both all half another other such what
    whatever which whichever who whom whose whoever i me my mine myself you your yours yourself yourselves he him his
    himself she her hers herself it its itself we us our ours ourselves they them their theirs themselves one ones
    and or but nor so yet for if then than because as while although though unless until since whether when where
    why how whenever wherever of in on at by with from to into onto upon about above below over under after before
    between through during without within among against across along around behind beyond toward towards up down
    out off near past per via like till is am are was were be been being do does did done doing have has had having
    will would shall should can could may might must ought not never no yes there here very too also just only even
    still already again ever quite rather almost much many more most less least few little own same else instead
    once twice perhaps maybe indeed however therefore thus hence otherwise anyway now today tonight soon always
    often sometimes usually anything everything nothing something anyone everyone someone nobody somebody everybody
    i'm i've i'll i'd you're you've you'll you'd he's he'll he'd she's she'll she'd it's it'll we're we've we'll
    we'd they're they've they'll they'd that's there's here's what's who's let's don't doesn't didn't isn't aren't
    wasn't weren't won't wouldn't can't couldn't shouldn't haven't hasn't hadn't mustn't ain't""".split()
)


def tokens(text: str) -> list[str]:
    """Words (with inner apostrophes) and sentence punctuation; digits and symbols carry no signal here.

    Words are lower-cased except a capitalised word English does not know, which stays a name.
    """
    return [t if _is_name(t) else t.lower() for t in TOKEN.findall(text.replace("\u2019", "'"))]


def _is_name(token: str) -> bool:
    return token[0].isupper() and word_class(token.lower()) == "<unk>"


def is_word(token: str) -> bool:
    return token[0].isalpha()


@cache
def word_class(word: str) -> str:
    """The skeleton token: a function word or punctuation itself, else its parts of speech from the lexicon, else <unk>."""
    if word in FUNCTION_WORDS or not is_word(word):
        return word
    if word[0].isupper():
        return "<name>"
    from lemminflect import getAllLemmas

    pos = getAllLemmas(word)
    if not pos and "'" in word:  # possessive or contraction of a known word: "friend's"
        pos = getAllLemmas(word.split("'")[0])
    return "|".join(sorted(pos)) if pos else "<unk>"


@cache
def _sentiment_words() -> frozenset[str]:
    from pipeline.gold import vader_lexicon

    return frozenset(w for w, v in vader_lexicon().items() if abs(v) >= 1.0)


FEATURES = ("syntax", "coherence", "unknown_share", "name_excess", "sentiment_excess", "function_deficit")


def features(response: str, prompt: str = "") -> np.ndarray | None:
    """The feature vector of a response read after its prompt; None when it has no words."""
    context, toks = tokens(prompt)[-CONTEXT_TOKENS:], tokens(response)
    words = [t for t in toks if is_word(t)]
    if not words:
        return None
    models = gold_ngram_models()
    classes = [word_class(t) for t in toks]
    skeleton = models.skeleton.log_probs(classes, [word_class(t) for t in context])
    if SKELETON_SLOR:
        skeleton = [lp - math.log(models.skeleton.unigram_prob(c)) for lp, c in zip(skeleton, classes, strict=True)]
    context_words = [t for t in context if is_word(t)][-(WORD_ORDER - 1) :]
    word_lp = models.words.log_probs(words, context_words)
    coherence = [lp - math.log(models.words.unigram_prob(w)) for lp, w in zip(word_lp, words, strict=True)]
    sentiment_words = _sentiment_words()
    return np.array(
        [
            float(np.mean(np.clip(skeleton, *SKELETON_CLIP))),
            float(np.mean(np.clip(coherence, *WORD_CLIP))),
            sum(word_class(w) == "<unk>" for w in words) / len(words),
            max(0.0, sum(word_class(w) == "<name>" for w in words) / len(words) - NAME_SHARE_NORMAL),
            max(0.0, sum(w in sentiment_words for w in words) / len(words) - SENTIMENT_DENSITY_NORMAL),
            max(0.0, FUNCTION_SHARE_NORMAL - sum(w in FUNCTION_WORDS for w in words) / len(words)),
        ]
    )


@dataclass(frozen=True)
class NgramModels:
    skeleton: KneserNey
    words: KneserNey


@dataclass(frozen=True)
class Readability:
    weights: np.ndarray  # per feature, then the intercept
    calibration_accuracy: float  # real vs hard negatives, held-out snippets
    n_calibration: int

    def score(self, response: str, prompt: str = "") -> float:
        """P(response reads as English after the prompt) in [0, 1] times its prose factor; 0 for a response with no words."""
        x = features(response, prompt)
        if x is None:
            return 0.0
        z = float(x @ self.weights[:-1] + self.weights[-1])
        return prose_factor(response) / (1 + math.exp(-max(-50.0, min(50.0, z))))


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-2, steps: int = 60) -> np.ndarray:
    """Weights (per column, then intercept) of P(y=1 | x) = sigmoid(x w + b), L2-penalised Newton (deterministic)."""
    X = np.hstack([x, np.ones((len(x), 1))])
    w = np.zeros(X.shape[1])
    penalty = l2 * np.eye(X.shape[1])
    penalty[-1, -1] = 0.0
    for _ in range(steps):
        p = 1 / (1 + np.exp(-np.clip(X @ w, -50, 50)))
        hessian = X.T @ (X * (p * (1 - p))[:, None]) / len(X) + penalty + 1e-9 * np.eye(X.shape[1])
        w -= np.linalg.solve(hessian, X.T @ (p - y) / len(X) + penalty @ w)
    return w


# ---------------------------------------------------------------- the gold's own text
@cache
def _gold_fortune_entries() -> tuple[list[str], list[str]]:
    """(reserved for the gold, the rest) of the fortune files, each in content-hash order."""
    from pipeline.corpus import content_hash, find_fortune_files, parse_fortunes, reserved_for_gold, without_attribution
    from pipeline.fluency import GOLD_FORTUNE_FILES

    files = find_fortune_files(list(GOLD_FORTUNE_FILES))
    entries = sorted({e.strip() for p in files for e in parse_fortunes(p.read_text("utf-8"))} - {""}, key=content_hash)
    gold = dict.fromkeys(without_attribution(e) for e in entries if reserved_for_gold(e))
    rest = dict.fromkeys(without_attribution(e) for e in entries if not reserved_for_gold(e))
    return [e for e in gold if e], [e for e in rest if e]


def gold_entries() -> tuple[list[str], list[str]]:
    """(fit, calibration): the fortune entries reserved for the gold, split by content hash; never the policy's text."""
    from pipeline.corpus import content_hash

    reserved = _gold_fortune_entries()[0]
    return [e for e in reserved if content_hash(e) < CALIBRATION_FROM], [
        e for e in reserved if content_hash(e) >= CALIBRATION_FROM
    ]


def policy_text() -> list[str]:
    """The fortune text the gold does not own (what the policy pretrains on): the source of babble negatives."""
    return _gold_fortune_entries()[1]


@cache
def gold_ngram_models() -> NgramModels:
    fit, _ = gold_entries()
    seqs = [tokens(e) for e in fit]
    return NgramModels(
        skeleton=KneserNey([[word_class(t) for t in s] for s in seqs], SKELETON_ORDER),
        words=KneserNey([[t for t in s if is_word(t)] for s in seqs], WORD_ORDER),
    )


CACHE_ENV = "RLHF_BENCH_CACHE"  # where fitted gold weights are kept between processes; "off" disables the cache


def fit_fingerprint() -> str:
    """A digest of everything the readability fit reads: the gold's source code, the fortune files, the versions of the
    lexicons (lemminflect, VADER) and numpy, and numpy's kernel pin. Equal digests give bit-identical weights, so a
    cached fit is the fit."""
    import hashlib
    import importlib.metadata
    import inspect

    import pipeline.corpus
    import pipeline.fluency
    import pipeline.gold
    import pipeline.hard_negatives
    import pipeline.ngram

    digest = hashlib.sha256()
    modules = (sys.modules[__name__], pipeline.corpus, pipeline.fluency, pipeline.gold, pipeline.hard_negatives, pipeline.ngram)
    for module in modules:
        digest.update(Path(inspect.getfile(module)).read_bytes())
    for path in pipeline.corpus.find_fortune_files(list(pipeline.fluency.GOLD_FORTUNE_FILES)):
        digest.update(path.name.encode() + path.read_bytes())
    for package in ("lemminflect", "vaderSentiment", "numpy"):
        digest.update(f"{package}=={importlib.metadata.version(package)}".encode())
    digest.update(os.environ.get("NPY_DISABLE_CPU_FEATURES", "").encode())  # numpy's kernels (pipeline/__init__.py)
    return digest.hexdigest()[:16]


def cache_dir() -> Path | None:
    """$RLHF_BENCH_CACHE, else $XDG_CACHE_HOME/rlhf-bench (~/.cache/rlhf-bench); None when the variable is "off"."""
    if (value := os.environ.get(CACHE_ENV)) == "off":
        return None
    return Path(value) if value else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rlhf-bench"


@cache
def gold_readability() -> Readability:
    """The gold's readability model, deterministic: fitted once (about 4 s) and kept in `cache_dir()` under the digest of
    its inputs, so the stages that score gold (preferences, reward model, every curve, evaluate) fit it once per machine
    rather than once per process. A damaged or unwritable cache is refitted or skipped, never trusted."""
    folder = cache_dir()
    path = folder / f"readability-{fit_fingerprint()}.json" if folder else None
    if path is not None and path.is_file():
        try:
            saved = json.loads(path.read_text("utf-8"))
            return Readability(np.array(saved["weights"], dtype=float), saved["calibration_accuracy"], saved["n_calibration"])
        except (OSError, ValueError, KeyError, TypeError):
            pass  # refit below and overwrite it
    model = fit_readability()
    if path is not None:
        saved = {"weights": model.weights.tolist(), "calibration_accuracy": model.calibration_accuracy}
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{os.getpid()}")
            temporary.write_text(json.dumps(saved | {"n_calibration": model.n_calibration}), "utf-8")
            temporary.replace(path)  # atomic: a concurrent stage reads the old file or the whole new one
        except OSError:
            pass  # a read-only home: every process fits, as before
    return model


def fit_readability() -> Readability:
    """Fit the logistic model on the calibration set (real snippets vs hard negatives); a few seconds, deterministic."""
    from pipeline.hard_negatives import calibration_set

    fit, calibration = gold_entries()
    pairs, labels = calibration_set(calibration, fit, policy_text())
    rows = [(features(r, p), y) for (p, r), y in zip(pairs, labels, strict=True)]
    rows = [(x, y) for x, y in rows if x is not None]
    x, y = np.stack([r[0] for r in rows]), np.array([r[1] for r in rows], dtype=float)
    w = fit_logistic(x, y, l2=1e-3)
    accuracy = float(np.mean(((x @ w[:-1] + w[-1]) > 0) == (y == 1)))
    return Readability(weights=w, calibration_accuracy=accuracy, n_calibration=len(y))
