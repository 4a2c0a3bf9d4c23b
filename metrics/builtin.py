"""The built-in metrics, registered by name (imported by metrics/__init__.py).

Names follow the fields they read. Directions: rewards, win rate, EOS rate and
diversity are higher-is-better; KL, the proxy-gold gap, repetition,
perplexity under the base policy and self-BLEU are lower-is-better. Length
has no good direction; it is registered lower-is-better because growing
length is the classic way policies hack a reward model (Singhal et al. 2023),
so a report should flag an increase, not celebrate it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

import numpy as np

from metrics import sample_metrics as sm
from metrics.copying import COPY_NGRAM, copies_corpus
from metrics.diversity import NgramIndex, SelfBleuIndex, distinct_n, ead, self_bleu
from metrics.registry import register

Records = Sequence[Mapping[str, Any]]
Statistic = Callable[[np.ndarray], float]


def _ids(records: Records) -> list[list[int]]:
    return [list(r["response_ids"]) for r in records]


def _texts(records: Records) -> list[str]:
    return [str(r["response"]) for r in records]


def distinct_per_input(records: Records, n: int) -> float:
    """distinct-n over the k responses of one prompt."""
    return distinct_n(_ids(records), n)


def ead_per_input(records: Records, vocab_size: int, n: int = 1) -> float:
    """EAD over the k responses of one prompt."""
    return ead(_ids(records), vocab_size, n)


def self_bleu_per_input(records: Records) -> float:
    """self-BLEU over the k responses of one prompt."""
    return self_bleu(_texts(records))


def distinct_across_input(records: Records, n: int) -> Statistic:
    """distinct-n of a multiset of records (one response per prompt)."""
    return NgramIndex(_ids(records), n).distinct


def ead_across_input(records: Records, vocab_size: int, n: int = 1) -> Statistic:
    """EAD of a multiset of records (one response per prompt)."""
    return partial(NgramIndex(_ids(records), n).ead, vocab_size=vocab_size)


def self_bleu_across_input(records: Records) -> Statistic:
    """self-BLEU of a multiset of records (one response per prompt)."""
    return SelfBleuIndex(_texts(records)).score


def register_builtins() -> None:
    """Register every built-in metric (once, at package import)."""
    register("gold_reward", sm.gold_reward, requires=("gold_reward",))
    for part in ("sentiment", "fluency", "repetition"):  # the gold's parts, where its scorer has them
        register(f"gold_{part}", getattr(sm, f"gold_{part}"), requires=(f"gold_{part}",))
    register("proxy_reward", sm.proxy_reward)
    register("proxy_reward_norm", sm.proxy_reward_norm)
    register("gold_reward_norm", sm.gold_reward_norm, requires=("gold_reward_norm",))
    register(
        "proxy_gold_gap",
        sm.proxy_gold_gap,
        higher_is_better=False,
        requires=("gold_reward_norm",),
        description="proxy_reward_norm - gold_reward_norm (both in base-policy standard deviations); a growing gap means the proxy is being over-optimised",
    )
    register(
        "kl",
        sm.kl_k1,
        higher_is_better=False,
        description="KL(policy || base), sequence-level k1 estimate: mean of logprob - ref_logprob",
    )
    register(
        "win_rate_vs_base",
        sm.win_vs_base,
        requires=("base_gold_reward",),
        description="share of prompts/sample slots where gold prefers the policy sample to the base one (ties 0.5)",
    )
    register(
        "proxy_win_rate_vs_base",
        sm.proxy_win_vs_base,
        requires=("base_proxy_reward",),
        description="share of prompts/sample slots where the proxy reward model prefers the policy sample to the base one (ties 0.5)",
    )
    register(
        "length", sm.length, higher_is_better=False, description="response tokens; lower-is-better only to flag length hacking"
    )
    register("eos_rate", sm.ended_with_eos, description="share of responses that end with EOS rather than at the token limit")
    register(
        "repetition",
        sm.repetition,
        higher_is_better=False,
        description="share of repeated bigrams within a response (1 - unique/total)",
    )
    register(
        "perplexity",
        sm.ref_logprob_and_length,
        aggregation=sm.weighted_perplexity,
        higher_is_better=False,
        description="perplexity of the samples under the base policy: exp(-sum ref_logprob / sum n_tokens)",
    )
    register(
        "corpus_copy_rate",
        copies_corpus,
        higher_is_better=False,
        params=("corpus_ngrams",),
        description=f"share of responses that repeat {COPY_NGRAM} consecutive words of the pretraining corpus verbatim "
        "(case and punctuation ignored): memorised rather than composed text",
    )
    _register_diversity()


def _register_diversity() -> None:
    """Each diversity metric per input (k samples of a prompt) and across inputs (one sample per prompt)."""
    for n in (1, 2, 3):
        register(
            f"distinct_{n}_per_input",
            partial(distinct_per_input, n=n),
            level="prompt",
            description=f"distinct-{n} over the samples of each prompt, averaged over prompts",
        )
        register(
            f"distinct_{n}_across_input",
            partial(distinct_across_input, n=n),
            level="set",
            description=f"distinct-{n} over the first sample of every prompt",
        )
    register(
        "ead_per_input",
        ead_per_input,
        level="prompt",
        params=("vocab_size",),
        description="expectation-adjusted distinct unigrams over the samples of each prompt, averaged over prompts",
    )
    register(
        "ead_across_input",
        ead_across_input,
        level="set",
        params=("vocab_size",),
        description="expectation-adjusted distinct unigrams over the first sample of every prompt",
    )
    register(
        "self_bleu_per_input",
        self_bleu_per_input,
        level="prompt",
        higher_is_better=False,
        description="self-BLEU among the samples of each prompt, averaged over prompts (lower = more diverse)",
    )
    register(
        "self_bleu_across_input",
        self_bleu_across_input,
        level="set",
        higher_is_better=False,
        description="self-BLEU among the first samples of all prompts (lower = more diverse)",
    )
