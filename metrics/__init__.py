"""rlhf-bench metrics: pure metric functions, a registry and seeded bootstrap CIs.

from metrics import evaluate_policy, metric_info
results = evaluate_policy(samples, base_samples, vocab_size=tokenizer.vocab_size)
"""

from metrics.bootstrap import bootstrap_ci, bootstrap_distribution, bootstrap_stderr
from metrics.builtin import register_builtins
from metrics.diversity import NgramIndex, SelfBleuIndex, distinct_n, ead, expected_distinct, ngrams, self_bleu
from metrics.evaluation import (
    best_of_n,
    best_of_n_expectations,
    best_of_n_kl,
    best_of_n_weights,
    compute_metric,
    delta_vs_base,
    evaluate_policy,
    group_by_prompt,
    pair_with_base,
)
from metrics.registry import METRICS, Metric, get_metric, metric_info, register, register_metric
from metrics.reward_model import (
    calibration_bins,
    correlations,
    expected_calibration_error,
    gold_accuracy,
    pairwise_accuracy,
    reward_model_metrics,
)
from metrics.sample_metrics import kl_k1, repetition_rate, weighted_perplexity, win_score

if not METRICS:  # a reload of the package must not register twice
    register_builtins()

__all__ = [
    "METRICS",
    "Metric",
    "NgramIndex",
    "SelfBleuIndex",
    "best_of_n",
    "best_of_n_expectations",
    "best_of_n_kl",
    "best_of_n_weights",
    "bootstrap_ci",
    "bootstrap_distribution",
    "bootstrap_stderr",
    "calibration_bins",
    "compute_metric",
    "correlations",
    "delta_vs_base",
    "distinct_n",
    "ead",
    "evaluate_policy",
    "expected_calibration_error",
    "expected_distinct",
    "get_metric",
    "gold_accuracy",
    "group_by_prompt",
    "kl_k1",
    "metric_info",
    "ngrams",
    "pair_with_base",
    "pairwise_accuracy",
    "register",
    "register_metric",
    "repetition_rate",
    "reward_model_metrics",
    "self_bleu",
    "weighted_perplexity",
    "win_score",
]
