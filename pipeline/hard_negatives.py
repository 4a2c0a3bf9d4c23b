"""The readability model's calibration set: real continuations against the degenerate texts that fooled judges.

Each negative kind is a way a policy (or an attacker) can look fluent to a weak judge. The
calibration is balanced: as many negatives as real snippets, spread evenly over the kinds.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict

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


def negative(kind: str, real: list[str], s: _Sampler, positive: list[str], rng: np.random.Generator) -> list[str]:
    n = max(MIN_WORDS, sum(is_word(t) for t in real))
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
        source = babble_source if kind == "trigram_babble" else salad_source
        pairs.append((prompt, detokenize(negative(kind, real, source, positive, rng))))
        labels.append(0)
    return pairs, labels


def _positive(word: str) -> bool:
    from pipeline.gold import vader_lexicon

    return vader_lexicon().get(word, 0.0) >= 1.5
