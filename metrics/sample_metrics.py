"""Per-sample metrics: pure functions of one generation record.

A record carries prompt_id, sample_idx, response, response_ids, n_tokens,
ended_with_eos, logprob (summed over the response tokens under the policy),
ref_logprob (the same tokens under the base policy), gold_reward, proxy_reward
and proxy_reward_norm (the proxy standardised on base-policy samples, so that
it lives on the gold scale).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

Record = Mapping[str, Any]


def gold_reward(record: Record) -> float:
    """Gold (simulated-human) reward of the response."""
    return float(record["gold_reward"])


def gold_sentiment(record: Record) -> float:
    """The gold's sentiment part (VADER compound, -1 to 1)."""
    return float(record["gold_sentiment"])


def gold_fluency(record: Record) -> float:
    """The gold's fluency part: P(the response reads as English), 0 to 1."""
    return float(record["gold_fluency"])


def gold_repetition(record: Record) -> float:
    """The gold's repetition factor: 1 for text that does not repeat itself, 0 when under 30% of words are distinct."""
    return float(record["gold_repetition"])


def proxy_reward(record: Record) -> float:
    """Raw score of the proxy reward model."""
    return float(record["proxy_reward"])


def proxy_reward_norm(record: Record) -> float:
    """Proxy reward standardised with base-policy statistics."""
    return float(record["proxy_reward_norm"])


def gold_reward_norm(record: Record) -> float:
    """Gold reward standardised with base-policy statistics (the proxy's units)."""
    return float(record["gold_reward_norm"])


def proxy_gold_gap(record: Record) -> float:
    """proxy_reward_norm - gold_reward_norm: how much the proxy over-rates the response, in common units.

    Both rewards are standardised by the base policy's mean and standard deviation, so the gap is
    0 on base samples on average and counts base-policy standard deviations. A gap that grows
    while the policy is optimised is the signature of reward over-optimisation (Gao et al.
    2022), hence lower is better.
    """
    return float(record["proxy_reward_norm"]) - float(record["gold_reward_norm"])


def kl_k1(record: Record) -> float:
    """Sequence-level k1 estimate of KL(policy || base): logprob - ref_logprob.

    Unbiased when the response was sampled from the policy, but a single
    value may be negative; only the mean is a KL estimate.
    """
    return float(record["logprob"]) - float(record["ref_logprob"])


def length(record: Record) -> float:
    """Number of response tokens."""
    return float(record["n_tokens"])


def ended_with_eos(record: Record) -> float:
    """1 if the response ended with EOS (not cut at the token limit), else 0."""
    return float(bool(record["ended_with_eos"]))


def repetition_rate(ids: Sequence[int], n: int = 2) -> float:
    """Share of repeated n-grams in one response: 1 - unique / total (0 without any n-gram)."""
    grams = [tuple(ids[i : i + n]) for i in range(len(ids) - n + 1)]
    return 1.0 - len(set(grams)) / len(grams) if grams else 0.0


def repetition(record: Record, n: int = 2) -> float:
    """repetition_rate of the response token ids."""
    return repetition_rate(list(record["response_ids"]), n)


def win_score(policy_gold: float, base_gold: float) -> float:
    """1 if the policy response beats the base one under gold, 0.5 on a tie, 0 otherwise."""
    if policy_gold > base_gold:
        return 1.0
    return 0.5 if policy_gold == base_gold else 0.0


def win_vs_base(record: Record) -> float:
    """win_score against the base sample paired with this one (field base_gold_reward)."""
    return win_score(float(record["gold_reward"]), float(record["base_gold_reward"]))


def proxy_win_vs_base(record: Record) -> float:
    """win_score of the proxy reward against the base sample on the same (prompt_id, sample_idx)."""
    return win_score(float(record["proxy_reward"]), float(record["base_proxy_reward"]))


def ref_logprob_and_length(record: Record) -> tuple[float, float]:
    """(ref_logprob, n_tokens): the unit that weighted_perplexity aggregates."""
    return float(record["ref_logprob"]), float(record["n_tokens"])


def weighted_perplexity(pairs: np.ndarray) -> float:
    """exp(-sum ref_logprob / sum n_tokens) over rows of (ref_logprob, n_tokens); nan without tokens.

    A token-weighted corpus perplexity, not a mean of per-sample
    perplexities (which long, easy samples would not dominate as they should).
    """
    pairs = np.asarray(pairs, dtype=float).reshape(-1, 2)
    n_tokens = pairs[:, 1].sum()
    return float(np.exp(-pairs[:, 0].sum() / n_tokens)) if n_tokens > 0 else float("nan")
