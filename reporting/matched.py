"""Methods compared at matched KL: each curve's gold reward interpolated at a few KL budgets.

A curve's points are taken in training order (PPO updates, best-of-n's n). The gold at KL budget
k is read where the curve first reaches k, by linear interpolation in KL between the two points
that bracket it; the CI bounds are interpolated the same way (an approximation: the bootstrap
CIs of neighbouring points are not independent draws). A curve that never reaches k, or starts
beyond it, has no value there: nothing is extrapolated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

STATS = ("gold_reward", "gold_reward_ci_low", "gold_reward_ci_high")


def _ordered(points: pd.DataFrame) -> pd.DataFrame:
    return points.sort_values("point", kind="stable") if "point" in points.columns else points


def gold_at_kl(points: pd.DataFrame, kl: float) -> dict[str, float] | None:
    """Gold (mean and CI bounds) where the curve first reaches `kl` nats, or None outside its range."""
    rows = _ordered(points).dropna(subset=["kl", "gold_reward"])
    if rows.empty or not math.isfinite(kl):
        return None
    kls = rows["kl"].clip(lower=0).to_numpy(dtype=float)
    stats = {s: rows[s if s in rows.columns else "gold_reward"].to_numpy(dtype=float) for s in STATS}
    for i, k in enumerate(kls):
        if k == kl:
            return {s: float(v[i]) for s, v in stats.items()}
        if i and kls[i - 1] < kl < k:
            w = (kl - kls[i - 1]) / (k - kls[i - 1])
            return {s: float(v[i - 1] + w * (v[i] - v[i - 1])) for s, v in stats.items()}
    return None


def best_gold_point(points: pd.DataFrame) -> dict[str, Any] | None:
    """The curve's point with the highest mean gold: its gold (with CI), KL and point label."""
    rows = points.dropna(subset=["gold_reward"])
    if rows.empty:
        return None
    row = rows.loc[rows["gold_reward"].idxmax()]
    out = {s: float(row[s]) if s in row.index else float(row["gold_reward"]) for s in STATS}
    out["kl"] = float(row["kl"])
    out["label"] = str(row.get("label", ""))
    return out


def winner_at_kl(values: dict[str, dict[str, float] | None]) -> tuple[str, bool] | None:
    """The curve with the highest gold at one KL budget, and whether its CI clears every other curve's CI."""
    present = {name: v for name, v in values.items() if v is not None}
    if len(present) < 2:
        return None
    name = max(present, key=lambda n: present[n]["gold_reward"])
    clear = all(present[name]["gold_reward_ci_low"] > v["gold_reward_ci_high"] for n, v in present.items() if n != name)
    return name, clear


def matched_kl_table(frontier: pd.DataFrame, curves: Sequence[str], budgets: Sequence[float]) -> dict[str, dict[float, Any]]:
    """{curve: {budget: gold_at_kl}} for the named curves of `frontier.csv` (method rows, not final-policy rows)."""
    curve_rows = frontier[frontier["method"] != "policy"] if "method" in frontier.columns else frontier
    return {c: {k: gold_at_kl(curve_rows[curve_rows["curve"] == c], k) for k in budgets} for c in curves}
