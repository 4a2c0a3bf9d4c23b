"""Copying of the pretraining corpus: word n-gram index, its agreement with a plain set of tuples, the registered metric."""

import random

import numpy as np
import pytest

from metrics import evaluate_policy, get_metric
from metrics.copying import COPY_NGRAM, CorpusNgramIndex, copies_corpus, window_hashes, words

CORPUS = [
    "You will be advised by a stranger\nto take the long road home before the sun goes down.",
    "A journey of a thousand miles begins with a single step, said the old man.",
]


def test_words_ignore_case_and_punctuation_but_keep_contractions():
    assert words("Don't PANIC -- it's 42, O'Brien!") == ["don't", "panic", "it's", "42", "o'brien"]
    assert words("under_score\tand\nlines") == ["under", "score", "and", "lines"]
    assert words("") == []


def test_window_hashes_depend_on_the_words_and_their_order():
    ids = np.array([11, 22, 33, 44, 11, 22, 33], dtype=np.uint64)
    h = window_hashes(ids, 3)
    assert h.size == 5 and h[0] == h[4] and len({int(x) for x in h[:4]}) == 4  # (11,22,33) twice
    assert window_hashes(ids[[1, 0, 2]], 3)[0] != h[0]  # same words, another order
    assert window_hashes(ids[:2], 3).size == 0
    with pytest.raises(ValueError):
        window_hashes(ids, 0)


def test_an_eight_word_copy_counts_whatever_its_case_punctuation_and_line_breaks():
    index = CorpusNgramIndex(CORPUS)
    assert index.copies("Well... TAKE the long road home, before the sun goes: and then?")  # 8 corpus words in a row
    assert index.copies("Stranger to take the long road home before")  # spans the corpus entry's line break
    assert not index.copies("take the long road home before the moon goes down")  # 7 words, then a change
    assert not index.copies("the long road home")  # shorter than 8 words


def test_windows_do_not_cross_corpus_entries():
    index = CorpusNgramIndex(CORPUS)
    # the end of entry 0 and the start of entry 1 were never written together
    assert not index.copies("the sun goes down a journey of a thousand")
    assert index.copies("a journey of a thousand miles begins with")


def test_index_agrees_with_a_plain_set_of_word_tuples():
    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(6)]  # a tiny vocabulary makes chance 8-gram matches common
    corpus = [" ".join(rng.choices(vocab, k=rng.randint(5, 40))) for _ in range(60)]
    truth = {tuple(ws[i : i + COPY_NGRAM]) for t in corpus if (ws := words(t)) for i in range(len(ws) - COPY_NGRAM + 1)}
    index = CorpusNgramIndex(corpus)
    assert len(index) == len(truth)
    responses = [" ".join(rng.choices(vocab, k=rng.randint(0, 20))) for _ in range(300)]
    expected = [
        any(tuple(ws[i : i + COPY_NGRAM]) in truth for i in range(len(ws) - COPY_NGRAM + 1)) for ws in map(words, responses)
    ]
    assert [index.copies(r) for r in responses] == expected
    assert 0 < sum(expected) < len(expected)


def test_empty_corpus_copies_nothing():
    assert len(CorpusNgramIndex([])) == 0 and not CorpusNgramIndex([]).copies(CORPUS[0])


def test_metric_is_the_share_of_copying_responses_and_needs_the_index():
    index = CorpusNgramIndex(CORPUS)
    texts = [CORPUS[1], "something new and entirely my own words here today", CORPUS[0].upper(), "short"]
    recs = [
        {
            "prompt_id": i // 2,
            "sample_idx": i % 2,
            "response": t,
            "response_ids": [1, 2],
            "n_tokens": 2,
            "ended_with_eos": True,
            "logprob": -1.0,
            "ref_logprob": -1.0,
            "proxy_reward": 0.0,
            "proxy_reward_norm": 0.0,
        }
        for i, t in enumerate(texts)
    ]
    assert [copies_corpus(r, index) for r in recs] == [1.0, 0.0, 1.0, 0.0]
    out = evaluate_policy(recs, None, vocab_size=10, n_boot=50, context={"corpus_ngrams": index})
    assert out["corpus_copy_rate"]["mean"] == 0.5
    assert 0.0 <= out["corpus_copy_rate"]["ci_low"] <= 0.5 <= out["corpus_copy_rate"]["ci_high"] <= 1.0
    assert "corpus_copy_rate" not in evaluate_policy(recs, None, vocab_size=10, n_boot=20)  # no corpus, no metric
    assert get_metric("corpus_copy_rate").higher_is_better is False
