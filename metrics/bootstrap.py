"""Seeded bootstrap for any aggregation, with an optional cluster (prompt) bootstrap.

`values` may be a 1-D array of numbers, a 2-D array whose rows are the units
(e.g. (ref_logprob, n_tokens) pairs for perplexity), or a list of any objects;
a resample is passed to `aggregation` in the same form (objects as an object
array). With `clusters`, whole clusters are resampled: the k samples of one
prompt are correlated, so resampling them one by one would understate the
uncertainty.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np


def as_array(values: Sequence[Any] | np.ndarray) -> np.ndarray:
    """values as an array indexable along axis 0 (an object array where they are not numbers)."""
    if isinstance(values, np.ndarray):
        return values
    try:
        arr = np.asarray(values)
        if arr.dtype != object and arr.ndim >= 1:
            return arr
    except ValueError:
        pass  # ragged rows (token id lists of different lengths)
    out = np.empty(len(values), dtype=object)
    for i, v in enumerate(values):
        out[i] = v
    return out


def cluster_index(clusters: Sequence[Hashable] | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(order, starts, sizes): unit positions sorted by cluster, and each cluster's slice of order."""
    _, codes = np.unique(np.asarray(clusters), return_inverse=True)
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    return order, starts, sizes


def draw_indices(n_units: int, n_boot: int, seed: int, clusters: Sequence[Hashable] | np.ndarray | None) -> list[np.ndarray]:
    """n_boot index arrays, each a resample with replacement of the units (or of whole clusters)."""
    rng = np.random.default_rng(seed)
    if clusters is None:
        return list(rng.integers(0, n_units, size=(n_boot, n_units)))
    if len(clusters) != n_units:
        raise ValueError(f"clusters has {len(clusters)} entries for {n_units} values")
    order, starts, sizes = cluster_index(clusters)
    draws = rng.integers(0, sizes.size, size=(n_boot, sizes.size))
    out = []
    for drawn in draws:
        lengths = sizes[drawn]
        # position j of the resample reads order[start of its cluster + its offset inside the cluster]
        offsets = np.repeat(starts[drawn] - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
        out.append(order[offsets])
    return out


def bootstrap_distribution(
    values: Sequence[Any] | np.ndarray,
    aggregation: Callable[[Any], float] = np.mean,
    n_boot: int = 1000,
    seed: int = 0,
    clusters: Sequence[Hashable] | np.ndarray | None = None,
) -> np.ndarray:
    """The aggregation evaluated on n_boot seeded resamples of values."""
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    arr = as_array(values)
    if len(arr) == 0:
        return np.full(n_boot, np.nan)
    return np.array([float(aggregation(arr[idx])) for idx in draw_indices(len(arr), n_boot, seed, clusters)])


def bootstrap_ci(
    values: Sequence[Any] | np.ndarray,
    aggregation: Callable[[Any], float] = np.mean,
    n_boot: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
    clusters: Sequence[Hashable] | np.ndarray | None = None,
) -> dict[str, float]:
    """Percentile bootstrap interval: {"mean": aggregation(values), "ci_low", "ci_high"}.

    "mean" is the point estimate on the full data, whatever the aggregation.
    Resamples on which the aggregation is not finite are left out; with no
    finite one (or no data) the interval is nan.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    arr = as_array(values)
    point = float(aggregation(arr)) if len(arr) else float("nan")
    boot = bootstrap_distribution(arr, aggregation, n_boot, seed, clusters)
    boot = boot[np.isfinite(boot)]
    if boot.size == 0:
        return {"mean": point, "ci_low": float("nan"), "ci_high": float("nan")}
    alpha = 1.0 - confidence
    low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    return {"mean": point, "ci_low": float(low), "ci_high": float(high)}


def bootstrap_stderr(
    values: Sequence[Any] | np.ndarray,
    aggregation: Callable[[Any], float] = np.mean,
    n_boot: int = 1000,
    seed: int = 0,
    clusters: Sequence[Hashable] | np.ndarray | None = None,
) -> float:
    """Bootstrap standard error of the aggregation (std of the finite resample values, ddof=1)."""
    boot = bootstrap_distribution(values, aggregation, n_boot, seed, clusters)
    boot = boot[np.isfinite(boot)]
    return float(np.std(boot, ddof=1)) if boot.size > 1 else float("nan")
