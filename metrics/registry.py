"""Metric registry in the style of lm-evaluation-harness (lm_eval/api/registry.py).

A metric is a function applied to one unit of data plus an aggregation over the
units, a direction (`higher_is_better`) and a level saying what a unit is:

- "item":   fn(record) -> value, one value per sample; the aggregation combines
            the values (default: mean). A value may be a tuple, e.g. perplexity
            returns (ref_logprob, n_tokens) and aggregates them as a ratio.
- "prompt": fn(records of one prompt, sorted by sample_idx) -> float; the
            values are averaged over prompts (per-input diversity).
- "set":    fn(records) -> statistic, where statistic(mult) -> float evaluates
            the metric on the multiset that holds record i mult[i] times. The
            fn is its own aggregation (across-input diversity): building the
            statistic once (tokenising, indexing n-grams) and evaluating it per
            bootstrap draw keeps a 1,000-draw bootstrap fast.

`params` names values the evaluation passes to fn as keyword arguments (for
example `vocab_size` for EAD); `requires` names record fields a metric needs, so
that it is skipped where they are missing (win rate without base samples).

To add a metric to a run, make it a plug-in (params `evaluate.metrics`, code in plugins/; README: Adding a
metric): only the evaluate stage loads plug-ins. A metric registered in metrics/builtin.py is library code that
every training stage imports, so DVC reruns them all when it changes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

Level = Literal["item", "prompt", "set"]
LEVELS: tuple[str, ...] = ("item", "prompt", "set")


def mean(values: Sequence[float] | np.ndarray) -> float:
    """Arithmetic mean, the default aggregation."""
    return float(np.mean(values))


@dataclass(frozen=True)
class Metric:
    """A named metric: per-unit function, aggregation, direction and level."""

    name: str
    fn: Callable[..., Any]
    aggregation: Callable[[Any], float] = mean
    higher_is_better: bool = True
    level: Level = "item"
    description: str = ""
    requires: tuple[str, ...] = ()
    params: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"metric {self.name!r}: level must be one of {LEVELS}, got {self.level!r}")
        if not callable(self.fn) or not callable(self.aggregation):
            raise TypeError(f"metric {self.name!r}: fn and aggregation must be callable")


METRICS: dict[str, Metric] = {}


def register_metric(metric: Metric, overwrite: bool = False) -> Metric:
    """Add a Metric to METRICS; a second metric under the same name is an error unless overwrite."""
    if metric.name in METRICS and not overwrite:
        raise ValueError(f"metric {metric.name!r} is already registered")
    METRICS[metric.name] = metric
    return metric


def register(
    name: str,
    fn: Callable[..., Any] | None = None,
    *,
    aggregation: Callable[[Any], float] = mean,
    higher_is_better: bool = True,
    level: Level = "item",
    description: str = "",
    requires: tuple[str, ...] = (),
    params: tuple[str, ...] = (),
    overwrite: bool = False,
) -> Callable[..., Any]:
    """Register fn under name; without fn, return a decorator that does so.

    The description defaults to the first line of fn's docstring.
    """

    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        doc = (f.__doc__ or "").strip().splitlines()
        metric = Metric(name, f, aggregation, higher_is_better, level, description or (doc[0] if doc else ""), requires, params)
        register_metric(metric, overwrite=overwrite)
        return f

    return decorate if fn is None else decorate(fn)


def get_metric(name: str) -> Metric:
    """The registered metric called name (KeyError listing the known names otherwise)."""
    try:
        return METRICS[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; registered: {sorted(METRICS)}") from None


def metric_info() -> dict[str, dict[str, Any]]:
    """{name: {"higher_is_better": bool, "description": str}} for every registered metric."""
    return {m.name: {"higher_is_better": m.higher_is_better, "description": m.description} for m in METRICS.values()}
