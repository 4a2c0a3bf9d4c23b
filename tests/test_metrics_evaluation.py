"""evaluate_policy on hand-built samples, win rate against base, best-of-n selection and its KL."""

import math

import numpy as np
import pytest
import sacrebleu

from metrics import best_of_n, best_of_n_kl, best_of_n_weights, compute_metric, delta_vs_base, evaluate_policy, metric_info


def sample(prompt_id, sample_idx, text, ids, gold=0.0, proxy=0.0, logprob=-1.0, ref_logprob=-1.0, eos=True):
    return {
        "prompt_id": prompt_id,
        "prompt": f"p{prompt_id}",
        "policy": "ppo",
        "sample_idx": sample_idx,
        "response": text,
        "response_ids": ids,
        "n_tokens": len(ids),
        "ended_with_eos": eos,
        "logprob": logprob,
        "ref_logprob": ref_logprob,
        "gold_reward": gold,
        "gold_reward_norm": gold * 2,
        "proxy_reward": proxy,
        "proxy_reward_norm": proxy / 2,
    }


POLICY = [
    sample(0, 0, "a b c", [1, 2, 3], gold=1.0, proxy=0.5, logprob=-3.0, ref_logprob=-4.0),
    sample(0, 1, "a b a b", [1, 2, 1, 2], gold=0.0, proxy=0.7, logprob=-2.0, ref_logprob=-2.0, eos=False),
    sample(1, 0, "d e", [4, 5], gold=0.5, proxy=0.1, logprob=-1.0, ref_logprob=-3.0),
    sample(1, 1, "d e", [4, 5], gold=0.5, proxy=0.3, logprob=-1.5, ref_logprob=-1.0),
]
BASE = [
    sample(0, 0, "x", [9], gold=0.0),
    sample(0, 1, "y", [8], gold=0.0),
    sample(1, 0, "z", [7], gold=1.0),
    sample(1, 1, "w", [6], gold=0.2),
]


def test_evaluate_policy_hand_computed():
    out = evaluate_policy(POLICY, BASE, vocab_size=10, n_boot=200)
    # no corpus index given (tests/test_metrics_copying.py); no gold parts in the records (a scorer without parts)
    assert set(out) == set(metric_info()) - {"corpus_copy_rate", "gold_sentiment", "gold_fluency", "gold_repetition"}
    expect = {
        "gold_reward": 0.5,
        "proxy_reward": 0.4,
        "proxy_gold_gap": 0.2 - 1.0,
        "gold_reward_norm": 1.0,
        "length": 11 / 4,
        "eos_rate": 0.75,
        "kl": (1.0 + 0.0 + 2.0 - 0.5) / 4,
        "win_rate_vs_base": (1 + 0.5 + 0 + 1) / 4,  # a tie on prompt 0, sample 1
        "repetition": (0 + 1 / 3 + 0 + 0) / 4,
        "perplexity": math.exp(10.0 / 11.0),
        "distinct_1_per_input": (3 / 7 + 2 / 4) / 2,
        "distinct_2_per_input": (3 / 5 + 1 / 2) / 2,
        "distinct_1_across_input": 1.0,
        "distinct_3_across_input": 1.0,
        "ead_per_input": (3 / (10 * (1 - 0.9**7)) + 2 / (10 * (1 - 0.9**4))) / 2,
        "ead_across_input": 5 / (10 * (1 - 0.9**5)),
        "self_bleu_per_input": (
            sacrebleu.sentence_bleu("a b c", ["a b a b"]).score / 100
            + sacrebleu.sentence_bleu("a b a b", ["a b c"]).score / 100
            + 2.0
        )
        / 4,
        "self_bleu_across_input": 0.0,
    }
    for name, value in expect.items():
        assert out[name]["mean"] == pytest.approx(value), name
    for name, ci in out.items():
        if not math.isnan(ci["ci_low"]):
            assert ci["ci_low"] - 1e-12 <= ci["mean"] <= ci["ci_high"] + 1e-12, name


def test_evaluate_policy_is_seeded_and_base_against_itself_is_even():
    first = evaluate_policy(POLICY, BASE, vocab_size=10, n_boot=100, seed=1)
    assert first == evaluate_policy(POLICY, BASE, vocab_size=10, n_boot=100, seed=1)
    itself = evaluate_policy(POLICY, POLICY, vocab_size=10, n_boot=50)
    assert itself["win_rate_vs_base"] == {"mean": 0.5, "ci_low": 0.5, "ci_high": 0.5}
    assert "win_rate_vs_base" not in evaluate_policy(POLICY, None, vocab_size=10, n_boot=50)
    with pytest.raises(KeyError, match="no base sample"):
        evaluate_policy(POLICY, BASE[:3], vocab_size=10, n_boot=10)


def test_delta_vs_base():
    policy = {"gold_reward": {"mean": 0.7}, "kl": {"mean": 2.0}, "only_policy": {"mean": 1.0}}
    base = {"gold_reward": {"mean": 0.2}, "kl": {"mean": 0.0}}
    assert delta_vs_base(policy, base) == pytest.approx({"gold_reward": 0.5, "kl": 2.0})


def test_across_input_interval_needs_several_samples_per_prompt():
    firsts = [s for s in POLICY if s["sample_idx"] == 0]
    ci = compute_metric("distinct_1_across_input", firsts, n_boot=50)
    assert ci["mean"] == 1.0 and math.isnan(ci["ci_low"]) and math.isnan(ci["ci_high"])
    rng = np.random.default_rng(0)
    many = [sample(p, s, "t", list(rng.zipf(1.5, size=int(rng.integers(3, 12))))) for p in range(30) for s in range(4)]
    ci = compute_metric("distinct_1_across_input", many, n_boot=100)
    assert ci["ci_low"] < ci["mean"] < ci["ci_high"]


def test_best_of_n_equals_the_mean_over_every_subset():
    import itertools

    rng = np.random.default_rng(3)
    samples = [
        sample(p, i, "", [], gold=float(rng.normal()), proxy=float(rng.integers(0, 4))) for p in range(3) for i in range(6)
    ]
    for n in (1, 2, 3, 6):
        brute = []
        for p in range(3):
            group = [r for r in samples if r["prompt_id"] == p]
            # argmax of proxy with ties to the lowest sample_idx, as a practitioner's best-of-n picks
            bests = [
                max(sub, key=lambda r: (r["proxy_reward"], -r["sample_idx"]))["gold_reward"]
                for sub in itertools.combinations(group, n)
            ]
            brute.append(np.mean(bests))
        got = best_of_n(samples[::-1], [n], n_boot=20)[n]["gold_reward"]["mean"]
        assert got == pytest.approx(np.mean(brute)), n
    assert best_of_n_weights(6, 2).sum() == pytest.approx(1.0)
    out = best_of_n(samples, [1, 4], n_boot=50)
    assert out[1]["kl"] == 0.0 and out[4]["sqrt_kl"] == pytest.approx(math.sqrt(math.log(4) - 0.75))
    with pytest.raises(ValueError, match="best-of-7"):
        best_of_n(samples, [7], n_boot=10)


def exact_best_of_n_kl(p, n):
    """KL(best-of-n || p) for outcomes listed in increasing reward: P(Y = y) = F(y)^n - F(y-)^n."""
    cdf = np.cumsum(p)
    q = cdf**n - np.concatenate([[0.0], cdf[:-1]]) ** n
    keep = q > 0
    return float(np.sum(q[keep] * np.log(q[keep] / p[keep])))


@pytest.mark.parametrize("n", [1, 2, 4, 16, 64])
def test_best_of_n_kl_is_the_continuous_limit_and_an_upper_bound(n):
    assert exact_best_of_n_kl(np.full(2000, 1 / 2000), n) == pytest.approx(best_of_n_kl(n), abs=1e-2)
    rng = np.random.default_rng(n)
    for m in (2, 3, 10, 100):
        p = rng.dirichlet(np.ones(m))
        assert exact_best_of_n_kl(p, n) <= best_of_n_kl(n) + 1e-12
    # coarser distributions sit further below the bound
    gaps = [best_of_n_kl(n) - exact_best_of_n_kl(np.full(m, 1 / m), n) for m in (2, 20, 2000)]
    assert all(coarse >= fine - 1e-12 for coarse, fine in zip(gaps, gaps[1:], strict=False))
