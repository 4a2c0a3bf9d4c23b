"""Reward-model quality: accuracy, gold accuracy, calibration, ECE, correlations."""

import math
import warnings

import numpy as np
import pytest

from metrics import (
    calibration_bins,
    correlations,
    expected_calibration_error,
    gold_accuracy,
    pairwise_accuracy,
    reward_model_metrics,
)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_pairwise_and_gold_accuracy_by_hand():
    chosen, rejected = [2.0, 1.0, 0.0, 3.0], [1.0, 1.0, 1.0, 0.0]
    assert pairwise_accuracy(chosen, rejected) == (1 + 0.5 + 0 + 1) / 4
    # gold: pair 0 agrees, pair 1 is a gold tie (left out), pair 2's gold says rejected is better (model agrees), pair 3 disagrees
    gold_c, gold_r = [1.0, 0.5, 0.0, 0.0], [0.0, 0.5, 1.0, 1.0]
    assert gold_accuracy(chosen, rejected, gold_c, gold_r) == pytest.approx(2 / 3)
    assert gold_accuracy(chosen, rejected, [None] * 4, [None] * 4) != gold_accuracy(chosen, rejected, gold_c, gold_r)
    assert math.isnan(gold_accuracy(chosen, rejected, [None] * 4, [None] * 4))


def test_calibration_bins_by_hand():
    margins = [0.0, 0.0, 2.0, -2.0, 2.0]
    correct = [1.0, 0.0, 1.0, 1.0, 0.0]
    bins = calibration_bins(margins, correct, n_bins=2)
    assert bins == [
        {"bin_low": 0.5, "bin_high": 0.75, "predicted": 0.5, "observed": 0.5, "count": 2},
        {
            "bin_low": 0.75,
            "bin_high": 1.0,
            "predicted": pytest.approx(sigmoid(2.0)),
            "observed": pytest.approx(2 / 3),
            "count": 3,
        },
    ]
    assert expected_calibration_error(margins, correct, n_bins=2) == pytest.approx(3 / 5 * abs(2 / 3 - sigmoid(2.0)))


def test_ece_is_zero_when_calibrated_and_the_overconfidence_otherwise():
    rng = np.random.default_rng(0)
    margins = rng.normal(0.0, 2.0, size=200_000)
    correct = rng.random(margins.size) < sigmoid(np.abs(margins))
    assert expected_calibration_error(margins, correct, n_bins=10) < 0.01
    # every margin 2 (confidence 0.881) but only 60% right
    overconfident = expected_calibration_error(np.full(10, 2.0), [1] * 6 + [0] * 4, n_bins=10)
    assert overconfident == pytest.approx(sigmoid(2.0) - 0.6)


def test_correlations_and_constant_output_without_warnings():
    # deviations (-1.5, -0.5, 0.5, 1.5) and (-3.25, -1.25, 0.75, 3.75): r = 11.5 / sqrt(5 * 26.75)
    expect = {"pearson": pytest.approx(11.5 / math.sqrt(5 * 26.75)), "spearman": 1.0, "constant_output": False}
    assert correlations([1, 2, 3, 4], [2, 4, 6, 9]) == expect
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        flat = correlations([0.3, 0.3, 0.3], [1.0, 2.0, 0.0])
        flat_gold = correlations([1.0, 2.0, 0.0], [0.3, 0.3, 0.3])
    assert math.isnan(flat["pearson"]) and math.isnan(flat["spearman"]) and flat["constant_output"]
    assert math.isnan(flat_gold["pearson"]) and not flat_gold["constant_output"]


def test_reward_model_metrics_bundle():
    metrics, calibration = reward_model_metrics(
        [2.0, 1.0, 0.5],
        [0.0, 1.5, 0.5],
        gold_chosen=[1.0, 1.0, 0.2],
        gold_rejected=[0.0, 0.0, 0.1],
        n_bins=5,
    )
    assert metrics["accuracy"] == pytest.approx(1.5 / 3)
    assert metrics["accuracy_gold"] == pytest.approx(1.5 / 3)
    assert set(metrics) == {"accuracy", "accuracy_gold", "ece", "gold_pearson", "gold_spearman", "constant_output"}
    assert sum(b["count"] for b in calibration) == 3 and not metrics["constant_output"]
    collapsed, _ = reward_model_metrics([1.0, 1.0], [1.0, 1.0], proxy=[1.0, 1.0, 1.0], gold=[0.0, 1.0, 2.0])
    assert collapsed["constant_output"] and collapsed["accuracy"] == 0.5 and math.isnan(collapsed["gold_pearson"])
    assert math.isnan(collapsed["accuracy_gold"])
