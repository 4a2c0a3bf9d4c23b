"""Per-sample metrics on hand-built records, and the KL estimators against an exact KL."""

import math

import numpy as np
import pytest

from metrics import get_metric, kl_k1, metric_info, repetition_rate, weighted_perplexity, win_score
from metrics.sample_metrics import ended_with_eos, length, proxy_gold_gap, ref_logprob_and_length


def record(**fields):
    base = {
        "prompt_id": 0,
        "sample_idx": 0,
        "response": "",
        "response_ids": [],
        "n_tokens": 0,
        "ended_with_eos": False,
        "logprob": 0.0,
        "ref_logprob": 0.0,
        "gold_reward": 0.0,
        "proxy_reward": 0.0,
        "proxy_reward_norm": 0.0,
    }
    return base | fields


def test_reward_fields_and_gap():
    r = record(gold_reward=0.25, gold_reward_norm=0.5, proxy_reward=3.0, proxy_reward_norm=1.5)
    assert [get_metric(n).fn(r) for n in ("gold_reward", "gold_reward_norm", "proxy_reward", "proxy_reward_norm")] == [
        0.25,
        0.5,
        3.0,
        1.5,
    ]
    assert proxy_gold_gap(r) == 1.0  # in common (standardised) units, not raw gold


def test_kl_k1_by_hand():
    assert kl_k1(record(logprob=-2.0, ref_logprob=-3.0)) == 1.0
    assert kl_k1(record(logprob=-3.0, ref_logprob=-1.0)) == -2.0  # one sample can be negative; only the mean is a KL


def test_no_sequence_level_k3_metric():
    """Dropped: at large KL it only tracked k1 (32.3 vs 33.3 nats) and can overflow to inf; k1 is the KL metric."""
    assert "kl_k3" not in metric_info()


def test_kl_k1_matches_exact_kl_in_expectation():
    p = np.array([0.5, 0.2, 0.2, 0.1])
    q = np.array([0.25, 0.25, 0.25, 0.25])
    exact = float(np.sum(p * np.log(p / q)))
    x = np.random.default_rng(0).choice(4, size=50_000, p=p)
    records = [record(logprob=lp, ref_logprob=lq) for lp, lq in zip(np.log(p[x]), np.log(q[x]), strict=True)]
    values = np.array([kl_k1(r) for r in records])
    stderr = values.std() / math.sqrt(values.size)
    assert abs(values.mean() - exact) < 4 * stderr


def test_win_score_with_ties():
    assert [win_score(1.0, 0.0), win_score(0.3, 0.3), win_score(-1.0, 0.0)] == [1.0, 0.5, 0.0]
    wins = [
        get_metric("win_rate_vs_base").fn(record(gold_reward=g, base_gold_reward=b)) for g, b in [(1, 0), (2, 2), (0, 1), (3, 1)]
    ]
    assert np.mean(wins) == 0.625


def test_perplexity_is_token_weighted_not_a_mean_of_perplexities():
    records = [record(ref_logprob=-10.0, n_tokens=10), record(ref_logprob=-1.0, n_tokens=1), record(ref_logprob=-9.0, n_tokens=3)]
    pairs = np.array([ref_logprob_and_length(r) for r in records])
    assert weighted_perplexity(pairs) == pytest.approx(math.exp(20.0 / 14.0))
    mean_of_ppl = np.mean([math.exp(1.0), math.exp(1.0), math.exp(3.0)])
    assert weighted_perplexity(pairs) != pytest.approx(mean_of_ppl)
    assert math.isnan(weighted_perplexity(np.zeros((0, 2))))


def test_length_eos_repetition():
    assert length(record(n_tokens=7)) == 7.0
    assert [ended_with_eos(record(ended_with_eos=e)) for e in (True, False)] == [1.0, 0.0]
    # bigrams of 1 2 1 2 1: (1,2) (2,1) (1,2) (2,1): 2 unique of 4
    assert repetition_rate([1, 2, 1, 2, 1]) == 0.5
    assert repetition_rate([1, 2, 3, 4]) == 0.0
    assert repetition_rate([7]) == 0.0 and repetition_rate([]) == 0.0
    assert repetition_rate([5, 5, 5, 5], n=1) == 0.75
    assert get_metric("repetition").fn(record(response_ids=[1, 2, 1, 2, 1])) == 0.5
