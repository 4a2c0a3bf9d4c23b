"""Reward-model quality on held-out preference pairs: accuracy, calibration, gold correlation.

Imports only numpy and scipy: the `evaluate` module in
evaluate_modules/reward_gap loads this file through a symlink.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

ArrayLike = Sequence[float | None] | np.ndarray


def _floats(x: ArrayLike) -> np.ndarray:
    """x as a float array, None as nan (user preference files may lack gold scores)."""
    return np.array([np.nan if v is None else v for v in x], dtype=float)


def pair_credit(score_chosen: ArrayLike, score_rejected: ArrayLike) -> np.ndarray:
    """Per pair: 1 if the chosen response scores higher, 0.5 on a tie, 0 otherwise."""
    margin = _floats(score_chosen) - _floats(score_rejected)
    return np.where(margin > 0, 1.0, np.where(margin == 0, 0.5, 0.0))


def pairwise_accuracy(score_chosen: ArrayLike, score_rejected: ArrayLike) -> float:
    """Share of pairs where the model prefers the labelled-chosen response (ties count 0.5)."""
    credit = pair_credit(score_chosen, score_rejected)
    return float(credit.mean()) if credit.size else float("nan")


def gold_accuracy(score_chosen: ArrayLike, score_rejected: ArrayLike, gold_chosen: ArrayLike, gold_rejected: ArrayLike) -> float:
    """Accuracy against the gold order instead of the (noisy) labels.

    Pairs with equal or missing gold scores have no gold order and are left
    out; model ties count 0.5. nan when no pair is left.
    """
    gold_margin = _floats(gold_chosen) - _floats(gold_rejected)
    keep = np.isfinite(gold_margin) & (gold_margin != 0)
    if not keep.any():
        return float("nan")
    margin = (_floats(score_chosen) - _floats(score_rejected))[keep]
    agree = np.sign(margin) == np.sign(gold_margin[keep])
    return float(np.where(margin == 0, 0.5, agree.astype(float)).mean())


def calibration_bins(margins: ArrayLike, correct: ArrayLike, n_bins: int = 10) -> list[dict[str, float]]:
    """Reliability table of the Bradley-Terry probabilities sigmoid(|margin|).

    margins: model score differences; correct: 1 where the label agrees with
    the sign of the margin (0.5 may stand for a tie). Bins split [0.5, 1] into
    n_bins equal widths; each non-empty bin gives {bin_low, bin_high,
    predicted (mean confidence), observed (mean correct), count}.
    """
    p = 1.0 / (1.0 + np.exp(-np.abs(_floats(margins))))
    correct = _floats(correct)
    edges = np.linspace(0.5, 1.0, n_bins + 1)
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, n_bins - 1)  # p == 1.0 goes to the last bin
    rows = []
    for b in range(n_bins):
        inside = which == b
        if inside.any():
            rows.append(
                {
                    "bin_low": float(edges[b]),
                    "bin_high": float(edges[b + 1]),
                    "predicted": float(p[inside].mean()),
                    "observed": float(correct[inside].mean()),
                    "count": int(inside.sum()),
                }
            )
    return rows


def ece_from_bins(bins: list[dict[str, float]]) -> float:
    """Sum over bins of count / N * |observed - predicted|."""
    n = sum(b["count"] for b in bins)
    return float(sum(b["count"] / n * abs(b["observed"] - b["predicted"]) for b in bins)) if n else float("nan")


def expected_calibration_error(margins: ArrayLike, correct: ArrayLike, n_bins: int = 10) -> float:
    """Expected calibration error of the Bradley-Terry probabilities (see calibration_bins)."""
    return ece_from_bins(calibration_bins(margins, correct, n_bins))


def correlations(proxy: ArrayLike, gold: ArrayLike) -> dict[str, Any]:
    """{"pearson", "spearman", "constant_output"} between proxy and gold scores.

    Constant input (a collapsed reward model) has no correlation: nan, with
    constant_output set when the proxy is the constant one, and no scipy warning.
    """
    x, y = _floats(proxy), _floats(gold)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    constant_output = bool(x.size > 0 and np.ptp(x) == 0)
    if x.size < 2 or constant_output or np.ptp(y) == 0:
        return {"pearson": float("nan"), "spearman": float("nan"), "constant_output": constant_output}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # near-constant input warnings: the nan/number is the answer
        pearson = float(stats.pearsonr(x, y)[0])
        spearman = float(stats.spearmanr(x, y)[0])
    return {"pearson": pearson, "spearman": spearman, "constant_output": constant_output}


def reward_model_metrics(
    score_chosen: ArrayLike,
    score_rejected: ArrayLike,
    gold_chosen: ArrayLike | None = None,
    gold_rejected: ArrayLike | None = None,
    proxy: ArrayLike | None = None,
    gold: ArrayLike | None = None,
    n_bins: int = 10,
) -> tuple[dict[str, Any], list[dict[str, float]]]:
    """(metrics, calibration records) of a reward model on held-out pairs.

    metrics: accuracy (vs labels), accuracy_gold (vs gold order), ece,
    gold_pearson, gold_spearman, constant_output. Correlations use proxy/gold
    when given (e.g. scores of policy samples), else the pairs' own responses
    with their gold scores; without gold they are nan.
    """
    margins = _floats(score_chosen) - _floats(score_rejected)
    all_scores = np.concatenate([_floats(score_chosen), _floats(score_rejected)])
    credit = pair_credit(score_chosen, score_rejected)
    calibration = calibration_bins(margins, credit, n_bins)
    has_gold = gold_chosen is not None and gold_rejected is not None
    if proxy is None and has_gold:
        proxy = all_scores
        gold = np.concatenate([_floats(gold_chosen), _floats(gold_rejected)])
    corr = correlations(proxy, gold) if proxy is not None and gold is not None else correlations([], [])
    metrics = {
        "accuracy": pairwise_accuracy(score_chosen, score_rejected),
        "accuracy_gold": gold_accuracy(score_chosen, score_rejected, gold_chosen, gold_rejected) if has_gold else float("nan"),
        "ece": ece_from_bins(calibration),
        "gold_pearson": corr["pearson"],
        "gold_spearman": corr["spearman"],
        # a collapsed model gives every response one score: flag it even without gold scores
        "constant_output": corr["constant_output"] or bool(all_scores.size and np.ptp(all_scores) == 0),
    }
    return metrics, calibration


def held_out_metrics(
    score_chosen: ArrayLike, score_rejected: ArrayLike, pairs: list[dict], samples: list[dict], n_bins: int = 10
) -> tuple[dict[str, Any], list[dict[str, float]]]:
    """`reward_model_metrics` of a reward model's scores of held-out `pairs` (against their gold scores when
    the labels were simulated) and of `samples`' proxy and gold scores ({"proxy", "gold"} records).

    Real labels have no gold: their samples carry no "gold" and the gold correlations are left out, not nan."""
    simulated = "gold_chosen" in pairs[0]
    sample_gold = bool(samples) and all("gold" in s for s in samples)
    metrics, calibration = reward_model_metrics(
        score_chosen,
        score_rejected,
        gold_chosen=[p["gold_chosen"] for p in pairs] if simulated else None,
        gold_rejected=[p["gold_rejected"] for p in pairs] if simulated else None,
        proxy=np.array([s["proxy"] for s in samples]).tolist() if sample_gold else None,
        gold=[s["gold"] for s in samples] if sample_gold else None,
        n_bins=n_bins,
    )
    if not (simulated or sample_gold):
        metrics = {k: v for k, v in metrics.items() if k not in ("gold_pearson", "gold_spearman")}
    return metrics, calibration
