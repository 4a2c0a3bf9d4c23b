"""The readability model's calibration set: real continuations against the degenerate texts that fooled judges.

Each negative kind is a way a policy (or an attacker) can look fluent to a weak judge. The
calibration is balanced: as many negatives as real snippets, spread evenly over the kinds.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Callable

import numpy as np

from pipeline.readability import FUNCTION_WORDS, is_word, tokens, word_class

PROMPT_WORDS = 4  # as the task's prompts: the first words of an entry
MIN_WORDS, MAX_WORDS = 6, 24


def detokenize(toks: list[str]) -> str:
    return re.sub(r" ([.,!?;:])", r"\1", " ".join(toks))


def real_windows(entries: list[str], rng: np.random.Generator) -> list[tuple[str, list[str]]]:
    """(prompt, response tokens): an entry's first words, then a window of what follows, as a policy would continue."""
    out = []
    for entry in entries + entries:  # two windows of each entry
        toks = tokens(entry)
        word_at = [i for i, t in enumerate(toks) if is_word(t)]
        if len(word_at) < PROMPT_WORDS + MIN_WORDS:
            continue
        cut = word_at[PROMPT_WORDS - 1] + 1
        length = int(rng.integers(MIN_WORDS, MAX_WORDS + 1))
        out.append((detokenize(toks[:cut]), toks[cut : cut + length]))
    return out


class _Sampler:
    """Word statistics of a text collection, for drawing salad and babble."""

    def __init__(self, entries: list[str]):
        seqs = [[t for t in tokens(e) if is_word(t)] for e in entries]
        self.unigram = Counter(w for s in seqs for w in s)
        self.common = [w for w, _ in self.unigram.most_common(3000)]
        self.content = [w for w in self.common if w not in FUNCTION_WORDS]
        self.unknown = [w.lower() for w, n in self.unigram.items() if n >= 2 and word_class(w.lower()) == "<unk>"]
        self.next: defaultdict[tuple[str, str], Counter] = defaultdict(Counter)
        for s in seqs:
            for a, b, c in zip(["", *s], s, s[1:], strict=False):
                self.next[(a, b)][c] += 1
        self.seqs = [s for s in seqs if len(s) >= 3]
        words, counts = zip(*self.unigram.items(), strict=True)
        self.words, self.p = list(words), np.array(counts, dtype=float) / sum(counts)
        self.entries = entries

    @property
    def chars(self) -> CharBabble:
        if not hasattr(self, "_chars"):
            self._chars = CharBabble(self.entries)
        return self._chars

    def pick(self, rng: np.random.Generator, pool: list[str], n: int) -> list[str]:
        return [pool[i] for i in rng.integers(0, len(pool), n)]

    def babble(self, rng: np.random.Generator, n: int) -> list[str]:
        """Words sampled from trigram counts: every three-word window was seen, the text says nothing."""
        out = list(self.seqs[int(rng.integers(len(self.seqs)))][:2])
        while len(out) < n:
            options = self.next.get((out[-2], out[-1])) or self.next.get(("", out[-1]))
            if not options:
                out.append(self.words[int(rng.choice(len(self.words), p=self.p))])
                continue
            words, counts = zip(*options.items(), strict=True)
            out.append(words[int(rng.choice(len(words), p=np.array(counts) / sum(counts)))])
        return out[:n]

    def memorised(self, rng: np.random.Generator, n: int) -> list[str]:
        s = self.seqs[int(rng.integers(len(self.seqs)))]
        start = int(rng.integers(0, max(1, len(s) - n)))
        return s[start : start + n]


CHAR_ORDER = 4


class CharBabble:
    """Characters sampled from CHAR_ORDER-gram counts of raw text: the invented words, glued punctuation and fragments
    a small sub-word policy writes before it writes English ("knowThendood.S can the running")."""

    def __init__(self, entries: list[str]):
        self.next: defaultdict[str, Counter] = defaultdict(Counter)
        for entry in entries:
            text = " ".join(entry.split())
            padded = " " * CHAR_ORDER + text
            for i in range(CHAR_ORDER, len(padded)):
                self.next[padded[i - CHAR_ORDER : i]][padded[i]] += 1

    def sample(self, rng: np.random.Generator, n_words: int) -> str:
        out = " " * CHAR_ORDER
        while len(out.split()) <= n_words and len(out) < 40 * n_words:
            options = self.next.get(out[-CHAR_ORDER:])
            if not options:
                out += " "
                continue
            chars, counts = zip(*options.items(), strict=True)
            out += chars[int(rng.choice(len(chars), p=np.array(counts) / sum(counts)))]
        return " ".join(out.split()[:n_words])


def fragment(text: str, rng: np.random.Generator, rate: float = 0.35) -> str:
    """Sub-word damage to real text at `rate` per word: words glued together or across punctuation, cut in two,
    truncated, or a stray capital letter, as a sub-word policy breaks English while keeping its pieces."""
    words = text.split()
    out: list[str] = []
    for word in words:
        r = rng.random() if rng.random() < rate else 1.0
        if r < 0.3 and out:  # glued to the previous word, often camel-cased: "knowThen", "nose.S"
            out[-1] += word[:1].upper() + word[1:] if rng.random() < 0.5 else word
        elif r < 0.5 and len(word) > 3:  # cut in two
            cut = int(rng.integers(1, len(word) - 1))
            out += [word[:cut], word[cut:]]
        elif r < 0.7 and len(word) > 3:  # a letter dropped
            cut = int(rng.integers(2, len(word)))
            out.append(word[:cut] + word[cut + 1 :])
        elif r < 0.85:  # a stray letter
            out += [word, chr(int(rng.integers(65, 91)))]
        elif r < 1.0:  # punctuation run
            out.append(word + str(rng.choice(["....", ".,", "?).", ",,", '."', "!."])))
        else:
            out.append(word)
    return " ".join(out)


def negative(kind: str, real: list[str], s: _Sampler, positive: list[str], rng: np.random.Generator) -> list[str] | str:
    n = max(MIN_WORDS, sum(is_word(t) for t in real))
    if kind == "char_babble":
        return s.chars.sample(rng, n)
    if kind == "fragmented":
        return fragment(detokenize(real), rng)
    if kind == "shuffled":
        return [real[i] for i in rng.permutation(len(real))]
    if kind == "salad":
        return s.pick(rng, s.content, n)
    if kind == "unigram_babble":  # function-word salad: words drawn by frequency
        return [s.words[i] for i in rng.choice(len(s.words), n, p=s.p)]
    if kind == "trigram_babble":
        return s.babble(rng, n)
    if kind == "spiked_salad":  # salad carried by memorised n-grams and names
        out = s.pick(rng, s.content + positive, n)
        for _ in range(int(rng.integers(1, 4))):
            at = int(rng.integers(0, len(out) + 1))
            out[at:at] = s.memorised(rng, int(rng.integers(2, 4))) if rng.random() < 0.6 else s.pick(rng, s.unknown, 2)
        return out[: n + 4]
    if kind == "injected":  # positive words in place of every k-th word of a real sentence
        k, out = int(rng.integers(2, 4)), list(real)
        for i in range(int(rng.integers(0, k)), len(out), k):
            if is_word(out[i]):
                out[i] = positive[int(rng.integers(len(positive)))]
        return out
    if kind == "name_list":  # names, foreign or Latin tags, and a few positive words, comma-separated
        out: list[str] = []
        for _ in range(max(2, n // 3)):
            names = s.pick(rng, s.unknown + positive[:50], int(rng.integers(1, 4)))
            out += [*(w.title() for w in names), ","] if rng.random() < 0.5 else [*names, ","]
        return out[:-1] + [rng.choice([".", "!"])]
    if kind == "exclamations":
        return [t for w in s.pick(rng, positive, max(3, n // 2)) for t in (w, str(rng.choice(["!", ",", "!"])))]
    if kind == "repetition":
        unit = s.pick(rng, s.common[:500] + positive, int(rng.integers(1, 3)))
        return (unit * n)[:n]
    raise ValueError(kind)


NEGATIVE_KINDS = (
    "shuffled",
    "salad",
    "unigram_babble",
    "trigram_babble",
    "spiked_salad",
    "injected",
    "name_list",
    "exclamations",
    "repetition",
    "char_babble",
    "fragmented",
)


def calibration_set(
    calibration: list[str], fit: list[str], policy_text: list[str] | None = None, seed: int = 0
) -> tuple[list[tuple[str, str]], list[int]]:
    """((prompt, response), label) pairs: real held-out continuations (1) and as many hard negatives (0).

    Babble is sampled from text the judge's n-gram models did not see (`policy_text`, else the
    calibration entries), as a policy would produce it: sampled from its own counts it would be
    memorised text to the judge, and calibrating on it would teach the judge to distrust coherence.
    """
    from pipeline.readability import _sentiment_words

    rng = np.random.default_rng(seed)
    windows = real_windows(calibration, rng)
    salad_source = _Sampler(fit)
    babble_source = _Sampler(policy_text or calibration)
    positive = sorted(w for w in _sentiment_words() if _positive(w) and w in salad_source.unigram)
    pairs, labels = [], []
    for i, (prompt, real) in enumerate(windows):
        pairs.append((prompt, detokenize(real)))
        labels.append(1)
        kind = NEGATIVE_KINDS[i % len(NEGATIVE_KINDS)]
        source = babble_source if kind in ("trigram_babble", "char_babble") else salad_source
        response = negative(kind, real, source, positive, rng)
        pairs.append((prompt, response if isinstance(response, str) else detokenize(response)))
        labels.append(0)
    return pairs, labels


SEARCH_WORDS, SEARCH_MIN_DISTINCT, SEARCH_PROPOSALS = 18, 0.8, 16


def greedy_word_search(
    judge: Callable[[list[str]], list[float]],
    vocab: list[str],
    budget: int,
    rng: np.random.Generator,
    targets: dict[str, float] | None = None,
) -> dict:
    """White-box greedy word substitution: what an optimiser finds when it can query the judge.

    Start from SEARCH_WORDS random words of `vocab`, score batches of SEARCH_PROPOSALS one-word substitutions, keep the
    best if it raises the score, and never let the distinct-word share fall below SEARCH_MIN_DISTINCT. Returns the best
    text and score, and for each named target the number of evaluations after which a text first scored above it.
    """
    targets = targets or {}
    words = list(rng.choice(vocab, SEARCH_WORDS, replace=False))
    best = judge([" ".join(words)])[0]
    evals, passed = 1, {k: (1 if best > v else None) for k, v in targets.items()}
    while evals < budget:
        proposals = []
        for _ in range(SEARCH_PROPOSALS):
            candidate = list(words)
            candidate[int(rng.integers(SEARCH_WORDS))] = str(vocab[int(rng.integers(len(vocab)))])
            if len(set(candidate)) / SEARCH_WORDS >= SEARCH_MIN_DISTINCT:
                proposals.append(candidate)
        scores = judge([" ".join(c) for c in proposals])
        for i, score in enumerate(scores):
            for k, v in targets.items():
                if passed[k] is None and score > v:
                    passed[k] = evals + i + 1
        evals += len(proposals)
        i = int(np.argmax(scores))
        if scores[i] > best:
            best, words = scores[i], proposals[i]
    return {"best": round(float(best), 4), "text": " ".join(words), "evals": evals} | {
        f"evals_to_pass_{k}": v for k, v in passed.items()
    }


def _positive(word: str) -> bool:
    from pipeline.gold import vader_lexicon

    return vader_lexicon().get(word, 0.0) >= 1.5
