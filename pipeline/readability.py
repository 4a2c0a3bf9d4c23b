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
- structure: the logit of a discriminator over the skeleton's 1-3-grams (which word orders English has), fitted on the
  gold's fit text against hard negatives and against what greedy word search finds (below); a mean n-gram probability
  rewards salad whose part-of-speech transitions are each likely, a discriminator learns which sequences are not English;
each measured on the response as a continuation of the prompt's last words. The features read words and
sentence punctuation only, so text that is mostly runs of dots, tabs and symbols is gated apart: P(English)
is multiplied by a prose factor, 1 while symbols stay within prose's range and 0 when half the characters
are symbols.

A logistic model maps the features to P(real text). It is fitted on text the base policy never
saw: the fortune entries reserved for the gold by content hash (pipeline.corpus.reserved_for_gold,
removed from the policy's corpus), and calibrated on held-out real snippets against hard
negatives of every kind we have seen fool a judge: shuffled words, frequency-weighted salad,
salad spiked with memorised n-grams, positive words injected into real sentences, babble
sampled from word-trigram counts, name and foreign-tag lists, exclamation lists, repetition. Then, in a few
adversarial rounds, white-box greedy word search (pipeline.hard_negatives.greedy_word_search, the attack of
bench/gold_attack.py, on the gold's own vocabulary and prompts) is run against the gold the current fit makes, and what
it finds joins the negatives of the next fit. The fit takes minutes, so it ships with the code (readability_fit.json,
keyed by the digest of the gold's code, data and lexicon versions; `python -m pipeline.readability` rewrites it).
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
# sentence marks per token: the median 100-token window of the gold's fit text has 0.125, the 95th percentile 0.27; a
# text of words between marks dilutes every per-token mean with easy tokens
MARK_SHARE_NORMAL = 0.25
FUNCTION_SHARE_NORMAL = 0.3  # English sentences are about 40-55% function words; content-word salad has few
# share of a text's visible characters that are neither letters nor apostrophes: up to the first it is prose (the 99th
# percentile of 100-character windows of the gold's fortune entries is 0.19, the median 0.04), from the second it is
# not (a few words between runs of dots, tabs and symbols, "...in...... his", what a small policy learns first)
SYMBOL_SHARE_PROSE, SYMBOL_SHARE_NONE = 0.2, 0.5


def symbol_share(text: str) -> float:
    """Share of the visible characters that are not letters or apostrophes (punctuation, digits, symbols)."""
    visible = [c for c in text if not c.isspace()]
    return sum(not (c.isalpha() or c in "'\u2019") for c in visible) / max(1, len(visible))


# the marks sub-word text leaves that English does not: a capital inside a word ("knowThendood"), sentence punctuation
# glued to the next word ("nose.S", "?).I"), a stray capital letter that is not "I", "A" or "O" or an initial, and a
# run of marks other than "...", "!!" or "?!"
MALFORMED = re.compile(r"[a-z][A-Z]|[A-Za-z]{2}[.,!?;:]+[\"')\]]*[A-Za-z]|(?<![A-Za-z.])[B-HJ-NP-Z](?![A-Za-z.'])|[.,!?;:]{2,}")
ALLOWED_RUNS = re.compile(r"(?<![.,!?;:])(?:\.\.\.|[!?]+)(?![.,!?;:])")


def malformed_share(text: str) -> float:
    """Marks of broken sub-word text (MALFORMED) per word, capped at 1."""
    words = len(text.split())
    if not words:
        return 0.0
    return min(1.0, len(MALFORMED.findall(ALLOWED_RUNS.sub(" ", text))) / words)


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


FEATURES = (
    "syntax",
    "coherence",
    "unknown_share",
    "name_excess",
    "sentiment_excess",
    "function_deficit",
    "malformed",
    "mark_excess",
    "structure",
)
# the direction each feature may move P(English): a fit on searched salad of common words must not learn that unknown
# words or missing function words make a text read better
FEATURE_SIGNS = (1, 1, -1, -1, -1, -1, -1, -1, 1)


def features(response: str, prompt: str = "", structure: StructureModel | None = None) -> np.ndarray | None:
    """The feature vector (FEATURES) of a response read after its prompt, without `structure` while that model is being
    fitted (structure=None); None when the response has no words."""
    context, toks = tokens(prompt)[-CONTEXT_TOKENS:], tokens(response)
    words = [t for t in toks if is_word(t)]
    if not words:
        return None
    models = gold_ngram_models()
    classes, context_classes = [word_class(t) for t in toks], [word_class(t) for t in context]
    skeleton = models.skeleton.log_probs(classes, context_classes)
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
            malformed_share(response),
            max(0.0, (len(toks) - len(words)) / len(toks) - MARK_SHARE_NORMAL),
            *([] if structure is None else [structure.logit(classes, context_classes)]),
        ]
    )


# ---------------------------------------------------------------- structure: a discriminator over skeleton n-grams
STRUCTURE_ORDER = 3
STRUCTURE_CLIP = 8.0  # bounds the structure logit: no word order makes a text certain
STRUCTURE_L2 = 1e-4


def skeleton_ngrams(classes: list[str], context: list[str]) -> list[tuple[str, ...]]:
    """Every skeleton n-gram (n = 1..STRUCTURE_ORDER) that ends on a response token, read after the prompt's classes."""
    history = list(context[len(context) - (STRUCTURE_ORDER - 1) :]) if context else []
    padded = ["<s>"] * (STRUCTURE_ORDER - 1 - len(history)) + history + list(classes)
    start = len(padded) - len(classes)
    return [tuple(padded[i - n + 1 : i + 1]) for i in range(start, len(padded)) for n in range(1, STRUCTURE_ORDER + 1)]


@dataclass(frozen=True)
class StructureModel:
    """Logistic P(real | skeleton n-grams, length-normalised): the word orders English has, against the salad and
    babble of the hard negatives and of greedy search. Its logit is one feature of the readability model."""

    weights: dict[tuple[str, ...], float]
    bias: float

    def logit(self, classes: list[str], context: list[str]) -> float:
        total = sum(self.weights.get(g, 0.0) for g in skeleton_ngrams(classes, context))
        return max(-STRUCTURE_CLIP, min(STRUCTURE_CLIP, self.bias + total / max(1, len(classes))))


def fit_structure(pairs: list[tuple[str, str]], labels: list[int]) -> StructureModel:
    """L2-penalised logistic regression on (prompt, response) pairs' skeleton n-grams (L-BFGS; deterministic)."""
    from scipy.optimize import minimize
    from scipy.sparse import csr_matrix

    index: dict[tuple[str, ...], int] = {}
    rows, cols, values = [], [], []
    for row, (prompt, response) in enumerate(pairs):
        classes = [word_class(t) for t in tokens(response)]
        for gram in skeleton_ngrams(classes, [word_class(t) for t in tokens(prompt)]):
            rows.append(row)
            cols.append(index.setdefault(gram, len(index)))
            values.append(1.0 / max(1, len(classes)))
    x = csr_matrix((values, (rows, cols)), shape=(len(pairs), len(index)))
    y = np.asarray(labels, dtype=float)

    def loss_and_gradient(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ w[:-1] + w[-1]
        residual = 1 / (1 + np.exp(-np.clip(z, -50, 50))) - y
        loss = np.mean(np.logaddexp(0, z) - y * z) + STRUCTURE_L2 * float(w[:-1] @ w[:-1])
        return loss, np.append(x.T @ residual / len(y) + 2 * STRUCTURE_L2 * w[:-1], np.mean(residual))

    w = minimize(loss_and_gradient, np.zeros(len(index) + 1), jac=True, method="L-BFGS-B", options={"maxiter": 500}).x
    # rounded and pruned here, so the shipped JSON is this model exactly
    return StructureModel({g: round(float(w[i]), 6) for g, i in index.items() if abs(w[i]) >= 1e-4}, float(w[-1]))


@dataclass(frozen=True)
class NgramModels:
    skeleton: KneserNey
    words: KneserNey


@dataclass(frozen=True)
class Readability:
    weights: np.ndarray  # per feature, then the intercept
    structure: StructureModel
    calibration_accuracy: float  # real vs hard negatives, held-out snippets
    n_calibration: int
    search_rounds: tuple[dict, ...] = ()  # per adversarial round: what greedy search reached against that round's judge

    def score(self, response: str, prompt: str = "") -> float:
        """P(response reads as English after the prompt) in [0, 1] times its prose factor; 0 for a response with no words."""
        x = features(response, prompt, self.structure)
        if x is None:
            return 0.0
        z = float(x @ self.weights[:-1] + self.weights[-1])
        return prose_factor(response) / (1 + math.exp(-max(-50.0, min(50.0, z))))


def fit_logistic(
    x: np.ndarray, y: np.ndarray, l2: float = 1e-2, steps: int = 60, signs: tuple[int, ...] | None = None
) -> np.ndarray:
    """Weights (per column, then intercept) of P(y=1 | x) = sigmoid(x w + b), L2-penalised, deterministic: Newton's
    method, or with `signs` (+1 or -1 per column: the direction a feature may move P(real)) bounded L-BFGS."""
    X = np.hstack([x, np.ones((len(x), 1))])
    penalty = l2 * np.eye(X.shape[1])
    penalty[-1, -1] = 0.0
    if signs is not None:
        from scipy.optimize import minimize

        def loss_and_gradient(w: np.ndarray) -> tuple[float, np.ndarray]:
            z = X @ w
            residual = 1 / (1 + np.exp(-np.clip(z, -50, 50))) - y
            return float(np.mean(np.logaddexp(0, z) - y * z) + 0.5 * w @ penalty @ w), X.T @ residual / len(y) + penalty @ w

        bounds = [(0.0, None) if sign > 0 else (None, 0.0) for sign in signs] + [(None, None)]
        return minimize(loss_and_gradient, np.zeros(X.shape[1]), jac=True, method="L-BFGS-B", bounds=bounds).x
    w = np.zeros(X.shape[1])
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
    """A digest of everything the readability fit reads: the gold's source code, the fortune files and the versions of
    the lexicons (lemminflect, VADER) and numpy. Equal digests give bit-identical weights, so a cached fit is the fit."""
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
    return digest.hexdigest()[:16]


def cache_dir() -> Path | None:
    """$RLHF_BENCH_CACHE, else $XDG_CACHE_HOME/rlhf-bench (~/.cache/rlhf-bench); None when the variable is "off"."""
    if (value := os.environ.get(CACHE_ENV)) == "off":
        return None
    return Path(value) if value else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "rlhf-bench"


SHIPPED_FIT = Path(__file__).with_name(
    "readability_fit.json"
)  # the fit, shipped as a lexicon is: `python -m pipeline.readability`


def to_json(model: Readability, fingerprint: str) -> dict:
    grams = {" ".join(g): w for g, w in sorted(model.structure.weights.items())}
    return {
        "fingerprint": fingerprint,
        "weights": model.weights.tolist(),
        "calibration_accuracy": model.calibration_accuracy,
        "n_calibration": model.n_calibration,
        "search_rounds": list(model.search_rounds),
        "structure": {"bias": model.structure.bias, "grams": grams},
    }


def from_json(saved: dict) -> Readability:
    structure = StructureModel(
        {tuple(g.split(" ")): float(w) for g, w in saved["structure"]["grams"].items()}, saved["structure"]["bias"]
    )
    return Readability(
        np.array(saved["weights"], dtype=float),
        structure,
        saved["calibration_accuracy"],
        saved["n_calibration"],
        tuple(saved.get("search_rounds", ())),
    )


def _load(path: Path | None, fingerprint: str) -> Readability | None:
    if path is None or not path.is_file():
        return None
    try:
        saved = json.loads(path.read_text("utf-8"))
        return from_json(saved) if saved["fingerprint"] == fingerprint else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # damaged: refit and overwrite


@cache
def gold_readability() -> Readability:
    """The gold's readability model, deterministic. Its fit (a few minutes: adversarial rounds of greedy search) ships in
    SHIPPED_FIT, keyed by the digest of its inputs; a gold whose code or data changed is refitted once per machine and
    kept in `cache_dir()`. A damaged or stale file is refitted, never trusted; an unwritable cache is skipped."""
    fingerprint = fit_fingerprint()
    if (model := _load(SHIPPED_FIT, fingerprint)) is not None:
        return model
    folder = cache_dir()
    path = folder / f"readability-{fingerprint}.json" if folder else None
    if (model := _load(path, fingerprint)) is not None:
        return model
    print(
        f"rlhf-bench: the gold's shipped fit ({SHIPPED_FIT.name}) does not match its code or data: refitting (minutes);"
        " run `python -m pipeline.readability` to ship the new fit",
        file=sys.stderr,
    )
    model = fit_readability()
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{os.getpid()}")
            temporary.write_text(json.dumps(to_json(model, fingerprint)), "utf-8")
            temporary.replace(path)  # atomic: a concurrent stage reads the old file or the whole new one
        except OSError:
            pass  # a read-only home: every process fits
    return model


# adversarial rounds: greedy word search against the judge of each round gives negatives for the next
SEARCH_ROUNDS, SEARCH_RESTARTS, SEARCH_BUDGET = 10, 48, 2000
SEARCH_WEIGHT = 10  # how many times each found text counts: a few dozen texts against thousands of hard negatives


def fit_readability(rounds: int = SEARCH_ROUNDS, restarts: int = SEARCH_RESTARTS, budget: int = SEARCH_BUDGET) -> Readability:
    """Fit the structure model and the logistic model (real snippets vs hard negatives), then `rounds` times: run greedy
    word search against the gold this model makes, and refit with what it found among the negatives (half for the
    structure model, half for the calibration). Deterministic; the search uses only the gold's own fit text."""
    from pipeline.hard_negatives import _Sampler, calibration_set, real_windows

    fit, calibration = gold_entries()
    structure_pairs, structure_labels = calibration_set(fit, fit, policy_text(), seed=1)
    pairs, labels = calibration_set(calibration, fit, policy_text())
    sampler = _Sampler(fit)
    # the searcher's moves: common words, sentence marks and the unknown words of the fit text, so it can try what a
    # sub-word policy writes (marks and rare words), not only salad of common words
    vocab = sampler.common + list(".,!?;:") + ["...", '"', "--"] + sampler.unknown[:500]
    prompts = [p for p, _ in real_windows(fit, np.random.default_rng(2))]
    found: list[tuple[str, str]] = []
    history: list[dict] = []
    for round_ in range(rounds + 1):
        for_structure, for_calibration = found[0::2] * SEARCH_WEIGHT, found[1::2] * SEARCH_WEIGHT
        structure = fit_structure(structure_pairs + for_structure, structure_labels + [0] * len(for_structure))
        model = _calibrate(structure, pairs + for_calibration, labels + [0] * len(for_calibration), len(pairs))
        if round_ == rounds:
            return Readability(model.weights, structure, model.calibration_accuracy, model.n_calibration, tuple(history))
        chosen = np.random.default_rng([2, round_]).integers(len(prompts), size=restarts)
        jobs = [(prompts[int(j)], (3, round_, i)) for i, j in enumerate(chosen)]
        results = _parallel_search(model, vocab, budget, jobs)
        found += [(prompt, r["text"]) for (prompt, _), r in zip(jobs, results, strict=True)]
        best = [r["best"] for r in results]
        history.append({"round": round_, "search_best_mean": round(float(np.mean(best)), 4), "search_best_max": max(best)})
        print(
            f"rlhf-bench: gold fit, search round {round_}: best {history[-1]['search_best_mean']:+.3f} mean, "
            f"{max(best):+.3f} max",
            file=sys.stderr,
            flush=True,
        )


_SEARCH_STATE: dict = {}  # what forked search workers read: the round's model, vocabulary and budget


def _search(job: tuple[str, tuple[int, ...]]) -> dict:
    from pipeline.fluency import distinct_word_share
    from pipeline.gold import fluent_sentiment_score, vader
    from pipeline.hard_negatives import greedy_word_search

    prompt, seed = job
    model = _SEARCH_STATE["model"]

    def judge(texts: list[str]) -> list[float]:
        return [
            fluent_sentiment_score(s, model.score(t, prompt), distinct_word_share(t))
            for s, t in zip(vader(texts), texts, strict=True)
        ]

    return greedy_word_search(judge, _SEARCH_STATE["vocab"], _SEARCH_STATE["budget"], np.random.default_rng(seed))


def _parallel_search(model: Readability, vocab: list[str], budget: int, jobs: list) -> list[dict]:
    """Each restart has its own seed, so the results do not depend on how many processes run them."""
    import multiprocessing

    _SEARCH_STATE.update(model=model, vocab=vocab, budget=budget)
    workers = min(len(jobs), os.cpu_count() or 1, int(os.environ.get("RLHF_BENCH_FIT_WORKERS", "2")))
    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return [_search(job) for job in jobs]
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        return pool.map(_search, jobs, chunksize=1)


def _calibrate(structure: StructureModel, pairs: list, labels: list[int], n_plain: int) -> Readability:
    """The logistic model over FEATURES; its accuracy is on the first `n_plain` pairs (real vs the fixed hard negatives)."""
    rows = [(features(r, p, structure), y, i < n_plain) for i, ((p, r), y) in enumerate(zip(pairs, labels, strict=True))]
    rows = [row for row in rows if row[0] is not None]
    x, y = np.stack([r[0] for r in rows]), np.array([r[1] for r in rows], dtype=float)
    w = fit_logistic(x, y, l2=1e-3, signs=FEATURE_SIGNS)
    plain = np.array([r[2] for r in rows])
    accuracy = float(np.mean((((x @ w[:-1] + w[-1]) > 0) == (y == 1))[plain]))
    return Readability(weights=w, structure=structure, calibration_accuracy=accuracy, n_calibration=int(plain.sum()))


def main() -> int:
    """Refit the gold's readability model and ship it (SHIPPED_FIT); run after changing the gold's code or data."""
    import time

    start = time.perf_counter()
    model = fit_readability()
    seconds = round(time.perf_counter() - start, 1)
    SHIPPED_FIT.write_text(json.dumps(to_json(model, fit_fingerprint()) | {"fit_seconds": seconds}, indent=0) + "\n", "utf-8")
    print(f"wrote {SHIPPED_FIT} in {seconds:.0f} s; calibration accuracy {model.calibration_accuracy:.3f}")
    for r in model.search_rounds:
        print(
            f"  round {r['round']}: greedy search reached gold {r['search_best_mean']:+.3f} mean, {r['search_best_max']:+.3f} max"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
