"""The reward-KL frontier: one row per (method, curve, point), and where each RL curve's gold peaks.

Rows come from three sources: the held-out evaluation points of each RL curve (their metrics
with CIs, as `rl.ppo_eval` writes them), best-of-n over the base samples, and the final
samples of every policy. A curve is one run of one method at one setting of its KL knob.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

# (frontier column, metric name): each column comes with <column>_ci_low / <column>_ci_high
FRONTIER_METRICS = (
    ("kl", "kl"),
    ("gold_reward", "gold_reward"),
    ("proxy_reward", "proxy_reward_norm"),
    ("gold_reward_norm", "gold_reward_norm"),
    ("proxy_gold_gap", "proxy_gold_gap"),
)
COLUMNS = ("method", "curve", "knob", "point", "label", "sqrt_kl") + tuple(
    f"{col}{suffix}" for col, _ in FRONTIER_METRICS for suffix in ("", "_ci_low", "_ci_high")
)


def _ci_columns(stats: Mapping[str, Any], lookup) -> dict[str, float]:
    row = {}
    for col, metric in FRONTIER_METRICS:
        ci = lookup(stats, metric)
        row |= {col: ci[0], f"{col}_ci_low": ci[1], f"{col}_ci_high": ci[2]}
    return row


def _from_eval_row(row: Mapping[str, Any], metric: str) -> tuple[float, float, float]:
    get = lambda k: float(row.get(k, math.nan))  # noqa: E731
    return get(metric), get(f"{metric}_ci_low"), get(f"{metric}_ci_high")


def _from_ci_dict(stats: Mapping[str, Any], metric: str) -> tuple[float, float, float]:
    v = stats.get(metric)
    if isinstance(v, Mapping):
        return float(v["mean"]), float(v["ci_low"]), float(v["ci_high"])
    return (float(v), float(v), float(v)) if v is not None else (math.nan, math.nan, math.nan)


def curve_rows(method: str, curve: str, knob: float, evals: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of one RL curve from its eval.csv (columns: update, <metric>, <metric>_ci_low, <metric>_ci_high)."""
    return [
        {"method": method, "curve": curve, "knob": knob, "point": int(r["update"]), "label": f"update {int(r['update'])}"}
        | _ci_columns(r, _from_eval_row)
        for r in evals.to_dict("records")
    ]


def frontier_table(
    curves: Sequence[tuple[str, str, float, pd.DataFrame]],
    best_of_n: Mapping[str, Mapping[str, Any]],
    policies: Mapping[str, Mapping[str, Any]],
) -> pd.DataFrame:
    """curves: (method, curve name, knob value, eval frame); best_of_n: {n: row}; policies: {name: metrics}."""
    rows = [row for method, name, knob, evals in curves for row in curve_rows(method, name, knob, evals)]
    rows += [
        {"method": "best_of_n", "curve": "best_of_n", "knob": float(n), "point": int(n), "label": f"n={n}"}
        | _ci_columns(v, _from_ci_dict)
        for n, v in best_of_n.items()
    ]
    rows += [
        {"method": "policy", "curve": name, "knob": math.nan, "point": 0, "label": name} | _ci_columns(m, _from_ci_dict)
        for name, m in policies.items()
    ]
    out = pd.DataFrame(rows, columns=list(COLUMNS))
    out["sqrt_kl"] = np.sqrt(out["kl"].clip(lower=0.0))
    return out


def curve_peak(points: pd.DataFrame) -> dict[str, Any] | None:
    """Where one curve's gold peaks, and whether it then falls (Gao et al.'s over-optimisation).

    points: one curve's frontier rows ordered by point. `overoptimised` requires the last point's
    gold CI to lie entirely below the peak's while the proxy at the last point is above the proxy
    at the peak: the proxy still rewards what the gold now punishes.
    """
    points = points.sort_values("point")
    if len(points) < 2 or points["gold_reward"].isna().all():
        return None
    peak, last = points.loc[points["gold_reward"].idxmax()], points.iloc[-1]
    pick = lambda r, c: {c: float(r[c]), f"{c}_ci_low": float(r[f"{c}_ci_low"]), f"{c}_ci_high": float(r[f"{c}_ci_high"])}  # noqa: E731
    out: dict[str, Any] = {"peak_point": int(peak["point"]), "last_point": int(last["point"])}
    for prefix, row in (("peak", peak), ("last", last)):
        for col in ("kl", "gold_reward", "proxy_reward", "proxy_gold_gap"):
            out |= {f"{prefix}_{k}": v for k, v in pick(row, col).items()}
    out["gold_drop"] = out["peak_gold_reward"] - out["last_gold_reward"]
    out["overoptimised"] = bool(
        out["last_gold_reward_ci_high"] < out["peak_gold_reward_ci_low"] and out["last_proxy_reward"] > out["peak_proxy_reward"]
    )
    return out


def curve_peaks(points: pd.DataFrame, curves: Sequence[str]) -> dict[str, dict[str, Any] | None]:
    """`curve_peak` of each named curve, over its evaluation points (its final policy's row left out)."""
    return {name: curve_peak(points[(points["curve"] == name) & (points["method"] != "policy")]) for name in curves}
