"""Selection-aware statistics of a curve's gold peak: where the peak is, and whether gold falls after it.

`metrics.frontier.curve_peak` reports the KL at the evaluation point with the highest gold and that
point's own interval, and compares peak and last through two marginal intervals. Both ignore that
the peak was *chosen* as the argmax of noisy means: with several points of overlapping gold, the
interval of the KL at the chosen point says nothing about which point is the peak, and the
selected maximum is biased upward.

Every evaluation point of a curve samples the same held-out prompts (rl.ppo_eval draws them once),
so the points are paired by prompt. Here one prompt resample is applied to every point at once,
the argmax is recomputed inside each resample, and the statistics are read off it:

- the peak's location: the interval of the KL at the recomputed argmax, the interval of the
  update it falls on, and how often each point is the argmax;
- peak minus last gold as a paired difference: its interval with the argmax recomputed, the
  same with the peak held at the observed point (what selection adds), and a one-sided p-value
  of "no point beats the last one" from White's (2000) reality check, which centres each
  point's paired difference and takes the maximum over points, so the selection is in the null.

The interval of a recomputed maximum is optimistic near ties (the bootstrap of a max is not
consistent there): in simulation (40 prompts, 5 points of equal true gold, 200 datasets) the 95%
interval with the argmax recomputed excludes 0 in 21% of datasets, the reality check rejects at
5% in 7% (6.5% with 11 points). So significance is read from the p-value, and the interval is
shown as the size of the drop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from metrics.bootstrap import draw_indices

Record = Mapping[str, Any]
# what each curve statistic reads from one evaluation sample (the fields of eval_samples.jsonl)
SAMPLE_VALUES: dict[str, Callable[[Record], float]] = {
    "gold": lambda r: float(r["gold_reward"]),
    "kl": lambda r: float(r["logprob"]) - float(r["ref_logprob"]),  # the k1 estimate, as the `kl` metric
}
# gold means closer than this are tied: points with the same samples (a policy that did not move) differ by
# ~1e-17 after the matrix product, and without a tolerance that float noise reads as a peak with p = 1/(B+1)
TIE_TOL = 1e-9


@dataclass(frozen=True)
class CurveTable:
    """Per-prompt sums of each value at each evaluation point of one curve.

    points: (P,) evaluation updates, ascending; prompts: (N,) prompt ids present at every point;
    counts: (P, N) samples per prompt and point; sums: {value name: (P, N) summed values}.
    """

    points: np.ndarray
    prompts: np.ndarray
    counts: np.ndarray
    sums: Mapping[str, np.ndarray]

    def means(self, name: str, mult: np.ndarray) -> np.ndarray:
        """(B, P) sample means of value `name` at every point, for B rows of prompt multiplicities (B, N).

        Sums over counts, not a mean of prompt means: at multiplicity 1 it is the metric's own mean
        over samples, and a resample weights each prompt by its samples as the cluster bootstrap does.
        """
        mult = np.atleast_2d(mult).astype(float)
        return (mult @ self.sums[name].T) / (mult @ self.counts.T)


def curve_table(records: Sequence[Record], values: Mapping[str, Callable[[Record], float]] = SAMPLE_VALUES) -> CurveTable:
    """The CurveTable of one curve's evaluation samples (records with update and prompt_id).

    Only prompts evaluated at every point are kept: a prompt missing at one point would unpair it.
    """
    points = np.array(sorted({int(r["update"]) for r in records}), dtype=np.int64)
    by_point: dict[int, set[Any]] = {int(p): set() for p in points}
    for r in records:
        by_point[int(r["update"])].add(r["prompt_id"])
    common = set.intersection(*by_point.values()) if by_point else set()
    prompts = np.array(sorted(common), dtype=object)
    p_pos = {int(p): i for i, p in enumerate(points)}
    n_pos = {p: j for j, p in enumerate(prompts)}
    counts = np.zeros((points.size, prompts.size))
    sums = {name: np.zeros((points.size, prompts.size)) for name in values}
    for r in records:
        j = n_pos.get(r["prompt_id"])
        if j is None:
            continue
        i = p_pos[int(r["update"])]
        counts[i, j] += 1
        for name, fn in values.items():
            sums[name][i, j] += fn(r)
    return CurveTable(points, prompts, counts, sums)


def prompt_multiplicities(n_prompts: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n_prompts): how often each prompt is drawn in each seeded resample (metrics.bootstrap's draws)."""
    draws = draw_indices(n_prompts, n_boot, seed, None)
    return np.stack([np.bincount(d, minlength=n_prompts) for d in draws])


def first_max(values: np.ndarray, tol: float = TIE_TOL) -> np.ndarray:
    """Index of the first entry within tol of the maximum along the last axis (the first of tied points)."""
    return np.argmax(values >= values.max(axis=-1, keepdims=True) - tol, axis=-1)


def _untie(diff: np.ndarray | float) -> np.ndarray:
    """Differences within TIE_TOL of 0 set to 0 (tied points differ by float noise only)."""
    return np.where(np.abs(diff) <= TIE_TOL, 0.0, diff)


def _interval(values: np.ndarray, confidence: float, method: str = "linear") -> tuple[float, float]:
    alpha = 1.0 - confidence
    low, high = np.quantile(values, [alpha / 2, 1 - alpha / 2], method=method)
    return float(low), float(high)


def reality_check_p(diffs: np.ndarray, observed: np.ndarray) -> float:
    """One-sided p-value of H0 "no point's mean beats the last one's" (White 2000, least favourable null).

    diffs: (B, P) resampled gold minus the last point's gold, paired; observed: (P,) the same on
    the full data. The statistic is the largest observed difference; its null distribution is
    the largest *centred* resampled difference, so choosing the best point is part of the null.
    """
    stat = float(observed.max())
    if stat <= TIE_TOL:  # no point above the last one: nothing to test
        return 1.0
    null = (diffs - observed[None, :]).max(axis=1)
    return float((1 + np.count_nonzero(null >= stat)) / (1 + null.size))


def peak_selection(table: CurveTable, n_boot: int = 1000, confidence: float = 0.95, seed: int = 0) -> dict[str, Any] | None:
    """Selection-aware peak location and peak-minus-last drop of one curve (None with < 2 points or no prompts).

    Keys: peak_point, peak_kl (the observed argmax and the KL there); peak_kl_ci_low/high and
    peak_point_ci_low/high (the peak location interval: prompts resampled, argmax recomputed);
    argmax_share ({update: share of resamples where it is the argmax}); gold_drop (observed peak
    minus last gold); gold_drop_ci_low/high (paired, argmax recomputed; never below 0, since the
    recomputed peak is at least the last point); gold_drop_fixed_ci_low/high (paired, peak held at
    the observed point: what the interval would be without the selection); gold_drop_p_value
    (reality check, one-sided) and gold_drop_significant (p < 1 - confidence); n_prompts, n_boot,
    confidence, seed.
    """
    n_points, n_prompts = table.counts.shape
    if n_points < 2 or n_prompts == 0:
        return None
    full = np.ones((1, n_prompts))
    gold_obs, kl_obs = table.means("gold", full)[0], table.means("kl", full)[0]
    mult = prompt_multiplicities(n_prompts, n_boot, seed)
    gold, kl = table.means("gold", mult), table.means("kl", mult)  # (B, P), every point on the same resample
    peak, last = int(first_max(gold_obs)), n_points - 1  # the first of ties, as idxmax in curve_peak
    arg = first_max(gold)
    rows = np.arange(mult.shape[0])
    drop = _untie(gold[rows, arg] - gold[:, last])
    fixed = _untie(gold[:, peak] - gold[:, last])
    kl_low, kl_high = _interval(kl[rows, arg], confidence)
    # updates are discrete: the interval's ends are evaluation points actually drawn as the argmax
    point_low, point_high = _interval(table.points[arg].astype(float), confidence, method="inverted_cdf")
    drop_low, drop_high = _interval(drop, confidence)
    fixed_low, fixed_high = _interval(fixed, confidence)
    share = np.bincount(arg, minlength=n_points) / arg.size
    p_value = reality_check_p(gold - gold[:, [last]], gold_obs - gold_obs[last])
    return {
        "peak_point": int(table.points[peak]),
        "peak_kl": float(kl_obs[peak]),
        "peak_kl_ci_low": kl_low,
        "peak_kl_ci_high": kl_high,
        "peak_point_ci_low": int(point_low),
        "peak_point_ci_high": int(point_high),
        "argmax_share": {str(int(p)): float(s) for p, s in zip(table.points, share, strict=True)},
        "last_point": int(table.points[last]),
        "gold_drop": float(_untie(gold_obs[peak] - gold_obs[last])),
        "gold_drop_ci_low": drop_low,
        "gold_drop_ci_high": drop_high,
        "gold_drop_fixed_ci_low": fixed_low,
        "gold_drop_fixed_ci_high": fixed_high,
        "gold_drop_p_value": p_value,
        "gold_drop_significant": bool(p_value < 1.0 - confidence),
        "n_prompts": int(n_prompts),
        "n_boot": int(n_boot),
        "confidence": float(confidence),
        "seed": int(seed),
    }


def curve_peak_selection(
    records: Sequence[Record], n_boot: int = 1000, confidence: float = 0.95, seed: int = 0
) -> dict[str, Any] | None:
    """peak_selection of one curve's evaluation samples; None without gold (real labels) or too few points."""
    if not records or any(r.get("gold_reward") is None for r in records):
        return None
    return peak_selection(curve_table(records), n_boot, confidence, seed)
