"""Diversity: distinct-n, EAD and self-BLEU by hand, multiset scoring, agreement with sacrebleu."""

import math
import random

import numpy as np
import pytest
import sacrebleu

from metrics import NgramIndex, SelfBleuIndex, distinct_n, ead, expected_distinct, self_bleu


def test_distinct_n_by_hand():
    responses = [[1, 2, 3], [1, 2, 4]]
    assert distinct_n(responses, 1) == 4 / 6
    assert distinct_n(responses, 2) == 3 / 4  # (1,2) twice, (2,3), (2,4)
    assert distinct_n(responses, 3) == 1.0
    assert distinct_n([[1]], 2) == 0.0 and distinct_n([], 1) == 0.0


def test_ead_by_hand_with_small_vocabulary():
    # V = 4, C = 6 tokens, 4 unique: EAD = 4 / (4 * (1 - (3/4)^6))
    assert ead([[0, 1, 2], [3, 0, 1]], vocab_size=4) == pytest.approx(4 / (4 * (1 - 0.75**6)))
    # bigrams: (0,1) (1,2) (3,0) (0,1): 3 unique of C = 4, V stays 4
    assert ead([[0, 1, 2], [3, 0, 1]], vocab_size=4, n=2) == pytest.approx(3 / (4 * (1 - 0.75**4)))
    # one draw always gives one distinct token: EAD of a single token is 1 for any V
    assert ead([[9]], vocab_size=50_000) == pytest.approx(1.0)
    assert expected_distinct(10**6, 50_000) == pytest.approx(50_000 * (1 - math.exp(-20.0)))
    assert ead([[]], vocab_size=10) == 0.0


def test_self_bleu_identical_disjoint_and_degenerate_sets():
    assert self_bleu(["the cat sat on the mat"] * 3) == pytest.approx(1.0)
    assert self_bleu(["the cat sat on the mat", "a dog ran far away", "green ideas sleep furiously now"]) == 0.0
    assert math.isnan(self_bleu(["only one"])) and math.isnan(self_bleu([]))
    assert self_bleu(["", ""]) == 0.0 and self_bleu(["", "a b c"]) == 0.0


def naive_self_bleu(texts):
    return np.mean([sacrebleu.sentence_bleu(t, texts[:i] + texts[i + 1 :]).score / 100 for i, t in enumerate(texts)])


def test_self_bleu_matches_sacrebleu_sentence_bleu():
    words = "the a cat dog sat on mat . , hello world is was big".split()
    rng = random.Random(0)
    for _ in range(40):
        texts = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 12))) for _ in range(rng.randint(2, 6))]
        texts[-1] = texts[0] if rng.random() < 0.3 else texts[-1]
        assert self_bleu(texts) == pytest.approx(naive_self_bleu(texts), abs=1e-12)


def test_multiset_scores_equal_materialised_multisets():
    rng = np.random.default_rng(0)
    responses = [list(rng.integers(0, 8, size=rng.integers(0, 7))) for _ in range(6)]
    texts = [" ".join(f"w{t}" for t in r) for r in responses]
    index, bleu = NgramIndex(responses, 2), SelfBleuIndex(texts)
    for _ in range(10):
        mult = rng.integers(0, 3, size=6)
        copies = [r for r, m in zip(responses, mult, strict=True) for _ in range(m)]
        assert index.distinct(mult) == pytest.approx(distinct_n(copies, 2))
        assert index.ead(mult, vocab_size=8) == pytest.approx(ead(copies, 8, 2))
        present = [t for t, m in zip(texts, mult, strict=True) if m]
        if len(present) >= 2:  # copies are not references of themselves: score each text against the other texts
            scores = [sacrebleu.sentence_bleu(t, present[:i] + present[i + 1 :]).score / 100 for i, t in enumerate(present)]
            assert bleu.score(mult) == pytest.approx(np.average(scores, weights=mult[mult > 0]))
