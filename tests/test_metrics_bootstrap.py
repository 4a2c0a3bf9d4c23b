"""Bootstrap: coverage on a normal sample, seeding, cluster resampling, any aggregation."""

import numpy as np
import pytest

from metrics import bootstrap_ci, bootstrap_stderr, weighted_perplexity


def test_ci_covers_true_mean_at_nominal_rate():
    rng = np.random.default_rng(123)
    true_mean, hits, reps = 1.0, 0, 200
    for rep in range(reps):
        ci = bootstrap_ci(rng.normal(true_mean, 2.0, size=50), n_boot=200, seed=rep)
        hits += ci["ci_low"] <= true_mean <= ci["ci_high"]
    assert 0.90 <= hits / reps <= 0.99


def test_seed_gives_identical_intervals():
    x = np.random.default_rng(0).normal(size=40)
    assert bootstrap_ci(x, seed=7, n_boot=300) == bootstrap_ci(x, seed=7, n_boot=300)
    assert bootstrap_ci(x, seed=7, n_boot=300) != bootstrap_ci(x, seed=8, n_boot=300)
    assert bootstrap_ci(x, seed=7)["mean"] == pytest.approx(x.mean())


def test_cluster_bootstrap_resamples_whole_clusters():
    # three identical samples per prompt: the cluster bootstrap of the samples is the bootstrap of the prompt means
    prompt_values = np.random.default_rng(1).normal(size=30)
    samples, prompts = np.repeat(prompt_values, 3), np.repeat(np.arange(30), 3)
    clustered = bootstrap_ci(samples, n_boot=500, seed=3, clusters=prompts)
    per_prompt = bootstrap_ci(prompt_values, n_boot=500, seed=3)
    assert clustered == pytest.approx(per_prompt)
    naive = bootstrap_ci(samples, n_boot=500, seed=3)
    # treating correlated samples as independent understates the uncertainty (~1/sqrt(3) of the width)
    assert naive["ci_high"] - naive["ci_low"] < 0.75 * (clustered["ci_high"] - clustered["ci_low"])


def test_cluster_bootstrap_unequal_clusters_keeps_members_together():
    values = np.array([0.0, 0.0, 10.0, 5.0, 5.0, 5.0])
    clusters = ["a", "a", "b", "c", "c", "c"]
    seen = []
    bootstrap_ci(values, aggregation=lambda v: seen.append(np.sort(v)) or 0.0, n_boot=50, seed=0, clusters=clusters)
    for draw in seen[1:]:  # the first call is the point estimate
        assert np.count_nonzero(draw == 0.0) % 2 == 0 and np.count_nonzero(draw == 5.0) % 3 == 0


def test_any_aggregation_on_rows_and_objects():
    pairs = np.array([[-10.0, 5.0], [-2.0, 1.0], [-30.0, 10.0]])
    ci = bootstrap_ci(pairs, aggregation=weighted_perplexity, n_boot=200, seed=0)
    assert ci["mean"] == pytest.approx(np.exp(42.0 / 16.0))
    assert ci["ci_low"] <= ci["mean"] <= ci["ci_high"]
    ragged = [[1, 2, 3], [4], [5, 6]]
    ci = bootstrap_ci(ragged, aggregation=lambda rows: sum(len(r) for r in rows), n_boot=100, seed=0)
    assert ci["mean"] == 6 and 3 <= ci["ci_low"] <= ci["ci_high"] <= 9


def test_stderr_matches_normal_theory_and_edge_cases():
    x = np.random.default_rng(5).normal(0.0, 3.0, size=400)
    assert bootstrap_stderr(x, n_boot=1000, seed=0) == pytest.approx(x.std() / np.sqrt(x.size), rel=0.1)
    assert np.isnan(bootstrap_ci([], n_boot=10)["ci_low"])
    with pytest.raises(ValueError):
        bootstrap_ci([1.0, 2.0], n_boot=0)
    with pytest.raises(ValueError):
        bootstrap_ci([1.0, 2.0], confidence=1.0)
